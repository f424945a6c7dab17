#!/bin/bash
# The binary log archiver's command: every ARCHIVE_INTERVAL_SECONDS for ARCHIVE_RUN_SECONDS (one pass when 0), it
# ships the members' closed binary logs to BACKUP_REMOTE/binlog/ so that a restore can replay them past a backup
# (restore.sh --until).
#
# Which member: every member writes the same GTID for the same write-set (wsrep_gtid_mode, one
# wsrep_gtid_domain_id), so the archive is a sequence of GTIDs, not of one member's files. A pass keeps to the
# member the last file came from while it is Synced (files of one member follow each other without overlap); when
# it is not (dead, desynced by a backup, a donor), it continues from another Synced member (the writer last) with
# the file holding the next GTID: no fixed member has to be up. The sidecar closes the member's current file
# first when it holds new transactions (so only closed files, which never change, are shipped: at most one
# interval's transactions are not archived yet). When the next GTID is no longer on any member (a file expired
# before it was archived), the missing range is recorded as a gap: a restore refuses a point beyond it.
#
# The archive: BACKUP_REMOTE/binlog/<member>/<file>; index.tsv, one line per file
# `file <member> <file> <start> <end> <first time> <last time> <bytes>` (it holds the domain's transactions
# start+1..end, committed from first to last time, epoch seconds, 0 when none) and per gap `gap <start> <end>`;
# archive.json, the coverage (first and last sequence number and time, covered_until: every transaction committed
# before it is archived, the gap count); archive.prom, the same for a metrics exporter; one `archive pass` JSON log
# line per pass. Exit 0 when the last pass archived (or had nothing to archive).
#
# Environment, besides common.sh's: BINLOG_GTID_DOMAIN (the cluster's domain), ARCHIVE_INTERVAL_SECONDS (default
# 60), ARCHIVE_RUN_SECONDS (default 0), ARCHIVE_METRICS_FILE_COPY (also write the metrics here).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DOMAIN=${BINLOG_GTID_DOMAIN:?BINLOG_GTID_DOMAIN is not set}
ARCHIVE=$BACKUP_REMOTE/$ARCHIVE_DIR
WORK=$(mktemp -d "${BACKUP_WORK_DIR:-/tmp}/archive.XXXXXX") || exit 1
trap 'rm -rf "$WORK"' EXIT

# `first last first_time last_time` of the domain's transactions in binary log $1 (sequence numbers, epoch
# seconds of their commits), nothing when it holds none. The file itself says which transactions it holds: the
# listing's positions only say which files may hold new ones.
file_range() {
  TZ=UTC mariadb-binlog --do-domain-ids="$DOMAIN" "$1" 2>/dev/null | binlog_gtid_range
}

