// Package scheduler runs the daemon's periodic jobs (IAM model refresh,
// least-privilege suggestions, key rotation) on cron schedules
// (github.com/robfig/cron/v3: 5-field specs and descriptors such as
// @weekly), with an injected clock so tests need no sleeps.
//
// A job never overlaps itself (cron's SkipIfStillRunning: a tick that
// finds the previous run still going is skipped and counted). Each run's
// outcome, duration and the next run are kept in the store as State
// records of kind "job", so they survive restarts and the CLI can read
// them. A run missed while the daemon was down (the stored next run is in
// the past, or a run was cut short by a crash) is caught up once at
// start, not once per missed tick.
//
// It imports store (for the State record type) and cron.
package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/iamd/iamd/store"
)

// StateKind is the kind of the store records holding job status.
const StateKind = "job"

// Outcomes of a run.
const (
	OutcomeOK          = "ok"
	OutcomeError       = "error"
	OutcomeCancelled   = "cancelled"   // the daemon stopped it at shutdown
	OutcomeSkipped     = "skipped"     // the previous run was still going
	OutcomeInterrupted = "interrupted" // the daemon died while it ran
)

// DefaultStopGrace is how long shutdown waits for running jobs before it
// cancels their context.
const DefaultStopGrace = 30 * time.Second

// Job is one scheduled task. Run must return soon after ctx is cancelled,
// at a safe point (a step persisted, nothing half done).
type Job interface {
	Name() string
	Run(ctx context.Context) error
}

// JobFunc makes a Job of a name and a function.
func JobFunc(name string, fn func(ctx context.Context) error) Job { return funcJob{name, fn} }

type funcJob struct {
	name string
	fn   func(ctx context.Context) error
}

func (f funcJob) Name() string                  { return f.name }
func (f funcJob) Run(ctx context.Context) error { return f.fn(ctx) }

// Clock is time as the scheduler sees it.
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once d has passed, and a
	// function that stops the timer.
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

// RealClock is the wall clock.
type RealClock struct{}

func (RealClock) Now() time.Time { return time.Now() }

func (RealClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Store keeps job status; *store.DB has it.
type Store interface {
	GetState(ctx context.Context, kind, id string) (store.State, bool, error)
	PutState(ctx context.Context, s store.State, prev *time.Time) error
	States(ctx context.Context, kind string) ([]store.State, error)
}

var _ Store = (*store.DB)(nil)

// Status is what the store and the API keep of a job.
type Status struct {
	Name         string     `json:"name"`
	Schedule     string     `json:"schedule"`
	Running      bool       `json:"running"`
	LastStart    *time.Time `json:"last_start,omitempty"`
	LastEnd      *time.Time `json:"last_end,omitempty"`
	LastOutcome  string     `json:"last_outcome,omitempty"`
	LastError    string     `json:"last_error,omitempty"`
	LastDuration float64    `json:"last_duration_seconds"`
	NextRun      *time.Time `json:"next_run,omitempty"`
	Runs         int64      `json:"runs"`
	Failures     int64      `json:"failures"`
	Skipped      int64      `json:"skipped"`
}

// StatusReader reads stored job status; *store.DB has it.
type StatusReader interface {
	States(ctx context.Context, kind string) ([]store.State, error)
}

// ReadStatus returns the stored status of every job, by name.
func ReadStatus(ctx context.Context, st StatusReader) ([]Status, error) {
	states, err := st.States(ctx, StateKind)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(states))
	for _, s := range states {
		var js Status
		if err := json.Unmarshal(s.Data, &js); err != nil {
			return nil, fmt.Errorf("job status %s: %w", s.ID, err)
		}
		out = append(out, js)
	}
	return out, nil
}

// Options configure New.
type Options struct {
	// Store keeps job status. Required.
	Store Store
	// Clock; default RealClock.
	Clock Clock
	// Logger; default discard.
	Logger *slog.Logger
	// StopGrace is how long shutdown lets running jobs finish before
	// cancelling their context. Default DefaultStopGrace.
	StopGrace time.Duration
	// Observe, when set, is called after every run (and skip) with the
	// job's name, the outcome and the run's duration.
	Observe func(job, outcome string, d time.Duration)
}

