// Package suggest writes least-privilege policy suggestions for a
// principal from what it used in the tracking window, in two forms: a
// policy generated from the observed calls (like IAM Access Analyzer's
// policy generation), and the principal's own policies with only the
// unused actions taken out (like Repokid). Every suggestion is checked by
// our own engine before it is offered: every observed allowed call still
// allowed, calls seen only as refused kept out of the generated policy,
// every removed action denied everywhere, and nothing granted that the
// current policies do not grant. A suggestion that fails is not offered;
// the failure names the offending call.
//
// Runs are kept in the store (history.go) so that a weekly run shows
// only what changed since the previous one.
//
// It works on report.PrincipalReport and usage.Principal values and on
// the models of analyzer/model; the store is reached through the narrow
// interfaces of report and of history.go.
package suggest

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/policy"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/usage"
)

// DefaultGrace is how recent a grant must be to be kept although unused.
const DefaultGrace = 14 * 24 * time.Hour

// NoRepoPrefix starts the Sid of statements a suggestion never touches
// (Repokid's convention).
const NoRepoPrefix = "NOREPO"

// ConditionsNote says how conditions are treated; reviews repeat it.
const ConditionsNote = "Conditions are kept exactly as written in both suggestions. The usage index keeps no request " +
	"context (region, source IP, MFA, tags) per call, so the self-check reads every Allow condition as met and every " +
	"conditional Deny as not applying, on today's policies and on the suggestion alike: the reading under which the " +
	"observed calls were possible. A call that only worked under a condition still needs that condition at run time."

// Options tune a Suggester.
type Options struct {
	Catalog *catalog.Catalog
	// Grace keeps unused permissions first granted less than this long
	// before the window's end (default DefaultGrace; negative: none).
	Grace time.Duration
	// KeepActions are action patterns ("service:Action", * and ?, case
	// insensitive) never suggested for removal although unused: what a
	// team knows is needed and the window did not show (a yearly job,
	// a break-glass path). Default none.
	KeepActions []string
}

// Suggester builds and checks suggestions. It is safe for concurrent
// use.
type Suggester struct {
	cat   *catalog.Catalog
	grace time.Duration
	keep  []string // lower case
}

// New returns a Suggester.
func New(o Options) (*Suggester, error) {
	if o.Catalog == nil {
		return nil, errors.New("new suggester: catalog is required")
	}
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}
	s := &Suggester{cat: o.Catalog, grace: max(o.Grace, 0)}
	for _, p := range o.KeepActions {
		if err := CheckActionPattern(p); err != nil {
			return nil, fmt.Errorf("new suggester: %w", err)
		}
		s.keep = append(s.keep, strings.ToLower(p))
	}
	return s, nil
}

