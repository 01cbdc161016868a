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

rate() { awk -v name="$1" '$1 ~ name { for (i = 1; i < NF; i++) if ($(i+1) == "decisions/s") print $i }' "$out"; }
eval_rate="$(rate '^BenchmarkIamdEvaluate')"
build_rate="$(rate '^BenchmarkIamdBuildAndEvaluate')"
ref_rate="$(rate '^BenchmarkReference')"
if [ -z "$ref_rate" ]; then echo "reference benchmark did not run (see skip message above)"; exit 1; fi
awk -v e="$eval_rate" -v b="$build_rate" -v r="$ref_rate" 'BEGIN {
  printf "\niamd evaluate (compiled policies):   %12.0f decisions/s  %8.0fx reference\n", e, e / r
  printf "iamd parse+compile+evaluate:         %12.0f decisions/s  %8.0fx reference\n", b, b / r
  printf "reference runSimulation:             %12.0f decisions/s\n", r
}'
