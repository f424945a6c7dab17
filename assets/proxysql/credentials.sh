#!/bin/bash
# Live password rotation for ProxySQL: when a user's or the monitor's password file changes (a projected Secret
# volume, PROXYSQL_CREDENTIALS_DIR, that the kubelet updates in place within about a minute of a Secret change),
# this updates ProxySQL's runtime through its admin interface, without a restart:
#   users:    UPDATE mysql_users SET password=... WHERE username=...; LOAD MYSQL USERS TO RUNTIME
#             (one row per user is both ProxySQL's frontend password, what clients log in with, and its backend one,
#             what it opens connections to the members with)
#   monitor:  UPDATE global_variables SET variable_value=... WHERE variable_name='mysql-monitor_password';
#             LOAD MYSQL VARIABLES TO RUNTIME
# Never SAVE ... TO DISK: ProxySQL starts with --initial from the file start.sh renders from these same files, so
# the disk holds nothing to keep, and a password there would sit on the node's disk.
#
# The order with MariaDB (README, "Day 2: rotating a database password"): a new password is applied here only once
# every ONLINE member accepts it (a real login from this container, as that user, to each member ProxySQL routes to).
# GaleraPetSet makes an account accept the new password AND the old one for passwordRotationGraceMinutes as soon as
# its own kubelet delivers the file, so the switch here never points ProxySQL's backend connections or its monitor
# at a password the members refuse (a refused monitor would take the members OFFLINE within seconds), and the old
# password still works on the members for the connections ProxySQL already holds. Until they accept it, ProxySQL
# keeps the password it has, and the change is checked again at every pass. ProxySQL has one password per user:
# once switched, a client still using the old one is refused by ProxySQL; hence the two accounts per service.
#
#   credentials.sh watch   every PROXYSQL_CREDENTIALS_INTERVAL_SECONDS (5): `apply`
#   credentials.sh apply   one pass: for each password file that differs from what this process last applied
#                          (the first pass compares with ProxySQL's tables, so a restart of this container changes
#                          nothing that is already in place), check it, wait for the members, apply it
#   credentials.sh live    the probes: exit 0 while the loop made progress within PROXYSQL_CREDENTIALS_STALE_SECONDS
#                          (60); every step of a pass (one file, one admin call) beats a heartbeat file, so only a
#                          client call that hangs (ProxySQL accepting but never answering) makes it fail
#
# No password reaches an argument, the environment or a log: SQL goes to the client on stdin (a pipe), passwords
# inside it as hex literals (no quoting or escaping to get wrong), and the client's own password in an option file
# on a pipe (--defaults-file=/dev/fd/N). This process keeps only the SHA-256 of what it applied.
#
# Environment: PROXYSQL_CREDENTIALS_DIR, PROXYSQL_USERS (space-separated `name:FILE`, FILE the password file's
# name in the directory), PROXYSQL_MONITOR_USER (the monitor's file is PROXYSQL_MONITOR_PASSWORD),
# PROXYSQL_ADMIN_PORT, PROXYSQL_ADMIN_USER, PROXYSQL_ADMIN_PASSWORD, PROXYSQL_BACKEND_CA (set when ProxySQL talks
# TLS to the members: the check logs in with TLS too), PROXYSQL_CREDENTIALS_ATTEMPTS (3: tries of each admin call
# per pass, PROXYSQL_CREDENTIALS_RETRY_SECONDS (1) apart).
set -uo pipefail
# bash 5.2 expands '&' in the replacement of ${var//pattern/replacement}; passwords are literal text.
shopt -u patsub_replacement 2>/dev/null || true

MONITOR_FILE=PROXYSQL_MONITOR_PASSWORD

log() { printf 'credentials.sh: %s\n' "$*" >&2; }

