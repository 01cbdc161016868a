package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/iamd/iamd/analyzer/catalog"
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
	strict    bool
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
redacted, at most 64 KiB) for that long, e.g. 30d; off by default.

A path that does not exist fails the command before anything is written.
A directory without CloudTrail files, or input without a CloudTrail
record, is reported with a warning; with --strict the command exits with
status 4 instead (for scripts that must not mistake an empty run for a
clean one), before reading anything when a directory is empty. A file the decoder had to mend (records without separating commas,
damage it read past) is listed as repaired, even when every record was
recovered.

The table and the JSON summary name the same numbers alike (the table
writes the JSON key with spaces): records read; events (of principals),
of which written (new to the store), duplicates, denied, failed (authorized
calls that failed otherwise), usage (mapped to catalog actions),
permissionless and unmapped; new_facts (principal × action × resource
facts the store did not hold); service_events; non_principal; quarantined
per reason; repaired_files with the repairs made.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.keepRaw < 0 {
				return fmt.Errorf("--keep-raw %s: want 0 (off) or a positive duration like 30d", formatDuration(o.keepRaw))
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
	addFormatFlag(cmd, &o.format, "summary format")
	f.StringVar(&o.from, "from", "", "streaming source URL (s3://…, kafka://…); --from help prints the forms")
	f.IntVar(&o.workers, "workers", 0, "files decoded at once (default: number of CPUs)")
	f.IntVar(&o.batchSize, "batch", ingest.DefaultBatchSize, "most records per store write (a batch also ends at "+strconv.Itoa(ingest.DefaultBatchFacts)+" distinct facts)")
	f.IntVar(&o.top, "top", 10, "unmapped event names listed in the table")
	f.BoolVar(&o.strict, "strict", false, "exit with status 4 when a directory holds no CloudTrail file or no record can be read")
	durationFlag(f, &o.keepRaw, "keep-raw", 0, "keep each event's raw record in the store for this long, e.g. 30d or 720h (0: off)")
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
	if opts.OnMigration == nil {
		opts.OnMigration = migrationProgress(os.Stderr)
	}
	db, err := store.Open(opts)
	if errors.Is(err, store.ErrNoStore) {
		return nil, fmt.Errorf("store %s: %w (run iamd ingest first)", dir, store.ErrNoStore)
	}
	if errors.Is(err, store.ErrLocked) {
		// Badger's text (its lock, its pid file) only after what to do.
		return nil, storeHeldError(dir, err)
	}
	if errors.Is(err, store.ErrNotStore) {
		return nil, fmt.Errorf("--store %s is not an iamd store and not empty: give a new or empty directory, or the one iamd ingest created (%w)", dir, err)
	}
	if errors.Is(err, store.ErrSchemaMismatch) {
		// It names the store, its version and the build that reads it.
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return db, nil
}

// checkInputs fails on a path that does not exist, before the store is
// created or a summary printed, and returns a warning for each
// directory that holds no CloudTrail file.
func checkInputs(paths []string) (warnings []string, err error) {
	var errs []error
	for _, p := range paths {
		if p == ingest.Stdin {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("ingest %s: %w", p, unwrapPathError(err)))
			continue
		}
		if !fi.IsDir() {
			continue
		}
		ok, err := ingest.HasDataFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("ingest %s: %w", p, err))
			continue
		}
		if !ok {
			warnings = append(warnings, fmt.Sprintf("%s holds no CloudTrail files (*.json, *.json.gz, *.jsonl, *.ndjson, *.gz, at any depth)", p))
		}
	}
	return warnings, errors.Join(errs...)
}

// unwrapPathError drops the path an *fs.PathError repeats.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func runIngest(cmd *cobra.Command, o ingestOptions, paths []string) error {
	if err := checkFormat(o.format); err != nil {
		return err
	}
	warnings, err := checkInputs(paths)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	if o.strict && len(warnings) > 0 {
		// A script asked for all of its paths to be read: nothing is.
		return exitError{code: exitNoInput, msg: strings.Join(warnings, "; ")}
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "iamd: warning:", w)
	}
	if len(warnings) == len(paths) {
		// Nothing to read: no store is created, no table of zeros.
		return nil
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
	if runErr != nil {
		return runErr
	}
	if q := sum.QuarantinedTotal(); sum.Records == q && sum.Digests == 0 && sum.FilesUnchanged == 0 {
		msg := "no CloudTrail record could be read from the input"
		if q > 0 {
			msg += fmt.Sprintf(" (%d quarantined: iamd quarantine says why)", q)
		}
		if o.strict {
			return exitError{code: exitNoInput, msg: msg}
		}
		fmt.Fprintln(stderr, "iamd: warning:", msg)
	}
	return nil
}

