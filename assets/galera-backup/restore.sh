#!/bin/bash
# Restores a backup into a member's data dir: restore.sh ID|latest DATADIR; or, for the other members, empties
# theirs: restore.sh --empty DATADIR.
#
# Runs with the cluster stopped (every member's pod gone), on the member's volume. It changes nothing until the
# backup has been fetched whole, checked against its manifest (sha256) and prepared; it refuses, saying why and
# changing nothing, when a member still answers, when the backup does not exist or is incomplete, or when its
# bytes do not match. Then it replaces the data dir's content (the volume's identity file stays) with the
# prepared backup and writes grastate.dat from the backup's Galera position (--galera-info), so the member knows
# where it stands: it is then bootstrapped, and the other members, emptied, rejoin it by SST.
#
# Environment, besides common.sh's: BACKUP_WORK_DIR scratch space for the fetched and prepared copy (default
# /tmp), RESTORE_SKIP_LIVE_CHECK=1 to skip asking the members (only for a scratch server, as the drill does).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

refuse() {
  backup_log "REFUSED, nothing changed: $*"
  exit 2
}

# Refuses while any member's sidecar answers: its pod still runs (a Primary component, or a member about to join one).
refuse_if_running() {
  local entry host answer
  [[ ${RESTORE_SKIP_LIVE_CHECK:-0} == 1 ]] && return 0
  for entry in ${BACKUP_MEMBERS:-}; do
    host=${entry#*=}
    answer=$(sidecar_request "$host" 5 status 2>/dev/null | head -n 1)
    [[ -z $answer ]] || refuse "member ${entry%%=*} is running ($answer): stop the cluster first (scale the StatefulSet to 0)"
  done
}

# Empties the data dir of a member that will rejoin the restored one by SST (its data is ahead of the restored
# position, and Galera refuses such a joiner). The volume's identity file stays: it says the volume joined before.
empty_datadir() {
  find "$1" -mindepth 1 -maxdepth 1 ! -name lost+found ! -name galera-identity.sst -exec rm -rf {} +
}

main() {
  local wanted=${1:-} datadir=${2:-} id manifest expected work sha
  [[ -n $wanted && -n $datadir ]] || refuse "usage: restore.sh ID|latest|--empty DATADIR (no backup named: set RESTORE_BACKUP)"
  # Kubernetes leaves `$(RESTORE_BACKUP)` as it is when the ConfigMap naming the backup does not exist.
  [[ $wanted != '$(RESTORE_BACKUP)' ]] ||
    refuse "no backup named: kubectl create configmap <GaleraBackup name>-restore --from-literal=backup=latest (or an id)"
  [[ -d $datadir ]] || refuse "$datadir is not a directory"
  refuse_if_running
  if [[ $wanted == --empty ]]; then
    empty_datadir "$datadir"
    backup_log "emptied $datadir: this member rejoins the restored one by SST"
    return 0
  fi
  if [[ $wanted == latest ]]; then
    id=$(latest_backup)
    [[ -n $id ]] || refuse "there is no complete backup under $BACKUP_REMOTE"
  else
    id=$wanted
    backup_id_epoch "$id" >/dev/null || refuse "'$id' is not a backup id (YYYYMMDDTHHMMSSZ)"
  fi
  manifest=$(rc cat "$BACKUP_REMOTE/$id/$BACKUP_MANIFEST_FILE" 2>/dev/null)
  if [[ -z $manifest ]]; then
    refuse "backup '$id' does not exist or is incomplete under $BACKUP_REMOTE; complete backups: $(list_backups | awk '$2 == "complete" { printf "%s ", $1 }')"
  fi
  expected=$(json_field sha256 <<<"$manifest")
  work=$(mktemp -d "${BACKUP_WORK_DIR:-/tmp}/restore.XXXXXX") || refuse "no scratch space in ${BACKUP_WORK_DIR:-/tmp}"
  trap 'rm -rf "$work"' EXIT
  mkdir "$work/backup"
  backup_log "restore $id: fetching and checking"
  rc cat "$BACKUP_REMOTE/$id/$BACKUP_STREAM_FILE" | tee >(sha256sum | cut -d' ' -f1 >"$work/sha256") |
    gzip -dc | mbstream -x -C "$work/backup"
  local rcs=("${PIPESTATUS[@]}")
  for _ in $(seq 100); do [[ -s $work/sha256 ]] && break; sleep 0.1; done
  sha=$(cat "$work/sha256" 2>/dev/null)
  [[ $sha == "$expected" ]] || refuse "backup $id is corrupt: its stream's sha256 is $sha, its manifest says $expected"
  [[ ${rcs[*]} == "0 0 0 0" ]] || refuse "backup $id could not be unpacked (exit ${rcs[*]})"
  backup_log "restore $id: preparing (applying the redo log)"
  mariadb-backup --prepare --target-dir="$work/backup" >"$work/prepare.log" 2>&1 ||
    refuse "backup $id does not prepare: $(tail -n 3 "$work/prepare.log" | tr '\n' ' ')"
  local position uuid seqno
  position=$(head -n 1 "$work/backup/xtrabackup_galera_info" 2>/dev/null)
  uuid=${position%%:*}
  seqno=${position#*:}
  seqno=${seqno%%[!0-9-]*}
  [[ $uuid =~ ^[0-9a-f-]{36}$ && $seqno =~ ^-?[0-9]+$ ]] || refuse "backup $id has no Galera position (xtrabackup_galera_info: '$position')"
  backup_log "restore $id: replacing the content of $datadir (Galera position $uuid:$seqno)"
  empty_datadir "$datadir"
  # The identity file (and a filesystem's lost+found) stay: move-back must accept a directory holding them.
  mariadb-backup --move-back --force-non-empty-directories --target-dir="$work/backup" --datadir="$datadir" >"$work/move.log" 2>&1 || {
    backup_log "restore $id: FAILED moving the files into $datadir: $(tail -n 3 "$work/move.log")"
    exit 1
  }
  printf '# GALERA saved state\nversion: 2.1\nuuid:    %s\nseqno:   %s\nsafe_to_bootstrap: 0\n' "$uuid" "$seqno" >"$datadir/grastate.dat"
  backup_log "restore $id: done; $datadir holds the backup at $uuid:$seqno: bootstrap this member, empty the others"
}

main "$@"
