#!/usr/bin/env bash
# The soak run (`make soak`; not in CI): starts `tokentrail serve` on a fresh
# data directory, measures its capacity for single collections, then offers
# half of it — 80 % writes, 20 % reads, open loop — for SOAK_DURATION
# (default 30m), sampling latency percentiles, errors and the server's RSS
# every minute. The driver is TestSoak in app/cmd/tokentrail/soak_test.go;
# the summary table goes to SOAK_OUT (default soak-summary.md in a fresh
# temporary directory, printed at the end) for docs/benchmarks.md.
#
#   scripts/soak.sh                       30 minutes
#   SOAK_DURATION=45m scripts/soak.sh     longer
#   SOAK_DURATION=3m SOAK_PROBE=30s scripts/soak.sh   a quick check of the script
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

duration="${SOAK_DURATION:-30m}"
probe="${SOAK_PROBE:-1m}"
out="${SOAK_OUT:-$(mktemp -d)/soak-summary.md}"
timeout="${SOAK_TIMEOUT:-3h}"

say() { printf '%s soak: %s\n' "$(date +%H:%M:%S)" "$*"; }

say "soaking for $duration after a $probe capacity probe; summary to $out"
TOKENTRAIL_SOAK=1 TOKENTRAIL_SOAK_DURATION="$duration" TOKENTRAIL_SOAK_PROBE="$probe" TOKENTRAIL_SOAK_OUT="$out" \
  go test -count=1 -run '^TestSoak$' -timeout "$timeout" -v ./app/cmd/tokentrail/
say "summary ($out):"
cat "$out"
