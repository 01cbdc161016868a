#!/usr/bin/env bash
# Installs the reference engine (@cloud-copilot/iam-simulate, the exact version
# pinned in package-lock.json) for the differential policy test into
# ${IAMD_NODE_CACHE:-$HOME/.cache/iamd/iam-simulate}. Idempotent: when the
# cache already holds this lock file's install, it returns at once.
#
# The Go test in analyzer/policy/difftest finds the install through the same
# variable and skips when it is absent. Without node or npm this script says
# so and exits 0, so a machine without Node still runs the rest of the tests.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${IAMD_NODE_CACHE:-$HOME/.cache/iamd/iam-simulate}"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "difftest install: node/npm not found; the differential test will skip" >&2
  exit 0
fi

want="$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)"
stamp="$cache/.installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$cache/node_modules/@cloud-copilot/iam-simulate" ]; then
  echo "difftest install: reference engine already in $cache"
  exit 0
fi

mkdir -p "$cache"
cp "$here/package.json" "$here/package-lock.json" "$cache/"
rm -f "$stamp"
if ! (cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error); then
  # A failed install must not fail the build: the differential test then
  # skips and says why.
  echo "difftest install: npm ci failed in $cache; the differential test will skip" >&2
  exit 0
fi
echo "$want" >"$stamp"
echo "difftest install: reference engine installed in $cache"
