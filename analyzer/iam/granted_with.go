package iam

import "github.com/iamd/iamd/analyzer/policy"

// GrantedWith returns the granted set p would have if identity were all
// of its identity-based policies (its own and those of its groups
// replaced), with its permissions boundary and the organization policies
// unchanged: how a suggested policy is compared with today's grants. It
// is not cached.
func (g *Granter) GrantedWith(p *Principal, identity []*policy.Policy) *GrantedSet {
	var boundary *policy.Policy
	var unknown []string
	if p.Boundary != nil {
		if p.Boundary.Known() {
			boundary = p.Boundary.Policy.Policy
		} else {
			unknown = append(unknown, p.Boundary.ARN)
		}
	}
	s := g.compute(identity, boundary, !p.ServiceLinked(), p.ServiceLinked())
	s.Principal, s.Kind, s.Unknown = p.ARN, p.Kind, unknown
	return s
}
