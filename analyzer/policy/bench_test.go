package policy

import (
	"encoding/json"
	"fmt"
	"testing"
)

// Benchmarks for docs/performance.md:
//
//	go test -run '^$' -bench . -cpu 1 -benchmem ./analyzer/policy

func mustCompile(b *testing.B, name string, doc any) *Policy {
	b.Helper()
	data, err := json.Marshal(doc)
	if err != nil {
		b.Fatal(err)
	}
	p, err := CompileJSON(name, data)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

type stmt map[string]any

func doc(stmts ...stmt) map[string]any {
	return map[string]any{"Version": "2012-10-17", "Statement": stmts}
}

func benchEval(b *testing.B, set *Set, req *Request, want Result) {
	b.Helper()
	var d Decision
	if got := set.Evaluate(req, &d); got != want {
		b.Fatalf("Evaluate()=%v (%s), want %v", got, d.Reason, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		set.Evaluate(req, &d)
	}
}

func userRequest(action, resource string) *Request {
	req := &Request{Principal: "arn:aws:iam::111111111111:user/alice", Action: action, Resource: resource, ResourceAccount: "111111111111"}
	req.Context.Set("aws:username", "alice")
	req.Context.SetTyped("aws:SourceIp", TypeIP, "203.0.113.10")
	req.Context.SetBool("aws:MultiFactorAuthPresent", true)
	req.Context.SetTyped("aws:CurrentTime", TypeDate, "2026-11-23T12:00:00Z")
	req.Context.Set("aws:RequestedRegion", "eu-west-1")
	return req
}

func BenchmarkAdministratorAccess(b *testing.B) {
	set := &Set{Identity: []*Policy{mustCompile(b, "AdministratorAccess", doc(stmt{"Effect": "Allow", "Action": "*", "Resource": "*"}))}}
	benchEval(b, set, userRequest("s3:GetObject", "arn:aws:s3:::bucket1/data.txt"), Allowed)
}

// readOnlyPolicy is ReadOnlyAccess-sized: Get*/List*/Describe* on 400
// services plus 1,600 explicit actions, 2,800 patterns in one statement.
func readOnlyPolicy(b *testing.B) *Policy {
	return mustCompile(b, "ReadOnlyAccess", doc(stmt{"Sid": "ReadOnly", "Effect": "Allow", "Action": readOnlyActions(), "Resource": "*"}))
}

func readOnlyActions() []string {
	var acts []string
	for i := 0; i < 400; i++ {
		svc := fmt.Sprintf("svc%03d", i)
		acts = append(acts, svc+":Get*", svc+":List*", svc+":Describe*")
		for j := 0; j < 4; j++ {
			acts = append(acts, fmt.Sprintf("%s:BatchGet%dItems", svc, j))
		}
	}
	return append(acts, "s3:Get*", "s3:List*", "ec2:Describe*", "ec2:Get*", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan")
}

func BenchmarkReadOnlyWithBoundary(b *testing.B) {
	boundary := mustCompile(b, "Boundary", doc(
		stmt{"Sid": "Regions", "Effect": "Allow", "Action": []string{"s3:*", "ec2:*", "dynamodb:*", "svc*:*"}, "Resource": "*",
			"Condition": map[string]any{"StringEquals": map[string]any{"aws:RequestedRegion": []string{"eu-west-1", "eu-central-1"}}}},
		stmt{"Sid": "NoBadIP", "Effect": "Deny", "Action": "*", "Resource": "*",
			"Condition": map[string]any{"NotIpAddress": map[string]any{"aws:SourceIp": []string{"203.0.113.0/24", "2001:db8::/32"}}}},
		stmt{"Sid": "MFA", "Effect": "Deny", "NotAction": []string{"iam:ChangePassword", "sts:GetSessionToken"}, "Resource": "*",
			"Condition": map[string]any{"BoolIfExists": map[string]any{"aws:MultiFactorAuthPresent": "false"}}},
	))
	set := &Set{Identity: []*Policy{readOnlyPolicy(b)}, Boundary: []*Policy{boundary}}
	b.Run("allowed", func(b *testing.B) {
		benchEval(b, set, userRequest("ec2:DescribeInstances", "*"), Allowed)
	})
	b.Run("explicit-action", func(b *testing.B) {
		benchEval(b, set, userRequest("svc250:BatchGet3Items", "*"), Allowed)
	})
	b.Run("denied", func(b *testing.B) {
		benchEval(b, set, userRequest("s3:PutObject", "arn:aws:s3:::bucket1/data.txt"), ImplicitlyDenied)
	})
}

// roleWithTenPolicies is a role session with ten managed policies of mixed
// shapes (wildcards, resource ARNs with variables, conditions, a deny);
// each service appears in two of them.
func roleWithTenPolicies(b *testing.B) *Set {
	var pols []*Policy
	services := []string{"s3", "dynamodb", "sqs", "sns", "lambda", "logs", "kms", "ec2", "ecr", "ssm"}
	for i, svc := range services {
		next := services[(i+1)%len(services)] // each service appears in two policies
		d := doc(
			stmt{"Sid": "Read", "Effect": "Allow", "Action": []string{svc + ":Get*", svc + ":List*", svc + ":Describe*", next + ":Get*", next + ":List*"}, "Resource": "*"},
			stmt{"Sid": "WriteOwn", "Effect": "Allow", "Action": []string{svc + ":Put*", svc + ":Update*", svc + ":Create*"},
				"Resource": []string{fmt.Sprintf("arn:aws:%s:*:111111111111:app-%d/${aws:PrincipalTag/team}/*", svc, i), fmt.Sprintf("arn:aws:%s:::app-%d-*", svc, i)}},
			stmt{"Sid": "TaggedOnly", "Effect": "Allow", "Action": svc + ":*", "Resource": "*",
				"Condition": map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}},
			stmt{"Sid": "NoDelete", "Effect": "Deny", "Action": svc + ":Delete*", "Resource": "*",
				"Condition": map[string]any{"DateGreaterThan": map[string]any{"aws:CurrentTime": "2020-01-01T00:00:00Z"}}},
		)
		pols = append(pols, mustCompile(b, "Managed-"+svc, d))
	}
	return &Set{Identity: pols}
}

func roleRequest(action, resource string) *Request {
	req := &Request{Principal: "arn:aws:sts::111111111111:assumed-role/app/session-1", Action: action, Resource: resource, ResourceAccount: "111111111111"}
	req.Context.Set("aws:PrincipalTag/team", "blue")
	req.Context.Set("aws:ResourceTag/team", "red")
	req.Context.SetTyped("aws:CurrentTime", TypeDate, "2026-11-23T12:00:00Z")
	req.Context.Set("aws:PrincipalArn", "arn:aws:iam::111111111111:role/app")
	return req
}

func BenchmarkRoleTenPolicies(b *testing.B) {
	set := roleWithTenPolicies(b)
	b.Run("allowed-last-policy", func(b *testing.B) {
		benchEval(b, set, roleRequest("ssm:PutParameter", "arn:aws:ssm:eu-west-1:111111111111:app-9/blue/p1"), Allowed)
	})
	b.Run("implicitly-denied", func(b *testing.B) {
		benchEval(b, set, roleRequest("ecr:PutImage", "arn:aws:ecr:eu-west-1:111111111111:app-8/red/p1"), ImplicitlyDenied)
	})
	b.Run("explicitly-denied", func(b *testing.B) {
		benchEval(b, set, roleRequest("s3:DeleteObject", "arn:aws:s3:::app-0-bucket/x"), ExplicitlyDenied)
	})
}

// BenchmarkWithOrgAndResourcePolicy adds two SCP levels and a bucket policy
// to a managed-policy user: the shape of a typical production request.
func BenchmarkWithOrgAndResourcePolicy(b *testing.B) {
	full := mustCompile(b, "FullAWSAccess", doc(stmt{"Effect": "Allow", "Action": "*", "Resource": "*"}))
	region := mustCompile(b, "RegionLock", doc(stmt{"Sid": "EU", "Effect": "Deny", "NotAction": []string{"iam:*", "sts:*", "organizations:*"}, "Resource": "*",
		"Condition": map[string]any{"StringNotEquals": map[string]any{"aws:RequestedRegion": []string{"eu-west-1", "eu-central-1"}}}}))
	bucket := mustCompile(b, "bucket1-policy", doc(
		stmt{"Sid": "TLS", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": []string{"arn:aws:s3:::bucket1", "arn:aws:s3:::bucket1/*"},
			"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}},
		stmt{"Sid": "Team", "Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::111111111111:root"}, "Action": []string{"s3:GetObject", "s3:PutObject"}, "Resource": "arn:aws:s3:::bucket1/*"},
	))
	set := &Set{
		Identity: []*Policy{readOnlyPolicy(b)},
		SCPs:     []OrgLevel{{OrgIdentifier: "r-root", Policies: []*Policy{full}}, {OrgIdentifier: "ou-prod", Policies: []*Policy{full, region}}},
		Resource: bucket,
	}
	req := userRequest("s3:GetObject", "arn:aws:s3:::bucket1/data.txt")
	req.Context.SetBool("aws:SecureTransport", true)
	benchEval(b, set, req, Allowed)
}

// BenchmarkCompileReadOnly is the one-time cost of parsing and compiling the
// ReadOnlyAccess-sized policy (2,807 action patterns).
func BenchmarkCompileReadOnly(b *testing.B) {
	data, err := json.Marshal(doc(stmt{"Effect": "Allow", "Action": readOnlyActions(), "Resource": "*"}))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := CompileJSON("ReadOnlyAccess", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServiceRule is an iam:/sts: request that an AWS service rule
// decides after the policies: the only requests that pay for the rules.
func BenchmarkServiceRule(b *testing.B) {
	set := &Set{Identity: []*Policy{readOnlyPolicy(b), mustCompile(b, "AdministratorAccess", doc(stmt{"Effect": "Allow", "Action": "*", "Resource": "*"}))}}
	b.Run("aws-managed-policy", func(b *testing.B) {
		benchEval(b, set, userRequest("iam:DeletePolicy", "arn:aws:iam::aws:policy/ReadOnlyAccess"), ImplicitlyDenied)
	})
	b.Run("customer-policy", func(b *testing.B) {
		benchEval(b, set, userRequest("iam:DeletePolicy", "arn:aws:iam::111111111111:policy/team"), Allowed)
	})
	b.Run("get-caller-identity", func(b *testing.B) {
		benchEval(b, set, userRequest("sts:GetCallerIdentity", "*"), Allowed)
	})
}
