#!/bin/bash
# Creates or updates the database users of a Galera cluster, idempotently.
#
#   apply-users.sh              apply to the local member (it must be Synced); run again at will
#   apply-users.sh --print-sql  print the SQL that creates every user from scratch (the entrypoint feeds it
#                               to `mariadbd --bootstrap` when it initializes a brand-new cluster)
#   apply-users.sh --finish-rotations
#                               only end the password rotations whose grace is over (no CREATE, no GRANT: a run
#                               with nothing due replicates nothing; the entrypoint runs it every minute)
#
# Users come from two places:
#  - built in: the SST user (GALERA_SST_USER, default `mariabackup`, password GALERA_SST_PASSWORD) that mariabackup
#    on a donor logs in with, the monitor user (GALERA_MONITOR_USER, default `monitor`, password
#    GALERA_MONITOR_PASSWORD) that ProxySQL's Galera check and the mysqld-exporter log in with, and root@localhost
#    (MARIADB_ROOT_PASSWORD), each only when its password is given: as the file of that name in
#    GALERA_CREDENTIALS_DIR (what the pod mounts, so that every one of them rotates live like the users' passwords)
#    or as the variable (a run outside the pod: tests, an operator's shell);
#  - GALERA_USERS_FILE (default /etc/galera/users.tsv, rendered by lib/galera/users.ts; optional): one user
#    per line, tab-separated: name, host, password env var, max connections (0 = unlimited),
#    privileges (comma-separated), databases (comma-separated; `*` = every database, global privileges), and an
#    optional seventh field `SSL`: the account logs in over TLS only (REQUIRE SSL; without it, REQUIRE NONE).
# Passwords come from GALERA_CREDENTIALS_DIR/<password env var name> (a Secret volume, so a changed Secret reaches
# a running pod) or, when that file does not exist, from the environment variable itself; never from the users
# file; they reach the server on stdin.
#
# The SST password has a second consumer: this member's mariadbd, as wsrep_sst_auth (the entrypoint renders it at
# every start). A donor's SST script logs in to its own member with it (the joiner's side never uses it), so a live
# run ends with `SET GLOBAL wsrep_sst_auth` (dynamic; an SST already running keeps the login it made): only after
# the account on this member accepts that password, so a donor never offers one its account refuses. Root has no
# automated consumer (everything logs in by the unix socket): its rotation keeps unix_socket first.
#
# Password rotation without a failed login: when a user's password changes, the account accepts the new password
# AND the one it had (kept by its hash: MariaDB's `IDENTIFIED VIA a OR b`, checked with the mariadb client and
# PyMySQL, oslo.db's driver) for GALERA_PASSWORD_ROTATION_GRACE_SECONDS (default 3600), so clients still configured
# with the old one log in until they are rolled; a later run (the entrypoint's minute check, or any run) drops the
# old one once the grace is over, counted from the account's password_last_changed. Every member may run this at
# any time: each statement is conditional on the state it finds (Galera replicates the accounts), so the member
# that comes second does nothing, and a member still holding the old file (the kubelet updates Secret volumes
# within about a minute, one node at a time) swaps the two back, both still accepted, until its file changes too.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GALERA_USERS_FILE=${GALERA_USERS_FILE:-/etc/galera/users.tsv}
ROTATION_GRACE_SECONDS=${GALERA_PASSWORD_ROTATION_GRACE_SECONDS:-3600}
[[ $ROTATION_GRACE_SECONDS =~ ^[0-9]{1,7}$ ]] || {
  galera_log "GALERA_PASSWORD_ROTATION_GRACE_SECONDS='$ROTATION_GRACE_SECONDS' is not a number of seconds"
  exit 2
}

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
  galera_has_password GALERA_SST_PASSWORD &&
    printf '%s\n' "${GALERA_SST_USER:-mariabackup}${tab}localhost${tab}GALERA_SST_PASSWORD${tab}0${tab}RELOAD,PROCESS,LOCK TABLES,BINLOG MONITOR${tab}*"
  # PROCESS and BINLOG MONITOR (ex REPLICATION CLIENT) are what ProxySQL's and MaxScale's Galera monitors use.
  galera_has_password GALERA_MONITOR_PASSWORD &&
    printf '%s\n' "${GALERA_MONITOR_USER:-monitor}${tab}%${tab}GALERA_MONITOR_PASSWORD${tab}0${tab}PROCESS,BINLOG MONITOR${tab}*"
  if [[ -r $GALERA_USERS_FILE ]]; then
    grep -v -e '^#' -e '^[[:space:]]*$' "$GALERA_USERS_FILE"
  fi
  return 0
}

