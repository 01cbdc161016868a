package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Policy is a compiled policy document. It is immutable and safe for
// concurrent use.
type Policy struct {
	name  string
	doc   *Document
	stmts []Statement
	// svcs lists the (few) services any statement can match, so that
	// evaluation skips a policy about other services with one comparison;
	// nil when a statement has "*", NotAction, a service wildcard or there
	// are too many services.
	svcs []string
}

// maxPolicyServices bounds the service prefilter of a policy.
const maxPolicyServices = 8

// Statement is a compiled statement. Its methods are the read-only view
// that other packages use to reason about grants (for example "allowed on
// which resources, conditionally or not") without re-parsing.
type Statement struct {
	policy      *Policy
	index       int
	doc         *StatementDoc
	effect      Effect
	actions     actionSet
	notAction   bool
	resources   []pattern
	notResource bool
	anyResource bool // no Resource/NotResource element (trust policies)
	principal   *principalSet
	notPrinc    bool
	conds       []condition
}

// Compile compiles a parsed document. name identifies the policy in
// explanations (for example a managed policy name or an ARN).
func Compile(name string, doc *Document) (*Policy, error) {
	if doc == nil {
		return nil, fmt.Errorf("compile policy %q: nil document", name)
	}
	p := &Policy{name: name, doc: doc, stmts: make([]Statement, len(doc.Statements))}
	vars := doc.Version == VersionCurrent
	for i := range doc.Statements {
		sd := &doc.Statements[i]
		st := &p.stmts[i]
		st.policy, st.index, st.doc, st.effect = p, i, sd, sd.Effect
		if st.effect != EffectAllow && st.effect != EffectDeny {
			return nil, fmt.Errorf("compile policy %q: %w", name, &ParseError{Field: fmt.Sprintf("Statement[%d].Effect", i), Offset: sd.Offset, Err: fmt.Errorf("%w Effect", ErrMissingElement)})
		}
		acts := sd.Action
		if sd.NotAction != nil {
			acts, st.notAction = sd.NotAction, true
		}
		st.actions = compileActions(acts)
		res := sd.Resource
		switch {
		case sd.NotResource != nil:
			res, st.notResource = sd.NotResource, true
		case sd.Resource == nil:
			st.anyResource = true
		}
		for _, r := range res {
			st.resources = append(st.resources, compileResourcePattern(r, vars))
		}
		if sd.NotPrincipal != nil {
			st.principal, st.notPrinc = compilePrincipals(sd.NotPrincipal), true
		} else {
			st.principal = compilePrincipals(sd.Principal)
		}
		for j := range sd.Conditions {
			c, err := compileCondition(&sd.Conditions[j], vars)
			if err != nil {
				return nil, fmt.Errorf("compile policy %q: %w", name, &ParseError{Field: fmt.Sprintf("Statement[%d].Condition.%s.%s", i, sd.Conditions[j].Operator, sd.Conditions[j].Key), Offset: sd.Offset, Err: err})
			}
			st.conds = append(st.conds, c)
		}
	}
	p.svcs = policyServices(p.stmts)
	return p, nil
}

func policyServices(stmts []Statement) []string {
	var svcs []string
	for i := range stmts {
		st := &stmts[i]
		if st.notAction || st.actions.svcs == nil {
			return nil
		}
		for _, s := range st.actions.svcs {
			if !slices.Contains(svcs, s) {
				svcs = append(svcs, s)
			}
		}
	}
	if len(svcs) == 0 || len(svcs) > maxPolicyServices {
		return nil
	}
	return svcs
}

// skips reports whether no statement of p can match a request for the
// service lowerSvc (lower case).
func (p *Policy) skips(lowerSvc []byte) bool {
	if p.svcs == nil {
		return false
	}
	for _, s := range p.svcs {
		if string(lowerSvc) == s {
			return false
		}
	}
	return true
}

// CompileJSON parses and compiles a policy document.
func CompileJSON(name string, data []byte) (*Policy, error) {
	doc, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return Compile(name, doc)
}

// Name is the name given to Compile.
func (p *Policy) Name() string { return p.name }

// Document is the parsed document. Do not modify it.
func (p *Policy) Document() *Document { return p.doc }

// Statements are the compiled statements in document order. Do not modify
// the slice.
func (p *Policy) Statements() []Statement { return p.stmts }

// HasPrincipal reports whether any statement has a Principal or
// NotPrincipal element. Resource-based policies, trust policies and RCPs
// have them; identity-based policies, boundaries, session policies and SCPs
// must not.
func (p *Policy) HasPrincipal() bool {
	for i := range p.stmts {
		if p.stmts[i].principal != nil {
			return true
		}
	}
	return false
}

