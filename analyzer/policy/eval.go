package policy

import (
	"fmt"
	"strings"
)

// OrgLevel is one level of an AWS Organizations hierarchy (the root, an OU,
// or the account) with the SCPs or RCPs attached there.
type OrgLevel struct {
	OrgIdentifier string
	Policies      []*Policy
}

// Set is every policy that applies to one request.
type Set struct {
	// Identity holds the principal's identity-based policies (inline and
	// managed, attached directly or through groups).
	Identity []*Policy
	// Boundary is the permissions boundary; empty means none is attached.
	Boundary []*Policy
	// Session holds the session policies passed when the session was
	// created; empty means none.
	Session []*Policy
	// SCPs are the service control policies that govern the principal's
	// account, one level per node from the root down to the account; empty
	// means the account is not in an organization (or is its management
	// account, which SCPs do not affect). Every level must allow. They are
	// skipped for service-linked roles.
	SCPs []OrgLevel
	// RCPs are the resource control policies that govern the resource's
	// account, levels as for SCPs; empty means none apply. The caller
	// decides whether they apply: RCPs cover only the services listed in
	// orgs_manage_policies_rcps and not resources in the management
	// account. They are skipped for service-linked roles.
	RCPs []OrgLevel
	// Resource is the resource-based policy (bucket policy, key policy,
	// role trust policy, …); nil means none.
	Resource *Policy
	// ResourcePolicyRequired marks services that authorize only through the
	// resource-based policy, in the same account too: a role trust policy
	// for sts:AssumeRole*, a KMS key policy for operations on a key
	// (id_roles_terms-and-concepts, kms key-policy-default). Identity
	// policies then grant only when the resource policy names the account
	// (delegation). RequiresResourcePolicy says when to set it.
	ResourcePolicyRequired bool
}

// RequiresResourcePolicy reports whether AWS authorizes action on resource
// only through its resource-based policy: assuming a role (the trust
// policy) and KMS operations on a key (the key policy).
func RequiresResourcePolicy(action, resource string) bool {
	svc, name, ok := strings.Cut(action, ":")
	switch {
	case !ok:
		return false
	case strings.EqualFold(svc, "sts"):
		return len(name) >= len("AssumeRole") && strings.EqualFold(name[:len("AssumeRole")], "AssumeRole") && strings.Contains(resource, ":role/")
	case strings.EqualFold(svc, "kms"):
		return strings.HasPrefix(resource, "arn:") && strings.Contains(resource, ":key/")
	}
	return false
}

// StatementRef names a statement in an explanation.
type StatementRef struct {
	Layer  Layer
	Level  int    // SCP/RCP level, 0 = root; 0 for other layers
	Policy string // the name given to Compile
	Sid    string
	Index  int // 0-based statement index in the policy
	Effect Effect
}

func (r StatementRef) String() string {
	where := r.Layer.String()
	if r.Layer == LayerSCP || r.Layer == LayerRCP {
		where = fmt.Sprintf("%s level %d", where, r.Level)
	}
	id := r.Sid
	if id == "" {
		id = fmt.Sprintf("#%d", r.Index)
	}
	return fmt.Sprintf("%s %s %s %s", where, r.Policy, id, r.Effect)
}

// Decision is the result of an evaluation and its explanation. Reuse one
// Decision across calls: Evaluate truncates and appends to Allows and
// Denies, so after warm-up it allocates nothing.
type Decision struct {
	Result Result
	// Reason says in a few words which rule decided.
	Reason string
	// Allows lists every Allow statement that applied to the request, in
	// every layer (an ImplicitlyDenied decision can list identity allows
	// that a boundary cut off).
	Allows []StatementRef
	// Denies lists every Deny statement that applied.
	Denies []StatementRef
	// Rule is the AWS service rule that decided instead of the policies
	// (Reason then gives its text), or that refuses the request too when an
	// explicit deny decided; RuleNone for almost every request.
	Rule ServiceRule
}

// Reset clears d, keeping its buffers.
func (d *Decision) Reset() {
	d.Result, d.Reason, d.Rule = ImplicitlyDenied, "", RuleNone
	d.Allows, d.Denies = d.Allows[:0], d.Denies[:0]
}

