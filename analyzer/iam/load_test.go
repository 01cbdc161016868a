package iam

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/policy"
)

const sharedSnapshots = "../../../shared/testdata/iam-snapshots"

func sharedPath(t testing.TB, rel string) string {
	t.Helper()
	p := sharedSnapshots + "/" + rel
	if _, err := os.Stat(p); err != nil {
		t.Skipf("iam snapshots: shared test data not found at %s", p)
	}
	return p
}

func warningsContain(a *Account, field, text string) bool {
	for _, w := range a.Warnings {
		if strings.Contains(w.Field, field) && strings.Contains(w.Message, text) {
			return true
		}
	}
	return false
}

func TestLoadFixture(t *testing.T) {
	a, err := LoadFile("testdata/fixtures/account.json", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.ID, "111122223333"; got != want {
		t.Errorf("ID=%q, want %q", got, want)
	}
	if want := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC); !a.Taken.Equal(want) {
		t.Errorf("Taken=%v, want %v", a.Taken, want)
	}
	if got, want := len(a.ByKind(KindUser)), 6; got != want {
		t.Errorf("users=%d, want %d", got, want)
	}
	t.Run("URL-encoded inline document", func(t *testing.T) {
		d, _ := a.Principal("arn:aws:iam::111122223333:user/direct")
		if got := string(d.Inline[0].Raw); !strings.HasPrefix(got, `{"Version":"2012-10-17"`) {
			t.Errorf("Raw=%s, want decoded JSON", got)
		}
		if d.Inline[0].Policy == nil {
			t.Errorf("policy not compiled: %v", d.Inline[0].Err)
		}
	})
	t.Run("default version only", func(t *testing.T) {
		mp := a.Policies["arn:aws:iam::111122223333:policy/ec2-run"]
		if got, want := mp.DefaultVersionID, "v2"; got != want {
			t.Fatalf("DefaultVersionID=%q, want %q", got, want)
		}
		if !strings.Contains(string(mp.Raw), "ec2:RunInstances") || len(mp.Versions) != 2 {
			t.Errorf("Raw=%s versions=%d", mp.Raw, len(mp.Versions))
		}
	})
	t.Run("trust policy", func(t *testing.T) {
		tests := []struct {
			role       string
			any        bool
			aws        string
			service    string
			externalID bool
		}{
			{role: "open", any: true},
			{role: "vendor", aws: "444455556666"},
			{role: "vendor-extid", aws: "arn:aws:iam::444455556666:root", externalID: true},
			{role: "lambda-svc", service: "lambda.amazonaws.com"},
		}
		for _, tc := range tests {
			t.Run(tc.role, func(t *testing.T) {
				r, ok := a.Principal("arn:aws:iam::111122223333:role/" + tc.role)
				if !ok || r.Trust == nil || len(r.Trust.Entries) != 1 {
					t.Fatalf("trust of %s = %+v", tc.role, r)
				}
				e := r.Trust.Entries[0]
				if e.Any != tc.any || e.ExternalID != tc.externalID || e.Effect != policy.EffectAllow {
					t.Errorf("entry = %+v", e)
				}
				if tc.aws != "" && (len(e.AWS) != 1 || e.AWS[0] != tc.aws) {
					t.Errorf("AWS=%v, want [%s]", e.AWS, tc.aws)
				}
				if tc.service != "" && (len(e.Service) != 1 || e.Service[0] != tc.service) {
					t.Errorf("Service=%v, want [%s]", e.Service, tc.service)
				}
			})
		}
	})
	t.Run("credentials", func(t *testing.T) {
		u, _ := a.Principal("arn:aws:iam::111122223333:user/console-no-mfa")
		if u.Credentials == nil || !u.Credentials.PasswordEnabled || u.Credentials.MFAActive {
			t.Errorf("credentials = %+v", u.Credentials)
		}
		k, _ := a.Principal("arn:aws:iam::111122223333:user/two-keys")
		if got := len(k.Credentials.AccessKeys); got != 2 {
			t.Fatalf("keys = %d, want 2", got)
		}
		if k.Credentials.AccessKeys[0].LastUsedService != "s3" || !k.Credentials.AccessKeys[1].LastUsed.IsZero() {
			t.Errorf("keys = %+v", k.Credentials.AccessKeys)
		}
		root, _ := a.Principal("arn:aws:iam::111122223333:root")
		if root.Credentials == nil || !root.Credentials.MFAActive || len(root.Credentials.AccessKeys) != 1 {
			t.Errorf("root credentials = %+v", root.Credentials)
		}
	})
}

