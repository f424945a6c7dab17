/**
 * Pure renderers for the files every broker of a cluster shares: `rabbitmq.conf`, the Erlang host table
 * (`erl_inetrc`) and `enabled_plugins`. The files are identical on every node (one ConfigMap); what differs per
 * node (its IP) is a placeholder the start script fills in from the downward API.
 */
import { erlangNodeName, ResolvedRabbitCluster } from './model';
import { renderTlsListenerLines } from './tls';

/** Replaced by the start script with `$HOST_IP` (the downward API's `status.hostIP`). */
export const HOST_IP_PLACEHOLDER = '@@HOST_IP@@';

/** Where the container finds things (official image layout; the start script has the same defaults). */
export const RABBIT_PATHS = {
  /** ConfigMap: templates rendered by this module. */
  templateDir: '/etc/rabbitmq-template',
  /** Memory-backed emptyDir the start script renders into; it also hides the image's conf.d (which binds 0.0.0.0). */
  renderDir: '/etc/rabbitmq',
  /** Secret volume holding the Erlang cookie under the key `.erlang.cookie`. */
  cookieSource: '/etc/rabbitmq-cookie/.erlang.cookie',
  /** ConfigMap with start.sh. */
  scriptDir: '/opt/rabbitmq-ha',
  /** hostPath data dir, also HOME (the cookie copy lives here). */
  dataDir: '/var/lib/rabbitmq',
} as const;

/** File names inside the template and render dirs. */
export const RABBIT_FILES = {
  conf: 'rabbitmq.conf',
  definitions: 'definitions.json',
  inetrc: 'erl_inetrc',
  plugins: 'enabled_plugins',
  peers: 'peers',
} as const;

/**
 * `rabbitmq.conf`, in the new-style (sysctl) format every supported line parses. Unknown keys make the broker
 * refuse to boot, so keys are emitted per release line (`RabbitVersion`).
 * @param renderDir where the start script puts the rendered files (definitions path); the container default unless testing
 */
