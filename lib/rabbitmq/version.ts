/**
 * A RabbitMQ release line this library knows how to configure. Each line pins one official image tag and says
 * what differs between lines, so the renderers never guess from a version string:
 *
 * | line | notifications replication | pause_minority | transient non-exclusive RPC queues |
 * |------|---------------------------|----------------|------------------------------------|
 * | 3.10 (Debian 12 package, for tests), 3.13 | classic mirroring by policy | yes (Mnesia) | allowed |
 * | 4.0, 4.1, 4.2 | quorum queues (mirroring was removed in 4.0) | yes (Mnesia; Khepri default for new 4.2 clusters) | allowed |
 * | 4.3 | quorum queues | key accepted but has no effect (Mnesia removed) | denied unless `deprecated_features.permit.transient_nonexcl_queues` |
 *
 * Sources: rabbitmq-website versioned docs (partitions.md, queues.md, deprecated-features-list.md), official
 * image tags from docker-library/rabbitmq versions.json.
 */
export class RabbitVersion {
  /**
   * RabbitMQ 3.10.8 as packaged by Debian 12. Only for running the real broker in tests: there is no official
   * image pinned for it, and 3.10 is out of support.
   */
  public static readonly V3_10 = new RabbitVersion(3, 10, '3.10.8', undefined);
  /** RabbitMQ 3.13.7, the last 3.x line: classic mirrored notification queues. */
  public static readonly V3_13 = new RabbitVersion(3, 13, '3.13.7', '3.13.7-management');
  /** RabbitMQ 4.0.9: quorum notification queues, Mnesia metadata store. */
  public static readonly V4_0 = new RabbitVersion(4, 0, '4.0.9', '4.0.9-management');
  /** RabbitMQ 4.1.8. From 4.1 the Kubernetes peer discovery plugin needs a StatefulSet; this library uses classic_config. */
  public static readonly V4_1 = new RabbitVersion(4, 1, '4.1.8', '4.1.8-management');
  /** RabbitMQ 4.2.5: Khepri is the metadata store of new clusters. */
  public static readonly V4_2 = new RabbitVersion(4, 2, '4.2.5', '4.2.5-management');
  /**
   * RabbitMQ 4.3.0: Mnesia and partition handling strategies are gone; transient non-exclusive queues (what
   * oslo.messaging declares for RPC replies and fanout by default) must be permitted explicitly.
   */
  public static readonly V4_3 = new RabbitVersion(4, 3, '4.3.0', '4.3.0-management');

  /** Every known line, oldest first. */
  public static all(): RabbitVersion[] {
    return [RabbitVersion.V3_10, RabbitVersion.V3_13, RabbitVersion.V4_0, RabbitVersion.V4_1, RabbitVersion.V4_2, RabbitVersion.V4_3];
  }

  private constructor(
    /** Major version, e.g. 4. */
    public readonly major: number,
    /** Minor version, e.g. 1. */
    public readonly minor: number,
    /** Full version, e.g. "4.1.8". */
    public readonly version: string,
    private readonly tag: string | undefined,
  ) {}

  /** "3.13", "4.1", ... */
  public get line(): string {
    return `${this.major}.${this.minor}`;
  }

  /**
   * The official image to run, pinned to a patch release (docker.io `rabbitmq:<version>-management`; the
   * management variant because the HTTP API backs the health checks and operators expect the UI).
   * Throws for lines that exist only as a test target (3.10).
   */
  public get image(): string {
    if (this.tag === undefined) {
      throw new Error(`RabbitMQ ${this.version} is a test-only target (Debian package); deploy ${RabbitVersion.V3_13.version} or a 4.x line`);
    }
    return `docker.io/library/rabbitmq:${this.tag}`;
  }

  /** Whether an official image is pinned for this line (false for the Debian test-only 3.10). */
  public get deployable(): boolean {
    return this.tag !== undefined;
  }

  /**
   * Notification queues are replicated with classic mirroring (a policy with `ha-mode`) up to 3.13 and as
   * quorum queues from 4.0, which removed mirroring.
   */
  public get usesClassicMirroring(): boolean {
    return this.major < 4;
  }

  /**
   * Whether `cluster_partition_handling` still has an effect. It is a Mnesia feature: 4.3 removed Mnesia and
   * accepts the key with no effect, so it is not rendered there (a reader would believe it protects them).
   */
  public get supportsPartitionHandling(): boolean {
    return this.major < 4 || (this.major === 4 && this.minor <= 2);
  }

  /**
   * From 4.3 transient (non-durable) non-exclusive queues are denied by default. oslo.messaging declares RPC
   * reply and fanout queues exactly so unless told to use quorum or stream queues, so the broker must permit
   * them (`deprecated_features.permit.transient_nonexcl_queues = true`) for unreplicated RPC.
   */
  public get needsTransientNonExclusivePermit(): boolean {
    return this.major > 4 || (this.major === 4 && this.minor >= 3);
  }

  /**
   * Policies can target `classic_queues` / `quorum_queues` (3.12+); older lines know only `queues`.
   */
  public get policiesApplyToQueueType(): boolean {
    return this.major > 3 || (this.major === 3 && this.minor >= 12);
  }

  public toString(): string {
    return `RabbitMQ ${this.version}`;
  }
}