func TestLoadSharedQuirks(t *testing.T) {
	t.Run("aws-cli single objects, truncated, unknown AWS-managed", func(t *testing.T) {
		p := sharedPath(t, "aws-cli-example/get-account-authorization-details.json")
		a, err := LoadFile(p, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !a.Truncated {
			t.Error("Truncated=false, want true (IsTruncated in the file)")
		}
		if !warningsContain(a, "GroupDetailList[0].AttachedManagedPolicies", "single object") {
			t.Errorf("no single-object warning; warnings: %v", a.Warnings)
		}
		admins, _ := a.Group("Admins")
		if len(admins.Attached) != 1 || admins.Attached[0].ARN != AdministratorAccess || admins.Attached[0].Known() {
			t.Errorf("Admins attachments = %+v, want unknown AdministratorAccess", admins.Attached)
		}
		alice, _ := a.Principal("arn:aws:iam::123456789012:user/Alice")
		if got := a.UnknownPolicies(alice); len(got) != 1 || got[0] != AdministratorAccess {
			t.Errorf("UnknownPolicies(Alice)=%v", got)
		}
		_, err = LoadFile(p, LoadOptions{Strict: true})
		if !errors.Is(err, ErrStrict) {
			t.Fatalf("strict load err=%v, want ErrStrict", err)
		}
		if !strings.Contains(err.Error(), "GroupDetailList[0].AttachedManagedPolicies") {
			t.Errorf("strict error does not name the field: %v", err)
		}
	})
	t.Run("missing RoleDetailList and unresolved group policy", func(t *testing.T) {
		a, err := LoadFile(sharedPath(t, "cloudsplaining/test_managed_policy_mismatch.json"), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(a.ByKind(KindRole)) != 0 || len(a.ByKind(KindGroup)) != 1 {
			t.Errorf("roles=%d groups=%d", len(a.ByKind(KindRole)), len(a.ByKind(KindGroup)))
		}
		if !warningsContain(a, "AttachedManagedPolicies[0]", "AWSLambdaReadOnlyAccess is not in Policies") {
			t.Errorf("warnings=%v", a.Warnings)
		}
	})
	t.Run("two versions, default wins", func(t *testing.T) {
		a, err := LoadFile(sharedPath(t, "cloudsplaining/test_example-authz-details.json"), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, mp := range a.Policies {
			if len(mp.Versions) < 2 {
				continue
			}
			n++
			for _, v := range mp.Versions {
				if v.Default && v.ID != mp.DefaultVersionID {
					t.Errorf("%s: default %s, model %s", mp.ARN, v.ID, mp.DefaultVersionID)
				}
				if v.Default && string(v.Raw) != string(mp.Raw) {
					t.Errorf("%s: Raw is not the default version", mp.ARN)
				}
			}
		}
		if n != 1 {
			t.Errorf("policies with two versions = %d, want 1", n)
		}
	})
}

func TestLoadBadInput(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		strict bool
		is     error
		want   []string // substrings of the error
	}{
		{name: "truncated JSON", doc: `{"UserDetailList":[{"UserName":"a"`, is: ErrMalformed, want: []string{"offset"}},
		{name: "not an object", doc: `[1,2]`, is: ErrMalformed, want: []string{"top level is a JSON array", "UserDetailList"}},
		{name: "empty object", doc: `{}`, is: ErrMalformed, want: []string{"not an authorization-details document", "none of UserDetailList, GroupDetailList, RoleDetailList, Policies", "empty object"}},
		{name: "a policy", doc: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, is: ErrMalformed,
			want: []string{"not an authorization-details document", "IAM policy document"}},
		{name: "a CloudTrail file", doc: `{"Records":[{"eventVersion":"1.08"}]}`, is: ErrMalformed, want: []string{"not an authorization-details document", "CloudTrail log file"}},
		{name: "only an account id", doc: `{"AccountId":"111122223333"}`, is: ErrMalformed, want: []string{"not an authorization-details document"}},
		{name: "list is a number", doc: `{"UserDetailList":5}`, is: ErrMalformed, want: []string{"UserDetailList", "want a list"}},
		{name: "wrong field type", doc: `{"UserDetailList":[{"UserName":"bob","Arn":"arn:aws:iam::1:user/bob","GroupList":[7]}]}`, is: ErrMalformed,
			want: []string{"UserDetailList[0] (bob)", "GroupList"}},
		{name: "bad date", doc: `{"RoleDetailList":[{"RoleName":"r","Arn":"arn:aws:iam::1:role/r","CreateDate":"yesterday"}]}`, is: ErrMalformed,
			want: []string{"RoleDetailList[0] (r)", "yesterday"}},
		{name: "missing Arn", doc: `{"UserDetailList":[{"UserName":"x"}]}`, is: ErrMalformed, want: []string{"UserDetailList[0] (x): missing Arn"}},
		{name: "document that does not parse, strict", strict: true, is: policy.ErrInvalidValue,
			doc:  `{"UserDetailList":[{"UserName":"u","Arn":"arn:aws:iam::1:user/u","UserPolicyList":[{"PolicyName":"p","PolicyDocument":{"Statement":[{"Effect":"Maybe","Action":"s3:*","Resource":"*"}]}}]}]}`,
			want: []string{"arn:aws:iam::1:user/u", "UserPolicyList[0](p).PolicyDocument", "Effect"}},
		{name: "bad URL encoding", doc: `{"UserDetailList":[{"UserName":"u","Arn":"arn:aws:iam::1:user/u","UserPolicyList":[{"PolicyName":"p","PolicyDocument":"%7B%zz"}]}]}`,
			is: ErrMalformed, want: []string{"UserDetailList[0] (u)", "URL-decode"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Parse([]byte(tc.doc), LoadOptions{Strict: tc.strict})
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", a)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err=%v, want errors.Is %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err=%q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "json.RawMessage") || strings.Contains(err.Error(), "map[") {
				t.Errorf("err=%q names a Go type", err)
			}
		})
	}
	t.Run("document that does not parse, lenient", func(t *testing.T) {
		a, err := Parse([]byte(`{"UserDetailList":[{"UserName":"u","Arn":"arn:aws:iam::1:user/u","UserPolicyList":[{"PolicyName":"p","PolicyDocument":{"Statement":[{"Effect":"Maybe","Action":"s3:*","Resource":"*"}]}}]}]}`), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := a.Principal("arn:aws:iam::1:user/u")
		if u.Inline[0].Policy != nil || u.Inline[0].Err == nil {
			t.Fatalf("inline = %+v, want unusable", u.Inline[0])
		}
		if got := a.UnknownPolicies(u); len(got) != 1 || got[0] != "arn:aws:iam::1:user/u#inline/p" {
			t.Errorf("UnknownPolicies=%v", got)
		}
		if !warningsContain(a, "UserPolicyList[0](p).PolicyDocument", "does not parse") {
			t.Errorf("warnings=%v", a.Warnings)
		}
	})
}

func TestParseTime(t *testing.T) {
	want := time.Date(2023, 3, 9, 10, 41, 45, 0, time.UTC)
	for _, s := range []string{"2023-03-09T10:41:45Z", "2023-03-09 10:41:45+00:00", "2023-03-09T12:41:45+02:00", "2023-03-09 10:41:45"} {
		t.Run(s, func(t *testing.T) {
			got, err := ParseTime(s)
			if err != nil || !got.Equal(want) {
				t.Errorf("ParseTime(%q)=%v,%v, want %v", s, got, err, want)
			}
		})
	}
	if _, err := ParseTime("9 March"); err == nil {
		t.Error("ParseTime(garbage) succeeded")
	}
}

func TestDetailsRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/fixtures/account.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeDetails(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	a1, err := FromDetails(d, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := Parse(out, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ch := Diff(a1, a2); len(ch) != 0 {
		t.Errorf("Diff after round trip = %+v", ch)
	}
	if strings.Contains(string(out), "%7B") {
		t.Error("re-encoded snapshot keeps URL-encoded documents")
	}
	if !a2.Taken.Equal(a1.Taken) || a2.ID != a1.ID {
		t.Errorf("Taken/ID lost: %v %s", a2.Taken, a2.ID)
	}
}

func TestDetailsEncode(t *testing.T) {
	d := fixtureDetails(t)
	d.AccountID = ""
	id, taken, data, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if id != "111122223333" || !taken.Equal(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Encode() id=%q taken=%v", id, taken)
	}
	a, err := Parse(data, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != id || len(a.Principals) != 13 {
		t.Errorf("decoded account %q with %d principals, want %q with 13", a.ID, len(a.Principals), id)
	}
}

// TestLoadNeverPanics cuts and corrupts a real snapshot at many places:
// every variant must load or fail with an error, never panic.
func TestLoadNeverPanics(t *testing.T) {
	data, err := os.ReadFile("testdata/fixtures/account.json")
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 97 {
		if _, err := Parse(data[:off], LoadOptions{}); err == nil {
			t.Errorf("Parse of the first %d bytes succeeded", off)
		}
	}
	replacements := []struct{ from, to string }{
		{`"Arn": "`, `"Arn": 7, "x": "`},
		{`"PolicyVersionList": [`, `"PolicyVersionList": [7, `},
		{`"IsDefaultVersion": true`, `"IsDefaultVersion": "yes"`},
		{`"Statement": [`, `"Statement": [7, `},
		{`"Effect": "Allow"`, `"Effect": ["Allow"]`},
		{`"GroupList": [`, `"GroupList": {"a": `},
		{`"AccessKeys": [`, `"AccessKeys": "`},
	}
	for _, r := range replacements {
		for n := 1; n <= 3; n++ {
			bad := strings.Replace(string(data), r.from, r.to, n)
			for _, strict := range []bool{false, true} {
				a, err := Parse([]byte(bad), LoadOptions{Strict: strict})
				if err == nil && a == nil {
					t.Errorf("%q×%d: nil account without error", r.from, n)
				}
			}
		}
	}
}
