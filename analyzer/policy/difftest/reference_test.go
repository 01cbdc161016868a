package difftest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReferenceDriverFailures runs Decide against small stand-in drivers:
// garbage output, too few answers and a crash must each be an error naming
// what went wrong, and never hang.
func TestReferenceDriverFailures(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH")
	}
	tests := []struct {
		name, script, want string
	}{
		{"garbage", `process.stdin.resume(); console.log("not json");`, "decode reference line 1"},
		{"too few", `process.stdin.on('data', () => {}); process.stdin.on('end', () => console.log('{"line":1,"decision":"Allowed"}'));`, "answered 1 of 3 cases"},
		{"crash", `process.stderr.write("boom\n"); process.exit(3);`, "boom"},
	}
	cases := Generate(1, 3)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			driver := filepath.Join(t.TempDir(), "driver.js")
			if err := os.WriteFile(driver, []byte(tt.script), 0o644); err != nil {
				t.Fatal(err)
			}
			r := &Reference{node: node, driver: driver, cache: t.TempDir()}
			_, err := r.Decide(context.Background(), cases)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decide()=%v, want an error containing %q", err, tt.want)
			}
		})
	}
}
