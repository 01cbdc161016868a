// Package analysis runs, on an open store, the analyses that the CLI
// (report, unused, audit --store, suggest, usage principals, rotate
// status) and the daemon's /api/v1 share, so that both print the same
// document for the same store: the command opens the store and reads its
// flags, the API its query parameters, and both call these functions and
// write the result with the same JSON encoder.
//
// It imports the analyzer, the rotator and store; it holds no state.
package analysis

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/evidence"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/analyzer/unused"
	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/store"
)

// Store is what the analyses read; *store.DB has it.
type Store interface {
	report.Store
	unused.Store
	evidence.Store
	suggest.HistoryStore
	rotator.StateStore
	rotator.UsageIndex
}

var _ Store = (*store.DB)(nil)

// ParamError is a wrong parameter (flag or query parameter): the API
// answers it with 400, or 404 for an unknown principal.
type ParamError struct {
	Param string // "window", "at", "principal"
	Err   error
	// NotFound: the value names nothing (an unknown principal).
	NotFound bool
}

func (e *ParamError) Error() string { return "--" + e.Param + " " + e.Err.Error() }
func (e *ParamError) Unwrap() error { return e.Err }

// ErrNoSuggestions is returned by LatestSuggestions before any suggestion
// run was kept in the store.
var ErrNoSuggestions = errors.New("no suggestion run kept in the store yet (iamd suggest --out DIR, or the daemon's suggestions job)")

// Params choose the scope of one analysis.
type Params struct {
	// Window is the tracking window's length (90d, 36h); "" the default
	// (report.DefaultWindow).
	Window string
	// At is the window's end as given (RFC 3339 or a date); "": the
	// newest activity in the store.
	At string
	// Principal limits the analysis to one principal: an ARN, or a user
	// or role name when that is unique. "": every principal.
	Principal string
	// Models stand for the whole window instead of the stored snapshots
	// (--iam, --live); Org is the organization layer of stored ones.
	Models *model.Accounts
	Org    *iam.Org
	// RequireModel: no model at all is an error (report, unused, audit).
	RequireModel bool
	// Now is the clock when the store holds no activity.
	Now func() time.Time
	// Top is the resources listed per used action (0: the default);
	// Workers the principals analysed at once (0: one per CPU).
	Top, Workers int
	// Exclude leaves principals out when Principal is "" (the daemon's
	// analysis.exclude_principals).
	Exclude []unused.Exclusion
}

// ParseAt reads a window end: RFC 3339, or a date meaning the end of
// that day.
func ParseAt(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.Add(24*time.Hour - time.Nanosecond), nil
	}
	return time.Time{}, &ParamError{Param: "at", Err: fmt.Errorf("%q: want RFC 3339 (2026-11-01T12:00:00Z) or a date (2026-11-01)", s)}
}

// CheckWindow validates a window length.
func CheckWindow(s string) error {
	if s == "" {
		return nil
	}
	if _, _, err := usage.ParseLength(s); err != nil {
		return &ParamError{Param: "window", Err: fmt.Errorf("%q: %w", s, err)}
	}
	return nil
}

// NewScope reads the store's activity, fixes the window, loads the
// models and picks the principal of p.
func NewScope(ctx context.Context, db report.Store, cat *catalog.Catalog, p Params) (*report.Scope, error) {
	if err := CheckWindow(p.Window); err != nil {
		return nil, err
	}
	o := report.ScopeOptions{Catalog: cat, Models: p.Models, Org: p.Org, Window: p.Window, Now: p.Now, RequireModel: p.RequireModel}
	if p.At != "" {
		t, err := ParseAt(p.At)
		if err != nil {
			return nil, err
		}
		o.At = t
	}
	sc, err := report.NewScope(ctx, db, o)
	if err != nil {
		return nil, err
	}
	if p.Principal != "" {
		arn, err := PickPrincipal(sc.Principals, p.Principal, "no principal with activity in the store or in the IAM model has that ARN or name")
		if err != nil {
			return nil, err
		}
		sc.Principals = []string{arn}
	} else if len(p.Exclude) > 0 {
		kept := sc.Principals[:0:0]
		for _, arn := range sc.Principals {
			if !excluded(sc, p.Exclude, arn) {
				kept = append(kept, arn)
			}
		}
		sc.Principals = kept
	}
	return sc, nil
}

func excluded(sc *report.Scope, ex []unused.Exclusion, arn string) bool {
	var p *iam.Principal
	if tl := sc.Timeline(arn); tl != nil {
		p, _ = tl.Current().Principal(arn)
	}
	for _, e := range ex {
		if e.Matches(arn, p) {
			return true
		}
	}
	return false
}

