package catalog_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/iamd/iamd/analyzer/catalog"
)

func TestLookupCaseInsensitive(t *testing.T) {
	c := loadFixture(t)
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"canonical", "s3:GetObject", "s3:GetObject", true},
		{"lowercase", "s3:getobject", "s3:GetObject", true},
		{"uppercase", "S3:GETOBJECT", "s3:GetObject", true},
		{"mixed service", "IaM:PassRole", "iam:PassRole", true},
		{"unknown action", "s3:GetObjects", "", false},
		{"unknown service", "s4:GetObject", "", false},
		{"pattern is not a name", "s3:Get*", "", false},
		{"no colon", "s3GetObject", "", false},
		{"empty", "", "", false},
		{"long input", "s3:" + strings.Repeat("A", 300), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := c.Lookup(tt.in)
			if ok != tt.ok || a.FullName() != tt.want && ok {
				t.Fatalf("Lookup(%q) = %q, %v; want %q, %v", tt.in, a.FullName(), ok, tt.want, tt.ok)
			}
			id, idOK := c.ID(tt.in)
			if idOK != tt.ok {
				t.Fatalf("ID(%q) ok = %v, want %v", tt.in, idOK, tt.ok)
			}
			if ok && c.ActionAt(id).FullName() != tt.want {
				t.Fatalf("ActionAt(ID(%q)) = %s, want %s", tt.in, c.ActionAt(id).FullName(), tt.want)
			}
		})
	}
}

func TestActionFields(t *testing.T) {
	c := loadFixture(t)
	tests := []struct {
		action       string
		level        catalog.AccessLevel
		levelString  string
		resources    []catalog.ActionResource
		keys         []string
		wildcardOnly bool
	}{
		{"s3:GetObject", catalog.Read, "Read", []catalog.ActionResource{{"object", false}, {"accesspointobject", false}}, []string{"s3:ExistingObjectTag/<key>", "s3:TlsVersion"}, false},
		{"s3:ListAllMyBuckets", catalog.List, "List", nil, nil, true},
		{"s3:PutObjectTagging", catalog.Tagging, "Tagging", []catalog.ActionResource{{"object", true}}, nil, false},                             // "Tagging, Write"
		{"s3:PutBucketPolicy", catalog.PermissionsManagement, "Permissions management", []catalog.ActionResource{{"bucket", true}}, nil, false}, // "Permissions management, Write"
		{"kms:CreateGrant", catalog.PermissionsManagement, "Permissions management", []catalog.ActionResource{{"key", true}}, nil, false},
		{"iam:TagRole", catalog.Tagging, "Tagging", []catalog.ActionResource{{"role", true}}, nil, false},
		{"iam:ListUserTags", catalog.List, "List", []catalog.ActionResource{{"User", true}}, nil, false}, // upstream's resource key casing
		{"iam:CreateRole", catalog.Write, "Write", []catalog.ActionResource{{"role", true}}, []string{"aws:TagKeys", "iam:PermissionsBoundary"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			a, ok := c.Lookup(tt.action)
			if !ok {
				t.Fatalf("Lookup(%q) not found", tt.action)
			}
			if a.Level != tt.level || a.Level.String() != tt.levelString {
				t.Errorf("Level = %v (%d), want %v", a.Level, a.Level, tt.levelString)
			}
			if !slices.Equal(a.Resources, tt.resources) {
				t.Errorf("Resources = %v, want %v", a.Resources, tt.resources)
			}
			if !slices.Equal(a.ConditionKeys, tt.keys) {
				t.Errorf("ConditionKeys = %v, want %v", a.ConditionKeys, tt.keys)
			}
			if a.WildcardOnly() != tt.wildcardOnly {
				t.Errorf("WildcardOnly() = %v, want %v", a.WildcardOnly(), tt.wildcardOnly)
			}
			if svc, name, _ := strings.Cut(tt.action, ":"); a.Service != svc || a.Name != name {
				t.Errorf("Service, Name = %q, %q", a.Service, a.Name)
			}
		})
	}
	if got := (catalog.Action{Service: "s3", Name: "X"}).FullName(); got != "s3:X" {
		t.Errorf("FullName of a literal Action = %q, want s3:X", got)
	}
	if got := catalog.AccessLevel(0).String(); got != "AccessLevel(0)" {
		t.Errorf("AccessLevel(0).String() = %q", got)
	}
}

