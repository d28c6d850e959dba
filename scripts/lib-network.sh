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
# The highest port is base+299 (base 7050: 7349; base 9050: 9349). On hosts (up --hosts) every
# namespace has its own ports, and each organisation's tokentrail node listens at base+300+k
# (k: its place in ORGS), also the port of its proxy on the hub.
# The base port and the orderer type are fixed into the channel configuration
# when the genesis block is made; they are saved in network/.dev/ports.env and
# reused afterwards.

load_ports() {
  local saved="$DEV/ports.env" base otype hp hs
  HOSTS_MODE=0
  if [[ -f "$saved" ]]; then
    base="$(sed -n 's/^FABRIC_BASE_PORT=//p' "$saved")"
    otype="$(sed -n 's/^ORDERER_TYPE=//p' "$saved")"
    otype="${otype:-raft}" # networks created before BFT was an option
    hp="$(sed -n 's/^HOSTS_PREFIX=//p' "$saved")"
    hs="$(sed -n 's/^HOSTS_SUBNET=//p' "$saved")"
    if [[ -n "$hp" ]]; then
      HOSTS_MODE=1 HOSTS_PREFIX_SET="$hp" HOSTS_SUBNET_SET="$hs"
      if [[ -n "${HOSTS_PREFIX:-}" && "$HOSTS_PREFIX" != "$hp" ]] || [[ -n "${HOSTS_SUBNET:-}" && "$HOSTS_SUBNET" != "$hs" ]]; then
        warn "HOSTS_PREFIX/HOSTS_SUBNET ignored: this network was created with $hp and $hs (run 'clean' to change them)"
      fi
    elif [[ "${WANT_HOSTS:-0}" == 1 ]]; then
      die "this network was made on one machine (no --hosts); run 'scripts/network.sh clean' before 'up --hosts'"
    fi
    if [[ -n "${FABRIC_BASE_PORT:-}" && "$FABRIC_BASE_PORT" != "$base" ]]; then
      warn "FABRIC_BASE_PORT=$FABRIC_BASE_PORT ignored: this network was created with $base (run 'clean' to change it)"
    fi
    if [[ -n "${ORDERER_TYPE:-}" && "${ORDERER_TYPE,,}" != "$otype" ]]; then
      warn "ORDERER_TYPE=$ORDERER_TYPE ignored: this network was created with $otype (run 'clean' to change it)"
    fi
  else
    base="${FABRIC_BASE_PORT:-7050}"
    otype="${ORDERER_TYPE:-raft}"
    if [[ "${WANT_HOSTS:-0}" == 1 ]]; then
      # SmartBFT is the multi-host profile's default: no one organisation orders alone.
      otype="${ORDERER_TYPE:-bft}"
      HOSTS_MODE=1 HOSTS_PREFIX_SET="${HOSTS_PREFIX:-tt}" HOSTS_SUBNET_SET="${HOSTS_SUBNET:-10.77.0}"
      [[ "$HOSTS_PREFIX_SET" =~ ^[a-z][a-z0-9]{0,3}$ ]] ||
        die "bad HOSTS_PREFIX: $HOSTS_PREFIX_SET (one to four lower-case letters or digits, starting with a letter)"
    fi
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
  load_hosts
}

