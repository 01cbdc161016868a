package catalog_test

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/catalog/internal/upstream"
)

type wildcardCases struct {
	Expansion []struct {
		ID       string   `json:"id"`
		Pattern  string   `json:"pattern"`
		Expected []string `json:"expected"`
	} `json:"expansion"`
	Minimization []struct {
		ID       string   `json:"id"`
		Input    []string `json:"input"`
		MinChars *int     `json:"minChars"`
		Expected []string `json:"expected"`
	} `json:"minimization"`
}

func readCases(t *testing.T) wildcardCases {
	t.Helper()
	skipWithoutShared(t, sharedCases)
	raw, err := os.ReadFile(sharedCases)
	if err != nil {
		t.Fatal(err)
	}
	var cs wildcardCases
	if err := json.Unmarshal(raw, &cs); err != nil {
		t.Fatalf("decode %s: %v", sharedCases, err)
	}
	if len(cs.Expansion) != 12 || len(cs.Minimization) != 5 {
		t.Fatalf("%s: %d expansion and %d minimisation cases, want 12 and 5", sharedCases, len(cs.Expansion), len(cs.Minimization))
	}
	return cs
}

// TestSharedExpansionCases checks Expand against every expansion case. The
// cases write unknown patterns as an empty list; Expand reports them as
// *UnknownError instead, which is checked here.
func TestSharedExpansionCases(t *testing.T) {
	cs := readCases(t)
	c := mustLoad(t)
	for _, tc := range cs.Expansion {
		t.Run(tc.ID, func(t *testing.T) {
			got, err := c.Expand(tc.Pattern)
			if len(tc.Expected) == 0 {
				if _, ok := asUnknown(err); !ok {
					t.Fatalf("Expand(%q) = %v, %v; want *UnknownError", tc.Pattern, fullNames(got), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Expand(%q): %v", tc.Pattern, err)
			}
			names := fullNames(got)
			slices.Sort(names)
			if !slices.Equal(names, tc.Expected) {
				t.Fatalf("Expand(%q) = %v, want %v", tc.Pattern, names, tc.Expected)
			}
			ids, err := c.ExpandIDs(tc.Pattern, nil)
			if err != nil || len(ids) != len(tc.Expected) {
				t.Fatalf("ExpandIDs(%q) = %d ids, %v; want %d", tc.Pattern, len(ids), err, len(tc.Expected))
			}
			match, err := c.Match(tc.Pattern)
			if err != nil {
				t.Fatalf("Match(%q): %v", tc.Pattern, err)
			}
			n := 0
			for id := 0; id < c.Len(); id++ {
				if match(id) {
					n++
				}
			}
			if n != len(tc.Expected) {
				t.Fatalf("Match(%q) accepts %d ids, want %d", tc.Pattern, n, len(tc.Expected))
			}
		})
	}
}

// TestSharedMinimizationCases checks Minimize by the README's two checks and,
// as all five cases are deterministic, also against the expected patterns.
func TestSharedMinimizationCases(t *testing.T) {
	cs := readCases(t)
	c := mustLoad(t)
	for _, tc := range cs.Minimization {
		t.Run(tc.ID, func(t *testing.T) {
			minChars := 0
			if tc.MinChars != nil {
				minChars = *tc.MinChars
			}
			got, err := c.Minimize(tc.Input, minChars)
			if err != nil {
				t.Fatalf("Minimize(%v, %d): %v", tc.Input, minChars, err)
			}
			if p := minimizationProblems(c, tc.Input, minChars, got); len(p) > 0 {
				t.Fatalf("Minimize(%v, %d) = %v:\n%s", tc.Input, minChars, got, strings.Join(p, "\n"))
			}
			// The upstream expectations must pass the same checks.
			if p := minimizationProblems(c, tc.Input, minChars, tc.Expected); len(p) > 0 {
				t.Fatalf("expected %v fails the checks:\n%s", tc.Expected, strings.Join(p, "\n"))
			}
			if !slices.Equal(got, tc.Expected) {
				t.Fatalf("Minimize(%v, %d) = %v, want %v", tc.Input, minChars, got, tc.Expected)
			}
		})
	}
}

// TestEmbeddedMatchesShared checks the embedded catalog against the shared
// snapshot's counts (from its README) and values.
func TestEmbeddedMatchesShared(t *testing.T) {
	skipWithoutShared(t, sharedCatalog)
	c := mustLoad(t)
	snap, err := upstream.ReadFile(sharedCatalog)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(c.Services()), 456; got != want {
		t.Errorf("len(Services()) = %d, want %d", got, want)
	}
	if got, want := c.Len(), 22091; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	if pkg, ver := c.DataSource(); pkg != snap.Source.Package || ver != snap.Source.Version || ver != catalog.Version() {
		t.Errorf("DataSource() = %s %s, Version() = %s; shared snapshot is %s %s", pkg, ver, catalog.Version(), snap.Source.Package, snap.Source.Version)
	}
	var wildcardOnly, refs, required, rts int
	levels := map[catalog.AccessLevel]int{}
	for id := 0; id < c.Len(); id++ {
		a := c.ActionAt(id)
		levels[a.Level]++
		if a.WildcardOnly() {
			wildcardOnly++
		}
		for _, r := range a.Resources {
			refs++
			if r.Required {
				required++
			}
		}
		up, ok := snap.Actions[a.Service][strings.ToLower(a.Name)]
		if !ok || up.Name != a.Name || len(up.ConditionKeys) != len(a.ConditionKeys) || len(up.ResourceTypes) != len(a.Resources) {
			t.Fatalf("action %s differs from upstream %+v", a.FullName(), up)
		}
	}
	for _, p := range c.Services() {
		s, _ := c.Service(p)
		rts += len(s.ResourceTypes)
		if s.Name != snap.ServiceNames[p] {
			t.Errorf("service %s name %q, upstream %q", p, s.Name, snap.ServiceNames[p])
		}
	}
	for _, tc := range []struct {
		what      string
		got, want int
	}{
		{"wildcard-only actions", wildcardOnly, 6724},
		{"action resource references", refs, 21931},
		{"required references", required, 15730},
		{"resource types", rts, 2334},
		{"Read", levels[catalog.Read], 5871},
		{"Write", levels[catalog.Write], 11357},
		{"List", levels[catalog.List], 3719},
		{"Tagging", levels[catalog.Tagging], 719},
		{"PermissionsManagement", levels[catalog.PermissionsManagement], 425},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.what, tc.got, tc.want)
		}
	}
}