func TestServices(t *testing.T) {
	c := loadFixture(t)
	if got, want := c.Services(), []string{"codebuild", "iam", "kms", "s3"}; !slices.Equal(got, want) {
		t.Fatalf("Services() = %v, want %v", got, want)
	}
	s, ok := c.Service("KMS")
	if !ok || s.Prefix != "kms" || s.Name != "AWS Key Management Service" {
		t.Fatalf("Service(KMS) = %+v, %v", s, ok)
	}
	if got, want := fullNames(s.Actions), []string{"kms:CreateCustomKeyStore", "kms:CreateGrant", "kms:CreateKey", "kms:Decrypt"}; !slices.Equal(got, want) {
		t.Fatalf("Service(kms).Actions = %v, want %v", got, want)
	}
	if got := fullNames(c.ServiceActions("kms")); !slices.Equal(got, fullNames(s.Actions)) {
		t.Fatalf("ServiceActions(kms) = %v", got)
	}
	if got, want := s.ConditionKeys, []string{"kms:EncryptionContext:${EncryptionContextKey}", "kms:EncryptionContextKeys"}; !slices.Equal(got, want) {
		t.Fatalf("Service(kms).ConditionKeys = %v, want %v", got, want)
	}
	got := c.Services()
	got[0] = "changed"
	if c.Services()[0] != "codebuild" {
		t.Fatal("Services() exposes the catalog's slice")
	}
	if _, ok := c.Service("nope"); ok {
		t.Fatal("Service(nope) found")
	}
	if got := c.ServiceActions("nope"); got != nil {
		t.Fatalf("ServiceActions(nope) = %v", got)
	}
	// Ids are dense and ordered by service, then lowercased name.
	var names []string
	for id := 0; id < c.Len(); id++ {
		names = append(names, strings.ToLower(c.ActionAt(id).FullName()))
	}
	if c.Len() != 21 || !slices.IsSorted(names) {
		t.Fatalf("ids: Len() = %d, order %v", c.Len(), names)
	}
}

func TestExpandFixture(t *testing.T) {
	c := loadFixture(t)
	tests := []struct {
		pattern string
		want    []string
	}{
		{"s3:Get*", []string{"s3:GetBucketPolicy", "s3:GetObject", "s3:GetObjectAcl"}},
		{"S3:GETOBJECT", []string{"s3:GetObject"}},
		{"s3:*Objec?", []string{"s3:DeleteObject", "s3:GetObject", "s3:PutObject"}}, // ? is exactly one character
		{"s3:*Object*", []string{"s3:DeleteObject", "s3:GetObject", "s3:GetObjectAcl", "s3:PutObject", "s3:PutObjectTagging"}},
		{"s3:?etObject", []string{"s3:GetObject"}},
		{"*:Get*", []string{"iam:GetRole", "s3:GetBucketPolicy", "s3:GetObject", "s3:GetObjectAcl"}},
		{"*:*Grant", []string{"kms:CreateGrant"}},
		{"?3:list*", []string{"s3:ListAllMyBuckets", "s3:ListBucket"}},
		{"k*:create*", []string{"kms:CreateCustomKeyStore", "kms:CreateGrant", "kms:CreateKey"}},
		{"iam:*", []string{"iam:AttachRolePolicy", "iam:CreateRole", "iam:GetRole", "iam:ListUsers", "iam:ListUserTags", "iam:PassRole", "iam:TagRole"}},
		{"iam:List*s", []string{"iam:ListUsers", "iam:ListUserTags"}}, // id order: "listusers" < "listusertags"
		{"iam:**s", []string{"iam:ListUsers", "iam:ListUserTags"}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			got, err := c.Expand(tt.pattern)
			if err != nil {
				t.Fatalf("Expand(%q): %v", tt.pattern, err)
			}
			if names := fullNames(got); !slices.Equal(names, tt.want) {
				t.Fatalf("Expand(%q) = %v, want %v", tt.pattern, names, tt.want)
			}
			ids, err := c.ExpandIDs(tt.pattern, []int{-1})
			if err != nil || len(ids) != len(tt.want)+1 || ids[0] != -1 {
				t.Fatalf("ExpandIDs(%q, [-1]) = %v, %v", tt.pattern, ids, err)
			}
			match, err := c.Match(tt.pattern)
			if err != nil {
				t.Fatalf("Match(%q): %v", tt.pattern, err)
			}
			var viaMatch []string
			for id := -1; id <= c.Len(); id++ {
				if match(id) {
					viaMatch = append(viaMatch, c.ActionAt(id).FullName())
				}
			}
			if !slices.Equal(viaMatch, tt.want) {
				t.Fatalf("Match(%q) accepts %v, want %v", tt.pattern, viaMatch, tt.want)
			}
		})
	}
	for _, p := range []string{"*", "**", "*:*"} {
		all, err := c.Expand(p)
		if err != nil || len(all) != c.Len() {
			t.Fatalf("Expand(%q) = %d actions, %v; want %d", p, len(all), err, c.Len())
		}
	}
}

