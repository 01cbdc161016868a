// Package live loads the IAM model of an account over the AWS API with
// aws-sdk-go-v2: every page of GetAccountAuthorizationDetails, the
// credential report (GenerateCredentialReport / GetCredentialReport) and,
// for users with access keys, ListAccessKeys with GetAccessKeyLastUsed
// where the report does not already say when a key was last used. It
// produces iam.Details, the same JSON a snapshot file holds, so a live
// snapshot and a file go through one loader. It imports analyzer/iam and
// the AWS SDK only.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/iamd/iamd/analyzer/iam"
)

// API is the subset of the IAM client the loader calls; *iam.Client
// implements it.
type API interface {
	awsiam.GetAccountAuthorizationDetailsAPIClient
	awsiam.ListAccessKeysAPIClient
	GenerateCredentialReport(ctx context.Context, in *awsiam.GenerateCredentialReportInput, optFns ...func(*awsiam.Options)) (*awsiam.GenerateCredentialReportOutput, error)
	GetCredentialReport(ctx context.Context, in *awsiam.GetCredentialReportInput, optFns ...func(*awsiam.Options)) (*awsiam.GetCredentialReportOutput, error)
	GetAccessKeyLastUsed(ctx context.Context, in *awsiam.GetAccessKeyLastUsedInput, optFns ...func(*awsiam.Options)) (*awsiam.GetAccessKeyLastUsedOutput, error)
}

var _ API = (*awsiam.Client)(nil)

// ClientOptions select credentials and endpoint for NewClient.
type ClientOptions struct {
	Profile      string // shared-config profile; "" uses the default chain
	Region       string // "" uses the configured region (IAM is global; us-east-1 works)
	BaseEndpoint string // override, e.g. a test server URL
	HTTPClient   *http.Client
}

// LoadConfig is config.LoadDefaultConfig (default credential chain,
// profiles, region) with o's profile, region and HTTP client; the region
// defaults to us-east-1. BaseEndpoint is the caller's to apply.
func LoadConfig(ctx context.Context, o ClientOptions) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if o.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.Profile))
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(o.HTTPClient))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("load AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// NewClient builds an IAM client from LoadConfig; optFns adjust the
// client options (tests set a faster retryer).
func NewClient(ctx context.Context, o ClientOptions, optFns ...func(*awsiam.Options)) (*awsiam.Client, error) {
	cfg, err := LoadConfig(ctx, o)
	if err != nil {
		return nil, err
	}
	return awsiam.NewFromConfig(cfg, append([]func(*awsiam.Options){func(io *awsiam.Options) {
		if o.BaseEndpoint != "" {
			io.BaseEndpoint = aws.String(o.BaseEndpoint)
		}
	}}, optFns...)...), nil
}

// Options configure Fetch.
type Options struct {
	Client API
	Now    func() time.Time // clock for the snapshot's Taken time; required
	Logger *slog.Logger     // nil: discard
	// SkipCredentialReport skips the credential report (and key details);
	// audit checks on passwords, MFA and keys then stay silent.
	SkipCredentialReport bool
	// ReportPoll is the wait between credential-report polls (default 2s).
	ReportPoll time.Duration
	// ReportTimeout bounds the wait for the report (default 2 minutes).
	ReportTimeout time.Duration
}

// Fetch reads the account's IAM configuration and returns it as Details
// (policy documents URL-decoded), stamped with Now.
func Fetch(ctx context.Context, o Options) (*iam.Details, error) {
	if o.Client == nil || o.Now == nil {
		return nil, errors.New("live fetch: Client and Now are required")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "analyzer.iam.live")
	d := &iam.Details{Taken: iam.NewTime(o.Now())}
	pg := awsiam.NewGetAccountAuthorizationDetailsPaginator(o.Client, &awsiam.GetAccountAuthorizationDetailsInput{})
	pages := 0
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("get account authorization details page %d: %w", pages+1, err)
		}
		pages++
		if err := appendPage(d, out); err != nil {
			return nil, fmt.Errorf("get account authorization details page %d: %w", pages, err)
		}
	}
	log.Debug("authorization details read", "pages", pages, "users", len(d.UserDetailList.Items),
		"roles", len(d.RoleDetailList.Items), "groups", len(d.GroupDetailList.Items), "policies", len(d.Policies.Items))
	if o.SkipCredentialReport {
		return d, nil
	}
	report, err := credentialReport(ctx, o)
	if err != nil {
		return nil, err
	}
	d.CredentialReport = string(report)
	rows, err := iam.ParseCredentialReport(strings.NewReader(d.CredentialReport))
	if err != nil {
		return nil, fmt.Errorf("credential report: %w", err)
	}
	for _, r := range rows {
		if r.User == iam.RootUser {
			d.AccountID = iam.AccountOf(r.ARN)
		}
	}
	if err := accessKeys(ctx, o.Client, d, rows); err != nil {
		return nil, err
	}
	return d, nil
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func tm(t *time.Time) *iam.Time {
	if t == nil {
		return nil
	}
	return iam.NewTime(*t)
}

