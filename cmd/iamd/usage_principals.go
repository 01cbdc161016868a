package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/cmd/iamd/internal/listing"
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
			db, err := openExistingStore(o.store)
			if err != nil {
				return err
			}
			defer db.Close()
			ps, err := listing.Principals(cmd.Context(), db, o.principal)
			if err != nil {
				return err
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
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	return cmd
}

func writePrincipalsTable(w io.Writer, ps []listing.Principal) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tACTIONS\tFACTS\tALLOWED\tDENIED\tLAST SEEN")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", p.Principal, p.Actions, p.Facts, p.Allowed, p.Denied, p.LastSeen.Format(time.RFC3339))
	}
	return tw.Flush()
}
