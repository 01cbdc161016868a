package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamd/iamd/store"
)

var _ BatchWriter = (*store.DB)(nil)
var _ CheckpointReader = (*store.DB)(nil)

// fakeStore is a small in-memory BatchWriter with event-ID dedup.
type fakeStore struct {
	mu      sync.Mutex
	seen    map[string]bool
	uses    map[string]int // principal|action|resource → calls
	cps     map[string]store.Checkpoint
	batches int
	quar    int
}

func newFakeStore() *fakeStore {
	return &fakeStore{seen: map[string]bool{}, uses: map[string]int{}, cps: map[string]store.Checkpoint{}}
}

func (f *fakeStore) Write(_ context.Context, b *store.Batch) (store.WriteResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches++
	var res store.WriteResult
	for _, ev := range b.Events {
		if f.seen[ev.ID] {
			res.Duplicates++
			continue
		}
		f.seen[ev.ID] = true
		res.Events++
		for _, u := range ev.Uses {
			f.uses[ev.Principal+"|"+u.Action+"|"+u.Resource]++
		}
	}
	f.quar += len(b.Quarantined)
	for _, cp := range b.Checkpoints {
		f.cps[cp.Source] = cp
	}
	return res, nil
}

func (f *fakeStore) Checkpoint(_ context.Context, source string) (store.Checkpoint, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cp, ok := f.cps[source]
	return cp, ok, nil
}

