// Package unused finds unused access over a tracking window, as IAM
// Access Analyzer's unused-access analyzer does: roles nobody used or
// assumed, users with no activity, access keys and console passwords not
// used, and the services and actions active principals hold but never
// used. An entity created inside the window is "too new to judge", never
// unused. Evidence comes from the usage index (per-key last use, calls,
// AssumeRole into a role, console sign-ins) and, where the index has
// nothing newer, from the IAM model's own last-used dates.
//
// It builds on a report.Report (the per-principal split) and reads the
// store only through the narrow Store interface declared here.
package unused

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/store"
)

// Store is what Find needs of the usage index (store.DB implements it).
type Store interface {
	KeysOf(ctx context.Context, principal string) ([]store.KeyUsage, error)
	EachFact(ctx context.Context, q store.FactQuery, fn func(store.Fact) error) error
	ConsoleSignIns(ctx context.Context, principal string) (store.ConsoleSignIns, bool, error)
}

// Finding types, named after Access Analyzer's where it has one.
const (
	TypeRole        = "unused-role"
	TypeUser        = "unused-user"
	TypeAccessKey   = "unused-access-key"
	TypePassword    = "unused-password"
	TypePermissions = "unused-permissions"
)

// Statuses of a finding.
const (
	StatusUnused = "unused"
	// StatusTooNew: created inside the window, so not judged.
	StatusTooNew = "too-new-to-judge"
)

// Finding is one piece of unused access.
type Finding struct {
	Type      string `json:"type"`
	Status    string `json:"status"`
	Principal string `json:"principal"`
	// AccessKeyID is set for unused-access-key.
	AccessKeyID string    `json:"access_key_id,omitempty"`
	Created     time.Time `json:"created,omitzero"`
	// LastUsed is the last use known, inside the window or before it
	// (zero: never, as far as anyone knows), and LastUsedFrom where that
	// date comes from: "trail" (the usage index) or "model" (the IAM
	// snapshot's own last-used date).
	LastUsed     time.Time `json:"last_used,omitzero"`
	LastUsedFrom string    `json:"last_used_from,omitempty"`
	Detail       string    `json:"detail"`
	// Services are the unused services and actions (unused-permissions).
	Services []Service `json:"services,omitempty"`
}

// Service is one service's unused actions of a principal.
type Service struct {
	Service string `json:"service"`
	// Unused: no action of the service was used in the window.
	Unused  bool     `json:"service_unused"`
	Actions []string `json:"actions"`
}

// Result is the unused-access analysis of one window.
type Result struct {
	Window   usage.Window `json:"window"`
	Findings []Finding    `json:"findings"`
	// Excluded are principals left out by an exclusion.
	Excluded []string `json:"excluded,omitempty"`
}

// Exclusion leaves principals out: an ARN glob ("arn:aws:iam::*:role/
// breakglass-*"), a path prefix ("path:/service/") or a tag ("tag:owner"
// any value, "tag:owner=platform").
type Exclusion struct {
	raw      string
	glob     string
	path     string
	tag, val string
	anyVal   bool
}

// ParseExclusion reads one --exclude value.
func ParseExclusion(s string) (Exclusion, error) {
	e := Exclusion{raw: s}
	switch {
	case strings.HasPrefix(s, "path:"):
		e.path = strings.TrimPrefix(s, "path:")
		if !strings.HasPrefix(e.path, "/") {
			return e, fmt.Errorf("exclusion %q: a path starts with /", s)
		}
	case strings.HasPrefix(s, "tag:"):
		k, v, ok := strings.Cut(strings.TrimPrefix(s, "tag:"), "=")
		if k == "" {
			return e, fmt.Errorf("exclusion %q: want tag:KEY or tag:KEY=VALUE", s)
		}
		e.tag, e.val, e.anyVal = k, v, !ok
	case strings.HasPrefix(s, "arn:"):
		if _, err := path.Match(s, ""); err != nil {
			return e, fmt.Errorf("exclusion %q: %w", s, err)
		}
		e.glob = s
	default:
		return e, fmt.Errorf("exclusion %q: want an ARN glob, path:/PREFIX/ or tag:KEY[=VALUE]", s)
	}
	return e, nil
}

func (e Exclusion) String() string { return e.raw }

