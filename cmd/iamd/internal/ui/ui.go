// Package ui is the daemon's read-only web dashboard: server-rendered
// pages (html/template, so every value is escaped) over the same analyses
// the JSON API serves: an overview of principals ranked by unused
// permissions with ingest health and the next job runs, one page per
// principal (used vs granted by service, denied attempts, sessions, the
// self-checked suggestion with its diffs and commands), unused access,
// audit findings and the key-rotation board. Its CSS and icon are
// embedded; it needs no JavaScript, no CDN and no build step, and charts
// are SVG drawn on the server.
//
// Pages are GET only and behind the API's token: a login form (the one
// POST, guarded against cross-origin requests) sets an HttpOnly,
// SameSite=Strict session cookie derived from the token, or a request
// sends the token as a bearer token. Filters (account, path, name) live
// in the URL, so a filtered page can be shared as a link.
//
// It reads through Data, declared here; the daemon's wiring implements it
// with the code behind the CLI's and the API's JSON, on the analyzer and
// the rotator. It imports their result types, listing's audit document
// and the scheduler's job status; of the store only its Seen type: it
// never opens or queries it.
package ui

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/analyzer/unused"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/cmd/iamd/internal/scheduler"
	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/store"
)

// Data is what the dashboard reads. Each method answers what the JSON
// API's endpoint of the same name answers for the same store.
type Data interface {
	// Report is the used-vs-granted analysis of every principal, or of
	// one when principal is set (/api/v1/report).
	Report(ctx context.Context, principal string) (*report.Report, error)
	// Unused is the unused access (/api/v1/unused).
	Unused(ctx context.Context) (*unused.Result, error)
	// Audit is the audit of each account with a model, trail checks
	// included (/api/v1/audit).
	Audit(ctx context.Context) ([]listing.Audit, error)
	// Suggestion is the principal's self-checked suggestion with its
	// commands and the changes since its previous stored run; nil when
	// there is nothing to suggest (/api/v1/suggestions?principal=).
	Suggestion(ctx context.Context, principal string) (*suggest.Output, error)
	// Rotation is the rotations recorded and the access keys known
	// (/api/v1/rotation and the usage index).
	Rotation(ctx context.Context) (*Rotation, error)
	// Health is the ingest and job status (/api/v1/sources, /jobs,
	// /quarantine).
	Health(ctx context.Context) (*Health, error)
}

// Rotation is the rotation board's data.
type Rotation struct {
	// Users are the rotations recorded in the store (`iamd rotate
	// status`).
	Users []rotator.UserReport
	// Keys are the users' long-term access keys: those the model lists
	// and those CloudTrail shows.
	Keys []AccessKey
}

// AccessKey is one user's access key as the model and the usage index
// know it. Status and Created are zero when the model does not list the
// key (GetAccountAuthorizationDetails carries no keys; a credential
// report or a live snapshot does).
type AccessKey struct {
	User    string // user ARN
	ID      string
	Status  string
	Created time.Time
	// FirstSeen, LastSeen and Calls come from the usage index (zero:
	// never seen in CloudTrail).
	FirstSeen, LastSeen time.Time
	Calls               uint64
	SourceIPs           []store.Seen
	UserAgents          []store.Seen
}

// Health is the ingest side: sources, quarantine, the index's freshness,
// the IAM model and the scheduled jobs.
type Health struct {
	Sources []Source
	// Quarantined counts quarantined records by reason.
	Quarantined map[string]uint64
	// IndexUpdated is the newest ingest checkpoint (zero: none).
	IndexUpdated time.Time
	Model        Model
	Jobs         []scheduler.Status
}

// Source is one ingest source's status.
type Source struct {
	Name, Kind, State string
	Connected         bool
	Since             time.Time
	Records, Written  int64
	Quarantined       int64
	Restarts          int64
	LastError         string
	// Lag is how far the source is behind ("" when it does not say):
	// Kafka messages not yet read, the age of the newest S3 object.
	Lag string
}

// Model is the IAM model the daemon serves.
type Model struct {
	Configured bool
	Account    string
	Taken      time.Time
	Err        string
}

// Options configure New.
type Options struct {
	// Data is read by the pages. Required.
	Data Data
	// Token is the API's bearer token; "" serves without signing in
	// (the daemon allows that on loopback only).
	Token string
	// Now is the clock of "3 d ago" and of session expiry; default
	// time.Now.
	Now func() time.Time
	// SuggestionsDir is where the suggestions job writes its documents
	// (suggestions.out_dir): the folder the commands are run in.
	SuggestionsDir string
	// SessionTTL is how long a sign-in lasts. Default 12 h.
	SessionTTL time.Duration
	// Logger; default discard.
	Logger *slog.Logger
}

// DefaultSessionTTL is how long a sign-in lasts by default: a working day.
const DefaultSessionTTL = 12 * time.Hour

// UI serves the dashboard.
type UI struct {
	o     Options
	log   *slog.Logger
	pages map[string]*pageTemplate
	auth  *auth
	mux   *http.ServeMux
}

// Route is a pattern to register on the daemon's server and its handler.
type Route struct {
	Pattern string
	Handler http.Handler
}

// New parses the templates and builds the routes.
func New(o Options) (*UI, error) {
	if o.Data == nil {
		return nil, errors.New("ui: Data is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	u := &UI{o: o, log: o.Logger.With("component", "ui"), pages: pages,
		auth: newAuth(o.Token, o.SessionTTL, o.Now)}
	u.mux = http.NewServeMux()
	for _, r := range u.Routes() {
		u.mux.Handle(r.Pattern, r.Handler)
	}
	return u, nil
}

// Routes are the dashboard's patterns: the pages at /, the login form and
// the static assets under /ui/static/. None is under /api/v1/.
func (u *UI) Routes() []Route {
	guard := http.NewCrossOriginProtection()
	return []Route{
		{"GET /{$}", u.page(u.overview)},
		{"GET /principal", u.page(u.principal)},
		{"GET /unused", u.page(u.unused)},
		{"GET /audit", u.page(u.audit)},
		{"GET /rotation", u.page(u.rotation)},
		{"GET /login", u.public(http.HandlerFunc(u.loginForm))},
		{"POST /login", u.public(guard.Handler(http.HandlerFunc(u.login)))},
		{"POST /logout", u.public(guard.Handler(http.HandlerFunc(u.logout)))},
		{"GET " + staticPrefix, staticHandler()},
	}
}

// ServeHTTP serves the dashboard's routes alone (tests; the daemon
// registers Routes on its own server).
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) { u.mux.ServeHTTP(w, r) }
