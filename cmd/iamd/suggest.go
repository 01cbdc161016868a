package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/analyzer/usage"
)

// suggestOptions are the flags of `iamd suggest`.
type suggestOptions struct {
	analysisSource
	out       string
	grace     string
	format    string
	workers   int
	noHistory bool
}

const suggestLong = `Least-privilege policy suggestions for each principal with unused
permissions (every principal seen, when there is no IAM model), in two
forms:

  generated  a policy from the calls of the window: the allowed actions
             used, resource-scoped where the observed ARNs allow a safe
             pattern, plus the unobservable actions held today in their own
             statements; split to stay within IAM's size limits
  in place   the principal's own policies with only the unused actions
             removed: structure, Sids, conditions and resources kept;
             statements whose Sid starts with NOREPO never touched;
             permissions first granted less than --grace ago kept

Every suggestion is self-checked by iamd's policy engine before it is
written: every observed allowed call still allowed (boundary and SCPs
unchanged), calls seen only as refused not allowed by the generated
policy, every removed action denied everywhere, nothing granted beyond
today's grants. A suggestion that fails is not written; the failure names
the offending call.

Under --out, one folder per principal: generated-N.json and
inplace-NAME.json (ready for aws iam create-policy --policy-document
file://…), the originals for rollback, review.md (what goes, why, the
evidence) and suggestion.json, with the AWS CLI commands that would apply
and roll back each suggestion (printed, never run).

Each run is kept in the store; the next run reports per principal what
changed since (new, removed, unchanged permissions). --no-history skips
that.`

func newSuggestCmd() *cobra.Command { return newSuggestCmdAt(time.Now) }

func newSuggestCmdAt(now func() time.Time) *cobra.Command {
	o := suggestOptions{analysisSource: newAnalysisSource(now)}
	cmd := &cobra.Command{
		Use:   "suggest --out DIR",
		Short: "Self-checked least-privilege policy suggestions",
		Long:  suggestLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSuggest(cmd.Context(), cmd.OutOrStdout(), &o)
		},
	}
	f := cmd.Flags()
	o.addFlags(f)
	f.StringVar(&o.out, "out", "", "folder to write the suggestions under, one folder per principal (required)")
	f.StringVar(&o.grace, "grace", "14d", "keep unused permissions first granted less than this long ago (days or a Go duration; 0 keeps none)")
	addFormatFlag(cmd, &o.format, "summary format on standard output")
	f.IntVar(&o.workers, "workers", 0, "principals handled at once (0: one per CPU)")
	f.BoolVar(&o.noHistory, "no-history", false, "do not keep this run in the store (and do not diff with the previous one)")
	return cmd
}

func runSuggest(ctx context.Context, w io.Writer, o *suggestOptions) error {
	if o.out == "" {
		return errors.New("--out DIR is required")
	}
	if err := checkFormat(o.format, "table", "json"); err != nil {
		return err
	}
	grace := time.Duration(-1)
	if o.grace != "0" && o.grace != "0d" {
		d, _, err := usage.ParseLength(o.grace)
		if err != nil {
			return fmt.Errorf("--grace: %w", err)
		}
		grace = d
	}
	a, err := o.open(ctx, false)
	if err != nil {
		return err
	}
	defer a.db.Close()
	an, err := report.NewAnalyser(a.cat, 0)
	if err != nil {
		return err
	}
	sg, err := suggest.New(suggest.Options{Catalog: a.cat, Grace: grace})
	if err != nil {
		return err
	}
	ro := suggest.RunOptions{Out: o.out, Workers: o.workers, Now: o.now}
	if !o.noHistory {
		ro.History = suggest.NewHistory(a.db)
	}
	res, err := sg.Run(ctx, a.db, a.scope, an, ro)
	if err != nil {
		return err
	}
	if o.format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	if a.scope.Models == nil {
		fmt.Fprintln(w, "no IAM model (no snapshot in the store, no --iam): generated policies come from the calls alone and were not compared with today's grants")
	}
	fmt.Fprintf(w, "%d suggestions under %s, %d failed their self-check (not written)\n", len(res.Summaries), o.out, res.Failed)
	if len(res.Summaries) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nPRINCIPAL\tGENERATED\tREMOVED\tKEPT\tSELF-CHECK\tCHANGES")
	for _, s := range res.Summaries {
		check := "passed"
		if !s.Passed {
			check = "FAILED: " + s.Failure
		}
		changes := "first run"
		if s.Changes != nil {
			changes = fmt.Sprintf("+%d/-%d generated, +%d/-%d removed", len(s.Changes.GeneratedAdded), len(s.Changes.GeneratedRemoved), len(s.Changes.RemovedAdded), len(s.Changes.RemovedGone))
		}
		if o.noHistory {
			changes = "-"
		}
		fmt.Fprintf(tw, "%s\t%d docs\t%d\t%d\t%s\t%s\n", s.Principal, s.Documents, s.Removed, s.Kept, check, changes)
	}
	return tw.Flush()
}
