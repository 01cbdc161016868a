package catalog_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/iamd/iamd/analyzer/catalog"
)

func TestParseARN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want arn.ARN
		ok   bool
	}{
		{"arn:aws:iam::123456789012:user/David", arn.ARN{Partition: "aws", Service: "iam", AccountID: "123456789012", Resource: "user/David"}, true},
		{"arn:aws:rds:eu-west-1:123456789012:db:mysql-db", arn.ARN{Partition: "aws", Service: "rds", Region: "eu-west-1", AccountID: "123456789012", Resource: "db:mysql-db"}, true},
		{"arn:aws:s3:::bucket/a:b/c", arn.ARN{Partition: "aws", Service: "s3", Resource: "bucket/a:b/c"}, true},
		{"arn:${Partition}:s3:::${BucketName}", arn.ARN{Partition: "${Partition}", Service: "s3", Resource: "${BucketName}"}, true},
		{"arn:::::", arn.ARN{}, true},
		{"arn:aws:iam::123456789012", arn.ARN{}, false}, // four colons
		{"ARN:aws:iam::1:root", arn.ARN{}, false},       // the prefix is case-sensitive, as in arn.Parse
		{"aws:iam::1:root:x", arn.ARN{}, false},
		{"arn", arn.ARN{}, false},
		{"", arn.ARN{}, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := catalog.ParseARN(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("ParseARN(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseARNAllocates(t *testing.T) {
	s := "arn:aws:sts::123456789012:assumed-role/Admin/session"
	if n := testing.AllocsPerRun(100, func() { catalog.ParseARN(s) }); n != 0 {
		t.Fatalf("ParseARN allocates %v times per call, want 0", n)
	}
}

// FuzzParseARN holds ParseARN to the AWS SDK's arn.Parse: the same
// accept/reject and the same fields. Run it with
// go test -run '^$' -fuzz FuzzParseARN ./analyzer/catalog.
func FuzzParseARN(f *testing.F) {
	for _, s := range []string{"arn:aws:iam::1:user/a", "arn:aws:s3:::b/k:x", "arn::::", "arn:::::", "arn:a:b:c:d:e:f", "x:aws:iam::1:root", "arn:", "arnaws:::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := catalog.ParseARN(s)
		want, err := arn.Parse(s)
		if ok != (err == nil) || got != want {
			t.Fatalf("ParseARN(%q) = %+v, %v; arn.Parse = %+v, %v", s, got, ok, want, err)
		}
	})
}