save_ports() {
  mkdir -p "$DEV"
  [[ -f "$DEV/ports.env" ]] && return 0
  {
    printf 'FABRIC_BASE_PORT=%s\nORDERER_TYPE=%s\n' "$BASE_PORT" "$ORDERER_TYPE_SET"
    if [[ $HOSTS_MODE == 1 ]]; then printf 'HOSTS_PREFIX=%s\nHOSTS_SUBNET=%s\n' "$HOSTS_PREFIX_SET" "$HOSTS_SUBNET_SET"; fi
  } >"$DEV/ports.env"
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

# ----------------------------------------------------------------- hosts ---
# The multi-host profile (scripts/network.sh up --hosts): each organisation's
# processes in a network namespace of its own. network/.dev/hosts/hosts.txt
# (written by tokentrail fabric network-files hosts) names the hub namespace,
# its bridge and address, and each host's namespace, hub-side link, address
# and tokentrail node port. network/.dev/hosts/made lists what 'up' made
# (namespaces; /etc/netns when it created it), which down and clean remove.

HOSTS_MODE=0
HOSTS_FILE="$DEV/hosts/hosts.txt"
MADE_FILE="$DEV/hosts/made"
HUB_NS="" HUB_BRIDGE="" HUB_ADDR=""
HOST_ORGS=()
declare -A HOST_NS=() HOST_LINK=() HOST_ADDR=() HOST_NODE_PORT=()

load_hosts() {
  HOST_ORGS=()
  HOST_NS=() HOST_LINK=() HOST_ADDR=() HOST_NODE_PORT=()
  [[ $HOSTS_MODE == 1 && -f "$HOSTS_FILE" ]] || return 0
  local kind a b c d e
  while read -r kind a b c d e; do
    case "$kind" in
      hub) HUB_NS="$a" HUB_BRIDGE="$b" HUB_ADDR="$c" ;;
      host)
        HOST_ORGS+=("$a")
        HOST_NS[$a]="$b" HOST_LINK[$a]="$c" HOST_ADDR[$a]="$d" HOST_NODE_PORT[$a]="$e"
        ;;
    esac
  done < <(grep -v '^#' "$HOSTS_FILE")
}

# orderer_host_org ORDERER: the host an orderer runs on (its operator's with
# BFT, the ordering organisation's with Raft).
orderer_host_org() { if [[ "$ORDERER_TYPE_SET" == bft ]]; then orderer_operator "$1"; else echo orderer; fi; }

# proc_ns NAME: the namespace a process of this network runs in; nothing on
# one machine.
proc_ns() {
  [[ $HOSTS_MODE == 1 ]] || return 0
  local name="$1"
  case "$name" in
    toxiproxy) echo "$HUB_NS" ;;
    orderer*) echo "${HOST_NS[$(orderer_host_org "$name")]}" ;;
    peer0.*) echo "${HOST_NS[$(cut -d. -f2 <<<"$name")]}" ;;
    cc-*.*) echo "${HOST_NS[${name##*.}]}" ;;
    node.*) echo "${HOST_NS[${name#node.}]}" ;;
  esac
}

