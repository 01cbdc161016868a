package suggest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/policy"
)

// The self-check's properties.
const (
	// CheckObservedAllowed: every call observed allowed in the window,
	// that today's policies allow, is still Allowed under the suggestion
	// (boundary, SCPs and everything else unchanged).
	CheckObservedAllowed = "observed-call-still-allowed"
	// CheckRefusedStaysOut: a call observed only as refused (that action
	// on that resource) is not allowed by the generated policy, even read
	// alone.
	CheckRefusedStaysOut = "refused-call-stays-out"
	// CheckRemovedDenied: a removed action is outside the suggestion's
	// granted set (allowed on no resource at all) and the engine refuses
	// it on "*".
	CheckRemovedDenied = "removed-action-denied"
	// CheckWithinGrants: the suggestion's granted set is within today's,
	// and where today grants an action on some resources only, the
	// generated policy names no other.
	CheckWithinGrants = "granted-within-today"
	// CheckCompiles: the suggested documents parse and compile.
	CheckCompiles = "compiles"
	// CheckSize: the documents fit IAM's size quotas.
	CheckSize = "within-size-limits"
)

// Check is the self-check of both suggestions.
type Check struct {
	Passed    bool         `json:"passed"`
	Generated *CheckResult `json:"generated,omitempty"`
	InPlace   *CheckResult `json:"in_place,omitempty"`
}

// CheckResult is the self-check of one suggestion.
type CheckResult struct {
	Passed      bool      `json:"passed"`
	Evaluations int       `json:"evaluations"` // engine decisions made
	Failures    []Failure `json:"failures"`
}

// Failure is one property that does not hold, with the offending call.
type Failure struct {
	Check    string `json:"check"`
	Action   string `json:"action"`
	Resource string `json:"resource,omitempty"`
	Detail   string `json:"detail"`
}

// maxFailures caps the failures kept per suggestion.
const maxFailures = 20

func (r *CheckResult) fail(check, action, resource, format string, args ...any) {
	r.Passed = false
	if len(r.Failures) < maxFailures {
		r.Failures = append(r.Failures, Failure{Check: check, Action: action, Resource: resource, Detail: fmt.Sprintf(format, args...)})
	}
}

// check runs the self-check of both suggestions.
func (s *Suggester) check(sub *subject, sg *Suggestion) Check {
	c := Check{Passed: true}
	if sg.Generated != nil {
		c.Generated = s.checkGenerated(sub, sg.Generated)
		c.Passed = c.Passed && c.Generated.Passed
	}
	if sg.InPlace != nil {
		c.InPlace = s.checkInPlace(sub, sg)
		c.Passed = c.Passed && c.InPlace.Passed
	}
	return c
}

