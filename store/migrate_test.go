package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// migrations() has one step per released version before SchemaVersion,
// in order, and a step either rewrites records (count and apply) or
// only moves the version.
func TestMigrationsTable(t *testing.T) {
	steps := migrations()
	if got, want := len(steps), SchemaVersion-1; got != want {
		t.Fatalf("len(migrations()) = %d, want %d (one per version before %d)", got, want, SchemaVersion)
	}
	for i, s := range steps {
		if s.from != i+1 {
			t.Errorf("migrations()[%d].from = %d, want %d", i, s.from, i+1)
		}
		if s.about == "" || (s.count == nil) != (s.apply == nil) {
			t.Errorf("migrations()[%d]: about %q, count set %v, apply set %v", i, s.about, s.count != nil, s.apply != nil)
		}
	}
}

// testSteps are a future: SchemaVersion → +1 appends a byte to every
// fact value (a rewriting step; failAt makes its n-th chunk fail), the
// next only moves the version.
func testSteps(failAt int) []migration {
	steps := migrations()
	calls := 0
	factPrefix := [][]byte{{pfxFact}}
	steps = append(steps, migration{
		from:  SchemaVersion,
		about: "mark every fact",
		count: func(ctx context.Context, txn *badger.Txn, cursor []byte) (int64, error) {
			return countKeys(ctx, txn, factPrefix, cursor)
		},
		apply: func(m *migrationTxn, cursor []byte, limit int) ([]byte, int, error) {
			if calls++; calls == failAt {
				return nil, 0, errors.New("disk on fire")
			}
			return eachKey(m.txn, factPrefix, cursor, limit, true, func(item *badger.Item) error {
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				return m.txn.Set(item.KeyCopy(nil), append(v, 0xEE))
			})
		},
	}, migration{from: SchemaVersion + 1, about: "a field appended: nothing to rewrite"})
	return steps
}

func writeFacts(t *testing.T, db *DB, n int) {
	t.Helper()
	var evs []Event
	for i := range n {
		evs = append(evs, ev(fmt.Sprint(i), alice, t0, use("s3:GetObject", fmt.Sprintf("arn:aws:s3:::b/%03d", i))))
	}
	mustWrite(t, db, &Batch{Events: evs})
}

