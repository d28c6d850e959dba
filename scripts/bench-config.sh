#!/usr/bin/env bash
# Fabric configuration, measured (docs/benchmarks.md, "Fabric configuration,
# measured"). Runs scripts/bench-load.sh fabric once per setting, each on a
# fresh development network brought up with that setting and cleaned after,
# one setting after the other, and prints one table of the rates and
# latencies. Bounded: each scenario runs for $DURATION; there are as many
# networks as settings times $ROUNDS.
#
#   scripts/bench-config.sh            every setting below, in order
#   SETTINGS="default pool1" scripts/bench-config.sh
#
# Settings (each a label and the environment scripts/network.sh is given):
#   default       the development network as it is
#   pool1, pool4  the peers' validator pool (peer.validatorPoolSize; unset
#                 means one validator per CPU, 2 here)
#   push1         the private collection's maxPeerCount 1 (the development
#                 network's is 0): an endorser pushes the private data to
#                 another member peer at endorsement, which (both members
#                 endorse every trade) has it already
#   hung30, hung10, hung5
#                 the gateway's endorsement timeout (peer.gateway.endorsementTimeout:
#                 30 s is Fabric's default), measured on collections with 16 clients
#                 while the auditor's peer hangs (SIGSTOP by its PID 10 s into the run,
#                 SIGCONT 30 s later): how long a write waits on an endorser that
#                 neither answers nor fails
#
# Environment: SETTINGS, ROUNDS (1: alternate the settings this many times),
# SCENARIOS ("onekey collect trade bulk"), DURATION (20s), OUT (a new
# directory under /tmp: one subdirectory per run, and summary.txt).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

: "${SETTINGS:=default pool1 pool4 push1 hung30 hung10 hung5}" "${ROUNDS:=1}" "${DURATION:=20s}"
: "${SCENARIOS:=onekey collect trade bulk}"
OUT="${OUT:-$(mktemp -d /tmp/tokentrail-bench-config-XXXXXX)}"
mkdir -p "$OUT"

say() { printf '%s bench-config: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

if [[ -d network/.dev ]]; then
  echo "bench-config: a development network is running; or was left (network/.dev); every setting needs a fresh one (scripts/network.sh clean)" >&2
  exit 1
fi

# A collections configuration with a push at endorsement.
push1="$OUT/collections-push1.json"
sed 's/"maxPeerCount": *[0-9]*/"maxPeerCount": 1/' network/collections.json >"$push1"
grep -q '"maxPeerCount": 1' "$push1" || {
  echo "bench-config: could not set maxPeerCount in a copy of network/collections.json" >&2
  exit 1
}

# The hang: the auditor's peer stopped (not killed: its connections stay
# open and nothing answers) 10 s into the run, continued 30 s later.
hang='p="$(cut -d" " -f1 network/.dev/run/peer0.auditor.tokentrail.test.pid)"
sleep 10; kill -STOP "$p"; echo "$(date -u +%T) stopped $p"
sleep 30; kill -CONT "$p"; echo "$(date -u +%T) continued $p"'

# setting_env LABEL: the environment of LABEL, as VAR=value words.
setting_env() {
  case "$1" in
  default) echo "" ;;
  pool1) echo "FABRIC_PEER_ENV=CORE_PEER_VALIDATORPOOLSIZE=1" ;;
  pool4) echo "FABRIC_PEER_ENV=CORE_PEER_VALIDATORPOOLSIZE=4" ;;
  push1) echo "CHAINCODE_COLLECTIONS=$push1" ;;
  hung30 | hung10 | hung5)
    echo "FABRIC_PEER_ENV=CORE_PEER_GATEWAY_ENDORSEMENTTIMEOUT=${1#hung}s"
    ;;
  *)
    echo "bench-config: unknown setting $1" >&2
    return 1
    ;;
  esac
}

for label in $SETTINGS; do setting_env "$label" >/dev/null; done

runs=()
for round in $(seq 1 "$ROUNDS"); do
  for label in $SETTINGS; do
    run="$round-$label"
    say "round $round, setting $label ($(setting_env "$label"))"
    local_scenarios="$SCENARIOS" during="" clients=64 duration="$DURATION"
    if [[ "$label" == hung* ]]; then
      local_scenarios=collect clients=16 duration=50s
      during="$hang"
    fi
    # shellcheck disable=SC2046 # one VAR=value per word
    env $(setting_env "$label") OUT="$OUT/$run" SCENARIOS="$local_scenarios" DURATION="$duration" \
      CLIENTS="$clients" DURING_RUN="$during" scripts/bench-load.sh fabric >"$OUT/$run.log" 2>&1 || {
      tail -n 30 "$OUT/$run.log" >&2
      exit 1
    }
    runs+=("$run")
  done
done

# field FILE NAME: a number from a bench JSON result (top level, or in latencyMs).
field() { grep -o "\"$2\": *[0-9.]*" "$1" | head -n 1 | cut -d: -f2 | tr -d ' '; }

{
  printf '%-12s' "run"
  for s in $SCENARIOS; do printf ' | %-22s' "$s /s (ratio) p99 ms"; done
  printf '\n'
  for run in "${runs[@]}"; do
    printf '%-12s' "$run"
    onekey="$(field "$OUT/$run/fabric-onekey.json" eventsPerS 2>/dev/null || true)"
    for s in $SCENARIOS; do
      f="$OUT/$run/fabric-$s.json"
      if [[ ! -f "$f" ]]; then
        printf ' | %-22s' "-"
        continue
      fi
      rate="$(field "$f" eventsPerS)"
      p99="$(field "$f" p99)"
      [[ "$run" == *hung* ]] && p99="$(field "$f" max)"
      ratio=""
      [[ -n "$onekey" ]] && ratio="$(awk -v a="$rate" -v b="$onekey" 'BEGIN { printf "%.2f", a / b }')"
      printf ' | %-22s' "$(printf '%.1f (%s) %.0f' "$rate" "$ratio" "$p99")"
    done
    printf '\n'
  done
  echo "(hung*: collect with 16 clients; the last figure is the slowest write in ms, not p99)"
} | tee "$OUT/summary.txt"
say "results in $OUT"