func TestExpandErrors(t *testing.T) {
	c := loadFixture(t)
	tests := []struct {
		pattern string
		kind    catalog.UnknownKind // "" → ErrInvalidPattern
	}{
		{"s3:zzz", catalog.UnknownAction},
		{"s3:Get*Zzz", catalog.UnknownAction},
		{"s3:*Object?", catalog.UnknownAction}, // ? needs exactly one more character
		{"*:zzz*", catalog.UnknownAction},
		{"333:listallmybuckets", catalog.UnknownService},
		{"thistechdoesntexist:*", catalog.UnknownService},
		{"x*:*", catalog.UnknownService},
		{"", ""},
		{"s3", ""},
		{"s3*", ""},
		{"s3:", ""},
		{":GetObject", ""},
		{"s3:Get:Object", ""},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			got, err := c.Expand(tt.pattern)
			if err == nil {
				t.Fatalf("Expand(%q) = %v, want an error", tt.pattern, fullNames(got))
			}
			_, mErr := c.Match(tt.pattern)
			ids, idErr := c.ExpandIDs(tt.pattern, nil)
			if len(ids) != 0 {
				t.Fatalf("ExpandIDs(%q) = %v with error", tt.pattern, ids)
			}
			for _, err := range []error{err, mErr, idErr} {
				ue, isUnknown := asUnknown(err)
				if tt.kind == "" {
					if !errors.Is(err, catalog.ErrInvalidPattern) || isUnknown {
						t.Fatalf("error %v, want ErrInvalidPattern", err)
					}
					continue
				}
				if !isUnknown || ue.Kind != tt.kind || ue.Pattern != tt.pattern {
					t.Fatalf("error %v, want *UnknownError kind %s for %q", err, tt.kind, tt.pattern)
				}
			}
		})
	}
}

