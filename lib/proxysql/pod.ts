/**
 * The ProxySQL pod as plain data: the proxysql container (renders its config from the template at start, serves
 * the read-write and read-only ports), the admin sidecar (probes, PAUSE on stop, reader fallback), the credentials
 * sidecar (applies a changed user or monitor password live), the volumes.
 * ProxySqlLayer wires them into the Deployment; nothing here creates a construct.
 */
import { toResourceRequirements } from '../common/resources';
import { SecretValue, secretFilesVolume } from '../common/secret';
import { containerSecurityContext } from '../common/security';
import { k8s } from '../k8s';
import { TlsMaterial } from '../tls/model';
import { TlsMount, tlsMount } from '../tls/pod';
import { ADMIN_PASSWORD_ENV, DATA_DIR, MONITOR_PASSWORD_ENV, ProxySqlConfigModel, ProxySqlModel, READ_ONLY_SELECT_RULE_ID, TLS_DIR } from './model';

/**
 * The uid both containers run as: the `mysql` user of the MariaDB image. The ProxySQL image sets no USER (root by
 * default); its package's postinst creates `proxysql` with `useradd -r -U`, which on a fresh Debian 12 also gets
 * 999 (replayed with bookworm's useradd; lib/proxysql/image.ts). ProxySQL needs no particular user: everything it
 * writes (datadir, rendered file, /tmp) is an emptyDir here, and it reads its file from `-c`, not the image's
 * /etc/proxysql.cnf.
 */
export const PROXYSQL_UID = 999;
const SCRIPTS_DIR = '/opt/proxysql';
const TEMPLATE_DIR = '/etc/proxysql';
const RUN_DIR = '/run/proxysql';
/**
 * The users' and the monitor's passwords, one file each named after the placeholder start.sh fills in (e.g.
 * PROXYSQL_USER_PASSWORD_NOVA): secretFilesVolume, so a changed Secret reaches the running pod and credentials.sh
 * applies it.
 */
export const CREDENTIALS_DIR = '/etc/proxysql-credentials';
const CREDENTIALS_VOLUME = 'credentials';

/** The ConfigMaps the pod mounts, by role: one name each, shared by the construct that creates them. */
export function proxySqlConfigMapNames(name: string): { config: string; scripts: string } {
  return { config: `${name}-config`, scripts: `${name}-scripts` };
}

/** A validated model: it fronts a GaleraPetSet and has the file's model. */
type Resolved = ProxySqlModel & Required<Pick<ProxySqlModel, 'galera' | 'config'>>;

/** The pod's containers and volumes. */
export function proxySqlPod(model: Resolved, adminPassword: SecretValue, tlsMaterial?: TlsMaterial): { containers: k8s.Container[]; volumes: k8s.Volume[] } {
  const config = model.config;
  // Key 0440: the kubelet gives the files to root and the fsGroup (999), which both containers run as.
  const tls = tlsMaterial && tlsMount(tlsMaterial, 'tls', TLS_DIR);
  const adminEnv: k8s.EnvVar[] = [
    { name: 'PROXYSQL_ADMIN_PORT', value: String(config.adminPort) },
    { name: 'PROXYSQL_ADMIN_USER', value: config.adminUser },
    adminPassword._toEnvVar(ADMIN_PASSWORD_ENV),
  ];
  const maps = proxySqlConfigMapNames(model.name);
  return {
    containers: [
      withTls(proxySqlContainer(model, config, adminEnv), tls, 'start'),
      withTls(adminContainer(model, config, adminEnv), tls, 'watch'),
      credentialsContainer(model, config, adminEnv, config.tls?.backendCaFile !== undefined ? tls : undefined),
    ],
    volumes: [
      credentialsVolume(model),
      { name: 'template', configMap: { name: maps.config } },
      { name: 'scripts', configMap: { name: maps.scripts, defaultMode: 0o555 } },
      // The rendered file holds passwords: memory only, never on the node's disk.
      { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('4Mi') } },
      // proxysql.db and the generated TLS keys; set aside by --initial at every start.
      // With TLS it holds the private key (ProxySQL reads its certificate only from here): memory, never the node's disk.
      { name: 'data', emptyDir: { ...(tls ? { medium: 'Memory' } : {}), sizeLimit: k8s.Quantity.fromString('256Mi') } },
      { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
      ...(tls ? [tls.volume] : []),
    ],
  };
}