// CheckActionPattern accepts "service:Action" with * and ? as wildcards.
func CheckActionPattern(p string) error {
	svc, act, ok := strings.Cut(p, ":")
	if !ok || svc == "" || act == "" || strings.ContainsFunc(p, func(r rune) bool {
		return !(r == ':' || r == '*' || r == '?' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		return fmt.Errorf("action pattern %q: want service:Action, * and ? allowed (s3:Get*)", p)
	}
	return nil
}

// keeps returns the KeepActions pattern action matches, if any. The
// patterns hold no '/', so path.Match is a plain glob here.
func (s *Suggester) keeps(action string) (string, bool) {
	a := strings.ToLower(action)
	for _, p := range s.keep {
		if ok, _ := path.Match(p, a); ok {
			return p, true
		}
	}
	return "", false
}

// Suggestion is the two suggestions for one principal, their check and
// the evidence behind them.
type Suggestion struct {
	Principal string       `json:"principal"`
	Kind      string       `json:"kind,omitempty"`
	Window    usage.Window `json:"window"`
	// Compared is false when no IAM model holds the principal: the
	// generated policy then comes from the calls alone and could not be
	// compared with today's grants.
	Compared  bool       `json:"compared_with_grants"`
	Model     string     `json:"model,omitempty"`
	Generated *Generated `json:"generated,omitempty"`
	InPlace   *InPlace   `json:"in_place,omitempty"`
	// Removed are the actions the in-place suggestion takes away.
	Removed []Removal `json:"removed"`
	// Kept are unused actions both suggestions keep, with why.
	Kept     []Kept     `json:"kept"`
	Evidence []Evidence `json:"evidence"`
	// Excluded are observed calls no suggestion grants: today's model
	// does not allow them, or the catalog does not know the action.
	Excluded   []string         `json:"excluded,omitempty"`
	Sessions   *report.Sessions `json:"sessions,omitempty"`
	Check      Check            `json:"self_check"`
	Conditions string           `json:"conditions"`
	Notes      []string         `json:"notes,omitempty"`
}

// Generated is the policy generated from the observed calls.
type Generated struct {
	Documents []Document `json:"documents"`
	// Permissions are the action × resource pairs it grants, for the
	// weekly diff.
	Permissions []string `json:"permissions"`
}

// InPlace is the principal's own policies with the unused actions out.
type InPlace struct {
	Policies []PolicyChange `json:"policies"`
}

// Kinds of PolicyChange.
const (
	ChangeInline        = "inline"         // put-*-policy with the new document
	ChangeInlineDeleted = "inline-deleted" // nothing left: delete the inline policy
	ChangeManaged       = "managed"        // a new default version of a customer managed policy only this principal uses
	ChangeManagedCopy   = "managed-copy"   // a copy for this principal instead of an AWS managed or shared policy
	ChangeDetach        = "detach"         // nothing left of an attached policy: detach it
)

// PolicyChange is one of the principal's policies as the in-place
// suggestion changes it.
type PolicyChange struct {
	Name   string `json:"name"`
	ARN    string `json:"arn,omitempty"` // managed policies
	Change string `json:"change"`
	// DefaultVersion is the managed policy's default version today (the
	// rollback target).
	DefaultVersion string `json:"default_version,omitempty"`
	// Removed are the actions taken out of this policy's statements.
	Removed []string `json:"removed"`
	// Original and Suggested are the documents; Suggested is nil when
	// nothing is left.
	Original  json.RawMessage `json:"original"`
	Suggested json.RawMessage `json:"suggested,omitempty"`
}

// Removal is one action the in-place suggestion removes, with evidence.
type Removal struct {
	Action    string             `json:"action"`
	Level     string             `json:"access_level"`
	Resources []string           `json:"resources"`
	GrantedBy []report.Statement `json:"granted_by"`
	// FirstGranted is when the grant first appears in the snapshots
	// (zero: unknown).
	FirstGranted time.Time `json:"first_granted,omitzero"`
}

// Why an unused action is kept.
const (
	KeptUnobservable = "unobservable"
	KeptGrace        = "granted-recently"
	KeptConfigured   = "kept-by-configuration"
	KeptNoRepo       = "norepo"
	KeptGroup        = "shared-through-group"
)

// Kept is an unused action the suggestions keep.
type Kept struct {
	Action string `json:"action"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// Evidence is one used action: what the suggestions keep it for.
type Evidence struct {
	Action    string               `json:"action"`
	Calls     uint64               `json:"calls"`
	LastUsed  time.Time            `json:"last_used"`
	Resources []report.ResourceUse `json:"resources"`
	AllowedBy []report.Statement   `json:"allowed_by,omitempty"`
}

// subject is everything Suggest works from for one principal.
type subject struct {
	u   *usage.Principal
	pr  *report.PrincipalReport
	m   *model.Model   // nil: no model
	p   *iam.Principal // nil: not in the model
	gs  *iam.GrantedSet
	tl  *model.Timeline
	cat *catalog.Catalog
	// byName are the principal's identity policies by compiled name.
	byName map[string]*policy.Policy
	// today is the principal's policy set under today's model, read
	// permissively (built on first use).
	today *policy.Set
	// inPlaceIdentity are the identity policies under the in-place
	// suggestion: the rewritten own policies and the groups' as they are.
	inPlaceIdentity []*policy.Policy
	// base is the principal's request with its context keys, built once:
	// requests differ only by action and resource.
	base *policy.Request
}

// request is the principal's request for action on resource (its
// session, for a role); without a model, the ARN as the index charges it.
func (sub *subject) request(action, resource string) policy.Request {
	if sub.p == nil {
		return policy.Request{Principal: sub.u.ARN, Action: action, Resource: resource}
	}
	if sub.base == nil {
		r := model.Request(sub.p, "", "*")
		sub.base = &r
	}
	r := *sub.base
	r.Action, r.Resource = action, resource
	return r
}

// todayAllows asks the engine whether today's model allows the call.
func (sub *subject) todayAllows(action, resource string) bool {
	if sub.today == nil {
		sub.today = sub.m.Set(sub.p)
	}
	req := sub.request(action, resource)
	return sub.today.Evaluate(&req, nil) == policy.Allowed
}

// Suggest builds and checks the suggestions for one principal from its
// usage and report (of the same window) and its account's timeline (nil
// without a model). It returns nil when there is nothing to suggest: a
// principal of a model with no unused action, the root user, or one with
// no call and no model.
func (s *Suggester) Suggest(u *usage.Principal, pr *report.PrincipalReport, tl *model.Timeline) (*Suggestion, error) {
	sub := &subject{u: u, pr: pr, tl: tl, cat: s.cat}
	if tl != nil {
		sub.m = tl.Current()
		if p, ok := sub.m.Principal(u.ARN); ok {
			sub.p = p
			sub.gs, _ = sub.m.Granted(u.ARN)
		}
	}
	switch {
	case sub.p != nil && sub.p.Kind == iam.KindRoot:
		return nil, nil
	case sub.p != nil && len(pr.Unused) == 0:
		return nil, nil
	case sub.p == nil && len(pr.Used)+len(pr.NotGranted) == 0:
		return nil, nil
	}
	sg := &Suggestion{Principal: u.ARN, Window: u.Window, Compared: sub.p != nil, Conditions: ConditionsNote,
		Removed: []Removal{}, Kept: []Kept{}, Evidence: []Evidence{}, Sessions: pr.Sessions}
	if sub.p != nil {
		sg.Kind = string(sub.p.Kind)
		sg.Model = sub.m.Name()
		sub.byName = map[string]*policy.Policy{}
		for _, q := range sub.m.IdentityPolicies(sub.p) {
			sub.byName[q.Name()] = q
		}
	} else if tl != nil {
		sg.Notes = append(sg.Notes, "the principal is not in today's model of its account: the generated policy comes from its calls alone")
	} else {
		sg.Notes = append(sg.Notes, "no IAM model for the account: the generated policy comes from the calls alone and could not be compared with today's grants")
	}
	for _, ua := range pr.Used {
		if ua.GrantedNow || sub.p == nil {
			sg.Evidence = append(sg.Evidence, Evidence{Action: ua.Action, Calls: ua.Calls, LastUsed: ua.LastUsed, Resources: ua.Resources, AllowedBy: ua.AllowedBy})
		}
	}
	kept := s.kept(sub)
	sg.Kept = kept
	gen, excluded, err := s.generate(sub, kept)
	if err != nil {
		return nil, fmt.Errorf("generate a policy for %s: %w", u.ARN, err)
	}
	sg.Generated, sg.Excluded = gen, excluded
	if sub.p != nil {
		ip, removed, groupKept, err := s.inPlace(sub, kept)
		if err != nil {
			return nil, fmt.Errorf("rewrite the policies of %s: %w", u.ARN, err)
		}
		sg.InPlace, sg.Removed = ip, removed
		sg.Kept = append(sg.Kept, groupKept...)
	}
	sort.Slice(sg.Kept, func(i, j int) bool { return sg.Kept[i].Action < sg.Kept[j].Action })
	sg.Check = s.check(sub, sg)
	return sg, nil
}

// kept returns the unused actions both suggestions keep: the unobservable
// ones, those matching KeepActions and those first granted within the
// grace period.
func (s *Suggester) kept(sub *subject) []Kept {
	var out []Kept
	for _, u := range sub.pr.Unobservable {
		out = append(out, Kept{Action: u.Action, Reason: KeptUnobservable, Detail: u.Reason + ": " + u.Detail})
	}
	if sub.p == nil {
		return out
	}
	for _, u := range sub.pr.Unused {
		if p, ok := s.keeps(u.Action); ok {
			out = append(out, Kept{Action: u.Action, Reason: KeptConfigured, Detail: fmt.Sprintf("matches %q, an action never suggested for removal", p)})
			continue
		}
		if s.grace == 0 {
			continue
		}
		first, how := s.firstGranted(sub, u.Action)
		if !first.IsZero() && sub.u.Window.End.Sub(first) < s.grace {
			out = append(out, Kept{Action: u.Action, Reason: KeptGrace,
				Detail: fmt.Sprintf("first granted %s (%s), less than %s before the window's end", first.UTC().Format("2006-01-02"), how, days(s.grace))})
		}
	}
	return out
}

func days(d time.Duration) string { return fmt.Sprintf("%d days", int(d.Hours()/24)) }

// firstGranted is when action was first granted to the principal, as the
// snapshots show: the oldest snapshot of the unbroken run of snapshots
// that grant it up to today. When that run reaches the oldest snapshot
// loaded, nothing older tells, and the principal's creation date stands
// in (a grant cannot be older than its principal).
func (s *Suggester) firstGranted(sub *subject, action string) (time.Time, string) {
	ms := sub.tl.Models
	first := -1
	for i := len(ms) - 1; i >= 0; i-- {
		gs, ok := ms[i].Granted(sub.u.ARN)
		if !ok || !gs.Has(action) {
			break
		}
		first = i
	}
	switch {
	case first > 0:
		return ms[first].Taken, "snapshot of " + ms[first].Taken.UTC().Format("2006-01-02")
	case sub.p.Created.IsZero():
		return time.Time{}, ""
	}
	return sub.p.Created, "no older snapshot: the principal's creation date"
}

// isKept reports whether the action is in kept.
func isKept(kept []Kept, action string) bool {
	for _, k := range kept {
		if strings.EqualFold(k.Action, action) {
			return true
		}
	}
	return false
}
