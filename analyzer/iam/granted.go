package iam

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/policy"
)

// Narrowing is a statement that limits a granted action without removing
// it: a Deny with conditions or on specific resources, a boundary or SCP
// that allows the action only on some resources or under conditions; or an
// AWS service rule that refuses the action on resources only AWS may change
// (Kind NarrowAWSRule, Rule set, Statement zero).
type Narrowing struct {
	Statement policy.StatementRef
	// Kind is one of the Narrow… constants.
	Kind string
	// Resources are the statement's Resource patterns (NotResource
	// patterns are prefixed with "not "); for an AWS rule, the refused
	// resources, prefixed with "not ".
	Resources []string `json:",omitempty"`
	// Rule names the AWS service rule (policy.ServiceRule) of a
	// NarrowAWSRule narrowing.
	Rule string `json:",omitempty"`
}

// Source names what narrows: the statement, or the AWS rule.
func (n Narrowing) Source() string {
	if n.Kind == NarrowAWSRule {
		return "AWS rule " + n.Rule
	}
	return n.Statement.String()
}

// Kinds of Narrowing.
const (
	NarrowDenyCondition      = "deny-with-condition"
	NarrowDenyResources      = "deny-on-resources"
	NarrowBoundaryResources  = "boundary-limits-resources"
	NarrowBoundaryCondition  = "boundary-condition"
	NarrowSCPResources       = "scp-limits-resources"
	NarrowSCPCondition       = "scp-condition"
	NarrowRCPDeny            = "rcp-deny"
	NarrowResourceIsVariable = "deny-resource-uses-variables"
	// NarrowAWSRule: AWS refuses the action on some resources to every
	// customer principal whatever the policies allow (AWS-managed
	// policies, /aws-reserved/ roles, alias/aws/ KMS aliases;
	// policy.Refusals).
	NarrowAWSRule = "aws-refuses"
)

// Grant is one action granted to a principal.
type Grant struct {
	Action string // canonical "service:Name"
	ID     int    // dense catalog id
	// AllResources: allowed on every resource ("*"), unconditionally as far
	// as resources go, with nothing narrowing the resource scope.
	AllResources bool
	// Resources are the Resource patterns of the allowing statements (the
	// boundary's or SCP's patterns when those are narrower than "*").
	Resources []string
	// Conditional: no allowing path is free of conditions, so the grant
	// depends on the request context.
	Conditional bool
	// Allows are the identity-based (or root) statements that allow it.
	Allows []policy.StatementRef
	// Narrowed lists the statements that limit it without removing it.
	Narrowed []Narrowing
}

// GrantedSet is the set of catalog actions a principal may call on at
// least some resource.
type GrantedSet struct {
	Principal string
	Kind      Kind
	// Unknown lists policies that apply but whose content is unknown
	// (not in the snapshot, or unparsable): the real set may be larger
	// (unknown allows) or smaller (unknown denies or boundary).
	Unknown []string
	// UnknownPatterns lists Action/NotAction patterns of applying
	// statements that match no catalog action (they grant nothing here).
	UnknownPatterns []string

	cat     *catalog.Catalog
	bits    bitset
	classes []*grantClass
	// grantable is how many catalog actions any policy can grant (the
	// catalog less the calls that need no permission).
	grantable int
}

type grantClass struct {
	bits bitset
	g    Grant // Action and ID unset
	// awsRuleOnly: AllResources would hold but for resources that AWS
	// refuses to every customer principal.
	awsRuleOnly bool
}

// Len returns the number of granted actions.
func (s *GrantedSet) Len() int { return s.bits.count() }

// Has reports whether the action (a "service:Name" name) is granted.
func (s *GrantedSet) Has(action string) bool {
	id, ok := s.cat.ID(action)
	return ok && s.bits.has(id)
}

// HasID reports whether the action with catalog id id is granted.
func (s *GrantedSet) HasID(id int) bool { return s.bits.has(id) }

// Lookup returns the grant of one action.
func (s *GrantedSet) Lookup(action string) (Grant, bool) {
	id, ok := s.cat.ID(action)
	if !ok || !s.bits.has(id) {
		return Grant{}, false
	}
	return s.grantAt(id), true
}

func (s *GrantedSet) grantAt(id int) Grant {
	for _, c := range s.classes {
		if c.bits.has(id) {
			g := c.g
			g.ID = id
			g.Action = s.cat.ActionAt(id).FullName()
			return g
		}
	}
	return Grant{}
}

