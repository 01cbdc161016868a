package catalog_test

import (
	"errors"
	"fmt"

	"github.com/iamd/iamd/analyzer/catalog"
)

func Example() {
	c, err := catalog.Load()
	if err != nil {
		panic(err)
	}
	a, _ := c.Lookup("S3:GETOBJECT")
	fmt.Println(a.FullName(), a.Level, a.WildcardOnly())

	acts, _ := c.Expand("iam:passr*")
	fmt.Println(acts[0].FullName())

	_, err = c.Expand("s3:NoSuchThing*")
	var ue *catalog.UnknownError
	fmt.Println(errors.As(err, &ue), ue.Kind)

	rt, _ := c.MatchResourceType(a, "arn:aws:s3:::my-bucket/reports/2026/q3.csv")
	fmt.Println(rt.Name, rt.ARN)

	arn, _ := c.BuildARN("iam", "role", map[string]string{"Partition": "aws", "Account": "123456789012", "RoleNameWithPath": "ops/deployer"})
	fmt.Println(arn)

	k, _ := c.ConditionKey("aws:ResourceTag/team")
	fmt.Println(k.Name, k.Type)

	min, _ := c.Minimize([]string{"kms:CreateGrant", "kms:CreateCustomKeyStore"}, 0)
	fmt.Println(min)
	// Output:
	// s3:GetObject Read false
	// iam:PassRole
	// true unknown-action
	// object arn:${Partition}:s3:::${BucketName}/${ObjectName}
	// arn:aws:iam::123456789012:role/ops/deployer
	// aws:ResourceTag/${TagKey} String
	// [kms:createc* kms:createg*]
}

// A granted-set builder marks action ids in a bitset: ExpandIDs into a
// reused slice is the cheapest way to turn a policy's patterns into ids.
func ExampleCatalog_ExpandIDs() {
	c, err := catalog.Load()
	if err != nil {
		panic(err)
	}
	bits := make([]uint64, (c.Len()+63)/64)
	var ids []int
	for _, p := range []string{"s3:GetObject*", "s3:ListBucket"} {
		if ids, err = c.ExpandIDs(p, ids[:0]); err != nil {
			panic(err)
		}
		for _, id := range ids {
			bits[id/64] |= 1 << (id % 64)
		}
	}
	id, _ := c.ID("s3:getobjectacl")
	fmt.Println(bits[id/64]&(1<<(id%64)) != 0)

	// Match tests single ids against a pattern.
	isGet, _ := c.Match("*:Get*")
	fmt.Println(isGet(id))
	// Output:
	// true
	// true
}
