package store_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamd/iamd/store"
	"github.com/iamd/iamd/store/internal/golden"
)

// released returns the testdata store of schema version v and its golden
// file, copied into a temporary directory that the test may change.
func released(t *testing.T, v int) (string, golden.File) {
	t.Helper()
	src := filepath.Join("testdata", fmt.Sprintf("v%d", v))
	gf, err := golden.Read(filepath.Join(src, "golden.json"))
	if err != nil {
		t.Fatalf("schema version %d has no testdata store (go generate ./store writes it): %v", v, err)
	}
	if gf.Version != v {
		t.Fatalf("%s holds a store of schema version %d", src, gf.Version)
	}
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(src, "store"))); err != nil {
		t.Fatal(err)
	}
	return dir, gf
}

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

// checkAnswers compares every query's answer with the golden file's.
// A store older than schema version 3 had no action totals: once
// migrated it answers those the migration builds from its facts and
// per-day counts.
func checkAnswers(t *testing.T, db *store.DB, gf golden.File) {
	t.Helper()
	got, err := golden.Take(context.Background(), db, gf.Probe)
	if err != nil {
		t.Fatal(err)
	}
	want := gf.Want
	if gf.Version < 3 {
		want.Actions = golden.MigratedActions(want)
	}
	diff, err := golden.Diff(got, want)
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Fatalf("answers differ from golden.json at %s", diff)
	}
}

// Every released schema version has a store under testdata. Today's
// build opens a copy, migrates it step by step, and then answers every
// query as that version did; the same batches written again count
// nothing (the dedup promise survives the migration); and a reopened
// store is not migrated again.
func TestReleasedStores(t *testing.T) {
	ctx := context.Background()
	for v := 1; v <= store.SchemaVersion; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			dir, gf := released(t, v)
			var progress []store.MigrationProgress
			opts := store.Options{Dir: dir, Now: at(gf.Probe.Now), OnMigration: func(p store.MigrationProgress) { progress = append(progress, p) }}
			db, err := store.Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var finished []string
			for _, p := range progress {
				if p.Finished {
					finished = append(finished, fmt.Sprintf("%d→%d", p.From, p.To))
				}
			}
			var want []string
			for s := v; s < store.SchemaVersion; s++ {
				want = append(want, fmt.Sprintf("%d→%d", s, s+1))
			}
			if got, want := strings.Join(finished, " "), strings.Join(want, " "); got != want {
				t.Errorf("migration steps finished = %q, want %q", got, want)
			}
			checkAnswers(t, db, gf)

			events := 0
			for i := range gf.Batches {
				res, err := db.Write(ctx, &gf.Batches[i])
				if err != nil {
					t.Fatal(err)
				}
				if res.Events != 0 {
					t.Errorf("batch %d written again counted %d events, want 0 (all duplicates)", i, res.Events)
				}
				events += res.Duplicates
			}
			if events == 0 {
				t.Fatal("the golden file holds no events")
			}
			checkAnswers(t, db, gf)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			progress = nil
			db, err = store.Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(progress) != 0 {
				t.Errorf("reopening a migrated store migrated again: %+v", progress)
			}
			checkAnswers(t, db, gf)
			info, err := store.Inspect(ctx, dir)
			if !errors.Is(err, store.ErrLocked) {
				t.Errorf("Inspect of an open store err = %v, want ErrLocked", err)
			}
			db.Close()
			info, err = store.Inspect(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			if info.Version != store.SchemaVersion || len(info.Steps) != 0 || info.Build == "" {
				t.Errorf("Inspect after migration = version %d, build %q, steps %+v; want version %d, a build, no steps",
					info.Version, info.Build, info.Steps, store.SchemaVersion)
			}
		})
	}
}

