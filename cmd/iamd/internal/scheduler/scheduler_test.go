package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/iamd/iamd/cmd/iamd/internal/scheduler/schedulertest"
	"github.com/iamd/iamd/store"
)

type observation struct {
	job, outcome string
}

type harness struct {
	t     *testing.T
	clock *schedulertest.Clock
	db    *store.DB
	s     *Scheduler
	obs   chan observation
	stop  context.CancelFunc
	done  chan error
}

var t0 = time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)

func newHarness(t *testing.T, db *store.DB) *harness {
	t.Helper()
	if db == nil {
		var err error
		db, err = store.Open(store.Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
	}
	h := &harness{t: t, clock: schedulertest.NewClock(t0), db: db, obs: make(chan observation, 100)}
	s, err := New(Options{Store: db, Clock: h.clock, StopGrace: time.Minute,
		Observe: func(job, outcome string, _ time.Duration) { h.obs <- observation{job, outcome} }})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.stop, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.s.Run(ctx) }()
}

func (h *harness) shutdown() {
	h.t.Helper()
	h.stop()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return")
	}
}

func (h *harness) expect(want observation) {
	h.t.Helper()
	select {
	case got := <-h.obs:
		if got != want {
			h.t.Fatalf("observed %+v, want %+v", got, want)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatalf("no run observed, want %+v", want)
	}
}

func (h *harness) stored(name string) Status {
	h.t.Helper()
	st, ok, err := h.db.GetState(context.Background(), StateKind, name)
	if err != nil || !ok {
		h.t.Fatalf("stored status of %s: found %v, %v", name, ok, err)
	}
	var s Status
	if err := json.Unmarshal(st.Data, &s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

func at(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, time.UTC) }

func TestTicks(t *testing.T) {
	h := newHarness(t, nil)
	runs := 0
	fail := false
	if err := h.s.Add(JobFunc("refresh", func(context.Context) error {
		runs++
		if fail {
			return errors.New("boom")
		}
		return nil
	}), "0 * * * *"); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.clock.WaitTimer(t, at(11, 0))
	if st := h.stored("refresh"); st.NextRun == nil || !st.NextRun.Equal(at(11, 0)) || st.Runs != 0 {
		t.Fatalf("before the first tick: %+v, want next 11:00 and no run", st)
	}
	h.clock.Advance(30 * time.Minute)
	h.expect(observation{"refresh", OutcomeOK})
	h.clock.WaitTimer(t, at(12, 0))
	fail = true
	h.clock.Advance(time.Hour)
	h.expect(observation{"refresh", OutcomeError})
	h.clock.WaitTimer(t, at(13, 0))
	h.shutdown()

	st := h.stored("refresh")
	if st.Runs != 2 || st.Failures != 1 || st.LastOutcome != OutcomeError || st.LastError != "boom" || st.Running {
		t.Errorf("stored status %+v, want 2 runs, 1 failure, last error boom", st)
	}
	if !st.NextRun.Equal(at(13, 0)) || !st.LastStart.Equal(at(12, 0)) {
		t.Errorf("next %v last start %v, want 13:00 and 12:00", st.NextRun, st.LastStart)
	}
	if got := h.s.Status(); len(got) != 1 || got[0].Runs != 2 {
		t.Errorf("Status() = %+v", got)
	}
}

func TestNoOverlap(t *testing.T) {
	h := newHarness(t, nil)
	started, release := make(chan struct{}, 10), make(chan struct{})
	if err := h.s.Add(JobFunc("suggest", func(context.Context) error {
		started <- struct{}{}
		<-release
		return nil
	}), "@hourly"); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.clock.WaitTimer(t, at(11, 0))
	h.clock.Advance(30 * time.Minute)
	<-started
	h.clock.WaitTimer(t, at(12, 0))
	h.clock.Advance(time.Hour) // the first run still holds the job
	h.expect(observation{"suggest", OutcomeSkipped})
	close(release)
	h.expect(observation{"suggest", OutcomeOK})
	h.clock.WaitTimer(t, at(13, 0))
	h.shutdown()
	if st := h.stored("suggest"); st.Runs != 1 || st.Skipped != 1 {
		t.Errorf("stored %+v, want 1 run and 1 skipped", st)
	}
	if len(started) != 0 {
		t.Errorf("%d overlapping runs started", len(started))
	}
}

// TestCatchUpOnce: the daemon was down for five hourly ticks; at start the
// job runs once, not five times, and then follows its schedule.
func TestCatchUpOnce(t *testing.T) {
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	missed := t0.Add(-5 * time.Hour)
	data, _ := json.Marshal(Status{Name: "rotate", NextRun: &missed, Runs: 7})
	if err := db.PutState(context.Background(), store.State{Kind: StateKind, ID: "rotate", Data: data}, nil); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, db)
	if err := h.s.Add(JobFunc("rotate", func(context.Context) error { return nil }), "@hourly"); err != nil {
		t.Fatal(err)
	}
	// A job with no stored status waits for its first tick.
	if err := h.s.Add(JobFunc("fresh", func(context.Context) error { return nil }), "@hourly"); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.expect(observation{"rotate", OutcomeOK})
	h.clock.WaitTimer(t, at(11, 0))
	h.shutdown()
	if n := len(h.obs); n != 0 {
		t.Fatalf("%d more runs after the catch-up: %v", n, <-h.obs)
	}
	if st := h.stored("rotate"); st.Runs != 8 || !st.NextRun.Equal(at(11, 0)) {
		t.Errorf("stored %+v, want 8 runs and next 11:00", st)
	}
	if st := h.stored("fresh"); st.Runs != 0 {
		t.Errorf("fresh job ran %d times at start, want 0", st.Runs)
	}
}

// TestInterruptedRunCaughtUp: a run cut short by a crash (stored as
// running) is run again at start.
func TestInterruptedRunCaughtUp(t *testing.T) {
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	next := t0.Add(time.Hour)
	data, _ := json.Marshal(Status{Name: "refresh", Running: true, NextRun: &next})
	if err := db.PutState(context.Background(), store.State{Kind: StateKind, ID: "refresh", Data: data}, nil); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, db)
	if err := h.s.Add(JobFunc("refresh", func(context.Context) error { return nil }), "@daily"); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.expect(observation{"refresh", OutcomeOK})
	h.shutdown()
	if st := h.stored("refresh"); st.Runs != 1 || st.Running || st.LastOutcome != OutcomeOK {
		t.Errorf("stored %+v, want one finished run", st)
	}
}

