package ingest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/store"
)

// gatedWriter records batches and holds each Write until the test lets it
// go; fail makes the numbered write (1-based) fail.
type gatedWriter struct {
	started chan int
	release chan struct{}
	fail    int
	n       int
	got     [][]string // event IDs per written batch, in write order
}

func (g *gatedWriter) Write(_ context.Context, b *store.Batch) (store.WriteResult, error) {
	g.n++
	g.started <- g.n
	<-g.release
	if g.n == g.fail {
		return store.WriteResult{}, errors.New("disk full")
	}
	var ids []string
	for _, e := range b.Events {
		ids = append(ids, e.ID)
	}
	g.got = append(g.got, ids)
	return store.WriteResult{Events: len(b.Events)}, nil
}

func usage(id string) *Result {
	return &Result{Kind: KindUsage, Event: store.Event{ID: id, Principal: "arn:aws:iam::111122223333:user/a"}}
}

func TestSinkWritesInBackground(t *testing.T) {
	g := &gatedWriter{started: make(chan int, 10), release: make(chan struct{})}
	s, err := NewSink(g, SinkOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 2 {
		if err := s.Add(ctx, usage("e"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := <-g.started; n != 1 {
		t.Fatalf("write %d started, want 1", n)
	}
	// The first write is held; the next batch still fills.
	if err := s.Add(ctx, usage("e2")); err != nil {
		t.Fatal(err)
	}
	s.Checkpoint(store.Checkpoint{Source: "file:/x", Position: "p"})
	if got := s.Counts().Written; got != 0 {
		t.Errorf("Written = %d while the write is held, want 0", got)
	}
	flushed := make(chan error, 1)
	go func() { flushed <- s.Flush(ctx) }()
	select {
	case err := <-flushed:
		t.Fatalf("Flush returned %v before the writes ended", err)
	case <-time.After(20 * time.Millisecond):
	}
	g.release <- struct{}{} // first write ends, Flush starts the second
	if n := <-g.started; n != 2 {
		t.Fatalf("write %d started, want 2", n)
	}
	g.release <- struct{}{}
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if got, want := joinBatches(g.got), "e0,e1|e2"; got != want {
		t.Errorf("batches %q, want %q", got, want)
	}
	if got := s.Counts().Written; got != 3 {
		t.Errorf("Written = %d, want 3", got)
	}
}

// joinBatches writes batches of IDs as "a,b|c".
func joinBatches(batches [][]string) string {
	var out []string
	for _, b := range batches {
		out = append(out, strings.Join(b, ","))
	}
	return strings.Join(out, "|")
}

func TestSinkReportsBackgroundWriteError(t *testing.T) {
	g := &gatedWriter{started: make(chan int, 10), release: make(chan struct{}, 10), fail: 1}
	s, err := NewSink(g, SinkOptions{BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g.release <- struct{}{}
	if err := s.Add(ctx, usage("e0")); err != nil {
		t.Fatalf("Add that starts the failing write: %v", err)
	}
	err = s.Add(ctx, usage("e1"))
	if err == nil || !strings.Contains(err.Error(), "write batch of 1 events") || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("next Add: err %v, want the first write's error", err)
	}
	if g.n != 1 {
		t.Errorf("%d writes started after a failed one, want 1", g.n)
	}
}

// A batch ends at BatchFacts distinct facts, however few its records.
func TestSinkBatchFacts(t *testing.T) {
	g := &gatedWriter{started: make(chan int, 10), release: make(chan struct{}, 10)}
	for range 10 {
		g.release <- struct{}{}
	}
	s, err := NewSink(g, SinkOptions{BatchSize: 100, BatchFacts: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ev := func(id, resource string) *Result {
		r := usage(id)
		r.Event.Uses = []store.Use{{Action: "s3:GetObject", Resource: resource}}
		return r
	}
	for _, r := range []*Result{ev("e0", "arn:aws:s3:::b/1"), ev("e1", "arn:aws:s3:::b/1"), ev("e2", "arn:aws:s3:::b/2"), ev("e3", "arn:aws:s3:::b/1")} {
		if err := s.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := joinBatches(g.got), "e0,e1,e2|e3"; got != want {
		t.Errorf("batches %q, want %q (the second fact ends the first batch)", got, want)
	}
	if _, err := NewSink(g, SinkOptions{BatchFacts: -1}); err == nil {
		t.Error("NewSink with negative BatchFacts: no error")
	}
}

// factsWriter reports a fixed number of facts per write.
type factsWriter struct{ facts int }

func (f factsWriter) Write(_ context.Context, b *store.Batch) (store.WriteResult, error) {
	return store.WriteResult{Events: len(b.Events), Facts: f.facts}, nil
}

// The sink sums the store's fact counts over its writes and keeps the
// first quarantined records, without their bytes, up to the sample size.
func TestSinkFactsAndQuarantineSample(t *testing.T) {
	quarantined := func(i int) *Result {
		return &Result{Kind: KindQuarantined, Quarantined: store.Quarantined{
			Where: "f.json record " + strconv.Itoa(i), Reason: ReasonBadJSON, Detail: "d" + strconv.Itoa(i), Raw: []byte("{,}"),
		}}
	}
	for _, tc := range []struct {
		name       string
		sample     int
		wantWheres string
	}{
		{"default", 0, "f.json record 0|f.json record 1|f.json record 2"},
		{"two", 2, "f.json record 0|f.json record 1"},
		{"none", -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSink(factsWriter{facts: 5}, SinkOptions{BatchSize: 2, QuarantineSample: tc.sample})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			// Three batches of two: (e0 q0) (e1 q1) (e2 q2).
			for i := range 3 {
				if err := s.Add(ctx, usage("e"+strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
				if err := s.Add(ctx, quarantined(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got, want := s.Counts().FactWrites, int64(15); got != want {
				t.Fatalf("Counts().FactWrites = %d, want %d", got, want)
			}
			var wheres []string
			for _, q := range s.QuarantineSample() {
				if q.Raw != nil {
					t.Fatalf("sample %q keeps Raw %q", q.Where, q.Raw)
				}
				wheres = append(wheres, q.Where)
			}
			if got := strings.Join(wheres, "|"); got != tc.wantWheres {
				t.Fatalf("QuarantineSample() = %q, want %q", got, tc.wantWheres)
			}
		})
	}
}
