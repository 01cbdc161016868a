// Package daemon is `iamd run`: it opens the store, runs the configured
// ingest sources continuously (each restarted with backoff when it
// fails, the others unaffected), schedules the jobs (IAM model refresh;
// the analysis and the rotator add theirs through Addons), and serves
// the HTTP API, health and metrics, until its context is cancelled. Then
// it stops accepting requests, lets sources write and commit their
// batches in flight and running jobs reach a safe point, and closes the
// store. Tests start it in-process with Run.
//
// It is the one package besides cmd/iamd that wires the others together.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/cmd/iamd/internal/api"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/cmd/iamd/internal/scheduler"
	"github.com/iamd/iamd/configs"
	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/store"
)

// Handles are what an Addon gets to build its jobs and endpoints.
type Handles struct {
	Config  configs.Config
	Store   *store.DB
	Model   *Model
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	Now     func() time.Time
	// Sources returns the ingest sources' status (/api/v1/sources).
	Sources func() []SourceStatus
}

// Additions are an Addon's jobs, API endpoints and pages.
type Additions struct {
	Jobs   []ScheduledJob
	Routes []Route
	// Pages are served outside /api/v1 (the web dashboard); they
	// authenticate requests themselves.
	Pages []Route
	// Utilisation, when set, adds used / granted actions to
	// /api/v1/principals (the first Addon's that sets it counts).
	Utilisation listing.UtilisationFunc
}

// ScheduledJob is a job and its cron spec ("" leaves it out).
type ScheduledJob struct {
	Job  scheduler.Job
	Spec string
}

// Route is an endpoint under /api/v1/, e.g. "GET /api/v1/report".
type Route struct {
	Pattern string
	Handler http.Handler
}

// Addon plugs a part into the daemon once the store is open: the analysis
// (suggestions job, report endpoints) and the rotator (rotation job,
// status endpoint) do.
type Addon func(Handles) (Additions, error)

// Options configure Run.
type Options struct {
	// Config is the validated configuration (configs.Config.Validate).
	Config configs.Config
	// Logger; default discard.
	Logger *slog.Logger
	// Now is the clock of the model and the sources; default time.Now.
	Now func() time.Time
	// Clock drives the scheduler; default the wall clock.
	Clock scheduler.Clock
	// AWS builds the clients of S3 sources.
	AWS AWSClients
	// Addons add jobs and endpoints.
	Addons []Addon
	// OnListen is called with the bound HTTP address (for tests listening
	// on port 0).
	OnListen func(net.Addr)
	// StopTimeout bounds the wait for HTTP requests in flight at
	// shutdown. Default 10 s.
	StopTimeout time.Duration
	// StoreStatsInterval is how often store sizes are sampled for
	// /metrics. Default 1 m.
	StoreStatsInterval time.Duration
}

// Sentinel errors.
var (
	// ErrNoToken is returned for a listener beyond loopback without a
	// token.
	ErrNoToken = errors.New("a bearer token is required to listen beyond loopback")
)

