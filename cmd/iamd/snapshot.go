package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/store"
)

const snapshotLong = `Keep IAM model snapshots in the store and compare them.

  save  stores the model of --iam FILE or --live under its account id and
        the time it was taken (a file without a Taken time is stamped now)
  list  lists the stored snapshots of an account
  diff  prints what changed between two snapshots: two stored ones given
        by their times (as list prints them), two files (--old-file,
        --new-file), or by default the latest two stored

The store lists snapshots per account: list and diff need --account when
the store holds snapshots of more than one account.`

func newSnapshotCmd() *cobra.Command { return newSnapshotCmdAt(time.Now) }

// newSnapshotCmdAt builds the command with the given clock (tests inject one).
func newSnapshotCmdAt(now func() time.Time) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Save, list and diff IAM model snapshots",
		Long:  snapshotLong,
		Args:  cobra.NoArgs,
	}
	var storeDir string
	cmd.PersistentFlags().StringVar(&storeDir, "store", defaultStoreDir(os.Getenv), "store directory (env "+storeEnv+")")

	src := modelSource{now: now}
	save := &cobra.Command{
		Use:   "save (--iam FILE | --live ...)",
		Short: "Store the IAM model of a file or the live account",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSnapshotSave(cmd.Context(), cmd.OutOrStdout(), storeDir, &src, now)
		},
	}
	src.addFlags(save.Flags())

	var listAccount, listFormat string
	list := &cobra.Command{
		Use:   "list [--account ID]",
		Short: "List the stored snapshots of an account",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSnapshotList(cmd.Context(), cmd.OutOrStdout(), storeDir, listAccount, listFormat)
		},
	}
	list.Flags().StringVar(&listAccount, "account", "", "12-digit account id (default: the one account the store holds)")
	addFormatFlag(list, &listFormat, "output format")

	var d diffOptions
	diff := &cobra.Command{
		Use:   "diff [--account ID] [OLD NEW]",
		Short: "Print what changed between two snapshots",
		Args:  cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			d.store = storeDir
			return runSnapshotDiff(cmd.Context(), cmd.OutOrStdout(), &d, args)
		},
	}
	diff.Flags().StringVar(&d.account, "account", "", "12-digit account id (default: the one account the store holds)")
	diff.Flags().StringVar(&d.oldFile, "old-file", "", "older snapshot file (with --new-file; no store needed)")
	diff.Flags().StringVar(&d.newFile, "new-file", "", "newer snapshot file (with --old-file)")
	addFormatFlag(diff, &d.format, "output format")

	cmd.AddCommand(save, list, diff)
	return cmd
}

func runSnapshotSave(ctx context.Context, w io.Writer, dir string, src *modelSource, now func() time.Time) error {
	d, err := src.details(ctx)
	if err != nil {
		return err
	}
	// The snapshot JSON keeps whole seconds; the key in the store is the
	// same time so that the time list prints finds the snapshot again.
	if d.Taken == nil || d.Taken.IsZero() {
		d.Taken = iam.NewTime(now())
	}
	d.Taken = iam.NewTime(d.Taken.Truncate(time.Second))
	// Build the model once so a snapshot that does not load is not stored.
	if _, err := iam.FromDetails(d, iam.LoadOptions{}); err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	account, taken, data, err := d.Encode()
	if err != nil {
		return err
	}
	if account == "" {
		return errors.New("snapshot save: no account id: the snapshot has no AccountID and no ARN names an account")
	}
	db, err := openStore(dir)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.PutSnapshot(ctx, store.Snapshot{AccountID: account, Taken: taken, Data: data}); err != nil {
		return err
	}
	fmt.Fprintf(w, "saved snapshot of account %s taken %s (%d bytes)\n", account, taken.UTC().Format(time.RFC3339), len(data))
	return db.Close()
}

func runSnapshotList(ctx context.Context, w io.Writer, dir, account, format string) error {
	if err := checkFormat(format); err != nil {
		return err
	}
	db, err := openExistingStore(dir)
	if err != nil {
		return err
	}
	defer db.Close()
	if account, err = snapshotAccount(ctx, db, dir, account); err != nil {
		return err
	}
	infos, err := db.Snapshots(ctx, account)
	if err != nil {
		return err
	}
	if format == "json" {
		return listing.WriteJSON(w, listing.SnapshotList(account, infos))
	}
	fmt.Fprintf(w, "account %s: %d snapshots\n", account, len(infos))
	if len(infos) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TAKEN\tSTORED BYTES")
	for _, s := range infos {
		fmt.Fprintf(tw, "%s\t%d\n", formatTaken(s.Taken), s.Stored)
	}
	return tw.Flush()
}

