package policy

import (
	"errors"
	"fmt"
	"testing"
)

// TestServiceRulesExplain checks the decision, its reason and the rule
// named for each service rule, with and without an explicit deny: the
// explanation names the AWS rule where no statement decided.
func TestServiceRulesExplain(t *testing.T) {
	admin := mustCompileT(t, "Admin", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`)
	denyAll := mustCompileT(t, "DenyAll", `{"Version": "2012-10-17", "Statement": {"Sid": "No", "Effect": "Deny", "Action": "*", "Resource": "*"}}`)
	const (
		user    = "arn:aws:iam::111111111111:user/alice"
		session = "arn:aws:sts::111111111111:assumed-role/dev/s"
		managed = "arn:aws:iam::aws:policy/AdministratorAccess"
		sso     = "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1"
		alias   = "arn:aws:kms:eu-west-1:111111111111:alias/aws/ebs"
	)
	tests := []struct {
		name                      string
		principal, action, res    string
		pols                      []*Policy
		result                    Result
		reason                    string
		rule                      ServiceRule
		denies                    string
		wantAllowsAtLeastOneEntry bool
	}{
		{"caller identity, no policy", user, "sts:GetCallerIdentity", "*", nil, Allowed, ReasonGetCallerIdentity, RuleGetCallerIdentity, "[]", false},
		{"caller identity, deny", session, "sts:GetCallerIdentity", "*", []*Policy{denyAll}, Allowed, ReasonGetCallerIdentity, RuleGetCallerIdentity, "[identity DenyAll No Deny]", false},
		{"session token, user with deny", user, "sts:getsessiontoken", "*", []*Policy{denyAll}, Allowed, ReasonGetSessionToken, RuleGetSessionToken, "[identity DenyAll No Deny]", false},
		{"session token, session", session, "sts:GetSessionToken", "*", []*Policy{admin}, ImplicitlyDenied, ReasonLongTermOnly, RuleLongTermCredentials, "[]", true},
		{"session token, session with deny", session, "sts:GetSessionToken", "*", []*Policy{admin, denyAll}, ExplicitlyDenied, ReasonExplicitDeny, RuleLongTermCredentials, "[identity DenyAll No Deny]", true},
		{"managed policy", user, "iam:DeletePolicy", managed, []*Policy{admin}, ImplicitlyDenied, ReasonAWSManagedPolicy, RuleAWSManagedPolicy, "[]", true},
		{"managed policy with deny", user, "iam:DeletePolicy", managed, []*Policy{admin, denyAll}, ExplicitlyDenied, ReasonExplicitDeny, RuleAWSManagedPolicy, "[identity DenyAll No Deny]", true},
		{"managed policy, no allow", user, "iam:TagPolicy", managed, nil, ImplicitlyDenied, ReasonAWSManagedPolicy, RuleAWSManagedPolicy, "[]", false},
		{"reserved role", user, "iam:UpdateAssumeRolePolicy", sso, []*Policy{admin}, ImplicitlyDenied, ReasonReservedRole, RuleReservedRole, "[]", true},
		{"reserved role with deny", user, "iam:DeleteRole", sso, []*Policy{admin, denyAll}, ExplicitlyDenied, ReasonExplicitDeny, RuleReservedRole, "[identity DenyAll No Deny]", true},
		{"reserved role, pass role", user, "iam:PassRole", sso, []*Policy{admin}, Allowed, ReasonIdentityAllow, RuleNone, "[]", true},
		{"reserved alias", user, "kms:UpdateAlias", alias, []*Policy{admin}, ImplicitlyDenied, ReasonReservedAlias, RuleReservedAlias, "[]", true},
		{"reserved alias with deny", user, "kms:UpdateAlias", alias, []*Policy{admin, denyAll}, ExplicitlyDenied, ReasonExplicitDeny, RuleReservedAlias, "[identity DenyAll No Deny]", true},
		{"ordinary iam request", user, "iam:DeletePolicy", "arn:aws:iam::111111111111:policy/p", []*Policy{admin}, Allowed, ReasonIdentityAllow, RuleNone, "[]", true},
		{"other service", user, "ec2:DeleteVolume", "*", []*Policy{admin}, Allowed, ReasonIdentityAllow, RuleNone, "[]", true},
	}
	var d Decision
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := &Set{Identity: tt.pols}
			req := &Request{Principal: tt.principal, Action: tt.action, Resource: tt.res}
			got := set.Evaluate(req, &d)
			if got != tt.result || d.Result != tt.result || d.Reason != tt.reason || d.Rule != tt.rule {
				t.Fatalf("Evaluate()=%v, decision %v %q rule %v, want %v %q rule %v", got, d.Result, d.Reason, d.Rule, tt.result, tt.reason, tt.rule)
			}
			if g := fmt.Sprint(refs(d.Denies)); g != tt.denies {
				t.Errorf("denies %s, want %s", g, tt.denies)
			}
			if tt.wantAllowsAtLeastOneEntry && len(d.Allows) == 0 {
				t.Errorf("allows empty: the statements that applied are still listed under a rule")
			}
			if r := set.Evaluate(req, nil); r != tt.result {
				t.Errorf("Evaluate without a Decision = %v, want %v", r, tt.result)
			}
			if r := RuleFor(tt.principal, tt.action, tt.res); r != tt.rule {
				t.Errorf("RuleFor()=%v, want %v", r, tt.rule)
			}
		})
	}
	// A reused Decision forgets the rule of the previous request.
	set := &Set{Identity: []*Policy{admin}}
	set.Evaluate(&Request{Principal: user, Action: "iam:DeletePolicy", Resource: managed}, &d)
	set.Evaluate(&Request{Principal: user, Action: "s3:GetObject", Resource: "*"}, &d)
	if d.Rule != RuleNone || d.Reason != ReasonIdentityAllow {
		t.Errorf("reused Decision kept rule %v (%q)", d.Rule, d.Reason)
	}
}

func TestRuleFor(t *testing.T) {
	tests := []struct {
		principal, action, resource string
		want                        ServiceRule
	}{
		{"arn:aws:iam::111111111111:user/u", "STS:GETCALLERIDENTITY", "*", RuleGetCallerIdentity},
		{"ec2.amazonaws.com", "sts:GetCallerIdentity", "*", RuleGetCallerIdentity},
		{"*", "sts:GetCallerIdentity", "*", RuleNone}, // anonymous: not authenticated
		{"111111111111", "sts:GetSessionToken", "*", RuleGetSessionToken},
		{"arn:aws:iam::111111111111:root", "sts:GetSessionToken", "*", RuleGetSessionToken},
		{"arn:aws:iam::111111111111:role/r", "sts:GetSessionToken", "*", RuleLongTermCredentials},
		{"arn:aws:sts::111111111111:federated-user/f", "sts:GetSessionToken", "*", RuleLongTermCredentials},
		{"arn:aws:iam::111111111111:user/u", "sts:AssumeRole", "arn:aws:iam::111111111111:role/r", RuleNone},
		{"arn:aws:iam::111111111111:user/u", "iam:SetDefaultPolicyVersion", "arn:aws-us-gov:iam::aws:policy/job-function/Billing", RuleAWSManagedPolicy},
		{"arn:aws:iam::111111111111:user/u", "iam:GetPolicy", "arn:aws:iam::aws:policy/Billing", RuleNone},
		{"arn:aws:iam::111111111111:user/u", "iam:DeletePolicy", "arn:aws:iam::111111111111:policy/aws/x", RuleNone},
		{"arn:aws:iam::111111111111:user/u", "iam:TagRole", "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/eu-west-1/R", RuleReservedRole},
		{"arn:aws:iam::111111111111:user/u", "iam:TagRole", "arn:aws:iam::111111111111:role/aws-service-role/x/R", RuleNone},
		{"arn:aws:iam::111111111111:role/aws-service-role/sso.amazonaws.com/AWSServiceRoleForSSO", "iam:PutRolePolicy", "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/R", RuleNone},
		{"arn:aws:sts::111111111111:assumed-role/AWSServiceRoleForSSO/sso", "iam:DeleteRole", "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/R", RuleNone},
		{"arn:aws:sts::111111111111:assumed-role/AWSServiceRoleForSSO/sso", "iam:DeletePolicy", "arn:aws:iam::aws:policy/P", RuleAWSManagedPolicy},
		{"arn:aws:iam::111111111111:user/u", "iam:PassRole", "arn:aws:iam::111111111111:role/aws-reserved/R", RuleNone},
		{"arn:aws:iam::111111111111:user/u", "iam:DeletePolicy", "arn:aws:iam::111111111111:role/aws-reserved/R", RuleNone},
		{"arn:aws:iam::111111111111:user/u", "kms:DeleteAlias", "arn:aws:kms:us-east-1:111111111111:alias/aws/s3", RuleReservedAlias},
		{"arn:aws:iam::111111111111:user/u", "kms:Decrypt", "arn:aws:kms:us-east-1:111111111111:alias/aws/s3", RuleNone},
		{"arn:aws:iam::111111111111:user/u", "kms:DeleteAlias", "arn:aws:kms:us-east-1:111111111111:key/aws/x", RuleNone},
		{"arn:aws:iam::111111111111:user/u", "ssm:DeleteAlias", "arn:aws:kms:us-east-1:111111111111:alias/aws/s3", RuleNone},
		{"arn:aws:iam::111111111111:user/u", "iam", "", RuleNone},
		{"arn:aws:iam::111111111111:user/u", "iam:DeletePolicy", "arn:aws:iam::aws", RuleNone},
	}
	for _, tt := range tests {
		if got := RuleFor(tt.principal, tt.action, tt.resource); got != tt.want {
			t.Errorf("RuleFor(%q, %q, %q)=%v, want %v", tt.principal, tt.action, tt.resource, got, tt.want)
		}
	}
}

func TestRefusalCoversPattern(t *testing.T) {
	byRule := map[ServiceRule]Refusal{}
	for _, r := range Refusals() {
		byRule[r.Rule] = r
		for _, p := range r.Resources {
			if !r.CoversPattern(p) {
				t.Errorf("%v does not cover its own resource pattern %q", r.Rule, p)
			}
		}
	}
	tests := []struct {
		rule    ServiceRule
		pattern string
		want    bool
	}{
		{RuleAWSManagedPolicy, "arn:aws:iam::aws:policy/*", true},
		{RuleAWSManagedPolicy, "arn:aws:iam::aws:policy/AdministratorAccess", true},
		{RuleAWSManagedPolicy, "arn:aws:iam::*:policy/*", false},
		{RuleAWSManagedPolicy, "arn:aws:iam::aws:pol*", false},
		{RuleAWSManagedPolicy, "*", false},
		{RuleAWSManagedPolicy, "arn:aws:iam::111111111111:policy/*", false},
		{RuleReservedRole, "arn:aws:iam::111111111111:role/aws-reserved/*", true},
		{RuleReservedRole, "arn:aws:iam::*:role/aws-reserved/sso.amazonaws.com/*", true},
		{RuleReservedRole, "arn:aws:iam::111111111111:role/*", false},
		{RuleReservedRole, "arn:aws:iam::111111111111:role/aws-reserved${aws:username}/*", false},
		{RuleReservedAlias, "arn:aws:kms:*:*:alias/aws/*", true},
		{RuleReservedAlias, "arn:aws:kms:*:*:alias/*", false},
		{RuleReservedAlias, "arn:aws:k*:*:*:alias/aws/*", false},
		{RuleAWSManagedPolicy, "arn:aws:iam::a*:policy/*", false},
	}
	for _, tt := range tests {
		if got := byRule[tt.rule].CoversPattern(tt.pattern); got != tt.want {
			t.Errorf("%v.CoversPattern(%q)=%v, want %v", tt.rule, tt.pattern, got, tt.want)
		}
	}
}

// TestServiceRulesDoNotAllocate keeps the rule path as free as the rest of
// Evaluate.
func TestServiceRulesDoNotAllocate(t *testing.T) {
	admin := mustCompileT(t, "Admin", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`)
	set := &Set{Identity: []*Policy{admin}}
	var d Decision
	for _, req := range []*Request{
		{Principal: "arn:aws:iam::111111111111:user/alice", Action: "iam:DeletePolicy", Resource: "arn:aws:iam::aws:policy/ReadOnlyAccess"},
		{Principal: "arn:aws:iam::111111111111:user/alice", Action: "iam:UpdateRole", Resource: "arn:aws:iam::111111111111:role/aws-reserved/x/R"},
		{Principal: "arn:aws:sts::111111111111:assumed-role/r/s", Action: "sts:GetCallerIdentity", Resource: "*"},
		{Principal: "arn:aws:iam::111111111111:user/alice", Action: "kms:DeleteAlias", Resource: "arn:aws:kms:us-east-1:111111111111:alias/aws/s3"},
		{Principal: "arn:aws:iam::111111111111:user/alice", Action: "iam:GetUser", Resource: "arn:aws:iam::111111111111:user/alice"},
	} {
		set.Evaluate(req, &d)
		if n := testing.AllocsPerRun(100, func() { set.Evaluate(req, &d) }); n != 0 {
			t.Errorf("%s on %s: %v allocations per call, want 0", req.Action, req.Resource, n)
		}
	}
}

// TestNotPrincipalAllowRejected pins the decision on NotPrincipal with
// Allow: AWS documents it as unsupported, so a resource-based policy or an
// RCP with it is refused with an error naming the statement, while a Deny
// stays valid and Compile alone (the audit reads role trust policies that
// way) still accepts the document.
func TestNotPrincipalAllowRejected(t *testing.T) {
	allow := mustCompileT(t, "bucket", `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "s3:*", "Resource": "*"},
		{"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111111111111:user/bob"}, "Action": "s3:GetObject", "Resource": "*"}]}`)
	for _, l := range []Layer{LayerResource, LayerRCP} {
		err := allow.CheckLayer(l)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Field != "Statement[1].NotPrincipal" || !errors.Is(err, ErrUnsupported) {
			t.Errorf("CheckLayer(%v)=%v, want ErrUnsupported at Statement[1].NotPrincipal", l, err)
		}
	}
	deny := mustCompileT(t, "bucket", `{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "s3:*", "Resource": "*"}}`)
	if err := deny.CheckLayer(LayerResource); err != nil {
		t.Errorf("NotPrincipal with Deny rejected: %v", err)
	}
}
