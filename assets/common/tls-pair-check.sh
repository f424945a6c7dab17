#!/bin/bash
# Whether a certificate, its key and a CA bundle may be served: the one check the TLS watchers that run bash and
# openssl make before a renewed Secret reaches their daemon (RabbitMQ's tls-start.sh/tls-reload.sh, ProxySQL's
# tls.sh; shipped in each one's scripts ConfigMap beside them, with `tls` only). A renewal that fails it is never
# served: the daemon keeps its current certificate and the caller logs the reason printed here.
#
#   bash tls-pair-check.sh [--purpose sslserver|sslclient] CERT KEY CA
#
# CERT is the certificate file (the Secret's tls.crt: the leaf first, then any intermediates), KEY its private key
# (tls.key), CA the CA bundle (ca.crt). Checks, in this order, the first failure wins:
#   1. each file is a readable, non-empty regular file (through symlinks: a Secret volume's files are links);
#   2. tls.crt holds a PEM certificate, tls.key a PEM private key;
#   3. the key's public key is the certificate's (the key matches the certificate);
#   4. `openssl verify` of the leaf against ca.crt, with tls.crt's other certificates as untrusted intermediates:
#      signatures up to a CA of the bundle, every certificate valid now (not expired, not yet valid), and with
#      --purpose the X.509 purpose (sslserver: an extendedKeyUsage, when present, must allow serverAuth).
# Exit 0: servable, nothing printed. Exit 1: not servable, one line on stdout says why, naming the files by their
# Secret keys (tls.crt, tls.key, ca.crt) whatever their paths (callers check staged copies). Exit 2: usage.
# bash builtins and openssl only (checked for the ProxySQL admin sidecar's image: test/proxysql-image.test.ts).
set -uo pipefail

usage() {
  echo "usage: $0 [--purpose sslserver|sslclient] CERT KEY CA" >&2
  exit 2
}
purpose=()
if [[ ${1:-} == --purpose ]]; then
  [[ ${2:-} == sslserver || ${2:-} == sslclient ]] || usage
  purpose=(-purpose "$2")
  shift 2
fi
(($# == 3)) || usage
cert=$1 key=$2 ca=$3

refuse() {
  printf '%s\n' "$1"
  exit 1
}

for pair in "tls.crt:$cert" "tls.key:$key" "ca.crt:$ca"; do
  file=${pair#*:}
  [[ -f $file && -r $file ]] || refuse "${pair%%:*} is missing or unreadable"
  [[ -s $file ]] || refuse "${pair%%:*} is empty"
done

# stdin closed: an encrypted key must fail here, not wait for a passphrase.
cert_key=$(openssl x509 -in "$cert" -noout -pubkey 2>/dev/null </dev/null) || refuse 'tls.crt holds no PEM certificate'
key_key=$(openssl pkey -in "$key" -pubout 2>/dev/null </dev/null) || refuse 'tls.key holds no PEM private key'
[[ $cert_key == "$key_key" ]] || refuse 'tls.key does not match the certificate in tls.crt'

if ! out=$(openssl verify "${purpose[@]}" -CAfile "$ca" -untrusted "$cert" "$cert" 2>&1 </dev/null); then
  # openssl says "error <n> at <depth> depth lookup: <reason>" per problem (depth 0: the leaf); the rest of its
  # output names the checked path, a staged copy the reader cannot use. Anything else is passed on whole.
  why=''
  while IFS= read -r line; do
    [[ $line =~ ^error\ [0-9]+\ at\ ([0-9]+)\ depth\ lookup:\ (.*)$ ]] || continue
    why+="${why:+; }${BASH_REMATCH[2]} (depth ${BASH_REMATCH[1]})"
  done <<<"$out"
  refuse "tls.crt does not verify against ca.crt now${purpose:+ as ${purpose[1]}}: ${why:-${out//$'\n'/ }}"
fi
exit 0
