#!/usr/bin/env bash
# HTTP load benchmarks (docs/benchmarks.md, "HTTP load"). Starts its own
# `tokentrail serve` on loopback, drives it with `tokentrail bench` and writes
# every result as JSON (and text) to $OUT. Bounded: each scenario runs for
# $DURATION; the preload stops at $EVENTS events or 10 minutes.
#
#   scripts/bench-load.sh embedded   fresh embedded ledgers in $WORK (outside the repository):
#                                    single-event writes and bulk trades, each with the raw bbolt
#                                    ceiling of the same writes in the same blocks; then a ledger
#                                    preloaded with $EVENTS (1,000,000) events and the reads; first, the
#                                    immudb comparison (scenario immudb): the in-process write benchmarks
#                                    and immudb's embedded store on the same write sets, back to back
#                                    (bench/immudb, a module of its own), with the ratio
#   scripts/bench-load.sh fabric     the development Fabric network (network/.dev; brought up, and
#                                    cleaned afterwards, if it is not running; FABRIC_BASE_PORT and
#                                    ORDERER_TYPE=raft|bft choose the network it brings up): the onekey
#                                    chaincode's rate (the ceiling), single-event writes, bulk
#                                    trades, a preload of $EVENTS (100,000) events and the reads
#
# Environment: CLIENTS (64) single-event write clients; BULK_CLIENTS (4); READ_CLIENTS ("1 8":
# each read scenario runs once per count);
# DURATION (20s); EVENTS; PORT (18080); WORK (a new directory under /tmp, removed afterwards
# unless KEEP=1); PROFILE=1 serves pprof on PORT+1 and saves a 10 s CPU profile of the app from the
# middle of each run and its allocation profile (on fabric, also of the chaincode servers and the
# four peers, when the network was brought up with FABRIC_PROFILE=1: this script does so when it
# brings the network up itself); OUT ($WORK/results, copied to /tmp/tokentrail-bench-results-<time> before
# $WORK goes); SCENARIOS to run a subset, e.g. "collect history"; SERVE_FLAGS, extra flags for
# tokentrail serve (e.g. "--bulk-chunk 1000"); BULK_CHUNK, the same chunk size for the load
# generator's ceiling replay (250); DURING_RUN, a command run in the background from the start of
# each run and waited for at its end (a fault: scripts/bench-config.sh); IMMUDB_COUNT (3) rounds of the immudb comparison, IMMUDB_SINGLE
# (20000x) and IMMUDB_BULK (60x) their -benchtime.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

mode="${1:-embedded}"
case "$mode" in
embedded) : "${EVENTS:=1000000}" ;;
fabric) : "${EVENTS:=100000}" ;;
*)
  echo "usage: $0 embedded|fabric" >&2
  exit 2
  ;;
esac
: "${CLIENTS:=64}" "${BULK_CLIENTS:=4}" "${READ_CLIENTS:=1 8}" "${DURATION:=20s}" "${PORT:=18080}"
: "${SCENARIOS:=onekey immudb collect circulate trade bulk preload history lineage impact compliance trades-page}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
WORK="${WORK:-$(mktemp -d /tmp/tokentrail-bench-XXXXXX)}"
OUT="${OUT:-$WORK/results}"
mkdir -p "$WORK" "$OUT"
url="http://127.0.0.1:$PORT"
bin="$WORK/tokentrail"

