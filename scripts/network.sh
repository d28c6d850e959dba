#!/usr/bin/env bash
# A real Hyperledger Fabric network on this machine, as native processes on
# 127.0.0.1 (no containers): 3 Raft orderers (or, with ORDERER_TYPE=bft, 4
# SmartBFT orderers, one run by each of the regulator, provider, exchange and
# auditor), one LevelDB peer for each of the regulator, provider, exchange and
# auditor, processor and consumer as channel members without peers, one
# channel, chaincode as a service.
#
#   scripts/network.sh up              start (or resume) everything, deploy the chaincode
#   scripts/network.sh up --hosts      the multi-host profile (root only): each organisation's
#                                      processes in a network namespace of its own, linked through
#                                      a hub namespace's bridge and Toxiproxy; one tokentrail node
#                                      per organisation; SmartBFT unless ORDERER_TYPE=raft. A
#                                      network made so stays on hosts until 'clean'.
#   scripts/network.sh deploy NAME CMD deploy/upgrade chaincode NAME built from Go package CMD
#   scripts/network.sh add-org NAME [GW] a new member without a peer (MSP ID: Name + "MSP") joins the
#                                      channel by a configuration update; it submits through GW's
#                                      peer (default provider); ORG_ROLES (default provider) and
#                                      ORG_DISPLAY_NAME go into its node's configuration; on hosts
#                                      it also gets a host namespace with its node
#   scripts/network.sh deploy-tampered ORG  test fixture: chaincode tokentrail-tamper, whose server
#                                      on ORG's peer alters batch writes (the others run the real one)
#   scripts/network.sh smoke           invoke + query round trip through two organisations' peers
#   scripts/network.sh status          nodes, PIDs, liveness, memory, consensus leader
#   scripts/network.sh down            stop the processes 'up' started; keep the ledgers (on hosts
#                                      also remove the namespaces, links and bridge 'up' made)
#   scripts/network.sh clean           down, then delete network/.dev
#   scripts/network.sh partition ORG   on hosts: cut ORG's host off (its link on the hub set down)
#   scripts/network.sh heal ORG        on hosts: set that link up again
#
# One node at a time (for fault tests; NODE as 'status' prints it: orderer1..3 (..4 with BFT),
# peer0.<org>.tokentrail.test, cc-<chaincode>; on hosts cc-<chaincode>.<org>, node.<org> (an
# organisation's tokentrail node) and toxiproxy). Signals go to the PID 'up'
# recorded, never to a process found by name:
#   scripts/network.sh stop NODE       SIGTERM (SIGKILL after 10 s)
#   scripts/network.sh kill NODE       SIGKILL at once
#   scripts/network.sh start NODE      start it again with the same configuration and data
#   scripts/network.sh leader          print the consensus leader's name: the Raft leader, or the
#                                      BFT leader of the current view (exit 1 when none is up)
#
# Environment (all optional):
#   CHAINCODE_NAME   chaincode deployed by 'up' (default tokentrail)
#   CHAINCODE_CMD    Go package of its CCaaS server (default ./chaincode/cmd/tokentrail-cc;
#                    "none" deploys nothing)
#   CHAINCODE_POLICY endorsement policy (default: any 2 of the 4 peer organisations)
#   CHAINCODE_COLLECTIONS collections config (default network/collections.json for
#                    tokentrail, none for other names; "none" for none)
#   CHAINCODE_TLS    1 (default): mutual TLS between peers and chaincode servers; 0: plain
#   FABRIC_BASE_PORT first port of the network (default 7050, see scripts/lib-network.sh)
#   ORDERER_TYPE     raft (default) or bft: the ordering service of a new network (kept, like
#                    the base port, in network/.dev/ports.env until 'clean')
#   FABRIC_PROFILE   1: nodes and chaincode servers serve Go pprof on loopback (peers at
#                    their port + 3, orderers at theirs + 3, chaincode servers at theirs + 50)
#   FABRIC_HISTORY_DB true: peers keep Fabric's key history database (default false:
#                    tokentrail keeps its own event history and never asks for key history)
#   FABRIC_PEER_ENV  extra core.yaml overrides for every peer, as VAR=value words
#                    (e.g. "CORE_PEER_VALIDATORPOOLSIZE=1"; no spaces inside a value)
#   POST_DEPLOY_CMD  command run at the end of 'up' (default when deploying tokentrail:
#                    tokentrail fabric dev-config, which writes network/.dev/tokentrail.yaml
#                    and dev-credentials.json and registers the consortium)
#   SMOKE_CHAINCODE  chaincode name used by 'smoke' (default onekey, deployed if absent)
#   HOSTS_PREFIX     up --hosts: prefix of every namespace and link name (default tt: tt-hub,
#                    tt-provider, bridge ttbr0); HOSTS_SUBNET its private /24 (default 10.77.0)
set -euo pipefail

# shellcheck source=scripts/lib-network.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-network.sh"

# ------------------------------------------------------------- artefacts ---

ensure_binaries() {
  "$NET_ROOT/scripts/install-fabric.sh"
}

# The tokentrail command writes the configuration files (configtx.yaml,
# network.json, connection profiles, chaincode connection.json) with real
# YAML and JSON encoders: tokentrail fabric network-files / ccaas-connection.
TT="$BIN/tokentrail"
ensure_tool() {
  (cd "$NET_ROOT" && go build -o "$TT.new" ./app/cmd/tokentrail) || die "go build ./app/cmd/tokentrail failed"
  mv "$TT.new" "$TT"
}

# network_files configtx|app: writes the files of that stage for this network.
network_files() {
  [[ -x "$TT" ]] || ensure_tool
  local -a hosts=()
  [[ $HOSTS_MODE == 1 ]] && hosts=(--hosts-prefix "$HOSTS_PREFIX_SET" --hosts-subnet "$HOSTS_SUBNET_SET"
    --script "$NET_ROOT/scripts/network.sh")
  "$TT" fabric network-files "$1" --dev "$DEV" --base-port "$BASE_PORT" --orderer-type "$ORDERER_TYPE_SET" \
    --channel "$CHANNEL" --chaincode "${CHAINCODE_NAME:-tokentrail}" "${hosts[@]}" \
    ${FABRIC_BATCH_TIMEOUT:+--batch-timeout "$FABRIC_BATCH_TIMEOUT"} \
    ${FABRIC_MAX_MESSAGE_COUNT:+--max-message-count "$FABRIC_MAX_MESSAGE_COUNT"} >/dev/null || die "tokentrail fabric network-files $1 failed"
}

ensure_crypto() {
  if [[ -d "$CRYPTO" ]]; then
    [[ -d "$(orderer_org_dir "${ORDERERS[-1]}")" ]] ||
      die "the crypto material in network/.dev predates $(consensus_name) orderers (run 'clean')"
    return 0
  fi
  # On hosts the certificates also name each node's host and its address:
  # the input is written by tokentrail fabric network-files hosts.
  local input="$NET_DIR/crypto-config.yaml" what=""
  [[ $HOSTS_MODE == 1 ]] && input="$CFG/crypto-config.yaml" what=", certificates naming the hosts"
  say "generating crypto material (cryptogen$what)"
  rm -rf "$CRYPTO.tmp"
  "$BIN/cryptogen" generate --config="$input" --output="$CRYPTO.tmp" >/dev/null
  mv "$CRYPTO.tmp" "$CRYPTO"
}

# Node configuration: the pinned Fabric module's sampleconfig core.yaml and
# orderer.yaml, copied from the Go module cache; every node-specific setting
# is then overridden by environment variables when the node starts. The only
# edit is removing the Docker endpoint (no Docker engine here).
ensure_config() {
  mkdir -p "$CFG"
  local fabric_dir
  fabric_dir="$(cd "$NET_DIR/tools" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' github.com/hyperledger/fabric)"
  [[ -d "$fabric_dir/sampleconfig" ]] || (cd "$NET_DIR/tools" && go mod download github.com/hyperledger/fabric)
  cp "$fabric_dir/sampleconfig/orderer.yaml" "$CFG/orderer.yaml"
  sed 's#^\([[:space:]]*endpoint:\)[[:space:]]*unix:///var/run/docker.sock#\1#' \
    "$fabric_dir/sampleconfig/core.yaml" >"$CFG/core.yaml"
  chmod u+w "$CFG/orderer.yaml" "$CFG/core.yaml"
  grep -q '^[[:space:]]*endpoint:.*docker.sock' "$CFG/core.yaml" && die "could not blank vm.endpoint in core.yaml"

  # The channel configuration: written by tokentrail fabric network-files
  # (app/cmd/tokentrail/fabricnet.go) for this base port and orderer type.
  network_files configtx
}