// snapshotAccount returns account, or when it is empty the one account
// the store holds snapshots of.
func snapshotAccount(ctx context.Context, db *store.DB, dir, account string) (string, error) {
	if account != "" {
		return account, nil
	}
	accts, err := db.SnapshotAccounts(ctx)
	if err != nil {
		return "", err
	}
	switch len(accts) {
	case 0:
		return "", fmt.Errorf("store %s holds no snapshots (iamd snapshot save stores one)", dir)
	case 1:
		return accts[0], nil
	}
	return "", fmt.Errorf("--account is required: store %s holds snapshots of %d accounts (%s)", dir, len(accts), strings.Join(accts, ", "))
}

// formatTaken prints a stored time so parseTaken reads back the same key
// (RFC 3339, with fractional seconds only when there are any).
func formatTaken(t time.Time) string { return listing.FormatTaken(t) }

func parseTaken(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("snapshot time %q: want RFC 3339 as snapshot list prints it, e.g. 2026-11-23T10:00:00Z", s)
	}
	return t, nil
}

type diffOptions struct {
	store            string
	account          string
	oldFile, newFile string
	format           string
}

// side is one end of a diff: the model and where it came from.
type side struct {
	acct  *iam.Account
	label string
}

func runSnapshotDiff(ctx context.Context, w io.Writer, o *diffOptions, args []string) error {
	if err := checkFormat(o.format); err != nil {
		return err
	}
	var old, cur side
	switch {
	case o.oldFile != "" || o.newFile != "":
		if o.oldFile == "" || o.newFile == "" {
			return errors.New("--old-file and --new-file go together")
		}
		if len(args) > 0 {
			return errors.New("give either --old-file/--new-file or two stored times, not both")
		}
		var err error
		if old.acct, err = iam.LoadFile(o.oldFile, iam.LoadOptions{}); err != nil {
			return err
		}
		if cur.acct, err = iam.LoadFile(o.newFile, iam.LoadOptions{}); err != nil {
			return err
		}
		old.label, cur.label = o.oldFile, o.newFile
	default:
		if len(args) == 1 {
			return errors.New("give two snapshot times (OLD NEW) or none for the latest two")
		}
		var err error
		if old, cur, err = storedPair(ctx, o.store, o.account, args); err != nil {
			return err
		}
	}
	changes := iam.Diff(old.acct, cur.acct)
	if o.format == "json" {
		out := struct {
			Old     string       `json:"old"`
			New     string       `json:"new"`
			Changes []iam.Change `json:"changes"`
		}{Old: old.label, New: cur.label, Changes: changes}
		if out.Changes == nil {
			out.Changes = []iam.Change{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(w, "%d changes from %s to %s\n", len(changes), old.label, cur.label)
	if len(changes) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nKIND\tPRINCIPAL\tPOLICY\tFROM\tTO")
	for _, c := range changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Kind, dash(c.Principal), dash(c.Policy), dash(c.From), dash(c.To))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// storedPair loads the two stored snapshots named by args, or the latest
// two of the account when args is empty.
func storedPair(ctx context.Context, dir, account string, args []string) (side, side, error) {
	db, err := openExistingStore(dir)
	if err != nil {
		return side{}, side{}, err
	}
	defer db.Close()
	if account, err = snapshotAccount(ctx, db, dir, account); err != nil {
		return side{}, side{}, err
	}
	var times [2]time.Time
	if len(args) == 2 {
		for i, a := range args {
			if times[i], err = parseTaken(a); err != nil {
				return side{}, side{}, err
			}
		}
	} else {
		infos, err := db.Snapshots(ctx, account)
		if err != nil {
			return side{}, side{}, err
		}
		if len(infos) < 2 {
			return side{}, side{}, fmt.Errorf("account %s has %d stored snapshots in %s, diff needs two", account, len(infos), dir)
		}
		times[0], times[1] = infos[len(infos)-2].Taken, infos[len(infos)-1].Taken
	}
	var out [2]side
	for i, t := range times {
		s, err := db.Snapshot(ctx, account, t)
		if err != nil {
			return side{}, side{}, err
		}
		a, err := iam.Parse(s.Data, iam.LoadOptions{})
		if err != nil {
			return side{}, side{}, fmt.Errorf("stored snapshot %s at %s: %w", account, formatTaken(t), err)
		}
		out[i] = side{acct: a, label: formatTaken(t)}
	}
	return out[0], out[1], nil
}