say() { printf '%s bench-load: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
want() { [[ " $SCENARIOS " == *" $1 "* ]]; }

serve_pid=""
net_started=0
finish() {
  local rc=$?
  stop_serve
  if [[ "$net_started" == 1 ]]; then
    say "taking down the network this script brought up"
    scripts/network.sh clean >/dev/null || rc=1
  fi
  if [[ "${KEEP:-0}" != 1 ]]; then
    if [[ "$OUT" == "$WORK"/* ]]; then
      mkdir -p "/tmp/tokentrail-bench-results-$stamp"
      cp -r "$OUT"/. "/tmp/tokentrail-bench-results-$stamp"/
      say "results in /tmp/tokentrail-bench-results-$stamp"
    fi
    rm -rf "$WORK"
  else
    say "kept $WORK"
  fi
  exit "$rc"
}
trap finish EXIT

# start_serve DATA [serve flags...]: starts tokentrail serve and waits until it is ready.
start_serve() {
  local data="$1"
  shift
  local pp=""
  [[ "${PROFILE:-0}" == 1 ]] && pp="127.0.0.1:$((PORT + 1))"
  # --rate-limit 0: with --config the default is 50 requests/s per key (429 beyond it).
  TOKENTRAIL_PPROF_ADDR="$pp" "$bin" serve --addr "127.0.0.1:$PORT" --data "$data" --log-level warn --rate-limit 0 ${SERVE_FLAGS:-} "$@" >"$OUT/serve-$(basename "$data").log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 1 600); do
    if curl -fsS "$url/readyz" >/dev/null 2>&1; then
      say "serve (PID $serve_pid) ready on $url, data $data"
      return 0
    fi
    if ! kill -0 "$serve_pid" 2>/dev/null; then
      cat "$OUT/serve-$(basename "$data").log" >&2
      serve_pid=""
      return 1
    fi
    sleep 0.5
  done
  say "serve did not become ready"
  return 1
}

# stop_serve: SIGTERM to the serve this script started (its PID only), then waits.
stop_serve() {
  if [[ -n "$serve_pid" ]] && kill -0 "$serve_pid" 2>/dev/null; then
    kill -TERM "$serve_pid"
    wait "$serve_pid" 2>/dev/null || true
  fi
  serve_pid=""
}

# timed_run_started FILE: waits (up to 5 minutes) until the load generator's
# progress in FILE says its timed run has begun ("bench: <scenario>: ...
# duration ...").
timed_run_started() {
  local _
  for _ in $(seq 1 1500); do
    grep -q '^bench: .*duration' "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

# bench NAME [bench flags...]: one run, its JSON in $OUT/NAME.json and text on stderr.
bench() {
  local name="$1"
  shift
  say "run $name: $*"
  local prof=""
  if [[ "${PROFILE:-0}" == 1 ]]; then
    rm -f "$OUT/$name.txt"
    # A CPU profile of the app over the middle of the timed run (which
    # starts after the scenario's set-up: the load generator says so on
    # stderr), then its allocations.
    (timed_run_started "$OUT/$name.txt" && sleep 3 && curl -fsS -o "$OUT/$name.app-cpu.pprof" "http://127.0.0.1:$((PORT + 1))/debug/pprof/profile?seconds=10") &
    prof=$!
    if [[ "$mode" == fabric ]]; then
      # The same 10 s of the chaincode servers and of every peer (the
      # network serves pprof when brought up with FABRIC_PROFILE=1).
      local base k p
      base="$(sed -n 's/^FABRIC_BASE_PORT=//p' network/.dev/ports.env)"
      local -a targets=("cc-tokentrail=$((base + 250))" "cc-onekey=$((base + 251))")
      for k in 0 1 2 3; do targets+=("peer-$(peer_org "$k")=$((base + 100 + 10 * k + 3))"); done
      for p in "${targets[@]}"; do
        (timed_run_started "$OUT/$name.txt" && sleep 3 && curl -fsS -o "$OUT/$name.${p%%=*}-cpu.pprof" "http://127.0.0.1:${p#*=}/debug/pprof/profile?seconds=10" 2>/dev/null || true) &
        prof="$prof $!"
      done
    fi
  fi
  local during=""
  if [[ -n "${DURING_RUN:-}" ]]; then
    # A fault injected while the run goes on (scripts/bench-config.sh).
    bash -c "$DURING_RUN" >>"$OUT/$name.during.log" 2>&1 &
    during=$!
  fi
  "$bin" bench --url "$url" --json --label "$mode" --rss "app=$serve_pid" "$@" >"$OUT/$name.json" 2>"$OUT/$name.txt" ||
    { cat "$OUT/$name.txt" >&2; [[ -n "$during" ]] && wait "$during"; return 1; }
  [[ -n "$during" ]] && { wait "$during" || say "DURING_RUN exited $?"; }
  grep -v '^bench:' "$OUT/$name.txt" >&2 || true
  if [[ -n "$prof" ]]; then
    # shellcheck disable=SC2086 # one PID per word
    wait $prof || true
    curl -fsS -o "$OUT/$name.app-allocs.pprof" "http://127.0.0.1:$((PORT + 1))/debug/pprof/allocs" || true
  fi
}

peer_org() { local orgs=(regulator provider exchange auditor); echo "${orgs[$1]}"; }

machine() {
  {
    echo "date: $(date -u +%FT%TZ)"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "mem: $(grep MemTotal /proc/meminfo)"
    echo "uptime: $(uptime)"
    echo "go: $(go version)"
    echo "git: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- app chaincode || echo ' (with uncommitted changes in app/ or chaincode/)')"
    df -h "$WORK" | tail -1
  } >"$OUT/machine-$1.txt"
  cat "$OUT/machine-$1.txt" >&2
}

say "building tokentrail into $bin"
go build -o "$bin" ./app/cmd/tokentrail
machine start

if [[ "$mode" == embedded ]]; then
  if want immudb; then
    # In process, before any server runs: tokentrail's and immudb's write
    # benchmarks, pair by pair, and their ratio (docs/benchmarks.md, "immudb comparison").
    say "run embedded-immudb: ${IMMUDB_COUNT:-3} rounds, -benchtime ${IMMUDB_SINGLE:-20000x} / ${IMMUDB_BULK:-60x}"
    (cd bench/immudb && TMPDIR="$WORK" go run ./compare -root ../.. -count "${IMMUDB_COUNT:-3}" \
      -single "${IMMUDB_SINGLE:-20000x}" -bulk "${IMMUDB_BULK:-60x}" -json "$OUT/embedded-immudb.json") | tee "$OUT/embedded-immudb.txt" >&2
  fi
  keys() { echo "$1/dev-credentials.json"; }
  w="$WORK/data-writes"
  start_serve "$w"
  for s in collect circulate trade; do
    want "$s" && bench "embedded-$s" --keys "$(keys "$w")" --scenario "$s" --clients "$CLIENTS" --duration "$DURATION" --ceiling --ceiling-dir "$WORK"
  done
  want bulk && bench embedded-bulk --keys "$(keys "$w")" --scenario bulk --clients "$BULK_CLIENTS" --duration "$DURATION" --bulk-chunk "${BULK_CHUNK:-250}" --ceiling --ceiling-dir "$WORK"
  stop_serve
  rm -rf "$w"
  r="$WORK/data-reads"
  start_serve "$r"
  want preload && bench embedded-preload --keys "$(keys "$r")" --scenario preload --events "$EVENTS" --clients "$BULK_CLIENTS"
  du -sh "$r" >"$OUT/embedded-ledger-size.txt"
  for s in history lineage impact compliance trades-page; do
    for rc in $READ_CLIENTS; do
      want "$s" && bench "embedded-$s-c$rc" --keys "$(keys "$r")" --scenario "$s" --clients "$rc" --duration "$DURATION"
    done
  done
  stop_serve
  rm -rf "$r"
else
  if ! scripts/network.sh status >/dev/null 2>&1 || ! scripts/network.sh status | grep -Eq '(Raft|BFT) leader:'; then
    say "no running network: bringing one up"
    FABRIC_PROFILE="${PROFILE:-0}" scripts/network.sh up >&2
    net_started=1
  fi
  if ! grep -q '"onekey"' network/.dev/network.json; then
    FABRIC_PROFILE="${PROFILE:-0}" scripts/network.sh deploy onekey ./chaincode/cmd/onekey-cc >&2
  fi
  grep -E 'OrdererType|BatchTimeout|MaxMessageCount|RequestBatchMaxInterval' network/.dev/config/configtx.yaml | sed 's/^ */configtx: /' >>"$OUT/machine-start.txt" || true
  keys="network/.dev/dev-credentials.json"
  f="$WORK/data-fabric"
  start_serve "$f" --ledger fabric --config network/.dev/tokentrail.yaml
  rssnet=(--rss-pids network/.dev/run)
  want onekey && bench fabric-onekey --scenario onekey --network network/.dev/network.json --org ProviderMSP --clients "$CLIENTS" --duration "$DURATION" "${rssnet[@]}"
  for s in collect circulate trade; do
    want "$s" && bench "fabric-$s" --keys "$keys" --scenario "$s" --clients "$CLIENTS" --duration "$DURATION" "${rssnet[@]}"
  done
  want bulk && bench fabric-bulk --keys "$keys" --scenario bulk --clients "$BULK_CLIENTS" --duration "$DURATION" "${rssnet[@]}"
  px="pl$stamp"
  want preload && bench fabric-preload --keys "$keys" --scenario preload --prefix "$px" --events "$EVENTS" --clients "$BULK_CLIENTS" "${rssnet[@]}"
  for s in history lineage impact compliance trades-page; do
    for rc in $READ_CLIENTS; do
      want "$s" && bench "fabric-$s-c$rc" --keys "$keys" --scenario "$s" --prefix "$px" --clients "$rc" --duration "$DURATION" "${rssnet[@]}"
    done
  done
  stop_serve
fi
machine end
say "done"