// SuggestOptions tune Suggest.
type SuggestOptions struct {
	// Grace keeps unused permissions first granted less than this long
	// ago (0: suggest.DefaultGrace; negative: none).
	Grace time.Duration
	// KeepActions are action patterns never suggested for removal
	// (suggest.Options.KeepActions).
	KeepActions []string
	// Out is the folder written under ("": nothing written).
	Out string
	// History keeps the run in the store and diffs it with the previous.
	History bool
	Workers int
	Now     func() time.Time
}

// Suggest is `iamd suggest`: self-checked suggestions for every
// principal of the scope of p (no model needed). The scope tells whether
// there was a model to compare with.
func Suggest(ctx context.Context, db Store, cat *catalog.Catalog, p Params, o SuggestOptions) (*report.Scope, *suggest.RunResult, error) {
	p.RequireModel = false
	sc, err := NewScope(ctx, db, cat, p)
	if err != nil {
		return nil, nil, err
	}
	an, err := report.NewAnalyser(cat, 0)
	if err != nil {
		return nil, nil, err
	}
	sg, err := suggest.New(suggest.Options{Catalog: cat, Grace: o.Grace, KeepActions: o.KeepActions})
	if err != nil {
		return nil, nil, err
	}
	ro := suggest.RunOptions{Out: o.Out, Workers: o.Workers, Now: o.Now}
	if o.History {
		ro.History = suggest.NewHistory(db)
	}
	res, err := sg.Run(ctx, db, sc, an, ro)
	return sc, res, err
}

// Report analyses every principal of the scope of p.
func Report(ctx context.Context, db Store, cat *catalog.Catalog, p Params) (*report.Scope, *report.Report, error) {
	sc, err := NewScope(ctx, db, cat, p)
	if err != nil {
		return nil, nil, err
	}
	an, err := report.NewAnalyser(cat, p.Top)
	if err != nil {
		return nil, nil, err
	}
	r, err := an.Run(ctx, db, sc, p.Workers)
	if err != nil {
		return nil, nil, err
	}
	return sc, r, nil
}

// Unused finds the unused access of the scope of p.
func Unused(ctx context.Context, db Store, cat *catalog.Catalog, p Params, o unused.Options) (*unused.Result, error) {
	sc, r, err := Report(ctx, db, cat, p)
	if err != nil {
		return nil, err
	}
	return unused.Find(ctx, db, sc, r, o)
}

// AuditOptions tune Audit.
type AuditOptions struct {
	// KeyMaxAge is the access-key age the model checks flag. Required.
	KeyMaxAge time.Duration
	Now       func() time.Time
}

// AccountAudit is the audit of one account: its newest model's checks and
// the trail's findings of its principals, most severe first.
type AccountAudit struct {
	Account  *iam.Account
	Findings []iam.Finding
	Skipped  []iam.SkippedCheck
}

// Audit is `iamd audit --store`: the model checks on the newest model of
// each account, and what only the trail shows over the window of p.
func Audit(ctx context.Context, db Store, cat *catalog.Catalog, p Params, o AuditOptions) ([]AccountAudit, error) {
	sc, r, err := Report(ctx, db, cat, p)
	if err != nil {
		return nil, err
	}
	trail, err := evidence.Audit(ctx, db, r, evidence.Options{})
	if err != nil {
		return nil, err
	}
	rotations, err := rotator.Notes(ctx, db)
	if err != nil {
		return nil, err
	}
	var (
		errs []error
		out  []AccountAudit
	)
	sc.Models.Each(func(m *model.Model) {
		if tl, _ := sc.Models.Timeline(m.Account.ID); tl.Current() != m {
			return // only the newest model of each account
		}
		fs, err := iam.Audit(cat, m.Account, iam.AuditOptions{KeyMaxAge: o.KeyMaxAge, Now: o.Now, Org: m.Org, Rotations: rotations})
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, f := range trail {
			if iam.AccountOf(f.Principal) == m.Account.ID {
				fs = append(fs, f)
			}
		}
		sort.SliceStable(fs, func(i, j int) bool { return SeverityRank(fs[i].Severity) < SeverityRank(fs[j].Severity) })
		out = append(out, AccountAudit{Account: m.Account, Findings: fs, Skipped: iam.SkippedChecks(m.Account)})
	})
	return out, errors.Join(errs...)
}

// SeverityRank orders severities most severe first.
func SeverityRank(s iam.Severity) int {
	for i, x := range []iam.Severity{iam.SeverityCritical, iam.SeverityHigh, iam.SeverityMedium, iam.SeverityLow, iam.SeverityInfo} {
		if x == s {
			return i
		}
	}
	return 5
}

// Document is the JSON document of one account's audit, as `iamd audit
// -o json` prints it.
func (a AccountAudit) Document() listing.Audit {
	return listing.AccountAudit(a.Account, a.Findings, a.Skipped)
}

