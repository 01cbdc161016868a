package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/store"
)

// quarantineOptions are the flags of `iamd quarantine`.
type quarantineOptions struct {
	store  string
	format string
	limit  int
}

func newQuarantineCmd() *cobra.Command {
	var o quarantineOptions
	cmd := &cobra.Command{
		Use:   "quarantine",
		Short: "List the records ingest could not use: where they were and why",
		Long: `List the quarantined records of the usage index, most recent first: the
input and position (file, record index and byte offset; S3 object or Kafka
offset for streams), the reason and the error. The table never prints the
record's bytes; --format json adds them as "raw" (secrets redacted when
quarantined, at most 64 KiB, invalid UTF-8 replaced).`,
		Args: cobra.NoArgs,
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
			qs, err := db.Quarantine(cmd.Context(), o.limit)
			if err != nil {
				return err
			}
			counts, err := db.QuarantineCounts(cmd.Context())
			if err != nil {
				return err
			}
			var total uint64
			for _, n := range counts {
				total += n
			}
			if o.format == "json" {
				return writeQuarantineJSON(cmd.OutOrStdout(), qs)
			}
			return writeQuarantineTable(cmd.OutOrStdout(), qs, total)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.store, "store", defaultStoreDir(os.Getenv), "usage index directory (env "+storeEnv+")")
	addFormatFlag(cmd, &o.format, "output format")
	f.IntVar(&o.limit, "limit", 20, "print at most this many records, most recent first (0: all)")
	return cmd
}

// quarantineDetail is q's error text without the position it starts
// with when that repeats q.Where.
func quarantineDetail(q store.Quarantined) string {
	if d, ok := strings.CutPrefix(q.Detail, q.Where+": "); ok {
		return d
	}
	return q.Detail
}

// writeQuarantineJSON prints what GET /api/v1/quarantine answers.
func writeQuarantineJSON(w io.Writer, qs []store.Quarantined) error {
	return listing.WriteJSON(w, listing.QuarantineRecords(qs))
}

func writeQuarantineTable(w io.Writer, qs []store.Quarantined, total uint64) error {
	if uint64(len(qs)) < total {
		fmt.Fprintf(w, "%d quarantined records, the %d most recent:\n", total, len(qs))
	} else {
		fmt.Fprintf(w, "%d quarantined records:\n", total)
	}
	if len(qs) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUARANTINED\tREASON\tWHERE\tDETAIL")
	for _, q := range qs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", q.Time.UTC().Format(time.RFC3339), q.Reason, q.Where, quarantineDetail(q))
	}
	return tw.Flush()
}
