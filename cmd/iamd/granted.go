package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/iam/live"
	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
)

// modelSource selects where the IAM model comes from: a snapshot file
// (--iam) or the AWS API (--live), shared by granted, audit and snapshot.
type modelSource struct {
	iamFile  string
	live     bool
	profile  string
	region   string
	endpoint string
	now      func() time.Time // clock stamping a live fetch
}

func (s *modelSource) addFlags(f *pflag.FlagSet) {
	f.StringVar(&s.iamFile, "iam", "", "authorization-details JSON file (this or --live)")
	f.BoolVar(&s.live, "live", false, "read the model from the AWS IAM API (this or --iam)")
	f.StringVar(&s.profile, "profile", "", "with --live: AWS shared-config profile (default chain when empty)")
	f.StringVar(&s.region, "region", "", "with --live: AWS region for signing (IAM is global; default us-east-1)")
	f.StringVar(&s.endpoint, "endpoint", "", "with --live: IAM endpoint URL override (e.g. a test server)")
}

// validate checks that exactly one source is chosen and that the live-only
// flags are not given with --iam.
func (s *modelSource) validate() error {
	switch {
	case s.iamFile == "" && !s.live:
		return errors.New("one of --iam FILE or --live is required")
	case s.iamFile != "" && s.live:
		return errors.New("--iam and --live are mutually exclusive: give one")
	case !s.live && (s.profile != "" || s.region != "" || s.endpoint != ""):
		return errors.New("--profile, --region and --endpoint apply only with --live")
	}
	return nil
}

// details reads the snapshot file or fetches the account live.
func (s *modelSource) details(ctx context.Context) (*iam.Details, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if !s.live {
		data, err := os.ReadFile(s.iamFile)
		if err != nil {
			return nil, fmt.Errorf("load IAM snapshot: %w", err)
		}
		d, err := iam.DecodeDetails(data)
		if err != nil {
			return nil, fmt.Errorf("load IAM snapshot %s: %w", s.iamFile, err)
		}
		return d, nil
	}
	now := s.now
	if now == nil {
		now = time.Now
	}
	c, err := live.NewClient(ctx, live.ClientOptions{Profile: s.profile, Region: s.region, BaseEndpoint: s.endpoint})
	if err != nil {
		return nil, fmt.Errorf("live IAM: %w", err)
	}
	d, err := live.Fetch(ctx, live.Options{Client: c, Now: now})
	if err != nil {
		return nil, fmt.Errorf("live IAM: %w", err)
	}
	return d, nil
}

// account builds the model from the source.
func (s *modelSource) account(ctx context.Context) (*iam.Account, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if !s.live {
		return iam.LoadFile(s.iamFile, iam.LoadOptions{})
	}
	d, err := s.details(ctx)
	if err != nil {
		return nil, err
	}
	a, err := iam.FromDetails(d, iam.LoadOptions{})
	if err != nil {
		return nil, fmt.Errorf("live IAM: %w", err)
	}
	return a, nil
}

// grantedOptions are the flags of `iamd granted`.
type grantedOptions struct {
	src       accountSource
	principal string
	service   string
	format    string
}

const grantedLong = `Print the actions a principal is granted: every catalog action it may
call on at least some resource, after identity policies (own and through
groups), the permissions boundary, organization SCPs (--org) and explicit
denies. Each action shows its resource scope, whether it depends on
conditions, the statements that grant it and those that narrow it (a Deny
on specific resources or with conditions, a boundary or SCP on some
resources, or an AWS rule: AWS-managed policies, /aws-reserved/ roles and
alias/aws/ KMS aliases are refused to every customer principal). Calls that
need no permission (sts:GetCallerIdentity, sts:GetSessionToken) are never
listed.

--iam is the JSON of "aws iam get-account-authorization-details" (or an
iamd snapshot); --live reads the same from the AWS IAM API instead
(credentials from the default chain or --profile). --principal is an ARN, or a user, role or group name when
that is unique. Policies missing from the snapshot are listed as unknown:
the real set may differ.`

func newGrantedCmd() *cobra.Command {
	var o grantedOptions
	cmd := &cobra.Command{
		Use:   "granted",
		Short: "List the actions a principal is granted by its IAM policies",
		Long:  grantedLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGranted(cmd.Context(), cmd.OutOrStdout(), &o)
		},
	}
	f := cmd.Flags()
	o.src.addFlags(f)
	f.StringVar(&o.principal, "principal", "", "principal ARN or unique name (required)")
	f.StringVar(&o.service, "service", "", "only actions of this service prefix, e.g. s3")
	addFormatFlag(cmd, &o.format, "output format")
	return cmd
}

// loadAccount loads the snapshot, the optional credential report and the
// optional organization layer shared by granted and audit.
// accountSource is a modelSource with what audit and granted add to the
// model: an organization's SCP/RCP levels and a credential report.
type accountSource struct {
	modelSource
	org              string
	credentialReport string
}

func (s *accountSource) addFlags(f *pflag.FlagSet) {
	s.modelSource.addFlags(f)
	f.StringVar(&s.org, "org", "", "organization SCP/RCP file (JSON or YAML, levels root first)")
	f.StringVar(&s.credentialReport, "credential-report", "", "credential report CSV to merge")
}

