/**
 * The resolved backup: props with their defaults applied, computed once into plain data (the members in the
 * writer's order, the destination as an rclone remote, the retention in seconds). Resolving never throws: it runs
 * before validation, so a hostile prop yields a model that validation reports on.
 */
import { ContainerResources, resolveResources } from '../common/resources';
import { SecretValue } from '../common/secret';
import { GaleraMember, GaleraModel } from '../galera/model';
import { GaleraBinlogConfig } from '../galera/server-config';
import { BackupDestination, BinlogArchiveOptions, GaleraBackupProps } from './props';

/** The port of the backup sidecar in every member's pod. */
export const BACKUP_SIDECAR_PORT = 4445;

/**
 * The cluster's GTID domain (`wsrep_gtid_domain_id`) when binary logs are archived and `gtidDomainId` is not set;
 * members' local writes use 0.
 */
export const DEFAULT_BINLOG_GTID_DOMAIN = 1;
/** The highest GTID domain id MariaDB accepts (an unsigned 32-bit number). */
export const MAX_GTID_DOMAIN = 4294967295;
/** A member's binary log file size: small files are shipped soon after they close, and bound each upload. */
const BINLOG_FILE_BYTES = 64 * 1024 * 1024;

/** The resolved binary log archive. */
export interface BinlogArchiveModel {
  readonly intervalSeconds: number;
  readonly expireDays: number;
  /** What the members' server.cnf gets. */
  readonly server: GaleraBinlogConfig;
}

/**
 * The stream's TLS: on whenever the cluster has TLS. The sidecars listen with the members' certificate and admit
 * only a client certificate of the same CA named `clientName`; the job verifies the member's certificate for the
 * member's DNS name and presents its own (see pod.ts).
 */
export interface BackupTlsModel {
  /** The job's client certificate's name, which the sidecars require: the backup's name. */
  readonly clientName: string;
}

/** An env var of the job: a plain value, or a Secret reference. */
export interface BackupEnvVar {
  readonly name: string;
  readonly value?: string;
  readonly secret?: SecretValue;
}

export interface GaleraBackupModel {
  readonly name: string;
  readonly galera: GaleraModel;
  readonly schedule: string;
  /**
   * The members, GaleraPetSet's `writerOrdinal` first: the job takes the writer from the replicated writer row, and
   * only when no member can read it, the first Synced member in this order.
   */
  readonly membersByWriterPreference: readonly GaleraMember[];
  readonly retentionCount: number;
  readonly retentionMaxAgeDays: number;
  readonly timeoutSeconds: number;
  readonly resources: Required<ContainerResources>;
  readonly rcloneImage: string;
  readonly destination?: BackupDestination;
  /** Where backups go, as rclone sees it: `dest:<bucket>/<prefix>` or `dest:/backups/<prefix>`. */
  readonly remote: string;
  /** The rclone remote `dest`'s settings (credentials as Secret references). */
  readonly remoteEnv: readonly BackupEnvVar[];
  /** The claim mounted at /backups (volume destination). */
  readonly claimName?: string;
  /** The sidecar's token: the Galera SST password (see pod.ts). */
  readonly token: SecretValue;
  readonly drillSchedule: string;
  readonly drillTables: readonly string[];
  /** The drill's scratch emptyDir limit. */
  readonly drillScratchSize: string;
  /** Binary log archiving, when on. */
  readonly binlogArchive?: BinlogArchiveModel;
  /** TLS on the member -> job stream, when the cluster has TLS. */
  readonly tls?: BackupTlsModel;
}

/** Where the job mounts a volume destination. */
export const VOLUME_MOUNT_PATH = '/backups';

