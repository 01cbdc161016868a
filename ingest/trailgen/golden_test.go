package trailgen

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden/")

// TestGolden pins the exact output of a small generation, so a change of
// the records, the manifest or the snapshot for a given seed is a
// deliberate one (benchmarks and crash tests compare runs by seed).
func TestGolden(t *testing.T) {
	o := DefaultOptions(2026)
	o.Accounts = []string{"111122223333"}
	o.Events = 40
	o.Span = 2 * time.Hour
	o.Users, o.Roles = 3, 3
	o.DeniedRate, o.ErrorRate, o.ServiceEventRate = 0.1, 0.1, 0.1
	g := mustNew(t, o)
	var lines, manifest bytes.Buffer
	m, err := g.WriteJSONLines(context.Background(), &lines, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WriteJSON(&manifest); err != nil {
		t.Fatal(err)
	}
	snap, err := g.IAMSnapshot("111122223333")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file string
		got  []byte
	}{
		{"records.jsonl", lines.Bytes()},
		{"manifest.json", manifest.Bytes()},
		{"iam-snapshot.json", snap},
	} {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", c.file)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, c.got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if !bytes.Equal(c.got, want) {
				t.Fatalf("%s differs from the golden file; if the change is intended, run go test -run TestGolden -update", c.file)
			}
		})
	}
}