ensure_genesis() {
  local block="$DEV/channel/$CHANNEL.block"
  [[ -f "$block" ]] && return 0
  say "creating the genesis block of channel $CHANNEL (configtxgen)"
  mkdir -p "$DEV/channel"
  FABRIC_CFG_PATH="$CFG" "$BIN/configtxgen" -configPath "$CFG" -profile TokentrailChannel \
    -channelID "$CHANNEL" -outputBlock "$block.tmp" 2>"$LOGS/configtxgen.log" ||
    { cat "$LOGS/configtxgen.log" >&2; die "configtxgen failed"; }
  mv "$block.tmp" "$block"
}

# ----------------------------------------------------------------- nodes ---

start_orderer() {
  local o="$1" dir tls consensus=etcdraft
  alive "$o" && return 0
  dir="$(orderer_dir "$o")"
  [[ "$ORDERER_TYPE_SET" == bft ]] && consensus=bft
  tls="$dir/tls"
  mkdir -p "$DATA/$o"
  local -a prof=()
  [[ "${FABRIC_PROFILE:-0}" == 1 ]] &&
    prof=(ORDERER_GENERAL_PROFILE_ENABLED=true ORDERER_GENERAL_PROFILE_ADDRESS="127.0.0.1:$(orderer_pprof_port "$o")")
  start_process "$o" "$BIN/orderer" \
    FABRIC_CFG_PATH="$CFG" \
    FABRIC_LOGGING_SPEC="$FABRIC_LOGGING_SPEC" \
    ORDERER_GENERAL_LISTENADDRESS="$(listen_ip)" \
    ORDERER_GENERAL_LISTENPORT="$(orderer_port "$o")" \
    ORDERER_GENERAL_LOCALMSPID="$(orderer_msp_id "$o")" \
    ORDERER_GENERAL_LOCALMSPDIR="$dir/msp" \
    ORDERER_GENERAL_BOOTSTRAPMETHOD=none \
    ORDERER_GENERAL_TLS_ENABLED=true \
    ORDERER_GENERAL_TLS_CERTIFICATE="$tls/server.crt" \
    ORDERER_GENERAL_TLS_PRIVATEKEY="$tls/server.key" \
    ORDERER_GENERAL_TLS_ROOTCAS="[$tls/ca.crt]" \
    ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE="$tls/server.crt" \
    ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY="$tls/server.key" \
    ORDERER_GENERAL_CLUSTER_ROOTCAS="[$tls/ca.crt]" \
    ORDERER_CHANNELPARTICIPATION_ENABLED=true \
    ORDERER_ADMIN_LISTENADDRESS="127.0.0.1:$(orderer_admin_port "$o")" \
    ORDERER_ADMIN_TLS_ENABLED=true \
    ORDERER_ADMIN_TLS_CERTIFICATE="$tls/server.crt" \
    ORDERER_ADMIN_TLS_PRIVATEKEY="$tls/server.key" \
    ORDERER_ADMIN_TLS_ROOTCAS="[$tls/ca.crt]" \
    ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true \
    ORDERER_ADMIN_TLS_CLIENTROOTCAS="[$tls/ca.crt]" \
    ORDERER_OPERATIONS_LISTENADDRESS="127.0.0.1:$(orderer_ops_port "$o")" \
    ORDERER_METRICS_PROVIDER=prometheus \
    ORDERER_FILELEDGER_LOCATION="$DATA/$o/ledger" \
    ORDERER_CONSENSUS_WALDIR="$DATA/$o/$consensus/wal" \
    ORDERER_CONSENSUS_SNAPDIR="$DATA/$o/$consensus/snapshot" \
    "${prof[@]}"
  say "started $o (pid $(pid_of "$o"), port $(orderer_port "$o"), $(orderer_msp_id "$o")$(ns_note "$o"))"
}

start_peer() {
  local org="$1" name dir port
  name="$(peer_name "$org")"
  alive "$name" && return 0
  dir="$(peer_dir "$org")"
  port="$(peer_port "$org")"
  mkdir -p "$DATA/$name"
  local -a START_ARGS=(node start)
  local -a settings=()
  [[ "${FABRIC_PROFILE:-0}" == 1 ]] &&
    settings=(CORE_PEER_PROFILE_ENABLED=true CORE_PEER_PROFILE_LISTENADDRESS="127.0.0.1:$(peer_pprof_port "$org")")
  # A gateway whose endorser neither answers nor fails (a hung peer, or
  # on hosts a cut-off one: a partition drops packets silently) asks
  # another after this long. Fabric's default, 30 s, is a whole API
  # request's time limit: measured with one of four peers hung, the writes
  # it was asked to endorse took 30 s and some were refused with 503; with
  # 10 s the slowest took 12.3 s and none failed (docs/benchmarks.md,
  # "Fabric configuration, measured"). On hosts, a peer pulling blocks from
  # a cut-off orderer likewise moves to another (BFT) once the others' block
  # headers have run ahead of it this long.
  settings+=(CORE_PEER_GATEWAY_ENDORSEMENTTIMEOUT=10s)
  [[ $HOSTS_MODE == 1 ]] && settings+=(CORE_PEER_DELIVERYCLIENT_BLOCKCENSORSHIPTIMEOUTKEY=10s)
  # FABRIC_PEER_ENV: further core.yaml overrides for every peer, given last
  # so that they win (how docs/benchmarks.md measures peer settings).
  local -a extra=()
  [[ -n "${FABRIC_PEER_ENV:-}" ]] && read -r -a extra <<<"$FABRIC_PEER_ENV"
  settings+=("${extra[@]}")
  start_process "$name" "$BIN/peer" \
    FABRIC_CFG_PATH="$CFG" \
    FABRIC_LOGGING_SPEC="$FABRIC_LOGGING_SPEC" \
    CORE_PEER_ID="$name" \
    CORE_PEER_LOCALMSPID="$(msp_id "$org")" \
    CORE_PEER_MSPCONFIGPATH="$dir/msp" \
    CORE_PEER_LISTENADDRESS="$(listen_ip):$port" \
    CORE_PEER_ADDRESS="$(peer_addr "$org")" \
    CORE_PEER_CHAINCODELISTENADDRESS="127.0.0.1:$(peer_cc_port "$org")" \
    CORE_PEER_CHAINCODEADDRESS="127.0.0.1:$(peer_cc_port "$org")" \
    CORE_PEER_GOSSIP_BOOTSTRAP="$(peer_addr "$org")" \
    CORE_PEER_GOSSIP_EXTERNALENDPOINT="$(peer_addr "$org")" \
    CORE_PEER_GOSSIP_RECONNECTINTERVAL=2s \
    CORE_PEER_TLS_ENABLED=true \
    CORE_PEER_TLS_CERT_FILE="$dir/tls/server.crt" \
    CORE_PEER_TLS_KEY_FILE="$dir/tls/server.key" \
    CORE_PEER_TLS_ROOTCERT_FILE="$dir/tls/ca.crt" \
    CORE_PEER_FILESYSTEMPATH="$DATA/$name" \
    CORE_LEDGER_SNAPSHOTS_ROOTDIR="$DATA/$name/snapshots" \
    CORE_LEDGER_STATE_STATEDATABASE=goleveldb \
    CORE_LEDGER_HISTORY_ENABLEHISTORYDATABASE="${FABRIC_HISTORY_DB:-false}" \
    CORE_OPERATIONS_LISTENADDRESS="127.0.0.1:$(peer_ops_port "$org")" \
    CORE_METRICS_PROVIDER=prometheus \
    CORE_CHAINCODE_EXTERNALBUILDERS="[{name: ccaas, path: $NET_DIR/builders/ccaas}]" \
    "${settings[@]}"
  say "started $name (pid $(pid_of "$name"), port $port$(ns_note "$name"))"
}

