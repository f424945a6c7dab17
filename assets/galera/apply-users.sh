#!/bin/bash
# Creates or updates the database users of a Galera cluster, idempotently.
#
#   apply-users.sh              apply to the local member (it must be Synced); run again at will
#   apply-users.sh --print-sql  print the SQL that creates every user from scratch (the entrypoint feeds it
#                               to `mariadbd --bootstrap` when it initializes a brand-new cluster)
#
# Users come from two places:
#  - built in, from the environment: the SST user (GALERA_SST_USER, default `mariabackup`, password
#    GALERA_SST_PASSWORD) that mariabackup on a donor logs in with, the monitor user (GALERA_MONITOR_USER,
#    default `monitor`, password GALERA_MONITOR_PASSWORD) that ProxySQL's Galera check logs in with, and
#    root@localhost (MARIADB_ROOT_PASSWORD), each only when its password variable is set;
#  - GALERA_USERS_FILE (default /etc/galera/users.tsv, rendered by lib/galera/users.ts; optional): one user
#    per line, tab-separated: name, host, password env var, max connections (0 = unlimited),
#    privileges (comma-separated), databases (comma-separated; `*` = every database, global privileges).
# Passwords are read from the environment (Secret refs), never from a file, and reach the server on stdin.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GALERA_USERS_FILE=${GALERA_USERS_FILE:-/etc/galera/users.tsv}

# A single-quoted SQL string literal. The session below clears sql_mode, so backslash is an escape.
sql_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\'/\'\'}
  printf "'%s'" "$s"
}

# A backquoted SQL identifier.
sql_identifier() {
  local s=$1
  printf '`%s`' "${s//\`/\`\`}"
}

# Every user as a spec line (built-in first).
user_specs() {
  local tab=$'\t'
  [[ -n ${GALERA_SST_PASSWORD:-} ]] &&
    printf '%s\n' "${GALERA_SST_USER:-mariabackup}${tab}localhost${tab}GALERA_SST_PASSWORD${tab}0${tab}RELOAD,PROCESS,LOCK TABLES,BINLOG MONITOR${tab}*"
  # PROCESS and BINLOG MONITOR (ex REPLICATION CLIENT) are what ProxySQL's and MaxScale's Galera monitors use.
  [[ -n ${GALERA_MONITOR_PASSWORD:-} ]] &&
    printf '%s\n' "${GALERA_MONITOR_USER:-monitor}${tab}%${tab}GALERA_MONITOR_PASSWORD${tab}0${tab}PROCESS,BINLOG MONITOR${tab}*"
  if [[ -r $GALERA_USERS_FILE ]]; then
    grep -v -e '^#' -e '^[[:space:]]*$' "$GALERA_USERS_FILE"
  fi
  return 0
}

