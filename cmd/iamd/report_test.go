package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iamd/iamd/analyzer/report"
)

// ingestedTrail generates a small trail with its snapshot and ingests it.
func ingestedTrail(t *testing.T) (storeDir, snapshot string, gt *groundTruth) {
	t.Helper()
	gt = generate(t, 3)
	dir := t.TempDir()
	trail := filepath.Join(dir, "trail.jsonl")
	var all []byte
	for _, l := range gt.lines {
		all = append(all, l...)
	}
	if err := os.WriteFile(trail, all, 0o644); err != nil {
		t.Fatal(err)
	}
	storeDir = filepath.Join(dir, "store")
	if out, err := runIamd(t, "ingest", "--store", storeDir, trail); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	return storeDir, gt.snapshot, gt
}

func TestReportCommand(t *testing.T) {
	st, snap, gt := ingestedTrail(t)
	t.Run("no snapshot and no --iam", func(t *testing.T) {
		_, err := runIamdStdout(t, "report", "--store", st)
		if err == nil || !strings.Contains(err.Error(), "iamd snapshot save") || !strings.Contains(err.Error(), "--iam FILE") {
			t.Fatalf("report without a model: %v", err)
		}
	})
	t.Run("bad flags", func(t *testing.T) {
		for _, args := range [][]string{
			{"--format", "xml"}, {"--window", "0d"}, {"--at", "yesterday"}, {"--principal", "nobody"},
		} {
			if _, err := runIamdStdout(t, append([]string{"report", "--store", st, "--iam", snap}, args...)...); err == nil {
				t.Errorf("report %q: no error", args)
			}
		}
		if _, err := runIamdStdout(t, "report", "--store", filepath.Join(t.TempDir(), "none"), "--iam", snap); err == nil {
			t.Error("report on a missing store: no error")
		}
	})
	// The stored snapshot gives the same answer as the file.
	if out, err := runIamd(t, "snapshot", "save", "--store", st, "--iam", snap); err != nil {
		t.Fatalf("snapshot save: %v\n%s", err, out)
	}
	a := gt.manifest.Access[0]
	name := a.Principal[strings.LastIndexByte(a.Principal, '/')+1:]
	out, err := runIamdStdout(t, "report", "--store", st, "--principal", name, "--format", "json")
	if err != nil {
		t.Fatalf("report --principal %s: %v", name, err)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Principals) != 1 || r.Principals[0].Principal != a.Principal || len(r.Models) != 1 || r.Models[0].Source != "store" {
		t.Fatalf("report --principal %s: %d principals (%+v), models %+v", name, len(r.Principals), r.Principals, r.Models)
	}
	if got := len(r.Principals[0].Used); got != len(a.Used) {
		t.Fatalf("used %d actions, manifest %d", got, len(a.Used))
	}
	for _, format := range []string{"table", "md"} {
		out, err := runIamdStdout(t, "report", "--store", st, "--principal", a.Principal, "--format", format)
		if err != nil || !strings.Contains(out, a.Principal) || !strings.Contains(out, a.Used[0]) {
			t.Fatalf("report --format %s: %v\n%s", format, err, out)
		}
	}
	out, err = runIamdStdout(t, "report", "--store", st)
	if err != nil || !strings.Contains(out, "UTILISATION") || strings.Count(out, "\n") < len(gt.manifest.Access) {
		t.Fatalf("summary: %v\n%s", err, out)
	}
}
