package catalog_test

import (
	"testing"

	"github.com/iamd/iamd/analyzer/catalog"
)

// Run: go test -run '^$' -bench . -benchmem ./analyzer/catalog

func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if _, err := catalog.Load(); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

func BenchmarkLookup(b *testing.B) {
	c := mustLoad(b)
	for _, name := range []string{"s3:GetObject", "s3:getobject", "ec2:DescribeInstances"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := c.Lookup(name); !ok {
					b.Fatal(name)
				}
			}
		})
	}
}

func BenchmarkExpand(b *testing.B) {
	c := mustLoad(b)
	for _, p := range []string{"s3:Get*", "*", "*:Get*", "ec2:*Instance?", "s3:GetObject"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Expand(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkExpandIDs(b *testing.B) {
	c := mustLoad(b)
	dst := make([]int, 0, c.Len())
	for _, p := range []string{"s3:Get*", "*", "*:Get*"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = c.ExpandIDs(p, dst[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMatch measures one predicate call over all ids, as a granted-set
// builder would do per policy statement.
func BenchmarkMatchAllIDs(b *testing.B) {
	c := mustLoad(b)
	for _, p := range []string{"s3:Get*", "*:Get*"} {
		b.Run(p, func(b *testing.B) {
			m, err := c.Match(p)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				for id := 0; id < c.Len(); id++ {
					if m(id) {
						n++
					}
				}
				if n == 0 {
					b.Fatal("no match")
				}
			}
		})
	}
}

func BenchmarkMinimize(b *testing.B) {
	c := mustLoad(b)
	s3get, err := c.Expand("s3:Get*")
	if err != nil {
		b.Fatal(err)
	}
	var big []string
	for _, a := range s3get[:len(s3get)/2] {
		big = append(big, a.FullName())
	}
	for _, tc := range []struct {
		name  string
		input []string
	}{
		{"policy_sentry-basic", []string{"kms:CreateGrant", "kms:CreateCustomKeyStore", "ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress"}},
		{"half-of-s3:Get*", big},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Minimize(tc.input, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkConditionKey(b *testing.B) {
	c := mustLoad(b)
	for _, k := range []string{"aws:SourceIp", "aws:ResourceTag/team", "codebuild:fileSystemLocations/x.type"} {
		b.Run(k, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := c.ConditionKey(k); !ok {
					b.Fatal(k)
				}
			}
		})
	}
}

func BenchmarkMatchResourceType(b *testing.B) {
	c := mustLoad(b)
	a, _ := c.Lookup("s3:GetObject")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.MatchResourceType(a, "arn:aws:s3:::bucket/some/long/key.txt"); !ok {
			b.Fatal("no match")
		}
	}
}
