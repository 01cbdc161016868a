package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
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
	// daemonConfig finds the daemon's store and API (--config).
	daemonConfig string
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
			var err error
			if o.store, err = daemonStore(cmd.Flags(), o.store, o.daemonConfig); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			db, err := openExistingStore(o.store)
			if errors.Is(err, store.ErrLocked) {
				q := url.Values{"principal": {o.principal}}
				if o.limit > 0 {
					q.Set("limit", strconv.Itoa(o.limit))
				}
				return fromDaemon(cmd.Context(), cmd, o.daemonConfig, o.store, err, "usage", q, o.format, func(data []byte) error {
					return renderJSON(data, func(fs *[]listing.UsageFact) error {
						facts := make([]store.Fact, len(*fs))
						for i, f := range *fs {
							facts[i] = store.Fact(f)
						}
						return writeUsageTable(w, facts)
					})
				})
			}
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
				return writeUsageJSON(w, facts)
			}
			return writeUsageTable(w, facts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.store, "store", defaultStoreDir(os.Getenv), "usage index directory (env "+storeEnv+")")
	f.StringVar(&o.principal, "principal", "", "only this principal: ARN, or user or role name when unique")
	addFormatFlag(cmd, &o.format, "output format")
	f.IntVar(&o.limit, "limit", 0, "print at most this many facts, in the index's order (0: all)")
	addDaemonFlag(f, &o.daemonConfig)
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

// resolvePrincipal is analysis.StorePrincipal.
func resolvePrincipal(ctx context.Context, db *store.DB, s string) (string, error) {
	return analysis.StorePrincipal(ctx, db, s)
}
