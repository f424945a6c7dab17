import { Validator } from './validation';

/**
 * An OpenStack release line the connection outputs target. The oslo options a service may be given depend on the
 * oslo.messaging release its line ships; oslo.config silently ignores an option it does not know, so an option set
 * for a line without it would look configured and do nothing. Each line records the first oslo.messaging release
 * of that line (from the library's stable branches and tags) and the options that arrived since.
 *
 * | line | codename | oslo.messaging | `rabbit_quorum_queue` | `rabbit_transient_quorum_queue`, `use_queue_manager`, `rabbit_stream_fanout` |
 * |------|----------|----------------|-----------------------|------------------------------------------------------------------------------|
 * | 2021.2 | Xena | 12.9 | no (12.13) | no |
 * | 2022.1 | Yoga | 12.13 | yes | no |
 * | 2022.2 | Zed | 14.0 (Debian 12) | yes | no |
 * | 2023.1 | Antelope | 14.2 | yes | no |
 * | 2023.2 | Bobcat | 14.4 | yes | no |
 * | 2024.1 | Caracal | 14.7 | yes | yes (14.7) |
 * | 2024.2 | Dalmatian | 14.9 | yes | yes |
 * | 2025.1 | Epoxy | 16.1 | yes | yes |
 * | 2025.2 | Flamingo | 17.1 | yes | yes |
 * | 2026.1 | Gazpacho | 17.3 | yes | yes |
 *
 * Every other option the outputs set (`transport_url`, `amqp_durable_queues`, `rabbit_ha_queues`,
 * `rabbit_transient_queues_ttl`, `heartbeat_timeout_threshold`, `[database]`, `[cache]`, `[keystone_authtoken]`
 * memcache options) exists on every line listed.
 */
export class OpenStackRelease {
  /** 2021.2 Xena (unmaintained): no quorum queues in oslo.messaging, so RabbitMQ 4.x cannot replicate its notifications. */
  public static readonly V2021_2 = new OpenStackRelease('2021.2', 'Xena', '12.9', false, false);
  /** 2022.1 Yoga: `rabbit_quorum_queue` (oslo.messaging 12.13). */
  public static readonly V2022_1 = new OpenStackRelease('2022.1', 'Yoga', '12.13', true, false);
  /** 2022.2 Zed: the line Debian 12 packages (oslo.messaging 14.0). */
  public static readonly V2022_2 = new OpenStackRelease('2022.2', 'Zed', '14.0', true, false);
  /** 2023.1 Antelope (SLURP). */
  public static readonly V2023_1 = new OpenStackRelease('2023.1', 'Antelope', '14.2', true, false);
  /** 2023.2 Bobcat. */
  public static readonly V2023_2 = new OpenStackRelease('2023.2', 'Bobcat', '14.4', true, false);
  /** 2024.1 Caracal (SLURP): transient quorum queues, the queue manager and stream fanout (oslo.messaging 14.7). */
  public static readonly V2024_1 = new OpenStackRelease('2024.1', 'Caracal', '14.7', true, true);
  /** 2024.2 Dalmatian. */
  public static readonly V2024_2 = new OpenStackRelease('2024.2', 'Dalmatian', '14.9', true, true);
  /** 2025.1 Epoxy (SLURP). */
  public static readonly V2025_1 = new OpenStackRelease('2025.1', 'Epoxy', '16.1', true, true);
  /** 2025.2 Flamingo. */
  public static readonly V2025_2 = new OpenStackRelease('2025.2', 'Flamingo', '17.1', true, true);
  /** 2026.1 Gazpacho (SLURP): the default. */
  public static readonly V2026_1 = new OpenStackRelease('2026.1', 'Gazpacho', '17.3', true, true);

  /** Every known line, oldest first. */
  public static all(): OpenStackRelease[] {
    return [
      OpenStackRelease.V2021_2, OpenStackRelease.V2022_1, OpenStackRelease.V2022_2, OpenStackRelease.V2023_1,
      OpenStackRelease.V2023_2, OpenStackRelease.V2024_1, OpenStackRelease.V2024_2, OpenStackRelease.V2025_1,
      OpenStackRelease.V2025_2, OpenStackRelease.V2026_1,
    ];
  }

  private constructor(
    /** The release line, e.g. "2025.1". */
    public readonly line: string,
    /** Its codename, e.g. "Epoxy". */
    public readonly codename: string,
    /** The first oslo.messaging release (major.minor) of the line. */
    public readonly osloMessagingVersion: string,
    /** Whether oslo.messaging has `rabbit_quorum_queue` (quorum RPC and notification queues). */
    public readonly hasQuorumQueues: boolean,
    /**
     * Whether oslo.messaging has `rabbit_transient_quorum_queue`, `use_queue_manager` and `rabbit_stream_fanout`.
     */
    public readonly hasQueueManager: boolean,
  ) {}

  /** "2025.1 (Epoxy)". */
  public toString(): string {
    return `${this.line} (${this.codename})`;
  }
}

/** The line targeted when none is given. @internal */
export const DEFAULT_OPENSTACK_RELEASE = OpenStackRelease.V2026_1;

/** Records a value that is not one of the known lines (a string from untyped code, say). @internal */
export function validateOpenStackRelease(v: Validator, prop: string, release: unknown): release is OpenStackRelease {
  if (release instanceof OpenStackRelease) return true;
  v.add(prop, release === undefined ? undefined : String(release),
    `is not a known OpenStack release line; use one of ${OpenStackRelease.all().map((r) => `OpenStackRelease.V${r.line.replace('.', '_')}`).join(', ')}`);
  return false;
}