func TestMinimizeFixture(t *testing.T) {
	c := loadFixture(t)
	tests := []struct {
		name     string
		input    []string
		minChars int
		want     []string
	}{
		{"prefix split", []string{"kms:CreateGrant", "kms:CreateCustomKeyStore"}, 0, []string{"kms:createc*", "kms:createg*"}},
		{"whole service", []string{"kms:CreateGrant", "kms:CreateCustomKeyStore", "kms:CreateKey", "kms:Decrypt"}, 0, []string{"kms:*"}},
		{"service pattern input", []string{"iam:*"}, 0, []string{"iam:*"}},
		{"extended name stays exact", []string{"s3:GetObject"}, 0, []string{"s3:getobject"}},
		{"both of a name pair", []string{"s3:GetObject", "s3:GetObjectAcl"}, 0, []string{"s3:geto*"}},
		{"min chars", []string{"s3:GetBucketPolicy", "s3:GetObject", "s3:GetObjectAcl"}, 4, []string{"s3:getb*", "s3:geto*"}},
		{"min chars longer than name", []string{"iam:GetRole", "iam:PassRole"}, 20, []string{"iam:getrole", "iam:passrole"}},
		{"min chars caps a short prefix", []string{"iam:TagRole"}, 4, []string{"iam:tagr*"}},
		{"duplicates and case", []string{"IAM:TagRole", "iam:tagrole"}, 0, []string{"iam:t*"}},
		{"across services", []string{"s3:ListBucket", "iam:ListUsers", "iam:ListUserTags"}, 0, []string{"iam:l*", "s3:listb*"}},
		{"empty input", nil, 0, nil},
		{"whole catalog", []string{"*:*"}, 0, []string{"*"}},
		{"whole catalog with min chars", []string{"*"}, 1, []string{"codebuild:s*", "iam:a*", "iam:c*", "iam:g*", "iam:l*", "iam:p*", "iam:t*", "kms:c*", "kms:d*", "s3:d*", "s3:g*", "s3:l*", "s3:p*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Minimize(tt.input, tt.minChars)
			if err != nil {
				t.Fatalf("Minimize: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Minimize(%v, %d) = %v, want %v", tt.input, tt.minChars, got, tt.want)
			}
			if p := minimizationProblems(c, tt.input, tt.minChars, got); len(p) > 0 {
				t.Fatalf("Minimize(%v, %d) = %v:\n%s", tt.input, tt.minChars, got, strings.Join(p, "\n"))
			}
		})
	}
	_, err := c.Minimize([]string{"s3:GetObject", "s3:NoSuchAction"}, 0)
	if ue, ok := asUnknown(err); !ok || ue.Kind != catalog.UnknownAction {
		t.Fatalf("Minimize with an unknown action: %v, want *UnknownError", err)
	}
}

// TestMinimizationChecksCanFail shows the README checks reject a pattern set
// that covers too much, too little, or is not minimal.
func TestMinimizationChecksCanFail(t *testing.T) {
	c := loadFixture(t)
	in := []string{"kms:CreateGrant", "kms:CreateCustomKeyStore"}
	for name, patterns := range map[string][]string{
		"too broad":   {"kms:create*"},
		"too narrow":  {"kms:createg*"},
		"not minimal": {"kms:createcu*", "kms:createg*"},
	} {
		if p := minimizationProblems(c, in, 0, patterns); len(p) == 0 {
			t.Errorf("%s: %v passes the checks", name, patterns)
		}
	}
}

func TestResourceTypes(t *testing.T) {
	c := loadFixture(t)
	rt, ok := c.ResourceType("S3", "OBJECT")
	if !ok || rt.Name != "object" || rt.ARN != "arn:${Partition}:s3:::${BucketName}/${ObjectName}" || !slices.Equal(rt.ConditionKeys, []string{"aws:ResourceTag/${TagKey}"}) {
		t.Fatalf("ResourceType(S3, OBJECT) = %+v, %v", rt, ok)
	}
	if _, ok := c.ResourceType("s3", "nope"); ok {
		t.Fatal("ResourceType(s3, nope) found")
	}
	if got, want := catalog.Placeholders(rt.ARN), []string{"Partition", "BucketName", "ObjectName"}; !slices.Equal(got, want) {
		t.Fatalf("Placeholders = %v, want %v", got, want)
	}
}