// A dry run (Inspect) on a released store says what Open would do and
// changes nothing.
func TestInspectDryRun(t *testing.T) {
	ctx := context.Background()
	dir, gf := released(t, 1)
	for range 2 {
		info, err := store.Inspect(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if info.Version != 1 || info.Current != store.SchemaVersion || len(info.Steps) != store.SchemaVersion-1 {
			t.Fatalf("Inspect = %+v, want version 1 and %d steps", info, store.SchemaVersion-1)
		}
		s := info.Steps[0]
		if s.From != 1 || s.To != 2 || s.Left != int64(countedEvents(gf)) || s.Interrupted {
			t.Errorf("step 1 = %+v, want 1→2 with %d dedup entries left", s, countedEvents(gf))
		}
	}
	if _, err := store.Inspect(ctx, filepath.Join(t.TempDir(), "none")); !errors.Is(err, store.ErrNoStore) {
		t.Errorf("Inspect(missing) err = %v, want ErrNoStore", err)
	}
}

func countedEvents(gf golden.File) int {
	ids := map[string]bool{}
	for _, b := range gf.Batches {
		for _, e := range b.Events {
			ids[e.ID] = true
		}
	}
	return len(ids)
}

// Legacy dedup entries from schema 1 count until their expiry by
// Options.Now and not after; entries already expired at migration are
// dropped.
func TestLegacyDedupExpires(t *testing.T) {
	ctx := context.Background()
	t.Run("expire after migration", func(t *testing.T) {
		dir, gf := released(t, 1)
		var mu sync.Mutex
		now := gf.Probe.Now
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		db, err := store.Open(store.Options{Dir: dir, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		e := gf.Batches[0].Events[0]
		later := e
		later.Time = e.Time.Add(24 * time.Hour)
		if seen, _ := db.Seen(ctx, later.ID, later.Time); !seen {
			t.Fatal("a schema 1 event ID a day later is not seen before its legacy entry expires")
		}
		mu.Lock()
		now = now.Add(45 * 24 * time.Hour)
		mu.Unlock()
		if seen, _ := db.Seen(ctx, later.ID, later.Time); seen {
			t.Error("a legacy entry still counts after its expiry")
		}
		res, err := db.Write(ctx, &store.Batch{Events: []store.Event{later}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Events != 1 {
			t.Errorf("Write after legacy expiry = %+v, want the event counted", res)
		}
	})
	t.Run("expired at migration", func(t *testing.T) {
		dir, gf := released(t, 1)
		db, err := store.Open(store.Options{Dir: dir, Now: at(gf.Probe.Now.Add(46 * 24 * time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		st, err := db.Stats(ctx)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.Dedup != 0 {
			t.Errorf("Stats.Dedup = %d after migrating expired schema 1 entries, want 0", st.Dedup)
		}
		info, err := store.Inspect(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if !info.LegacyDedupUntil.IsZero() {
			t.Errorf("LegacyDedupUntil = %v, want none", info.LegacyDedupUntil)
		}
	})
}

// childEnv names the store directory a re-executed test binary migrates
// (TestMigrationChild).
const childEnv = "IAMD_TEST_MIGRATION_CHILD"

// A migration killed with SIGKILL halfway through a step leaves a marker
// that says how far it got; the next Open resumes there and the store
// answers as if it had never stopped. Each step is killed on a released
// store of its version: 1 → 2 after 10 of its ~130 dedup entries, 2 → 3
// after 6 of its 16 records (10 principal × action totals to build, then
// 5 access keys and 1 session list to rewrite).
func TestMigrationKilled(t *testing.T) {
	for _, tc := range []struct {
		version, killAt int
		total           func(golden.File) int
	}{
		{1, 10, countedEvents},
		{2, 6, v2Records},
		{2, 12, v2Records}, // among the rewritten keys
	} {
		t.Run(fmt.Sprintf("v%d after %d", tc.version, tc.killAt), func(t *testing.T) {
			testMigrationKilled(t, tc.version, tc.killAt, tc.total)
		})
	}
}

// v2Records is what the step from version 2 to 3 goes through in a
// released store of version 2: its principal × action pairs, access
// keys and session lists.
func v2Records(gf golden.File) int {
	pairs := map[[2]string]bool{}
	for _, f := range gf.Want.Facts {
		pairs[[2]string{f.Principal, f.Action}] = true
	}
	keys := 0
	for _, k := range gf.Want.KeysOf {
		keys += len(k.Keys)
	}
	return len(pairs) + keys + len(gf.Want.Sessions)
}

func testMigrationKilled(t *testing.T, version, killAt int, total func(golden.File) int) {
	ctx := context.Background()
	dir, gf := released(t, version)
	cmd := exec.Command(os.Args[0], "-test.run=^TestMigrationChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+dir, "IAMD_TEST_MIGRATION_NOW="+gf.Probe.Now.Format(time.RFC3339))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	committed := 0
	sc := bufio.NewScanner(out)
	prefix := fmt.Sprintf("migrated %d→%d ", version, version+1)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			if committed++; committed == killAt {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
	}
	_ = cmd.Wait()
	if committed < killAt {
		t.Fatalf("the child migration reported %d transactions before ending, want %d; stderr:\n%s", committed, killAt, stderr.String())
	}

	info, err := store.Inspect(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Steps) == 0 || !info.Steps[0].Interrupted || info.Steps[0].From != version || info.Steps[0].Done < int64(killAt) ||
		info.Steps[0].Left == 0 || info.Version != version+1 {
		t.Fatalf("after the kill Inspect = version %d, steps %+v; want an interrupted %d→%d step, done ≥ %d, some left",
			info.Version, info.Steps, version, version+1, killAt)
	}
	var first *store.MigrationProgress
	db, err := store.Open(store.Options{Dir: dir, Now: at(gf.Probe.Now), OnMigration: func(p store.MigrationProgress) {
		if first == nil {
			first = &p
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if first == nil || !first.Resumed || first.Done != info.Steps[0].Done || first.Total != int64(total(gf)) {
		t.Errorf("resumed migration first reported %+v, want resumed at %d of %d", first, info.Steps[0].Done, total(gf))
	}
	checkAnswers(t, db, gf)
	st, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if version == 1 && st.Dedup != int64(countedEvents(gf)) {
		t.Errorf("Stats.Dedup = %d after the resumed migration, want %d legacy entries", st.Dedup, countedEvents(gf))
	}
}

// TestMigrationChild is the process TestMigrationKilled kills: it
// migrates the store one record per transaction, slowly, printing a line
// after each commit.
func TestMigrationChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("run by TestMigrationKilled")
	}
	now, err := time.Parse(time.RFC3339, os.Getenv("IAMD_TEST_MIGRATION_NOW"))
	if err != nil {
		t.Fatal(err)
	}
	opts := store.Options{Dir: dir, Now: at(now), OnMigration: func(p store.MigrationProgress) {
		if p.Done > 0 {
			fmt.Printf("migrated %d→%d %d/%d\n", p.From, p.To, p.Done, p.Total)
			time.Sleep(20 * time.Millisecond)
		}
	}}
	store.SetMigrateChunk(&opts, 1)
	db, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Fatal("the migration finished before it was killed")
}
