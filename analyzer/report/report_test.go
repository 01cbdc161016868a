package report

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/store"
)

const (
	acct  = "111122223333"
	alice = "arn:aws:iam::111122223333:user/alice"
	ci    = "arn:aws:iam::111122223333:user/ci"
	app   = "arn:aws:iam::111122223333:role/app"
	ghost = "arn:aws:iam::111122223333:user/ghost"
	other = "arn:aws:iam::999988887777:user/visitor"
)

var (
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

// details builds authorization-details JSON: users and roles with one
// inline policy each (statements as JSON), created a year before t0.
func details(taken time.Time, principals map[string]string) []byte {
	var users, roles []string
	for arn, stmts := range principals {
		name := arn[strings.LastIndexByte(arn, '/')+1:]
		pol := fmt.Sprintf(`[{"PolicyName":%q,"PolicyDocument":{"Version":"2012-10-17","Statement":%s}}]`, name+"-access", stmts)
		created := t0.AddDate(-1, 0, 0).Format(time.RFC3339)
		if name == "app" {
			created = t0.Add(10 * day).Format(time.RFC3339)
			roles = append(roles, fmt.Sprintf(`{"RoleName":%q,"Arn":%q,"Path":"/","CreateDate":%q,"RolePolicyList":%s,"AttachedManagedPolicies":[],
				"AssumeRolePolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}}`, name, arn, created, pol))
			continue
		}
		users = append(users, fmt.Sprintf(`{"UserName":%q,"Arn":%q,"Path":"/","CreateDate":%q,"UserPolicyList":%s,"GroupList":[],"AttachedManagedPolicies":[]}`, name, arn, created, pol))
	}
	return []byte(fmt.Sprintf(`{"Taken":%q,"UserDetailList":[%s],"RoleDetailList":[%s],"GroupDetailList":[],"Policies":[]}`,
		taken.Format(time.RFC3339), strings.Join(users, ","), strings.Join(roles, ",")))
}

type call struct {
	at       time.Time
	who      string
	action   string
	resource string
	denied   bool
	session  string
}

func newStore(t *testing.T, calls []call, snaps map[time.Time][]byte) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var evs []store.Event
	for i, c := range calls {
		e := store.Event{ID: fmt.Sprint(i), Time: c.at, Principal: c.who, SessionName: c.session, Uses: []store.Use{{Action: c.action, Resource: c.resource}}}
		if c.denied {
			e.Outcome = store.OutcomeDenied
		}
		evs = append(evs, e)
	}
	if _, err := db.Write(context.Background(), &store.Batch{Events: evs}); err != nil {
		t.Fatal(err)
	}
	for taken, data := range snaps {
		if err := db.PutSnapshot(context.Background(), store.Snapshot{AccountID: acct, Taken: taken, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func run(t *testing.T, db *store.DB, o ScopeOptions) *Report {
	t.Helper()
	o.Catalog = testCat
	if o.Window == "" {
		o.Window = "30d"
	}
	sc, err := NewScope(context.Background(), db, o)
	if err != nil {
		t.Fatal(err)
	}
	an, err := NewAnalyser(testCat, 2)
	if err != nil {
		t.Fatal(err)
	}
	r, err := an.Run(context.Background(), db, sc, 2)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func actions[T any](list []T, name func(T) string) []string {
	out := []string{}
	for _, x := range list {
		out = append(out, name(x))
	}
	slices.Sort(out)
	return out
}

func usedNames(p *PrincipalReport) []string {
	return actions(p.Used, func(u UsedAction) string { return u.Action })
}

func unusedNames(p *PrincipalReport) []string {
	return actions(p.Unused, func(u UnusedAction) string { return u.Action })
}

func TestReport(t *testing.T) {
	// The snapshot of t0-20d grants alice s3:PutObject on everything; the
	// one of t0+5d no longer does, and scopes GetObject to bucket "docs".
	old := details(t0.Add(-20*day), map[string]string{
		alice: `[{"Sid":"S3","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"*"}]`,
		ci:    `[{"Effect":"Allow","Action":["ec2:DescribeInstances","iam:PassRole","sts:GetCallerIdentity","dynamodb:GetItem"],"Resource":"*"}]`,
		app:   `[{"Sid":"Logs","Effect":"Allow","Action":"logs:DescribeLogGroups","Resource":"*"}]`,
	})
	cur := details(t0.Add(5*day), map[string]string{
		alice: `[{"Sid":"Docs","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/*"},
		         {"Sid":"Tags","Effect":"Allow","Action":["ec2:CreateTags","ec2:DeleteTags"],"Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}]`,
		ci:  `[{"Effect":"Allow","Action":["ec2:DescribeInstances","iam:PassRole","sts:GetCallerIdentity","dynamodb:GetItem"],"Resource":"*"}]`,
		app: `[{"Sid":"Logs","Effect":"Allow","Action":"logs:DescribeLogGroups","Resource":"*"}]`,
	})
	db := newStore(t, []call{
		{t0, alice, "s3:GetObject", "arn:aws:s3:::docs/a.txt", false, ""},
		{t0.Add(time.Hour), alice, "s3:GetObject", "arn:aws:s3:::docs/a.txt", false, ""},
		{t0.Add(2 * day), alice, "s3:GetObject", "arn:aws:s3:::private/b.txt", false, ""},
		{t0.Add(3 * day), alice, "s3:PutObject", "arn:aws:s3:::docs/c.txt", false, ""},
		{t0.Add(4 * day), alice, "iam:CreateUser", "arn:aws:iam::111122223333:user/x", true, ""},
		{t0.Add(4 * day), alice, "foo:Bar", "*", false, ""},
		{t0.Add(4 * day), alice, "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/k1", false, ""},
		{t0.Add(6 * day), ci, "ec2:DescribeInstances", "*", false, ""},
		{t0.Add(12 * day), app, "logs:DescribeLogGroups", "*", false, "req-1"},
		{t0.Add(12 * day), app, "logs:DescribeLogGroups", "*", false, "req-1"},
		{t0.Add(12 * day), app, "logs:DescribeLogGroups", "*", false, "req-2"},
		{t0.Add(7 * day), ghost, "s3:ListAllMyBuckets", "*", false, ""},
		{t0.Add(7 * day), other, "s3:ListAllMyBuckets", "*", false, ""},
	}, map[time.Time][]byte{t0.Add(-20 * day): old, t0.Add(5 * day): cur})
	r := run(t, db, ScopeOptions{})

	if got, want := len(r.Models), 2; got != want {
		t.Fatalf("models %+v, want both snapshots", r.Models)
	}
	if !slices.Equal(r.AccountsWithoutModel, []string{"999988887777"}) {
		t.Fatalf("accounts without model = %q", r.AccountsWithoutModel)
	}
	if want := t0.Add(12 * day); !r.Window.End.Equal(want) {
		t.Fatalf("window end %v, want the newest call %v", r.Window.End, want)
	}

	a, ok := r.Find(alice)
	if !ok {
		t.Fatal("alice missing")
	}
	if got, want := usedNames(a), []string{"s3:GetObject", "s3:PutObject"}; !slices.Equal(got, want) {
		t.Fatalf("alice used %q, want %q", got, want)
	}
	for _, u := range a.Used {
		switch u.Action {
		case "s3:GetObject":
			if !u.GrantedNow || u.Calls != 3 || len(u.AllowedBy) != 1 || u.AllowedBy[0].Sid != "Docs" || u.Resources[0].Resource != "arn:aws:s3:::docs/a.txt" || u.ResourceCount != 2 {
				t.Errorf("GetObject used = %+v", u)
			}
		case "s3:PutObject":
			// Allowed by the older snapshot in force that day; not now.
			if u.GrantedNow || u.AllowedBy[0].Sid != "S3" {
				t.Errorf("PutObject used = %+v", u)
			}
		}
	}
	reasons := map[string]string{}
	for _, n := range a.NotGranted {
		reasons[n.Action] = n.Reason
	}
	want := map[string]string{
		"s3:GetObject": NotGrantedEarlierSnapshot, // private/b.txt: the old snapshot allowed it
		"s3:PutObject": NotGrantedEarlierSnapshot,
		"foo:Bar":      NotGrantedActionMapping,
		"kms:Decrypt":  NotGrantedResourcePolicy, // a key policy can grant it alone
	}
	if fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Fatalf("alice not granted = %v, want %v (%+v)", reasons, want, a.NotGranted)
	}
	if got := unusedNames(a); !slices.Equal(got, []string{"ec2:CreateTags", "ec2:DeleteTags"}) {
		t.Fatalf("alice unused = %q", got)
	}
	for _, u := range a.Unused {
		if !u.Conditional || !u.ServiceUnused || u.GrantedBy[0].Sid != "Tags" {
			t.Errorf("unused %+v: want conditional, service unused, granted by Tags", u)
		}
	}
	if len(a.Denied) != 1 || a.Denied[0].Action != "iam:CreateUser" || a.Denied[0].GrantedNow {
		t.Fatalf("alice denied = %+v", a.Denied)
	}
	if a.Utilisation.Used != 1 || a.Utilisation.Granted != 3 {
		t.Fatalf("alice utilisation = %+v", a.Utilisation)
	}

	c, _ := r.Find(ci)
	gotUnobs := map[string]string{}
	for _, u := range c.Unobservable {
		gotUnobs[u.Action] = u.Reason
	}
	wantUnobs := map[string]string{
		"iam:PassRole": UnobservablePermissionOnly,
		// Nobody in the account made a DynamoDB item call: the trail
		// does not log them.
		"dynamodb:GetItem": UnobservableNoDataEvents,
	}
	if fmt.Sprint(gotUnobs) != fmt.Sprint(wantUnobs) || len(c.Unused) != 0 {
		t.Fatalf("ci unobservable = %v, unused %+v; want %v and nothing unused", gotUnobs, c.Unused, wantUnobs)
	}

	ap, _ := r.Find(app)
	if !ap.CreatedInWindow || ap.Sessions == nil || len(ap.Sessions.SessionNames) != 2 || ap.Sessions.SessionNames[0].Name != "req-1" ||
		ap.Sessions.SessionNames[0].Share < 0.66 || ap.Sessions.SessionNames[0].Share > 0.67 {
		t.Fatalf("app = created in window %v, sessions %+v", ap.CreatedInWindow, ap.Sessions)
	}
	g, _ := r.Find(ghost)
	if g.Status != StatusNotInModel || len(g.NotGranted) != 1 || g.NotGranted[0].Reason != NotGrantedUnexplained || !strings.Contains(g.NotGranted[0].Detail, "not in today's model") {
		t.Fatalf("ghost = %+v", g)
	}
	v, _ := r.Find(other)
	if v.Status != StatusNoModel || len(v.Used) != 1 || len(v.NotGranted) != 0 {
		t.Fatalf("visitor = %+v", v)
	}
	root, ok := r.Find("arn:aws:iam::111122223333:root")
	if !ok || root.Status != StatusRoot || len(root.Unused) != 0 {
		t.Fatalf("root = %+v, %v", root.Status, ok)
	}

	// Every required JSON key is there, each list an array of objects
	// with an action.
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"principal", "used", "unused", "denied", "not_granted", "unobservable", "utilisation"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
}

func TestReportWindowAndPrincipal(t *testing.T) {
	cur := details(t0.Add(-day), map[string]string{alice: `[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]`})
	db := newStore(t, []call{
		{t0, alice, "s3:ListAllMyBuckets", "*", false, ""},
		{t0.Add(40 * day), alice, "ec2:DescribeRegions", "*", false, ""},
	}, map[time.Time][]byte{t0.Add(-day): cur})
	// A 30-day window ending at the newest activity misses the first call.
	r := run(t, db, ScopeOptions{Principals: []string{alice}})
	a, _ := r.Find(alice)
	if len(r.Principals) != 1 || len(a.Used) != 0 || len(a.Unused) != 1 || len(a.NotGranted) != 1 {
		t.Fatalf("30d: used %+v unused %+v not granted %+v", a.Used, a.Unused, a.NotGranted)
	}
	// --at moves the window back over the first call.
	r = run(t, db, ScopeOptions{At: t0.Add(day)})
	a, _ = r.Find(alice)
	if len(a.Used) != 1 || len(a.Unused) != 0 {
		t.Fatalf("at t0+1d: used %+v unused %+v", a.Used, a.Unused)
	}
	// A window with no activity at all: everything granted is unused.
	r = run(t, db, ScopeOptions{At: t0.Add(-10 * day), Window: "1d"})
	a, _ = r.Find(alice)
	if len(a.Used) != 0 || len(a.Unused) != 1 {
		t.Fatalf("empty window: used %+v unused %+v", a.Used, a.Unused)
	}
}

func TestNoModel(t *testing.T) {
	db := newStore(t, []call{{t0, alice, "s3:ListAllMyBuckets", "*", false, ""}}, nil)
	_, err := NewScope(context.Background(), db, ScopeOptions{Catalog: testCat, RequireModel: true})
	if err == nil || !strings.Contains(err.Error(), "iamd snapshot save") {
		t.Fatalf("NewScope without snapshots = %v, want an error saying how to add one", err)
	}
	sc, err := NewScope(context.Background(), db, ScopeOptions{Catalog: testCat})
	if err != nil || sc.Models != nil || len(sc.Principals) != 1 {
		t.Fatalf("NewScope without RequireModel = %+v, %v", sc, err)
	}
}

// TestUnobservableTable checks the hand-kept tables against the catalog:
// a misspelt action would silently never apply.
func TestUnobservableTable(t *testing.T) {
	for _, table := range []map[string]string{unloggedActions, permissionlessActions, dataActions} {
		for a := range table {
			def, ok := testCat.Lookup(a)
			if !ok {
				t.Errorf("%s is not in the action catalog", a)
				continue
			}
			if def.FullName() != a {
				t.Errorf("%s: the catalog spells it %s", a, def.FullName())
			}
		}
	}
	for _, c := range []struct {
		action, group string
	}{
		{"s3:GetObject", dataS3}, {"s3:PutObjectAcl", dataS3}, {"s3:ListBucket", dataS3}, {"lambda:InvokeFunction", dataLambda},
		{"s3:GetBucketPolicy", ""}, {"s3:ListAllMyBuckets", ""}, {"dynamodb:DescribeTable", ""}, {"kms:Decrypt", ""},
	} {
		if g, _ := DataGroup(testCat, c.action); g != c.group {
			t.Errorf("DataGroup(%s) = %q, want %q", c.action, g, c.group)
		}
	}
}
