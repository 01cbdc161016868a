package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/iamd/iamd/store"
)

const storeLong = `Look after the usage index itself.

  info          what the store holds: schema version and the build that wrote it,
                migrations pending, record counts, size (reads, never changes it)
  migrate       bring a store written by an older iamd to this build's schema
                version; --dry-run says what would change and writes nothing.
                Every command migrates a store when it opens it; this one does
                only that, and stops cleanly on Ctrl-C (the next open resumes)
  backup FILE   write the whole store to FILE (- for standard output) as it is,
                without migrating it
  restore FILE  load a backup (- for standard input) into --store, which must be
                empty or missing; --force replaces a store there

Back up before upgrading iamd: restoring that backup and going back to the old
build undoes the upgrade. Stop any iamd that has the store open first: these
commands refuse a store in use.`

func newStoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Inspect, migrate, back up and restore the usage index",
		Long:  storeLong,
		Args:  cobra.NoArgs,
	}
	var dir string
	cmd.PersistentFlags().StringVar(&dir, "store", defaultStoreDir(os.Getenv), "usage index directory (env "+storeEnv+")")

	var infoFormat string
	info := &cobra.Command{
		Use:   "info",
		Short: "Show the store's schema version, pending migrations, counts and size",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := inspectStore(cmd, dir)
			if err != nil {
				return err
			}
			if infoFormat == "json" {
				return writeJSON(cmd.OutOrStdout(), newStoreInfoJSON(in))
			}
			return writeStoreInfo(cmd.OutOrStdout(), in)
		},
	}
	addFormatFlag(info, &infoFormat, "output format")

	var dryRun bool
	var migrateFormat string
	migrate := &cobra.Command{
		Use:   "migrate [--dry-run]",
		Short: "Migrate a store written by an older iamd to this build's schema version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStoreMigrate(cmd, dir, dryRun, migrateFormat)
		},
	}
	migrate.Flags().BoolVar(&dryRun, "dry-run", false, "say what would change (versions, records per step) without writing")
	addFormatFlag(migrate, &migrateFormat, "output format")

	var backupForce bool
	backup := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a backup of the store to FILE (- for standard output)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStoreBackup(cmd, dir, args[0], backupForce)
		},
	}
	backup.Flags().BoolVar(&backupForce, "force", false, "overwrite FILE if it exists")

	var restoreForce bool
	restore := &cobra.Command{
		Use:   "restore FILE",
		Short: "Load a backup from FILE (- for standard input) into an empty --store",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStoreRestore(cmd, dir, args[0], restoreForce)
		},
	}
	restore.Flags().BoolVar(&restoreForce, "force", false, "replace the store already in --store")

	cmd.AddCommand(info, migrate, backup, restore)
	return cmd
}

// inspectStore reads what the store in dir is without changing it.
func inspectStore(cmd *cobra.Command, dir string) (store.Info, error) {
	in, err := store.Inspect(cmd.Context(), dir)
	if errors.Is(err, store.ErrNoStore) {
		return in, fmt.Errorf("store %s: %w", dir, store.ErrNoStore)
	}
	return in, err
}

// newerError is the refusal of a store newer than this build reads.
func newerError(in store.Info) error {
	return &store.SchemaError{Dir: in.Dir, Have: in.Version, Want: in.Current, Build: in.Build}
}

func runStoreMigrate(cmd *cobra.Command, dir string, dryRun bool, format string) error {
	in, err := inspectStore(cmd, dir)
	if err != nil {
		return err
	}
	if in.Version == 0 || in.Version > in.Current {
		return newerError(in)
	}
	out := cmd.OutOrStdout()
	if dryRun {
		if format == "json" {
			return writeJSON(out, newStoreInfoJSON(in))
		}
		if len(in.Steps) == 0 {
			fmt.Fprintf(out, "store %s: schema version %d, nothing to migrate\n", dir, in.Version)
			return nil
		}
		fmt.Fprintf(out, "store %s: schema version %d, this build migrates it to %d (dry run: nothing written)\n", dir, in.Version, in.Current)
		return writeSteps(out, in.Steps)
	}
	started := time.Now()
	var done []store.MigrationProgress
	show := func(store.MigrationProgress) {}
	if _, tty := terminal(cmd.ErrOrStderr()); tty {
		// Without a terminal the summary below says it all.
		show = migrationProgress(cmd.ErrOrStderr())
	}
	err = store.Migrate(cmd.Context(), store.Options{Dir: dir, OnMigration: func(p store.MigrationProgress) {
		show(p)
		if p.Finished {
			done = append(done, p)
		}
	}})
	if err != nil {
		return err
	}
	if format == "json" {
		after, err := inspectStore(cmd, dir)
		if err != nil {
			return err
		}
		j := newStoreInfoJSON(after)
		j.Migrated = migrationsJSON(in.Steps)
		return writeJSON(out, j)
	}
	if len(done) == 0 {
		fmt.Fprintf(out, "store %s: schema version %d, nothing to migrate\n", dir, in.Version)
		return nil
	}
	fmt.Fprintf(out, "store %s: migrated from schema version %d to %d in %s\n", dir, in.Version, in.Current, time.Since(started).Round(time.Millisecond))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, p := range done {
		fmt.Fprintf(tw, "  %d → %d\t%s\t%d records\n", p.From, p.To, p.About, p.Done)
	}
	return tw.Flush()
}