// load reads the model, merges the credential report and reads the
// organization file, if given.
func (s *accountSource) load(ctx context.Context) (*iam.Account, *iam.Org, error) {
	acct, err := s.account(ctx)
	if err != nil {
		return nil, nil, err
	}
	if reportFile := s.credentialReport; reportFile != "" {
		f, err := os.Open(reportFile)
		if err != nil {
			return nil, nil, fmt.Errorf("credential report: %w", err)
		}
		defer f.Close()
		rows, err := iam.ParseCredentialReport(f)
		if err != nil {
			return nil, nil, fmt.Errorf("credential report %s: %w", reportFile, err)
		}
		acct.ApplyCredentialReport(rows)
	}
	var org *iam.Org
	if s.org != "" {
		if org, err = iam.LoadOrgFile(s.org); err != nil {
			return nil, nil, err
		}
	}
	return acct, org, nil
}

// findPrincipal is the principal of the snapshot that s names (an ARN, a
// unique name or kind/name, as pickPrincipal).
func findPrincipal(acct *iam.Account, s string) (*iam.Principal, error) {
	if p, ok := acct.Principal(s); ok {
		return p, nil
	}
	arns := make([]string, 0, len(acct.Principals))
	for _, p := range acct.Principals {
		arns = append(arns, p.ARN)
	}
	arn, err := analysis.PickPrincipal(arns, s, "no such principal in the snapshot")
	if err != nil {
		return nil, err
	}
	p, _ := acct.Principal(arn)
	return p, nil
}

func runGranted(ctx context.Context, w io.Writer, o *grantedOptions) error {
	if err := checkFormat(o.format); err != nil {
		return err
	}
	if o.principal == "" {
		return errors.New("--principal is required")
	}
	acct, org, err := o.src.load(ctx)
	if err != nil {
		return err
	}
	p, err := findPrincipal(acct, o.principal)
	if err != nil {
		return err
	}
	cat, err := catalog.Load()
	if err != nil {
		return fmt.Errorf("load action catalog: %w", err)
	}
	if o.service != "" {
		if _, ok := cat.Service(o.service); !ok {
			return fmt.Errorf("--service %q: unknown service prefix", o.service)
		}
	}
	gr, err := iam.NewGranter(cat, acct, org)
	if err != nil {
		return err
	}
	gs := gr.Granted(p)
	grants := gs.Grants()
	if o.service != "" {
		grants = gs.Service(o.service)
	}
	if o.format == "json" {
		return writeGrantedJSON(w, gs, grants)
	}
	return writeGrantedTable(w, gs, grants)
}

type grantedJSON struct {
	Principal       string      `json:"principal"`
	Kind            string      `json:"kind"`
	Count           int         `json:"count"`
	Unknown         []string    `json:"unknownPolicies,omitempty"`
	UnknownPatterns []string    `json:"unknownActionPatterns,omitempty"`
	Grants          []grantJSON `json:"grants"`
}

type grantJSON struct {
	Action       string          `json:"action"`
	AllResources bool            `json:"allResources"`
	Resources    []string        `json:"resources"`
	Conditional  bool            `json:"conditional"`
	Allows       []string        `json:"allowedBy"`
	Narrowed     []narrowingJSON `json:"narrowedBy,omitempty"`
}

type narrowingJSON struct {
	// Statement names the narrowing statement, or "AWS rule <name>".
	Statement string   `json:"statement"`
	Kind      string   `json:"kind"`
	Rule      string   `json:"rule,omitempty"`
	Resources []string `json:"resources,omitempty"`
}

func writeGrantedJSON(w io.Writer, gs *iam.GrantedSet, grants []iam.Grant) error {
	out := grantedJSON{Principal: gs.Principal, Kind: string(gs.Kind), Count: len(grants), Unknown: gs.Unknown, UnknownPatterns: gs.UnknownPatterns, Grants: []grantJSON{}}
	for _, g := range grants {
		gj := grantJSON{Action: g.Action, AllResources: g.AllResources, Resources: g.Resources, Conditional: g.Conditional}
		for _, r := range g.Allows {
			gj.Allows = append(gj.Allows, r.String())
		}
		for _, n := range g.Narrowed {
			gj.Narrowed = append(gj.Narrowed, narrowingJSON{Statement: n.Source(), Kind: n.Kind, Rule: n.Rule, Resources: n.Resources})
		}
		out.Grants = append(out.Grants, gj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeGrantedTable(w io.Writer, gs *iam.GrantedSet, grants []iam.Grant) error {
	fmt.Fprintf(w, "principal: %s (%s)\ngranted actions: %d\n", gs.Principal, gs.Kind, len(grants))
	for _, u := range gs.Unknown {
		fmt.Fprintf(w, "warning: policy %s is unknown (not in the snapshot or unparsable): the real set may differ\n", u)
	}
	for _, u := range gs.UnknownPatterns {
		fmt.Fprintf(w, "note: action pattern %q matches no catalog action\n", u)
	}
	if len(grants) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nACTION\tRESOURCES\tCONDITIONAL\tGRANTED BY\tNARROWED BY")
	for _, g := range grants {
		var by, nb []string
		for _, r := range g.Allows {
			by = append(by, r.String())
		}
		for _, n := range g.Narrowed {
			src := n.Kind + ": " + n.Source()
			if n.Kind == iam.NarrowAWSRule {
				src += " (" + strings.Join(n.Resources, ", ") + ")"
			}
			nb = append(nb, src)
		}
		res := strings.Join(g.Resources, ",")
		if g.AllResources {
			res = "*"
		}
		narrowed := "-"
		if len(nb) > 0 {
			narrowed = strings.Join(nb, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.Action, res, strconv.FormatBool(g.Conditional), strings.Join(by, "; "), narrowed)
	}
	return tw.Flush()
}
