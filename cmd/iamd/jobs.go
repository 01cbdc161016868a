package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/cmd/iamd/internal/scheduler"
)

// newJobsCmd is `iamd jobs`: the daemon's scheduled jobs as the store
// keeps them (GET /api/v1/jobs while the daemon runs).
func newJobsCmd() *cobra.Command {
	var storeDir, format string
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Show the daemon's scheduled jobs: last outcome, duration and next run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			db, err := openExistingStore(storeDir)
			if err != nil {
				return err
			}
			defer db.Close()
			jobs, err := scheduler.ReadStatus(cmd.Context(), db)
			if err != nil {
				return err
			}
			if format == "json" {
				return listing.WriteJSON(cmd.OutOrStdout(), jobs)
			}
			return writeJobsTable(cmd.OutOrStdout(), jobs)
		},
	}
	cmd.Flags().StringVar(&storeDir, "store", defaultStoreDir(os.Getenv), "store directory (env "+storeEnv+")")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func writeJobsTable(w io.Writer, jobs []scheduler.Status) error {
	if len(jobs) == 0 {
		_, err := fmt.Fprintln(w, "no job has been scheduled in this store (iamd run schedules them)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSCHEDULE\tLAST OUTCOME\tLAST START\tDURATION\tNEXT RUN\tRUNS\tFAILURES\tSKIPPED")
	ts := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, j := range jobs {
		outcome := dash(j.LastOutcome)
		if j.Running {
			outcome = "running"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", j.Name, j.Schedule, outcome, ts(j.LastStart),
			time.Duration(j.LastDuration*float64(time.Second)).Round(time.Millisecond), ts(j.NextRun), j.Runs, j.Failures, j.Skipped)
	}
	return tw.Flush()
}
