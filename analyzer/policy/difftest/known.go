package difftest

import (
	"encoding/json"
	"net/netip"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/iamd/iamd/analyzer/policy"
)

// Difference names a documented class of disagreement between iamd and the
// reference, with the predicate that recognises a case of it. See
// KNOWN_DIFFERENCES.md for the AWS rules.
type Difference struct {
	Name string
	// Owner is "reference" for a reference bug, "undecided" where the AWS
	// docs do not settle the outcome, "iamd" for a bug of ours that is
	// waiting for a fix.
	Owner string
	// Applies reports whether c contains the input that triggers it.
	Applies func(c *Case) bool
	// Decisions, when set, also requires the pair of decisions (iamd's,
	// the reference's) that the difference produces.
	Decisions func(ours, ref string) bool
}

// Differences returns every documented difference.
func Differences() []Difference {
	return []Difference{
		// Bugs of iamd first, so that a case that also triggers a
		// reference difference stays visible.
		{Name: "not-ip-bare-address-other-family", Owner: "reference", Applies: notIPBareOtherFamily},
		{Name: "unresolved-variable-in-negated-element", Owner: "undecided", Applies: unresolvedVariableNegated},
		{Name: "session-policy-limits-resource-policy-naming-session", Owner: "reference", Applies: func(c *Case) bool { return sessionInResourcePolicy(c, false) }},
		{Name: "session-policy-limits-resource-policy-for-everyone", Owner: "undecided", Applies: func(c *Case) bool { return sessionInResourcePolicy(c, true) }},
		{Name: "null-on-empty-list", Owner: "undecided", Applies: nullOnEmptyList},
		{Name: "date-epoch-seconds", Owner: "reference", Applies: dateEpochValue},
		{Name: "notprincipal-without-account", Owner: "reference", Applies: func(c *Case) bool { return notPrincipalPartial(c) == partialNoAccount }},
		{Name: "notprincipal-account-without-principal", Owner: "undecided", Applies: func(c *Case) bool { return notPrincipalPartial(c) == partialAccountOnly }},
		{Name: "iam-rule-hides-explicit-deny", Owner: "reference", Applies: func(c *Case) bool { return refusedBy(c, policy.RuleAWSManagedPolicy, policy.RuleReservedRole) },
			Decisions: func(ours, ref string) bool { return ours == "ExplicitlyDenied" && ref == "ImplicitlyDenied" }},
		{Name: "get-session-token-needs-no-permission", Owner: "reference", Applies: func(c *Case) bool { return ruleOf(c) == policy.RuleGetSessionToken },
			Decisions: func(ours, _ string) bool { return ours == "Allowed" }},
		{Name: "get-session-token-needs-long-term-credentials", Owner: "reference", Applies: func(c *Case) bool { return ruleOf(c) == policy.RuleLongTermCredentials },
			Decisions: func(ours, ref string) bool { return ours != "Allowed" && ref == "Allowed" }},
		{Name: "aws-owned-resource-is-not-cross-account", Owner: "reference", Applies: func(c *Case) bool { return c.Request.Resource.AccountID == "aws" },
			Decisions: func(ours, ref string) bool { return ours == "Allowed" && ref == "ImplicitlyDenied" }},
		{Name: "pass-role-aws-reserved-role", Owner: "undecided", Applies: passReservedRole,
			Decisions: func(ours, ref string) bool { return ours != "ImplicitlyDenied" && ref == "ImplicitlyDenied" }},
		{Name: "notprincipal-role-arn-caller", Owner: "undecided", Applies: notPrincipalNamesCallerRole,
			Decisions: func(ours, ref string) bool { return ours == "ExplicitlyDenied" }},
		{Name: "notprincipal-with-allow-rejected", Owner: "reference", Applies: notPrincipalAllow,
			Decisions: func(ours, _ string) bool { return ours == "Error" }},
	}
}

// KnownDifference reports whether a disagreement on c, where iamd decided
// ours and the reference ref, is a documented difference, and which one.
func KnownDifference(c *Case, ours, ref string) (Difference, bool) {
	for _, d := range Differences() {
		if d.Decisions != nil && !d.Decisions(ours, ref) {
			continue
		}
		if d.Applies(c) {
			return d, true
		}
	}
	return Difference{}, false
}

