import { KEEPALIVED_CONFIG_DIR, KEEPALIVED_METRICS_DIR, KEEPALIVED_RUN_DIR, KeepalivedVipModel } from './model';
import { vrrpStateWrite } from './render';

/**
 * The keepalived container's start: a bash script, rendered per VIP, that bids for the VIP only when no peer holds
 * it, or once a peer's advert has arrived.
 *
 * Why. Peers are unicast and each node's list is in its own file, so a node that joins the inventory (a replaced or
 * added controller) is unknown to the nodes that still run the old file: the holder sends it no adverts until it
 * has loaded the new file (step 5: a reload, within about a minute of the apply; before, when its pod rolled). A
 * DaemonSet starts the new node's pod at once, so the new node heard nothing, took the VIP after its master-down
 * interval, and two nodes held it until the holder's pod rolled (7.2-7.6 s measured,
 * test/integration/replace-controller.test.ts).
 *
 * How, at every container start:
 * 0. The node's own file in the ConfigMap (its interface, address and peers) is read. A node with no file is not in
 *    the inventory, or not yet: a node placed by a label (`Placement.onLabelledNodes`) that was labelled before the
 *    apply that adds it, whose pod the DaemonSet starts at once, before the kubelet has the new ConfigMap. The
 *    script waits for the file (every 2 s, a WARNING every 60 s, the metrics say FAULT, no VIP claim) for
 *    `NODE_FILE_WAIT_SECONDS` (5 min), then runs keepalived, which exits on the missing file ("Config files missing"):
 *    a node that is never added fails loudly (the pod crash-loops), as it did before the wait. Without the wait the
 *    race itself crash-looped, and the back-off (up to 5 min) then delayed the start long after the file was there.
 *    The probes pass meanwhile (the script's PID in vrrp.pid): a failing liveness probe would restart the container
 *    into that back-off.
 * 1. The VIP left on this node by a keepalived that was killed (keepalived removes it when it starts, too) is
 *    removed first, so that the next step sees the others.
 * 2. Who answers for the VIP: the kernel resolves it (ARP, or neighbour discovery for IPv6) after a datagram to the
 *    discard port; only a fresh answer counts (the old entry is deleted). Nobody within 1 s (a cold start, a
 *    whole-site reboot, the VIP vacant): start keepalived at once, as before. A host whose link-layer address is
 *    none of this node's peers' (another device using the address, a router answering ARP for it): the wait below
 *    would never end, so start at once too, with a WARNING.
 * 3. One of this node's peers holds it: run keepalived as a listener (same instance, VIP and peers, priority 1,
 *    advert_int 40 s, down_timer_adverts 100, so it cannot bid for over an hour; it sends nothing while BACKUP) and
 *    read its advert counter (`keepalived --signum=STATS`) every 0.2 s. keepalived in FAULT ignores received
 *    packets (vrrp_scheduler.c), so the real instance cannot be held in FAULT and count adverts at once: hence a
 *    separate listener. The first advert means a peer that lists this node is master: stop the listener and start
 *    keepalived. A survivor restarting in a roll hears the holder within one advert interval; a new node hears one
 *    once the holder has loaded a file that lists it (a reload; a roll with a template that names the nodes).
 * 4. While waiting, the VIP is probed again every 5 s: when no peer answers for it any more (every node that held
 *    it is gone: the kernel's verdict after 3 unanswered requests), start at once; a WARNING every 60 s says what
 *    is awaited. No time bound: a peer holds the VIP and does not talk to this node, so bidding would make two
 *    holders, whatever the time. The causes are a roll not done yet, the peers' files without this node, or IP
 *    protocol 112 blocked towards it; the node is out of the election meanwhile (the `keepalived_vrrp_fault`
 *    metric says 1), and the holder serves.
 *
 * 5. Once keepalived runs, a watcher (a child of the script, so of keepalived after the exec) checks the node's file
 *    every 2 s and, when the kubelet has swapped in a new ConfigMap version, sends keepalived SIGHUP: a reload.
 *    Measured with 2.2.7 in network namespaces: a MASTER reloaded with a changed `unicast_peer` list (or priority)
 *    keeps its state and the VIP (no address event at all, "VRRP_Script(...) considered successful on reload", one
 *    gratuitous ARP), and its first advert reaches a newly listed peer 20-23 ms after the signal; a BACKUP stays
 *    BACKUP. A reload of a missing file, though, drops the instance and the VIP: the watcher reloads only a file that
 *    exists and that `keepalived --config-test` accepts. So a changed inventory needs no pod roll: the survivors learn
 *    the new node's address live (the pod template names no node of the inventory: everything node-specific, the
 *    interface, the node's address and its peers, is read from the node's own file at start).
 *
 * Every value spliced into the script is validated before (addresses, name `[A-Za-z0-9_-]`): none needs quoting;
 * what the script reads from the node's file was validated before it was rendered (addresses, interface
 * `[A-Za-z0-9_.@-]`).
 *
 * Limits: a node cut off from the segment sees no holder and bids, as any VRRP router does. The listener and the
 * probe need keepalived's STATS dump and `ip` (iproute2, which Debian's keepalived depends on); without them the
 * script starts keepalived at once with a WARNING. The script avoids single quotes (it is one `bash -c` argument).
 * The readiness probe passes during the wait (the listener's VRRP PID): a new node's pod must become Ready, or the
 * DaemonSet would never roll the old pods whose adverts end the wait.
 */
