# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this file
# Shared definitions and helpers for scripts/network.sh: the local Fabric
# network's layout (organisations, ports, paths) and process management.
# Sourced, not run. Everything lives under network/ of this repository.

# ---------------------------------------------------------------- layout ---

NET_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NET_DIR="$NET_ROOT/network"
BIN="$NET_DIR/.bin"
DEV="$NET_DIR/.dev"
CRYPTO="$DEV/crypto"
CFG="$DEV/config"
RUN="$DEV/run"
LOGS="$DEV/logs"
DATA="$DEV/data"
CCDIR="$DEV/chaincode"

CHANNEL="${CHANNEL:-tokentrail}"
DOMAIN="tokentrail.test"
# The ordering nodes. With Raft (the default) three nodes of one ordering
# organisation, OrdererMSP; with BFT (ORDERER_TYPE=bft) four, each run by one
# of the members that run a peer, under an orderer organisation of its own
# (orderer1: RegulatorOrdererMSP, orderer2: ProviderOrdererMSP,
# orderer3: ExchangeOrdererMSP, orderer4: AuditorOrdererMSP). load_ports sets
# ORDERERS from the orderer type the network was created with.
ORDERERS=(orderer1 orderer2 orderer3)
ALL_ORDERERS=(orderer1 orderer2 orderer3 orderer4)
BFT_OPERATORS=(regulator provider exchange auditor)
ORDERER_TYPE_SET=raft
PEER_ORGS=(regulator provider exchange auditor)
ORGS=(regulator provider exchange auditor processor consumer)
# Organisations without a peer submit through another organisation's peer.
declare -A GATEWAY_ORG=([regulator]=regulator [provider]=provider [exchange]=exchange
  [auditor]=auditor [processor]=provider [consumer]=exchange)

# Quiet by default: with gRPC server and endorser logs at info, a peer log
# grows by about 1 KB per transaction.
FABRIC_LOGGING_SPEC="${FABRIC_LOGGING_SPEC:-info:comm.grpc.server=warn:endorser=warn}"

# Endorsement policy of chaincodes deployed by network.sh: any two of the four
# organisations that run peers (trades are endorsed by exchange + regulator).
DEFAULT_CC_POLICY="OutOf(2, 'RegulatorMSP.peer', 'ProviderMSP.peer', 'ExchangeMSP.peer', 'AuditorMSP.peer')"

# ----------------------------------------------------------------- ports ---
# One block of ports per node, from FABRIC_BASE_PORT (default 7050):
#   ordererN        base+10*(N-1)     +0 gRPC, +1 admin (osnadmin), +2 operations, +3 pprof
#                   (N = 1..3 with Raft, 1..4 with BFT: orderer4 at base+30..33)
#   peer of org k   base+100+10*k     +0 gRPC, +1 chaincode listener, +2 operations, +3 pprof
#   chaincode slot  base+200+slot     (tokentrail slot 0, onekey slot 1, others next free);
#                   its pprof at +50 (base+250+slot)
# The highest port is base+299 (base 7050: 7349; base 9050: 9349).
# The base port and the orderer type are fixed into the channel configuration
# when the genesis block is made; they are saved in network/.dev/ports.env and
# reused afterwards.

load_ports() {
  local saved="$DEV/ports.env" base otype
  if [[ -f "$saved" ]]; then
    base="$(sed -n 's/^FABRIC_BASE_PORT=//p' "$saved")"
    otype="$(sed -n 's/^ORDERER_TYPE=//p' "$saved")"
    otype="${otype:-raft}" # networks created before BFT was an option
    if [[ -n "${FABRIC_BASE_PORT:-}" && "$FABRIC_BASE_PORT" != "$base" ]]; then
      warn "FABRIC_BASE_PORT=$FABRIC_BASE_PORT ignored: this network was created with $base (run 'clean' to change it)"
    fi
    if [[ -n "${ORDERER_TYPE:-}" && "${ORDERER_TYPE,,}" != "$otype" ]]; then
      warn "ORDERER_TYPE=$ORDERER_TYPE ignored: this network was created with $otype (run 'clean' to change it)"
    fi
  else
    base="${FABRIC_BASE_PORT:-7050}"
    otype="${ORDERER_TYPE:-raft}"
    otype="${otype,,}"
  fi
  [[ "$base" =~ ^[0-9]+$ && "$base" -ge 1024 && "$base" -le 65000 ]] || die "bad FABRIC_BASE_PORT: $base"
  case "$otype" in
    raft) ORDERERS=(orderer1 orderer2 orderer3) ;;
    bft) ORDERERS=("${ALL_ORDERERS[@]}") ;;
    *) die "bad ORDERER_TYPE: $otype (raft or bft)" ;;
  esac
  BASE_PORT="$base"
  ORDERER_TYPE_SET="$otype"
}

