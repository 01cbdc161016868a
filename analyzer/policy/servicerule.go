package policy

import "strings"

// ServiceRule names a rule of an AWS service that decides a request
// whatever the policy documents say. A few calls need no permission at all
// (sts:GetCallerIdentity); a few resources are AWS's own and no customer
// principal may change them (AWS-managed policies, IAM Identity Center
// roles, the alias/aws/ KMS aliases). Evaluate applies these rules after the
// policies, and only to iam:, kms: and sts: requests, so that the requests
// of every other service pay one length comparison for them.
//
// Decisions by a rule:
//   - a call that needs no permission is Allowed, an explicit deny included;
//   - a refused call is ImplicitlyDenied (no policy can allow it in effect),
//     or ExplicitlyDenied when a policy also denies it explicitly, so that
//     an explicit deny is never hidden.
//
// Decision.Rule names the rule, and Decision.Reason its text instead of a
// statement.
type ServiceRule uint8

// Service rules.
const (
	RuleNone ServiceRule = iota
	// RuleGetCallerIdentity: sts:GetCallerIdentity needs no permission.
	// STS API reference, GetCallerIdentity: "No permissions are required to
	// perform this operation. If an administrator attaches a policy to your
	// identity that explicitly denies access to the sts:GetCallerIdentity
	// action, you can still perform this operation."
	RuleGetCallerIdentity
	// RuleGetSessionToken: sts:GetSessionToken needs no permission for an
	// IAM user or the root user. IAM User Guide, "Permissions for
	// GetSessionToken" (id_credentials_temp_control-access_getsessiontoken):
	// "No permissions are required for a user to get a session token. …
	// You cannot use policies to control authentication operations", and
	// "While you can include the GetSessionToken action in a policy, it
	// doesn't affect a user's ability to perform the GetSessionToken
	// operation."
	RuleGetSessionToken
	// RuleLongTermCredentials: sts:GetSessionToken from anything but an IAM
	// user or the root user. STS API reference, GetSessionToken: "The
	// GetSessionToken operation must be called by using the long-term AWS
	// security credentials of an IAM user" (or of the account root user);
	// role sessions, roles, federated users and services cannot call it.
	RuleLongTermCredentials
	// RuleAWSManagedPolicy: AWS-managed policies (account field "aws",
	// arn:aws:iam::aws:policy/…) cannot be created, versioned, deleted,
	// switched to another default version, tagged or untagged by a customer
	// principal. IAM User Guide, "Managed policies and inline policies"
	// (access_policies_managed-vs-inline): "You cannot change the
	// permissions defined in AWS managed policies."
	RuleAWSManagedPolicy
	// RuleReservedRole: roles under the path /aws-reserved/ (the roles IAM
	// Identity Center creates for permission sets) are "only modifiable by
	// AWS" (the IAM error "Cannot perform the operation on the protected role
	// … this role is only modifiable by AWS"; IAM Identity Center User
	// Guide, "IAM roles created by IAM Identity Center", and its
	// service-linked role AWSServiceRoleForSSO, which alone manages roles
	// under /aws-reserved/sso.amazonaws.com/). Refused: creating, deleting,
	// updating (description, maximum session), the trust policy,
	// attaching/detaching managed policies, inline policies, the
	// permissions boundary, tags, and the service-linked-role calls
	// (CreateServiceLinkedRole creates only under /aws-service-role/ and
	// DeleteServiceLinkedRole deletes only service-linked roles, so neither
	// can succeed on such a role). Not refused: iam:PassRole, which changes
	// nothing about the role; AWS documents no refusal for it, and the
	// role's trust policy (it trusts only the Identity Center SAML
	// provider) decides whether a service can use it. Read-only calls
	// (GetRole, ListRolePolicies, …) are not refused either. Nor are
	// service-linked roles: they act for AWS services, and Identity
	// Center's own, AWSServiceRoleForSSO, is how AWS changes these roles
	// (IAM Identity Center User Guide, "Using service-linked roles for IAM
	// Identity Center": its permissions cover the roles on the path
	// /aws-reserved/sso.amazonaws.com/).
	RuleReservedRole
	// RuleReservedAlias: KMS aliases that begin with alias/aws/ belong to
	// AWS managed keys; CreateAlias, UpdateAlias and DeleteAlias never
	// succeed on them. AWS KMS API reference, CreateAlias: "The alias name
	// cannot begin with alias/aws/. The alias/aws/ prefix is reserved for
	// AWS managed keys"; KMS Developer Guide, "Aliases in AWS KMS"
	// (kms-alias): aliases of AWS managed keys cannot be changed or deleted.
	RuleReservedAlias
)

