package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Schema migrations.
//
// A store keeps its schema version in meta (m schema), with the build
// that created it or last migrated it (m build). Open compares the
// version with SchemaVersion: an equal one opens as is, a newer one is
// refused (*SchemaError, naming that build), an older one is migrated in
// place, one step per version (1 → 2 → …), before Open returns.
//
// A step runs in Badger transactions of at most Options.migrateChunk
// records (halved when a chunk is still too big). Its first transaction
// sets the schema version to the step's target and writes a marker
// (m migrating: from, to, records done, cursor); each later transaction
// rewrites a chunk and moves the marker in the same commit; the last one
// deletes the marker. So:
//
//   - a crash at any point leaves the old store whole, or a marker that
//     says where to go on, and the next Open resumes there (nothing is
//     lost: stopping a migration by killing the process is safe);
//   - a committed chunk is never applied again, since the cursor moved
//     with it;
//   - a build that does not read the target version refuses the store
//     while it is being migrated, as it would once migrated: the schema
//     key already holds the target.
//
// # Adding a step
//
// When a change needs version N+1:
//
//  1. Bump SchemaVersion to N+1 and say in its comment what changed.
//  2. Append to migrations() a step {from: N, about: "…"}, with count
//     and apply if stored records must change (migrateV1Dedup moves
//     records from one prefix to another; eachKey does the chunking and
//     the cursor). apply must decide only from what is stored and
//     Options.Now, so that a chunk interrupted before its commit is
//     redone the same way.
//  3. Run go generate ./store: it writes testdata/vN+1, a small store of
//     the new version and the answers every query must give; keep
//     testdata/vN as committed. TestReleasedStores opens each testdata
//     store, migrates it and compares every query with its answers;
//     TestMigrationKilled kills a migration halfway and resumes it.
//
// Values use a compact positional codec (codec.go, which says why). A
// field appended to a record kind needs no rewrite: its decoder reads it
// only when bytes remain, so values written before read as zero, and the
// step has no apply at all. It still bumps the version, so that older
// builds, which would drop the field when they rewrite the record,
// refuse the store. A field removed, reordered or retyped needs a step
// that rewrites the records of its kind.

// The store of the current version; testdata/v1 came from
// go run ./internal/genstore -out testdata -version 1.
//go:generate go run ./internal/genstore -out testdata

// defaultMigrateChunk is how many records one migration transaction
// rewrites by default: far inside a transaction's limits for small
// records.
const defaultMigrateChunk = 1000

// migration turns a store of schema version from into from+1.
type migration struct {
	from int
	// about says what changes, for the dry run, the progress line and
	// the log.
	about string
	// count returns how many records are left to rewrite from cursor
	// (nil: the start). Nil when the step rewrites nothing.
	count func(ctx context.Context, txn *badger.Txn, cursor []byte) (int64, error)
	// apply rewrites at most limit records from cursor in txn and returns
	// where to go on (nil: nothing left) and how many it rewrote. Nil
	// when the step rewrites nothing.
	apply func(m *migrationTxn, cursor []byte, limit int) (next []byte, n int, err error)
}

// migrationTxn is what a step's apply works with.
type migrationTxn struct {
	txn *badger.Txn
	now time.Time // Options.Now
}

// MigrationProgress reports one migration step as Open runs it.
type MigrationProgress struct {
	Dir      string
	From, To int    // schema versions of this step
	About    string // what the step changes
	// Done counts the records rewritten so far, including those of an
	// interrupted run that this one resumed; Total is Done plus what was
	// left when the step (re)started.
	Done, Total int64
	Resumed     bool // the step was interrupted before and goes on from its marker
	Finished    bool // the step is complete
}

// migrationMarker is the meta record of a step in progress.
type migrationMarker struct {
	from, to int
	done     int64
	cursor   []byte
}

func (m migrationMarker) encode() []byte {
	e := encoder{}
	e.uvarint(uint64(m.from))
	e.uvarint(uint64(m.to))
	e.uvarint(uint64(m.done))
	e.bytes(m.cursor)
	return e.b
}

func decodeMigrationMarker(b []byte) (migrationMarker, error) {
	d := decoder{b: b}
	m := migrationMarker{from: int(d.uvarint()), to: int(d.uvarint()), done: int64(d.uvarint()), cursor: d.bytes()}
	return m, d.done("migration marker")
}

