package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/analyzer/unused"
	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
	"github.com/iamd/iamd/cmd/iamd/internal/daemon"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/cmd/iamd/internal/scheduler"
	"github.com/iamd/iamd/cmd/iamd/internal/ui"
	"github.com/iamd/iamd/configs"
	"github.com/iamd/iamd/store"
)

// dashboardTTL is how long one analysis of the store serves the
// dashboard's pages: opening the overview, a principal and the audit in a
// row analyses the store once, and a page is never staler than this.
const dashboardTTL = 30 * time.Second

// uiAddon serves the web dashboard on the daemon's listener (http.ui).
func uiAddon(h daemon.Handles) (daemon.Additions, error) {
	if !h.Config.HTTP.UI {
		return daemon.Additions{}, nil
	}
	token, err := h.Config.Token()
	if err != nil {
		return daemon.Additions{}, err
	}
	d, err := newDashboardData(h)
	if err != nil {
		return daemon.Additions{}, err
	}
	out := h.Config.Suggestions.OutDir
	if out == "" {
		out = filepath.Join(h.Config.Store.Dir, "suggestions")
	}
	u, err := ui.New(ui.Options{Data: d, Token: token, Now: h.Now, Logger: h.Logger, SuggestionsDir: out})
	if err != nil {
		return daemon.Additions{}, err
	}
	var a daemon.Additions
	for _, r := range u.Routes() {
		a.Pages = append(a.Pages, daemon.Route{Pattern: r.Pattern, Handler: r.Handler})
	}
	return a, nil
}

// dashboardData answers the dashboard from the daemon's open store with
// the analyses the CLI runs: report, unused, audit --store, suggest and
// rotate status, over the configured window.
type dashboardData struct {
	db      *store.DB
	cfg     configs.Config
	cat     *catalog.Catalog
	model   *daemon.Model
	sources func() []daemon.SourceStatus
	now     func() time.Time
	ttl     time.Duration

	mu  sync.Mutex
	cur *dashboardAnalysis
}

var _ ui.Data = (*dashboardData)(nil)

// dashboardAnalysis is one analysis of the store, shared by the pages
// until it is older than the TTL.
type dashboardAnalysis struct {
	at     time.Time
	scope  *report.Scope
	an     *report.Analyser
	report *report.Report
	unused *unused.Result
	audit  []listing.Audit
}

func newDashboardData(h daemon.Handles) (*dashboardData, error) {
	cat, err := catalog.Load()
	if err != nil {
		return nil, fmt.Errorf("dashboard: load action catalog: %w", err)
	}
	now := h.Now
	if now == nil {
		now = time.Now
	}
	return &dashboardData{db: h.Store, cfg: h.Config, cat: cat, model: h.Model, sources: h.Sources, now: now, ttl: dashboardTTL}, nil
}

// params are the daemon's analysis settings, as its /api/v1 uses them.
func (d *dashboardData) params() analysis.Params {
	return analysis.Params{Window: d.cfg.Analysis.Window.String(), Now: d.now, RequireModel: true}
}

// analysis returns the current analysis, making a new one when the last
// is older than the TTL. Callers hold d.mu.
func (d *dashboardData) analysis(ctx context.Context) (*dashboardAnalysis, error) {
	if d.cur != nil && d.now().Sub(d.cur.at) < d.ttl {
		return d.cur, nil
	}
	sc, r, err := analysis.Report(ctx, d.db, d.cat, d.params())
	if errors.Is(err, model.ErrNoModel) {
		return nil, fmt.Errorf("%w: store one with iamd snapshot save, or set iam.file or iam.live in the configuration", err)
	}
	if err != nil {
		return nil, err
	}
	an, err := report.NewAnalyser(d.cat, report.DefaultTop)
	if err != nil {
		return nil, err
	}
	d.cur = &dashboardAnalysis{at: d.now(), scope: sc, an: an, report: r}
	return d.cur, nil
}

// Report is `iamd report -o json [--principal P]`.
func (d *dashboardData) Report(ctx context.Context, principal string) (*report.Report, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, err := d.analysis(ctx)
	if err != nil || principal == "" {
		return reportOf(a), err
	}
	one := *a.report
	one.Principals = nil
	if pr, ok := a.report.Find(principal); ok {
		one.Principals = []report.PrincipalReport{*pr}
	}
	return &one, nil
}

func reportOf(a *dashboardAnalysis) *report.Report {
	if a == nil {
		return nil
	}
	return a.report
}

// Unused is `iamd unused -o json`, leaving out analysis.exclude_principals.
func (d *dashboardData) Unused(ctx context.Context) (*unused.Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, err := d.analysis(ctx)
	if err != nil {
		return nil, err
	}
	if a.unused == nil {
		ex, err := configExclusions(d.cfg.Analysis)
		if err != nil {
			return nil, err
		}
		o := unused.Options{Exclude: ex}
		if a.unused, err = unused.Find(ctx, d.db, a.scope, a.report, o); err != nil {
			return nil, err
		}
	}
	return a.unused, nil
}

// Audit is `iamd audit --store -o json`: the model checks of each
// account's newest model and the trail checks of the window.
func (d *dashboardData) Audit(ctx context.Context) ([]listing.Audit, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, err := d.analysis(ctx)
	if err != nil {
		return nil, err
	}
	if a.audit != nil {
		return a.audit, nil
	}
	audits, err := analysis.Audit(ctx, d.db, d.cat, d.params(), analysis.AuditOptions{KeyMaxAge: d.cfg.Rotation.MaxAge.D(), Now: d.now})
	if err != nil {
		return nil, err
	}
	out := []listing.Audit{}
	for _, au := range audits {
		out = append(out, au.Document())
	}
	a.audit = out
	return out, nil
}