// Reasons reported in Decision.Reason.
const (
	ReasonExplicitDeny      = "explicit deny"
	ReasonSCPNoAllow        = "an SCP level allows nothing for this request"
	ReasonRCPNoAllow        = "an RCP level allows nothing for this request"
	ReasonResourceGrant     = "same-account resource-based policy names the principal"
	ReasonResourceRoleGrant = "same-account resource-based policy names the role"
	ReasonIdentityAllow     = "identity-based policy allows"
	ReasonRootUser          = "account root user"
	ReasonCrossAccount      = "cross-account: identity-based and resource-based policies allow"
	ReasonNoIdentityAllow   = "no identity-based policy allows"
	ReasonBoundary          = "permissions boundary does not allow"
	ReasonSession           = "session policy does not allow"
	ReasonNoResourceAllow   = "cross-account: no resource-based policy allows"
	ReasonResourceRequired  = "the trust or key policy does not allow; identity-based policies alone cannot grant this"
)

// lowerBuf is the stack buffer size for lower-casing the action; longer
// actions (none exist today) fall back to an allocation.
const lowerBuf = 128

type evalState struct {
	req    *Request
	lower  []byte // the action in lower case (ASCII)
	colon  int    // index of the first ':' in the action, -1 if none
	pi     principalInfo
	d      *Decision
	resBst PrincipalMatch // best principal match among resource-policy allows
	// bounded is true when the caller has a permissions boundary: a Deny
	// with NotPrincipal then applies to it whatever the NotPrincipal lists
	// (reference_policies_elements_notprincipal, access_policies_boundaries).
	bounded bool
}

// Evaluate decides req against the set, following the AWS IAM User Guide,
// "Policy evaluation logic" (reference_policies_evaluation-logic). d may be
// nil when no explanation is needed; otherwise it is reset and filled.
// After the policies, the few AWS service rules that decide regardless of
// them apply (ServiceRule: calls that need no permission, resources only
// AWS may change).
// Evaluate only reads the set and the request: goroutines may share them,
// each with its own Decision.
func (s *Set) Evaluate(req *Request, d *Decision) Result {
	var buf [lowerBuf]byte
	e := evalState{req: req, pi: parsePrincipal(req.Principal), d: d, bounded: len(s.Boundary) > 0}
	e.lower = appendLower(buf[:0], req.Action)
	e.colon = strings.IndexByte(req.Action, ':')
	if d != nil {
		d.Reset()
	}
	r, why := s.decide(&e)
	// Service rules exist only for iam:, kms: and sts: actions: every other
	// request pays this one comparison.
	if e.colon == 3 {
		if rule := serviceRule(&e.pi, req.Action, req.Resource); rule != RuleNone {
			r, why = applyRule(rule, r, why)
			if d != nil {
				d.Rule = rule
			}
		}
	}
	if d != nil {
		d.Result, d.Reason = r, why
	}
	return r
}

func (s *Set) decide(e *evalState) (Result, string) {
	// Evaluate every applicable policy first: an explicit deny in any of
	// them ends the evaluation ("Deny evaluation").
	idAllow, idDeny := e.layer(s.Identity, LayerIdentity, 0)
	bAllow, bDeny := e.layer(s.Boundary, LayerBoundary, 0)
	sAllow, sDeny := e.layer(s.Session, LayerSession, 0)
	deny := idDeny || bDeny || sDeny
	// SCPs and RCPs do not apply to service-linked roles
	// (orgs_manage_policies_scps: "SCPs do not affect service-linked
	// roles"; orgs_manage_policies_rcps likewise).
	slr := isServiceLinked(&e.pi)
	scpOK, rcpOK := true, true
	if !slr {
		for i := range s.SCPs {
			a, dn := e.layer(s.SCPs[i].Policies, LayerSCP, i)
			scpOK, deny = scpOK && a, deny || dn
		}
		for i := range s.RCPs {
			a, dn := e.layer(s.RCPs[i].Policies, LayerRCP, i)
			rcpOK, deny = rcpOK && a, deny || dn
		}
	}
	if s.Resource != nil {
		deny = e.resourceLayer(s.Resource) || deny
	}
	if deny {
		return ExplicitlyDenied, ReasonExplicitDeny
	}
	// "Organizations SCPs/RCPs": every level from the root to the account
	// must allow, or the request is implicitly denied.
	if !scpOK {
		return ImplicitlyDenied, ReasonSCPNoAllow
	}
	if !rcpOK {
		return ImplicitlyDenied, ReasonRCPNoAllow
	}
	boundaryOK := len(s.Boundary) == 0 || bAllow
	sessionOK := len(s.Session) == 0 || sAllow
	sameAccount := e.req.ResourceAccount == "" || e.pi.account == "" || e.req.ResourceAccount == e.pi.account ||
		e.req.ResourceAccount == "aws"
	if sameAccount {
		// Same account, resource-based policy (reference_policies_evaluation-logic
		// and access_policies_boundaries): a policy naming the IAM user or
		// the role session (or any principal, "*") grants on its own, not
		// limited by an implicit deny in identity policies, the boundary or
		// the session policy. A policy naming the role ARN is limited by an
		// implicit deny in the boundary and the session policy, but not in
		// identity policies. A policy naming the account delegates to the
		// identity-based policies.
		switch e.resBst {
		case PrincipalExact:
			return Allowed, ReasonResourceGrant
		case PrincipalRole:
			switch {
			case !boundaryOK:
				return ImplicitlyDenied, ReasonBoundary
			case !sessionOK:
				return ImplicitlyDenied, ReasonSession
			}
			return Allowed, ReasonResourceRoleGrant
		case PrincipalNoMatch:
			if s.ResourcePolicyRequired {
				return ImplicitlyDenied, ReasonResourceRequired
			}
		}
	}
	if e.pi.kind == pkRoot {
		// The account root user has no identity-based policies and needs
		// none: it is limited only by SCPs, RCPs and explicit denies, and
		// across accounts by the other account's resource-based policy.
		idAllow, boundaryOK, sessionOK = true, true, true
		if sameAccount {
			return Allowed, ReasonRootUser
		}
	}
	// Identity-based policies, intersected with the permissions boundary
	// and the session policy when present.
	switch {
	case !idAllow:
		return ImplicitlyDenied, ReasonNoIdentityAllow
	case !boundaryOK:
		return ImplicitlyDenied, ReasonBoundary
	case !sessionOK:
		return ImplicitlyDenied, ReasonSession
	}
	if sameAccount {
		return Allowed, ReasonIdentityAllow
	}
	// Cross-account (reference_policies_evaluation-logic-cross-account):
	// the trusting account's resource-based policy must allow too; naming
	// the trusted account is enough.
	if e.resBst == PrincipalNoMatch {
		return ImplicitlyDenied, ReasonNoResourceAllow
	}
	return Allowed, ReasonCrossAccount
}

