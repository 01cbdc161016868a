package ingest

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iamd/iamd/analyzer/catalog"
)

const sharedCloudTrail = "../../shared/testdata/cloudtrail"

// sharedFiles lists the JSON sample files, skipping the test when the
// shared data is absent.
func sharedFiles(t testing.TB) []string {
	t.Helper()
	if _, err := os.Stat(sharedCloudTrail); err != nil {
		t.Skipf("shared test data not found at %s", sharedCloudTrail)
	}
	var files []string
	err := filepath.WalkDir(sharedCloudTrail, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && DataFile(p) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The tests on these files loop over them and check ratios of their
	// counts; none of that can fail on an empty set.
	if len(files) == 0 {
		t.Fatalf("no CloudTrail data files under %s", sharedCloudTrail)
	}
	sort.Strings(files)
	return files
}

func testConverter(t testing.TB) *Converter {
	t.Helper()
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConverter(ConverterOptions{Catalog: cat, Now: func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// convertFiles converts files and returns every result and the counts.
func convertFiles(t testing.TB, c *Converter, files []string) ([]Result, Counts) {
	t.Helper()
	var all []Result
	var total Counts
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(sharedCloudTrail, f)
		counts, err := c.Decode(context.Background(), filepath.ToSlash(rel), fh, func(r Result) error {
			all = append(all, r)
			return nil
		})
		fh.Close()
		if err != nil {
			t.Fatalf("decode %s: %v", f, err)
		}
		total.Add(counts)
	}
	return all, total
}

func TestSharedSamplesClassified(t *testing.T) {
	files := sharedFiles(t)
	c := testConverter(t)
	_, total := convertFiles(t, c, files)
	t.Logf("records %d, usage %d, permissionless %d, service %d, non-principal %d, denied %d, quarantined %v",
		total.Records, total.Usage, total.Permissionless, total.ServiceEvents, total.NonPrincipal, total.Denied, total.Quarantined)
	keys := make([]string, 0, len(total.Unmapped))
	for k := range total.Unmapped {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("unmapped (%d): %s", total.UnmappedTotal(), strings.Join(keys, ", "))
	if total.Records == 0 {
		t.Fatal("shared samples held no records")
	}
	share := total.Classified()
	t.Logf("attributed and mapped or classified: %.2f%% of %d usable records", 100*share, total.Records-total.QuarantinedTotal())
	if share < 0.99 {
		t.Fatalf("classified %.2f%%, want >= 99%%", 100*share)
	}
}
