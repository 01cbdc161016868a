package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/ingest/trailgen"
)

// genTrailOptions are the flags of `iamd gen-trail`.
type genTrailOptions struct {
	out            string
	layout         string
	manifest       string
	snapshot       string
	seed           int64
	users          int
	roles          int
	events         int
	days           int
	start          string
	accounts       []string
	regions        []string
	deniedRate     float64
	errorRate      float64
	serviceRate    float64
	assumedShare   float64
	recordsPerFile int
	digests        bool
	orgID          string
	replicate      []string
	times          int
}

const genTrailLong = `Write a synthetic CloudTrail trail for load tests and demos: realistic
records from IAM users, role sessions, federated, root and cross-account
callers and AWS services, deterministic for a seed.

Layouts (--layout):
  s3           gzipped log files in the S3 delivery layout under --out
               (AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/…json.gz)
  jsonl        one record per line, --out/cloudtrail.jsonl ("-": stdout)
  eventbridge  one EventBridge envelope per line, --out/eventbridge.jsonl

With --replicate GLOB (repeatable) it generates nothing: it copies those
real CloudTrail log files --times times into --out, gzipped, each record
with a fresh eventID, for benchmarks on real records.

--manifest writes the ground truth (per principal × action × resource
allowed and denied counts, per access key calls) as JSON; --iam-snapshot
writes the matching get-account-authorization-details JSON.`