// statements calls fn for every statement of every policy in c.
func statements(c *Case, fn func(st map[string]any)) {
	var docs []json.RawMessage
	docs = append(docs, c.IdentityPolicies...)
	docs = append(docs, c.PermissionBoundaries...)
	docs = append(docs, c.ResourcePolicy, c.SessionPolicy)
	for _, l := range c.ServiceControlPolicies {
		docs = append(docs, l.Policies...)
	}
	for _, l := range c.ResourceControlPolicies {
		docs = append(docs, l.Policies...)
	}
	for _, raw := range docs {
		if len(raw) == 0 {
			continue
		}
		var doc struct {
			Statement json.RawMessage
		}
		if json.Unmarshal(raw, &doc) != nil {
			continue
		}
		var list []map[string]any
		if json.Unmarshal(doc.Statement, &list) != nil {
			var one map[string]any
			if json.Unmarshal(doc.Statement, &one) != nil {
				continue
			}
			list = []map[string]any{one}
		}
		for _, st := range list {
			fn(st)
		}
	}
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// conditions calls fn for each operator/key/values of a statement.
func conditions(st map[string]any, fn func(op, key string, vals []string)) {
	cond, _ := st["Condition"].(map[string]any)
	for op, block := range cond {
		m, _ := block.(map[string]any)
		for k, v := range m {
			fn(op, k, strs(v))
		}
	}
}

// notIPBareOtherFamily: a NotIpAddress value written as a bare address
// (no /prefix) of the other IP family than the request's aws:SourceIp. The
// reference returns "not matched" for it (its checkIfIpAddress handles a
// family mismatch only for values in CIDR form), so NotIpAddress is false
// where AWS says it is true: an IPv6 source is not the IPv4 address given.
func notIPBareOtherFamily(c *Case) bool {
	src, ok := contextString(c, "aws:SourceIp")
	if !ok {
		return false
	}
	ip, err := netip.ParseAddr(src)
	if err != nil {
		return false
	}
	found := false
	statements(c, func(st map[string]any) {
		conditions(st, func(op, _ string, vals []string) {
			if !strings.HasPrefix(op, "NotIpAddress") {
				return
			}
			for _, v := range vals {
				if strings.Contains(v, "/") {
					continue
				}
				if a, err := netip.ParseAddr(v); err == nil && a.Is4() != ip.Is4() {
					found = true
				}
			}
		})
	})
	return found
}

// unresolvedVariableNegated: a policy variable without a default whose key
// the request lacks, used in NotResource or in the values of a negated
// string or ARN operator. iamd lets the variable match nothing, so
// NotResource excludes nothing and StringNotEquals holds; the reference
// treats the whole element as not matching.
func unresolvedVariableNegated(c *Case) bool {
	found := false
	check := func(vals []string) {
		for _, v := range vals {
			for _, key := range variables(v) {
				if _, ok := c.Request.Context[key]; !ok && !hasKeyFold(c, key) {
					found = true
				}
			}
		}
	}
	statements(c, func(st map[string]any) {
		check(strs(st["NotResource"]))
		conditions(st, func(op, _ string, vals []string) {
			base := strings.TrimPrefix(strings.TrimPrefix(op, "ForAllValues:"), "ForAnyValue:")
			if strings.HasPrefix(base, "StringNot") || strings.HasPrefix(base, "ArnNot") {
				check(vals)
			}
		})
	})
	return found
}

// variables returns the keys of the ${key} variables in s that have no
// default value; ${$}, ${?} and ${*} are literals.
func variables(s string) []string {
	var keys []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return keys
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return keys
		}
		body := s[i+2 : i+j]
		s = s[i+j+1:]
		if body == "$" || body == "?" || body == "*" || strings.Contains(body, ",") {
			continue
		}
		keys = append(keys, strings.TrimSpace(body))
	}
}

