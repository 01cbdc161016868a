package iam_test

import (
	"fmt"
	"log"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
)

func ExampleGranter_Granted() {
	acct, err := iam.Parse([]byte(`{
	  "UserDetailList": [{"UserName": "ann", "Arn": "arn:aws:iam::111122223333:user/ann",
	    "UserPolicyList": [{"PolicyName": "s3", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
	      {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::reports/*"},
	      {"Effect": "Deny", "Action": "s3:GetObjectAcl", "Resource": "*"}]}}]}]}`), iam.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	cat, err := catalog.Load()
	if err != nil {
		log.Fatal(err)
	}
	g, err := iam.NewGranter(cat, acct, nil)
	if err != nil {
		log.Fatal(err)
	}
	ann, _ := acct.Principal("arn:aws:iam::111122223333:user/ann")
	set := g.Granted(ann)
	obj, _ := set.Lookup("s3:GetObject")
	fmt.Println(obj.Action, obj.Resources, obj.AllResources, obj.Allows[0])
	fmt.Println("GetObjectAcl granted:", set.Has("s3:GetObjectAcl"))
	// Output:
	// s3:GetObject [arn:aws:s3:::reports/*] false identity arn:aws:iam::111122223333:user/ann#inline/s3 #0 Allow
	// GetObjectAcl granted: false
}

func ExampleDiff() {
	before, err := iam.Parse([]byte(`{"UserDetailList": [
	  {"UserName": "ann", "Arn": "arn:aws:iam::111122223333:user/ann", "GroupList": ["dev"]}]}`), iam.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	after, err := iam.Parse([]byte(`{"UserDetailList": [
	  {"UserName": "ann", "Arn": "arn:aws:iam::111122223333:user/ann", "GroupList": ["dev"],
	   "AttachedManagedPolicies": [{"PolicyName": "AdministratorAccess", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}]},
	  {"UserName": "bob", "Arn": "arn:aws:iam::111122223333:user/bob"}]}`), iam.LoadOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range iam.Diff(before, after) {
		fmt.Println(c.Kind, c.Principal, c.Policy)
	}
	// Output:
	// policy-attached arn:aws:iam::111122223333:user/ann arn:aws:iam::aws:policy/AdministratorAccess
	// principal-added arn:aws:iam::111122223333:user/bob
}
