#!/bin/bash
# The member's backup sidecar: socat runs this once per connection from the backup job (stdin and stdout are
# the connection). It runs beside mariadbd in the member's pod, with the member's data volume and run dir, so
# mariadb-backup reads the data files in place and talks to mariadbd over its socket as the unix_socket `mysql`
# account (no password crosses the network). One request line, `TOKEN COMMAND [ID]`:
#
#   status        one line: `wsrep_local_state wsrep_cluster_status wsrep_desync writer` (`4 Primary OFF galera-0`
#                 when Synced; the writer is the member the replicated writer row names, `-` when unreadable)
#   backup ID     the physical backup, streamed: mariadb-backup --galera-info --stream=mbstream, gzip -1. Refused
#                 unless the member is Synced (never a donor or joiner) and no other backup runs here. First a
#                 sentinel row (galera_backup.sentinel, id ID) is committed, for the restore drill. The member
#                 is desynced for the copy (so its I/O never makes Galera's flow control pause the writer) and
#                 resynced whatever happens (exit, signal, a dropped connection).
#   result ID     the outcome of backup ID as JSON: ok or failed, the sha256 of the bytes sent, the error, and
#                 (binary log archiving on) binlog_seq: the cluster domain's last sequence number in this member's
#                 binary log when the copy began, so the backup holds every transaction up to it (archive retention)
#   binlogs       the binary logs for the archiver (archive.sh). First, when the newest file holds transactions of
#                 the cluster's GTID domain, it is closed (FLUSH LOCAL BINARY LOGS, this member only): the archiver
#                 only ever ships closed files, which never change. Then one line per file, oldest first:
#                 `file bytes start` (start: the cluster domain's last sequence number before the file, 0 for
#                 none, - when unknown), and last `current file`. Refused unless the member is Synced.
#   binlog FILE   the closed binary log FILE, as it is on disk.
#
# The token is this pod's BACKUP_TOKEN_FILE (common.sh), or any password the SST account (GALERA_SST_USER) accepts,
# tried over the socket: the token is the SST password, so during its rotation's grace the old one and the new one
# both pass, whichever the job's node and this one have (the kubelets update the two files at different moments).
#
# Environment: lib.sh's (GALERA_RUN_DIR, GALERA_DATADIR), GALERA_SCRIPTS_DIR (where lib.sh is), BACKUP_TOKEN_FILE
# (or BACKUP_TOKEN), GALERA_SST_USER,
# BINLOG_GTID_DOMAIN (the cluster's GTID domain; unset when binary log archiving is off).
set -uo pipefail
. "${GALERA_SCRIPTS_DIR:-/opt/galera}/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

RESULT_FILE=$GALERA_RUN_DIR/backup-result.json
LOCK_FILE=$GALERA_RUN_DIR/backup.lock
WORK_DIR=${BACKUP_WORK_DIR:-/tmp}

refuse() {
  echo "refused: $*"
  galera_log "refused: $*"
  exit 1
}

status() {
  declare -A WSREP=()
  galera_read_status < <(galera_wsrep_status "$GALERA_WRITER_STATUS_SQL")
  echo "${WSREP[wsrep_local_state]:-?} ${WSREP[wsrep_cluster_status]:-?} ${WSREP[wsrep_desync]:-?} ${WSREP[galera_writer]:--}"
}

