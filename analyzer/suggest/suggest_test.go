package suggest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/policy"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/store"
)

var (
	_ HistoryStore = (*store.DB)(nil)

	t0  = time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	day = 24 * time.Hour
)

var testCat = func() *catalog.Catalog {
	c, err := catalog.Load()
	if err != nil {
		panic(err)
	}
	return c
}()

const acct = "111122223333"

func arn(s string) string { return "arn:aws:iam::" + acct + ":" + s }

// call is one hand-written CloudTrail call.
type call struct {
	who, action, resource string
	denied                bool
	at                    time.Duration // after t0
	session               string
}

// fixture is a store with calls and snapshots, and the scope over it.
type fixture struct {
	db *store.DB
	sc *report.Scope
	an *report.Analyser
}

func newFixture(t testing.TB, calls []call, models *model.Accounts, snaps map[time.Time]string) *fixture {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var evs []store.Event
	for i, c := range calls {
		e := store.Event{ID: fmt.Sprint(i), Time: t0.Add(c.at), Principal: c.who, SessionName: c.session,
			Uses: []store.Use{{Action: c.action, Resource: c.resource}}}
		if c.denied {
			e.Outcome = store.OutcomeDenied
		}
		evs = append(evs, e)
	}
	if _, err := db.Write(context.Background(), &store.Batch{Events: evs}); err != nil {
		t.Fatal(err)
	}
	for taken, data := range snaps {
		if err := db.PutSnapshot(context.Background(), store.Snapshot{AccountID: acct, Taken: taken, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	sc, err := report.NewScope(context.Background(), db, report.ScopeOptions{Catalog: testCat, Models: models, Window: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	an, err := report.NewAnalyser(testCat, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, sc: sc, an: an}
}

func (f *fixture) suggest(t testing.TB, s *Suggester, principal string) *Suggestion {
	t.Helper()
	tl := f.sc.Timeline(principal)
	u, err := usage.Read(context.Background(), f.db, principal, f.sc.Window, report.NeedsDays(tl))
	if err != nil {
		t.Fatal(err)
	}
	pr := f.an.Principal(u, tl, f.sc.Activity.DataSeen(iam.AccountOf(principal), f.sc.Window))
	sg, err := s.Suggest(u, &pr, tl)
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

func fileModel(t testing.TB, snapshot string) *model.Accounts {
	t.Helper()
	a, err := iam.Parse([]byte(snapshot), iam.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.FromAccount(testCat, a, nil, "test.json")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newSuggester(t testing.TB, grace time.Duration) *Suggester {
	t.Helper()
	s, err := New(Options{Catalog: testCat, Grace: grace})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// devSnapshot: dev has an inline policy (NOREPO, wildcard, NotAction,
// resource-scoped, conditional statements and a Deny), an attached
// customer policy, a group, and the boundary-free defaults.
const devSnapshot = `{"UserDetailList":[{"UserName":"dev","Arn":"arn:aws:iam::111122223333:user/dev","Path":"/","CreateDate":"2024-01-01T00:00:00Z",
 "GroupList":["team"],
 "UserPolicyList":[{"PolicyName":"dev-inline","PolicyDocument":{"Version":"2012-10-17","Statement":[
   {"Sid":"NOREPOBreakGlass",   "Effect":"Allow", "Action":"ssm:StartSession", "Resource":"*"},
   {"Sid":"S3Read","Effect":"Allow","Action":["s3:Get*","s3:ListBucket"],"Resource":["arn:aws:s3:::data","arn:aws:s3:::data/*"]},
   {"Sid":"AllButIam","Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}},
   {"Sid":"NoDelete","Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}]}}],
 "AttachedManagedPolicies":[{"PolicyName":"pass","PolicyArn":"arn:aws:iam::111122223333:policy/pass"}]}],
 "GroupDetailList":[{"GroupName":"team","Arn":"arn:aws:iam::111122223333:group/team","GroupPolicyList":[{"PolicyName":"team","PolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:ListQueues","cloudwatch:GetMetricData"],"Resource":"*"}]}}]}],
 "RoleDetailList":[],
 "Policies":[{"PolicyName":"pass","Arn":"arn:aws:iam::111122223333:policy/pass","DefaultVersionId":"v2","PolicyVersionList":[{"VersionId":"v2","IsDefaultVersion":true,
   "Document":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:PassRole","iam:GetRole","iam:GetRolePolicy"],"Resource":"arn:aws:iam::111122223333:role/app-*"}]}}]}]}`

func devCalls() []call {
	dev := arn("user/dev")
	return []call{
		{who: dev, action: "s3:GetObject", resource: "arn:aws:s3:::data/a.csv", at: time.Hour},
		{who: dev, action: "s3:GetObject", resource: "arn:aws:s3:::data/b.csv", at: 2 * time.Hour},
		{who: dev, action: "s3:ListBucket", resource: "arn:aws:s3:::data", at: 3 * time.Hour},
		// Refused on a secret prefix: no generated pattern may cover it.
		{who: dev, action: "s3:GetObject", resource: "arn:aws:s3:::data/secret/key.pem", denied: true, at: 4 * time.Hour},
		{who: dev, action: "ec2:DescribeInstances", resource: "*", at: day},
		{who: dev, action: "iam:GetRole", resource: arn("role/app-web"), at: 2 * day},
		{who: dev, action: "sqs:ListQueues", resource: "*", at: 3 * day},
		// Never granted: stays out of every suggestion.
		{who: dev, action: "iam:ListUsers", resource: "*", at: 3 * day},
	}
}

func TestSuggestInPlaceAndGenerated(t *testing.T) {
	f := newFixture(t, devCalls(), fileModel(t, devSnapshot), nil)
	sg := f.suggest(t, newSuggester(t, -1), arn("user/dev"))
	if sg == nil {
		t.Fatal("no suggestion")
	}
	if !sg.Check.Passed {
		t.Fatalf("self-check failed: %+v %+v", sg.Check.Generated, sg.Check.InPlace)
	}
	// In place: the inline policy loses the unused actions; the NOREPO
	// statement, the Deny, the resources and the condition stay as
	// written; the NotAction becomes the explicit list of what was used
	// and what the trail cannot show (no DynamoDB, SQS… data events here).
	var inline *PolicyChange
	for i := range sg.InPlace.Policies {
		if sg.InPlace.Policies[i].Name == "dev-inline" {
			inline = &sg.InPlace.Policies[i]
		}
	}
	if inline == nil || inline.Change != ChangeInline {
		t.Fatalf("in-place policies %+v", sg.InPlace.Policies)
	}
	doc := string(inline.Suggested)
	for _, want := range []string{
		`{"Sid":"NOREPOBreakGlass",   "Effect":"Allow", "Action":"ssm:StartSession", "Resource":"*"}`, // byte for byte
		`{"Sid":"NoDelete","Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}`,
		`"Action":["s3:GetObject","s3:ListBucket"]`,
		`"Resource":["arn:aws:s3:::data","arn:aws:s3:::data/*"]`,
		`"ec2:DescribeInstances",`,
		`"Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("in-place document lacks %s:\n%s", want, doc)
		}
	}
	// The attached customer policy keeps GetRole and PassRole (the latter
	// unobservable) and loses GetRolePolicy: a new default version.
	var pass *PolicyChange
	for i := range sg.InPlace.Policies {
		if sg.InPlace.Policies[i].Name == "pass" {
			pass = &sg.InPlace.Policies[i]
		}
	}
	if pass == nil || pass.Change != ChangeManaged || !slices.Equal(pass.Removed, []string{"iam:GetRolePolicy"}) || pass.DefaultVersion != "v2" {
		t.Fatalf("pass policy change %+v", pass)
	}
	// The group's unused action is kept and says why.
	kept := map[string]string{}
	for _, k := range sg.Kept {
		kept[k.Action] = k.Reason
	}
	if kept["cloudwatch:GetMetricData"] != KeptGroup || kept["ssm:StartSession"] != KeptNoRepo || kept["iam:PassRole"] != KeptUnobservable {
		t.Fatalf("kept %v", kept)
	}
	for _, r := range sg.Removed {
		if r.Action == "ssm:StartSession" || r.Action == "iam:PassRole" || r.Action == "s3:GetObject" {
			t.Fatalf("removed %s", r.Action)
		}
	}
	if len(sg.Removed) < 1000 {
		t.Fatalf("only %d removals: the NotAction statement grants thousands of unused actions", len(sg.Removed))
	}
	// Generated: object reads on data/a.csv and data/b.csv, which share a
	// bucket, would widen to data/*, but data/secret/key.pem was refused,
	// so the ARNs stay exact; the conditional grant keeps its condition;
	// PassRole is kept in a statement of its own; ListUsers stays out.
	gen := indent(sg.Generated.Documents)
	for _, want := range []string{`"arn:aws:s3:::data/a.csv"`, `"arn:aws:s3:::data/b.csv"`, `"aws:RequestedRegion"`, `"KeptUnobservable`, `"iam:PassRole"`} {
		if !bytes.Contains(gen, []byte(want)) {
			t.Errorf("generated policy lacks %s:\n%s", want, gen)
		}
	}
	if bytes.Contains(gen, []byte(`data/*`)) || bytes.Contains(gen, []byte("iam:ListUsers")) {
		t.Errorf("generated policy too broad:\n%s", gen)
	}
	if !slices.Contains(sg.Excluded, "iam:ListUsers: today's model does not allow it") {
		t.Errorf("excluded %q", sg.Excluded)
	}
	// The whole output lands in one folder.
	dir := t.TempDir()
	folder, err := Write(dir, sg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"generated-1.json", "inplace-dev-inline.json", "inplace-pass.json", "original-dev-inline.json", "review.md", "suggestion.json"} {
		if _, err := os.Stat(filepath.Join(folder, name)); err != nil {
			t.Errorf("missing %s: %v", name, err)
		}
	}
	review, _ := os.ReadFile(filepath.Join(folder, "review.md"))
	for _, want := range []string{"What goes", "Kept although unused", "aws iam put-user-policy --user-name dev --policy-name dev-inline --policy-document file://inplace-dev-inline.json",
		"aws iam create-policy-version --policy-arn arn:aws:iam::111122223333:policy/pass", "set-default-policy-version --policy-arn arn:aws:iam::111122223333:policy/pass --version-id v2", ConditionsNote} {
		if !strings.Contains(string(review), want) {
			t.Errorf("review lacks %q", want)
		}
	}
}

// TestSelfCheckCatches tampers with passing suggestions: each broken
// property must be reported with the offending call.
func TestSelfCheckCatches(t *testing.T) {
	f := newFixture(t, devCalls(), fileModel(t, devSnapshot), nil)
	s := newSuggester(t, -1)
	u, _ := usage.Read(context.Background(), f.db, arn("user/dev"), f.sc.Window, false)
	tl := f.sc.Timeline(arn("user/dev"))
	pr := f.an.Principal(u, tl, func(string) bool { return true })
	for _, c := range []struct {
		name   string
		tamper func(sg *Suggestion)
		check  string
		action string
	}{
		{"an observed call dropped", func(sg *Suggestion) {
			for i, st := range sg.Generated.Documents[0].Statement {
				if slices.Contains(st.Action, "s3:GetObject") {
					sg.Generated.Documents[0].Statement[i].Resource = []string{"arn:aws:s3:::elsewhere"}
				}
			}
		}, CheckObservedAllowed, "s3:GetObject"},
		{"a refused call let in", func(sg *Suggestion) {
			for i, st := range sg.Generated.Documents[0].Statement {
				if slices.Contains(st.Action, "s3:GetObject") {
					sg.Generated.Documents[0].Statement[i].Resource = []string{"arn:aws:s3:::data/*"}
				}
			}
		}, CheckRefusedStaysOut, "s3:GetObject"},
		{"more than today", func(sg *Suggestion) {
			sg.Generated.Documents[0].Statement = append(sg.Generated.Documents[0].Statement, Stmt{Effect: "Allow", Action: []string{"iam:CreateUser"}, Resource: []string{"*"}})
		}, CheckWithinGrants, "iam:CreateUser"},
		{"a resource beyond today's grant", func(sg *Suggestion) {
			sg.Generated.Documents[0].Statement = append(sg.Generated.Documents[0].Statement, Stmt{Effect: "Allow", Action: []string{"iam:GetRole"}, Resource: []string{"arn:aws:iam::111122223333:role/*"}})
		}, CheckWithinGrants, "iam:GetRole"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sg, err := s.Suggest(u, &pr, tl)
			if err != nil || !sg.Check.Passed {
				t.Fatalf("untampered suggestion: %v %+v", err, sg.Check)
			}
			c.tamper(sg)
			sub := &subject{u: u, pr: &pr, tl: tl, cat: testCat, m: tl.Current()}
			sub.p, _ = sub.m.Principal(u.ARN)
			sub.gs, _ = sub.m.Granted(u.ARN)
			r := s.checkGenerated(sub, sg.Generated)
			if r.Passed {
				t.Fatal("the tampered suggestion passed")
			}
			found := false
			for _, fl := range r.Failures {
				found = found || (fl.Check == c.check && fl.Action == c.action)
			}
			if !found {
				t.Fatalf("failures %+v, want %s on %s", r.Failures, c.check, c.action)
			}
		})
	}
	t.Run("an in-place removal still granted", func(t *testing.T) {
		sg, _ := s.Suggest(u, &pr, tl)
		sg.Removed = append(sg.Removed, Removal{Action: "cloudwatch:GetMetricData"}) // the group still grants it
		sub := &subject{u: u, pr: &pr, tl: tl, cat: testCat, m: tl.Current()}
		sub.p, _ = sub.m.Principal(u.ARN)
		sub.gs, _ = sub.m.Granted(u.ARN)
		if _, _, _, err := s.inPlace(sub, sg.Kept); err != nil {
			t.Fatal(err)
		}
		r := s.checkInPlace(sub, sg)
		if r.Passed || r.Failures[0].Check != CheckRemovedDenied || r.Failures[0].Action != "cloudwatch:GetMetricData" {
			t.Fatalf("in-place check %+v", r)
		}
		// A failed suggestion's documents are not written.
		sg.Check = Check{Passed: false, Generated: &CheckResult{Passed: true}, InPlace: r}
		folder, err := Write(t.TempDir(), sg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(folder, "inplace-dev-inline.json")); err == nil {
			t.Fatal("the failed in-place suggestion was written")
		}
		if _, err := os.Stat(filepath.Join(folder, "generated-1.json")); err != nil {
			t.Fatal("the passing generated suggestion was not written")
		}
	})
}

func TestGraceAndHistory(t *testing.T) {
	dev := arn("user/dev")
	snap := func(actions string) string {
		return `{"UserDetailList":[{"UserName":"dev","Arn":"` + dev + `","CreateDate":"2024-01-01T00:00:00Z","UserPolicyList":[{"PolicyName":"p","PolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":` + actions + `,"Resource":"*"}]}}]}],"GroupDetailList":[],"RoleDetailList":[],"Policies":[]}`
	}
	// ec2:DescribeVpcs was granted 5 days before the window's end; the
	// other unused action long before.
	snaps := map[time.Time]string{
		t0.Add(-60 * day): snap(`["s3:ListAllMyBuckets","ec2:DescribeRegions"]`),
		t0.Add(5 * day):   snap(`["s3:ListAllMyBuckets","ec2:DescribeRegions","ec2:DescribeVpcs"]`),
	}
	calls := []call{{who: dev, action: "s3:ListAllMyBuckets", resource: "*", at: 9 * day}}
	f := newFixture(t, calls, nil, snaps)
	sg := f.suggest(t, newSuggester(t, 0), dev)
	if len(sg.Removed) != 1 || sg.Removed[0].Action != "ec2:DescribeRegions" {
		t.Fatalf("removed %+v, want only ec2:DescribeRegions", sg.Removed)
	}
	if len(sg.Kept) != 1 || sg.Kept[0].Reason != KeptGrace || sg.Kept[0].Action != "ec2:DescribeVpcs" {
		t.Fatalf("kept %+v, want ec2:DescribeVpcs as granted recently", sg.Kept)
	}
	// Two runs a week apart: the second says what changed.
	h := NewHistory(f.db)
	run1 := t0.Add(10 * day)
	rec1 := RecordOf(sg, run1)
	if err := h.Save(context.Background(), dev, rec1); err != nil {
		t.Fatal(err)
	}
	none, err := h.Previous(context.Background(), dev, run1)
	if err != nil || none != nil {
		t.Fatalf("previous of the first run = %+v, %v", none, err)
	}
	run2 := run1.Add(7 * day)
	rec2 := rec1
	rec2.Run = run2
	rec2.Removed = []string{"ec2:DescribeRegions", "ec2:DescribeVpcs"}
	prev, err := h.Previous(context.Background(), dev, run2)
	if err != nil || prev == nil || !prev.Run.Equal(run1) {
		t.Fatalf("previous = %+v, %v", prev, err)
	}
	d := DiffRecords(prev, &rec2)
	if !slices.Equal(d.RemovedAdded, []string{"ec2:DescribeVpcs"}) || d.RemovedUnchanged != 1 || len(d.RemovedGone) != 0 || d.GeneratedUnchanged != len(rec1.Generated) || d.Empty() {
		t.Fatalf("diff %+v", d)
	}
}

// TestKeepActions: an unused action matching a kept pattern stays in
// both suggestions, in a statement of its own in the generated one, and
// the self-check still passes; a malformed pattern is refused.
func TestKeepActions(t *testing.T) {
	f := newFixture(t, devCalls(), fileModel(t, devSnapshot), nil)
	s, err := New(Options{Catalog: testCat, Grace: -1, KeepActions: []string{"SQS:List*", "cloudwatch:GetMetric?ata"}})
	if err != nil {
		t.Fatal(err)
	}
	sg := f.suggest(t, s, arn("user/dev"))
	matches := func(a string) bool {
		a = strings.ToLower(a)
		return strings.HasPrefix(a, "sqs:list") || a == "cloudwatch:getmetricdata"
	}
	var kept []string
	for _, k := range sg.Kept {
		if k.Reason == KeptConfigured {
			kept = append(kept, k.Action)
			if !matches(k.Action) {
				t.Errorf("%s kept by configuration, matching no pattern", k.Action)
			}
		}
	}
	if !slices.Contains(kept, "cloudwatch:GetMetricData") || slices.Contains(kept, "sqs:ListQueues") {
		t.Fatalf("kept by configuration %v, want cloudwatch:GetMetricData and not the used sqs:ListQueues", kept)
	}
	for _, r := range sg.Removed {
		if matches(r.Action) {
			t.Errorf("kept action %s was removed", r.Action)
		}
	}
	found := false
	for _, d := range sg.Generated.Documents {
		for _, st := range d.Statement {
			if strings.HasPrefix(st.Sid, "KeptByConfiguration") && slices.Contains(st.Action, "cloudwatch:GetMetricData") {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("the generated policy lacks the kept action: %+v", sg.Generated.Documents)
	}
	if sg.Check.Generated == nil || !sg.Check.Generated.Passed || sg.Check.InPlace == nil || !sg.Check.InPlace.Passed {
		t.Fatalf("self-check %+v", sg.Check)
	}
	for _, bad := range []string{"s3", "s3:", ":Get", "s3:Get[ab]", "s3:a/b"} {
		if _, err := New(Options{Catalog: testCat, KeepActions: []string{bad}}); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}

func TestNoModel(t *testing.T) {
	who := arn("role/app")
	calls := []call{
		{who: who, action: "s3:GetObject", resource: "arn:aws:s3:::b/x", at: time.Hour, session: "i-1"},
		{who: who, action: "s3:GetObject", resource: "arn:aws:s3:::b/y", at: 2 * time.Hour, session: "i-2"},
		{who: who, action: "s3:PutObject", resource: "arn:aws:s3:::c/z", denied: true, at: 3 * time.Hour},
		{who: who, action: "foo:Bar", resource: "*", at: 4 * time.Hour},
	}
	f := newFixture(t, calls, nil, nil)
	if f.sc.Models != nil {
		t.Fatal("a model without snapshots")
	}
	sg := f.suggest(t, newSuggester(t, 0), who)
	if sg == nil || sg.Compared || sg.InPlace != nil || !sg.Check.Passed {
		t.Fatalf("suggestion without a model = %+v", sg)
	}
	if !slices.Equal(sg.Generated.Permissions, []string{"s3:GetObject arn:aws:s3:::b/*"}) {
		t.Fatalf("permissions %q", sg.Generated.Permissions)
	}
	if len(sg.Notes) == 0 || !strings.Contains(sg.Notes[0], "could not be compared") {
		t.Fatalf("notes %q", sg.Notes)
	}
}

// The Minimize-based shortening keeps names when the list is short and
// never matches more than the set when it is long.
func TestShortActions(t *testing.T) {
	short, err := shortActions(testCat, []string{"s3:getobject", "S3:PutObject"})
	if err != nil || !slices.Equal(short, []string{"s3:GetObject", "s3:PutObject"}) {
		t.Fatalf("short list = %q, %v", short, err)
	}
	var all []string
	for _, a := range testCat.ServiceActions("ec2") {
		if strings.HasPrefix(a.Name, "Describe") {
			all = append(all, a.FullName())
		}
	}
	pats, err := shortActions(testCat, all)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(expand(testCat, pats)); got != len(all) || len(pats) >= len(all) {
		t.Fatalf("%d patterns expand to %d actions, want %d", len(pats), got, len(all))
	}
	doc, _ := json.Marshal(newDocument([]Stmt{{Effect: "Allow", Action: pats, Resource: []string{"*"}}}))
	p, err := policy.CompileJSON("x", doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range testCat.ServiceActions("ec2") {
		if got, want := p.Statements()[0].MatchesAction(a.FullName()), strings.HasPrefix(a.Name, "Describe"); got != want {
			t.Fatalf("%s matched %v, want %v (patterns %q)", a.FullName(), got, want, pats)
		}
	}
}

// TestLatestRun: a kept run reads back as Run returned it, self-checks
// and changes since the previous run included.
func TestLatestRun(t *testing.T) {
	dev := arn("user/dev")
	snap := `{"UserDetailList":[{"UserName":"dev","Arn":"` + dev + `","CreateDate":"2024-01-01T00:00:00Z","UserPolicyList":[{"PolicyName":"p","PolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListAllMyBuckets","ec2:DescribeRegions"],"Resource":"*"}]}}]}],"GroupDetailList":[],"RoleDetailList":[],"Policies":[]}`
	calls := []call{{who: dev, action: "s3:ListAllMyBuckets", resource: "*", at: 9 * day}}
	f := newFixture(t, calls, nil, map[time.Time]string{t0.Add(-60 * day): snap})
	h := NewHistory(f.db)
	ctx := context.Background()
	if run, ps, err := h.Latest(ctx); err != nil || run != nil || ps != nil {
		t.Fatalf("Latest of an empty history = %v, %v, %v", run, ps, err)
	}
	s := newSuggester(t, 0)
	var last *RunResult
	for i, at := range []time.Time{t0.Add(10 * day), t0.Add(17 * day)} {
		res, err := s.Run(ctx, f.db, f.sc, f.an, RunOptions{Out: t.TempDir(), History: h, Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Summaries) != 1 || res.Summaries[0].Check == nil || !res.Summaries[0].Passed {
			t.Fatalf("run %d: %+v", i, res.Summaries)
		}
		if (res.Summaries[0].Changes != nil) != (i == 1) {
			t.Fatalf("run %d changes = %+v", i, res.Summaries[0].Changes)
		}
		last = res
	}
	run, ps, err := h.Latest(ctx)
	if err != nil || run == nil || !run.Run.Equal(last.Run) || !slices.Equal(ps, []string{dev}) {
		t.Fatalf("Latest = %+v, %q, %v", run, ps, err)
	}
	got, err := h.Result(ctx, *run, ps)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(last)
	if !bytes.Equal(a, b) {
		t.Fatalf("read back\n%s\nwant\n%s", a, b)
	}
	if none, err := h.Result(ctx, *run, []string{arn("user/nobody")}); err != nil || len(none.Summaries) != 0 {
		t.Fatalf("Result of a principal without a suggestion = %+v, %v", none, err)
	}
}
