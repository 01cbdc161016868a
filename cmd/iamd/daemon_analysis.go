package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/analyzer/unused"
	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
	"github.com/iamd/iamd/cmd/iamd/internal/api"
	"github.com/iamd/iamd/cmd/iamd/internal/daemon"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/cmd/iamd/internal/scheduler"
	"github.com/iamd/iamd/configs"
)

// suggestionsJob is the scheduler name of the weekly suggestions.
const suggestionsJob = "suggestions"

// runFolderLayout names each scheduled run's folder under
// suggestions.out_dir: the run's UTC time, sorting like time.
const runFolderLayout = "2006-01-02T150405Z"

// analysisService answers the analysis endpoints and runs the
// suggestions job on the daemon's store, with the same functions the
// commands call.
type analysisService struct {
	h        daemon.Handles
	cat      *catalog.Catalog
	log      *slog.Logger
	window   string
	exclude  []unused.Exclusion
	duration *prometheus.HistogramVec
	runs     *prometheus.CounterVec
	checks   *prometheus.GaugeVec
}

// analysisAddon is the analysis in the daemon: GET /api/v1/report,
// unused, audit, suggestions and suggestions/dry-run, utilisation on
// /api/v1/principals, the suggestions job on suggestions.schedule, and
// their metrics.
func analysisAddon() daemon.Addon {
	return func(h daemon.Handles) (daemon.Additions, error) {
		cat, err := catalog.Load()
		if err != nil {
			return daemon.Additions{}, err
		}
		s := &analysisService{h: h, cat: cat, log: h.Logger.With("component", "analysis"), window: h.Config.Analysis.Window.String()}
		if s.exclude, err = configExclusions(h.Config.Analysis); err != nil {
			return daemon.Additions{}, err
		}
		s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "analysis_duration_seconds", Help: "Duration of analyses (report, unused, audit, utilisation, suggestions) answered by the API or run by a job.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"analysis"})
		s.runs = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "suggestion_principals_total", Help: "Principals given a suggestion by the suggestions job, by self-check result (passed, failed).",
		}, []string{"self_check"})
		s.checks = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "suggestion_last_run_principals", Help: "Principals of the latest suggestion run kept in the store, by self-check result (passed, failed).",
		}, []string{"self_check"})
		for _, c := range []prometheus.Collector{s.duration, s.runs, s.checks} {
			if err := h.Metrics.Register(c); err != nil {
				return daemon.Additions{}, err
			}
		}
		s.lastRunGauge(context.Background())
		route := func(path string, fn http.HandlerFunc) daemon.Route {
			return daemon.Route{Pattern: "GET " + api.Prefix + path, Handler: fn}
		}
		a := daemon.Additions{
			Routes: []daemon.Route{
				route("report", s.report), route("unused", s.unused), route("audit", s.audit),
				route("suggestions", s.suggestions), route("suggestions/dry-run", s.suggestionsDryRun),
			},
			Utilisation: func(ctx context.Context, principal string) (map[string]report.Utilisation, error) {
				defer s.timed("utilisation")()
				return analysis.UtilisationOf(h.Store, cat, s.window, h.Now)(ctx, principal)
			},
		}
		if spec := h.Config.Suggestions.Schedule; spec != "" {
			a.Jobs = append(a.Jobs, daemon.ScheduledJob{Spec: spec, Job: scheduler.JobFunc(suggestionsJob, s.runSuggestions)})
		}
		return a, nil
	}
}

