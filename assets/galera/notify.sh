#!/bin/bash
# mariadbd's wsrep_notify_cmd (set by the entrypoint in 99-runtime.cnf): Galera runs it on every change of this
# member's state and of the cluster's membership, as `notify.sh VIEW_FILE --status S --uuid U --primary yes|no
# --members uuid/name/address,... --index I` (--members and --index only when the view changed).
#
# Why: the agent must learn that Galera evicted the writer the moment it happens (lib/galera/agent/writer.ts takes
# the writer row over from that); wsrep.json is read once a second, and an unreachable peer's agent is only known
# after its HTTP timeout. This script is that moment. On a view change it writes VIEW_FILE (the agent reads it every
# 100 ms): {"primary":true|false,"members":["galera-0",...]} (the pod names Galera lists in this member's view).
#
# mariadbd waits for this script before it goes on, so it only writes one file: it never talks to the server (a
# query from here would wait for the very change being notified) and it always exits 0 (a failure would only be
# logged by mariadbd, but nothing here is worth a warning in its log).
set -u
# Variables and functions only: sourcing it runs nothing.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
view_file=${1:-}
shift || true
primary= members= have_members=false
while (($# >= 2)); do
  case $1 in
    --primary) primary=$2 ;;
    --members) members=$2 have_members=true ;;
  esac
  shift 2
done
[[ -n $view_file && $have_members == true ]] || exit 0

names=()
IFS=, read -r -a entries <<<"$members"
for entry in "${entries[@]}"; do
  IFS=/ read -r _ name _ <<<"$entry"
  # Only pod names (DNS-1123 labels) reach the JSON: nothing needs escaping, and nothing else is a member.
  is_member_name "$name" && names+=("\"$name\"")
done
json="{\"primary\":$([[ $primary == yes ]] && echo true || echo false),\"members\":[$(IFS=,; printf '%s' "${names[*]}")]}"
tmp="$view_file.tmp.$$"
printf '%s\n' "$json" >"$tmp" 2>/dev/null && mv -f "$tmp" "$view_file" 2>/dev/null
rm -f "$tmp" 2>/dev/null
exit 0