// Matches reports whether the exclusion covers the principal (p may be
// nil when the principal is not in the model: only globs apply then).
func (e Exclusion) Matches(arn string, p *iam.Principal) bool {
	switch {
	case e.glob != "":
		ok, _ := path.Match(e.glob, arn)
		return ok || globNoSlash(e.glob, arn)
	case e.path != "":
		return p != nil && strings.HasPrefix(p.Path, e.path)
	case e.tag != "":
		if p == nil {
			return false
		}
		v, ok := p.Tags[e.tag]
		return ok && (e.anyVal || v == e.val)
	}
	return false
}

// globNoSlash matches with * crossing "/" too, as IAM ARN patterns do
// ("role/team-*" covers "role/team-a/x").
func globNoSlash(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, p := range parts[1:] {
		last := i == len(parts)-2
		if last {
			return strings.HasSuffix(s, p)
		}
		j := strings.Index(s, p)
		if j < 0 {
			return false
		}
		s = s[j+len(p):]
	}
	return true
}

// Options tune Find.
type Options struct {
	Exclude []Exclusion
}

// Find lists the unused access of the report's principals. The report
// must come from the same scope (window and models).
func Find(ctx context.Context, s Store, sc *report.Scope, r *report.Report, o Options) (*Result, error) {
	w := sc.Window
	res := &Result{Window: w, Findings: []Finding{}}
	assumed, err := assumedRoles(ctx, s, w)
	if err != nil {
		return nil, err
	}
	for i := range r.Principals {
		pr := &r.Principals[i]
		var p *iam.Principal
		if tl := sc.Timeline(pr.Principal); tl != nil {
			p, _ = tl.Current().Principal(pr.Principal)
		}
		if excluded(o.Exclude, pr.Principal, p) {
			res.Excluded = append(res.Excluded, pr.Principal)
			continue
		}
		if p == nil || p.Kind == iam.KindRoot || p.ServiceLinked() {
			// Not in the model: nothing to remove. The root user is the
			// audit's; AWS manages service-linked roles.
			continue
		}
		tooNew := !p.Created.IsZero() && p.Created.After(w.Start)
		active := activeIn(pr)
		trailLast := sc.Activity.LastDay(pr.Principal)
		switch p.Kind {
		case iam.KindRole:
			last, from := latest(trailLast, "trail", assumed[p.ARN], "trail", p.RoleLastUsed, "model")
			if !active && !w.Contains(assumed[p.ARN]) && !(w.Contains(p.RoleLastUsed)) {
				res.Findings = append(res.Findings, finding(TypeRole, p, tooNew, last, from, "no call by the role's sessions and no AssumeRole into it in the window"))
			}
		case iam.KindUser:
			fs, err := userFindings(ctx, s, w, p, pr, trailLast, tooNew)
			if err != nil {
				return nil, err
			}
			res.Findings = append(res.Findings, fs...)
		}
		if active && len(pr.Unused) > 0 {
			f := finding(TypePermissions, p, tooNew, time.Time{}, "", fmt.Sprintf("%d of %d granted actions unused", len(pr.Unused), pr.Utilisation.Granted))
			f.Services = services(pr.Unused)
			res.Findings = append(res.Findings, f)
		}
	}
	sort.SliceStable(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i], res.Findings[j]
		if a.Principal != b.Principal {
			return a.Principal < b.Principal
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.AccessKeyID < b.AccessKeyID
	})
	return res, nil
}

func excluded(ex []Exclusion, arn string, p *iam.Principal) bool {
	for _, e := range ex {
		if e.Matches(arn, p) {
			return true
		}
	}
	return false
}

// activeIn reports whether the principal made any call in the window.
func activeIn(pr *report.PrincipalReport) bool {
	return len(pr.Used) > 0 || len(pr.Denied) > 0 || len(pr.NotGranted) > 0
}

// latest returns the newest of pairs of (time, source).
func latest(pairs ...any) (time.Time, string) {
	var t time.Time
	from := ""
	for i := 0; i+1 < len(pairs); i += 2 {
		if x := pairs[i].(time.Time); x.After(t) {
			t, from = x, pairs[i+1].(string)
		}
	}
	return t, from
}

func finding(typ string, p *iam.Principal, tooNew bool, last time.Time, from, detail string) Finding {
	f := Finding{Type: typ, Status: StatusUnused, Principal: p.ARN, Created: p.Created, LastUsed: last, LastUsedFrom: from, Detail: detail}
	if tooNew {
		f.Status = StatusTooNew
		f.Detail += "; created inside the window, so too new to judge"
	}
	return f
}

