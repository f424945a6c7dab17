/**
 * The Galera member's pod as plain data: the mariadb and agent containers (env, ports, probes, mounts), the
 * hostPath data-owner init container, the volumes. GaleraPetSet wires them into the StatefulSet; nothing here
 * creates a construct.
 */
import { dataOwnerInitContainer } from '../common/data-owner';
import { toResourceRequirements } from '../common/resources';
import { secretFilesVolume } from '../common/secret';
import { CapabilityGrant, containerSecurityContext } from '../common/security';
import { k8s } from '../k8s';
import { TlsMount, tlsMount } from '../tls/pod';
import { TLS_FILES, TlsMaterial } from '../tls/model';
import { mysqldExporterContainer } from '../monitoring/exporters';
import { GaleraModel } from './model';

/** The `mysql` user of the official mariadb image. */
export const MYSQL_UID = 999;
const RUN_DIR = '/run/galera';
const DATA_DIR = '/var/lib/mysql';
const SCRIPTS_DIR = '/opt/galera';
const CONFIG_DIR = '/etc/galera';
const AGENT_DIR = '/opt/galera-agent';
const RECOVERY_DIR = '/etc/galera-recovery';
/** The certificate (a Secret volume: the kubelet updates it in place on renewal, and the entrypoint reloads it). */
export const GALERA_TLS_DIR = '/etc/galera-tls';
/** The pod's volume of the member's certificate (GaleraBackup's sidecar mounts it too). */
export const GALERA_TLS_VOLUME = 'tls';
/**
 * Every account's password (the SST account's, the monitor's, root's, the users'), one file per account named after its
 * password variable (a projected Secret volume, not env vars: the kubelet updates it in place when a Secret changes,
 * and the entrypoint rotates the password live; the SST one is also mariadbd's wsrep_sst_auth, set live after it).
 */
const CREDENTIALS_DIR = '/etc/galera-credentials';
/** The monitor's password alone, for the mysqld-exporter (a volume of its own: the users' passwords stay out of it). */
const EXPORTER_CREDENTIALS_DIR = '/etc/mysqld-exporter-credentials';
const EXPORTER_WRAPPER = {
  script: `${SCRIPTS_DIR}/exporter.sh`,
  passwordFile: `${EXPORTER_CREDENTIALS_DIR}/GALERA_MONITOR_PASSWORD`,
  volumeMounts: [
    { name: 'scripts', mountPath: SCRIPTS_DIR, readOnly: true },
    { name: 'exporter-credentials', mountPath: EXPORTER_CREDENTIALS_DIR, readOnly: true },
  ],
};
/** The agent's view of the certificate: tls.crt only (it never needs the key). */
const AGENT_TLS_DIR = '/etc/galera-tls-certificate';

/** The ConfigMaps the pod mounts, by role: one name each, shared by the construct that creates them. */
export function galeraConfigMapNames(model: GaleraModel): { config: string; scripts: string; agent: string; recovery: string } {
  const name = model.name;
  return { config: `${name}-config`, scripts: `${name}-scripts`, agent: `${name}-agent`, recovery: `${name}-recovery` };
}

/** The pod's containers, init containers, volumes, and the capabilities its init containers are granted. */
export interface GaleraPod {
  readonly containers: k8s.Container[];
  readonly initContainers: k8s.Container[];
  readonly volumes: k8s.Volume[];
  readonly grants: CapabilityGrant[];
}

/** The member's data volume as a container mounts it (hostPath: the member's own sub-directory, by POD_NAME). */
export function galeraDataMount(hostPathStorage: boolean): k8s.VolumeMount {
  return { name: 'data', mountPath: DATA_DIR, ...(hostPathStorage ? { subPathExpr: '$(POD_NAME)' } : {}) };
}

/** The member's certificate mount, when TLS is on. */
export function galeraTlsMount(material: TlsMaterial): TlsMount {
  return tlsMount(material, GALERA_TLS_VOLUME, GALERA_TLS_DIR);
}

export function galeraPod(model: GaleraModel, tls?: TlsMount): GaleraPod {
  const hostPathStorage = model.storage?.mode === 'hostPath';
  const dataMount = galeraDataMount(hostPathStorage);
  const grants: CapabilityGrant[] = [];
  const initContainers: k8s.Container[] = [];
  if (hostPathStorage) {
    const owner = dataOwnerInitContainer({
      image: model.image, uid: MYSQL_UID, dataDir: DATA_DIR, dataMount, env: [fieldEnv('POD_NAME', 'metadata.name')], user: 'mysql',
    });
    grants.push(owner.grant);
    initContainers.push(owner.container);
  }
  const exporter = model.metricsExporter
    ? [mysqldExporterContainer({ monitorUser: model.monitorUser, wrapper: EXPORTER_WRAPPER, mysqlPort: model.ports.mysql,
      // With require_secure_transport the exporter's loopback TCP login must be TLS too (see mysqldExporterContainer).
      tls: model.tls?.requireSecureTransport === true })]
    : [];
  return {
    containers: [mariadbContainer(model, dataMount, tls), agentContainer(model, tls), ...exporter],
    initContainers,
    volumes: [...galeraVolumes(model), ...(tls ? [tls.volume, agentCertificateVolume(tls)] : [])],
    grants,
  };
}

