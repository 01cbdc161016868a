package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/iam"
	"github.com/iamd/iamd/cmd/iamd/internal/listing"
	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/ingest/trailgen"
	"github.com/iamd/iamd/store"
)

// demoOptions are the flags of `iamd demo`.
type demoOptions struct {
	seed   int64
	keep   string
	events int
	days   int
	users  int
	roles  int
	top    int
}

const demoLong = `Run the whole offline job on a generated account, with no AWS account and
no network: a synthetic account over-granted on purpose (IAM snapshot and a
few weeks of CloudTrail, as gen-trail writes them) is ingested into a
temporary store, and iamd prints what it finds: the ingest summary, the
usage of each principal and the audit of the account's IAM configuration.

The output is the same for the same --seed. --keep DIR keeps the trail,
the IAM snapshot and the store in DIR, so that the other commands (usage,
quarantine, snapshot, iamd run --config) can be tried on them.`

func newDemoCmd() *cobra.Command {
	o := demoOptions{seed: 1, events: 40000, days: 21, users: 10, roles: 8, top: 12}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run iamd end to end on a generated, over-granted account (offline)",
		Long:  demoLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			err := runDemo(cmd.Context(), cmd.OutOrStdout(), &o)
			if err == nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "demo finished in %s\n", time.Since(start).Round(100*time.Millisecond))
			}
			return err
		},
	}
	f := cmd.Flags()
	f.Int64Var(&o.seed, "seed", o.seed, "seed of the generated account; the same seed prints the same output")
	f.StringVar(&o.keep, "keep", "", "keep the trail, IAM snapshot and store in this new or empty directory")
	f.IntVar(&o.events, "events", o.events, "CloudTrail records to generate")
	f.IntVar(&o.days, "days", o.days, "days the trail spans")
	f.IntVar(&o.users, "users", o.users, "IAM users")
	f.IntVar(&o.roles, "roles", o.roles, "IAM roles")
	f.IntVar(&o.top, "top", o.top, "rows per table")
	return cmd
}

// demoRun is what the demo's sections print from.
type demoRun struct {
	dir      string
	manifest *trailgen.Manifest
	summary  ingest.Summary
	db       *store.DB
	acct     *iam.Account
	cat      *catalog.Catalog
	now      time.Time // the trail's end: the demo's clock
	top      int
}

// demoSection prints one part of the demo.
type demoSection struct {
	title string
	print func(ctx context.Context, w io.Writer, r *demoRun) error
}

// demoSections are printed in order. The analysis adds "Used vs granted"
// (top over-privileged first), "Unused" and "Suggested policy" (the most
// over-privileged principal's, with its self-check) after "Usage by
// principal"; the rotator adds "Key rotation plan (dry run)" after the
// audit.
var demoSections = []demoSection{
	{"Ingest", printDemoIngest},
	{"Usage by principal", printDemoUsage},
	{"Audit of the IAM configuration", printDemoAudit},
}