// PolicyName is the name of the policy the statement belongs to.
func (s *Statement) PolicyName() string { return s.policy.name }

// Index is the statement's 0-based position in its policy.
func (s *Statement) Index() int { return s.index }

// Sid is the statement's Sid ("" when absent).
func (s *Statement) Sid() string { return s.doc.Sid }

// Effect is Allow or Deny.
func (s *Statement) Effect() Effect { return s.effect }

// Doc is the statement as parsed. Do not modify it.
func (s *Statement) Doc() *StatementDoc { return s.doc }

// Actions returns the Action patterns, or the NotAction patterns with
// not=true.
func (s *Statement) Actions() (patterns []string, not bool) {
	if s.notAction {
		return s.doc.NotAction, true
	}
	return s.doc.Action, false
}

// MatchesAction reports whether the statement's Action/NotAction element
// covers action (case-insensitive; NotAction already applied).
// It allocates nothing for actions up to 128 bytes.
func (s *Statement) MatchesAction(action string) bool {
	var buf [lowerBuf]byte
	return s.actions.match(action, appendLower(buf[:0], action), strings.IndexByte(action, ':')) != s.notAction
}

// Resources returns the Resource patterns, or the NotResource patterns with
// not=true. Both nil and not=false mean the statement has neither element
// and applies to any resource.
func (s *Statement) Resources() (patterns []string, not bool) {
	if s.notResource {
		return s.doc.NotResource, true
	}
	return s.doc.Resource, false
}

// MatchesResource reports whether the Resource/NotResource element covers
// resource, resolving policy variables from ctx (which may be nil).
func (s *Statement) MatchesResource(resource string, ctx *Context) bool {
	return s.matchResource(resource, ctx)
}

// ResourceHasVariables reports whether a Resource/NotResource pattern uses a
// policy variable, so that matching depends on the request context.
func (s *Statement) ResourceHasVariables() bool {
	for i := range s.resources {
		if s.resources[i].hasVars() {
			return true
		}
	}
	return false
}

// HasConditions reports whether the statement has a Condition element.
func (s *Statement) HasConditions() bool { return len(s.conds) > 0 }

// Conditions are the statement's operator/key pairs as parsed.
func (s *Statement) Conditions() []ConditionDoc { return s.doc.Conditions }

// ConditionsMatch reports whether every condition holds in ctx.
func (s *Statement) ConditionsMatch(ctx *Context) bool {
	for i := range s.conds {
		if !s.conds[i].eval(ctx) {
			return false
		}
	}
	return true
}

// Principal returns the Principal element, or the NotPrincipal element with
// not=true; nil when the statement has neither.
func (s *Statement) Principal() (p *Principals, not bool) {
	if s.notPrinc {
		return s.doc.NotPrincipal, true
	}
	return s.doc.Principal, false
}

// MatchesPrincipal reports how the Principal element names principal (an
// ARN, account id or service principal). For NotPrincipal it returns
// PrincipalExact when the statement applies to principal (principal is not
// excluded) and PrincipalNoMatch otherwise. A statement without either
// element returns PrincipalExact.
func (s *Statement) MatchesPrincipal(principal string) PrincipalMatch {
	pi := parsePrincipal(principal)
	return s.principalMatch(&pi)
}

func (s *Statement) principalMatch(pi *principalInfo) PrincipalMatch {
	switch {
	case s.principal == nil:
		return PrincipalExact
	case s.notPrinc:
		if s.principal.excludes(pi) {
			return PrincipalNoMatch
		}
		return PrincipalExact
	}
	return s.principal.match(pi)
}

func (s *Statement) matchResource(resource string, ctx *Context) bool {
	if s.anyResource {
		return true
	}
	m := false
	for i := range s.resources {
		if s.resources[i].match(resource, ctx, false) {
			m = true
			break
		}
	}
	return m != s.notResource
}

// actionSet matches actions against Action patterns. Small lists are
// scanned with a cheap service-prefix check first; large lists
// (ReadOnlyAccess has thousands of patterns) are indexed by service.
type actionSet struct {
	any   bool
	svcs  []string            // small sets without service wildcards: their distinct services
	list  []actionPattern     // small sets
	exact map[string]struct{} // large sets: lower-case patterns without wildcards
	bySvc map[string][]string // large sets: service → lower-case action-name patterns
	other []string            // large sets: lower-case patterns with a wildcard in the service
}

// actionPattern is a lower-case pattern split at the first colon.
type actionPattern struct {
	svc, name string
	svcWild   bool // the service part has a wildcard: match the whole action
	full      string
}

const indexActionsFrom = 8