function fieldEnv(envName: string, fieldPath: string): k8s.EnvVar {
  return { name: envName, valueFrom: { fieldRef: { fieldPath } } };
}

function mariadbContainer(model: GaleraModel, dataMount: k8s.VolumeMount, tls: TlsMount | undefined): k8s.Container {
  const { ports } = model;
  const exec = (...args: string[]) => ({ exec: { command: ['bash', `${SCRIPTS_DIR}/probe.sh`, ...args] } });
  return {
    name: 'mariadb',
    image: model.image,
    imagePullPolicy: 'IfNotPresent',
    // Through bash, so that the ConfigMap's file mode never matters.
    command: ['bash', `${SCRIPTS_DIR}/entrypoint.sh`],
    env: [
      fieldEnv('POD_NAME', 'metadata.name'),
      fieldEnv('POD_IP', 'status.podIP'),
      { name: 'GALERA_RUN_DIR', value: RUN_DIR },
      { name: 'GALERA_DATADIR', value: DATA_DIR },
      { name: 'GALERA_CONFIG_FILE', value: `${CONFIG_DIR}/server.cnf` },
      { name: 'GALERA_USERS_FILE', value: `${CONFIG_DIR}/users.tsv` },
      { name: 'GALERA_SST_PORT', value: String(ports.sst) },
      // Their passwords are the credentials volume's files GALERA_SST_PASSWORD, GALERA_MONITOR_PASSWORD and
      // MARIADB_ROOT_PASSWORD: they rotate live, as the users' do (no env var: it could never change).
      { name: 'GALERA_SST_USER', value: model.sstUser },
      { name: 'GALERA_MONITOR_USER', value: model.monitorUser },
      // The writer row's first value, when the cluster is created (entrypoint.sh, lib/galera/agent/writer.ts).
      { name: 'GALERA_INITIAL_WRITER', value: model.members[model.writerOrdinal]?.podName ?? '' },
      { name: 'GALERA_CREDENTIALS_DIR', value: CREDENTIALS_DIR },
      // The SST and root accounts rotate with it too, in a roll (their passwords are env vars, read at the start).
      { name: 'GALERA_PASSWORD_ROTATION_GRACE_SECONDS', value: String(model.passwordRotationGraceMinutes * 60) },
      ...(tls ? [
        { name: 'GALERA_TLS_DIR', value: tls.paths.directory },
        { name: 'GALERA_TLS_REPLICATION', value: String(model.tls?.replication === true || model.tls?.replicationTransition === true) },
      ] : []),
    ],
    ports: (['mysql', 'galera', 'ist', 'sst'] as const).map((name) => ({ name, containerPort: ports[name], protocol: 'TCP' })),
    resources: withEphemeralStorageRequest(toResourceRequirements(model.resources), model.tmpSizeMiB),
    // The liveness rule spares every phase but "running" and any SST in progress, so neither an SST nor a
    // recovery wait is ever killed; the startup probe only delays the first liveness check.
    startupProbe: { ...exec('live'), periodSeconds: 10, timeoutSeconds: 10, failureThreshold: 60 },
    livenessProbe: { ...exec('live'), periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
    // Ready only when Primary, Synced, not desynced, not rejecting queries: donors and joiners get no traffic.
    readinessProbe: { ...exec('ready'), periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 2, successThreshold: 1 },
    volumeMounts: [
      dataMount,
      { name: 'run', mountPath: RUN_DIR },
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
      { name: 'scripts', mountPath: SCRIPTS_DIR, readOnly: true },
      { name: 'credentials', mountPath: CREDENTIALS_DIR, readOnly: true },
      ...(tls ? [tls.mount] : []),
    ],
    securityContext: containerSecurityContext(),
  };
}

/**
 * The Secret volume of the certificate alone, for the agent: it compares the mounted certificate with the one mariadbd
 * serves (lib/galera/agent/tls-watch.ts) and has no use for the private key.
 */
function agentCertificateVolume(tls: TlsMount): k8s.Volume {
  const secret = tls.volume.secret!;
  return {
    name: 'tls-certificate',
    secret: { ...secret, items: secret.items?.filter((item) => item.path === TLS_FILES.certificate) },
  };
}

/** The recovery agent: its env is the agent's whole view of the cluster (size, member names, peer URLs). */
function agentContainer(model: GaleraModel, tls?: TlsMount): k8s.Container {
  const port = model.ports.agent;
  const healthz = { httpGet: { path: '/healthz', port: k8s.IntOrString.fromString('agent') }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 };
  return {
    name: 'agent',
    image: model.agentImage,
    imagePullPolicy: 'IfNotPresent',
    command: ['node', `${AGENT_DIR}/agent.bundle.js`],
    env: [
      fieldEnv('POD_NAME', 'metadata.name'),
      { name: 'GALERA_CLUSTER_SIZE', value: String(model.replicas) },
      { name: 'GALERA_STATEFULSET', value: model.name },
      // Every member's agent, by ordinal, from the member model (the agent never builds a member's name itself).
      { name: 'GALERA_PEER_URLS', value: model.members.map((m) => `http://${m.host}:${port}`).join(',') },
      { name: 'GALERA_AGENT_PORT', value: String(port) },
      { name: 'GALERA_RUN_DIR', value: RUN_DIR },
      { name: 'GALERA_OVERRIDE_FILE', value: `${RECOVERY_DIR}/bootstrap-from` },
      { name: 'GALERA_PC_RECOVERY_SECONDS', value: String(model.pcRecoverySeconds) },
      { name: 'GALERA_BLOCK_AFTER_SECONDS', value: String(model.missingMemberSeconds) },
      // mariadbd listens on every address of the pod: the agent reads the certificate it serves on loopback.
      ...(tls ? [
        { name: 'GALERA_TLS_CERTIFICATE', value: `${AGENT_TLS_DIR}/${TLS_FILES.certificate}` },
        { name: 'GALERA_MYSQL_PORT', value: String(model.ports.mysql) },
      ] : []),
    ],
    ports: [{ name: 'agent', containerPort: port, protocol: 'TCP' }],
    resources: toResourceRequirements({ cpuRequestMillis: 20, cpuLimitMillis: 200, memoryRequestMiB: 64, memoryLimitMiB: 128 }),
    livenessProbe: healthz,
    readinessProbe: healthz,
    volumeMounts: [
      { name: 'run', mountPath: RUN_DIR },
      { name: 'agent', mountPath: AGENT_DIR, readOnly: true },
      // A directory mount (not subPath) so that the operator's override appears without a restart.
      { name: 'recovery', mountPath: RECOVERY_DIR, readOnly: true },
      // A directory mount (not subPath), so that a renewed certificate appears here as it does for mariadbd.
      ...(tls ? [{ name: 'tls-certificate', mountPath: AGENT_TLS_DIR, readOnly: true }] : []),
    ],
    // The same uid as mariadbd: both write files in the shared run dir that the other must read.
    securityContext: containerSecurityContext(),
  };
}

function galeraVolumes(model: GaleraModel): k8s.Volume[] {
  const maps = galeraConfigMapNames(model);
  return [
    { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('16Mi') } },
    { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString(`${model.tmpSizeMiB}Mi`) } },
    { name: 'config', configMap: { name: maps.config } },
    { name: 'scripts', configMap: { name: maps.scripts } },
    { name: 'agent', configMap: { name: maps.agent } },
    { name: 'recovery', configMap: { name: maps.recovery, optional: true } },
    ...(model.storage?.mode === 'hostPath' ? [{ name: 'data', hostPath: { path: model.storage.path ?? '', type: 'DirectoryOrCreate' } }] : []),
    credentialsVolume(model),
    ...(model.metricsExporter ? [secretFilesVolume('exporter-credentials', [{ secret: model.credentials.monitorPassword, path: 'GALERA_MONITOR_PASSWORD' }])] : []),
  ];
}

/**
 * The built-in accounts' and every user's password Secret key, as the file its password variable names (apply-users.sh
 * reads it there). A user may not take a built-in name (BUILT_IN_PASSWORD_ENVS), so no two files collide.
 */
function credentialsVolume(model: GaleraModel): k8s.Volume {
  return secretFilesVolume('credentials', [
    { secret: model.credentials.sstPassword, path: 'GALERA_SST_PASSWORD' },
    { secret: model.credentials.monitorPassword, path: 'GALERA_MONITOR_PASSWORD' },
    { secret: model.credentials.rootPassword, path: 'MARIADB_ROOT_PASSWORD' },
    ...model.userModels.map((m, i) => ({ secret: model.users[i].password, path: m.passwordEnv })),
  ]);
}

/** Reserves the tmpdir emptyDir on the node: the scheduler places the member only where that much disk is free. */
function withEphemeralStorageRequest(r: k8s.ResourceRequirements, mib: number): k8s.ResourceRequirements {
  return { ...r, requests: { ...r.requests, 'ephemeral-storage': k8s.Quantity.fromString(`${mib}Mi`) } };
}