// Scheduler runs jobs on their schedules. Add jobs, then Run.
type Scheduler struct {
	o     Options
	log   *slog.Logger
	mu    sync.Mutex
	jobs  []*entry
	byKey map[string]*entry
	run   bool

	jobCtx    context.Context
	cancelJob context.CancelFunc
	wg        sync.WaitGroup
	// persistMu orders status writes, so an older status never
	// overwrites a newer one.
	persistMu sync.Mutex
}

type entry struct {
	job   Job
	spec  string
	sched cron.Schedule
	// wrapped is the job behind cron's SkipIfStillRunning.
	wrapped cron.Job
	next    time.Time
	// status is guarded by Scheduler.mu.
	status Status
}

// New validates o.
func New(o Options) (*Scheduler, error) {
	if o.Store == nil {
		return nil, errors.New("scheduler: Store is required")
	}
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{o: o, log: o.Logger.With("component", "scheduler"), byKey: map[string]*entry{}, jobCtx: ctx, cancelJob: cancel}, nil
}

// Add schedules job on spec (cron.ParseStandard: "0 3 * * *", @daily,
// @every 6h). Names must be unique. Add before Run.
func (s *Scheduler) Add(job Job, spec string) error {
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return fmt.Errorf("schedule %s %q: %w", job.Name(), spec, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run {
		return fmt.Errorf("schedule %s: the scheduler is already running", job.Name())
	}
	if _, dup := s.byKey[job.Name()]; dup {
		return fmt.Errorf("schedule %s: a job of that name exists", job.Name())
	}
	e := &entry{job: job, spec: spec, sched: sched, status: Status{Name: job.Name(), Schedule: spec}}
	e.wrapped = cron.NewChain(cron.SkipIfStillRunning(skipLogger{s, e})).Then(cron.FuncJob(func() { s.runOnce(e) }))
	s.jobs = append(s.jobs, e)
	s.byKey[job.Name()] = e
	return nil
}

// skipLogger receives cron's "skip" of SkipIfStillRunning: the only
// way cron tells that a tick found the job still running.
type skipLogger struct {
	s *Scheduler
	e *entry
}

func (l skipLogger) Info(msg string, kv ...any) {
	if msg != "skip" {
		return
	}
	l.s.mu.Lock()
	l.e.status.Skipped++
	l.s.mu.Unlock()
	l.s.log.Warn("job still running; tick skipped", "job", l.e.job.Name())
	l.s.persist(l.e)
	if l.s.o.Observe != nil {
		l.s.o.Observe(l.e.job.Name(), OutcomeSkipped, 0)
	}
}

func (l skipLogger) Error(err error, msg string, kv ...any) {
	l.s.log.Error(msg, "job", l.e.job.Name(), "err", err)
}

// Status returns every job's status, by name.
func (s *Scheduler) Status() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.jobs))
	for _, e := range s.jobs {
		out = append(out, e.status)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Run restores each job's stored status, catches up runs missed while
// the daemon was down (once per job), then runs jobs on their schedules
// until ctx is cancelled. It then waits for running jobs: StopGrace for
// them to finish, then their context is cancelled and Run waits for them
// to return. It returns nil unless the stored status cannot be read.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	s.run = true
	jobs := append([]*entry(nil), s.jobs...)
	s.mu.Unlock()
	defer s.stop()

	now := s.o.Clock.Now()
	for _, e := range jobs {
		st, found, err := s.o.Store.GetState(ctx, StateKind, e.job.Name())
		if err != nil {
			return fmt.Errorf("scheduler: read status of %s: %w", e.job.Name(), err)
		}
		catchUp := false
		if found {
			var prev Status
			if err := json.Unmarshal(st.Data, &prev); err != nil {
				s.log.Warn("stored job status unreadable; starting afresh", "job", e.job.Name(), "err", err)
			} else {
				if prev.Running {
					prev.Running = false
					prev.LastOutcome = OutcomeInterrupted
					prev.LastError = "the daemon stopped while the job ran"
					catchUp = true
				}
				if prev.NextRun != nil && !prev.NextRun.After(now) {
					catchUp = true
				}
				prev.Name, prev.Schedule = e.job.Name(), e.spec
				s.mu.Lock()
				e.status = prev
				s.mu.Unlock()
			}
		}
		e.next = e.sched.Next(now)
		s.setNext(e)
		if catchUp {
			s.log.Info("catching up a run missed while down", "job", e.job.Name())
			s.start(e)
		}
	}

	for {
		var timer <-chan time.Time
		stopTimer := func() bool { return false }
		if len(jobs) > 0 {
			first := jobs[0].next
			for _, e := range jobs[1:] {
				if e.next.Before(first) {
					first = e.next
				}
			}
			timer, stopTimer = s.o.Clock.NewTimer(first.Sub(s.o.Clock.Now()))
		}
		select {
		case <-ctx.Done():
			stopTimer()
			return nil
		case <-timer:
		}
		now := s.o.Clock.Now()
		for _, e := range jobs {
			if e.next.After(now) {
				continue
			}
			// Several ticks passed at once (a suspended machine, a
			// clock step) run once.
			e.next = e.sched.Next(now)
			s.setNext(e)
			s.start(e)
		}
	}
}

