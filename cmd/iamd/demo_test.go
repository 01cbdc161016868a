package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/iamd/iamd/store"
)

// TestDemoDeterministic: the same seed prints the same bytes; another
// seed prints another account.
func TestDemoDeterministic(t *testing.T) {
	args := []string{"demo", "--events", "3000", "--days", "2"}
	a, err := runIamdStdout(t, append(args, "--seed", "7")...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := runIamdStdout(t, append(args, "--seed", "7")...)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("two runs with seed 7 differ:\n%s\n---\n%s", a, b)
	}
	for _, want := range []string{`== Ingest`, `records\s+3000\s`, `== Usage by principal`, `== Audit of the IAM configuration`, `IAM0\d\d\s`} {
		if !regexp.MustCompile(want).MatchString(a) {
			t.Errorf("demo output lacks %q:\n%s", want, a)
		}
	}
	c, err := runIamdStdout(t, append(args, "--seed", "8")...)
	if err != nil {
		t.Fatal(err)
	}
	if c == a {
		t.Error("seeds 7 and 8 print the same output")
	}
}

func TestDemoKeep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kept")
	out, err := runIamdStdout(t, "demo", "--events", "2000", "--days", "2", "--keep", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Kept in "+dir) {
		t.Errorf("output does not say where the files are:\n%s", out)
	}
	db, err := store.Open(store.Options{Dir: filepath.Join(dir, "store"), MustExist: true})
	if err != nil {
		t.Fatalf("kept store: %v", err)
	}
	ps, err := db.Principals(context.Background())
	db.Close()
	if err != nil || len(ps) == 0 {
		t.Fatalf("kept store has %d principals, %v", len(ps), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "iam.json")); err != nil {
		t.Fatal(err)
	}
	if out, err := runIamdStdout(t, "usage", "principals", "--store", filepath.Join(dir, "store")); err != nil || !strings.Contains(out, "PRINCIPAL") {
		t.Fatalf("usage principals on the kept store: %v\n%s", err, out)
	}
	// A directory with files of its own is refused.
	if _, err := runIamdStdout(t, "demo", "--events", "100", "--keep", dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("demo --keep into a non-empty directory = %v, want refused", err)
	}
}
