/**
 * GaleraBackup's props: what a user may set, each with its default. The rules are in validation.ts, the defaults
 * are applied in model.ts.
 */
import { ContainerResources } from '../common/resources';
import { SecretValue } from '../common/secret';
import type { GaleraPetSet } from '../galera/galera-petset';

/** A PersistentVolumeClaim that holds the backups (it must already exist). */
export interface VolumeDestinationOptions {
  /** The existing claim's name. */
  readonly claimName: string;
  /**
   * The directory inside the volume under which this cluster's backups go (relative, `/`-separated).
   *
   * @default - the GaleraPetSet's name
   */
  readonly prefix?: string;
}

/** The access key pair of an S3 account, each a Secret reference. */
export interface S3Credentials {
  /** The access key id. */
  readonly accessKeyId: SecretValue;
  /** The secret access key. */
  readonly secretAccessKey: SecretValue;
}

/** A bucket of S3-compatible object storage (Ceph RGW, MinIO, AWS S3). */
export interface S3DestinationOptions {
  /** The endpoint URL, `https://host[:port]` (`http://` only for a store on a trusted network). */
  readonly endpoint: string;
  /** The bucket (it must already exist). */
  readonly bucket: string;
  /**
   * The key prefix under which this cluster's backups go (relative, `/`-separated).
   *
   * @default - the GaleraPetSet's name
   */
  readonly prefix?: string;
  /** The account's keys, from Secrets (never inline). */
  readonly credentials: S3Credentials;
  /**
   * The region the store expects in signatures.
   *
   * @default 'us-east-1'
   */
  readonly region?: string;
}

/** Where backups are stored. */
export class BackupDestination {
  /**
   * A PersistentVolumeClaim, mounted by the backup job. Put it on another disk, or better another machine
   * (an NFS or Ceph claim), than the members' data: a backup on the same disk dies with it.
   */
  public static volume(options: VolumeDestinationOptions): BackupDestination {
    return new BackupDestination('volume', options, undefined);
  }

  /** An S3-compatible bucket, reached with rclone's S3 backend. */
  public static s3(options: S3DestinationOptions): BackupDestination {
    return new BackupDestination('s3', undefined, options);
  }

  private constructor(
    /** `volume` or `s3`. */
    public readonly kind: string,
    /** The volume's options, for `volume`. */
    public readonly volumeOptions: VolumeDestinationOptions | undefined,
    /** The bucket's options, for `s3`. */
    public readonly s3Options: S3DestinationOptions | undefined,
  ) {}
}

/** How many backups to keep. A backup goes when it is beyond `count` or older than `maxAgeDays`; the newest never. */
export interface BackupRetention {
  /**
   * Complete backups kept (the newest ones).
   *
   * @default 7
   */
  readonly count?: number;
  /**
   * Complete backups older than this many days are removed (the newest is always kept, however old).
   *
   * @default 30
   */
  readonly maxAgeDays?: number;
}

/** The restore drill: a job that restores the latest backup into a scratch server and checks it. */
export interface RestoreDrillOptions {
  /**
   * When to run it (cron): after the backup has had time to finish.
   *
   * @default '0 6 * * *'
   */
  readonly schedule?: string;
  /**
   * Tables (`database.table`) that must hold at least one row in the restored copy, e.g. `['keystone.project']`.
   *
   * @default - none: every table must open and the backup's sentinel row must be there
   */
  readonly tables?: string[];
  /**
   * Scratch space for the restored copy (an emptyDir limit, a Kubernetes quantity): at least the data's size.
   *
   * @default - the members' storage size, else '20Gi'
   */
  readonly scratchSize?: string;
}

/**
 * Binary log archiving for point-in-time restore (`restore.sh ID DATADIR --until POINT`). Turning it on changes
 * the members' server.cnf: binary logs, `log_slave_updates`, `wsrep_gtid_mode=ON` and `wsrep_gtid_domain_id`.
 * The last two are cluster-wide settings: the preflight plan refuses to roll them on a running cluster; use the
 * README's Day 2 procedure (every member restarted with the new config at once).
 */
export interface BinlogArchiveOptions {
  /**
   * How often the archiver closes the members' current binary log and ships the closed ones (seconds, 10-60):
   * the most recent transactions a point-in-time restore can lose.
   *
   * @default 60
   */
  readonly intervalSeconds?: number;
  /**
   * How long a member keeps a binary log (days): longer than the archiver may be down, or the archive gets a gap.
   *
   * @default 3
   */
  readonly expireDays?: number;
  /**
   * The cluster's GTID domain (`wsrep_gtid_domain_id`, 1-4294967295): every member numbers the replicated
   * transactions in it, and the archiver, the restore and the drill follow it. Clusters whose binary logs meet (one
   * replicating into another) need different domains. 0 is refused: it is the domain of each member's local
   * statements (`gtid_domain_id=0`). A change is cluster-wide (the preflight plan refuses to roll it) and starts
   * a new archive segment (see the README).
   *
   * @default 1
   */
  readonly gtidDomainId?: number;
}

/** Everything GaleraBackup needs but the cluster (OpenStackControlPlane's `backup` prop). */
export interface GaleraBackupOptions {
  /** When to take a backup: a 5-field cron expression (`0 2 * * *`) or a macro (`@daily`), in the controller's time zone. */
  readonly schedule: string;
  /** Where backups go. */
  readonly destination: BackupDestination;
  /**
   * How many backups to keep.
   *
   * @default - 7 backups, none older than 30 days
   */
  readonly retention?: BackupRetention;
  /**
   * Base name of the objects.
   *
   * @default - `<GaleraPetSet name>-backup`
   */
  readonly name?: string;
  /**
   * How long one backup may take before its job is stopped (activeDeadlineSeconds).
   *
   * @default 21600
   */
  readonly timeoutSeconds?: number;
  /**
   * The backup job's resources (the sidecar's are fixed: it only runs mariadb-backup and gzip).
   *
   * @default - requests 100m CPU / 128 MiB, limits 1000m CPU / 256 MiB
   */
  readonly resources?: ContainerResources;
  /**
   * The restore drill's options.
   *
   * @default - daily at 06:00, scratch as large as a member's volume
   */
  readonly drill?: RestoreDrillOptions;
  /**
   * Binary log archiving for point-in-time restore.
   *
   * @default - off: a restore brings back a backup as it was taken, no later point
   */
  readonly binlogArchive?: BinlogArchiveOptions;
  /**
   * The stock rclone image the job copies its client from.
   *
   * @default GaleraBackup.DEFAULT_RCLONE_IMAGE
   */
  readonly rcloneImage?: string;
}

export interface GaleraBackupProps extends GaleraBackupOptions {
  /** The cluster to back up. */
  readonly galera: GaleraPetSet;
}