join_orderers() {
  local o admintls
  for o in "${ORDERERS[@]}"; do
    # Each orderer is administered by its own organisation's admin.
    admintls="$(orderer_admin_tls "$o")"
    local -a osn=(-o "127.0.0.1:$(orderer_admin_port "$o")" --ca-file "$(orderer_tls_ca "$o")"
      --client-cert "$admintls/client.crt" --client-key "$admintls/client.key")
    # osnadmin exits 0 whatever the HTTP status; read the status line.
    if in_ns "$(proc_ns "$o")" "$BIN/osnadmin" channel list "${osn[@]}" --channelID "$CHANNEL" 2>/dev/null | grep -q '^Status: 200'; then
      continue
    fi
    local out
    out="$(retry 10 1 in_ns "$(proc_ns "$o")" "$BIN/osnadmin" channel join "${osn[@]}" --channelID "$CHANNEL" \
      --config-block "$DEV/channel/$CHANNEL.block")" || die "$o: osnadmin channel join failed"
    grep -q '^Status: 201' <<<"$out" || die "$o: osnadmin channel join: $out"
    say "$o joined channel $CHANNEL"
  done
}

join_peers() {
  local org
  for org in "${PEER_ORGS[@]}"; do
    if peer_cli "$org" admin channel list 2>/dev/null | grep -qx "$CHANNEL"; then
      continue
    fi
    retry 10 1 peer_cli "$org" admin channel join -b "$DEV/channel/$CHANNEL.block" >/dev/null ||
      die "$(peer_name "$org"): peer channel join failed"
    say "$(peer_name "$org") joined channel $CHANNEL"
  done
}

# wait_consensus: with Raft, until a leader is elected; with BFT, until a
# quorum of orderers (3 of 4) run the channel with all four consenters.
wait_consensus() {
  local i leader
  for i in $(seq 1 300); do
    if [[ "$ORDERER_TYPE_SET" == bft ]]; then
      if bft_ready; then
        say "BFT: a quorum of the ${#ORDERERS[@]} orderers runs channel $CHANNEL"
        return 0
      fi
    elif leader="$(consensus_leader)"; then
      say "Raft leader: $leader"
      return 0
    fi
    sleep 0.1
  done
  die "$(consensus_name) ordering not ready after 30 s (see network/.dev/logs/orderer*.log)"
}

