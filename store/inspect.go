package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Info describes a store on disk as Inspect finds it.
type Info struct {
	Dir string
	// Version is the schema version on disk (0: none recorded); Build the
	// iamd build that created the store or last migrated it ("" when not
	// recorded, as in stores from before builds were).
	Version int
	Build   string
	// Current is SchemaVersion: the version this build reads and
	// migrates older stores to.
	Current int
	// Steps are the migrations Open would run, in order (a dry run); the
	// first one may be a step interrupted by a crash. Empty when the
	// store is current, or newer than this build reads.
	Steps []MigrationStep
	// LegacyDedupUntil is when the last legacy dedup entry of a store
	// migrated from schema 1 stops counting (legacydedup.go), for events
	// before LegacyDedupBefore; both zero when there are none.
	LegacyDedupUntil, LegacyDedupBefore time.Time
	// Stats counts what the store holds. Schema 1's dedup entries are
	// not in Stats.Dedup: the migration step counts them.
	Stats Stats
}

// MigrationStep is one migration as a dry run sees it.
type MigrationStep struct {
	From, To int
	About    string
	// Left is how many records the step would rewrite, counted on the
	// store as it is now; Done how many an interrupted run of it already
	// did (Interrupted).
	Left, Done  int64
	Interrupted bool
}

// Inspect describes the store in dir without changing it: its schema
// version, the migrations Open would run (with the records each would
// rewrite) and what it holds. It opens the store read-only (see
// openAsIs), so it fails with ErrLocked while another process has it
// open, and with ErrNoStore when dir holds none.
func Inspect(ctx context.Context, dir string) (Info, error) {
	info := Info{Dir: dir, Current: SchemaVersion}
	bdb, err := openAsIs(dir)
	if err != nil {
		return info, err
	}
	defer bdb.Close()
	err = bdb.View(func(txn *badger.Txn) error {
		st, err := readSchemaState(txn)
		if err != nil {
			return err
		}
		info.Version, info.Build = st.version, st.build
		if info.Steps, err = planMigration(ctx, txn, st, migrations(), SchemaVersion); err != nil {
			return err
		}
		l, err := readLegacyBounds(txn)
		if err != nil {
			return err
		}
		if l.until > 0 {
			info.LegacyDedupUntil = time.Unix(l.until, 0).UTC()
			info.LegacyDedupBefore = time.Unix(l.before, 0).UTC()
		}
		info.Stats, err = countRecords(ctx, txn)
		return err
	})
	if err != nil {
		return info, fmt.Errorf("inspect store %s: %w", dir, err)
	}
	info.Stats.LSMBytes, info.Stats.VLogBytes = diskSizes(dir)
	return info, nil
}

// planMigration lists the steps from st to target with their counts.
func planMigration(ctx context.Context, txn *badger.Txn, st schemaState, steps []migration, target int) ([]MigrationStep, error) {
	if st.version == 0 || st.version > target {
		return nil, nil
	}
	from, cursor := st.version, []byte(nil)
	var done int64
	if st.marker != nil {
		from, cursor, done = st.marker.from, st.marker.cursor, st.marker.done
	}
	var out []MigrationStep
	for v := from; v < target && v <= len(steps); v++ {
		s := steps[v-1]
		ms := MigrationStep{From: v, To: v + 1, About: s.about}
		if v == from && st.marker != nil {
			ms.Interrupted, ms.Done = true, done
		}
		if s.count != nil {
			c := cursor
			if v != from {
				c = nil
			}
			n, err := s.count(ctx, txn, c)
			if err != nil {
				return nil, err
			}
			ms.Left = n
		}
		out = append(out, ms)
	}
	return out, nil
}

// openAsIs opens the Badger database in dir with the store's default
// sizing, without migrating it or writing anything of ours: read-only
// (changing no file, and failing while a writer holds the store), or,
// when a crash left a write-ahead log that Badger must truncate first,
// which read-only mode cannot do, read-write for that recovery. A restore
// a crash stopped mid-swap is finished first (recoverRestore).
func openAsIs(dir string) (*badger.DB, error) {
	if err := recoverRestore(dir); err != nil {
		return nil, err
	}
	if err := checkDir(dir, true); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	o := Options{Dir: dir}
	o.setDefaults()
	bdb, err := openBadger(o, true)
	if err != nil && strings.Contains(err.Error(), "Log truncate required") {
		bdb, err = openBadger(o, false)
	}
	return bdb, err
}
