package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/iam"
)

const iamFixture = "../../analyzer/iam/testdata/fixtures/account.json"

// execIamd runs the root command in-process (audit with a fixed clock).
func execIamd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	for _, c := range root.Commands() {
		if c.Name() == "audit" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newAuditCmdAt(func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }))
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestGrantedCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		contains []string
		absent   []string
		wantErr  string
	}{
		{
			name:     "boundary table",
			args:     []string{"--principal", "bounded"},
			contains: []string{"granted actions: 2", "s3:GetObject", "arn:aws:s3:::logs/*", "boundary-limits-resources: boundary arn:aws:iam::111122223333:policy/boundary-s3-logs"},
			absent:   []string{"ec2:"},
		},
		{
			name:     "group inheritance by ARN",
			args:     []string{"--principal", "arn:aws:iam::111122223333:user/two-keys", "--service", "s3"},
			contains: []string{"granted actions: 2", "s3:ListBucket", "group/readers#inline/read"},
		},
		{
			name:     "service filter empty",
			args:     []string{"--principal", "two-keys", "--service", "ec2"},
			contains: []string{"granted actions: 0"},
		},
		{
			name: "admin is refused AWS's own resources",
			args: []string{"--principal", "admin-via-group", "--service", "iam"},
			contains: []string{"aws-refuses: AWS rule aws-managed-policy-read-only (not arn:*:iam::aws:policy/*)",
				"aws-refuses: AWS rule aws-reserved-role-protected (not arn:*:iam::*:role/aws-reserved/*)"},
		},
		{
			name:     "calls that need no permission are not listed",
			args:     []string{"--principal", "admin-via-group", "--service", "sts"},
			contains: []string{"sts:AssumeRole"},
			absent:   []string{"sts:GetCallerIdentity", "sts:GetSessionToken"},
		},
		{name: "unknown principal", args: []string{"--principal", "nobody"}, wantErr: `--principal "nobody": no such principal`},
		{name: "unknown service", args: []string{"--principal", "two-keys", "--service", "nosuch"}, wantErr: `--service "nosuch": unknown service prefix`},
		{name: "bad format", args: []string{"--principal", "two-keys", "--format", "xml"}, wantErr: `--format "xml"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := execIamd(t, append([]string{"granted", "--iam", iamFixture}, tc.args...)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err=%v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err=%v\n%s", err, out)
			}
			for _, c := range tc.contains {
				if !strings.Contains(out, c) {
					t.Errorf("output lacks %q:\n%s", c, out)
				}
			}
			for _, c := range tc.absent {
				if strings.Contains(out, c) {
					t.Errorf("output has %q:\n%s", c, out)
				}
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		out, err := execIamd(t, "granted", "--iam", iamFixture, "--principal", "direct", "--format", "json")
		if err != nil {
			t.Fatal(err)
		}
		var got grantedJSON
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if got.Principal != "arn:aws:iam::111122223333:user/direct" || got.Count != 2 || len(got.Grants) != 2 {
			t.Fatalf("got %+v", got)
		}
		if got.Grants[0].Action != "ec2:RunInstances" || !got.Grants[0].AllResources || got.Grants[1].Action != "iam:PassRole" {
			t.Errorf("grants = %+v", got.Grants)
		}
	})
	t.Run("organization SCP removes PassRole", func(t *testing.T) {
		out, err := execIamd(t, "granted", "--iam", iamFixture, "--principal", "direct", "--org", "../../analyzer/iam/testdata/fixtures/org.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "granted actions: 1") || strings.Contains(out, "iam:PassRole") {
			t.Errorf("SCP deny of iam:PassRole not applied:\n%s", out)
		}
		out, err = execIamd(t, "audit", "--iam", iamFixture, "--org", "../../analyzer/iam/testdata/fixtures/org.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "PassRole+EC2") {
			t.Errorf("audit still reports PassRole+EC2 under the SCP:\n%s", out)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := execIamd(t, "granted", "--iam", "testdata/nonexistent.json", "--principal", "x")
		if err == nil || !strings.Contains(err.Error(), "nonexistent.json") {
			t.Fatalf("err=%v", err)
		}
	})
}

// fakeLiveIAM answers the IAM Query API calls live.Fetch makes, over HTTP:
// one page of authorization details (documents URL-encoded, as AWS sends
// them) and a credential report that is ready at once. The policy alice's
// inline document grants can be changed between calls.
type fakeLiveIAM struct {
	mu      sync.Mutex
	aliceDo string // action alice's inline policy allows
	calls   map[string]int
}

const liveReport = `user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated
<root_account>,arn:aws:iam::444455556666:root,2020-01-01T00:00:00+00:00,not_supported,N/A,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
alice,arn:aws:iam::444455556666:user/alice,2024-01-02T03:04:05+00:00,true,2026-11-20T10:00:00+00:00,2024-01-02T03:04:05+00:00,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
`

func (f *fakeLiveIAM) setAction(a string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aliceDo = a
}

func (f *fakeLiveIAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	action := r.PostForm.Get("Action")
	f.calls[action]++
	var result string
	switch action {
	case "GetAccountAuthorizationDetails":
		doc := url.PathEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + f.aliceDo + `","Resource":"*"}]}`)
		result = `<UserDetailList><member><Path>/</Path><UserName>alice</UserName><UserId>AIDAALICE</UserId>
<Arn>arn:aws:iam::444455556666:user/alice</Arn><CreateDate>2024-01-02T03:04:05Z</CreateDate><GroupList/><AttachedManagedPolicies/>
<UserPolicyList><member><PolicyName>work</PolicyName><PolicyDocument>` + doc + `</PolicyDocument></member></UserPolicyList></member></UserDetailList>
<GroupDetailList/><RoleDetailList/><Policies/><IsTruncated>false</IsTruncated>`
	case "GenerateCredentialReport":
		result = `<State>COMPLETE</State>`
	case "GetCredentialReport":
		result = `<Content>` + base64.StdEncoding.EncodeToString([]byte(liveReport)) + `</Content><ReportFormat>text/csv</ReportFormat>`
	default:
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>unexpected %s</Message></Error><RequestId>1</RequestId></ErrorResponse>`, action)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><%sResult>%s</%sResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></%sResponse>`,
		action, action, result, action, action)
}

