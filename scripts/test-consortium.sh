#!/usr/bin/env bash
# Runs the consortium tests (app/consortiumtest) on the multi-host network:
# builds the Fabric binaries if needed, removes any network left over, brings
# a fresh one up on hosts (scripts/network.sh up --hosts: one network
# namespace per organisation, SmartBFT ordering unless ORDERER_TYPE=raft),
# builds the test binary and runs it inside the hub namespace, where the
# Toxiproxy API and every host are reachable. The network, its namespaces and
# links are removed afterwards, whatever the outcome (also on Ctrl-C).
#
#   scripts/test-consortium.sh               every consortium test
#   scripts/test-consortium.sh -test.run X   flags for the test binary (-test.v is always on);
#                                            the trust tests of app/ledger/fabric run only without flags
#   KEEP_NETWORK=1 scripts/test-consortium.sh   leave the network running afterwards
#
# Needs root (ip netns).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

say() { printf '%s test-consortium: %s\n' "$(date +%H:%M:%S)" "$*"; }

[[ "$(id -u)" == 0 ]] || { echo "test-consortium: the network on hosts needs root (network namespaces); run as root" >&2; exit 1; }

t0=$SECONDS
# made_namespaces: the namespaces the network's description names.
made_namespaces() {
  [[ -f network/.dev/hosts/hosts.txt ]] || return 0
  awk '$1 == "hub" {print $2} $1 == "host" {print $3}' network/.dev/hosts/hosts.txt
}
finish() {
  local rc=$? ns
  if [[ "${KEEP_NETWORK:-0}" == 1 ]]; then
    say "leaving the network running (KEEP_NETWORK=1)"
  else
    say "taking the network down"
    local -a made
    mapfile -t made < <(made_namespaces)
    scripts/network.sh clean || rc=1
    for ns in "${made[@]}"; do
      if [[ -e "/run/netns/$ns" || -e "/etc/netns/$ns" ]]; then
        echo "test-consortium: network namespace $ns (or /etc/netns/$ns) is still there after clean" >&2
        rc=1
      fi
    done
  fi
  say "done in $((SECONDS - t0))s (exit $rc)"
  exit "$rc"
}

scripts/install-fabric.sh
# A network left by an earlier run would carry its data into this one.
scripts/network.sh clean >/dev/null 2>&1 || true
trap finish EXIT
trap 'exit 130' INT TERM

say "a fresh network on hosts: ${ORDERER_TYPE:-bft} ordering"
up0=$SECONDS
scripts/network.sh up --hosts
say "up --hosts took $((SECONDS - up0))s"

# The root namespace gets no link or address of the network.
subnet="$(sed -n 's/^HOSTS_SUBNET=//p' network/.dev/ports.env)"
prefix="$(sed -n 's/^HOSTS_PREFIX=//p' network/.dev/ports.env)"
if ip -o addr show | grep -qF " $subnet."; then
  echo "test-consortium: an address of $subnet.0/24 is in the root namespace:" >&2
  ip -o addr show | grep -F " $subnet." >&2
  exit 1
fi
if ip -o link show | awk -F': ' '{print $2}' | grep -q "^${prefix}[-b]"; then
  echo "test-consortium: a link named $prefix-* or ${prefix}br* is in the root namespace" >&2
  exit 1
fi

bin="$root/network/.dev/consortiumtest.test"
go test -c -o "$bin" ./app/consortiumtest
hub="$(awk '$1 == "hub" {print $2}' network/.dev/hosts/hosts.txt)"
[[ -n "$hub" ]] || { echo "test-consortium: no hub namespace in network/.dev/hosts/hosts.txt" >&2; exit 1; }
say "running the consortium tests inside namespace $hub"
consortium_tests() {
  (cd app/consortiumtest && ip netns exec "$hub" env TOKENTRAIL_CONSORTIUM_JSON="$root/network/.dev/consortium.json" \
    "$@" "$bin" -test.v -test.count=1 -test.timeout 8m "${flags[@]}")
}

if [[ $# -gt 0 ]]; then
  flags=("$@")
  consortium_tests
  exit
fi

# Every consortium test but the faults, first, on a whole network.
flags=(-test.skip 'TestConsortiumFaults|TestAddOrgConsortium')
consortium_tests

# The consortium trust tests of app/ledger/fabric, through the hosts' links
# as any organisation's client: a forged identity is refused
# (TestIdentityFabric) and a peer running a tampered chaincode cannot get a
# transaction committed alone (TestTamperedEndorserFabric, which deploys its
# fixture with 'network.sh deploy-tampered provider').
trust="$root/network/.dev/fabric-trust.test"
go test -c -o "$trust" ./app/ledger/fabric
say "running the trust tests inside namespace $hub"
(cd app/ledger/fabric && ip netns exec "$hub" env TOKENTRAIL_FABRIC_CONFIG="$root/network/.dev/tokentrail.yaml" \
  TOKENTRAIL_NETWORK_JSON="$root/network/.dev/network.json" \
  "$trust" -test.v -test.count=1 -test.timeout 8m -test.run 'TestIdentityFabric|TestTamperedEndorserFabric')

# A seventh member joins the running consortium on a host of its own (after
# the tests above, which count the six members).
say "adding organisation research (network.sh add-org)"
scripts/network.sh add-org research
flags=(-test.run 'TestAddOrgConsortium')
consortium_tests TOKENTRAIL_ADDED_MSP=ResearchMSP

# The faults last: they kill orderers, peers and nodes and cut links, and
# the network they leave may hold an orderer that no longer forwards what a
# client gives it alone: once, after this test, 'peer lifecycle chaincode
# approveformyorg -o orderer1' (the peer CLI sends to one orderer) waited
# for minutes while orderer1, a follower, never got it to the leader and
# the other three orderers saw nothing. The fault test loads and reads only
# the four organisations' nodes named in it, so the seventh member does not
# change it.
say "running the fault test inside namespace $hub"
flags=(-test.run 'TestConsortiumFaults')
consortium_tests
