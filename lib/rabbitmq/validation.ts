/**
 * Every rule of a RabbitMQ cluster spec (RabbitDaemonSet's props, or a spec given directly), checked against what
 * the model resolved, in one place. The inventory's own rules (names, addresses, duplicates) are
 * validateInventory's, applied by the placement; only what RabbitMQ adds is here.
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s.
 */
import { validateHostPath } from '../common/host-path';
import { validateImage } from '../common/k8s-rules';
import { validateObjectName } from '../common/network';
import { InventoryNode } from '../common/placement';
import { ContainerResources, validateResources } from '../common/resources';
import { validateSecretValue } from '../common/secret';
import { duplicates, isDns1123Subdomain, isIpAddress, isIpv6, isPort, Validator } from '../common/validation';
import {
  NOTIFICATIONS_POLICY_PRIORITY, OWNED_NOTIFICATION_POLICY_KEYS, POLICY_NAMES, RabbitClusterSpec, RabbitNodeChecks, RabbitPolicy,
  RabbitUser, ResolvedRabbitCluster, ResolvedRabbitUser,
} from './model';
import type { RabbitDaemonSetProps } from './rabbit-daemonset';
import { RabbitVersion } from './version';

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

/** Names that go into definitions, URLs and env var names unchanged. */
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

/** Records every problem of `spec` (resolved into `c`) in `v`. */
export function validateRabbitCluster(v: Validator, spec: RabbitClusterSpec, c: ResolvedRabbitCluster, checks: RabbitNodeChecks): void {
  const version = spec.version;
  const knownVersion = version instanceof RabbitVersion;
  if (!knownVersion) {
    const choices = RabbitVersion.all().filter((x) => x.deployable).map((x) => `RabbitVersion.V${x.line.replace('.', '_')}`);
    v.add('version', version === undefined ? undefined : String(version), `is not a known release line; use one of ${choices.join(', ')}`);
  } else if (checks.requireDeployableVersion && !version.deployable) {
    v.add('version', version.version, 'is a test-only target (the Debian package) with no official image; use RabbitVersion.V3_13 or a 4.x line, or name the image that provides it');
  }
  v.check(!PLAIN_NAME.test(spec.clusterName ?? ''), 'clusterName', spec.clusterName,
    'must be 1-255 letters, digits, ".", "_" or "-" (it is shown in metrics labels and the UI)');
  validateNodes(v, c.nodes, knownVersion ? version : undefined, checks.nodesProp ?? 'nodes');

  const { notificationsVhost, rpcVhost } = c;
  checkVhostName(v, 'notificationsVhost', notificationsVhost);
  checkVhostName(v, 'rpcVhost', rpcVhost);
  v.check(notificationsVhost === rpcVhost, 'notificationsVhost', notificationsVhost,
    'must differ from rpcVhost: replication is scoped by vhost, and oslo clashes on the shared control exchange when notifications and RPC differ in durability');
  const vhosts = [rpcVhost, notificationsVhost];
  validatePorts(v, spec, c);
  validateUsers(v, spec.users ?? [], c.users, vhosts);
  if (c.memoryLimitBytes !== undefined) {
    v.check(!Number.isInteger(c.memoryLimitBytes) || c.memoryLimitBytes < 256 * 1024 * 1024, 'memoryLimitBytes', c.memoryLimitBytes,
      'must be a whole number of bytes, at least 256 MiB (RabbitMQ needs ~150 MiB before any message)');
  }
  validatePolicies(v, c.additionalPolicies, vhosts, knownVersion ? version : undefined);
  // Rendered as integers into rabbitmq.conf and definitions.json: beyond 2^53 JavaScript writes 1e+21, which
  // neither parser reads as a number.
  const positive = (prop: string, value: number | undefined, max = Number.MAX_SAFE_INTEGER, why = '') => {
    if (value !== undefined) v.check(!Number.isSafeInteger(value) || value <= 0 || value > max, prop, value, `must be a whole number from 1 to ${max}${why}`);
  };
  // RabbitMQ refuses a message TTL or queue expiry above 2^32-1 ms (?MAX_EXPIRY_TIMER): the definitions import fails.
  const seconds = (prop: string, value: number | undefined) =>
    positive(prop, value, MAX_EXPIRY_SECONDS, ' (RabbitMQ keeps TTLs and expiries as 32-bit milliseconds)');
  positive('diskFreeLimitBytes', spec.diskFreeLimitBytes);
  positive('notificationsMaxLength', spec.notificationsMaxLength);
  seconds('rpcMessageTtlSeconds', spec.rpcMessageTtlSeconds);
  seconds('rpcQueueExpirySeconds', spec.rpcQueueExpirySeconds);
  seconds('transientQueueExpirySeconds', spec.transientQueueExpirySeconds);
}