// TestGeneratedUpToDate regenerates the embedded files from the shared
// snapshot and compares them with the committed ones. The zstd stream is
// compared decompressed, so a change in the compressor's output across
// library versions does not fail the test.
func TestGeneratedUpToDate(t *testing.T) {
	skipWithoutShared(t, sharedCatalog)
	snap, enc := encodeSnapshot(t, sharedCatalog)
	raw, err := os.ReadFile("catalog.txt.zst")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	committed, err := zr.DecodeAll(raw, nil)
	if err != nil {
		t.Fatalf("decode catalog.txt.zst: %v", err)
	}
	if !bytes.Equal(committed, enc) {
		t.Errorf("catalog.txt.zst is stale (%d bytes decompressed, regenerated %d): run go generate ./analyzer/catalog", len(committed), len(enc))
	}
	ver, err := upstream.VersionFile("catalog", snap.Source)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		want []byte
	}{
		{"version_gen.go", ver},
		{"LICENSE-iam-data.txt", snap.LicenseText},
	} {
		got, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if len(tc.want) == 0 || !bytes.Equal(got, tc.want) {
			t.Errorf("%s is stale or missing: run go generate ./analyzer/catalog", tc.file)
		}
	}
	if lic, err := os.ReadFile(sharedLicense); err == nil {
		if got, _ := os.ReadFile("LICENSE-iam-data.txt"); !bytes.Equal(got, lic) {
			t.Errorf("LICENSE-iam-data.txt differs from %s", sharedLicense)
		}
	}
}

// TestSharedConditionPatterns checks that every upstream conditionPattern
// (a regex on concrete keys) resolves through ConditionKey to its template,
// which is how the catalog covers them without keeping the regexes.
func TestSharedConditionPatterns(t *testing.T) {
	skipWithoutShared(t, sharedCatalog)
	c := mustLoad(t)
	snap, err := upstream.ReadFile(sharedCatalog)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for svc, pats := range snap.ConditionPatterns {
		for re, tmpl := range pats {
			n++
			// A concrete key: each .+? replaced by a sample value.
			key := strings.ReplaceAll(re, ".+?", "Sample-Value_1")
			if !regexp.MustCompile("^(?:" + re + ")$").MatchString(key) {
				t.Fatalf("%s: sample %q does not match %q", svc, key, re)
			}
			got, ok := c.ConditionKey(key)
			if !ok || got.Name != tmpl {
				t.Errorf("ConditionKey(%q) = %+v, %v; want template %q", key, got, ok, tmpl)
			}
		}
	}
	if n != 130 {
		t.Errorf("%d condition patterns, want 130", n)
	}
}