func (r ServiceRule) String() string {
	switch r {
	case RuleNone:
		return "none"
	case RuleGetCallerIdentity:
		return "get-caller-identity-needs-no-permission"
	case RuleGetSessionToken:
		return "get-session-token-needs-no-permission"
	case RuleLongTermCredentials:
		return "get-session-token-needs-long-term-credentials"
	case RuleAWSManagedPolicy:
		return "aws-managed-policy-read-only"
	case RuleReservedRole:
		return "aws-reserved-role-protected"
	case RuleReservedAlias:
		return "aws-kms-alias-reserved"
	}
	return "rule(?)"
}

// Reasons reported in Decision.Reason when a service rule decides.
const (
	ReasonGetCallerIdentity = "AWS rule: sts:GetCallerIdentity needs no permission; any authenticated caller may call it, even under an explicit deny"
	ReasonGetSessionToken   = "AWS rule: sts:GetSessionToken needs no permission for an IAM user or the root user; policies do not control it"
	ReasonLongTermOnly      = "AWS rule: sts:GetSessionToken needs the long-term credentials of an IAM user or the root user"
	ReasonAWSManagedPolicy  = "AWS rule: AWS-managed policies (arn:aws:iam::aws:policy/…) are read-only for every customer principal"
	ReasonReservedRole      = "AWS rule: roles under /aws-reserved/ (IAM Identity Center) are only modifiable by AWS"
	ReasonReservedAlias     = "AWS rule: KMS aliases under alias/aws/ are reserved for AWS managed keys"
)

// Reason is the Decision.Reason text of the rule ("" for RuleNone).
func (r ServiceRule) Reason() string {
	switch r {
	case RuleGetCallerIdentity:
		return ReasonGetCallerIdentity
	case RuleGetSessionToken:
		return ReasonGetSessionToken
	case RuleLongTermCredentials:
		return ReasonLongTermOnly
	case RuleAWSManagedPolicy:
		return ReasonAWSManagedPolicy
	case RuleReservedRole:
		return ReasonReservedRole
	case RuleReservedAlias:
		return ReasonReservedAlias
	}
	return ""
}

// Doc is the AWS documentation page that states the rule.
func (r ServiceRule) Doc() string {
	switch r {
	case RuleGetCallerIdentity:
		return "https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html"
	case RuleGetSessionToken:
		return "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_getsessiontoken.html"
	case RuleLongTermCredentials:
		return "https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html"
	case RuleAWSManagedPolicy:
		return "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-vs-inline.html"
	case RuleReservedRole:
		return "https://docs.aws.amazon.com/singlesignon/latest/userguide/identity-center-and-iam-roles.html"
	case RuleReservedAlias:
		return "https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html"
	}
	return ""
}

// NoPermissionNeeded reports whether the rule allows the call whatever the
// policies say.
func (r ServiceRule) NoPermissionNeeded() bool {
	return r == RuleGetCallerIdentity || r == RuleGetSessionToken
}

// Refuses reports whether the rule refuses the call whatever the policies
// allow.
func (r ServiceRule) Refuses() bool {
	return r == RuleLongTermCredentials || r == RuleAWSManagedPolicy || r == RuleReservedRole || r == RuleReservedAlias
}

// The actions each resource rule refuses, as the Service Authorization
// Reference names them.
var (
	awsManagedPolicyActions = []string{
		"iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
		"iam:SetDefaultPolicyVersion", "iam:TagPolicy", "iam:UntagPolicy",
	}
	reservedRoleActions = []string{
		"iam:AttachRolePolicy", "iam:CreateRole", "iam:CreateServiceLinkedRole", "iam:DeleteRole",
		"iam:DeleteRolePermissionsBoundary", "iam:DeleteRolePolicy", "iam:DeleteServiceLinkedRole",
		"iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:TagRole",
		"iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription",
	}
	reservedAliasActions = []string{"kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"}
)

// Refusal is a service rule that refuses some actions on some resources to
// every customer principal, for code that reasons about grants without a
// concrete request (granted sets).
type Refusal struct {
	Rule ServiceRule
	// Actions are the refused actions ("service:Action").
	Actions []string
	// Resources are ARN patterns of the refused resources, in every
	// partition.
	Resources []string
	// ServiceLinkedExempt: the rule does not refuse service-linked roles
	// (they act for AWS services).
	ServiceLinkedExempt bool
}

// Refusals returns the resource rules: AWS-managed policies, /aws-reserved/
// roles and alias/aws/ KMS aliases.
func Refusals() []Refusal {
	return []Refusal{
		{Rule: RuleAWSManagedPolicy, Actions: append([]string(nil), awsManagedPolicyActions...), Resources: []string{"arn:*:iam::aws:policy/*"}},
		{Rule: RuleReservedRole, Actions: append([]string(nil), reservedRoleActions...), Resources: []string{"arn:*:iam::*:role/aws-reserved/*"}, ServiceLinkedExempt: true},
		{Rule: RuleReservedAlias, Actions: append([]string(nil), reservedAliasActions...), Resources: []string{"arn:*:kms:*:*:alias/aws/*"}},
	}
}

