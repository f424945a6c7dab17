#!/bin/bash
# Start one RabbitMQ broker of a RabbitDaemonSet (official rabbitmq image: bash and coreutils, nothing else).
#
# 1. Copy the Erlang cookie from its Secret mount into $HOME with mode 0600 (Erlang refuses a readable cookie).
# 2. Render the templates into a private dir: @@NAME@@ becomes the value of env var NAME (the node IP in
#    rabbitmq.conf, passwords in definitions.json, JSON-escaped). A missing or empty variable is fatal. The users'
#    passwords come from the files of the credentials volume (credentials.sh), when it is mounted.
# 3. A data dir last run by a release line that cannot be upgraded in place to this image's (a skipped line, a
#    downgrade: the marker post-start.sh writes, release.sh) is refused: exit 1, the fix in the log.
# 4. A blank data dir under a name the cluster may still know (reimaged node, wiped hostPath) would fail with
#    `inconsistent_cluster`: ask a live peer to forget this node first, so it rejoins as a new member.
#    A blank node never forms a cluster of its own while a peer may still hold the cluster's data. It waits
#    until a running peer answers, and meanwhile says "blank" to anyone who connects to its distribution port.
#    Only the seed (the first node of the list) may form a new cluster, and only when every peer says "blank"
#    (a first deployment). A peer that is down, or whose port answers but not "blank" (a broker with data,
#    booting or running), keeps it waiting. An operator can end the wait on any blank node by creating
#    $HOME/force-new-cluster (consumed once): it then forms a new, empty cluster.
#    Once a running peer has answered, the blank node adds the rendered host table, through that peer, to the
#    resolver of every running broker that lacks a name of it (share_host_table below): brokers started before the
#    inventory grew cannot resolve the new nodes' names otherwise, and two new brokers joining at once then hang.
# 5. Start post-start.sh in the background (records the release on the data dir once the broker has booted, and
#    enables every stable feature flag once every broker runs this release line), and the credentials watcher
#    (credentials.sh: a changed password file reaches the broker live), then exec rabbitmq-server with
#    listeners, epmd and the Erlang distribution bound to the node IP.
#
# Env (defaults = official image layout): RABBITMQ_NODENAME, HOST_IP (required); RABBITMQ_TEMPLATE_DIR,
# RABBITMQ_RENDER_DIR, RABBITMQ_COOKIE_SOURCE, RABBITMQ_MNESIA_BASE, HOME, RABBITMQ_DIST_PORT;
# RABBITMQ_FORGET_TIMEOUT, RABBITMQ_PEER_RETRY_INTERVAL, RABBITMQ_PEER_PROBE_TIMEOUT and RABBITMQ_HOST_TABLE_TIMEOUT (seconds);
# RABBITMQ_RELEASE_LINES (release.sh); RABBITMQ_CREDENTIALS_DIR (credentials.sh); RABBITMQ_POST_START_SCRIPT (default: post-start.sh beside this script; empty:
# none, for tests of this script alone).
set -euo pipefail
umask 077

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=release.sh
source "$script_dir/release.sh"