// schemaState is what meta says about a store's version.
type schemaState struct {
	version int // 0: no version key
	build   string
	marker  *migrationMarker
	empty   bool // no keys at all: a new database
}

func readSchemaState(txn *badger.Txn) (schemaState, error) {
	var st schemaState
	found := false
	err := getValue(txn, key(pfxMeta, metaSchema), func(b []byte) error {
		found = true
		d := decoder{b: b}
		st.version = int(d.uvarint())
		return d.done("schema version")
	})
	if err != nil {
		return st, err
	}
	if !found {
		it := txn.NewIterator(badger.IteratorOptions{})
		it.Rewind()
		st.empty = !it.Valid()
		it.Close()
		return st, nil
	}
	if err := getValue(txn, key(pfxMeta, metaBuild), func(b []byte) error {
		d := decoder{b: b}
		st.build = d.str()
		return d.done("build")
	}); err != nil {
		return st, err
	}
	err = getValue(txn, key(pfxMeta, metaMigration), func(b []byte) error {
		m, err := decodeMigrationMarker(b)
		st.marker = &m
		return err
	})
	return st, err
}

// check returns the *SchemaError of a store this build cannot migrate
// to target with steps.
func (st schemaState) check(dir string, target int) error {
	if st.version == 0 || st.version > target {
		return &SchemaError{Dir: dir, Have: st.version, Want: target, Build: st.build}
	}
	return nil
}

// setSchema records version as the store's schema version, set by this
// build.
func setSchema(txn *badger.Txn, version int) error {
	e := encoder{}
	e.uvarint(uint64(version))
	if err := txn.Set(key(pfxMeta, metaSchema), e.b); err != nil {
		return err
	}
	b := encoder{}
	b.str(buildID())
	return txn.Set(key(pfxMeta, metaBuild), b.b)
}

// buildID names this build as a store records it: the module version
// and, when built from a checkout, the commit.
func buildID() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "iamd (unknown build)"
	}
	id := "iamd " + bi.Main.Version
	if bi.Main.Version == "" {
		id = "iamd (devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		id += " commit " + rev[:min(12, len(rev))]
		if modified == "true" {
			id += " (modified)"
		}
	}
	return id
}

// prepareSchema writes the version into a new database, migrates an old
// one, and refuses what this build cannot read.
func (db *DB) prepareSchema(ctx context.Context) error {
	var st schemaState
	if err := db.bdb.View(func(txn *badger.Txn) (err error) { st, err = readSchemaState(txn); return err }); err != nil {
		return fmt.Errorf("open store %s: read schema version: %w", db.dir, err)
	}
	if st.empty {
		if err := db.bdb.Update(func(txn *badger.Txn) error { return setSchema(txn, SchemaVersion) }); err != nil {
			return fmt.Errorf("open store %s: write schema version: %w", db.dir, err)
		}
		return nil
	}
	if err := st.check(db.dir, SchemaVersion); err != nil {
		return err
	}
	if st.version < SchemaVersion || st.marker != nil {
		if err := db.migrate(ctx, migrations(), SchemaVersion); err != nil {
			return err
		}
	}
	return db.loadLegacyBounds()
}

// migrate runs steps until the store is at target. steps[i] migrates
// version i+1.
func (db *DB) migrate(ctx context.Context, steps []migration, target int) error {
	for {
		var st schemaState
		if err := db.bdb.View(func(txn *badger.Txn) (err error) { st, err = readSchemaState(txn); return err }); err != nil {
			return fmt.Errorf("migrate store %s: %w", db.dir, err)
		}
		if err := st.check(db.dir, target); err != nil {
			return err
		}
		if st.marker == nil && st.version == target {
			return nil
		}
		m, resumed := migrationMarker{from: st.version, to: st.version + 1}, false
		if st.marker != nil {
			m, resumed = *st.marker, true
		}
		if m.from < 1 || m.from > len(steps) || m.to != m.from+1 {
			return fmt.Errorf("migrate store %s: %w: no step from schema version %d to %d", db.dir, errCorrupt, m.from, m.to)
		}
		if err := db.runStep(ctx, steps[m.from-1], m, resumed); err != nil {
			return fmt.Errorf("migrate store %s from schema version %d to %d: %w", db.dir, m.from, m.to, err)
		}
	}
}

