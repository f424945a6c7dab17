import { InventoryNode, validateInventory } from '../common/placement';
import { SecretValue, validateSecretValue } from '../common/secret';
import { duplicates, isDns1123Subdomain, isIpAddress, isIpv6, isPort, Validator } from '../common/validation';
import { RabbitVersion } from './version';

/**
 * A key of an existing Kubernetes Secret. Structural, so the library's `SecretValue` (or anything with these two
 * fields) can be passed; the value itself never reaches this library.
 */
export interface RabbitSecretKeyRef {
  /** Name of the Secret. */
  readonly secretName: string;
  /** Key inside the Secret. */
  readonly key: string;
}

/** A broker user, created by the definitions the broker loads at boot. */
export interface RabbitUser {
  /** User name (also what OpenStack services put in their transport_url). */
  readonly name: string;
  /** Where the password is; injected as an env var at container start, never rendered into a ConfigMap. */
  readonly password: SecretValue;
  /**
   * Tag the user `administrator` (management UI, definitions export, policy changes).
   * @default false
   */
  readonly administrator?: boolean;
  /**
   * Virtual hosts the user gets full configure/write/read permissions on.
   * @default - the RPC vhost and the notifications vhost
   */
  readonly vhosts?: string[];
}

/** An extra policy (for example a stream retention or a per-service TTL) loaded with the generated ones. */
export interface RabbitPolicy {
  /** Virtual host; must be the RPC or the notifications vhost. */
  readonly vhost: string;
  /** Policy name, unique within its vhost. */
  readonly name: string;
  /** Regular expression matched against queue (or exchange) names. */
  readonly pattern: string;
  /**
   * What it applies to: `queues`, `exchanges`, `all`; from 3.12 also `classic_queues`, `quorum_queues`, `streams`.
   * @default "queues"
   */
  readonly applyTo?: string;
  /**
   * Priority: the highest-priority matching policy is the only one that applies.
   * @default 0
   */
  readonly priority?: number;
  /** Policy keys and values, e.g. `{ "max-age": "1h" }`. */
  readonly definition: { [key: string]: any };
}

/** The cluster's tunables: vhosts, ports, limits, queue hygiene, extra policies (shared by the spec and the construct's props). */
export interface RabbitClusterOptions {
  /**
   * Virtual host of the notification queues: the only replicated ones.
   * @default "notifications"
   */
  readonly notificationsVhost?: string;
  /**
   * Virtual host of RPC traffic: unreplicated, non-durable queues with TTL/expiry hygiene.
   * @default "/"
   */
  readonly rpcVhost?: string;
  /** @default 5672 */
  readonly amqpPort?: number;
  /** @default 15672 */
  readonly managementPort?: number;
  /** @default 15692 */
  readonly prometheusPort?: number;
  /** Erlang distribution (inter-node) port. @default 25672 */
  readonly distributionPort?: number;
  /**
   * Free disk space below which publishers are blocked. @default 2000000000 (2 GB)
   */
  readonly diskFreeLimitBytes?: number;
  /**
   * Unconsumed notifications kept per queue before the oldest are dropped (no consumer must not fill the disk).
   * @default 100000
   */
  readonly notificationsMaxLength?: number;
  /** RPC message TTL; longer than oslo's `rpc_response_timeout` (60 s) so a slow reply still arrives. @default 600 */
  readonly rpcMessageTtlSeconds?: number;
  /** An RPC topic queue unused this long is deleted (services that never come back). @default 3600 */
  readonly rpcQueueExpirySeconds?: number;
  /** Reply and fanout queues unused this long are deleted (oslo's `rabbit_transient_queues_ttl`). @default 1800 */
  readonly transientQueueExpirySeconds?: number;
  /** Extra policies, validated like the generated ones. @default - none */
  readonly additionalPolicies?: RabbitPolicy[];
}

