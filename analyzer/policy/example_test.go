package policy_test

import (
	"fmt"

	"github.com/iamd/iamd/analyzer/policy"
)

func ExampleSet_Evaluate() {
	identity, err := policy.CompileJSON("S3Read", []byte(`{"Version": "2012-10-17", "Statement": [
		{"Sid": "Read", "Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": "arn:aws:s3:::reports/${aws:username}/*"}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	boundary, err := policy.CompileJSON("Boundary", []byte(`{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
		{"Sid": "NoPlainHTTP", "Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	set := &policy.Set{Identity: []*policy.Policy{identity}, Boundary: []*policy.Policy{boundary}}

	req := &policy.Request{
		Principal:       "arn:aws:iam::111111111111:user/alice",
		Action:          "s3:GetObject",
		Resource:        "arn:aws:s3:::reports/alice/q3.csv",
		ResourceAccount: "111111111111",
	}
	req.Context.Set("aws:username", "alice")
	req.Context.SetBool("aws:SecureTransport", true)

	var d policy.Decision // reuse across calls: Evaluate allocates nothing then
	set.Evaluate(req, &d)
	fmt.Println(d.Result, "-", d.Reason)
	for _, r := range d.Allows {
		fmt.Println("  allowed by", r)
	}

	req.Context.SetBool("aws:SecureTransport", false)
	set.Evaluate(req, &d)
	fmt.Println(d.Result, "-", d.Reason)
	for _, r := range d.Denies {
		fmt.Println("  denied by", r)
	}
	// Output:
	// Allowed - identity-based policy allows
	//   allowed by identity S3Read Read Allow
	//   allowed by boundary Boundary #0 Allow
	// ExplicitlyDenied - explicit deny
	//   denied by boundary Boundary NoPlainHTTP Deny
}

// Granted sets read compiled statements without evaluating a request.
func ExampleStatement() {
	p, err := policy.CompileJSON("Mixed", []byte(`{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "dynamodb:*Item", "Resource": "arn:aws:dynamodb:*:*:table/Orders"},
		{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, st := range p.Statements() {
		res, not := st.Resources()
		fmt.Println(st.Index(), st.Effect(), st.MatchesAction("dynamodb:PutItem"), res, not, st.HasConditions())
	}
	// Output:
	// 0 Allow true [arn:aws:dynamodb:*:*:table/Orders] false false
	// 1 Allow false [*] false true
}
