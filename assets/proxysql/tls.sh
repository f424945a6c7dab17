#!/bin/bash
# ProxySQL's TLS certificate: into place at start, renewed in place. Shipped only when the layer has `tls`.
#
# ProxySQL 2.7 serves clients the certificate it reads from its datadir: proxysql-cert.pem, proxysql-key.pem and
# proxysql-ca.pem (src/proxy_tls.cpp: all three or none; with none it generates a self-signed set). It reads them at
# start and at each `PROXYSQL RELOAD TLS` on the admin interface (2.3.0 and later), which builds a new TLS context
# from the three files and swaps it in only when all load and the key matches the certificate: new client
# connections get the new certificate, open ones keep their session. It has no variables for their paths, so the
# mounted Secret (PROXYSQL_TLS_DIR: tls.crt, tls.key, ca.crt, swapped by the kubelet on renewal) is copied there.
# The backend side (to the Galera members) reads the mounted CA itself, per new connection: nothing to do here.
#
#   tls.sh start   (proxysql container) copy the mounted files into PROXYSQL_DATADIR, then exec start.sh. Bash
#                  builtins only (the ProxySQL image is checked for that: lib/proxysql/image.ts).
#   tls.sh watch   (admin sidecar) every PROXYSQL_WATCH_INTERVAL_SECONDS (1): `apply`, and admin.sh's reader
#                  fallback (`reconcile`) when PROXYSQL_READER_FALLBACK=true.
#   tls.sh apply   one renewal pass: when the mounted files differ from what ProxySQL last loaded through this
#                  process (the first pass always applies once: the Secret may have changed between ProxySQL's
#                  start and the sidecar's), stage them in the datadir, check them (tls-pair-check.sh: the key
#                  matches the certificate, the certificate is valid now, is a TLS server certificate and chains to
#                  the CA), move them into place and send PROXYSQL RELOAD TLS. A pair that fails a check is not applied: ProxySQL keeps serving
#                  its current certificate, the reason is logged once, and the next change is checked again. A failed
#                  reload is retried at the next pass.
#
# Environment: PROXYSQL_TLS_DIR, PROXYSQL_DATADIR; for watch/apply also PROXYSQL_ADMIN_PORT, PROXYSQL_ADMIN_USER,
# PROXYSQL_ADMIN_PASSWORD (and admin.sh's variables for the fallback).
set -uo pipefail

SCRIPT_DIR=${BASH_SOURCE[0]%/*}
# Mounted name -> the name ProxySQL reads in its datadir.
FILES=(tls.crt:proxysql-cert.pem tls.key:proxysql-key.pem ca.crt:proxysql-ca.pem)

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# Writes the mounted files into the datadir under their ProxySQL names plus suffix $1 (mode 0600). $(<file) drops
# trailing newlines; one is written back, and the same reading is what `apply` compares.
copy_files() {
  local suffix=$1 pair content
  umask 077
  for pair in "${FILES[@]}"; do
    content=$(<"$PROXYSQL_TLS_DIR/${pair%%:*}") || return 1
    [[ -n $content ]] || { log "$PROXYSQL_TLS_DIR/${pair%%:*} is empty"; return 1; }
    printf '%s\n' "$content" >"$PROXYSQL_DATADIR/${pair#*:}$suffix" || return 1
  done
}

start() {
  : "${PROXYSQL_TLS_DIR:?}" "${PROXYSQL_DATADIR:?}"
  copy_files '' || { log "cannot copy the certificate from $PROXYSQL_TLS_DIR into $PROXYSQL_DATADIR"; exit 1; }
  log "certificate copied from $PROXYSQL_TLS_DIR into $PROXYSQL_DATADIR"
  exec bash "$SCRIPT_DIR/start.sh"
}

admin_sql() {
  MYSQL_PWD=$PROXYSQL_ADMIN_PASSWORD mariadb --no-defaults --skip-ssl --protocol=tcp -h 127.0.0.1 \
    -P "$PROXYSQL_ADMIN_PORT" -u "$PROXYSQL_ADMIN_USER" --connect-timeout=2 -N -B -e "$1"
}

TLS_APPLIED=
TLS_REFUSED=
apply() {
  local content pair staged=() why
  # The three files as one string (bash only, in this process's memory): what was last applied or refused.
  content=$(<"$PROXYSQL_TLS_DIR/tls.crt")$'\n'$(<"$PROXYSQL_TLS_DIR/tls.key")$'\n'$(<"$PROXYSQL_TLS_DIR/ca.crt") || {
    log "cannot read the certificate files in $PROXYSQL_TLS_DIR"
    return 1
  }
  [[ $content != "$TLS_APPLIED" && $content != "$TLS_REFUSED" ]] || return 0
  copy_files .new || { log "cannot stage the certificate from $PROXYSQL_TLS_DIR"; return 1; }
  for pair in "${FILES[@]}"; do staged+=("$PROXYSQL_DATADIR/${pair#*:}.new"); done
  # The key matches the certificate, which is valid now, a TLS server certificate, and chains to the CA (with any
  # intermediates tls.crt carries): tls-pair-check.sh, shared with RabbitMQ's watcher. A check that cannot run refuses.
  if ! why=$(bash "$SCRIPT_DIR/tls-pair-check.sh" --purpose sslserver "${staged[@]}" 2>&1); then
    why=${why//$'\n'/ }
    TLS_REFUSED=$content
    log "certificate NOT applied: $why; ProxySQL keeps serving its current certificate"
    return 1
  fi
  for pair in "${FILES[@]}"; do
    mv -f "$PROXYSQL_DATADIR/${pair#*:}.new" "$PROXYSQL_DATADIR/${pair#*:}" || return 1
  done
  if ! why=$(admin_sql 'PROXYSQL RELOAD TLS' 2>&1); then
    log "PROXYSQL RELOAD TLS failed (${why//$'\n'/ }); retried at the next pass"
    return 1
  fi
  TLS_APPLIED=$content
  TLS_REFUSED=
  why=$(openssl x509 -in "$PROXYSQL_DATADIR/proxysql-cert.pem" -noout -serial -enddate 2>&1)
  log "certificate loaded by PROXYSQL RELOAD TLS: ${why//$'\n'/, }"
}

watch() {
  local interval=${PROXYSQL_WATCH_INTERVAL_SECONDS:-1}
  : "${PROXYSQL_TLS_DIR:?}" "${PROXYSQL_DATADIR:?}"
  trap 'exit 0' TERM INT
  while :; do
    apply
    [[ ${PROXYSQL_READER_FALLBACK:-false} == true ]] && bash "$SCRIPT_DIR/admin.sh" reconcile
    # sleep in the background so that SIGTERM is handled at once, not after the sleep.
    sleep "$interval" &
    wait $! || true
  done
}

case ${1:-} in
  start | watch | apply) "$1" ;;
  *)
    echo "usage: $0 start|watch|apply" >&2
    exit 2
    ;;
esac