// Grants returns every grant in catalog id order (service, then action
// name). The slices inside grants are shared; do not modify them.
func (s *GrantedSet) Grants() []Grant {
	out := make([]Grant, 0, s.Len())
	if len(s.classes) == 1 {
		c := s.classes[0]
		c.bits.each(func(id int) {
			g := c.g
			g.ID, g.Action = id, s.cat.ActionAt(id).FullName()
			out = append(out, g)
		})
		return out
	}
	// Walk ids in order, finding each id's class through a word-level
	// index: classes are disjoint, so each set bit belongs to one.
	s.bits.each(func(id int) {
		w, m := id>>6, uint64(1)<<(uint(id)&63)
		for _, c := range s.classes {
			if c.bits[w]&m != 0 {
				g := c.g
				g.ID, g.Action = id, s.cat.ActionAt(id).FullName()
				out = append(out, g)
				return
			}
		}
	})
	return out
}

// Service returns the grants of one service prefix.
func (s *GrantedSet) Service(prefix string) []Grant {
	var out []Grant
	for _, g := range s.Grants() {
		if strings.EqualFold(g.Action[:strings.IndexByte(g.Action, ':')], prefix) {
			out = append(out, g)
		}
	}
	return out
}

// stmtInfo is what the granted-set computation needs of one statement.
type stmtInfo struct {
	st       *policy.Statement
	ref      policy.StatementRef
	bits     bitset
	allRes   bool // Resource "*" or no Resource element, no variables
	cond     bool
	res      []string
	unknowns []string
}

// Granter computes granted sets for the principals of one account. It
// caches per-statement action bitsets and per-policy-combination results,
// so computing every principal's set is cheap. Not safe for concurrent use.
type Granter struct {
	cat   *catalog.Catalog
	acct  *Account
	org   *Org
	stmts map[*policy.Statement]*stmtInfo
	cache map[string]*GrantedSet
	root  *policy.Policy
	all   bitset

	// Lazily built: actions without resource types (only Resource "*"
	// grants them), and per ARN service segment the actions with a
	// resource type in that service, plus those whose ARN formats could
	// not be read (always kept).
	wildcardOnly bitset
	bySegment    map[string]bitset
	anySegment   bitset

	// noPermission holds the calls that need no permission
	// (sts:GetCallerIdentity; sts:GetSessionToken, which a user calls
	// whatever its policies say and a role cannot call at all): they are
	// no part of any granted set. refusals are the AWS rules that refuse
	// actions on some resources to every customer principal.
	noPermission bitset
	refusals     []refusal
}

// refusal is a policy.Refusal over catalog ids.
type refusal struct {
	policy.Refusal
	bits bitset
	not  []string // the refused resource patterns, prefixed with "not "
}

