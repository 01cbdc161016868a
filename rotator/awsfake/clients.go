package awsfake

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Admin credentials the clients below sign with; the fake does not check
// them (only STS checks the key it is asked about).
const (
	AdminKeyID  = "AKIDADMINEXAMPLE0000"
	AdminSecret = "admin-secret-not-a-rotated-key"
)

// Retryer is the SDK's standard retryer with millisecond backoff, so that
// injected throttling and 5xx answers are retried the way AWS clients do,
// without slowing tests down.
func Retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
	})
}

// The clients are built from service Options, not config.LoadDefaultConfig,
// so that no shared config, profile or AWS_CA_BUNDLE of the machine
// applies.

// IAMClient returns an IAM client for the fake at url.
func IAMClient(url string) *awsiam.Client {
	return awsiam.New(awsiam.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Retryer: Retryer(),
		Credentials: credentials.NewStaticCredentialsProvider(AdminKeyID, AdminSecret, "")})
}

// STSOptions returns STS client options for the fake at url, without
// credentials (the rotator's verifier signs with the new key).
func STSOptions(url string) sts.Options {
	return sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Retryer: Retryer()}
}

// SecretsManagerClient returns a Secrets Manager client for the fake at url.
func SecretsManagerClient(url string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Retryer: Retryer(),
		Credentials: credentials.NewStaticCredentialsProvider(AdminKeyID, AdminSecret, "")})
}
