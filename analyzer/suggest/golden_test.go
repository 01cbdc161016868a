package suggest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/policy"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden/")

// sharedSnapshot is read by relative path from the repository, like the
// other shared-data tests; IAMD_SHARED_TESTDATA points elsewhere (a git
// worktree outside the repository's parent directory).
func sharedSnapshot() string {
	dir := os.Getenv("IAMD_SHARED_TESTDATA")
	if dir == "" {
		dir = "../../../shared/testdata"
	}
	return filepath.Join(dir, "iam-snapshots", "cloudsplaining", "examples_example.json")
}

// goldenDigest is what a golden file pins of a suggestion: the documents
// and the decisions, not the (long) evidence.
type goldenDigest struct {
	Principal    string          `json:"principal"`
	Passed       bool            `json:"self_check_passed"`
	Generated    []Document      `json:"generated"`
	InPlace      []goldenPolicy  `json:"in_place"`
	Removed      int             `json:"removed"`
	FirstRemoved []string        `json:"first_removed"`
	Kept         []Kept          `json:"kept"`
	Excluded     []string        `json:"excluded"`
	Sessions     json.RawMessage `json:"sessions,omitempty"`
}

type goldenPolicy struct {
	Name      string          `json:"name"`
	Change    string          `json:"change"`
	Removed   int             `json:"removed"`
	Suggested json.RawMessage `json:"suggested,omitempty"`
}

func digest(sg *Suggestion) goldenDigest {
	d := goldenDigest{Principal: sg.Principal, Passed: sg.Check.Passed, Removed: len(sg.Removed), Kept: sg.Kept, Excluded: sg.Excluded, FirstRemoved: []string{}}
	if sg.Generated != nil {
		d.Generated = sg.Generated.Documents
	}
	for i, r := range sg.Removed {
		if i == 15 {
			break
		}
		d.FirstRemoved = append(d.FirstRemoved, r.Action)
	}
	if sg.InPlace != nil {
		for _, pc := range sg.InPlace.Policies {
			gp := goldenPolicy{Name: pc.Name, Change: pc.Change, Removed: len(pc.Removed)}
			if len(pc.Suggested) < 4000 {
				gp.Suggested = pc.Suggested
			}
			d.InPlace = append(d.InPlace, gp)
		}
	}
	if sg.Sessions != nil {
		d.Sessions, _ = json.Marshal(sg.Sessions)
	}
	return d
}

