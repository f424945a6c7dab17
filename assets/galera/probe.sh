#!/bin/bash
# Kubernetes probes for a Galera member (exec probes in the mariadb container).
#
#   probe.sh ready   exit 0 only when the member may take traffic: wsrep_ready ON, wsrep_connected ON,
#                    cluster status Primary, local state 4 (Synced), wsrep_desync OFF, wsrep_reject_queries
#                    NONE. A donor (state 2) or a joiner is not ready, nor a member whose system tables are
#                    older than its server until mariadb-upgrade has run (a rolling upgrade waits for it).
#   probe.sh live    exit 1 only when a restart can help: mariadbd should be serving but does not answer, or
#                    a phase the entrypoint bounds (stopping) has outlived its bound (the phase file's
#                    `deadline <epoch>` line): the entrypoint itself is stuck. Otherwise never fails while the
#                    entrypoint establishes state (`--wsrep-recover`), waits for the agent's decision,
#                    initializes, starts (SST/IST), or while an SST is in progress: killing the member then would
#                    lose the data the cluster may need to come back.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ready() {
  declare -A WSREP=()
  if [[ -e $GALERA_UPGRADE_PENDING_FILE ]]; then
    echo "not ready: the system tables are being upgraded to the server's version (mariadb-upgrade)"
    return 1
  fi
  galera_read_status < <(galera_wsrep_status)
  galera_status_is_synced && return 0
  echo "not ready: ready=${WSREP[wsrep_ready]:-?} connected=${WSREP[wsrep_connected]:-?}" \
    "status=${WSREP[wsrep_cluster_status]:-?} state=${WSREP[wsrep_local_state]:-?}" \
    "desync=${WSREP[wsrep_desync]:-?} reject_queries=${WSREP[wsrep_reject_queries]:-?}"
  return 1
}

live() {
  local phase=establishing deadline=
  { read -r phase && read -r _ deadline; } 2>/dev/null <"$GALERA_PHASE_FILE"
  if [[ $deadline =~ ^[0-9]+$ ]] && (($(date +%s) > deadline)); then
    echo "phase $phase has lasted past its bound ($(($(date +%s) - deadline)) s over): the entrypoint is stuck"
    return 1
  fi
  [[ $phase == running ]] || return 0
  [[ -e $GALERA_DATADIR/sst_in_progress ]] && return 0
  # SHOW is answered even outside a Primary component (a SELECT is not): a non-Primary member is alive,
  # and a restart would not help it.
  galera_sql -e "SHOW GLOBAL STATUS LIKE 'wsrep_ready'" >/dev/null && return 0
  echo "mariadbd does not answer on $GALERA_SOCKET"
  return 1
}

case ${1:-} in
  ready) ready ;;
  live) live ;;
  *)
    echo "usage: $0 ready|live" >&2
    exit 2
    ;;
esac