# in_ns NS CMD...: runs CMD inside network namespace NS (as is when NS is empty).
in_ns() {
  local ns="$1"
  shift
  if [[ -n "$ns" ]]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# The address other nodes and clients dial a node at: its name on hosts
# (resolved by each namespace's hosts file), 127.0.0.1 on one machine.
peer_addr() {
  if [[ $HOSTS_MODE == 1 ]]; then echo "$(peer_name "$1"):$(peer_port "$1")"; else echo "127.0.0.1:$(peer_port "$1")"; fi
}
orderer_addr() {
  if [[ $HOSTS_MODE == 1 ]]; then echo "$(orderer_host "$1"):$(orderer_port "$1")"; else echo "127.0.0.1:$(orderer_port "$1")"; fi
}
# Where a node listens: every address of its namespace on hosts.
listen_ip() { if [[ $HOSTS_MODE == 1 ]]; then echo 0.0.0.0; else echo 127.0.0.1; fi; }

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
  local log="$LOGS/$name.log" ns
  local -a envcmd=(env -i "PATH=$PATH" "HOME=${HOME:-/}")
  [[ "${INHERIT_ENV:-0}" == 1 ]] && envcmd=(env)
  # On hosts, inside the process's namespace (ip netns exec, like env and
  # setsid, execs in place, so $! still becomes EXE).
  ns="$(proc_ns "$name")"
  [[ -n "$ns" ]] && envcmd=(ip netns exec "$ns" "${envcmd[@]}")
  printf '\n==== %s start %s%s ====\n' "$(date -u +%FT%TZ)" "$name" "${ns:+ in namespace $ns}" >>"$log"
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

# port_open PORT [NS]: whether 127.0.0.1:PORT (inside namespace NS) accepts.
port_open() {
  if [[ -n "${2:-}" ]]; then
    ip netns exec "$2" bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

wait_port() {
  local name="$1" port="$2" timeout="${3:-30}" i ns
  ns="$(proc_ns "$name")"
  for i in $(seq 1 $((timeout * 10))); do
    port_open "$port" "$ns" && return 0
    alive "$name" || { tail -n 30 "$LOGS/$name.log" >&2 || true; die "$name exited (log: network/.dev/logs/$name.log)"; }
    sleep 0.1
  done
  die "$name: port $port not open after ${timeout}s (log: network/.dev/logs/$name.log)"
}

# http_get PORT PATH [NS]: body of an HTTP/1.0 GET to 127.0.0.1 (inside
# namespace NS) (bash only, no curl).
http_get() {
  local port="$1" path="$2" ns="${3:-}"
  # shellcheck disable=SC2016 # expanded by the inner bash
  in_ns "$ns" bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3
    sed "1,/^\r\{0,1\}\$/d" <&3' http_get "$port" "$path" 2>/dev/null
}

# metric PORT NAME LABELS [NS]: value of one Prometheus sample, empty when absent.
metric() {
  { http_get "$1" /metrics "${4:-}" || true; } | awk -v n="$2" -v l="$3" '$1 == n l && !found {print $2; found = 1}'
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
      id="$(metric "$(orderer_ops_port "$o")" consensus_BFT_leader_id "{channel=\"$CHANNEL\"}" "$(proc_ns "$o")")"
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
    if [[ "$(metric "$(orderer_ops_port "$o")" consensus_etcdraft_is_leader "{channel=\"$CHANNEL\"}" "$(proc_ns "$o")")" == 1 ]]; then
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
    [[ "$(metric "$(orderer_ops_port "$o")" consensus_BFT_cluster_size "{channel=\"$CHANNEL\"}" "$(proc_ns "$o")")" == "${#ORDERERS[@]}" ]] && n=$((n + 1))
  done
  [[ $n -ge 3 ]]
}

# ------------------------------------------------------------- peer CLI ---

# as_org ORG [admin|user] CMD...: runs CMD with the peer CLI environment of
# ORG's identity, pointed at ORG's gateway peer (on hosts, from ORG's host).
as_org() {
  local org="$1" who="$2"
  shift 2
  local gw="${GATEWAY_ORG[$org]}" msp
  if [[ "$who" == admin ]]; then msp="$(admin_msp "$org")"; else msp="$(user_msp "$org")"; fi
  in_ns "${HOST_NS[$org]:-}" env -i "PATH=$PATH" "HOME=${HOME:-/}" \
    FABRIC_CFG_PATH="$CFG" \
    FABRIC_LOGGING_SPEC="${CLI_LOGGING_SPEC:-warn}" \
    CORE_PEER_LOCALMSPID="$(msp_id "$org")" \
    CORE_PEER_MSPCONFIGPATH="$msp" \
    CORE_PEER_ADDRESS="$(peer_addr "$gw")" \
    CORE_PEER_TLS_ENABLED=true \
    CORE_PEER_TLS_ROOTCERT_FILE="$(peer_tls_ca "$gw")" \
    "$@"
}

peer_cli() { local org="$1" who="$2"; shift 2; as_org "$org" "$who" "$BIN/peer" "$@"; }

# orderer_flags: sets ORDERER_FLAGS, the peer CLI flags to reach an orderer.
orderer_flags() {
  ORDERER_FLAGS=(-o "$(orderer_addr orderer1)" --tls --cafile "$(orderer_tls_ca orderer1)")
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
