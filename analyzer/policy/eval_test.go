package policy

import (
	"fmt"
	"testing"
)

func mustCompileT(t *testing.T, name, doc string) *Policy {
	t.Helper()
	p, err := CompileJSON(name, []byte(doc))
	if err != nil {
		t.Fatalf("CompileJSON(%s): %v", name, err)
	}
	return p
}

func refs(rs []StatementRef) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

// TestDecisionExplains checks that the Decision names every statement that
// allowed or denied, with its layer, SCP/RCP level, policy name and Sid or
// index, since granted-set code derives "which statement granted" from it.
func TestDecisionExplains(t *testing.T) {
	full := mustCompileT(t, "FullAWSAccess", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`)
	ou := mustCompileT(t, "OUGuard", `{"Version": "2012-10-17", "Statement": [
		{"Sid": "S3Only", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
		{"Sid": "NoDelete", "Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}]}`)
	ident := mustCompileT(t, "DevPolicy", `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"},
		{"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b1*"}]}`)
	rcp := mustCompileT(t, "RCPFullAWSAccess", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}}`)
	set := &Set{
		Identity: []*Policy{ident},
		SCPs:     []OrgLevel{{OrgIdentifier: "r-root", Policies: []*Policy{full}}, {OrgIdentifier: "ou-dev", Policies: []*Policy{full, ou}}},
		RCPs:     []OrgLevel{{OrgIdentifier: "r-root", Policies: []*Policy{rcp}}},
	}
	tests := []struct {
		action, resource string
		result           Result
		reason           string
		allows, denies   []string
	}{
		{"s3:GetObject", "arn:aws:s3:::b1/x", Allowed, ReasonIdentityAllow,
			[]string{"identity DevPolicy #0 Allow", "identity DevPolicy All Allow", "scp level 0 FullAWSAccess #0 Allow",
				"scp level 1 FullAWSAccess #0 Allow", "scp level 1 OUGuard S3Only Allow", "rcp level 0 RCPFullAWSAccess #0 Allow"}, []string{}},
		{"s3:DeleteBucket", "arn:aws:s3:::b1", ExplicitlyDenied, ReasonExplicitDeny,
			[]string{"identity DevPolicy All Allow", "scp level 0 FullAWSAccess #0 Allow", "scp level 1 FullAWSAccess #0 Allow",
				"scp level 1 OUGuard S3Only Allow", "rcp level 0 RCPFullAWSAccess #0 Allow"}, []string{"scp level 1 OUGuard NoDelete Deny"}},
		{"s3:PutObject", "arn:aws:s3:::other/x", ImplicitlyDenied, ReasonNoIdentityAllow,
			[]string{"scp level 0 FullAWSAccess #0 Allow", "scp level 1 FullAWSAccess #0 Allow", "scp level 1 OUGuard S3Only Allow",
				"rcp level 0 RCPFullAWSAccess #0 Allow"}, []string{}},
	}
	var d Decision
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			req := &Request{Principal: "arn:aws:iam::111111111111:user/dev", Action: tt.action, Resource: tt.resource}
			if got := set.Evaluate(req, &d); got != tt.result || d.Result != tt.result || d.Reason != tt.reason {
				t.Fatalf("Evaluate()=%v, d=%v %q, want %v %q", got, d.Result, d.Reason, tt.result, tt.reason)
			}
			if got, want := fmt.Sprint(refs(d.Allows)), fmt.Sprint(tt.allows); got != want {
				t.Errorf("allows %s, want %s", got, want)
			}
			if got, want := fmt.Sprint(refs(d.Denies)), fmt.Sprint(tt.denies); got != want {
				t.Errorf("denies %s, want %s", got, want)
			}
		})
	}
	if got := set.Evaluate(&Request{Principal: "arn:aws:iam::111111111111:user/dev", Action: "s3:GetObject", Resource: "*"}, nil); got != Allowed {
		t.Errorf("Evaluate without a Decision = %v, want Allowed", got)
	}
}

// TestEvaluateDoesNotAllocate guards the zero-allocation hot path (a count,
// not a timing).
func TestEvaluateDoesNotAllocate(t *testing.T) {
	p := mustCompileT(t, "p", `{"Version": "2012-10-17", "Statement": [
		{"Sid": "A", "Effect": "Allow", "Action": ["s3:Get*", "S3:List*"], "Resource": "arn:aws:s3:::b/${aws:username}/*",
		 "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
		               "NumericLessThan": {"s3:max-keys": "100"}, "ForAllValues:StringLike": {"aws:TagKeys": ["a*", "b"]}}},
		{"Effect": "Deny", "NotAction": "s3:*", "Resource": "*", "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}}}]}`)
	set := &Set{Identity: []*Policy{p}, Boundary: []*Policy{p}, SCPs: []OrgLevel{{Policies: []*Policy{p}}}}
	req := &Request{Principal: "arn:aws:iam::111111111111:user/alice", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/alice/x"}
	req.Context.Set("aws:username", "alice")
	req.Context.SetTyped("aws:SourceIp", TypeIP, "10.1.2.3")
	req.Context.SetTyped("aws:CurrentTime", TypeDate, "2026-11-23T12:00:00Z")
	req.Context.SetTyped("s3:max-keys", TypeNumeric, "10")
	req.Context.SetList("aws:TagKeys", TypeString, []string{"abc", "b"})
	req.Context.SetTyped("aws:PrincipalArn", TypeARN, "arn:aws:iam::111111111111:user/alice")
	var d Decision
	if got := set.Evaluate(req, &d); got != Allowed {
		t.Fatalf("Evaluate()=%v (%s), want Allowed", got, d.Reason)
	}
	if n := testing.AllocsPerRun(100, func() { set.Evaluate(req, &d) }); n != 0 {
		t.Errorf("Evaluate allocates %v times per call, want 0", n)
	}
	st := &p.Statements()[0]
	if n := testing.AllocsPerRun(100, func() { st.MatchesAction("S3:GetObject") }); n != 0 {
		t.Errorf("MatchesAction allocates %v times per call, want 0", n)
	}
}

func TestContext(t *testing.T) {
	var c Context
	c.Set("aws:UserName", "a")
	c.Set("AWS:username", "b") // same key, replaced
	c.SetList("aws:TagKeys", TypeString, []string{"x"})
	c.SetBool("aws:SecureTransport", true)
	if got, want := c.Len(), 3; got != want {
		t.Fatalf("Len()=%d, want %d", got, want)
	}
	if v, ok := c.Lookup("aws:username"); !ok || v.Values[0] != "b" || v.Multi {
		t.Errorf("Lookup(aws:username)=%+v,%v", v, ok)
	}
	if v, ok := c.Lookup("AWS:TAGKEYS"); !ok || !v.Multi {
		t.Errorf("Lookup(aws:TagKeys)=%+v,%v", v, ok)
	}
	if _, ok := c.variable("aws:tagkeys"); ok {
		t.Errorf("a multivalued key substituted as a policy variable")
	}
	c.Delete("Aws:Username")
	if _, ok := c.Lookup("aws:username"); ok || c.Len() != 2 {
		t.Errorf("Delete left the key or removed another (len %d)", c.Len())
	}
	if v, ok := c.Lookup("aws:securetransport"); !ok || v.Type != TypeBool || v.Values[0] != "true" {
		t.Errorf("SetBool stored %+v", v)
	}
}

// TestPolicyServicePrefilter checks that skipping policies about other
// services changes no decision.
func TestPolicyServicePrefilter(t *testing.T) {
	p := mustCompileT(t, "two-services", `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["s3:Get*", "ec2:Describe*"], "Resource": "*"},
		{"Effect": "Deny", "Action": "EC2:Terminate*", "Resource": "*"}]}`)
	wide := mustCompileT(t, "not-action", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}}`)
	if got, want := fmt.Sprint(p.svcs), "[s3 ec2]"; got != want {
		t.Fatalf("services %s, want %s", got, want)
	}
	if wide.svcs != nil {
		t.Fatalf("a NotAction policy has a service prefilter %v", wide.svcs)
	}
	tests := []struct {
		action string
		want   Result
	}{
		{"s3:GetObject", Allowed},
		{"S3:getobject", Allowed},
		{"ec2:DescribeInstances", Allowed},
		{"ec2:TerminateInstances", ExplicitlyDenied},
		{"iam:GetUser", Allowed}, // through the NotAction policy only
		{"s3:PutObject", ImplicitlyDenied},
	}
	set := &Set{Identity: []*Policy{p, wide}}
	for _, tt := range tests {
		req := &Request{Principal: "arn:aws:iam::111111111111:user/u", Action: tt.action, Resource: "*"}
		if got := set.Evaluate(req, nil); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.action, got, tt.want)
		}
	}
}

// TestEvaluateConcurrent shares one Set and Request between goroutines
// (run with -race).
func TestEvaluateConcurrent(t *testing.T) {
	p := mustCompileT(t, "p", `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${aws:username}/*"},
		{"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}]}`)
	set := &Set{Identity: []*Policy{p}}
	req := &Request{Principal: "arn:aws:iam::111111111111:user/alice", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/alice/x"}
	req.Context.Set("aws:username", "alice")
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			var d Decision
			for i := 0; i < 200; i++ {
				if got := set.Evaluate(req, &d); got != Allowed || len(d.Allows) != 1 {
					errs <- fmt.Errorf("Evaluate()=%v with %d allows", got, len(d.Allows))
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestRequiresResourcePolicy(t *testing.T) {
	tests := []struct {
		action, resource string
		want             bool
	}{
		{"sts:AssumeRole", "arn:aws:iam::111111111111:role/r", true},
		{"STS:assumerolewithsaml", "arn:aws:iam::111111111111:role/r", true},
		{"sts:AssumeRoleWithWebIdentity", "arn:aws:iam::111111111111:role/path/r", true},
		{"sts:GetCallerIdentity", "*", false},
		{"sts:AssumeRole", "*", false},
		{"kms:Decrypt", "arn:aws:kms:us-east-1:111111111111:key/abc", true},
		{"kms:ListKeys", "*", false},
		{"kms:Decrypt", "arn:aws:kms:us-east-1:111111111111:alias/a", false},
		{"s3:GetObject", "arn:aws:s3:::b/key/x", false},
		{"nocolon", "", false},
	}
	for _, tt := range tests {
		if got := RequiresResourcePolicy(tt.action, tt.resource); got != tt.want {
			t.Errorf("RequiresResourcePolicy(%q, %q)=%v, want %v", tt.action, tt.resource, got, tt.want)
		}
	}
}
