// Package iam is the IAM model of one AWS account: its principals (users,
// roles, groups and the root user), their inline, managed and boundary
// policies, role trust policies and user credentials; it loads that model
// from the JSON of "aws iam get-account-authorization-details" (optionally
// merged with a credential report), diffs two snapshots, computes the
// granted permission set of every principal over the action catalog and
// runs the IAM best-practice audit checks.
//
// It imports analyzer/catalog and analyzer/policy only; the live SDK loader
// lives in the subpackage live so that offline users need no AWS SDK.
package iam

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/iamd/iamd/analyzer/policy"
)

// Kind is the kind of a principal.
type Kind string

// Principal kinds.
const (
	KindUser  Kind = "user"
	KindRole  Kind = "role"
	KindGroup Kind = "group"
	KindRoot  Kind = "root"
)

// Account is the IAM model of one account at one point in time.
type Account struct {
	ID    string    // 12-digit account id ("" when no ARN names it)
	Taken time.Time // when the snapshot was taken (zero when unknown)
	// Principals holds users, roles, groups and the root user, sorted by ARN.
	Principals []*Principal
	// Policies are the managed policies by ARN, as included in the
	// snapshot. Attachments to policies not listed here are unknown.
	Policies map[string]*ManagedPolicy
	// Warnings lists what could not be resolved or was accepted leniently.
	Warnings []Warning
	// Truncated is set when the input was one page of a paginated result
	// (IsTruncated true): principals or policies may be missing.
	Truncated bool

	byARN  map[string]*Principal
	groups map[string]*Principal // by group name
}

// Principal is an IAM user, role, group or the account root user.
type Principal struct {
	Kind    Kind
	ARN     string
	Name    string
	ID      string
	Path    string
	Created time.Time
	Tags    map[string]string

	Inline   []*InlinePolicy
	Attached []*Attachment
	Boundary *Attachment // nil: no permissions boundary

	// Groups (users only): group names, in snapshot order.
	Groups []string
	// Credentials (users and root): nil when the snapshot carries no
	// credential information (no credential report was merged).
	Credentials *Credentials

	// Trust (roles only): the assume-role policy.
	Trust *Trust
	// RoleLastUsed (roles only): zero when never used or unknown.
	RoleLastUsed       time.Time
	RoleLastUsedRegion string
}

// ServiceLinked reports whether p is a service-linked role: a role whose
// path starts with /aws-service-role/ (IAM User Guide,
// using-service-linked-roles), read from the ARN when the snapshot omits
// the path. Organization SCPs and RCPs do not apply to such roles.
func (p *Principal) ServiceLinked() bool {
	return p.Kind == KindRole && (strings.HasPrefix(p.Path, "/aws-service-role/") || strings.Contains(p.ARN, ":role/aws-service-role/"))
}

// Credentials are a user's (or the root user's) sign-in credentials.
type Credentials struct {
	// SignInKnown says PasswordEnabled and MFAActive come from a
	// credential report; without one (only the access keys of a snapshot)
	// they are false for want of data, not because the user has none.
	SignInKnown      bool
	PasswordEnabled  bool
	PasswordLastUsed time.Time // zero: never or unknown
	MFAActive        bool
	AccessKeys       []AccessKey
}

// AccessKey is one access key; its secret is never part of the model.
type AccessKey struct {
	ID              string // may be "" when only the credential report was available
	Status          string // "Active" or "Inactive"
	Created         time.Time
	LastUsed        time.Time // zero: never used (see LastUsedKnown)
	LastUsedService string
	LastUsedRegion  string
	// LastUsedKnown is false when the source did not say whether the key
	// was used; audit checks about unused keys then stay silent.
	LastUsedKnown bool
}

// Active reports whether the key is active.
func (k AccessKey) Active() bool { return strings.EqualFold(k.Status, "Active") }

// InlinePolicy is a policy embedded in a user, group or role.
type InlinePolicy struct {
	Name   string
	Raw    json.RawMessage // the decoded JSON document
	Policy *policy.Policy  // nil when Err is set
	Err    error           // why the document is unusable
}

// Attachment is an attached managed policy (or a permissions boundary).
type Attachment struct {
	ARN  string
	Name string
	// Policy is nil when the snapshot does not include the policy: its
	// permissions are unknown, never assumed empty.
	Policy *ManagedPolicy
}

