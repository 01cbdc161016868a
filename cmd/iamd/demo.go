package main

import (
	"context"
	"encoding/json"
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
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/analyzer/suggest"
	"github.com/iamd/iamd/analyzer/unused"
	"github.com/iamd/iamd/cmd/iamd/internal/analysis"
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

const demoLong = `Run the whole job on a generated account, with no AWS account, no network
and no configuration: a synthetic account over-granted on purpose (IAM
snapshot and a few weeks of CloudTrail, as gen-trail writes them, plus the
access keys and leftovers a real account carries) is ingested into a
temporary store, and iamd prints what it finds, in the order a security
engineer reads it:

  - the ingest, with its figures
  - usage: who calls what, with which keys
  - used vs granted per principal, the most over-privileged first
  - unused access: roles, users, access keys, permissions
  - the audit of the IAM configuration, and what only the trail shows
  - the least-privilege policy suggested for the most over-privileged
    principal, and the self-check by iamd's policy engine that every
    observed call is still allowed
  - key rotation: the plan (dry run), then one rotation run day by day on
    the demo's clock: create, deliver to Secrets Manager, verify with STS,
    wait until the trail shows the old key idle, deactivate, delete after
    the recovery window. IAM, STS and Secrets Manager are an in-process
    stand-in (rotator/awsfake) that the real AWS SDK clients talk to.

The output is the same for the same --seed. --keep DIR keeps the trail,
the IAM snapshot, the store, the suggestions and a configuration in DIR,
so that the other commands (report, suggest, unused, rotate status,
iamd run --config DIR/iamd.yaml) can be tried on them.`

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
	f.StringVar(&o.keep, "keep", "", "keep the trail, IAM snapshot, store, suggestions and a daemon configuration in this new or empty directory")
	f.IntVar(&o.events, "events", o.events, "CloudTrail records to generate")
	f.IntVar(&o.days, "days", o.days, "days the trail spans")
	f.IntVar(&o.users, "users", o.users, "IAM users (at least 2)")
	f.IntVar(&o.roles, "roles", o.roles, "IAM roles")
	f.IntVar(&o.top, "top", o.top, "rows per table")
	return cmd
}

// demoRun is what the demo's sections print from.
type demoRun struct {
	dir      string
	manifest *trailgen.Manifest
	summary  ingest.Summary
	conv     *ingest.Converter
	db       *store.DB
	account  *demoAccount
	acct     *iam.Account
	cat      *catalog.Catalog
	now      time.Time // the trail's end: the demo's clock
	top      int
	window   string
	report   *report.Report
	// ranked are the principals with a model, most unused grants first.
	ranked []report.PrincipalReport
}

// demoSection prints one part of the demo.
type demoSection struct {
	title string
	print func(ctx context.Context, w io.Writer, r *demoRun) error
}

