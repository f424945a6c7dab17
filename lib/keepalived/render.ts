import { KEEPALIVED_METRICS_DIR, KeepalivedVipModel, VrrpNode, VrrpTrackCheck } from './model';

/**
 * Per-node selection: the renderer emits one complete file per node, keyed by node name, for one ConfigMap; the
 * container starts keepalived with `--use-file=/etc/keepalived/<its node name>.conf` (see start.ts).
 *
 * Chosen over keepalived's `@node` conditional lines in one shared file because a name mismatch (a node missing
 * from the inventory, or `--config-id` not given so keepalived falls back to the uname host name, which need not
 * be the Kubernetes node name) then fails loudly: keepalived exits 6 "Config files missing" (after the start
 * script has waited 5 min for the file: start.ts step 0), the pod crash-loops and nobody holds the VIP by mistake.
 * With `@node` lines keepalived runs a file where no line matched: default priority 100, no unicast source, every node (itself included) as peer, and `keepalived -t` accepts it (rc 0,
 * checked with 2.2.7). Each file is also what runs, so CI's `keepalived -t` and the reviewer's diff see exactly
 * each node's configuration. ConfigMap keys allow `[-._a-zA-Z0-9]`, which every Kubernetes node name satisfies.
 */
export function keepalivedConfigKey(nodeName: string): string {
  return `${nodeName}.conf`;
}

/** One keepalived.conf per node, keyed by `keepalivedConfigKey(node.name)`, in inventory order. */
export function renderKeepalivedConf(model: KeepalivedVipModel): Record<string, string> {
  const files: Record<string, string> = {};
  for (const node of model.nodes) files[keepalivedConfigKey(node.name)] = renderNodeConf(model, node);
  return files;
}

/**
 * What the pods' `config-hash` covers: every line of a node's file but the node's own (its name, priority, address
 * and peers), rendered once for a placeholder node. Those lines change with the inventory, and the running keepalived
 * reloads them live (start.ts, step 5: measured to keep the state and the VIP); the rest (the VIP, router id, advert
 * interval, track check, global settings) rolls the pods one node at a time, as before. So a replaced or added node
 * rolls no pod on the others.
 */
export function keepalivedRollingConf(model: KeepalivedVipModel): string {
  const placeholder: VrrpNode = { name: 'node', address: model.address, priority: 1 };
  return renderNodeConf({ ...model, nodes: [placeholder] }, placeholder);
}

/** The `vrrp_script` name of a VIP, also the name its instance tracks. */
function scriptName(model: KeepalivedVipModel): string {
  return `chk_${model.name}`;
}