func (s *Scheduler) setNext(e *entry) {
	n := e.next
	s.mu.Lock()
	e.status.NextRun = &n
	s.mu.Unlock()
	s.persist(e)
}

// start runs e in the background through cron's SkipIfStillRunning.
func (s *Scheduler) start(e *entry) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		e.wrapped.Run()
	}()
}

func (s *Scheduler) runOnce(e *entry) {
	name := e.job.Name()
	start := s.o.Clock.Now()
	s.mu.Lock()
	e.status.Running = true
	e.status.LastStart = &start
	s.mu.Unlock()
	s.persist(e)
	s.log.Info("job started", "job", name)

	err := safeRun(s.jobCtx, e.job)

	end := s.o.Clock.Now()
	d := end.Sub(start)
	outcome := OutcomeOK
	switch {
	case err != nil && s.jobCtx.Err() != nil:
		outcome = OutcomeCancelled
	case err != nil:
		outcome = OutcomeError
	}
	s.mu.Lock()
	e.status.Running = false
	e.status.LastEnd = &end
	e.status.LastOutcome = outcome
	e.status.LastError = ""
	if err != nil {
		e.status.LastError = err.Error()
	}
	e.status.LastDuration = d.Seconds()
	e.status.Runs++
	if outcome == OutcomeError {
		e.status.Failures++
	}
	s.mu.Unlock()
	s.persist(e)
	if err != nil {
		s.log.Error("job failed", "job", name, "outcome", outcome, "duration", d, "err", err)
	} else {
		s.log.Info("job done", "job", name, "duration", d)
	}
	if s.o.Observe != nil {
		s.o.Observe(name, outcome, d)
	}
}

// safeRun turns a job's panic into its error: one broken job must not
// take the daemon down.
func safeRun(ctx context.Context, j Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return j.Run(ctx)
}

// persist writes e's status to the store. A failure is logged: the run
// itself is not undone by it.
func (s *Scheduler) persist(e *entry) {
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	s.mu.Lock()
	data, err := json.Marshal(e.status)
	s.mu.Unlock()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = s.o.Store.PutState(ctx, store.State{Kind: StateKind, ID: e.job.Name(), Data: data}, nil)
	}
	if err != nil {
		s.log.Error("cannot store job status", "job", e.job.Name(), "err", err)
	}
}

// stop waits StopGrace for running jobs, then cancels them and waits.
func (s *Scheduler) stop() {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	grace, stopGrace := s.o.Clock.NewTimer(s.o.StopGrace)
	defer stopGrace()
	select {
	case <-done:
	case <-grace:
		s.log.Warn("jobs still running after the grace period; cancelling them", "grace", s.o.StopGrace)
		s.cancelJob()
		<-done
	}
	s.cancelJob()
}
