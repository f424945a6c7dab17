#!/bin/bash
# Restores a backup into a member's data dir: restore.sh ID|latest DATADIR [--until POINT]; or, for the other
# members, empties theirs: restore.sh --empty DATADIR.
#
# --until POINT (point-in-time restore): after preparing the backup, replays the archived binary logs (archive.sh)
# from the backup's GTID position up to POINT: a UTC time `YYYY-MM-DD HH:MM:SS` (every transaction committed
# before it, none at or after it), a GTID `D-S-N` of the cluster's domain (up to and including it), or `end`
# (everything archived). It refuses, changing nothing, a point before the backup, past what the archive covers, or
# beyond a gap in the archive. The archive read is the backup's own history's segment (common.sh: segment_of).
#
# A restore of the cluster (not RESTORE_SKIP_LIVE_CHECK) starts a new GTID history: once every check passed and
# before the data dir is replaced, it closes the archive's current segment (binlog/ -> binlog-<now>/), so the
# archiver starts a new one and no later point-in-time restore mixes the two histories.
#
# Runs with the cluster stopped (every member's pod gone), on the member's volume. It changes nothing until the
# backup has been fetched whole, checked against its manifest (sha256) and prepared; it refuses, saying why and
# changing nothing, when a member still answers, when the backup does not exist or is incomplete, or when its
# bytes do not match. Then it replaces the data dir's content (the volume's identity file stays) with the
# prepared backup and writes grastate.dat from the backup's Galera position (--galera-info), so the member knows
# where it stands: it is then bootstrapped, and the other members, emptied, rejoin it by SST.
#
# Environment, besides common.sh's: BACKUP_WORK_DIR scratch space for the fetched and prepared copy (default
# /tmp), RESTORE_SKIP_LIVE_CHECK=1 for a restore into a scratch server (as the drill does): the members are not
# asked, and the archive's history is left as it is.
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
    # No answer is not proof that the member is down: a sidecar that accepts connections but refused this job's
    # TLS handshake (a certificate problem) or did not answer in time still runs beside its mariadbd.
    ! sidecar_listening "$host" ||
      refuse "member ${entry%%=*}'s sidecar accepts connections at $host but did not answer (a TLS or token problem?): its pod runs; stop the cluster first (scale the StatefulSet to 0)"
  done
}

# Empties the data dir of a member that will rejoin the restored one by SST (its data is ahead of the restored
# position, and Galera refuses such a joiner). The volume's identity file stays: it says the volume joined before.
empty_datadir() {
  find "$1" -mindepth 1 -maxdepth 1 ! -name lost+found ! -name galera-identity.sst -exec rm -rf {} +
}