export function resolveBackup(props: GaleraBackupProps, galera: GaleraModel, rcloneImage: string): GaleraBackupModel {
  const destination = props.destination instanceof BackupDestination ? props.destination : undefined;
  const retention = props.retention ?? {};
  const prefix = destination?.volumeOptions?.prefix ?? destination?.s3Options?.prefix ?? galera.name;
  const name = props.name ?? `${galera.name}-backup`;
  return {
    name,
    galera,
    schedule: props.schedule,
    membersByWriterPreference: writerOrder(galera.members, galera.writerOrdinal),
    retentionCount: retention.count ?? 7,
    retentionMaxAgeDays: retention.maxAgeDays ?? 30,
    timeoutSeconds: props.timeoutSeconds ?? 21600,
    resources: resolveResources(props.resources, { cpuRequestMillis: 100, cpuLimitMillis: 1000, memoryRequestMiB: 128, memoryLimitMiB: 256 }),
    rcloneImage: props.rcloneImage ?? rcloneImage,
    destination,
    remote: destination?.kind === 's3' ? `dest:${destination.s3Options?.bucket}/${prefix}` : `dest:${VOLUME_MOUNT_PATH}/${prefix}`,
    remoteEnv: destination ? remoteEnv(destination) : [],
    claimName: destination?.volumeOptions?.claimName,
    token: galera.credentials.sstPassword,
    drillSchedule: props.drill?.schedule ?? '0 6 * * *',
    drillTables: [...(props.drill?.tables ?? [])],
    drillScratchSize: props.drill?.scratchSize ?? galera.storage?.size ?? '20Gi',
    ...(props.binlogArchive ? { binlogArchive: resolveBinlogArchive(props.binlogArchive) } : {}),
    ...(galera.tls ? { tls: { clientName: name } } : {}),
  };
}

function resolveBinlogArchive(options: BinlogArchiveOptions): BinlogArchiveModel {
  const expireDays = options.expireDays ?? 3;
  return {
    intervalSeconds: options.intervalSeconds ?? 60,
    expireDays,
    server: { gtidDomainId: options.gtidDomainId ?? DEFAULT_BINLOG_GTID_DOMAIN, expireSeconds: Math.round(expireDays * 86400), maxFileBytes: BINLOG_FILE_BYTES },
  };
}

/** The first writer (`writerOrdinal`) first, then the other members by ordinal. */
export function writerOrder(members: readonly GaleraMember[], writerOrdinal: number): GaleraMember[] {
  const writer = members.filter((m) => m.ordinal === writerOrdinal);
  return [...writer, ...members.filter((m) => m.ordinal !== writerOrdinal)];
}

/** rclone's on-the-fly remote `dest` (RCLONE_CONFIG_DEST_*): no config file, credentials straight from Secrets. */
function remoteEnv(destination: BackupDestination): BackupEnvVar[] {
  const s3 = destination.s3Options;
  if (destination.kind !== 's3' || s3 === undefined) return [{ name: 'RCLONE_CONFIG_DEST_TYPE', value: 'local' }];
  return [
    { name: 'RCLONE_CONFIG_DEST_TYPE', value: 's3' },
    { name: 'RCLONE_CONFIG_DEST_PROVIDER', value: 'Other' },
    { name: 'RCLONE_CONFIG_DEST_ENDPOINT', value: s3.endpoint },
    { name: 'RCLONE_CONFIG_DEST_REGION', value: s3.region ?? 'us-east-1' },
    // Path-style requests work with every S3 implementation (RGW and MinIO without wildcard DNS too).
    { name: 'RCLONE_CONFIG_DEST_FORCE_PATH_STYLE', value: 'true' },
    // A stream of unknown size is uploaded in parts of this size, at most 10,000 of them: 32 MiB allows 312 GiB;
    // two parts in flight bound the job's buffer memory to about 64 MiB.
    { name: 'RCLONE_CONFIG_DEST_CHUNK_SIZE', value: '32Mi' },
    { name: 'RCLONE_CONFIG_DEST_UPLOAD_CONCURRENCY', value: '2' },
    { name: 'RCLONE_CONFIG_DEST_ACCESS_KEY_ID', secret: s3.credentials?.accessKeyId },
    { name: 'RCLONE_CONFIG_DEST_SECRET_ACCESS_KEY', secret: s3.credentials?.secretAccessKey },
  ];
}
