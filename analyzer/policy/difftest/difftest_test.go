package difftest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/iamd/iamd/analyzer/policy"
	"github.com/iamd/iamd/analyzer/policy/policycase"
)

var update = flag.Bool("update", false, "rewrite testdata/engine-disagreements.json")

const (
	sharedCases = "../../../../shared/testdata/policy-eval/aws-iam-user-guide/cases.json"
	driverPath  = "node/driver.js"
	pendingFile = "testdata/engine-disagreements.json"
	// defaultSeed is the seed of the default run; IAMD_DIFF_SEED overrides.
	defaultSeed = 20261123
	// defaultCases keeps the default run to a few seconds; IAMD_DIFF_CASES
	// raises it.
	defaultCases = 3000
)

func reference(t testing.TB) *Reference {
	t.Helper()
	r, err := NewReference(driverPath)
	if errors.Is(err, ErrNoReference) {
		t.Skipf("differential test: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func envInt(t testing.TB, name string, def uint64) uint64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

// TestGeneratedCasesAgree is the differential test: every generated case
// must get the same decision from iamd and from the reference, unless a
// documented difference (KNOWN_DIFFERENCES.md) explains it.
func TestGeneratedCasesAgree(t *testing.T) {
	ref := reference(t)
	seed := envInt(t, "IAMD_DIFF_SEED", defaultSeed)
	n := int(envInt(t, "IAMD_DIFF_CASES", defaultCases))
	cases := Generate(seed, n)
	outs, err := ref.Decide(context.Background(), cases)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Compare(cases, outs)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rep.Rejected {
		t.Errorf("generator made an input the reference rejects or alters: %s\nreplay: %s", m, m.Replay())
	}
	for _, m := range rep.Unexplained {
		t.Errorf("DISAGREE %s\nreplay: %s", m, m.Replay())
	}
	known := map[string]int{}
	for _, m := range rep.Known {
		known[m.Difference]++
	}
	t.Logf("seed %d: %d cases, %d agree, %d known differences %v, %d pending iamd fixes, %d rejected, %d unexplained",
		seed, n, rep.Agreed, len(rep.Known), known, len(rep.Pending), len(rep.Rejected), len(rep.Unexplained))
	t.Logf("coverage: %v", coverage(cases, outs))
	if got, want := rep.Agreed+len(rep.Known)+len(rep.Pending)+len(rep.Rejected)+len(rep.Unexplained), n; got != want {
		t.Fatalf("report accounts for %d cases, want %d", got, want)
	}
	checkPending(t, fmt.Sprintf("gen/%d/", seed), n, rep.Pending)
}

// checkPending keeps the disagreements that are bugs of iamd visible in
// testdata/engine-disagreements.json. The cases of this run (by name prefix,
// for indexes below n) must be exactly the file's, so a new bug fails and a
// fixed one asks for the file to be regenerated; -update rewrites this run's
// part and keeps other seeds' entries.
func checkPending(t *testing.T, prefix string, n int, pending []Mismatch) {
	t.Helper()
	var old []Case
	if fileExists(pendingFile) {
		var err error
		if old, err = policycase.LoadFile(pendingFile); err != nil {
			t.Fatalf("%v (run go test -run TestGeneratedCasesAgree -update)", err)
		}
	}
	inRun := func(name string) bool {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			return false
		}
		i, err := strconv.Atoi(rest)
		return err == nil && i < n
	}
	var keep []Case
	var want []string
	for _, c := range old {
		if inRun(c.Label()) {
			want = append(want, c.Label())
		} else {
			keep = append(keep, c)
		}
	}
	var got []string
	for _, m := range pending {
		got = append(got, m.Case.Label())
		t.Logf("pending iamd fix (%s): %s\nreplay: %s", m.Difference, m, m.Replay())
	}
	if !*update {
		if g, w := strings.Join(got, " "), strings.Join(want, " "); g != w {
			t.Errorf("pending iamd disagreements changed:\n got  %s\n want %s\n(a fixed case or a new bug; rerun with -update after checking)", g, w)
		}
		return
	}
	for _, m := range pending {
		c := m.Case
		c.Expected = policycase.Expected{Response: m.Ref.Decision}
		c.Note = "reference decision; iamd decides " + m.Ours.Decision + " (" + m.Difference + ", see KNOWN_DIFFERENCES.md)"
		keep = append(keep, c)
	}
	if len(keep) == 0 {
		if err := os.Remove(pendingFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return
	}
	b, err := json.MarshalIndent(keep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(pendingFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pendingFile, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestPendingCasesStillDisagree runs the recorded iamd disagreements through
// iamd alone (no Node needed): each must still fail against the reference's
// decision. When one passes, the engine was fixed: regenerate the file.
func TestPendingCasesStillDisagree(t *testing.T) {
	if !fileExists(pendingFile) {
		t.Skip("no recorded iamd disagreements")
	}
	cases, err := policycase.LoadFile(pendingFile)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cases {
		c := &cases[i]
		t.Run(c.Label(), func(t *testing.T) {
			o := policycase.Run(c)
			d, ok := KnownDifference(c, o.Decision, c.Expected.Response)
			if !ok || d.Owner != "iamd" {
				t.Errorf("recorded case is not recognised as a pending iamd difference (got %+v)", d.Name)
			}
			if o.Pass {
				t.Errorf("iamd now agrees with the reference (%s): regenerate %s with -update", o.Decision, pendingFile)
			}
		})
	}
}

// TestSharedDocCasesReference runs the 78 AWS IAM User Guide cases through
// the reference: it checks the driver (every expectation must hold) and
// that iamd agrees with it.
func TestSharedDocCasesReference(t *testing.T) {
	if _, err := os.Stat(sharedCases); err != nil {
		t.Skipf("AWS IAM User Guide cases: shared test data not found at %s", sharedCases)
	}
	ref := reference(t)
	cases, err := policycase.LoadFile(sharedCases)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(cases), 78; got != want {
		t.Fatalf("%s has %d cases, want %d", sharedCases, got, want)
	}
	outs, err := ref.Decide(context.Background(), cases)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cases {
		c := &cases[i]
		t.Run(c.Label(), func(t *testing.T) {
			if got, want := outs[i].Decision, c.Expected.Response; got != want {
				t.Errorf("reference decided %s, want %s (error %s)", got, want, outs[i].Error)
			}
			if got, want := policycase.Run(c).Decision, outs[i].Decision; got != want {
				t.Errorf("iamd decided %s, reference %s", got, want)
			}
		})
	}
}

// TestCompareCatchesFlippedReference proves the harness can fail: with the
// reference's decision of one case flipped, Compare must report exactly that
// case as unexplained.
func TestCompareCatchesFlippedReference(t *testing.T) {
	cases := Generate(7, 40)
	ref := make([]RefOutcome, len(cases))
	for i := range cases {
		ref[i] = RefOutcome{Line: i + 1, Decision: policycase.Run(&cases[i]).Decision}
	}
	rep, err := Compare(cases, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep.Agreed, len(cases); got != want {
		t.Fatalf("Agreed=%d with iamd's own decisions, want %d", got, want)
	}
	flip := map[string]string{"Allowed": "ImplicitlyDenied", "ImplicitlyDenied": "Allowed", "ExplicitlyDenied": "Allowed"}
	for _, i := range []int{0, 17, 39} {
		t.Run(cases[i].Label(), func(t *testing.T) {
			bad := append([]RefOutcome(nil), ref...)
			bad[i].Decision = flip[bad[i].Decision]
			rep, err := Compare(cases, bad)
			if err != nil {
				t.Fatal(err)
			}
			all := append(append(append([]Mismatch(nil), rep.Unexplained...), rep.Known...), rep.Pending...)
			if len(all) != 1 || rep.Agreed != len(cases)-1 {
				t.Fatalf("flipped case %d: agreed %d, caught %d, want %d and 1", i, rep.Agreed, len(all), len(cases)-1)
			}
			// The replay is a cases file that iamd simulate --cases loads,
			// and it fails because it expects the reference's decision.
			replay, err := policycase.Load(strings.NewReader(all[0].Replay()))
			if err != nil {
				t.Fatalf("replay does not load: %v", err)
			}
			if got, want := replay[0].Label(), cases[i].Label(); got != want {
				t.Fatalf("replay is case %s, want %s", got, want)
			}
			if o := policycase.Run(&replay[0]); o.Pass {
				t.Fatalf("replay of a disagreement passes (decision %s, expected %s)", o.Decision, o.Expected)
			}
		})
	}
	bad := append([]RefOutcome(nil), ref...)
	bad[3] = RefOutcome{Line: 4, Decision: "Error", Error: "policy.errors"}
	if rep, _ := Compare(cases, bad); len(rep.Rejected) != 1 {
		t.Fatalf("a reference error was not reported as rejected: %+v", rep.Rejected)
	}
}

// TestGenerateIsReproducible checks that a seed and index give the same case
// and that different seeds differ.
func TestGenerateIsReproducible(t *testing.T) {
	a, b := Generate(42, 50), Generate(42, 50)
	for i := range a {
		ja, _ := json.Marshal(a[i])
		jb, _ := json.Marshal(b[i])
		if string(ja) != string(jb) {
			t.Fatalf("case %d differs between runs of seed 42", i)
		}
		one, _ := json.Marshal(GenerateOne(42, i))
		if string(one) != string(ja) {
			t.Fatalf("GenerateOne(42,%d) differs from Generate", i)
		}
	}
	ja, _ := json.Marshal(Generate(43, 1)[0])
	jb, _ := json.Marshal(a[0])
	if string(ja) == string(jb) {
		t.Fatalf("seeds 42 and 43 gave the same first case")
	}
}

// TestGeneratedCasesBuild checks every generated case compiles in iamd,
// except those with NotPrincipal and Allow, which AWS does not support and
// iamd rejects on purpose (the generator makes a few).
func TestGeneratedCasesBuild(t *testing.T) {
	rejected := 0
	for _, c := range Generate(defaultSeed, 500) {
		_, _, err := c.Build()
		switch {
		case err == nil:
		case notPrincipalAllow(&c) && errors.Is(err, policy.ErrUnsupported):
			rejected++
		default:
			t.Errorf("%s: %v", c.Label(), err)
		}
	}
	if rejected == 0 {
		t.Errorf("no case with NotPrincipal and Allow among 500: the family is not generated")
	}
}

// coverage counts the reference's decisions and the policy layers the cases
// use, so a run shows what it exercised.
func coverage(cases []Case, outs []RefOutcome) map[string]int {
	m := map[string]int{}
	for i := range cases {
		c := &cases[i]
		m[outs[i].Decision]++
		if c.Request.Resource.AccountID != accountOf(c.Request.Principal) {
			m["crossAccount"]++
		}
		if len(c.PermissionBoundaries) > 0 {
			m["boundary"]++
		}
		if len(c.SessionPolicy) > 0 {
			m["session"]++
		}
		if len(c.ResourcePolicy) > 0 {
			m["resourcePolicy"]++
		}
		if len(c.ServiceControlPolicies) > 0 {
			m["scp"]++
		}
		if len(c.ResourceControlPolicies) > 0 {
			m["rcp"]++
		}
		if r := ruleOf(c); r != policy.RuleNone {
			m["rule:"+r.String()]++
		}
		if strings.Contains(c.Request.Principal, ":role/") {
			m["rolePrincipal"]++
		}
		if policy.RequiresResourcePolicy(c.Request.Action, c.Request.Resource.Resource) {
			m["trustOrKeyPolicy"]++
		}
	}
	return m
}
