package awsfake

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/iam/live"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func start(t *testing.T, o Options) (*Fake, string) {
	t.Helper()
	f := New(o)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func callerIdentity(ctx context.Context, url, id, secret string) (*sts.GetCallerIdentityOutput, error) {
	o := STSOptions(url)
	o.Credentials = credentials.NewStaticCredentialsProvider(id, secret, "")
	return sts.New(o).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestIAMKeysOverTheWire(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	f, url := start(t, Options{Now: c.now, NewKeyDelay: 10 * time.Second})
	f.AddUser(User{Name: "alice", Path: "/ci/", Groups: []string{"deployers"}, Tags: map[string]string{"iamd-rotate": "true"}})
	old := f.AddKey("alice", c.t.Add(-100*24*time.Hour), true)
	cl := IAMClient(url)

	out, err := cl.CreateAccessKey(ctx, &awsiam.CreateAccessKeyInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	id, secret := aws.ToString(out.AccessKey.AccessKeyId), aws.ToString(out.AccessKey.SecretAccessKey)
	if len(id) != 20 || len(secret) != 40 {
		t.Fatalf("new key %q secret length %d", id, len(secret))
	}
	t.Run("quota", func(t *testing.T) {
		_, err := cl.CreateAccessKey(ctx, &awsiam.CreateAccessKeyInput{UserName: aws.String("alice")})
		var le *iamtypes.LimitExceededException
		if !errors.As(err, &le) {
			t.Fatalf("third key: err = %v, want LimitExceeded", err)
		}
	})
	t.Run("list and last used", func(t *testing.T) {
		l, err := cl.ListAccessKeys(ctx, &awsiam.ListAccessKeysInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(l.AccessKeyMetadata); got != 2 || aws.ToString(l.AccessKeyMetadata[0].AccessKeyId) != old {
			t.Fatalf("keys = %+v", l.AccessKeyMetadata)
		}
		f.SetLastUsed(old, c.t.Add(-time.Hour), "s3")
		lu, err := cl.GetAccessKeyLastUsed(ctx, &awsiam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(old)})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToTime(lu.AccessKeyLastUsed.LastUsedDate); !got.Equal(c.t.Add(-time.Hour)) || aws.ToString(lu.AccessKeyLastUsed.ServiceName) != "s3" {
			t.Errorf("last used = %v %v", got, aws.ToString(lu.AccessKeyLastUsed.ServiceName))
		}
		lu, err = cl.GetAccessKeyLastUsed(ctx, &awsiam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
		if err != nil || lu.AccessKeyLastUsed.LastUsedDate != nil {
			t.Errorf("new key last used = %+v, %v; want none", lu, err)
		}
	})
	t.Run("sts refuses a new key, then accepts it signed with its secret only", func(t *testing.T) {
		if _, err := callerIdentity(ctx, url, id, secret); code(err) != "InvalidClientTokenId" {
			t.Fatalf("fresh key: err = %v, want InvalidClientTokenId", err)
		}
		c.t = c.t.Add(11 * time.Second)
		got, err := callerIdentity(ctx, url, id, secret)
		if err != nil {
			t.Fatal(err)
		}
		if want := "arn:aws:iam::111122223333:user/ci/alice"; aws.ToString(got.Arn) != want {
			t.Errorf("Arn = %s, want %s", aws.ToString(got.Arn), want)
		}
		if _, err := callerIdentity(ctx, url, id, secret[:39]+"x"); code(err) != "SignatureDoesNotMatch" {
			t.Errorf("wrong secret: err = %v, want SignatureDoesNotMatch", err)
		}
	})
	t.Run("deactivate and delete", func(t *testing.T) {
		if _, err := cl.UpdateAccessKey(ctx, &awsiam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(id), Status: iamtypes.StatusTypeInactive}); err != nil {
			t.Fatal(err)
		}
		if _, err := callerIdentity(ctx, url, id, secret); code(err) != "InvalidClientTokenId" {
			t.Errorf("inactive key: err = %v, want InvalidClientTokenId", err)
		}
		if _, err := cl.DeleteAccessKey(ctx, &awsiam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		_, err := cl.DeleteAccessKey(ctx, &awsiam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(id)})
		var ns *iamtypes.NoSuchEntityException
		if !errors.As(err, &ns) {
			t.Errorf("second delete: err = %v, want NoSuchEntity", err)
		}
	})
	t.Run("throttling is retried by the SDK", func(t *testing.T) {
		f.Fail("ListAccessKeys", 2, 400, "Throttling")
		if _, err := cl.ListAccessKeys(ctx, &awsiam.ListAccessKeysInput{UserName: aws.String("alice")}); err != nil {
			t.Fatalf("after 2 throttles: %v", err)
		}
		f.Fail("ListAccessKeys", 3, 503, "ServiceUnavailable")
		if _, err := cl.ListAccessKeys(ctx, &awsiam.ListAccessKeysInput{UserName: aws.String("alice")}); code(err) != "ServiceUnavailable" {
			t.Fatalf("after 3 × 503 (the SDK's 3 attempts): err = %v", err)
		}
	})
	t.Run("users through the live loader", func(t *testing.T) {
		d, err := live.Fetch(ctx, live.Options{Client: cl, Now: c.now, SkipCredentialReport: true})
		if err != nil {
			t.Fatal(err)
		}
		acct, err := iam.FromDetails(d, iam.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p, ok := acct.Principal(f.UserARN("alice"))
		if !ok || p.Path != "/ci/" || p.Tags["iamd-rotate"] != "true" || !slices.Equal(p.Groups, []string{"deployers"}) {
			t.Fatalf("alice = %+v", p)
		}
	})
	if n := f.Count("CreateAccessKey"); n != 1 {
		t.Errorf("CreateAccessKey succeeded %d times, want 1", n)
	}
}

func TestSecretsManagerStagingOverTheWire(t *testing.T) {
	ctx := context.Background()
	f, url := start(t, Options{})
	sm := SecretsManagerClient(url)
	name := "iamd/access-keys/alice"
	if _, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)}); func() bool {
		var nf *smtypes.ResourceNotFoundException
		return !errors.As(err, &nf)
	}() {
		t.Fatalf("describe missing secret: %v", err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v1"),
		ClientRequestToken: aws.String("version-one-000000000000000000000000")}); err != nil {
		t.Fatal(err)
	}
	put := func(token, value string, stages ...string) error {
		_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), ClientRequestToken: aws.String(token),
			SecretString: aws.String(value), VersionStages: stages})
		return err
	}
	if err := put("version-two-000000000000000000000000", "v2", "AWSPENDING"); err != nil {
		t.Fatal(err)
	}
	if err := put("version-two-000000000000000000000000", "v2", "AWSPENDING"); err != nil {
		t.Fatalf("same token, same value must be idempotent: %v", err)
	}
	var exists *smtypes.ResourceExistsException
	if err := put("version-two-000000000000000000000000", "other", "AWSPENDING"); !errors.As(err, &exists) {
		t.Fatalf("same token, other value: err = %v, want ResourceExistsException", err)
	}
	if v, _ := f.SecretValue(name, "AWSCURRENT"); v != "v1" {
		t.Fatalf("AWSCURRENT = %q before promotion", v)
	}
	_, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(name), VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: aws.String("version-two-000000000000000000000000")})
	var ip *smtypes.InvalidParameterException
	if !errors.As(err, &ip) {
		t.Fatalf("moving AWSCURRENT without RemoveFromVersionId: err = %v, want InvalidParameterException", err)
	}
	if _, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(name), VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: aws.String("version-two-000000000000000000000000"), RemoveFromVersionId: aws.String("version-one-000000000000000000000000")}); err != nil {
		t.Fatal(err)
	}
	for stage, want := range map[string]string{"AWSCURRENT": "v2", "AWSPREVIOUS": "v1", "AWSPENDING": "v2"} {
		if v, _ := f.SecretValue(name, stage); v != want {
			t.Errorf("%s = %q, want %q", stage, v, want)
		}
	}
	got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil || aws.ToString(got.SecretString) != "v2" {
		t.Errorf("GetSecretValue = %v, %v", got, err)
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil || len(d.VersionIdsToStages) != 2 {
		t.Errorf("DescribeSecret = %+v, %v", d, err)
	}
}

