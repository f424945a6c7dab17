#!/bin/sh
# The mysqld-exporter container's command (the stock quay.io/prometheus/mysqld-exporter image: busybox sh, wget,
# cksum): runs mysqld_exporter with the monitor's password from MYSQLD_EXPORTER_PASSWORD_FILE (a Secret volume the
# kubelet updates in place), and follows a change of that file without restarting the container.
#
# Why a wrapper: mysqld_exporter 0.15 reads MYSQLD_EXPORTER_PASSWORD once, at start. Its `/-/reload` re-reads only
# the my.cnf file, and expands `$NAME` in every value of it (os.ExpandEnv), so a password with a `$` cannot be put
# there; and the variable keeps its start value. So the running exporter is replaced by one started with the new
# password, but only once the member accepts it: a candidate exporter with the new password on a loopback port
# (MYSQLD_EXPORTER_CHECK_ADDRESS) is scraped, and when it reports `mysql_up 1` (apply-users.sh has started the
# rotation: the member accepts the new password and, for the grace, the old one) the running one is stopped and a new
# one started with the new password. Until then the running exporter keeps logging in with the old password, which
# the member still accepts. The only gap is the restart itself (a fraction of a second with no listener: a scrape
# that falls in it fails, no login does).
#
# Environment:
#   MYSQLD_EXPORTER_PASSWORD_FILE   the monitor's password file (required); its bytes are the password
#   MYSQLD_EXPORTER_LISTEN          the metrics address                       (default :9104)
#   MYSQLD_EXPORTER_CHECK_ADDRESS   the candidate's address, loopback only    (default 127.0.0.1:9105)
#   MYSQLD_EXPORTER_CHECK_SECONDS   how often the file is compared            (default 5)
#   MYSQLD_EXPORTER_BIN             the exporter                              (default /bin/mysqld_exporter)
# Arguments: passed to every exporter (never --web.listen-address, which this sets).
# The password reaches the exporter only through its environment (never an argument, a file or a log line).
set -u

PASSWORD_FILE=${MYSQLD_EXPORTER_PASSWORD_FILE:?MYSQLD_EXPORTER_PASSWORD_FILE is required}
LISTEN=${MYSQLD_EXPORTER_LISTEN:-:9104}
CHECK_ADDRESS=${MYSQLD_EXPORTER_CHECK_ADDRESS:-127.0.0.1:9105}
CHECK_SECONDS=${MYSQLD_EXPORTER_CHECK_SECONDS:-5}
EXPORTER=${MYSQLD_EXPORTER_BIN:-/bin/mysqld_exporter}

log() {
  printf '%s exporter.sh: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

# The file's bytes, trailing newlines included (as an env var from secretKeyRef would hold them).
read_password() {
  PASSWORD=$(cat "$PASSWORD_FILE" && printf .) || return 1
  PASSWORD=${PASSWORD%.}
  [ -n "$PASSWORD" ]
}

fingerprint() {
  cksum <"$PASSWORD_FILE" 2>/dev/null
}

# Starts an exporter listening on $1 with the password in PASSWORD (in its environment only); sets STARTED.
start_exporter() {
  listen=$1
  shift
  MYSQLD_EXPORTER_PASSWORD=$PASSWORD "$EXPORTER" "--web.listen-address=$listen" "$@" &
  STARTED=$!
}

stop() {
  kill "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

# Whether the member accepts PASSWORD: a candidate exporter with it reports mysql_up 1 (a few tries while it starts).
candidate_logs_in() {
  accepted=1
  start_exporter "$CHECK_ADDRESS" "$@"
  candidate=$STARTED
  for _ in 1 2 3 4 5; do
    sleep 1
    if metrics=$(wget -q -T 5 -O - "http://$CHECK_ADDRESS/metrics" 2>/dev/null); then
      case "$metrics" in
        *'
mysql_up 1'*) accepted=0 ;;
      esac
      break
    fi
  done
  stop "$candidate"
  return $accepted
}

read_password || {
  log "no password in $PASSWORD_FILE"
  exit 1
}
SEEN=$(fingerprint)
start_exporter "$LISTEN" "$@"
RUNNING=$STARTED
trap 'stop "$RUNNING"; exit 0' TERM INT
WAITING= PENDING=

while :; do
  sleep "$CHECK_SECONDS" &
  wait $!
  kill -0 "$RUNNING" 2>/dev/null || {
    wait "$RUNNING"
    status=$?
    log "mysqld_exporter exited ($status)"
    exit "$status"
  }
  now=$(fingerprint)
  [ -n "$now" ] && [ "$now" != "$SEEN" ] || continue
  # A change is tried from the pass after the one that saw it: by then this member's entrypoint, which compares its
  # own copy of the file every second, has started the rotation, so the candidate's login is not refused.
  if [ "$now" != "$PENDING" ]; then
    PENDING=$now
    continue
  fi
  current=$PASSWORD
  if ! read_password; then
    PASSWORD=$current
    continue
  fi
  if [ "$PASSWORD" = "$current" ]; then
    SEEN=$now
    PASSWORD=$current
    continue
  fi
  if candidate_logs_in "$@"; then
    stop "$RUNNING"
    start_exporter "$LISTEN" "$@"
    RUNNING=$STARTED
    SEEN=$now WAITING=
    log "password file changed: the member accepts the new password; the exporter now uses it"
  else
    [ -n "$WAITING" ] || log "password file changed, but the member does not accept the new password yet: the exporter keeps the old one (checking every $CHECK_SECONDS s)"
    WAITING=1
    PASSWORD=$current
  fi
done