# Peers of different organisations find each other through the anchor peers
# some seconds after joining; until then the gateway's discovery cannot plan
# an endorsement across organisations. Wait until every peer knows the other
# three (gossip membership metric).
wait_gossip() {
  local i org known all want=$((${#PEER_ORGS[@]} - 1))
  for i in $(seq 1 120); do
    all=1
    for org in "${PEER_ORGS[@]}"; do
      known="$(metric "$(peer_ops_port "$org")" gossip_membership_total_peers_known "{channel=\"$CHANNEL\"}" "$(proc_ns "$(peer_name "$org")")")"
      [[ "${known:-0}" -ge "$want" ]] || { all=0; break; }
    done
    if [[ $all == 1 ]]; then
      say "gossip: every peer sees the other $want"
      return 0
    fi
    sleep 0.5
  done
  warn "gossip membership incomplete after 60 s; cross-organisation endorsement may fail for a while"
}

# ------------------------------------------------------------- chaincode ---

cc_slot_port() {
  local name="$1" f slot used
  f="$CCDIR/$name/port"
  if [[ -f "$f" ]]; then cat "$f"; return; fi
  case "$name" in
    tokentrail) slot=0 ;;
    onekey) slot=1 ;;
    *)
      for slot in $(seq 2 49); do
        used=0
        for f in "$CCDIR"/*/port; do
          [[ -f "$f" && "$(cat "$f")" == $((BASE_PORT + 200 + slot)) ]] && used=1
        done
        [[ $used == 0 ]] && break
      done
      ;;
  esac
  echo $((BASE_PORT + 200 + slot))
}

# build_package NAME PORT: writes the CCaaS package (metadata.json with type
# ccaas + code.tar.gz with connection.json), byte for byte reproducible so the
# package ID only changes when the connection details do.
build_package() {
  local name="$1" port="$2" dir="$CCDIR/$1"
  local src="$dir/pkg"
  rm -rf "$src" && mkdir -p "$src/code"
  local -a tls=()
  [[ -x "$TT" ]] || ensure_tool
  if [[ "${CHAINCODE_TLS:-1}" == 1 ]]; then
    local c
    c="$(ccaas_client_tls)"
    tls=(--client-cert "$c/client.crt" --client-key "$c/client.key" --root-cert "$(ccaas_server_tls)/ca.crt")
  fi
  "$TT" fabric ccaas-connection --address "127.0.0.1:$port" --out "$src/code/connection.json" "${tls[@]}" >/dev/null ||
    die "tokentrail fabric ccaas-connection failed"
  printf '{"type":"ccaas","label":"%s"}\n' "$name" >"$src/metadata.json"
  local -a det=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu)
  tar -C "$src/code" "${det[@]}" -cf - connection.json | gzip -n >"$src/code.tar.gz"
  tar -C "$src" "${det[@]}" -cf - metadata.json code.tar.gz | gzip -n >"$dir/$name.tar.gz"
}

# start_chaincode NAME CMD PACKAGE_ID PORT: (re)builds the server binary and
# starts it; a running server is restarted only when the binary changed.
start_chaincode() {
  local name="$1" cmd="$2" pkgid="$3" port="$4"
  local proc="cc-$name" exe="$BIN/cc-$name"
  (cd "$NET_ROOT" && go build -o "$exe.new" "$cmd") || die "go build $cmd failed"
  local same=0
  [[ -f "$exe" ]] && cmp -s "$exe" "$exe.new" && same=1
  local running_id=""
  [[ -f "$CCDIR/$name/running_id" ]] && running_id="$(cat "$CCDIR/$name/running_id")"
  local p all=1
  for p in $(cc_procs "$name"); do alive "$p" || all=0; done
  if [[ $same == 1 && "$running_id" == "$pkgid" && $all == 1 ]]; then
    rm -f "$exe.new"
    return 0
  fi
  # shellcheck disable=SC2046 # process names have no spaces
  stop_processes $(cc_procs "$name")
  mv "$exe.new" "$exe"
  launch_chaincode "$name" "$pkgid" "$port"
}

# cc_procs NAME: the process names of chaincode NAME's servers: cc-NAME on one
# machine; on hosts one per host with a peer, cc-NAME.ORG, which its peer
# dials on loopback (the package's address is the same everywhere).
cc_procs() {
  local org
  if [[ $HOSTS_MODE == 1 ]]; then
    for org in "${PEER_ORGS[@]}"; do echo "cc-$1.$org"; done
  else
    echo "cc-$1"
  fi
}

# cc_name PROC: the chaincode of a server's process name.
cc_name() { local n="${1#cc-}"; echo "${n%%.*}"; }

# launch_chaincode NAME PACKAGE_ID PORT [PROC]: starts the server binary
# built before (network/.bin/cc-NAME) as every server of NAME, or as PROC
# alone, and waits for its port.
launch_chaincode() {
  local name="$1" pkgid="$2" port="$3" proc
  if [[ $# -lt 4 ]]; then
    for proc in $(cc_procs "$name"); do launch_chaincode "$name" "$pkgid" "$port" "$proc"; done
    return 0
  fi
  proc="$4"
  local exe="$BIN/cc-$name"
  [[ -x "$exe" ]] || die "$exe is missing (scripts/network.sh up builds it)"
  local -a tlsenv=()
  if [[ "${CHAINCODE_TLS:-1}" == 1 ]]; then
    tlsenv=(CHAINCODE_TLS_CERT="$(ccaas_server_tls)/server.crt"
      CHAINCODE_TLS_KEY="$(ccaas_server_tls)/server.key"
      CHAINCODE_TLS_CLIENT_CA_CERT="$(ccaas_client_tls)/ca.crt")
  fi
  [[ "${FABRIC_PROFILE:-0}" == 1 ]] && tlsenv+=(CHAINCODE_PPROF_ADDR="127.0.0.1:$((port + 50))")
  INHERIT_ENV=1 start_process "$proc" "$exe" \
    CHAINCODE_ID="$pkgid" CHAINCODE_SERVER_ADDRESS="127.0.0.1:$port" "${tlsenv[@]}"
  echo "$pkgid" >"$CCDIR/$name/running_id"
  wait_port "$proc" "$port" 30
  say "started chaincode server $proc (pid $(pid_of "$proc"), 127.0.0.1:$port$(ns_note "$proc"))"
}

# deploy NAME CMD: package, install on every peer, start the server, approve
# for the four peer organisations, commit. Does nothing for a definition that
# is already committed unchanged.
deploy() {
  local name="$1" cmd="$2"
  [[ "$name" =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die "bad chaincode name: $name"
  [[ -d "$NET_ROOT/${cmd#./}" ]] || die "chaincode command $cmd not found (relative to the repository root)"
  local dir="$CCDIR/$name" port pkg pkgid
  mkdir -p "$dir"
  port="$(cc_slot_port "$name")"
  echo "$port" >"$dir/port"
  echo "$cmd" >"$dir/cmd"

  build_package "$name" "$port"
  pkg="$dir/$name.tar.gz"
  pkgid="$(peer_cli regulator admin lifecycle chaincode calculatepackageid "$pkg")"

  local org
  for org in "${PEER_ORGS[@]}"; do
    if peer_cli "$org" admin lifecycle chaincode queryinstalled --output json 2>/dev/null | grep -qF "\"$pkgid\""; then
      continue
    fi
    retry 3 2 peer_cli "$org" admin lifecycle chaincode install "$pkg" >/dev/null ||
      die "install of $name on $(peer_name "$org") failed"
    say "installed $pkgid on $(peer_name "$org")"
  done

  start_chaincode "$name" "$cmd" "$pkgid" "$port"

  # The definition: package, endorsement policy, collections.
  local policy="${CHAINCODE_POLICY:-$DEFAULT_CC_POLICY}" coll="${CHAINCODE_COLLECTIONS:-}"
  if [[ -z "$coll" && "$name" == tokentrail ]]; then coll="$NET_DIR/collections.json"; fi
  [[ "$coll" == none ]] && coll=""
  local -a def=(--channelID "$CHANNEL" --name "$name" --signature-policy "$policy")
  local defsum
  defsum="$(
    {
      echo "$pkgid"
      echo "$policy"
      if [[ -n "$coll" ]]; then cat "$coll"; fi
    } | sha256sum | cut -c1-16
  )"
  if [[ -n "$coll" ]]; then def+=(--collections-config "$coll"); fi

  local committed seq=0
  if committed="$(peer_cli regulator admin lifecycle chaincode querycommitted -C "$CHANNEL" -n "$name" --output json 2>/dev/null)"; then
    seq="$(json_field sequence <<<"$committed")"
    if [[ -f "$dir/definition" && "$(cat "$dir/definition")" == "$seq $defsum" ]]; then
      say "chaincode $name already committed (sequence $seq, package $pkgid)"
      return 0
    fi
  fi
  seq=$((seq + 1))
  def+=(--version "$seq" --sequence "$seq")
  orderer_flags

  # Only organisations that run a peer can approve (an approval is written by
  # the approving organisation's own peer). The lifecycle policy asks for the
  # regulator plus two of the other three; all four approve here.
  local ready
  ready="$(peer_cli regulator admin lifecycle chaincode checkcommitreadiness "${def[@]}" --output json 2>/dev/null || true)"
  for org in "${PEER_ORGS[@]}"; do
    if grep -q "\"$(msp_id "$org")\": *true" <<<"$ready"; then continue; fi
    retry 10 2 peer_cli "$org" admin lifecycle chaincode approveformyorg "${ORDERER_FLAGS[@]}" \
      "${def[@]}" --package-id "$pkgid" >/dev/null || die "approval of $name by $(msp_id "$org") failed"
    say "$(msp_id "$org") approved $name sequence $seq"
  done

  commit_definition
  say "committed chaincode $name sequence $seq (policy: $policy${coll:+, collections: ${coll#"$NET_ROOT"/}})"
}

# commit_definition: commits the chaincode definition the caller's def
# array describes (the caller's name, seq, defsum and dir too), endorsed on
# every peer, and records it in dir/definition.
commit_definition() {
  local -a peers=()
  local org
  for org in "${PEER_ORGS[@]}"; do
    peers+=(--peerAddresses "$(peer_addr "$org")" --tlsRootCertFiles "$(peer_tls_ca "$org")")
  done
  retry 10 2 peer_cli regulator admin lifecycle chaincode commit "${ORDERER_FLAGS[@]}" "${def[@]}" "${peers[@]}" >/dev/null ||
    die "commit of $name failed"
  echo "$seq $defsum" >"$dir/definition"
}

# deploy_tampered ORG: the consortium trust test's fixture. Chaincode
# tokentrail-tamper, with tokentrail's endorsement policy and collections,
# where ORG's peer runs a tampered server (chaincode/fabric/testdata/tampered-cc:
# the real contract with batch token counts inflated) and the other peer
# organisations the real one. With chaincode as a service each organisation
# installs its own package (a connection.json naming its server), so the
# package IDs differ per organisation while the definition all of them
# approve (name, sequence, policy, collections) is one. Only the script runs
# this; the product never deploys the fixture.
deploy_tampered() {
  local bad="$1" name=tokentrail-tamper forged=tokentrail-tamper-forged
  peer_org_index "$bad" >/dev/null || die "deploy-tampered: '$bad' runs no peer (one of: ${PEER_ORGS[*]})"
  local honest_cmd=./chaincode/cmd/tokentrail-cc forged_cmd=./chaincode/fabric/testdata/tampered-cc
  local dir="$CCDIR/$name" fdir="$CCDIR/$forged" port fport
  mkdir -p "$dir" "$fdir"
  port="$(cc_slot_port "$name")"
  echo "$port" >"$dir/port"
  echo "$honest_cmd" >"$dir/cmd"
  fport="$(cc_slot_port "$forged")"
  echo "$fport" >"$fdir/port"
  echo "$forged_cmd" >"$fdir/cmd"
  build_package "$name" "$port"
  build_package "$forged" "$fport"
  local pkgid fpkgid
  pkgid="$(peer_cli regulator admin lifecycle chaincode calculatepackageid "$dir/$name.tar.gz")"
  fpkgid="$(peer_cli regulator admin lifecycle chaincode calculatepackageid "$fdir/$forged.tar.gz")"

  local org pkg id
  local -A pkg_of=()
  for org in "${PEER_ORGS[@]}"; do
    if [[ "$org" == "$bad" ]]; then pkg="$fdir/$forged.tar.gz" id="$fpkgid"; else pkg="$dir/$name.tar.gz" id="$pkgid"; fi
    pkg_of[$org]="$id"
    if peer_cli "$org" admin lifecycle chaincode queryinstalled --output json 2>/dev/null | grep -qF "\"$id\""; then
      continue
    fi
    retry 3 2 peer_cli "$org" admin lifecycle chaincode install "$pkg" >/dev/null ||
      die "install of $id on $(peer_name "$org") failed"
    say "installed $id on $(peer_name "$org")"
  done
  start_chaincode "$name" "$honest_cmd" "$pkgid" "$port"
  start_chaincode "$forged" "$forged_cmd" "$fpkgid" "$fport"

  local policy="$DEFAULT_CC_POLICY" coll="$NET_DIR/collections.json"
  local -a def=(--channelID "$CHANNEL" --name "$name" --signature-policy "$policy" --collections-config "$coll")
  local defsum committed seq=0
  defsum="$({ echo "$pkgid $fpkgid $bad"; echo "$policy"; cat "$coll"; } | sha256sum | cut -c1-16)"
  if committed="$(peer_cli regulator admin lifecycle chaincode querycommitted -C "$CHANNEL" -n "$name" --output json 2>/dev/null)"; then
    seq="$(json_field sequence <<<"$committed")"
    if [[ -f "$dir/definition" && "$(cat "$dir/definition")" == "$seq $defsum" ]]; then
      say "chaincode $name already committed (sequence $seq; $(msp_id "$bad") runs the tampered server)"
      return 0
    fi
  fi
  seq=$((seq + 1))
  def+=(--version "$seq" --sequence "$seq")
  orderer_flags
  for org in "${PEER_ORGS[@]}"; do
    retry 10 2 peer_cli "$org" admin lifecycle chaincode approveformyorg "${ORDERER_FLAGS[@]}" \
      "${def[@]}" --package-id "${pkg_of[$org]}" >/dev/null || die "approval of $name by $(msp_id "$org") failed"
    say "$(msp_id "$org") approved $name sequence $seq with package ${pkg_of[$org]}"
  done
  commit_definition
  echo "$bad" >"$dir/tampered-org"
  say "committed chaincode $name sequence $seq; $(peer_name "$bad") runs the tampered server"
}

# peer_heights: "<org>=<height> ..." of every peer's channel ledger.
peer_heights() {
  local org info
  for org in "${PEER_ORGS[@]}"; do
    info="$(peer_cli "$org" admin channel getinfo -c "$CHANNEL" 2>/dev/null | sed -n 's/^Blockchain info: //p')"
    printf '%s=%s ' "$org" "$(json_field height <<<"$info")"
  done
}

# add_org NAME GATEWAY: a new member without a peer joins the channel. The
# files come from tokentrail fabric add-org (app/cmd/tokentrail/addorg.go):
# its cryptogen input, then, from the channel's latest configuration block,
# the configuration update that adds its MSP to the Application group,
# signed by the admins of the four peer organisations (the Application
# Admins policy is MAJORITY Admins: 4 of 6 members, 4 of 7 after), which the
# regulator's admin submits to the ordering service. Once every peer has the
# new configuration block, the member is recorded (network.json and the
# connection profiles name it) and its tokentrail node's configuration is
# written to network/.dev/orgs/<MSP ID>/. The regulator then registers it
# on the ledger through its node's API, as for any participant.
add_org() {
  local org="$1" gw="$2" dir="$DEV/add-org/$1" o
  [[ -x "$TT" ]] || ensure_tool
  mkdir -p "$dir"
  "$TT" fabric add-org crypto-config --dev "$DEV" --org "$org" --gateway "$gw" --out "$dir/crypto-config.yaml" >/dev/null ||
    die "add-org $org: see the error above"
  if [[ ! -d "$(org_dir "$org")" ]]; then
    rm -rf "$dir/crypto"
    "$BIN/cryptogen" generate --config="$dir/crypto-config.yaml" --output="$dir/crypto" >/dev/null || die "cryptogen for $org failed"
    mv "$dir/crypto/peerOrganizations/$(org_domain "$org")" "$(org_dir "$org")"
    rm -rf "$dir/crypto"
    say "generated crypto material of $(msp_id "$org")"
  fi
  orderer_flags
  retry 5 2 peer_cli regulator admin channel fetch config "$dir/config.block" "${ORDERER_FLAGS[@]}" -c "$CHANNEL" >/dev/null ||
    die "could not fetch the configuration block of $CHANNEL"
  local -a signers=()
  for o in "${PEER_ORGS[@]}"; do signers+=(--signer "$(msp_id "$o")=$(admin_msp "$o")"); done
  rm -f "$dir/update.pb"
  "$TT" fabric add-org update --dev "$DEV" --org "$org" --channel "$CHANNEL" --config-block "$dir/config.block" \
    "${signers[@]}" --if-absent --out "$dir/update.pb" || die "computing the configuration update failed"
  # No update when the channel has the member already (an add-org that
  # stopped after submitting): the remaining steps run.
  if [[ -f "$dir/update.pb" ]]; then
    add_org_submit "$org" "$dir/update.pb"
  fi
  "$TT" fabric add-org record --dev "$DEV" --org "$org" --gateway "$gw" >/dev/null || die "recording $org failed"
  write_app_files
  "$TT" fabric add-org node-config --network "$DEV/network.json" --org "$org" --roles "${ORG_ROLES:-provider}" \
    ${ORG_DISPLAY_NAME:+--name "$ORG_DISPLAY_NAME"} --out "$DEV" || die "writing $org's node configuration failed"
  say "$(msp_id "$org") is a member of $CHANNEL; its node's configuration is network/.dev/orgs/$(msp_id "$org")/tokentrail.yaml"
  [[ $HOSTS_MODE == 1 ]] && add_org_host "$org"
  return 0
}

# add_org_submit ORG FILE: the regulator's admin submits the signed update
# (adding its own signature).
add_org_submit() {
  local org="$1" file="$2" before after i done_all o
  before="$(peer_heights)"
  peer_cli regulator admin channel update -f "$file" -c "$CHANNEL" "${ORDERER_FLAGS[@]}" >/dev/null ||
    die "the channel configuration update adding $(msp_id "$org") was refused"
  say "channel $CHANNEL: configuration update adding $(msp_id "$org") submitted"
  # Every peer must hold the new configuration before the member's
  # transactions are endorsed: wait until each peer's height passes the one
  # it had before the update.
  for i in $(seq 1 120); do
    after="$(peer_heights)"
    done_all=1
    for o in "${PEER_ORGS[@]}"; do
      local b a
      b="$(grep -o "$o=[0-9]*" <<<"$before" | cut -d= -f2)"
      a="$(grep -o "$o=[0-9]*" <<<"$after" | cut -d= -f2)"
      [[ -n "$a" && -n "$b" && "$a" -gt "$b" ]] || done_all=0
    done
    [[ $done_all == 1 ]] && break
    sleep 0.5
  done
  [[ $done_all == 1 ]] || warn "not every peer has a new block after 60 s ($after)"
}

# add_org_host ORG: on hosts, the added member's host: the hosts files,
# Toxiproxy's proxies and consortium.json written again with it (network-files
# hosts), its namespace and link (hosts_up keeps what exists and copies every
# namespace's hosts file anew), its node's proxy (Toxiproxy's /populate
# creates the proxies it lacks and leaves unchanged ones alone), its node.
add_org_host() {
  local org="$1" body out
  network_files hosts
  load_hosts
  [[ -n "${HOST_NS[$org]:-}" ]] || die "add-org: network-files hosts laid out no host for $org"
  hosts_up
  body="$(cat "$DEV/hosts/toxiproxy.json")"
  # shellcheck disable=SC2016 # expanded by the inner bash
  out="$(in_ns "$HUB_NS" bash -c '
    exec 3<>/dev/tcp/127.0.0.1/8474 || exit 1
    printf "POST /populate HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" "${#1}" "$1" >&3
    head -n 1 <&3' populate "$body" 2>&1)" || die "Toxiproxy /populate failed: $out"
  [[ "$out" == *" 201 "* || "$out" == *" 200 "* ]] || die "Toxiproxy /populate answered: $out"
  start_node "$org"
}

# Restart the servers of every chaincode deployed before (after 'down').
restart_chaincodes() {
  local d name
  for d in "$CCDIR"/*/; do
    [[ -f "$d/cmd" && -f "$d/running_id" ]] || continue
    name="$(basename "$d")"
    local p all=1
    for p in $(cc_procs "$name"); do alive "$p" || all=0; done
    [[ $all == 1 ]] && continue
    start_chaincode "$name" "$(cat "$d/cmd")" "$(cat "$d/running_id")" "$(cat "$d/port")"
  done
}