// TestShutdownCancelsAfterGrace: a job still running at shutdown gets
// StopGrace, then its context is cancelled; Run returns once it has.
func TestShutdownCancelsAfterGrace(t *testing.T) {
	h := newHarness(t, nil)
	started := make(chan struct{})
	if err := h.s.Add(JobFunc("slow", func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}), "@hourly"); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.clock.WaitTimer(t, at(11, 0))
	h.clock.Advance(30 * time.Minute)
	<-started
	h.stop()
	h.clock.WaitTimer(t, at(11, 1)) // the grace period
	select {
	case err := <-h.done:
		t.Fatalf("Run returned %v before the grace period ended", err)
	default:
	}
	h.clock.Advance(time.Minute)
	h.expect(observation{"slow", OutcomeCancelled})
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	if st := h.stored("slow"); st.LastOutcome != OutcomeCancelled || st.Running {
		t.Errorf("stored %+v, want cancelled and not running", st)
	}
}

func TestAddErrors(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.s.Add(JobFunc("a", nil), "not a spec"); err == nil {
		t.Error("bad spec accepted")
	}
	if err := h.s.Add(JobFunc("a", nil), "@daily"); err != nil {
		t.Fatal(err)
	}
	if err := h.s.Add(JobFunc("a", nil), "@daily"); err == nil {
		t.Error("duplicate name accepted")
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without a store accepted")
	}
}

func TestPanicIsAnError(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.s.Add(JobFunc("p", func(context.Context) error { panic("bad") }), "@hourly"); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.clock.WaitTimer(t, at(11, 0))
	h.clock.Advance(30 * time.Minute)
	h.expect(observation{"p", OutcomeError})
	h.shutdown()
}
