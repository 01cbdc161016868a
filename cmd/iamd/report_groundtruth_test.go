package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/report"
	"github.com/iamd/iamd/ingest"
	"github.com/iamd/iamd/ingest/trailgen"
	"github.com/iamd/iamd/store"
)

// groundTruth is one generated trail written as JSON lines, its manifest
// and its IAM snapshot.
type groundTruth struct {
	dir      string
	lines    [][]byte
	manifest *trailgen.Manifest
	snapshot string
}

func generate(t *testing.T, seed int64) *groundTruth {
	t.Helper()
	o := trailgen.DefaultOptions(seed)
	o.Users, o.Roles, o.Events, o.Days = 9, 7, 5000, 3
	o.DeniedRate = 0.04
	g, err := trailgen.New(o)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	m, err := g.WriteJSONLines(context.Background(), &buf, false)
	if err != nil {
		t.Fatal(err)
	}
	gt := &groundTruth{dir: t.TempDir(), manifest: m}
	gt.lines = bytes.SplitAfter(buf.Bytes(), []byte("\n"))
	snap, err := g.IAMSnapshot(g.Accounts()[0])
	if err != nil {
		t.Fatal(err)
	}
	gt.snapshot = filepath.Join(gt.dir, "iam.json")
	if err := os.WriteFile(gt.snapshot, snap, 0o644); err != nil {
		t.Fatal(err)
	}
	return gt
}

// reportOf ingests the lines (all but drop, -1 for none) into a new store
// and returns `iamd report --format json` over the whole trail.
func (gt *groundTruth) reportOf(t *testing.T, drop int) *report.Report {
	t.Helper()
	dir := t.TempDir()
	trail := filepath.Join(dir, "trail.jsonl")
	var kept [][]byte
	for i, l := range gt.lines {
		if i != drop {
			kept = append(kept, l)
		}
	}
	if err := os.WriteFile(trail, bytes.Join(kept, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(dir, "store")
	if out, err := runIamd(t, "ingest", "--store", st, trail); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	out, err := runIamdStdout(t, "report", "--store", st, "--iam", gt.snapshot, "--format", "json", "--window", "30d")
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("report JSON: %v", err)
	}
	return &r
}

// compareWithManifest lists every difference between the report and the
// manifest's per-principal ground truth: used, unused, unobservable and
// denied actions, exactly.
func compareWithManifest(r *report.Report, m *trailgen.Manifest) []string {
	var diffs []string
	for _, a := range m.Access {
		p, ok := r.Find(a.Principal)
		if !ok {
			diffs = append(diffs, a.Principal+": not in the report")
			continue
		}
		if p.Status != report.StatusAnalysed {
			diffs = append(diffs, fmt.Sprintf("%s: status %s", a.Principal, p.Status))
		}
		var used, unused, unobservable, denied []string
		for _, u := range p.Used {
			used = append(used, u.Action)
		}
		for _, u := range p.Unused {
			unused = append(unused, u.Action)
		}
		for _, u := range p.Unobservable {
			unobservable = append(unobservable, u.Action)
		}
		for _, d := range p.Denied {
			denied = append(denied, d.Action)
		}
		for _, c := range []struct {
			what      string
			got, want []string
		}{{"used", used, a.Used}, {"unused", unused, a.Unused}, {"unobservable", unobservable, a.Unobservable}, {"denied", denied, a.Denied}} {
			slices.Sort(c.got)
			if !slices.Equal(c.got, c.want) {
				diffs = append(diffs, fmt.Sprintf("%s %s: report %q, manifest %q", a.Principal, c.what, c.got, c.want))
			}
		}
		if len(p.NotGranted) > 0 {
			diffs = append(diffs, fmt.Sprintf("%s: not granted %+v", a.Principal, p.NotGranted))
		}
		if p.Utilisation.Used != len(a.Used) || p.Utilisation.Granted != len(a.Granted) {
			diffs = append(diffs, fmt.Sprintf("%s: utilisation %d/%d, manifest %d/%d", a.Principal, p.Utilisation.Used, p.Utilisation.Granted, len(a.Used), len(a.Granted)))
		}
	}
	return diffs
}

// TestReportMatchesGroundTruth runs generated trails through ingest and
// report and compares the report with the generator's manifest exactly.
func TestReportMatchesGroundTruth(t *testing.T) {
	for _, seed := range []int64{3, 12, 40} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			gt := generate(t, seed)
			r := gt.reportOf(t, -1)
			if diffs := compareWithManifest(r, gt.manifest); len(diffs) > 0 {
				t.Fatalf("report differs from the manifest:\n%s", strings.Join(diffs, "\n"))
			}
			var unused, unobservable int
			for _, a := range gt.manifest.Access {
				unused += len(a.Unused)
				unobservable += len(a.Unobservable)
			}
			if unused == 0 || unobservable == 0 {
				t.Fatalf("seed %d: %d unused and %d unobservable actions: the comparison would prove little", seed, unused, unobservable)
			}
		})
	}
}

// TestReportGroundTruthCatchesADroppedFact drops the one record behind an
// action a principal used once: the comparison must then fail on it.
func TestReportGroundTruthCatchesADroppedFact(t *testing.T) {
	gt := generate(t, 12)
	// An action some principal was allowed exactly once, not a data-plane
	// action (dropping the account's only data event of a kind would
	// also move it to unobservable, which proves less).
	once := map[[2]string]uint64{}
	for _, u := range gt.manifest.Usage {
		once[[2]string{u.Principal, u.Action}] += u.Allowed
	}
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	var target [2]string
	for _, a := range gt.manifest.Access {
		for _, act := range a.Used {
			if _, data := report.DataGroup(cat, act); !data && once[[2]string{a.Principal, act}] == 1 && target[0] == "" {
				target = [2]string{a.Principal, act}
			}
		}
	}
	if target[0] == "" {
		t.Fatal("no action used exactly once: pick another seed")
	}
	conv, err := ingest.NewConverter(ingest.ConverterOptions{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	drop := -1
	for i, l := range gt.lines {
		out, err := conv.ConvertPayload(context.Background(), "test", l)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range out.Events {
			for _, u := range e.Uses {
				if e.Principal == target[0] && u.Action == target[1] && e.Outcome == store.OutcomeAllowed {
					drop = i
				}
			}
		}
	}
	if drop < 0 {
		t.Fatalf("no record of %s calling %s", target[0], target[1])
	}
	start := time.Now()
	diffs := compareWithManifest(gt.reportOf(t, drop), gt.manifest)
	t.Logf("dropped record %d (%s %s); %d differences in %v", drop, target[0], target[1], len(diffs), time.Since(start))
	if len(diffs) == 0 {
		t.Fatalf("dropping the only call of %s by %s went unnoticed", target[1], target[0])
	}
	named := false
	for _, d := range diffs {
		if !strings.HasPrefix(d, target[0]+" ") && !strings.HasPrefix(d, target[0]+":") {
			t.Errorf("difference about another principal: %s", d)
		}
		named = named || strings.Contains(d, target[1])
	}
	if !named {
		t.Errorf("no difference names %s: %q", target[1], diffs)
	}
}
