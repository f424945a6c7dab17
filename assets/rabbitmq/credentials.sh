#!/bin/bash
# The broker users' passwords as files, and their live rotation (README, "Day 2: rotating a RabbitMQ password").
#
# $RABBITMQ_CREDENTIALS_DIR holds one file per user, named after the user (users are [A-Za-z0-9][A-Za-z0-9_.-]*),
# holding the password byte for byte: a projected Secret volume, mounted without subPath, so the kubelet updates it
# in place when a Secret changes (an atomic swap of its ..data symlink, within about a minute, node by node).
#
# Sourced by start.sh:
#   credentials_load         sets RABBITMQ_PASSWORD_<USER> from each file, for the definitions.json template: shell
#                            variables, not exported (rabbitmq-server would inherit them, and keep a rotated
#                            password in its /proc/<pid>/environ for as long as it runs)
#   credentials_fingerprint  one line per user, "<user> <sha256 of the file>": what was rendered
# Run by start.sh in the background beside the broker, the fingerprint of what it rendered on stdin:
#   bash credentials.sh watch < <(credentials_fingerprint)
# Every RABBITMQ_CREDENTIALS_POLL_SECONDS (5) it hashes the files (no Erlang VM: bash and sha256sum). For each user
# whose file changed since the last password it applied, once the broker runs:
#   1. `rabbitmqctl authenticate_user <user>`: the new password already works when another broker changed it first
#      (the user table is cluster-wide, and the kubelets update the nodes up to about a minute apart): nothing to do;
#   2. otherwise `rabbitmqctl change_password <user>`.
# The password goes to both on stdin (never an argument: /proc/<pid>/cmdline and ps show arguments to every user of
# the node), and no log line holds it. A failure (the broker not booted yet, a partition) is retried after
# RABBITMQ_CREDENTIALS_RETRY_SECONDS (10). Idempotent: a broker that sees the change late, or twice, changes nothing.
# Connections already open stay open (RabbitMQ authenticates a connection once, when it opens); RabbitMQ has no dual
# passwords, so a client that opens a connection with the old password after the change is refused: rotate an
# account no client uses (two accounts per service, README).
#
# Env: RABBITMQ_CREDENTIALS_DIR (unset: no credentials volume, the passwords come as env vars: nothing to do),
# RABBITMQ_NODENAME (watch), RABBITMQ_CREDENTIALS_POLL_SECONDS, RABBITMQ_CREDENTIALS_RETRY_SECONDS.

# The users of the credentials dir, one a line (the kubelet's ..data and ..<timestamp> entries are not users).
credentials_users() {
  local path
  [[ -n ${RABBITMQ_CREDENTIALS_DIR:-} && -d $RABBITMQ_CREDENTIALS_DIR ]] || return 0
  for path in "$RABBITMQ_CREDENTIALS_DIR"/*; do
    [[ -f $path ]] && printf '%s\n' "${path##*/}"
  done
  return 0
}

# RABBITMQ_PASSWORD_<USER>: the user upper-cased, every other character "_" (passwordEnvName in lib/rabbitmq/model.ts).
credentials_env_name() {
  local name=${1^^}
  printf 'RABBITMQ_PASSWORD_%s' "${name//[^A-Z0-9]/_}"
}

# The password of user $1, byte for byte (a trailing newline is part of it, as in an env var from secretKeyRef).
credentials_read() {
  local value=''
  IFS= read -r -d '' value <"$RABBITMQ_CREDENTIALS_DIR/$1" || true
  printf '%s' "$value"
}

credentials_load() {
  local user value
  while IFS= read -r user; do
    # $(...) drops trailing newlines: the x keeps them.
    value=$(credentials_read "$user"; printf x)
    printf -v "$(credentials_env_name "$user")" '%s' "${value%x}"
  done < <(credentials_users)
}

credentials_fingerprint() {
  local user sum
  while IFS= read -r user; do
    sum=$(sha256sum <"$RABBITMQ_CREDENTIALS_DIR/$user") || continue
    printf '%s %s\n' "$user" "${sum%% *}"
  done < <(credentials_users)
}

credentials_log() { printf '%s credentials.sh: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

# Applies user $1's file to the cluster. 0: applied (or nothing to apply); 1: retry later.
credentials_apply() {
  local user=$1 value out rc
  value=$(credentials_read "$user"; printf x)
  value=${value%x}
  if [[ -z $value || $value == *[[:cntrl:]]* || $value != "${value#[[:space:]]}" || $value != "${value%[[:space:]]}" ]]; then
    # rabbitmqctl reads one line from stdin and trims it; start.sh refuses an empty value or a control character.
    credentials_log "user $user: its new password is empty, has a control character, or begins or ends with whitespace (rabbitmqctl would trim it): not applied live; the brokers keep the previous one"
    return 0
  fi
  out=$(printf '%s\n' "$value" | rabbitmqctl -q -n "$RABBITMQ_NODENAME" authenticate_user "$user" 2>&1)
  rc=$?
  if ((rc == 0)); then
    credentials_log "user $user: the new password already works (changed by another broker: the user table is cluster-wide)"
    return 0
  fi
  # 65 (EX_DATAERR): refused, i.e. the broker runs and the user has another password. Anything else: not running yet.
  if ((rc != 65)); then
    credentials_log "user $user: its password file changed; the broker does not answer yet (rabbitmqctl exit $rc): retry in ${retry}s"
    return 1
  fi
  if out=$(printf '%s\n' "$value" | rabbitmqctl -q -n "$RABBITMQ_NODENAME" change_password "$user" 2>&1); then
    credentials_log "user $user: password changed (rabbitmqctl change_password): connections open with the old one stay open, new ones need the new one"
    return 0
  fi
  out=${out//"$value"/<password>}
  credentials_log "user $user: change_password failed: ${out//$'\n'/ }; retry in ${retry}s"
  return 1
}

credentials_watch() {
  : "${RABBITMQ_NODENAME:?must be rabbit@<node name>}"
  local poll=${RABBITMQ_CREDENTIALS_POLL_SECONDS:-5} user sum
  retry=${RABBITMQ_CREDENTIALS_RETRY_SECONDS:-10}
  declare -A applied=() retry_at=()
  while read -r user sum; do
    [[ -n $user ]] && applied[$user]=$sum
  done
  credentials_log "watching ${#applied[@]} password file(s) in $RABBITMQ_CREDENTIALS_DIR every ${poll}s"
  while sleep "$poll"; do
    while read -r user sum; do
      [[ ${applied[$user]-} != "$sum" ]] || continue
      ((SECONDS >= ${retry_at[$user]:-0})) || continue
      if credentials_apply "$user"; then
        applied[$user]=$sum
        unset "retry_at[$user]"
      else
        retry_at[$user]=$((SECONDS + retry))
      fi
    done < <(credentials_fingerprint)
  done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -uo pipefail
  case ${1:-} in
    watch) credentials_watch ;;
    *) echo "usage: bash credentials.sh watch < fingerprint" >&2; exit 2 ;;
  esac
fi
