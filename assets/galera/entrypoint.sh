#!/bin/bash
# The mariadb container's command: establishes this member's data state, hands it to the recovery agent,
# starts mariadbd the way the agent decides (join, or bootstrap once), and reports wsrep status while it runs.
#
# Runs on every start, not only after an outage: after a crash the position recovered with
# `--wsrep-recover` lets the member rejoin by IST instead of a full SST.
#
# Environment, besides lib.sh's:
#   POD_NAME, POD_IP           downward API: wsrep_node_name, wsrep_node_address (IST listens on it too)
#   GALERA_SST_PORT            SST receive port (default 4444)
#   GALERA_SST_USER            SST account name (default mariabackup)
#   GALERA_CREDENTIALS_DIR     the password files (a Secret volume): every account's, the SST one's included, whose
#                              file GALERA_SST_PASSWORD is wsrep_sst_auth (written only to the run dir at each start
#                              of mariadbd, and set live by apply-users.sh after a change)
#   GALERA_SST_PASSWORD, GALERA_MONITOR_*, MARIADB_ROOT_PASSWORD, GALERA_USERS_FILE: see apply-users.sh (a password
#                              variable counts only when its file does not exist), run here once the member is first
#                              Synced, and again when a password file changes (apply_users_if_rotated).
#   GALERA_TLS_DIR             (with TLS) the mounted certificate: reloaded in place when its files change
#   GALERA_TLS_REPLICATION     `true` when Galera's own links use it too (socket.ssl_reload as well)
#
# Files in GALERA_RUN_DIR (the agent's contract, lib/galera/agent/README.md):
#   state.json      written before mariadbd starts: what the data dir holds, with a new stateId each time
#   decision.json   written by the agent for that stateId; consumed (deleted) here before mariadbd starts,
#                   so a bootstrap order is used once and never persisted
#   wsrep.json      rewritten every second while mariadbd runs, {"running":false} when it does not
#   restart-request created by the agent (for the current stateId) to have mariadbd stopped and a new
#                   decision awaited
#   writer-claim    created by the agent: take the writer row over for this member (claim_writer below)
#   view.json       written by notify.sh (mariadbd's wsrep_notify_cmd) at every view change while mariadbd
#                   runs: the members of this member's view, the moment Galera changes it; removed here
#                   before mariadbd starts and once it has exited
#
# The writer row, galera_ha.writer (lib/galera/agent/writer.ts says why): created with the cluster naming
# GALERA_INITIAL_WRITER (the construct's writerOrdinal member), read every second into wsrep.json (`writer`),
# changed only by claim_writer's conditional UPDATE.
#
# Stopping mariadbd always completes: SIGTERM, then SIGKILL after GALERA_STOP_TIMEOUT_SECONDS (default 120), or
# at once when mariadbd cannot handle SIGTERM (still starting: SIGTERM pending and blocked in every thread, as
# while it waits for a Primary component). A SIGKILL costs no data: the next start recovers the position.
#
# The volume keeps an identity file, $GALERA_IDENTITY_FILE (lib.sh): the clusters whose data it ever held. Its name
# ends in `.sst` because wsrep_sst_mariabackup keeps such files when it empties the data dir for an SST, so an
# interrupted transfer cannot make a volume that held data look brand new.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

MARIADBD_PID=
TERMINATING=0

# PHASE [BOUND]: what the entrypoint does now; with BOUND (seconds), the liveness probe fails once the phase has
# lasted longer (a stop that did not complete is a hung container, which only a restart can help).
set_phase() {
  local content=$1
  [[ -n ${2:-} ]] && content+=$'\n'"deadline $(($(date +%s) + $2))"
  galera_write_atomic "$GALERA_PHASE_FILE" "$content"
  galera_log "phase: $1${2:+ (bound $2 s)}"
}

# Only flags the stop: the loop waiting for mariadbd stops it (bounded), since a trap must stay short.
on_term() {
  TERMINATING=1
}
trap on_term TERM INT