// NewGranter returns a Granter for the account; org may be nil (no
// organization policies).
func NewGranter(cat *catalog.Catalog, acct *Account, org *Org) (*Granter, error) {
	if cat == nil || acct == nil {
		return nil, errors.New("new granter: catalog and account are required")
	}
	root, err := policy.CompileJSON("account root user", []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`))
	if err != nil {
		return nil, fmt.Errorf("new granter: %w", err)
	}
	g := &Granter{cat: cat, acct: acct, org: org, stmts: map[*policy.Statement]*stmtInfo{}, cache: map[string]*GrantedSet{}, root: root}
	g.all = newBitset(cat.Len())
	for i := range cat.Len() {
		g.all.set(i)
	}
	g.noPermission = newBitset(cat.Len())
	for _, a := range []string{"sts:GetCallerIdentity", "sts:GetSessionToken"} {
		if id, ok := cat.ID(a); ok {
			g.noPermission.set(id)
		}
	}
	for _, r := range policy.Refusals() {
		rf := refusal{Refusal: r, bits: newBitset(cat.Len())}
		for _, a := range r.Actions {
			if id, ok := cat.ID(a); ok {
				rf.bits.set(id)
			}
		}
		for _, res := range r.Resources {
			rf.not = append(rf.not, "not "+res)
		}
		g.refusals = append(g.refusals, rf)
	}
	return g, nil
}

func (g *Granter) info(st *policy.Statement, layer policy.Layer, level int) *stmtInfo {
	if si, ok := g.stmts[st]; ok {
		// Refs differ only by layer/level for shared SCP statements.
		if si.ref.Layer == layer && si.ref.Level == level {
			return si
		}
		c := *si
		c.ref.Layer, c.ref.Level = layer, level
		return &c
	}
	si := &stmtInfo{st: st, bits: newBitset(g.cat.Len()), cond: st.HasConditions()}
	si.ref = policy.StatementRef{Layer: layer, Level: level, Policy: st.PolicyName(), Sid: st.Sid(), Index: st.Index(), Effect: st.Effect()}
	pats, not := st.Actions()
	var ids []int
	for _, p := range pats {
		if p == "*" {
			si.bits.or(g.all)
			continue
		}
		var err error
		ids, err = g.cat.ExpandIDs(p, ids[:0])
		if err != nil {
			si.unknowns = append(si.unknowns, p)
			continue
		}
		for _, id := range ids {
			si.bits.set(id)
		}
	}
	if not {
		inv := g.all.clone()
		inv.andNot(si.bits)
		si.bits = inv
	}
	res, notRes := st.Resources()
	if si.ref.Effect == policy.EffectAllow {
		g.fitResources(si, res, notRes)
	}
	switch {
	case res == nil && !notRes:
		si.allRes, si.res = true, []string{"*"}
	case notRes:
		for _, r := range res {
			si.res = append(si.res, "not "+r)
		}
	default:
		si.res = res
		for _, r := range res {
			if r == "*" {
				si.allRes = true
			}
		}
	}
	g.stmts[st] = si
	return si
}

// identityPolicies returns the compiled identity policies of p (own and
// through groups) and the names of unknown ones.
func (g *Granter) identityPolicies(p *Principal) (pols []*policy.Policy, unknown []string) {
	add := func(q *Principal) {
		for _, in := range q.Inline {
			if in.Policy != nil {
				pols = append(pols, in.Policy)
			} else {
				unknown = append(unknown, q.ARN+"#inline/"+in.Name)
			}
		}
		for _, at := range q.Attached {
			if at.Known() {
				pols = append(pols, at.Policy.Policy)
			} else {
				unknown = append(unknown, at.ARN)
			}
		}
	}
	add(p)
	for _, gn := range p.Groups {
		if grp, ok := g.acct.groups[gn]; ok {
			add(grp)
		} else {
			unknown = append(unknown, "group/"+gn)
		}
	}
	return pols, unknown
}

// All returns the granted sets of every principal, in account order.
func (g *Granter) All() []*GrantedSet {
	out := make([]*GrantedSet, 0, len(g.acct.Principals))
	for _, p := range g.acct.Principals {
		out = append(out, g.Granted(p))
	}
	return out
}

// Granted returns the granted set of p, following the AWS evaluation
// logic (IAM User Guide, reference_policies_evaluation-logic): identity
// policies (own and through groups) allow; a permissions boundary and every
// SCP level must also allow (not for service-linked roles, which SCPs and
// RCPs do not affect); an explicit Deny wins. A Deny that applies to
// every resource without conditions removes an action; one on specific
// resources or with conditions only narrows it. Session policies and
// resource-based policies are outside the principal's own set.
//
// The AWS service rules (policy.ServiceRule) apply too: an action that AWS
// refuses on some resources to every customer principal (deleting an
// AWS-managed policy, changing an /aws-reserved/ role, an alias/aws/ KMS
// alias) is narrowed by a NarrowAWSRule narrowing and loses AllResources,
// and removed when every grant of it reaches only such resources. Calls
// that need no permission (sts:GetCallerIdentity, sts:GetSessionToken) are
// in no set: AWS answers them whatever the policies say, and ingest counts
// them as permissionless rather than as usage.
func (g *Granter) Granted(p *Principal) *GrantedSet {
	var pols []*policy.Policy
	var unknown []string
	if p.Kind == KindRoot {
		pols = []*policy.Policy{g.root}
	} else {
		pols, unknown = g.identityPolicies(p)
	}
	var boundary *policy.Policy
	if p.Boundary != nil {
		if p.Boundary.Known() {
			boundary = p.Boundary.Policy.Policy
		} else {
			unknown = append(unknown, p.Boundary.ARN)
		}
	}
	// SCPs and RCPs do not apply to service-linked roles
	// (orgs_manage_policies_scps: "SCPs do not affect service-linked
	// roles"; orgs_manage_policies_rcps likewise).
	org := !p.ServiceLinked()
	// org is false exactly for service-linked roles, which also matters
	// to the AWS rules: the key tells them apart.
	key := policyKey(pols, boundary, org)
	if s, ok := g.cache[key]; ok {
		c := *s
		c.Principal, c.Kind, c.Unknown = p.ARN, p.Kind, unknown
		return &c
	}
	s := g.compute(pols, boundary, org, p.ServiceLinked())
	s.Principal, s.Kind, s.Unknown = p.ARN, p.Kind, unknown
	g.cache[key] = s
	return s
}

func policyKey(pols []*policy.Policy, boundary *policy.Policy, org bool) string {
	var b strings.Builder
	for _, p := range pols {
		fmt.Fprintf(&b, "%p,", p)
	}
	fmt.Fprintf(&b, "|%p|%t", boundary, org)
	return b.String()
}

// layerStmts groups the statements of one layer (or one SCP level).
type layerStmts struct {
	allows, denies []*stmtInfo
}

func (g *Granter) collect(pols []*policy.Policy, layer policy.Layer, level int, unknownPats map[string]bool) layerStmts {
	var l layerStmts
	for _, pol := range pols {
		sts := pol.Statements()
		for i := range sts {
			si := g.info(&sts[i], layer, level)
			for _, u := range si.unknowns {
				unknownPats[u] = true
			}
			if si.ref.Effect == policy.EffectDeny {
				l.denies = append(l.denies, si)
			} else {
				l.allows = append(l.allows, si)
			}
		}
	}
	return l
}

// compute builds the set of pols under boundary, and under the
// organization's SCPs and RCPs when org is set; serviceLinked exempts the
// set from the AWS rules that do not refuse service-linked roles.
func (g *Granter) compute(pols []*policy.Policy, boundary *policy.Policy, org, serviceLinked bool) *GrantedSet {
	unknownPats := map[string]bool{}
	s := &GrantedSet{cat: g.cat}
	id := g.collect(pols, policy.LayerIdentity, 0, unknownPats)
	var bnd *layerStmts
	if boundary != nil {
		l := g.collect([]*policy.Policy{boundary}, policy.LayerBoundary, 0, unknownPats)
		bnd = &l
	}
	var scps []layerStmts
	var rcpDenies []*stmtInfo
	if g.org != nil && org {
		for i, lv := range g.org.SCPs {
			scps = append(scps, g.collect(lv.Policies, policy.LayerSCP, i, unknownPats))
		}
		for i, lv := range g.org.RCPs {
			rcpDenies = append(rcpDenies, g.collect(lv.Policies, policy.LayerRCP, i, unknownPats).denies...)
		}
	}

	allowed := newBitset(g.cat.Len())
	for _, si := range id.allows {
		allowed.or(si.bits)
	}
	restrict := func(l layerStmts) {
		u := newBitset(g.cat.Len())
		for _, si := range l.allows {
			u.or(si.bits)
		}
		allowed.and(u)
	}
	if bnd != nil {
		restrict(*bnd)
	}
	for _, l := range scps {
		restrict(l)
	}
	// Denies that apply to every resource without conditions remove.
	var partial []*stmtInfo
	denies := append([]*stmtInfo(nil), id.denies...)
	if bnd != nil {
		denies = append(denies, bnd.denies...)
	}
	for _, l := range scps {
		denies = append(denies, l.denies...)
	}
	for _, si := range denies {
		if si.allRes && !si.cond && !si.st.ResourceHasVariables() {
			allowed.andNot(si.bits)
		} else {
			partial = append(partial, si)
		}
	}
	partial = append(partial, rcpDenies...)
	// AWS service rules: calls that need no permission are no grant, and
	// an action that some layer allows only on resources that AWS refuses
	// to every customer (arn:aws:iam::aws:policy/*, …) is not granted.
	allowed.andNot(g.noPermission)
	layers := append([]layerStmts{id}, scps...)
	if bnd != nil {
		layers = append(layers, *bnd)
	}
	refusals := g.refusalsFor(serviceLinked)
	for _, r := range refusals {
		r.bits.each(func(a int) {
			if !allowed.has(a) {
				return
			}
			for _, l := range layers {
				if !reachesBeyond(l.allows, a, r) {
					allowed[a>>6] &^= 1 << (uint(a) & 63)
					return
				}
			}
		})
	}
	s.grantable = g.all.count() - g.noPermission.count()
	s.bits = allowed
	for u := range unknownPats {
		s.UnknownPatterns = append(s.UnknownPatterns, u)
	}
	sort.Strings(s.UnknownPatterns)
	if allowed.empty() {
		return s
	}

	// Partition the allowed actions into classes that every relevant
	// statement either covers entirely or not at all.
	relevant := append([]*stmtInfo(nil), id.allows...)
	if bnd != nil {
		relevant = append(relevant, bnd.allows...)
	}
	for _, l := range scps {
		relevant = append(relevant, l.allows...)
	}
	relevant = append(relevant, partial...)
	splitters := make([]bitset, 0, len(relevant)+len(g.refusals))
	for _, si := range relevant {
		splitters = append(splitters, si.bits)
	}
	for _, r := range refusals {
		splitters = append(splitters, r.bits)
	}
	classes := []bitset{allowed.clone()}
	for _, sb := range splitters {
		if allowed.subsetOf(sb) {
			continue // covers everything: splits nothing
		}
		next := classes[:0:0]
		for _, c := range classes {
			if anyIn, anyOut := c.overlap(sb); !anyIn || !anyOut {
				next = append(next, c)
				continue
			}
			in, out, _, _ := c.split(sb)
			next = append(next, in, out)
		}
		classes = next
	}
	for _, c := range classes {
		gc := &grantClass{bits: c, g: describe(c, id, bnd, scps, partial)}
		applyRefusals(gc, refusals)
		s.classes = append(s.classes, gc)
	}
	return s
}

// reachesBeyond reports whether some Allow of a layer that covers action
// a has a Resource pattern reaching beyond the resources r refuses.
func reachesBeyond(allows []*stmtInfo, a int, r *refusal) bool {
	for _, si := range allows {
		if !si.bits.has(a) {
			continue
		}
		for _, p := range si.res {
			if !r.CoversPattern(p) {
				return true
			}
		}
	}
	return false
}

// refusalsFor returns the AWS rules that apply to a principal.
func (g *Granter) refusalsFor(serviceLinked bool) []*refusal {
	out := make([]*refusal, 0, len(g.refusals))
	for i := range g.refusals {
		if r := &g.refusals[i]; !serviceLinked || !r.ServiceLinkedExempt {
			out = append(out, r)
		}
	}
	return out
}

// applyRefusals narrows a class of actions that an AWS rule refuses on some
// resources: its resource patterns lose those that reach only refused
// resources, and it is no longer granted on all resources.
func applyRefusals(gc *grantClass, refusals []*refusal) {
	probe := -1
	gc.bits.each(func(i int) {
		if probe < 0 {
			probe = i
		}
	})
	for _, r := range refusals {
		if !r.bits.has(probe) {
			continue
		}
		gr := &gc.g
		gc.awsRuleOnly = gr.AllResources
		gr.AllResources = false
		var keep []string
		for _, p := range gr.Resources {
			if !r.CoversPattern(p) {
				keep = append(keep, p)
			}
		}
		gr.Resources = keep
		gr.Narrowed = append(gr.Narrowed, Narrowing{Kind: NarrowAWSRule, Rule: r.Rule.String(), Resources: r.not})
	}
}

// describe computes the grant attributes shared by every action of a class.
func describe(c bitset, id layerStmts, bnd *layerStmts, scps []layerStmts, partial []*stmtInfo) Grant {
	var g Grant
	probe := -1
	c.each(func(i int) {
		if probe < 0 {
			probe = i
		}
	})
	covers := func(si *stmtInfo) bool { return si.bits.has(probe) }
	idAll, idUncond := false, false
	seen := map[string]bool{}
	for _, si := range id.allows {
		if !covers(si) {
			continue
		}
		g.Allows = append(g.Allows, si.ref)
		if !si.cond {
			idUncond = true
			if si.allRes && !si.st.ResourceHasVariables() {
				idAll = true
			}
		}
		for _, r := range si.res {
			if !seen[r] {
				seen[r] = true
				g.Resources = append(g.Resources, r)
			}
		}
	}
	if idAll {
		g.Resources = []string{"*"}
	}
	g.Conditional = !idUncond
	g.AllResources = idAll
	limit := func(l layerStmts, resKind, condKind string) {
		all, uncond := false, false
		var lim []*stmtInfo
		for _, si := range l.allows {
			if !covers(si) {
				continue
			}
			lim = append(lim, si)
			if !si.cond {
				uncond = true
				if si.allRes {
					all = true
				}
			}
		}
		if !uncond {
			g.Conditional = true
			for _, si := range lim {
				g.Narrowed = append(g.Narrowed, Narrowing{Statement: si.ref, Kind: condKind, Resources: si.res})
			}
		}
		if !all {
			g.AllResources = false
			var res []string
			for _, si := range lim {
				if !si.cond {
					g.Narrowed = append(g.Narrowed, Narrowing{Statement: si.ref, Kind: resKind, Resources: si.res})
					res = append(res, si.res...)
				}
			}
			if idAll && len(res) > 0 {
				g.Resources = res
			}
		}
	}
	if bnd != nil {
		limit(*bnd, NarrowBoundaryResources, NarrowBoundaryCondition)
	}
	for _, l := range scps {
		limit(l, NarrowSCPResources, NarrowSCPCondition)
	}
	for _, si := range partial {
		if !covers(si) {
			continue
		}
		kind := NarrowDenyResources
		switch {
		case si.ref.Layer == policy.LayerRCP:
			kind = NarrowRCPDeny
		case si.cond:
			kind = NarrowDenyCondition
		case si.st.ResourceHasVariables():
			kind = NarrowResourceIsVariable
		}
		if kind != NarrowDenyCondition {
			g.AllResources = false
		}
		g.Narrowed = append(g.Narrowed, Narrowing{Statement: si.ref, Kind: kind, Resources: si.res})
	}
	return g
}

// fitResources removes from an Allow statement's actions those that no
// resource in its Resource element can reach: an action without resource
// types is requested on "*", which a specific pattern does not match
// (reference_policies_elements_resource: "*" for actions that do not
// support resource-level permissions), and an ARN pattern whose service
// field is literal reaches only actions with a resource type of that
// service. The filter only ever drops actions that cannot be granted.
func (g *Granter) fitResources(si *stmtInfo, res []string, notRes bool) {
	if res == nil && !notRes {
		return // no Resource element: any resource
	}
	starOK := false
	for _, r := range res {
		if matchesStar(r) {
			starOK = true
		}
	}
	if notRes {
		// NotResource allows "*" unless an excluded pattern matches it.
		if starOK {
			g.buildResourceIndex()
			si.bits.andNot(g.wildcardOnly)
		}
		return
	}
	if starOK {
		return
	}
	g.buildResourceIndex()
	si.bits.andNot(g.wildcardOnly)
	reach := g.anySegment.clone()
	for _, r := range res {
		svc, ok := arnService(r)
		if !ok {
			return // service not literal: keep every remaining action
		}
		if b, ok := g.bySegment[strings.ToLower(svc)]; ok {
			reach.or(b)
		}
	}
	si.bits.and(reach)
}

// matchesStar reports whether a Resource pattern matches the literal
// resource "*".
func matchesStar(p string) bool {
	t := strings.Trim(p, "*")
	return t == "" || t == "?"
}

func (g *Granter) buildResourceIndex() {
	if g.wildcardOnly != nil {
		return
	}
	n := g.cat.Len()
	g.wildcardOnly, g.anySegment, g.bySegment = newBitset(n), newBitset(n), map[string]bitset{}
	for id := range n {
		a := g.cat.ActionAt(id)
		if a.WildcardOnly() {
			g.wildcardOnly.set(id)
			continue
		}
		for _, r := range a.Resources {
			rt, ok := g.cat.ResourceType(a.Service, r.Type)
			seg, lit := arnService(rt.ARN)
			if !ok || !lit {
				g.anySegment.set(id)
				continue
			}
			seg = strings.ToLower(seg)
			b, ok := g.bySegment[seg]
			if !ok {
				b = newBitset(n)
				g.bySegment[seg] = b
			}
			b.set(id)
		}
	}
}

// arnService returns the service field of an ARN, a catalog ARN format or
// a Resource pattern ("arn:aws:s3:::b" → "s3") and whether it is literal,
// so that only that service's resources can match, without allocating.
// It is not when the service holds a wildcard or placeholder, nor when the
// partition holds a wildcard: in a Resource pattern "*" also matches
// colons, so "arn:*:iam::*" matches "arn:aws:s3:::bucket/x:iam::y" (a
// format's ${Partition} placeholder stays within its field).
func arnService(s string) (string, bool) {
	a, ok := catalog.ParseARN(s)
	if !ok {
		return "", false
	}
	return a.Service, a.Service != "" && !strings.ContainsAny(a.Service, "*?$") && !strings.ContainsAny(a.Partition, "*?")
}
