package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/policy"
	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/store"
)

// DefaultTop is how many resources a used action lists by default.
const DefaultTop = 5

// Analyser judges principals' usage against their models. It is safe
// for concurrent use: every Principal call has its own state.
type Analyser struct {
	cat *catalog.Catalog
	top int
}

// NewAnalyser returns an Analyser listing top resources per used action
// (0: DefaultTop).
func NewAnalyser(cat *catalog.Catalog, top int) (*Analyser, error) {
	if cat == nil {
		return nil, fmt.Errorf("new analyser: catalog is required")
	}
	if top <= 0 {
		top = DefaultTop
	}
	return &Analyser{cat: cat, top: top}, nil
}

// Principal analyses one principal's usage u. tl is its account's
// timeline (nil: the account has no model); dataSeen tells whether the
// account's trail showed data events of a group (DataGroup) in the
// window.
func (an *Analyser) Principal(u *usage.Principal, tl *model.Timeline, dataSeen func(group string) bool) PrincipalReport {
	pr := PrincipalReport{
		Principal: u.ARN, Account: iam.AccountOf(u.ARN),
		Used: []UsedAction{}, Unused: []UnusedAction{}, Denied: []DeniedAction{},
		NotGranted: []NotGrantedAction{}, Unobservable: []UnobservableAction{},
		Sessions: sessionsOf(u.Sessions),
	}
	var (
		cur *model.Model
		p   *iam.Principal
		gs  *iam.GrantedSet
	)
	switch {
	case tl == nil:
		pr.Status = StatusNoModel
	default:
		cur = tl.Current()
		var ok bool
		if p, ok = cur.Principal(u.ARN); !ok {
			pr.Status = StatusNotInModel
			break
		}
		gs, _ = cur.Granted(u.ARN)
		pr.Status, pr.Kind, pr.Created = StatusAnalysed, kindOf(p), p.Created
		if p.Kind == iam.KindRoot {
			pr.Status = StatusRoot
		}
		pr.CreatedInWindow = !p.Created.IsZero() && p.Created.After(u.Window.Start)
		pr.UnknownPolicies = gs.Unknown
	}
	j := &judge{an: an, arn: u.ARN, models: map[*model.Model]*modelJudge{}}
	usedIDs := map[int]bool{}
	for i := range u.Actions {
		a := &u.Actions[i]
		if a.Denied > 0 {
			pr.Denied = append(pr.Denied, an.denied(a, gs))
		}
		if a.Allowed == 0 {
			continue
		}
		if tl == nil {
			pr.Used = append(pr.Used, an.used(a, nil))
			continue
		}
		var grantedCalls, ungranted uint64
		var last *verdict
		for _, d := range a.Days {
			if d.Allowed == 0 {
				continue
			}
			if v := j.verdict(tl.At(d.Day), a); v.granted {
				grantedCalls += d.Allowed
				last = v
			} else {
				ungranted += d.Allowed
			}
		}
		if a.Days == nil {
			// Counted from its facts: one model is in force for the
			// whole window (usage.Read), today's.
			if v := j.verdict(cur, a); v.granted {
				grantedCalls, last = a.Allowed, v
			} else {
				ungranted = a.Allowed
			}
		}
		now := j.verdict(cur, a)
		if now.granted || grantedCalls > 0 {
			ua := an.used(a, now.allowedBy)
			if !now.granted {
				ua.AllowedBy = last.allowedBy
			}
			ua.GrantedNow, ua.CallsUngrantedThatDay = now.granted, ungranted
			pr.Used = append(pr.Used, ua)
		}
		if now.granted {
			if id, ok := an.cat.ID(a.Action); ok {
				usedIDs[id] = true
			}
		}
		if !now.granted || len(now.refused) > 0 {
			pr.NotGranted = append(pr.NotGranted, an.notGranted(a, now, tl, j, p))
		}
	}
	if gs != nil && pr.Status == StatusAnalysed {
		// An action with calls in the window, if only refused ones, is
		// one the trail shows: never unobservable.
		seen := map[int]bool{}
		for i := range u.Actions {
			if id, ok := an.cat.ID(u.Actions[i].Action); ok {
				seen[id] = true
			}
		}
		an.unusedAndUnobservable(&pr, gs, usedIDs, seen, dataSeen)
	}
	if gs != nil {
		pr.Utilisation = an.utilisation(gs, usedIDs, pr.Status == StatusRoot)
	}
	return pr
}

