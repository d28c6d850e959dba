#!/usr/bin/env bash
# Where the CPU went in a Fabric load run (docs/benchmarks.md): for each
# scenario result of scripts/bench-load.sh fabric in DIR, every sampled
# process's CPU seconds as a share of all of them, and, when the run was
# profiled (PROFILE=1), how much of the app and of the chaincode server was
# tokentrail's own code:
#
#   contract   samples of the chaincode server with a frame of the contract
#              (chaincode/contract), shim calls made from it included
#   app, own   samples of the app without a frame of the Fabric Gateway client
#              (fabric-gateway/pkg/client: signing, endorsing, submitting,
#              commit status; what onekey's load generator does for itself)
#
# A profile covers 10 s of a 20 s run; its shares are applied to the run's
# CPU seconds.
#
#   scripts/cpu-split.sh /tmp/tokentrail-bench-results-<time> [scenario...]
set -euo pipefail

dir="${1:?usage: $0 RESULTS_DIR [scenario...]}"
shift
scenarios=("$@")
if [[ ${#scenarios[@]} == 0 ]]; then
  for f in "$dir"/fabric-*.json; do
    s="$(basename "$f" .json)"
    scenarios+=("${s#fabric-}")
  done
fi

# share PROFILE REGEX [ignore]: percent of the profile's samples with a frame
# matching REGEX (focus), or without one (ignore).
share() {
  local prof="$1" re="$2" mode="${3:-focus}"
  [[ -f "$prof" ]] || return 1
  go tool pprof -top -nodefraction=0 -nodecount=1000000 "-$mode=$re" "$prof" 2>/dev/null |
    sed -n 's/^Showing nodes accounting for [^,]*, \([0-9.]*\)% of .*/\1/p'
}

# cpu JSON NAME-PATTERN: the CPU seconds of the processes whose name matches.
cpu() {
  tr -d '\n' <"$1" | grep -o '"name": *"[^"]*", *"pid": *[0-9]*,[^}]*"cpuSeconds": *[0-9.]*' |
    awk -F'"' -v pat="$2" '$4 ~ pat { split($0, a, "\"cpuSeconds\": *"); s += a[2] } END { printf "%.2f", s }'
}

printf '%-10s %8s %7s %7s %7s %7s %7s %9s %10s %s\n' scenario "cpu s" app "cc srv" peers orderers loadgen contract "app, own" "contract+app"
for s in "${scenarios[@]}"; do
  f="$dir/fabric-$s.json"
  [[ -f "$f" ]] || continue
  total="$(cpu "$f" '.')"
  app="$(cpu "$f" '^app$')"
  cc="$(cpu "$f" '^cc-tokentrail$')"
  [[ "$s" == onekey ]] && cc="$(cpu "$f" '^cc-onekey$')"
  peers="$(cpu "$f" '^peer')"
  ord="$(cpu "$f" '^orderer')"
  lg="$(cpu "$f" '^load generator')"
  pct() { awk -v a="$1" -v t="$total" 'BEGIN { if (t > 0) printf "%.1f%%", 100 * a / t; else printf "-" }'; }
  contract="-" own="-" both="-"
  if c="$(share "$dir/fabric-$s.cc-tokentrail-cpu.pprof" 'tokentrail/chaincode/contract\.')" && [[ -n "$c" ]]; then
    contract="$(awk -v c="$c" -v cc="$cc" -v t="$total" 'BEGIN { printf "%.1f%%", c * cc / t }')"
  fi
  if o="$(share "$dir/fabric-$s.app-cpu.pprof" 'fabric-gateway/pkg/client' ignore)" && [[ -n "$o" ]]; then
    own="$(awk -v o="$o" -v a="$app" -v t="$total" 'BEGIN { printf "%.1f%%", o * a / t }')"
  fi
  if [[ "$contract" != - ]]; then
    both="$(awk -v c="${contract%\%}" -v a="$app" -v t="$total" 'BEGIN { printf "%.1f%%", c + 100 * a / t }')"
  fi
  printf '%-10s %8s %7s %7s %7s %7s %7s %9s %10s %s\n' "$s" "$total" "$(pct "$app")" "$(pct "$cc")" \
    "$(pct "$peers")" "$(pct "$ord")" "$(pct "$lg")" "$contract" "$own" "$both"
done
