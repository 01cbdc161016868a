package catalog_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/iamd/iamd/analyzer/catalog"
)

// FuzzExpand checks that Expand, ExpandIDs and Match never panic and agree,
// that every expanded action really matches the pattern (checked with a
// naive recursive matcher), and that errors are typed. Run it with
// go test -run '^$' -fuzz FuzzExpand ./analyzer/catalog.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"s3:Get*", "*", "*:Get*", "s3:*Object?", "iAm:li*sTuS*rs", "s3:", ":", "::", "?", "*:*", "s3:***?*", "k?s:*", "s3:Get\xff*", ""} {
		f.Add(s)
	}
	c := loadFixture(f)
	f.Fuzz(func(t *testing.T, pattern string) {
		acts, err := c.Expand(pattern)
		ids, idErr := c.ExpandIDs(pattern, nil)
		match, mErr := c.Match(pattern)
		if (err == nil) != (idErr == nil) || (err == nil) != (mErr == nil) {
			t.Fatalf("%q: Expand %v, ExpandIDs %v, Match %v disagree", pattern, err, idErr, mErr)
		}
		if err != nil {
			var ue *catalog.UnknownError
			if !errors.As(err, &ue) && !errors.Is(err, catalog.ErrInvalidPattern) {
				t.Fatalf("%q: untyped error %v", pattern, err)
			}
			return
		}
		if len(acts) == 0 || len(acts) != len(ids) {
			t.Fatalf("%q: %d actions, %d ids", pattern, len(acts), len(ids))
		}
		in := map[int]bool{}
		for _, id := range ids {
			in[id] = true
		}
		lp := strings.ToLower(pattern)
		for id := 0; id < c.Len(); id++ {
			want := naiveMatch(lp, strings.ToLower(c.ActionAt(id).FullName()))
			if in[id] != want || match(id) != want {
				t.Fatalf("%q vs %s: expand %v, match %v, naive %v", pattern, c.ActionAt(id).FullName(), in[id], match(id), want)
			}
		}
	})
}

// naiveMatch is the obvious recursive wildcard matcher over whole names.
func naiveMatch(p, s string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		for i := 0; ; {
			if naiveMatch(p[1:], s[i:]) {
				return true
			}
			if i == len(s) {
				return false
			}
			_, n := utf8.DecodeRuneInString(s[i:])
			i += n
		}
	case '?':
		// One character: a code point, or one byte that is not UTF-8.
		_, n := utf8.DecodeRuneInString(s)
		return s != "" && naiveMatch(p[1:], s[n:])
	}
	return s != "" && s[0] == p[0] && naiveMatch(p[1:], s[1:])
}

// FuzzTemplates checks ARN and condition-key template matching never panics
// and that an ARN built by BuildARN from fuzzed values maps back to its type.
func FuzzTemplates(f *testing.F) {
	f.Add("arn:aws:s3:::b/k", "b", "dir/k")
	f.Add("arn:aws:iam::1:role/x", "", "${x}")
	f.Add("aws:ResourceTag/x", "<", ">")
	c := loadFixture(f)
	get, _ := c.Lookup("s3:GetObject")
	f.Fuzz(func(t *testing.T, arn, bucket, key string) {
		c.MatchResourceType(get, arn)
		c.ConditionKey(arn)
		if bucket == "" || key == "" || strings.ContainsAny(bucket, ":/") {
			return
		}
		built, err := c.BuildARN("s3", "object", map[string]string{"Partition": "aws", "BucketName": bucket, "ObjectName": key})
		if err != nil {
			t.Fatal(err)
		}
		if rt, ok := c.MatchResourceType(get, built); !ok || rt.Name != "object" {
			t.Fatalf("MatchResourceType(%q) = %q, %v", built, rt.Name, ok)
		}
	})
}

// FuzzParse feeds mutations of the fixture's encoding to Parse: it must
// return a catalog or an error, never panic, and a catalog it returns must
// answer lookups of its own actions.
func FuzzParse(f *testing.F) {
	_, enc := encodeSnapshot(f, fixturePath)
	f.Add(enc)
	f.Add(enc[:len(enc)/3])
	f.Add([]byte("iamcatalog\t1\tp\tv\t1\t1\t0\t0\t0\t0\t0\t0\nS\ts3\tS3\t\nA\ts3:X\tR\t\t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := catalog.Parse(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		for id := 0; id < c.Len(); id++ {
			a := c.ActionAt(id)
			if got, ok := c.ID(a.FullName()); !ok || got != id {
				t.Fatalf("ID(%s) = %d, %v; want %d", a.FullName(), got, ok, id)
			}
		}
		c.Expand("*:*")
		c.Minimize([]string{"*"}, 2)
	})
}