// verdict is how one model judges one action's allowed calls.
type verdict struct {
	granted   bool // allowed on at least one observed resource
	allowedBy []Statement
	// refused are the observed allowed resources the model does not
	// allow (for an action granted on some resources only).
	refused []usage.Resource
	// known: the principal is in the model and the action in the catalog.
	known bool
}

// judge caches verdicts per model for one principal.
type judge struct {
	an     *Analyser
	arn    string
	models map[*model.Model]*modelJudge
}

type modelJudge struct {
	p        *iam.Principal // nil: not in this model
	gs       *iam.GrantedSet
	set      *policy.Set
	verdicts map[string]*verdict
}

func (j *judge) verdict(m *model.Model, a *usage.Action) *verdict {
	mj, ok := j.models[m]
	if !ok {
		mj = &modelJudge{verdicts: map[string]*verdict{}}
		if p, ok := m.Principal(j.arn); ok {
			mj.p = p
			mj.gs, _ = m.Granted(j.arn)
		}
		j.models[m] = mj
	}
	if v, ok := mj.verdicts[a.Action]; ok {
		return v
	}
	v := &verdict{}
	mj.verdicts[a.Action] = v
	if mj.p == nil {
		return v
	}
	g, ok := mj.gs.Lookup(a.Action)
	if !ok {
		_, v.known = j.an.cat.ID(a.Action)
		return v
	}
	v.known = true
	if g.AllResources {
		v.granted = true
		for _, r := range g.Allows {
			v.allowedBy = append(v.allowedBy, statementOf(r))
		}
		return v
	}
	// Granted on some resources only: ask the engine about each one the
	// principal was allowed on, most used first.
	if mj.set == nil {
		mj.set = m.Set(mj.p)
	}
	var d policy.Decision
	for _, r := range byAllowed(a.Resources) {
		req := model.Request(mj.p, a.Action, r.ARN)
		if mj.set.Evaluate(&req, &d) != policy.Allowed {
			v.refused = append(v.refused, r)
			continue
		}
		if !v.granted {
			v.granted = true
			for _, ref := range d.Allows {
				if ref.Layer == policy.LayerIdentity {
					v.allowedBy = append(v.allowedBy, statementOf(ref))
				}
			}
		}
	}
	if len(a.Resources) == 0 {
		// The index holds no resource of the window's calls (the window
		// ends before them): the grant's own statements stand for it.
		v.granted = true
		for _, r := range g.Allows {
			v.allowedBy = append(v.allowedBy, statementOf(r))
		}
	}
	return v
}

// byAllowed returns the resources with allowed calls, most first.
func byAllowed(rs []usage.Resource) []usage.Resource { return usage.ByAllowed(rs) }

func (an *Analyser) used(a *usage.Action, by []Statement) UsedAction {
	ua := UsedAction{Action: a.Action, Level: levelOf(an.cat, a.Action), Calls: a.Allowed, FirstUsed: a.First, LastUsed: a.Last,
		AllowedBy: by, Resources: []ResourceUse{}}
	var rs []usage.Resource
	rs, ua.ResourceCount = a.TopAllowed(an.top)
	for _, r := range rs {
		ua.Resources = append(ua.Resources, ResourceUse{Resource: r.ARN, Calls: r.Allowed, LastUsed: r.Last})
	}
	return ua
}

func (an *Analyser) denied(a *usage.Action, gs *iam.GrantedSet) DeniedAction {
	da := DeniedAction{Action: a.Action, Calls: a.Denied, LastDenied: a.LastDenied, Resources: []string{}}
	for _, r := range a.TopDenied(an.top) {
		da.Resources = append(da.Resources, r.ARN)
	}
	da.GrantedNow = gs != nil && gs.Has(a.Action)
	return da
}

