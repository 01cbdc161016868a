package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/analyzer/iam/live"
	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
	"github.com/iamd/iamd/rotator"
	"github.com/iamd/iamd/store"
)

const rotateLong = `Rotate IAM user access keys older than --max-age, safely:

  1. create a new key (first deleting an inactive key past the recovery
     window if both quota slots are taken)
  2. stage it at the user's delivery target: Secrets Manager (AWSPENDING),
     a file (PATH.pending) or a command
  3. verify it with sts:GetCallerIdentity, waiting out IAM's propagation
  4. publish it (AWSCURRENT, PATH) and start draining the old key
  5. deactivate the old key once the usage index (CloudTrail) and
     GetAccessKeyLastUsed show it idle for --drain
  6. delete it after --recovery; a use of the inactive key raises an alert
     and restarts the window; "rollback USER" reactivates it meanwhile

Each user's state is kept in the store, written before and after every AWS
call, so a run that dies anywhere is resumed by the next one. Nothing
changes without --apply. Secrets are never printed, logged or stored.
See docs/rotation.md.`

// rotateOptions are the flags shared by the rotate subcommands.
type rotateOptions struct {
	store    string
	format   string
	apply    bool
	profile  string
	region   string
	endpoint string // IAM
	stsURL   string
	smURL    string

	// daemonConfig finds the daemon's store and API (--config).
	daemonConfig string

	policy                            rotator.Policy
	tags, exemptTags, files, commands []string

	now func() time.Time
}

func newRotateCmd() *cobra.Command { return newRotateCmdAt(time.Now) }

// newRotateCmdAt builds the command with the given clock (tests inject one).
func newRotateCmdAt(now func() time.Time) *cobra.Command {
	o := &rotateOptions{now: now, policy: rotator.DefaultPolicy()}
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Rotate aged access keys, draining the old key by CloudTrail evidence",
		Long:  rotateLong,
		Args:  cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.store, "store", defaultStoreDir(os.Getenv), "usage index directory (env "+storeEnv+")")
	addFormatFlagTo(pf, &o.format, "output format")

	plan := &cobra.Command{
		Use:   "plan",
		Short: "Which keys rotate, why, and what happens when (changes nothing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRotate(cmd.Context(), cmd, o, true)
		},
	}
	run := &cobra.Command{
		Use:   "run [--apply]",
		Short: "Advance every rotation in progress and start those that are due",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRotate(cmd.Context(), cmd, o, !o.apply)
		},
	}
	run.Flags().BoolVar(&o.apply, "apply", false, "act; without it the run only reports what it would do")
	status := &cobra.Command{
		Use:   "status",
		Short: "Each user's rotation: phase, key ages, the old key's last use and who",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRotateStatus(cmd.Context(), cmd, o)
		},
	}
	addDaemonFlag(status.Flags(), &o.daemonConfig)
	rollback := &cobra.Command{
		Use:   "rollback USER",
		Short: "Stop a user's rotation and reactivate its old key if it is inactive",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRotateRollback(cmd.Context(), cmd, o, args[0])
		},
	}
	for _, c := range []*cobra.Command{plan, run, rollback} {
		o.addAWSFlags(c.Flags())
	}
	for _, c := range []*cobra.Command{plan, run} {
		o.addPolicyFlags(c.Flags())
	}
	rollback.Flags().StringVar(&o.policy.WebhookURL, "webhook", "", "URL that receives a JSON POST before the reactivation")
	cmd.AddCommand(plan, run, status, rollback)
	return cmd
}

func (o *rotateOptions) addAWSFlags(f *pflag.FlagSet) {
	f.StringVar(&o.profile, "profile", "", "AWS shared-config profile (default chain when empty)")
	f.StringVar(&o.region, "region", "", "AWS region for Secrets Manager and STS (default: the configured one, else us-east-1)")
	f.StringVar(&o.endpoint, "endpoint", "", "IAM endpoint URL override (e.g. a test server)")
	f.StringVar(&o.stsURL, "sts-endpoint", "", "STS endpoint URL override")
	f.StringVar(&o.smURL, "secretsmanager-endpoint", "", "Secrets Manager endpoint URL override")
}