save_ports() {
  mkdir -p "$DEV"
  [[ -f "$DEV/ports.env" ]] || printf 'FABRIC_BASE_PORT=%s\nORDERER_TYPE=%s\n' "$BASE_PORT" "$ORDERER_TYPE_SET" >"$DEV/ports.env"
}

orderer_index() { local i; for i in "${!ORDERERS[@]}"; do [[ "${ORDERERS[$i]}" == "$1" ]] && echo "$i" && return; done; return 1; }
peer_org_index() { local i; for i in "${!PEER_ORGS[@]}"; do [[ "${PEER_ORGS[$i]}" == "$1" ]] && echo "$i" && return; done; return 1; }

orderer_port() { echo $((BASE_PORT + 10 * $(orderer_index "$1"))); }
orderer_admin_port() { echo $(($(orderer_port "$1") + 1)); }
orderer_ops_port() { echo $(($(orderer_port "$1") + 2)); }
orderer_pprof_port() { echo $(($(orderer_port "$1") + 3)); }
peer_port() { echo $((BASE_PORT + 100 + 10 * $(peer_org_index "$1"))); }
peer_cc_port() { echo $(($(peer_port "$1") + 1)); }
peer_ops_port() { echo $(($(peer_port "$1") + 2)); }
peer_pprof_port() { echo $(($(peer_port "$1") + 3)); }

# ------------------------------------------------------------ identities ---

msp_id() { echo "${1^}MSP"; }
org_domain() { echo "$1.$DOMAIN"; }
org_dir() { echo "$CRYPTO/peerOrganizations/$(org_domain "$1")"; }
peer_name() { echo "peer0.$(org_domain "$1")"; }
peer_dir() { echo "$(org_dir "$1")/peers/$(peer_name "$1")"; }
peer_tls_ca() { echo "$(peer_dir "$1")/tls/ca.crt"; }
org_tls_ca() { echo "$(org_dir "$1")/tlsca/tlsca.$(org_domain "$1")-cert.pem"; }
admin_msp() { echo "$(org_dir "$1")/users/Admin@$(org_domain "$1")/msp"; }
user_msp() { echo "$(org_dir "$1")/users/User1@$(org_domain "$1")/msp"; }

# Orderer identities. With Raft every orderer is of OrdererMSP
# (orderer.tokentrail.test); with BFT ordererN is of the orderer organisation
# of the N-th member that runs a peer (orderer.<member>.tokentrail.test).
orderer_operator() { [[ "$ORDERER_TYPE_SET" == bft ]] && echo "${BFT_OPERATORS[$(orderer_index "$1")]}"; return 0; }
orderer_domain() {
  local op
  op="$(orderer_operator "$1")"
  if [[ -n "$op" ]]; then echo "orderer.$op.$DOMAIN"; else echo "orderer.$DOMAIN"; fi
}
orderer_msp_id() {
  local op
  op="$(orderer_operator "$1")"
  if [[ -n "$op" ]]; then echo "${op^}OrdererMSP"; else echo OrdererMSP; fi
}
orderer_org_dir() { echo "$CRYPTO/ordererOrganizations/$(orderer_domain "$1")"; }
orderer_host() { echo "$1.$(orderer_domain "$1")"; }
orderer_dir() { echo "$(orderer_org_dir "$1")/orderers/$(orderer_host "$1")"; }
orderer_tls_ca() { echo "$(orderer_org_dir "$1")/tlsca/tlsca.$(orderer_domain "$1")-cert.pem"; }
orderer_admin_tls() { echo "$(orderer_org_dir "$1")/users/Admin@$(orderer_domain "$1")/tls"; }