# ---------------------------------------------------- files for the app ---

write_app_files() {
  network_files app
  say "wrote network/.dev/network.json and network/.dev/connection-<org>.yaml"
}

# Hook for the app side (participant registration etc.): runs POST_DEPLOY_CMD
# from the repository root once the network and chaincode are ready, with
# TOKENTRAIL_NETWORK_JSON pointing at network/.dev/network.json.
# Without one, deploying tokentrail configures the app for the network and
# registers the development consortium on it: network/.dev/tokentrail.yaml,
# trust-anchor.pem and dev-credentials.json (kept on later runs).
post_deploy() {
  if [[ -z "${POST_DEPLOY_CMD:-}" && "${CHAINCODE_NAME:-tokentrail}" == "tokentrail" && "${CHAINCODE_CMD:-./chaincode/cmd/tokentrail-cc}" == *tokentrail-cc ]]; then
    POST_DEPLOY_CMD="$(printf '%q' "$TT") fabric dev-config --network network/.dev/network.json --out network/.dev"
  fi
  [[ -n "${POST_DEPLOY_CMD:-}" ]] || return 0
  say "post-deploy: $POST_DEPLOY_CMD"
  # On hosts it runs on the regulator's host, which registers the consortium.
  (cd "$NET_ROOT" && in_ns "${HOST_NS[regulator]:-}" env TOKENTRAIL_NETWORK_JSON="$DEV/network.json" bash -c "$POST_DEPLOY_CMD") ||
    die "post-deploy command failed"
}

