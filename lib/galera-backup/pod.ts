/**
 * GaleraBackup's pods as plain data: the sidecar each member's pod gets, and the backup job's pod. Nothing here
 * creates a construct.
 *
 * Where the backup runs, and why: mariadb-backup must read the member's data files while mariadbd runs, on the
 * member's node. A sidecar in the member's pod has them (the data volume, the socket in the run dir) with no
 * extra privilege: it logs in over the socket as the same unix_socket account the probes use, so no database
 * password crosses the network, and it works for every storage mode (local volumes, hostPath, network claims).
 * A job pod mounting the member's claim would work only where that claim can be mounted twice and only for a
 * member fixed in advance, whereas the source must be chosen at run time (Synced, not the writer). An SST to an
 * arbitrator (openstack-k8s-operators' garbd + wsrep_sst_backup) needs garbd, which the stock MariaDB image lacks,
 * and makes the cluster see one more node. The sidecar idles in socat (a few MiB) between backups.
 *
 * With TLS on the cluster the sidecar listens with OpenSSL (listen.sh) and the jobs that reach it connect with
 * OpenSSL and their own client certificate (backupJobTlsMount).
 */
import { toResourceRequirements } from '../common/resources';
import { secretFilesVolume } from '../common/secret';
import { containerSecurityContext } from '../common/security';
import { k8s } from '../k8s';
import { GaleraMember, GaleraModel } from '../galera/model';
import { GALERA_TLS_DIR, GALERA_TLS_VOLUME, galeraDataMount } from '../galera/pod';
import { TLS12_CIPHERS, TlsMaterial } from '../tls/model';
import { TlsMount, tlsMount } from '../tls/pod';
import { BACKUP_SIDECAR_PORT, BackupEnvVar, GaleraBackupModel, VOLUME_MOUNT_PATH } from './model';

const BACKUP_SCRIPTS_DIR = '/opt/galera-backup';
/** Where the galera ConfigMaps are mounted in the member's pod: the sidecar reads them at the same paths. */
const GALERA_PATHS = { run: '/run/galera', data: '/var/lib/mysql', scripts: '/opt/galera', config: '/etc/galera' };
/** The job's copy of the rclone binary (from the stock rclone image, by an init container). */
const TOOLS_DIR = '/tools';
/** The job's client certificate, with TLS. */
const JOB_TLS_DIR = '/etc/galera-backup-tls';
/**
 * The token (the SST password) as a file, in the sidecar and in the jobs that talk to it: the kubelet updates it in
 * place when the Secret changes, so the SST password rotates live (serve.sh and common.sh read it at every request).
 */
const TOKEN_DIR = '/etc/galera-backup-token';
const TOKEN_VOLUME = 'backup-token';
const TOKEN_FILE = `${TOKEN_DIR}/BACKUP_TOKEN`;

function tokenVolume(model: GaleraBackupModel): k8s.Volume {
  return secretFilesVolume(TOKEN_VOLUME, [{ secret: model.token, path: 'BACKUP_TOKEN' }]);
}

export function backupScriptsConfigMapName(model: GaleraBackupModel): string {
  return `${model.name}-scripts`;
}

function envVar(e: BackupEnvVar): k8s.EnvVar {
  return e.secret ? e.secret._toEnvVar(e.name) : { name: e.name, value: e.value ?? '' };
}

/**
 * The sidecar container of every member's pod, and the volume it adds (the scripts).
 *
 * With TLS, listen.sh runs socat with OpenSSL instead (see it for the renewal): the member's own certificate, the
 * Secret volume mariadbd mounts (key 0440, read-only mount), so the sidecar gets no key the pod did not already have.
 */
