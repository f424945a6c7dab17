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
#   GALERA_SST_PASSWORD        Secret: its password (wsrep_sst_auth; written only to the run dir)
#   GALERA_MONITOR_*, MARIADB_ROOT_PASSWORD, GALERA_USERS_FILE and the users' password variables: see
#                              apply-users.sh, run here once the member is first Synced.
#
# Files in GALERA_RUN_DIR (the agent's contract, lib/galera/agent/README.md):
#   state.json      written before mariadbd starts: what the data dir holds, with a new stateId each time
#   decision.json   written by the agent for that stateId; consumed (deleted) here before mariadbd starts,
#                   so a bootstrap order is used once and never persisted
#   wsrep.json      rewritten every second while mariadbd runs, {"running":false} when it does not
#   restart-request created by the agent (for the current stateId) to have mariadbd stopped cleanly and a
#                   new decision awaited
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

MARIADBD_PID=
TERMINATING=0

set_phase() {
  galera_write_atomic "$GALERA_PHASE_FILE" "$1"
  galera_log "phase: $1"
}

on_term() {
  TERMINATING=1
  if [[ -n $MARIADBD_PID ]]; then
    galera_log "SIGTERM: stopping mariadbd (pid $MARIADBD_PID) cleanly so grastate.dat keeps its seqno"
    kill -TERM "$MARIADBD_PID" 2>/dev/null
  fi
}
trap on_term TERM INT

# Sleeps without delaying the SIGTERM trap (bash runs traps only between commands; `wait` is interruptible).
pause() {
  sleep "$1" &
  wait $! 2>/dev/null
}