// configExclusions reads analysis.exclude_principals (ARN patterns, "*"
// for every principal).
func configExclusions(a configs.Analysis) ([]unused.Exclusion, error) {
	var out []unused.Exclusion
	for i, pat := range a.ExcludePrincipals {
		if pat == "*" {
			pat = "arn:*"
		}
		e, err := unused.ParseExclusion(pat)
		if err != nil {
			return nil, fmt.Errorf("analysis.exclude_principals[%d]: %w", i, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// timed observes the duration of one analysis when the returned function
// is called.
func (s *analysisService) timed(what string) func() {
	start := time.Now()
	return func() { s.duration.WithLabelValues(what).Observe(time.Since(start).Seconds()) }
}

// params reads the query parameters the commands take as flags
// (principal, window, at, top); the window defaults to analysis.window.
func (s *analysisService) params(r *http.Request) (analysis.Params, error) {
	q := r.URL.Query()
	p := analysis.Params{Window: q.Get("window"), At: q.Get("at"), Principal: q.Get("principal"), Now: s.h.Now, RequireModel: true, Exclude: s.exclude}
	if p.Window == "" {
		p.Window = s.window
	}
	if v := q.Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, &analysis.ParamError{Param: "top", Err: fmt.Errorf("%q: want a number", v)}
		}
		p.Top = n
	}
	return p, nil
}

// report answers like `iamd report --format json`.
func (s *analysisService) report(w http.ResponseWriter, r *http.Request) {
	p, err := s.params(r)
	if err != nil {
		apiFail(w, r, s.log, err)
		return
	}
	done := s.timed("report")
	_, rep, err := analysis.Report(r.Context(), s.h.Store, s.cat, p)
	done()
	if err != nil {
		apiFail(w, r, s.log, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, rep)
}

// unused answers like `iamd unused --format json [--exclude …]`, with
// analysis.exclude_principals too.
func (s *analysisService) unused(w http.ResponseWriter, r *http.Request) {
	p, err := s.params(r)
	if err != nil {
		apiFail(w, r, s.log, err)
		return
	}
	o := unused.Options{Exclude: s.exclude}
	for _, v := range r.URL.Query()["exclude"] {
		e, err := unused.ParseExclusion(v)
		if err != nil {
			apiFail(w, r, s.log, &analysis.ParamError{Param: "exclude", Err: err})
			return
		}
		o.Exclude = append(o.Exclude, e)
	}
	p.Exclude = nil // the exclusions are unused's findings to skip, as with --exclude
	done := s.timed("unused")
	res, err := analysis.Unused(r.Context(), s.h.Store, s.cat, p, o)
	done()
	if err != nil {
		apiFail(w, r, s.log, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, res)
}

// audit answers like `iamd audit --store DIR --format json`: one
// document per account with a model.
func (s *analysisService) audit(w http.ResponseWriter, r *http.Request) {
	p, err := s.params(r)
	if err != nil {
		apiFail(w, r, s.log, err)
		return
	}
	p.Principal, p.Exclude = "", nil
	keyMaxAge := s.h.Config.Rotation.MaxAge.D()
	if v := r.URL.Query().Get("key_max_age"); v != "" {
		if keyMaxAge, err = configs.ParseDuration(v); err != nil || keyMaxAge <= 0 {
			apiFail(w, r, s.log, &analysis.ParamError{Param: "key-max-age", Err: fmt.Errorf("%q: want a positive age, e.g. 90d", v)})
			return
		}
	}
	done := s.timed("audit")
	audits, err := analysis.Audit(r.Context(), s.h.Store, s.cat, p, analysis.AuditOptions{KeyMaxAge: keyMaxAge, Now: s.h.Now})
	done()
	if err != nil {
		apiFail(w, r, s.log, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	for _, a := range audits {
		if err := listing.WriteJSON(w, a.Document()); err != nil {
			return
		}
	}
}

// suggestions answers like `iamd suggest latest --format json`.
func (s *analysisService) suggestions(w http.ResponseWriter, r *http.Request) {
	res, err := analysis.LatestSuggestions(r.Context(), s.h.Store, r.URL.Query().Get("principal"))
	if err != nil {
		apiFail(w, r, s.log, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, res)
}

// suggestionsDryRun answers like `iamd suggest --dry-run --format json`:
// computed and self-checked now, nothing written or kept.
func (s *analysisService) suggestionsDryRun(w http.ResponseWriter, r *http.Request) {
	p, err := s.params(r)
	if err != nil {
		apiFail(w, r, s.log, err)
		return
	}
	grace := s.grace()
	if v := r.URL.Query().Get("grace"); v != "" {
		if grace, err = parseGrace(v); err != nil {
			apiFail(w, r, s.log, &analysis.ParamError{Param: "grace", Err: err})
			return
		}
	}
	keep := slices.Concat(s.h.Config.Analysis.ExcludeActions, r.URL.Query()["keep_action"])
	for _, a := range keep {
		if err := suggest.CheckActionPattern(a); err != nil {
			apiFail(w, r, s.log, &analysis.ParamError{Param: "keep-action", Err: err})
			return
		}
	}
	done := s.timed("suggestions")
	_, res, err := analysis.Suggest(r.Context(), s.h.Store, s.cat, p, analysis.SuggestOptions{Grace: grace, KeepActions: keep, Now: s.h.Now})
	done()
	if err != nil {
		apiFail(w, r, s.log, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, res)
}

// grace is suggestions.grace as the suggester takes it (0: none).
func (s *analysisService) grace() time.Duration {
	if g := s.h.Config.Suggestions.Grace.D(); g > 0 {
		return g
	}
	return -1
}

// outDir is suggestions.out_dir, by default "suggestions" in the store.
func (s *analysisService) outDir() string {
	if d := s.h.Config.Suggestions.OutDir; d != "" {
		return d
	}
	return filepath.Join(s.h.Config.Store.Dir, "suggestions")
}

// runSuggestions is the scheduled run: `iamd suggest` over every
// principal (analysis.exclude_principals left out), written to a folder
// of its own under the out dir, kept in the store's history.
func (s *analysisService) runSuggestions(ctx context.Context) error {
	defer s.timed("suggestions")()
	now := s.h.Now().UTC()
	out := filepath.Join(s.outDir(), now.Format(runFolderLayout))
	p := analysis.Params{Window: s.window, Now: s.h.Now, Exclude: s.exclude}
	sc, res, err := analysis.Suggest(ctx, s.h.Store, s.cat, p, analysis.SuggestOptions{Grace: s.grace(), KeepActions: s.h.Config.Analysis.ExcludeActions,
		Out: out, History: true, Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	passed := len(res.Summaries) - res.Failed
	s.runs.WithLabelValues("passed").Add(float64(passed))
	s.runs.WithLabelValues("failed").Add(float64(res.Failed))
	s.checks.WithLabelValues("passed").Set(float64(passed))
	s.checks.WithLabelValues("failed").Set(float64(res.Failed))
	s.log.Info("suggestions", "principals", len(res.Summaries), "failed", res.Failed, "out", out, "model", sc.Models != nil)
	if res.Failed > 0 {
		// Kept and written all the same (the failures are not written):
		// the outcome says a reviewer must look.
		return fmt.Errorf("suggestions: %d of %d failed their self-check (see %s, /api/v1/suggestions)", res.Failed, len(res.Summaries), out)
	}
	return nil
}

// lastRunGauge sets the last run's gauges from the store at start.
func (s *analysisService) lastRunGauge(ctx context.Context) {
	res, err := analysis.LatestSuggestions(ctx, s.h.Store, "")
	if err != nil {
		return
	}
	s.checks.WithLabelValues("passed").Set(float64(len(res.Summaries) - res.Failed))
	s.checks.WithLabelValues("failed").Set(float64(res.Failed))
}

// apiFail answers an error: a wrong parameter 400, an unknown principal or
// nothing to show yet 404, anything else 500 (logged).
func apiFail(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	var pe *analysis.ParamError
	code := http.StatusInternalServerError
	switch {
	case errors.As(err, &pe) && pe.NotFound:
		code = http.StatusNotFound
	case errors.As(err, &pe):
		code = http.StatusBadRequest
	case errors.Is(err, analysis.ErrNoSuggestions), errors.Is(err, model.ErrNoModel):
		code = http.StatusNotFound
	default:
		log.Error("request failed", "path", r.URL.Path, "err", err)
	}
	api.WriteJSON(w, code, map[string]string{"error": err.Error()})
}