export function renderRabbitmqConf(c: ResolvedRabbitCluster, renderDir: string = RABBIT_PATHS.renderDir): string {
  const v = c.version;
  const lines: string[] = [
    `# ${v} (${c.nodes.length} brokers). Generated; ${HOST_IP_PLACEHOLDER} is this node's IP, filled in at container start.`,
    `cluster_name = ${c.clusterName}`,
    '',
    '# Peer discovery from a fixed node list: works without a StatefulSet ordinal, the same on 3.x and 4.x.',
    'cluster_formation.peer_discovery_backend = classic_config',
    ...c.nodes.map((n, i) => `cluster_formation.classic_config.nodes.${i + 1} = ${erlangNodeName(n.name)}`),
    // A blank node that wins the discovery lock retries joining reachable but not-yet-ready peers this many
    // times before it forms the cluster alone (measured on 3.10: 60 x 2 s held three blank nodes started
    // together for 2 min). start.sh keeps every blank node back until a running peer answers (the seed: until
    // every peer says it is blank), so this only bounds races; 10 x 2 s rides out a peer's boot without a long stall.
    'cluster_formation.discovery_retry_limit = 10',
    'cluster_formation.discovery_retry_interval = 2000',
  ];
  if (v.supportsPartitionHandling) {
    lines.push(
      '',
      '# The minority side of a partition stops its listeners, so clients and the TCP readiness probe move off it.',
      'cluster_partition_handling = pause_minority',
      // A restarted node waits for its last-seen peers 20 x 30 s = 10 min before giving up, covering a
      // staggered restart of the whole cluster (defaults: 10 x 30 s).
      'mnesia_table_loading_retry_timeout = 30000',
      'mnesia_table_loading_retry_limit = 20',
    );
  }
  lines.push(
    '',
    ...(c.tls ? renderTlsListenerLines(c.tls, HOST_IP_PLACEHOLDER, c.amqpPort, c.prometheusPort) : [
      '# Host network: bind to the node\'s internal IP only (a NetworkPolicy does not cover host-network pods).',
      `listeners.tcp.1 = ${HOST_IP_PLACEHOLDER}:${c.amqpPort}`,
      `management.tcp.ip = ${HOST_IP_PLACEHOLDER}`,
      `management.tcp.port = ${c.managementPort}`,
      `prometheus.tcp.ip = ${HOST_IP_PLACEHOLDER}`,
      `prometheus.tcp.port = ${c.prometheusPort}`,
    ]),
    '# No ANONYMOUS/EXTERNAL; the guest user (never created here) could only log in over loopback.',
    'auth_mechanisms.1 = PLAIN',
    'auth_mechanisms.2 = AMQPLAIN',
    'loopback_users.guest = true',
    '',
  );
  if (c.memoryLimitBytes !== undefined) {
    // RabbitMQ reads the host's RAM, not the cgroup limit. Leave headroom for the Erlang VM's own allocators
    // and GC peaks (as the cluster operator does: 20 %, at most 2 GiB).
    const headroom = Math.min(Math.floor(c.memoryLimitBytes * 0.2), 2 * 1024 ** 3);
    lines.push(`total_memory_available_override_value = ${c.memoryLimitBytes - headroom}`);
  }
  lines.push(`disk_free_limit.absolute = ${c.diskFreeLimitBytes}`);
  if (!v.usesClassicMirroring) {
    lines.push(
      '',
      '# Notification queues are quorum queues: spread leaders, and regrow members on a node that came back blank.',
      'queue_leader_locator = balanced',
      'quorum_queue.continuous_membership_reconciliation.enabled = true',
      `quorum_queue.continuous_membership_reconciliation.target_group_size = ${Math.min(3, c.nodes.length)}`,
      'quorum_queue.continuous_membership_reconciliation.auto_remove = false',
    );
  }
  if (v.needsTransientNonExclusivePermit) {
    lines.push(
      '# oslo.messaging declares RPC reply and fanout queues transient and non-exclusive; denied by default from 4.3.',
      'deprecated_features.permit.transient_nonexcl_queues = true',
    );
  }
  lines.push(
    '',
    '# Vhosts, users (passwords filled in at start), permissions and policies; skipped when unchanged.',
    'definitions.import_backend = local_filesystem',
    `definitions.local.path = ${renderDir}/${RABBIT_FILES.definitions}`,
    'definitions.skip_if_unchanged = true',
    '',
    'log.console = true',
    'log.console.level = info',
    'log.file = false',
  );
  return lines.join('\n') + '\n';
}

/**
 * The Erlang resolver's host table: `rabbit@<node>` resolves from this file first, then the OS, so clustering
 * does not depend on node DNS (which a bare-metal Kubernetes often lacks for node names).
 */
export function renderErlInetrc(c: ResolvedRabbitCluster): string {
  const hosts = c.nodes.map((n) => `{host, {${n.ip.split('.').join(',')}}, ["${n.name}"]}.`);
  return [...hosts, '{lookup, [file, native]}.', ''].join('\n');
}

/**
 * The peer list start.sh reads (step 3: forget-on-peer, the blank wait, the seed): one line per broker,
 * `rabbit@<node><TAB><IP>`, the seed first. Rendered from the same node list as the discovery nodes of
 * rabbitmq.conf and the host table of erl_inetrc, so the script never parses either.
 */
export function renderPeers(c: ResolvedRabbitCluster): string {
  const lines = c.nodes.map((n) => `${erlangNodeName(n.name)}\t${n.ip}`);
  return ['# Erlang node name, IP; the first is the seed (the one node that may form a new cluster).', ...lines, ''].join('\n');
}

/** Management (HTTP API, health checks) and Prometheus metrics. classic_config discovery is built in. */
export function renderEnabledPlugins(): string {
  return '[rabbitmq_management,rabbitmq_prometheus].\n';
}