# The defaults file mariadbd, mariabackup (via the SST script) and the client read. Per-pod and secret
# values are rendered here, in memory, never in the ConfigMap.
render_runtime_config() {
  local auth="${GALERA_SST_USER:-mariabackup}:${GALERA_SST_PASSWORD:-}" socat_ip=${POD_IP:-}
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

# Sets DATA (empty|known|unknown), POS_UUID, POS_SEQNO, POS_SOURCE, SAFE_TO_BOOTSTRAP, HAS_VIEW_STATE.
establish_state() {
  local grastate=$GALERA_DATADIR/grastate.dat
  DATA=unknown POS_UUID= POS_SEQNO= POS_SOURCE= SAFE_TO_BOOTSTRAP=false HAS_VIEW_STATE=false
  [[ -f $GALERA_DATADIR/gvwstate.dat ]] && HAS_VIEW_STATE=true
  if [[ -e $GALERA_DATADIR/sst_in_progress ]]; then
    # An SST was cut short: the files are a partial copy, useful to nobody; the member must SST again.
    galera_log "state: an interrupted SST left sst_in_progress: the data is not usable"
    DATA=empty
    return
  fi
  if [[ ! -d $GALERA_DATADIR/mysql ]]; then
    # No system schema: a fresh volume, a wiped one, or what a failed first SST leaves (gcache, empty grastate).
    DATA=empty
    return
  fi
  local corrupt=0
  if [[ -e $grastate ]]; then
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
# cluster). Not in a subshell: SIGTERM must reach this mariadbd too.
recover_position() {
  local log=$GALERA_RUN_DIR/wsrep-recover.log line
  RECOVERED=
  rm -f "$log"
  mariadbd --defaults-file="$GALERA_MY_CNF" --wsrep-recover --skip-networking --log-error="$log" >/dev/null 2>&1 &
  MARIADBD_PID=$!
  while kill -0 "$MARIADBD_PID" 2>/dev/null; do wait "$MARIADBD_PID"; done
  MARIADBD_PID=
  cat "$log" >&2
  line=$(grep -o 'WSREP: Recovered position: [0-9a-f-]*:-\?[0-9]*' "$log" | tail -n 1)
  [[ -n $line ]] || return 1
  RECOVERED=${line##*Recovered position: }
}

write_state() {
  local position=''
  STATE_ID=$(date +%s%N)-$$
  if [[ $DATA == known ]]; then
    position=",\"position\":{\"uuid\":\"$POS_UUID\",\"seqno\":$POS_SEQNO},\"positionSource\":\"$POS_SOURCE\""
  fi
  galera_write_atomic "$GALERA_STATE_FILE" "{\"stateId\":\"$STATE_ID\",\"data\":\"$DATA\"$position,\
\"safeToBootstrap\":$SAFE_TO_BOOTSTRAP,\"hasViewState\":$HAS_VIEW_STATE}"
  galera_log "state $STATE_ID: data=$DATA position=${POS_UUID:-none}:${POS_SEQNO:-none} source=${POS_SOURCE:-none}" \
    "safe_to_bootstrap=$SAFE_TO_BOOTSTRAP gvwstate=$HAS_VIEW_STATE"
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
# root, application) before the member can be a donor, so the first joiner's SST can log in.
initialize_datadir() {
  set_phase initializing
  if [[ -n $(ls -A "$GALERA_DATADIR" 2>/dev/null | grep -v '^lost+found$') ]]; then
    galera_log "refusing to initialize $GALERA_DATADIR: it is not empty"
    return 1
  fi
  local sql
  sql=$(bash "$SCRIPT_DIR/apply-users.sh" --print-sql) || return 1
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
  [[ -f $grastate ]] || return 0
  if grep -q '^safe_to_bootstrap:' "$grastate"; then
    sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$grastate"
  else
    printf 'safe_to_bootstrap: 1\n' >>"$grastate"
  fi
}

start_mariadbd() {
  local args=(--defaults-file="$GALERA_MY_CNF")
  if [[ $ACTION == bootstrap ]]; then
    if [[ $DATA == empty ]]; then
      initialize_datadir || return 1
    else
      # The agent chose this member; mariadbd refuses --wsrep-new-cluster unless grastate says so.
      mark_safe_to_bootstrap
    fi
    args+=(--wsrep-new-cluster)
  fi
  # After an unclean stop grastate.dat says -1: hand mariadbd the recovered position, or it would start
  # from nothing and need a full SST.
  if [[ -z $START_POSITION && $DATA == known && $POS_SOURCE == wsrep-recover ]]; then
    START_POSITION=$POS_UUID:$POS_SEQNO
  fi
  [[ $START_POSITION =~ ^[0-9a-f-]{36}:-?[0-9]+$ ]] && args+=(--wsrep-start-position="$START_POSITION")
  set_phase starting
  galera_log "starting: mariadbd ${args[*]}"
  mariadbd "${args[@]}" &
  MARIADBD_PID=$!
}

write_wsrep_status() {
  local name fields=()
  declare -A WSREP=()
  SYNCED=false
  if [[ $1 == false ]]; then
    galera_write_atomic "$GALERA_WSREP_FILE" '{"running":false}'
    return
  fi
  galera_read_status < <(galera_wsrep_status)
  galera_status_is_synced && SYNCED=true
  for name in "${!WSREP[@]}"; do
    fields+=("$(galera_json_string "$name"):$(galera_json_string "${WSREP[$name]}")")
  done
  galera_write_atomic "$GALERA_WSREP_FILE" "{\"running\":true,\"wsrep\":{$(IFS=,; printf '%s' "${fields[*]}")}}"
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

# A child process while mariadbd runs: wsrep.json every second, the agent's restart request, the users once
# the member is Synced. It is a separate process so that the main shell only ever waits: bash 5.2 can fail
# to run a signal trap that arrives while it is busy with command substitutions (seen here: "trap: line 2:
# unexpected EOF"), and a lost SIGTERM would end in a SIGKILL and a seqno of -1.
status_loop() {
  trap - TERM INT
  local request users_applied=0
  while kill -0 "$MARIADBD_PID" 2>/dev/null; do
    if [[ -e $GALERA_RESTART_FILE ]]; then
      request=$(<"$GALERA_RESTART_FILE")
      rm -f "$GALERA_RESTART_FILE"
      if [[ $(json_field stateId "$request") == "$STATE_ID" ]]; then
        galera_log "restart requested by the agent ($(json_field reason "$request")): stopping mariadbd cleanly"
        set_phase stopping
        kill -TERM "$MARIADBD_PID"
        return
      fi
      galera_log "restart request for another state ignored"
    fi
    write_wsrep_status true
    if [[ $SYNCED == true ]]; then
      [[ $(<"$GALERA_PHASE_FILE") == running ]] || set_phase running
      if ((users_applied == 0)); then
        users_applied=1
        apply_users_with_retries &
      fi
    fi
    pause 1
  done
}

# Returns when mariadbd has exited (status in MARIADBD_STATUS), stopped on request or by itself.
supervise() {
  local status_pid
  status_loop &
  status_pid=$!
  while :; do
    wait "$MARIADBD_PID"
    MARIADBD_STATUS=$?
    # `wait` also returns when a trapped signal arrives (status > 128): mariadbd is still shutting down.
    kill -0 "$MARIADBD_PID" 2>/dev/null || break
  done
  MARIADBD_PID=
  kill "$status_pid" 2>/dev/null
  wait "$status_pid" 2>/dev/null
  write_wsrep_status false
  rm -f "$GALERA_STATE_FILE"
  galera_log "mariadbd exited with status $MARIADBD_STATUS"
}

main() {
  local started crash_delay=0
  mkdir -p "$GALERA_RUN_DIR"
  # Left over from a previous run of this container in the same pod (the run dir lives as long as the pod):
  # an old decision must never be acted on, and old status must not look current.
  rm -f "$GALERA_DECISION_FILE" "$GALERA_RESTART_FILE" "$GALERA_STATE_FILE"
  [[ -r $GALERA_CONFIG_FILE ]] || {
    galera_log "$GALERA_CONFIG_FILE (GALERA_CONFIG_FILE) is not readable"
    exit 1
  }
  render_runtime_config
  write_wsrep_status false
  while ((TERMINATING == 0)); do
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
