package ingest

import "testing"

func TestRoleFromAssumedRole(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:sts::111122223333:assumed-role/Admin/alice":       "arn:aws:iam::111122223333:role/Admin",
		"arn:aws-cn:sts::111122223333:assumed-role/R/i-0abc":       "arn:aws-cn:iam::111122223333:role/R",
		"arn:aws:sts::111122223333:assumed-role/R":                 "arn:aws:iam::111122223333:role/R",
		"arn:aws:sts::111122223333:assumed-role//s":                "",
		"arn:aws:sts::111122223333:federated-user/bob":             "",
		"arn:aws:iam::111122223333:user/assumed-role/x":            "",
		"arn:aws:sts::111122223333":                                "",
		"assumed-role/Admin/alice":                                 "",
		"arn:aws:sts::111122223333:assumed-role/R/with:colon/more": "arn:aws:iam::111122223333:role/R",
	} {
		if got := roleFromAssumedRole(in); got != want {
			t.Errorf("roleFromAssumedRole(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPartitionOf(t *testing.T) {
	for _, tc := range []struct{ arn, region, want string }{
		{"arn:aws-us-gov:iam::1:user/a", "us-east-1", "aws-us-gov"},
		{"arn:aws-cn:sts::1:assumed-role/r/s", "", "aws-cn"},
		{"", "cn-north-1", "aws-cn"},
		{"", "us-gov-west-1", "aws-us-gov"},
		{"", "eu-west-1", "aws"},
		{"arn::iam::1:root", "cn-northwest-1", "aws-cn"}, // empty partition: the region decides
		{"arn:aws-cn:iam", "eu-west-1", "aws"},           // not an ARN
	} {
		if got := partitionOf(tc.arn, tc.region); got != tc.want {
			t.Errorf("partitionOf(%q, %q) = %q, want %q", tc.arn, tc.region, got, tc.want)
		}
	}
}

func TestIsKeyARN(t *testing.T) {
	for in, want := range map[string]bool{
		"arn:aws:kms:eu-west-1:1:key/1234abcd":     true,
		"arn:aws:kms:eu-west-1:1:alias/app":        false,
		"arn:aws:s3:::bucket/x:kms:y:key/z":        false,
		"arn:aws:kms:eu-west-1:1":                  false,
		"key/1234abcd":                             false,
		"arn:aws-cn:kms:cn-north-1:1:key/mrk-1234": true,
	} {
		if got := isKeyARN(in); got != want {
			t.Errorf("isKeyARN(%q) = %v, want %v", in, got, want)
		}
	}
}
