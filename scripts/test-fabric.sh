#!/usr/bin/env bash
# Runs the tests that need a real Fabric network: builds the Fabric binaries
# if needed, starts a fresh development network (scripts/network.sh up, which
# also configures tokentrail for it and registers the consortium), runs the
# smoke test and every Go test whose name contains "Fabric" against it, and
# takes the network down and removes it afterwards, whatever the outcome.
#
#   scripts/test-fabric.sh            all Fabric tests; the fault tests (FabricFaults,
#                                     which stop and start nodes) alone, after the others
#   scripts/test-fabric.sh -run X     passes extra flags to go test (one run)
#   KEEP_NETWORK=1 scripts/test-fabric.sh   leave the network running afterwards
#   ORDERER_TYPE=bft scripts/test-fabric.sh the same suite on a SmartBFT ordering service (four
#                                     orderers; the fault tests then stop one, then two of them)
#   FABRIC_BASE_PORT=9050 scripts/test-fabric.sh   a network on other ports (default 7050)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

say() { printf '%s test-fabric: %s\n' "$(date +%H:%M:%S)" "$*"; }

finish() {
  local rc=$?
  if [[ "${KEEP_NETWORK:-0}" == 1 ]]; then
    say "leaving the network running (KEEP_NETWORK=1)"
  else
    say "taking the network down"
    scripts/network.sh clean || rc=1
  fi
  exit "$rc"
}

scripts/install-fabric.sh
# A network left by an earlier run would carry its data into this one.
scripts/network.sh clean >/dev/null 2>&1 || true
trap finish EXIT

say "a fresh network: ${ORDERER_TYPE:-raft} ordering, ports from ${FABRIC_BASE_PORT:-7050}"
scripts/network.sh up
scripts/network.sh smoke

export TOKENTRAIL_FABRIC_CONFIG="$root/network/.dev/tokentrail.yaml"
export TOKENTRAIL_NETWORK_JSON="$root/network/.dev/network.json"
if [[ $# -gt 0 ]]; then
  say "go test -run Fabric $* against the network"
  go test -count=1 -timeout 20m -run 'Fabric' "$@" ./app/... ./chaincode/...
  exit
fi
say "go test -run Fabric against the network"
go test -count=1 -timeout 20m -run 'Fabric' -skip 'FabricFaults' ./app/... ./chaincode/...
# The fault tests kill and restart nodes; other packages' tests, which go
# test runs in parallel, would see those failures. They run alone, last,
# and restart whatever they stopped.
say "go test -run FabricFaults (stops and starts nodes) against the network"
go test -count=1 -timeout 10m -run 'FabricFaults' ./app/ledger/fabric/
