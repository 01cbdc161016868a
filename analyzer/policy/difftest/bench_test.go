package difftest

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/iamd/iamd/analyzer/policy"
)

// The benchmarks measure the same decisions through both engines: the
// default run's cases (seed defaultSeed, defaultCases of them) less the few
// that iamd rejects as unsupported (NotPrincipal with Allow), which make no
// decision to time. bench.sh runs them on one core and prints the ratio.

func benchCases() []Case {
	var out []Case
	for _, c := range Generate(defaultSeed, defaultCases) {
		if !notPrincipalAllow(&c) {
			out = append(out, c)
		}
	}
	return out
}

// BenchmarkIamdEvaluate decides the cases with their policies compiled once,
// as iamd does in production (policies change rarely, requests often). One
// op is one decision.
func BenchmarkIamdEvaluate(b *testing.B) {
	cases := benchCases()
	reqs := make([]*policy.Request, len(cases))
	sets := make([]*policy.Set, len(cases))
	for i := range cases {
		req, set, err := cases[i].Build()
		if err != nil {
			b.Fatalf("%s: %v", cases[i].Label(), err)
		}
		reqs[i], sets[i] = req, set
	}
	var d policy.Decision
	counts := map[policy.Result]int{}
	for j := range cases {
		counts[sets[j].Evaluate(reqs[j], &d)]++
	}
	if counts[policy.Allowed] == 0 || counts[policy.ImplicitlyDenied] == 0 || counts[policy.ExplicitlyDenied] == 0 {
		b.Fatalf("decisions %v: the cases do not exercise every outcome", counts)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuSeconds(b)
	for i := 0; i < b.N; i++ {
		j := i % len(cases)
		sets[j].Evaluate(reqs[j], &d)
	}
	b.StopTimer()
	reportRates(b, cpuSeconds(b)-cpu0)
}

// reportRates reports decisions per wall-clock second and per CPU second of
// the process. On a shared machine the CPU figure is the stable one: it does
// not count time spent waiting for a core.
func reportRates(b *testing.B, cpu float64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu, "decisions/cpu-s")
	}
}

// cpuSeconds is the process's user+system CPU time.
func cpuSeconds(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// BenchmarkIamdBuildAndEvaluate parses and compiles every policy of the case
// for each decision, which is what the reference's runSimulation does on
// every call.
func BenchmarkIamdBuildAndEvaluate(b *testing.B) {
	cases := benchCases()
	var d policy.Decision
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuSeconds(b)
	for i := 0; i < b.N; i++ {
		req, set, err := cases[i%len(cases)].Build()
		if err != nil {
			b.Fatal(err)
		}
		set.Evaluate(req, &d)
	}
	b.StopTimer()
	reportRates(b, cpuSeconds(b)-cpu0)
}

// BenchmarkReference times the reference on the same cases in its own Node
// process (node/driver.js --bench): a warm-up pass, then round-robin for
// IAMD_REF_BENCH_SECONDS (default 10). Run it with -benchtime=1x; b.N does
// not drive the loop, the driver's own count does.
func BenchmarkReference(b *testing.B) {
	ref := reference(b)
	secs := 10.0
	if s := os.Getenv("IAMD_REF_BENCH_SECONDS"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			b.Fatalf("IAMD_REF_BENCH_SECONDS=%q: %v", s, err)
		}
		secs = v
	}
	cases := benchCases()
	var last BenchResult
	for i := 0; i < b.N; i++ {
		r, err := ref.Bench(context.Background(), cases, secs)
		if err != nil {
			b.Fatal(err)
		}
		last = r
	}
	b.ReportMetric(last.DecisionsPerSecond, "decisions/s")
	b.ReportMetric(last.DecisionsPerCPUSecond, "decisions/cpu-s")
	b.ReportMetric(float64(last.Decisions), "decisions")
}