// Utilisation is used / granted actions of each principal that a model
// holds, over the window of p (its Principal limits it to one); nil when
// the store has no model at all. The per-service detail is left out.
func Utilisation(ctx context.Context, db Store, cat *catalog.Catalog, p Params) (map[string]report.Utilisation, error) {
	p.RequireModel = false
	sc, err := NewScope(ctx, db, cat, p)
	if err != nil || sc.Models == nil {
		return nil, err
	}
	an, err := report.NewAnalyser(cat, 0)
	if err != nil {
		return nil, err
	}
	r, err := an.Run(ctx, db, sc, p.Workers)
	if err != nil {
		return nil, err
	}
	out := map[string]report.Utilisation{}
	for _, pr := range r.Principals {
		if pr.Status != report.StatusAnalysed && pr.Status != report.StatusRoot {
			continue
		}
		u := pr.Utilisation
		u.Services = nil
		out[pr.Principal] = u
	}
	return out, nil
}

// UtilisationOf is Utilisation as the principals listing takes it, over
// a window of the given length (report.DefaultWindow when "").
func UtilisationOf(db Store, cat *catalog.Catalog, window string, now func() time.Time) listing.UtilisationFunc {
	return func(ctx context.Context, principal string) (map[string]report.Utilisation, error) {
		return Utilisation(ctx, db, cat, Params{Window: window, Principal: principal, Now: now})
	}
}

// LatestSuggestions is the newest suggestion run kept in the store, each
// principal's summary with its self-check and changes since the previous
// run; principal ("": all) is an ARN or a unique name among the run's.
func LatestSuggestions(ctx context.Context, db suggest.HistoryStore, principal string) (*suggest.RunResult, error) {
	h := suggest.NewHistory(db)
	run, principals, err := h.Latest(ctx)
	if err != nil {
		return nil, err
	}
	if run == nil {
		return nil, ErrNoSuggestions
	}
	if principal != "" {
		arn, err := PickPrincipal(principals, principal, fmt.Sprintf("no suggestion for that ARN or name in the run of %s", run.Run.UTC().Format(time.RFC3339)))
		if err != nil {
			return nil, err
		}
		principals = []string{arn}
	}
	return h.Result(ctx, *run, principals)
}

// RotationStatus is `iamd rotate status`: each rotation record with its
// key ages and the old key's last use, under policy (its drain window
// dates the next step).
func RotationStatus(ctx context.Context, db Store, policy rotator.Policy, now func() time.Time) ([]rotator.UserReport, error) {
	r, err := rotator.New(rotator.Options{Policy: policy, States: db, Usage: db, Now: now})
	if err != nil {
		return nil, err
	}
	return r.Status(ctx)
}

// StorePrincipal returns the principal ARN of the store that s names:
// the ARN itself, or a user or role name (the last part of the ARN, or
// kind/name) that only one principal has. Every --principal of a command
// that reads the store takes both, as granted does on a snapshot; a
// principal the store does not know is an error, not an empty answer.
func StorePrincipal(ctx context.Context, db interface {
	Principals(ctx context.Context) ([]string, error)
}, s string) (string, error) {
	all, err := db.Principals(ctx)
	if err != nil {
		return "", err
	}
	return PickPrincipal(all, s, fmt.Sprintf("no such principal in the store (%d principals have usage; iamd usage lists them)", len(all)))
}

// PickPrincipal picks the principal of candidates that s names: an ARN,
// a unique name or kind/name. unknown says why none does.
func PickPrincipal(candidates []string, s, unknown string) (string, error) {
	var hits []string
	for _, p := range candidates {
		if p == s {
			return p, nil
		}
		if principalNamed(p, s) {
			hits = append(hits, p)
		}
	}
	sort.Strings(hits)
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		return "", &ParamError{Param: "principal", Err: fmt.Errorf("%q: %s", s, unknown), NotFound: true}
	}
	if len(hits) > 5 {
		hits = append(hits[:5], fmt.Sprintf("and %d more", len(hits)-5))
	}
	return "", &ParamError{Param: "principal", Err: fmt.Errorf("%q is ambiguous: %s; give the ARN", s, strings.Join(hits, ", "))}
}

// principalNamed reports whether the ARN arn ends in the name s: its last
// path part ("alice"), or its resource ("user/alice", "role/ops/Deploy").
func principalNamed(arn, s string) bool {
	if s == "" || strings.HasPrefix(s, "arn:") {
		return false
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return false
	}
	res := parts[5]
	if res == s {
		return true
	}
	kind, rest, ok := strings.Cut(res, "/")
	if !ok {
		return false
	}
	name := rest[strings.LastIndexByte(rest, '/')+1:]
	return s == name || s == kind+"/"+name
}