// assumedRoles returns, per role ARN, the last AssumeRole call into it
// inside the window (by any principal of the index).
func assumedRoles(ctx context.Context, s Store, w usage.Window) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.EachFact(ctx, store.FactQuery{ActionPrefix: "sts:AssumeRole", Since: w.Start}, func(f store.Fact) error {
		if f.Allowed == 0 || f.FirstSeen.After(w.End) {
			return nil
		}
		last := f.LastSeen
		if last.After(w.End) {
			last = w.End
		}
		if last.After(out[f.Resource]) {
			out[f.Resource] = last
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read AssumeRole calls: %w", err)
	}
	return out, nil
}

func userFindings(ctx context.Context, s Store, w usage.Window, p *iam.Principal, pr *report.PrincipalReport, trailLast time.Time, tooNew bool) ([]Finding, error) {
	var out []Finding
	keys, err := s.KeysOf(ctx, p.ARN)
	if err != nil {
		return nil, fmt.Errorf("read access keys of %s: %w", p.ARN, err)
	}
	stored := map[string]store.KeyUsage{}
	for _, k := range keys {
		stored[k.AccessKeyID] = k
	}
	// The user's own password sign-ins, not federated ones charged to it.
	signIns, _, err := s.ConsoleSignIns(ctx, p.ARN)
	if err != nil {
		return nil, fmt.Errorf("read console sign-ins of %s: %w", p.ARN, err)
	}
	keyUsed := false
	passwordUsed := w.Contains(signIns.LastSeen) || signIns.LastSeen.After(w.End)
	if c := p.Credentials; c != nil {
		for _, k := range c.AccessKeys {
			if !k.Active() {
				continue
			}
			var modelLast time.Time
			if k.LastUsedKnown {
				modelLast = k.LastUsed
			}
			last, from := latest(stored[k.ID].LastSeen, "trail", modelLast, "model")
			if w.Contains(last) || last.After(w.End) {
				keyUsed = true
				continue
			}
			f := finding(TypeAccessKey, p, !k.Created.IsZero() && k.Created.After(w.Start), last, from, "active access key not used in the window")
			f.AccessKeyID = k.ID
			if f.AccessKeyID == "" {
				f.Detail += " (key created " + k.Created.Format("2006-01-02") + ")"
			}
			out = append(out, f)
		}
		if c.PasswordEnabled {
			last, from := latest(signIns.LastSeen, "trail", c.PasswordLastUsed, "model")
			if w.Contains(last) || last.After(w.End) {
				passwordUsed = true
			} else {
				out = append(out, finding(TypePassword, p, tooNew, last, from, "console password not used to sign in during the window"))
			}
		}
	} else {
		// The model carries no credential data: judge the long-term keys
		// the trail has seen.
		for _, k := range keys {
			if !strings.HasPrefix(k.AccessKeyID, "AKIA") {
				continue
			}
			if w.Contains(k.LastSeen) || k.LastSeen.After(w.End) {
				keyUsed = true
				continue
			}
			f := finding(TypeAccessKey, p, tooNew, k.LastSeen, "trail", "access key seen in the trail before the window, not in it (the model carries no credential data: it may be deleted or inactive)")
			f.AccessKeyID = k.AccessKeyID
			out = append(out, f)
		}
	}
	// A federated sign-in charged to the user (GetFederationToken) uses
	// the user, if not its password.
	federated := w.Contains(signIns.LastFederated) || signIns.LastFederated.After(w.End)
	if !activeIn(pr) && !keyUsed && !passwordUsed && !federated {
		last, src := latest(trailLast, "trail", signIns.LastSeen, "trail", signIns.LastFederated, "trail", passwordLast(p), "model")
		out = append(out, finding(TypeUser, p, tooNew, last, src, "no call, no access key use and no console sign-in in the window"))
	}
	return out, nil
}

func passwordLast(p *iam.Principal) time.Time {
	if p.Credentials == nil {
		return time.Time{}
	}
	return p.Credentials.PasswordLastUsed
}

func sourceIf(t time.Time, src string) string {
	if t.IsZero() {
		return ""
	}
	return src
}

func services(list []report.UnusedAction) []Service {
	var out []Service
	idx := map[string]int{}
	for _, u := range list {
		i, ok := idx[u.Service]
		if !ok {
			i = len(out)
			idx[u.Service] = i
			out = append(out, Service{Service: u.Service, Unused: u.ServiceUnused})
		}
		out[i].Actions = append(out[i].Actions, u.Action)
	}
	return out
}