func newGenTrailCmd() *cobra.Command {
	def := trailgen.DefaultOptions(1)
	o := genTrailOptions{
		layout: "s3", seed: 1, users: 8, roles: 6, events: 10000, days: 1,
		deniedRate: def.DeniedRate, errorRate: def.ErrorRate, serviceRate: def.ServiceEventRate, assumedShare: def.AssumedRoleShare,
		recordsPerFile: 100,
	}
	cmd := &cobra.Command{
		Use:   "gen-trail",
		Short: "Generate a deterministic synthetic CloudTrail trail with its ground-truth manifest",
		Long:  genTrailLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGenTrail(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "", "output directory (required; \"-\" writes the jsonl/eventbridge layouts to stdout)")
	f.StringVar(&o.layout, "layout", o.layout, "file layout: s3, jsonl or eventbridge")
	f.StringVar(&o.manifest, "manifest", "", "write the ground-truth manifest JSON to this file")
	f.StringVar(&o.snapshot, "iam-snapshot", "", "write the matching IAM snapshot (get-account-authorization-details JSON) to this file")
	f.Int64Var(&o.seed, "seed", o.seed, "random seed; the same seed gives the same bytes")
	f.IntVar(&o.users, "users", o.users, "IAM users")
	f.IntVar(&o.roles, "roles", o.roles, "IAM roles")
	f.IntVar(&o.events, "events", o.events, "total records")
	f.IntVar(&o.days, "days", o.days, "days the records span")
	f.StringVar(&o.start, "start", "2026-11-01T00:00:00Z", "time of the first record (RFC 3339)")
	f.StringSliceVar(&o.accounts, "accounts", nil, "12-digit account ids (default: one derived from the seed)")
	f.StringSliceVar(&o.regions, "regions", []string{"us-east-1", "eu-west-1"}, "regions; the first gets most traffic")
	f.Float64Var(&o.deniedRate, "denied-rate", o.deniedRate, "share of principal calls denied")
	f.Float64Var(&o.errorRate, "error-rate", o.errorRate, "share of principal calls failing for other reasons")
	f.Float64Var(&o.serviceRate, "service-event-rate", o.serviceRate, "share of records made by AWS services")
	f.Float64Var(&o.assumedShare, "assumed-role-share", o.assumedShare, "share of principal calls made by role sessions")
	f.IntVar(&o.recordsPerFile, "records-per-file", o.recordsPerFile, "most records in one log file (s3 layout)")
	f.BoolVar(&o.digests, "digests", false, "also write hourly CloudTrail-Digest files (s3 layout)")
	f.StringVar(&o.orgID, "org-id", "", "write an organization trail (AWSLogs/<org-id>/<account>/…)")
	f.StringArrayVar(&o.replicate, "replicate", nil, "copy these CloudTrail log files (glob, repeatable) instead of generating")
	f.IntVar(&o.times, "times", 10, "copies made by --replicate")
	return cmd
}

func runGenTrail(ctx context.Context, stdout, stderr io.Writer, o *genTrailOptions) error {
	if o.out == "" {
		return fmt.Errorf("gen-trail: --out is required")
	}
	if len(o.replicate) > 0 {
		return runReplicate(ctx, stderr, o)
	}
	start, err := time.Parse(time.RFC3339, o.start)
	if err != nil {
		return fmt.Errorf("gen-trail: --start: %w", err)
	}
	g, err := trailgen.New(trailgen.Options{
		Seed: o.seed, Accounts: o.accounts, Regions: o.regions, Users: o.users, Roles: o.roles,
		Start: start, Days: o.days, Events: o.events,
		DeniedRate: o.deniedRate, ErrorRate: o.errorRate, ServiceEventRate: o.serviceRate, AssumedRoleShare: o.assumedShare,
		RecordsPerFile: o.recordsPerFile, Digests: o.digests, OrgID: o.orgID,
	})
	if err != nil {
		return fmt.Errorf("gen-trail: %w", err)
	}
	var m *trailgen.Manifest
	var where string
	switch o.layout {
	case "s3":
		if o.out == "-" {
			return fmt.Errorf("gen-trail: --layout s3 needs a directory, not -")
		}
		if m, err = g.WriteLogFiles(ctx, trailgen.DirSink{Dir: o.out}); err != nil {
			return fmt.Errorf("gen-trail: %w", err)
		}
		where = fmt.Sprintf("%d log files under %s", len(m.Files), filepath.Join(o.out, "AWSLogs"))
	case "jsonl", "eventbridge":
		eb := o.layout == "eventbridge"
		name := "cloudtrail.jsonl"
		if eb {
			name = "eventbridge.jsonl"
		}
		if o.out == "-" {
			if m, err = g.WriteJSONLines(ctx, stdout, eb); err != nil {
				return fmt.Errorf("gen-trail: %w", err)
			}
			where = "stdout"
			break
		}
		path := filepath.Join(o.out, name)
		if m, err = writeLinesFile(ctx, g, path, eb); err != nil {
			return err
		}
		where = path
	default:
		return fmt.Errorf("gen-trail: --layout %q: want s3, jsonl or eventbridge", o.layout)
	}
	if o.manifest != "" {
		if err := writeFileWith(o.manifest, m.WriteJSON); err != nil {
			return fmt.Errorf("gen-trail: manifest: %w", err)
		}
	}
	if o.snapshot != "" {
		if err := writeFileWith(o.snapshot, g.WriteIAMSnapshot); err != nil {
			return fmt.Errorf("gen-trail: iam snapshot: %w", err)
		}
	}
	fmt.Fprintf(stderr, "gen-trail: %d records (%d denied, %d errors, %d by AWS services) for account %s: %s\n",
		m.Records, m.Denied, m.Errors, m.ServiceRecords, strings.Join(m.Accounts, ","), where)
	return nil
}

func writeLinesFile(ctx context.Context, g *trailgen.Generator, path string, eb bool) (*trailgen.Manifest, error) {
	var m *trailgen.Manifest
	err := writeFileWith(path, func(w io.Writer) error {
		var err error
		m, err = g.WriteJSONLines(ctx, w, eb)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gen-trail: %w", err)
	}
	return m, nil
}

// writeFileWith creates path (and its directory) and fills it with write.
func writeFileWith(path string, write func(io.Writer) error) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create directory for %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", path, cerr)
		}
	}()
	if err := write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func runReplicate(ctx context.Context, stderr io.Writer, o *genTrailOptions) error {
	if o.out == "-" {
		return fmt.Errorf("gen-trail: --replicate needs a directory, not -")
	}
	var src []string
	for _, pattern := range o.replicate {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return fmt.Errorf("gen-trail: --replicate %q: %w", pattern, err)
		}
		if len(matches) == 0 {
			return fmt.Errorf("gen-trail: --replicate %q matches no file", pattern)
		}
		src = append(src, matches...)
	}
	res, err := trailgen.Replicate(ctx, src, o.times, o.out)
	if err != nil {
		return fmt.Errorf("gen-trail: %w", err)
	}
	fmt.Fprintf(stderr, "gen-trail: %d records in %d files (%d bytes gzipped) under %s\n", res.Records, res.Files, res.Bytes, o.out)
	return nil
}