// demoSections are printed in order; the titles are what the test looks
// for.
var demoSections = []demoSection{
	{"Ingest", printDemoIngest},
	{"Usage: who calls what", printDemoUsage},
	{"Used vs granted, most over-privileged first", printDemoGranted},
	{"Unused access", printDemoUnused},
	{"Audit: the IAM configuration, and what only the trail shows", printDemoAudit},
	{"Suggested least-privilege policy", printDemoSuggestion},
	{"Key rotation", printDemoRotation},
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
		DeniedRate: 0.02, ErrorRate: 0.01, ServiceEventRate: 0.03, AssumedRoleShare: 0.55, FileWindow: 15 * time.Minute})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	r := &demoRun{dir: dir, top: o.top, window: report.DefaultWindow}
	if r.manifest, err = g.WriteLogFiles(ctx, trailgen.DirSink{Dir: filepath.Join(dir, "trail")}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	r.now = r.manifest.End

	// The model, furnished with keys and leftovers, stored as `iamd
	// snapshot save` would, stamped with the trail's end so that the
	// output does not depend on the wall clock.
	data, err := g.IAMSnapshot(r.manifest.Accounts[0])
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	d, err := iam.DecodeDetails(data)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if r.account, err = furnishAccount(d, r.manifest, r.now); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	d.Taken = iam.NewTime(r.now.Truncate(time.Second))
	if r.acct, err = iam.FromDetails(d, iam.LoadOptions{}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	account, taken, enc, err := d.Encode()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "iam.json"), enc, 0o644); err != nil {
		return err
	}

	conv, db, err := openIngest(filepath.Join(dir, "store"), 0)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, ignoreClosed(db.Close())) }()
	r.conv, r.db = conv, db
	if r.summary, err = r.ingest(ctx, filepath.Join(dir, "trail"), func() time.Time { return r.now }); err != nil {
		return err
	}
	if err := db.PutSnapshot(ctx, store.Snapshot{AccountID: account, Taken: taken, Data: enc}); err != nil {
		return err
	}
	if r.cat, err = catalog.Load(); err != nil {
		return err
	}
	if _, r.report, err = analysis.Report(ctx, db, r.cat, r.params()); err != nil {
		return err
	}
	for _, pr := range r.report.Principals {
		if pr.Status == report.StatusAnalysed {
			r.ranked = append(r.ranked, pr)
		}
	}
	sort.SliceStable(r.ranked, func(i, j int) bool { return len(r.ranked[i].Unused) > len(r.ranked[j].Unused) })

	users, roles := 0, 0
	for _, p := range r.acct.Principals {
		switch p.Kind {
		case iam.KindUser:
			users++
		case iam.KindRole:
			roles++
		}
	}
	fmt.Fprintf(w, "iamd demo: account %s, %d users and %d roles, %d CloudTrail records over %d days (seed %d)\n",
		account, users, roles, r.manifest.Records, o.days, o.seed)
	for _, s := range demoSections {
		fmt.Fprintf(w, "\n== %s\n\n", s.title)
		if err := s.print(ctx, w, r); err != nil {
			return fmt.Errorf("demo %s: %w", strings.ToLower(s.title), err)
		}
	}
	if o.keep != "" {
		config := filepath.Join(dir, "iamd.yaml")
		if err := os.WriteFile(config, []byte(demoConfig(dir)), 0o644); err != nil {
			return err
		}
		st := filepath.Join(dir, "store")
		fmt.Fprintf(w, "\nKept in %s: trail/, trail-after/, iam.json, store/, suggestions/ and iamd.yaml. Try:\n", dir)
		fmt.Fprintf(w, "  iamd report --store %s --at %s\n", st, r.now.Format(time.DateOnly))
		fmt.Fprintf(w, "  iamd suggest --store %s --out %s\n", st, filepath.Join(dir, "suggestions-2"))
		fmt.Fprintf(w, "  iamd rotate status --store %s\n", st)
		fmt.Fprintf(w, "  iamd run --config %s        # then: curl http://127.0.0.1:8080/api/v1/report\n", config)
	}
	return nil
}

// ingest reads the CloudTrail files under path into the store, with
// checkpoints stamped by the demo's clock.
func (r *demoRun) ingest(ctx context.Context, path string, now func() time.Time) (ingest.Summary, error) {
	p, err := ingest.NewPipeline(ingest.PipelineOptions{Converter: r.conv, Writer: r.db, Checkpoints: r.db, Now: now})
	if err != nil {
		return ingest.Summary{}, err
	}
	return p.Run(ctx, []string{path})
}

// params is the analysis scope of every section: the whole trail.
func (r *demoRun) params() analysis.Params {
	return analysis.Params{Window: r.window, Now: func() time.Time { return r.now }, RequireModel: true}
}

// demoConfig is the daemon's configuration of a kept demo: its store and
// snapshot, the API on the default loopback address without a token.
func demoConfig(dir string) string {
	return fmt.Sprintf(`# iamd run --config %[1]s/iamd.yaml: the daemon on the demo's store.
store:
  dir: %[1]s/store
iam:
  file: %[1]s/iam.json
  refresh: ""
suggestions:
  out_dir: %[1]s/suggestions
`, dir)
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

// printDemoUsage lists the principals by calls, as `iamd usage
// principals` does, with the access keys each signed with and, for roles,
// who acted inside them.
func printDemoUsage(ctx context.Context, w io.Writer, r *demoRun) error {
	ps, err := listing.Principals(ctx, r.db, "")
	if err != nil {
		return err
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Allowed+ps[i].Denied > ps[j].Allowed+ps[j].Denied })
	sessions := map[string]*report.Sessions{}
	for _, pr := range r.report.Principals {
		sessions[pr.Principal] = pr.Sessions
	}
	fmt.Fprintf(w, "%d principals called AWS in the trail (iamd usage principals); the busiest:\n\n", len(ps))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tCALLS\tREFUSED\tACTIONS\tACTION × RESOURCE\tKEYS\tLAST SEEN\tWHO (ROLE SESSIONS)")
	for i, p := range ps {
		if i == r.top {
			fmt.Fprintf(tw, "…\t\t\t\t\t\t\t%d more\n", len(ps)-r.top)
			break
		}
		keys, err := r.db.KeysOf(ctx, p.Principal)
		if err != nil {
			return err
		}
		long, session := 0, 0
		for _, k := range keys {
			if strings.HasPrefix(k.AccessKeyID, "AKIA") {
				long++
			} else {
				session++
			}
		}
		var kinds []string
		if long > 0 {
			kinds = append(kinds, fmt.Sprintf("%d long-term", long))
		}
		if session > 0 {
			kinds = append(kinds, fmt.Sprintf("%d session", session))
		}
		who := "-"
		if s := sessions[p.Principal]; s != nil && len(s.SessionNames) > 0 {
			var names []string
			for j, n := range s.SessionNames {
				if j == 2 {
					names = append(names, fmt.Sprintf("+%d", len(s.SessionNames)-2))
					break
				}
				names = append(names, fmt.Sprintf("%s %.0f%%", n.Name, 100*n.Share))
			}
			who = strings.Join(names, ", ")
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", short(p.Principal), p.Allowed+p.Denied, p.Denied, p.Actions, p.Facts,
			orDash(strings.Join(kinds, ", ")), p.LastSeen.Format("2006-01-02 15:04"), who)
	}
	return tw.Flush()
}