// marks counts the facts whose value the test step rewrote, and how
// often each was.
func marks(t *testing.T, db *DB) (marked, twice int) {
	t.Helper()
	err := db.bdb.View(func(txn *badger.Txn) error {
		_, _, err := eachKey(txn, [][]byte{{pfxFact}}, nil, -1, true, func(item *badger.Item) error {
			return item.Value(func(v []byte) error {
				if bytes.HasSuffix(v, []byte{0xEE}) {
					marked++
				}
				if bytes.HasSuffix(v, []byte{0xEE, 0xEE}) {
					twice++
				}
				return nil
			})
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return marked, twice
}

func schemaOf(t *testing.T, db *DB) schemaState {
	t.Helper()
	var st schemaState
	if err := db.bdb.View(func(txn *badger.Txn) (err error) { st, err = readSchemaState(txn); return err }); err != nil {
		t.Fatal(err)
	}
	return st
}

// A chain of steps runs chunk by chunk with progress; a step that fails
// halfway leaves the marker at its last commit, and running again
// resumes there, rewriting each record exactly once.
func TestMigrateChainResumes(t *testing.T) {
	ctx := context.Background()
	var progress []MigrationProgress
	db, _ := openMem(t, func(o *Options) {
		o.migrateChunk = 3
		o.OnMigration = func(p MigrationProgress) { progress = append(progress, p) }
	})
	writeFacts(t, db, 10)

	v := SchemaVersion
	err := db.migrate(ctx, testSteps(3), v+2)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), fmt.Sprintf("from schema version %d to %d", v, v+1)) {
		t.Fatalf("migrate with a failing chunk err = %v", err)
	}
	st := schemaOf(t, db)
	if st.version != v+1 || st.marker == nil || st.marker.done != 6 || st.marker.from != v {
		t.Fatalf("after the failure: version %d, marker %+v; want version %d and a marker at 6 done", st.version, st.marker, v+1)
	}
	if marked, _ := marks(t, db); marked != 6 {
		t.Fatalf("%d facts rewritten before the failure, want 6 (two chunks of 3)", marked)
	}

	progress = nil
	if err := db.migrate(ctx, testSteps(0), v+2); err != nil {
		t.Fatal(err)
	}
	if marked, twice := marks(t, db); marked != 10 || twice != 0 {
		t.Errorf("after resuming: %d facts rewritten, %d twice; want 10 and 0", marked, twice)
	}
	st = schemaOf(t, db)
	if st.version != v+2 || st.marker != nil || st.build == "" {
		t.Errorf("after the chain: version %d, marker %+v, build %q; want %d, none, set", st.version, st.marker, st.build, v+2)
	}
	var got []string
	for _, p := range progress {
		got = append(got, fmt.Sprintf("%d→%d %d/%d resumed=%v finished=%v", p.From, p.To, p.Done, p.Total, p.Resumed, p.Finished))
	}
	want := []string{
		fmt.Sprintf("%d→%d 6/10 resumed=true finished=false", v, v+1),
		fmt.Sprintf("%d→%d 9/10 resumed=true finished=false", v, v+1),
		fmt.Sprintf("%d→%d 10/10 resumed=true finished=true", v, v+1),
		fmt.Sprintf("%d→%d 0/0 resumed=false finished=false", v+1, v+2),
		fmt.Sprintf("%d→%d 0/0 resumed=false finished=true", v+1, v+2),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("progress:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Done: running again changes nothing.
	progress = nil
	if err := db.migrate(ctx, testSteps(0), v+2); err != nil || len(progress) != 0 {
		t.Errorf("migrate of a migrated store: err %v, progress %+v", err, progress)
	}
}

// A chunk too big for one transaction is halved until it fits.
func TestMigrateHalvesTooBigChunks(t *testing.T) {
	db, _ := openMem(t, nil)
	writeFacts(t, db, 40)
	big := bytes.Repeat([]byte{1}, 200<<10)
	calls := 0
	steps := append(migrations(), migration{
		from:  SchemaVersion,
		about: "grow every fact",
		count: func(ctx context.Context, txn *badger.Txn, cursor []byte) (int64, error) {
			return countKeys(ctx, txn, [][]byte{{pfxFact}}, cursor)
		},
		apply: func(m *migrationTxn, cursor []byte, limit int) ([]byte, int, error) {
			calls++
			return eachKey(m.txn, [][]byte{{pfxFact}}, cursor, limit, false, func(item *badger.Item) error {
				return m.txn.Set(item.KeyCopy(nil), big)
			})
		},
	})
	if err := db.migrate(context.Background(), steps, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := db.bdb.View(func(txn *badger.Txn) error {
		_, _, err := eachKey(txn, [][]byte{{pfxFact}}, nil, -1, true, func(item *badger.Item) error {
			if item.ValueSize() == int64(len(big)) {
				n++
			}
			return nil
		})
		return err
	})
	if err != nil || n != 40 {
		t.Errorf("%d of 40 facts rewritten (err %v)", n, err)
	}
	// 8 MB cannot go in one ~1.2 MB transaction: the first tries fail.
	if calls < 8 {
		t.Errorf("%d chunks for 8 MB of values, want the chunk halved to fit", calls)
	}
}

// setNewerSchema marks a store as written by a later build, one schema
// version ahead.
func setNewerSchema(txn *badger.Txn) error {
	e, b := encoder{}, encoder{}
	e.uvarint(SchemaVersion + 1)
	b.str("iamd v9.1.0 commit 0123456789ab")
	if err := txn.Set(key(pfxMeta, metaSchema), e.b); err != nil {
		return err
	}
	return txn.Set(key(pfxMeta, metaBuild), b.b)
}

// A store of a newer version is refused with the version, what this
// build reads and the build that wrote it; one without a version record
// is refused too.
func TestOpenRefusesNewerStore(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   func(txn *badger.Txn) error
		wants []string
	}{
		{"newer", setNewerSchema, []string{fmt.Sprintf("schema version %d is newer than this build reads (%d", SchemaVersion+1, SchemaVersion), "iamd v9.1.0 commit 0123456789ab wrote it"}},
		{"newer, migrating", func(txn *badger.Txn) error {
			e := encoder{}
			e.uvarint(SchemaVersion + 1)
			if err := txn.Set(key(pfxMeta, metaSchema), e.b); err != nil {
				return err
			}
			return txn.Set(key(pfxMeta, metaMigration), migrationMarker{from: SchemaVersion, to: SchemaVersion + 1}.encode())
		}, []string{"is newer than this build reads", "use a later iamd build"}},
		{"no version", func(txn *badger.Txn) error { return txn.Set([]byte("fsomething"), nil) }, []string{"schema version 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bdb, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			if err := bdb.Update(tc.set); err != nil {
				t.Fatal(err)
			}
			bdb.Close()
			_, err = Open(Options{Dir: dir})
			var se *SchemaError
			if !errors.As(err, &se) || !errors.Is(err, ErrSchemaMismatch) {
				t.Fatalf("Open err = %v, want a *SchemaError", err)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open err = %q, want it to say %q", err, w)
				}
			}
		})
	}
}

func TestV1EventID(t *testing.T) {
	for _, tc := range []struct {
		key     []byte
		want    string
		wantErr bool
	}{
		{append([]byte{'u'}, 0x0b, 0x1c, 0x2d, 0x3e, 0x4f, 0x50, 0x61, 0x72, 0x83, 0x94, 0xa5, 0xb6, 0xc7, 0xd8, 0xe9, 0xfa), "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9fa", false},
		{[]byte("eEVT-0B1C2D3E"), "EVT-0B1C2D3E", false},
		{[]byte("u123"), "", true},
		{[]byte("e"), "", true},
	} {
		got, err := v1EventID(tc.key)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("v1EventID(%q) = %q, %v; want %q, error %v", tc.key, got, err, tc.want, tc.wantErr)
		}
	}
}

// A backup of a store newer than this build reads is refused before
// anything is replaced, naming both versions: restored, it could be
// neither opened nor migrated, and with Replace it would have taken the
// place of a store that works.
func TestRestoreRefusesNewerBackup(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	bdb, err := badger.Open(badger.DefaultOptions(src).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(setNewerSchema); err != nil {
		t.Fatal(err)
	}
	bdb.Close()
	var backup bytes.Buffer
	if info, err := Backup(ctx, src, &backup); err != nil || info.Version != SchemaVersion+1 {
		t.Fatalf("Backup = %+v, %v", info, err)
	}
	for _, tc := range []struct {
		name    string
		current bool // the target holds a store of this build
	}{
		{name: "into a new directory"},
		{name: "over a current store", current: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "store")
			if tc.current {
				db, err := Open(Options{Dir: dir})
				if err != nil {
					t.Fatal(err)
				}
				mustWrite(t, db, &Batch{Events: []Event{ev("a", alice, t0, use("s3:GetObject", bucketA))}})
				db.Close()
			}
			_, err := Restore(ctx, dir, bytes.NewReader(backup.Bytes()), RestoreOptions{Replace: true})
			if !errors.Is(err, ErrSchemaMismatch) {
				t.Fatalf("Restore err = %v, want ErrSchemaMismatch", err)
			}
			for _, w := range []string{fmt.Sprintf("schema version %d is newer than this build reads (%d", SchemaVersion+1, SchemaVersion), "iamd v9.1.0"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Restore err = %q, want it to say %q", err, w)
				}
			}
			entries, _ := os.ReadDir(root)
			for _, e := range entries {
				if e.Name() != "store" {
					t.Errorf("the refused restore left %s", e.Name())
				}
			}
			if !tc.current {
				if len(entries) != 0 {
					t.Errorf("the refused restore made %v", entries)
				}
				return
			}
			db, err := Open(Options{Dir: dir})
			if err != nil {
				t.Fatalf("the store the refused restore was to replace: %v", err)
			}
			defer db.Close()
			if st, err := db.Stats(ctx); err != nil || st.Principals == 0 {
				t.Errorf("the store the refused restore was to replace: %+v, %v", st, err)
			}
		})
	}
}

