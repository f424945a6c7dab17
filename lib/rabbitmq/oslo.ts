/**
 * What OpenStack services need to use the cluster through oslo.messaging: transport URLs that list every broker
 * (the client fails over along the list; no load balancer in between) and the `[oslo_messaging_*]` options,
 * with oslo's exact option names held in one typed table so none can be misspelled. (openstack-helm sets
 * `rabbit_quorum_queues`, plural, in every chart; oslo.config ignores unknown keys, so its queues are not quorum.)
 */
import { DEFAULT_OPENSTACK_RELEASE, OpenStackRelease } from '../common/openstack-release';
import { envPlaceholder } from '../common/secret';
import { InventoryNode } from '../common/placement';
import { hostPort, Validator } from '../common/validation';
import { passwordEnvName } from './model';
import { RabbitClientTls, osloSslOptions } from './tls';
import { RabbitVersion } from './version';

/** oslo.messaging `[oslo_messaging_rabbit]` options this library sets (impl_rabbit.py / amqp.py @ 2026). */
export interface OsloRabbitOptions {
  /** `rabbit_quorum_queue`: declare RPC topic and notification queues as quorum (durable) queues. @default - oslo default (false) */
  readonly quorumQueue?: boolean;
  /** `rabbit_transient_quorum_queue`: reply and fanout queues as quorum queues. @default - oslo default (false) */
  readonly transientQuorumQueue?: boolean;
  /** `rabbit_stream_fanout`: one stream per fanout topic instead of a queue per listener. @default - oslo default (false) */
  readonly streamFanout?: boolean;
  /** `use_queue_manager`: stable reply/fanout queue names across restarts. @default - oslo default (false) */
  readonly useQueueManager?: boolean;
  /** `amqp_durable_queues`: durable queues and exchanges. @default - oslo default (false) */
  readonly durableQueues?: boolean;
  /** `rabbit_ha_queues`: only sets the obsolete `x-ha-policy` argument; mirroring is done by policy. @default - oslo default (false) */
  readonly haQueues?: boolean;
  /** `rabbit_transient_queues_ttl` (seconds): `x-expires` of reply and fanout queues. @default - oslo default (1800) */
  readonly transientQueuesTtlSeconds?: number;
  /** `heartbeat_timeout_threshold` (seconds; 0 turns heartbeats off). @default - oslo default (60) */
  readonly heartbeatTimeoutThresholdSeconds?: number;
}

/**
 * oslo.messaging's option name for every field of `OsloRabbitOptions`. `Record<keyof ...>` makes the compiler
 * demand a name for each field, and nothing else renders option names.
 */
export const OSLO_RABBIT_OPTION_NAMES: { readonly [K in keyof Required<OsloRabbitOptions>]: string } = {
  quorumQueue: 'rabbit_quorum_queue',
  transientQuorumQueue: 'rabbit_transient_quorum_queue',
  streamFanout: 'rabbit_stream_fanout',
  useQueueManager: 'use_queue_manager',
  durableQueues: 'amqp_durable_queues',
  haQueues: 'rabbit_ha_queues',
  transientQueuesTtlSeconds: 'rabbit_transient_queues_ttl',
  heartbeatTimeoutThresholdSeconds: 'heartbeat_timeout_threshold',
};

/**
 * Whether a release line's oslo.messaging knows each option (see `OpenStackRelease`). An option a line lacks is
 * never rendered for it: oslo.config would ignore it silently. Typed like the names table, so a new option
 * cannot be added without saying since when it exists.
 */
export const OSLO_RABBIT_OPTION_AVAILABLE: { readonly [K in keyof Required<OsloRabbitOptions>]: (release: OpenStackRelease) => boolean } = {
  quorumQueue: (r) => r.hasQuorumQueues,
  transientQuorumQueue: (r) => r.hasQueueManager,
  streamFanout: (r) => r.hasQueueManager,
  useQueueManager: (r) => r.hasQueueManager,
  durableQueues: () => true,
  haQueues: () => true,
  transientQueuesTtlSeconds: () => true,
  heartbeatTimeoutThresholdSeconds: () => true,
};

/** `options` without the ones `release`'s oslo.messaging does not have. */
function forRelease(options: OsloRabbitOptions, release: OpenStackRelease): OsloRabbitOptions {
  return Object.fromEntries((Object.keys(options) as (keyof OsloRabbitOptions)[])
    .filter((k) => OSLO_RABBIT_OPTION_AVAILABLE[k](release))
    .map((k) => [k, options[k]]));
}

