package awsfake

import (
	"net/http"
	"net/http/httptest"
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

// HTTPClient answers the SDK's requests by calling the fake's handler in
// this process: no listener, no socket. Clients built with it need a
// BaseEndpoint all the same (any URL: it only names the host the request
// is signed for).
func (f *Fake) HTTPClient() aws.HTTPClient { return handlerClient{f} }

type handlerClient struct{ h http.Handler }

// Do hands the request to the handler as a server would receive it: with
// Host and RequestURI set, which the STS signature check reads.
func (c handlerClient) Do(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	if in.Host == "" {
		in.Host = req.URL.Host
	}
	in.RequestURI = req.URL.RequestURI()
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// inProcessURL is the endpoint of the in-process clients.
const inProcessURL = "https://aws.in-process.invalid"

// InProcessIAM is IAMClient reaching f through HTTPClient.
func (f *Fake) InProcessIAM() *awsiam.Client {
	c := IAMClient(inProcessURL)
	return awsiam.New(c.Options(), func(o *awsiam.Options) { o.HTTPClient = f.HTTPClient() })
}

// InProcessSTS is STSOptions reaching f through HTTPClient.
func (f *Fake) InProcessSTS() sts.Options {
	o := STSOptions(inProcessURL)
	o.HTTPClient = f.HTTPClient()
	return o
}

// InProcessSecretsManager is SecretsManagerClient reaching f through
// HTTPClient.
func (f *Fake) InProcessSecretsManager() *secretsmanager.Client {
	c := SecretsManagerClient(inProcessURL)
	return secretsmanager.New(c.Options(), func(o *secretsmanager.Options) { o.HTTPClient = f.HTTPClient() })
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