main() {
  local wanted=${1:-} datadir=${2:-} until='' id manifest expected work sha
  [[ ${3:-} != --until || -n ${4:-} ]] || refuse "--until needs a point: 'YYYY-MM-DD HH:MM:SS' (UTC), a GTID D-S-N or end"
  # The restore template passes `--until $(RESTORE_UNTIL)`: Kubernetes leaves it as it is when no point is named.
  [[ ${3:-} == --until && ${4:-} != '$(RESTORE_UNTIL)' ]] && until=$4
  [[ ${4:-} != '$(RESTORE_UNTIL)' ]] || set -- "$1" "$2"
  [[ -z ${3:-} || -n $until ]] || refuse "unexpected argument '$3'; usage: restore.sh ID|latest DATADIR [--until POINT]"
  [[ -n $wanted && -n $datadir ]] || refuse "usage: restore.sh ID|latest|--empty DATADIR [--until POINT] (no backup named: set RESTORE_BACKUP)"
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
  manifest=$(rc_read "$BACKUP_REMOTE/$id/$BACKUP_MANIFEST_FILE")
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
  [[ -z $until ]] || replay_until "$id" "$manifest" "$work" "$until"
  local position uuid seqno
  position=$(head -n 1 "$work/backup/xtrabackup_galera_info" 2>/dev/null)
  uuid=${position%%:*}
  seqno=${position#*:}
  seqno=${seqno%%[!0-9-]*}
  [[ $uuid =~ ^[0-9a-f-]{36}$ && $seqno =~ ^-?[0-9]+$ ]] || refuse "backup $id has no Galera position (xtrabackup_galera_info: '$position')"
  if [[ ${RESTORE_SKIP_LIVE_CHECK:-0} != 1 ]]; then
    local closed
    closed=$(archive_close_segment "restore of $id${until:+ until $until}") || {
      backup_log "restore $id: FAILED closing the binary log archive's segment ($BACKUP_REMOTE/$ARCHIVE_DIR): $datadir is untouched; run the restore again (it finishes the move)"
      exit 1
    }
    [[ -z $closed ]] || backup_log "restore $id: the cluster starts a new GTID history: the archive so far is closed as $closed, the archiver starts a new $ARCHIVE_DIR/"
  fi
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

# What a point-in-time restore of backup ID replays, from its history segment's index on stdin: the backup holds
# DOMAIN's transactions up to BACKUP_SEQ (SERVER_ID: its GTID's server part) and was complete at FINISHED; the
# archive covers what was committed before COVERED. Prints `TARGET_SEQ UNTIL_EPOCH [STOP_OPTION]` (UNTIL_EPOCH 0
# for a GTID or `end`; TARGET_SEQ = BACKUP_SEQ: nothing to replay), or refuses (exit 2) a point before the backup,
# past the archive, beyond a gap, or an archive that starts after the backup. The range is read from the index
# itself (retention may have moved its start since archive.json was written).
point_plan() {
  local id=$1 domain=$2 backup_seq=$3 server_id=$4 finished=$5 covered=$6 point=$7 index first_seq last_seq target_seq=0 until_epoch=0 stop=''
  index=$(cat)
  read -r first_seq last_seq < <(awk '$1 == "file" { if (n++ == 0 || $4 < f) f = $4; if ($5 > l) l = $5 } END { print f + 0, l + 0 }' <<<"$index")
  if [[ $point =~ ^([0-9]+)-([0-9]+)-([0-9]+)$ ]]; then
    ((BASH_REMATCH[1] == domain)) || refuse "GTID $point is not in the cluster's domain $domain"
    target_seq=${BASH_REMATCH[3]}
    ((target_seq >= backup_seq)) || refuse "GTID $point is before backup $id (which holds up to $domain-$server_id-$backup_seq): restore an older backup"
    ((target_seq <= last_seq)) || refuse "GTID $point is past the archive, which ends at $domain-*-$last_seq (archived until $(date -u -d "@$covered" '+%F %T'))"
    stop=--stop-position=$point
  elif [[ $point =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}$ ]] && until_epoch=$(date -u -d "$point" +%s 2>/dev/null); then
    ((until_epoch > finished)) || refuse "$point (UTC) is before backup $id was complete ($(date -u -d "@$finished" '+%F %T')): restore an older backup"
    ((until_epoch <= covered)) || refuse "$point (UTC) is past what the archive covers (every transaction before $(date -u -d "@$covered" '+%F %T') UTC)"
    target_seq=$last_seq
    stop=--stop-datetime=$point
  elif [[ $point == end ]]; then
    # Everything archived, each file whole (nothing, when the archive ends at or before the backup).
    target_seq=$((last_seq > backup_seq ? last_seq : backup_seq))
  else
    refuse "'$point' is neither a UTC time 'YYYY-MM-DD HH:MM:SS', a GTID D-S-N nor 'end'"
  fi
  ((first_seq <= backup_seq)) || refuse "the archive starts after backup $id (at $domain-*-$((first_seq + 1)), the backup holds up to $backup_seq)"
  local gap
  gap=$(awk -v b="$backup_seq" -v t="$target_seq" '$1 == "gap" && $3 > b && $2 < t { print $2 + 1 "-" $3; exit }' <<<"$index")
  [[ -z $gap ]] || refuse "the archive misses transactions $gap of domain $domain (a gap), before $point"
  echo "$target_seq $until_epoch $stop"
}

# The prepared backup in WORK/backup plus the archived binary logs up to POINT, or a refusal (nothing changed: only
# WORK is written). A private mariadbd (no network, no replication, no binary log) runs on the prepared copy; each
# archived file that holds transactions past what is applied is fed through mariadb-binlog from the last applied
# GTID (exclusive), so files of different members, which may overlap, apply every transaction once.
replay_until() {
  local id=$1 manifest=$2 work=$3 point=$4 archive segment domain backup_gtid backup_seq server_id stop=() target_seq=0 until_epoch=0
  local coverage index covered finished
  segment=$(archive_segment_for "$id") || refuse "$BACKUP_REMOTE does not list: cannot tell which archive segment holds backup $id's history"
  archive=$BACKUP_REMOTE/$segment
  coverage=$(rc_read "$archive/$ARCHIVE_MANIFEST_FILE")
  index=$(rc_read "$archive/$ARCHIVE_INDEX_FILE")
  [[ -n $coverage && -n $index ]] || refuse "no binary log archive under $archive (the segment of backup $id's history): a point-in-time restore needs binlogArchive"
  domain=$(json_field domain <<<"$coverage")
  covered=$(json_field covered_until <<<"$coverage")
  backup_gtid=$(awk '{ print $3 }' "$work/backup/xtrabackup_binlog_info" 2>/dev/null)
  [[ -n $backup_gtid ]] || refuse "backup $id has no binary log position (taken before binlogArchive was on): no point-in-time restore from it"
  backup_seq=$(domain_seq "$backup_gtid" "$domain")
  # The server id part of a start GTID does not select anything (mariadb-binlog compares sequence numbers per domain).
  server_id=$(tr ',' '\n' <<<"$backup_gtid" | awk -F- -v d="$domain" '$1 == d { print $2 }')
  server_id=${server_id:-0}
  finished=$(json_field finished <<<"$manifest")
  local plan stop_option
  plan=$(point_plan "$id" "$domain" "$backup_seq" "$server_id" "$finished" "$covered" "$point" <<<"$index") || exit 2
  read -r target_seq until_epoch stop_option <<<"$plan"
  [[ -z $stop_option ]] || stop=("$stop_option")
  if ((until_epoch == 0 && target_seq == backup_seq)); then
    backup_log "restore $id: nothing in the archive ($segment) past the backup's own position ($domain-$server_id-$backup_seq) up to $point: nothing to replay"
    backup_log "restore $id: $(replay_summary 0 "$segment" "$backup_seq" "$backup_seq" "$domain")"
    return 0
  fi
  local socket=$work/replay.sock pid applied=$backup_seq kind member file start end first_time replayed=0
  backup_log "restore $id: replaying the archive ($segment) from $domain-$server_id-$backup_seq to $point"
  mariadbd --no-defaults --datadir="$work/backup" --socket="$socket" --pid-file="$work/replay.pid" --skip-networking \
    --wsrep-on=OFF --skip-log-bin --skip-slave-start --innodb-buffer-pool-size=128M --log-error="$work/replay.err" >/dev/null 2>&1 &
  pid=$!
  local client=(mariadb --no-defaults --socket="$socket" --user="$(id -un 2>/dev/null || echo mysql)" --connect-timeout=5)
  for _ in $(seq 120); do "${client[@]}" -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.5; done
  "${client[@]}" -e 'SELECT 1' >/dev/null 2>&1 || { kill "$pid"; refuse "mariadbd does not start on the prepared backup: $(tail -n 2 "$work/replay.err")"; }
  while read -r kind member file start end first_time _; do
    ((end > applied)) || continue
    ((until_epoch == 0 || first_time == 0 || first_time < until_epoch)) || break
    # Files are in order of their first transaction: one that starts past the next one to apply is a hole.
    ((start <= applied)) || { kill "$pid"; refuse "the archive holds no file with transaction $((applied + 1)) of domain $domain (next: $member/$file from $((start + 1)))"; }
    rc copyto "$archive/$member/$file" "$work/$file" || { kill "$pid"; refuse "archived $member/$file does not read"; }
    TZ=UTC mariadb-binlog --do-domain-ids="$domain" --start-position="$domain-$server_id-$applied" "${stop[@]}" "$work/$file" 2>"$work/binlog.err" |
      "${client[@]}" >"$work/apply.log" 2>&1
    local rcs=("${PIPESTATUS[@]}")
    [[ ${rcs[*]} == "0 0" ]] || { kill "$pid"; refuse "replaying $member/$file failed (exit ${rcs[*]}): $(tail -n 2 "$work/binlog.err" "$work/apply.log" | tr '\n' ' ')"; }
    rm -f "$work/$file"
    applied=$end
    replayed=$((replayed + 1))
    ((until_epoch > 0 || applied < target_seq)) || break
  done < <(grep '^file ' <<<"$index" | sort -k4,4n -k5,5n)
  kill "$pid"
  wait "$pid" 2>/dev/null
  backup_log "restore $id: replayed the archive up to $point"
  # The range, for the drill (with a time point the last file may end past it: an upper bound).
  backup_log "restore $id: $(replay_summary "$replayed" "$segment" "$backup_seq" "$((target_seq > 0 && target_seq < applied ? target_seq : applied))" "$domain")"
}

# Run, unless sourced (the unit tests call point_plan).
[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