func TestMatchResourceType(t *testing.T) {
	c := loadFixture(t)
	tests := []struct {
		action, arn, want string // want "" → no match
	}{
		{"s3:GetObject", "arn:aws:s3:::bucket/key", "object"},
		{"s3:GetObject", "arn:aws:s3:::bucket/dir/sub/key.txt", "object"},
		{"s3:GetObject", "arn:aws-cn:s3:::bucket/a:b", "object"},
		{"s3:GetObject", "arn:aws:s3:us-east-1:123456789012:accesspoint/ap/object/k/x", "accesspointobject"},
		{"s3:GetObject", "arn:aws:s3:::bucket", ""},              // a bucket is not an object
		{"s3:GetObject", "arn:aws:s3:::bucket/", ""},             // the object key is empty
		{"s3:ListBucket", "arn:aws:s3:::bucket", "bucket"},       //
		{"s3:GetObject", "arn:aws:s3:eu-west-1::bucket/key", ""}, // object ARNs have no region
		{"iam:PassRole", "arn:aws:iam::123456789012:role/path/to/Admin", "role"},
		{"iam:PassRole", "arn:aws:iam::123456789012:user/bob", ""},
		{"iam:PassRole", "arn:aws:iam:123456789012:role/x", ""}, // too few fields
		{"kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/1234abcd", "key"},
		{"kms:Decrypt", "arn:aws:kms:us-east-1:123:alias/x", ""},
		{"kms:Decrypt", "arn:aws:kms:us-east-1:123:key/", ""},
		{"s3:ListAllMyBuckets", "arn:aws:s3:::bucket", ""}, // wildcard-only action
		{"s3:GetObject", "not-an-arn", ""},
	}
	for _, tt := range tests {
		t.Run(tt.action+" "+tt.arn, func(t *testing.T) {
			a, ok := c.Lookup(tt.action)
			if !ok {
				t.Fatalf("Lookup(%s) failed", tt.action)
			}
			rt, ok := c.MatchResourceType(a, tt.arn)
			if got := rt.Name; ok != (tt.want != "") || got != tt.want {
				t.Fatalf("MatchResourceType(%s, %s) = %q, %v; want %q", tt.action, tt.arn, got, ok, tt.want)
			}
			rt, ok = catalog.MatchResourceTypes(c.ResourceTypesOf(a), tt.arn)
			if got := rt.Name; ok != (tt.want != "") || got != tt.want {
				t.Fatalf("MatchResourceTypes(ResourceTypesOf(%s), %s) = %q, %v; want %q", tt.action, tt.arn, got, ok, tt.want)
			}
		})
	}
}

func TestBuildARN(t *testing.T) {
	c := loadFixture(t)
	tests := []struct {
		name, svc, typ string
		values         map[string]string
		want, errPart  string
	}{
		{"s3 object", "s3", "object", map[string]string{"Partition": "aws", "BucketName": "b", "ObjectName": "dir/k.txt"}, "arn:aws:s3:::b/dir/k.txt", ""},
		{"iam role", "iam", "role", map[string]string{"Partition": "aws", "Account": "123456789012", "RoleNameWithPath": "svc/Admin"}, "arn:aws:iam::123456789012:role/svc/Admin", ""},
		{"extra values ignored", "kms", "key", map[string]string{"Partition": "aws", "Region": "us-east-1", "Account": "1", "KeyId": "k", "Other": "x"}, "arn:aws:kms:us-east-1:1:key/k", ""},
		{"missing values", "kms", "key", map[string]string{"Partition": "aws", "KeyId": ""}, "", "no value for Account, KeyId, Region"},
		{"unknown type", "s3", "nope", nil, "", "unknown resource type"},
		{"unknown service", "s4", "object", nil, "", "unknown resource type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.BuildARN(tt.svc, tt.typ, tt.values)
			if tt.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errPart) {
					t.Fatalf("BuildARN = %q, %v; want error containing %q", got, err, tt.errPart)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("BuildARN = %q, %v; want %q", got, err, tt.want)
			}
			// What BuildARN builds, MatchResourceType maps back.
			rt, _ := c.ResourceType(tt.svc, tt.typ)
			for _, a := range c.ServiceActions(tt.svc) {
				for _, r := range a.Resources {
					if r.Type == rt.Name {
						if m, ok := c.MatchResourceType(a, got); !ok || m.Name != rt.Name {
							t.Fatalf("MatchResourceType(%s, %s) = %q, %v", a.FullName(), got, m.Name, ok)
						}
					}
				}
			}
		})
	}
	if _, err := c.BuildARN("s3", "nope", nil); !errors.Is(err, catalog.ErrUnknownResourceType) {
		t.Fatalf("BuildARN unknown type: %v, want ErrUnknownResourceType", err)
	}
}