# ----------------------------------------------------------------- hosts ---

# ns_note NAME: ", namespace NS" for messages, on hosts.
ns_note() { local ns; ns="$(proc_ns "$1")"; [[ -z "$ns" ]] || echo ", namespace $ns"; }

# The Toxiproxy server, built like the Fabric binaries from a pinned module of
# its own (network/tools/toxiproxy; its own module so that its dependencies
# never move Fabric's), into network/.bin/toxiproxy.
TOXIPROXY="$BIN/toxiproxy"
ensure_toxiproxy() {
  local tools="$NET_DIR/tools/toxiproxy" want stamp="$BIN/toxiproxy.stamp"
  want="toxiproxy $(cd "$tools" && GOFLAGS=-mod=readonly go list -m -f '{{.Version}}' github.com/Shopify/toxiproxy/v2) $(go env GOVERSION) $(sha256sum "$tools/go.sum" | cut -c1-16)"
  [[ -x "$TOXIPROXY" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && return 0
  say "building the Toxiproxy server ($want)"
  mkdir -p "$BIN"
  (cd "$tools" && GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 go build -trimpath -o "$TOXIPROXY.new" \
    github.com/Shopify/toxiproxy/v2/cmd/server) || die "building the Toxiproxy server failed"
  mv "$TOXIPROXY.new" "$TOXIPROXY"
  echo "$want" >"$stamp"
}

# made_has NAME: whether 'up' recorded making NAME (network/.dev/hosts/made).
made_has() { [[ -f "$MADE_FILE" ]] && grep -qxF -- "$1" "$MADE_FILE"; }
made_add() { made_has "$1" || echo "$1" >>"$MADE_FILE"; }

# hosts_up: the hub namespace with its bridge, one namespace per host with a
# veth pair to the bridge, each namespace's hosts file. Every link is made
# inside a namespace (ip -n), so the root namespace gets no address or link.
# A namespace of that name this network did not make is refused.
hosts_up() {
  [[ "$(id -u)" == 0 ]] || die "up --hosts makes network namespaces (ip netns), which needs root"
  command -v ip >/dev/null || die "up --hosts needs ip (iproute2)"
  mkdir -p "$DEV/hosts"
  touch "$MADE_FILE"
  local ns org
  [[ -d /etc/netns ]] || { mkdir -p /etc/netns && made_add "dir /etc/netns"; }
  for ns in "$HUB_NS" "${HOST_NS[@]}"; do
    if [[ -e "/run/netns/$ns" ]]; then
      made_has "netns $ns" ||
        die "network namespace $ns exists but this network did not make it (another network? set HOSTS_PREFIX)"
    else
      [[ ! -e "/etc/netns/$ns" ]] || made_has "netns $ns" ||
        die "/etc/netns/$ns exists but this network did not make it (set HOSTS_PREFIX)"
      ip netns add "$ns" || die "ip netns add $ns failed"
      made_add "netns $ns"
    fi
    mkdir -p "/etc/netns/$ns"
    cp "$DEV/hosts/etc/$ns/hosts" "/etc/netns/$ns/hosts"
    ip -n "$ns" link set lo up
  done
  ip -n "$HUB_NS" link show "$HUB_BRIDGE" >/dev/null 2>&1 || ip -n "$HUB_NS" link add "$HUB_BRIDGE" type bridge
  ip -n "$HUB_NS" addr replace "$HUB_ADDR/24" dev "$HUB_BRIDGE"
  ip -n "$HUB_NS" link set "$HUB_BRIDGE" up
  for org in "${HOST_ORGS[@]}"; do
    ns="${HOST_NS[$org]}"
    ip -n "$HUB_NS" link show "${HOST_LINK[$org]}" >/dev/null 2>&1 ||
      ip -n "$HUB_NS" link add "${HOST_LINK[$org]}" type veth peer name eth0 netns "$ns" ||
      die "could not make the veth pair of $ns"
    ip -n "$HUB_NS" link set "${HOST_LINK[$org]}" master "$HUB_BRIDGE" up
    ip -n "$ns" addr replace "${HOST_ADDR[$org]}/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
  say "hosts: $HUB_NS ($HUB_ADDR, bridge $HUB_BRIDGE) and ${#HOST_ORGS[@]} hosts: $(for org in "${HOST_ORGS[@]}"; do printf '%s=%s ' "${HOST_NS[$org]}" "${HOST_ADDR[$org]}"; done)"
}

# hosts_down: removes what hosts_up recorded making, and nothing else:
# deleting a namespace deletes the links and bridge inside it.
hosts_down() {
  [[ -f "$MADE_FILE" ]] || return 0
  local kind what
  while read -r kind what; do
    [[ "$kind" == netns ]] || continue
    if [[ -e "/run/netns/$what" ]]; then
      ip netns del "$what" || warn "could not delete network namespace $what"
    fi
    rm -f "/etc/netns/$what/hosts"
    rmdir "/etc/netns/$what" 2>/dev/null || true
    say "removed network namespace $what"
  done <"$MADE_FILE"
  if made_has "dir /etc/netns"; then rmdir /etc/netns 2>/dev/null || true; fi
  rm -f "$MADE_FILE"
}

start_toxiproxy() {
  alive toxiproxy && return 0
  local -a START_ARGS=(-host 127.0.0.1 -port 8474 -config "$DEV/hosts/toxiproxy.json")
  start_process toxiproxy "$TOXIPROXY"
  wait_port toxiproxy 8474 30
  say "started toxiproxy (pid $(pid_of toxiproxy), API 127.0.0.1:8474$(ns_note toxiproxy), $(grep -c '"listen"' "$DEV/hosts/toxiproxy.json") proxies)"
}

# start_node ORG: ORG's own tokentrail node, on its host, with its own
# configuration (network/.dev/orgs/<MSP>/, written by dev-config): only its
# signing identity and API key. Waits until it answers /healthz.
start_node() {
  local org="$1" name="node.$1" cfg port i
  alive "$name" && return 0
  cfg="$DEV/orgs/$(msp_id "$org")/tokentrail.yaml"
  [[ -f "$cfg" ]] || die "$cfg is missing (scripts/network.sh up writes it)"
  port="${HOST_NODE_PORT[$org]}"
  mkdir -p "$DATA/$name"
  local -a START_ARGS=(serve --ledger fabric --config "$cfg" --addr "0.0.0.0:$port" --data "$DATA/$name" --log-format text)
  start_process "$name" "$TT"
  for i in $(seq 1 600); do
    if [[ "$(http_get "$port" /healthz "$(proc_ns "$name")" | head -c 200)" == *ok* ]]; then
      say "started $name (pid $(pid_of "$name"), ${HOST_ADDR[$org]}:$port$(ns_note "$name"))"
      return 0
    fi
    alive "$name" || { tail -n 30 "$LOGS/$name.log" >&2 || true; die "$name exited (log: network/.dev/logs/$name.log)"; }
    sleep 0.1
  done
  die "$name: no answer on /healthz after 60 s (log: network/.dev/logs/$name.log)"
}

start_nodes() {
  local org
  for org in "${HOST_ORGS[@]}"; do
    [[ "${HOST_NODE_PORT[$org]}" != 0 ]] && start_node "$org"
  done
  return 0
}

# partition|heal ORG: the hub side of ORG's veth pair down or up.
network_link() {
  local how="$1" org="$2"
  [[ $HOSTS_MODE == 1 ]] || die "$how: this network is not on hosts (scripts/network.sh up --hosts)"
  [[ -n "${HOST_LINK[$org]:-}" ]] || die "$how: no host '$org' (hosts: ${HOST_ORGS[*]})"
  local state=down
  [[ "$how" == heal ]] && state=up
  ip -n "$HUB_NS" link set "${HOST_LINK[$org]}" "$state" || die "$how $org: ip link set failed"
  say "$how $org: link ${HOST_LINK[$org]} in $HUB_NS set $state"
}

# ------------------------------------------------------ one node at a time ---

# node_org NODE: the organisation of a peer node name, or nothing.
node_org() {
  local org
  for org in "${PEER_ORGS[@]}"; do
    if [[ "$1" == "$(peer_name "$org")" ]]; then
      echo "$org"
      return 0
    fi
  done
  return 1
}

# check_node NODE: dies unless NODE is a node of this network.
check_node() {
  local name="$1" o
  [[ -d "$DEV" ]] || die "no network (scripts/network.sh up)"
  for o in "${ORDERERS[@]}"; do [[ "$name" == "$o" ]] && return 0; done
  node_org "$name" >/dev/null && return 0
  if [[ "$name" == cc-* && -f "$CCDIR/$(cc_name "$name")/running_id" ]] && grep -qx -- "$name" <(cc_procs "$(cc_name "$name")"); then
    return 0
  fi
  if [[ $HOSTS_MODE == 1 ]]; then
    [[ "$name" == toxiproxy ]] && return 0
    if [[ "$name" == node.* && "${HOST_NODE_PORT[${name#node.}]:-0}" != 0 ]]; then return 0; fi
  fi
  die "unknown node '$name' (names as 'scripts/network.sh status' prints them)"
}

# node_kill NODE: SIGKILL to the recorded PID; waits until it is gone.
node_kill() {
  local name="$1" pid i
  if ! pid="$(pid_of "$name")"; then
    say "$name is not running"
    return 0
  fi
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    alive "$name" || break
    sleep 0.05
  done
  alive "$name" && die "$name (pid $pid) still running after SIGKILL"
  rm -f "$RUN/$name.pid"
  say "killed $name (pid $pid, SIGKILL)"
}

# node_start NODE: starts one node again, as 'up' would, with its data and
# configuration; waits until its port answers. Does nothing if it runs.
node_start() {
  local name="$1" org d
  if alive "$name"; then
    say "$name is already running (pid $(pid_of "$name"))"
    return 0
  fi
  case "$name" in
    orderer*)
      start_orderer "$name"
      wait_port "$name" "$(orderer_ops_port "$name")" 30
      ;;
    peer0.*)
      org="$(node_org "$name")"
      start_peer "$org"
      wait_port "$name" "$(peer_ops_port "$org")" 30
      ;;
    cc-*)
      d="$CCDIR/$(cc_name "$name")"
      launch_chaincode "$(cc_name "$name")" "$(cat "$d/running_id")" "$(cat "$d/port")" "$name"
      ;;
    node.*) start_node "${name#node.}" ;;
    toxiproxy) start_toxiproxy ;;
  esac
}