// TestGoldenOnSharedSnapshot runs hand-written usage against the shared
// cloudsplaining snapshot: a user with groups, AWS managed and inline
// policies; a NotAction policy beside an explicit Deny; a role with a
// permissions boundary (the snapshot has none: the test attaches one);
// a role with conditional and resource-scoped grants used through the
// sessions of several people.
func TestGoldenOnSharedSnapshot(t *testing.T) {
	if _, err := os.Stat(sharedSnapshot()); err != nil {
		t.Skipf("shared test data not found (%v): the golden suggestion tests need ../shared/testdata", err)
	}
	acct, err := iam.LoadFile(sharedSnapshot(), iam.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const (
		vuln     = "arn:aws:iam::200611803367:"
		biden    = "arn:aws:iam::012345678901:user/biden"
		notAct   = vuln + "user/fn4-exploitableNotAction-user"
		bounded  = vuln + "role/fn4-exploitableNotAction-role"
		setup    = vuln + "role/AWS-QuickSetup-EnableCRecording-1clff_eu-west-1"
		denyIAM  = vuln + "policy/fp3-deny-iam"
		boundary = vuln + "policy/iamd-test-boundary"
	)
	// The explicit deny: fp3's deny-iam policy also attached to fn4's user.
	p, ok := acct.Principal(notAct)
	if !ok || acct.Policies[denyIAM] == nil {
		t.Fatalf("the shared snapshot lacks %s or %s", notAct, denyIAM)
	}
	p.Attached = append(p.Attached, &iam.Attachment{ARN: denyIAM, Name: "fp3-deny-iam", Policy: acct.Policies[denyIAM]})
	// The boundary: S3, EC2 reads and IAM reads only.
	raw := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*","ec2:Describe*","iam:Get*","iam:List*"],"Resource":"*"}]}`)
	bp, err := policy.CompileJSON(boundary, raw)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := acct.Principal(bounded)
	r.Boundary = &iam.Attachment{ARN: boundary, Name: "iamd-test-boundary", Policy: &iam.ManagedPolicy{ARN: boundary, Name: "iamd-test-boundary", Raw: raw, Policy: bp}}
	ms, err := model.FromAccount(testCat, acct, nil, "examples_example.json")
	if err != nil {
		t.Fatal(err)
	}
	// One model per account; the fixture's store serves both accounts.
	other, err := iam.LoadFile(sharedSnapshot(), iam.LoadOptions{AccountID: "012345678901"})
	if err != nil {
		t.Fatal(err)
	}
	msOther, err := model.FromAccount(testCat, other, nil, "examples_example.json")
	if err != nil {
		t.Fatal(err)
	}
	h := time.Hour
	calls := []call{
		{who: biden, action: "s3:GetObject", resource: "arn:aws:s3:::reports/q1.csv", at: h},
		{who: biden, action: "s3:GetObject", resource: "arn:aws:s3:::reports/q2.csv", at: 2 * h},
		{who: biden, action: "s3:PutObject", resource: "arn:aws:s3:::reports/private/x", denied: true, at: 3 * h},
		{who: biden, action: "lambda:ListFunctions", resource: "*", at: 4 * h},
		{who: biden, action: "rds:DescribeDBInstances", resource: "arn:aws:rds:us-east-1:012345678901:db:main", at: 5 * h},
		{who: notAct, action: "s3:ListAllMyBuckets", resource: "*", at: h},
		{who: notAct, action: "ec2:DescribeInstances", resource: "*", at: 2 * h},
		{who: notAct, action: "iam:ListUsers", resource: "*", denied: true, at: 3 * h},
		{who: bounded, action: "s3:GetObject", resource: "arn:aws:s3:::assets/logo.png", at: h, session: "deploy-1"},
		{who: bounded, action: "ec2:DescribeRegions", resource: "*", at: 2 * h, session: "deploy-2"},
		{who: setup, action: "s3:ListBucket", resource: "arn:aws:s3:::aws-quick-setup-config-recording-200611803367-1clff", at: h, session: "alice@example.com"},
		{who: setup, action: "sns:ListTopics", resource: "*", at: 2 * h, session: "bob@example.com"},
		{who: setup, action: "iam:GetRole", resource: "arn:aws:iam::200611803367:role/AWSServiceRoleForConfig", at: 3 * h, session: "alice@example.com"},
		{who: setup, action: "iam:CreateServiceLinkedRole", resource: "arn:aws:iam::200611803367:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig", at: 4 * h, session: "carol@example.com"},
		{who: setup, action: "kms:Decrypt", resource: "arn:aws:kms:eu-west-1:200611803367:key/k1", at: 5 * h, session: "alice@example.com"},
	}
	s := newSuggester(t, -1)
	for _, c := range []struct {
		file, principal string
		models          interface{ Len() int }
	}{
		{"groups-managed-inline", biden, msOther},
		{"notaction-and-deny", notAct, ms},
		{"boundary", bounded, ms},
		{"conditional-scoped-sessions", setup, ms},
	} {
		t.Run(c.file, func(t *testing.T) {
			f := newFixture(t, calls, c.models.(*model.Accounts), nil)
			f.sc.Principals = []string{c.principal}
			sg := f.suggest(t, s, c.principal)
			if sg == nil {
				t.Fatal("no suggestion")
			}
			if !sg.Check.Passed {
				t.Fatalf("self-check failed: %+v %+v", sg.Check.Generated, sg.Check.InPlace)
			}
			got, err := json.MarshalIndent(digest(sg), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", c.file+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs from the golden file; if the change is intended, run go test -run TestGoldenOnSharedSnapshot -update\ngot:\n%s", path, got)
			}
		})
	}
}