binlogs() {
  local files name bytes current start now
  [[ ${BINLOG_GTID_DOMAIN:-} =~ ^[0-9]+$ ]] || refuse "binary log archiving is off on $POD_NAME (no BINLOG_GTID_DOMAIN)"
  declare -A WSREP=()
  galera_read_status < <(galera_wsrep_status)
  galera_status_is_synced || refuse "$POD_NAME is not Synced (state ${WSREP[wsrep_local_state]:-?}, ${WSREP[wsrep_cluster_status]:-?})"
  files=$(galera_sql -e 'SHOW BINARY LOGS' 2>/dev/null) || refuse "no binary logs on $POD_NAME (log_bin off?)"
  current=$(tail -n 1 <<<"$files" | cut -f1)
  start=$(galera_sql -e "SELECT BINLOG_GTID_POS('$current', 4)" 2>/dev/null)
  # wsrep_sync_wait: first apply every write-set the cluster committed before this request, so that the files
  # closed below hold all of them (the archiver's covered_until is the time of its request). The SELECT reads a
  # table: the causal wait is tied to a read of tables, and a SELECT of a variable alone is not promised to wait.
  now=$(galera_sql -e 'SET SESSION wsrep_sync_wait=1; SELECT @@gtid_binlog_pos FROM mysql.global_priv LIMIT 1' 2>/dev/null) ||
    refuse "$POD_NAME did not catch up with the cluster"
  # wsrep off for this session: the flush concerns this member's files only, never the cluster's.
  if (($(domain_seq "$now" "$BINLOG_GTID_DOMAIN") > $(domain_seq "$start" "$BINLOG_GTID_DOMAIN"))); then
    galera_sql -e 'SET SESSION wsrep_on=OFF; SET SESSION sql_log_bin=0; FLUSH LOCAL BINARY LOGS' ||
      refuse "could not close $current on $POD_NAME"
    files=$(galera_sql -e 'SHOW BINARY LOGS') || refuse "no binary logs on $POD_NAME"
    current=$(tail -n 1 <<<"$files" | cut -f1)
  fi
  while IFS=$'\t' read -r name bytes _; do
    start=$(galera_sql -e "SELECT BINLOG_GTID_POS('$name', 4)" 2>/dev/null)
    # NULL: the server does not know the state at the file's start (e.g. the file was written before a restart).
    if [[ $start == NULL ]]; then start=-; else start=$(domain_seq "$start" "$BINLOG_GTID_DOMAIN"); fi
    echo "$name $bytes $start"
  done <<<"$files"
  echo "current $current"
}

binlog() {
  local file=$1 list
  [[ $file =~ ^[A-Za-z0-9._-]+\.[0-9]{6,}$ ]] || refuse "'$file' is not a binary log name"
  list=$(galera_sql -e 'SHOW BINARY LOGS' 2>/dev/null | cut -f1)
  grep -qxF "$file" <<<"$list" || refuse "$file is not a binary log of $POD_NAME"
  [[ $file != "$(tail -n 1 <<<"$list")" ]] || refuse "$file is still being written"
  cat "$GALERA_DATADIR/$file"
}

write_result() {
  galera_write_atomic "$RESULT_FILE" "{\"id\": \"$1\", \"state\": \"$2\", \"sha256\": \"$3\", \"error\": $(galera_json_string "$4")${BINLOG_SEQ:+, \"binlog_seq\": $BINLOG_SEQ}}" 644
}

resync() {
  galera_sql -e 'SET GLOBAL wsrep_desync=OFF' || galera_log "could not set wsrep_desync=OFF: the readiness probe reports it"
}