# Checks one spec and sets NAME HOST PASSWORD MAXCONN PRIVS DATABASES. Prints the problems, returns 1 on any.
parse_spec() {
  local line=$1 password_env privileges databases extra problems=()
  IFS=$'\t' read -r NAME HOST password_env MAXCONN privileges databases extra <<<"$line"
  [[ $NAME =~ ^[A-Za-z0-9_.-]{1,80}$ ]] || problems+=("user name '$NAME' must match [A-Za-z0-9_.-]{1,80}")
  [[ $HOST =~ ^[A-Za-z0-9_.%:-]{1,255}$ ]] || problems+=("$NAME: host '$HOST' must match [A-Za-z0-9_.%:-]+")
  [[ $password_env =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || problems+=("$NAME: bad password variable '$password_env'")
  [[ $MAXCONN =~ ^[0-9]+$ ]] || problems+=("$NAME: max connections '$MAXCONN' is not a number")
  [[ $privileges =~ ^[A-Z]+( [A-Z]+)*(,[A-Z]+( [A-Z]+)*)*$ ]] ||
    problems+=("$NAME: privileges '$privileges' must be upper-case names separated by commas")
  [[ $databases =~ ^(\*|[A-Za-z0-9_$-]{1,64})(,[A-Za-z0-9_$-]{1,64})*$ ]] ||
    problems+=("$NAME: databases '$databases' must be names separated by commas, or *")
  [[ -z ${extra:-} ]] || problems+=("$NAME: too many fields")
  if [[ $password_env =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    PASSWORD=${!password_env-}
    [[ -n $PASSWORD ]] || problems+=("$NAME: environment variable $password_env (its password) is not set")
  fi
  PRIVS=${privileges//,/, }
  IFS=, read -r -a DATABASES <<<"$databases"
  if ((${#problems[@]} > 0)); then
    printf 'apply-users: %s\n' "${problems[@]}" >&2
    return 1
  fi
}

# Runs STATEMENT only when the SQL expression CONDITION is true (in live mode every DDL is replicated to the
# whole cluster by TOI, so a re-run skips what is already in place).
sql_when() {
  local condition=$1 statement=$2
  printf "SET @stmt=IF(%s, %s, 'DO 0'); PREPARE stmt FROM @stmt; EXECUTE stmt; DEALLOCATE PREPARE stmt;\n" \
    "$condition" "$(sql_string "$statement")"
}

# SQL for one parsed user. `fresh`: no server to compare with (bootstrap); `live`: change only what differs.
user_sql() {
  local mode=$1 account db target name host
  account="$(sql_string "$NAME")@$(sql_string "$HOST")"
  name=$(sql_string "$NAME") host=$(sql_string "$HOST")
  local create="CREATE USER IF NOT EXISTS $account IDENTIFIED BY $(sql_string "$PASSWORD") WITH MAX_USER_CONNECTIONS $MAXCONN"
  local alter="ALTER USER $account IDENTIFIED BY $(sql_string "$PASSWORD") WITH MAX_USER_CONNECTIONS $MAXCONN"
  if [[ $mode == fresh ]]; then
    printf '%s;\n' "$create"
  else
    sql_when "NOT EXISTS(SELECT 1 FROM mysql.user WHERE User=$name AND Host=$host)" "$create"
    # A password or limit change applies; an unchanged one is left alone.
    sql_when "NOT EXISTS(SELECT 1 FROM mysql.user WHERE User=$name AND Host=$host AND max_user_connections=$MAXCONN
  AND authentication_string=PASSWORD($(sql_string "$PASSWORD")))" "$alter"
  fi
  for db in "${DATABASES[@]}"; do
    if [[ $db == '*' ]]; then
      target='*.*'
    else
      target="$(sql_identifier "$db").*"
      if [[ $mode == fresh ]]; then
        printf 'CREATE DATABASE IF NOT EXISTS %s;\n' "$(sql_identifier "$db")"
      else
        sql_when "NOT EXISTS(SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=$(sql_string "$db"))" \
          "CREATE DATABASE $(sql_identifier "$db")"
      fi
    fi
    # GRANT only adds (a privilege removed from the list is not revoked) and is harmless to repeat.
    printf 'GRANT %s ON %s TO %s;\n' "$PRIVS" "$target" "$account"
  done
}

root_sql() {
  local mode=$1 alter
  [[ -n ${MARIADB_ROOT_PASSWORD:-} ]] || return 0
  # The OS root (unix_socket) or the password; root@localhost is reachable only from inside the pod.
  alter="ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD($(sql_string "$MARIADB_ROOT_PASSWORD"))"
  if [[ $mode == fresh ]]; then
    printf '%s;\n' "$alter"
  else
    sql_when "NOT EXISTS(SELECT 1 FROM mysql.global_priv WHERE User='root' AND Host='localhost'
  AND INSTR(Priv, PASSWORD($(sql_string "$MARIADB_ROOT_PASSWORD"))) > 0)" "$alter"
  fi
}

# All the SQL, or nothing and status 1 when any spec is bad (every problem is printed).
render_sql() {
  local mode=$1 line failed=0 out
  out="SET SESSION sql_mode='';"$'\n'
  if [[ $mode == fresh ]]; then
    # `mariadbd --bootstrap` starts without grant tables; loading them enables CREATE USER and GRANT.
    out+="FLUSH PRIVILEGES;"$'\n'
  else
    out+="SET SESSION wsrep_sync_wait=0;"$'\n'
  fi
  while IFS= read -r line; do
    if parse_spec "$line"; then
      out+=$(user_sql "$mode")$'\n'
    else
      failed=1
    fi
  done < <(user_specs)
  out+=$(root_sql "$mode")
  ((failed == 0)) || return 1
  printf '%s\n' "$out"
}

if [[ ${1:-} == --print-sql ]]; then
  render_sql fresh
  exit
fi

sql=$(render_sql live) || exit 2
printf '%s\n' "$sql" | galera_sql || {
  galera_log "applying users failed"
  exit 1
}
galera_log "users applied"