# Exit 0 when process PID has SIGTERM pending and blocked in every thread: it cannot act on it until it unblocks
# the signal, which mariadbd does only once started (seen while it waited for a Primary component after a
# pc.recovery that failed: ShdPnd ...4000, SigBlk ...87007 on every thread, for minutes).
sigterm_stuck() {
  local pid=$1 pending blocked task bit=$((1 << 14))
  pending=$(sed -n 's/^ShdPnd:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null) || return 1
  [[ -n $pending ]] && (((16#$pending) & bit)) || return 1
  for task in /proc/"$pid"/task/*/status; do
    blocked=$(sed -n 's/^SigBlk:[[:space:]]*//p' "$task" 2>/dev/null)
    [[ -n $blocked ]] && (((16#$blocked) & bit)) || return 1
  done
}

# Stops mariadbd PID and returns once it is gone: SIGTERM (a clean stop keeps grastate.dat's seqno), then SIGKILL
# after GALERA_STOP_TIMEOUT_SECONDS, or after 3 s when the SIGTERM cannot be handled (sigterm_stuck).
stop_mariadbd() {
  local pid=$1 why=$2 limit=${GALERA_STOP_TIMEOUT_SECONDS:-120} half_seconds=0
  set_phase stopping $((limit + 30))
  galera_log "stopping mariadbd (pid $pid, $why): SIGTERM, SIGKILL after $limit s"
  kill -TERM "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null; do
    if ((half_seconds >= limit * 2)); then
      galera_log "mariadbd (pid $pid) still runs $limit s after SIGTERM: SIGKILL (the next start recovers the position)"
      kill -KILL "$pid" 2>/dev/null
    elif ((half_seconds >= 6)) && sigterm_stuck "$pid"; then
      galera_log "mariadbd (pid $pid) has SIGTERM pending and blocked in every thread (it has not finished" \
        "starting and cannot act on it): SIGKILL (the next start recovers the position)"
      kill -KILL "$pid" 2>/dev/null
    fi
    pause 0.5
    half_seconds=$((half_seconds + 1))
  done
}

# Waits for the mariadbd in MARIADBD_PID (a child of this shell) to exit, stopping it when the container is told to
# stop; sets MARIADBD_STATUS.
wait_mariadbd() {
  local stopping=0
  while :; do
    wait "$MARIADBD_PID"
    MARIADBD_STATUS=$?
    # `wait` also returns when a trapped signal arrives (status > 128): mariadbd may still run.
    kill -0 "$MARIADBD_PID" 2>/dev/null || break
    if ((TERMINATING == 1 && stopping == 0)); then
      stopping=1
      [[ -n ${STATUS_PID:-} ]] && kill "$STATUS_PID" 2>/dev/null
      stop_mariadbd "$MARIADBD_PID" "the container is stopping" &
    fi
  done
  MARIADBD_PID=
}

# Sleeps without delaying the SIGTERM trap (bash runs traps only between commands; `wait` is interruptible).
pause() {
  sleep "$1" &
  wait $! 2>/dev/null
}

# The defaults file mariadbd, mariabackup (via the SST script) and the client read. Per-pod and secret
# values are rendered here, in memory, never in the ConfigMap; before every start of mariadbd, so that a restart
# inside the container takes the SST password of the file as it is now (apply-users.sh sets it live in between).
render_runtime_config() {
  local PASSWORD='' READ_PROBLEM
  galera_has_password GALERA_SST_PASSWORD && galera_read_password GALERA_SST_PASSWORD
  local auth="${GALERA_SST_USER:-mariabackup}:$PASSWORD" socat_ip=${POD_IP:-}
  [[ $socat_ip == *:* ]] && socat_ip="[$socat_ip]"
  auth=${auth//\\/\\\\}
  auth=${auth//\"/\\\"}
  galera_write_atomic "$GALERA_RUN_DIR/99-runtime.cnf" "[mysqld]
datadir = $GALERA_DATADIR
socket = $GALERA_SOCKET
pid_file = $GALERA_RUN_DIR/mysqld.pid
wsrep_node_name = ${POD_NAME:?POD_NAME must be set}
wsrep_node_address = ${POD_IP:?POD_IP must be set}
wsrep_sst_receive_address = $POD_IP:${GALERA_SST_PORT:-4444}
wsrep_sst_auth = \"$auth\"
# Galera runs it at every membership change: the agent learns of an eviction at once (notify.sh says why).
wsrep_notify_cmd = \"bash $SCRIPT_DIR/notify.sh $GALERA_VIEW_FILE\"
[sst]
# socat (mariabackup SST) listens on, and sends from, the pod address only, not every interface.
sockopt = \"bind=$socat_ip\"" 600
  galera_write_atomic "$GALERA_MY_CNF" "!include $GALERA_CONFIG_FILE
!include $GALERA_RUN_DIR/99-runtime.cnf"
  # The account mariadb-install-db creates for the OS user mariadbd runs as (unix_socket, no password).
  galera_write_atomic "$GALERA_CLIENT_CNF" "[client]
socket = $GALERA_SOCKET
user = mysql"
}

# The volume's identity (lib.sh: GALERA_IDENTITY_FILE): adds the line LINE (`joined`, or `cluster <uuid>`) once.
# Written before anything can put data on the volume, and never removed, so no transfer can erase the fact.
identity_add() {
  local file=$GALERA_IDENTITY_FILE content=
  [[ -f $file ]] && content=$(<"$file")
  grep -qxF -- "$1" <<<"$content" && return 0
  [[ -n $content ]] || content="# GaleraPetSet: this volume joined a cluster and held the data of these cluster UUIDs. It is kept
# across SSTs (wsrep_sst_mariabackup keeps *.sst files); remove it only with the whole data dir."
  galera_write_atomic "$file" "$content
$1" && sync "$file" 2>/dev/null
}

# Nothing at all on the volume (a filesystem's lost+found aside): it never held anything.
datadir_is_pristine() {
  [[ -z $(ls -A "$GALERA_DATADIR" 2>/dev/null | grep -v '^lost+found$') ]]
}

# Sets DATA, POS_UUID, POS_SEQNO, POS_SOURCE, SAFE_TO_BOOTSTRAP, HAS_VIEW_STATE, INTERRUPTED_TRANSFER, CLUSTERS,
# from evidence on the volume, never from a marker alone:
#   empty    nothing on the volume: it never held a cluster's data (the only state a new cluster starts from)
#   wiped    it joined a cluster (identity file, Galera files) but holds no database: a transfer emptied it and
#            did not finish, or the files were removed. Nothing on it can be newer than what its donor had.
#   known    a database and a usable position (grastate.dat, or InnoDB through --wsrep-recover)
#   unknown  a database without a usable position (recovery failed, or an SST was cut while moving files in)
establish_state() {
  local grastate=$GALERA_DATADIR/grastate.dat
  DATA=unknown POS_UUID= POS_SEQNO= POS_SOURCE= SAFE_TO_BOOTSTRAP=false HAS_VIEW_STATE=false INTERRUPTED_TRANSFER=false
  CLUSTERS=$(sed -n 's/^cluster //p' "$GALERA_IDENTITY_FILE" 2>/dev/null | sort -u)
  [[ -f $GALERA_DATADIR/gvwstate.dat ]] && HAS_VIEW_STATE=true
  # The joiner's SST script creates sst_in_progress at the start of every transfer (an IST too), before it
  # touches anything, and removes it when the transfer is done.
  [[ -e $GALERA_DATADIR/sst_in_progress ]] && INTERRUPTED_TRANSFER=true
  if datadir_is_pristine; then
    DATA=empty
    return
  fi
  if [[ ! -d $GALERA_DATADIR/mysql && ! -e $GALERA_DATADIR/ibdata1 ]]; then
    galera_log "state: this volume joined a cluster (${CLUSTERS:-cluster not yet known}) but holds no database" \
      "(interrupted transfer: $INTERRUPTED_TRANSFER): it has nothing to offer and can only join by SST"
    DATA=wiped
    return
  fi
  if [[ $INTERRUPTED_TRANSFER == true && -d $GALERA_DATADIR/.sst ]]; then
    # mariabackup streams an SST into .sst and moves it in at the end: files on both sides mean the move was cut.
    galera_log "state: an SST was interrupted while moving its files in: the database may be incomplete"
    return
  fi
  local corrupt=0
  if [[ $INTERRUPTED_TRANSFER == true ]]; then
    # An IST (or an SST after its move) was cut: the data is in place, but grastate.dat says nothing reliable.
    galera_log "state: an interrupted state transfer left sst_in_progress with the database in place: asking InnoDB"
  elif [[ -e $grastate ]]; then
    if [[ -r $grastate ]] && parse_grastate "$grastate"; then
      [[ $POS_SEQNO != -1 ]] && POS_SOURCE=grastate
    else
      galera_log "state: $grastate is unreadable or malformed; asking InnoDB instead"
      corrupt=1
    fi
  fi
  if [[ -z $POS_SOURCE ]]; then
    # Unclean stop (seqno -1), a bad grastate.dat, or none: InnoDB knows the last committed seqno.
    set_phase recovering
    if ! recover_position; then
      galera_log "state: mariadbd --wsrep-recover found no position"
      return
    fi
    POS_UUID=${RECOVERED%:*} POS_SEQNO=${RECOVERED##*:} POS_SOURCE=wsrep-recover
  fi
  if [[ $POS_UUID == 00000000-0000-0000-0000-000000000000 || $POS_SEQNO == -1 ]]; then
    galera_log "state: no usable position ($POS_UUID:$POS_SEQNO)"
    POS_SOURCE=
    return
  fi
  if ((corrupt == 1)); then
    # Galera would refuse to start on it; without it, mariadbd takes the recovered --wsrep-start-position.
    mv -f "$grastate" "$grastate.corrupt"
  fi
  DATA=known
  identity_add "cluster $POS_UUID"
  CLUSTERS=$(printf '%s\n%s\n' "$CLUSTERS" "$POS_UUID" | sed '/^$/d' | sort -u)
}

parse_grastate() {
  local key value
  while IFS=: read -r key value; do
    value=${value//[[:space:]]/}
    case $key in
      uuid) POS_UUID=$value ;;
      seqno) POS_SEQNO=$value ;;
      safe_to_bootstrap) [[ $value == 1 ]] && SAFE_TO_BOOTSTRAP=true ;;
    esac
  done <"$1"
  [[ $POS_UUID =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ && $POS_SEQNO =~ ^-?[0-9]+$ ]]
}

# Sets RECOVERED to uuid:seqno from `mariadbd --wsrep-recover` (InnoDB crash recovery, no network, no
# cluster). Not in a subshell: a container stop must reach this mariadbd too.
recover_position() {
  local log=$GALERA_RUN_DIR/wsrep-recover.log line
  RECOVERED=
  rm -f "$log"
  mariadbd --defaults-file="$GALERA_MY_CNF" --wsrep-recover --skip-networking --log-error="$log" >/dev/null 2>&1 &
  MARIADBD_PID=$!
  STATUS_PID=
  wait_mariadbd
  cat "$log" >&2
  line=$(grep -o 'WSREP: Recovered position: [0-9a-f-]*:-\?[0-9]*' "$log" | tail -n 1)
  [[ -n $line ]] || return 1
  RECOVERED=${line##*Recovered position: }
}

write_state() {
  local position='' clusters
  STATE_ID=$(date +%s%N)-$$
  if [[ $DATA == known ]]; then
    position=",\"position\":{\"uuid\":\"$POS_UUID\",\"seqno\":$POS_SEQNO},\"positionSource\":\"$POS_SOURCE\""
  fi
  clusters=$(sed '/^$/d; s/.*/"&"/' <<<"$CLUSTERS" | paste -sd, -)
  galera_write_atomic "$GALERA_STATE_FILE" "{\"stateId\":\"$STATE_ID\",\"data\":\"$DATA\"$position,\
\"safeToBootstrap\":$SAFE_TO_BOOTSTRAP,\"hasViewState\":$HAS_VIEW_STATE,\
\"interruptedTransfer\":$INTERRUPTED_TRANSFER,\"clusters\":[$clusters]}"
  galera_log "state $STATE_ID: data=$DATA position=${POS_UUID:-none}:${POS_SEQNO:-none} source=${POS_SOURCE:-none}" \
    "safe_to_bootstrap=$SAFE_TO_BOOTSTRAP gvwstate=$HAS_VIEW_STATE interrupted_transfer=$INTERRUPTED_TRANSFER" \
    "clusters=[${CLUSTERS//$'\n'/,}]"
}

# Waits for the decision.json of the current stateId and consumes it; sets ACTION and START_POSITION
# (uuid:seqno or empty). A decision for another state (written before this state.json) is discarded.
await_decision() {
  local content action state_id
  set_phase waiting
  while ((TERMINATING == 0)); do
    if [[ -f $GALERA_DECISION_FILE ]]; then
      content=$(<"$GALERA_DECISION_FILE")
      rm -f "$GALERA_DECISION_FILE"
      state_id=$(json_field stateId "$content")
      action=$(json_field action "$content")
      if [[ $state_id != "$STATE_ID" ]]; then
        galera_log "decision: discarded one for state ${state_id:-none} (current: $STATE_ID)"
      elif [[ $action == join || $action == bootstrap ]]; then
        ACTION=$action
        START_POSITION=$(json_field startPosition "$content")
        galera_log "decision: $ACTION${START_POSITION:+ at $START_POSITION}" \
          "($(json_field rule "$content"): $(json_field reason "$content"))"
        return 0
      else
        galera_log "decision: ignoring unknown action '${action}'"
      fi
    fi
    pause 0.2
  done
  return 1
}

# The string value of `"key": "value"` in JSON text (enough for the agent's small flat files).
json_field() {
  local re='"'"$1"'"[[:space:]]*:[[:space:]]*"(([^"\\]|\\.)*)"'
  [[ $2 =~ $re ]] && printf '%s' "${BASH_REMATCH[1]}"
}

# A brand-new cluster: system tables, the socket account for the OS user, then every user (SST, monitor,
# root, application) before the member can be a donor, so the first joiner's SST can log in. On a `wiped` volume
# (only when the operator's override names it) the Galera leftovers go first; its identity stays.
initialize_datadir() {
  set_phase initializing
  if [[ -d $GALERA_DATADIR/mysql || -e $GALERA_DATADIR/ibdata1 ]]; then
    galera_log "refusing to initialize $GALERA_DATADIR: it holds a database"
    return 1
  fi
  find "$GALERA_DATADIR" -mindepth 1 -maxdepth 1 ! -name lost+found ! -name "${GALERA_IDENTITY_FILE##*/}" \
    -exec rm -rf {} +
  local sql
  sql=$(bash "$SCRIPT_DIR/apply-users.sh" --print-sql) || return 1
  sql+=$'\n'$(writer_table_sql)
  mariadb-install-db --defaults-file="$GALERA_MY_CNF" --skip-test-db --auth-root-authentication-method=socket \
    --auth-root-socket-user=mysql --wsrep-on=OFF >&2 || return 1
  printf '%s\n' "$sql" |
    mariadbd --defaults-file="$GALERA_MY_CNF" --bootstrap --wsrep-on=OFF --skip-networking \
      --log-error="$GALERA_RUN_DIR/initialize.log" >&2 || {
    cat "$GALERA_RUN_DIR/initialize.log" >&2
    return 1
  }
}

mark_safe_to_bootstrap() {
  local grastate=$GALERA_DATADIR/grastate.dat
  if [[ $DATA == known && $POS_SOURCE == wsrep-recover ]] && ! grep -qx "uuid: *$POS_UUID" "$grastate" 2>/dev/null; then
    # A transfer that started resets grastate.dat to the zero UUID: bootstrapping on it would start a new cluster
    # UUID, and every member with data of the real one would then need the operator (uuid-mismatch). Write the
    # position InnoDB recovered, as Galera itself would have on a clean stop.
    galera_write_atomic "$grastate" "# GALERA saved state
version: 2.1
uuid:    $POS_UUID
seqno:   $POS_SEQNO
safe_to_bootstrap: 1"
    return
  fi
  [[ -f $grastate ]] || return 0
  if grep -q '^safe_to_bootstrap:' "$grastate"; then
    sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$grastate"
  else
    printf 'safe_to_bootstrap: 1\n' >>"$grastate"
  fi
}

start_mariadbd() {
  local args=(--defaults-file="$GALERA_MY_CNF")
  # From here on the volume belongs to a cluster: it must never count as brand new again, whatever a transfer
  # does to it.
  identity_add joined
  if [[ $ACTION == bootstrap ]]; then
    if [[ $DATA == empty || $DATA == wiped ]]; then
      initialize_datadir || return 1
    else
      # The agent chose this member; mariadbd refuses --wsrep-new-cluster unless grastate says so. A transfer
      # marker left by an interrupted IST would keep the liveness probe lenient for as long as this server runs.
      mark_safe_to_bootstrap
      rm -f "$GALERA_DATADIR/sst_in_progress"
    fi
    args+=(--wsrep-new-cluster)
  fi
  # After an unclean stop grastate.dat says -1: hand mariadbd the recovered position, or it would start
  # from nothing and need a full SST.
  if [[ -z $START_POSITION && $DATA == known && $POS_SOURCE == wsrep-recover ]]; then
    START_POSITION=$POS_UUID:$POS_SEQNO
  fi
  [[ $START_POSITION =~ ^[0-9a-f-]{36}:-?[0-9]+$ ]] && args+=(--wsrep-start-position="$START_POSITION")
  # Known before the server answers, so the readiness probe never passes between Synced and the upgrade.
  if upgrade_needed; then : >"$GALERA_UPGRADE_PENDING_FILE"; else rm -f "$GALERA_UPGRADE_PENDING_FILE"; fi
  set_phase starting
  rm -f "$GALERA_VIEW_FILE"
  galera_log "starting: mariadbd ${args[*]}"
  mariadbd "${args[@]}" &
  MARIADBD_PID=$!
}

write_wsrep_status() {
  local name fields=() writer
  declare -A WSREP=()
  SYNCED=false STATE_UUID=
  if [[ $1 == false ]]; then
    galera_write_atomic "$GALERA_WSREP_FILE" '{"running":false}'
    return
  fi
  # The writer row in the same round (fails, and is left out, outside a Primary component or before it exists).
  galera_read_status < <(galera_wsrep_status "$GALERA_WRITER_STATUS_SQL")
  writer=${WSREP[galera_writer]:-}
  unset 'WSREP[galera_writer]'
  WRITER_TABLE_READ=false
  [[ -n $writer ]] && WRITER_TABLE_READ=true
  galera_status_is_synced && SYNCED=true
  STATE_UUID=${WSREP[wsrep_local_state_uuid]:-}
  for name in "${!WSREP[@]}"; do
    fields+=("$(galera_json_string "$name"):$(galera_json_string "${WSREP[$name]}")")
  done
  # A transfer to this member is under way: the agent must not restart it for taking long to reach the Primary.
  local transfer=false
  [[ -e $GALERA_DATADIR/sst_in_progress ]] && transfer=true
  galera_write_atomic "$GALERA_WSREP_FILE" "{\"running\":true,\"transfer\":$transfer,\
${writer:+\"writer\":$(galera_json_string "$writer"),}\"wsrep\":{$(IFS=,; printf '%s' "${fields[*]}")}}"
}

# The writer row's schema and first row, naming GALERA_INITIAL_WRITER; nothing when that is not set. Idempotent.
writer_table_sql() {
  local initial=${GALERA_INITIAL_WRITER:-}
  is_member_name "$initial" || return 0
  printf '%s\n' "CREATE DATABASE IF NOT EXISTS galera_ha;" \
    "CREATE TABLE IF NOT EXISTS $GALERA_WRITER_TABLE (id TINYINT UNSIGNED NOT NULL PRIMARY KEY, member VARCHAR(63) NOT NULL," \
    "  changed_by VARCHAR(63) NOT NULL, changed_at DATETIME(6) NOT NULL, reason VARCHAR(255) NOT NULL) ENGINE=InnoDB;" \
    "INSERT IGNORE INTO $GALERA_WRITER_TABLE VALUES (1, '$initial', '$POD_NAME', UTC_TIMESTAMP(6), 'the initial writer');"
}

# Creates the writer row on a cluster that lacks it (one created before it existed); a few retries (members that
# reach Synced together race: certification lets one INSERT through). Runs once per start, once Synced.
ensure_writer_table() {
  local attempt
  [[ -n ${GALERA_INITIAL_WRITER:-} ]] || return 0
  for attempt in 1 2 3 4 5; do
    [[ $(galera_sql -e "SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM $GALERA_WRITER_TABLE" 2>/dev/null) == 1 ]] && return 0
    galera_sql -e "$(writer_table_sql)" && galera_log "writer row created (initial writer $GALERA_INITIAL_WRITER)"
    pause "$attempt"
  done
}

# The agent's writer-claim (lib/galera/agent/writer.ts): takes the writer row over from FROM for this member. The
# UPDATE is conditional: it changes the row only while the row still names FROM and, with REQUIRE_ABSENT (FROM's
# agent did not answer), only once Galera's view of the Primary component no longer lists FROM. Galera certifies
# concurrent claims of the one row: one commits, the others then match nothing. Only a member in the Primary
# component can commit at all. Retried for GALERA_WRITER_CLAIM_SECONDS (10): the view changes when Galera evicts a
# dead member (evs.suspect_timeout), and the row must change right then. While the claim waits for that eviction,
# view.json (notify.sh, rewritten by mariadbd at the view change) is read every 50 ms with builtins only, and the
# UPDATE runs as soon as it no longer lists FROM; without that signal, every 0.2 s as before.
claim_writer() {
  local from=$1 to=$2 require_absent=$3 deadline=$((SECONDS + ${GALERA_WRITER_CLAIM_SECONDS:-10})) sql out waits=0 fast_retries=0
  is_member_name "$from" && is_member_name "$to" && [[ $to == "$POD_NAME" ]] || {
    galera_log "writer claim refused: from '$from' to '$to' (this member is $POD_NAME)"
    return 1
  }
  sql=$(writer_claim_sql "$from" "$to" "$require_absent")
  while ((SECONDS < deadline)); do
    out=$(timeout 10 mariadb --defaults-file="$GALERA_CLIENT_CNF" --connect-timeout=2 -N -B -e "$sql" 2>&1)
    if [[ $out == $'1\t'"$to" ]]; then
      galera_log "writer: took the writer row over from $from"
      return 0
    elif [[ $out == $'0\t'* && $out != $'0\t'"$from" ]]; then
      galera_log "writer: the row names ${out#*$'\t'} now, not $from: nothing to take over"
      return 0
    fi
    # FROM still in the view: wait for the view change (at most 0.2 s, then try again anyway). Already out of it
    # (the server's own table may lag the notification by a moment): try again after 50 ms, ten times at most.
    waits=0
    while [[ $require_absent == true ]] && view_lists "$from" && ((waits < 4 && SECONDS < deadline)); do
      sleep 0.05
      waits=$((waits + 1))
    done
    if ((waits == 0)) && [[ $require_absent == true && -r $GALERA_VIEW_FILE ]] && ((fast_retries++ < 10)); then
      sleep 0.05
    elif ((waits == 0)); then
      sleep 0.2
    fi
  done
  galera_log "writer: the row still names $from after ${GALERA_WRITER_CLAIM_SECONDS:-10} s (${out//$'\n'/ }); the agent asks again"
}

# The claim's statements, one session: the membership check (REQUIRE_ABSENT) is a plain SELECT into a variable
# BEFORE the UPDATE, never a subquery of it. A subquery of an UPDATE reads with shared locks, held until the commit,
# and the commit waits behind any view change Galera is delivering, whose storing of the view writes
# mysql.wsrep_cluster_members: each waited for the other until innodb_lock_wait_timeout (50 s), the joiner's state
# transfer and every commit with them (seen in the recovery suite: a claim at the moment a member joined, "Failed to
# store view", the joiner Synced 50 s late). A plain SELECT is a consistent read and holds nothing; FROM coming back
# between the two statements is a new incarnation that is not Synced yet, which the claim may take over anyway.
writer_claim_sql() {
  local from=$1 to=$2 require_absent=$3
  printf '%s\n' "SET SESSION wsrep_sync_wait=0;"
  if [[ $require_absent == true ]]; then
    printf '%s\n' "SELECT COUNT(*) = 0 INTO @claim_absent FROM mysql.wsrep_cluster_members WHERE node_name = '$from';"
  else
    printf '%s\n' "SET @claim_absent = 1;"
  fi
  printf '%s\n' "UPDATE $GALERA_WRITER_TABLE SET member='$to', changed_by='$to', changed_at=UTC_TIMESTAMP(6)," \
    "  reason='taken over: $from was not Synced in the Primary component' WHERE id = 1 AND member = '$from' AND @claim_absent;" \
    "SELECT ROW_COUNT(), member FROM $GALERA_WRITER_TABLE WHERE id = 1;"
}

# Whether Galera's latest view (view.json) lists member NAME; false when the file is absent or unreadable (then the
# claim falls back to retrying every 0.2 s). Builtins only: it runs every 50 ms while a claim waits.
view_lists() {
  local view=
  [[ -r $GALERA_VIEW_FILE ]] && IFS= read -r view <"$GALERA_VIEW_FILE"
  [[ $view == *'"members":['*"\"$1\""* ]]
}

# Sleeps about SECONDS, returning early when the agent hands over a writer claim or a running claim ends (so the
# new writer is published at once, not a second later).
nap() {
  local step
  for ((step = 0; step < $1 * 10; step++)); do
    [[ -z $CLAIM_PID && -e $GALERA_WRITER_CLAIM_FILE ]] && return
    if [[ -n $CLAIM_PID ]] && ! kill -0 "$CLAIM_PID" 2>/dev/null; then
      wait "$CLAIM_PID" 2>/dev/null
      CLAIM_PID=
      return
    fi
    sleep 0.1
  done
}

# Starts the claim the agent wrote for this state (in the background: the UPDATE may wait for Galera to evict the
# old writer, and wsrep.json must stay fresh meanwhile). One at a time; a claim for another state is dropped.
start_writer_claim() {
  local request
  [[ -z $CLAIM_PID && -e $GALERA_WRITER_CLAIM_FILE ]] || return 0
  request=$(<"$GALERA_WRITER_CLAIM_FILE")
  rm -f "$GALERA_WRITER_CLAIM_FILE"
  if [[ $(json_field stateId "$request") != "$STATE_ID" ]]; then
    galera_log "writer claim for another state ignored"
    return 0
  fi
  claim_writer "$(json_field from "$request")" "$(json_field to "$request")" "$(json_field requireAbsent "$request")" &
  CLAIM_PID=$!
}

# The server's version (`10.11.19`) and the version whose system tables the data dir holds (the file mariadb-install-db
# and mariadb-upgrade write: mariadb_upgrade_info from 11.x, mysql_upgrade_info before; `10.11.19-MariaDB`).
server_version() {
  mariadbd --version 2>/dev/null | sed -n 's/.* Ver \([0-9][0-9.]*\).*/\1/p'
}
datadir_version() {
  local file
  for file in "$GALERA_DATADIR/mariadb_upgrade_info" "$GALERA_DATADIR/mysql_upgrade_info"; do
    [[ -r $file ]] || continue
    head -c 64 "$file" | sed -n '1s/^\([0-9][0-9.]*\).*/\1/p'
    return
  done
}

# Whether the data dir's system tables are older than the server (a version change): mariadb-upgrade must run
# before the member is Ready. Known before mariadbd starts, from the data dir alone.
upgrade_needed() {
  local server datadir
  server=$(server_version)
  datadir=$(datadir_version)
  [[ -n $server && -n $datadir && $datadir != "$server" ]]
}

# Whether mariadb-upgrade must run once the member is Synced: the tables are older than the server, or their version
# is unknown because an SST brought them (mariabackup does not copy the info file): they are the donor's then.
upgrade_due() {
  [[ -d $GALERA_DATADIR/mysql ]] || return 1
  upgrade_needed || [[ -z $(datadir_version) ]]
}

# mariadb-upgrade once per member per new version, after the member is Synced, the way Galera needs it: with
# --skip-write-binlog its session runs `SET SQL_LOG_BIN=0, WSREP_ON=OFF`, so its ALTERs of the mysql schema stay on
# this member (each member upgrades its own tables when it runs the new version) instead of replicating by TOI to
# members that still run the old one. It writes the new version into the data dir's upgrade info file, so the next
# start finds nothing to do. Until it succeeds a member whose tables were known to be older is not Ready
# (GALERA_UPGRADE_PENDING_FILE, set before mariadbd starts); after an SST it runs once without holding readiness.
upgrade_system_tables() {
  local attempt
  if ! upgrade_due; then
    rm -f "$GALERA_UPGRADE_PENDING_FILE"
    return 0
  fi
  local tables
  tables=$(datadir_version)
  for attempt in 1 2 3; do
    galera_log "mariadb-upgrade: system tables of ${tables:-an unknown version (after an SST)} under server $(server_version) (attempt $attempt)"
    if mariadb-upgrade --defaults-file="$GALERA_CLIENT_CNF" --skip-write-binlog >"$GALERA_RUN_DIR/mariadb-upgrade.log" 2>&1; then
      galera_log "mariadb-upgrade: done ($(tail -n 1 "$GALERA_RUN_DIR/mariadb-upgrade.log"))"
      rm -f "$GALERA_UPGRADE_PENDING_FILE"
      return 0
    fi
    galera_log "mariadb-upgrade failed: $(tail -n 3 "$GALERA_RUN_DIR/mariadb-upgrade.log" | tr '\n' ' ')"
    pause $((attempt * 5))
  done
  galera_log "mariadb-upgrade failed 3 times (see $GALERA_RUN_DIR/mariadb-upgrade.log): the member stays not Ready, which holds the roll"
  return 1
}

# Applies the users once (idempotent; every member runs it, TOI serializes the DDL), with a few retries.
apply_users_with_retries() {
  local attempt
  for attempt in 1 2 3 4 5; do
    bash "$SCRIPT_DIR/apply-users.sh" && return 0
    pause $((attempt * 2))
  done
  galera_log "apply-users failed 5 times; the next start of mariadbd retries"
}

# The certificate files (GALERA_TLS_DIR, a Secret volume the kubelet swaps atomically when cert-manager renews):
# when their content changes, mariadbd and Galera load them in place. Client connections and peer links that are
# open keep their session; new ones get the new certificate. No restart, so no member ever leaves the cluster for
# a renewal. A failed reload is retried every second (the fingerprint is only recorded once it succeeded).
TLS_SEEN=
# The content of the files given (a Secret volume's): what the kubelet swapped in, whatever the symlinks say.
files_fingerprint() {
  cat "$@" 2>/dev/null | cksum
}
reload_tls_if_renewed() {
  [[ -n ${GALERA_TLS_DIR:-} ]] || return 0
  local now
  now=$(files_fingerprint "$GALERA_TLS_DIR/tls.crt" "$GALERA_TLS_DIR/tls.key" "$GALERA_TLS_DIR/ca.crt")
  if [[ -z $TLS_SEEN ]]; then
    TLS_SEEN=$now
  elif [[ $now != "$TLS_SEEN" ]]; then
    local reload='FLUSH SSL'
    [[ ${GALERA_TLS_REPLICATION:-} == true ]] && reload+="; SET GLOBAL wsrep_provider_options='socket.ssl_reload=1'"
    if galera_sql -e "$reload"; then
      TLS_SEEN=$now
      galera_log "tls: certificate files changed; reloaded in place ($reload)"
    fi
  fi
}

# Every account's password (GALERA_CREDENTIALS_DIR, a Secret volume the kubelet updates in place when the Secret
# changes: the users', the monitor's, the SST account's and root's): the files are compared every second, so a change reaches the accounts within a second or two of reaching
# this pod, without a restart. apply-users.sh starts each rotation (the new password and the old one both accepted for
# the grace), and every GALERA_ROTATION_CHECK_SECONDS (60) `--finish-rotations` ends the ones whose grace is over. One
# run at a time; a failed run is retried after 10 s.
CREDENTIALS_SEEN=
USERS_PID=
USERS_APPLYING=
NEXT_USERS_RUN=0
NEXT_FINISH_RUN=0
apply_users_if_rotated() {
  [[ -n ${GALERA_CREDENTIALS_DIR:-} ]] || return 0
  if [[ -n $USERS_PID ]]; then
    kill -0 "$USERS_PID" 2>/dev/null && return 0
    if wait "$USERS_PID"; then
      [[ -z $USERS_APPLYING ]] || CREDENTIALS_SEEN=$USERS_APPLYING
    else
      NEXT_USERS_RUN=$((SECONDS + 10))
    fi
    USERS_PID= USERS_APPLYING=
  fi
  ((SECONDS >= NEXT_USERS_RUN)) || return 0
  local now
  now=$(files_fingerprint "$GALERA_CREDENTIALS_DIR"/*)
  if [[ $now != "$CREDENTIALS_SEEN" ]]; then
    galera_log "credentials changed: applying users (a changed password rotates: the old one is accepted for ${GALERA_PASSWORD_ROTATION_GRACE_SECONDS:-3600} s more)"
    USERS_APPLYING=$now
    bash "$SCRIPT_DIR/apply-users.sh" &
  elif ((SECONDS >= NEXT_FINISH_RUN)); then
    NEXT_FINISH_RUN=$((SECONDS + ${GALERA_ROTATION_CHECK_SECONDS:-60}))
    bash "$SCRIPT_DIR/apply-users.sh" --finish-rotations &
  else
    return 0
  fi
  USERS_PID=$!
}

# A child process while mariadbd runs: wsrep.json every second, the agent's restart request, the users once
# the member is Synced. It is a separate process so that the main shell only ever waits: bash 5.2 can fail
# to run a signal trap that arrives while it is busy with command substitutions (seen here: "trap: line 2:
# unexpected EOF"), and a lost SIGTERM would end in a SIGKILL and a seqno of -1.
status_loop() {
  trap - TERM INT
  local request users_applied=0
  CLAIM_PID=
  while kill -0 "$MARIADBD_PID" 2>/dev/null; do
    if [[ -e $GALERA_RESTART_FILE ]]; then
      request=$(<"$GALERA_RESTART_FILE")
      rm -f "$GALERA_RESTART_FILE"
      if [[ $(json_field stateId "$request") == "$STATE_ID" ]]; then
        galera_log "restart requested by the agent ($(json_field reason "$request"))"
        stop_mariadbd "$MARIADBD_PID" "restart requested by the agent"
        return
      fi
      galera_log "restart request for another state ignored"
    fi
    start_writer_claim
    write_wsrep_status true
    reload_tls_if_renewed
    if [[ $SYNCED == true ]]; then
      [[ $(head -n 1 "$GALERA_PHASE_FILE") == running ]] || set_phase running
      if ((users_applied == 0)); then
        [[ -n $STATE_UUID ]] && identity_add "cluster $STATE_UUID"
        users_applied=1
        # What the first run reads; a later change of the files is a rotation (apply_users_if_rotated).
        [[ -z ${GALERA_CREDENTIALS_DIR:-} ]] || CREDENTIALS_SEEN=$(files_fingerprint "$GALERA_CREDENTIALS_DIR"/*)
        NEXT_FINISH_RUN=$((SECONDS + ${GALERA_ROTATION_CHECK_SECONDS:-60}))
        { upgrade_system_tables; apply_users_with_retries; } &
        [[ $WRITER_TABLE_READ == true ]] || ensure_writer_table &
      else
        apply_users_if_rotated
      fi
    fi
    nap 1
  done
}

# A joiner's SST script outlives a mariadbd that died under it (it still waits for the donor's stream, seen when
# the IST donor was killed), and while it runs every later transfer to this member fails at once ("previous SST
# script still running"): stop it, bounded like mariadbd. Its own cleanup stops what it started (socat,
# mariabackup).
stop_leftover_sst() {
  local pid half_seconds=0
  pid=$(cat "$GALERA_DATADIR/wsrep_sst.pid" 2>/dev/null) || return 0
  # The pid file may be stale and its number reused: only a process that is an SST script is stopped.
  [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q wsrep_sst_ || return 0
  galera_log "the state transfer script (pid $pid) outlived mariadbd: stopping it"
  kill -TERM "$pid" 2>/dev/null
  while kill -0 "$pid" 2>/dev/null && ((half_seconds < 20)); do
    pause 0.5
    half_seconds=$((half_seconds + 1))
  done
  kill -KILL "$pid" 2>/dev/null
  return 0
}

# Returns when mariadbd has exited (status in MARIADBD_STATUS), stopped on request or by itself.
supervise() {
  status_loop &
  STATUS_PID=$!
  wait_mariadbd
  # The status loop ends by itself once mariadbd is gone; it may be sleeping.
  kill "$STATUS_PID" 2>/dev/null
  wait "$STATUS_PID" 2>/dev/null
  STATUS_PID=
  stop_leftover_sst
  write_wsrep_status false
  rm -f "$GALERA_STATE_FILE" "$GALERA_WRITER_CLAIM_FILE" "$GALERA_VIEW_FILE"
  galera_log "mariadbd exited with status $MARIADBD_STATUS"
}

main() {
  local started crash_delay=0
  # The soft open-files limit up to the hard one: containerd 2 starts containers with soft 1024. mariadbd asks
  # for open_files_limit (from max_connections and table_open_cache) by setting soft = hard = its request, and
  # when the request is above the hard limit it keeps the soft one: 1024 files for 4096 connections (measured).
  ulimit -S -n "$(ulimit -H -n)"
  mkdir -p "$GALERA_RUN_DIR"
  # Left over from a previous run of this container in the same pod (the run dir lives as long as the pod):
  # an old decision must never be acted on, and old status must not look current.
  rm -f "$GALERA_DECISION_FILE" "$GALERA_RESTART_FILE" "$GALERA_STATE_FILE" "$GALERA_WRITER_CLAIM_FILE"
  [[ -r $GALERA_CONFIG_FILE ]] || {
    galera_log "$GALERA_CONFIG_FILE (GALERA_CONFIG_FILE) is not readable"
    exit 1
  }
  write_wsrep_status false
  while ((TERMINATING == 0)); do
    render_runtime_config
    set_phase establishing
    establish_state
    write_state
    await_decision || break
    started=$SECONDS
    start_mariadbd || {
      set_phase failed
      exit 1
    }
    supervise
    ((TERMINATING == 1)) && break
    # Stopped on request, or died: establish the state again (a clean seqno, or recover it) and ask again,
    # inside the container (an exit would cost kubelet's crash back-off). A server that keeps dying fast
    # (bad config, full disk) waits a little longer each time instead of spinning.
    if ((MARIADBD_STATUS != 0 && SECONDS - started < 60)); then
      crash_delay=$((crash_delay < 5 ? 5 : (crash_delay * 2 > 120 ? 120 : crash_delay * 2)))
      galera_log "mariadbd failed after $((SECONDS - started)) s: retrying in $crash_delay s"
      pause "$crash_delay"
    else
      crash_delay=0
    fi
  done
  rm -f "$GALERA_STATE_FILE"
  set_phase stopped
  exit 0
}

# Sourcing (tests of the state logic) defines the functions only.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main
fi