// NeedsResources returns the actions of u whose every resource the
// analysis of the principal must see, when Summary read only their most
// used ones: an action granted on some resources only by a model in
// force (each resource's call is evaluated), and one today's model does
// not grant on every resource (not granted now: its resources say why).
// An action granted on every resource, or with no model at all, needs
// no more than its top resources.
func NeedsResources(u *usage.Principal, tl *model.Timeline) []string {
	if tl == nil {
		return nil
	}
	type grants struct {
		in bool
		gs *iam.GrantedSet
	}
	ms := make([]grants, len(tl.Models))
	for i, m := range tl.Models {
		if _, ok := m.Principal(u.ARN); ok {
			ms[i].in = true
			ms[i].gs, _ = m.Granted(u.ARN)
		}
	}
	var out []string
	for i := range u.Actions {
		a := &u.Actions[i]
		if !a.Partial || a.Allowed == 0 {
			continue
		}
		need := false
		for j, m := range ms {
			var g iam.Grant
			var ok bool
			if m.in && m.gs != nil {
				g, ok = m.gs.Lookup(a.Action)
			}
			if ok && !g.AllResources || j == len(ms)-1 && !(ok && g.AllResources) {
				need = true
				break
			}
		}
		if need {
			out = append(out, a.Action)
		}
	}
	return out
}

// resourcePolicyServices have resource-based policies that can grant a
// same-account principal on their own (IAM User Guide,
// reference_policies_evaluation-logic, "Resource-based policies") or that
// a cross-account call needs.
var resourcePolicyServices = map[string]string{
	"s3": "bucket policy", "kms": "key policy", "sqs": "queue policy", "sns": "topic policy",
	"lambda": "function policy", "secretsmanager": "secret policy", "ecr": "repository policy",
	"glacier": "vault policy", "events": "event bus policy", "sts": "role trust policy",
	"backup": "backup vault policy", "es": "domain access policy", "logs": "resource policy",
}

func (an *Analyser) notGranted(a *usage.Action, now *verdict, tl *model.Timeline, j *judge, p *iam.Principal) NotGrantedAction {
	ng := NotGrantedAction{Action: a.Action, LastUsed: a.Last, Resources: []string{}}
	refused := now.refused
	if !now.granted {
		refused = byAllowed(a.Resources)
		ng.Calls = a.Allowed
	} else {
		for _, r := range refused {
			ng.Calls += r.Allowed
		}
	}
	for i, r := range refused {
		if i == an.top {
			break
		}
		ng.Resources = append(ng.Resources, r.ARN)
	}
	// The newest other model that allowed the calls, if any.
	var earlier *model.Model
	for _, m := range tl.Models {
		if m != tl.Current() && j.verdict(m, a).granted {
			earlier = m
		}
	}
	cross, onARN := "", false
	for _, r := range refused {
		if strings.HasPrefix(r.ARN, "arn:") {
			onARN = true
		}
		if ra := iam.AccountOf(r.ARN); ra != "" && ra != iam.AccountOf(j.arn) {
			cross = ra
		}
	}
	svcPolicy, hasPolicy := resourcePolicyServices[model.ServiceOf(a.Action)]
	switch {
	case earlier != nil:
		ng.Reason = NotGrantedEarlierSnapshot
		ng.Detail = "granted by the " + earlier.Name() + "; today's model no longer allows it"
	case p == nil:
		ng.Reason = NotGrantedUnexplained
		ng.Detail = "the principal is not in today's model"
	case !an.inCatalog(a.Action):
		ng.Reason = NotGrantedActionMapping
		ng.Detail = "ingest charged the call to " + a.Action + ", which the action catalog does not know"
	case cross != "" && hasPolicy:
		ng.Reason = NotGrantedResourcePolicy
		ng.Detail = "the resource is in account " + cross + ", whose " + svcPolicy + " must allow the call; the identity side does not allow it now"
	case hasPolicy && onARN:
		ng.Reason = NotGrantedResourcePolicy
		ng.Detail = "a same-account " + svcPolicy + " naming the principal can allow this on its own; resource-based policies are not part of the model"
	default:
		ng.Reason = NotGrantedUnexplained
		ng.Detail = "no model in force during the window allows it on these resources"
	}
	return ng
}

