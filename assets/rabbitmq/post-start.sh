#!/bin/bash
# After the broker boots (start.sh runs this in the background just before it execs rabbitmq-server):
#
# 1. Wait until the broker beside it has booted on its data dir, then record the release that ran on it (the marker
#    of release.sh, which start.sh checks at the next start).
# 2. If a feature flag is disabled (a rolling upgrade left the new line's flags off, and RabbitMQ refuses the next
#    line's upgrade until they are on), wait until every broker of the cluster runs this release line, then run
#    `rabbitmqctl enable_feature_flag all` (stable flags only; idempotent). It never runs while a member of the
#    cluster is stopped or reports another line: a broker of the old line would then refuse to rejoin. Every
#    broker runs this after its own start; whichever sees the whole cluster on the new line first enables the
#    flags, the others then find none disabled (or enable nothing new).
#
# Why here and not in a Job or only on "the last broker": the DaemonSet controller picks the roll order, so no broker
# knows it is last, and a Job in the manifests runs once at apply time, before the roll is done; each broker
# checking the cluster itself needs nothing but the CLI and the cookie it already has.
#
# Env: as start.sh (RABBITMQ_NODENAME, RABBITMQ_MNESIA_BASE, RABBITMQ_TEMPLATE_DIR, RABBITMQ_RELEASE_LINES);
# RABBITMQ_POST_START_POLL_SECONDS (default 30): the pause between two looks at the cluster.
set -uo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=release.sh
source "$script_dir/release.sh"

log() { printf '%s post-start.sh: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

node=${RABBITMQ_NODENAME:?must be rabbit@<node name>}
mnesia_base=${RABBITMQ_MNESIA_BASE:-/var/lib/rabbitmq/mnesia}
template_dir=${RABBITMQ_TEMPLATE_DIR:-/etc/rabbitmq-template}
poll=${RABBITMQ_POST_START_POLL_SECONDS:-30}

ctl() { rabbitmqctl -n "$node" "$@"; }

# --- 1. booted: record the release ----------------------------------------------------------------------------
# await_startup returns once the rabbit application runs on the node (a blank broker may wait for its peers first).
until ctl -q -t 300 await_startup >/dev/null 2>&1; do sleep "$poll"; done
version=$(rabbit_image_version)
line=$(rabbit_line_of "$version") || line=''
if [[ -n $line ]]; then
  marker=$(rabbit_release_marker "$mnesia_base" "$node")
  printf '%s\n' "$version" >"$marker.tmp" && mv -f "$marker.tmp" "$marker" && log "booted: the data dir now holds RabbitMQ $version data ($marker)"
else
  log "booted, but which RabbitMQ release runs is unknown: no release marker written; feature flags are left to the operator"
  exit 0
fi

# --- 2. feature flags -----------------------------------------------------------------------------------------
if ! ctl -q list_feature_flags name state 2>/dev/null | rabbit_has_disabled_flag; then
  log "no feature flag is disabled"
  exit 0
fi
listed=()
while IFS=$'\t' read -r peer _; do
  [[ -z $peer || $peer == '#'* ]] || listed+=("$peer")
done <"$template_dir/peers"
said=''
while :; do
  status=$(ctl -q cluster_status --formatter json 2>/dev/null) || status=''
  if reason=$(rabbit_cluster_on_line "$status" "$line" "${listed[@]}"); then
    if ctl -q enable_feature_flag all >/dev/null 2>&1; then
      log "every broker runs RabbitMQ $line: enabled every stable feature flag (rabbitmqctl enable_feature_flag all)"
      exit 0
    fi
    reason='enable_feature_flag all failed'
  fi
  # Said once per change: a roll takes minutes and this looks every $poll seconds.
  [[ $reason == "$said" ]] || log "feature flags are disabled; enabling them once every broker runs RabbitMQ $line; waiting for: $reason"
  said=$reason
  sleep "$poll"
done