// Known reports whether the attached policy's default document is usable.
func (a *Attachment) Known() bool { return a.Policy != nil && a.Policy.Policy != nil }

// ManagedPolicy is a customer- or AWS-managed policy.
type ManagedPolicy struct {
	ARN              string
	Name             string
	Path             string
	DefaultVersionID string
	Versions         []PolicyVersion
	// Raw and Policy are the default version's document (only the default
	// version is in force). Policy is nil when Err is set.
	Raw    json.RawMessage
	Policy *policy.Policy
	Err    error
}

// AWSManaged reports whether the policy is managed by AWS.
func (m *ManagedPolicy) AWSManaged() bool {
	return strings.HasPrefix(m.ARN, "arn:aws:iam::aws:policy/")
}

// PolicyVersion is one version of a managed policy.
type PolicyVersion struct {
	ID      string
	Default bool
	Created time.Time
	Raw     json.RawMessage
}

// Trust is a role's trust (assume-role) policy and who it lets in.
type Trust struct {
	Raw     json.RawMessage
	Policy  *policy.Policy // nil when Err is set
	Err     error
	Entries []TrustEntry
}

// TrustEntry is one statement of a trust policy.
type TrustEntry struct {
	Sid     string
	Effect  policy.Effect
	Actions []string // e.g. sts:AssumeRole, sts:AssumeRoleWithSAML
	// NotPrincipal marks a NotPrincipal element: the statement applies to
	// everyone except the listed principals (with Any, to no one).
	NotPrincipal bool
	Any          bool     // Principal "*" or {"AWS": "*"}
	AWS          []string // account ids, account roots, users, roles
	Service      []string
	Federated    []string // SAML providers, OIDC providers, web identity
	Conditions   []policy.ConditionDoc
	// ExternalID is set when a condition requires sts:ExternalId to be one
	// of given values (see ExternalIDRequired); a condition that also
	// admits a missing or any ExternalId does not set it.
	ExternalID bool
	// MFA is set when a condition tests aws:MultiFactorAuthPresent.
	MFA bool
}

// Warning is something the loader could not resolve or accepted leniently.
type Warning struct {
	Entity  string // ARN or name of the principal or policy
	Field   string // JSON path, e.g. "UserDetailList[3].AttachedManagedPolicies"
	Message string
}

func (w Warning) String() string {
	s := w.Entity
	if w.Field != "" {
		s += " (" + w.Field + ")"
	}
	return s + ": " + w.Message
}

// Principal returns the principal with the given ARN.
func (a *Account) Principal(arn string) (*Principal, bool) {
	p, ok := a.byARN[arn]
	return p, ok
}

// Group returns the group with the given name.
func (a *Account) Group(name string) (*Principal, bool) {
	g, ok := a.groups[name]
	return g, ok
}

// ByKind returns the principals of one kind, sorted by ARN.
func (a *Account) ByKind(k Kind) []*Principal {
	var out []*Principal
	for _, p := range a.Principals {
		if p.Kind == k {
			out = append(out, p)
		}
	}
	return out
}

// index rebuilds the lookup maps and sorts the principals.
func (a *Account) index() {
	sort.SliceStable(a.Principals, func(i, j int) bool { return a.Principals[i].ARN < a.Principals[j].ARN })
	a.byARN = make(map[string]*Principal, len(a.Principals))
	a.groups = make(map[string]*Principal)
	for _, p := range a.Principals {
		a.byARN[p.ARN] = p
		if p.Kind == KindGroup {
			a.groups[p.Name] = p
		}
	}
}

// UnknownPolicies returns the ARNs (or inline names) of the policies that
// apply to p, directly or through its groups, and whose permissions are
// unknown: not in the snapshot, or a document that did not parse.
func (a *Account) UnknownPolicies(p *Principal) []string {
	var out []string
	add := func(q *Principal) {
		for _, at := range q.Attached {
			if !at.Known() {
				out = append(out, at.ARN)
			}
		}
		for _, in := range q.Inline {
			if in.Policy == nil {
				out = append(out, q.ARN+"#inline/"+in.Name)
			}
		}
	}
	add(p)
	if p.Kind == KindUser {
		for _, gn := range p.Groups {
			if g, ok := a.groups[gn]; ok {
				add(g)
			}
		}
	}
	if p.Boundary != nil && !p.Boundary.Known() {
		out = append(out, p.Boundary.ARN)
	}
	return out
}
