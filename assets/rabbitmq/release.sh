# Release lines of a broker's data directory (sourced by start.sh and post-start.sh; bash, coreutils, no jq).
#
# RabbitMQ keeps no record of the release that last ran on a data directory that a script could read before boot:
# the Mnesia dir's `schema_version` lists the steps of the pre-3.8 upgrade mechanism (rabbit_version.erl), which
# have not changed since feature flags replaced it, and the enabled feature flags (`<node>-feature_flags`) say
# which flags were turned on, not which release ran (a 4.0 broker that has not enabled its new flags lists 3.13's).
# So post-start.sh writes a marker beside the data dir once the broker has booted on it:
#   $RABBITMQ_MNESIA_BASE/<node>-release   one line, the full version, e.g. 3.13.7
# and start.sh compares it with the image's release before the broker touches the data.
#
# Env: RABBITMQ_RELEASE_LINES (required for the verdict): every release line in order, space-separated, rendered
# by the construct from lib/rabbitmq/upgrade.ts (the same list the plan refuses skipped lines with).
# RABBITMQ_VERSION (set by the official image) or the installed `rabbit-X.Y.Z` application says what runs.

# The marker file of node NODE under mnesia base BASE.
rabbit_release_marker() {
  printf '%s/%s-release' "$1" "$2"
}

# The release this image runs: $RABBITMQ_VERSION (official image), else the version of the installed rabbit
# application: under $RABBITMQ_HOME when it is set (the official image sets /opt/rabbitmq), else the official layout
# /opt/rabbitmq/plugins/rabbit-X.Y.Z or Debian's /usr/lib/rabbitmq/lib/rabbitmq_server-X.Y.Z/plugins/rabbit-X.Y.Z.
# Prints nothing when it cannot tell (none, or several).
rabbit_image_version() {
  if [[ ${RABBITMQ_VERSION:-} =~ ^[0-9]+\.[0-9]+(\.[0-9]+)?$ ]]; then
    printf '%s' "$RABBITMQ_VERSION"
    return 0
  fi
  local pattern dir found patterns=('/opt/rabbitmq/plugins/rabbit-[0-9]*' '/usr/lib/rabbitmq/lib/rabbitmq_server-[0-9]*/plugins/rabbit-[0-9]*')
  [[ -z ${RABBITMQ_HOME:-} ]] || patterns=("$RABBITMQ_HOME/plugins/rabbit-[0-9]*")
  shopt -s nullglob
  for pattern in "${patterns[@]}"; do
    found=()
    for dir in $pattern; do
      [[ ${dir##*/rabbit-} =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] && found+=("${dir##*/rabbit-}")
    done
    ((${#found[@]} == 0)) && continue
    ((${#found[@]} == 1)) && printf '%s' "${found[0]}"
    break
  done
  shopt -u nullglob
  return 0
}

# "3.13" of "3.13.7"; fails on anything else.
rabbit_line_of() {
  [[ $1 =~ ^([0-9]+)\.([0-9]+)(\.[0-9]+)?$ ]] || return 1
  printf '%s.%s' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
}

# Whether data last run by line FROM can be started by line TO, by the rules of lib/rabbitmq/upgrade.ts (rolling
# upgrades go one release line at a time; no downgrade). Prints one word and, after a tab, what to do:
#   same | next          start
#   skip  <path>         refuse: run the lines in between first
#   downgrade            refuse
#   unknown <reason>     a line the list does not hold: start, with a warning
rabbit_line_verdict() {
  local from=$1 to=$2 lines i=-1 j=-1 k path=''
  read -r -a lines <<<"${RABBITMQ_RELEASE_LINES:-}"
  for k in "${!lines[@]}"; do
    [[ ${lines[k]} == "$from" ]] && i=$k
    [[ ${lines[k]} == "$to" ]] && j=$k
  done
  if ((i < 0 || j < 0)); then
    printf 'unknown\t%s\n' "release lines known: ${lines[*]:-none (RABBITMQ_RELEASE_LINES not set)}"
  elif ((j == i)); then
    printf 'same\t\n'
  elif ((j == i + 1)); then
    printf 'next\t\n'
  elif ((j < i)); then
    printf 'downgrade\t\n'
  else
    for ((k = i; k <= j; k++)); do path+="${path:+ -> }${lines[k]}"; done
    printf 'skip\t%s\n' "$path"
  fi
}

# The JSON string value of KEY in a flat JSON object (the subset rabbitmqctl prints); empty when absent.
rabbit_json_string() {
  local re="\"$2\"[[:space:]]*:[[:space:]]*\"([^\"]*)\""
  [[ $1 =~ $re ]] && printf '%s' "${BASH_REMATCH[1]}"
  return 0
}

# The string items of the JSON array KEY (node names: no quotes or commas inside), one per line.
rabbit_json_array() {
  local re="\"$2\"[[:space:]]*:[[:space:]]*\\[([^]]*)\\]" item items
  [[ $1 =~ $re ]] || return 0
  IFS=',' read -r -a items <<<"${BASH_REMATCH[1]}"
  for item in "${items[@]}"; do
    item=${item//[[:space:]]/}
    item=${item#\"}
    item=${item%\"}
    [[ -n $item ]] && printf '%s\n' "$item"
  done
  return 0
}

# Succeeds when the cluster, as `rabbitmqctl cluster_status --formatter json` (STATUS) shows it, runs release line
# LINE on every member, every member is running (a stopped member may be an old broker that has not restarted yet),
# and every broker of the peer list (the remaining arguments) is a running member. Otherwise prints why not.
rabbit_cluster_on_line() {
  local status=$1 line=$2 node members=() running=() waiting=() version versions rest
  shift 2
  mapfile -t members < <(rabbit_json_array "$status" disk_nodes)
  mapfile -t running < <(rabbit_json_array "$status" running_nodes)
  ((${#running[@]} > 0)) || { printf 'no running node listed'; return 1; }
  for node in "${members[@]}" "$@"; do
    [[ " ${running[*]} " == *" $node "* || " ${waiting[*]} " == *" $node (not running) "* ]] || waiting+=("$node (not running)")
  done
  versions=${status#*\"versions\"}
  for node in "${running[@]}"; do
    rest=${versions#*\""$node"\"}
    [[ $rest == "$versions" ]] && { waiting+=("$node (version unknown)"); continue; }
    version=$(rabbit_json_string "${rest%%\}*}" rabbitmq_version)
    [[ $(rabbit_line_of "$version") == "$line" ]] || waiting+=("$node (runs ${version:-an unknown version})")
  done
  ((${#waiting[@]} == 0)) && return 0
  printf '%s' "${waiting[*]}"
  return 1
}

# Succeeds when `rabbitmqctl list_feature_flags name state` (its output on stdin) lists a disabled flag.
rabbit_has_disabled_flag() {
  local name state
  while IFS=$'\t ' read -r name state _; do
    [[ $state == disabled ]] && return 0
  done
  return 1
}
