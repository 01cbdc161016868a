package iam

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// snapshotSummary is what the golden files hold for a shared snapshot:
// the model, every principal's granted set in short form, and the audit.
type snapshotSummary struct {
	Account    string             `json:"account"`
	Truncated  bool               `json:"truncated"`
	Warnings   []string           `json:"warnings"`
	Principals []principalSummary `json:"principals"`
	Findings   []string           `json:"findings"`
}

type principalSummary struct {
	ARN         string         `json:"arn"`
	Kind        Kind           `json:"kind"`
	Granted     int            `json:"granted"`
	Conditional int            `json:"conditional"`
	Narrowed    int            `json:"narrowed"`
	Services    map[string]int `json:"services,omitempty"` // only for sets of at most 200 actions
	Unknown     []string       `json:"unknown,omitempty"`
}

func summarize(t *testing.T, a *Account) snapshotSummary {
	t.Helper()
	cat := testCatalog(t)
	s := snapshotSummary{Account: a.ID, Truncated: a.Truncated, Warnings: []string{}, Findings: []string{}}
	for _, w := range a.Warnings {
		s.Warnings = append(s.Warnings, w.String())
	}
	g, err := NewGranter(cat, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, gs := range g.All() {
		ps := principalSummary{ARN: gs.Principal, Kind: gs.Kind, Granted: gs.Len(), Unknown: gs.Unknown}
		grants := gs.Grants()
		if len(grants) <= 200 {
			ps.Services = map[string]int{}
		}
		for _, gr := range grants {
			if gr.Conditional {
				ps.Conditional++
			}
			if len(gr.Narrowed) > 0 {
				ps.Narrowed++
			}
			if ps.Services != nil {
				ps.Services[gr.Action[:strings.IndexByte(gr.Action, ':')]]++
			}
		}
		s.Principals = append(s.Principals, ps)
	}
	fs, err := Audit(cat, a, AuditOptions{Now: func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		k := f.Rule + " " + string(f.Severity) + " " + f.Principal
		if f.Method != "" {
			k += " " + f.Method
		}
		s.Findings = append(s.Findings, k)
	}
	return s
}

func TestSharedSnapshotsGolden(t *testing.T) {
	if _, err := os.Stat(sharedSnapshots); err != nil {
		t.Skipf("iam snapshots: shared test data not found at %s", sharedSnapshots)
	}
	// Present but laid out differently is a failure (the count check
	// below), not a skip.
	files, _ := filepath.Glob(sharedSnapshots + "/*/*.json")
	if got, want := len(files), 7; got != want {
		t.Errorf("shared snapshots = %d, want %d", got, want)
	}
	sort.Strings(files)
	for _, f := range files {
		name := filepath.Base(filepath.Dir(f)) + "__" + strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			a, err := LoadFile(f, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(summarize(t, a), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("summary of %s differs from %s (go test -update to accept):\n%s", f, golden, firstDiff(string(got), string(want)))
			}
		})
	}
}

// firstDiff shows the first differing line.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) && i < len(w); i++ {
		if g[i] != w[i] {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + g[i] + "\nwant: " + w[i]
		}
	}
	return "length differs"
}
