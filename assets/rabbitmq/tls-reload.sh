#!/bin/bash
# TLS certificate of a RabbitMQ broker: sourced by tls-start.sh (the functions), run by it in the background as
# `tls-reload.sh watch` (the loop). bash, coreutils, openssl and the RabbitMQ CLI: all in the broker image.
#
# The broker and the CLI tools never read the Secret mount ($RABBITMQ_TLS_SOURCE_DIR): they read a checked copy in
# $RABBITMQ_TLS_DIR (the memory-backed render dir), laid out as the kubelet lays out a Secret volume (`..data` ->
# `..<time>/`, each file a link through `..data`), so the three files change together by one rename. Erlang caches
# PEM files, and re-reads one whose modification time changed (its PEM cache validation, every 2 min) or when the
# cache is cleared: were the broker pointed at the Secret mount, a broken renewal (a key that does not match, an
# expired or foreign certificate) would reach its listeners within 2 minutes. Here it never does:
#
# watch: every $RABBITMQ_TLS_RELOAD_INTERVAL seconds (10), hash the mounted files. When they changed, copy them into
# a new directory of $RABBITMQ_TLS_DIR, check the copy (tls-pair-check.sh: a certificate, a key that matches it,
# valid now, signed by the CA bundle or its own chain); if it fails, log why once and keep serving the current pair.
# Otherwise swap `..data` to it and clear Erlang's PEM caches (the listeners' and the distribution's: `rabbitmqctl
# eval`), then connect to the AMQPS port until the broker presents the new certificate; only then is the change
# recorded (a failed clear or check is retried at the next pass). Open connections keep their session; new ones get
# the new certificate. Nothing restarts.
#
# Env: RABBITMQ_TLS_SOURCE_DIR (/etc/rabbitmq-tls), RABBITMQ_TLS_DIR (/etc/rabbitmq/tls), RABBITMQ_TLS_CHECK_PORT
# (5671), RABBITMQ_TLS_CLIENT_CERTIFICATE (true: present the certificate when checking, the broker asks for one),
# RABBITMQ_TLS_RELOAD_INTERVAL (10), HOST_IP and RABBITMQ_NODENAME (as for start.sh).
tls_source=${RABBITMQ_TLS_SOURCE_DIR:-/etc/rabbitmq-tls}
tls_dir=${RABBITMQ_TLS_DIR:-/etc/rabbitmq/tls}
TLS_FILES=(tls.crt tls.key ca.crt)

