# Shared by backup.sh and restore.sh (sourced, not run). Bash; besides coreutils it needs socat (the member
# sidecar's protocol) and rclone (the destination), both put in place by the backup pod.
#
# Environment (the GaleraBackup construct sets these):
#   BACKUP_MEMBERS      the members, `name=host` separated by spaces, GaleraPetSet's writerOrdinal first: when no
#                       member can read the writer row, the first Synced one in this order is taken for the writer
#   BACKUP_PORT         the members' backup sidecar port
#   BACKUP_TOKEN_FILE   Secret (the Galera SST password), as a file the kubelet updates in place: proves to a sidecar
#                       that this job may receive the database; read at every request, so that a job that runs
#                       across a rotation sends the new one once its node has it
#   BACKUP_TOKEN        the token itself, when there is no BACKUP_TOKEN_FILE (tests, a shell)
#   BACKUP_TLS_DIR      set when the cluster has TLS: the job's client certificate (tls.crt, tls.key) and the CA
#                       (ca.crt) that signed it and the members' certificate; the sidecars are then reached over TLS
#   BACKUP_TLS_CIPHERS  with BACKUP_TLS_DIR: the TLS 1.2 ciphers offered (TLS 1.3: OpenSSL's suites, all AEAD)
#   BACKUP_REMOTE       where backups go, as an rclone path (`dest:bucket/prefix`, `dest:/backups/prefix`), the
#                       remote `dest` configured by RCLONE_CONFIG_DEST_* variables (credentials from Secrets)
#   BACKUP_RCLONE       the rclone binary (default rclone)

BACKUP_PORT=${BACKUP_PORT:-4445}
BACKUP_RCLONE=${BACKUP_RCLONE:-rclone}
# A backup is a directory `<id>/` under BACKUP_REMOTE holding the stream and, written last, backup.json.
BACKUP_STREAM_FILE=backup.mbstream.gz
BACKUP_MANIFEST_FILE=backup.json
# The binary log archive (archive.sh): BACKUP_REMOTE/binlog/<member>/<file>, listed in index.tsv, summed up in
# archive.json (coverage) and archive.prom (the same for a metrics exporter). retain.json (written by the backup
# job's retention) tells the archiver which files no kept backup needs any more.
ARCHIVE_DIR=binlog
ARCHIVE_INDEX_FILE=index.tsv
ARCHIVE_MANIFEST_FILE=archive.json
ARCHIVE_METRICS_FILE=archive.prom
ARCHIVE_RETAIN_FILE=retain.json
# Segments: BACKUP_REMOTE/binlog/ holds the cluster's current GTID history. A restore of the cluster (or a change of
# the GTID domain) starts a new history whose sequence numbers may repeat the archived ones, so the current segment
# is first closed: moved to binlog-<R>/ (R: when, as a backup id), history.json written last. Backups taken before
# R belong to it: backup B's segment is binlog-<R> for the smallest R after B, else binlog/.
ARCHIVE_HISTORY_FILE=history.json

