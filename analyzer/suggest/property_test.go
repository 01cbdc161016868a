package suggest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/policy"
)

// The property tests draw random policies and random usage and check what
// must hold for every suggestion, whatever the input:
//
//   - the self-check passes (the suggestions are built to pass it);
//   - a suggestion never grants more than the principal's policies do
//     today (checked here independently of the self-check);
//   - in place, every NOREPO statement is byte-identical.
//
// IAMD_PROP_SEED and IAMD_PROP_CASES choose the draw (default: 60 cases,
// 12 with -short).

var propActions = []string{
	"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetBucketPolicy", "s3:ListAllMyBuckets",
	"ec2:DescribeInstances", "ec2:DescribeVpcs", "ec2:RunInstances", "ec2:TerminateInstances",
	"iam:GetRole", "iam:ListRoles", "iam:PassRole", "iam:CreateUser",
	"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:ListQueues",
	"dynamodb:GetItem", "dynamodb:Query", "dynamodb:DescribeTable",
	"kms:Decrypt", "kms:Encrypt", "sts:GetCallerIdentity", "logs:PutLogEvents",
}

var propPatterns = []string{"s3:Get*", "s3:*", "ec2:Describe*", "iam:Get*", "sqs:*", "dynamodb:*", "kms:*"}

// propResource returns an ARN of the action's resource type from a small
// pool, or "*" for actions that take none.
func propResource(r *rand.Rand, action string) string {
	n := r.IntN(3)
	switch {
	case action == "s3:ListBucket" || action == "s3:GetBucketPolicy":
		return fmt.Sprintf("arn:aws:s3:::bucket-%d", n)
	case strings.HasPrefix(action, "s3:") && action != "s3:ListAllMyBuckets":
		return fmt.Sprintf("arn:aws:s3:::bucket-%d/dir-%d/key-%d", r.IntN(2), n, r.IntN(4))
	case action == "ec2:RunInstances" || action == "ec2:TerminateInstances":
		return fmt.Sprintf("arn:aws:ec2:us-east-1:%s:instance/i-%d", acct, n)
	case action == "iam:GetRole" || action == "iam:PassRole":
		return arn(fmt.Sprintf("role/app-%d", n))
	case action == "iam:CreateUser":
		return arn(fmt.Sprintf("user/u-%d", n))
	case strings.HasPrefix(action, "sqs:") && action != "sqs:ListQueues":
		return fmt.Sprintf("arn:aws:sqs:us-east-1:%s:queue-%d", acct, n)
	case strings.HasPrefix(action, "dynamodb:"):
		return fmt.Sprintf("arn:aws:dynamodb:us-east-1:%s:table/t-%d", acct, n)
	case strings.HasPrefix(action, "kms:"):
		return fmt.Sprintf("arn:aws:kms:us-east-1:%s:key/k-%d", acct, n)
	}
	return "*"
}

func pick[T any](r *rand.Rand, list []T) T { return list[r.IntN(len(list))] }

// propStatement draws one statement.
func propStatement(r *rand.Rand, i int) map[string]any {
	st := map[string]any{"Effect": "Allow"}
	var acts []string
	for range 1 + r.IntN(4) {
		if r.IntN(3) == 0 {
			acts = append(acts, pick(r, propPatterns))
		} else {
			acts = append(acts, pick(r, propActions))
		}
	}
	switch x := r.IntN(12); {
	case x == 0:
		st["NotAction"] = []string{"iam:*", "organizations:*"}
	case x == 1:
		st["Effect"] = "Deny"
		st["Action"] = acts[:1]
	default:
		st["Action"] = acts
	}
	switch r.IntN(4) {
	case 0:
		st["Resource"] = []string{"arn:aws:s3:::bucket-0", "arn:aws:s3:::bucket-0/*", "arn:aws:sqs:us-east-1:" + acct + ":queue-*", arn("role/app-*")}
	default:
		st["Resource"] = "*"
	}
	if r.IntN(5) == 0 {
		st["Condition"] = map[string]any{"StringEquals": map[string]any{"aws:RequestedRegion": "us-east-1"}}
	}
	if r.IntN(6) == 0 {
		st["Sid"] = "NOREPOKeep" + strconv.Itoa(i)
	} else if r.IntN(2) == 0 {
		st["Sid"] = "S" + strconv.Itoa(i)
	}
	return st
}