tls_log() { printf '%s tls-reload.sh: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

# The mounted files' directory as one consistent version (the kubelet's `..data` target, when there is one).
tls_source_version() {
  if [[ -L $tls_source/..data ]]; then
    printf '%s/%s' "$tls_source" "$(readlink "$tls_source/..data")"
  else
    printf '%s' "$tls_source"
  fi
}

# sha256 of the three files of DIR (empty when one cannot be read).
tls_digest() {
  local dir=$1
  cat "$dir/tls.crt" "$dir/tls.key" "$dir/ca.crt" 2>/dev/null | sha256sum | cut -d' ' -f1
}

# This file's directory: the scripts ConfigMap, where tls-pair-check.sh sits beside it.
tls_script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Why the files of DIR must not be served; prints nothing when they can. The check (the key matches the certificate,
# valid now, chains to ca.crt with tls.crt's intermediates) is tls-pair-check.sh's, shared with ProxySQL's tls.sh.
# No purpose is required: the broker's certificate serves the listeners and is also the distribution's client one.
tls_problem() {
  local dir=$1 why rc=0
  why=$(bash "$tls_script_dir/tls-pair-check.sh" "$dir/tls.crt" "$dir/tls.key" "$dir/ca.crt" 2>&1) || rc=$?
  # A check that could not run refuses too (never an empty reason).
  ((rc == 0)) || echo "${why:-tls-pair-check.sh failed (exit $rc)}"
  return 0
}

# Copies the mounted files into a new version dir of $tls_dir and checks the copy (one consistent read: what is
# checked is what is served). Prints "ok <dir>", or "bad <why>" (the copy removed).
tls_stage() {
  local from new f problem
  from=$(tls_source_version)
  mkdir -p "$tls_dir"
  new=$(mktemp -d "$tls_dir/..staging.XXXXXX") || { echo "bad cannot create a directory in $tls_dir"; return 0; }
  for f in "${TLS_FILES[@]}"; do
    cp "$from/$f" "$new/$f" 2>/dev/null || { rm -rf "$new"; echo "bad cannot read $tls_source/$f"; return 0; }
  done
  chmod 0444 "$new/tls.crt" "$new/ca.crt"
  chmod 0400 "$new/tls.key"
  chmod 0500 "$new"
  problem=$(tls_problem "$new")
  if [[ -n $problem ]]; then
    chmod 0700 "$new"
    rm -rf "$new"
    echo "bad $problem"
  else
    echo "ok $new"
  fi
}

# Makes the staged dir DIR the one served: one rename of `..data`, then the old versions go.
tls_activate() {
  local new=$1 f old
  ln -sfn "$(basename "$new")" "$tls_dir/..data_tmp"
  mv -Tf "$tls_dir/..data_tmp" "$tls_dir/..data"
  for f in "${TLS_FILES[@]}"; do
    [[ -L $tls_dir/$f ]] || { rm -f "$tls_dir/$f"; ln -s "..data/$f" "$tls_dir/$f"; }
  done
  for old in "$tls_dir"/..staging.*; do
    [[ $old == "$new" || ! -d $old ]] && continue
    chmod 0700 "$old"
    rm -rf "$old"
  done
}

# Whether the served copy is usable (a previous run of this pod's container installed it).
tls_active_usable() {
  [[ -L $tls_dir/..data && -z $(tls_problem "$tls_dir") ]]
}

# The serial of the certificate the broker presents on the AMQPS port (empty when no verified handshake).
tls_presented_serial() {
  local client=() pem
  [[ ${RABBITMQ_TLS_CLIENT_CERTIFICATE:-false} == true ]] && client=(-cert "$tls_dir/tls.crt" -key "$tls_dir/tls.key")
  pem=$(timeout 10 openssl s_client -connect "$HOST_IP:${RABBITMQ_TLS_CHECK_PORT:-5671}" -CAfile "$tls_dir/ca.crt" \
    -verify_return_error "${client[@]}" </dev/null 2>/dev/null | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p')
  [[ -n $pem ]] && openssl x509 -noout -serial <<<"$pem" 2>/dev/null | cut -d= -f2
}

# Clears the listeners' and the distribution's PEM caches (and the CA databases built from them).
tls_clear_caches() {
  rabbitmqctl -q eval 'ok = ssl:clear_pem_cache(), case whereis(ssl_pem_cache_dist) of undefined -> ok; _ -> gen_server:call(ssl_pem_cache_dist, unconditionally_clear_pem_cache, infinity) end.' >/dev/null
}

tls_watch() {
  local interval=${RABBITMQ_TLS_RELOAD_INTERVAL:-10} applied refused='' current stage dir serial
  # What tls-start.sh installed is what the broker booted with.
  applied=$(tls_digest "$tls_dir")
  for (( ; ; )); do
    sleep "$interval"
    current=$(tls_digest "$(tls_source_version)")
    [[ -z $current || $current == "$applied" ]] && continue
    if [[ $current != "$(tls_digest "$tls_dir")" ]]; then
      stage=$(tls_stage)
      if [[ $stage == bad* ]]; then
        # Logged once per content; a fixed Secret is picked up as usual.
        [[ $current == "$refused" ]] || tls_log "renewed certificate not applied (the broker keeps serving the current one): ${stage#bad }"
        refused=$current
        continue
      fi
      dir=${stage#ok }
      # The staged copy may differ from what was hashed if the kubelet swapped again meanwhile: hash what is served.
      tls_activate "$dir"
    fi
    serial=$(openssl x509 -in "$tls_dir/tls.crt" -noout -serial | cut -d= -f2)
    if ! tls_clear_caches; then
      tls_log "certificate $serial installed; clearing the PEM cache failed (broker not running?): retrying in ${interval}s"
      continue
    fi
    if [[ $(tls_presented_serial) != "$serial" ]]; then
      tls_log "certificate $serial installed, but the AMQPS port does not present it yet: retrying in ${interval}s"
      continue
    fi
    applied=$(tls_digest "$tls_dir")
    tls_log "the broker serves certificate serial $serial"
  done
}

if [[ ${BASH_SOURCE[0]} == "$0" && ${1:-} == watch ]]; then
  set -uo pipefail
  umask 077
  tls_watch
fi