/**
 * With TLS, both containers run tls.sh, which wraps what they ran before: `start` copies the certificate into the
 * datadir (where ProxySQL reads it) and execs start.sh; `watch` is the admin sidecar's loop plus the renewal (check
 * the new pair, copy it, PROXYSQL RELOAD TLS). Without TLS the containers are exactly what they were.
 */
function withTls(container: k8s.Container, tls: TlsMount | undefined, subcommand: 'start' | 'watch'): k8s.Container {
  if (!tls) return container;
  const dataMount: k8s.VolumeMount = { name: 'data', mountPath: DATA_DIR };
  const mounts = container.volumeMounts ?? [];
  return {
    ...container,
    command: [`${SCRIPTS_DIR}/tls.sh`, subcommand],
    env: [
      ...(container.env ?? []),
      { name: 'PROXYSQL_TLS_DIR', value: TLS_DIR },
      ...(subcommand === 'watch' ? [{ name: 'PROXYSQL_DATADIR', value: DATA_DIR }] : []),
    ],
    volumeMounts: [...mounts, ...(mounts.some((m) => m.name === 'data') ? [] : [dataMount]), tls.mount],
  };
}

const scriptsMount: k8s.VolumeMount = { name: 'scripts', mountPath: SCRIPTS_DIR, readOnly: true };
const tmpMount: k8s.VolumeMount = { name: 'tmp', mountPath: '/tmp' };
const credentialsMount: k8s.VolumeMount = { name: CREDENTIALS_VOLUME, mountPath: CREDENTIALS_DIR, readOnly: true };

/** The monitor's password and every user's, each Secret key as the file its placeholder names. */
function credentialsVolume(model: Resolved): k8s.Volume {
  return secretFilesVolume(CREDENTIALS_VOLUME, [
    { secret: model.galera.monitorPassword, path: MONITOR_PASSWORD_ENV },
    ...model.config.users.map((u, i) => ({ secret: model.users[i].user.password, path: u.passwordEnv })),
  ]);
}

/**
 * The credentials sidecar (assets/proxysql/credentials.sh): applies a changed user or monitor password to ProxySQL's
 * runtime once the Galera members accept it. A container of its own, in the admin image (it needs the `mariadb`
 * client): its loop holds state (what it applied) and is independent of the admin sidecar's probes and of tls.sh.
 * With TLS to the members it checks the new password over TLS too, with the same CA.
 */