/** `[oslo_messaging_notifications] retry`: see `OsloMessaging.config`. */
export const OSLO_NOTIFICATION_RETRIES = 10;

/** `[oslo_messaging_notifications] driver` values. */
export class OsloNotificationDriver {
  /** Versioned notifications through the transport (what ceilometer and most consumers expect). */
  public static readonly MESSAGING_V2 = new OsloNotificationDriver('messagingv2');
  /** Unversioned (legacy) notifications through the transport. */
  public static readonly MESSAGING = new OsloNotificationDriver('messaging');
  /** Log notifications instead of sending them. */
  public static readonly LOG = new OsloNotificationDriver('log');
  /** Send nothing. */
  public static readonly NOOP = new OsloNotificationDriver('noop');

  private constructor(public readonly value: string) {}
}

/** Where and how a service connects: one user, every broker. */
export interface OsloTransportProps {
  /** The service's broker user. */
  readonly user: string;
  /** Every broker node; the URL lists their IPs (pod-network clients cannot resolve node names). */
  readonly nodes: InventoryNode[];
  /** @default 5672 */
  readonly port?: number;
  /**
   * What stands for the password in the URL; whoever renders the service's config replaces it, percent-encoded.
   * @default - `@@RABBITMQ_PASSWORD_<USER>@@`, the broker's own env var name for this user's password
   */
  readonly passwordPlaceholder?: string;
}

/** The oslo options that match how a release line replicates (see `OsloMessaging.recommendedOptions`). */
export interface OsloMessagingProfile {
  /** `[oslo_messaging_rabbit]` for RPC: unreplicated, transient. */
  readonly rpc: OsloRabbitOptions;
  /** Query of the notifications transport_url: durable (3.x, mirrored by policy) or quorum (4.x). */
  readonly notifications: OsloRabbitOptions;
}

/** A service's messaging configuration. */
export interface OsloMessagingConfigProps extends OsloTransportProps {
  /** Broker release line: decides how notifications are replicated. */
  readonly version: RabbitVersion;
  /**
   * The OpenStack release line of the service: options its oslo.messaging lacks are left out.
   * @default OpenStackRelease.V2026_1
   */
  readonly openStackRelease?: OpenStackRelease;
  /** @default "/" */
  readonly rpcVhost?: string;
  /** @default "notifications" */
  readonly notificationsVhost?: string;
  /** @default OsloNotificationDriver.MESSAGING_V2 */
  readonly notificationDriver?: OsloNotificationDriver;
  /** `[oslo_messaging_notifications] topics`. @default ["notifications"] */
  readonly notificationTopics?: string[];
  /**
   * The brokers serve AMQPS: `[oslo_messaging_rabbit] ssl = true` with these files (give `port` the AMQPS port).
   * @default - plaintext AMQP
   */
  readonly tls?: RabbitClientTls;
}

/** `[name, value]` pairs of the options that are set, in the table's order, with oslo's spelling of values. */
function optionEntries(options: OsloRabbitOptions): [string, string][] {
  return (Object.keys(OSLO_RABBIT_OPTION_NAMES) as (keyof OsloRabbitOptions)[])
    .filter((k) => options[k] !== undefined)
    .map((k) => [OSLO_RABBIT_OPTION_NAMES[k], String(options[k])]);
}

/** oslo.messaging settings for OpenStack services that use a `RabbitDaemonSet` cluster. */
export class OsloMessaging {
  /**
   * `rabbit://user:PASSWORD@10.0.0.11:5672,user:PASSWORD@10.0.0.12:5672/vhost?k=v`: oslo tries the hosts in
   * order and fails over to the next. The password stays a placeholder; never a value.
   * @param vhost "/" for the default vhost (rendered as an empty path), otherwise a plain name
   * @param query oslo options for this transport only (oslo reads URL query values as overrides of its
   *   `[oslo_messaging_rabbit]` options)
   */
  public static transportUrl(props: OsloTransportProps, vhost: string, query?: OsloRabbitOptions): string {
    const port = props.port ?? 5672;
    const password = props.passwordPlaceholder ?? envPlaceholder(passwordEnvName(props.user));
    const user = encodeURIComponent(props.user);
    const hosts = props.nodes.map((n) => `${user}:${password}@${hostPort(n.ip, port)}`).join(',');
    const path = vhost === '/' ? '' : encodeURIComponent(vhost);
    const params = optionEntries(query ?? {}).map(([k, v]) => `${k}=${v}`).join('&');
    return `rabbit://${hosts}/${path}${params ? `?${params}` : ''}`;
  }

