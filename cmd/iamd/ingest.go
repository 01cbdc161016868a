package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/cmd/iamd/internal/daemon"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/configs"
	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/store"
)

// storeEnv names the environment variable that sets the store directory.
const storeEnv = "IAMD_STORE"

// defaultStoreDir is $IAMD_STORE, else $XDG_DATA_HOME/iamd, else
// ~/.local/share/iamd.
func defaultStoreDir(getenv func(string) string) string { return configs.DefaultStoreDir(getenv) }

// ingestOptions are the flags of `iamd ingest`.
type ingestOptions struct {
	store     string
	format    string
	from      string
	workers   int
	batchSize int
	top       int
	keepRaw   time.Duration
}

func newIngestCmd() *cobra.Command {
	var o ingestOptions
	cmd := &cobra.Command{
		Use:   "ingest PATH...",
		Short: "Read CloudTrail files into the usage index",
		Long: `Read CloudTrail records from files, directories (recursively: *.json,
*.json.gz, *.jsonl, *.gz) or standard input ("-") into the usage index.
Log files as delivered to S3 (plain or gzipped), JSON arrays, JSON lines,
lookup-events output and EventBridge envelopes are recognised by content.
A file already read whole at the same size and time is skipped; records
already counted are not counted again. Unusable records are quarantined and
counted, never fatal: the summary names the first few (file, record index,
byte offset and why) and "iamd quarantine" lists what the store kept.

--keep-raw DURATION also stores each event's record as read (secrets
redacted, at most 64 KiB) for that long, e.g. 720h; off by default.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.keepRaw < 0 {
				return fmt.Errorf("--keep-raw %v: want 0 (off) or a positive duration", o.keepRaw)
			}
			if o.from != "" {
				return runIngestFrom(cmd, o)
			}
			if len(args) == 0 {
				return errors.New("ingest: no PATH given (use - for standard input)")
			}
			return runIngest(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.store, "store", defaultStoreDir(os.Getenv), "usage index directory (env "+storeEnv+")")
	f.StringVar(&o.format, "format", "table", "summary format: table or json")
	f.StringVar(&o.from, "from", "", "streaming source URL (s3://…, kafka://…); --from help prints the forms")
	f.IntVar(&o.workers, "workers", 0, "files decoded at once (default: number of CPUs)")
	f.IntVar(&o.batchSize, "batch", ingest.DefaultBatchSize, "most records per store write (a batch also ends at "+strconv.Itoa(ingest.DefaultBatchFacts)+" distinct facts)")
	f.IntVar(&o.top, "top", 10, "unmapped event names listed in the table")
	f.DurationVar(&o.keepRaw, "keep-raw", 0, "keep each event's raw record in the store for this long, e.g. 720h (0: off)")
	return cmd
}

// openIngest loads the catalog, builds the record converter and opens the
// store, creating it if missing: what every ingest source, file or
// stream, starts with. keepRaw > 0 keeps each event's raw record that
// long; the converter must copy the bytes and the store must keep them,
// one without the other keeps nothing.
func openIngest(storeDir string, keepRaw time.Duration) (*ingest.Converter, *store.DB, error) {
	cat, err := catalog.Load()
	if err != nil {
		return nil, nil, err
	}
	conv, err := ingest.NewConverter(ingest.ConverterOptions{Catalog: cat, KeepRaw: keepRaw > 0})
	if err != nil {
		return nil, nil, err
	}
	db, err := openStoreWith(store.Options{Dir: storeDir, RawRetention: keepRaw})
	if err != nil {
		return nil, nil, err
	}
	return conv, db, nil
}

// openStore opens the usage index in dir for a command that writes it,
// creating it if missing.
func openStore(dir string) (*store.DB, error) { return openStoreWith(store.Options{Dir: dir}) }

// openExistingStore opens the usage index in dir for a command that only
// reads it. A mistyped --store must fail: creating an empty index there
// would answer "nothing was used".
func openExistingStore(dir string) (*store.DB, error) {
	return openStoreWith(store.Options{Dir: dir, MustExist: true})
}

func openStoreWith(opts store.Options) (*store.DB, error) {
	dir := opts.Dir
	db, err := store.Open(opts)
	if errors.Is(err, store.ErrNoStore) {
		return nil, fmt.Errorf("store %s: %w (run iamd ingest first)", dir, store.ErrNoStore)
	}
	if daemon.IsStoreLocked(err) {
		return nil, storeHeldError(dir, err)
	}
	if errors.Is(err, store.ErrSchemaMismatch) {
		// The index is derived data: say how to rebuild it.
		return nil, fmt.Errorf("open store %s: %w; ingest the CloudTrail files again into a new --store directory", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return db, nil
}

func runIngest(cmd *cobra.Command, o ingestOptions, paths []string) error {
	if o.format != "table" && o.format != "json" {
		return fmt.Errorf("--format %q: want table or json", o.format)
	}
	conv, db, err := openIngest(o.store, o.keepRaw)
	if err != nil {
		return err
	}
	defer db.Close()

	opts := ingest.PipelineOptions{
		Converter:   conv,
		Writer:      db,
		Checkpoints: db,
		BatchSize:   o.batchSize,
		Workers:     o.workers,
		Stdin:       cmd.InOrStdin(),
	}
	var bar *progressbar.ProgressBar
	if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var total int64
		_ = ingest.WalkInputs(paths, func(in ingest.Input) error { total += in.Size; return nil })
		bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(f),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("ingest"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		opts.Progress = func(n int64) { _ = bar.Add64(n) }
	}
	p, err := ingest.NewPipeline(opts)
	if err != nil {
		return err
	}
	sum, runErr := p.Run(cmd.Context(), paths)
	if bar != nil {
		_ = bar.Finish()
	}
	out := cmd.OutOrStdout()
	if o.format == "json" {
		if err := writeIngestJSON(out, sum); err != nil {
			return err
		}
	} else if err := writeIngestTable(out, sum, o.top); err != nil {
		return err
	}
	return runErr
}

// ingestJSON is the --format json summary.
type ingestJSON struct {
	ingest.Summary
	Quarantined map[string]int64 `json:"quarantined"`
	Unmapped    map[string]int64 `json:"unmapped"`
	// QuarantineSample is the run's first quarantined records
	// (ingest.DefaultQuarantineSample at most): where and why.
	QuarantineSample []quarantineJSON `json:"quarantine_sample"`
}

// quarantineJSON is one quarantined record in JSON output. Raw is set only
// by iamd quarantine.
type quarantineJSON = listing.Quarantined

func writeIngestJSON(w io.Writer, sum ingest.Summary) error {
	j := ingestJSON{Summary: sum, Quarantined: sum.Quarantined, Unmapped: sum.Unmapped, QuarantineSample: []quarantineJSON{}}
	for _, q := range sum.Quarantine {
		j.QuarantineSample = append(j.QuarantineSample, quarantineJSON{Where: q.Where, Reason: q.Reason, Detail: q.Detail})
	}
	if j.Quarantined == nil {
		j.Quarantined = map[string]int64{}
	}
	if j.Unmapped == nil {
		j.Unmapped = map[string]int64{}
	}
	enc := json.NewEncoder(w)
	return enc.Encode(j)
}

func writeIngestTable(w io.Writer, sum ingest.Summary, top int) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	row := func(name string, v int64) { fmt.Fprintf(tw, "%s\t%d\t\n", name, v) }
	row("files read", sum.Files)
	row("files unchanged", sum.FilesUnchanged)
	row("digest files", sum.Digests)
	row("records", sum.Records)
	row("events", sum.Events)
	row("  new", sum.Written)
	row("  duplicates", sum.Duplicates)
	row("  denied", sum.Denied)
	row("  failed (authorized)", sum.Failed)
	row("  mapped", sum.Usage)
	row("  permissionless", sum.Permissionless)
	row("  unmapped", sum.UnmappedTotal())
	row("facts written", sum.Facts)
	row("  new facts", sum.NewFacts)
	row("service events", sum.ServiceEvents)
	row("non-principal", sum.NonPrincipal)
	row("quarantined", sum.QuarantinedTotal())
	for _, k := range sortedKeys(sum.Quarantined) {
		row("  "+k, sum.Quarantined[k])
	}
	row("principals", int64(sum.Principals))
	if err := tw.Flush(); err != nil {
		return err
	}
	if n := len(sum.Quarantine); n > 0 {
		head := "quarantined records"
		if total := sum.QuarantinedTotal(); total > int64(n) {
			head = fmt.Sprintf("first %d of %d quarantined records (iamd quarantine lists those stored)", n, total)
		}
		fmt.Fprintf(w, "\n%s:\n", head)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, q := range sum.Quarantine {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", q.Reason, q.Where, quarantineDetail(q))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(sum.Unmapped) == 0 {
		return nil
	}
	keys := sortedKeys(sum.Unmapped)
	sort.SliceStable(keys, func(i, j int) bool { return sum.Unmapped[keys[i]] > sum.Unmapped[keys[j]] })
	fmt.Fprintf(w, "\ntop unmapped (of %d names):\n", len(keys))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, k := range keys {
		if i == top {
			break
		}
		fmt.Fprintf(tw, "  %d\t%s\n", sum.Unmapped[k], k)
	}
	return tw.Flush()
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