function credentialsContainer(model: Resolved, config: ProxySqlConfigModel, adminEnv: k8s.EnvVar[], backendTls: TlsMount | undefined): k8s.Container {
  return {
    name: 'credentials',
    image: model.adminImage,
    imagePullPolicy: 'IfNotPresent',
    command: [`${SCRIPTS_DIR}/credentials.sh`, 'watch'],
    env: [
      ...adminEnv,
      { name: 'PROXYSQL_CREDENTIALS_DIR', value: CREDENTIALS_DIR },
      { name: 'PROXYSQL_MONITOR_USER', value: config.monitorUser },
      // name:FILE pairs: user names are [A-Za-z0-9_.-] (GaleraPetSet's rule), so neither ' ' nor ':' occurs.
      { name: 'PROXYSQL_USERS', value: config.users.map((u) => `${u.name}:${u.passwordEnv}`).join(' ') },
      ...(backendTls ? [{ name: 'PROXYSQL_BACKEND_CA', value: backendTls.paths.ca }] : []),
    ],
    resources: toResourceRequirements({ cpuRequestMillis: 10, cpuLimitMillis: 200, memoryRequestMiB: 16, memoryLimitMiB: 64 }),
    // Both probes read the loop's heartbeat (bash only): a pending rotation (members that do not accept the new
    // password yet) keeps the loop beating, so it never takes the pod out; only a client call that hangs does, and
    // the restart ends it.
    readinessProbe: { exec: { command: [`${SCRIPTS_DIR}/credentials.sh`, 'live'] }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
    livenessProbe: { exec: { command: [`${SCRIPTS_DIR}/credentials.sh`, 'live'] }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 6 },
    volumeMounts: [scriptsMount, tmpMount, credentialsMount, ...(backendTls ? [backendTls.mount] : [])],
    securityContext: containerSecurityContext(),
  };
}

function adminScript(...args: string[]) {
  return { exec: { command: [`${SCRIPTS_DIR}/admin.sh`, ...args] } };
}

function proxySqlContainer(model: Resolved, config: ProxySqlConfigModel, adminEnv: k8s.EnvVar[]): k8s.Container {
  return {
    name: 'proxysql',
    image: model.image,
    imagePullPolicy: 'IfNotPresent',
    command: [`${SCRIPTS_DIR}/start.sh`],
    env: [
      { name: 'PROXYSQL_CONFIG_TEMPLATE', value: `${TEMPLATE_DIR}/proxysql.cnf` },
      { name: 'PROXYSQL_CONFIG', value: `${RUN_DIR}/proxysql.cnf` },
      { name: 'PROXYSQL_DATADIR', value: DATA_DIR },
      ...adminEnv,
      { name: 'PROXYSQL_CREDENTIALS_DIR', value: CREDENTIALS_DIR },
    ],
    ports: [
      { name: 'rw', containerPort: config.readWritePort, protocol: 'TCP' },
      { name: 'ro', containerPort: config.readOnlyPort, protocol: 'TCP' },
      ...(config.metricsPort !== undefined ? [{ name: 'metrics', containerPort: config.metricsPort, protocol: 'TCP' }] : []),
    ],
    resources: toResourceRequirements(model.resources),
    // Ready while it accepts clients on the read-write port; the pod is Ready only when the admin sidecar also
    // sees an ONLINE writer. PAUSE closes the listeners, so a paused ProxySQL turns unready at once.
    readinessProbe: { tcpSocket: { port: k8s.IntOrString.fromString('rw') }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
    livenessProbe: { ...adminScript('live'), periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
    // Keep serving open sessions while the admin sidecar's preStop has paused new connections.
    lifecycle: { preStop: { exec: { command: ['sleep', String(model.drainSeconds)] } } },
    volumeMounts: [
      { name: 'template', mountPath: TEMPLATE_DIR, readOnly: true },
      scriptsMount,
      { name: 'run', mountPath: RUN_DIR },
      { name: 'data', mountPath: DATA_DIR },
      tmpMount,
      credentialsMount,
    ],
    securityContext: containerSecurityContext(),
  };
}

function adminContainer(model: Resolved, config: ProxySqlConfigModel, adminEnv: k8s.EnvVar[]): k8s.Container {
  return {
    name: 'admin',
    image: model.adminImage,
    imagePullPolicy: 'IfNotPresent',
    command: [`${SCRIPTS_DIR}/admin.sh`, 'watch'],
    env: [
      ...adminEnv,
      { name: 'PROXYSQL_WRITER_HOSTGROUP', value: String(config.hostgroups.writer) },
      { name: 'PROXYSQL_READER_HOSTGROUP', value: String(config.hostgroups.reader) },
      { name: 'PROXYSQL_READ_ONLY_RULE_ID', value: String(READ_ONLY_SELECT_RULE_ID) },
      { name: 'PROXYSQL_READER_FALLBACK', value: String(model.readerFallback) },
    ],
    resources: toResourceRequirements({ cpuRequestMillis: 20, cpuLimitMillis: 200, memoryRequestMiB: 32, memoryLimitMiB: 64 }),
    // The pod takes client traffic only while ProxySQL has an ONLINE writer.
    readinessProbe: { ...adminScript('ready'), periodSeconds: 2, timeoutSeconds: 3, failureThreshold: 2, successThreshold: 1 },
    livenessProbe: { ...adminScript('live'), periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 6 },
    lifecycle: { preStop: adminScript('pause') },
    volumeMounts: [scriptsMount, tmpMount],
    securityContext: containerSecurityContext(),
  };
}