// newLiveIAM starts the fake and points the default AWS credential chain
// at static test credentials only (no profile or config of the user).
func newLiveIAM(t *testing.T) (*fakeLiveIAM, string) {
	t.Helper()
	f := &fakeLiveIAM{aliceDo: "s3:GetObject", calls: map[string]int{}}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CA_BUNDLE", "")
	return f, ts.URL
}

func TestLiveSource(t *testing.T) {
	f, endpoint := newLiveIAM(t)
	t.Run("granted", func(t *testing.T) {
		out, err := execIamd(t, "granted", "--live", "--endpoint", endpoint, "--region", "us-east-1", "--principal", "alice")
		if err != nil {
			t.Fatalf("err=%v\n%s", err, out)
		}
		for _, c := range []string{"principal: arn:aws:iam::444455556666:user/alice (user)", "granted actions: 1", "s3:GetObject"} {
			if !strings.Contains(out, c) {
				t.Errorf("output lacks %q:\n%s", c, out)
			}
		}
	})
	t.Run("audit", func(t *testing.T) {
		out, err := execIamd(t, "audit", "--live", "--endpoint", endpoint, "--format", "json")
		if err != nil {
			t.Fatalf("err=%v\n%s", err, out)
		}
		var got struct {
			Account  string        `json:"account"`
			Findings []iam.Finding `json:"findings"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if got.Account != "444455556666" {
			t.Errorf("account = %q, want 444455556666", got.Account)
		}
		// The credential report fetched live says alice has a console
		// password and no MFA: that finding needs the live report.
		var mfa bool
		for _, fd := range got.Findings {
			if fd.Principal == "arn:aws:iam::444455556666:user/alice" && strings.Contains(strings.ToLower(fd.Title), "mfa") {
				mfa = true
			}
		}
		if !mfa {
			t.Errorf("no MFA finding for alice from the live credential report: %+v", got.Findings)
		}
	})
	f.mu.Lock()
	if f.calls["GetAccountAuthorizationDetails"] != 2 || f.calls["GetCredentialReport"] != 2 {
		t.Errorf("calls = %v, want 2 GetAccountAuthorizationDetails and 2 GetCredentialReport", f.calls)
	}
	f.mu.Unlock()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"neither", []string{"granted", "--principal", "alice"}, "one of --iam FILE or --live is required"},
		{"both", []string{"granted", "--iam", iamFixture, "--live", "--principal", "alice"}, "--iam and --live are mutually exclusive"},
		{"live flag without live", []string{"audit", "--iam", iamFixture, "--profile", "x"}, "apply only with --live"},
		{"endpoint down", []string{"audit", "--live", "--endpoint", "http://127.0.0.1:1"}, "live IAM: get account authorization details"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := execIamd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err=%v, want %q", err, tc.want)
			}
		})
	}
}