func (an *Analyser) inCatalog(action string) bool {
	_, ok := an.cat.ID(action)
	return ok
}

func (an *Analyser) unusedAndUnobservable(pr *PrincipalReport, gs *iam.GrantedSet, usedIDs, seen map[int]bool, dataSeen func(string) bool) {
	usedSvc := map[string]bool{}
	for id := range usedIDs {
		usedSvc[an.cat.ActionAt(id).Service] = true
	}
	// Grants of one class share their statement slices: convert each once,
	// so that a principal granted thousands of actions (an administrator)
	// costs one UnusedAction per action, not copies of its statements.
	all := []string{"*"}
	refs := map[*policy.StatementRef][]Statement{}
	for _, g := range gs.Grants() {
		if usedIDs[g.ID] {
			continue
		}
		if reason, detail := Unobservable(an.cat, g.Action, dataSeen); reason != "" && !seen[g.ID] {
			pr.Unobservable = append(pr.Unobservable, UnobservableAction{Action: g.Action, Reason: reason, Detail: detail})
			continue
		}
		act := an.cat.ActionAt(g.ID)
		res := g.Resources
		if g.AllResources {
			res = all
		}
		by := []Statement{}
		if len(g.Allows) > 0 {
			var ok bool
			if by, ok = refs[&g.Allows[0]]; !ok {
				for _, r := range g.Allows {
					by = append(by, statementOf(r))
				}
				refs[&g.Allows[0]] = by
			}
		}
		pr.Unused = append(pr.Unused, UnusedAction{Action: g.Action, Service: act.Service, Level: act.Level.String(), Resources: res,
			Conditional: g.Conditional, ServiceUnused: !usedSvc[act.Service], GrantedBy: by})
	}
}

func (an *Analyser) utilisation(gs *iam.GrantedSet, usedIDs map[int]bool, root bool) Utilisation {
	u := Utilisation{Used: len(usedIDs), Granted: gs.Len()}
	u.Ratio = ratio(u.Used, u.Granted)
	if root {
		return u
	}
	type counts struct{ used, granted int }
	per := map[string]*counts{}
	for _, g := range gs.Grants() {
		svc := an.cat.ActionAt(g.ID).Service
		c := per[svc]
		if c == nil {
			c = &counts{}
			per[svc] = c
		}
		c.granted++
		if usedIDs[g.ID] {
			c.used++
		}
	}
	for svc, c := range per {
		u.Services = append(u.Services, ServiceUtilisation{Service: svc, Used: c.used, Granted: c.granted, Ratio: ratio(c.used, c.granted)})
	}
	sort.Slice(u.Services, func(i, j int) bool { return u.Services[i].Service < u.Services[j].Service })
	return u
}

// sessionsOf gives each session name and source identity its share of
// the calls the index kept for them.
func sessionsOf(s *store.PrincipalSessions) *Sessions {
	if s == nil || (len(s.SessionNames) == 0 && len(s.SourceIdentities) == 0) {
		return nil
	}
	shares := func(seen []store.Seen) []Share {
		var total uint64
		for _, x := range seen {
			total += x.Count
		}
		out := make([]Share, 0, len(seen))
		for _, x := range seen {
			out = append(out, Share{Name: x.Value, Calls: x.Count, LastSeen: x.LastSeen, Share: float64(x.Count) / float64(max(total, 1))})
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Calls > out[j].Calls })
		return out
	}
	return &Sessions{SessionNames: shares(s.SessionNames), SourceIdentities: shares(s.SourceIdentities)}
}
