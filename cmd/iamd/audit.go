package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
)

// auditOptions are the flags of `iamd audit`.
type auditOptions struct {
	src       accountSource
	format    string
	keyMaxAge string
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

With --store DIR the audit adds what only CloudTrail shows, over --window
(default 90d, ending at --at or the newest activity): the root user used
(CT001), access keys used from an unusual source IP or user agent
(CT003) and refused attempts at privilege-escalation actions (CT004).
Without --iam or --live the model checks then run on the newest snapshot
of each account kept in the store.`

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
			return runAudit(cmd.Context(), cmd.OutOrStdout(), &o)
		},
	}
	f := cmd.Flags()
	o.src.addFlags(f)
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	f.StringVar(&o.keyMaxAge, "key-max-age", "90d", "maximum access key age (e.g. 90d, 2160h)")
	f.StringVar(&o.trail.store, "store", "", "usage index directory: add the checks that need CloudTrail evidence")
	f.StringVar(&o.trail.window, "window", "90d", "with --store: tracking window, whole days (90d) or a Go duration")
	f.StringVar(&o.trail.at, "at", "", "with --store: window end (RFC 3339 or YYYY-MM-DD); default the newest activity")
	return cmd
}

// parseAge reads "90d" or a Go duration ("2160h").
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("--key-max-age %q: want a positive number of days, e.g. 90d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--key-max-age %q: want e.g. 90d or 2160h", s)
	}
	return d, nil
}

func runAudit(ctx context.Context, w io.Writer, o *auditOptions) error {
	if o.format != "table" && o.format != "json" {
		return fmt.Errorf("--format %q: want table or json", o.format)
	}
	age, err := parseAge(o.keyMaxAge)
	if err != nil {
		return err
	}
	if o.trail.store != "" {
		return runAuditWithTrail(ctx, w, o, age)
	}
	acct, org, err := o.src.load(ctx)
	if err != nil {
		return err
	}
	cat, err := catalog.Load()
	if err != nil {
		return fmt.Errorf("load action catalog: %w", err)
	}
	fs, err := iam.Audit(cat, acct, iam.AuditOptions{KeyMaxAge: age, Now: o.now, Org: org})
	if err != nil {
		return err
	}
	return writeAudit(w, o.format, acct, fs)
}

// writeAudit prints the findings of one account's audit.
func writeAudit(w io.Writer, format string, acct *iam.Account, fs []iam.Finding) error {
	if format == "json" {
		out := struct {
			Account  string        `json:"account"`
			Warnings []string      `json:"warnings,omitempty"`
			Findings []iam.Finding `json:"findings"`
		}{Account: acct.ID, Findings: fs}
		if out.Findings == nil {
			out.Findings = []iam.Finding{}
		}
		for _, wn := range acct.Warnings {
			out.Warnings = append(out.Warnings, wn.String())
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, wn := range acct.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
	counts := map[iam.Severity]int{}
	for _, f := range fs {
		counts[f.Severity]++
	}
	fmt.Fprintf(w, "account %s: %d findings (critical %d, high %d, medium %d, low %d, info %d)\n", acct.ID, len(fs),
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