backup_log() {
  printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${0##*/}" "$*" >&2
}

rc() {
  "$BACKUP_RCLONE" --config=/dev/null --low-level-retries=3 --retries=2 "$@"
}

# Prints the object at PATH (a manifest, an index, retain.json, history.json: never empty when it exists); returns 1
# when it does not exist or does not read. Not `rc cat` alone: on S3 a missing key is read as an empty directory
# listing and rclone exits 0 with no output (seen against s3rver: the backup job wrote retain.json into an archive
# that did not exist, and a drill would have taken the backup's segment for an archive).
rc_read() {
  local text
  text=$(rc cat "$1" 2>/dev/null) && [[ -n $text ]] || return 1
  printf '%s\n' "$text"
}

# The socat address of HOST's sidecar. With TLS (BACKUP_TLS_DIR): the member's certificate must chain to the CA and
# name HOST (socat checks the name it connects to: the member's DNS name, which the members' certificate covers),
# the job presents its client certificate, and nothing older than TLS 1.2 is spoken.
sidecar_address() {
  local host=$1
  if [[ -n ${BACKUP_TLS_DIR:-} ]]; then
    echo "OPENSSL:$host:$BACKUP_PORT,connect-timeout=5,verify=1,cafile=$BACKUP_TLS_DIR/ca.crt,cert=$BACKUP_TLS_DIR/tls.crt,key=$BACKUP_TLS_DIR/tls.key,openssl-min-proto-version=TLS1.2,cipher=${BACKUP_TLS_CIPHERS:?}"
  else
    echo "TCP:$host:$BACKUP_PORT,connect-timeout=5"
  fi
}

# Sets TOKEN to the token as it is now: BACKUP_TOKEN_FILE's content, byte for byte, or BACKUP_TOKEN.
read_token() {
  TOKEN=${BACKUP_TOKEN:-}
  if [[ -n ${BACKUP_TOKEN_FILE:-} && -f $BACKUP_TOKEN_FILE ]]; then
    IFS= read -r -d '' TOKEN <"$BACKUP_TOKEN_FILE" || true
  fi
}

# Sends `TOKEN COMMAND ARGS` to the sidecar of HOST and prints its answer (the connection closes after it).
# TIMEOUT bounds the whole exchange.
sidecar_request() {
  local host=$1 timeout=$2 address TOKEN
  shift 2
  address=$(sidecar_address "$host") || return 1
  read_token
  printf '%s %s\n' "$TOKEN" "$*" |
    timeout "$timeout" socat -t "$timeout" - "$address"
}

# Whether something accepts TCP connections on HOST's sidecar port (no request is sent): a member whose sidecar
# did not answer a request may still be running (a TLS handshake that failed, an overloaded member).
sidecar_listening() {
  timeout 10 socat -u /dev/null "TCP:$1:$BACKUP_PORT,connect-timeout=5" 2>/dev/null
}

# `name state status desync writer` for every member, in BACKUP_MEMBERS' order (choose_source's input). A sidecar that
# refuses the token is asked again every 10 s, for BACKUP_TOKEN_WAIT_SECONDS (90) in all: right after the SST password
# changed, this job's node may have the new token before any member's node has it, and no member accepts it yet (a
# minute at most); from the first member that applies it, every sidecar accepts it (serve.sh).
member_states() {
  local entry name host state status desync writer extra deadline=$((SECONDS + ${BACKUP_TOKEN_WAIT_SECONDS:-90}))
  for entry in $BACKUP_MEMBERS; do
    name=${entry%%=*}
    host=${entry#*=}
    while read -r state status desync writer extra < <(sidecar_request "$host" 15 status 2>/dev/null | head -n 1) &&
      [[ "$state $status $desync" == 'refused: bad token' ]] && ((SECONDS + 10 <= deadline)); do
      backup_log "$name's sidecar refused this job's token; asking again in 10 s (a password rotation the members have not applied yet?)"
      sleep 10
    done
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

# The times R of the closed archive segments (binlog-<R>/), oldest first; returns 1 when the destination does not
# list (a caller must not take every backup for the current history then).
archive_closed_segments() {
  local dirs
  dirs=$(rc lsf --dirs-only "$BACKUP_REMOTE" 2>/dev/null) || return 1
  sed -n "s#^$ARCHIVE_DIR-\([0-9]\{8\}T[0-9]\{6\}Z\)/\$#\1#p" <<<"$dirs" | sort
}

# The segment (a directory name under BACKUP_REMOTE) that holds the history of backup ID, from the closed segments'
# times R on stdin: the first closed after ID, else the current one.
segment_of() {
  local id=$1 r
  while read -r r; do
    [[ -n $r && $r > $id ]] && { echo "$ARCHIVE_DIR-$r"; return 0; }
  done < <(sort)
  echo "$ARCHIVE_DIR"
}

archive_segment_for() {
  local closed
  closed=$(archive_closed_segments) || return 1
  segment_of "$1" <<<"$closed"
}

# Closes the current segment: moves BACKUP_REMOTE/binlog/ to binlog-<R>/ (R now) and writes its history.json
# (REASON) last. A close that did not finish (a segment without history.json) is finished instead, under its R.
# Prints the closed segment's name, nothing when there was no archive; returns 1 when the move failed.
archive_close_segment() {
  local reason=$1 r='' pending closed files top
  closed=$(archive_closed_segments) || return 1
  for pending in $closed; do
    rc_read "$BACKUP_REMOTE/$ARCHIVE_DIR-$pending/$ARCHIVE_HISTORY_FILE" >/dev/null || r=$pending
  done
  # No archive only when the destination lists and has no binlog/ (a listing that fails is not an empty archive).
  if ! files=$(rc lsf -R --files-only "$BACKUP_REMOTE/$ARCHIVE_DIR" 2>/dev/null); then
    top=$(rc lsf --dirs-only "$BACKUP_REMOTE" 2>/dev/null) || return 1
    ! grep -qxF "$ARCHIVE_DIR/" <<<"$top" || return 1
    files=''
  fi
  if [[ -z $r ]]; then
    [[ -n $files ]] || return 0
    r=$(backup_id_at "$(date -u +%s)")
  fi
  if [[ -n $files ]]; then
    rc move --delete-empty-src-dirs "$BACKUP_REMOTE/$ARCHIVE_DIR" "$BACKUP_REMOTE/$ARCHIVE_DIR-$r" || return 1
  fi
  printf '{"closed": "%s", "at": %s, "reason": "%s"}\n' "$r" "$(date -u +%s)" "${reason//\"/\'}" |
    rc rcat "$BACKUP_REMOTE/$ARCHIVE_DIR-$r/$ARCHIVE_HISTORY_FILE" || return 1
  echo "$ARCHIVE_DIR-$r"
}

# The index lines (index.tsv on stdin) a restore from a backup holding the domain's transactions up to KEEP may
# still need: a file goes when every transaction it holds is at or before KEEP (its end <= KEEP), but never the
# last file listed nor the one(s) reaching furthest (the archiver continues from them); a gap goes when it ends at
# or before KEEP (no restore from a kept backup has to pass it).
archive_retained() {
  awk -v keep="$1" '
    NF == 0 { next }
    { line[++n] = $0; kind[n] = $1; end[n] = ($1 == "file" ? $5 : $3) + 0
      if ($1 == "file") { last = n; if (end[n] > max) max = end[n] } }
    END {
      for (i = 1; i <= n; i++) {
        if (kind[i] == "file" && end[i] <= keep + 0 && i != last && end[i] < max) continue
        if (kind[i] == "gap" && end[i] <= keep + 0) continue
        print line[i]
      }
    }'
}

# Removes from SEGMENT the files of the index on stdin that archive_retained(KEEP) leaves out, and prints the index
# without them (a file whose removal failed keeps its line: the next prune retries).
archive_prune() {
  local segment=$1 keep=$2 index retained line kind member file dropped='' removed=0
  index=$(sed '/^$/d')
  retained=$(archive_retained "$keep" <<<"$index")
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    grep -qxF -- "$line" <<<"$retained" && continue
    read -r kind member file _ <<<"$line"
    if [[ $kind == file ]] && ! rc deletefile "$BACKUP_REMOTE/$segment/$member/$file" 2>/dev/null &&
      rc lsf "$BACKUP_REMOTE/$segment/$member/$file" >/dev/null 2>&1; then
      backup_log "archive retention: could not remove $segment/$member/$file (the next prune retries)"
      continue
    fi
    [[ $kind == file ]] && removed=$((removed + 1))
    dropped+=$line$'\n'
  done <<<"$index"
  ((removed == 0)) || backup_log "archive retention: removed $removed file(s) of $segment holding nothing past sequence $keep"
  if [[ -z $dropped ]]; then printf '%s\n' "$index"; else grep -vxF -f <(printf '%s' "$dropped") <<<"$index"; fi
}

# What retention does to the archive, from `closed R` (archive_closed_segments) and `backup ID SEQ` lines (every
# kept complete backup; SEQ: its manifest's binlog_seq, `-` when it has none) on stdin. Per segment, the oldest kept
# backup of its history decides: `keep SEGMENT SEQ ID` (remove what lies at or before SEQ), or nothing when that
# backup has no binlog_seq (unknown: nothing is removed). A closed segment no kept backup belongs to goes whole:
# `purge SEGMENT`. The current segment is never purged (the archiver continues it).
archive_retention_plan() {
  local kind a b closed=() backups=() id seq segment
  declare -A oldest=() oldest_seq=()
  while read -r kind a b; do
    case $kind in
      closed) closed+=("$a") ;;
      backup) backup_id_epoch "$a" >/dev/null && backups+=("$a ${b:--}") ;;
    esac
  done
  while read -r id seq; do
    [[ -n $id ]] || continue
    segment=$( ((${#closed[@]} == 0)) || printf '%s\n' "${closed[@]}" | segment_of "$id")
    [[ -n $segment ]] || segment=$ARCHIVE_DIR
    [[ -n ${oldest[$segment]:-} ]] && continue
    oldest[$segment]=$id
    oldest_seq[$segment]=$seq
  done < <( ((${#backups[@]} == 0)) || printf '%s\n' "${backups[@]}" | sort)
  for segment in $( ((${#closed[@]} == 0)) || printf "$ARCHIVE_DIR-%s\n" "${closed[@]}" | sort) "$ARCHIVE_DIR"; do
    if [[ -z ${oldest[$segment]:-} ]]; then
      [[ $segment == "$ARCHIVE_DIR" ]] || echo "purge $segment"
    elif [[ ${oldest_seq[$segment]} =~ ^[0-9]+$ ]]; then
      echo "keep $segment ${oldest_seq[$segment]} ${oldest[$segment]}"
    fi
  done
}

# The line restore.sh logs after replaying the archive (FILES SEGMENT FROM TO DOMAIN), and the drill's reading of it
# from a restore's log on stdin: `files from to` of the last such line, nothing when there is none.
replay_summary() {
  echo "replayed $1 file(s) of $2: sequence $3-$4 of domain $5"
}
replay_range_of() {
  sed -n 's/.*replayed \([0-9]*\) file(s) of [^:]*: sequence \([0-9]*\)-\([0-9]*\) of domain [0-9]*$/\1 \2 \3/p' | tail -n 1
}
