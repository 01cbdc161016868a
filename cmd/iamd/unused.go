package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/analyzer/unused"
	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
	"github.com/iamd/iamd/store"
)

// unusedOptions are the flags of `iamd unused`.
type unusedOptions struct {
	analysisSource
	format  string
	exclude []string
	workers int
}

const unusedLong = `Unused access over the tracking window, like IAM Access Analyzer's unused
access findings: roles with no call and no AssumeRole into them, users
with no call, access key use or console sign-in, active access keys not
used (per-key last use from the usage index, or the model's last-used date
where that is newer), console passwords not used, and the services and
actions each active principal holds but never used. An entity created
inside the window is reported as too new to judge, not as unused.

The model and window flags are report's. --exclude (repeatable) leaves
principals out: an ARN glob (arn:aws:iam::*:role/breakglass-*), a path
prefix (path:/service/) or a tag (tag:owner or tag:owner=platform).`

func newUnusedCmd() *cobra.Command { return newUnusedCmdAt(time.Now) }

func newUnusedCmdAt(now func() time.Time) *cobra.Command {
	o := unusedOptions{analysisSource: newAnalysisSource(now)}
	cmd := &cobra.Command{
		Use:   "unused",
		Short: "Unused roles, users, access keys, passwords and permissions",
		Long:  unusedLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUnused(cmd.Context(), cmd, &o)
		},
	}
	f := cmd.Flags()
	o.addFlags(f)
	addFormatFlag(cmd, &o.format, "output format", formatTable, formatJSON, formatMarkdown)
	f.StringArrayVar(&o.exclude, "exclude", nil, "leave out principals: ARN glob, path:/PREFIX/ or tag:KEY[=VALUE] (repeatable)")
	f.IntVar(&o.workers, "workers", 0, "principals analysed at once (0: one per CPU)")
	return cmd
}

func runUnused(ctx context.Context, cmd *cobra.Command, o *unusedOptions) error {
	if err := checkFormat(o.format, "table", "json", "md"); err != nil {
		return err
	}
	var opts unused.Options
	for _, e := range o.exclude {
		x, err := unused.ParseExclusion(e)
		if err != nil {
			return fmt.Errorf("--exclude: %w", err)
		}
		opts.Exclude = append(opts.Exclude, x)
	}
	if err := o.resolveStore(cmd.Flags()); err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	print := func(res *unused.Result) error {
		switch o.format {
		case "json":
			return unused.WriteJSON(w, res)
		case "md":
			return unused.WriteMarkdown(w, res)
		}
		return unused.WriteTable(w, res)
	}
	run, p, err := o.openStore(ctx, true)
	if errors.Is(err, store.ErrLocked) {
		q := o.query()
		q["exclude"] = o.exclude
		return o.fromDaemon(ctx, cmd, err, "unused", q, o.format, func(data []byte) error { return renderJSON(data, print) })
	}
	if err != nil {
		return err
	}
	defer run.db.Close()
	p.Workers = o.workers
	res, err := analysis.Unused(ctx, run.db, run.cat, p, opts)
	if err != nil {
		return err
	}
	return print(res)
}