// runStep runs (or resumes, from m) one step to its end.
func (db *DB) runStep(ctx context.Context, s migration, m migrationMarker, resumed bool) error {
	started := time.Now()
	var left int64
	if s.count != nil {
		if err := db.bdb.View(func(txn *badger.Txn) (err error) { left, err = s.count(ctx, txn, m.cursor); return err }); err != nil {
			return fmt.Errorf("count: %w", err)
		}
	}
	p := MigrationProgress{Dir: db.dir, From: m.from, To: m.to, About: s.about, Done: m.done, Total: m.done + left, Resumed: resumed}
	log := db.opts.Logger.With("dir", db.dir, "from", m.from, "to", m.to)
	log.Info("store schema migration", "step", s.about, "records", left, "resumed", resumed)
	db.migrationProgress(p)

	if s.apply == nil {
		if err := db.bdb.Update(func(txn *badger.Txn) error {
			if err := txn.Delete(key(pfxMeta, metaMigration)); err != nil {
				return err
			}
			return setSchema(txn, m.to)
		}); err != nil {
			return err
		}
	} else {
		if !resumed {
			// From here on the store is no longer what a build of the old
			// version reads: it says so before the first record moves.
			if err := db.bdb.Update(func(txn *badger.Txn) error {
				if err := setSchema(txn, m.to); err != nil {
					return err
				}
				return txn.Set(key(pfxMeta, metaMigration), m.encode())
			}); err != nil {
				return err
			}
		}
		if err := db.runChunks(ctx, s, &m, &p); err != nil {
			return err
		}
	}
	p.Finished = true
	db.migrationProgress(p)
	log.Info("store schema migrated", "records", p.Done, "elapsed", time.Since(started).Round(time.Millisecond))
	return nil
}

// runChunks applies s chunk by chunk from m, each chunk's transaction
// moving the marker with it; the last one deletes the marker.
func (db *DB) runChunks(ctx context.Context, s migration, m *migrationMarker, p *MigrationProgress) error {
	limit := db.opts.migrateChunk
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		txn := db.bdb.NewTransaction(true)
		next, n, err := s.apply(&migrationTxn{txn: txn, now: db.opts.Now()}, m.cursor, limit)
		if err == nil {
			if next == nil {
				err = txn.Delete(key(pfxMeta, metaMigration))
			} else {
				err = txn.Set(key(pfxMeta, metaMigration), migrationMarker{from: m.from, to: m.to, done: m.done + int64(n), cursor: next}.encode())
			}
		}
		if errors.Is(err, badger.ErrTxnTooBig) && limit > 1 {
			txn.Discard()
			limit /= 2
			continue
		}
		if err == nil {
			err = txn.Commit()
		}
		txn.Discard()
		if err != nil {
			return err
		}
		m.cursor, m.done = next, m.done+int64(n)
		p.Done = m.done
		p.Total = max(p.Total, p.Done)
		if next == nil {
			return nil
		}
		db.migrationProgress(*p)
	}
}

func (db *DB) migrationProgress(p MigrationProgress) {
	if db.opts.OnMigration != nil {
		db.opts.OnMigration(p)
	}
}

// eachKey calls fn for the keys under prefixes (ascending, disjoint) in
// key order from cursor on (nil: the start), at most max of them, and
// returns the first key it did not pass (nil: none left) and how many it
// passed.
func eachKey(txn *badger.Txn, prefixes [][]byte, cursor []byte, limit int, withValues bool, fn func(item *badger.Item) error) (next []byte, n int, err error) {
	for _, p := range prefixes {
		start := p
		if cursor != nil && bytes.Compare(cursor, p) > 0 {
			if !bytes.HasPrefix(cursor, p) {
				continue // past every key of p
			}
			start = cursor
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: withValues, PrefetchSize: 64})
		for it.Seek(start); it.ValidForPrefix(p); it.Next() {
			if n == limit {
				next = it.Item().KeyCopy(nil)
				it.Close()
				return next, n, nil
			}
			if err := fn(it.Item()); err != nil {
				it.Close()
				return nil, n, err
			}
			n++
		}
		it.Close()
	}
	return nil, n, nil
}

// countKeys counts the keys under prefixes from cursor on.
func countKeys(ctx context.Context, txn *badger.Txn, prefixes [][]byte, cursor []byte) (int64, error) {
	var n int64
	_, _, err := eachKey(txn, prefixes, cursor, -1, false, func(*badger.Item) error {
		if n++; n%4096 == 0 {
			return ctx.Err()
		}
		return nil
	})
	return n, err
}