func compileActions(acts []string) actionSet {
	var a actionSet
	for _, s := range acts {
		if s == "*" {
			a.any = true
			return a
		}
	}
	if len(acts) < indexActionsFrom {
		for _, s := range acts {
			l := strings.ToLower(s)
			c := strings.IndexByte(l, ':')
			ap := actionPattern{full: l, svcWild: c < 0 || strings.ContainsAny(l[:max(c, 0)], "*?")}
			if !ap.svcWild {
				ap.svc, ap.name = l[:c], l[c+1:]
			}
			a.list = append(a.list, ap)
		}
		for _, p := range a.list {
			if p.svcWild {
				a.svcs = nil
				break
			}
			if !slices.Contains(a.svcs, p.svc) {
				a.svcs = append(a.svcs, p.svc)
			}
		}
		return a
	}
	a.exact = map[string]struct{}{}
	a.bySvc = map[string][]string{}
	for _, s := range acts {
		l := strings.ToLower(s)
		c := strings.IndexByte(l, ':')
		switch {
		case c < 0 || strings.ContainsAny(l[:c], "*?"):
			a.other = append(a.other, l)
		case !strings.ContainsAny(l[c+1:], "*?"):
			a.exact[l] = struct{}{}
		default:
			a.bySvc[l[:c]] = append(a.bySvc[l[:c]], l[c+1:])
		}
	}
	return a
}

// match reports whether action matches. lower is the action in lower case
// and c the index of its first colon (-1 if none): comparisons and map
// look-ups use string(lower[…]), which does not allocate; the glob match
// folds case itself.
func (a *actionSet) match(action string, lower []byte, c int) bool {
	if a.any {
		return true
	}
	if a.exact == nil {
		if a.svcs != nil {
			if c < 0 {
				return false
			}
			found := false
			for _, s := range a.svcs {
				if string(lower[:c]) == s {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		for i := range a.list {
			p := &a.list[i]
			if p.svcWild {
				if globLower(p.full, action) {
					return true
				}
				continue
			}
			if c >= 0 && string(lower[:c]) == p.svc && globLower(p.name, action[c+1:]) {
				return true
			}
		}
		return false
	}
	if _, ok := a.exact[string(lower)]; ok {
		return true
	}
	if c >= 0 {
		for _, p := range a.bySvc[string(lower[:c])] {
			if globLower(p, action[c+1:]) {
				return true
			}
		}
	}
	for _, p := range a.other {
		if globLower(p, action) {
			return true
		}
	}
	return false
}

// CheckLayer reports the first statement whose Principal element does not
// fit the layer: identity-based policies, boundaries, session policies and
// SCPs must not have Principal or NotPrincipal; a resource-based policy
// needs one in every statement. RCPs may have either. In a resource-based
// policy or an RCP, NotPrincipal with Allow is an error wrapping
// ErrUnsupported: the IAM User Guide (reference_policies_elements_notprincipal)
// says "NotPrincipal must be used with "Effect":"Deny". Using it with
// "Effect":"Allow" is not supported", so no decision about such a statement
// can be trusted. (Compile itself accepts it, so that the audit can still
// read and flag it in a role trust policy.)
func (p *Policy) CheckLayer(l Layer) error {
	for i := range p.stmts {
		st := &p.stmts[i]
		field := fmt.Sprintf("Statement[%d].Principal", i)
		if (l == LayerResource || l == LayerRCP) && st.notPrinc && st.effect == EffectAllow {
			return fmt.Errorf("policy %q: %w", p.name, &ParseError{Field: fmt.Sprintf("Statement[%d].NotPrincipal", i), Offset: st.doc.Offset,
				Err: fmt.Errorf("%w: NotPrincipal with \"Effect\": \"Allow\" (NotPrincipal must be used with Deny; to allow everyone but some principals, use Principal \"*\" with an ArnNotEquals condition on aws:PrincipalArn)", ErrUnsupported)})
		}
		switch l {
		case LayerIdentity, LayerBoundary, LayerSession, LayerSCP:
			if st.principal != nil {
				if st.notPrinc {
					field = fmt.Sprintf("Statement[%d].NotPrincipal", i)
				}
				return fmt.Errorf("policy %q: %w", p.name, &ParseError{Field: field, Offset: st.doc.Offset, Err: fmt.Errorf("%w: a %s policy has no Principal", ErrWrongLayer, l)})
			}
		case LayerResource:
			if st.principal == nil {
				return fmt.Errorf("policy %q: %w", p.name, &ParseError{Field: field, Offset: st.doc.Offset, Err: fmt.Errorf("%w: a resource-based policy needs Principal or NotPrincipal", ErrMissingElement)})
			}
		}
	}
	return nil
}
