package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/iamd/iamd/analyzer/policy"
	"github.com/iamd/iamd/analyzer/suggest"
)

func runSuggestAt(t *testing.T, now time.Time, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "iamd", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newSuggestCmdAt(func() time.Time { return now }))
	var out strings.Builder
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"suggest"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestSuggestCommand(t *testing.T) {
	st, snap, gt := ingestedTrail(t)
	if _, err := runIamdStdout(t, "suggest", "--store", st, "--iam", snap); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Fatalf("suggest without --out: %v", err)
	}
	out := t.TempDir()
	run1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	text, err := runSuggestAt(t, run1, "--store", st, "--iam", snap, "--out", out, "--window", "30d")
	if err != nil {
		t.Fatalf("suggest: %v\n%s", err, text)
	}
	if !strings.Contains(text, "0 failed their self-check") {
		t.Fatalf("first run:\n%s", text)
	}
	// Every principal with unused actions has a folder with its documents,
	// which compile, and suggestion.json names the principal.
	for _, a := range gt.manifest.Access {
		if len(a.Unused) == 0 {
			continue
		}
		folder := filepath.Join(out, suggest.FolderName(a.Principal))
		data, err := os.ReadFile(filepath.Join(folder, "suggestion.json"))
		if err != nil {
			t.Fatalf("%s: %v", a.Principal, err)
		}
		var sj struct {
			Principal string `json:"principal"`
			Removed   []struct {
				Action string `json:"action"`
			} `json:"removed"`
			Kept []struct {
				Action string `json:"action"`
				Reason string `json:"reason"`
			} `json:"kept"`
		}
		if err := json.Unmarshal(data, &sj); err != nil || sj.Principal != a.Principal {
			t.Fatalf("%s: suggestion.json principal %q, %v", a.Principal, sj.Principal, err)
		}
		// Removed, or kept because a group shares it: the manifest's
		// unused actions exactly.
		var removed []string
		for _, r := range sj.Removed {
			removed = append(removed, r.Action)
		}
		for _, k := range sj.Kept {
			if k.Reason == suggest.KeptGroup {
				removed = append(removed, k.Action)
			}
		}
		slices.Sort(removed)
		if strings.Join(removed, " ") != strings.Join(a.Unused, " ") {
			t.Errorf("%s: removed %q, manifest's unused %q", a.Principal, removed, a.Unused)
		}
		docs, _ := filepath.Glob(filepath.Join(folder, "*.json"))
		for _, d := range docs {
			if strings.HasSuffix(d, "suggestion.json") {
				continue
			}
			b, _ := os.ReadFile(d)
			if _, err := policy.CompileJSON(d, b); err != nil {
				t.Errorf("%s does not compile: %v", d, err)
			}
		}
		review, _ := os.ReadFile(filepath.Join(folder, "review.md"))
		if !strings.Contains(string(review), "Self-check by iamd's policy engine: passed") || !strings.Contains(string(review), "aws iam ") {
			t.Errorf("%s: review.md lacks the check result or the commands", a.Principal)
		}
	}
	// A week later with a shorter window: the run reports what changed.
	text, err = runSuggestAt(t, run1.Add(7*24*time.Hour), "--store", st, "--iam", snap, "--out", out, "--window", "1d", "--format", "json")
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	var res suggest.RunResult
	if err := json.Unmarshal([]byte(text), &res); err != nil {
		t.Fatal(err)
	}
	changed := 0
	for _, s := range res.Summaries {
		if s.Changes == nil {
			continue
		}
		if !s.Changes.Previous.Equal(run1) {
			t.Fatalf("%s: previous run %v, want %v", s.Principal, s.Changes.Previous, run1)
		}
		if !s.Changes.Empty() {
			changed++
		}
	}
	if changed == 0 {
		t.Fatalf("a 1-day window after a 30-day one changed nothing: %+v", res.Summaries)
	}
	review, err := os.ReadFile(filepath.Join(out, suggest.FolderName(res.Summaries[0].Principal), "review.md"))
	if err != nil || !strings.Contains(string(review), "Changes since the run of 2026-12-01") {
		t.Fatalf("review of the second run lacks the changes: %v", err)
	}
}

func TestSuggestWithoutModel(t *testing.T) {
	st, _, _ := ingestedTrail(t)
	out := t.TempDir()
	text, err := runIamdStdout(t, "suggest", "--store", st, "--out", out, "--no-history")
	if err != nil {
		t.Fatalf("suggest without a model: %v\n%s", err, text)
	}
	if !strings.Contains(text, "could not") && !strings.Contains(text, "not compared") {
		t.Fatalf("no word that grants were not compared:\n%s", text)
	}
	dirs, _ := os.ReadDir(out)
	if len(dirs) < 10 {
		t.Fatalf("%d folders: every principal seen should get a generated policy", len(dirs))
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(out, d.Name(), "generated-1.json")); err != nil {
			t.Errorf("%s: %v", d.Name(), err)
		}
	}
}
