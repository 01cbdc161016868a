package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/iamd/iamd/store"
)

// runDemoCmd runs `iamd demo args…` as main does and returns its exit
// status and output.
func runDemoCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	root, prof := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"demo"}, args...))
	code := execute(context.Background(), root, prof, &errOut)
	return code, out.String(), errOut.String()
}

// TestDemo: the demo exits 0 and prints every section in order, with what
// each must show: the ingest figures, the leftovers found unused, the
// trail's audit evidence, a suggestion whose self-check passed, and a
// rotation walked from the new key to the old key's deletion, waiting for
// the forgotten job that still used the old key. The same seed prints the
// same bytes; another seed another account.
func TestDemo(t *testing.T) {
	args := []string{"--events", "4000", "--days", "3"}
	code, out, stderr := runDemoCmd(t, append(args, "--seed", "7")...)
	if code != exitOK {
		t.Fatalf("exit status %d, stderr:\n%s\nstdout:\n%s", code, stderr, out)
	}
	at := 0
	for _, s := range demoSections {
		i := strings.Index(out[at:], "\n== "+s.title+"\n")
		if i < 0 {
			t.Fatalf("section %q missing or out of order:\n%s", s.title, out)
		}
		at += i + 1
	}
	for _, want := range []string{
		`records\s+4000\n`,
		`unused-role\s+unused\s+role/legacy-etl\s`,
		`unused-user\s+unused\s+user/contractors/former-contractor\s`,
		`unused-access-key\s+unused\s+user/contractors/former-contractor\s+AKIA`,
		`(?m)^Evidence from the trail:\n  CT0\d\d `,
		`(?m)^self-check by iamd's policy engine: generated passed \(\d+ engine decisions\); in place passed \(\d+ engine decisions\)\.$`,
		`The plan \(iamd rotate plan, dry run, nothing changed\): \d+ users, [1-9]\d* rotations would start`,
		`(?s)created new key (AKIA\w{16}).*verified new key with STS.*published new key at secretsmanager` +
			`.*1 with the old key.*from 203\.0\.113\.7.*deactivated old key.*deleted old key.*has one key: (AKIA\w{16}) \(Active`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`created new key (AKIA\w{16})(?s:.*)has one key: (AKIA\w{16})`).FindStringSubmatch(out); m == nil || m[1] != m[2] {
		t.Errorf("the key left is not the one created: %q", m)
	}
	if strings.Contains(out, "FAILED") {
		t.Error("a self-check failed")
	}
	if t.Failed() {
		t.Fatalf("output:\n%s", out)
	}

	_, again, _ := runDemoCmd(t, append(args, "--seed", "7")...)
	if again != out {
		t.Fatalf("two runs with seed 7 differ:\n%s\n---\n%s", out, again)
	}
	_, other, _ := runDemoCmd(t, append(args, "--seed", "8")...)
	if other == out {
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
	for _, f := range []string{"iam.json", "iamd.yaml", "trail-after"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	st := filepath.Join(dir, "store")
	if out, err := runIamdStdout(t, "usage", "principals", "--store", st); err != nil || !strings.Contains(out, "PRINCIPAL") {
		t.Fatalf("usage principals on the kept store: %v\n%s", err, out)
	}
	if out, err := runIamdStdout(t, "report", "--store", st, "--format", "json"); err != nil || !strings.Contains(out, `"unused"`) {
		t.Fatalf("report on the kept store: %v\n%s", err, clip(out))
	}
	// The rotation the demo ran is in the store.
	if out, err := runIamdStdout(t, "rotate", "status", "--store", st, "--format", "json"); err != nil || !strings.Contains(out, `"phase": "deleted"`) {
		t.Fatalf("rotate status on the kept store: %v\n%s", err, out)
	}
	if out, err := runIamdStdout(t, "config", "check", filepath.Join(dir, "iamd.yaml")); err != nil {
		t.Fatalf("config check of the kept configuration: %v\n%s", err, out)
	}
	// A directory with files of its own is refused.
	if _, err := runIamdStdout(t, "demo", "--events", "100", "--keep", dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("demo --keep into a non-empty directory = %v, want refused", err)
	}
}
