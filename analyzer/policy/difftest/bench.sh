#!/usr/bin/env bash
# Measures the same decisions (the differential test's default 3,000 cases)
# through iamd's policy engine and through the reference engine
# (@cloud-copilot/iam-simulate, node/driver.js --bench), each on one core,
# and prints decisions/s and the ratio. Needs node/install.sh to have run.
#
#   analyzer/policy/difftest/bench.sh            # 10 s of reference timing
#   IAMD_REF_BENCH_SECONDS=30 analyzer/policy/difftest/bench.sh
set -euo pipefail
cd "$(dirname "$0")"

pin=()
if command -v taskset >/dev/null 2>&1; then pin=(taskset -c 0); fi

out="$(mktemp)"
trap 'rm -f "$out"' EXIT

echo "== iamd (GOMAXPROCS=1)"
"${pin[@]}" go test -run '^$' -bench 'BenchmarkIamd' -cpu 1 -benchtime 3s -count 1 . | tee -a "$out"
echo "== reference ($(node --version), one Node process)"
"${pin[@]}" go test -run '^$' -bench 'BenchmarkReference' -cpu 1 -benchtime 1x -count 1 -timeout 30m . | tee -a "$out"

# rate NAME UNIT prints the UNIT metric of benchmark NAME.
rate() { awk -v name="$1" -v unit="$2" '$1 ~ name { for (i = 1; i < NF; i++) if ($(i+1) == unit) print $i }' "$out"; }
if [ -z "$(rate '^BenchmarkReference' decisions/s)" ]; then
  echo "reference benchmark did not run (see the skip message above)"; exit 1
fi
for unit in decisions/s decisions/cpu-s; do
  e="$(rate '^BenchmarkIamdEvaluate' "$unit")"
  b="$(rate '^BenchmarkIamdBuildAndEvaluate' "$unit")"
  r="$(rate '^BenchmarkReference' "$unit")"
  awk -v e="$e" -v b="$b" -v r="$r" -v unit="$unit" 'BEGIN {
    printf "\n%s\n", unit
    printf "  iamd evaluate (compiled policies): %12.0f  %6.0fx reference\n", e, e / r
    printf "  iamd parse+compile+evaluate:       %12.0f  %6.1fx reference\n", b, b / r
    printf "  reference runSimulation:           %12.0f\n", r
  }'
done