// The v1 → v2 migration records the bound on event time below which an
// event may match a legacy dedup entry whatever the order in which its
// chunks meet expired and unexpired entries: a bound lost (zero) makes
// every legacy entry unreachable, and a redelivery of an event schema 1
// counted is counted again.
func TestMigrateV1KeepsTheLegacyBound(t *testing.T) {
	for _, tc := range []struct {
		name  string
		chunk int
	}{
		{"first chunk only expired entries", 1},
		{"first chunk two expired entries", 2},
		{"one chunk", 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, _ := openMem(t, func(o *Options) { o.migrateChunk = tc.chunk })
			writeFacts(t, db, 3) // the latest event time schema 1 recorded: t0
			now := db.opts.Now().Unix()
			// Schema 1 dedup entries, in key order: two expired, then one
			// that is not.
			err := db.bdb.Update(func(txn *badger.Txn) error {
				e := encoder{}
				e.uvarint(1)
				if err := txn.Set(key(pfxMeta, metaSchema), e.b); err != nil {
					return err
				}
				for _, c := range []struct {
					id  string
					exp int64
				}{{"a1", now - 10}, {"a2", now - 10}, {"z1", now + 86400}} {
					v := encoder{}
					v.uvarint(uint64(c.exp))
					if err := txn.Set(append([]byte{'e'}, c.id...), v.b); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.migrate(ctx, migrations(), SchemaVersion); err != nil {
				t.Fatal(err)
			}
			if err := db.loadLegacyBounds(); err != nil {
				t.Fatal(err)
			}
			if got, want := db.legacy, (legacyBounds{until: now + 86400, before: t0.Unix() + 2*3600}); got != want {
				t.Errorf("legacy bounds %+v, want %+v", got, want)
			}
			// A redelivery of z1, which schema 1 counted an hour before.
			res, err := db.Write(ctx, &Batch{Events: []Event{ev("z1", alice, t0.Add(-time.Hour), use("s3:GetObject", "arn:aws:s3:::b/x"))}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Duplicates != 1 {
				t.Errorf("redelivery of an event schema 1 counted: %+v, want a duplicate", res)
			}
		})
	}
}
