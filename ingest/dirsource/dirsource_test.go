package dirsource_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/ingest/dirsource"
	"github.com/iamd/iamd/ingest/trailgen"
	"github.com/iamd/iamd/store"
)

func newSource(t *testing.T, dir string, now func() time.Time, settle time.Duration) (*dirsource.Source, *store.DB) {
	t.Helper()
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	conv, err := ingest.NewConverter(ingest.ConverterOptions{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	src, err := dirsource.New(dirsource.Config{Dir: dir, Converter: conv, Now: now, Settle: settle, Workers: 2}, db)
	if err != nil {
		t.Fatal(err)
	}
	return src, db
}

// generate writes a small trail under dir and returns its manifest.
func generate(t *testing.T, dir string, seed int64, events int) *trailgen.Manifest {
	t.Helper()
	o := trailgen.DefaultOptions(seed)
	o.Events = events
	g, err := trailgen.New(o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := g.WriteLogFiles(context.Background(), trailgen.DirSink{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPollReadsNewFilesOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now().Add(time.Hour) // every file is settled
	src, db := newSource(t, dir, func() time.Time { return now }, time.Second)

	m := generate(t, filepath.Join(dir, "a"), 1, 2000)
	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	st := src.Stats()
	if got, want := st.Files, int64(len(m.Files)); got != want {
		t.Fatalf("files read %d, want %d", got, want)
	}
	if got, want := st.Records, int64(m.Records); got != want {
		t.Fatalf("records %d, want %d", got, want)
	}
	if st.Written == 0 || st.Duplicates != 0 {
		t.Fatalf("written %d duplicates %d, want some and none", st.Written, st.Duplicates)
	}

	// A second poll finds nothing new.
	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if st2 := src.Stats(); st2.Files != st.Files || st2.Polls != 2 {
		t.Fatalf("second poll: files %d polls %d, want %d and 2", st2.Files, st2.Polls, st.Files)
	}

	// Files dropped later are read on the next poll, a damaged one
	// quarantined without stopping the others.
	m2 := generate(t, filepath.Join(dir, "b"), 2, 500)
	if err := os.WriteFile(filepath.Join(dir, "b", "broken.json.gz"), []byte{0x1f, 0x8b, 8, 0, 0}, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	st3 := src.Stats()
	if got, want := st3.Files-st.Files, int64(len(m2.Files)+1); got != want {
		t.Fatalf("third poll read %d files, want %d", got, want)
	}
	if len(st3.Quarantined) == 0 {
		t.Fatalf("the broken file was not quarantined: %+v", st3)
	}
	principals, err := db.Principals(ctx)
	if err != nil || len(principals) == 0 {
		t.Fatalf("store principals %d, %v", len(principals), err)
	}
}

func TestPollLeavesUnsettledFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now()
	src, _ := newSource(t, dir, func() time.Time { return now }, time.Hour)
	m := generate(t, dir, 3, 300)
	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if st := src.Stats(); st.Files != 0 || st.Pending != int64(len(m.Files)) {
		t.Fatalf("files %d pending %d, want 0 and %d", st.Files, st.Pending, len(m.Files))
	}
	now = now.Add(2 * time.Hour)
	if err := src.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if st := src.Stats(); st.Files != int64(len(m.Files)) || st.Pending != 0 {
		t.Fatalf("after settling: files %d pending %d, want %d and 0", st.Files, st.Pending, len(m.Files))
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	src, _ := newSource(t, dir, nil, -1)
	generate(t, dir, 4, 200)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for src.Stats().Polls == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	if src.Stats().Files == 0 {
		t.Fatal("Run read no file")
	}
}

func TestMissingDirectory(t *testing.T) {
	src, _ := newSource(t, filepath.Join(t.TempDir(), "nope"), nil, 0)
	if err := src.Run(context.Background()); err == nil {
		t.Fatal("Run on a missing directory = nil, want an error")
	}
}

// A file the decoder has to mend is read whole and counted as repaired.
func TestRepairedFilesAreCounted(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Add(time.Hour)
	src, _ := newSource(t, dir, func() time.Time { return now }, time.Second)
	rec := func(i int) string {
		return `{"eventVersion":"1.08","eventID":"mend-` + string(rune('0'+i)) + `","eventTime":"2026-11-22T10:10:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333"}}`
	}
	if err := os.WriteFile(filepath.Join(dir, "whole.json"), []byte(`{"Records":[`+rec(1)+","+rec(2)+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mended.json"), []byte(`{"Records":[`+rec(3)+rec(4)+"\n"+rec(5)+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := src.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := src.Stats(); st.Files != 2 || st.Repaired != 1 || st.Written != 5 || len(st.Quarantined) != 0 {
		t.Fatalf("files %d, repaired %d, written %d, quarantined %v; want 2 files, 1 mended, 5 events", st.Files, st.Repaired, st.Written, st.Quarantined)
	}
}
