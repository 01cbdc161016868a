package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/analyzer/usage"
	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
	"github.com/iamd/iamd/store"
)

// suggestOptions are the flags of `iamd suggest`.
type suggestOptions struct {
	analysisSource
	out       string
	grace     string
	keep      []string
	format    string
	workers   int
	noHistory bool
	dryRun    bool
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
             permissions first granted less than --grace ago kept, and
             the actions matching --keep-action

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
that; "iamd suggest latest" prints the latest run kept. --dry-run computes
and self-checks the suggestions and prints the summary, writing and
keeping nothing.`

func newSuggestCmd() *cobra.Command { return newSuggestCmdAt(time.Now) }

func newSuggestCmdAt(now func() time.Time) *cobra.Command {
	o := suggestOptions{analysisSource: newAnalysisSource(now)}
	cmd := &cobra.Command{
		Use:   "suggest --out DIR | --dry-run",
		Short: "Self-checked least-privilege policy suggestions",
		Long:  suggestLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSuggest(cmd.Context(), cmd, &o)
		},
	}
	f := cmd.Flags()
	o.addFlags(f)
	f.StringVar(&o.out, "out", "", "folder to write the suggestions under, one folder per principal (required without --dry-run)")
	f.BoolVar(&o.dryRun, "dry-run", false, "compute and self-check the suggestions and print the summary; write nothing, keep nothing")
	f.StringVar(&o.grace, "grace", "14d", "keep unused permissions first granted less than this long ago (days or a Go duration; 0 keeps none)")
	f.StringArrayVar(&o.keep, "keep-action", nil, "never suggest removing actions matching this pattern (service:Action, * and ?; repeatable; the daemon's analysis.exclude_actions)")
	addFormatFlag(cmd, &o.format, "summary format on standard output")
	f.IntVar(&o.workers, "workers", 0, "principals handled at once (0: one per CPU)")
	f.BoolVar(&o.noHistory, "no-history", false, "do not keep this run in the store (and do not diff with the previous one)")
	cmd.AddCommand(newSuggestLatestCmd())
	return cmd
}

// parseGrace reads --grace: 0 keeps nothing for its age (-1 for the
// suggester), else days or a Go duration.
func parseGrace(s string) (time.Duration, error) {
	if s == "0" || s == "0d" {
		return -1, nil
	}
	d, _, err := usage.ParseLength(s)
	if err != nil {
		return 0, fmt.Errorf("--grace: %w", err)
	}
	return d, nil
}

func runSuggest(ctx context.Context, cmd *cobra.Command, o *suggestOptions) error {
	w := cmd.OutOrStdout()
	switch {
	case o.dryRun && o.out != "":
		return errors.New("--dry-run writes nothing: give --out DIR or --dry-run, not both")
	case !o.dryRun && o.out == "":
		return errors.New("--out DIR is required (or --dry-run to print the suggestions without writing them)")
	}
	if err := checkFormat(o.format, "table", "json"); err != nil {
		return err
	}
	grace, err := parseGrace(o.grace)
	if err != nil {
		return err
	}
	for _, p := range o.keep {
		if err := suggest.CheckActionPattern(p); err != nil {
			return fmt.Errorf("--keep-action: %w", err)
		}
	}
	if err := o.resolveStore(cmd.Flags()); err != nil {
		return err
	}
	run, p, err := o.openStore(ctx, false)
	if o.dryRun && errors.Is(err, store.ErrLocked) {
		q := o.query()
		q.Set("grace", o.grace)
		q["keep_action"] = o.keep
		return o.fromDaemon(ctx, cmd, err, "suggestions/dry-run", q, o.format, func(data []byte) error {
			return renderJSON(data, func(res *suggest.RunResult) error {
				return writeSuggestSummary(w, res, &analysis.SuggestOptions{}, dryRunWhere)
			})
		})
	}
	if err != nil {
		return err
	}
	defer run.db.Close()
	so := analysis.SuggestOptions{Grace: grace, KeepActions: o.keep, Out: o.out, History: !o.noHistory && !o.dryRun, Workers: o.workers, Now: o.now}
	sc, res, err := analysis.Suggest(ctx, run.db, run.cat, p, so)
	if err != nil {
		return err
	}
	if o.format == "json" {
		return writeJSON(w, res)
	}
	if sc.Models == nil {
		fmt.Fprintln(w, "no IAM model (no snapshot in the store, no --iam): generated policies come from the calls alone and were not compared with today's grants")
	}
	where := "under " + o.out
	if o.dryRun {
		where = dryRunWhere
	}
	return writeSuggestSummary(w, res, &so, where)
}

const dryRunWhere = "(dry run: nothing written, nothing kept)"

// writeSuggestSummary prints one line per principal. so is nil for a run
// read back (latest, or from the daemon); where says where the files are.
func writeSuggestSummary(w io.Writer, res *suggest.RunResult, so *analysis.SuggestOptions, where string) error {
	if where == "" && res.Out != "" {
		where = "under " + res.Out
	}
	fmt.Fprintf(w, "%d suggestions %s, %d failed their self-check (not written)\n", len(res.Summaries), where, res.Failed)
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
		if so != nil && !so.History {
			changes = "-"
		}
		fmt.Fprintf(tw, "%s\t%d docs\t%d\t%d\t%s\t%s\n", s.Principal, s.Documents, s.Removed, s.Kept, check, changes)
	}
	return tw.Flush()
}

// suggestLatestOptions are the flags of `iamd suggest latest`.
type suggestLatestOptions struct {
	store, principal, format string
	daemonConfig             string
}

func newSuggestLatestCmd() *cobra.Command {
	var o suggestLatestOptions
	cmd := &cobra.Command{
		Use:   "latest",
		Short: "The latest suggestion run kept in the store: each self-check and what changed since the run before",
		Long: `The latest suggestion run kept in the store (by iamd suggest --out, or by the
daemon's weekly job): per principal, the documents written, the actions
removed and kept, the self-check of both suggestions, and what changed
since the previous run. The daemon answers the same on /api/v1/suggestions.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSuggestLatest(cmd.Context(), cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.store, "store", defaultStoreDir(os.Getenv), "usage index directory (env "+storeEnv+")")
	f.StringVar(&o.principal, "principal", "", "only this principal: an ARN, or a user or role name when that is unique")
	addFormatFlag(cmd, &o.format, "output format")
	addDaemonFlag(f, &o.daemonConfig)
	return cmd
}

func runSuggestLatest(ctx context.Context, cmd *cobra.Command, o *suggestLatestOptions) error {
	w := cmd.OutOrStdout()
	if err := checkFormat(o.format); err != nil {
		return err
	}
	var err error
	if o.store, err = daemonStore(cmd.Flags(), o.store, o.daemonConfig); err != nil {
		return err
	}
	render := func(res *suggest.RunResult) error {
		if o.format == "json" {
			return writeJSON(w, res)
		}
		fmt.Fprintf(w, "run of %s, window %s … %s\n", res.Run.Format(time.RFC3339), res.Window.Start.Format(time.RFC3339), res.Window.End.Format(time.RFC3339))
		return writeSuggestSummary(w, res, nil, "")
	}
	db, err := openExistingStore(o.store)
	if errors.Is(err, store.ErrLocked) {
		q := url.Values{}
		q.Set("principal", o.principal)
		return fromDaemon(ctx, cmd, o.daemonConfig, o.store, err, "suggestions", q, o.format, func(data []byte) error {
			return renderJSON(data, render)
		})
	}
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := analysis.LatestSuggestions(ctx, db, o.principal)
	if err != nil {
		return err
	}
	return render(res)
}
