import { InventoryNode, validateInventory } from '../common/placement';
import { SecretValue } from '../common/secret';
import { Validator } from '../common/validation';
import { validateRabbitCluster } from './validation';
import type { ResolvedRabbitTls } from './tls';
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
  /**
   * Where the password is; mounted as a file in the broker container (never rendered into a ConfigMap). A change of
   * the Secret's value reaches the brokers live, without a restart (README, "Day 2: rotating a RabbitMQ password").
   */
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
  /** TLS listeners and distribution (the construct's `tls` prop); none when undefined. */
  readonly tls?: ResolvedRabbitTls;
}

export interface ResolvedRabbitUser {
  readonly name: string;
  readonly password: SecretValue;
  readonly administrator: boolean;
  readonly vhosts: readonly string[];
  /** The definitions.json placeholder's variable, which start.sh sets from the user's password file. */
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

/**
 * Keys of the generated notifications policy. RabbitMQ applies one policy per queue, the highest-priority
 * match, so an additional policy over notification queues would drop replication and the length cap: the library
 * merges these keys into it (see `clusterPolicies`) and refuses them from the user, who tunes them through
 * `notificationsMaxLength` and the release line.
 */
export const NOTIFICATIONS_POLICY_PRIORITY = 10;
export const OWNED_NOTIFICATION_POLICY_KEYS = ['ha-mode', 'ha-params', 'ha-sync-mode', 'ha-promote-on-shutdown',
  'ha-promote-on-failure', 'queue-master-locator', 'max-length', 'overflow'];

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
export interface RabbitNodeChecks {
  /** Reject test-only release lines. */
  readonly requireDeployableVersion: boolean;
  /** Prop that names the node list in messages. @default "nodes" */
  readonly nodesProp?: string;
}

/**
 * Like `resolveRabbitCluster`, but records the problems in `v` (with the caller's own) instead of throwing; the
 * result is only meaningful once `v` has no problems.
 */
export function resolveRabbitClusterInto(v: Validator, spec: RabbitClusterSpec, checks: RabbitNodeChecks): ResolvedRabbitCluster {
  const resolved = resolveSpec(spec);
  validateRabbitCluster(v, spec, resolved, checks);
  return resolved;
}

/** The spec with every default applied; never throws (validation reports on what it resolved). */
function resolveSpec(spec: RabbitClusterSpec): ResolvedRabbitCluster {
  const notificationsVhost = spec.notificationsVhost ?? 'notifications';
  const rpcVhost = spec.rpcVhost ?? '/';
  return {
    clusterName: spec.clusterName,
    version: spec.version,
    nodes: spec.nodes ?? [],
    users: (spec.users ?? []).map((u): ResolvedRabbitUser => {
      const name = u?.name ?? '';
      return {
        name, password: u?.password, administrator: u?.administrator ?? false,
        vhosts: [...(u?.vhosts ?? [rpcVhost, notificationsVhost])], passwordEnv: passwordEnvName(name),
      };
    }),
    notificationsVhost,
    rpcVhost,
    amqpPort: spec.amqpPort ?? 5672,
    managementPort: spec.managementPort ?? 15672,
    prometheusPort: spec.prometheusPort ?? 15692,
    distributionPort: spec.distributionPort ?? 25672,
    memoryLimitBytes: spec.memoryLimitBytes,
    diskFreeLimitBytes: spec.diskFreeLimitBytes ?? 2_000_000_000,
    notificationsMaxLength: spec.notificationsMaxLength ?? 100_000,
    rpcMessageTtlSeconds: spec.rpcMessageTtlSeconds ?? 600,
    rpcQueueExpirySeconds: spec.rpcQueueExpirySeconds ?? 3600,
    transientQueueExpirySeconds: spec.transientQueueExpirySeconds ?? 1800,
    additionalPolicies: spec.additionalPolicies ?? [],
  };
}