/** Each given port is a port Erlang leaves free, and no two listeners share one (defaults included). */
function validatePorts(v: Validator, spec: RabbitClusterSpec, c: ResolvedRabbitCluster): void {
  const ports: [string, number | undefined, number][] = [
    ['amqpPort', spec.amqpPort, c.amqpPort], ['managementPort', spec.managementPort, c.managementPort],
    ['prometheusPort', spec.prometheusPort, c.prometheusPort], ['distributionPort', spec.distributionPort, c.distributionPort],
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
  const portValues = ports.map(([, , resolved]) => resolved);
  for (const dup of duplicates(portValues)) {
    const props = ports.filter((_, i) => portValues[i] === dup).map(([prop, value]) => `${prop}${value === undefined ? ' (default)' : ''}`);
    v.add(props[props.length - 1].replace(' (default)', ''), dup,
      `is also the port of ${props.slice(0, -1).join(', ')}; under hostNetwork every listener needs its own port`);
  }
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

/** The users' rules: at least one administrator, names, passwords, vhosts, no name or password variable twice. */
function validateUsers(v: Validator, users: readonly RabbitUser[], resolved: readonly ResolvedRabbitUser[], vhosts: readonly string[]): void {
  if (users.length === 0) {
    v.add('users', [], 'is empty; add at least one user (definitions loaded at boot create no default user)');
  } else if (!users.some((u) => u?.administrator)) {
    v.add('users', users.map((u) => u?.name), 'has no administrator; mark one user `administrator: true` (management UI, policy changes)');
  }
  users.forEach((u, i) => {
    const name = resolved[i].name;
    // The name goes into definitions.json, transport URLs and the password env var name.
    if (!v.check(!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name), `users[${i}].name`, u?.name,
      'must be 1-128 letters, digits, ".", "_" or "-" (it appears in URLs and env var names)')) {
      const reserved = RESERVED_USERS[name.toLowerCase()];
      if (reserved) v.add(`users[${i}].name`, name, reserved);
    }
    validateSecretValue(v, `users[${i}].password`, u?.password);
    for (const vh of resolved[i].vhosts) {
      v.check(!vhosts.includes(vh), `users[${i}].vhosts`, vh, `is not a vhost of this cluster; use ${vhosts.map((x) => JSON.stringify(x)).join(' or ')}`);
    }
  });
  for (const dup of duplicates(resolved.map((u) => u.name))) v.add('users', dup, 'is defined twice; define each user once');
  const namesByEnv = new Map<string, Set<string>>();
  for (const u of resolved) namesByEnv.set(u.passwordEnv, (namesByEnv.get(u.passwordEnv) ?? new Set<string>()).add(u.name));
  for (const [env, names] of namesByEnv) {
    if (names.size > 1) v.add('users', [...names], `share the password env var ${env} (the names differ only in case or "-" vs "_"); rename one`);
  }
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
    } else if ((Object.values(POLICY_NAMES) as string[]).includes(p.name)) {
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

/** The construct's own props (the cluster spec's rules are validateRabbitCluster's). Returns whether the memory limit is usable. */
export function validateDaemonSetProps(v: Validator, props: RabbitDaemonSetProps,
  r: { readonly name: string; readonly resources: Required<ContainerResources>; readonly drainTimeoutSeconds: number; readonly dataPath: string }): boolean {
  const { name, resources, drainTimeoutSeconds, dataPath } = r;
  const placement = props.placement;
  validateObjectName(v, 'name', name);
  placement._validate(v, 'placement');
  v.check(placement.nodes === undefined, 'placement', 'labelled nodes without an inventory',
    'gives no node IPs for the peer list, host table and transport URLs; pass `nodes` to Placement.onLabelledNodes, or use Placement.onNodes');
  validateSecretValue(v, 'erlangCookie', props.erlangCookie);
  validateResources(v, 'resources', resources);
  v.check(!Number.isInteger(drainTimeoutSeconds) || drainTimeoutSeconds < 10 || drainTimeoutSeconds > 3600, 'drainTimeoutSeconds',
    drainTimeoutSeconds, 'must be a whole number of seconds from 10 to 3600');
  validateHostPath(v, 'dataPath', dataPath);
  if (props.image !== undefined || (props.version instanceof RabbitVersion && props.version.deployable)) validateImage(v, 'image', props.image ?? props.version.image);
  // Checked here, in the unit the user wrote; the model's memoryLimitBytes is derived from it.
  const memoryOk = !v.check(Number.isSafeInteger(resources.memoryLimitMiB) && resources.memoryLimitMiB < 256, 'resources.memoryLimitMiB',
    resources.memoryLimitMiB, 'must be at least 256 (RabbitMQ needs about 150 MiB before any message)');
  return memoryOk;
}
