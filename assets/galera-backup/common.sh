# Shared by backup.sh and restore.sh (sourced, not run). Bash; besides coreutils it needs socat (the member
# sidecar's protocol) and rclone (the destination), both put in place by the backup pod.
#
# Environment (the GaleraBackup construct sets these):
#   BACKUP_MEMBERS      the members, `name=host` separated by spaces, GaleraPetSet's writerOrdinal first: when no
#                       member can read the writer row, the first Synced one in this order is taken for the writer
#   BACKUP_PORT         the members' backup sidecar port
#   BACKUP_TOKEN        Secret: proves to a sidecar that this job may receive the database
#   BACKUP_REMOTE       where backups go, as an rclone path (`dest:bucket/prefix`, `dest:/backups/prefix`), the
#                       remote `dest` configured by RCLONE_CONFIG_DEST_* variables (credentials from Secrets)
#   BACKUP_RCLONE       the rclone binary (default rclone)

BACKUP_PORT=${BACKUP_PORT:-4445}
BACKUP_RCLONE=${BACKUP_RCLONE:-rclone}
# A backup is a directory `<id>/` under BACKUP_REMOTE holding the stream and, written last, backup.json.
BACKUP_STREAM_FILE=backup.mbstream.gz
BACKUP_MANIFEST_FILE=backup.json
# The binary log archive (archive.sh): BACKUP_REMOTE/binlog/<member>/<file>, listed in index.tsv, summed up in
# archive.json (coverage) and archive.prom (the same for a metrics exporter).
ARCHIVE_DIR=binlog
ARCHIVE_INDEX_FILE=index.tsv
ARCHIVE_MANIFEST_FILE=archive.json
ARCHIVE_METRICS_FILE=archive.prom