// layer evaluates policies that apply to the caller without a Principal
// element (RCPs carry Principal "*" or NotPrincipal, which is honoured).
func (e *evalState) layer(pols []*Policy, layer Layer, level int) (allow, deny bool) {
	for _, p := range pols {
		if e.colon >= 0 && p.skips(e.lower[:e.colon]) {
			continue
		}
		for i := range p.stmts {
			st := &p.stmts[i]
			if !e.applies(st) {
				continue
			}
			if st.principal != nil && st.principalMatch(&e.pi) == PrincipalNoMatch && !e.boundedDeny(st) {
				continue
			}
			e.record(st, layer, level)
			if st.effect == EffectDeny {
				deny = true
			} else {
				allow = true
			}
		}
	}
	return allow, deny
}

// resourceLayer evaluates the resource-based policy, keeping the strongest
// principal match of its allows; it reports an applicable deny. A Deny
// naming the caller's account applies to every principal in it.
func (e *evalState) resourceLayer(p *Policy) (deny bool) {
	if e.colon >= 0 && p.skips(e.lower[:e.colon]) {
		return false
	}
	for i := range p.stmts {
		st := &p.stmts[i]
		if !e.applies(st) {
			continue
		}
		m := st.principalMatch(&e.pi)
		if m == PrincipalNoMatch && !e.boundedDeny(st) {
			continue
		}
		e.record(st, LayerResource, 0)
		if st.effect == EffectDeny {
			deny = true
		} else if m > e.resBst {
			e.resBst = m
		}
	}
	return deny
}

// boundedDeny reports whether st is a Deny with NotPrincipal that applies
// because the caller has a permissions boundary: such a statement "will
// always deny any IAM principal that has a permissions boundary policy
// attached, regardless of the values specified in the NotPrincipal element"
// (reference_policies_elements_notprincipal).
func (e *evalState) boundedDeny(st *Statement) bool {
	return e.bounded && st.notPrinc && st.effect == EffectDeny
}

// applies checks action, resource and conditions, cheapest first.
func (e *evalState) applies(st *Statement) bool {
	if st.actions.match(e.req.Action, e.lower, e.colon) == st.notAction {
		return false
	}
	if !st.matchResource(e.req.Resource, &e.req.Context) {
		return false
	}
	for i := range st.conds {
		if !st.conds[i].eval(&e.req.Context) {
			return false
		}
	}
	return true
}

func (e *evalState) record(st *Statement, layer Layer, level int) {
	if e.d == nil {
		return
	}
	ref := StatementRef{Layer: layer, Level: level, Policy: st.policy.name, Sid: st.doc.Sid, Index: st.index, Effect: st.effect}
	if st.effect == EffectDeny {
		e.d.Denies = append(e.d.Denies, ref)
	} else {
		e.d.Allows = append(e.d.Allows, ref)
	}
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