export function backupSidecar(model: GaleraBackupModel): { container: k8s.Container; volumes: k8s.Volume[] } {
  const galera: GaleraModel = model.galera;
  const hostPath = galera.storage?.mode === 'hostPath';
  const listenEntry = ` 00000000:${BACKUP_SIDECAR_PORT.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A `;
  const listening = { exec: { command: ['grep', '-q', listenEntry, '/proc/net/tcp'] }, timeoutSeconds: 5 };
  const tls = model.tls;
  return {
    container: {
      name: 'backup',
      image: galera.image,
      imagePullPolicy: 'IfNotPresent',
      // One serve.sh per connection; at most two at once (a backup and the job's result/status requests).
      // ignoreeof: the client closes its side after the request line, and the answer (a stream) must still flow.
      command: tls ? ['bash', `${BACKUP_SCRIPTS_DIR}/listen.sh`]
        : ['socat', `TCP-LISTEN:${BACKUP_SIDECAR_PORT},fork,reuseaddr,ignoreeof,max-children=2`, `EXEC:bash ${BACKUP_SCRIPTS_DIR}/serve.sh`],
      env: [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'GALERA_RUN_DIR', value: GALERA_PATHS.run },
        { name: 'GALERA_DATADIR', value: GALERA_PATHS.data },
        { name: 'GALERA_SCRIPTS_DIR', value: GALERA_PATHS.scripts },
        { name: 'BACKUP_WORK_DIR', value: '/tmp' },
        { name: 'BACKUP_TOKEN_FILE', value: TOKEN_FILE },
        // The token is also accepted when the SST account accepts it as its password: during a rotation's grace, the
        // old one and the new one both, whichever this pod's file and the job's hold (serve.sh).
        { name: 'GALERA_SST_USER', value: galera.sstUser },
        ...(model.binlogArchive ? [{ name: 'BINLOG_GTID_DOMAIN', value: String(model.binlogArchive.server.gtidDomainId) }] : []),
        ...(tls ? [
          { name: 'BACKUP_PORT', value: String(BACKUP_SIDECAR_PORT) },
          { name: 'BACKUP_TLS_DIR', value: GALERA_TLS_DIR },
          { name: 'BACKUP_TLS_CLIENT_NAME', value: tls.clientName },
          { name: 'BACKUP_TLS_CIPHERS', value: TLS12_CIPHERS },
        ] : []),
      ],
      ports: [{ name: 'backup', containerPort: BACKUP_SIDECAR_PORT, protocol: 'TCP' }],
      // gzip takes a core while a backup streams; idle, socat needs next to nothing.
      resources: toResourceRequirements({ cpuRequestMillis: 20, cpuLimitMillis: 1000, memoryRequestMiB: 32, memoryLimitMiB: 256 }),
      // socat listens: read from the kernel's socket table, since a connection would start serve.sh (and log a refusal).
      livenessProbe: { ...listening, periodSeconds: 30, failureThreshold: 3 },
      readinessProbe: { ...listening, periodSeconds: 30, failureThreshold: 3 },
      volumeMounts: [
        // Read-write: mariadb-backup opens the data files itself (aria's control file among them), as the SST does.
        galeraDataMount(hostPath),
        { name: 'run', mountPath: GALERA_PATHS.run },
        // mariadb-backup keeps the redo log written during the copy here until it streams it: the member's sized tmp.
        { name: 'tmp', mountPath: '/tmp' },
        { name: 'config', mountPath: GALERA_PATHS.config, readOnly: true },
        { name: 'scripts', mountPath: GALERA_PATHS.scripts, readOnly: true },
        { name: 'backup-scripts', mountPath: BACKUP_SCRIPTS_DIR, readOnly: true },
        { name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true },
        ...(tls ? [{ name: GALERA_TLS_VOLUME, mountPath: GALERA_TLS_DIR, readOnly: true }] : []),
      ],
      securityContext: containerSecurityContext(),
    },
    volumes: [{ name: 'backup-scripts', configMap: { name: backupScriptsConfigMapName(model) } }, tokenVolume(model)],
  };
}

/**
 * The jobs GaleraBackup renders: the backup, the restore drill, the binary log archiver, and the restore (a
 * template, run by hand).
 */
export type BackupJobKind = 'backup' | 'drill' | 'archive' | 'restore';

/** The ConfigMap (created by the operator) that names the backup to restore, key `backup`. */
export function restoreConfigMapName(model: GaleraBackupModel): string {
  return `${model.name}-restore`;
}

/**
 * The job's client certificate mount (with TLS): the backup job's own certificate (client authentication only,
 * named after the backup), never the members' (which would let a job pod pose as a member to its peers and
 * clients). Its `ca.crt` (the same issuer's) verifies the members.
 */
export function backupJobTlsMount(material: TlsMaterial): TlsMount {
  return tlsMount(material, 'tls', JOB_TLS_DIR);
}

/**
 * A job's pod spec: rclone copied from its stock image, then the script in the MariaDB image. The backup talks to
 * the sidecars; the drill only reads the destination and runs a private mariadbd on a scratch emptyDir. `tls`: the
 * job's client certificate, mounted by the jobs that talk to the sidecars (backup, archive, restore), not the drill.
 */