func propSnapshot(r *rand.Rand) string {
	doc := func(n int) map[string]any {
		var sts []any
		for i := range n {
			sts = append(sts, propStatement(r, i))
		}
		return map[string]any{"Version": "2012-10-17", "Statement": sts}
	}
	user := map[string]any{"UserName": "p", "Arn": arn("user/p"), "Path": "/", "CreateDate": "2024-01-01T00:00:00Z",
		"UserPolicyList":          []any{map[string]any{"PolicyName": "own", "PolicyDocument": doc(1 + r.IntN(4))}},
		"AttachedManagedPolicies": []any{map[string]any{"PolicyName": "m", "PolicyArn": arn("policy/m")}}}
	details := map[string]any{"UserDetailList": []any{user}, "RoleDetailList": []any{},
		"Policies": []any{map[string]any{"PolicyName": "m", "Arn": arn("policy/m"), "DefaultVersionId": "v1",
			"PolicyVersionList": []any{map[string]any{"VersionId": "v1", "IsDefaultVersion": true, "Document": doc(1 + r.IntN(3))}}}}}
	groups := []any{}
	if r.IntN(2) == 0 {
		user["GroupList"] = []string{"g"}
		groups = append(groups, map[string]any{"GroupName": "g", "Arn": arn("group/g"),
			"GroupPolicyList": []any{map[string]any{"PolicyName": "gp", "PolicyDocument": doc(1)}}})
	}
	details["GroupDetailList"] = groups
	if r.IntN(3) == 0 {
		user["PermissionsBoundary"] = map[string]any{"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn("policy/b")}
		details["Policies"] = append(details["Policies"].([]any), map[string]any{"PolicyName": "b", "Arn": arn("policy/b"), "DefaultVersionId": "v1",
			"PolicyVersionList": []any{map[string]any{"VersionId": "v1", "IsDefaultVersion": true, "Document": map[string]any{"Version": "2012-10-17",
				"Statement": []any{map[string]any{"Effect": "Allow", "Action": []string{"s3:*", "ec2:*", "sqs:*", "iam:Get*", "iam:PassRole"}, "Resource": "*"}}}}}})
	}
	b, _ := json.Marshal(details)
	return string(b)
}

func propCases(t *testing.T) (seed uint64, n int) {
	seed, n = 20261205, 60
	if testing.Short() {
		n = 12
	}
	if v := os.Getenv("IAMD_PROP_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	if v := os.Getenv("IAMD_PROP_CASES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	return seed, n
}

func TestPropertiesOfSuggestions(t *testing.T) {
	seed, n := propCases(t)
	s := newSuggester(t, -1)
	suggested := 0
	for c := range n {
		r := rand.New(rand.NewPCG(seed, uint64(c)))
		snap := propSnapshot(r)
		who := arn("user/p")
		var calls []call
		for i := range 5 + r.IntN(25) {
			a := pick(r, propActions)
			calls = append(calls, call{who: who, action: a, resource: propResource(r, a), denied: r.IntN(5) == 0, at: time.Duration(i) * time.Hour})
		}
		f := newFixture(t, calls, fileModel(t, snap), nil)
		sg := f.suggest(t, s, who)
		if sg == nil {
			continue // nothing unused
		}
		suggested++
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("case %d (IAMD_PROP_SEED=%d): %s\nsnapshot: %s\ncalls: %+v", c, seed, fmt.Sprintf(format, args...), snap, calls)
		}
		if !sg.Check.Passed {
			fail("self-check failed: generated %+v in place %+v", sg.Check.Generated, sg.Check.InPlace)
		}
		tl := f.sc.Timeline(who)
		m := tl.Current()
		p, _ := m.Principal(who)
		today, _ := m.Granted(who)
		// The generated policy grants nothing today's policies do not.
		gen, err := compileDocs(sg.Generated.Documents)
		if err != nil {
			fail("generated: %v", err)
		}
		for _, g := range m.GrantedWith(p, gen).Grants() {
			if !today.Has(g.Action) {
				fail("the generated policy grants %s, which today's policies do not", g.Action)
			}
		}
		// Nor does the in-place one, and its NOREPO statements keep
		// their bytes.
		ipIdentity := identityAfter(t, m, p, sg)
		for _, g := range m.GrantedWith(p, ipIdentity).Grants() {
			if !today.Has(g.Action) {
				fail("the in-place policies grant %s, which today's do not", g.Action)
			}
		}
		for _, pc := range sg.InPlace.Policies {
			for _, st := range rawStatements(t, pc.Original) {
				if bytes.Contains(st, []byte(`"Sid":"NOREPO`)) && (pc.Suggested == nil || !bytes.Contains(pc.Suggested, st)) {
					fail("NOREPO statement %s of %s changed or dropped:\n%s", st, pc.Name, pc.Suggested)
				}
			}
		}
	}
	if suggested < n/3 {
		t.Fatalf("only %d of %d cases had a suggestion: the draw proves little", suggested, n)
	}
	t.Logf("%d cases, %d suggestions", n, suggested)
}

// identityAfter compiles the principal's identity policies as the
// in-place suggestion leaves them: changed ones from the suggestion, the
// rest (and the group's) as they are.
func identityAfter(t *testing.T, m interface {
	IdentityPolicies(*iam.Principal) []*policy.Policy
}, p *iam.Principal, sg *Suggestion) []*policy.Policy {
	t.Helper()
	changed := map[string]*PolicyChange{}
	for i := range sg.InPlace.Policies {
		changed[sg.InPlace.Policies[i].Name] = &sg.InPlace.Policies[i]
	}
	var out []*policy.Policy
	for _, q := range m.IdentityPolicies(p) {
		name := q.Name()
		if i := strings.Index(name, "#inline/"); i >= 0 && strings.HasPrefix(name, p.ARN) {
			name = name[i+len("#inline/"):]
		} else if strings.HasPrefix(name, "arn:") && strings.Contains(name, ":policy/") {
			name = name[strings.LastIndexByte(name, '/')+1:]
		}
		pc, ok := changed[name]
		switch {
		case !ok:
			out = append(out, q)
		case pc.Suggested != nil:
			c, err := policy.CompileJSON(name, pc.Suggested)
			if err != nil {
				t.Fatalf("in-place %s: %v", name, err)
			}
			out = append(out, c)
		}
	}
	return out
}

// rawStatements returns the Statement elements of a document as written.
func rawStatements(t *testing.T, doc []byte) []json.RawMessage {
	t.Helper()
	var d struct{ Statement json.RawMessage }
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	var list []json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(d.Statement), []byte("{")) {
		return []json.RawMessage{d.Statement}
	}
	if err := json.Unmarshal(d.Statement, &list); err != nil {
		t.Fatal(err)
	}
	return list
}
