package live

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
)

const ns = `xmlns="https://iam.amazonaws.com/doc/2010-05-08/"`

func enc(doc string) string { return url.PathEscape(doc) }

// Recorded shapes of the IAM Query API responses (documents URL-encoded,
// as the live API returns them).
var page1 = `<UserDetailList>
  <member>
    <Path>/</Path><UserName>alice</UserName><UserId>AIDAALICE</UserId>
    <Arn>arn:aws:iam::111122223333:user/alice</Arn><CreateDate>2024-01-02T03:04:05Z</CreateDate>
    <GroupList><member>admins</member></GroupList>
    <AttachedManagedPolicies/>
    <UserPolicyList><member><PolicyName>self</PolicyName><PolicyDocument>` +
	enc(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:ChangePassword","Resource":"arn:aws:iam::111122223333:user/${aws:username}"}}`) +
	`</PolicyDocument></member></UserPolicyList>
    <Tags><member><Key>team</Key><Value>sec</Value></member></Tags>
  </member>
  <member>
    <Path>/</Path><UserName>bob</UserName><UserId>AIDABOB</UserId>
    <Arn>arn:aws:iam::111122223333:user/bob</Arn><CreateDate>2026-11-22T00:00:00Z</CreateDate>
    <GroupList/><UserPolicyList/>
    <AttachedManagedPolicies><member><PolicyName>s3-read</PolicyName><PolicyArn>arn:aws:iam::111122223333:policy/s3-read</PolicyArn></member></AttachedManagedPolicies>
    <PermissionsBoundary><PermissionsBoundaryType>Policy</PermissionsBoundaryType><PermissionsBoundaryArn>arn:aws:iam::111122223333:policy/s3-read</PermissionsBoundaryArn></PermissionsBoundary>
  </member>
</UserDetailList>
<GroupDetailList>
  <member>
    <Path>/</Path><GroupName>admins</GroupName><GroupId>AGPAADMINS</GroupId>
    <Arn>arn:aws:iam::111122223333:group/admins</Arn><CreateDate>2024-01-01T00:00:00Z</CreateDate>
    <GroupPolicyList/>
    <AttachedManagedPolicies><member><PolicyName>AdministratorAccess</PolicyName><PolicyArn>arn:aws:iam::aws:policy/AdministratorAccess</PolicyArn></member></AttachedManagedPolicies>
  </member>
</GroupDetailList>
<RoleDetailList/>
<Policies/>`

var page2 = `<UserDetailList/><GroupDetailList/>
<RoleDetailList>
  <member>
    <Path>/</Path><RoleName>vendor</RoleName><RoleId>AROAVENDOR</RoleId>
    <Arn>arn:aws:iam::111122223333:role/vendor</Arn><CreateDate>2024-05-01T00:00:00Z</CreateDate>
    <AssumeRolePolicyDocument>` + enc(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole"}]}`) + `</AssumeRolePolicyDocument>
    <InstanceProfileList/><RolePolicyList/><AttachedManagedPolicies/><Tags/>
    <RoleLastUsed><LastUsedDate>2026-11-20T08:00:00Z</LastUsedDate><Region>eu-west-1</Region></RoleLastUsed>
  </member>
</RoleDetailList>
<Policies>
  <member>
    <PolicyName>s3-read</PolicyName><PolicyId>ANPAS3READ</PolicyId><Arn>arn:aws:iam::111122223333:policy/s3-read</Arn>
    <Path>/</Path><DefaultVersionId>v2</DefaultVersionId><AttachmentCount>1</AttachmentCount>
    <PermissionsBoundaryUsageCount>1</PermissionsBoundaryUsageCount><IsAttachable>true</IsAttachable>
    <CreateDate>2024-01-01T00:00:00Z</CreateDate><UpdateDate>2024-02-01T00:00:00Z</UpdateDate>
    <PolicyVersionList>
      <member><Document>` + enc(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`) + `</Document><VersionId>v1</VersionId><IsDefaultVersion>false</IsDefaultVersion><CreateDate>2024-01-01T00:00:00Z</CreateDate></member>
      <member><Document>` + enc(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"}]}`) + `</Document><VersionId>v2</VersionId><IsDefaultVersion>true</IsDefaultVersion><CreateDate>2024-02-01T00:00:00Z</CreateDate></member>
    </PolicyVersionList>
  </member>
</Policies>`

const report = `user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated
<root_account>,arn:aws:iam::111122223333:root,2020-01-01T00:00:00+00:00,not_supported,2026-11-01T00:00:00+00:00,not_supported,not_supported,false,true,2021-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A
alice,arn:aws:iam::111122223333:user/alice,2024-01-02T03:04:05+00:00,true,2026-11-20T10:00:00+00:00,2024-01-02T03:04:05+00:00,N/A,false,true,2025-01-01T00:00:00+00:00,2026-11-22T10:00:00+00:00,us-east-1,s3,true,2026-10-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A
`

// fakeIAM answers the IAM Query API over HTTP. The first
// GetAccountAuthorizationDetails call is throttled; the report is
// "STARTED" on the first GenerateCredentialReport.
type fakeIAM struct {
	mu        sync.Mutex
	calls     map[string]int
	throttled bool
	forms     []url.Values
}

func (f *fakeIAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	action := r.PostForm.Get("Action")
	if v := r.PostForm.Get("Version"); v != "2010-05-08" {
		writeErr(w, 400, "InvalidAction", "bad version "+v)
		return
	}
	f.calls[action]++
	f.forms = append(f.forms, r.PostForm)
	var result string
	switch action {
	case "GetAccountAuthorizationDetails":
		if !f.throttled {
			f.throttled = true
			writeErr(w, 400, "Throttling", "Rate exceeded")
			return
		}
		switch r.PostForm.Get("Marker") {
		case "":
			result = page1 + `<IsTruncated>true</IsTruncated><Marker>page-2</Marker>`
		case "page-2":
			result = page2 + `<IsTruncated>false</IsTruncated>`
		default:
			writeErr(w, 400, "InvalidInput", "bad marker")
			return
		}
	case "GenerateCredentialReport":
		state := "COMPLETE"
		if f.calls[action] == 1 {
			state = "STARTED"
		}
		result = `<State>` + state + `</State><Description>No report exists. Starting a new report generation task</Description>`
	case "GetCredentialReport":
		result = `<Content>` + base64.StdEncoding.EncodeToString([]byte(report)) + `</Content><ReportFormat>text/csv</ReportFormat><GeneratedTime>2026-11-23T10:00:00Z</GeneratedTime>`
	case "ListAccessKeys":
		switch r.PostForm.Get("UserName") {
		case "alice": // two pages of one key each
			if r.PostForm.Get("Marker") == "" {
				result = `<UserName>alice</UserName><AccessKeyMetadata>
			  <member><UserName>alice</UserName><AccessKeyId>AKIAALICE1</AccessKeyId><Status>Active</Status><CreateDate>2025-01-01T00:00:00Z</CreateDate></member>
			</AccessKeyMetadata><IsTruncated>true</IsTruncated><Marker>alice-2</Marker>`
			} else {
				result = `<UserName>alice</UserName><AccessKeyMetadata>
			  <member><UserName>alice</UserName><AccessKeyId>AKIAALICE2</AccessKeyId><Status>Active</Status><CreateDate>2026-10-01T00:00:00Z</CreateDate></member>
			</AccessKeyMetadata><IsTruncated>false</IsTruncated>`
			}
		case "bob":
			result = `<UserName>bob</UserName><AccessKeyMetadata>
			  <member><UserName>bob</UserName><AccessKeyId>AKIABOB1</AccessKeyId><Status>Active</Status><CreateDate>2026-11-22T01:00:00Z</CreateDate></member>
			</AccessKeyMetadata><IsTruncated>false</IsTruncated>`
		default:
			writeErr(w, 404, "NoSuchEntity", "The user cannot be found.")
			return
		}
	case "GetAccessKeyLastUsed":
		if r.PostForm.Get("AccessKeyId") != "AKIABOB1" {
			writeErr(w, 404, "NoSuchEntity", "unexpected key")
			return
		}
		result = `<UserName>bob</UserName><AccessKeyLastUsed><LastUsedDate>2026-11-22T05:00:00Z</LastUsedDate><ServiceName>s3</ServiceName><Region>us-west-2</Region></AccessKeyLastUsed>`
	default:
		writeErr(w, 400, "InvalidAction", "unknown action "+action)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse %s><%sResult>%s</%sResult><ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata></%sResponse>`,
		action, ns, action, result, action, action)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse %s><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>1d5f5000-0000-0000-0000-000000000000</RequestId></ErrorResponse>`, ns, code, msg)
}

func newServer(t *testing.T) (*fakeIAM, *awsiam.Client) {
	t.Helper()
	f := &fakeIAM{calls: map[string]int{}}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_PROFILE", "")
	c, err := NewClient(context.Background(), ClientOptions{Region: "us-east-1", BaseEndpoint: ts.URL}, func(o *awsiam.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func TestFetchOverTheWire(t *testing.T) {
	f, c := newServer(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	d, err := Fetch(context.Background(), Options{Client: c, Now: func() time.Time { return now }, ReportPoll: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("calls", func(t *testing.T) {
		// 1 throttled + 2 pages; report generated twice (STARTED, COMPLETE);
		// alice's keys on two pages, bob's on one.
		for action, want := range map[string]int{"GetAccountAuthorizationDetails": 3, "GenerateCredentialReport": 2, "GetCredentialReport": 1, "ListAccessKeys": 3, "GetAccessKeyLastUsed": 1} {
			if got := f.calls[action]; got != want {
				t.Errorf("%s calls = %d, want %d", action, got, want)
			}
		}
	})
	if got, want := d.AccountID, "111122223333"; got != want {
		t.Errorf("Details.AccountID=%q, want %q (from the report's root row)", got, want)
	}
	acct, err := iam.FromDetails(d, iam.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("model", func(t *testing.T) {
		if got, want := acct.ID, "111122223333"; got != want {
			t.Errorf("account = %q, want %q", got, want)
		}
		if !acct.Taken.Equal(now) {
			t.Errorf("Taken = %v, want %v", acct.Taken, now)
		}
		alice, ok := acct.Principal("arn:aws:iam::111122223333:user/alice")
		if !ok {
			t.Fatal("alice missing")
		}
		if got := string(alice.Inline[0].Raw); !strings.Contains(got, `"iam:ChangePassword"`) {
			t.Errorf("alice inline document not URL-decoded: %s", got)
		}
		if alice.Inline[0].Policy == nil {
			t.Errorf("alice inline policy did not compile: %v", alice.Inline[0].Err)
		}
		if alice.Tags["team"] != "sec" {
			t.Errorf("alice tags = %v", alice.Tags)
		}
		cr := alice.Credentials
		if cr == nil || !cr.PasswordEnabled || cr.MFAActive || len(cr.AccessKeys) != 2 {
			t.Fatalf("alice credentials = %+v", cr)
		}
		if k := cr.AccessKeys[0]; k.ID != "AKIAALICE1" || k.LastUsedService != "s3" || !k.LastUsed.Equal(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)) {
			t.Errorf("alice key 1 = %+v", k)
		}
		if k := cr.AccessKeys[1]; k.ID != "AKIAALICE2" || !k.LastUsedKnown || !k.LastUsed.IsZero() {
			t.Errorf("alice key 2 = %+v, want known never used", k)
		}
		bob, _ := acct.Principal("arn:aws:iam::111122223333:user/bob")
		if bob.Boundary == nil || !bob.Boundary.Known() {
			t.Fatalf("bob boundary = %+v", bob.Boundary)
		}
		if got := bob.Boundary.Policy.DefaultVersionID; got != "v2" {
			t.Errorf("boundary default version = %s", got)
		}
		if k := bob.Credentials.AccessKeys[0]; k.ID != "AKIABOB1" || k.LastUsedRegion != "us-west-2" {
			t.Errorf("bob key = %+v (GetAccessKeyLastUsed)", k)
		}
		role, _ := acct.Principal("arn:aws:iam::111122223333:role/vendor")
		if role.Trust == nil || len(role.Trust.Entries) != 1 || role.Trust.Entries[0].AWS[0] != "arn:aws:iam::444455556666:root" {
			t.Fatalf("trust = %+v", role.Trust)
		}
		if role.RoleLastUsedRegion != "eu-west-1" {
			t.Errorf("role last used region = %q", role.RoleLastUsedRegion)
		}
		root, _ := acct.Principal("arn:aws:iam::111122223333:root")
		if root.Credentials == nil || len(root.Credentials.AccessKeys) != 1 || !root.Credentials.AccessKeys[0].Active() {
			t.Errorf("root credentials = %+v", root.Credentials)
		}
	})
	t.Run("roundtrip JSON", func(t *testing.T) {
		data, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "%7B") {
			t.Errorf("snapshot JSON still URL-encoded")
		}
		again, err := iam.Parse(data, iam.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := iam.Diff(acct, again); len(diff) != 0 {
			t.Errorf("diff after JSON round trip = %+v", diff)
		}
		if got, want := len(again.Principals), len(acct.Principals); got != want {
			t.Errorf("principals after round trip = %d, want %d", got, want)
		}
	})
	t.Run("audit", func(t *testing.T) {
		cat, err := catalog.Load()
		if err != nil {
			t.Fatal(err)
		}
		fs, err := iam.Audit(cat, acct, iam.AuditOptions{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, f := range fs {
			got[f.Rule+" "+f.Principal] = true
		}
		for _, want := range []string{
			"IAM001 arn:aws:iam::111122223333:user/alice",
			"IAM002 arn:aws:iam::111122223333:user/alice",
			"IAM003 arn:aws:iam::111122223333:root",
			"IAM005 arn:aws:iam::111122223333:user/alice",
			"IAM006 arn:aws:iam::111122223333:user/alice",
			"IAM007 arn:aws:iam::111122223333:user/alice",
			"IAM010 arn:aws:iam::111122223333:role/vendor",
		} {
			if !got[want] {
				t.Errorf("missing finding %s; got %v", want, got)
			}
		}
	})
}

func TestFetchErrors(t *testing.T) {
	t.Run("typed API error", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeErr(w, 403, "AccessDenied", "User is not authorized to perform: iam:GetAccountAuthorizationDetails")
		}))
		defer ts.Close()
		c := awsiam.New(awsiam.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL), HTTPClient: ts.Client(),
			Credentials: aws.AnonymousCredentials{}})
		_, err := Fetch(context.Background(), Options{Client: c, Now: time.Now})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
			t.Fatalf("err = %v, want AccessDenied API error", err)
		}
		if !strings.Contains(err.Error(), "page 1") {
			t.Errorf("error does not say which page: %v", err)
		}
	})
	t.Run("missing client", func(t *testing.T) {
		if _, err := Fetch(context.Background(), Options{Now: time.Now}); err == nil {
			t.Fatal("want error without a client")
		}
	})
}