// writeFixtures writes a small directory of inputs in several formats.
func writeFixtures(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"a/111_CloudTrail_us-east-1_x.json.gz": gz(t, `{"Records":[`+rec("a1", "GetUser")+`,`+rec("a2", "ListUsers")+`]}`),
		"b/events.jsonl":                       rec("b1", "GetRole") + "\n" + rec("b2", "GetUser") + "\n{broken\n",
		"b/notes.txt":                          "not read when walking",
		"c/digest.json":                        `{"digestStartTime":"2024-01-01T00:00:00Z","logFiles":[]}`,
		"c/array.json":                         `[` + rec("a1", "GetUser") + `]`, // same ID as a1: a duplicate
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func newTestPipeline(t *testing.T, w BatchWriter, cr CheckpointReader, batch int) *Pipeline {
	t.Helper()
	p, err := NewPipeline(PipelineOptions{
		Converter: testConverter(t), Writer: w, Checkpoints: cr, BatchSize: batch, Workers: 3,
		Now: func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPipelineFake(t *testing.T) {
	dir := writeFixtures(t)
	fs := newFakeStore()
	p := newTestPipeline(t, fs, fs, 2)
	sum, err := p.Run(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"files", sum.Files, 4}, {"records", sum.Records, 6}, {"events", sum.Events, 5},
		{"written", sum.Written, 4}, {"duplicates", sum.Duplicates, 1}, {"digests", sum.Digests, 1},
		{"bad-json", sum.Quarantined[ReasonBadJSON], 1}, {"principals", int64(sum.Principals), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d (summary %+v)", c.name, c.got, c.want, sum)
		}
	}
	if got := len(fs.cps); got != 4 {
		t.Fatalf("%d checkpoints, want 4", got)
	}
	if fs.batches < 3 {
		t.Fatalf("%d batches, want several with BatchSize 2", fs.batches)
	}

	// Second run: every file's checkpoint matches, nothing is read.
	before := fs.batches
	sum2, err := p.Run(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if sum2.FilesUnchanged != 4 || sum2.Records != 0 || fs.batches != before {
		t.Fatalf("second run: %+v, batches %d→%d; want 4 unchanged files and no writes", sum2.Counts, before, fs.batches)
	}

	// A touched file is read again; its events are duplicates.
	f := filepath.Join(dir, "b", "events.jsonl")
	if err := os.Chtimes(f, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	sum3, err := p.Run(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if sum3.Files != 1 || sum3.Written != 0 || sum3.Duplicates != 2 {
		t.Fatalf("third run: %+v, want 1 file, 0 new, 2 duplicates", sum3.Counts)
	}
}

// Ingesting the same files twice into the real store changes nothing.
func TestPipelineStoreIdempotent(t *testing.T) {
	files := sharedFiles(t)
	db, err := store.Open(store.Options{InMemory: true, Now: func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	dump := func() string {
		facts, err := db.Facts(ctx, store.FactQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, f := range facts {
			lines = append(lines, fmt.Sprintf("%s %s %s %v %v %d %d", f.Principal, f.Action, f.Resource, f.FirstSeen, f.LastSeen, f.Allowed, f.Denied))
		}
		sort.Strings(lines)
		return strings.Join(lines, "\n")
	}
	// No checkpoint reader: the second run really re-reads and relies on dedup.
	p := newTestPipeline(t, db, nil, 500)
	sum1, err := p.Run(ctx, files)
	if err != nil {
		t.Fatal(err)
	}
	first := dump()
	stats1, _ := db.Stats(ctx)
	sum2, err := p.Run(ctx, files)
	if err != nil {
		t.Fatal(err)
	}
	if second := dump(); second != first {
		t.Fatal("facts changed on the second ingest")
	}
	stats2, _ := db.Stats(ctx)
	if stats1.Facts != stats2.Facts || stats1.Keys != stats2.Keys || stats1.Principals != stats2.Principals {
		t.Fatalf("stats changed: %+v → %+v", stats1, stats2)
	}
	if sum1.Written == 0 || sum2.Written != 0 || sum2.Duplicates != sum1.Events {
		t.Fatalf("first written %d; second written %d, duplicates %d, want 0 and %d", sum1.Written, sum2.Written, sum2.Duplicates, sum1.Events)
	}
	t.Logf("facts %d, principals %d, keys %d", stats1.Facts, stats1.Principals, stats1.Keys)
}

func TestPipelineStdin(t *testing.T) {
	fs := newFakeStore()
	p, err := NewPipeline(PipelineOptions{
		Converter: testConverter(t), Writer: fs, Checkpoints: fs,
		Stdin: strings.NewReader(gz(t, rec("s1", "GetUser")+"\n"+rec("s2", "GetUser")+"\n")),
	})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := p.Run(context.Background(), []string{Stdin})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Written != 2 || sum.Files != 1 || len(fs.cps) != 0 {
		t.Fatalf("written %d files %d checkpoints %d, want 2, 1, 0 (stdin has no checkpoint)", sum.Written, sum.Files, len(fs.cps))
	}
}

func TestPipelineMissingPath(t *testing.T) {
	fs := newFakeStore()
	p := newTestPipeline(t, fs, fs, 0)
	dir := writeFixtures(t)
	sum, err := p.Run(context.Background(), []string{filepath.Join(dir, "nope.json"), filepath.Join(dir, "a")})
	if err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Fatalf("err = %v, want one naming nope.json", err)
	}
	if sum.Written != 2 {
		t.Fatalf("written %d, want the other path's 2 events", sum.Written)
	}
}

// failingCheckpoints fails every checkpoint read.
type failingCheckpoints struct{}

func (failingCheckpoints) Checkpoint(context.Context, string) (store.Checkpoint, bool, error) {
	return store.Checkpoint{}, false, errors.New("disk on fire")
}

func TestPipelineCheckpointReadError(t *testing.T) {
	fs := newFakeStore()
	p := newTestPipeline(t, fs, failingCheckpoints{}, 0)
	dir := writeFixtures(t)
	_, err := p.Run(context.Background(), []string{dir})
	if err == nil || !strings.Contains(err.Error(), "read checkpoint of") || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v, want the checkpoint read error naming the file", err)
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write(context.Context, *store.Batch) (store.WriteResult, error) {
	return store.WriteResult{}, errors.New("disk full")
}

// A failed write cancels the walk, whose checkpoint reads then fail with
// the cancellation; the error must still be the write's.
func TestPipelineWriteErrorNotHidden(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var cps []store.Checkpoint
	for i := range 2000 {
		f := filepath.Join(dir, fmt.Sprintf("f%05d.jsonl", i))
		if err := os.WriteFile(f, []byte(rec(fmt.Sprintf("w%d", i), "GetUser")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if i > 0 { // every file but the first was read before
			fi, _ := os.Stat(f)
			in := Input{Path: f, Size: fi.Size(), MTime: fi.ModTime()}
			cps = append(cps, store.Checkpoint{Source: in.Source(), Position: in.Position()})
		}
	}
	if _, err := db.Write(context.Background(), &store.Batch{Checkpoints: cps}); err != nil {
		t.Fatal(err)
	}
	p := newTestPipeline(t, failingWriter{}, db, 1)
	for range 3 {
		_, err := p.Run(context.Background(), []string{dir})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("err = %v, want the write error", err)
		}
	}
}

func TestWalkInputsOrder(t *testing.T) {
	dir := writeFixtures(t)
	var got []string
	err := WalkInputs([]string{filepath.Join(dir, "c"), filepath.Join(dir, "a"), Stdin}, func(in Input) error {
		rel, _ := filepath.Rel(dir, in.Path)
		if in.Path == Stdin {
			rel = Stdin
		}
		got = append(got, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"c/array.json", "c/digest.json", "a/111_CloudTrail_us-east-1_x.json.gz", Stdin}
	if !slices.Equal(got, want) {
		t.Errorf("walk order %q, want %q", got, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := WalkInputs([]string{dir}, func(Input) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("WalkInputs with a failing fn: err %v after %d calls, want stop after 1", err, n)
	}
}

func TestNewPipelineValidates(t *testing.T) {
	_, err := NewPipeline(PipelineOptions{Workers: -1})
	for _, want := range []string{"Converter is required", "Writer is required", "Workers -1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want it to contain %q", err, want)
		}
	}
}
