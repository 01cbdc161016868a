// Package api is the daemon's HTTP surface (net/http): /healthz (the
// process is up), /readyz (store open, sources connected, model loaded),
// /metrics (Prometheus) and the JSON API under /api/v1/, which answers
// with the same documents as the CLI's --format json for the same store.
// Everything but /healthz and /readyz requires the bearer token when one
// is set; /metrics may be opened by MetricsWithoutToken. The analysis and
// the rotator add their endpoints with Handle, the dashboard its pages
// with HandlePage.
//
// It imports store, the scheduler (job status), listing and analysis (to
// read a principal as the commands do).
package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/cmd/iamd/internal/scheduler"
	"github.com/iamd/iamd/store"
)

// Prefix is where the JSON API lives.
const Prefix = "/api/v1/"

// Store is what the API reads; *store.DB has it.
type Store interface {
	listing.FactWalker
	Facts(ctx context.Context, q store.FactQuery) ([]store.Fact, error)
	Principals(ctx context.Context) ([]string, error)
	Quarantine(ctx context.Context, limit int) ([]store.Quarantined, error)
	Snapshots(ctx context.Context, accountID string) ([]store.SnapshotInfo, error)
	States(ctx context.Context, kind string) ([]store.State, error)
}

var _ Store = (*store.DB)(nil)

// Check is one readiness condition.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Readiness is the /readyz document: ready when every check is OK.
type Readiness struct {
	Ready  bool    `json:"ready"`
	Checks []Check `json:"checks"`
}

// Options configure New.
type Options struct {
	// Store is read by the /api/v1 endpoints. Required.
	Store Store
	// Token is the bearer token; "" serves without one (the daemon
	// allows that on loopback only).
	Token string
	// MetricsWithoutToken serves /metrics without the token.
	MetricsWithoutToken bool
	// Gatherer is served on /metrics. Default: none (404).
	Gatherer prometheus.Gatherer
	// Checks returns the readiness conditions. Default: ready.
	Checks func(ctx context.Context) []Check
	// Sources returns the ingest sources' status for /api/v1/sources.
	Sources func() any
	// Account returns the account of the loaded IAM model: the default
	// of /api/v1/snapshots?account=.
	Account func() string
	// Utilisation adds used / granted actions to /api/v1/principals.
	Utilisation listing.UtilisationFunc
	// Logger; default discard.
	Logger *slog.Logger
}

// Server routes the daemon's endpoints. It is an http.Handler.
type Server struct {
	o   Options
	log *slog.Logger
	mux *http.ServeMux

	mu     sync.Mutex
	routes []string // /api/v1 patterns, for the index
}

// New builds the server with the endpoints that exist in every build.
func New(o Options) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("api: Store is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{o: o, log: o.Logger.With("component", "api"), mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if o.Gatherer != nil {
		var h http.Handler = promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{ErrorLog: slogPrinter{s.log}})
		if !o.MetricsWithoutToken {
			h = s.auth(h)
		}
		s.mux.Handle("GET /metrics", h)
	}
	s.mux.Handle("GET "+Prefix+"{$}", s.auth(http.HandlerFunc(s.index)))
	s.Handle("GET "+Prefix+"principals", http.HandlerFunc(s.principals))
	s.Handle("GET "+Prefix+"usage", http.HandlerFunc(s.usage))
	s.Handle("GET "+Prefix+"quarantine", http.HandlerFunc(s.quarantine))
	s.Handle("GET "+Prefix+"snapshots", http.HandlerFunc(s.snapshots))
	s.Handle("GET "+Prefix+"jobs", http.HandlerFunc(s.jobs))
	if o.Sources != nil {
		s.Handle("GET "+Prefix+"sources", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, o.Sources())
		}))
	}
	return s, nil
}

// Handle registers an API endpoint behind the token, e.g.
// Handle("GET /api/v1/report", h). The pattern must be under /api/v1/.
func (s *Server) Handle(pattern string, h http.Handler) {
	if _, path, _ := strings.Cut(pattern, " "); !strings.HasPrefix(path, Prefix) && !strings.HasPrefix(pattern, Prefix) {
		panic(fmt.Sprintf("api: %q is outside %s", pattern, Prefix))
	}
	s.mu.Lock()
	s.routes = append(s.routes, pattern)
	s.mu.Unlock()
	s.mux.Handle(pattern, s.auth(h))
}