# Globals: the EXIT trap needs WORK after backup() returned; write_result reports BINLOG_SEQ once it is read.
WORK=
BINLOG_SEQ=
backup() {
  local id=$1 sha_file log rc
  [[ $id =~ ^[0-9]{8}T[0-9]{6}Z$ ]] || refuse "backup id '$id' is not YYYYMMDDTHHMMSSZ"
  exec 9>"$LOCK_FILE"
  flock -n 9 || refuse "another backup runs on $POD_NAME"
  declare -A WSREP=()
  galera_read_status < <(galera_wsrep_status)
  galera_status_is_synced || refuse "$POD_NAME is not Synced (state ${WSREP[wsrep_local_state]:-?}, ${WSREP[wsrep_cluster_status]:-?}, desync ${WSREP[wsrep_desync]:-?})"
  WORK=$(mktemp -d "$WORK_DIR/backup.XXXXXX") || refuse "no room for a work dir in $WORK_DIR"
  sha_file=$WORK/sha256
  log=$WORK/mariadb-backup.log
  write_result "$id" running '' ''
  trap 'resync; rm -rf "$WORK"' EXIT
  trap 'exit 143' TERM INT HUP PIPE
  # The sentinel the restore drill looks for: committed cluster-wide (one small row) before the copy starts.
  galera_sql -e "CREATE DATABASE IF NOT EXISTS galera_backup;
CREATE TABLE IF NOT EXISTS galera_backup.sentinel (id CHAR(16) PRIMARY KEY, source VARCHAR(64), taken_at DATETIME) ENGINE=InnoDB;
DELETE FROM galera_backup.sentinel WHERE taken_at < NOW() - INTERVAL 400 DAY;
INSERT INTO galera_backup.sentinel VALUES ('$id', '$POD_NAME', UTC_TIMESTAMP())" || refuse "could not write the sentinel row on $POD_NAME"
  # Where this member's binary log stands (the sentinel included): the copy holds at least this much, so archived
  # files ending at or before it are never needed with this backup. Read before the copy: a lower bound.
  if [[ ${BINLOG_GTID_DOMAIN:-} =~ ^[0-9]+$ ]]; then
    BINLOG_SEQ=$(domain_seq "$(galera_sql -e 'SELECT @@gtid_binlog_pos' 2>/dev/null)" "$BINLOG_GTID_DOMAIN")
  fi
  galera_sql -e 'SET GLOBAL wsrep_desync=ON' || refuse "could not desync $POD_NAME"
  galera_log "backup $id: streaming from $POD_NAME (desynced)"
  mariadb-backup --defaults-file="$GALERA_MY_CNF" --backup --galera-info --user=mysql --socket="$GALERA_SOCKET" \
    --datadir="$GALERA_DATADIR" --target-dir="$WORK/target" --tmpdir="$WORK" --stream=mbstream 2>"$log" |
    gzip -1 | tee >(sha256sum | cut -d' ' -f1 >"$sha_file")
  rc=("${PIPESTATUS[@]}")
  # sha256sum (a process substitution) may still be writing its line: wait for it, bounded.
  for _ in $(seq 100); do [[ -s $sha_file ]] && break; sleep 0.1; done
  if [[ ${rc[*]} == "0 0 0" ]] && grep -q 'completed OK!' "$log"; then
    write_result "$id" ok "$(<"$sha_file")" ''
    galera_log "backup $id: completed ($(<"$sha_file"))"
  else
    write_result "$id" failed '' "exit ${rc[*]}: $(tail -n 3 "$log" | tr '\n' ' ')"
    galera_log "backup $id: failed (exit ${rc[*]}): $(tail -n 3 "$log")"
    return 1
  fi
}

result() {
  if [[ -r $RESULT_FILE ]] && grep -qF "\"id\": \"$1\"" "$RESULT_FILE"; then cat "$RESULT_FILE"; else echo "{\"id\": \"$1\", \"state\": \"unknown\"}"; fi
}

# Whether TOKEN (the request's) is this pod's token, or a password the SST account accepts. The password reaches the
# client by MYSQL_PWD (as wsrep_sst_mariabackup hands it to mariabackup), never by argv.
token_valid() {
  local TOKEN
  [[ -n $1 ]] || return 1
  read_token
  [[ -n $TOKEN && $1 == "$TOKEN" ]] && return 0
  [[ -n ${GALERA_SST_USER:-} && -S $GALERA_SOCKET ]] || return 1
  MYSQL_PWD=$1 timeout 10 mariadb --no-defaults --socket="$GALERA_SOCKET" --user="$GALERA_SST_USER" --connect-timeout=2 \
    -N -B -e 'SELECT 1' </dev/null >/dev/null 2>&1
}

read -r -t 10 token command id || refuse "no request"
token_valid "$token" || { sleep 1; refuse "bad token"; }
case $command in
  status) status ;;
  backup) backup "${id:-}" ;;
  result) result "${id:-}" ;;
  binlogs) binlogs ;;
  binlog) binlog "${id:-}" ;;
  *) refuse "unknown command '$command'" ;;
esac