export function keepalivedCommand(model: KeepalivedVipModel): string[] {
  return ['/bin/bash', '-c', renderStartScript(model)];
}

/**
 * Seconds the script waits for its node's file before it lets keepalived fail on the missing file (the container
 * restarts): over the kubelet's ConfigMap refresh (about a minute) a few times. `KEEPALIVED_NODE_FILE_WAIT_SECONDS`
 * in the container's env overrides it (the tests do).
 */
const NODE_FILE_WAIT_SECONDS = 300;

/** Tenths of a second the first probe waits for an answer for the VIP (one on a segment takes well under a millisecond). */
const PROBE_TENTHS = 10;

export function renderStartScript(model: KeepalivedVipModel): string {
  const run = KEEPALIVED_RUN_DIR;
  const metrics = model.stateMetrics;
  const keepalived = (pid: string, vrrpPid: string, file: string, log: string) =>
    `keepalived --dont-fork ${log} --vrrp --pid=${pid} --vrrp_pid=${vrrpPid} --use-file=${file}`;
  const conf = `${KEEPALIVED_CONFIG_DIR}/"$NODE_NAME".conf`;
  const lines = [
    `# Start of keepalived for the VIP ${model.address} (${model.name}). Why each step: lib/keepalived/start.ts.`,
    'set -u',
    `run=${run}`,
    `vip=${model.address}`,
    'log() { echo "keepalived-start: $*"; }',
    // The VRRP state file (metrics): not the holder until keepalived says so; FAULT while waiting.
    metrics ? `state() { ${vrrpStateWrite('"$1"')}; }` : 'state() { :; }',
    // keepalived refuses to start ("daemon is already running") when a PID file names a live process, and in a new
    // PID namespace the old PIDs are live again; the emptyDir survives container restarts. Cleared before the
    // listener too, which uses the same files (so that the probes see it), and again after it and after the wait for
    // the node's file (whose PID the probes read meanwhile).
    'clear_pids() { rm -f "$run/keepalived.pid" "$run/vrrp.pid"; }',
    `mkdir -p "$run" && clear_pids || exit 1`,
    // PID 1 ignores a signal it has no handler for: the pod's deletion during the probe must end it, not wait for
    // the SIGKILL of the grace period (keepalived, exec'd later, sets its own handlers).
    'trap "exit 0" TERM INT',
    ...(metrics ? [`mkdir -p ${KEEPALIVED_METRICS_DIR} && state INIT`] : []),
    '# The file of this node changed in the ConfigMap (the kubelet swaps the files of the volume within about a minute',
    '# of the apply): keepalived reloads it (SIGHUP) and keeps its state and the VIP (measured with 2.2.7: why, start.ts).',
    '# Never a missing file or one keepalived -t refuses: keepalived would reload without the instance and drop the VIP.',
    'watch_config() {',
    '  local last now out',
    '  last=$(cksum <"$conf" 2>/dev/null)',
    '  while sleep 2 && kill -0 $$ 2>/dev/null; do',
    '    now=$(cksum <"$conf" 2>/dev/null) || continue',
    '    [ "$now" = "$last" ] && continue',
    '    last=$now',
    '    if out=$(TMPDIR=$run keepalived --config-test --use-file="$conf" 2>&1); then',
    '      kill -HUP $$ && log "$conf changed: keepalived reloads it (it keeps its state and the VIP)"',
    '    else',
    '      log "WARNING: $conf changed but keepalived -t refuses it, so it is not loaded (the running configuration stays): $out"',
    '    fi',
    '  done',
    '}',
    '',
    'start() {',
    '  clear_pids',
    '  state INIT',
    // The watcher is a child of this shell, so of keepalived once it is exec'd: $$ is keepalived's PID.
    '  watch_config &',
    `  exec ${keepalived('"$run/keepalived.pid"', '"$run/vrrp.pid"', '"$conf"', '--log-console --log-detail')}`,
    '}',
    '',
    // The node's own file in the ConfigMap says everything about this node (nothing node-specific is in the pod
    // template, so that an inventory change rolls no pod): its VRRP interface, its address and its peers.
    `conf=${conf}`,
    'read_conf() {',
    '  iface= self= peers=',
    '  [ -r "$conf" ] || return 1',
    '  while read -r key value rest; do',
    '    case $key in',
    '      interface) iface=$value ;;',
    '      unicast_src_ip) self=$value ;;',
    '      *) [ "$value" = min_ttl ] && peers="${peers:+$peers }$key" ;;',
    '    esac',
    '  done <"$conf"',
    '  [ -n "$iface" ] && [ -n "$self" ]',
    '}',
    // No file for this node (step 0 in the comment above): wait for it, bounded, then let keepalived fail loudly.
    'if ! read_conf; then',
    `  wait_max=\${KEEPALIVED_NODE_FILE_WAIT_SECONDS:-${NODE_FILE_WAIT_SECONDS}}`,
    '  since=$SECONDS',
    '  next_warn=$SECONDS',
    '  state FAULT',
    // The probes check this PID: the script is alive and doing its job (a failing liveness probe would restart the
    // container into the crash-loop back-off this wait avoids).
    '  echo $$ >"$run/vrrp.pid"',
    '  until read_conf; do',
    '    if [ $((SECONDS - since)) -ge "$wait_max" ]; then',
    '      log "WARNING: still no $conf after $((SECONDS - since)) s: node $NODE_NAME is not in the inventory of this VIP; keepalived exits on the missing file and the pod restarts (add the node to the inventory, or remove the label that places this pod on it)"',
    '      start',
    '    fi',
    '    if [ "$SECONDS" -ge "$next_warn" ]; then',
    '      log "WARNING: no $conf: node $NODE_NAME is not in the inventory of this VIP (yet). Waiting up to $wait_max s for the file (the kubelet swaps in a new ConfigMap within about a minute of the apply that adds the node); no VIP claim meanwhile"',
    '      next_warn=$((SECONDS + 60))',
    '    fi',
    '    sleep 2',
    '  done',
    '  log "$conf appeared after $((SECONDS - since)) s: starting"',
    '  clear_pids',
    'fi',
    '',
    '# The link-layer address that answers for $1 on the VIP interface within $2 tenths of a second (or until the',
    '# kernel gives up: FAILED after 3 unanswered requests). The window is measured on the clock (bash 5',
    '# EPOCHREALTIME in microseconds once its decimal point is dropped; whole seconds before bash 5), not in polls,',
    '# which a busy node slows down.',
    'lladdr() {',
    '  local entry re="lladdr ([0-9a-fA-F:]+)" now end',
    '  ip neigh del "$1" dev "$iface" 2>/dev/null',
    '  { echo >"/dev/udp/$1/9"; } 2>/dev/null',
    '  now=${EPOCHREALTIME:-$SECONDS.000000}',
    '  end=$((${now//[!0-9]/} + $2 * 100000))',
    '  while :; do',
    '    entry=$(ip neigh show to "$1" dev "$iface" 2>/dev/null)',
    '    if [[ $entry =~ $re ]]; then echo "${BASH_REMATCH[1]}"; return 0; fi',
    '    [[ $entry == *FAILED* ]] && return 1',
    '    now=${EPOCHREALTIME:-$SECONDS.000000}',
    '    [ "${now//[!0-9]/}" -lt "$end" ] || return 1',
    '    sleep 0.1',
    '  done',
    '}',
    '',
    '# Who answers for the VIP: the peer (its node address), or "other <lladdr>"; fails when nobody answers.',
    'holder() {',
    '  local mac peer',
    '  mac=$(lladdr "$vip" "$1") || return 1',
    '  for peer in $peers; do',
    '    if [ "$(lladdr "$peer" 10)" = "$mac" ]; then echo "$peer"; return 0; fi',
    '  done',
    '  echo "other $mac"',
    '}',
    '',
    '# keepalived as a listener that never bids (see start.ts) until a peer sends this node an advert.',
    'listen() {',
    '  local holder=$1 signal listener received key value rest h l since=$SECONDS next_probe next_warn up=0',
    '  signal=$(keepalived --signum=STATS 2>/dev/null) || { log "WARNING: this keepalived has no STATS dump to count adverts with: bidding without waiting"; return; }',
    '  mkdir -p "$run/listen" || return',
    '  {',
    '    echo "global_defs {"',
    '    echo "  vrrp_version 3"',
    '    echo "}"',
    `    echo "vrrp_instance VI_${model.name}_listen {"`,
    '    echo "  state BACKUP"',
    '    echo "  nopreempt"',
    '    echo "  interface $iface"',
    `    echo "  virtual_router_id ${model.virtualRouterId}"`,
    '    echo "  priority 1"',
    '    echo "  advert_int 40"',
    '    echo "  down_timer_adverts 100"',
    '    echo "  unicast_src_ip $self"',
    '    echo "  unicast_peer {"',
    '    for p in $peers; do echo "    $p min_ttl 255 max_ttl 255"; done',
    '    echo "  }"',
    '    echo "  unicast_fault_no_peer"',
    // The same VIP: a BACKUP drops an advert whose address list differs from its own before counting it.
    `    echo "  virtual_ipaddress {"`,
    `    echo "    $vip/${model.prefixLength} dev $iface"`,
    '    echo "  }"',
    '    echo "}"',
    '  } >"$run/listen/keepalived.conf"',
    '  state FAULT',
    // Its log goes to a file, printed only if it stops: the container log shows the real keepalived's states only.
    `  TMPDIR=$run/listen ${keepalived('"$run/keepalived.pid"', '"$run/vrrp.pid"', '"$run/listen/keepalived.conf"', '--log-console')} ` +
      '>"$run/listen/keepalived.log" 2>&1 &',
    '  listener=$!',
    '  trap "kill $listener 2>/dev/null; wait $listener; exit 0" TERM INT',
    '  next_probe=$((SECONDS + 5))',
    '  next_warn=$((SECONDS + 60))',
    '  while :; do',
    // Signalled only once its VRRP child has had time to install its handlers (SIGUSR2 would end it before).
    '    [ -s "$run/vrrp.pid" ] && up=$((up + 1))',
    '    [ "$up" -ge 3 ] && kill "-$signal" "$listener" 2>/dev/null',
    '    sleep 0.2',
    '    if ! kill -0 "$listener" 2>/dev/null; then',
    '      while IFS= read -r l; do log "advert listener: $l"; done <"$run/listen/keepalived.log"',
    '      log "WARNING: the advert listener stopped (its log is above): bidding without waiting"',
    '      break',
    '    fi',
    '    received=0',
    '    if [ -f "$run/listen/keepalived.stats" ]; then',
    '      while read -r key value rest; do',
    '        if [ "$key" = Received: ]; then received=$value; break; fi',
    '      done <"$run/listen/keepalived.stats"',
    '    fi',
    '    if [ "$received" -gt 0 ] 2>/dev/null; then',
    '      log "an advert from a peer arrived after $((SECONDS - since)) s: bidding as usual"',
    '      break',
    '    fi',
    '    if [ "$SECONDS" -ge "$next_probe" ]; then',
    `      if ! h=$(holder 35) || [ "\${h#other}" != "$h" ]; then`,
    '        log "no peer answers for the VIP any more (${h:-nobody}): bidding"',
    '        break',
    '      fi',
    '      holder=$h',
    '      next_probe=$((SECONDS + 5))',
    '    fi',
    '    if [ "$SECONDS" -ge "$next_warn" ]; then',
    '      log "WARNING: waiting for $((SECONDS - since)) s: peer $holder holds the VIP and no peer has sent this node an advert. Their keepalived files must list this node (the apply does it; they reload it within about a minute) and IP protocol 112 must pass from them to it"',
    '      next_warn=$((SECONDS + 60))',
    '    fi',
    '  done',
    '  kill "$listener" 2>/dev/null',
    '  wait "$listener"',
    '  trap "exit 0" TERM INT',
    '}',
    '',
    'if ! command -v ip >/dev/null; then',
    '  log "WARNING: no ip command (iproute2) in the image: bidding without looking for a holder"',
    '  start',
    'fi',
    `ip addr del "$vip/${model.prefixLength}" dev "$iface" 2>/dev/null && log "removed the VIP left on $iface by the previous keepalived of this node"`,
    `if h=$(holder ${PROBE_TENTHS}); then`,
    '  case $h in',
    '    other*) log "WARNING: ${h#other } answers for the VIP and is none of the peers of this node ($peers): another host uses the address, or a router answers ARP for it; bidding as usual" ;;',
    '    *) log "peer $h holds the VIP: not bidding until a peer sends this node an advert"; listen "$h" ;;',
    '  esac',
    'else',
    '  log "nobody answers for the VIP: bidding"',
    'fi',
    'start',
  ];
  return `${lines.join('\n')}\n`;
}
