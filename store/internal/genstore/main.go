// Command genstore writes the small stores under store/testdata, one per
// released schema version: testdata/vN/store, a store holding a fixed
// fixture (fixture.go) written the way version N wrote it, and
// testdata/vN/golden.json, what was written and the answer every query
// must give, worked out from the fixture (model.go) rather than read back
// from the store. It is run by go generate in store:
//
//	go generate ./store                                     # the current SchemaVersion
//	go run ./store/internal/genstore -out store/testdata -version 1
//
// Version 1 comes from a frozen copy of that version's writer (v1.go);
// the current version from store.Write itself. A version that is neither
// keeps its committed testdata: when SchemaVersion moves on, the store of
// the version before it stays as this generator last wrote it. Before
// returning, genstore opens a copy of what it wrote with this build
// (migrating it) and checks every answer against golden.json.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/iamd/iamd/store"
	"github.com/iamd/iamd/store/internal/golden"
)

// rawRetention and dedupTTL are long so that Badger, which expires by
// the wall clock, keeps the committed store's entries for good; the
// answers are asked at a fixed Options.Now.
const (
	rawRetention = 100 * 365 * 24 * time.Hour
	dedupTTL     = 100 * 365 * 24 * time.Hour
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "genstore:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("genstore", flag.ContinueOnError)
	out := fs.String("out", "testdata", "testdata directory: writes <out>/v<version>/{store,golden.json}")
	version := fs.Int("version", store.SchemaVersion, "schema version to write: 1 or the current one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var writer string
	switch *version {
	case 1:
		writer = "genstore: frozen schema 1 writer (v1.go)"
	case store.SchemaVersion:
		writer = fmt.Sprintf("genstore: store.Write of schema %d", store.SchemaVersion)
	default:
		return fmt.Errorf("no writer for schema version %d: its testdata stays as committed", *version)
	}
	dir := filepath.Join(*out, fmt.Sprintf("v%d", *version))
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	storeDir := filepath.Join(dir, "store")
	if err := os.MkdirAll(storeDir, 0o755); err != nil {
		return err
	}
	f := newFixture()
	m := newModel(f)
	p := m.probe()
	gf := golden.File{Version: *version, Writer: writer, Probe: p, Batches: f.batches, Want: m.want(*version, p)}
	var err error
	if *version == 1 {
		err = writeV1Store(storeDir, m)
	} else {
		err = writeCurrent(storeDir, f)
	}
	if err != nil {
		return err
	}
	if err := golden.Write(filepath.Join(dir, "golden.json"), gf); err != nil {
		return err
	}
	return check(storeDir, gf)
}

func writeV1Store(dir string, m *model) error {
	bdb, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		return err
	}
	return errors.Join(writeV1(bdb, m), bdb.Close())
}

// writeCurrent writes the fixture with this build's store.
func writeCurrent(dir string, f fixture) error {
	ctx := context.Background()
	db, err := store.Open(store.Options{Dir: dir, Now: func() time.Time { return genClock }, DedupTTL: dedupTTL, RawRetention: rawRetention})
	if err != nil {
		return err
	}
	err = func() error {
		for i := range f.batches {
			if _, err := db.Write(ctx, &f.batches[i]); err != nil {
				return err
			}
		}
		for _, s := range f.snapshots {
			if err := db.PutSnapshot(ctx, s); err != nil {
				return err
			}
		}
		for _, s := range f.states {
			if err := db.PutState(ctx, s, nil); err != nil {
				return err
			}
		}
		return nil
	}()
	return errors.Join(err, db.Close())
}

// check opens a copy of the store written in dir with this build and
// compares every answer with gf.
func check(dir string, gf golden.File) error {
	tmp, err := os.MkdirTemp("", "genstore-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.CopyFS(tmp, os.DirFS(dir)); err != nil {
		return err
	}
	db, err := store.Open(store.Options{Dir: tmp, Now: func() time.Time { return gf.Probe.Now }})
	if err != nil {
		return err
	}
	defer db.Close()
	got, err := golden.Take(context.Background(), db, gf.Probe)
	if err != nil {
		return err
	}
	diff, err := golden.Diff(got, gf.Want)
	if err != nil {
		return err
	}
	if diff != "" {
		return fmt.Errorf("the store written in %s does not answer as the model says:\n%s", dir, diff)
	}
	return nil
}