// short is the ARN's resource part: "user/alice", "role/DeployRole".
func short(arn string) string {
	if i := strings.LastIndexByte(arn, ':'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func printDemoGranted(_ context.Context, w io.Writer, r *demoRun) error {
	rep := r.report
	fmt.Fprintf(w, "window %s … %s (the trail covers %s … %s), judged against the IAM snapshot; %d principals (iamd report)\n\n",
		rep.Window.Start.Format(time.DateOnly), rep.Window.End.Format(time.DateOnly), r.manifest.Start.Format(time.DateOnly),
		r.manifest.End.Add(-time.Second).Format(time.DateOnly), len(r.ranked))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tUSED\tGRANTED\tUNUSED\tUTILISATION\tREFUSED\tUNUSED SERVICES")
	for i, pr := range r.ranked {
		if i == r.top {
			fmt.Fprintf(tw, "…\t\t\t\t\t\t%d more\n", len(r.ranked)-r.top)
			break
		}
		var svcs []string
		seen := map[string]bool{}
		for _, u := range pr.Unused {
			if u.ServiceUnused && !seen[u.Service] {
				seen[u.Service] = true
				svcs = append(svcs, u.Service)
			}
		}
		u := pr.Utilisation
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f%%\t%d\t%s\n", short(pr.Principal), u.Used, u.Granted, len(pr.Unused), 100*u.Ratio, len(pr.Denied), orDash(strings.Join(svcs, " ")))
	}
	return tw.Flush()
}

func printDemoUnused(ctx context.Context, w io.Writer, r *demoRun) error {
	res, err := analysis.Unused(ctx, r.db, r.cat, r.params(), unused.Options{})
	if err != nil {
		return err
	}
	counts := map[string]int{}
	var rows []unused.Finding
	for _, f := range res.Findings {
		counts[f.Type+" "+f.Status]++
		if f.Type != unused.TypePermissions {
			rows = append(rows, f)
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	fmt.Fprintf(w, "%d findings (iamd unused): %s\n", len(res.Findings), strings.Join(parts, ", "))
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tSTATUS\tPRINCIPAL\tKEY\tLAST USED\tDETAIL")
	for i, f := range rows {
		if i == r.top {
			fmt.Fprintf(tw, "…\t\t\t\t\t%d more\n", len(rows)-r.top)
			break
		}
		last := "never"
		if !f.LastUsed.IsZero() {
			last = f.LastUsed.Format(time.DateOnly)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Type, f.Status, short(f.Principal), orDash(f.AccessKeyID), last, f.Detail)
	}
	return tw.Flush()
}

func printDemoAudit(ctx context.Context, w io.Writer, r *demoRun) error {
	audits, err := analysis.Audit(ctx, r.db, r.cat, r.params(), analysis.AuditOptions{KeyMaxAge: 90 * 24 * time.Hour, Now: func() time.Time { return r.now }})
	if err != nil {
		return err
	}
	var fs, trail []iam.Finding
	for _, a := range audits {
		fs = append(fs, a.Findings...)
	}
	counts := map[iam.Severity]int{}
	for _, f := range fs {
		counts[f.Severity]++
		if strings.HasPrefix(f.Rule, "CT") {
			trail = append(trail, f)
		}
	}
	fmt.Fprintf(w, "%d findings (iamd audit --store): critical %d, high %d, medium %d, low %d, info %d; %d from the trail\n\n", len(fs),
		counts[iam.SeverityCritical], counts[iam.SeverityHigh], counts[iam.SeverityMedium], counts[iam.SeverityLow], counts[iam.SeverityInfo], len(trail))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSEVERITY\tPRINCIPAL\tFINDING")
	for i, f := range fs {
		if i == r.top {
			fmt.Fprintf(tw, "…\t\t\t%d more, with evidence and fixes: iamd audit --store DIR\n", len(fs)-r.top)
			break
		}
		title := f.Title
		if f.Method != "" {
			title = f.Method + ": " + title
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Rule, f.Severity, short(f.Principal), title)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(trail) > 0 {
		fmt.Fprintln(w, "\nEvidence from the trail:")
		for i, f := range trail {
			if i == r.top {
				fmt.Fprintf(w, "  … %d more\n", len(trail)-r.top)
				break
			}
			fmt.Fprintf(w, "  %s %s: %s\n", f.Rule, short(f.Principal), clipText(strings.Join(f.Evidence, "; "), 150))
		}
	}
	return nil
}

func printDemoSuggestion(ctx context.Context, w io.Writer, r *demoRun) error {
	out := filepath.Join(r.dir, "suggestions")
	_, res, err := analysis.Suggest(ctx, r.db, r.cat, r.params(), analysis.SuggestOptions{Out: out, History: true, Now: func() time.Time { return r.now }})
	if err != nil {
		return err
	}
	byPrincipal := map[string]suggest.Summary{}
	for _, s := range res.Summaries {
		byPrincipal[s.Principal] = s
	}
	var sum suggest.Summary
	for _, pr := range r.ranked {
		if s, ok := byPrincipal[pr.Principal]; ok {
			sum = s
			break
		}
	}
	if sum.Principal == "" {
		return errors.New("no principal was given a suggestion, though the account is over-granted on purpose")
	}
	data, err := os.ReadFile(filepath.Join(sum.Folder, "suggestion.json"))
	if err != nil {
		return err
	}
	var sg suggest.Output
	if err := json.Unmarshal(data, &sg); err != nil {
		return fmt.Errorf("%s: %w", sum.Folder, err)
	}
	fmt.Fprintf(w, "%d principals given a suggestion, %d failed their self-check (iamd suggest). The most over-privileged, %s:\n\n",
		len(res.Summaries), res.Failed, short(sum.Principal))
	if sg.Generated != nil && (sg.Check.Generated == nil || sg.Check.Generated.Passed) {
		for i, d := range sg.Generated.Documents {
			fmt.Fprintf(w, "generated-%d.json, from the calls of the window (%d statements):\n", i+1, len(d.Statement))
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			for _, st := range d.Statement {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", st.Sid, st.Effect, strings.Join(st.Action, " "), shortList(st.Resource, 1))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		fmt.Fprintln(w)
	}
	if sg.InPlace != nil {
		var names []string
		for _, pc := range sg.InPlace.Policies {
			names = append(names, fmt.Sprintf("%s (%s, -%d)", pc.Name, pc.Change, len(pc.Removed)))
		}
		var removed []string
		for _, rm := range sg.Removed {
			removed = append(removed, rm.Action)
		}
		fmt.Fprintf(w, "in place: its own policies with the %d unused actions removed: %s;\n  %s; %d unused kept (unobservable by CloudTrail, or granted recently)\n",
			len(sg.Removed), strings.Join(names, ", "), shortList(removed, 6), len(sg.Kept))
	}
	var checks []string
	for _, c := range []struct {
		name string
		r    *suggest.CheckResult
	}{{"generated", sg.Check.Generated}, {"in place", sg.Check.InPlace}} {
		if c.r == nil {
			continue
		}
		verdict := "passed"
		if !c.r.Passed {
			f := c.r.Failures[0]
			verdict = fmt.Sprintf("FAILED (%d failures, first: %s %s %s)", len(c.r.Failures), f.Check, f.Action, f.Resource)
		}
		checks = append(checks, fmt.Sprintf("%s %s (%d engine decisions)", c.name, verdict, c.r.Evaluations))
	}
	fmt.Fprintf(w, "\nself-check by iamd's policy engine: %s.\n  Every call observed in the window is still allowed, every call observed only as refused stays\n"+
		"  refused by the generated policy, every removed action is denied on every resource, and nothing is\n"+
		"  granted beyond today's policies.\n", strings.Join(checks, "; "))
	fmt.Fprintf(w, "  The review, the policy files and the apply and rollback commands: %s\n", filepath.Join("suggestions", filepath.Base(sum.Folder)))
	if res.Failed > 0 {
		return fmt.Errorf("%d suggestions failed their self-check", res.Failed)
	}
	return nil
}

// clipText cuts s to about n characters; the commands print it whole.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// shortList joins the first n of list and says how many more there are.
func shortList(list []string, n int) string {
	if len(list) <= n {
		return strings.Join(list, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(list[:n], ", "), len(list)-n)
}
