// Package policy parses AWS IAM policy documents, compiles them into
// matchers and decides, exactly as AWS does, whether a principal may call an
// action on a resource in a given request context.
//
// The decision follows the AWS IAM User Guide, "Policy evaluation logic"
// (reference_policies_evaluation-logic): an explicit Deny in any applicable
// policy wins; every level of service control policies (SCPs) and resource
// control policies (RCPs) must allow; in the same account a resource-based
// policy can grant on its own; otherwise identity-based policies must allow,
// intersected with a permissions boundary and a session policy when present.
// Cross-account requests need both the identity side and the resource policy.
// Role trust policies and KMS key policies must allow even in the same account
// (Set.ResourcePolicyRequired, RequiresResourcePolicy). A few AWS service
// rules decide besides the policies (ServiceRule, Decision.Rule):
// sts:GetCallerIdentity needs no permission, and no customer principal may
// change AWS-managed policies, /aws-reserved/ roles or alias/aws/ KMS aliases.
//
// Use: Parse (or CompileJSON) each document once, Compile it with a name used
// in explanations, gather the compiled policies in a Set, and call
// Set.Evaluate with a Request and a reusable Decision. Evaluation of a
// compiled Set allocates nothing in the common case. The Decision names every
// statement that allowed or denied (layer, SCP/RCP level, policy name, Sid or
// index).
//
// Read-only view for granted sets and trust policies: Policy.Statements
// returns the compiled statements; on each, Effect, Sid, Index and
// PolicyName identify it, MatchesAction applies Action/NotAction,
// Actions and Resources return the patterns (with a flag for NotAction /
// NotResource; neither Resource element means any resource),
// MatchesResource applies Resource/NotResource (policy variables resolved
// from a Context), HasConditions, Conditions and ConditionsMatch expose the
// Condition element, and Principal / MatchesPrincipal the Principal or
// NotPrincipal block (PrincipalMatch says whether the account, the role or
// the caller itself is named). Nothing needs re-parsing.
//
// Request context: Evaluate uses exactly the keys in Request.Context (keys
// case-insensitive, values case-sensitive); it derives none, not even
// aws:PrincipalArn. Operators read values by their own type.
//
// The package is a leaf: it imports nothing of ours, so any package may use it.
package policy

import "errors"

// Effect is a statement's Effect element.
type Effect uint8

// Statement effects.
const (
	EffectAllow Effect = iota + 1
	EffectDeny
)

func (e Effect) String() string {
	switch e {
	case EffectAllow:
		return "Allow"
	case EffectDeny:
		return "Deny"
	}
	return "Effect(?)"
}

// Result is the outcome of an evaluation.
type Result uint8

// Results, named as AWS and the policy simulator name them.
const (
	ImplicitlyDenied Result = iota
	Allowed
	ExplicitlyDenied
)

func (r Result) String() string {
	switch r {
	case Allowed:
		return "Allowed"
	case ExplicitlyDenied:
		return "ExplicitlyDenied"
	case ImplicitlyDenied:
		return "ImplicitlyDenied"
	}
	return "Result(?)"
}

// ParseResult reads a Result from its String form.
func ParseResult(s string) (Result, error) {
	switch s {
	case "Allowed":
		return Allowed, nil
	case "ExplicitlyDenied":
		return ExplicitlyDenied, nil
	case "ImplicitlyDenied":
		return ImplicitlyDenied, nil
	}
	return 0, errors.New("unknown result " + quote(s) + " (want Allowed, ImplicitlyDenied or ExplicitlyDenied)")
}

// Layer names where a policy sits in the evaluation.
type Layer uint8

// Policy layers.
const (
	LayerIdentity Layer = iota + 1
	LayerBoundary
	LayerSession
	LayerSCP
	LayerRCP
	LayerResource
)

func (l Layer) String() string {
	switch l {
	case LayerIdentity:
		return "identity"
	case LayerBoundary:
		return "boundary"
	case LayerSession:
		return "session"
	case LayerSCP:
		return "scp"
	case LayerRCP:
		return "rcp"
	case LayerResource:
		return "resource"
	}
	return "layer(?)"
}
