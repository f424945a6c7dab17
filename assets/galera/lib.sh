# Shared by entrypoint.sh, probe.sh, apply-users.sh and notify.sh (sourced, not run). Bash, as in the official
# `mariadb` image; no tool beyond coreutils and the MariaDB client/server is assumed.
#
# Environment (the GaleraPetSet construct sets these on the mariadb container):
#   GALERA_RUN_DIR      memory-backed dir shared with the recovery agent   (default /run/galera)
#   GALERA_DATADIR      the member's data volume                            (default /var/lib/mysql)
#   GALERA_CONFIG_FILE  the static server config (ConfigMap)                (default /etc/galera/server.cnf)

GALERA_RUN_DIR=${GALERA_RUN_DIR:-/run/galera}
GALERA_DATADIR=${GALERA_DATADIR:-/var/lib/mysql}
GALERA_CONFIG_FILE=${GALERA_CONFIG_FILE:-/etc/galera/server.cnf}

# Files of the contract with the recovery agent (see lib/galera/agent/README.md).
GALERA_STATE_FILE=$GALERA_RUN_DIR/state.json
GALERA_WSREP_FILE=$GALERA_RUN_DIR/wsrep.json
GALERA_DECISION_FILE=$GALERA_RUN_DIR/decision.json
GALERA_RESTART_FILE=$GALERA_RUN_DIR/restart-request
GALERA_WRITER_CLAIM_FILE=$GALERA_RUN_DIR/writer-claim
GALERA_VIEW_FILE=$GALERA_RUN_DIR/view.json
# What the entrypoint is doing now; the liveness probe spares every phase but `running`.
GALERA_PHASE_FILE=$GALERA_RUN_DIR/phase
# Present while this member's system tables are older than its server (after a version change): not Ready until
# mariadb-upgrade has run, so a rolling upgrade moves on only once the member is upgraded.
GALERA_UPGRADE_PENDING_FILE=$GALERA_RUN_DIR/upgrade-pending
# On the data volume: which clusters' data it ever held (entrypoint.sh explains the name).
GALERA_IDENTITY_FILE=$GALERA_DATADIR/galera-identity.sst
# Generated at start: mariadbd's defaults file and the client's (the socket lives in the run dir).
GALERA_MY_CNF=$GALERA_RUN_DIR/my.cnf
GALERA_CLIENT_CNF=$GALERA_RUN_DIR/client.cnf
GALERA_SOCKET=$GALERA_RUN_DIR/mysqld.sock

galera_log() {
  printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "${0##*/}" "$*" >&2
}

# Replaces FILE with CONTENT so a reader never sees half of it (rename is atomic within a directory).
# MODE defaults to 640: the agent sidecar reads through the pod's shared group (fsGroup).
galera_write_atomic() {
  local file=$1 content=$2 mode=${3:-640} tmp
  tmp=$(mktemp "${file}.XXXXXX") || return 1
  printf '%s\n' "$content" >"$tmp" && chmod "$mode" "$tmp" && mv -f "$tmp" "$file"
}

# A JSON string literal (quotes included) for any text.
galera_json_string() {
  local s=$1 out='' c i
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  if [[ $s == *[[:cntrl:]]* ]]; then
    for ((i = 0; i < ${#s}; i++)); do
      c=${s:i:1}
      [[ $c == [[:cntrl:]] ]] && printf -v c '\\u%04x' "'$c"
      out+=$c
    done
    s=$out
  fi
  printf '"%s"' "$s"
}

# Runs the client as the unix_socket-authenticated `mysql` account (created by mariadb-install-db for the
# OS user mariadbd runs as), so neither probes nor the entrypoint need a password. Extra args are passed on.
galera_sql() {
  mariadb --defaults-file="$GALERA_CLIENT_CNF" --connect-timeout=2 -N -B "$@"
}

# The built-in accounts' and the users' passwords (apply-users.sh; the entrypoint's wsrep_sst_auth; the backup
# sidecar's token). Whether the password of variable VAR is given: its file in GALERA_CREDENTIALS_DIR, or the variable.
galera_has_password() {
  [[ -f ${GALERA_CREDENTIALS_DIR:-/nonexistent}/$1 || -n ${!1:-} ]]
}

# Sets PASSWORD to the password of variable VAR: its file in GALERA_CREDENTIALS_DIR, byte for byte (a trailing
# newline is part of the Secret's value, as it is in an env var from secretKeyRef), or else the variable. Returns 1
# with the problem in READ_PROBLEM when it is empty or unset.
galera_read_password() {
  local var=$1 file=${GALERA_CREDENTIALS_DIR:-/nonexistent}/$1
  PASSWORD='' READ_PROBLEM=''
  if [[ -f $file ]]; then
    IFS= read -r -d '' PASSWORD <"$file" || true
    [[ -n $PASSWORD ]] || READ_PROBLEM="its password file $file is empty"
  else
    PASSWORD=${!var-}
    [[ -n $PASSWORD ]] || READ_PROBLEM="environment variable $var (its password) is not set"
  fi
  [[ -z $READ_PROBLEM ]]
}

# The writer row (lib/galera/agent/writer.ts says why), and the query that reads it as one more status field
# (`galera_writer<TAB>member`) after galera_wsrep_status's: it fails, and is left out, outside a Primary component
# or before the row exists.
GALERA_WRITER_TABLE=galera_ha.writer
GALERA_WRITER_STATUS_SQL="SELECT 'galera_writer', member FROM $GALERA_WRITER_TABLE WHERE id = 1;"

# Prints `name<TAB>value` lines: every wsrep status value, plus the variables the readiness rule needs. SHOW
# is answered even when the member is not in a Primary component (a SELECT from information_schema is not),
# and wsrep_sync_wait=0 keeps the query from waiting for the cluster. An extra statement (optional, last, so that
# its failure outside a Primary component loses nothing before it) adds its own `name<TAB>value` lines.
galera_wsrep_status() {
  galera_sql -e "SET SESSION wsrep_sync_wait=0; SHOW GLOBAL STATUS LIKE 'wsrep%';
SHOW GLOBAL VARIABLES WHERE Variable_name IN ('wsrep_desync','wsrep_reject_queries','wsrep_sst_donor_rejects_queries');${1:-}" \
    2>/dev/null
}

# A pod name (DNS-1123 label): the only member name the writer SQL (entrypoint.sh) interpolates and the only one
# notify.sh writes to view.json.
is_member_name() {
  [[ $1 =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]]
}

# Reads galera_wsrep_status output (stdin) into the associative array WSREP (must be declared by the caller).
galera_read_status() {
  local name value
  while IFS=$'\t' read -r name value; do
    WSREP[$name]=$value
  done
}

# The readiness rule (also what ProxySQL's Galera monitor requires of a member that gets traffic).
galera_status_is_synced() {
  [[ ${WSREP[wsrep_ready]:-} == ON && ${WSREP[wsrep_connected]:-} == ON &&
    ${WSREP[wsrep_cluster_status]:-} == Primary && ${WSREP[wsrep_local_state]:-} == 4 &&
    ${WSREP[wsrep_desync]:-} == OFF && ${WSREP[wsrep_reject_queries]:-} == NONE ]]
}
