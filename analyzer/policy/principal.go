package policy

import "strings"

// PrincipalMatch says how a Principal element names the caller, weakest
// first. It matters for same-account resource-based policies
// (reference_policies_evaluation-logic, "Evaluating identity-based policies
// with resource-based policies" and access_policies_boundaries): a policy
// naming the IAM user or the role session grants on its own; one naming the
// role is still limited by the boundary and session policy; one naming the
// account delegates to the account's identity-based policies.
type PrincipalMatch uint8

// Principal matches.
const (
	PrincipalNoMatch PrincipalMatch = iota
	PrincipalAccount                // the account root or bare account id
	PrincipalRole                   // the role whose session is calling (or the role ARN given as the caller)
	PrincipalExact                  // the caller itself, or "*"
)

func (m PrincipalMatch) String() string {
	return [...]string{"none", "account", "role", "exact"}[m]
}

type principalKind uint8

const (
	pkOther principalKind = iota
	pkUser
	pkRole
	pkSession
	pkFederated
	pkRoot
	pkService
)

// principalInfo is a request principal taken apart (substrings only).
type principalInfo struct {
	arn           string
	account       string
	kind          principalKind
	roleName      string // pkRole, pkSession
	serviceLinked bool
}

func parsePrincipal(arn string) principalInfo {
	pi := principalInfo{arn: arn}
	if !strings.HasPrefix(arn, "arn:") {
		if isAccountID(arn) {
			pi.account, pi.kind = arn, pkRoot
		} else {
			pi.kind = pkService
		}
		return pi
	}
	var parts [5]string
	rest := arn
	for i := 0; i < 5; i++ {
		c := strings.IndexByte(rest, ':')
		if c < 0 {
			return pi
		}
		parts[i], rest = rest[:c], rest[c+1:]
	}
	service := parts[2]
	pi.account = parts[4]
	switch {
	case service == "iam" && rest == "root":
		pi.kind = pkRoot
	case service == "iam" && strings.HasPrefix(rest, "user/"):
		pi.kind = pkUser
	case service == "iam" && strings.HasPrefix(rest, "role/"):
		pi.kind = pkRole
		pi.roleName = rest[strings.LastIndexByte(rest, '/')+1:]
		pi.serviceLinked = strings.HasPrefix(rest, "role/aws-service-role/")
	case service == "sts" && strings.HasPrefix(rest, "assumed-role/"):
		r := rest[len("assumed-role/"):]
		if s := strings.IndexByte(r, '/'); s >= 0 {
			pi.kind, pi.roleName = pkSession, r[:s]
		}
	case service == "sts" && strings.HasPrefix(rest, "federated-user/"):
		pi.kind = pkFederated
	}
	return pi
}

// isServiceLinked reports whether the caller is a service-linked role or
// one of its sessions (role path aws-service-role/, or a session of a role
// named AWSServiceRoleFor…, as session ARNs carry no path). SCPs and RCPs
// do not apply to service-linked roles (orgs_manage_policies_scps,
// orgs_manage_policies_rcps).
func isServiceLinked(pi *principalInfo) bool {
	return pi.serviceLinked || (pi.kind == pkSession && strings.HasPrefix(pi.roleName, "AWSServiceRoleFor"))
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

type entryKind uint8

const (
	entAny entryKind = iota
	entAccount
	entRole
	entExact
)

type principalEntry struct {
	kind    entryKind
	account string
	name    string // role name, or exact value
}

// principalSet is a compiled Principal/NotPrincipal element.
type principalSet struct {
	any       bool
	aws       []principalEntry
	service   []string
	federated []string
	canonical []string
}

func compilePrincipals(p *Principals) *principalSet {
	if p == nil {
		return nil
	}
	ps := &principalSet{any: p.Any, service: p.Service, federated: p.Federated, canonical: p.CanonicalUser}
	for _, a := range p.AWS {
		ps.aws = append(ps.aws, compileEntry(a))
	}
	return ps
}

func compileEntry(a string) principalEntry {
	switch {
	case a == "*":
		return principalEntry{kind: entAny}
	case isAccountID(a):
		return principalEntry{kind: entAccount, account: a}
	}
	pi := parsePrincipal(a)
	switch pi.kind {
	case pkRoot:
		return principalEntry{kind: entAccount, account: pi.account}
	case pkRole:
		return principalEntry{kind: entRole, account: pi.account, name: pi.roleName}
	}
	return principalEntry{kind: entExact, name: a}
}

// match reports how strongly the element names the caller. The caller's
// identities are its account, its role (for a role session) and itself.
func (ps *principalSet) match(pi *principalInfo) PrincipalMatch {
	if ps.any {
		return PrincipalExact
	}
	best := PrincipalNoMatch
	if pi.kind == pkService || pi.kind == pkOther {
		for _, s := range ps.service {
			if strings.EqualFold(s, pi.arn) {
				return PrincipalExact
			}
		}
		for _, s := range ps.federated {
			if s == pi.arn {
				return PrincipalExact
			}
		}
		for _, s := range ps.canonical {
			if s == pi.arn {
				return PrincipalExact
			}
		}
	}
	for i := range ps.aws {
		e := &ps.aws[i]
		var m PrincipalMatch
		switch e.kind {
		case entAny:
			m = PrincipalExact
		case entAccount:
			if pi.account != "" && e.account == pi.account {
				m = PrincipalAccount
			}
		case entRole:
			// A role acts only through its sessions: a caller given as the
			// role ARN is one of them, so naming the role matches it as it
			// matches a session, and the boundary and session policy
			// still limit the grant.
			if (pi.kind == pkSession || pi.kind == pkRole) && e.account == pi.account && e.name == pi.roleName {
				m = PrincipalRole
			}
		case entExact:
			if e.name == pi.arn {
				m = PrincipalExact
			}
		}
		if m > best {
			best = m
			if best == PrincipalExact {
				return best
			}
		}
	}
	return best
}

// excludes reports whether a NotPrincipal element excludes the caller. Per
// reference_policies_elements_notprincipal, every identity of the caller
// must be listed: its account, the role (for a role session) and the
// caller itself; otherwise the statement applies.
func (ps *principalSet) excludes(pi *principalInfo) bool {
	if ps.any {
		return true
	}
	if pi.kind == pkService || pi.kind == pkOther {
		return ps.match(pi) == PrincipalExact
	}
	var acct, role, self bool
	for i := range ps.aws {
		e := &ps.aws[i]
		switch e.kind {
		case entAny:
			return true
		case entAccount:
			acct = acct || e.account == pi.account
		case entRole:
			role = role || (e.account == pi.account && e.name == pi.roleName)
		case entExact:
			self = self || e.name == pi.arn
		}
	}
	switch pi.kind {
	case pkRoot:
		return acct
	case pkSession:
		return acct && role && self
	case pkRole:
		// A caller given as the role ARN is a session of the role whose
		// session ARN no policy lists: the account and the role alone do
		// not exclude it, as they do not exclude such a session.
		return false
	}
	return acct && self
}
