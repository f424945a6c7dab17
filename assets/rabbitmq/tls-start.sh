#!/bin/bash
# The broker container's command with TLS: install a checked copy of the mounted certificate where rabbitmq.conf,
# the distribution's inter_node_tls.config and the CLI tools read it, start the watcher that applies renewals
# (tls-reload.sh watch, in the background: it outlives the exec below, as post-start.sh does), then exec start.sh.
#
# A mounted pair that fails the checks (tls-reload.sh) is refused: the broker keeps the copy a previous run of this
# pod's container installed (the render dir is the pod's emptyDir), or, with none, does not start (exit 1, the
# reason in the log) rather than serve a certificate its clients would refuse.
set -euo pipefail
umask 077

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tls-reload.sh
source "$script_dir/tls-reload.sh"

stage=$(tls_stage)
if [[ $stage == ok* ]]; then
  tls_activate "${stage#ok }"
  tls_log "serving certificate serial $(openssl x509 -in "$tls_dir/tls.crt" -noout -serial | cut -d= -f2) from $tls_source"
elif tls_active_usable; then
  tls_log "the mounted certificate is refused (${stage#bad }); keeping the one this pod served before"
else
  tls_log "FATAL: the mounted certificate is refused (${stage#bad }) and this pod has no earlier one: fix the Secret behind in $tls_source"
  exit 1
fi

bash "$script_dir/tls-reload.sh" watch </dev/null &
exec bash "$script_dir/start.sh"