func writeSteps(w io.Writer, steps []store.MigrationStep) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range steps {
		note := ""
		if s.Interrupted {
			note = fmt.Sprintf(" (interrupted after %d; resumes)", s.Done)
		}
		fmt.Fprintf(tw, "  %d → %d\t%s\t%d records%s\n", s.From, s.To, s.About, s.Left, note)
	}
	return tw.Flush()
}

func writeStoreInfo(w io.Writer, in store.Info) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "store\t%s\n", in.Dir)
	build := "written by " + in.Build
	if in.Build == "" {
		build = "by a build that did not record itself"
	}
	fmt.Fprintf(tw, "schema version\t%d (this build reads %d), %s\n", in.Version, in.Current, build)
	switch {
	case in.Version == 0 || in.Version > in.Current:
		fmt.Fprintf(tw, "migrations\t%v\n", newerError(in))
	case len(in.Steps) == 0:
		fmt.Fprintf(tw, "migrations\tnone pending\n")
	default:
		fmt.Fprintf(tw, "migrations\t%d pending (iamd store migrate --dry-run lists them)\n", len(in.Steps))
	}
	if !in.LegacyDedupUntil.IsZero() {
		fmt.Fprintf(tw, "legacy dedup\tschema 1 entries count until %s, for events before %s\n",
			in.LegacyDedupUntil.Format(time.RFC3339), in.LegacyDedupBefore.Format(time.RFC3339))
	}
	s := in.Stats
	fmt.Fprintf(tw, "records\tfacts %d, action totals %d, day counts %d, principals %d, access keys %d, sessions %d, cross-account %d, console sign-ins %d\n",
		s.Facts, s.Actions, s.DayCounts, s.Principals, s.Keys, s.Sessions, s.CrossAccount, s.SignIns)
	fmt.Fprintf(tw, "\tdedup %d, raw %d, checkpoints %d, quarantined %d, snapshots %d\n",
		s.Dedup, s.Raw, s.Checkpoints, s.Quarantined, s.Snapshots)
	fmt.Fprintf(tw, "size\t%s (LSM %s, value log %s)\n", byteSize(s.LSMBytes+s.VLogBytes), byteSize(s.LSMBytes), byteSize(s.VLogBytes))
	return tw.Flush()
}

// storeInfoJSON is `iamd store info --format json` (and migrate's).
type storeInfoJSON struct {
	Store            string          `json:"store"`
	SchemaVersion    int             `json:"schema_version"`
	BuildReads       int             `json:"build_schema_version"`
	WrittenBy        string          `json:"written_by,omitempty"`
	Pending          []migrationJSON `json:"pending_migrations"`
	Migrated         []migrationJSON `json:"migrated,omitempty"`
	LegacyDedupUntil *time.Time      `json:"legacy_dedup_until,omitempty"`
	LegacyDedupFor   *time.Time      `json:"legacy_dedup_for_events_before,omitempty"`
	Records          recordsJSON     `json:"records"`
}

// recordsJSON is store.Stats as JSON.
type recordsJSON struct {
	Facts        int64 `json:"facts"`
	Actions      int64 `json:"action_totals"`
	DayCounts    int64 `json:"day_counts"`
	Principals   int64 `json:"principals"`
	Keys         int64 `json:"access_keys"`
	Sessions     int64 `json:"sessions"`
	CrossAccount int64 `json:"cross_account"`
	SignIns      int64 `json:"console_sign_ins"`
	Dedup        int64 `json:"dedup"`
	Raw          int64 `json:"raw"`
	Checkpoints  int64 `json:"checkpoints"`
	Quarantined  int64 `json:"quarantined"`
	Snapshots    int64 `json:"snapshots"`
	LSMBytes     int64 `json:"lsm_bytes"`
	VLogBytes    int64 `json:"value_log_bytes"`
}

type migrationJSON struct {
	From        int    `json:"from"`
	To          int    `json:"to"`
	About       string `json:"about"`
	Records     int64  `json:"records"`
	Done        int64  `json:"done,omitempty"`
	Interrupted bool   `json:"interrupted,omitempty"`
}

func migrationsJSON(steps []store.MigrationStep) []migrationJSON {
	out := make([]migrationJSON, 0, len(steps))
	for _, s := range steps {
		out = append(out, migrationJSON{From: s.From, To: s.To, About: s.About, Records: s.Left, Done: s.Done, Interrupted: s.Interrupted})
	}
	return out
}