func doc(s *string, what string) (iam.Doc, error) {
	if s == nil {
		return iam.Doc{}, nil
	}
	dec, err := iam.DecodeDocument(*s)
	if err != nil {
		return iam.Doc{}, fmt.Errorf("%s: %w", what, err)
	}
	return iam.Doc{JSON: []byte(dec), Encoded: true}, nil
}

func inline(list []types.PolicyDetail, owner string) ([]iam.InlineDetail, error) {
	var out []iam.InlineDetail
	for _, p := range list {
		d, err := doc(p.PolicyDocument, owner+" inline policy "+str(p.PolicyName))
		if err != nil {
			return nil, err
		}
		out = append(out, iam.InlineDetail{PolicyName: str(p.PolicyName), PolicyDocument: d})
	}
	return out, nil
}

func attached(list []types.AttachedPolicy) []iam.AttachedDetail {
	var out []iam.AttachedDetail
	for _, a := range list {
		out = append(out, iam.AttachedDetail{PolicyName: str(a.PolicyName), PolicyArn: str(a.PolicyArn)})
	}
	return out
}

func boundary(b *types.AttachedPermissionsBoundary) *iam.BoundaryDetail {
	if b == nil || b.PermissionsBoundaryArn == nil {
		return nil
	}
	return &iam.BoundaryDetail{PermissionsBoundaryType: string(b.PermissionsBoundaryType), PermissionsBoundaryArn: str(b.PermissionsBoundaryArn)}
}

func tags(list []types.Tag) []iam.TagDetail {
	var out []iam.TagDetail
	for _, t := range list {
		out = append(out, iam.TagDetail{Key: str(t.Key), Value: str(t.Value)})
	}
	return out
}

func appendPage(d *iam.Details, out *awsiam.GetAccountAuthorizationDetailsOutput) error {
	for _, u := range out.UserDetailList {
		in, err := inline(u.UserPolicyList, str(u.Arn))
		if err != nil {
			return err
		}
		d.UserDetailList.Items = append(d.UserDetailList.Items, iam.UserDetail{
			Path: str(u.Path), UserName: str(u.UserName), UserID: str(u.UserId), Arn: str(u.Arn), CreateDate: tm(u.CreateDate),
			UserPolicyList: iam.List[iam.InlineDetail]{Items: in}, GroupList: iam.List[string]{Items: u.GroupList},
			AttachedManagedPolicies: iam.List[iam.AttachedDetail]{Items: attached(u.AttachedManagedPolicies)},
			PermissionsBoundary:     boundary(u.PermissionsBoundary), Tags: iam.List[iam.TagDetail]{Items: tags(u.Tags)},
		})
	}
	for _, g := range out.GroupDetailList {
		in, err := inline(g.GroupPolicyList, str(g.Arn))
		if err != nil {
			return err
		}
		d.GroupDetailList.Items = append(d.GroupDetailList.Items, iam.GroupDetail{
			Path: str(g.Path), GroupName: str(g.GroupName), GroupID: str(g.GroupId), Arn: str(g.Arn), CreateDate: tm(g.CreateDate),
			GroupPolicyList:         iam.List[iam.InlineDetail]{Items: in},
			AttachedManagedPolicies: iam.List[iam.AttachedDetail]{Items: attached(g.AttachedManagedPolicies)},
		})
	}
	for _, r := range out.RoleDetailList {
		in, err := inline(r.RolePolicyList, str(r.Arn))
		if err != nil {
			return err
		}
		trust, err := doc(r.AssumeRolePolicyDocument, str(r.Arn)+" trust policy")
		if err != nil {
			return err
		}
		rd := iam.RoleDetail{
			Path: str(r.Path), RoleName: str(r.RoleName), RoleID: str(r.RoleId), Arn: str(r.Arn), CreateDate: tm(r.CreateDate),
			AssumeRolePolicyDocument: trust, RolePolicyList: iam.List[iam.InlineDetail]{Items: in},
			AttachedManagedPolicies: iam.List[iam.AttachedDetail]{Items: attached(r.AttachedManagedPolicies)},
			PermissionsBoundary:     boundary(r.PermissionsBoundary), Tags: iam.List[iam.TagDetail]{Items: tags(r.Tags)},
		}
		if r.RoleLastUsed != nil {
			rd.RoleLastUsed = &iam.RoleLastUsedDetail{LastUsedDate: tm(r.RoleLastUsed.LastUsedDate), Region: str(r.RoleLastUsed.Region)}
		}
		d.RoleDetailList.Items = append(d.RoleDetailList.Items, rd)
	}
	for _, p := range out.Policies {
		pd := iam.PolicyDetail{PolicyName: str(p.PolicyName), PolicyID: str(p.PolicyId), Arn: str(p.Arn), Path: str(p.Path), DefaultVersionID: str(p.DefaultVersionId)}
		for _, v := range p.PolicyVersionList {
			dd, err := doc(v.Document, str(p.Arn)+" version "+str(v.VersionId))
			if err != nil {
				return err
			}
			pd.PolicyVersionList.Items = append(pd.PolicyVersionList.Items, iam.VersionDetail{Document: dd, VersionID: str(v.VersionId), IsDefaultVersion: v.IsDefaultVersion, CreateDate: tm(v.CreateDate)})
		}
		d.Policies.Items = append(d.Policies.Items, pd)
	}
	return nil
}

