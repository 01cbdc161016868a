package policycase

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sharedCases = "../../../../shared/testdata/policy-eval/aws-iam-user-guide/cases.json"

// runCaseFile runs every case of path as a subtest named by the case id.
func runCaseFile(t *testing.T, path string, want int) {
	t.Helper()
	cases, err := LoadFile(path)
	if err != nil {
		t.Fatalf("LoadFile(%s): %v", path, err)
	}
	if want > 0 && len(cases) != want {
		t.Fatalf("%s has %d cases, want %d", path, len(cases), want)
	}
	seen := map[string]bool{}
	for i := range cases {
		c := &cases[i]
		if c.Label() == "" || seen[c.Label()] {
			t.Fatalf("case %d: missing or duplicate id %q", i, c.Label())
		}
		seen[c.Label()] = true
		t.Run(c.Label(), func(t *testing.T) {
			o := Run(c)
			if !o.Pass {
				t.Errorf("decision=%s want %s (reason %q, error %q, allows %v, denies %v; note %q)",
					o.Decision, o.Expected, o.Reason, o.Error, o.Allows, o.Denies, c.Note)
			}
		})
	}
}

func TestAWSUserGuideCases(t *testing.T) {
	if _, err := os.Stat(sharedCases); err != nil {
		t.Skipf("AWS IAM User Guide cases: shared test data not found at %s", sharedCases)
	}
	runCaseFile(t, sharedCases, 78)
}

// TestFlippedExpectationFails proves the harness compares: every shared case
// with its expectation flipped must fail.
func TestFlippedExpectationFails(t *testing.T) {
	if _, err := os.Stat(sharedCases); err != nil {
		t.Skipf("AWS IAM User Guide cases: shared test data not found at %s", sharedCases)
	}
	cases, err := LoadFile(sharedCases)
	if err != nil {
		t.Fatal(err)
	}
	flip := map[string]string{"Allowed": "ImplicitlyDenied", "ImplicitlyDenied": "Allowed", "ExplicitlyDenied": "Allowed"}
	for i := range cases {
		c := cases[i]
		c.Expected.Response = flip[c.Expected.Response]
		if o := Run(&c); o.Pass {
			t.Errorf("case %s passes with flipped expectation %s (decision %s)", c.Label(), c.Expected.Response, o.Decision)
		}
	}
}

// TestOwnCases runs the self-written cases under analyzer/policy/testdata:
// parse errors, SCP/RCP/session layers, cross-account, principals and
// NotPrincipal, every condition operator family, IfExists and the
// ForAllValues/ForAnyValue edge cases.
func TestOwnCases(t *testing.T) {
	files, err := filepath.Glob("../testdata/cases/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no case files under ../testdata/cases (err %v)", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			runCaseFile(t, f, 0)
		})
	}
}