// compileDocs compiles generated documents under their file names.
func compileDocs(docs []Document) ([]*policy.Policy, error) {
	var out []*policy.Policy
	for i, d := range docs {
		b, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		p, err := policy.CompileJSON(fmt.Sprintf("generated-%d", i+1), b)
		if err != nil {
			return nil, fmt.Errorf("generated-%d: %w", i+1, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (s *Suggester) checkGenerated(sub *subject, gen *Generated) *CheckResult {
	r := &CheckResult{Passed: true, Failures: []Failure{}}
	pols, err := compileDocs(gen.Documents)
	if err != nil {
		r.fail(CheckCompiles, "", "", "%v", err)
		return r
	}
	// Read alone: the generated policies only, permissively.
	alone := &policy.Set{}
	for _, q := range pols {
		pq, err := model.Permissive(q)
		if err != nil {
			r.fail(CheckCompiles, "", "", "%v", err)
			return r
		}
		alone.Identity = append(alone.Identity, pq)
	}
	with := alone
	if sub.p != nil {
		with = sub.m.SetWith(sub.p, pols)
	}
	s.observedAllowed(sub, with, r)
	s.refusedOut(sub, alone, r)
	if sub.p == nil {
		return r
	}
	// Removed: what today grants and no generated statement names.
	named := map[int]bool{}
	for _, d := range gen.Documents {
		for _, st := range d.Statement {
			for id := range expand(s.cat, st.Action) {
				named[id] = true
			}
		}
	}
	after := sub.m.GrantedWith(sub.p, pols)
	for _, g := range sub.gs.Grants() {
		if !named[g.ID] {
			s.removedDenied(sub, with, after, g.Action, r)
		}
	}
	s.withinToday(sub, after, r)
	// Where today's grant is on some resources only, the generated
	// policy must not name others.
	for _, d := range gen.Documents {
		for _, st := range d.Statement {
			for id := range expand(s.cat, st.Action) {
				act := s.cat.ActionAt(id).FullName()
				g, ok := sub.gs.Lookup(act)
				if !ok || g.AllResources {
					continue
				}
				for _, res := range st.Resource {
					if slicesContains(g.Resources, res) {
						continue
					}
					r.Evaluations++
					if strings.ContainsAny(res, "*?") || !sub.todayAllows(act, res) {
						r.fail(CheckWithinGrants, act, res, "today's policies grant %s on %s only", act, strings.Join(g.Resources, ", "))
					}
				}
			}
		}
	}
	return r
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Suggester) checkInPlace(sub *subject, sg *Suggestion) *CheckResult {
	r := &CheckResult{Passed: true, Failures: []Failure{}}
	inline := 0
	for _, pc := range sg.InPlace.Policies {
		if pc.Suggested == nil {
			continue
		}
		if _, err := policy.CompileJSON(pc.Name, pc.Suggested); err != nil {
			r.fail(CheckCompiles, "", "", "%s: %v", pc.Name, err)
		}
		n := chars(pc.Suggested)
		if pc.Change == ChangeInline {
			inline += n
		} else if n > ManagedPolicyLimit {
			r.fail(CheckSize, "", "", "%s: %d characters, a managed policy holds %d", pc.Name, n, ManagedPolicyLimit)
		}
	}
	if inline > 0 {
		// The quota counts all inline policies of the entity, the
		// unchanged ones too.
		for _, in := range sub.p.Inline {
			if !changedPolicy(sg.InPlace, in.Name) {
				inline += chars(in.Raw)
			}
		}
		if limit := inlineLimit(sub.p.Kind); inline > limit {
			r.fail(CheckSize, "", "", "inline policies total %d characters, a %s holds %d", inline, sub.p.Kind, limit)
		}
	}
	with := sub.m.SetWith(sub.p, sub.inPlaceIdentity)
	s.observedAllowed(sub, with, r)
	after := sub.m.GrantedWith(sub.p, sub.inPlaceIdentity)
	for _, rm := range sg.Removed {
		s.removedDenied(sub, with, after, rm.Action, r)
	}
	s.withinToday(sub, after, r)
	return r
}

// observedAllowed checks that every observed allowed call today's
// policies allow (every one, without a model) is allowed by set.
func (s *Suggester) observedAllowed(sub *subject, set *policy.Set, r *CheckResult) {
	var d policy.Decision
	for i := range sub.u.Actions {
		a := &sub.u.Actions[i]
		if a.Allowed == 0 {
			continue
		}
		if _, ok := s.cat.ID(a.Action); !ok {
			continue // left out and said so: no policy can name it
		}
		resources := []string{}
		for _, res := range a.Resources {
			if res.Allowed > 0 {
				resources = append(resources, res.ARN)
			}
		}
		if len(a.Resources) == 0 {
			resources = append(resources, "*")
		}
		for _, res := range resources {
			if sub.p != nil {
				r.Evaluations++
				if !sub.todayAllows(a.Action, res) {
					continue // not granted now: no suggestion may grant it
				}
			}
			req := sub.request(a.Action, res)
			r.Evaluations++
			if set.Evaluate(&req, &d) != policy.Allowed {
				r.fail(CheckObservedAllowed, a.Action, res, "observed allowed %d time(s), last %s; the suggestion gives %s (%s)",
					a.Allowed, a.Last.UTC().Format("2006-01-02"), d.Result, d.Reason)
			}
		}
	}
}

// refusedOut checks that calls observed only as refused stay refused by
// the generated policy read alone.
func (s *Suggester) refusedOut(sub *subject, alone *policy.Set, r *CheckResult) {
	var d policy.Decision
	for i := range sub.u.Actions {
		a := &sub.u.Actions[i]
		for _, res := range a.Resources {
			if !res.DeniedOnly() {
				continue
			}
			req := sub.request(a.Action, res.ARN)
			r.Evaluations++
			// A call that needs no permission (sts:GetCallerIdentity) is
			// allowed whatever a policy says: no suggestion can keep it
			// out, and AWS does not refuse it for want of one.
			if alone.Evaluate(&req, &d) == policy.Allowed && !d.Rule.NoPermissionNeeded() {
				r.fail(CheckRefusedStaysOut, a.Action, res.ARN, "refused %d time(s) and never allowed; the generated policy alone allows it (%v)", res.Denied, d.Allows)
			}
		}
	}
}

// removedDenied checks that a removed action is denied on every
// resource under pols: it is outside their granted set (which holds every
// action allowed on at least one resource, iam.Granter), and the engine
// refuses it on "*".
func (s *Suggester) removedDenied(sub *subject, set *policy.Set, after *iam.GrantedSet, action string, r *CheckResult) {
	if after.Has(action) {
		g, _ := after.Lookup(action)
		r.fail(CheckRemovedDenied, action, strings.Join(g.Resources, ","), "removed, yet still granted by %s", stmtRefs(g))
		return
	}
	req := sub.request(action, "*")
	r.Evaluations++
	var d policy.Decision
	if set.Evaluate(&req, &d) == policy.Allowed {
		r.fail(CheckRemovedDenied, action, "*", "removed, yet the engine allows it on * (%v)", d.Allows)
	}
}

func stmtRefs(g iam.Grant) string {
	var out []string
	for _, ref := range g.Allows {
		out = append(out, ref.String())
	}
	return strings.Join(out, "; ")
}

func stmtName(st *policy.Statement) string {
	if st.Sid() != "" {
		return st.Sid()
	}
	return fmt.Sprintf("#%d", st.Index())
}

// withinToday checks that the suggestion's granted set is within
// today's.
func (s *Suggester) withinToday(sub *subject, after *iam.GrantedSet, r *CheckResult) {
	for _, g := range after.Grants() {
		if !sub.gs.HasID(g.ID) {
			r.fail(CheckWithinGrants, g.Action, "", "granted by the suggestion, not by today's policies")
		}
	}
}

// chars counts a document's characters without white space, as IAM's
// quotas do.
func chars(doc []byte) int {
	var b bytes.Buffer
	if err := json.Compact(&b, doc); err != nil {
		return len(doc)
	}
	return b.Len()
}

func changedPolicy(ip *InPlace, name string) bool {
	for _, pc := range ip.Policies {
		if pc.Name == name {
			return true
		}
	}
	return false
}

func inlineLimit(k iam.Kind) int {
	switch k {
	case iam.KindUser:
		return InlineUserLimit
	case iam.KindGroup:
		return InlineGroupLimit
	}
	return InlineRoleLimit
}