# One pass: closes and ships what the chosen member has past the archive; prints the pass's JSON line.
pass() {
  local index started states member host listing archived sticky names=() bytes=() starts=() i end name size start shipped=0 from=''
  started=$(date -u +%s)
  index=$(rc cat "$ARCHIVE/$ARCHIVE_INDEX_FILE" 2>/dev/null)
  archived=$(awk '$1 == "file" && $5 > s { s = $5 } END { print s + 0 }' <<<"$index")
  sticky=$(awk '$1 == "file" { m = $2 } END { print m }' <<<"$index")
  states=$(member_states)
  for member in $(archive_candidates "$sticky" <<<"$states"); do
    host=$(host_of "$member")
    listing=$(sidecar_request "$host" 30 binlogs 2>/dev/null)
    [[ $listing == *$'\n'current\ * ]] || { backup_log "archive: $member did not list its binary logs: $(head -n 1 <<<"$listing")"; continue; }
    from=$member
    break
  done
  if [[ -z $from ]]; then
    backup_log "archive: no Synced member listed its binary logs (members: $(tr '\n' ';' <<<"$states"))"
    return 1
  fi
  while read -r name size start; do
    [[ $name == current ]] && break
    names+=("$name") bytes+=("$size") starts+=("$start")
  done <<<"$listing"
  # What the pass works from, in the job's log: the member's files and where each starts, against the archive's end.
  backup_log "archive: $from lists ${names[*]:-no file} (starts ${starts[*]:-none}); archived up to $archived"
  # A closed file may hold transactions up to the next file's start (the binlog state when it was closed); the
  # newest file (still written) is never shipped. Unknown positions (NULL): shipped unless this member's file is.
  local first last first_time last_time
  for ((i = 0; i + 1 < ${#names[@]}; i++)); do
    name=${names[i]} end=${starts[i + 1]}
    if [[ $end =~ ^[0-9]+$ ]]; then
      ((end > archived)) || continue
    elif grep -q "^file $from $name " <<<"$index"; then
      continue
    fi
    sidecar_request "$host" 600 binlog "$name" >"$WORK/$name"
    [[ $(stat -c %s "$WORK/$name") == "${bytes[i]}" ]] || { backup_log "archive: $from/$name: got $(stat -c %s "$WORK/$name") bytes of ${bytes[i]}"; return 1; }
    first='' last=''
    read -r first last first_time last_time < <(file_range "$WORK/$name")
    if [[ -z ${last:-} ]] || ((last <= archived)); then
      rm -f "$WORK/$name"
      continue
    fi
    if ((first > archived + 1 && archived > 0)); then
      backup_log "archive: GAP: transactions $((archived + 1))-$((first - 1)) of domain $DOMAIN are on no member any more"
      index+=$'\n'"gap $archived $((first - 1))"
    fi
    rc copyto "$WORK/$name" "$ARCHIVE/$from/$name" || { backup_log "archive: could not store $from/$name"; return 1; }
    index+=$'\n'"file $from $name $((first - 1)) $last $first_time $last_time ${bytes[i]}"
    rm -f "$WORK/$name"
    archived=$last
    shipped=$((shipped + 1))
  done
  index=$(sed '/^$/d' <<<"$index")
  if ((shipped > 0)); then
    printf '%s\n' "$index" | rc rcat "$ARCHIVE/$ARCHIVE_INDEX_FILE" || { backup_log "archive: could not store the index"; return 1; }
  fi
  # Every transaction committed before the pass started was in a closed file of $from: it is archived.
  summary "$index" "$started" "$from" "$shipped"
}

# Writes archive.json and archive.prom from the index; prints the pass's JSON line.
summary() {
  local index=$1 covered=$2 from=$3 shipped=$4 first_seq last_seq first_time last_time gaps files json
  read -r first_seq last_seq first_time last_time files < <(awk '$1 == "file" {
      if (n == 0 || $4 < fs) fs = $4; if ($5 > ls) ls = $5
      if ($6 > 0 && (ft == 0 || $6 < ft)) ft = $6; if ($7 > lt) lt = $7; n++ }
    END { print fs + 0, ls + 0, ft + 0, lt + 0, n + 0 }' <<<"$index")
  gaps=$(grep -c '^gap ' <<<"$index")
  json=$(printf '{"domain": %s, "first_seq": %s, "last_seq": %s, "first_time": %s, "last_time": %s, "covered_until": %s, "files": %s, "gaps": %s, "member": "%s"}' \
    "$DOMAIN" "$first_seq" "$last_seq" "$first_time" "$last_time" "$covered" "$files" "$gaps" "$from")
  printf '%s\n' "$json" | rc rcat "$ARCHIVE/$ARCHIVE_MANIFEST_FILE" || backup_log "archive: could not store $ARCHIVE_MANIFEST_FILE"
  local metrics="# HELP galera_binlog_archive_covered_until_seconds Every transaction committed before this time is archived.
# TYPE galera_binlog_archive_covered_until_seconds gauge
galera_binlog_archive_covered_until_seconds $covered
# HELP galera_binlog_archive_last_seq Last GTID sequence number archived (the cluster's domain).
# TYPE galera_binlog_archive_last_seq gauge
galera_binlog_archive_last_seq $last_seq
# HELP galera_binlog_archive_gaps Ranges of transactions missing from the archive (a restore cannot pass them).
# TYPE galera_binlog_archive_gaps gauge
galera_binlog_archive_gaps $gaps"
  [[ -n ${ARCHIVE_METRICS_FILE_COPY:-} ]] && printf '%s\n' "$metrics" >"$ARCHIVE_METRICS_FILE_COPY"
  printf '%s\n' "$metrics" | rc rcat "$ARCHIVE/$ARCHIVE_METRICS_FILE" || backup_log "archive: could not store $ARCHIVE_METRICS_FILE"
  printf '{"event": "archive pass", "shipped": %s, %s\n' "$shipped" "${json#\{}"
}

deadline=$(($(date -u +%s) + ${ARCHIVE_RUN_SECONDS:-0}))
while :; do
  pass
  ok=$?
  (($(date -u +%s) + ${ARCHIVE_INTERVAL_SECONDS:-60} <= deadline)) || exit "$ok"
  sleep "${ARCHIVE_INTERVAL_SECONDS:-60}"
done