function renderNodeConf(model: KeepalivedVipModel, self: VrrpNode): string {
  const iface = self.interface ?? model.interface;
  const peers = model.nodes.filter((n) => n.name !== self.name);
  const lines = [
    `# keepalived.conf for node ${self.name}: VIP ${model.address}/${model.prefixLength} (${model.name})`,
    'global_defs {',
    // VRRPv3: sub-second adverts. It has no authentication; integrity comes from the TTL-255 unicast check below.
    '  vrrp_version 3',
    // Scripts run as root without extra capabilities (SETUID/SETGID would be needed for another user), and are
    // refused if any part of their path is writable by someone else. Without script_user the track script is
    // silently dropped at run time (measured), so both are always rendered.
    '  script_user root',
    '  enable_script_security',
    // Realtime scheduling (needs CAP_SYS_NICE) so a busy node does not miss adverts at sub-second intervals.
    '  max_auto_priority 50',
    // Gratuitous ARP at takeover, repeated, then refreshed so a switch that missed them relearns the VIP.
    '  vrrp_garp_master_delay 1',
    '  vrrp_garp_master_repeat 3',
    '  vrrp_garp_master_refresh 30',
    '}',
    '',
    ...renderTrackScript(scriptName(model), model.trackCheck),
    '',
    `vrrp_instance VI_${model.name} {`,
    // Every node BACKUP + nopreempt: the holder keeps the VIP until it fails; no failback flap to the highest
    // priority node when it recovers.
    '  state BACKUP',
    '  nopreempt',
    `  interface ${iface}`,
    `  virtual_router_id ${model.virtualRouterId}`,
    `  priority ${self.priority}`,
    `  advert_int ${formatAdvertInterval(model.advertIntervalSeconds)}`,
    // Unicast: no dependency on multicast (often filtered), and an empty peer list never falls back to it.
    `  unicast_src_ip ${self.address}`,
    '  unicast_peer {',
    // min/max TTL 255: only adverts from the same link are accepted (a routed packet has a lower TTL).
    ...peers.map((p) => `    ${p.address} min_ttl 255 max_ttl 255`),
    '  }',
    '  unicast_fault_no_peer',
    '  virtual_ipaddress {',
    `    ${model.address}/${model.prefixLength} dev ${iface}`,
    '  }',
    // Weight 0 (the default): a failing check puts the node in FAULT, which sends a priority-0 advert so a
    // backup takes over at once; a weight would only lower priority, which nopreempt ignores.
    '  track_script {',
    `    ${scriptName(model)}`,
    '  }',
    // keepalived appends the instance, its name, the new state and the priority; the state is $3.
    ...(model.stateMetrics ? [`  notify "/bin/bash -c '${vrrpStateWrite('$3')}' notify"`] : []),
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The shell that writes the VRRP state as Prometheus text, atomically (a reader never sees half a file):
 * `keepalived_vrrp_master` and `keepalived_vrrp_fault`, each 0 or 1. keepalived has no exporter, and its JSON and
 * SNMP outputs need build options and a poller; a notify command is what every keepalived 2.x runs on every
 * transition. It is a system binary with arguments (like the track check, see `trackCommand`), and uses neither
 * quote nor comment character, so it fits inside keepalived's quoted string unchanged.
 */
export function vrrpStateWrite(state: string): string {
  const d = KEEPALIVED_METRICS_DIR;
  // A subshell: one command whose status is the rename's, so it chains with `&&` in the container command too.
  return `(m=0; f=0; [ ${state} = MASTER ] && m=1; [ ${state} = FAULT ] && f=1; ` +
    `{ echo keepalived_vrrp_master $m; echo keepalived_vrrp_fault $f; } > ${d}/.vrrp && mv ${d}/.vrrp ${d}/vrrp.prom)`;
}

function renderTrackScript(name: string, check: VrrpTrackCheck): string[] {
  return [
    `vrrp_script ${name} {`,
    `  script "${trackCommand(check)}"`,
    `  interval ${check.intervalSeconds}`,
    `  timeout ${check.timeoutSeconds}`,
    `  rise ${check.rise}`,
    `  fall ${check.fall}`,
    // Start failed: a node never bids for the VIP before its check has passed `rise` times.
    '  init_fail',
    '}',
  ];
}

/**
 * The check runs a root-owned system binary with arguments, not a script file from a ConfigMap: with
 * `enable_script_security` keepalived refuses a root script if any component of its path is writable by a
 * non-root user, and the modes and group of kubelet-managed volume files depend on `defaultMode` and `fsGroup`;
 * a system binary sidesteps that. The image must provide `/bin/bash` (TCP via /dev/tcp) and `/usr/bin/curl`
 * (HTTP). keepalived splits the string on spaces; single quotes keep one argument together.
 *
 * `-q` (it must be curl's first argument) ignores any `.curlrc`: Kolla's base image gives root one with
 * `--retry 5 --retry-all-errors`, which would turn a refused or failing health check into seconds of retries and
 * delay the VIP's failover by as much.
 */
function trackCommand(check: VrrpTrackCheck): string {
  if (check.kind === 'http') {
    const url = `http://${urlHost(check.host)}:${check.port}${check.path ?? '/'}`;
    return `/usr/bin/curl -q --silent --fail --output /dev/null --max-time ${check.timeoutSeconds} ${url}`;
  }
  return `/bin/bash -c '</dev/tcp/${check.host}/${check.port}'`;
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** keepalived reads advert_int as a decimal; 10 ms granularity, so two decimals at most, no float noise. */
function formatAdvertInterval(seconds: number): string {
  return String(Math.round(seconds * 100) / 100);
}