// TestInProcessClients: the SDK clients reach the fake through
// HTTPClient, with no listener: IAM lists a key added under a given id and
// creates one, STS checks the new key's signature (the Host the request
// was signed for reaches the handler) and Secrets Manager keeps a value.
func TestInProcessClients(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	f := New(Options{Now: c.now})
	f.AddUser(User{Name: "alice"})
	f.AddKeyID("alice", "AKIAEXAMPLEDEMOKEY01", c.t.Add(-100*24*time.Hour), true)
	cl := f.InProcessIAM()
	out, err := cl.ListAccessKeys(ctx, &awsiam.ListAccessKeysInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AccessKeyMetadata) != 1 || aws.ToString(out.AccessKeyMetadata[0].AccessKeyId) != "AKIAEXAMPLEDEMOKEY01" || !out.AccessKeyMetadata[0].CreateDate.Equal(c.t.Add(-100*24*time.Hour)) {
		t.Fatalf("keys %+v", out.AccessKeyMetadata)
	}
	created, err := cl.CreateAccessKey(ctx, &awsiam.CreateAccessKeyInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	id, secret := aws.ToString(created.AccessKey.AccessKeyId), aws.ToString(created.AccessKey.SecretAccessKey)
	o := f.InProcessSTS()
	for _, tc := range []struct {
		secret, code string
	}{{secret, ""}, {secret[:39] + "x", "SignatureDoesNotMatch"}} {
		o.Credentials = credentials.NewStaticCredentialsProvider(id, tc.secret, "")
		got, err := sts.New(o).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if code(err) != tc.code || (err == nil && aws.ToString(got.Arn) != f.UserARN("alice")) {
			t.Fatalf("GetCallerIdentity: %+v, %v; want code %q", got, err, tc.code)
		}
	}
	sm := f.InProcessSecretsManager()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("v1"),
		ClientRequestToken: aws.String("version-one-000000000000000000000000")}); err != nil {
		t.Fatal(err)
	}
	if v, ok := f.SecretValue("s", "AWSCURRENT"); !ok || v != "v1" {
		t.Fatalf("AWSCURRENT = %q, %v", v, ok)
	}
	if _, ok := f.Key("AKIAEXAMPLEDEMOKEY01"); !ok || len(f.Keys("alice")) != 2 {
		t.Fatalf("the fake holds %+v", f.Keys("alice"))
	}
}
