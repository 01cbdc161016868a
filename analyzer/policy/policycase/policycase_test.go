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
	if got, want := len(cases), 78; got != want {
		t.Fatalf("%d shared cases, want %d", got, want)
	}
	flip := map[string]string{"Allowed": "ImplicitlyDenied", "ImplicitlyDenied": "Allowed", "ExplicitlyDenied": "Allowed"}
	for i := range cases {
		c := cases[i]
		f, ok := flip[c.Expected.Response]
		if !ok {
			t.Fatalf("case %s: unknown expected response %q", c.Label(), c.Expected.Response)
		}
		c.Expected.Response = f
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

func TestBuildContext(t *testing.T) {
	cases, err := Load(strings.NewReader(`[{"id": "ctx", "request": {"principal": "arn:aws:iam::111111111111:user/a", "action": "s3:GetObject",
		"resource": {"resource": "*", "accountId": "111111111111"},
		"context": {"aws:username": "a", "s3:max-keys": 10, "aws:SecureTransport": true, "aws:TagKeys": ["x", "y"], "aws:Empty": []}},
		"identityPolicies": [], "expected": {"response": "ImplicitlyDenied"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	req, _, err := cases[0].Build()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key, typ, vals string
		multi          bool
	}{
		{"aws:username", "string", "a", false},
		{"s3:max-keys", "numeric", "10", false},
		{"aws:securetransport", "bool", "true", false},
		{"aws:tagkeys", "string", "x,y", true},
		{"aws:empty", "string", "", true},
	}
	for _, tt := range tests {
		v, ok := req.Context.Lookup(tt.key)
		if !ok || v.Type.String() != tt.typ || strings.Join(v.Values, ",") != tt.vals || v.Multi != tt.multi {
			t.Errorf("%s: got %+v (present %v), want %s %q multi=%v", tt.key, v, ok, tt.typ, tt.vals, tt.multi)
		}
	}
	bad := []string{
		`{"request": {"context": {"k": {"a": 1}}}, "expected": {"response": "Allowed"}}`,
		`{"request": {"context": {"k": [[1]]}}, "expected": {"response": "Allowed"}}`,
	}
	for _, b := range bad {
		cs, err := Load(strings.NewReader("[" + b + "]"))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := cs[0].Build(); err == nil || !strings.Contains(err.Error(), `request.context "k"`) {
			t.Errorf("Build(%s) err=%v, want a request.context error", b, err)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`[{"id": "x", "expected": {"response": "Maybe"}}]`, `unknown result "Maybe"`},
		{`[{"id": "x", "expected": {}}]`, "expected needs response or error"},
		{`[{"id": "x",}]`, "decode cases at byte"},
		{`{}`, "decode cases"},
	}
	for _, tt := range tests {
		if _, err := Load(strings.NewReader(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%s) err=%v, want one containing %q", tt.in, err, tt.want)
		}
	}
}