func hasKeyFold(c *Case, key string) bool {
	for k := range c.Request.Context {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

func contextString(c *Case, key string) (string, bool) {
	for k, raw := range c.Request.Context {
		if strings.EqualFold(k, key) {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				return s, true
			}
		}
	}
	return "", false
}

// sessionInResourcePolicy: the caller is a role session with a session
// policy, and a same-account resource policy has an Allow naming the session
// ARN itself (anyone false), or every principal, "*" (anyone true). The IAM User Guide
// (access_policies.html#policies_session, "Session policies") says the
// permissions of a resource-based policy that names the session ARN are
// added after the session is created and are not limited by the session
// policy; the reference limits them anyway (its README lists session
// policies as not yet fully supported). For "*" the docs say nothing; iamd
// treats it like naming the session, since it names every principal.
func sessionInResourcePolicy(c *Case, anyone bool) bool {
	if len(c.SessionPolicy) == 0 || string(c.SessionPolicy) == "null" || len(c.ResourcePolicy) == 0 {
		return false
	}
	p := c.Request.Principal
	if !strings.HasPrefix(p, "arn:aws:sts::") {
		return false
	}
	found := false
	one := Case{ResourcePolicy: c.ResourcePolicy}
	statements(&one, func(st map[string]any) {
		if st["Effect"] != "Allow" {
			return
		}
		var names []string
		switch pr := st["Principal"].(type) {
		case string:
			names = []string{pr}
		case map[string]any:
			names = strs(pr["AWS"])
		}
		for _, n := range names {
			if (!anyone && n == p) || (anyone && n == "*") {
				found = true
			}
		}
	})
	return found
}

// nullOnEmptyList: a Null condition on a key the request gives as an empty
// list. iamd treats an empty multivalued key as absent, following the IAM
// User Guide (reference_policies_condition-single-vs-multi-valued-context-keys:
// a key whose value "resolves to a null dataset" behaves as a missing key);
// the reference treats the key as present.
func nullOnEmptyList(c *Case) bool {
	found := false
	statements(c, func(st map[string]any) {
		conditions(st, func(op, key string, _ []string) {
			if op != "Null" {
				return
			}
			for k, raw := range c.Request.Context {
				var list []string
				if strings.EqualFold(k, key) && json.Unmarshal(raw, &list) == nil && len(list) == 0 {
					found = true
				}
			}
		})
	})
	return found
}

// dateEpochValue: a Date condition value in epoch form (all digits). The
// IAM User Guide (reference_policies_elements_condition_operators, Date
// condition operators) accepts ISO 8601 or epoch (UNIX) time, which is
// seconds; the reference reads the number as JavaScript milliseconds, so
// 1767225600 (2026-01-01) becomes 1970-01-21.
func dateEpochValue(c *Case) bool {
	found := false
	statements(c, func(st map[string]any) {
		conditions(st, func(op, _ string, vals []string) {
			base := strings.TrimPrefix(strings.TrimPrefix(op, "ForAllValues:"), "ForAnyValue:")
			if !strings.HasPrefix(base, "Date") {
				return
			}
			for _, v := range vals {
				if v != "" && strings.Trim(v, "0123456789") == "" {
					found = true
				}
			}
		})
	})
	return found
}

type notPrincipalKind int

const (
	partialNone notPrincipalKind = iota
	partialNoAccount
	partialAccountOnly
)

// notPrincipalPartial looks for a Deny with a NotPrincipal that names some
// but not all of the caller's identities: its account, the role (for a role
// session) and the caller itself. The IAM User Guide
// (reference_policies_elements_notprincipal) says a NotPrincipal with Deny
// must name the account ARN of the not-denied principal as well as the
// principal (and, for a role session, the role too); iamd excludes the
// caller only when every identity is named. The reference excludes it when
// any one is. Without the account named, the docs side with iamd
// (partialNoAccount); with only the account named they do not say
// (partialAccountOnly).
func notPrincipalPartial(c *Case) notPrincipalKind {
	caller := c.Request.Principal
	account := accountOf(caller)
	var role string
	if strings.HasPrefix(caller, "arn:aws:sts::") {
		if rest, ok := strings.CutPrefix(caller, "arn:aws:sts::"+account+":assumed-role/"); ok {
			if i := strings.IndexByte(rest, '/'); i > 0 {
				role = "arn:aws:iam::" + account + ":role/" + rest[:i]
			}
		}
	}
	kind := partialNone
	statements(c, func(st map[string]any) {
		np, ok := st["NotPrincipal"].(map[string]any)
		if !ok || st["Effect"] != "Deny" {
			return
		}
		var acct, self, rl bool
		for _, n := range strs(np["AWS"]) {
			switch n {
			case account, "arn:aws:iam::" + account + ":root":
				acct = true
			case caller:
				self = true
			case role:
				rl = role != ""
			}
		}
		full := acct && self && (role == "" || rl)
		switch {
		case full || (!acct && !self && !rl):
		case !acct:
			kind = partialNoAccount
		case kind == partialNone:
			kind = partialAccountOnly
		}
	})
	return kind
}

// ruleOf is the AWS service rule that decides the case's request besides
// its policies (policy.RuleFor).
func ruleOf(c *Case) policy.ServiceRule {
	return policy.RuleFor(c.Request.Principal, c.Request.Action, c.Request.Resource.Resource)
}

// refusedBy: the request is one that an IAM rule refuses (an AWS-managed
// policy changed, an /aws-reserved/ role changed). The reference's
// IamServiceAuthorizer then answers ImplicitlyDenied even when a policy
// denies explicitly; its own KmsServiceAuthorizer keeps the explicit deny,
// and the IAM User Guide (reference_policies_evaluation-logic, "Deny
// evaluation") ends every evaluation at an explicit deny, which iamd
// reports.
func refusedBy(c *Case, rules ...policy.ServiceRule) bool {
	r := ruleOf(c)
	for _, x := range rules {
		if r == x {
			return true
		}
	}
	return false
}

// passReservedRole: iam:PassRole on a role under /aws-reserved/. The
// reference refuses it with the role-modifying actions (ImplicitlyDenied,
// even over an explicit deny); AWS documents the
// protection of those roles as "only modifiable by AWS" and no refusal of
// PassRole, which changes nothing about the role, so iamd lets the policies
// decide (policy.RuleReservedRole).
func passReservedRole(c *Case) bool {
	return strings.EqualFold(c.Request.Action, "iam:PassRole") && strings.Contains(c.Request.Resource.Resource, ":role/aws-reserved/")
}

// notPrincipalNamesCallerRole: the caller is given as a role ARN and a Deny
// with NotPrincipal names that role. iamd takes a role ARN for a session
// of the role that no policy names (policy.Request.Principal), and the IAM
// User Guide (reference_policies_elements_notprincipal) requires the
// session ARN to be named as well, so the Deny applies; the reference
// excludes the role ARN caller as an IAM role.
func notPrincipalNamesCallerRole(c *Case) bool {
	caller := c.Request.Principal
	if !strings.HasPrefix(caller, "arn:aws:iam::") || !strings.Contains(caller, ":role/") {
		return false
	}
	found := false
	statements(c, func(st map[string]any) {
		np, ok := st["NotPrincipal"].(map[string]any)
		if !ok || st["Effect"] != "Deny" {
			return
		}
		for _, n := range strs(np["AWS"]) {
			if n == caller {
				found = true
			}
		}
	})
	return found
}

// notPrincipalAllow: a statement with NotPrincipal and Allow. AWS documents
// it as unsupported ("NotPrincipal must be used with "Effect":"Deny". Using
// it with "Effect":"Allow" is not supported",
// reference_policies_elements_notprincipal), so iamd rejects the policy
// (policy.ErrUnsupported); the reference evaluates it as "everyone but".
func notPrincipalAllow(c *Case) bool {
	found := false
	statements(c, func(st map[string]any) {
		if _, ok := st["NotPrincipal"]; ok && st["Effect"] == "Allow" {
			found = true
		}
	})
	return found
}

// accountOf is the account field of an ARN.
func accountOf(s string) string {
	a, err := arn.Parse(s)
	if err != nil {
		return ""
	}
	return a.AccountID
}
