#!/bin/bash
# The member's backup sidecar when the cluster has TLS (GaleraPetSet `tls`): socat listens with OpenSSL, presenting
# the member's certificate (the Secret volume mariadbd uses), and requires the backup job's client certificate:
# signed by the CA (ca.crt) and named BACKUP_TLS_CLIENT_NAME (its common name or a DNS name). The request token is
# still checked by serve.sh, which socat runs once per connection as without TLS. TLS 1.2 or 1.3 only; TLS 1.2 with
# BACKUP_TLS_CIPHERS (ECDHE, AEAD); TLS 1.3 with OpenSSL's default suites, all AEAD (socat has no option for them).
#
# Renewal: socat loads the certificate, key and CA once, when it starts listening, and its forked connections
# share them (measured with socat 1.7.4: a replaced certificate was not presented to the next connection). So this
# script watches the three files every BACKUP_TLS_POLL_SECONDS and, when their content changed and the new pair is
# servable (tls-pair-check.sh), stops the listener and starts a new one. A connection in flight (a backup stream)
# is served by a child of the old listener and carries on: socat's listener exits on SIGTERM without signalling
# its children (measured). Between the two listeners the port is closed for a few milliseconds. A pair that fails
# the check is not served: the old listener keeps the old certificate, and the reason is logged once.
#
# Environment: BACKUP_TLS_DIR (tls.crt, tls.key, ca.crt), BACKUP_TLS_CLIENT_NAME, BACKUP_TLS_CIPHERS, BACKUP_PORT,
# BACKUP_TLS_POLL_SECONDS (default 10), BACKUP_BIND (an address to listen on; default every address of the pod: tests
# bind one loopback address), and serve.sh's.
set -uo pipefail
SCRIPT_DIR=$(dirname "${BASH_SOURCE[0]}")
: "${BACKUP_TLS_DIR:?}" "${BACKUP_TLS_CLIENT_NAME:?}" "${BACKUP_TLS_CIPHERS:?}"
PORT=${BACKUP_PORT:-4445}
POLL=${BACKUP_TLS_POLL_SECONDS:-10}
CERT=$BACKUP_TLS_DIR/tls.crt
KEY=$BACKUP_TLS_DIR/tls.key
CA=$BACKUP_TLS_DIR/ca.crt

log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${0##*/}" "$*" >&2; }

# The three files' content, as one digest (the kubelet swaps them together).
files_digest() {
  cat "$CERT" "$KEY" "$CA" 2>/dev/null | cksum
}

LISTENER=
start_listener() {
  # One serve.sh per connection, at most two at once (a backup and the job's status/result requests); ignoreeof:
  # the client closes its side after the request line, and the answer (a stream) must still flow.
  socat "OPENSSL-LISTEN:$PORT${BACKUP_BIND:+,bind=$BACKUP_BIND},fork,reuseaddr,ignoreeof,max-children=2,cert=$CERT,key=$KEY,cafile=$CA,verify=1,commonname=$BACKUP_TLS_CLIENT_NAME,openssl-min-proto-version=TLS1.2,cipher=$BACKUP_TLS_CIPHERS" \
    "EXEC:bash $SCRIPT_DIR/serve.sh" &
  LISTENER=$!
}

stop_listener() {
  [[ -n $LISTENER ]] || return 0
  kill -TERM "$LISTENER" 2>/dev/null
  wait "$LISTENER" 2>/dev/null
  LISTENER=
}

trap 'stop_listener; exit 0' TERM INT

seen=$(files_digest)
refused=
start_listener
log "listening with TLS on $PORT (clients: '$BACKUP_TLS_CLIENT_NAME', signed by $CA)"
while :; do
  # In the background, so that a TERM is handled at once.
  sleep "$POLL" &
  wait $!
  if ! kill -0 "$LISTENER" 2>/dev/null; then
    wait "$LISTENER" 2>/dev/null
    log "socat stopped listening (exit $?): see its error above"
    exit 1
  fi
  now=$(files_digest)
  [[ $now != "$seen" && $now != "$refused" ]] || continue
  if ! why=$(bash "$SCRIPT_DIR/tls-pair-check.sh" --purpose sslserver "$CERT" "$KEY" "$CA" 2>&1); then
    refused=$now
    log "renewed certificate NOT served: ${why//$'\n'/ }; the listener keeps the current one"
    continue
  fi
  stop_listener
  start_listener
  seen=$now
  log "certificate files changed: listening again with them (connections in flight keep their session)"
done
