package suggest

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/policy"
	"github.com/iamd/iamd/analyzer/usage"
)

// grantedAction is one action the generated policy grants, with the
// resources and conditions it grants it on.
type grantedAction struct {
	action   string // catalog casing
	res      []string
	notRes   bool
	cond     []policy.ConditionDoc
	sid      string
	observed bool // from the calls (else kept unused)
}

// generate builds the policy generated from the observed calls, plus the
// kept actions in statements of their own. It also returns the observed
// calls it leaves out.
func (s *Suggester) generate(sub *subject, kept []Kept) (*Generated, []string, error) {
	var acts []grantedAction
	var excluded []string
	for i := range sub.u.Actions {
		a := &sub.u.Actions[i]
		if a.Allowed == 0 {
			continue
		}
		def, known := s.cat.Lookup(a.Action)
		if !known {
			excluded = append(excluded, a.Action+": not in the action catalog")
			continue
		}
		name := def.FullName()
		var g *iam.Grant
		if sub.gs != nil {
			gr, ok := sub.gs.Lookup(name)
			if !ok || !usedNow(sub, a.Action) {
				excluded = append(excluded, name+": today's model does not allow it")
				continue
			}
			g = &gr
		}
		res := s.resourcesFor(def, a, g, sub)
		ga := grantedAction{action: name, res: res, observed: true}
		if g != nil && g.Conditional {
			ga.cond = sub.conditionsOf(g)
		}
		acts = append(acts, ga)
	}
	for _, k := range kept {
		if sub.gs == nil {
			break
		}
		g, ok := sub.gs.Lookup(k.Action)
		if !ok {
			continue
		}
		if refusedIn(sub.u, g.Action) {
			// A kept grant covers calls seen refused (made before it was
			// granted): the generated policy may not let them in.
			excluded = append(excluded, g.Action+": kept in place ("+k.Reason+"), left out of the generated policy because calls of it were refused in the window")
			continue
		}
		ga := grantedAction{action: g.Action, sid: keptSid(k.Reason)}
		ga.res, ga.notRes = grantResources(g)
		if g.Conditional {
			ga.cond = sub.conditionsOf(&g)
		}
		acts = append(acts, ga)
	}
	stmts, err := s.statements(acts)
	if err != nil {
		return nil, nil, err
	}
	gen := &Generated{Permissions: permissions(acts)}
	if len(stmts) > 0 {
		if gen.Documents, err = split(stmts, ManagedPolicyLimit); err != nil {
			return nil, nil, err
		}
	}
	return gen, excluded, nil
}

// refusedIn reports whether the window holds refused calls of action.
func refusedIn(u *usage.Principal, action string) bool {
	for i := range u.Actions {
		if strings.EqualFold(u.Actions[i].Action, action) && u.Actions[i].Denied > 0 {
			return true
		}
	}
	return false
}

// usedNow reports whether the report counts the action as used and still
// granted (its allowed calls are allowed by today's model somewhere).
func usedNow(sub *subject, action string) bool {
	for _, u := range sub.pr.Used {
		if u.Action == action {
			return u.GrantedNow
		}
	}
	return false
}

func keptSid(reason string) string {
	switch reason {
	case KeptUnobservable:
		return "KeptUnobservable"
	case KeptGrace:
		return "KeptGrantedRecently"
	case KeptConfigured:
		return "KeptByConfiguration"
	}
	return "Kept"
}

// grantResources are the resources of today's grant, as a Resource or a
// NotResource element.
func grantResources(g iam.Grant) ([]string, bool) {
	if g.AllResources {
		return []string{"*"}, false
	}
	var res, not []string
	for _, r := range g.Resources {
		if n, ok := strings.CutPrefix(r, "not "); ok {
			not = append(not, n)
		} else {
			res = append(res, r)
		}
	}
	if len(res) == 0 && len(not) > 0 {
		return not, true
	}
	return res, false
}

// conditionsOf returns the Condition element of the first statement that
// grants g, kept as written.
func (sub *subject) conditionsOf(g *iam.Grant) []policy.ConditionDoc {
	for _, ref := range g.Allows {
		q, ok := sub.byName[ref.Policy]
		if !ok || ref.Index >= len(q.Statements()) {
			continue
		}
		if c := q.Statements()[ref.Index].Conditions(); len(c) > 0 {
			return c
		}
	}
	return nil
}