// credentialReport generates the report and waits until it can be read.
func credentialReport(ctx context.Context, o Options) ([]byte, error) {
	poll, limit := o.ReportPoll, o.ReportTimeout
	if poll <= 0 {
		poll = 2 * time.Second
	}
	if limit <= 0 {
		limit = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		gen, err := o.Client.GenerateCredentialReport(ctx, &awsiam.GenerateCredentialReportInput{})
		if err != nil {
			return nil, fmt.Errorf("generate credential report: %w", err)
		}
		if gen.State == types.ReportStateTypeComplete {
			out, err := o.Client.GetCredentialReport(ctx, &awsiam.GetCredentialReportInput{})
			var notReady *types.CredentialReportNotReadyException
			var notPresent *types.CredentialReportNotPresentException
			var expired *types.CredentialReportExpiredException
			switch {
			case err == nil:
				return out.Content, nil
			case errors.As(err, &notReady), errors.As(err, &notPresent), errors.As(err, &expired):
				// generated again below
			default:
				return nil, fmt.Errorf("get credential report: %w", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for credential report: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// accessKeys lists the access keys (with ids) of every user the report
// shows with a key, and asks GetAccessKeyLastUsed only for keys whose last
// use the report does not give.
func accessKeys(ctx context.Context, c API, d *iam.Details, rows []iam.CredentialRow) error {
	byARN := map[string]iam.CredentialRow{}
	for _, r := range rows {
		byARN[r.ARN] = r
	}
	for i := range d.UserDetailList.Items {
		u := &d.UserDetailList.Items[i]
		row, inReport := byARN[u.Arn]
		if inReport && !row.Keys[0].Present() && !row.Keys[1].Present() {
			continue
		}
		pg := awsiam.NewListAccessKeysPaginator(c, &awsiam.ListAccessKeysInput{UserName: aws.String(u.UserName)})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("list access keys of %s: %w", u.UserName, err)
			}
			for _, m := range out.AccessKeyMetadata {
				k := iam.AccessKeyDetail{AccessKeyID: str(m.AccessKeyId), Status: string(m.Status), CreateDate: tm(m.CreateDate)}
				if rk, ok := reportKey(row, inReport, m.CreateDate); ok {
					k.LastUsedDate, k.LastUsedService, k.LastUsedRegion = iam.NewTime(rk.LastUsed), rk.LastUsedService, rk.LastUsedRegion
				} else {
					lu, err := c.GetAccessKeyLastUsed(ctx, &awsiam.GetAccessKeyLastUsedInput{AccessKeyId: m.AccessKeyId})
					if err != nil {
						return fmt.Errorf("get access key last used for a key of %s: %w", u.UserName, err)
					}
					if l := lu.AccessKeyLastUsed; l != nil {
						k.LastUsedDate = tm(l.LastUsedDate)
						k.LastUsedService, k.LastUsedRegion = na(str(l.ServiceName)), na(str(l.Region))
					}
				}
				u.AccessKeys.Items = append(u.AccessKeys.Items, k)
			}
		}
	}
	return nil
}

// reportKey finds the report slot of a key by its creation time (the
// report's access_key_N_last_rotated is the key's creation time).
func reportKey(row iam.CredentialRow, ok bool, created *time.Time) (iam.ReportKey, bool) {
	if !ok || created == nil {
		return iam.ReportKey{}, false
	}
	for _, rk := range row.Keys {
		if rk.Present() && rk.LastRotated.Equal(created.Truncate(time.Second)) {
			return rk, true
		}
	}
	return iam.ReportKey{}, false
}

func na(s string) string {
	if s == "N/A" {
		return ""
	}
	return s
}