// Suggestion is what `iamd suggest` writes in the principal's
// suggestion.json, made now and kept nowhere: the changes are counted
// from the newest run the store keeps.
func (d *dashboardData) Suggestion(ctx context.Context, principal string) (*suggest.Output, error) {
	d.mu.Lock()
	a, err := d.analysis(ctx)
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	grace := d.cfg.Suggestions.Grace.D()
	if grace == 0 {
		grace = -1 // 0 keeps none, as `iamd suggest --grace 0`
	}
	sg, err := suggest.New(suggest.Options{Catalog: d.cat, Grace: grace})
	if err != nil {
		return nil, err
	}
	tl := a.scope.Timeline(principal)
	u, err := usage.Read(ctx, d.db, principal, a.scope.Window, report.NeedsDays(tl))
	if err != nil {
		return nil, err
	}
	pr := a.an.Principal(u, tl, a.scope.Activity.DataSeen(iam.AccountOf(principal), a.scope.Window))
	s, err := sg.Suggest(u, &pr, tl)
	if err != nil || s == nil {
		return nil, err
	}
	var p *iam.Principal
	if tl != nil {
		p, _ = tl.Current().Principal(principal)
	}
	out := &suggest.Output{Suggestion: s, GeneratedCommands: suggest.GeneratedCommands(s, p), InPlaceCommands: suggest.InPlaceCommands(s)}
	run := d.now()
	prev, err := suggest.NewHistory(d.db).Previous(ctx, principal, run)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		rec := suggest.RecordOf(s, run)
		out.Changes = suggest.DiffRecords(prev, &rec)
	}
	return out, nil
}

// Rotation is `iamd rotate status -o json` and the users' access keys.
func (d *dashboardData) Rotation(ctx context.Context) (*ui.Rotation, error) {
	users, err := analysis.RotationStatus(ctx, d.db, rotationPolicy(d.cfg.Rotation), d.now)
	if err != nil {
		return nil, err
	}
	keys, err := d.accessKeys(ctx)
	if err != nil {
		return nil, err
	}
	return &ui.Rotation{Users: users, Keys: keys}, nil
}

// accessKeys merges the model's keys of its users with the long-term
// keys (AKIA…) the usage index saw users sign with.
func (d *dashboardData) accessKeys(ctx context.Context) ([]ui.AccessKey, error) {
	byID := map[string]*ui.AccessKey{}
	var order []string
	add := func(k ui.AccessKey) *ui.AccessKey {
		if cur, ok := byID[k.ID]; ok {
			return cur
		}
		byID[k.ID] = &k
		order = append(order, k.ID)
		return &k
	}
	users := map[string]bool{}
	var acct *iam.Account
	if d.model != nil {
		acct = d.model.Current()
	}
	if acct != nil {
		for _, p := range acct.ByKind(iam.KindUser) {
			users[p.ARN] = true
			if p.Credentials == nil {
				continue
			}
			for _, k := range p.Credentials.AccessKeys {
				if k.ID != "" {
					add(ui.AccessKey{User: p.ARN, ID: k.ID, Status: k.Status, Created: k.Created})
				}
			}
		}
	}
	principals, err := d.db.Principals(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range principals {
		if strings.Contains(p, ":user/") {
			users[p] = true
		}
	}
	arns := make([]string, 0, len(users))
	for p := range users {
		arns = append(arns, p)
	}
	sort.Strings(arns)
	for _, p := range arns {
		ks, err := d.db.KeysOf(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, ku := range ks {
			if !strings.HasPrefix(ku.AccessKeyID, "AKIA") {
				continue // session credentials of the user (ASIA…)
			}
			k := add(ui.AccessKey{User: p, ID: ku.AccessKeyID})
			k.FirstSeen, k.LastSeen, k.Calls = ku.FirstSeen, ku.LastSeen, ku.Calls
			k.SourceIPs, k.UserAgents = ku.SourceIPs, ku.UserAgents
		}
	}
	out := make([]ui.AccessKey, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Health is /api/v1/sources, the quarantine counts, the newest
// checkpoint, the model and /api/v1/jobs.
func (d *dashboardData) Health(ctx context.Context) (*ui.Health, error) {
	h := &ui.Health{}
	if d.sources != nil {
		for _, s := range d.sources() {
			src := ui.Source{Name: s.Name, Kind: s.Kind, State: s.State, Connected: s.Connected, Since: s.Since,
				Records: s.Records, Written: s.Written, Restarts: s.Restarts, LastError: s.LastError}
			for _, n := range s.Quarantined {
				src.Quarantined += n
			}
			switch {
			case s.KafkaLag != nil:
				src.Lag = fmt.Sprintf("%d messages", *s.KafkaLag)
			case s.S3NewestAge != nil:
				src.Lag = "newest object " + (time.Duration(*s.S3NewestAge) * time.Second).Round(time.Second).String() + " old"
			}
			h.Sources = append(h.Sources, src)
		}
	}
	var err error
	if h.Quarantined, err = d.db.QuarantineCounts(ctx); err != nil {
		return nil, err
	}
	cps, err := d.db.Checkpoints(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, c := range cps {
		if c.Updated.After(h.IndexUpdated) {
			h.IndexUpdated = c.Updated
		}
	}
	if d.model != nil {
		h.Model = ui.Model{Configured: d.model.Configured(), Account: d.model.Account(), Err: d.model.Err()}
		if a := d.model.Current(); a != nil {
			h.Model.Taken = a.Taken
		}
	}
	if h.Jobs, err = scheduler.ReadStatus(ctx, d.db); err != nil {
		return nil, err
	}
	return h, nil
}