backup_log() {
  printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${0##*/}" "$*" >&2
}

rc() {
  "$BACKUP_RCLONE" --config=/dev/null --low-level-retries=3 --retries=2 "$@"
}

# Sends `TOKEN COMMAND ARGS` to the sidecar of HOST and prints its answer (the connection closes after it).
# TIMEOUT bounds the whole exchange.
sidecar_request() {
  local host=$1 timeout=$2
  shift 2
  printf '%s %s\n' "$BACKUP_TOKEN" "$*" |
    timeout "$timeout" socat -t "$timeout" - "TCP:$host:$BACKUP_PORT,connect-timeout=5"
}

# `name state status desync writer` for every member, in BACKUP_MEMBERS' order (choose_source's input).
member_states() {
  local entry name host state status desync writer extra
  for entry in $BACKUP_MEMBERS; do
    name=${entry%%=*}
    host=${entry#*=}
    read -r state status desync writer extra < <(sidecar_request "$host" 15 status 2>/dev/null | head -n 1)
    # A member whose sidecar does not answer, or answers anything else, is down for this purpose.
    [[ $state =~ ^[0-9]$ && -n $status && -n $desync && -z $extra ]] || { state=down status=- desync=- writer=-; }
    echo "$name $state $status $desync ${writer:--}"
  done
}

host_of() {
  local entry
  for entry in $BACKUP_MEMBERS; do [[ ${entry%%=*} == "$1" ]] && echo "${entry#*=}"; done
}

# The backup id of an epoch second: UTC, sortable, a valid object-name part (no colon).
backup_id_at() {
  date -u -d "@$1" +%Y%m%dT%H%M%SZ
}

# The epoch second of a backup id, or nothing when the name is not one.
backup_id_epoch() {
  [[ $1 =~ ^([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z$ ]] || return 1
  date -u -d "${BASH_REMATCH[1]}-${BASH_REMATCH[2]}-${BASH_REMATCH[3]} ${BASH_REMATCH[4]}:${BASH_REMATCH[5]}:${BASH_REMATCH[6]}" +%s
}

# Chooses the member to back up from `name state status desync writer` lines on stdin (members in BACKUP_MEMBERS'
# order; `writer` is the member that member's copy of the replicated writer row names, `-` when unread) or
# returns 1. The writer is never chosen: the backup desyncs its source, and the write path must not stall. The
# writer is the member the row names (Galera replicates it: every Synced member reads the same); with no row
# readable (a cluster from before it), the first Synced member in the order given. The source must leave another
# Synced member besides it, so it is never the last Synced member; donors, joiners (state != 4), members outside
# the Primary component and desynced members are never chosen. Of the eligible ones, the last in the order.
choose_source() {
  local name state status desync named first='' writer='' chosen='' synced=0 seen=() eligible=()
  while read -r name state status desync named; do
    [[ -n $name ]] || continue
    seen+=("$name:$state/$status/desync=$desync")
    [[ $state == 4 && $status == Primary && $desync == OFF ]] || continue
    synced=$((synced + 1))
    [[ -n $first ]] || first=$name
    [[ -n $writer || -z $named || $named == - ]] || writer=$named
    eligible+=("$name")
  done
  [[ -n $writer ]] || writer=$first
  ((synced >= 2)) && for name in "${eligible[@]}"; do [[ $name == "$writer" ]] || chosen=$name; done
  if [[ -z $chosen ]]; then
    echo "no member may be backed up: $synced Synced member(s) (${seen[*]:-none}); the writer ($( [[ -n $writer ]] && echo "$writer" || echo none)) is never a source and the backup needs another Synced member" >&2
    return 1
  fi
  echo "$chosen"
}

# The members the archiver asks, in order, from member_states' lines on stdin: the one the last archived file came
# from (STICKY, $1) when it is Synced, then the other Synced members, the writer's preference (the first) last.
archive_candidates() {
  local sticky=$1 name state status desync others=() found=''
  while read -r name state status desync _; do
    [[ $state == 4 && $status == Primary && $desync == OFF ]] || continue
    if [[ $name == "$sticky" ]]; then found=$name; else others=("$name" "${others[@]}"); fi
  done
  [[ -z $found ]] || echo "$found"
  ((${#others[@]} == 0)) || printf '%s\n' "${others[@]}"
}

# Prints the ids to delete, one a line, from `id complete|incomplete` lines on stdin (any order): every complete
# backup beyond the newest KEEP, and every complete one older than MAX_AGE seconds at NOW, except that the newest
# complete backup is always kept (a schedule that stalled must not leave no backup at all); and every incomplete
# one (no manifest: a job that died) older than STALE seconds (longer than a job may run, so never a running one).
prune_list() {
  local keep=$1 max_age=$2 now=$3 stale=$4 id kind epoch complete=() i=0
  while read -r id kind; do
    epoch=$(backup_id_epoch "$id") || continue
    if [[ $kind == complete ]]; then
      complete+=("$epoch $id")
    elif ((now - epoch > stale)); then
      echo "$id"
    fi
  done
  while read -r epoch id; do
    [[ -n $id ]] || continue
    i=$((i + 1))
    ((i == 1)) && continue
    if ((i > keep || now - epoch > max_age)); then echo "$id"; fi
  done < <(printf '%s\n' "${complete[@]}" | sort -rn)
}

# `id complete|incomplete` for every backup directory under BACKUP_REMOTE.
list_backups() {
  local files
  files=$(rc lsf -R --files-only "$BACKUP_REMOTE" 2>/dev/null) || return 1
  local dirs
  dirs=$(printf '%s\n' "$files" | sed -n 's#^\([^/]*\)/.*#\1#p' | sort -u)
  local d
  for d in $dirs; do
    backup_id_epoch "$d" >/dev/null || continue
    if grep -qxF "$d/$BACKUP_MANIFEST_FILE" <<<"$files"; then echo "$d complete"; else echo "$d incomplete"; fi
  done
}

# The newest complete backup's id, or nothing.
latest_backup() {
  list_backups | awk '$2 == "complete" { print $1 }' | sort | tail -n 1
}

# A value of the flat JSON object on stdin (strings and numbers only, as our manifests are).
json_field() {
  sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p" | head -n 1
}

# `first last first_time last_time` of the GTID events in mariadb-binlog's text on stdin (sequence numbers, epoch
# seconds of their commits; TZ=UTC output), nothing when it holds none. Event headers read `#YYMMDD HH:MM:SS server
# id ...`, the hour space-padded (`#251204  3:05:01`): before 10:00 there are two spaces and one hour digit.
binlog_gtid_range() {
  sed -n 's/^#\([0-9][0-9]\)\([0-9][0-9]\)\([0-9][0-9]\)  *\([0-9][0-9]*:[0-9][0-9]:[0-9][0-9]\) server id .*\tGTID [0-9]*-[0-9]*-\([0-9]*\).*/\5 20\1-\2-\3 \4/p' |
    sed -n '1p;$p' | { read -r first first_day first_clock || return 0
      read -r last last_day last_clock || { last=$first last_day=$first_day last_clock=$first_clock; }
      echo "$first $last $(date -u -d "$first_day $first_clock" +%s) $(date -u -d "$last_day $last_clock" +%s)"; }
}

# The sequence number of GTID domain $2 in the GTID list $1 (`0-1-5,1-1-77` 1 -> 77), 0 when absent.
domain_seq() {
  tr ',' '\n' <<<"$1" | awk -F- -v d="$2" '$1 == d { s = $3 } END { print s + 0 }'
}