// Run runs the daemon until ctx is cancelled, then shuts down cleanly and
// returns nil. It returns an error when it cannot start (store, listener)
// or when the HTTP server fails.
func Run(ctx context.Context, o Options) error {
	cfg := o.Config
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 10 * time.Second
	}
	if o.StoreStatsInterval <= 0 {
		o.StoreStatsInterval = time.Minute
	}
	log := o.Logger
	token, err := cfg.Token()
	if err != nil {
		return err
	}
	cfg.Resolve()

	db, err := store.Open(store.Options{Dir: cfg.Store.Dir, RawRetention: cfg.Store.KeepRaw.D(), DedupTTL: cfg.Store.DedupTTL.D(),
		SyncWrites: cfg.Store.SyncWrites, Logger: log, Now: o.Now})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w (stop the other iamd first)", err)
	}
	if err != nil {
		return err
	}
	defer db.Close()

	cat, err := catalog.Load()
	if err != nil {
		return err
	}
	conv, err := ingest.NewConverter(ingest.ConverterOptions{Catalog: cat, KeepRaw: cfg.Store.KeepRaw > 0})
	if err != nil {
		return err
	}

	model := newModel(cfg.IAM, db, log, o.Now)
	srcs, err := sourceSet{cfg: cfg, db: db, conv: conv, aws: o.AWS, log: log}.build()
	if err != nil {
		return err
	}
	statuses := func() []SourceStatus {
		out := make([]SourceStatus, len(srcs))
		for i, s := range srcs {
			out[i] = s.status()
		}
		return out
	}
	var sched *scheduler.Scheduler
	m := newMetrics(statuses, func() []scheduler.Status { return sched.Status() }, model)
	sched, err = scheduler.New(scheduler.Options{Store: db, Clock: o.Clock, Logger: log, Observe: m.observeJob})
	if err != nil {
		return err
	}
	if model.Configured() && cfg.IAM.Refresh != "" {
		if err := sched.Add(model, cfg.IAM.Refresh); err != nil {
			return err
		}
	}

	// The addons first: the API serves what they add.
	h := Handles{Config: cfg, Store: db, Model: model, Metrics: prometheus.WrapRegistererWithPrefix(MetricPrefix, m.reg), Logger: log, Now: o.Now, Sources: statuses}
	var (
		routes, pages []Route
		utilisation   listing.UtilisationFunc
	)
	for _, add := range o.Addons {
		a, err := add(h)
		if err != nil {
			return err
		}
		for _, j := range a.Jobs {
			if j.Spec == "" {
				continue
			}
			if err := sched.Add(j.Job, j.Spec); err != nil {
				return err
			}
		}
		routes = append(routes, a.Routes...)
		if utilisation == nil {
			utilisation = a.Utilisation
		}
		pages = append(pages, a.Pages...)
	}
	srv, err := api.New(api.Options{
		Store: db, Token: token, MetricsWithoutToken: cfg.HTTP.MetricsWithoutToken, Gatherer: m.reg,
		Checks:  func(ctx context.Context) []api.Check { return readiness(ctx, db, srcs, model) },
		Sources: func() any { return statuses() },
		Account: model.Account, Logger: log,
		Utilisation: utilisation,
	})
	if err != nil {
		return err
	}
	for _, r := range routes {
		srv.Handle(r.Pattern, r.Handler)
	}
	for _, r := range pages {
		srv.HandlePage(r.Pattern, r.Handler)
	}

	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() && token == "" {
		ln.Close()
		return fmt.Errorf("http.listen %s: %w (set $%s or http.token_file)", ln.Addr(), ErrNoToken, configs.EnvHTTPToken)
	}
	if o.OnListen != nil {
		o.OnListen(ln.Addr())
	}
	httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info("iamd running", "listen", ln.Addr().String(), "store", cfg.Store.Dir, "sources", len(srcs),
		"token", token != "", "metrics_without_token", cfg.HTTP.MetricsWithoutToken)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	goRun := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	for _, s := range srcs {
		goRun(func() { s.supervise(runCtx) })
	}
	goRun(func() { model.start(runCtx) })
	goRun(func() {
		if err := sched.Run(runCtx); err != nil {
			log.Error("scheduler", "err", err)
		}
	})
	goRun(func() { m.sampleStore(runCtx, db, o.StoreStatsInterval, log) })
	if gc := cfg.Store.GCInterval.D(); gc > 0 {
		goRun(func() {
			for sleepCtx(runCtx, gc) {
				if err := db.CollectGarbage(runCtx); err != nil && runCtx.Err() == nil {
					log.Warn("store garbage collection", "err", err)
				}
			}
		})
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	}
	// Stop accepting, let requests in flight finish; sources flush and
	// commit their batches, jobs reach a safe point; then the store
	// closes (deferred).
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.StopTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	stop()
	wg.Wait()
	if err := db.Close(); err != nil {
		return errors.Join(runErr, err)
	}
	log.Info("stopped")
	return runErr
}

// readiness: the store answers, every source runs connected (or has
// finished), and the model is loaded when one is configured.
func readiness(ctx context.Context, db *store.DB, srcs []*supervised, model *Model) []api.Check {
	var checks []api.Check
	_, _, err := db.GetState(ctx, modelStateKind, modelStateID)
	c := api.Check{Name: "store", OK: err == nil}
	if err != nil {
		c.Detail = err.Error()
	}
	checks = append(checks, c)
	for _, s := range srcs {
		st := s.status()
		ok := st.Connected && (st.State == StateRunning || st.State == StateFinished)
		c := api.Check{Name: "source " + st.Name, OK: ok, Detail: st.State}
		if !ok && st.LastError != "" {
			c.Detail = st.State + ": " + st.LastError
		}
		checks = append(checks, c)
	}
	switch {
	case !model.Configured():
		checks = append(checks, api.Check{Name: "iam model", OK: true, Detail: "none configured"})
	case model.Current() != nil:
		checks = append(checks, api.Check{Name: "iam model", OK: true, Detail: "account " + model.Account()})
	default:
		d := "not loaded yet"
		if e := model.Err(); e != "" {
			d = e
		}
		checks = append(checks, api.Check{Name: "iam model", OK: false, Detail: d})
	}
	return checks
}
