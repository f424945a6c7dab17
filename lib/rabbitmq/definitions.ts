/**
 * The definitions the brokers import at boot: vhosts, users, permissions and policies. Passwords are
 * `@@RABBITMQ_PASSWORD_<USER>@@` placeholders that the start script replaces from the users' password files, so the
 * rendered template can live in a ConfigMap.
 *
 * Replication is scoped by vhost, not by queue-name regex: everything in the notifications vhost is replicated
 * (classic mirroring on 3.x, quorum queues on 4.x), nothing in the RPC vhost is. oslo.messaging's notification
 * queue names (`notifications.info`, `versioned_notifications.error`, pool names) then never have to be guessed.
 */
import { envPlaceholder } from '../common/secret';
import { NOTIFICATIONS_POLICY_PRIORITY, POLICY_NAMES, RabbitPolicy, ResolvedRabbitCluster } from './model';


/** oslo.messaging RPC reply queues (`reply_<id>`) and fanout queues (`<topic>_fanout_<id>`). */
export const TRANSIENT_RPC_QUEUE_PATTERN = '^(reply_.*|.*_fanout_.*)$';
/** Every queue but the broker's own `amq.*` ones. */
export const ALL_BUT_AMQ_PATTERN = '^(?!amq\\.).*';

interface PolicyJson {
  readonly vhost: string;
  readonly name: string;
  readonly pattern: string;
  readonly 'apply-to': string;
  readonly priority: number;
  readonly definition: { [key: string]: unknown };
}

/**
 * Replicas of a mirrored notification queue: a majority of the brokers (2 of 3, 3 of 5). Measured here on 3.10
 * (10,000 x 1 KiB confirmed persistent messages): `exactly 2` publishes at 0.55x and consumes at 0.69x the
 * unmirrored rate, `all` at 0.45x / 0.53x, and `all` grows more expensive with every broker. A majority survives
 * the loss of any minority, which is what pause_minority already assumes.
 */
export function mirrorCount(brokers: number): number {
  return Math.floor(brokers / 2) + 1;
}

/** The policies a cluster gets, generated ones first, then the additional ones. */
export function clusterPolicies(c: ResolvedRabbitCluster): PolicyJson[] {
  const ms = (seconds: number): number => seconds * 1000;
  const notifications: PolicyJson = c.version.usesClassicMirroring
    ? {
      vhost: c.notificationsVhost,
      name: POLICY_NAMES.notificationsHa,
      pattern: ALL_BUT_AMQ_PATTERN,
      'apply-to': 'queues',
      priority: NOTIFICATIONS_POLICY_PRIORITY,
      definition: {
        'ha-mode': 'exactly',
        'ha-params': mirrorCount(c.nodes.length),
        'ha-sync-mode': 'automatic',
        // Availability over consistency, as kolla and RHOSO chose: notifications tolerate a lost message better
        // than a queue that stays down until its unsynchronised mirror's master returns.
        'ha-promote-on-shutdown': 'always',
        'ha-promote-on-failure': 'always',
        'queue-master-locator': 'min-masters',
        'max-length': c.notificationsMaxLength,
        overflow: 'drop-head',
      },
    }
    : {
      vhost: c.notificationsVhost,
      name: POLICY_NAMES.notificationsLimits,
      pattern: ALL_BUT_AMQ_PATTERN,
      'apply-to': 'queues',
      priority: NOTIFICATIONS_POLICY_PRIORITY,
      definition: { 'max-length': c.notificationsMaxLength, overflow: 'drop-head' },
    };
  const generated: PolicyJson[] = [
    notifications,
    {
      vhost: c.rpcVhost,
      name: POLICY_NAMES.rpcTransient,
      pattern: TRANSIENT_RPC_QUEUE_PATTERN,
      'apply-to': 'queues',
      priority: 1,
      definition: { 'message-ttl': ms(c.rpcMessageTtlSeconds), expires: ms(c.transientQueueExpirySeconds) },
    },
    {
      vhost: c.rpcVhost,
      name: POLICY_NAMES.rpcHygiene,
      pattern: ALL_BUT_AMQ_PATTERN,
      'apply-to': 'queues',
      priority: 0,
      definition: { 'message-ttl': ms(c.rpcMessageTtlSeconds), expires: ms(c.rpcQueueExpirySeconds) },
    },
  ];
  return [...generated, ...c.additionalPolicies.map((p) => mergedPolicy(policyJson(p), generated))];
}

function policyJson(p: RabbitPolicy): PolicyJson {
  return { vhost: p.vhost, name: p.name, pattern: p.pattern, 'apply-to': p.applyTo ?? 'queues', priority: p.priority ?? 0, definition: sortKeys(p.definition) };
}

/**
 * RabbitMQ applies exactly one policy to a queue, the matching one of highest priority: an additional policy that
 * outranks a generated one would silently drop what the design depends on (notification replication and length
 * cap, RPC TTL and expiry) for every queue it matches. So a queue policy gets the keys of the highest-priority
 * generated policy of its vhost that it outranks or ties, under its own keys (validation refuses the owned
 * notification keys, so there only the user's additions differ; in the RPC vhost a policy may set its own TTL).
 */
function mergedPolicy(p: PolicyJson, generated: readonly PolicyJson[]): PolicyJson {
  if (p['apply-to'] === 'exchanges' || p['apply-to'] === 'streams') return p;
  const shadowed = generated.filter((g) => g.vhost === p.vhost && g.priority <= p.priority)
    .sort((a, b) => b.priority - a.priority)[0];
  if (!shadowed) return p;
  // Classic mirroring keys are refused on quorum queues: merge only what applies.
  const keys = Object.entries(shadowed.definition)
    .filter(([k]) => p['apply-to'] !== 'quorum_queues' || !(k.startsWith('ha-') || k === 'queue-master-locator'));
  return { ...p, definition: sortKeys({ ...Object.fromEntries(keys), ...p.definition }) };
}

function sortKeys(o: { [key: string]: unknown }): { [key: string]: unknown } {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

/** `definitions.json` template (passwords as placeholders). Same input, same bytes. */
export function renderDefinitions(c: ResolvedRabbitCluster): string {
  const quorum = !c.version.usesClassicMirroring;
  const vhost = (name: string, description: string, queueType: string) => (quorum
    // The vhost default queue type makes a declare without x-queue-type quorum in the notifications vhost;
    // 4.x reads it from the top-level field and from metadata depending on the exporter's version.
    ? { name, description, default_queue_type: queueType, metadata: { description, default_queue_type: queueType, tags: [] } }
    : { name, description });
  const definitions = {
    users: c.users.map((u) => ({
      name: u.name,
      password: envPlaceholder(u.passwordEnv),
      tags: u.administrator ? ['administrator'] : [],
    })),
    vhosts: [
      vhost(c.rpcVhost, 'oslo.messaging RPC: unreplicated, transient', 'classic'),
      vhost(c.notificationsVhost, `oslo.messaging notifications: ${quorum ? 'quorum queues' : 'mirrored classic queues'}`, 'quorum'),
    ],
    permissions: c.users.flatMap((u) => u.vhosts.map((vh) => ({ user: u.name, vhost: vh, configure: '.*', write: '.*', read: '.*' }))),
    policies: clusterPolicies(c),
  };
  return JSON.stringify(definitions, null, 2) + '\n';
}