// resourcesFor picks the resources the generated policy grants an action
// on: "*" for an action that takes no resource or a call whose resource
// could not be named; today's grant patterns that cover the observed
// resources when today's grant is narrower than "*"; otherwise a pattern
// per resource type where the observed ARNs allow a safe one (an exact
// ARN, a bucket's objects, a prefix they all share past the type's fixed
// part). A resource observed only as refused must stay out: if a pattern
// would cover one, the observed ARNs are listed exactly instead.
func (s *Suggester) resourcesFor(def catalog.Action, a *usage.Action, g *iam.Grant, sub *subject) []string {
	if def.WildcardOnly() {
		return []string{"*"}
	}
	var allowed, refused []string
	unnamed := false
	for _, r := range a.Resources {
		switch {
		case r.Allowed > 0 && !strings.HasPrefix(r.ARN, "arn:"):
			unnamed = true
		case r.Allowed > 0 && (g == nil || g.AllResources || sub.todayAllows(def.FullName(), r.ARN)):
			allowed = append(allowed, r.ARN)
		case r.DeniedOnly():
			refused = append(refused, r.ARN)
		}
	}
	if len(a.Resources) == 0 {
		unnamed = true // the index holds no fact for the window's calls
	}
	var out []string
	switch {
	case g != nil && !g.AllResources:
		out = s.withinGrant(g, allowed, unnamed)
	case unnamed:
		out = []string{"*"}
	default:
		out = s.widen(def, allowed)
	}
	if len(refused) > 0 && coversAny(out, refused) {
		out = append([]string(nil), allowed...)
		if unnamed {
			out = append(out, "*")
		}
	}
	sort.Strings(out)
	return compact(out)
}

// withinGrant returns today's grant patterns that cover an observed
// resource, plus any observed resource none covers (the engine allowed
// it some other way, e.g. through a policy variable); all of them when a
// call's resource could not be named.
func (s *Suggester) withinGrant(g *iam.Grant, allowed []string, unnamed bool) []string {
	var pats []string
	for _, r := range g.Resources {
		if !strings.HasPrefix(r, "not ") && !strings.Contains(r, "${") {
			pats = append(pats, r)
		}
	}
	if unnamed {
		return pats
	}
	var out []string
	used := map[string]bool{}
	for _, arn := range allowed {
		hit := false
		for _, p := range pats {
			if matchARN(p, arn) {
				hit = true
				if !used[p] {
					used[p] = true
					out = append(out, p)
				}
			}
		}
		if !hit {
			out = append(out, arn)
		}
	}
	return out
}

// widen groups observed ARNs by resource type and gives each group a safe
// pattern.
func (s *Suggester) widen(def catalog.Action, allowed []string) []string {
	types := s.cat.ResourceTypesOf(def)
	byType := map[string][]string{}
	var order []string
	for _, arn := range allowed {
		// One group per type and per account and region: a pattern
		// never spans two of them.
		key := ""
		if rt, ok := catalog.MatchResourceTypes(types, arn); ok {
			if h := nthIndex(arn, ':', 5); h >= 0 {
				key = rt.Name + "\x00" + rt.ARN + "\x00" + arn[:h]
			}
		}
		if _, ok := byType[key]; !ok {
			order = append(order, key)
		}
		byType[key] = append(byType[key], arn)
	}
	var out []string
	for _, key := range order {
		arns := byType[key]
		name, rest, _ := strings.Cut(key, "\x00")
		format, _, _ := strings.Cut(rest, "\x00")
		switch {
		case len(arns) == 1 || key == "":
			out = append(out, arns...)
		case def.Service == "s3" && name == "object":
			out = append(out, bucketObjects(arns)...)
		default:
			out = append(out, sharedPrefix(arns, format)...)
		}
	}
	return out
}

// bucketObjects gives the objects of each bucket with two or more of
// them the pattern bucket/*; a lone object stays exact.
func bucketObjects(arns []string) []string {
	byBucket := map[string][]string{}
	for _, a := range arns {
		rest := strings.TrimPrefix(a, "arn:aws:s3:::")
		b, _, _ := strings.Cut(rest, "/")
		byBucket[b] = append(byBucket[b], a)
	}
	var out []string
	for b, list := range byBucket {
		if len(list) == 1 || !strings.HasPrefix(list[0], "arn:") {
			out = append(out, list...)
			continue
		}
		part := list[0][:strings.Index(list[0], ":::")+3]
		out = append(out, part+b+"/*")
	}
	return out
}

