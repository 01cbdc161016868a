package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
)

// auditOptions are the flags of `iamd audit`.
type auditOptions struct {
	src       accountSource
	format    string
	keyMaxAge time.Duration
	failOn    string
	now       func() time.Time
	// trail: with --store, the checks only CloudTrail can answer too.
	trail analysisSource
}

const auditLong = `Check an account's IAM configuration against the IAM best practices:
full administrators (also through groups), console users without MFA,
root access keys and root without MFA, users with two active keys, keys
older than --key-max-age or never used, users with policies of their own
instead of groups, roles whose trust policy admits anyone or another account
without conditions, and principals able to escalate their privileges
(evaluated on their granted sets). Each finding has a stable rule id
(IAM001…), a severity, evidence and a fix hint.

The model comes from --iam FILE or, with --live, from the AWS IAM API.
Password, MFA and key checks need credential data: --live and an iamd live
snapshot carry it, or merge a credential report CSV with --credential-report.
Checks that could not run for want of data are listed as skipped, with the
principals and why.

--fail-on SEVERITY (critical, high, medium, low or info) makes the command
exit with status 3 when a finding at or above that severity exists, for CI
pipelines; the report is printed either way.

With --store DIR the audit adds what only CloudTrail shows, over --window
(default 90d, ending at --at or the newest activity): the root user used
(CT001), console sign-ins without MFA (CT002), access keys used from an
unusual source IP or user agent (CT003) and refused attempts at
privilege-escalation actions (CT004); and a
user's two active keys during a key rotation (iamd rotate) are named as
such. Without --iam or --live the model checks then run on the newest
snapshot of each account kept in the store.`

func newAuditCmd() *cobra.Command { return newAuditCmdAt(time.Now) }

// newAuditCmdAt builds the command with the given clock (tests inject one).
func newAuditCmdAt(now func() time.Time) *cobra.Command {
	o := auditOptions{now: now, src: accountSource{modelSource: modelSource{now: now}}}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check IAM users, roles and keys against the IAM best practices",
		Long:  auditLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAudit(cmd.Context(), cmd, &o)
		},
	}
	f := cmd.Flags()
	o.src.addFlags(f)
	addFormatFlag(cmd, &o.format, "output format")
	durationFlag(f, &o.keyMaxAge, "key-max-age", 90*24*time.Hour, "maximum access key age (e.g. 90d, 2160h)")
	f.StringVar(&o.failOn, "fail-on", "", "exit with status 3 if a finding at or above this severity exists (critical, high, medium, low, info)")
	f.StringVar(&o.trail.store, "store", "", "usage index directory: add the checks that need CloudTrail evidence, and name key rotations in progress")
	f.StringVar(&o.trail.window, "window", "90d", "with --store: tracking window, whole days (90d) or a Go duration")
	f.StringVar(&o.trail.at, "at", "", "with --store: window end (RFC 3339 or YYYY-MM-DD); default the newest activity")
	addDaemonFlag(f, &o.trail.daemonConfig)
	return cmd
}

func runAudit(ctx context.Context, cmd *cobra.Command, o *auditOptions) error {
	w := cmd.OutOrStdout()
	if err := checkFormat(o.format); err != nil {
		return err
	}
	if o.keyMaxAge <= 0 {
		return fmt.Errorf("--key-max-age %s: want a positive age, e.g. 90d", formatDuration(o.keyMaxAge))
	}
	var failOn iam.Severity
	if o.failOn != "" {
		var err error
		if failOn, err = iam.ParseSeverity(o.failOn); err != nil {
			return fmt.Errorf("--fail-on: %w", err)
		}
	}
	if o.trail.store != "" || o.trail.daemonConfig != "" {
		if err := o.trail.resolveStore(cmd.Flags()); err != nil {
			return err
		}
		return runAuditWithTrail(ctx, cmd, o, failOn)
	}
	acct, org, err := o.src.load(ctx)
	if err != nil {
		return err
	}
	cat, err := catalog.Load()
	if err != nil {
		return fmt.Errorf("load action catalog: %w", err)
	}
	fs, err := iam.Audit(cat, acct, iam.AuditOptions{KeyMaxAge: o.keyMaxAge, Now: o.now, Org: org})
	if err != nil {
		return err
	}
	if err := writeAudit(w, o.format, analysis.AccountAudit{Account: acct, Findings: fs, Skipped: iam.SkippedChecks(acct)}.Document()); err != nil {
		return err
	}
	return failOnFindings(fs, failOn)
}

// failOnFindings is the exit status of --fail-on: exitFindings when a
// finding is at least that severe ("" never fails).
func failOnFindings(fs []iam.Finding, failOn iam.Severity) error {
	if failOn == "" {
		return nil
	}
	n := 0
	for _, f := range fs {
		if f.Severity.AtLeast(failOn) {
			n++
		}
	}
	if n > 0 {
		return exitError{code: exitFindings, msg: fmt.Sprintf("audit: %d findings at or above %s (--fail-on)", n, failOn)}
	}
	return nil
}

// writeAudit prints one account's audit document, as the command
// computed it or as the daemon's API answered it.
func writeAudit(w io.Writer, format string, a listing.Audit) error {
	if format == formatJSON {
		return writeJSON(w, a)
	}
	fs := a.Findings
	for _, wn := range a.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
	for _, sk := range a.Skipped {
		who := fmt.Sprintf("%d principals", len(sk.Principals))
		switch len(sk.Principals) {
		case 0:
			who = "the account"
		case 1:
			who = sk.Principals[0]
		}
		fmt.Fprintf(w, "skipped: %s (%s) for %s: %s; %s\n", sk.Check, strings.Join(sk.Rules, ", "), who, sk.Reason, sk.Fix)
	}
	counts := map[iam.Severity]int{}
	for _, f := range fs {
		counts[f.Severity]++
	}
	fmt.Fprintf(w, "account %s: %d findings (critical %d, high %d, medium %d, low %d, info %d)\n", a.Account, len(fs),
		counts[iam.SeverityCritical], counts[iam.SeverityHigh], counts[iam.SeverityMedium], counts[iam.SeverityLow], counts[iam.SeverityInfo])
	if len(fs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nRULE\tSEVERITY\tPRINCIPAL\tFINDING\tEVIDENCE\tFIX")
	for _, f := range fs {
		title := f.Title
		if f.Method != "" {
			title = f.Method + ": " + title
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Rule, f.Severity, f.Principal, title, strings.Join(f.Evidence, " | "), f.Fix)
	}
	return tw.Flush()
}
