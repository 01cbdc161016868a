package iam

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/policy"
)

var (
	catOnce sync.Once
	catVal  *catalog.Catalog
	catErr  error
)

// testCatalog loads the embedded catalog once per test binary.
func testCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	catOnce.Do(func() { catVal, catErr = catalog.Load() })
	if catErr != nil {
		t.Fatal(catErr)
	}
	return catVal
}

// mustParse loads a self-written authorization-details document.
func mustParse(t testing.TB, doc string) *Account {
	t.Helper()
	a, err := Parse([]byte(doc), LoadOptions{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return a
}

// oneUser builds an account with user "u" (in group "g" when groupDoc is
// set) with the given inline policy documents, boundary and managed policies.
func oneUser(inline, groupDoc, boundaryDoc string, extra string) string {
	var b strings.Builder
	b.WriteString(`{"UserDetailList":[{"UserName":"u","Arn":"arn:aws:iam::111122223333:user/u"`)
	if inline != "" {
		b.WriteString(`,"UserPolicyList":[{"PolicyName":"p","PolicyDocument":` + inline + `}]`)
	}
	if groupDoc != "" {
		b.WriteString(`,"GroupList":["g"]`)
	}
	if boundaryDoc != "" {
		b.WriteString(`,"PermissionsBoundary":{"PermissionsBoundaryArn":"arn:aws:iam::111122223333:policy/b"}`)
	}
	b.WriteString(extra)
	b.WriteString(`}],"GroupDetailList":[`)
	if groupDoc != "" {
		b.WriteString(`{"GroupName":"g","Arn":"arn:aws:iam::111122223333:group/g","GroupPolicyList":[{"PolicyName":"gp","PolicyDocument":` + groupDoc + `}]}`)
	}
	b.WriteString(`],"Policies":[`)
	if boundaryDoc != "" {
		b.WriteString(`{"PolicyName":"b","Arn":"arn:aws:iam::111122223333:policy/b","PolicyVersionList":[{"VersionId":"v1","IsDefaultVersion":true,"Document":` + boundaryDoc + `}]}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

func stmts(s ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(s, ",") + `]}`
}

const userARN = "arn:aws:iam::111122223333:user/u"

// noPermissionCalls are the catalog actions in no granted set:
// sts:GetCallerIdentity and sts:GetSessionToken need no permission.
const noPermissionCalls = 2

func grantedFor(t *testing.T, a *Account, org *Org, arn string) *GrantedSet {
	t.Helper()
	g, err := NewGranter(testCatalog(t), a, org)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := a.Principal(arn)
	if !ok {
		t.Fatalf("no principal %s", arn)
	}
	return g.Granted(p)
}

func narrowKinds(g Grant) []string {
	var out []string
	for _, n := range g.Narrowed {
		out = append(out, n.Kind)
	}
	return out
}

func TestGrantedRules(t *testing.T) {
	cat := testCatalog(t)
	iamCount := len(cat.ServiceActions("iam"))
	s3Count := len(cat.ServiceActions("s3"))
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, s *GrantedSet)
	}{
		{
			name: "group inheritance",
			doc:  oneUser("", stmts(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}`), "", ""),
			check: func(t *testing.T, s *GrantedSet) {
				if got, want := s.Len(), 1; got != want {
					t.Fatalf("Len()=%d, want %d", got, want)
				}
				g, ok := s.Lookup("s3:getobject")
				if !ok {
					t.Fatal("s3:GetObject not granted")
				}
				if got, want := g.Allows[0].Policy, "arn:aws:iam::111122223333:group/g#inline/gp"; got != want {
					t.Errorf("granted by %q, want %q", got, want)
				}
				if !g.AllResources || g.Conditional || g.Action != "s3:GetObject" {
					t.Errorf("grant = %+v, want unconditional on *", g)
				}
			},
		},
		{
			name: "boundary intersection narrows scope",
			doc: oneUser(stmts(`{"Effect":"Allow","Action":["s3:*","ec2:*"],"Resource":"*"}`), "",
				stmts(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::logs/*"}`), ""),
			check: func(t *testing.T, s *GrantedSet) {
				if got, want := s.Len(), 1; got != want {
					t.Fatalf("Len()=%d, want %d (only the boundary's action)", got, want)
				}
				g, _ := s.Lookup("s3:GetObject")
				if g.AllResources {
					t.Errorf("AllResources=true, want false under a resource-limited boundary")
				}
				if got, want := g.Resources, []string{"arn:aws:s3:::logs/*"}; !slices.Equal(got, want) {
					t.Errorf("Resources=%v, want %v", got, want)
				}
				if got, want := narrowKinds(g), []string{NarrowBoundaryResources}; !slices.Equal(got, want) {
					t.Errorf("Narrowed=%v, want %v", got, want)
				}
				if s.Has("ec2:RunInstances") {
					t.Error("ec2:RunInstances granted outside the boundary")
				}
			},
		},
		{
			// "*" in the partition also matches colons, so this pattern
			// matches S3 objects such as arn:aws:s3:::b/k:iam::1:x too.
			name: "wildcard partition reaches other services",
			doc:  oneUser(stmts(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:*:iam::*:x"}`), "", "", ""),
			check: func(t *testing.T, s *GrantedSet) {
				if !s.Has("s3:GetObject") {
					t.Error("s3:GetObject dropped: the pattern matches S3 objects whose key holds \":iam:\"")
				}
			},
		},
		{
			name: "explicit deny removes wildcard grant",
			doc: oneUser(stmts(`{"Effect":"Allow","Action":"*","Resource":"*"}`,
				`{"Effect":"Deny","Action":"iam:*","Resource":"*"}`), "", "", ""),
			check: func(t *testing.T, s *GrantedSet) {
				if got, want := s.Len(), cat.Len()-iamCount-noPermissionCalls; got != want {
					t.Fatalf("Len()=%d, want %d", got, want)
				}
				if s.Has("iam:CreateUser") {
					t.Error("iam:CreateUser still granted after Deny iam:* on *")
				}
				if !s.Has("s3:GetObject") {
					t.Error("s3:GetObject lost")
				}
			},
		},
		{
			name: "conditional deny narrows",
			doc: oneUser(stmts(`{"Effect":"Allow","Action":"s3:*","Resource":"*"}`,
				`{"Sid":"NoDeleteWithoutMFA","Effect":"Deny","Action":"s3:DeleteObject","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}`), "", "", ""),
			check: func(t *testing.T, s *GrantedSet) {
				if got, want := s.Len(), s3Count; got != want {
					t.Fatalf("Len()=%d, want %d", got, want)
				}
				g, ok := s.Lookup("s3:DeleteObject")
				if !ok {
					t.Fatal("s3:DeleteObject dropped by a conditional deny")
				}
				if got, want := narrowKinds(g), []string{NarrowDenyCondition}; !slices.Equal(got, want) {
					t.Errorf("Narrowed=%v, want %v", got, want)
				}
				if got, want := g.Narrowed[0].Statement.Sid, "NoDeleteWithoutMFA"; got != want {
					t.Errorf("narrowing Sid=%q, want %q", got, want)
				}
				if other, _ := s.Lookup("s3:GetObject"); len(other.Narrowed) != 0 {
					t.Errorf("s3:GetObject narrowed by %v", other.Narrowed)
				}
			},
		},
		{
			name: "deny on specific resources narrows",
			doc: oneUser(stmts(`{"Effect":"Allow","Action":"s3:*","Resource":"*"}`,
				`{"Effect":"Deny","Action":"s3:DeleteBucket","Resource":"arn:aws:s3:::prod"}`), "", "", ""),
			check: func(t *testing.T, s *GrantedSet) {
				g, ok := s.Lookup("s3:DeleteBucket")
				if !ok {
					t.Fatal("s3:DeleteBucket dropped by a resource-specific deny")
				}
				if g.AllResources {
					t.Error("AllResources=true despite a deny on arn:aws:s3:::prod")
				}
				if got, want := narrowKinds(g), []string{NarrowDenyResources}; !slices.Equal(got, want) {
					t.Errorf("Narrowed=%v, want %v", got, want)
				}
			},
		},
		{
			name: "NotAction expands over the catalog",
			doc:  oneUser(stmts(`{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}`), "", "", ""),
			check: func(t *testing.T, s *GrantedSet) {
				if got, want := s.Len(), cat.Len()-iamCount-noPermissionCalls; got != want {
					t.Fatalf("Len()=%d, want %d", got, want)
				}
				if s.Has("iam:PassRole") || !s.Has("ec2:RunInstances") {
					t.Error("NotAction iam:* wrong")
				}
			},
		},
		{
			name: "conditional allow",
			doc: oneUser(stmts(`{"Effect":"Allow","Action":"ec2:StartInstances","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"a"}}}`,
				`{"Effect":"Allow","Action":"ec2:StopInstances","Resource":"arn:aws:ec2:*:*:instance/i-1"}`), "", "", ""),
			check: func(t *testing.T, s *GrantedSet) {
				start, _ := s.Lookup("ec2:StartInstances")
				stop, _ := s.Lookup("ec2:StopInstances")
				if !start.Conditional || stop.Conditional {
					t.Errorf("Conditional start=%v stop=%v, want true false", start.Conditional, stop.Conditional)
				}
				if stop.AllResources || !slices.Equal(stop.Resources, []string{"arn:aws:ec2:*:*:instance/i-1"}) {
					t.Errorf("stop scope = %v %v", stop.AllResources, stop.Resources)
				}
			},
		},
		{
			name: "unknown managed policy",
			doc:  oneUser("", "", "", `,"AttachedManagedPolicies":[{"PolicyName":"AmazonS3FullAccess","PolicyArn":"arn:aws:iam::aws:policy/AmazonS3FullAccess"}]`),
			check: func(t *testing.T, s *GrantedSet) {
				if got, want := s.Unknown, []string{"arn:aws:iam::aws:policy/AmazonS3FullAccess"}; !slices.Equal(got, want) {
					t.Errorf("Unknown=%v, want %v", got, want)
				}
				if s.Len() != 0 {
					t.Errorf("Len()=%d, want 0 known grants", s.Len())
				}
			},
		},
		{
			name: "URL-encoded document",
			doc:  oneUser(`"%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22sqs%3ASendMessage%22%2C%22Resource%22%3A%22*%22%7D%7D"`, "", "", ""),
			check: func(t *testing.T, s *GrantedSet) {
				if !s.Has("sqs:SendMessage") || s.Len() != 1 {
					t.Errorf("granted %d actions, want exactly sqs:SendMessage", s.Len())
				}
			},
		},
		{
			name: "unknown action pattern",
			doc:  oneUser(stmts(`{"Effect":"Allow","Action":["s3:GetObject","s3:NoSuchThing"],"Resource":"*"}`), "", "", ""),
			check: func(t *testing.T, s *GrantedSet) {
				if got, want := s.UnknownPatterns, []string{"s3:NoSuchThing"}; !slices.Equal(got, want) {
					t.Errorf("UnknownPatterns=%v, want %v", got, want)
				}
				if s.Len() != 1 {
					t.Errorf("Len()=%d, want 1", s.Len())
				}
			},
		},
		{
			name: "specific resources do not grant wildcard-only or foreign-service actions",
			doc: oneUser(stmts(`{"Effect":"Allow","Action":["iam:ListUsers","iam:GetUser","s3:GetObject"],"Resource":"arn:aws:iam::111122223333:user/*"}`,
				`{"Effect":"Allow","Action":"sns:ListTopics","Resource":"*"}`,
				`{"Effect":"Allow","Action":"sns:CreateTopic","NotResource":"arn:aws:sns:*:*:secret"}`), "", "", ""),
			check: func(t *testing.T, s *GrantedSet) {
				for action, want := range map[string]bool{"iam:GetUser": true, "iam:ListUsers": false, "s3:GetObject": false, "sns:ListTopics": true, "sns:CreateTopic": true} {
					if got := s.Has(action); got != want {
						t.Errorf("Has(%s)=%v, want %v", action, got, want)
					}
				}
				if g, _ := s.Lookup("sns:CreateTopic"); g.AllResources || !slices.Equal(g.Resources, []string{"not arn:aws:sns:*:*:secret"}) {
					t.Errorf("CreateTopic scope %v %v", g.AllResources, g.Resources)
				}
			},
		},
		{
			name: "boundary with condition makes grant conditional",
			doc: oneUser(stmts(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}`), "",
				stmts(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}`), ""),
			check: func(t *testing.T, s *GrantedSet) {
				g, ok := s.Lookup("s3:GetObject")
				if !ok || !g.Conditional {
					t.Fatalf("grant=%+v ok=%v, want conditional", g, ok)
				}
				if !slices.Contains(narrowKinds(g), NarrowBoundaryCondition) {
					t.Errorf("Narrowed=%v, want %s", narrowKinds(g), NarrowBoundaryCondition)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := mustParse(t, tc.doc)
			tc.check(t, grantedFor(t, a, nil, userARN))
		})
	}
}

func TestGrantedOrganization(t *testing.T) {
	cat := testCatalog(t)
	org, err := ParseOrg([]byte(`
scp:
  - id: r-root
    policies:
      - Policy:
          PolicySummary: {Id: p-FullAWSAccess, Name: FullAWSAccess, Type: SERVICE_CONTROL_POLICY, AwsManaged: true}
          Content: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
  - id: ou-1
    policies:
      - Policy:
          PolicySummary: {Id: p-1, Name: only-s3-ec2}
          Content: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","ec2:*"],"Resource":"*"},{"Effect":"Deny","Action":"ec2:TerminateInstances","Resource":"*"}]}'
rcp:
  - id: r-root
    policies:
      - Policy:
          PolicySummary: {Id: p-r, Name: no-outside}
          Content: '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-1"}}}]}'
`))
	if err != nil {
		t.Fatal(err)
	}
	a := mustParse(t, oneUser(stmts(`{"Effect":"Allow","Action":"*","Resource":"*"}`), "", "", ""))
	s := grantedFor(t, a, org, userARN)
	if got, want := s.Len(), len(cat.ServiceActions("s3"))+len(cat.ServiceActions("ec2"))-1; got != want {
		t.Fatalf("Len()=%d, want %d (s3 + ec2 - TerminateInstances)", got, want)
	}
	if s.Has("ec2:TerminateInstances") || s.Has("iam:PassRole") {
		t.Error("SCP did not restrict")
	}
	g, _ := s.Lookup("s3:GetObject")
	if !slices.Contains(narrowKinds(g), NarrowRCPDeny) {
		t.Errorf("s3:GetObject Narrowed=%v, want %s", narrowKinds(g), NarrowRCPDeny)
	}
	if g.Narrowed[0].Statement.Layer != policy.LayerRCP {
		t.Errorf("narrowing layer = %v", g.Narrowed[0].Statement.Layer)
	}
}

func TestGrantedRootAndCache(t *testing.T) {
	cat := testCatalog(t)
	a, err := LoadFile("testdata/fixtures/account.json", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gr, err := NewGranter(cat, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := a.Principal("arn:aws:iam::111122223333:root")
	if got, want := gr.Granted(root).Len(), cat.Len()-noPermissionCalls; got != want {
		t.Errorf("root Len()=%d, want %d", got, want)
	}
	// Two users with the same policies share one computation but keep
	// their own identity.
	u1, _ := a.Principal("arn:aws:iam::111122223333:user/console-no-mfa")
	u2, _ := a.Principal("arn:aws:iam::111122223333:user/two-keys")
	s1, s2 := gr.Granted(u1), gr.Granted(u2)
	if s1.Principal != u1.ARN || s2.Principal != u2.ARN {
		t.Errorf("principals %s %s", s1.Principal, s2.Principal)
	}
	if s1.Len() != 2 || s2.Len() != 2 {
		t.Errorf("Len() = %d, %d, want 2", s1.Len(), s2.Len())
	}
	// Boundary over an admin group: only the boundary's actions, on logs/*.
	b, _ := a.Principal("arn:aws:iam::111122223333:user/bounded")
	bs := gr.Granted(b)
	if got, want := len(bs.Grants()), 2; got != want {
		t.Fatalf("bounded grants=%d, want %d", got, want)
	}
	for _, g := range bs.Grants() {
		if g.AllResources || !slices.Equal(g.Resources, []string{"arn:aws:s3:::logs/*"}) {
			t.Errorf("%s scope %v %v", g.Action, g.AllResources, g.Resources)
		}
	}
	if got := len(gr.All()); got != len(a.Principals) {
		t.Errorf("All() = %d sets, want %d", got, len(a.Principals))
	}
}

func TestNewGranterErrors(t *testing.T) {
	if _, err := NewGranter(nil, &Account{}, nil); err == nil {
		t.Error("NewGranter(nil catalog) did not fail")
	}
}

func TestGrantedServiceLinkedRoleIgnoresOrg(t *testing.T) {
	org, err := ParseOrg([]byte(`
scp:
  - id: r-root
    policies:
      - Policy:
          PolicySummary: {Id: p-1, Name: only-s3}
          Content: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}]}'
rcp:
  - id: r-root
    policies:
      - Policy:
          PolicySummary: {Id: p-r, Name: no-outside}
          Content: '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalOrgID":"o-1"}}}]}'
`))
	if err != nil {
		t.Fatal(err)
	}
	// Both roles carry the same managed policy, so they share the
	// Granter's cache key but for the organization layer.
	role := func(name, path string) string {
		return `{"RoleName":"` + name + `","Path":"` + path + `","Arn":"arn:aws:iam::111122223333:role` + path + name + `",
		  "AssumeRolePolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs.amazonaws.com"},"Action":"sts:AssumeRole"}]},
		  "AttachedManagedPolicies":[{"PolicyName":"all","PolicyArn":"arn:aws:iam::111122223333:policy/all"}]}`
	}
	a := mustParse(t, `{"RoleDetailList":[`+role("AWSServiceRoleForECS", "/aws-service-role/ecs.amazonaws.com/")+`,`+role("app", "/")+`],
	  "Policies":[{"PolicyName":"all","Arn":"arn:aws:iam::111122223333:policy/all","PolicyVersionList":[{"VersionId":"v1","IsDefaultVersion":true,"Document":`+stmts(`{"Effect":"Allow","Action":"*","Resource":"*"}`)+`}]}]}`)
	g, err := NewGranter(testCatalog(t), a, org)
	if err != nil {
		t.Fatal(err)
	}
	cat := testCatalog(t)
	tests := []struct {
		name       string
		arn        string
		wantLen    int
		wantSLR    bool
		wantDelete bool
		wantRCP    bool
	}{
		{"service-linked role", "arn:aws:iam::111122223333:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS", cat.Len() - noPermissionCalls, true, true, false},
		{"ordinary role", "arn:aws:iam::111122223333:role/app", len(cat.ServiceActions("s3")) - 1, false, false, true},
	}
	// Twice: the second pass is served from the cache.
	for pass := range 2 {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/pass%d", tc.name, pass), func(t *testing.T) {
				p, ok := a.Principal(tc.arn)
				if !ok {
					t.Fatalf("no principal %s", tc.arn)
				}
				if got := p.ServiceLinked(); got != tc.wantSLR {
					t.Errorf("ServiceLinked()=%v, want %v", got, tc.wantSLR)
				}
				s := g.Granted(p)
				if got := s.Len(); got != tc.wantLen {
					t.Errorf("Len()=%d, want %d", got, tc.wantLen)
				}
				if got := s.Has("s3:DeleteBucket"); got != tc.wantDelete {
					t.Errorf("Has(s3:DeleteBucket)=%v, want %v", got, tc.wantDelete)
				}
				gr, _ := s.Lookup("s3:GetObject")
				if got := slices.Contains(narrowKinds(gr), NarrowRCPDeny); got != tc.wantRCP {
					t.Errorf("s3:GetObject narrowed by RCP=%v, want %v (%v)", got, tc.wantRCP, narrowKinds(gr))
				}
			})
		}
	}
}

func TestARNService(t *testing.T) {
	for _, tc := range []struct {
		in      string
		svc     string
		literal bool
	}{
		{"arn:aws:s3:::b", "s3", true},
		{"arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}", "iam", true}, // a catalog format
		{"arn:aws:s3*:::b", "s3*", false},
		{"arn:*:iam::*:x", "iam", false}, // "*" in the partition may swallow the service
		{"arn:aws?:iam::1:x", "iam", false},
		{"arn:aws:iam::*", "", false}, // four colons: not an ARN
		{"*", "", false},
		{"arn:aws::::x", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			svc, lit := arnService(tc.in)
			if svc != tc.svc || lit != tc.literal {
				t.Fatalf("arnService(%q) = %q, %v; want %q, %v", tc.in, svc, lit, tc.svc, tc.literal)
			}
		})
	}
}

func TestAccountOf(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:iam::111122223333:user/a":                "111122223333",
		"arn:aws:sts::111122223333:assumed-role/r/s":      "111122223333",
		"arn:aws-cn:iam::111122223333:role/p/r":           "111122223333",
		"arn:aws:iam::111122223333":                       "",
		"111122223333":                                    "",
		"arn:aws:s3:::bucket":                             "",
		"arn:aws:iam::111122223333:user/with:colon/in/it": "111122223333",
	} {
		if got := AccountOf(in); got != want {
			t.Errorf("AccountOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGrantedWith(t *testing.T) {
	cat := testCatalog(t)
	acct, err := Parse([]byte(`{"UserDetailList":[{"UserName":"u","Arn":"arn:aws:iam::111122223333:user/u",
		"UserPolicyList":[{"PolicyName":"p","PolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}}],
		"PermissionsBoundary":{"PermissionsBoundaryType":"Policy","PermissionsBoundaryArn":"arn:aws:iam::111122223333:policy/b"}}],
		"GroupDetailList":[],"RoleDetailList":[],"Policies":[{"PolicyName":"b","Arn":"arn:aws:iam::111122223333:policy/b","DefaultVersionId":"v1",
		"PolicyVersionList":[{"VersionId":"v1","IsDefaultVersion":true,"Document":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","ec2:DescribeRegions"],"Resource":"*"}]}}]}]}`), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGranter(cat, acct, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := acct.Principal("arn:aws:iam::111122223333:user/u")
	if got := g.Granted(p).Len(); got != 2 {
		t.Fatalf("granted %d actions, want the boundary's two s3 actions", got)
	}
	narrower, err := policy.CompileJSON("s", []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","ec2:DescribeRegions","iam:ListUsers"],"Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := g.GrantedWith(p, []*policy.Policy{narrower})
	if s.Len() != 2 || !s.Has("s3:GetObject") || !s.Has("ec2:DescribeRegions") {
		t.Fatalf("GrantedWith = %d actions, want s3:GetObject and ec2:DescribeRegions (the boundary still applies)", s.Len())
	}
	if g.Granted(p).Has("ec2:DescribeRegions") {
		t.Fatal("GrantedWith changed the cached set")
	}
}
