package unused

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/model"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/store"
)

var _ Store = (*store.DB)(nil)

var (
	t0  = time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	day = 24 * time.Hour
)

const pre = "arn:aws:iam::111122223333:"

func ts(t time.Time) string { return t.Format(time.RFC3339) }

func snapshot() string {
	pol := `[{"PolicyName":"p","PolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListAllMyBuckets","ec2:DescribeRegions"],"Resource":"*"}]}}]`
	old := ts(t0.AddDate(-1, 0, 0))
	user := func(name, keys, tags string) string {
		return fmt.Sprintf(`{"UserName":%q,"Arn":%q,"Path":"/","CreateDate":%q,"UserPolicyList":%s,"AccessKeys":[%s],"Tags":[%s]}`, name, pre+"user/"+name, old, pol, keys, tags)
	}
	role := func(name, path, created, lastUsed string) string {
		lu := ""
		if lastUsed != "" {
			lu = fmt.Sprintf(`,"RoleLastUsed":{"LastUsedDate":%q}`, lastUsed)
		}
		return fmt.Sprintf(`{"RoleName":%q,"Arn":%q,"Path":%q,"CreateDate":%q,"RolePolicyList":%s,
			"AssumeRolePolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}%s}`,
			name, pre+"role"+path+name, path, created, pol, lu)
	}
	key := func(id string, lastUsed time.Time) string {
		lu := ""
		if !lastUsed.IsZero() {
			lu = fmt.Sprintf(`,"LastUsedDate":%q`, ts(lastUsed))
		}
		return fmt.Sprintf(`{"AccessKeyId":%q,"Status":"Active","CreateDate":%q%s}`, id, old, lu)
	}
	return `{"UserDetailList":[` + strings.Join([]string{
		user("bob", key("AKIABOB1", time.Time{})+","+key("AKIABOB2", time.Time{}), ""),
		user("dormant", key("AKIADORM", t0.Add(10*day)), ""),
		user("gone", "", ""),
		user("svc", "", `{"Key":"owner","Value":"platform"}`),
		user("web", "", ""),
		user("broker", "", ""),
	}, ",") + `],"RoleDetailList":[` + strings.Join([]string{
		role("idle", "/", old, ""),
		role("assumed", "/", old, ""),
		role("modelused", "/", old, ts(t0.Add(20*day))),
		role("fresh", "/", ts(t0.Add(15*day)), ""),
		role("AWSServiceRoleForX", "/aws-service-role/x.amazonaws.com/", old, ""),
	}, ",") + `],"GroupDetailList":[],"Policies":[]}`
}

func TestFind(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	acct, err := iam.Parse([]byte(snapshot()), iam.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := acct.Principal(pre + "user/bob")
	bob.Credentials.PasswordEnabled, bob.Credentials.PasswordLastUsed = true, t0.Add(-60*day)
	// web signs in to the console in the window: the snapshot's date is
	// older than the trail's. broker's only sign-in is a federated user's
	// (GetFederationToken): the user is used, its password is not.
	web, _ := acct.Principal(pre + "user/web")
	web.Credentials = &iam.Credentials{SignInKnown: true, PasswordEnabled: true, PasswordLastUsed: t0.Add(-60 * day)}
	broker, _ := acct.Principal(pre + "user/broker")
	broker.Credentials = &iam.Credentials{SignInKnown: true, PasswordEnabled: true}
	models, err := model.FromAccount(cat, acct, nil, "test.json")
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(store.Options{InMemory: true, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	events := []store.Event{
		{ID: "1", Time: t0.Add(5 * day), Principal: pre + "user/bob", AccessKeyID: "AKIABOB1", Uses: []store.Use{{Action: "s3:ListAllMyBuckets", Resource: "*"}}},
		{ID: "2", Time: t0.Add(6 * day), Principal: pre + "user/bob", AccessKeyID: "AKIABOB1", Uses: []store.Use{{Action: "sts:AssumeRole", Resource: pre + "role/assumed"}}},
		{ID: "3", Time: t0.Add(29 * day), Principal: pre + "user/bob", AccessKeyID: "AKIABOB1", Uses: []store.Use{{Action: "s3:ListAllMyBuckets", Resource: "*"}}},
		{ID: "4", Time: t0.Add(12 * day), Principal: pre + "user/web", PrincipalType: "IAMUser", SignIn: store.SignInSuccess, MFAUsed: true},
		{ID: "5", Time: t0.Add(13 * day), Principal: pre + "user/broker", PrincipalType: "FederatedUser", SignIn: store.SignInSuccess},
	}
	if _, err := db.Write(context.Background(), &store.Batch{Events: events}); err != nil {
		t.Fatal(err)
	}
	sc, err := report.NewScope(context.Background(), db, report.ScopeOptions{Catalog: cat, Models: models, Window: "30d", RequireModel: true})
	if err != nil {
		t.Fatal(err)
	}
	an, _ := report.NewAnalyser(cat, 0)
	r, err := an.Run(context.Background(), db, sc, 1)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := ParseExclusion("tag:owner=platform")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Find(context.Background(), db, sc, r, Options{Exclude: []Exclusion{ex}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Findings {
		got = append(got, strings.TrimSpace(fmt.Sprintf("%s %s %s %s", strings.TrimPrefix(f.Principal, pre), f.Type, f.Status, f.AccessKeyID)))
	}
	want := []string{
		"role/fresh unused-role too-new-to-judge",
		"role/idle unused-role unused",
		"user/bob unused-access-key unused AKIABOB2",
		"user/bob unused-password unused",
		"user/bob unused-permissions unused",
		"user/broker unused-password unused",
		"user/gone unused-user unused",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !slices.Equal(res.Excluded, []string{pre + "user/svc"}) {
		t.Fatalf("excluded %q", res.Excluded)
	}
	for _, f := range res.Findings {
		if f.Type == TypePermissions && (len(f.Services) != 1 || f.Services[0].Service != "ec2" || !f.Services[0].Unused) {
			t.Errorf("unused permissions of bob = %+v, want ec2 unused", f.Services)
		}
		if f.Type == TypePassword && f.Principal == pre+"user/bob" && (!f.LastUsed.Equal(t0.Add(-60*day)) || f.LastUsedFrom != "model") {
			t.Errorf("password finding = %+v", f)
		}
		if f.Type == TypePassword && f.Principal == pre+"user/broker" && !f.LastUsed.IsZero() {
			t.Errorf("broker's password finding = %+v, want never used (its sign-in was federated)", f)
		}
	}
}

func TestParseExclusion(t *testing.T) {
	p := &iam.Principal{ARN: pre + "role/team/breakglass-1", Path: "/team/", Tags: map[string]string{"owner": "sec"}}
	for _, c := range []struct {
		in    string
		match bool
		bad   bool
	}{
		{in: "arn:aws:iam::*:role/*breakglass-*", match: true},
		{in: "arn:aws:iam::*:role/breakglass-*"},
		{in: "path:/team/", match: true},
		{in: "path:/other/"},
		{in: "tag:owner", match: true},
		{in: "tag:owner=sec", match: true},
		{in: "tag:owner=ops"},
		{in: "path:team", bad: true},
		{in: "tag:", bad: true},
		{in: "breakglass", bad: true},
	} {
		e, err := ParseExclusion(c.in)
		if (err != nil) != c.bad {
			t.Errorf("ParseExclusion(%q) error %v", c.in, err)
			continue
		}
		if !c.bad && e.Matches(p.ARN, p) != c.match {
			t.Errorf("%q matches %s = %v, want %v", c.in, p.ARN, !c.match, c.match)
		}
	}
}
