package difftest

import (
	"encoding/json"
	"testing"
)

// mkCase builds a small case from JSON fragments.
func mkCase(t *testing.T, principal, ctx string, identity, resource, session string) *Case {
	t.Helper()
	c := &Case{}
	c.Request.Principal = principal
	c.Request.Action = "s3:GetObject"
	c.Request.Resource.Resource = "arn:aws:s3:::team-data/home/alice/notes.txt"
	c.Request.Resource.AccountID = homeAccount
	if err := json.Unmarshal([]byte(ctx), &c.Request.Context); err != nil {
		t.Fatal(err)
	}
	if identity != "" {
		c.IdentityPolicies = []json.RawMessage{json.RawMessage(identity)}
	}
	if resource != "" {
		c.ResourcePolicy = json.RawMessage(resource)
	}
	if session != "" {
		c.SessionPolicy = json.RawMessage(session)
	}
	return c
}

func TestDifferencePredicates(t *testing.T) {
	const (
		user    = "arn:aws:iam::111122223333:user/alice"
		session = "arn:aws:sts::111122223333:assumed-role/Dev/alice-session"
	)
	stmt := func(s string) string { return `{"Version":"2012-10-17","Statement":` + s + `}` }
	allowAll := stmt(`{"Effect":"Allow","Action":"*","Resource":"*"}`)
	tests := []struct {
		name string
		c    *Case
		want string // "" = no difference applies
	}{
		{"bare v4 NotIpAddress, v6 source", mkCase(t, user, `{"aws:SourceIp":"2001:db8::1"}`,
			stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"203.0.113.10"}}}`), "", ""),
			"not-ip-bare-address-other-family"},
		{"CIDR v4 NotIpAddress, v6 source", mkCase(t, user, `{"aws:SourceIp":"2001:db8::1"}`,
			stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"203.0.113.10/32"}}}`), "", ""),
			""},
		{"bare v4 NotIpAddress, v4 source", mkCase(t, user, `{"aws:SourceIp":"198.51.100.7"}`,
			stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"203.0.113.10"}}}`), "", ""),
			""},
		{"bare v4 IpAddress, v6 source", mkCase(t, user, `{"aws:SourceIp":"2001:db8::1"}`,
			stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.10"}}}`), "", ""),
			""},
		{"NotResource with absent variable", mkCase(t, session, `{}`,
			stmt(`{"Effect":"Deny","Action":"*","NotResource":"arn:aws:s3:::team-data/home/${aws:username}/*"}`), "", ""),
			"unresolved-variable-in-negated-element"},
		{"NotResource with present variable", mkCase(t, user, `{"aws:username":"alice"}`,
			stmt(`{"Effect":"Deny","Action":"*","NotResource":"arn:aws:s3:::team-data/home/${aws:username}/*"}`), "", ""),
			""},
		{"NotResource with defaulted variable", mkCase(t, session, `{}`,
			stmt(`{"Effect":"Deny","Action":"*","NotResource":"arn:aws:s3:::team-data/home/${aws:username, 'x'}/*"}`), "", ""),
			""},
		{"Resource with absent variable", mkCase(t, session, `{}`,
			stmt(`{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::team-data/home/${aws:username}/*"}`), "", ""),
			""},
		{"StringNotEquals value with absent variable", mkCase(t, user, `{"aws:username":"alice"}`,
			stmt(`{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringNotEquals":{"aws:username":"${aws:PrincipalTag/team}"}}}`), "", ""),
			"unresolved-variable-in-negated-element"},
		{"StringEquals value with absent variable", mkCase(t, user, `{"aws:username":"alice"}`,
			stmt(`{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":"${aws:PrincipalTag/team}"}}}`), "", ""),
			""},
		{"resource policy names the session", mkCase(t, session, `{}`, "",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"`+session+`"},"Action":"*","Resource":"*"}`), stmt(`{"Effect":"Deny","NotAction":"s3:*","Resource":"*"}`)),
			"session-policy-limits-resource-policy-naming-session"},
		{"resource policy names everyone", mkCase(t, session, `{}`, "",
			stmt(`{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}`), stmt(`{"Effect":"Deny","NotAction":"s3:*","Resource":"*"}`)),
			"session-policy-limits-resource-policy-for-everyone"},
		{"resource policy names the role, session policy", mkCase(t, session, `{}`, "",
			stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/Dev"},"Action":"*","Resource":"*"}`), stmt(`{"Effect":"Deny","NotAction":"s3:*","Resource":"*"}`)),
			""},
		{"resource policy names the session, no session policy", mkCase(t, session, `{}`, allowAll,
			stmt(`{"Effect":"Allow","Principal":{"AWS":"`+session+`"},"Action":"*","Resource":"*"}`), ""),
			""},
		{"Null on empty list", mkCase(t, user, `{"aws:TagKeys":[]}`,
			stmt(`{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Null":{"aws:TagKeys":"false"}}}`), "", ""),
			"null-on-empty-list"},
		{"Null on non-empty list", mkCase(t, user, `{"aws:TagKeys":["env"]}`,
			stmt(`{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Null":{"aws:TagKeys":"false"}}}`), "", ""),
			""},
		{"ForAllValues on empty list", mkCase(t, user, `{"aws:TagKeys":[]}`,
			stmt(`{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":"env"}}}`), "", ""),
			""},
		{"epoch Date value", mkCase(t, user, `{"aws:CurrentTime":"2025-01-01T00:00:00Z"}`,
			stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"1767225600"}}}`), "", ""),
			"date-epoch-seconds"},
		{"ISO Date value", mkCase(t, user, `{"aws:CurrentTime":"2025-01-01T00:00:00Z"}`,
			stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2026-01-01"}}}`), "", ""),
			""},
		{"epoch in a Numeric condition", mkCase(t, user, `{"aws:MultiFactorAuthAge":"30"}`,
			stmt(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"1767225600"}}}`), "", ""),
			""},
		{"NotPrincipal names the user only", mkCase(t, user, `{}`, allowAll,
			stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":"`+user+`"},"Action":"*","Resource":"*"}`), ""),
			"notprincipal-without-account"},
		{"NotPrincipal names the account only", mkCase(t, user, `{}`, allowAll,
			stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"*","Resource":"*"}`), ""),
			"notprincipal-account-without-principal"},
		{"NotPrincipal names user and account", mkCase(t, user, `{}`, allowAll,
			stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":["`+user+`","arn:aws:iam::111122223333:root"]},"Action":"*","Resource":"*"}`), ""),
			""},
		{"NotPrincipal names session and account, not the role", mkCase(t, session, `{}`, allowAll,
			stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":["`+session+`","111122223333"]},"Action":"*","Resource":"*"}`), ""),
			"notprincipal-account-without-principal"},
		{"NotPrincipal names session, role and account", mkCase(t, session, `{}`, allowAll,
			stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":["`+session+`","arn:aws:iam::111122223333:role/Dev","111122223333"]},"Action":"*","Resource":"*"}`), ""),
			""},
		{"NotPrincipal names someone else", mkCase(t, user, `{}`, allowAll,
			stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::444455556666:user/carol","444455556666"]},"Action":"*","Resource":"*"}`), ""),
			""},
		{"NotPrincipal Deny with boundary, iamd denies", func() *Case {
			c := mkCase(t, user, `{}`, allowAll,
				stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":["`+user+`","111122223333"]},"Action":"*","Resource":"*"}`), "")
			c.PermissionBoundaries = []json.RawMessage{json.RawMessage(allowAll)}
			return c
		}(), ""},
		{"NotPrincipal Allow-free Deny in identity policy, boundary", func() *Case {
			c := mkCase(t, user, `{}`, allowAll, "", "")
			c.PermissionBoundaries = []json.RawMessage{json.RawMessage(allowAll)}
			return c
		}(), ""},
	}
	// decisions are iamd's and the reference's decision in the
	// disagreement; iamd Allowed, reference ImplicitlyDenied by default.
	decisions := map[string][2]string{
		"NotPrincipal Deny, caller with a boundary":    {"Allowed", "ExplicitlyDenied"},
		"NotPrincipal Deny with boundary, iamd denies": {"ExplicitlyDenied", "ImplicitlyDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ours, ref := "Allowed", "ImplicitlyDenied"
			if d, ok := decisions[tt.name]; ok {
				ours, ref = d[0], d[1]
			}
			d, ok := KnownDifference(tt.c, ours, ref)
			if got := d.Name; got != tt.want || ok != (tt.want != "") {
				t.Fatalf("KnownDifference()=%q,%v want %q", got, ok, tt.want)
			}
		})
	}
}

// TestServiceRulePredicates covers the differences around the AWS service
// rules, role-ARN callers and NotPrincipal with Allow, each on a minimal
// case with the decision pair it explains, and on near misses: another
// action or resource, the other caller kind, the pair the difference does
// not produce.
func TestServiceRulePredicates(t *testing.T) {
	const (
		user    = "arn:aws:iam::111122223333:user/alice"
		session = "arn:aws:sts::111122223333:assumed-role/Dev/alice-session"
		role    = "arn:aws:iam::111122223333:role/Dev"
		managed = "arn:aws:iam::aws:policy/ReadOnlyAccess"
		sso     = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0a1b2c3d"
	)
	stmt := func(s string) string { return `{"Version":"2012-10-17","Statement":` + s + `}` }
	allowAll := stmt(`{"Effect":"Allow","Action":"*","Resource":"*"}`)
	req := func(principal, action, resource, account string) *Case {
		c := mkCase(t, principal, `{}`, allowAll, "", "")
		c.Request.Action, c.Request.Resource.Resource, c.Request.Resource.AccountID = action, resource, account
		return c
	}
	withResourcePolicy := func(c *Case, doc string) *Case {
		c.ResourcePolicy = json.RawMessage(doc)
		return c
	}
	tests := []struct {
		name      string
		c         *Case
		ours, ref string
		want      string
	}{
		{"managed policy, explicit deny", req(user, "iam:DeletePolicy", managed, homeAccount), "ExplicitlyDenied", "ImplicitlyDenied", "iam-rule-hides-explicit-deny"},
		{"reserved role, explicit deny", req(session, "iam:UpdateAssumeRolePolicy", sso, homeAccount), "ExplicitlyDenied", "ImplicitlyDenied", "iam-rule-hides-explicit-deny"},
		{"customer policy, explicit deny", req(user, "iam:DeletePolicy", "arn:aws:iam::111122223333:policy/p", homeAccount), "ExplicitlyDenied", "ImplicitlyDenied", ""},
		{"managed policy, allowed by iamd", req(user, "iam:DeletePolicy", managed, homeAccount), "Allowed", "ImplicitlyDenied", ""},
		{"alias rule, explicit deny", req(user, "kms:DeleteAlias", "arn:aws:kms:us-east-1:111122223333:alias/aws/s3", homeAccount), "ExplicitlyDenied", "ImplicitlyDenied", ""},
		{"session token, user", req(user, "sts:GetSessionToken", "*", homeAccount), "Allowed", "ExplicitlyDenied", "get-session-token-needs-no-permission"},
		{"session token, user, iamd denies", req(user, "sts:GetSessionToken", "*", homeAccount), "ImplicitlyDenied", "Allowed", ""},
		{"session token, session", req(session, "sts:GetSessionToken", "*", homeAccount), "ImplicitlyDenied", "Allowed", "get-session-token-needs-long-term-credentials"},
		{"session token, role ARN", req(role, "sts:GetSessionToken", "*", homeAccount), "ExplicitlyDenied", "Allowed", "get-session-token-needs-long-term-credentials"},
		{"caller identity", req(user, "sts:GetCallerIdentity", "*", homeAccount), "Allowed", "ImplicitlyDenied", ""},
		{"AWS-owned resource", req(user, "iam:GetPolicy", managed, "aws"), "Allowed", "ImplicitlyDenied", "aws-owned-resource-is-not-cross-account"},
		{"AWS-managed policy in the caller's account", req(user, "iam:GetPolicy", managed, homeAccount), "Allowed", "ImplicitlyDenied", ""},
		{"pass reserved role", req(user, "iam:PassRole", sso, homeAccount), "Allowed", "ImplicitlyDenied", "pass-role-aws-reserved-role"},
		{"pass reserved role, explicit deny", req(user, "iam:PassRole", sso, homeAccount), "ExplicitlyDenied", "ImplicitlyDenied", "pass-role-aws-reserved-role"},
		{"pass ordinary role", req(user, "iam:PassRole", role, homeAccount), "Allowed", "ImplicitlyDenied", ""},
		{"NotPrincipal names the calling role", withResourcePolicy(req(role, "s3:GetObject", "arn:aws:s3:::team-data/x", homeAccount),
			stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":["`+role+`","111122223333"]},"Action":"*","Resource":"*"}`)), "ExplicitlyDenied", "Allowed", "notprincipal-role-arn-caller"},
		{"NotPrincipal names the role, session caller", withResourcePolicy(req(session, "s3:GetObject", "arn:aws:s3:::team-data/x", homeAccount),
			stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":["`+role+`","111122223333"]},"Action":"*","Resource":"*"}`)), "ExplicitlyDenied", "Allowed", "notprincipal-account-without-principal"},
		{"NotPrincipal names another role", withResourcePolicy(req(role, "s3:GetObject", "arn:aws:s3:::team-data/x", homeAccount),
			stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::444455556666:role/Dev","444455556666"]},"Action":"*","Resource":"*"}`)), "ExplicitlyDenied", "Allowed", ""},
		{"NotPrincipal with Allow", withResourcePolicy(req(user, "s3:GetObject", "arn:aws:s3:::team-data/x", homeAccount),
			stmt(`{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"*","Resource":"*"}`)), "Error", "Allowed", "notprincipal-with-allow-rejected"},
		{"NotPrincipal with Deny, an error", withResourcePolicy(req(user, "s3:GetObject", "arn:aws:s3:::team-data/x", homeAccount),
			stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"*","Resource":"*"}`)), "Error", "Allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := KnownDifference(tt.c, tt.ours, tt.ref)
			if got := d.Name; got != tt.want || ok != (tt.want != "") {
				t.Fatalf("KnownDifference()=%q,%v want %q", got, ok, tt.want)
			}
		})
	}
}