export function backupJobPod(model: GaleraBackupModel, kind: BackupJobKind, member?: GaleraMember, tls?: TlsMount): { initContainers: k8s.Container[]; containers: k8s.Container[]; volumes: k8s.Volume[] } {
  const volumeDestination = model.claimName !== undefined;
  const clientTls = kind !== 'drill' ? tls : undefined;
  // The restore of member 0 restores the backup the operator names; the others' restores empty their volumes.
  const restoresBackup = kind === 'restore' && member?.ordinal === 0;
  const command = kind !== 'restore' ? ['bash', `${BACKUP_SCRIPTS_DIR}/${kind}.sh`]
    : ['bash', `${BACKUP_SCRIPTS_DIR}/restore.sh`, restoresBackup ? '$(RESTORE_BACKUP)' : '--empty', GALERA_PATHS.data,
      // The point in time (key `until` of the same ConfigMap): unset, restore.sh restores the backup as it was taken.
      ...(restoresBackup && model.binlogArchive ? ['--until', '$(RESTORE_UNTIL)'] : [])];
  const archive = model.binlogArchive;
  const env: k8s.EnvVar[] = [
    ...(kind === 'restore' ? [
      // Unset while the operator has not named a backup: restore.sh then refuses.
      { name: 'RESTORE_BACKUP', valueFrom: { configMapKeyRef: { name: restoreConfigMapName(model), key: 'backup', optional: true } } },
      ...(restoresBackup && archive ? [{ name: 'RESTORE_UNTIL', valueFrom: { configMapKeyRef: { name: restoreConfigMapName(model), key: 'until', optional: true } } }] : []),
      { name: 'BACKUP_WORK_DIR', value: '/tmp' },
    ] : []),
    ...(kind !== 'drill' ? [
      { name: 'BACKUP_MEMBERS', value: model.membersByWriterPreference.map((m) => `${m.podName}=${m.host}`).join(' ') },
      { name: 'BACKUP_PORT', value: String(BACKUP_SIDECAR_PORT) },
      { name: 'BACKUP_TIMEOUT_SECONDS', value: String(model.timeoutSeconds) },
      { name: 'BACKUP_STALE_SECONDS', value: String(model.timeoutSeconds + 3600) },
      { name: 'RETENTION_COUNT', value: String(model.retentionCount) },
      { name: 'RETENTION_MAX_AGE_SECONDS', value: String(model.retentionMaxAgeDays * 86400) },
      { name: 'BACKUP_TOKEN_FILE', value: TOKEN_FILE },
      ...(clientTls ? [
        { name: 'BACKUP_TLS_DIR', value: clientTls.paths.directory },
        { name: 'BACKUP_TLS_CIPHERS', value: TLS12_CIPHERS },
      ] : []),
      ...(kind === 'archive' && archive ? [
        { name: 'BINLOG_GTID_DOMAIN', value: String(archive.server.gtidDomainId) },
        { name: 'ARCHIVE_INTERVAL_SECONDS', value: String(archive.intervalSeconds) },
        // The CronJob starts a run every minute: passes every interval within it, the last one ending in time.
        { name: 'ARCHIVE_RUN_SECONDS', value: String(60 - archive.intervalSeconds) },
      ] : []),
    ] : [
      { name: 'DRILL_SCRATCH_DIR', value: '/tmp' },
      { name: 'DRILL_TABLES', value: model.drillTables.join(' ') },
    ]),
    { name: 'BACKUP_REMOTE', value: model.remote },
    { name: 'BACKUP_RCLONE', value: `${TOOLS_DIR}/rclone` },
    { name: 'HOME', value: '/tmp' },
    ...model.remoteEnv.map(envVar),
  ];
  // The backup streams through (its /tmp holds nothing); the drill's and the restore's /tmp hold the restored copy.
  // The archiver holds one binary log at a time (64 MiB at most).
  const tmpSize = kind === 'backup' ? '256Mi' : kind === 'archive' ? '256Mi' : model.drillScratchSize;
  const resources = kind === 'backup' || kind === 'archive' ? model.resources
    : { cpuRequestMillis: 200, cpuLimitMillis: 2000, memoryRequestMiB: 512, memoryLimitMiB: 1024 };
  return {
    initContainers: [{
      name: 'rclone',
      image: model.rcloneImage,
      imagePullPolicy: 'IfNotPresent',
      command: ['cp', '/usr/local/bin/rclone', `${TOOLS_DIR}/rclone`],
      resources: toResourceRequirements({ cpuRequestMillis: 10, cpuLimitMillis: 200, memoryRequestMiB: 16, memoryLimitMiB: 64 }),
      volumeMounts: [{ name: 'tools', mountPath: TOOLS_DIR }],
      securityContext: containerSecurityContext(),
    }],
    containers: [{
      name: kind,
      image: model.galera.image,
      imagePullPolicy: 'IfNotPresent',
      command,
      env,
      resources: toResourceRequirements(resources),
      volumeMounts: [
        { name: 'tools', mountPath: TOOLS_DIR, readOnly: true },
        { name: 'tmp', mountPath: '/tmp' },
        { name: 'backup-scripts', mountPath: BACKUP_SCRIPTS_DIR, readOnly: true },
        ...(volumeDestination ? [{ name: 'destination', mountPath: VOLUME_MOUNT_PATH }] : []),
        ...(kind === 'restore' ? [{ name: 'data', mountPath: GALERA_PATHS.data }] : []),
        ...(kind !== 'drill' ? [{ name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true }] : []),
        ...(clientTls ? [clientTls.mount] : []),
      ],
      securityContext: containerSecurityContext(),
    }],
    volumes: [
      { name: 'tools', emptyDir: { sizeLimit: k8s.Quantity.fromString('128Mi') } },
      { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString(tmpSize) } },
      { name: 'backup-scripts', configMap: { name: backupScriptsConfigMapName(model) } },
      ...(volumeDestination ? [{ name: 'destination', persistentVolumeClaim: { claimName: model.claimName! } }] : []),
      // The member's own claim: with local volumes the scheduler puts the pod on the member's node.
      ...(kind === 'restore' ? [{ name: 'data', persistentVolumeClaim: { claimName: member?.claimName ?? '' } }] : []),
      ...(kind !== 'drill' ? [tokenVolume(model)] : []),
      ...(clientTls ? [clientTls.volume] : []),
    ],
  };
}
