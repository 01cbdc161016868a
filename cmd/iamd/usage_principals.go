package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/store"
)

// newUsagePrincipalsCmd is `iamd usage principals`: one line per
// principal with what its facts add up to.
func newUsagePrincipalsCmd() *cobra.Command {
	var o usageOptions
	cmd := &cobra.Command{
		Use:   "principals",
		Short: "List principals with their distinct actions, facts and call counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.format != "table" && o.format != "json" {
				return fmt.Errorf("--format %q: want table or json", o.format)
			}
			var err error
			if o.store, err = daemonStore(cmd.Flags(), o.store, o.daemonConfig); err != nil {
				return err
			}
			db, err := openExistingStore(o.store)
			if errors.Is(err, store.ErrLocked) {
				return fromDaemon(cmd.Context(), cmd, o.daemonConfig, o.store, err, "principals", url.Values{"principal": {o.principal}}, o.format, func(data []byte) error {
					return renderJSON(data, func(ps *[]listing.Principal) error { return writePrincipalsTable(cmd.OutOrStdout(), *ps) })
				})
			}
			if err != nil {
				return err
			}
			defer db.Close()
			ps, err := listing.Principals(cmd.Context(), db, o.principal)
			if err != nil {
				return err
			}
			if len(ps) > 0 {
				cat, err := catalog.Load()
				if err != nil {
					return err
				}
				// As the daemon's /api/v1/principals: used / granted over
				// the default window when the store holds a model.
				u, err := analysis.UtilisationOf(db, cat, "", time.Now)(cmd.Context(), o.principal)
				if err != nil {
					return err
				}
				listing.AddUtilisation(ps, u)
			}
			if o.format == "json" {
				return listing.WriteJSON(cmd.OutOrStdout(), ps)
			}
			return writePrincipalsTable(cmd.OutOrStdout(), ps)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.store, "store", defaultStoreDir(os.Getenv), "usage index directory (env "+storeEnv+")")
	f.StringVar(&o.principal, "principal", "", "only this principal ARN")
	addFormatFlag(cmd, &o.format, "output format")
	addDaemonFlag(f, &o.daemonConfig)
	return cmd
}

func writePrincipalsTable(w io.Writer, ps []listing.Principal) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tACTIONS\tFACTS\tALLOWED\tDENIED\tLAST SEEN\tUSED/GRANTED")
	for _, p := range ps {
		util := "-"
		if u := p.Utilisation; u != nil {
			util = fmt.Sprintf("%d/%d (%.0f%%)", u.Used, u.Granted, 100*u.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\n", p.Principal, p.Actions, p.Facts, p.Allowed, p.Denied, p.LastSeen.Format(time.RFC3339), util)
	}
	return tw.Flush()
}
