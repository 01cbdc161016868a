package iam

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

func fixtureDetails(t *testing.T) *Details {
	t.Helper()
	data, err := os.ReadFile("testdata/fixtures/account.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeDetails(data)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDiff(t *testing.T) {
	old, err := FromDetails(fixtureDetails(t), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := fixtureDetails(t)
	// user/direct removed, user/new added.
	users := d.UserDetailList.Items
	for i, u := range users {
		if u.UserName == "direct" {
			users = append(users[:i], users[i+1:]...)
			break
		}
	}
	users = append(users, UserDetail{UserName: "new", Arn: "arn:aws:iam::111122223333:user/new"})
	for i := range users {
		switch users[i].UserName {
		case "two-keys": // joins admins, leaves readers
			users[i].GroupList.Items = []string{"admins"}
		case "self-keys": // inline policy rewritten
			users[i].UserPolicyList.Items[0].PolicyDocument.JSON = json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:CreateAccessKey","Resource":"*"}]}`)
		case "console-no-mfa": // managed policy attached, inline added
			users[i].AttachedManagedPolicies.Items = []AttachedDetail{{PolicyName: "ec2-run", PolicyArn: "arn:aws:iam::111122223333:policy/ec2-run"}}
			users[i].UserPolicyList.Items = []InlineDetail{{PolicyName: "extra", PolicyDocument: Doc{JSON: json.RawMessage(`{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`)}}}
		}
	}
	d.UserDetailList.Items = users
	// ec2-run: default moves back to v1.
	for i := range d.Policies.Items {
		p := &d.Policies.Items[i]
		if p.PolicyName == "ec2-run" {
			p.DefaultVersionID = "v1"
			p.PolicyVersionList.Items[0].IsDefaultVersion = true
			p.PolicyVersionList.Items[1].IsDefaultVersion = false
		}
	}
	// lambda-svc trust changed; whitespace-only change of vendor's trust is no change.
	for i := range d.RoleDetailList.Items {
		r := &d.RoleDetailList.Items[i]
		switch r.RoleName {
		case "lambda-svc":
			r.AssumeRolePolicyDocument.JSON = json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
		case "vendor":
			r.AssumeRolePolicyDocument.JSON = json.RawMessage(`{ "Statement": [ {"Action": "sts:AssumeRole", "Principal": {"AWS": "444455556666"}, "Effect": "Allow"} ], "Version": "2012-10-17" }`)
		}
	}
	updated, err := FromDetails(d, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range Diff(old, updated) {
		got = append(got, c.Kind+" "+c.Principal+" "+c.Policy+" "+c.From+">"+c.To)
	}
	u := "arn:aws:iam::111122223333:user/"
	want := []string{
		"policy-version-changed  arn:aws:iam::111122223333:policy/ec2-run v2>v1",
		"trust-policy-changed arn:aws:iam::111122223333:role/lambda-svc  >",
		"inline-policy-added " + u + "console-no-mfa extra >",
		"policy-attached " + u + "console-no-mfa arn:aws:iam::111122223333:policy/ec2-run >",
		"principal-removed " + u + "direct  >",
		"principal-added " + u + "new  >",
		"inline-policy-changed " + u + "self-keys own-keys >",
		"group-membership-added " + u + "two-keys admins >",
		"group-membership-removed " + u + "two-keys readers >",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Diff:\n got %q\nwant %q", got, want)
	}
	if ch := Diff(old, old); len(ch) != 0 {
		t.Errorf("Diff(a, a) = %v, want none", ch)
	}
}