  /**
   * RPC stays transient and unreplicated on every line (replication roughly halves throughput; a lost RPC
   * is retried by its caller). Notifications are durable and replicated:
   * - 3.x: `amqp_durable_queues=true`; the broker's policy mirrors every queue of the notifications vhost.
   * - 4.x: `rabbit_quorum_queue=true`: oslo declares `x-queue-type: quorum` itself, matching the vhost's
   *   default queue type (a mismatch is a PRECONDITION_FAILED). Every consumer (ceilometer, ...) must use the
   *   same URL: queue arguments must agree between declarers.
   * Options the OpenStack release line's oslo.messaging lacks are left out (before 2024.1: no
   * `rabbit_transient_quorum_queue`, no `use_queue_manager`). `OsloMessaging.validateRelease` refuses the
   * combination that cannot replicate notifications (4.x with a line that has no quorum queues).
   * @param release @default OpenStackRelease.V2026_1
   */
  public static recommendedOptions(version: RabbitVersion, release?: OpenStackRelease): OsloMessagingProfile {
    const line = release ?? DEFAULT_OPENSTACK_RELEASE;
    const profile: OsloMessagingProfile = version.usesClassicMirroring ? {
      rpc: { haQueues: false, durableQueues: false },
      notifications: { durableQueues: true },
    } : {
      rpc: { quorumQueue: false, transientQuorumQueue: false, durableQueues: false, useQueueManager: true },
      notifications: { quorumQueue: true },
    };
    return { rpc: forRelease(profile.rpc, line), notifications: forRelease(profile.notifications, line) };
  }

  /**
   * Records a broker line and an OpenStack line that cannot work together: RabbitMQ 4.x replicates only quorum
   * queues (mirroring was removed), and oslo.messaging before 2022.1 cannot declare them, so its notifications
   * would be neither replicated nor of the vhost's queue type. @internal
   */
  public static _validateRelease(v: Validator, prop: string, version: RabbitVersion, release: OpenStackRelease): void {
    if (!version.usesClassicMirroring && !release.hasQuorumQueues) {
      v.add(prop, release.toString(), `has no quorum queues in oslo.messaging (${release.osloMessagingVersion}; rabbit_quorum_queue arrived in 12.13, 2022.1), `
        + `and RabbitMQ ${version.line} replicates notifications only as quorum queues; use RabbitVersion.V3_13 (mirrored notifications) or OpenStackRelease.V2022_1 or later`);
    }
  }

  /**
   * `[DEFAULT] transport_url`, `[oslo_messaging_notifications]` and `[oslo_messaging_rabbit]` for a service,
   * as section -> option -> value (for a config merger); `renderIni` turns it into text.
   */
  public static config(props: OsloMessagingConfigProps): { [section: string]: { [option: string]: string } } {
    const profile = OsloMessaging.recommendedOptions(props.version, props.openStackRelease);
    return {
      DEFAULT: { transport_url: OsloMessaging.transportUrl(props, props.rpcVhost ?? '/') },
      oslo_messaging_notifications: {
        driver: (props.notificationDriver ?? OsloNotificationDriver.MESSAGING_V2).value,
        transport_url: OsloMessaging.transportUrl(props, props.notificationsVhost ?? 'notifications', profile.notifications),
        topics: (props.notificationTopics ?? ['notifications']).join(','),
        // Not the default -1 ("retry forever"): oslo.messaging hands -1 to kombu as max_retries when it opens a
        // notification connection, and kombu then gives up at the first refused host instead of trying the
        // next one of the URL (kombu's retry_over_time: `retries >= max_retries` holds at once). A notification
        // sent while the first (shuffled) broker is down was lost (seen in 1 of 2-4 runs of the messaging test).
        // 10 retries: connect fails over host by host, and a publish waits about 100 s (1, 3, 5, ... s backoff)
        // of total outage before the notification is dropped and logged, instead of blocking the service for ever.
        retry: String(OSLO_NOTIFICATION_RETRIES),
      },
      oslo_messaging_rabbit: { ...Object.fromEntries(optionEntries(profile.rpc)), ...(props.tls ? osloSslOptions(props.tls) : {}) },
    };
  }

  /** ini text of `config` output, sections and options in their given order. */
  public static renderIni(sections: { [section: string]: { [option: string]: string } }): string {
    return Object.entries(sections)
      .map(([section, options]) => [`[${section}]`, ...Object.entries(options).map(([k, v]) => `${k} = ${v}`)].join('\n'))
      .join('\n\n') + '\n';
  }

  private constructor() {}
}
