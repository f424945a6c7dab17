#!/bin/bash
# The restore drill's command: proves that the latest backup restores. It restores it (restore.sh: fetch, sha256
# check against the manifest, prepare) into a scratch data dir, starts a private mariadbd on it (no network, no
# replication), and checks it: every table opens (mariadb-check), the sentinel row written when the backup was
# taken is there, and the tables named in DRILL_TABLES hold rows. Nothing of the cluster is touched.
#
# When the backup's history has a binary log archive (archive.sh), the drill proves it too: the restore replays
# everything archived past the backup (restore.sh --until end) into the same scratch copy before the checks. If that
# fails, the backup is restored alone (so a bad archive is told apart from a bad backup) and the drill fails.
#
# The result goes to the log (one JSON line, `drill result`) and to BACKUP_REMOTE/drill.prom in Prometheus text
# format (success, the age of the backup proved restorable, the restore duration; with an archive, whether it
# replayed and up to which sequence number) for a metrics exporter.
#
# Environment, besides common.sh's: DRILL_SCRATCH_DIR (scratch space, default /tmp), DRILL_TABLES (`db.table`
# separated by spaces: each must hold at least one row), DRILL_METRICS_FILE (also write the metrics here).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SCRATCH=$(mktemp -d "${DRILL_SCRATCH_DIR:-/tmp}/drill.XXXXXX") || exit 1
DATADIR=$SCRATCH/data
SOCKET=$SCRATCH/mysqld.sock
MARIADBD_PID=
cleanup() {
  [[ -n $MARIADBD_PID ]] && kill "$MARIADBD_PID" 2>/dev/null && wait "$MARIADBD_PID" 2>/dev/null
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

sql() {
  mariadb --no-defaults --socket="$SOCKET" --user="$(id -un 2>/dev/null || echo mysql)" --connect-timeout=5 -N -B "$@"
}

# Prints the result as one JSON line and as Prometheus text, stores the metrics, exits 0 only on success.
report() {
  local ok=$1 id=$2 reason=$3 now duration age epoch metrics
  now=$(date -u +%s)
  duration=$((now - STARTED))
  epoch=$(backup_id_epoch "$id" 2>/dev/null) || epoch=0
  age=$((epoch > 0 ? now - epoch : -1))
  printf '{"event": "drill result", "ok": %s, "backup": "%s", "backup_age_seconds": %s, "restore_seconds": %s, "reason": "%s", "archive": "%s", "archive_files": %s, "archive_from_seq": %s, "archive_to_seq": %s, "archive_reason": "%s"}\n' \
    "$ok" "$id" "$age" "$duration" "${reason//\"/\'}" "$ARCHIVE_STATE" "$ARCHIVE_FILES" "$ARCHIVE_FROM" "$ARCHIVE_TO" "${ARCHIVE_REASON//\"/\'}"
  metrics="# HELP galera_backup_drill_success 1 if the last restore drill restored and checked the latest backup.
# TYPE galera_backup_drill_success gauge
galera_backup_drill_success $([[ $ok == true ]] && echo 1 || echo 0)
# HELP galera_backup_drill_timestamp_seconds When the last restore drill finished.
# TYPE galera_backup_drill_timestamp_seconds gauge
galera_backup_drill_timestamp_seconds $now
# HELP galera_backup_drill_backup_age_seconds Age of the backup the last drill tried (-1: none found).
# TYPE galera_backup_drill_backup_age_seconds gauge
galera_backup_drill_backup_age_seconds $age
# HELP galera_backup_drill_restore_duration_seconds How long the last drill took (fetch, check, prepare, start, checks).
# TYPE galera_backup_drill_restore_duration_seconds gauge
galera_backup_drill_restore_duration_seconds $duration"
  [[ $ARCHIVE_STATE == none ]] || metrics+="
# HELP galera_binlog_archive_drill_success 1 if the last drill replayed the binary log archive past the backup, 0 if it did not restore.
# TYPE galera_binlog_archive_drill_success gauge
galera_binlog_archive_drill_success $([[ $ARCHIVE_STATE == ok ]] && echo 1 || echo 0)
# HELP galera_binlog_archive_drill_last_seq Last GTID sequence number the last drill replayed from the archive (proved restorable up to it).
# TYPE galera_binlog_archive_drill_last_seq gauge
galera_binlog_archive_drill_last_seq $ARCHIVE_TO"
  [[ -n ${DRILL_METRICS_FILE:-} ]] && printf '%s\n' "$metrics" >"$DRILL_METRICS_FILE"
  printf '%s\n' "$metrics" | rc rcat "$BACKUP_REMOTE/drill.prom" || backup_log "could not store drill.prom"
  [[ $ok == true && $ARCHIVE_STATE != failed ]]
  exit
}

# Restores backup ID into an empty DATADIR (restore.sh, extra arguments passed on); prints its log.
restore_into() {
  rm -rf "$DATADIR" && mkdir "$DATADIR" || return 1
  BACKUP_WORK_DIR=$SCRATCH RESTORE_SKIP_LIVE_CHECK=1 bash "$(dirname "${BASH_SOURCE[0]}")/restore.sh" "$ID" "$DATADIR" "$@" 2>&1
}

# The archive's part: none (no archive for this backup's history), ok, or failed (with the reason).
ARCHIVE_STATE=none ARCHIVE_FILES=0 ARCHIVE_FROM=0 ARCHIVE_TO=0 ARCHIVE_REASON=''

STARTED=$(date -u +%s)
ID=$(latest_backup)
[[ -n $ID ]] || report false '' "no complete backup under $BACKUP_REMOTE"
SEGMENT=$(archive_segment_for "$ID") || report false "$ID" "$BACKUP_REMOTE does not list"
if rc_read "$BACKUP_REMOTE/$SEGMENT/$ARCHIVE_INDEX_FILE" >/dev/null; then
  if log=$(restore_into --until end); then
    ARCHIVE_STATE=ok
    read -r ARCHIVE_FILES ARCHIVE_FROM ARCHIVE_TO < <(replay_range_of <<<"$log")
    # restore.sh says what it replayed; a log without that line would make an invalid result line.
    if [[ $ARCHIVE_TO =~ ^[0-9]+$ ]]; then
      backup_log "drill $ID: replayed $ARCHIVE_FILES archived file(s) of $SEGMENT, sequence $ARCHIVE_FROM-$ARCHIVE_TO"
    else
      ARCHIVE_STATE=failed ARCHIVE_FILES=0 ARCHIVE_FROM=0 ARCHIVE_TO=0 ARCHIVE_REASON="restore.sh did not say what it replayed"
    fi
  else
    printf '%s\n' "$log" >&2
    ARCHIVE_STATE=failed
    ARCHIVE_REASON="$SEGMENT does not replay past $ID: $(tail -n 1 <<<"$log")"
  fi
fi
if [[ $ARCHIVE_STATE != ok ]] && ! log=$(restore_into); then
  printf '%s\n' "$log" >&2
  report false "$ID" "restore failed: $(tail -n 1 <<<"$log")"
fi
mariadbd --no-defaults --datadir="$DATADIR" --socket="$SOCKET" --pid-file="$SCRATCH/mysqld.pid" --skip-networking \
  --wsrep-on=OFF --skip-log-bin --innodb-buffer-pool-size=128M --log-error="$SCRATCH/mariadbd.err" >>"$SCRATCH/mariadbd.err" 2>&1 &
MARIADBD_PID=$!
for _ in $(seq 120); do
  sql -e 'SELECT 1' >/dev/null 2>&1 && break
  kill -0 "$MARIADBD_PID" 2>/dev/null || report false "$ID" "mariadbd does not start on the restored data: $(tail -n 2 "$SCRATCH/mariadbd.err" | tr '\n' ' ')"
  sleep 0.5
done
sql -e 'SELECT 1' >/dev/null 2>&1 || report false "$ID" "mariadbd did not answer within 60 s"
# Every table opens and reads back without error.
checked=$(mariadb-check --no-defaults --socket="$SOCKET" --user="$(id -un 2>/dev/null || echo mysql)" --all-databases --check --quick 2>&1)
bad=$(grep -v -E '(OK|Table is already up to date|The storage engine for the table doesn.t support check)$' <<<"$checked" |
  grep -v -E '^(note|status)' | grep -E 'error|Error|corrupt|crashed|^[^ ]+\.[^ ]+ +[^O]' | head -n 3)
[[ -z $bad ]] || report false "$ID" "tables fail their check: $(tr '\n' ' ' <<<"$bad")"
[[ $(sql -e "SELECT COUNT(*) FROM galera_backup.sentinel WHERE id = '$ID'" 2>/dev/null) == 1 ]] ||
  report false "$ID" "the sentinel row of $ID is missing: the backup does not hold what the cluster held when it was taken"
for table in ${DRILL_TABLES:-}; do
  [[ $table =~ ^[A-Za-z0-9_$]+\.[A-Za-z0-9_$]+$ ]] || report false "$ID" "DRILL_TABLES entry '$table' is not db.table"
  rows=$(sql -e "SELECT COUNT(*) FROM ${table%%.*}.${table#*.}" 2>&1) || report false "$ID" "$table does not read: $rows"
  ((rows > 0)) || report false "$ID" "$table is empty"
  backup_log "drill $ID: $table has $rows rows"
done
# ok: the backup restored and checked; a failed archive fails the job too (report's exit status).
report true "$ID" "restored, $(grep -c . <<<"$checked") tables checked, sentinel present$(
  [[ $ARCHIVE_STATE == ok ]] && echo ", archive replayed to sequence $ARCHIVE_TO")"