func (o *rotateOptions) addPolicyFlags(f *pflag.FlagSet) {
	p := &o.policy
	durationFlag(f, &p.MaxAge, "max-age", p.MaxAge, "rotate active keys older than this")
	durationFlag(f, &p.Drain, "drain", p.Drain, "deactivate the old key once it shows no use for this long")
	durationFlag(f, &p.Recovery, "recovery", p.Recovery, "delete a deactivated key after this long")
	durationFlag(f, &p.NotifyAhead, "notify-ahead", p.NotifyAhead, "announce a rotation this long before it is due (0: never)")
	durationFlag(f, &p.MinOverlap, "min-overlap", p.MinOverlap, "keep both keys active at least this long after publishing the new one")
	durationFlag(f, &p.MaxIndexLag, "max-index-lag", p.MaxIndexLag, "ignore the usage index's silence when an ingest source or its newest event is older (0: no check)")
	durationFlag(f, &p.VerifyTimeout, "verify-timeout", p.VerifyTimeout, "how long to wait for STS to accept a new key")
	f.IntVar(&p.MaxUsersPerRun, "max-users", p.MaxUsersPerRun, "start at most this many rotations per run")
	f.BoolVar(&p.Users.OptIn, "opt-in", false, "rotate only users tagged --opt-in-tag=true")
	f.StringVar(&p.Users.OptInTag, "opt-in-tag", p.Users.OptInTag, "opt-in tag key (a user tagged with it =false never rotates)")
	f.StringSliceVar(&p.Users.PathPrefixes, "path-prefix", nil, "only users under this IAM path (repeatable)")
	f.StringSliceVar(&p.Users.Groups, "group", nil, "only members of this group (repeatable)")
	f.StringArrayVar(&o.tags, "tag", nil, "only users with this tag, KEY or KEY=VALUE (repeatable)")
	f.StringArrayVar(&o.exemptTags, "exempt-tag", nil, "never users with this tag, KEY or KEY=VALUE (repeatable)")
	f.StringSliceVar(&p.Users.ExemptGroups, "exempt-group", nil, "never members of this group (repeatable)")
	f.StringSliceVar(&p.Users.ExemptARNs, "exempt-arn", nil, "never users whose ARN matches this glob (repeatable)")
	f.StringVar(&p.Delivery.Tag, "delivery-tag", p.Delivery.Tag, "user tag naming the delivery target")
	f.StringVar(&p.Delivery.Default, "default-delivery", p.Delivery.Default, "delivery target of untagged users")
	f.StringVar(&p.Delivery.SecretName, "secret-name", p.Delivery.SecretName, "Secrets Manager secret name ({user}, {path}, {account})")
	f.StringArrayVar(&o.files, "delivery-file", nil, "file target NAME=PATH ({user}, {path}, {account}; repeatable)")
	f.StringArrayVar(&o.commands, "delivery-command", nil, "command target NAME=PROGRAM ARGS… (split on spaces; repeatable)")
	f.StringVar(&p.WebhookURL, "webhook", "", "URL that receives a JSON POST before each change and for each alert")
}

// parsePolicy turns the flags into the policy.
func (o *rotateOptions) parsePolicy(dry bool) (rotator.Policy, error) {
	p := o.policy
	p.DryRun = dry
	for _, d := range []struct {
		flag string
		v    time.Duration
		zero bool
	}{
		{"--max-age", p.MaxAge, false}, {"--drain", p.Drain, false}, {"--recovery", p.Recovery, true},
		{"--notify-ahead", p.NotifyAhead, true}, {"--min-overlap", p.MinOverlap, true},
		{"--max-index-lag", p.MaxIndexLag, true}, {"--verify-timeout", p.VerifyTimeout, false},
	} {
		if d.v < 0 || d.v == 0 && !d.zero {
			return p, fmt.Errorf("%s %s: want a positive duration, e.g. 7d", d.flag, formatDuration(d.v))
		}
	}
	var err error
	if p.Users.Tags, err = keyValues("--tag", o.tags); err != nil {
		return p, err
	}
	if p.Users.ExemptTags, err = keyValues("--exempt-tag", o.exemptTags); err != nil {
		return p, err
	}
	for _, f := range o.files {
		name, path, ok := strings.Cut(f, "=")
		if !ok || name == "" {
			return p, fmt.Errorf("--delivery-file %q: want NAME=PATH", f)
		}
		if p.Delivery.Files == nil {
			p.Delivery.Files = map[string]string{}
		}
		p.Delivery.Files[name] = path
	}
	for _, c := range o.commands {
		name, argv, ok := strings.Cut(c, "=")
		if !ok || name == "" {
			return p, fmt.Errorf("--delivery-command %q: want NAME=PROGRAM ARGS…", c)
		}
		if p.Delivery.Commands == nil {
			p.Delivery.Commands = map[string][]string{}
		}
		p.Delivery.Commands[name] = strings.Fields(argv)
	}
	return p, p.Validate()
}