func TestConditionKey(t *testing.T) {
	c := loadFixture(t)
	tests := []struct {
		in, want string
		typ      catalog.ConditionType
		global   bool
	}{
		{"aws:SourceIp", "aws:SourceIp", catalog.TypeIPAddress, true},
		{"AWS:SOURCEIP", "aws:SourceIp", catalog.TypeIPAddress, true},
		{"aws:CurrentTime", "aws:CurrentTime", catalog.TypeDate, true},
		{"aws:SecureTransport", "aws:SecureTransport", catalog.TypeBool, true},
		{"aws:TagKeys", "aws:TagKeys", catalog.TypeArrayOfString, true},
		{"aws:ResourceTag/${TagKey}", "aws:ResourceTag/${TagKey}", catalog.TypeString, true},
		{"aws:ResourceTag/team", "aws:ResourceTag/${TagKey}", catalog.TypeString, true}, // delimited template preferred
		{"aws:PrincipalTag/Dept", "aws:PrincipalTag/tag-key", catalog.TypeString, true}, // only the global form exists
		{"iam:PermissionsBoundary", "iam:PermissionsBoundary", catalog.TypeARN, false},
		{"iam:resourcetag/env", "iam:ResourceTag/${TagKey}", catalog.TypeString, false},
		{"s3:ExistingObjectTag/classification", "s3:ExistingObjectTag/<key>", catalog.TypeString, false},
		{"s3:TlsVersion", "s3:TlsVersion", catalog.TypeNumeric, false},
		{"kms:EncryptionContext:Department", "kms:EncryptionContext:${EncryptionContextKey}", catalog.TypeString, false},
		{"kms:EncryptionContextKeys", "kms:EncryptionContextKeys", catalog.TypeArrayOfString, false}, // exact beats the template
		{"codebuild:fileSystemLocations/efs1.type", "codebuild:fileSystemLocations/${identifier}.type", catalog.TypeString, false},
		{"codebuild:fileSystemLocations/a/b.location", "codebuild:fileSystemLocations/${identifier}.location", catalog.TypeString, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			k, ok := c.ConditionKey(tt.in)
			if !ok || k.Name != tt.want || k.Type != tt.typ || k.Global != tt.global {
				t.Fatalf("ConditionKey(%q) = %+v, %v; want %s %s global=%v", tt.in, k, ok, tt.want, tt.typ, tt.global)
			}
		})
	}
	for _, in := range []string{"", "aws:NoSuchKey", "aws:ResourceTag/", "s3:ExistingObjectTag/", "codebuild:fileSystemLocations/.type", "nosvc:Key", "iam:PassedToServiceX"} {
		if k, ok := c.ConditionKey(in); ok {
			t.Errorf("ConditionKey(%q) = %+v, want not found", in, k)
		}
	}
	if got := catalog.TypeArrayOfARN.String(); got != "ArrayOfARN" || !catalog.TypeArrayOfARN.IsArray() || catalog.TypeARN.IsArray() {
		t.Errorf("TypeArrayOfARN = %q", got)
	}
	// 7 global + 4 s3 + 3 iam (aws:ResourceTag/${TagKey} and aws:TagKeys are
	// shared) + 2 kms + 2 codebuild.
	if n := len(c.ConditionKeys()); n != 18 {
		t.Errorf("len(ConditionKeys()) = %d, want 18", n)
	}
}