// CoversPattern reports whether every resource that a Resource pattern can
// match is refused by r: the fields that place the resource (service,
// account for AWS-managed policies) are literal and name the protected
// area, and the literal start of the resource part, before its first
// wildcard or policy variable, already lies inside it
// ("arn:aws:iam::aws:policy/*" and "arn:*:iam::*:role/aws-reserved/*" yes,
// "arn:aws:iam::*:policy/*" no). It errs towards false: a pattern it cannot
// place is taken to reach resources the rule does not cover.
func (r Refusal) CoversPattern(pattern string) bool {
	svc, account, res, ok := arnParts(pattern)
	if !ok || strings.ContainsAny(svc, "*?$") || (r.Rule == RuleAWSManagedPolicy && strings.ContainsAny(account, "*?$")) {
		return false
	}
	if i := strings.IndexAny(res, "*?$"); i >= 0 {
		res = res[:i]
	}
	return inProtectedArea(r.Rule, svc, account, res)
}

// resourceRule reports whether the resource ARN lies in the area that a
// resource rule protects.
func resourceRule(rule ServiceRule, arn string) bool {
	svc, account, res, ok := arnParts(arn)
	return ok && inProtectedArea(rule, svc, account, res)
}

func inProtectedArea(rule ServiceRule, svc, account, res string) bool {
	switch rule {
	case RuleAWSManagedPolicy:
		return svc == "iam" && account == "aws" && strings.HasPrefix(res, "policy/")
	case RuleReservedRole:
		return svc == "iam" && hasPrefixFold(res, "role/aws-reserved/")
	case RuleReservedAlias:
		return svc == "kms" && hasPrefixFold(res, "alias/aws/")
	}
	return false
}

// arnParts splits an ARN into its service, account and resource fields
// without allocating; ok is false when it has fewer than six fields.
func arnParts(arn string) (service, account, resource string, ok bool) {
	if !strings.HasPrefix(arn, "arn:") {
		return "", "", "", false
	}
	rest := arn[len("arn:"):]
	var f [4]string // partition, service, region, account
	for i := range f {
		c := strings.IndexByte(rest, ':')
		if c < 0 {
			return "", "", "", false
		}
		f[i], rest = rest[:c], rest[c+1:]
	}
	return f[1], f[3], rest, true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// RuleFor returns the service rule that decides a call of action on
// resource by principal whatever the policies say, or RuleNone (for almost
// every call).
func RuleFor(principal, action, resource string) ServiceRule {
	pi := parsePrincipal(principal)
	return serviceRule(&pi, action, resource)
}

// serviceRule finds the rule for a request. Only iam:, kms: and sts:
// actions have one; the caller checks the service length first.
func serviceRule(pi *principalInfo, action, resource string) ServiceRule {
	if len(action) < 4 || action[3] != ':' {
		return RuleNone
	}
	switch svc := action[:3]; {
	case strings.EqualFold(svc, "sts"):
		switch name := action[4:]; {
		case strings.EqualFold(name, "GetCallerIdentity"):
			if anonymous(pi) {
				return RuleNone
			}
			return RuleGetCallerIdentity
		case strings.EqualFold(name, "GetSessionToken"):
			if pi.kind == pkUser || pi.kind == pkRoot {
				return RuleGetSessionToken
			}
			return RuleLongTermCredentials
		}
	case strings.EqualFold(svc, "iam"):
		switch {
		case resourceRule(RuleAWSManagedPolicy, resource):
			if containsFold(awsManagedPolicyActions, action) {
				return RuleAWSManagedPolicy
			}
		case resourceRule(RuleReservedRole, resource):
			if containsFold(reservedRoleActions, action) && !isServiceLinked(pi) {
				return RuleReservedRole
			}
		}
	case strings.EqualFold(svc, "kms"):
		if resourceRule(RuleReservedAlias, resource) && containsFold(reservedAliasActions, action) {
			return RuleReservedAlias
		}
	}
	return RuleNone
}

// anonymous reports a request without an authenticated principal.
func anonymous(pi *principalInfo) bool {
	return pi.arn == "" || pi.arn == "*" || pi.arn == "anonymous"
}

// applyRule turns the policies' decision into the rule's.
func applyRule(rule ServiceRule, r Result, why string) (Result, string) {
	switch {
	case rule.NoPermissionNeeded():
		return Allowed, rule.Reason()
	case rule.Refuses() && r != ExplicitlyDenied:
		return ImplicitlyDenied, rule.Reason()
	}
	return r, why
}
