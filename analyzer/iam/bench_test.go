package iam

import (
	"os"
	"testing"
	"time"
)

// largestShared is the largest shared snapshot (44 users, 5 groups, 78
// roles, 84 managed policies).
const largestShared = sharedSnapshots + "/cloudsplaining/examples_example.json"

func loadLargest(b *testing.B) []byte {
	b.Helper()
	data, err := os.ReadFile(largestShared)
	if err != nil {
		b.Skipf("iam snapshots: shared test data not found at %s", largestShared)
	}
	return data
}

// BenchmarkGrantedAll computes the granted set of every principal of the
// largest shared snapshot with a fresh Granter each time (no cache carried
// over), as one `iamd audit` or analyzer run does.
func BenchmarkGrantedAll(b *testing.B) {
	cat := testCatalog(b)
	a, err := Parse(loadLargest(b), LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		g, err := NewGranter(cat, a, nil)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, s := range g.All() {
			n += s.Len()
		}
		if n == 0 {
			b.Fatal("no grants")
		}
	}
	b.ReportMetric(float64(len(a.Principals)), "principals")
}

// BenchmarkGrantedAllGrants also materialises every per-action Grant.
func BenchmarkGrantedAllGrants(b *testing.B) {
	cat := testCatalog(b)
	a, err := Parse(loadLargest(b), LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		g, _ := NewGranter(cat, a, nil)
		n := 0
		for _, s := range g.All() {
			n += len(s.Grants())
		}
		b.ReportMetric(float64(n), "grants")
	}
}

func BenchmarkLoadLargest(b *testing.B) {
	data := loadLargest(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, LoadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuditLargest(b *testing.B) {
	cat := testCatalog(b)
	a, err := Parse(loadLargest(b), LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Audit(cat, a, AuditOptions{Now: now}); err != nil {
			b.Fatal(err)
		}
	}
}