// sharedPrefix returns prefix* when all ARNs share a prefix that ends at a
// "/" or ":" and reaches past the resource type's fixed part (account,
// region and the literal before the resource's name), else the ARNs.
func sharedPrefix(arns []string, format string) []string {
	p := arns[0]
	for _, a := range arns[1:] {
		n := 0
		for n < len(p) && n < len(a) && p[n] == a[n] {
			n++
		}
		p = p[:n]
	}
	cut := strings.LastIndexAny(p, "/:")
	minLen := fixedPart(arns[0], format)
	if cut < 0 || cut+1 < minLen || minLen == 0 {
		return arns
	}
	return []string{p[:cut+1] + "*"}
}

// fixedPart is the length of arn's header (the first five fields) plus
// the literal that starts the resource part of the type's ARN format
// ("table/" of …:table/${TableName}); 0 when the format does not tell.
func fixedPart(arn, format string) int {
	header := nthIndex(arn, ':', 5)
	fhead := nthIndex(format, ':', 5)
	if header < 0 || fhead < 0 {
		return 0
	}
	lit := format[fhead+1:]
	if i := strings.Index(lit, "${"); i >= 0 {
		lit = lit[:i]
	}
	if lit == "" || !strings.HasPrefix(arn[header+1:], lit) {
		return 0
	}
	return header + 1 + len(lit)
}

func nthIndex(s string, c byte, n int) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			if n--; n == 0 {
				return i
			}
		}
	}
	return -1
}

func compact(list []string) []string {
	out := list[:0]
	for i, x := range list {
		if i == 0 || x != list[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// matchers caches one-statement policies used to match ARN patterns
// with the engine's own resource matching.
var matchers sync.Map // pattern → *policy.Statement (nil: does not compile)

// matchARN reports whether a Resource pattern covers arn, as our engine
// matches it.
func matchARN(pattern, arn string) bool {
	v, ok := matchers.Load(pattern)
	if !ok {
		doc, _ := json.Marshal(newDocument([]Stmt{{Effect: "Allow", Action: []string{"*"}, Resource: []string{pattern}}}))
		var st *policy.Statement
		if p, err := policy.CompileJSON("match", doc); err == nil {
			st = &p.Statements()[0]
		}
		v, _ = matchers.LoadOrStore(pattern, st)
	}
	st := v.(*policy.Statement)
	return st != nil && st.MatchesResource(arn, nil)
}

func coversAny(pats, arns []string) bool {
	for _, p := range pats {
		for _, a := range arns {
			if matchARN(p, a) {
				return true
			}
		}
	}
	return false
}

// statements groups actions by resources and conditions into
// statements, observed ones first, each action list shortened.
func (s *Suggester) statements(acts []grantedAction) ([]Stmt, error) {
	type group struct {
		st   Stmt
		acts []string
		obs  bool
	}
	var groups []*group
	index := map[string]*group{}
	for _, a := range acts {
		cond := conditionBlock(a.cond)
		cj, _ := json.Marshal(cond)
		key := strings.Join(a.res, ",") + "|" + string(cj) + "|" + a.sid
		if a.notRes {
			key = "not " + key
		}
		g := index[key]
		if g == nil {
			g = &group{st: Stmt{Sid: a.sid, Effect: "Allow", Condition: cond}, obs: a.observed}
			if a.notRes {
				g.st.NotResource = a.res
			} else {
				g.st.Resource = a.res
			}
			index[key] = g
			groups = append(groups, g)
		}
		g.acts = append(g.acts, a.action)
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].obs && !groups[j].obs })
	out := make([]Stmt, 0, len(groups))
	n := 0
	for _, g := range groups {
		var err error
		if g.st.Action, err = shortActions(s.cat, g.acts); err != nil {
			return nil, err
		}
		if g.st.Sid == "" {
			n++
			g.st.Sid = "Observed" + itoa(n)
		} else {
			g.st.Sid += itoa(len(out) + 1)
		}
		out = append(out, g.st)
	}
	return out, nil
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// permissions lists "action resource" pairs, sorted.
func permissions(acts []grantedAction) []string {
	var out []string
	for _, a := range acts {
		for _, r := range a.res {
			p := a.action + " " + r
			if a.notRes {
				p = a.action + " not " + r
			}
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return compact(out)
}