# -------------------------------------------------------------- commands ---

network_up() {
  local t0=$SECONDS
  ensure_binaries
  ensure_tool
  load_ports
  mkdir -p "$DEV" "$RUN" "$LOGS" "$DATA" "$CCDIR"
  if [[ $HOSTS_MODE == 1 ]]; then
    [[ "$(id -u)" == 0 ]] || die "up --hosts makes network namespaces (ip netns), which needs root"
    ensure_toxiproxy
    save_ports
    network_files hosts
    load_hosts
    hosts_up
    start_toxiproxy
  fi
  save_ports
  ensure_crypto
  ensure_config
  ensure_genesis

  local o org
  for o in "${ORDERERS[@]}"; do start_orderer "$o"; done
  # Chaincode servers deployed earlier come back before the peers, which
  # dial them at start; building them overlaps the Raft election.
  restart_chaincodes
  # Readiness is probed on the plain-HTTP operations ports: probing the TLS
  # ports would log a failed handshake on every node.
  for o in "${ORDERERS[@]}"; do wait_port "$o" "$(orderer_ops_port "$o")" 30; done
  join_orderers
  for org in "${PEER_ORGS[@]}"; do start_peer "$org"; done
  for org in "${PEER_ORGS[@]}"; do wait_port "$(peer_name "$org")" "$(peer_ops_port "$org")" 30; done
  join_peers
  wait_consensus
  say "orderers and peers ready after $((SECONDS - t0))s"

  # The lifecycle CLI addresses peers directly, so deployment need not wait
  # for cross-organisation gossip; gateway clients do (see wait_gossip).
  local cmd="${CHAINCODE_CMD:-./chaincode/cmd/tokentrail-cc}"
  if [[ "$cmd" != none ]]; then
    deploy "${CHAINCODE_NAME:-tokentrail}" "$cmd"
  fi
  wait_gossip
  write_app_files
  post_deploy
  if [[ $HOSTS_MODE == 1 ]]; then
    start_nodes
    say "consortium description: network/.dev/consortium.json"
  fi
  say "up in $((SECONDS - t0))s"
}