func keyValues(flag string, list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("%s %q: want KEY or KEY=VALUE", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

// awsEndpoints say where the rotation's AWS clients connect: the
// credential chain's profile, the region, and endpoint overrides ("":
// AWS's).
type awsEndpoints struct {
	profile, region          string
	iam, sts, secretsManager string
}

// awsClients are the SDK clients a rotation needs, from one config.
type awsClients struct {
	iam *awsiam.Client
	sts sts.Options
	sm  *secretsmanager.Client
}

func newAWSClients(ctx context.Context, e awsEndpoints) (*awsClients, error) {
	cfg, err := live.LoadConfig(ctx, live.ClientOptions{Profile: e.profile, Region: e.region})
	if err != nil {
		return nil, err
	}
	endpoint := func(u string) *string {
		if u == "" {
			return nil
		}
		return aws.String(u)
	}
	return &awsClients{
		iam: awsiam.NewFromConfig(cfg, func(io *awsiam.Options) { io.BaseEndpoint = endpoint(e.iam) }),
		sts: sts.NewFromConfig(cfg, func(so *sts.Options) { so.BaseEndpoint = endpoint(e.sts) }).Options(),
		sm:  secretsmanager.NewFromConfig(cfg, func(so *secretsmanager.Options) { so.BaseEndpoint = endpoint(e.secretsManager) }),
	}, nil
}

// apply sets the rotator's AWS parts: keys, verifier, delivery targets
// and the users, read live through GetAccountAuthorizationDetails.
func (c *awsClients) apply(o *rotator.Options, p rotator.Policy, now func() time.Time) {
	o.IAM = rotator.SDKKeys{Client: c.iam}
	o.Verifier = rotator.STSVerifier{Options: c.sts}
	o.Targets = rotator.Targets(p.Delivery, c.sm)
	o.Account = func(ctx context.Context) (*iam.Account, error) {
		d, err := live.Fetch(ctx, live.Options{Client: c.iam, Now: now, SkipCredentialReport: true})
		if err != nil {
			return nil, fmt.Errorf("live IAM: %w", err)
		}
		return iam.FromDetails(d, iam.LoadOptions{})
	}
}

func (o *rotateOptions) clients(ctx context.Context) (*awsClients, error) {
	return newAWSClients(ctx, awsEndpoints{profile: o.profile, region: o.region, iam: o.endpoint, sts: o.stsURL, secretsManager: o.smURL})
}

// newRotator opens the store and builds the rotator; close closes the store.
func (o *rotateOptions) newRotator(ctx context.Context, cmd *cobra.Command, p rotator.Policy, withAWS bool) (*rotator.Rotator, func() error, error) {
	if o.format != "table" && o.format != "json" {
		return nil, nil, fmt.Errorf("--format %q: want table or json", o.format)
	}
	ropts := rotator.Options{Policy: p, Now: o.now}
	level := slog.LevelWarn
	if !p.DryRun {
		level = slog.LevelInfo
	}
	ropts.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	if withAWS {
		c, err := o.clients(ctx)
		if err != nil {
			return nil, nil, err
		}
		c.apply(&ropts, p, o.now)
	}
	db, err := openExistingStore(o.store)
	if err != nil {
		return nil, nil, err
	}
	ropts.States, ropts.Usage = db, db
	r, err := rotator.New(ropts)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return r, db.Close, nil
}

func runRotate(ctx context.Context, cmd *cobra.Command, o *rotateOptions, dry bool) error {
	p, err := o.parsePolicy(dry)
	if err != nil {
		return err
	}
	r, closeStore, err := o.newRotator(ctx, cmd, p, true)
	if err != nil {
		return err
	}
	defer closeStore()
	rep, err := r.Run(ctx)
	if err != nil {
		return err
	}
	if err := closeStore(); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if o.format == "json" {
		err = writeJSON(w, rep)
	} else {
		err = writeRotateReport(w, rep)
	}
	if err != nil {
		return err
	}
	if rep.Errors > 0 {
		return exitError{code: 1}
	}
	return nil
}

func runRotateStatus(ctx context.Context, cmd *cobra.Command, o *rotateOptions) error {
	if err := checkFormat(o.format); err != nil {
		return err
	}
	dir, err := daemonStore(cmd.Flags(), o.store, o.daemonConfig)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	db, err := openExistingStore(dir)
	if errors.Is(err, store.ErrLocked) {
		return fromDaemon(ctx, cmd, o.daemonConfig, dir, err, "rotation", nil, o.format, func(data []byte) error {
			return renderJSON(data, func(st *[]rotator.UserReport) error { return writeRotateStatus(w, *st, o.now()) })
		})
	}
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := analysis.RotationStatus(ctx, db, rotator.DefaultPolicy(), o.now)
	if err != nil {
		return err
	}
	if o.format == "json" {
		return writeJSON(w, st)
	}
	return writeRotateStatus(w, st, o.now())
}

func runRotateRollback(ctx context.Context, cmd *cobra.Command, o *rotateOptions, user string) error {
	p := rotator.DefaultPolicy()
	p.DryRun, p.WebhookURL = false, o.policy.WebhookURL
	if err := p.Validate(); err != nil {
		return err
	}
	r, closeStore, err := o.newRotator(ctx, cmd, p, true)
	if err != nil {
		return err
	}
	defer closeStore()
	u, err := r.Rollback(ctx, user)
	if err != nil {
		return err
	}
	if err := closeStore(); err != nil {
		return err
	}
	if o.format == "json" {
		return writeJSON(cmd.OutOrStdout(), u)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (%s)\n", u.User, u.Phase, strings.Join(append(u.Actions, u.Reason), "; "))
	return nil
}

// writeRotateReport prints one block per user: keys, why, what was (or
// would be) done, what comes next.
func writeRotateReport(w io.Writer, rep *rotator.Report) error {
	if rep.DryRun {
		fmt.Fprintln(w, "dry run: nothing was changed (iamd rotate run --apply acts)")
	}
	started := "started"
	if rep.DryRun {
		started = "would start"
	}
	fmt.Fprintf(w, "%d users reported, %d rotations %s, %d errors\n", len(rep.Users), rep.Started, started, rep.Errors)
	for _, u := range rep.Users {
		fmt.Fprintf(w, "\n%s  %s", u.User, u.Phase)
		if u.Target != "" {
			fmt.Fprintf(w, "  → %s", u.Target)
		}
		fmt.Fprintln(w)
		if k := u.OldKey; k != nil {
			fmt.Fprintf(w, "  old key  %s\n", keyLine(k))
		}
		if k := u.NewKey; k != nil {
			fmt.Fprintf(w, "  new key  %s\n", keyLine(k))
		}
		if u.Reason != "" {
			fmt.Fprintf(w, "  why      %s\n", u.Reason)
		}
		for _, a := range u.Actions {
			fmt.Fprintf(w, "  action   %s\n", a)
		}
		if u.Next != "" {
			next := u.Next
			if !u.NextAt.IsZero() && !strings.Contains(next, "earliest") {
				next += " (earliest " + u.NextAt.UTC().Format(time.RFC3339) + ")"
			}
			fmt.Fprintf(w, "  next     %s\n", next)
		}
		for _, a := range u.Alerts {
			fmt.Fprintf(w, "  ALERT    %s used at %s after its deactivation%s\n", a.KeyID, a.LastSeen.UTC().Format(time.RFC3339), seenList(a.SourceIPs, a.UserAgents))
		}
		if u.Error != "" {
			fmt.Fprintf(w, "  error    %s\n", u.Error)
		}
	}
	return nil
}

func keyLine(k *rotator.KeyReport) string {
	s := fmt.Sprintf("%s  %d days", k.ID, k.AgeDays)
	if k.Status != "" {
		s += "  " + k.Status
	}
	if k.LastUsed.IsZero() {
		return s + "  never used"
	}
	return s + "  last used " + k.LastUsed.UTC().Format(time.RFC3339) + seenList(k.SourceIPs, k.UserAgents)
}

func seenList(ips, agents []store.Seen) string {
	var parts []string
	for _, l := range [][]store.Seen{ips, agents} {
		var vs []string
		for _, s := range l {
			vs = append(vs, s.Value)
		}
		if len(vs) > 0 {
			parts = append(parts, strings.Join(vs, ", "))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " by " + strings.Join(parts, " / ")
}

// writeRotateStatus prints one line per user.
func writeRotateStatus(w io.Writer, st []rotator.UserReport, now time.Time) error {
	if len(st) == 0 {
		fmt.Fprintln(w, "no rotation recorded")
		return nil
	}
	sort.SliceStable(st, func(i, j int) bool { return st[i].User < st[j].User })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tPHASE\tOLD KEY\tAGE\tOLD KEY LAST USED\tBY\tNEW KEY\tNEXT\tALERTS\tERROR")
	for _, u := range st {
		old, age, last, by, nk := "-", "-", "-", "-", "-"
		if k := u.OldKey; k != nil {
			old, age = k.ID, fmt.Sprintf("%dd", k.AgeDays)
			if !k.LastUsed.IsZero() {
				last = k.LastUsed.UTC().Format(time.RFC3339)
				by = strings.TrimPrefix(seenList(k.SourceIPs, k.UserAgents), " by ")
			}
		}
		if u.NewKey != nil {
			nk = u.NewKey.ID
		}
		next := u.Next
		if !u.NextAt.IsZero() {
			when := u.NextAt.UTC().Format(time.RFC3339)
			if u.NextAt.Before(now) {
				when = "next run"
			}
			next += " at " + when
		}
		phase := string(u.Phase)
		if u.Step != "" {
			phase += " (" + string(u.Step) + " unconfirmed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", u.User, phase, old, age, last, orDash(by), nk, orDash(next), len(u.Alerts), orDash(u.Error))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
