package catalog_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/iamd/iamd/analyzer/catalog"
	"github.com/iamd/iamd/analyzer/catalog/internal/upstream"
)

// Shared test data, relative to this package.
var (
	sharedCatalog = filepath.Join("..", "..", "..", "shared", "testdata", "iam-catalog", "iam-data-0.21.202609261.json.gz")
	sharedLicense = filepath.Join("..", "..", "..", "shared", "testdata", "iam-catalog", "LICENSE-iam-data.txt")
	sharedCases   = filepath.Join("..", "..", "..", "shared", "testdata", "policy-eval", "wildcard-actions", "cases.json")
)

const fixturePath = "testdata/fixture-iam-data.json"

// encodeSnapshot runs the generator's conversion on an upstream-shaped file.
func encodeSnapshot(t testing.TB, path string) (*upstream.Snapshot, []byte) {
	t.Helper()
	snap, err := upstream.ReadFile(path)
	if err != nil {
		t.Fatalf("upstream.ReadFile(%s): %v", path, err)
	}
	var buf bytes.Buffer
	if err := upstream.Encode(snap, &buf); err != nil {
		t.Fatalf("upstream.Encode(%s): %v", path, err)
	}
	return snap, buf.Bytes()
}

// loadFixture converts and parses the small fixture catalog.
func loadFixture(t testing.TB) *catalog.Catalog {
	t.Helper()
	_, enc := encodeSnapshot(t, fixturePath)
	c, err := catalog.Parse(bytes.NewReader(enc))
	if err != nil {
		t.Fatalf("Parse(fixture): %v", err)
	}
	return c
}

func mustLoad(t testing.TB) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Load()
	if err != nil {
		t.Fatalf("Load(): %v", err)
	}
	return c
}

func skipWithoutShared(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("catalog: shared test data not found at %s", path)
	}
}

func fullNames(as []catalog.Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.FullName()
	}
	return out
}

func sortedFold(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// minimizationProblems returns what is wrong with patterns as a minimisation
// of input, by the two checks of the wildcard-actions README:
// expansionEqualsInput (the patterns cover exactly the input set) and
// eachPatternMinimal (dropping one more character before '*' pulls in an
// action outside the set, unless minChars forbids the shorter prefix).
func minimizationProblems(c *catalog.Catalog, input []string, minChars int, patterns []string) []string {
	var problems []string
	want := map[int]bool{}
	for _, in := range input {
		ids, err := c.ExpandIDs(in, nil)
		if err != nil {
			return append(problems, "input "+in+": "+err.Error())
		}
		for _, id := range ids {
			want[id] = true
		}
	}
	got := map[int]bool{}
	for _, p := range patterns {
		ids, err := c.ExpandIDs(p, nil)
		if err != nil {
			problems = append(problems, "pattern "+p+": "+err.Error())
			continue
		}
		for _, id := range ids {
			got[id] = true
		}
	}
	for id := range got {
		if !want[id] {
			problems = append(problems, "expansion includes "+c.ActionAt(id).FullName()+", not in the input")
		}
	}
	for id := range want {
		if !got[id] {
			problems = append(problems, "expansion misses "+c.ActionAt(id).FullName())
		}
	}
	for _, p := range patterns {
		svc, act, _ := strings.Cut(p, ":")
		prefix, ok := strings.CutSuffix(act, "*")
		if !ok || strings.ContainsAny(prefix, "*?") || len(prefix) == 0 || len(prefix) <= minChars {
			continue
		}
		shorter := svc + ":" + prefix[:len(prefix)-1] + "*"
		ids, err := c.ExpandIDs(shorter, nil)
		if err != nil {
			problems = append(problems, "shorter "+shorter+": "+err.Error())
			continue
		}
		outside := false
		for _, id := range ids {
			if !want[id] {
				outside = true
				break
			}
		}
		if !outside {
			problems = append(problems, "pattern "+p+" is not minimal: "+shorter+" stays inside the set")
		}
	}
	slices.Sort(problems)
	return problems
}

func asUnknown(err error) (*catalog.UnknownError, bool) {
	var ue *catalog.UnknownError
	ok := errors.As(err, &ue)
	return ue, ok
}