func newStoreInfoJSON(in store.Info) storeInfoJSON {
	j := storeInfoJSON{Store: in.Dir, SchemaVersion: in.Version, BuildReads: in.Current, WrittenBy: in.Build,
		Pending: migrationsJSON(in.Steps), Records: recordsJSON(in.Stats)}
	if !in.LegacyDedupUntil.IsZero() {
		j.LegacyDedupUntil, j.LegacyDedupFor = &in.LegacyDedupUntil, &in.LegacyDedupBefore
	}
	return j
}

func runStoreBackup(cmd *cobra.Command, dir, file string, force bool) error {
	if file == "-" {
		info, err := store.Backup(cmd.Context(), dir, cmd.OutOrStdout())
		if err != nil {
			return backupError(dir, err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "backed up store %s (schema version %d): %s\n", dir, info.Version, byteSize(info.Bytes))
		return nil
	}
	if _, err := os.Stat(file); err == nil && !force {
		return fmt.Errorf("backup %s: the file exists (--force overwrites it)", file)
	}
	// Written beside FILE and renamed into place once complete, so that
	// FILE is never half a backup.
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-")
	if err != nil {
		return fmt.Errorf("backup %s: %w", file, err)
	}
	defer os.Remove(tmp.Name())
	var w io.Writer = tmp
	bar := terminalBar(cmd.ErrOrStderr(), -1, "backup")
	if bar != nil {
		w = io.MultiWriter(tmp, bar)
	}
	info, err := store.Backup(cmd.Context(), dir, w)
	if bar != nil {
		_ = bar.Finish()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return backupError(dir, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("backup %s: %w", file, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "backed up store %s (schema version %d) to %s: %s\n", dir, info.Version, file, byteSize(info.Bytes))
	return nil
}

func backupError(dir string, err error) error {
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w: stop the iamd that has it open and run backup again", err)
	}
	if errors.Is(err, store.ErrNoStore) {
		return fmt.Errorf("store %s: %w", dir, store.ErrNoStore)
	}
	return err
}

func runStoreRestore(cmd *cobra.Command, dir, file string, force bool) error {
	var r io.Reader = cmd.InOrStdin()
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		defer f.Close()
		r = f
		if st, err := f.Stat(); err == nil {
			if bar := terminalBar(cmd.ErrOrStderr(), st.Size(), "restore"); bar != nil {
				r = io.TeeReader(f, bar)
				defer bar.Finish()
			}
		}
	}
	info, err := store.Restore(cmd.Context(), dir, r, store.RestoreOptions{Replace: force})
	if errors.Is(err, store.ErrNotEmpty) && !force {
		return fmt.Errorf("%w (--force replaces a store there)", err)
	}
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "restored %s into store %s: schema version %d, %s\n", file, dir, info.Version, byteSize(info.Bytes))
	switch {
	case info.Version < store.SchemaVersion:
		fmt.Fprintf(out, "this build migrates it to schema version %d when it next opens it\n", store.SchemaVersion)
	case info.Version > store.SchemaVersion:
		fmt.Fprintf(out, "this build reads schema version %d: open it with the build that wrote it\n", store.SchemaVersion)
	}
	return nil
}

// terminal returns w as a terminal's file, or false.
func terminal(w io.Writer) (*os.File, bool) {
	f, ok := w.(*os.File)
	return f, ok && term.IsTerminal(int(f.Fd()))
}

// terminalBar is a byte progress bar on w when w is a terminal (total -1:
// unknown), else nil.
func terminalBar(w io.Writer, total int64, what string) *progressbar.ProgressBar {
	f, ok := terminal(w)
	if !ok {
		return nil
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(f),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription(what),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// migrationProgress shows a store migration on w, for every command that
// opens a store: a progress bar per step on a terminal, else one line
// when a step starts and one when it ends.
func migrationProgress(w io.Writer) func(store.MigrationProgress) {
	f, tty := terminal(w)
	var (
		bar       *progressbar.ProgressBar
		announced bool
	)
	return func(p store.MigrationProgress) {
		step := fmt.Sprintf("store %s: schema %d → %d: %s", p.Dir, p.From, p.To, p.About)
		switch {
		case !tty && p.Finished:
			fmt.Fprintf(w, "iamd: %s: done, %d records\n", step, p.Done)
			announced = false
		case !tty && !announced:
			resumed := ""
			if p.Resumed {
				resumed = fmt.Sprintf(" (resuming after %d)", p.Done)
			}
			fmt.Fprintf(w, "iamd: %s: %d records%s\n", step, p.Total-p.Done, resumed)
			announced = true
		case tty:
			if bar == nil {
				bar = progressbar.NewOptions64(p.Total,
					progressbar.OptionSetWriter(f),
					progressbar.OptionSetDescription(step),
					progressbar.OptionShowCount(),
					progressbar.OptionThrottle(100*time.Millisecond),
				)
			}
			_ = bar.Set64(p.Done)
			if p.Finished {
				_ = bar.Finish()
				fmt.Fprintln(f)
				bar = nil
			}
		}
	}
}

// byteSize is n in B, KiB, MiB, ….
func byteSize(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }
