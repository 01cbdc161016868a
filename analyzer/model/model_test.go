package model

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/policy"
	"github.com/iamd/iamd/store"
)

var _ Store = (*store.DB)(nil)

const acct = "111122223333"

var t0 = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)

func snapshot(taken time.Time, action string) []byte {
	return []byte(fmt.Sprintf(`{"Taken":%q,"UserDetailList":[{"UserName":"alice","Arn":"arn:aws:iam::%s:user/alice","Path":"/",
		"UserPolicyList":[{"PolicyName":"p","PolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":%q,"Resource":"*"}]}}]}],
		"GroupDetailList":[],"RoleDetailList":[],"Policies":[]}`, taken.Format(time.RFC3339), acct, action))
}

func TestLoadAndTimeline(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := Load(ctx, db, cat, []string{acct}, nil, t0, t0.AddDate(0, 0, 30)); !errors.Is(err, ErrNoModel) {
		t.Fatalf("Load with no snapshot = %v, want ErrNoModel", err)
	}
	// Snapshots 20 and 10 days before the window, 5 days into it, and
	// after its end.
	d := 24 * time.Hour
	for i, at := range []time.Time{t0.Add(-20 * d), t0.Add(-10 * d), t0.Add(5*d + 12*time.Hour), t0.Add(40 * d)} {
		action := []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}[i]
		if err := db.PutSnapshot(ctx, store.Snapshot{AccountID: acct, Taken: at, Data: snapshot(at, action)}); err != nil {
			t.Fatal(err)
		}
	}
	as, err := Load(ctx, db, cat, []string{acct, "999988887777"}, nil, t0, t0.Add(30*d))
	if err != nil {
		t.Fatal(err)
	}
	if as.Len() != 1 {
		t.Fatalf("accounts %v, want only %s", as.IDs(), acct)
	}
	tl, _ := as.Timeline(acct)
	if len(tl.Models) != 2 || !tl.Models[0].Taken.Equal(t0.Add(-10*d)) || !tl.Current().Taken.Equal(t0.Add(5*d+12*time.Hour)) {
		t.Fatalf("models taken %v / %v, want the one in force at the start and the one inside the window", tl.Models[0].Taken, tl.Current().Taken)
	}
	for _, c := range []struct {
		day  time.Time
		want string
	}{
		{t0.Add(-30 * d), "s3:PutObject"}, // before the first: the first
		{t0.Add(4 * d), "s3:PutObject"},
		{t0.Add(5 * d), "s3:DeleteObject"}, // taken during the day: counts for it
		{t0.Add(29 * d), "s3:DeleteObject"},
	} {
		m := tl.At(c.day)
		if gs, ok := m.Granted("arn:aws:iam::" + acct + ":user/alice"); !ok || !gs.Has(c.want) || gs.Len() != 1 {
			t.Errorf("At(%s) grants %v, want only %s", c.day.Format("01-02"), gs, c.want)
		}
	}
}

func TestPermissive(t *testing.T) {
	pol, err := policy.CompileJSON("p", []byte(`{"Version":"2012-10-17","Statement":[
		{"Sid":"MFA","Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}},
		{"Sid":"Region","Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"eu-west-1"}}},
		{"Sid":"Always","Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Permissive(pol)
	if err != nil {
		t.Fatal(err)
	}
	set := &policy.Set{Identity: []*policy.Policy{p}}
	alice := &iam.Principal{Kind: iam.KindUser, ARN: "arn:aws:iam::" + acct + ":user/alice", Name: "alice"}
	for _, c := range []struct {
		action string
		want   policy.Result
	}{
		// The Allow's condition is read as met and the conditional Deny as
		// not applying; the unconditional Deny still applies.
		{"s3:GetObject", policy.Allowed},
		{"s3:DeleteObject", policy.ExplicitlyDenied},
		{"s3:PutObject", policy.ImplicitlyDenied},
	} {
		req := Request(alice, c.action, "arn:aws:s3:::b/k")
		var d policy.Decision
		if got := set.Evaluate(&req, &d); got != c.want {
			t.Errorf("%s: %v (%s), want %v", c.action, got, d.Reason, c.want)
		}
		if c.want == policy.Allowed && (len(d.Allows) != 1 || d.Allows[0].Sid != "MFA" || d.Allows[0].Index != 0) {
			t.Errorf("%s allowed by %v, want the original statement MFA #0", c.action, d.Allows)
		}
	}
	// The original still decides by the context: without a region the
	// StringNotEquals deny applies.
	req := Request(alice, "s3:GetObject", "arn:aws:s3:::b/k")
	if got := (&policy.Set{Identity: []*policy.Policy{pol}}).Evaluate(&req, nil); got != policy.ExplicitlyDenied {
		t.Fatalf("original policy without a region in the context = %v", got)
	}
	plain, _ := policy.CompileJSON("q", []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`))
	if q, _ := Permissive(plain); q != plain {
		t.Fatal("a policy without conditions was copied")
	}
}

func TestRequest(t *testing.T) {
	role := &iam.Principal{Kind: iam.KindRole, ARN: "arn:aws:iam::" + acct + ":role/path/app", Name: "app", ID: "AROAX"}
	r := Request(role, "s3:GetObject", "")
	if r.Principal != "arn:aws:sts::"+acct+":assumed-role/app/"+SessionName || r.Resource != "*" {
		t.Fatalf("role request = %+v", r)
	}
	if v, ok := r.Context.Lookup("aws:PrincipalArn"); !ok || v.Values[0] != role.ARN {
		t.Fatalf("aws:PrincipalArn = %v", v)
	}
}
