package model

import (
	"fmt"
	"strings"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/policy"
)

// neverApplies is the condition that replaces a Deny's conditions in
// Permissive: Null with false holds only when the key is present, and no
// request carries this key.
var neverApplies = policy.ConditionDoc{Operator: "Null", Key: "iamd:ConditionalDenyAssumedNotToApply", Values: []string{"false"}}

// Permissive returns p read the way the observed calls show it was met:
// an Allow statement's conditions treated as satisfied and a Deny with
// conditions as not applying. The usage index keeps no request context
// (region, source IP, MFA, tags) per fact, so a condition cannot be
// decided for a past call; a call that was allowed had its Allow
// conditions met and its conditional Denies unmet, and a suggestion keeps
// every condition as written, so reading both sides this way compares
// like with like. It is also the cautious reading for "is this action
// denied everywhere": it lets the most through. Statements keep their
// order, index and Sid, so explanations name the original statements. A
// policy without conditions is returned as is.
func Permissive(p *policy.Policy) (*policy.Policy, error) {
	doc := p.Document()
	conditional := false
	for i := range doc.Statements {
		if len(doc.Statements[i].Conditions) > 0 {
			conditional = true
			break
		}
	}
	if !conditional {
		return p, nil
	}
	cp := *doc
	cp.Statements = append([]policy.StatementDoc(nil), doc.Statements...)
	for i := range cp.Statements {
		st := &cp.Statements[i]
		switch {
		case len(st.Conditions) == 0:
		case st.Effect == policy.EffectAllow:
			st.Conditions = nil
		default:
			st.Conditions = []policy.ConditionDoc{neverApplies}
		}
	}
	q, err := policy.Compile(p.Name(), &cp)
	if err != nil {
		return nil, fmt.Errorf("permissive reading of %s: %w", p.Name(), err)
	}
	return q, nil
}

// permissive is Permissive, cached per policy.
func (m *Model) permissive(p *policy.Policy) *policy.Policy {
	if q, ok := m.permissives.Load(p); ok {
		return q.(*policy.Policy)
	}
	q, err := Permissive(p)
	if err != nil {
		// Dropping conditions from a policy that compiled cannot fail to
		// compile; keep the original rather than lose it.
		q = p
	}
	m.permissives.Store(p, q)
	return q
}

// IdentityPolicies returns the compiled identity-based policies of p: its
// inline and attached policies and, for a user, those of its groups.
// Unknown ones (not in the snapshot, unparsable) are left out.
func (m *Model) IdentityPolicies(p *iam.Principal) []*policy.Policy {
	var out []*policy.Policy
	add := func(q *iam.Principal) {
		for _, in := range q.Inline {
			if in.Policy != nil {
				out = append(out, in.Policy)
			}
		}
		for _, at := range q.Attached {
			if at.Known() {
				out = append(out, at.Policy.Policy)
			}
		}
	}
	add(p)
	for _, gn := range p.Groups {
		if g, ok := m.Account.Group(gn); ok {
			add(g)
		}
	}
	return out
}

// Set returns the policy set p's requests are evaluated against, read
// permissively (Permissive): its identity policies (IdentityPolicies),
// the permissions boundary and the
// organization's SCPs and RCPs (not for service-linked roles, which they
// do not govern). Resource-based policies are not part of the model: the
// set is the identity side of a same-account request, the part a
// principal's own policies decide and a suggestion may change. The root
// user gets the identity policies it has none of; the engine allows it
// everything that SCPs allow.
func (m *Model) Set(p *iam.Principal) *policy.Set { return m.SetWith(p, m.IdentityPolicies(p)) }

// SetWith is Set with identity as all of p's identity-based policies
// (none when empty): how a suggested policy is evaluated.
func (m *Model) SetWith(p *iam.Principal, identity []*policy.Policy) *policy.Set {
	s := &policy.Set{}
	if p.Kind != iam.KindRoot {
		for _, q := range identity {
			s.Identity = append(s.Identity, m.permissive(q))
		}
	}
	if p.Boundary != nil && p.Boundary.Known() {
		s.Boundary = []*policy.Policy{m.permissive(p.Boundary.Policy.Policy)}
	}
	if m.Org != nil && !p.ServiceLinked() {
		s.SCPs = m.levels(m.Org.SCPs)
		s.RCPs = m.levels(m.Org.RCPs)
	}
	return s
}

func (m *Model) levels(in []policy.OrgLevel) []policy.OrgLevel {
	out := make([]policy.OrgLevel, len(in))
	for i, lv := range in {
		out[i] = policy.OrgLevel{OrgIdentifier: lv.OrgIdentifier}
		for _, q := range lv.Policies {
			out[i].Policies = append(out[i].Policies, m.permissive(q))
		}
	}
	return out
}

// Request returns the request of principal p (user, role or root) calling
// action on resource, as evaluated by Set: a role calls through a session
// (arn:aws:sts::ACCOUNT:assumed-role/NAME/iamd-check), and the context
// holds the principal keys that policy variables read (aws:username,
// aws:userid, aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType).
func Request(p *iam.Principal, action, resource string) policy.Request {
	acct := iam.AccountOf(p.ARN)
	r := policy.Request{Principal: p.ARN, Action: action, Resource: resource}
	r.Context.SetTyped("aws:PrincipalArn", policy.TypeARN, p.ARN)
	r.Context.Set("aws:PrincipalAccount", acct)
	switch p.Kind {
	case iam.KindUser:
		r.Context.Set("aws:username", p.Name)
		r.Context.Set("aws:PrincipalType", "User")
		if p.ID != "" {
			r.Context.Set("aws:userid", p.ID)
		}
	case iam.KindRole:
		r.Principal = "arn:aws:sts::" + acct + ":assumed-role/" + p.Name + "/" + SessionName
		r.Context.Set("aws:PrincipalType", "AssumedRole")
		if p.ID != "" {
			r.Context.Set("aws:userid", p.ID+":"+SessionName)
		}
	case iam.KindRoot:
		r.Context.Set("aws:PrincipalType", "Account")
	}
	if resource == "" {
		r.Resource = "*"
	}
	return r
}

// SessionName is the role session name of the requests Request builds.
const SessionName = "iamd-check"

// ServiceOf returns the service prefix of an action ("s3:GetObject" → "s3").
func ServiceOf(action string) string {
	svc, _, _ := strings.Cut(action, ":")
	return strings.ToLower(svc)
}