/** Everything needed to render one RabbitMQ cluster's files (the `RabbitDaemonSet` construct builds it from its props). */
export interface RabbitClusterSpec extends RabbitClusterOptions {
  /** `cluster_name`, shown in the management UI and metrics. */
  readonly clusterName: string;
  /** Release line; decides replication, partition handling and config keys. */
  readonly version: RabbitVersion;
  /** Every broker node, in a stable order. */
  readonly nodes: InventoryNode[];
  /** Users (OpenStack services, an administrator, monitoring). */
  readonly users: RabbitUser[];
  /**
   * The container memory limit in bytes. RabbitMQ otherwise sizes its memory watermark from the host's RAM, not
   * the cgroup limit, and gets OOM-killed before it throttles publishers.
   * @default - no override (RabbitMQ reads total memory itself)
   */
  readonly memoryLimitBytes?: number;
}

/** The spec with every default applied. Internal to the renderers. */
export interface ResolvedRabbitCluster {
  readonly clusterName: string;
  readonly version: RabbitVersion;
  readonly nodes: readonly InventoryNode[];
  readonly users: readonly ResolvedRabbitUser[];
  readonly notificationsVhost: string;
  readonly rpcVhost: string;
  readonly amqpPort: number;
  readonly managementPort: number;
  readonly prometheusPort: number;
  readonly distributionPort: number;
  readonly memoryLimitBytes?: number;
  readonly diskFreeLimitBytes: number;
  readonly notificationsMaxLength: number;
  readonly rpcMessageTtlSeconds: number;
  readonly rpcQueueExpirySeconds: number;
  readonly transientQueueExpirySeconds: number;
  readonly additionalPolicies: readonly RabbitPolicy[];
}

export interface ResolvedRabbitUser {
  readonly name: string;
  readonly password: SecretValue;
  readonly administrator: boolean;
  readonly vhosts: readonly string[];
  /** Env var that carries the password into the broker container (from `password` by secretKeyRef). */
  readonly passwordEnv: string;
}

/** `rabbit@<node>`: the Erlang node name of the broker on a Kubernetes node. */
export function erlangNodeName(nodeName: string): string {
  return `rabbit@${nodeName}`;
}

/**
 * The env var holding a user's password in the broker container: `RABBITMQ_PASSWORD_` + the user name upper-cased
 * with every other character replaced by `_` (so `nova-api` and `nova_api` collide, which validation reports).
 */