func TestParseErrors(t *testing.T) {
	_, enc := encodeSnapshot(t, fixturePath)
	lines := strings.Split(string(enc), "\n")
	replaceLine := func(prefix, with string) string {
		out := slices.Clone(lines)
		for i, l := range out {
			if strings.HasPrefix(l, prefix) {
				out[i] = with
				break
			}
		}
		return strings.Join(out, "\n")
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(enc)
	zw.Close()
	ze, _ := zstd.NewWriter(nil)
	zs := ze.EncodeAll(enc, nil)
	tests := []struct {
		name, data, errPart string
	}{
		{"empty", "", "empty"},
		{"not a catalog", "hello\n", "not a catalog header"},
		{"newer encoding", strings.Replace(string(enc), "iamcatalog\t1\t", "iamcatalog\t2\t", 1), "encoding version 2"},
		{"truncated", strings.Join(lines[:len(lines)/2], "\n"), "counts differ"},
		{"truncated gzip", gz.String()[:gz.Len()/2], "gunzip"},
		{"truncated zstd", string(zs[:len(zs)/2]), "unzstd"},
		{"bad level", replaceLine("A\tiam:GetRole", "A\tiam:GetRole\tX\t+0\t"), "bad access level"},
		{"bad resource id", replaceLine("A\tiam:GetRole", "A\tiam:GetRole\tR\t+9\t"), "resource type id 9 out of range"},
		{"bad key id", replaceLine("A\tiam:GetRole", "A\tiam:GetRole\tR\t+0\t999"), "condition key id 999"},
		{"unknown record", replaceLine("A\tiam:GetRole", "Z\tx"), "unknown record"},
		{"action of another service", replaceLine("A\tiam:GetRole", "A\ts3:GetRole\tR\t+0\t"), "outside service"},
		{"bad type", replaceLine("K\taws:SourceIp", "K\taws:SourceIp\tIPv9\tg"), "bad condition key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := catalog.Parse(strings.NewReader(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.errPart) {
				t.Fatalf("Parse = %v, want error containing %q", err, tt.errPart)
			}
		})
	}
	for name, data := range map[string][]byte{"gzip": gz.Bytes(), "zstd": zs} {
		if c, err := catalog.Parse(bytes.NewReader(data)); err != nil || c.Len() != 21 {
			t.Fatalf("Parse(%s fixture) = %v", name, err)
		}
	}
}

func TestLoadIndependent(t *testing.T) {
	a, b := mustLoad(t), mustLoad(t)
	if a == b {
		t.Fatal("Load returned the same catalog twice")
	}
	if a.Len() != b.Len() || a.Len() == 0 {
		t.Fatalf("Len %d vs %d", a.Len(), b.Len())
	}
	if pkg, ver := a.DataSource(); pkg != catalog.DataPackage || ver != catalog.Version() {
		t.Fatalf("DataSource() = %s %s, want %s %s", pkg, ver, catalog.DataPackage, catalog.Version())
	}
}

// TestConcurrentUse exercises one Catalog from several goroutines; run with
// -race to check the "immutable after Load" claim.
func TestConcurrentUse(t *testing.T) {
	c := loadFixture(t)
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				if _, ok := c.Lookup("S3:GetObject"); !ok {
					done <- errors.New("lookup failed")
					return
				}
				if _, err := c.Expand("*:Get*"); err != nil {
					done <- err
					return
				}
				m, err := c.Match("s3:*Object")
				if err != nil || !m(0) && m(-1) {
					done <- err
					return
				}
				if _, ok := c.ConditionKey("aws:ResourceTag/x"); !ok {
					done <- errors.New("condition key failed")
					return
				}
				if _, err := c.Minimize([]string{"kms:Create*"}, 0); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestMinimizeProperties checks Minimize on the embedded catalog against the
// README's two checks for random (seeded) subsets of a few services.
func TestMinimizeProperties(t *testing.T) {
	c := mustLoad(t)
	rng := rand.New(rand.NewPCG(1, 2))
	services := []string{"s3", "ec2", "iam", "kms", "swf", "lambda", "dynamodb"}
	for i := 0; i < 40; i++ {
		var input []string
		for range 1 + rng.IntN(3) {
			acts := c.ServiceActions(services[rng.IntN(len(services))])
			p := rng.Float64()
			for _, a := range acts {
				if rng.Float64() < p {
					input = append(input, a.FullName())
				}
			}
		}
		if len(input) == 0 {
			continue
		}
		minChars := []int{0, 0, 3, 8, 40}[rng.IntN(5)]
		t.Run(fmt.Sprintf("subset%d-%dactions-min%d", i, len(input), minChars), func(t *testing.T) {
			got, err := c.Minimize(input, minChars)
			if err != nil {
				t.Fatal(err)
			}
			if p := minimizationProblems(c, input, minChars, got); len(p) > 0 {
				t.Fatalf("Minimize = %v:\n%s", got, strings.Join(p, "\n"))
			}
			if len(got) > len(sortedFold(input)) {
				t.Fatalf("Minimize returned %d patterns for %d actions", len(got), len(input))
			}
		})
	}
}