# A [client] option file for USER with PASSWORD ($1 $2), for --defaults-file: inside double quotes the client
# reads \\ and \" back as \ and " (checked with the mariadb 10.11 and 11.4 clients' option parser).
client_options() {
  local password=${2//\\/\\\\}
  printf '[client]\nuser=%s\npassword="%s"\n' "$1" "${password//\"/\\\"}"
}

# $1 as an SQL text literal made of hex digits: any byte goes through, nothing to escape.
sql_text() {
  local LC_ALL=C s=$1 i h out=''
  for ((i = 0; i < ${#s}; i++)); do
    printf -v h '%02X' "'${s:i:1}"
    out+=${h: -2}
  done
  printf "CAST(X'%s' AS TEXT)" "$out"
}

# Runs the SQL on stdin on the admin interface; prints the rows.
admin_sql() {
  mariadb --defaults-file=<(client_options "$PROXYSQL_ADMIN_USER" "$PROXYSQL_ADMIN_PASSWORD") --skip-ssl --protocol=tcp \
    -h 127.0.0.1 -P "$PROXYSQL_ADMIN_PORT" --connect-timeout=2 -N -B
}

# admin_sql with SQL $1, tried PROXYSQL_CREDENTIALS_ATTEMPTS times at most, PROXYSQL_CREDENTIALS_RETRY_SECONDS
# apart: the admin interface is local, so a failure is ProxySQL (re)starting or busy. Sets ADMIN_OUT (the rows) or
# ADMIN_ERROR (the client's last message, any hex literal in it blanked: a password travels as one).
admin_retry() {
  local sql=$1 attempt attempts=${PROXYSQL_CREDENTIALS_ATTEMPTS:-3} out
  ADMIN_OUT= ADMIN_ERROR=
  for ((attempt = 1; attempt <= attempts; attempt++)); do
    if out=$(printf '%s\n' "$sql" | admin_sql 2>&1); then
      ADMIN_OUT=$out
      return 0
    fi
    ((attempt < attempts)) && sleep "${PROXYSQL_CREDENTIALS_RETRY_SECONDS:-1}"
  done
  out=${out//$'\n'/ }
  while [[ $out =~ (X\'[0-9A-Fa-f]+\') ]]; do out=${out//"${BASH_REMATCH[1]}"/X\'...\'}; done
  ADMIN_ERROR=$out
  return 1
}

# Why ProxySQL cannot take password $2 of kind $1 (user|monitor), or nothing: the rules start.sh applies when it
# renders the file at the next start, so a password applied live also survives a restart.
password_problem() {
  local value=$2
  [[ -n $value ]] || { echo 'is empty'; return; }
  [[ $value != *[[:cntrl:]]* ]] || { echo 'contains a control character (newline, tab, ...)'; return; }
  case $1 in
    user) [[ $value != *\'* ]] || echo "contains a single quote ('), which ProxySQL's loader cannot take in a user password" ;;
    monitor) [[ $value != *\"* ]] || echo "contains a double quote (\"), which ProxySQL's loader cannot take in a variable" ;;
  esac
}

# Whether every member ProxySQL routes to (ONLINE in runtime_mysql_servers) accepts USER with PASSWORD ($1 $2):
# 0 yes; 1 no, with the reason in WHY (a member refused it or did not answer, or none is ONLINE); 2 the admin
# interface does not answer.
members_accept() {
  local user=$1 password=$2 host port out tls=(--skip-ssl) asked=0
  [[ -z ${PROXYSQL_BACKEND_CA:-} ]] || tls=(--ssl --ssl-ca="$PROXYSQL_BACKEND_CA" --ssl-verify-server-cert)
  admin_retry "SELECT DISTINCT hostname, port FROM runtime_mysql_servers WHERE status='ONLINE' ORDER BY hostname, port;" || return 2
  while IFS=$'\t' read -r host port; do
    [[ -n $host ]] || continue
    asked=$((asked + 1))
    if ! out=$(printf 'SELECT 1;\n' | mariadb --defaults-file=<(client_options "$user" "$password") "${tls[@]}" --protocol=tcp \
      -h "$host" -P "$port" --connect-timeout=2 -N -B 2>&1); then
      WHY="$host:$port: ${out//$'\n'/ }"
      return 1
    fi
  done <<<"$ADMIN_OUT"
  ((asked > 0)) || { WHY='no member is ONLINE in ProxySQL'; return 1; }
}

HEARTBEAT=${PROXYSQL_CREDENTIALS_HEARTBEAT:-/tmp/proxysql-credentials.heartbeat}
beat() { printf '%(%s)T\n' -1 >"$HEARTBEAT" 2>/dev/null || true; }

live() {
  local last now
  last=$(<"$HEARTBEAT") 2>/dev/null || { echo "no pass has started yet ($HEARTBEAT)"; return 1; }
  printf -v now '%(%s)T' -1
  [[ $last =~ ^[0-9]+$ ]] && ((now - last <= ${PROXYSQL_CREDENTIALS_STALE_SECONDS:-60})) && return 0
  echo "the credentials loop made no progress since ${last:-?} (now $now): a client call hangs"
  return 1
}

declare -A APPLIED=() NOTED=()
# Set when an update reached ProxySQL's tables but its LOAD ... TO RUNTIME failed: the tables then already hold the
# file's password, so the next pass must load them rather than take them for what runs.
PENDING_USERS= PENDING_MONITOR=
ADMIN_OUT= ADMIN_ERROR= WHY=

# Logs MESSAGE ($2) once for file $1 in state $3 (its hash and what happened), not at every pass.
note() {
  [[ ${NOTED[$1]:-} == "$3" ]] && return 0
  NOTED[$1]=$3
  log "$2"
}

apply() {
  : "${PROXYSQL_CREDENTIALS_DIR:?}"
  local -A user_of=() hash=()
  local entry file sums line name kind pending password problem sql sql_users='' sql_monitor='' changed_users=() monitor_changed=
  local files=("$MONITOR_FILE")
  beat
  user_of[$MONITOR_FILE]=${PROXYSQL_MONITOR_USER:?}
  local entries=()
  read -r -a entries <<<"${PROXYSQL_USERS:-}"
  for entry in "${entries[@]}"; do
    files+=("${entry#*:}")
    user_of[${entry#*:}]=${entry%%:*}
  done
  # One sha256sum for every file (paths as arguments, contents read by it): a missing file has no line.
  sums=$(cd "$PROXYSQL_CREDENTIALS_DIR" && sha256sum -- "${files[@]}" 2>/dev/null)
  while read -r line name; do
    [[ -n ${name:-} ]] && hash[$name]=$line
  done <<<"$sums"

  for file in "${files[@]}"; do
    beat
    name=${user_of[$file]}
    if [[ $file == "$MONITOR_FILE" ]]; then kind=monitor pending=$PENDING_MONITOR; else kind=user pending=$PENDING_USERS; fi
    if [[ -z ${hash[$file]:-} ]]; then
      note "$file" "$kind $name: no readable password file $PROXYSQL_CREDENTIALS_DIR/$file; ProxySQL keeps its current password" missing
      continue
    fi
    [[ ${APPLIED[$file]:-} != "${hash[$file]}" ]] || continue
    password=
    IFS= read -r -d '' password <"$PROXYSQL_CREDENTIALS_DIR/$file"
    problem=$(password_problem "$kind" "$password")
    if [[ -n $problem ]]; then
      note "$file" "$kind $name: the new password $problem; NOT applied, ProxySQL keeps its current password (fix the Secret)" "refused ${hash[$file]}"
      continue
    fi
    # Already in ProxySQL (the first pass after this container starts, or ProxySQL restarted with the new file).
    if [[ $kind == monitor ]]; then
      sql="SELECT COUNT(*) FROM global_variables WHERE variable_name='mysql-monitor_password' AND variable_value=$(sql_text "$password");"
    else
      sql="SELECT COUNT(*) FROM mysql_users WHERE username=$(sql_text "$name") AND password=$(sql_text "$password");"
    fi
    if ! admin_retry "$sql"; then
      # ProxySQL is (re)starting: the rest of the pass would wait the same way.
      note admin "the admin interface does not answer ($ADMIN_ERROR); the pass stops, the next one tries again" "$ADMIN_ERROR"
      return 0
    fi
    if [[ $ADMIN_OUT =~ ^[1-9] && -z $pending ]]; then
      APPLIED[$file]=${hash[$file]}
      NOTED[$file]=
      continue
    fi
    members_accept "$name" "$password"
    case $? in
      0) ;;
      1)
        note "$file" "$kind $name: changed, but the members do not accept the new password yet ($WHY); ProxySQL keeps the current one, checked again at every pass" "waiting ${hash[$file]}"
        continue ;;
      *)
        note admin "the admin interface does not answer ($ADMIN_ERROR); the pass stops, the next one tries again" "$ADMIN_ERROR"
        return 0 ;;
    esac
    NOTED[admin]=
    if [[ $kind == monitor ]]; then
      sql_monitor="UPDATE global_variables SET variable_value=$(sql_text "$password") WHERE variable_name='mysql-monitor_password';"$'\n'"LOAD MYSQL VARIABLES TO RUNTIME;"
      monitor_changed=${hash[$file]}
    else
      sql_users+="UPDATE mysql_users SET password=$(sql_text "$password") WHERE username=$(sql_text "$name");"$'\n'
      changed_users+=("$file")
    fi
  done
  password=

  beat
  # Users first, in one load: their backend connections and the monitor's are independent; each part is retried
  # on its own at the next pass if it fails here.
  if ((${#changed_users[@]} > 0)); then
    if admin_retry "${sql_users}LOAD MYSQL USERS TO RUNTIME;"; then
      PENDING_USERS=
      for file in "${changed_users[@]}"; do
        APPLIED[$file]=${hash[$file]}
        NOTED[$file]=
        log "user ${user_of[$file]}: new password loaded into ProxySQL's runtime (the members accept it; no restart)"
      done
    else
      PENDING_USERS=1
      log "users$(for file in "${changed_users[@]}"; do printf ' %s' "${user_of[$file]}"; done): the update failed ($ADMIN_ERROR); retried at the next pass"
    fi
  fi
  if [[ -n $monitor_changed ]]; then
    beat
    if admin_retry "$sql_monitor"; then
      PENDING_MONITOR=
      APPLIED[$MONITOR_FILE]=$monitor_changed
      NOTED[$MONITOR_FILE]=
      log "monitor ${user_of[$MONITOR_FILE]}: new password loaded into ProxySQL's runtime (the members accept it; no restart)"
    else
      PENDING_MONITOR=1
      log "monitor: the update failed ($ADMIN_ERROR); retried at the next pass"
    fi
  fi
  return 0
}

watch() {
  local interval=${PROXYSQL_CREDENTIALS_INTERVAL_SECONDS:-5}
  trap 'exit 0' TERM INT
  while :; do
    apply
    # sleep in the background so that SIGTERM is handled at once, not after the sleep.
    sleep "$interval" &
    wait $! || true
  done
}

# Sourced (the unit tests call `apply` several times in one process): functions only.
[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0

case ${1:-} in
  watch | apply | live) "$1" ;;
  *)
    echo "usage: $0 watch|apply|live" >&2
    exit 2
    ;;
esac
