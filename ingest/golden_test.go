package ingest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestSharedGolden pins what the shared samples turn into: per file the
// counts by kind and quarantine reason, then calls per principal × action
// (allowed/denied) and the unmapped names.
func TestSharedGolden(t *testing.T) {
	files := sharedFiles(t)
	c := testConverter(t)
	var b strings.Builder
	type pa struct{ allowed, denied int }
	byPA := map[string]*pa{}
	var total Counts
	for _, f := range files {
		rs, counts := convertFiles(t, c, []string{f})
		total.Add(counts)
		rel, _ := filepath.Rel(sharedCloudTrail, f)
		fmt.Fprintf(&b, "file %s records=%d usage=%d permissionless=%d unmapped=%d service=%d non-principal=%d denied=%d digests=%d quarantined=%s\n",
			filepath.ToSlash(rel), counts.Records, counts.Usage, counts.Permissionless, counts.UnmappedTotal(),
			counts.ServiceEvents, counts.NonPrincipal, counts.Denied, counts.Digests, mapString(counts.Quarantined))
		for _, r := range rs {
			for _, u := range r.Event.Uses {
				k := r.Event.Principal + " " + u.Action
				if byPA[k] == nil {
					byPA[k] = &pa{}
				}
				if r.Event.Outcome == 0 {
					byPA[k].allowed++
				} else {
					byPA[k].denied++
				}
			}
			if r.Kind == KindQuarantined {
				fmt.Fprintf(&b, "  quarantined %s: %s\n", r.Quarantined.Reason, r.Quarantined.Where)
			}
		}
	}
	keys := make([]string, 0, len(byPA))
	for k := range byPA {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "use %s allowed=%d denied=%d\n", k, byPA[k].allowed, byPA[k].denied)
	}
	fmt.Fprintf(&b, "unmapped %s\n", mapString(total.Unmapped))
	fmt.Fprintf(&b, "total records=%d usage=%d permissionless=%d service=%d non-principal=%d denied=%d quarantined=%s\n",
		total.Records, total.Usage, total.Permissionless, total.ServiceEvents, total.NonPrincipal, total.Denied, mapString(total.Quarantined))

	golden := filepath.Join("testdata", "shared-samples.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s\n(run with -update after checking)", golden, i+1, g, w)
			}
		}
	}
}

func mapString(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, m[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}
