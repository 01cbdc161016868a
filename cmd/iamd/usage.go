package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/store"
)

// usageOptions are the flags of `iamd usage`.
type usageOptions struct {
	store     string
	principal string
	format    string
	limit     int
}

func newUsageCmd() *cobra.Command {
	var o usageOptions
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "List principal × action × resource usage from the index",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(o.format); err != nil {
				return err
			}
			if o.limit < 0 {
				return fmt.Errorf("--limit %d: want 0 (all) or more", o.limit)
			}
			db, err := openExistingStore(o.store)
			if err != nil {
				return err
			}
			defer db.Close()
			q := store.FactQuery{}
			if o.principal != "" {
				if q.Principal, err = resolvePrincipal(cmd.Context(), db, o.principal); err != nil {
					return err
				}
			}
			facts, err := db.Facts(cmd.Context(), q)
			if err != nil {
				return err
			}
			if o.limit > 0 && len(facts) > o.limit {
				facts = facts[:o.limit]
			}
			if o.format == "json" {
				return writeUsageJSON(cmd.OutOrStdout(), facts)
			}
			return writeUsageTable(cmd.OutOrStdout(), facts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.store, "store", defaultStoreDir(os.Getenv), "usage index directory (env "+storeEnv+")")
	f.StringVar(&o.principal, "principal", "", "only this principal: ARN, or user or role name when unique")
	addFormatFlag(cmd, &o.format, "output format")
	f.IntVar(&o.limit, "limit", 0, "print at most this many facts, in the index's order (0: all)")
	cmd.AddCommand(newUsageCrossAccountCmd())
	cmd.AddCommand(newUsagePrincipalsCmd())
	return cmd
}

// writeUsageJSON prints what GET /api/v1/usage answers.
func writeUsageJSON(w io.Writer, facts []store.Fact) error {
	return listing.WriteJSON(w, listing.UsageFacts(facts))
}

func writeUsageTable(w io.Writer, facts []store.Fact) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tACTION\tRESOURCE\tALLOWED\tDENIED\tLAST SEEN")
	for _, f := range facts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", f.Principal, f.Action, f.Resource, f.Allowed, f.Denied, f.LastSeen.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// resolvePrincipal returns the principal ARN of the store that s names:
// the ARN itself, or a user or role name (the last part of the ARN, or
// kind/name) that only one principal has. Every --principal of a command
// that reads the store takes both, as granted does on a snapshot; a
// principal the store does not know is an error, not an empty answer.
func resolvePrincipal(ctx context.Context, db *store.DB, s string) (string, error) {
	all, err := db.Principals(ctx)
	if err != nil {
		return "", err
	}
	return analysis.PickPrincipal(all, s, fmt.Sprintf("no such principal in the store (%d principals have usage; iamd usage lists them)", len(all)))
}