log() { printf '%s start.sh: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

: "${RABBITMQ_NODENAME:?must be rabbit@<node name>}"
: "${HOST_IP:?must be the node IP (downward API status.hostIP)}"
template_dir=${RABBITMQ_TEMPLATE_DIR:-/etc/rabbitmq-template}
render_dir=${RABBITMQ_RENDER_DIR:-/etc/rabbitmq}
cookie_source=${RABBITMQ_COOKIE_SOURCE:-/etc/rabbitmq-cookie/.erlang.cookie}
home=${HOME:-/var/lib/rabbitmq}
mnesia_base=${RABBITMQ_MNESIA_BASE:-/var/lib/rabbitmq/mnesia}
forget_timeout=${RABBITMQ_FORGET_TIMEOUT:-20}
retry_interval=${RABBITMQ_PEER_RETRY_INTERVAL:-5}
probe_timeout=${RABBITMQ_PEER_PROBE_TIMEOUT:-3}
dist_port=${RABBITMQ_DIST_PORT:-25672}
host_table_timeout=${RABBITMQ_HOST_TABLE_TIMEOUT:-180}
running_peer=''
force_file="$home/force-new-cluster"

[[ $HOST_IP =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || die "HOST_IP '$HOST_IP' is not an IPv4 address"
ip_tuple="{${BASH_REMATCH[1]},${BASH_REMATCH[2]},${BASH_REMATCH[3]},${BASH_REMATCH[4]}}"

# --- 1. cookie -------------------------------------------------------------------------------------------
[[ -s $cookie_source ]] || die "no Erlang cookie at $cookie_source (mount the cookie Secret there)"
mkdir -p "$home"
rm -f "$home/.erlang.cookie"
cp "$cookie_source" "$home/.erlang.cookie"
chmod 0600 "$home/.erlang.cookie"

# --- 2. templates ----------------------------------------------------------------------------------------
json_escape() {
  local s=$1
  [[ $s == *[[:cntrl:]]* ]] && return 1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '%s' "$s"
}

# render SRC DST MODE: MODE json escapes the values for a JSON string, raw inserts them as they are.
render() {
  local rest out='' name value token
  rest=$(<"$1")
  while [[ $rest =~ @@([A-Za-z_][A-Za-z0-9_]*)@@ ]]; do
    token=${BASH_REMATCH[0]}
    name=${BASH_REMATCH[1]}
    [[ -n ${!name:-} ]] || die "$(basename "$1") needs env var $name, which is not set or empty"
    value=${!name}
    if [[ $3 == json ]]; then
      value=$(json_escape "$value") || die "env var $name contains a control character"
    fi
    out+=${rest%%"$token"*}$value
    rest=${rest#*"$token"}
  done
  printf '%s%s\n' "$out" "$rest" >"$2.tmp"
  mv -f "$2.tmp" "$2"
}

# shellcheck source=credentials.sh
source "$script_dir/credentials.sh"
# Fingerprinted before they are read: a file the kubelet swaps in between is a change the watcher applies (step 5).
rendered_credentials=$(credentials_fingerprint)
credentials_load

mkdir -p "$render_dir"
# Marks the wait for peers (step 4) for the liveness probe; a leftover of a previous run of this pod is stale.
waiting_marker="$render_dir/waiting-for-peers"
rm -f "$waiting_marker"
render "$template_dir/rabbitmq.conf" "$render_dir/rabbitmq.conf" raw
render "$template_dir/definitions.json" "$render_dir/definitions.json" json
cp "$template_dir/erl_inetrc" "$render_dir/erl_inetrc"
cp "$template_dir/enabled_plugins" "$render_dir/enabled_plugins"

export RABBITMQ_CONFIG_FILE="$render_dir/rabbitmq.conf"
export RABBITMQ_ENABLED_PLUGINS_FILE="$render_dir/enabled_plugins"
# Both the server and every CLI call (rabbitmqctl below, probes) resolve rabbit@<node> through this table.
export ERL_INETRC="$render_dir/erl_inetrc"
export ERL_EPMD_ADDRESS="$HOST_IP"
export RABBITMQ_MNESIA_BASE="$mnesia_base"
export HOME="$home"
# The distribution port listens on the node IP only; epmd keeps its loopback listener for local CLI calls.
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-} -kernel inet_dist_use_interface $ip_tuple"

# --- peers ------------------------------------------------------------------------------------------------
# The peer list the library renders (the same node list as rabbitmq.conf's discovery nodes and erl_inetrc's
# host table): one line per broker, `rabbit@<node><TAB><IP>`, the seed first.
peers_file="$template_dir/peers"
[[ -s $peers_file ]] || die "no peer list at $peers_file (the template ConfigMap's peers key)"
peers=()
seed=''
declare -A ip_of=()
while IFS=$'\t' read -r node ip; do
  [[ -z $node || $node == '#'* ]] && continue
  [[ -n $seed ]] || seed=$node
  ip_of[$node]=$ip
  [[ $node == "$RABBITMQ_NODENAME" ]] || peers+=("$node")
done <"$peers_file"

# Asks each peer in turn to forget this node. Returns 0 as soon as one answers (forgotten, or never a member).
forget_self_on_a_peer() {
  local peer output rc
  for peer in "${peers[@]}"; do
    set +e
    output=$(rabbitmqctl -n "$peer" -t "$forget_timeout" forget_cluster_node "$RABBITMQ_NODENAME" 2>&1)
    rc=$?
    set -e
    if ((rc == 0)); then
      log "$peer forgot the stale $RABBITMQ_NODENAME; joining as a new member"
      running_peer=$peer
      return 0
    elif [[ $output == *not_a_cluster_node* || $output == *"not a member"* || $output == *"not in the cluster"* ]]; then
      # A peer that is still booting lists nobody yet: joining it now would race its own cluster formation
      # (measured: a joiner then spends ~20 s of its discovery retries on the lock). Only a running peer counts.
      if rabbitmqctl -n "$peer" -t "$forget_timeout" await_startup >/dev/null 2>&1; then
        log "$peer runs and does not list $RABBITMQ_NODENAME: nothing to forget"
        running_peer=$peer
        return 0
      fi
      log "$peer does not list $RABBITMQ_NODENAME but is not running yet"
      continue
    fi
    log "$peer could not forget $RABBITMQ_NODENAME (rc $rc): ${output//$'\n'/ }"
  done
  return 1
}

# The host table as an Erlang expression for the running peer: on itself and on every node it is connected to (the
# cluster's running brokers), adds each listed node's name that node does not resolve yet (by any means: its own
# erl_inetrc, /etc/hosts, DNS); returns, per node, the names it added. One CLI call, fanned out over the distribution
# (erpc), rather than one CLI per peer: an escript per peer took more than 20 s each on a loaded node (measured).
#
# Why: a broker's VM reads erl_inetrc once, when it starts, so brokers running since before the inventory grew cannot
# resolve the new nodes' names. One newcomer alone connects to each of them itself, but when two join at once (a
# DaemonSet starts the pods of two new nodes together), the first one's join makes `global` on every old broker
# connect to the second one by name; that fails (measured: "'global' at 'rabbit@ctl-1' failed to connect to
# 'rabbit@ctl-5'"), OTP 25's global then never completes its sync with the second newcomer, and its boot waits in
# global:sync() for ever (RabbitMQ's "global hang workaround" for that wait sends messages OTP >= 25.1 ignores before
# RabbitMQ 3.10.9, rabbitmq-server#6034). The names are only added, never changed: a node that kept its name under a
# new IP is the rolled brokers' business (they restart with the new table).
host_table_expression() {
  local node host ip entries=()
  for node in "$RABBITMQ_NODENAME" "${peers[@]}"; do
    host=${node#*@}
    ip=${ip_of[$node]:-}
    [[ $node == "$RABBITMQ_NODENAME" ]] && ip=$HOST_IP
    [[ $ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ && $host =~ ^[A-Za-z0-9.-]+$ ]] || continue
    entries+=("{\"$host\", {${ip//./,}}}")
  done
  local IFS=,
  printf '%s' "Table = [${entries[*]}], " \
    '[{N, [H || {H, IP} <- Table, case catch erpc:call(N, inet, getaddr, [H, inet], 5000) of {ok, _} -> false; ' \
    '_ -> ok =:= (catch erpc:call(N, inet_db, add_host, [IP, [H]], 5000)) end]} || N <- [node() | nodes()]].'
}

# Adds the host table to the running brokers' resolvers through the peer that answered (forget step), retrying
# (a CLI call can take tens of seconds on a loaded node) for at most RABBITMQ_HOST_TABLE_TIMEOUT seconds; then
# starts anyway, with a warning: a lone newcomer joins without it.
share_host_table() {
  local expression output='' deadline=$((SECONDS + host_table_timeout)) left
  expression=$(host_table_expression)
  while :; do
    left=$((deadline - SECONDS))
    if ((left > 0)) && output=$(timeout "$left" rabbitmqctl -n "$running_peer" -t "$left" eval "$expression" 2>&1); then
      log "host table shared through $running_peer; names added per broker (only those it could not resolve): ${output//$'\n'/ }"
      return 0
    fi
    if ((deadline - SECONDS < retry_interval)); then
      log "WARNING: could not add the host table to the running brokers through $running_peer within ${host_table_timeout}s (${output//$'\n'/ }); starting anyway: if another new broker joins at the same time, its boot can hang until the old brokers are restarted (README, \"Growing, shrinking and replacing a controller\")"
      return 0
    fi
    log "could not add the host table through $running_peer yet; retry in ${retry_interval}s"
    sleep "$retry_interval"
  done
}

# What a peer's distribution port says first: "blank rabbit@<peer>" from a waiting blank node's responder;
# nothing from a real Erlang node (the connecting side speaks first); empty if nothing listens.
peer_greeting() {
  timeout "$((probe_timeout + 2))" bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1; IFS= read -r -t "$3" line <&3 && printf "%s" "$line"; echo connected' \
    _ "${ip_of[$1]:-}" "$dist_port" "$probe_timeout" 2>/dev/null || true
}

# Succeeds when every peer's responder says it is blank too; otherwise logs why not.
every_peer_blank() {
  local peer answer waiting=()
  for peer in "${peers[@]}"; do
    answer=$(peer_greeting "$peer")
    if [[ $answer == "blank $peer"connected ]]; then
      continue
    elif [[ $answer == *connected ]]; then
      waiting+=("$peer (a broker that may hold the cluster's data)")
    else
      waiting+=("$peer (unreachable)")
    fi
  done
  ((${#waiting[@]} == 0)) && return 0
  log "not forming a new cluster while a peer may hold its data: waiting for ${waiting[*]}"
  return 1
}

# While this node waits, its distribution port (unused until the broker starts) tells the seed it is blank.
responder_pid=''
start_blank_responder() {
  [[ -z $responder_pid ]] || return 0
  erl -noshell -noinput -eval "{ok, L} = gen_tcp:listen($dist_port, [{ip, $ip_tuple}, {reuseaddr, true}, {active, false}]),
    Serve = fun Loop() -> {ok, S} = gen_tcp:accept(L), gen_tcp:send(S, \"blank $RABBITMQ_NODENAME\\n\"), gen_tcp:close(S), Loop() end,
    Serve()." >/dev/null 2>&1 &
  responder_pid=$!
}
stop_blank_responder() {
  [[ -n $responder_pid ]] || return 0
  kill "$responder_pid" 2>/dev/null || true
  wait "$responder_pid" 2>/dev/null || true
  responder_pid=''
}
trap stop_blank_responder EXIT

# A new cluster is formed only when no peer can be running one (all blank, or the operator said so), so peer
# discovery's retries against peers that are down (10 x 2 s) would only delay it: one retry is enough.
shorten_discovery_retries() {
  local line lines=()
  while IFS= read -r line; do
    [[ $line == 'cluster_formation.discovery_retry_limit = '* ]] && line='cluster_formation.discovery_retry_limit = 1'
    lines+=("$line")
  done <"$render_dir/rabbitmq.conf"
  printf '%s\n' "${lines[@]}" >"$render_dir/rabbitmq.conf.tmp"
  mv -f "$render_dir/rabbitmq.conf.tmp" "$render_dir/rabbitmq.conf"
}

data_dir="$mnesia_base/$RABBITMQ_NODENAME"
shopt -s nullglob dotglob
existing=("$data_dir"/*)
shopt -u nullglob dotglob

# --- 3. the release that last ran on the data dir ----------------------------------------------------------
# Before the broker touches the data: a broker of a line that cannot upgrade it in place may fail half-way through
# its own migration, or (a downgrade) misread it. The marker is written by post-start.sh after a successful boot,
# so a boot that failed (e.g. RabbitMQ's own refusal for a required feature flag) still allows going back.
check_data_release() {
  local marker recorded from version line verdict how next
  marker=$(rabbit_release_marker "$mnesia_base" "$RABBITMQ_NODENAME")
  version=$(rabbit_image_version)
  if [[ -z $version ]]; then
    log "cannot tell which RabbitMQ release this image runs (no RABBITMQ_VERSION, no single rabbit-X.Y.Z application): the data dir's release line is not checked"
    return 0
  fi
  if [[ ! -s $marker ]]; then
    log "the data dir has no release marker ($marker; written once a broker has booted on it with this script): its release line is not checked this time"
    return 0
  fi
  recorded=$(<"$marker")
  from=$(rabbit_line_of "$recorded") || { log "the release marker $marker holds '$recorded', not a version: not checked"; return 0; }
  line=$(rabbit_line_of "$version")
  IFS=$'\t' read -r verdict how < <(rabbit_line_verdict "$from" "$line")
  case $verdict in
    same) ;;
    next) log "the data dir was last run by RabbitMQ $recorded; this image runs $version, the next release line: the broker upgrades it" ;;
    skip)
      next=${how#* -> }
      next=${next%% *}
      die "the data dir ($data_dir) was last run by RabbitMQ $recorded; this image runs $version, which skips release lines: RabbitMQ upgrades one line at a time. Fix: run RabbitMQ $next on this node first (the whole path: $how, one rolling upgrade per line, every stable feature flag enabled after each; README, \"Day 2: RabbitMQ 3.13 -> 4.x\"), or set the image back to $from" ;;
    downgrade)
      die "the data dir ($data_dir) was last run by RabbitMQ $recorded, a newer release line than this image's $version: RabbitMQ does not support downgrades. Fix: set the image back to RabbitMQ $from (or newer); or, while the other brokers run, empty this broker's data dir so that it rejoins as a new member (README, \"A broker's disk died\")" ;;
    *) log "the data dir was last run by RabbitMQ $recorded; this image runs $version: not checked ($how)" ;;
  esac
}
((${#existing[@]} == 0)) || check_data_release

# --- 4. blank node under a known name ----------------------------------------------------------------------
if ((${#existing[@]} == 0)); then
  log "data dir $data_dir is empty: making sure no peer still lists $RABBITMQ_NODENAME as a member"
  : >"$waiting_marker"
  peer_answered=yes
  until forget_self_on_a_peer; do
    if [[ -e $force_file ]]; then
      rm -f "$force_file"
      log "$force_file found: forming a new, empty cluster as the operator asked"
      shorten_discovery_retries
      peer_answered=''
      break
    fi
    if [[ $RABBITMQ_NODENAME == "$seed" ]] && every_peer_blank; then
      log "this is the seed and every peer is blank: first formation, starting; peer discovery forms the cluster"
      shorten_discovery_retries
      peer_answered=''
      break
    fi
    start_blank_responder
    log "no running peer answers; a blank node waits (retry in ${retry_interval}s) rather than form a cluster alone"
    sleep "$retry_interval"
  done
  stop_blank_responder
  # Joining a running cluster: first make sure its brokers can resolve this node and its new peers.
  [[ -z $peer_answered ]] || share_host_table
  rm -f "$waiting_marker"
fi
trap - EXIT

# --- 5. the broker ---------------------------------------------------------------------------------------
# The soft open-files limit up to the hard one: containerd 2 starts containers with soft 1024 (hard 524288),
# the Erlang VM sizes its port table from the soft limit and RabbitMQ never raises it, so a broker would refuse
# connections near 1000, far below what an OpenStack control plane opens.
ulimit -S -n "$(ulimit -H -n)"
post_start=${RABBITMQ_POST_START_SCRIPT-$script_dir/post-start.sh}
if [[ -n $post_start ]]; then
  # In the background, outliving the exec below: it waits for the broker it started beside (post-start.sh).
  bash "$post_start" </dev/null &
fi
if [[ -n ${RABBITMQ_CREDENTIALS_DIR:-} ]]; then
  # In the background too: applies a password file that changes after the render above (credentials.sh).
  bash "$script_dir/credentials.sh" watch < <(printf '%s\n' "$rendered_credentials") &
fi
log "starting $RABBITMQ_NODENAME on $HOST_IP (peers: ${peers[*]})"
exec rabbitmq-server
