package rotator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/iamd/iamd/analyzer/iam"
)

// Errors the AWS adapters translate SDK errors into, so the state machine
// branches on meaning, not on SDK types.
var (
	// ErrQuota is IAM's LimitExceeded for AccessKeysPerUser: a user has at
	// most two keys, inactive ones included.
	ErrQuota = errors.New("access key quota reached")
	// ErrNoSuchEntity is IAM's NoSuchEntity: the user or key is gone.
	ErrNoSuchEntity = errors.New("no such entity")
	// ErrKeyNotYetValid is STS's InvalidClientTokenId for a new key: IAM
	// has not propagated it yet.
	ErrKeyNotYetValid = errors.New("new key not accepted yet")
	// ErrWrongIdentity means the new key signs as someone else.
	ErrWrongIdentity = errors.New("new key belongs to another identity")
)

// KeyReader reads a user's access keys.
type KeyReader interface {
	// ListAccessKeys returns the user's keys (ID, status, creation time).
	ListAccessKeys(ctx context.Context, user string) ([]iam.AccessKey, error)
	// LastUsed is GetAccessKeyLastUsed: when the key was last used and
	// the service it called (zero and "": never used).
	LastUsed(ctx context.Context, keyID string) (time.Time, string, error)
}

// KeyWriter changes a user's access keys.
type KeyWriter interface {
	CreateAccessKey(ctx context.Context, user string) (Credential, error)
	SetAccessKeyStatus(ctx context.Context, user, keyID string, active bool) error
	DeleteAccessKey(ctx context.Context, user, keyID string) error
}

// KeyAPI is what the rotator needs of IAM.
type KeyAPI interface {
	KeyReader
	KeyWriter
}

// Verifier proves that a new key works by calling AWS with it.
type Verifier interface {
	// Verify signs one call with cred and returns the ARN AWS says it
	// belongs to; ErrKeyNotYetValid while IAM has not propagated the key.
	Verify(ctx context.Context, cred Credential) (string, error)
}

// IAMClient is the subset of the SDK IAM client the adapter calls.
type IAMClient interface {
	awsiam.ListAccessKeysAPIClient
	GetAccessKeyLastUsed(ctx context.Context, in *awsiam.GetAccessKeyLastUsedInput, optFns ...func(*awsiam.Options)) (*awsiam.GetAccessKeyLastUsedOutput, error)
	CreateAccessKey(ctx context.Context, in *awsiam.CreateAccessKeyInput, optFns ...func(*awsiam.Options)) (*awsiam.CreateAccessKeyOutput, error)
	UpdateAccessKey(ctx context.Context, in *awsiam.UpdateAccessKeyInput, optFns ...func(*awsiam.Options)) (*awsiam.UpdateAccessKeyOutput, error)
	DeleteAccessKey(ctx context.Context, in *awsiam.DeleteAccessKeyInput, optFns ...func(*awsiam.Options)) (*awsiam.DeleteAccessKeyOutput, error)
}

var _ IAMClient = (*awsiam.Client)(nil)

// SDKKeys adapts the SDK IAM client to KeyAPI.
type SDKKeys struct{ Client IAMClient }

var _ KeyAPI = SDKKeys{}

// iamErr maps IAM's modeled errors to the rotator's sentinels, keeping
// the SDK error in the chain.
func iamErr(what string, err error) error {
	var quota *iamtypes.LimitExceededException
	var missing *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &quota):
		return fmt.Errorf("%s: %w: %w", what, ErrQuota, err)
	case errors.As(err, &missing):
		return fmt.Errorf("%s: %w: %w", what, ErrNoSuchEntity, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ListAccessKeys lists every page of the user's keys.
func (s SDKKeys) ListAccessKeys(ctx context.Context, user string) ([]iam.AccessKey, error) {
	var out []iam.AccessKey
	pg := awsiam.NewListAccessKeysPaginator(s.Client, &awsiam.ListAccessKeysInput{UserName: aws.String(user)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, iamErr("list access keys of "+user, err)
		}
		for _, m := range page.AccessKeyMetadata {
			out = append(out, iam.AccessKey{ID: aws.ToString(m.AccessKeyId), Status: string(m.Status), Created: aws.ToTime(m.CreateDate)})
		}
	}
	return out, nil
}

// LastUsed is GetAccessKeyLastUsed's LastUsedDate and ServiceName (zero
// and "": never used; IAM answers the service "N/A" then).
func (s SDKKeys) LastUsed(ctx context.Context, keyID string) (time.Time, string, error) {
	out, err := s.Client.GetAccessKeyLastUsed(ctx, &awsiam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(keyID)})
	if err != nil {
		return time.Time{}, "", iamErr("get access key last used of "+keyID, err)
	}
	lu := out.AccessKeyLastUsed
	if lu == nil || lu.LastUsedDate == nil {
		return time.Time{}, "", nil
	}
	return aws.ToTime(lu.LastUsedDate), aws.ToString(lu.ServiceName), nil
}

// CreateAccessKey creates a key; the secret goes straight into a Secret.
func (s SDKKeys) CreateAccessKey(ctx context.Context, user string) (Credential, error) {
	out, err := s.Client.CreateAccessKey(ctx, &awsiam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		return Credential{}, iamErr("create access key for "+user, err)
	}
	k := out.AccessKey
	if k == nil || aws.ToString(k.AccessKeyId) == "" || aws.ToString(k.SecretAccessKey) == "" {
		return Credential{}, fmt.Errorf("create access key for %s: response without a key", user)
	}
	return Credential{UserName: user, AccessKeyID: aws.ToString(k.AccessKeyId), Secret: NewSecret(aws.ToString(k.SecretAccessKey)), Created: aws.ToTime(k.CreateDate)}, nil
}

// SetAccessKeyStatus is UpdateAccessKey (Active or Inactive).
func (s SDKKeys) SetAccessKeyStatus(ctx context.Context, user, keyID string, active bool) error {
	st := iamtypes.StatusTypeInactive
	if active {
		st = iamtypes.StatusTypeActive
	}
	_, err := s.Client.UpdateAccessKey(ctx, &awsiam.UpdateAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(keyID), Status: st})
	if err != nil {
		return iamErr(fmt.Sprintf("set access key %s of %s %s", keyID, user, st), err)
	}
	return nil
}

// DeleteAccessKey deletes a key.
func (s SDKKeys) DeleteAccessKey(ctx context.Context, user, keyID string) error {
	_, err := s.Client.DeleteAccessKey(ctx, &awsiam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(keyID)})
	if err != nil {
		return iamErr(fmt.Sprintf("delete access key %s of %s", keyID, user), err)
	}
	return nil
}

// STSVerifier verifies a key with sts:GetCallerIdentity, which needs no
// permission (any valid credentials may call it: AWS STS API reference,
// GetCallerIdentity). Options are the base client options (region,
// endpoint, HTTP client, retryer); the credentials are the new key's.
type STSVerifier struct{ Options sts.Options }

var _ Verifier = STSVerifier{}

// Verify calls GetCallerIdentity signed with cred.
func (v STSVerifier) Verify(ctx context.Context, cred Credential) (string, error) {
	o := v.Options.Copy()
	o.Credentials = credentials.NewStaticCredentialsProvider(cred.AccessKeyID, cred.Secret.Reveal(), "")
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	out, err := sts.New(o).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "InvalidClientTokenId" {
			return "", fmt.Errorf("verify %s: %w: %w", cred.AccessKeyID, ErrKeyNotYetValid, err)
		}
		return "", fmt.Errorf("verify %s: %w", cred.AccessKeyID, err)
	}
	return aws.ToString(out.Arn), nil
}
