#!/bin/bash
# Talks to ProxySQL's admin interface, which listens on 127.0.0.1 only, from inside the pod. Every subcommand but
# `live` runs in the admin sidecar (the MariaDB image, with its `mariadb` client); `live` also runs in the proxysql
# container, so it uses bash alone. The programs each subcommand may run are checked against the images' verified
# contents (lib/proxysql/image.ts, test/proxysql-image.test.ts).
#
#   admin.sh live    exit 0 when the admin port accepts TCP connections (bash only: the proxysql container's
#                    liveness probe)
#   admin.sh ready   exit 0 when a Galera member answered ProxySQL's health check as Primary and Synced since this
#                    ProxySQL process started, and the writer hostgroup has an ONLINE server. Right after a start the
#                    servers sit ONLINE in the writer hostgroup exactly as loaded from the file, before any check
#                    (measured: `ready` passed 0.7 s after start with no reachable backend): the check results are
#                    kept in memory only (monitor.mysql_server_galera_log, the last entries of each member, filled
#                    from the monitor's in-memory state when queried), so a row without error there was written by
#                    this process. The runtime table also lists the standbys (backup writers) as SHUNNED rows of the
#                    writer hostgroup, hence the status filter.
#   admin.sh pause   PROXYSQL PAUSE: stop accepting new client connections, keep serving the open ones (preStop:
#                    clients and the VIP health check move to the other ProxySQL while sessions drain)
#   admin.sh reconcile   one pass of the reader fallback: point the read-only port's SELECT rule to the writer
#                    while the reader hostgroup has no ONLINE server (e.g. the only standby is an SST donor,
#                    fenced by wsrep_sst_donor_rejects_queries), and back to the readers as soon as one is ONLINE
#                    again. It decides from the runtime tables each time, so it also holds after ProxySQL restarts
#                    from its file.
#   admin.sh watch   the sidecar's main loop: `reconcile` every second when PROXYSQL_READER_FALLBACK=true.
#
# Environment: PROXYSQL_ADMIN_PORT, PROXYSQL_ADMIN_USER, PROXYSQL_ADMIN_PASSWORD, PROXYSQL_WRITER_HOSTGROUP,
# PROXYSQL_READER_HOSTGROUP, PROXYSQL_READ_ONLY_RULE_ID, PROXYSQL_READER_FALLBACK (true|false),
# PROXYSQL_WATCH_INTERVAL_SECONDS (default 1).
set -uo pipefail

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

admin_sql() {
  MYSQL_PWD=$PROXYSQL_ADMIN_PASSWORD mariadb --no-defaults --skip-ssl --protocol=tcp -h 127.0.0.1 \
    -P "$PROXYSQL_ADMIN_PORT" -u "$PROXYSQL_ADMIN_USER" --connect-timeout=2 -N -B -e "$1"
}

live() {
  # A TCP connect through bash's /dev/tcp: no client needed in the proxysql image.
  exec 3<>"/dev/tcp/127.0.0.1/$PROXYSQL_ADMIN_PORT" || { echo "admin port $PROXYSQL_ADMIN_PORT refuses connections"; return 1; }
  exec 3>&-
}

ready() {
  local answer checked online
  answer=$(admin_sql "SELECT (SELECT COUNT(*) FROM monitor.mysql_server_galera_log WHERE (error IS NULL OR error='') AND primary_partition='YES' AND wsrep_local_state=4), (SELECT COUNT(*) FROM runtime_mysql_servers WHERE hostgroup_id=$PROXYSQL_WRITER_HOSTGROUP AND status='ONLINE')") || {
    echo "admin interface does not answer"
    return 1
  }
  read -r checked online <<<"$answer"
  if ! [[ $checked =~ ^[0-9]+$ && $checked -ge 1 ]]; then
    echo "no Galera member has answered a health check as Primary and Synced since ProxySQL started (${checked:-no answer})"
    return 1
  fi
  [[ $online =~ ^[0-9]+$ && $online -ge 1 ]] && return 0
  echo "no ONLINE writer in hostgroup $PROXYSQL_WRITER_HOSTGROUP (${online:-no answer})"
  return 1
}

pause() {
  admin_sql 'PROXYSQL PAUSE' && log "paused: no new client connections; open sessions keep running"
}

# Changes nothing when the rule already points where it should.
reconcile() {
  local state readers current desired
  state=$(admin_sql "SELECT (SELECT COUNT(*) FROM runtime_mysql_servers WHERE hostgroup_id=$PROXYSQL_READER_HOSTGROUP AND status='ONLINE'), (SELECT destination_hostgroup FROM runtime_mysql_query_rules WHERE rule_id=$PROXYSQL_READ_ONLY_RULE_ID)") || return 0
  read -r readers current <<<"$state"
  [[ $readers =~ ^[0-9]+$ && $current =~ ^[0-9]+$ ]] || return 0
  if ((readers > 0)); then desired=$PROXYSQL_READER_HOSTGROUP; else desired=$PROXYSQL_WRITER_HOSTGROUP; fi
  ((current == desired)) && return 0
  admin_sql "UPDATE mysql_query_rules SET destination_hostgroup=$desired WHERE rule_id=$PROXYSQL_READ_ONLY_RULE_ID; LOAD MYSQL QUERY RULES TO RUNTIME" || return 0
  if ((desired == PROXYSQL_WRITER_HOSTGROUP)); then
    log "no ONLINE reader in hostgroup $PROXYSQL_READER_HOSTGROUP: read-only SELECTs now go to the writer hostgroup $desired"
  else
    log "$readers ONLINE reader(s): read-only SELECTs go to the reader hostgroup $desired again"
  fi
}

watch() {
  local interval=${PROXYSQL_WATCH_INTERVAL_SECONDS:-1}
  trap 'exit 0' TERM INT
  while :; do
    [[ ${PROXYSQL_READER_FALLBACK:-false} == true ]] && reconcile
    # sleep in the background so that SIGTERM is handled at once, not after the sleep.
    sleep "$interval" &
    wait $! || true
  done
}

case ${1:-} in
  live | ready | pause | reconcile | watch) "$1" ;;
  *)
    echo "usage: $0 live|ready|pause|reconcile|watch" >&2
    exit 2
    ;;
esac
