package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/store"
)

// newUsageCrossAccountCmd is `iamd usage cross-account`: the principals
// whose calls landed in accounts other than their own, which the facts
// alone do not show when the resource is "*".
func newUsageCrossAccountCmd() *cobra.Command {
	var o usageOptions
	cmd := &cobra.Command{
		Use:   "cross-account",
		Short: "List principals that called into other accounts, with those accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(o.format); err != nil {
				return err
			}
			db, err := openExistingStore(o.store)
			if err != nil {
				return err
			}
			defer db.Close()
			var all []store.CrossAccount
			if o.principal != "" {
				p, err := resolvePrincipal(cmd.Context(), db, o.principal)
				if err != nil {
					return err
				}
				c, found, err := db.CrossAccount(cmd.Context(), p)
				if err != nil {
					return err
				}
				if found {
					all = append(all, c)
				}
			} else if err := db.EachCrossAccount(cmd.Context(), func(c store.CrossAccount) error {
				all = append(all, c)
				return nil
			}); err != nil {
				return err
			}
			if o.format == "json" {
				return writeCrossAccountJSON(cmd.OutOrStdout(), all)
			}
			return writeCrossAccountTable(cmd.OutOrStdout(), all)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.store, "store", defaultStoreDir(os.Getenv), "usage index directory (env "+storeEnv+")")
	f.StringVar(&o.principal, "principal", "", "only this principal: ARN, or user or role name when unique")
	addFormatFlag(cmd, &o.format, "output format")
	return cmd
}

// usageCrossAccount is one principal of `iamd usage cross-account
// --format json`.
type usageCrossAccount struct {
	Principal  string             `json:"principal"`
	AccountID  string             `json:"account_id"`
	Recipients []usageAccountSeen `json:"recipients"`
}

type usageAccountSeen struct {
	AccountID string    `json:"account_id"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Calls     uint64    `json:"calls"`
}

func writeCrossAccountJSON(w io.Writer, all []store.CrossAccount) error {
	out := make([]usageCrossAccount, 0, len(all))
	for _, c := range all {
		u := usageCrossAccount{Principal: c.Principal, AccountID: c.AccountID, Recipients: make([]usageAccountSeen, 0, len(c.Recipients))}
		for _, r := range c.Recipients {
			u.Recipients = append(u.Recipients, usageAccountSeen(r))
		}
		out = append(out, u)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeCrossAccountTable(w io.Writer, all []store.CrossAccount) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tACCOUNT\tRECIPIENT\tCALLS\tFIRST SEEN\tLAST SEEN")
	for _, c := range all {
		for _, r := range c.Recipients {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", c.Principal, c.AccountID, r.AccountID, r.Calls,
				r.FirstSeen.UTC().Format(time.RFC3339), r.LastSeen.UTC().Format(time.RFC3339))
		}
	}
	return tw.Flush()
}