export function passwordEnvName(userName: string): string {
  return `RABBITMQ_PASSWORD_${userName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** Names of the policies `renderDefinitions` generates (additional policies must not reuse them). */
export const POLICY_NAMES = {
  /** 3.x: classic mirroring of every notifications queue. */
  notificationsHa: 'notifications-ha',
  /** 4.x: length cap of the (quorum) notification queues. */
  notificationsLimits: 'notifications-limits',
  /** oslo reply_* and *_fanout_* queues: TTL and a short expiry. */
  rpcTransient: 'rpc-transient',
  /** Every other RPC queue: TTL and an expiry for queues nobody uses any more. */
  rpcHygiene: 'rpc-hygiene',
} as const;
const GENERATED_POLICY_NAMES: string[] = Object.values(POLICY_NAMES);

/** Policy `apply-to` values per release line. */
const APPLY_TO_ALL_LINES = ['queues', 'exchanges', 'all'];
const APPLY_TO_SINCE_312 = ['classic_queues', 'quorum_queues', 'streams'];

/** The largest TTL or expiry RabbitMQ accepts, in whole seconds (2^32-1 ms). */
const MAX_EXPIRY_SECONDS = Math.floor((2 ** 32 - 1) / 1000);

/**
 * User names RabbitMQ itself gives a meaning: `guest` is the built-in default account, allowed from localhost
 * only (`loopback_users`), so a service configured with it cannot log in from another node, and its well-known
 * name is the first one tried by anyone scanning for brokers.
 */
const RESERVED_USERS: Record<string, string> = {
  guest: 'is RabbitMQ\'s built-in default account, limited to localhost connections (loopback_users) and the first name an attacker tries; use a name of its own, e.g. the service\'s',
};

/**
 * Keys of the generated notifications policy. RabbitMQ applies one policy per queue, the highest-priority
 * match, so an additional policy over notification queues would drop replication and the length cap: the library
 * merges these keys into it (see `clusterPolicies`) and refuses them from the user, who tunes them through
 * `notificationsMaxLength` and the release line.
 */
export const NOTIFICATIONS_POLICY_PRIORITY = 10;
export const OWNED_NOTIFICATION_POLICY_KEYS = ['ha-mode', 'ha-params', 'ha-sync-mode', 'ha-promote-on-shutdown',
  'ha-promote-on-failure', 'queue-master-locator', 'max-length', 'overflow'];

/** Names that go into definitions, URLs and env var names unchanged. */
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

/**
 * Applies defaults and checks every prop, throwing one error that lists every problem.
 * @param subject how the error names the thing being validated, e.g. `RabbitDaemonSet 'rabbitmq'`
 * @param requireDeployableVersion reject test-only release lines (the construct sets it; tests of the Debian broker do not)
 */
export function resolveRabbitCluster(spec: RabbitClusterSpec, subject: string, requireDeployableVersion = true): ResolvedRabbitCluster {
  const v = new Validator(subject);
  // Without a construct there is no Placement to check the inventory: apply the same rules it does.
  validateInventory(v, 'nodes', spec.nodes ?? []);
  const resolved = resolveRabbitClusterInto(v, spec, { requireDeployableVersion });
  v.throwIfInvalid();
  return resolved;
}

/** How `resolveRabbitClusterInto` reports node problems. */
export interface InventoryNodeChecks {
  /** Reject test-only release lines. */
  readonly requireDeployableVersion: boolean;
  /** Prop that names the node list in messages. @default "nodes" */
  readonly nodesProp?: string;
}

/**
 * Like `resolveRabbitCluster`, but records the problems in `v` (with the caller's own) instead of throwing; the
 * result is only meaningful once `v` has no problems.
 */
export function resolveRabbitClusterInto(v: Validator, spec: RabbitClusterSpec, checks: InventoryNodeChecks): ResolvedRabbitCluster {
  const requireDeployableVersion = checks.requireDeployableVersion;
  const version = spec.version;
  const knownVersion = version instanceof RabbitVersion;
  if (!knownVersion) {
    const choices = RabbitVersion.all().filter((x) => x.deployable).map((x) => `RabbitVersion.V${x.line.replace('.', '_')}`);
    v.add('version', version === undefined ? undefined : String(version), `is not a known release line; use one of ${choices.join(', ')}`);
  } else if (requireDeployableVersion && !version.deployable) {
    v.add('version', version.version, 'is a test-only target (the Debian package) with no official image; use RabbitVersion.V3_13 or a 4.x line, or name the image that provides it');
  }
  v.check(!PLAIN_NAME.test(spec.clusterName ?? ''), 'clusterName', spec.clusterName,
    'must be 1-255 letters, digits, ".", "_" or "-" (it is shown in metrics labels and the UI)');

  const nodes = spec.nodes ?? [];
  validateNodes(v, nodes, knownVersion ? version : undefined, checks.nodesProp ?? 'nodes');

  const notificationsVhost = spec.notificationsVhost ?? 'notifications';
  const rpcVhost = spec.rpcVhost ?? '/';
  checkVhostName(v, 'notificationsVhost', notificationsVhost);
  checkVhostName(v, 'rpcVhost', rpcVhost);
  v.check(notificationsVhost === rpcVhost, 'notificationsVhost', notificationsVhost,
    'must differ from rpcVhost: replication is scoped by vhost, and oslo clashes on the shared control exchange when notifications and RPC differ in durability');
  const vhosts = [rpcVhost, notificationsVhost];

  const ports: [string, number | undefined, number][] = [
    ['amqpPort', spec.amqpPort, 5672], ['managementPort', spec.managementPort, 15672],
    ['prometheusPort', spec.prometheusPort, 15692], ['distributionPort', spec.distributionPort, 25672],
  ];
  for (const [prop, value] of ports) {
    if (value === undefined) continue;
    if (!isPort(value)) {
      v.add(prop, value, 'must be a port number 1-65535');
    } else if (value === 4369 || (value >= 35672 && value <= 35682)) {
      // Fixed by Erlang (epmd) and by the RabbitMQ CLI tools' own distribution listeners.
      v.add(prop, value, 'collides with epmd (4369) or the CLI tools\' distribution range (35672-35682); pick another port');
    }
  }
  const portValues = ports.map(([, value, fallback]) => value ?? fallback);
  for (const dup of duplicates(portValues)) {
    const props = ports.filter((_, i) => portValues[i] === dup).map(([prop, value]) => `${prop}${value === undefined ? ' (default)' : ''}`);
    v.add(props[props.length - 1].replace(' (default)', ''), dup,
      `is also the port of ${props.slice(0, -1).join(', ')}; under hostNetwork every listener needs its own port`);
  }

  const users = resolveUsers(v, spec.users ?? [], vhosts);
  // Rendered as integers into rabbitmq.conf and definitions.json: beyond 2^53 JavaScript writes 1e+21, which
  // neither parser reads as a number.
  const positive = (prop: string, value: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER, why = ''): number => {
    if (value !== undefined) v.check(!Number.isSafeInteger(value) || value <= 0 || value > max, prop, value, `must be a whole number from 1 to ${max}${why}`);
    return value ?? fallback;
  };
  // RabbitMQ refuses a message TTL or queue expiry above 2^32-1 ms (?MAX_EXPIRY_TIMER): the definitions import fails.
  const seconds = (prop: string, value: number | undefined, fallback: number) =>
    positive(prop, value, fallback, MAX_EXPIRY_SECONDS, ' (RabbitMQ keeps TTLs and expiries as 32-bit milliseconds)');
  const memoryLimitBytes = spec.memoryLimitBytes;
  if (memoryLimitBytes !== undefined) {
    v.check(!Number.isInteger(memoryLimitBytes) || memoryLimitBytes < 256 * 1024 * 1024, 'memoryLimitBytes', memoryLimitBytes,
      'must be a whole number of bytes, at least 256 MiB (RabbitMQ needs ~150 MiB before any message)');
  }
  const additionalPolicies = spec.additionalPolicies ?? [];
  validatePolicies(v, additionalPolicies, vhosts, knownVersion ? version : undefined);

  const resolved: ResolvedRabbitCluster = {
    clusterName: spec.clusterName,
    version,
    nodes,
    users,
    notificationsVhost,
    rpcVhost,
    amqpPort: portValues[0],
    managementPort: portValues[1],
    prometheusPort: portValues[2],
    distributionPort: portValues[3],
    memoryLimitBytes,
    diskFreeLimitBytes: positive('diskFreeLimitBytes', spec.diskFreeLimitBytes, 2_000_000_000),
    notificationsMaxLength: positive('notificationsMaxLength', spec.notificationsMaxLength, 100_000),
    rpcMessageTtlSeconds: seconds('rpcMessageTtlSeconds', spec.rpcMessageTtlSeconds, 600),
    rpcQueueExpirySeconds: seconds('rpcQueueExpirySeconds', spec.rpcQueueExpirySeconds, 3600),
    transientQueueExpirySeconds: seconds('transientQueueExpirySeconds', spec.transientQueueExpirySeconds, 1800),
    additionalPolicies,
  };
  return resolved;
}

/**
 * What RabbitMQ adds to the inventory's rules (validateInventory, applied by the placement): an odd count, short
 * names, IPv4. A name or address the inventory rules refuse is theirs to report, so it is skipped here.
 */
function validateNodes(v: Validator, nodes: readonly InventoryNode[], version: RabbitVersion | undefined, prop: string): void {
  const why = version && !version.supportsPartitionHandling
    ? 'the Khepri metadata store needs a majority, so an even count adds a node without adding tolerance'
    : 'pause_minority pauses the smaller side of a partition; with an even count a clean split pauses every node';
  if (nodes.length < 3 || nodes.length % 2 === 0) {
    v.add(prop, nodes.map((n) => n?.name), `has ${nodes.length} broker(s); use an odd number, at least 3 (${why})`);
  }
  nodes.forEach((n, i) => {
    const name = n?.name ?? '';
    // Short node names (rabbit@ctl-1) are what the erl_inetrc host table resolves; a dotted name needs
    // RABBITMQ_USE_LONGNAME on every node, which cannot be switched later without resetting the cluster.
    v.check(isDns1123Subdomain(name) && name.includes('.'), `${prop}[${i}].name`, name,
      'contains a dot; brokers use short Erlang node names (rabbit@<node>), so use nodes with short names');
    const ip = n?.ip ?? '';
    v.check(isIpAddress(ip) && isIpv6(ip), `${prop}[${i}].ip`, ip,
      'is IPv6; brokers are rendered for IPv4 only (IPv6 needs -proto_dist inet6_tcp everywhere)');
  });
}

function resolveUsers(v: Validator, users: readonly RabbitUser[], vhosts: readonly string[]): ResolvedRabbitUser[] {
  if (users.length === 0) {
    v.add('users', [], 'is empty; add at least one user (definitions loaded at boot create no default user)');
  } else if (!users.some((u) => u?.administrator)) {
    v.add('users', users.map((u) => u?.name), 'has no administrator; mark one user `administrator: true` (management UI, policy changes)');
  }
  const resolved = users.map((u, i): ResolvedRabbitUser => {
    const name = u?.name ?? '';
    // The name goes into definitions.json, transport URLs and the password env var name.
    if (!v.check(!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name), `users[${i}].name`, u?.name,
      'must be 1-128 letters, digits, ".", "_" or "-" (it appears in URLs and env var names)')) {
      const reserved = RESERVED_USERS[name.toLowerCase()];
      if (reserved) v.add(`users[${i}].name`, name, reserved);
    }
    validateSecretValue(v, `users[${i}].password`, u?.password);
    const userVhosts = u?.vhosts ?? vhosts;
    for (const vh of userVhosts) {
      v.check(!vhosts.includes(vh), `users[${i}].vhosts`, vh, `is not a vhost of this cluster; use ${vhosts.map((x) => JSON.stringify(x)).join(' or ')}`);
    }
    return { name, password: u?.password, administrator: u?.administrator ?? false, vhosts: [...userVhosts], passwordEnv: passwordEnvName(name) };
  });
  for (const dup of duplicates(resolved.map((u) => u.name))) v.add('users', dup, 'is defined twice; define each user once');
  const namesByEnv = new Map<string, Set<string>>();
  for (const u of resolved) namesByEnv.set(u.passwordEnv, (namesByEnv.get(u.passwordEnv) ?? new Set<string>()).add(u.name));
  for (const [env, names] of namesByEnv) {
    if (names.size > 1) v.add('users', [...names], `share the password env var ${env} (the names differ only in case or "-" vs "_"); rename one`);
  }
  return resolved;
}

/**
 * RabbitMQ accepts almost any UTF-8 vhost name, but these also go into transport URLs, where "/" and "%" would
 * need percent-encoding that not every oslo/kombu release decodes the same way: "/" itself, or plain names.
 */
function checkVhostName(v: Validator, prop: string, name: string): void {
  if (name === '/') return;
  v.check(!PLAIN_NAME.test(name), prop, name, 'must be "/" or 1-255 letters, digits, ".", "_" or "-"');
}

function validatePolicies(v: Validator, policies: readonly RabbitPolicy[], vhosts: readonly string[], version: RabbitVersion | undefined): void {
  const [rpcVhost, notificationsVhost] = vhosts;
  const applyTo = version?.policiesApplyToQueueType ? [...APPLY_TO_ALL_LINES, ...APPLY_TO_SINCE_312] : APPLY_TO_ALL_LINES;
  policies.forEach((p, i) => {
    const at = `additionalPolicies[${i}]`;
    v.check(!vhosts.includes(p.vhost), `${at}.vhost`, p.vhost, `is not a vhost of this cluster; use ${vhosts.map((x) => JSON.stringify(x)).join(' or ')}`);
    if (!PLAIN_NAME.test(p.name ?? '')) {
      v.add(`${at}.name`, p.name, 'must be 1-255 letters, digits, ".", "_" or "-" (policy names appear in HTTP API paths)');
    } else if (GENERATED_POLICY_NAMES.includes(p.name)) {
      v.add(`${at}.name`, p.name, 'is a policy this library generates; choose another name');
    }
    checkPattern(v, `${at}.pattern`, p.pattern);
    v.check(p.applyTo !== undefined && !applyTo.includes(p.applyTo), `${at}.applyTo`, p.applyTo, `must be one of ${applyTo.join(', ')} on this release line`);
    v.check(p.priority !== undefined && (!Number.isInteger(p.priority) || p.priority < 0 || p.priority > 255), `${at}.priority`, p.priority,
      'must be a whole number 0-255');
    const keys = Object.keys(p.definition ?? {});
    v.check(keys.length === 0, `${at}.definition`, p.definition, 'is empty; RabbitMQ rejects a policy without keys');
    if (version && !version.usesClassicMirroring) {
      for (const k of keys.filter((key) => key.startsWith('ha-'))) {
        v.add(`${at}.definition.${k}`, p.definition[k], `is a classic mirroring key; ${version} removed mirroring (use quorum queues)`);
      }
    } else if (p.vhost === rpcVhost) {
      for (const k of keys.filter((key) => key.startsWith('ha-'))) {
        v.add(`${at}.definition.${k}`, p.definition[k], 'would mirror RPC queues, which this design keeps unreplicated and transient (replication is for notifications); remove it');
      }
    }
    // Only a policy that outranks (or ties) the generated one ever applies to a notification queue.
    if (p.vhost === notificationsVhost && p.applyTo !== 'exchanges' && (p.priority ?? 0) >= NOTIFICATIONS_POLICY_PRIORITY) {
      for (const k of keys.filter((key) => OWNED_NOTIFICATION_POLICY_KEYS.includes(key) && !(key.startsWith('ha-') && version && !version.usesClassicMirroring))) {
        v.add(`${at}.definition.${k}`, p.definition[k], 'is set by the library\'s notifications policy (replication and the length cap), which is merged into this one; ' +
          'remove it (tune the cap with notificationsMaxLength)');
      }
    }
  });
  for (const dup of duplicates(policies.map((p) => `${p.vhost} ${p.name}`))) v.add('additionalPolicies', dup, 'defines a policy twice in one vhost');
}

/**
 * RabbitMQ compiles patterns with Erlang's `re` (PCRE). JavaScript's RegExp accepts the common subset
 * (anchors, classes, lookahead); a pattern it cannot compile would fail the definitions import and the boot.
 */
function checkPattern(v: Validator, prop: string, pattern: string): void {
  if (typeof pattern !== 'string' || pattern === '') {
    v.add(prop, pattern, 'must be a regular expression such as "^notifications\\\\." (write ".*" to match every queue)');
    return;
  }
  try {
    new RegExp(pattern);
  } catch (e) {
    v.add(prop, pattern, `is not a valid regular expression (${(e as Error).message})`);
  }
}
