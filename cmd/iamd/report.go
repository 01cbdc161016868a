package main

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/store"
)

// reportOptions are the flags of `iamd report`.
type reportOptions struct {
	analysisSource
	format  string
	top     int
	workers int
}

const reportLong = `For each principal (or --principal) over the tracking window: the
granted actions it used (calls, first and last use, the resources it used
most and the statements that allowed them), the granted actions it never
used (access level, resource scope, conditional or not, granting
statements, grouped by service), the actions it was refused, the calls
today's model no longer allows (and why, where that can be told), the
granted actions CloudTrail cannot show (never counted as unused), who
acted inside a role, and used / granted per service.

The IAM model is the snapshots kept in the store (iamd snapshot save):
each day of activity is judged against the snapshot in force that day.
--iam FILE (authorization-details JSON, with --org and
--credential-report as for granted) stands for the whole window instead.
Principals of an account without a model are listed with their usage.

Formats: table (one line per principal; in detail with --principal),
json, md.

Conditions: the index keeps no request context per call, so a
statement's conditions are read as met for Allow and as not applying for
Deny: the reading under which the observed calls were possible.`

func newReportCmd() *cobra.Command { return newReportCmdAt(time.Now) }

// newReportCmdAt builds the command with the given clock (tests inject one).
func newReportCmdAt(now func() time.Time) *cobra.Command {
	o := reportOptions{analysisSource: newAnalysisSource(now)}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Used vs granted permissions per principal",
		Long:  reportLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd.Context(), cmd, &o)
		},
	}
	f := cmd.Flags()
	o.addFlags(f)
	addFormatFlag(cmd, &o.format, "output format", formatTable, formatJSON, formatMarkdown)
	f.IntVar(&o.top, "top", report.DefaultTop, "resources listed per used action")
	f.IntVar(&o.workers, "workers", 0, "principals analysed at once (0: one per CPU)")
	return cmd
}

func runReport(ctx context.Context, cmd *cobra.Command, o *reportOptions) error {
	if err := checkFormat(o.format, "table", "json", "md"); err != nil {
		return err
	}
	if err := o.resolveStore(cmd.Flags()); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	print := func(r *report.Report) error {
		switch {
		case o.format == "json":
			return report.WriteJSON(w, r)
		case o.format == "md":
			return report.WriteMarkdown(w, r)
		case o.principal != "":
			return report.WriteTable(w, r)
		}
		return report.WriteSummary(w, r)
	}
	a, r, err := o.report(ctx, o.top, o.workers)
	if errors.Is(err, store.ErrLocked) {
		q := o.query()
		if o.top != report.DefaultTop {
			q.Set("top", strconv.Itoa(o.top))
		}
		return o.fromDaemon(ctx, cmd, err, "report", q, o.format, func(data []byte) error { return renderJSON(data, print) })
	}
	if err != nil {
		return err
	}
	defer a.db.Close()
	return print(r)
}
