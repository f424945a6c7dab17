#!/bin/bash
# The backup CronJob's command: asks every member's sidecar for its state, chooses the source (common.sh:
# choose_source), streams its physical backup to BACKUP_REMOTE/<id>/, checks the bytes stored against the ones
# the sidecar sent (sha256), writes the manifest last (a backup without one is incomplete and never restored),
# then prunes by retention: the backups, and the binary log archive's files no kept backup needs (common.sh:
# archive_retention_plan). Exit 0 only when a complete backup was stored.
#
# Environment, besides common.sh's:
#   RETENTION_COUNT              complete backups kept
#   RETENTION_MAX_AGE_SECONDS    complete backups older than this are removed (the newest is always kept)
#   BACKUP_STALE_SECONDS         an incomplete backup older than this is a dead job's: removed (default 86400)
#   BACKUP_TIMEOUT_SECONDS       bound of the transfer (default 21600)
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TIMEOUT=${BACKUP_TIMEOUT_SECONDS:-21600}

main() {
  local states source host id started sha answer state remote_sha bytes binlog_seq
  states=$(member_states)
  backup_log "members: $(tr '\n' ';' <<<"$states")"
  source=$(choose_source <<<"$states") || exit 1
  host=$(host_of "$source")
  started=$(date -u +%s)
  id=$(backup_id_at "$started")
  backup_log "backup $id: from $source ($host) to $BACKUP_REMOTE/$id/"
  local status_file stored
  status_file=$(mktemp) || exit 1
  # The stream goes to the destination and through sha256sum at once: nothing is kept on this pod's disk.
  sha=$(sidecar_request "$host" "$TIMEOUT" backup "$id" |
    tee >(rc rcat "$BACKUP_REMOTE/$id/$BACKUP_STREAM_FILE"; echo $? >"$status_file") | sha256sum | cut -d' ' -f1)
  # rclone finishes its upload after the last byte went by: wait (bounded) for its exit status.
  for _ in $(seq 600); do [[ -s $status_file ]] && break; sleep 0.5; done
  stored=$(cat "$status_file")
  rm -f "$status_file"
  answer=$(sidecar_request "$host" 15 result "$id")
  state=$(json_field state <<<"$answer")
  remote_sha=$(json_field sha256 <<<"$answer")
  if [[ $stored != 0 || $state != ok || $remote_sha != "$sha" ]]; then
    backup_log "backup $id: FAILED (stored: exit $stored; source: $answer; received sha256 $sha): removing it"
    rc purge "$BACKUP_REMOTE/$id" 2>/dev/null
    exit 1
  fi
  bytes=$(rc size --json "$BACKUP_REMOTE/$id/$BACKUP_STREAM_FILE" | json_field bytes)
  # The source's binary log position when the copy began (archive on): what the archive's retention keeps from.
  binlog_seq=$(json_field binlog_seq <<<"$answer")
  [[ $binlog_seq =~ ^[0-9]+$ ]] && binlog_seq=", \"binlog_seq\": $binlog_seq" || binlog_seq=''
  printf '{"id": "%s", "source": "%s", "started": %s, "finished": %s, "bytes": %s, "sha256": "%s", "stream": "%s", "format": "mbstream+gzip"%s}\n' \
    "$id" "$source" "$started" "$(date -u +%s)" "${bytes:-0}" "$sha" "$BACKUP_STREAM_FILE" "$binlog_seq" |
    rc rcat "$BACKUP_REMOTE/$id/$BACKUP_MANIFEST_FILE" || { backup_log "backup $id: could not write its manifest"; exit 1; }
  backup_log "backup $id: complete, $bytes bytes in $(($(date -u +%s) - started)) s, sha256 $sha"
  prune
}

prune() {
  local doomed id
  doomed=$(list_backups | prune_list "$RETENTION_COUNT" "$RETENTION_MAX_AGE_SECONDS" "$(date -u +%s)" "${BACKUP_STALE_SECONDS:-86400}")
  for id in $doomed; do
    backup_log "retention: removing $id"
    rc purge "$BACKUP_REMOTE/$id" || backup_log "retention: could not remove $id (next run retries)"
  done
  prune_archive
}

# The archive goes with the backups: per history segment, what lies at or before the oldest kept backup's position
# (its manifest's binlog_seq), and closed segments no kept backup belongs to. Closed segments have no writer: pruned
# here. The current one is the archiver's (it rewrites its index every pass): retain.json tells it, and its next
# pass removes the files, so the index never has two writers.
prune_archive() {
  local plan action segment seq oldest index pruned id closed
  # Without the closed segments every backup would count as the current history's: prune nothing then.
  closed=$(archive_closed_segments) || { backup_log "archive retention: $BACKUP_REMOTE does not list: skipped (next run retries)"; return 0; }
  plan=$({
    [[ -z $closed ]] || sed 's/^/closed /' <<<"$closed"
    for id in $(list_backups | awk '$2 == "complete" { print $1 }'); do
      echo "backup $id $(rc_read "$BACKUP_REMOTE/$id/$BACKUP_MANIFEST_FILE" | json_field binlog_seq)"
    done
  } | archive_retention_plan)
  while read -r action segment seq oldest; do
    case $action in
      purge)
        backup_log "archive retention: removing $segment (the history of no kept backup)"
        rc purge "$BACKUP_REMOTE/$segment" || backup_log "archive retention: could not remove $segment (next run retries)"
        ;;
      keep)
        index=$(rc_read "$BACKUP_REMOTE/$segment/$ARCHIVE_INDEX_FILE") || continue
        if [[ $segment == "$ARCHIVE_DIR" ]]; then
          printf '{"keep_after_seq": %s, "backup": "%s", "written": %s}\n' "$seq" "$oldest" "$(date -u +%s)" |
            rc rcat "$BACKUP_REMOTE/$segment/$ARCHIVE_RETAIN_FILE" || backup_log "archive retention: could not write $segment/$ARCHIVE_RETAIN_FILE"
          backup_log "archive retention: the archiver removes what lies at or before sequence $seq (oldest kept backup: $oldest)"
        else
          pruned=$(archive_prune "$segment" "$seq" <<<"$index")
          [[ $pruned == "$(sed '/^$/d' <<<"$index")" ]] ||
            printf '%s\n' "$pruned" | rc rcat "$BACKUP_REMOTE/$segment/$ARCHIVE_INDEX_FILE" || backup_log "archive retention: could not rewrite $segment's index"
        fi
        ;;
    esac
  done <<<"$plan"
}

# Run, unless sourced (the unit tests call prune on a local directory).
[[ ${BASH_SOURCE[0]} != "$0" ]] || main
