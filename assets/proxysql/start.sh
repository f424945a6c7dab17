#!/bin/bash
# Entrypoint of the proxysql container: renders the final proxysql.cnf from the ConfigMap template and the
# passwords in the environment (from Secret refs), into a memory-backed directory, then runs ProxySQL with
# --initial so that this file, and never a proxysql.db left from an earlier start, is the configuration.
#
#   start.sh                 render, then exec proxysql in the foreground
#   start.sh --render-only   render and exit (to inspect the file; the tests use it)
#
# Environment:
#   PROXYSQL_CONFIG_TEMPLATE  the template (ConfigMap), with @@ENV_NAME@@ placeholders inside strings
#   PROXYSQL_CONFIG           where to write the rendered file (memory-backed emptyDir)
#   PROXYSQL_DATADIR          ProxySQL's datadir (emptyDir)
#   PROXYSQL_ADMIN_USER       the admin account, which @@PROXYSQL_ADMIN_CREDENTIALS@@ pairs with its password
#   PROXYSQL_ADMIN_PASSWORD, PROXYSQL_MONITOR_PASSWORD, PROXYSQL_USER_PASSWORD_<NAME>: the passwords, each read
#                             from the file of that name in PROXYSQL_CREDENTIALS_DIR when there is one (the users'
#                             and the monitor's: a Secret volume the kubelet updates, which credentials.sh applies
#                             live), otherwise from the environment variable of that name
#
# Only bash builtins and `proxysql` are used: what every build of the pinned image has (lib/proxysql/image.ts
# cites its build files; test/proxysql-image.test.ts checks this script against that list).
set -euo pipefail
shopt -s inherit_errexit
# bash 5.2 expands '&' in the replacement of ${var//pattern/replacement}; passwords are literal text.
shopt -u patsub_replacement 2>/dev/null || true

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
fail() { log "$*"; exit 1; }

# Prints the libconfig string body for the password in variable $1, or fails with the reason. ProxySQL's loader
# pastes strings into SQL unescaped: a user password goes between single quotes, the admin and monitor
# passwords between double quotes, and the admin credentials are split on ':' and ';'.
escaped_password() {
  local env=$1 value file=${PROXYSQL_CREDENTIALS_DIR:-/nonexistent}/$1
  if [[ -f $file ]]; then
    # Byte for byte, as an env var from secretKeyRef would be (credentials.sh reads it the same way).
    value=
    IFS= read -r -d '' value <"$file" || true
  else
    [[ -v $env ]] || fail "$env is not set (its Secret reference is missing from the container)"
    value=${!env}
  fi
  [[ -n $value ]] || fail "$env is empty; set a password in its Secret"
  [[ $value != *[[:cntrl:]]* ]] || fail "$env contains a control character (newline, tab, ...); ProxySQL cannot load it"
  case $env in
    PROXYSQL_USER_PASSWORD_*)
      [[ $value != *\'* ]] || fail "$env contains a single quote ('), which ProxySQL's loader cannot take in a user password; choose another password" ;;
    PROXYSQL_ADMIN_PASSWORD)
      [[ $value != *\"* ]] || fail "$env contains a double quote (\"), which ProxySQL's loader cannot take in a variable; choose another password"
      [[ $value != *[\;:]* ]] || fail "$env contains ':' or ';', which separate entries of admin_credentials; choose another password" ;;
    PROXYSQL_MONITOR_PASSWORD)
      [[ $value != *\"* ]] || fail "$env contains a double quote (\"), which ProxySQL's loader cannot take in a variable; choose another password" ;;
    *) fail "the template refers to $env, which is not a password variable this script knows" ;;
  esac
  value=${value//\\/\\\\}
  value=${value//\"/\\\"}
  printf '%s' "$value"
}

# Prints what replaces the placeholder @@$1@@.
substitution() {
  local password
  case $1 in
    PROXYSQL_ADMIN_CREDENTIALS)
      [[ ${PROXYSQL_ADMIN_USER:-} =~ ^[A-Za-z0-9_.-]+$ ]] || fail "PROXYSQL_ADMIN_USER must be letters, digits, '_', '.' or '-'"
      password=$(escaped_password PROXYSQL_ADMIN_PASSWORD) || exit 1
      printf '%s:%s' "$PROXYSQL_ADMIN_USER" "$password" ;;
    *) escaped_password "$1" ;;
  esac
}

# Replaces every @@NAME@@ in the template, left to right in one pass: a password that itself contains
# "@@OTHER@@" is written as it is, never substituted again.
render() {
  local rest out='' token env
  [[ -r $PROXYSQL_CONFIG_TEMPLATE ]] || fail "cannot read the template $PROXYSQL_CONFIG_TEMPLATE"
  rest=$(<"$PROXYSQL_CONFIG_TEMPLATE")
  while [[ $rest =~ @@([A-Z][A-Z0-9_]*)@@ ]]; do
    token=${BASH_REMATCH[0]}
    env=${BASH_REMATCH[1]}
    out+=${rest%%"$token"*}
    out+=$(substitution "$env")
    rest=${rest#*"$token"}
  done
  out+=$rest
  umask 077
  printf '%s\n' "$out" >"$PROXYSQL_CONFIG"
}

: "${PROXYSQL_CONFIG_TEMPLATE:?}" "${PROXYSQL_CONFIG:?}" "${PROXYSQL_DATADIR:?}"
render
if [[ ${1:-} == --render-only ]]; then
  exit 0
fi
log "rendered $PROXYSQL_CONFIG; starting proxysql --initial"
# --initial: the datadir's proxysql.db (kept across container restarts by the emptyDir) is set aside, so a
# changed template always takes effect. --idle-threads: OpenStack services keep many idle pooled connections.
exec proxysql -f --idle-threads --initial -c "$PROXYSQL_CONFIG" -D "$PROXYSQL_DATADIR"