func runDemo(ctx context.Context, w io.Writer, o *demoOptions) (err error) {
	dir := o.keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "iamd-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := emptyDir(dir); err != nil {
		return err
	}

	g, err := trailgen.New(trailgen.Options{Seed: o.seed, Users: o.users, Roles: o.roles, Days: o.days, Events: o.events,
		DeniedRate: 0.02, ErrorRate: 0.01, ServiceEventRate: 0.03, AssumedRoleShare: 0.55})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	r := &demoRun{dir: dir, top: o.top}
	if r.manifest, err = g.WriteLogFiles(ctx, trailgen.DirSink{Dir: filepath.Join(dir, "trail")}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	snapshot := filepath.Join(dir, "iam.json")
	if err := writeFileWith(snapshot, g.WriteIAMSnapshot); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	r.now = r.manifest.End

	conv, db, err := openIngest(filepath.Join(dir, "store"), 0)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, ignoreClosed(db.Close())) }()
	r.db = db
	p, err := ingest.NewPipeline(ingest.PipelineOptions{Converter: conv, Writer: db, Checkpoints: db, Now: func() time.Time { return r.now }})
	if err != nil {
		return err
	}
	if r.summary, err = p.Run(ctx, []string{filepath.Join(dir, "trail")}); err != nil {
		return err
	}

	// The model, stored as `iamd snapshot save` would, stamped with the
	// trail's end so that the output does not depend on the wall clock.
	data, err := os.ReadFile(snapshot)
	if err != nil {
		return err
	}
	d, err := iam.DecodeDetails(data)
	if err != nil {
		return err
	}
	d.Taken = iam.NewTime(r.now.Truncate(time.Second))
	if r.acct, err = iam.FromDetails(d, iam.LoadOptions{}); err != nil {
		return err
	}
	account, taken, enc, err := d.Encode()
	if err != nil {
		return err
	}
	if err := db.PutSnapshot(ctx, store.Snapshot{AccountID: account, Taken: taken, Data: enc}); err != nil {
		return err
	}
	if r.cat, err = catalog.Load(); err != nil {
		return err
	}

	fmt.Fprintf(w, "iamd demo: account %s, %d users and %d roles, %d CloudTrail records over %d days (seed %d)\n",
		account, o.users, o.roles, r.manifest.Records, o.days, o.seed)
	for _, s := range demoSections {
		fmt.Fprintf(w, "\n== %s\n\n", s.title)
		if err := s.print(ctx, w, r); err != nil {
			return fmt.Errorf("demo %s: %w", strings.ToLower(s.title), err)
		}
	}
	if o.keep != "" {
		fmt.Fprintf(w, "\nKept in %s: trail/, iam.json and store/. Try:\n", dir)
		fmt.Fprintf(w, "  iamd usage principals --store %s\n", filepath.Join(dir, "store"))
		fmt.Fprintf(w, "  iamd audit --iam %s\n", snapshot)
		fmt.Fprintf(w, "  IAMD_STORE=%s IAMD_IAM_FILE=%s iamd run\n", filepath.Join(dir, "store"), snapshot)
	}
	return nil
}

// emptyDir creates dir or accepts it empty: --keep never mixes the demo
// into files of the user's.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return fmt.Errorf("--keep: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("--keep %s: the directory is not empty", dir)
	}
	return nil
}

func ignoreClosed(err error) error {
	if errors.Is(err, store.ErrClosed) {
		return nil
	}
	return err
}

func printDemoIngest(_ context.Context, w io.Writer, r *demoRun) error {
	s := r.summary
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	row := func(name string, v int64) { fmt.Fprintf(tw, "%s\t%d\t\n", name, v) }
	row("log files", s.Files)
	row("records", s.Records)
	row("events of principals", s.Events)
	row("  mapped to IAM actions", s.Usage)
	row("  denied (AccessDenied)", s.Denied)
	row("calls by AWS services", s.ServiceEvents)
	row("quarantined", s.QuarantinedTotal())
	row("principal × action × resource facts", s.NewFacts)
	row("principals", int64(s.Principals))
	return tw.Flush()
}

func printDemoUsage(ctx context.Context, w io.Writer, r *demoRun) error {
	ps, err := listing.Principals(ctx, r.db, "")
	if err != nil {
		return err
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Actions > ps[j].Actions })
	fmt.Fprintf(w, "%d principals called AWS; the %d with the most distinct actions:\n\n", len(ps), min(r.top, len(ps)))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tACTIONS\tRESOURCES\tCALLS\tDENIED\tLAST SEEN")
	for i, p := range ps {
		if i == r.top {
			break
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", p.Principal, p.Actions, p.Facts, p.Allowed+p.Denied, p.Denied, p.LastSeen.Format(time.DateOnly))
	}
	return tw.Flush()
}

func printDemoAudit(_ context.Context, w io.Writer, r *demoRun) error {
	fs, err := iam.Audit(r.cat, r.acct, iam.AuditOptions{KeyMaxAge: 90 * 24 * time.Hour, Now: func() time.Time { return r.now }})
	if err != nil {
		return err
	}
	counts := map[iam.Severity]int{}
	for _, f := range fs {
		counts[f.Severity]++
	}
	fmt.Fprintf(w, "%d findings: critical %d, high %d, medium %d, low %d, info %d\n\n", len(fs),
		counts[iam.SeverityCritical], counts[iam.SeverityHigh], counts[iam.SeverityMedium], counts[iam.SeverityLow], counts[iam.SeverityInfo])
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSEVERITY\tPRINCIPAL\tFINDING")
	for i, f := range fs {
		if i == r.top {
			fmt.Fprintf(tw, "…\t\t\t%d more: iamd audit --iam FILE lists them with evidence and fixes\n", len(fs)-r.top)
			break
		}
		title := f.Title
		if f.Method != "" {
			title = f.Method + ": " + title
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Rule, f.Severity, f.Principal, title)
	}
	return tw.Flush()
}