// ingestJSON is the --format json summary. Its keys are the labels of
// the table (writeIngestTable), with underscores for spaces.
type ingestJSON struct {
	ingest.Summary
	Quarantined map[string]int64 `json:"quarantined"`
	Unmapped    map[string]int64 `json:"unmapped"`
	Repairs     map[string]int64 `json:"repairs"`
	// QuarantineSample is the run's first quarantined records
	// (ingest.DefaultQuarantineSample at most): where and why.
	QuarantineSample []quarantineJSON `json:"quarantine_sample"`
	// RepairedSample is the run's first repaired files, with their
	// repairs.
	RepairedSample []ingest.RepairedFile `json:"repaired_sample"`
}

// quarantineJSON is one quarantined record in JSON output. Raw is set only
// by iamd quarantine.
type quarantineJSON = listing.Quarantined

func writeIngestJSON(w io.Writer, sum ingest.Summary) error {
	j := ingestJSON{Summary: sum, Quarantined: sum.Quarantined, Unmapped: sum.Unmapped, Repairs: sum.Repairs,
		QuarantineSample: []quarantineJSON{}, RepairedSample: sum.Repaired}
	for _, q := range sum.Quarantine {
		j.QuarantineSample = append(j.QuarantineSample, quarantineJSON{Where: q.Where, Reason: q.Reason, Detail: q.Detail})
	}
	for _, m := range []*map[string]int64{&j.Quarantined, &j.Unmapped, &j.Repairs} {
		if *m == nil {
			*m = map[string]int64{}
		}
	}
	if j.RepairedSample == nil {
		j.RepairedSample = []ingest.RepairedFile{}
	}
	enc := json.NewEncoder(w)
	return enc.Encode(j)
}

// ingestRow is one row of the ingest table: a key of the JSON summary,
// its value, and whether it is part of the row above it.
type ingestRow struct {
	key   string
	n     int64
	inner bool
}

// ingestRows lists the table's rows in order. Maps (quarantined,
// repairs) print their total, then one inner row per key.
func ingestRows(sum ingest.Summary) []ingestRow {
	rows := []ingestRow{
		{"files", sum.Files, false},
		{"files_unchanged", sum.FilesUnchanged, false},
		{"digests", sum.Digests, false},
		{"records", sum.Records, false},
		{"events", sum.Events, false},
		{"written", sum.Written, true},
		{"duplicates", sum.Duplicates, true},
		{"denied", sum.Denied, true},
		{"failed", sum.Failed, true},
		{"usage", sum.Usage, true},
		{"permissionless", sum.Permissionless, true},
		{"unmapped", sum.UnmappedTotal(), true},
		{"new_facts", sum.NewFacts, false},
		{"service_events", sum.ServiceEvents, false},
		{"non_principal", sum.NonPrincipal, false},
		{"quarantined", sum.QuarantinedTotal(), false},
	}
	for _, k := range sortedKeys(sum.Quarantined) {
		rows = append(rows, ingestRow{k, sum.Quarantined[k], true})
	}
	rows = append(rows, ingestRow{"repaired_files", sum.RepairedFiles, false})
	for _, k := range sortedKeys(sum.Repairs) {
		rows = append(rows, ingestRow{k, sum.Repairs[k], true})
	}
	return append(rows, ingestRow{"principals", int64(sum.Principals), false})
}

func writeIngestTable(w io.Writer, sum ingest.Summary, top int) error {
	// Labels left, indented under their total; numbers right.
	rows := ingestRows(sum)
	labels := make([]string, len(rows))
	lw, nw := 0, 0
	for i, r := range rows {
		labels[i] = strings.ReplaceAll(r.key, "_", " ")
		if r.inner {
			labels[i] = "  " + labels[i]
		}
		lw = max(lw, len(labels[i]))
		nw = max(nw, len(strconv.FormatInt(r.n, 10)))
	}
	for i, r := range rows {
		fmt.Fprintf(w, "%-*s  %*d\n", lw, labels[i], nw, r.n)
	}
	var tw *tabwriter.Writer
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
	if n := len(sum.Repaired); n > 0 {
		head := "repaired files (read, but not as CloudTrail wrote them)"
		if sum.RepairedFiles > int64(n) {
			head = fmt.Sprintf("first %d of %d repaired files (read, but not as CloudTrail wrote them)", n, sum.RepairedFiles)
		}
		fmt.Fprintf(w, "\n%s:\n", head)
		for _, r := range sum.Repaired {
			var what []string
			for _, k := range sortedKeys(r.Repairs) {
				what = append(what, fmt.Sprintf("%s %d", k, r.Repairs[k]))
			}
			fmt.Fprintf(w, "  %s: %s\n", r.Path, strings.Join(what, ", "))
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