# Checks one spec and sets NAME HOST PASSWORD MAXCONN PRIVS PRIVILEGE_LIST DATABASES REQUIRE. Prints the problems,
# returns 1 on any.
parse_spec() {
  local line=$1 password_env privileges databases tls extra problems=()
  IFS=$'\t' read -r NAME HOST password_env MAXCONN privileges databases tls extra <<<"$line"
  [[ $NAME =~ ^[A-Za-z0-9_.-]{1,80}$ ]] || problems+=("user name '$NAME' must match [A-Za-z0-9_.-]{1,80}")
  [[ $HOST =~ ^[A-Za-z0-9_.%:-]{1,255}$ ]] || problems+=("$NAME: host '$HOST' must match [A-Za-z0-9_.%:-]+")
  [[ $password_env =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || problems+=("$NAME: bad password variable '$password_env'")
  [[ $MAXCONN =~ ^[0-9]+$ ]] || problems+=("$NAME: max connections '$MAXCONN' is not a number")
  [[ $privileges =~ ^[A-Z]+( [A-Z]+)*(,[A-Z]+( [A-Z]+)*)*$ ]] ||
    problems+=("$NAME: privileges '$privileges' must be upper-case names separated by commas")
  [[ $databases =~ ^(\*|[A-Za-z0-9_$-]{1,64})(,[A-Za-z0-9_$-]{1,64})*$ ]] ||
    problems+=("$NAME: databases '$databases' must be names separated by commas, or *")
  [[ -z ${tls:-} || $tls == SSL ]] || problems+=("$NAME: the seventh field '$tls' must be SSL or absent")
  REQUIRE=${tls:-NONE}
  [[ -z ${extra:-} ]] || problems+=("$NAME: too many fields")
  if [[ $password_env =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    galera_read_password "$password_env" || problems+=("$NAME: $READ_PROBLEM")
  fi
  PRIVS=${privileges//,/, }
  IFS=, read -r -a PRIVILEGE_LIST <<<"$privileges"
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

# The rotation's start: the account exists and the password given is not its first password. The new password
# becomes the first password and the one in place is kept after it, by its hash (the plaintext is gone), when it is a
# mysql_native_password hash; any other method is replaced outright (SET_SQL). PREFIX: methods kept before the
# passwords (root's `unix_socket OR `). A built statement, because the hash is read from the server: QUOTE() makes it a
# literal. MariaDB keeps an account's first mysql_native_password method at the top of mysql.global_priv's Priv
# (`authentication_string`) and the others in `auth_or`.
rotation_start_sql() {
  local account=$1 name=$2 host=$3 password=$4 set_sql=$5 prefix=${6:-} where
  where="User=$name AND Host=$host"
  printf "SET @ha_old=(SELECT IF(JSON_VALUE(Priv, '\$.plugin')='mysql_native_password', JSON_VALUE(Priv, '\$.authentication_string'), '') FROM mysql.global_priv WHERE %s);\n" "$where"
  printf "SET @stmt=IF(@ha_old IS NULL OR @ha_old=PASSWORD(%s), 'DO 0', IF(@ha_old RLIKE '^[*][0-9A-F]{40}\$', CONCAT(%s, QUOTE(@ha_old)), %s)); PREPARE stmt FROM @stmt; EXECUTE stmt; DEALLOCATE PREPARE stmt;\n" \
    "$password" \
    "$(sql_string "ALTER USER $account IDENTIFIED VIA ${prefix}mysql_native_password USING PASSWORD($password) OR mysql_native_password USING ")" \
    "$(sql_string "$set_sql")"
}

# The rotation's end: the new password is the first one, a kept old one follows it (Priv's auth_or[OLD_INDEX]: 1, or
# 2 after root's unix_socket), and the grace is over, counted from password_last_changed: SET_SQL drops the old one.
# Strictly later: password_last_changed and UNIX_TIMESTAMP() are whole seconds, so `+ grace <=` would end a rotation
# made at 10.9 s at 100.0 s, 89.1 s into a 90 s grace (a CI run saw the old password refused after 89.6 s); `<`
# keeps the old one for the grace at least, and under one second more.
rotation_end_sql() {
  local name=$1 host=$2 password=$3 set_sql=$4 old_index=$5
  sql_when "EXISTS(SELECT 1 FROM mysql.global_priv WHERE User=$name AND Host=$host
  AND JSON_VALUE(Priv, '\$.authentication_string')=PASSWORD($password) AND JSON_EXISTS(Priv, '\$.auth_or[$old_index]')
  AND CAST(JSON_VALUE(Priv, '\$.password_last_changed') AS UNSIGNED) + $ROTATION_GRACE_SECONDS < UNIX_TIMESTAMP())" "$set_sql"
}

# SQL for one parsed user. `fresh`: no server to compare with (bootstrap); `live`: change only what differs.
user_sql() {
  local mode=$1 account db target name host
  account="$(sql_string "$NAME")@$(sql_string "$HOST")"
  name=$(sql_string "$NAME") host=$(sql_string "$HOST")
  local password create
  password=$(sql_string "$PASSWORD")
  # REQUIRE NONE is CREATE USER's default: only SSL is spelled out.
  local require=''
  [[ $REQUIRE == SSL ]] && require=' REQUIRE SSL'
  create="CREATE USER IF NOT EXISTS $account IDENTIFIED BY $password$require WITH MAX_USER_CONNECTIONS $MAXCONN"
  if [[ $mode == fresh ]]; then
    printf '%s;\n' "$create"
  elif [[ $mode == live ]]; then
    sql_when "NOT EXISTS(SELECT 1 FROM mysql.global_priv WHERE User=$name AND Host=$host)" "$create"
    rotation_start_sql "$account" "$name" "$host" "$password" "ALTER USER $account IDENTIFIED BY $password"
    sql_when "EXISTS(SELECT 1 FROM mysql.user WHERE User=$name AND Host=$host AND max_user_connections<>$MAXCONN)" \
      "ALTER USER $account WITH MAX_USER_CONNECTIONS $MAXCONN"
    # mysql.user shows REQUIRE SSL as ssl_type ANY and REQUIRE NONE as ''; X509 or a cipher set by hand is replaced.
    sql_when "EXISTS(SELECT 1 FROM mysql.user WHERE User=$name AND Host=$host AND ssl_type<>'$([[ $REQUIRE == SSL ]] && echo ANY)')" \
      "ALTER USER $account REQUIRE $REQUIRE"
  fi
  # The rotation's end (live and finish modes).
  [[ $mode == fresh ]] || rotation_end_sql "$name" "$host" "$password" "ALTER USER $account IDENTIFIED BY $password" 1
  [[ $mode != finish ]] || return 0
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
    # GRANT only adds (a privilege removed from the list is not revoked).
    if [[ $mode == live ]]; then
      sql_when "$(privilege_missing_sql "$db")" "GRANT $PRIVS ON $target TO $account"
    else
      printf 'GRANT %s ON %s TO %s;\n' "$PRIVS" "$target" "$account"
    fi
  done
}

# An SQL condition: the account (NAME, HOST) lacks a privilege of PRIVILEGE_LIST on DB (`*`: global). A GRANT is
# harmless to repeat, but live it is a TOI statement that every member of the cluster applies in turn, and while a
# member applies one, Galera marks its state unsafe (grastate.dat's zero UUID): killed in that moment, it rejoins by
# a full SST (README, "After a power failure", item 3). Run at every start of every member, unconditional GRANTs
# made those moments routine. information_schema lists what an account holds under the names GRANT takes (SELECT,
# LOCK TABLES, BINLOG MONITOR...), so a run with nothing missing grants nothing. A name the server reports under
# another one (REPLICATION CLIENT, now BINLOG MONITOR) never counts as held: that GRANT runs every time, as before.
# ALL PRIVILEGES on a database: as many as mysql.db has privilege columns (GRANT OPTION aside; 19 in 10.11).
# ALL PRIVILEGES globally has no such count (the newer global privileges are no columns): always granted.
privilege_missing_sql() {
  local db=$1 privilege names='' held
  # What the account holds on the target, one row per privilege.
  held="BINARY GRANTEE=$(sql_string "'$NAME'@'$HOST'")"
  if [[ $db == '*' ]]; then
    held="information_schema.USER_PRIVILEGES WHERE $held"
  else
    held="information_schema.SCHEMA_PRIVILEGES WHERE $held AND BINARY TABLE_SCHEMA=$(sql_string "$db")"
  fi
  if [[ ${PRIVILEGE_LIST[*]} == 'ALL PRIVILEGES' || ${PRIVILEGE_LIST[*]} == ALL ]]; then
    if [[ $db == '*' ]]; then
      printf 'TRUE'
    else
      printf "(SELECT COUNT(*) FROM %s)<(SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='mysql' AND TABLE_NAME='db' AND RIGHT(COLUMN_NAME, 5)='_priv' AND COLUMN_NAME<>'Grant_priv')" "$held"
    fi
    return
  fi
  for privilege in "${PRIVILEGE_LIST[@]}"; do
    names+=${names:+,}$(sql_string "$privilege")
  done
  printf '(SELECT COUNT(DISTINCT PRIVILEGE_TYPE) FROM %s AND PRIVILEGE_TYPE IN (%s))<%d' "$held" "$names" "${#PRIVILEGE_LIST[@]}"
}

# root@localhost: the OS root (unix_socket, first) or the password; reachable only from inside the pod. A changed
# password rotates like a user's (both accepted for the grace), unix_socket kept first throughout.
root_sql() {
  local mode=$1 set_sql password
  galera_has_password MARIADB_ROOT_PASSWORD || return 0
  galera_read_password MARIADB_ROOT_PASSWORD || {
    printf 'apply-users: root: %s\n' "$READ_PROBLEM" >&2
    return 1
  }
  password=$(sql_string "$PASSWORD")
  set_sql="ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD($password)"
  if [[ $mode == fresh ]]; then
    printf '%s;\n' "$set_sql"
    return 0
  fi
  [[ $mode == finish ]] || rotation_start_sql root@localhost "'root'" "'localhost'" "$password" "$set_sql" 'unix_socket OR '
  rotation_end_sql "'root'" "'localhost'" "$password" "$set_sql" 2
}

# This member's wsrep_sst_auth, once the SST account accepts the password of the file (the statements before it in
# the same session did that; the client stops at the first error, so a failed run never gets here).
sst_auth_sql() {
  galera_has_password GALERA_SST_PASSWORD && galera_read_password GALERA_SST_PASSWORD || return 0
  printf 'SET GLOBAL wsrep_sst_auth=%s;\n' "$(sql_string "${GALERA_SST_USER:-mariabackup}:$PASSWORD")"
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
  local root
  root=$(root_sql "$mode") || failed=1
  out+=$root
  [[ $mode != live ]] || out+=$'\n'$(sst_auth_sql)
  ((failed == 0)) || return 1
  printf '%s\n' "$out"
}

if [[ ${1:-} == --print-sql ]]; then
  render_sql fresh
  exit
fi

if [[ ${1:-} == --finish-rotations ]]; then
  sql=$(render_sql finish) || exit 2
  printf '%s\n' "$sql" | galera_sql || {
    galera_log "finishing password rotations failed"
    exit 1
  }
  exit 0
fi

sql=$(render_sql live) || exit 2
printf '%s\n' "$sql" | galera_sql || {
  galera_log "applying users failed"
  exit 1
}
galera_log "users applied"