CCAAS_ORG_DIR_REL="peerOrganizations/ccaas.$DOMAIN"
ccaas_server_tls() { echo "$CRYPTO/$CCAAS_ORG_DIR_REL/peers/server.ccaas.$DOMAIN/tls"; }
ccaas_client_tls() { echo "$CRYPTO/$CCAAS_ORG_DIR_REL/users/User1@ccaas.$DOMAIN/tls"; }

# -------------------------------------------------------------- messages ---

say() { printf '%s network: %s\n' "$(date +%H:%M:%S)" "$*"; }
warn() { printf '%s network: warning: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'network: error: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------- processes ---
# Each started process has network/.dev/run/<name>.pid holding "<pid> <exe>".
# A process counts as ours only while /proc/<pid>/exe is still that
# executable, so a recycled PID is never signalled.

pid_of() {
  local f="$RUN/$1.pid"
  [[ -f "$f" ]] || return 1
  local pid exe
  read -r pid exe <"$f" || return 1
  [[ -n "$pid" ]] || return 1
  if kill -0 "$pid" 2>/dev/null; then
    local now
    now="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
    now="${now% (deleted)}"
    [[ "$now" == "$exe" ]] || return 1
  else
    return 1
  fi
  echo "$pid"
}

alive() { pid_of "$1" >/dev/null; }

# start_process NAME EXE [VAR=value ...]: starts EXE with the arguments in the
# array START_ARGS, detached (own session, no terminal, output appended to
# network/.dev/logs/NAME.log), with only the given environment plus PATH and
# HOME, or the caller's environment plus the given one when INHERIT_ENV=1.
start_process() {
  local name="$1" exe="$2"
  shift 2
  [[ -v START_ARGS ]] || local -a START_ARGS=()
  mkdir -p "$RUN" "$LOGS"
  local log="$LOGS/$name.log"
  local -a envcmd=(env -i "PATH=$PATH" "HOME=${HOME:-/}")
  [[ "${INHERIT_ENV:-0}" == 1 ]] && envcmd=(env)
  printf '\n==== %s start %s ====\n' "$(date -u +%FT%TZ)" "$name" >>"$log"
  "${envcmd[@]}" "$@" setsid "$exe" "${START_ARGS[@]}" </dev/null >>"$log" 2>&1 &
  local pid=$!
  # The kernel reports the executable with symbolic links resolved (network/.bin
  # may be a link to a shared build): record it so, for pid_of to compare.
  echo "$pid $(readlink -f "$exe")" >"$RUN/$name.pid"
  # env and setsid exec in place, so $! becomes EXE within milliseconds.
  local i
  for i in $(seq 1 50); do
    alive "$name" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$log" >&2 || true
  die "$name did not start (log: ${log#"$NET_ROOT"/})"
}

# stop_processes NAME...: SIGTERM to each one still ours, then wait up to
# 10 s for all of them; SIGKILL the ones left.
stop_processes() {
  local name pid i
  local -A pids=()
  for name in "$@"; do
    if pid="$(pid_of "$name")"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids[$name]=$pid
    fi
    rm -f "$RUN/$name.pid"
  done
  for name in "${!pids[@]}"; do
    pid=${pids[$name]}
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      warn "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
  done
}

stop_process() { stop_processes "$1"; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# ------------------------------------------------------------ networking ---

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local name="$1" port="$2" timeout="${3:-30}" i
  for i in $(seq 1 $((timeout * 10))); do
    port_open "$port" && return 0
    alive "$name" || { tail -n 30 "$LOGS/$name.log" >&2 || true; die "$name exited (log: network/.dev/logs/$name.log)"; }
    sleep 0.1
  done
  die "$name: port $port not open after ${timeout}s (log: network/.dev/logs/$name.log)"
}

# http_get PORT PATH: body of an HTTP/1.0 GET to 127.0.0.1 (bash only, no curl).
http_get() {
  local port="$1" path="$2"
  (
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
    sed '1,/^\r\{0,1\}$/d' <&3
  ) 2>/dev/null
}

# metric PORT NAME LABELS: value of one Prometheus sample, empty when absent.
metric() {
  { http_get "$1" /metrics || true; } | awk -v n="$2" -v l="$3" '$1 == n l && !found {print $2; found = 1}'
}

# consensus_leader: the orderer that leads the channel's consensus, as the
# running orderers report it: the Raft leader; with BFT, the leader of the
# current view by the consenter ID most running orderers name (at least two
# must agree: an orderer that was down reports the view it last saw). A
# leader that is down is not named. Exit 1 when there is none.
consensus_leader() {
  local o
  if [[ "$ORDERER_TYPE_SET" == bft ]]; then
    local -A votes=()
    local id best="" n=0
    for o in "${ORDERERS[@]}"; do
      alive "$o" || continue
      id="$(metric "$(orderer_ops_port "$o")" consensus_BFT_leader_id "{channel=\"$CHANNEL\"}")"
      [[ "$id" =~ ^[1-9][0-9]*$ ]] || continue
      votes[$id]=$((${votes[$id]:-0} + 1))
    done
    for id in "${!votes[@]}"; do
      if [[ ${votes[$id]} -gt $n ]]; then best=$id n=${votes[$id]}; fi
    done
    [[ $n -ge 2 && $best -le ${#ORDERERS[@]} ]] || return 1
    o="${ORDERERS[$((best - 1))]}" # consenter ID N is ordererN
    alive "$o" || return 1
    echo "$o"
    return 0
  fi
  for o in "${ORDERERS[@]}"; do
    alive "$o" || continue
    if [[ "$(metric "$(orderer_ops_port "$o")" consensus_etcdraft_is_leader "{channel=\"$CHANNEL\"}")" == 1 ]]; then
      echo "$o"
      return 0
    fi
  done
  return 1
}

consensus_name() { if [[ "$ORDERER_TYPE_SET" == bft ]]; then echo BFT; else echo Raft; fi; }

# bft_ready: true when at least a quorum (3 of 4) of the orderers are up and
# report the channel's BFT cluster with all four consenters.
bft_ready() {
  local o n=0
  for o in "${ORDERERS[@]}"; do
    alive "$o" || continue
    [[ "$(metric "$(orderer_ops_port "$o")" consensus_BFT_cluster_size "{channel=\"$CHANNEL\"}")" == "${#ORDERERS[@]}" ]] && n=$((n + 1))
  done
  [[ $n -ge 3 ]]
}

# ------------------------------------------------------------- peer CLI ---

# as_org ORG [admin|user] CMD...: runs CMD with the peer CLI environment of
# ORG's identity, pointed at ORG's gateway peer.
as_org() {
  local org="$1" who="$2"
  shift 2
  local gw="${GATEWAY_ORG[$org]}" msp
  if [[ "$who" == admin ]]; then msp="$(admin_msp "$org")"; else msp="$(user_msp "$org")"; fi
  env -i "PATH=$PATH" "HOME=${HOME:-/}" \
    FABRIC_CFG_PATH="$CFG" \
    FABRIC_LOGGING_SPEC="${CLI_LOGGING_SPEC:-warn}" \
    CORE_PEER_LOCALMSPID="$(msp_id "$org")" \
    CORE_PEER_MSPCONFIGPATH="$msp" \
    CORE_PEER_ADDRESS="127.0.0.1:$(peer_port "$gw")" \
    CORE_PEER_TLS_ENABLED=true \
    CORE_PEER_TLS_ROOTCERT_FILE="$(peer_tls_ca "$gw")" \
    "$@"
}

peer_cli() { local org="$1" who="$2"; shift 2; as_org "$org" "$who" "$BIN/peer" "$@"; }

# orderer_flags: sets ORDERER_FLAGS, the peer CLI flags to reach an orderer.
orderer_flags() {
  ORDERER_FLAGS=(-o "127.0.0.1:$(orderer_port orderer1)" --tls --cafile "$(orderer_tls_ca orderer1)")
}

# retry N SECONDS CMD...: runs CMD up to N times, SECONDS apart.
retry() {
  local n="$1" pause="$2" i out
  shift 2
  for i in $(seq 1 "$n"); do
    if out="$("$@" 2>&1)"; then
      [[ -n "$out" ]] && printf '%s\n' "$out"
      return 0
    fi
    [[ $i -lt $n ]] && sleep "$pause"
  done
  printf '%s\n' "$out" >&2
  return 1
}

# json_field NAME: first scalar value of "NAME" in JSON on stdin (no jq).
json_field() {
  tr -d '\n' | grep -o "\"$1\"[[:space:]]*:[[:space:]]*\"\{0,1\}[^\",}]*" | head -n 1 |
    sed 's/^[^:]*:[[:space:]]*"\{0,1\}//'
}