network_down() {
  local d org
  local -a names=()
  [[ -d "$DEV" ]] && load_ports
  # The organisations' tokentrail nodes first (every name a node can have:
  # only a recorded PID is signalled).
  for org in "${ORGS[@]}"; do names+=("node.$org"); done
  # and those of members added since (add-org), as their PID files name them.
  local f
  for f in "$RUN"/node.*.pid; do
    [[ -f "$f" ]] && names+=("$(basename "$f" .pid)")
  done
  stop_processes "${names[@]}"
  names=()
  if [[ -d "$CCDIR" ]]; then
    for d in "$CCDIR"/*/; do
      if [[ -d "$d" ]]; then
        names+=("cc-$(basename "$d")")
        for org in "${PEER_ORGS[@]}"; do names+=("cc-$(basename "$d").$org"); done
      fi
    done
  fi
  for org in "${PEER_ORGS[@]}"; do names+=("$(peer_name "$org")"); done
  # Peers and chaincode servers first, so no peer logs a lost orderer.
  stop_processes "${names[@]}"
  # Every orderer name either orderer type uses: only a recorded PID is signalled.
  stop_processes "${ALL_ORDERERS[@]}"
  stop_processes toxiproxy
  hosts_down
}

network_clean() {
  network_down
  rm -rf "$DEV"
  say "removed network/.dev"
}

network_status() {
  [[ -d "$DEV" ]] || { echo "no network (network/.dev absent)"; return 0; }
  load_ports
  local leader="" name pid state rss total=0
  leader="$(consensus_leader || true)"
  local -a names=("${ORDERERS[@]}")
  local org d
  for org in "${PEER_ORGS[@]}"; do names+=("$(peer_name "$org")"); done
  if [[ -d "$CCDIR" ]]; then
    for d in "$CCDIR"/*/; do [[ -d "$d" ]] && mapfile -t -O "${#names[@]}" names < <(cc_procs "$(basename "$d")"); done
  fi
  if [[ $HOSTS_MODE == 1 ]]; then
    for org in "${HOST_ORGS[@]}"; do [[ "${HOST_NODE_PORT[$org]}" != 0 ]] && names+=("node.$org"); done
    names+=(toxiproxy)
  fi
  printf '%-32s %-8s %-6s %9s  %s\n' NODE PID STATE RSS_MB NOTE
  for name in "${names[@]}"; do
    local note=""
    if pid="$(pid_of "$name")"; then
      state=up
      rss="$(rss_kb "$pid")"
      total=$((total + rss))
    else
      state=down
      pid="-"
      rss=0
    fi
    case "$name" in
      orderer*)
        note="port $(orderer_port "$name"), $(orderer_msp_id "$name")"
        [[ "$name" == "$leader" ]] && note+=", $(consensus_name) leader"
        ;;
      peer0.*) note="port $(peer_port "$(cut -d. -f2 <<<"$name")")" ;;
      cc-*) note="127.0.0.1:$(cat "$CCDIR/$(cc_name "$name")/port" 2>/dev/null || echo '?')" ;;
      node.*) note="${HOST_ADDR[${name#node.}]}:${HOST_NODE_PORT[${name#node.}]}" ;;
      toxiproxy) note="API 127.0.0.1:8474" ;;
    esac
    note+="$(ns_note "$name")"
    printf '%-32s %-8s %-6s %9s  %s\n' "$name" "$pid" "$state" "$((rss / 1024))" "$note"
  done
  local up=0 o
  for o in "${ORDERERS[@]}"; do alive "$o" && up=$((up + 1)); done
  local tolerance="Raft: needs 2 of 3 orderers"
  [[ "$ORDERER_TYPE_SET" == bft ]] && tolerance="BFT: needs 3 of 4 orderers, tolerates 1 faulty"
  printf 'orderers up: %d of %d (%s)\n' "$up" "${#ORDERERS[@]}" "$tolerance"
  printf 'total RSS: %d MB; %s leader: %s; disk: %s\n' "$((total / 1024))" "$(consensus_name)" "${leader:-none}" \
    "$(du -sh "$DEV" 2>/dev/null | cut -f1)"
  [[ $HOSTS_MODE == 1 ]] || return 0
  printf '\n%-12s %-16s %-12s %-16s %s\n' HOST NAMESPACE ADDRESS LINK STATE
  local st
  printf '%-12s %-16s %-12s %-16s %s\n' hub "$HUB_NS" "$HUB_ADDR" "$HUB_BRIDGE" \
    "$([[ -e "/run/netns/$HUB_NS" ]] && echo present || echo absent)"
  for org in "${HOST_ORGS[@]}"; do
    st="$(ip -n "$HUB_NS" -br link show "${HOST_LINK[$org]}" 2>/dev/null | awk '{print $2}')"
    printf '%-12s %-16s %-12s %-16s %s\n' "$org" "${HOST_NS[$org]}" "${HOST_ADDR[$org]}" "${HOST_LINK[$org]}" \
      "${st:-absent}$([[ "$st" == DOWN ]] && echo ' (partitioned)')"
  done
}

# smoke: a Put endorsed by the exchange's and the regulator's peers, waited
# for until committed, then a Get on a third organisation's peer.
network_smoke() {
  load_ports
  local name="${SMOKE_CHAINCODE:-onekey}"
  alive orderer1 || die "network not running (scripts/network.sh up)"
  if [[ ! -f "$CCDIR/$name/definition" ]]; then
    CHAINCODE_COLLECTIONS=none deploy "$name" ./chaincode/cmd/onekey-cc
  fi
  orderer_flags
  local key value t0 out
  key="smoke-$(date +%s%N)"
  value="v-$RANDOM$RANDOM"
  t0="$(date +%s%N)"
  local -a endorse=(--peerAddresses "$(peer_addr exchange)" --tlsRootCertFiles "$(peer_tls_ca exchange)"
    --peerAddresses "$(peer_addr regulator)" --tlsRootCertFiles "$(peer_tls_ca regulator)")
  # Retried: right after 'up' the first transaction can meet "no Raft leader".
  out="$(CLI_LOGGING_SPEC=info retry 30 2 peer_cli exchange user chaincode invoke "${ORDERER_FLAGS[@]}" \
    -C "$CHANNEL" -n "$name" "${endorse[@]}" --waitForEvent -c "{\"Args\":[\"Put\",\"$key\",\"$value\"]}")" ||
    die "smoke: invoke failed"
  grep -q 'committed with status (VALID)' <<<"$out" || die "smoke: invoke not committed as VALID: $out"
  say "smoke: Put endorsed by ExchangeMSP+RegulatorMSP committed VALID in $((($(date +%s%N) - t0) / 1000000)) ms"
  local got i
  for i in $(seq 1 20); do
    got="$(peer_cli provider user chaincode query -C "$CHANNEL" -n "$name" -c "{\"Args\":[\"Get\",\"$key\"]}" 2>/dev/null || true)"
    [[ "$got" == "$value" ]] && break
    sleep 0.5
  done
  [[ "$got" == "$value" ]] || die "smoke: Get on $(peer_name provider) returned '$got', want '$value'"
  say "smoke: Get on $(peer_name provider) returned the committed value"
  # The endorsement policy must bite: one organisation's endorsement is not enough.
  out="$(CLI_LOGGING_SPEC=info peer_cli exchange user chaincode invoke "${ORDERER_FLAGS[@]}" -C "$CHANNEL" -n "$name" \
    "${endorse[@]:0:4}" --waitForEvent -c "{\"Args\":[\"Put\",\"$key\",\"x\"]}" 2>&1 || true)"
  grep -q 'ENDORSEMENT_POLICY_FAILURE' <<<"$out" || die "smoke: a single-organisation endorsement was not rejected: $out"
  say "smoke: single-organisation endorsement rejected (ENDORSEMENT_POLICY_FAILURE): OK"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit "${1:-0}"
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    up)
      case "${1:-}" in
        "") ;;
        --hosts)
          WANT_HOSTS=1
          [[ "$(id -u)" == 0 ]] || die "up --hosts makes network namespaces (ip netns), which needs root: run it as root"
          command -v ip >/dev/null || die "up --hosts needs ip (iproute2)"
          ;;
        *) die "usage: scripts/network.sh up [--hosts]" ;;
      esac
      network_up
      ;;
    partition | heal)
      [[ $# -eq 1 ]] || die "usage: scripts/network.sh $cmd ORG"
      [[ -d "$DEV" ]] || die "no network (scripts/network.sh up --hosts)"
      load_ports
      network_link "$cmd" "$1"
      ;;
    down) network_down ;;
    clean) network_clean ;;
    status) network_status ;;
    smoke) network_smoke ;;
    stop | kill | start)
      [[ $# -eq 1 ]] || die "usage: scripts/network.sh $cmd NODE"
      load_ports
      check_node "$1"
      case "$cmd" in
        stop) stop_process "$1" ;;
        kill) node_kill "$1" ;;
        start) node_start "$1" ;;
      esac
      ;;
    leader)
      [[ -d "$DEV" ]] || die "no network (scripts/network.sh up)"
      load_ports
      consensus_leader || { echo "no $(consensus_name) leader" >&2; exit 1; }
      ;;
    deploy)
      [[ $# -eq 2 ]] || die "usage: scripts/network.sh deploy NAME CMD"
      load_ports
      alive orderer1 || die "network not running (scripts/network.sh up)"
      deploy "$1" "$2"
      write_app_files
      ;;
    add-org)
      [[ $# -ge 1 && $# -le 2 ]] || die "usage: scripts/network.sh add-org NAME [GATEWAY_ORG]"
      load_ports
      alive orderer1 || die "network not running (scripts/network.sh up)"
      add_org "$1" "${2:-provider}"
      ;;
    deploy-tampered)
      [[ $# -eq 1 ]] || die "usage: scripts/network.sh deploy-tampered ORG"
      load_ports
      alive orderer1 || die "network not running (scripts/network.sh up)"
      deploy_tampered "$1"
      write_app_files
      ;;
    -h | --help | help) usage 0 ;;
    *) usage 1 >&2 ;;
  esac
}

main "$@"
