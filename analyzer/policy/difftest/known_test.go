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