// HandlePage registers a handler outside /api/v1 (the web dashboard's
// pages and assets) as it is: it authenticates requests itself.
func (s *Server) HandlePage(pattern string, h http.Handler) {
	if _, path, _ := strings.Cut(pattern, " "); strings.HasPrefix(path, Prefix) || strings.HasPrefix(pattern, Prefix) {
		panic(fmt.Sprintf("api: page %q is inside %s", pattern, Prefix))
	}
	s.mux.Handle(pattern, h)
}

// ServeHTTP routes r.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// auth requires the bearer token, compared in constant time.
func (s *Server) auth(h http.Handler) http.Handler {
	if s.o.Token == "" {
		return h
	}
	want := []byte(s.o.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="iamd"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	rd := Readiness{Ready: true, Checks: []Check{}}
	if s.o.Checks != nil {
		rd.Checks = s.o.Checks(r.Context())
	}
	for _, c := range rd.Checks {
		rd.Ready = rd.Ready && c.OK
	}
	code := http.StatusOK
	if !rd.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rd)
}

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	routes := append([]string(nil), s.routes...)
	s.mu.Unlock()
	sort.Strings(routes)
	writeJSON(w, http.StatusOK, map[string][]string{"endpoints": routes})
}

// principals answers like `iamd usage principals --format json`.
func (s *Server) principals(w http.ResponseWriter, r *http.Request) {
	principal := r.URL.Query().Get("principal")
	ps, err := listing.Principals(r.Context(), s.o.Store, principal)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.o.Utilisation != nil && len(ps) > 0 {
		u, err := s.o.Utilisation(r.Context(), principal)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		listing.AddUtilisation(ps, u)
	}
	writeJSON(w, http.StatusOK, ps)
}

// usage answers like `iamd usage --format json [--principal P] [--limit N]`;
// P is an ARN or a unique user or role name, as for the command.
func (s *Server) usage(w http.ResponseWriter, r *http.Request) {
	limit, ok := intParam(w, r, "limit", 0)
	if !ok {
		return
	}
	q := store.FactQuery{}
	if p := r.URL.Query().Get("principal"); p != "" {
		arn, err := analysis.StorePrincipal(r.Context(), s.o.Store, p)
		var pe *analysis.ParamError
		if errors.As(err, &pe) {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		q.Principal = arn
	}
	facts, err := s.o.Store.Facts(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if limit > 0 && len(facts) > limit {
		facts = facts[:limit]
	}
	writeJSON(w, http.StatusOK, listing.UsageFacts(facts))
}

// quarantine answers like `iamd quarantine --format json [--limit N]`
// (default 20 there too).
func (s *Server) quarantine(w http.ResponseWriter, r *http.Request) {
	limit, ok := intParam(w, r, "limit", 20)
	if !ok {
		return
	}
	qs, err := s.o.Store.Quarantine(r.Context(), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listing.QuarantineRecords(qs))
}

// snapshots answers like `iamd snapshot list --account A --format json`;
// the account defaults to the loaded model's.
func (s *Server) snapshots(w http.ResponseWriter, r *http.Request) {
	account := r.URL.Query().Get("account")
	if account == "" && s.o.Account != nil {
		account = s.o.Account()
	}
	if account == "" {
		writeError(w, http.StatusBadRequest, "account is required: no IAM model is loaded to default to")
		return
	}
	infos, err := s.o.Store.Snapshots(r.Context(), account)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listing.SnapshotList(account, infos))
}

// jobs answers like `iamd jobs --format json`.
func (s *Server) jobs(w http.ResponseWriter, r *http.Request) {
	js, err := scheduler.ReadStatus(r.Context(), s.o.Store)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, js)
}

func intParam(w http.ResponseWriter, r *http.Request, name string, def int) (int, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s=%q: want 0 (all) or more", name, v))
		return 0, false
	}
	return n, true
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	s.log.Error("request failed", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, err.Error())
}

// WriteJSON answers with v as the CLI prints it (listing.WriteJSON), for
// handlers registered with Handle.
func WriteJSON(w http.ResponseWriter, code int, v any) { writeJSON(w, code, v) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = listing.WriteJSON(w, v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// slogPrinter adapts the logger to promhttp's ErrorLog.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Error("metrics", "err", fmt.Sprint(v...)) }
