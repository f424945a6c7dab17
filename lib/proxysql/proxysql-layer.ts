import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { registerAppChecks } from '../common/app-checks';
import { configHash } from '../common/config-hash';
import { validateImage } from '../common/k8s-rules';
import { podDisruptionBudget } from '../common/disruption';
import { CONFIG_HASH_ANNOTATION, selectorLabels, standardLabels } from '../common/labels';
import { ClientSelector, clientIngressPolicy, validateClientSelectors, validateObjectName } from '../common/network';
import { Placement } from '../common/placement';
import { ContainerResources, resolveResources, toResourceRequirements, validateResources } from '../common/resources';
import { SecretValue, validateSecretValue } from '../common/secret';
import { containerSecurityContext, restrictedPodSecurityContext } from '../common/security';
import { RenamingValidator } from '../common/prop-names';
import { Validator } from '../common/validation';
import { DatabaseUser } from '../galera/credentials';
import { GaleraPetSet } from '../galera/galera-petset';
import { basePodSpec } from '../common/pod';
import { k8s } from '../k8s';
import { proxySqlScripts } from './assets';
import {
  ADMIN_PASSWORD_ENV, HostgroupIds, MONITOR_PASSWORD_ENV, ProxySqlConfigModel, READ_ONLY_SELECT_RULE_ID,
  USER_PASSWORD_ENV_PREFIX, proxySqlConfigProblems, renderProxySqlConfig,
} from './proxysql-config';

const COMPONENT = 'proxysql';
/** The uid both containers run as (the `mysql` user of the MariaDB image; ProxySQL needs no particular user). */
const PROXYSQL_UID = 999;
const SCRIPTS_DIR = '/opt/proxysql';
const TEMPLATE_DIR = '/etc/proxysql';
const RUN_DIR = '/run/proxysql';
const DATA_DIR = '/var/lib/proxysql';
/** The weight of the preferred writer; the next members get one less each. */
const FIRST_WRITER_WEIGHT = 1000;

/** The hostgroup ids of the one `mysql_galera_hostgroups` row. */
export interface ProxySqlHostgroups {
  /**
   * The hostgroup of the single writer; every user's default hostgroup.
   *
   * @default 10
   */
  readonly writer?: number;
  /**
   * The standbys: healthy members that are not the writer (hot spares, promoted in the same check pass).
   *
   * @default 20
   */
  readonly backupWriter?: number;
  /**
   * The readers: with `writer_is_also_reader=2`, the standbys only. Must be above 0.
   *
   * @default 30
   */
  readonly reader?: number;
  /**
   * Members that failed their health check (not Synced, desynced, donor, not Primary, unreachable).
   *
   * @default 9999
   */
  readonly offline?: number;
}

export interface ProxySqlLayerProps {
  /** The Galera cluster to front: its members, users and monitor account are taken from it. */
  readonly galera: GaleraPetSet;
  /** The ProxySQL admin password (admin interface on 127.0.0.1 only). */
  readonly adminPassword: SecretValue;
  /** The pods allowed to connect to the read-write and read-only ports (NetworkPolicy). */
  readonly allowedClients: ClientSelector[];
  /**
   * Where ProxySQL runs; one pod per node (required anti-affinity).
   *
   * @default Placement.onLabelledNodes('openstack-control-plane', 'enabled')
   */
  readonly placement?: Placement;
  /**
   * Base name of the Kubernetes objects.
   *
   * @default - the construct id
   */
  readonly name?: string;
  /**
   * Number of ProxySQL pods. They share nothing: each renders the same file, so each picks the same writer.
   *
   * @default 2
   */
  readonly replicas?: number;
  /**
   * Port for read-write traffic: every query goes to the writer (read-your-writes holds).
   *
   * @default 3306
   */
  readonly readWritePort?: number;
  /**
   * Port for read-only traffic (oslo.db `slave_connection`): plain SELECTs go to the standbys, locking reads and
   * everything else to the writer.
   *
   * @default 3307
   */
  readonly readOnlyPort?: number;
  /**
   * Port of the admin interface, on 127.0.0.1 inside the pod.
   *
   * @default 6032
   */
  readonly adminPort?: number;
  /**
   * Name of the admin account.
   *
   * @default 'admin'
   */
  readonly adminUser?: string;
  /**
   * Hostgroup ids.
   *
   * @default - writer 10, backupWriter 20, reader 30, offline 9999
   */
  readonly hostgroups?: ProxySqlHostgroups;
  /**
   * The ordinal of the member that is the writer whenever it is healthy (ProxySQL fails back to it once it is
   * Synced again). The others follow in ordinal order.
   *
   * @default 0
   */
  readonly writerOrdinal?: number;
  /**
   * While no reader is ONLINE (e.g. the only standby is an SST donor), send the read-only port's SELECTs to the
   * writer instead of letting them wait and fail after 10 s. The admin sidecar re-points the rule within about
   * a second, both ways.
   *
   * @default true
   */
  readonly readerFallbackToWriter?: boolean;
  /**
   * The server version ProxySQL announces to clients; match the MariaDB image.
   *
   * @default - the version of GaleraPetSet.DEFAULT_IMAGE, e.g. '11.4.7-MariaDB'
   */
  readonly serverVersion?: string;
  /**
   * Client connections each ProxySQL accepts; also the per-user limit of users whose `maxConnections` is 0.
   *
   * @default 4096
   */
  readonly maxClientConnections?: number;
  /**
   * Connections each ProxySQL opens to each Galera member at most. Keep `replicas` times this below the
   * members' `max_connections`.
   *
   * @default 1000
   */
  readonly maxConnectionsPerBackend?: number;
  /**
   * Seconds a stopping pod keeps serving its open sessions after it stopped accepting new ones (PROXYSQL PAUSE).
   *
   * @default 20
   */
  readonly drainSeconds?: number;
  /**
   * The proxysql container's resources; ProxySQL's worker threads follow the CPU limit.
   *
   * @default - requests 250m CPU / 256 MiB, limits 2000m CPU / 512 MiB
   */
  readonly resources?: ContainerResources;
  /**
   * The official ProxySQL image (2.7).
   *
   * @default ProxySqlLayer.DEFAULT_IMAGE
   */
  readonly image?: string;
  /**
   * An image with bash and the `mariadb` client, for the admin sidecar (probes, PAUSE, reader fallback).
   *
   * @default GaleraPetSet.DEFAULT_IMAGE (already on the nodes for Galera)
   */
  readonly adminImage?: string;
}

/**
 * Stateless ProxySQL pods in front of a GaleraPetSet: one writer chosen by fixed weights (the same on every
 * ProxySQL), the other Synced members as hot standbys and readers, members that are not Synced taken out within a
 * second or two. Users come from the GaleraPetSet (defined once), passwords from Secrets at container start.
 */
export class ProxySqlLayer extends Construct {
  /** The official ProxySQL image, pinned. */
  public static readonly DEFAULT_IMAGE = 'docker.io/proxysql/proxysql:2.7.3';

  /** Base name of the objects. */
  public readonly name: string;
  /** The client Service's name. */
  public readonly serviceName: string;
  /** The client Service's DNS name, for connection URLs. */
  public readonly host: string;
  public readonly readWritePort: number;
  public readonly readOnlyPort: number;
  /** Labels that select the ProxySQL pods (e.g. for a keepalived or HAProxy check). */
  public readonly podSelector: Record<string, string>;
  public readonly deployment: k8s.KubeDeployment;

  public constructor(scope: Construct, id: string, props: ProxySqlLayerProps) {
    super(scope, id);
    const name = props.name ?? id;
    const replicas = props.replicas ?? 2;
    const placement = props.placement ?? Placement.onLabelledNodes('openstack-control-plane', 'enabled');
    const drainSeconds = props.drainSeconds ?? 20;
    const adminUser = props.adminUser ?? 'admin';
    const maxClientConnections = props.maxClientConnections ?? 4096;
    const readerFallback = props.readerFallbackToWriter ?? true;
    const writerOrdinal = props.writerOrdinal ?? 0;
    const resources = resolveResources(props.resources, {
      cpuRequestMillis: 250, cpuLimitMillis: 2000, memoryRequestMiB: 256, memoryLimitMiB: 512,
    });
    const galera = props.galera instanceof GaleraPetSet ? props.galera : undefined;
    const users = galera ? proxyUsers(galera.users) : [];

    const v = new Validator(`ProxySqlLayer '${id}'`);
    v.check(galera === undefined, 'galera', typeof props.galera, 'is not a GaleraPetSet; pass the GaleraPetSet construct to front');
    validateObjectName(v, 'name', name);
    v.check(!Number.isInteger(replicas) || replicas < 1 || replicas > 100, 'replicas', replicas,
      'must be a whole number from 1 to 100 (2 or more for HA; each pod opens up to maxConnectionsPerBackend connections to every member)');
    placement._validate(v, 'placement', replicas);
    validateSecretValue(v, 'adminPassword', props.adminPassword);
    users.forEach(({ user, index }) => validateSecretValue(v, `galera.users[${index}].password`, user.password));
    const clients = [...(props.allowedClients ?? [])];
    v.check(clients.length === 0, 'allowedClients', [], 'is empty, so no client could connect; name the client pods\' labels');
    validateClientSelectors(v, 'allowedClients', clients);
    v.check(typeof readerFallback !== 'boolean', 'readerFallbackToWriter', readerFallback, 'must be true or false');
    v.check(!Number.isInteger(drainSeconds) || drainSeconds < 0 || drainSeconds > 600, 'drainSeconds', drainSeconds, 'must be a whole number from 0 to 600');
    validateResources(v, 'resources', resources);
    v.check(galera !== undefined && !(Number.isInteger(writerOrdinal) && writerOrdinal >= 0 && writerOrdinal < galera.replicas),
      'writerOrdinal', writerOrdinal, `must be the ordinal of a Galera member (0 to ${(galera?.replicas ?? 1) - 1})`);

    const model: ProxySqlConfigModel | undefined = galera && {
      dataDir: DATA_DIR,
      adminPort: props.adminPort ?? 6032,
      adminUser,
      readWritePort: props.readWritePort ?? 3306,
      readOnlyPort: props.readOnlyPort ?? 3307,
      threads: Math.min(16, Math.max(2, Math.ceil(resources.cpuLimitMillis / 1000))),
      maxClientConnections,
      serverVersion: props.serverVersion ?? defaultServerVersion(),
      monitorUser: galera.monitorUser,
      // A member that stops answering is OFFLINE after 2 timed-out checks (about 2 s); a refused connection or a
      // non-Synced state takes it out at the next check.
      healthCheck: { intervalMs: 1000, timeoutMs: 800, maxTimeoutCount: 2 },
      hostgroups: resolveHostgroups(props.hostgroups),
      servers: galera.members.map((m) => ({
        host: m.host,
        port: galera.port,
        weight: FIRST_WRITER_WEIGHT - writerRank(m.ordinal, writerOrdinal),
        maxConnections: props.maxConnectionsPerBackend ?? 1000,
        comment: m.podName,
      })),
      users: users.map(({ user }) => ({
        name: user.name,
        passwordEnv: userPasswordEnv(user.name),
        maxConnections: user.maxConnections ? user.maxConnections : maxClientConnections,
      })),
    };
    if (galera && model) {
      validateSecretValue(v, 'galera.monitorPassword', galera.monitorPassword);
      // The model's users are ProxySQL's (one per name); name each problem after the GaleraPetSet user it came from.
      const named = new RenamingValidator(v, (field) => field.replace(/^users\[(\d+)\]/, (_, i) => `galera.users[${users[Number(i)].index}]`));
      for (const problem of proxySqlConfigProblems(model)) named.add(problem.field, problem.value, problem.fix);
    }
    validateImage(v, 'image', props.image ?? ProxySqlLayer.DEFAULT_IMAGE);
    validateImage(v, 'adminImage', props.adminImage ?? GaleraPetSet.DEFAULT_IMAGE);
    v.throwIfInvalid();
    if (!galera || !model) throw new Error('unreachable: validated above');
    registerAppChecks(this);

    this.name = name;
    this.serviceName = name;
    const namespace = Chart.of(this).namespace;
    this.host = namespace ? `${name}.${namespace}.svc` : name;
    this.readWritePort = model.readWritePort;
    this.readOnlyPort = model.readOnlyPort;
    const selector = selectorLabels(name, COMPONENT);
    const labels = standardLabels(name, COMPONENT);
    this.podSelector = selector;

    const configData = { 'proxysql.cnf': renderProxySqlConfig(model) };
    const scripts = proxySqlScripts();
    new k8s.KubeConfigMap(this, 'Config', { metadata: { name: `${name}-config`, labels }, data: configData });
    new k8s.KubeConfigMap(this, 'Scripts', { metadata: { name: `${name}-scripts`, labels }, data: scripts });

    const adminEnv: k8s.EnvVar[] = [
      { name: 'PROXYSQL_ADMIN_PORT', value: String(model.adminPort) },
      { name: 'PROXYSQL_ADMIN_USER', value: adminUser },
      props.adminPassword._toEnvVar(ADMIN_PASSWORD_ENV),
    ];
    const scriptsMount: k8s.VolumeMount = { name: 'scripts', mountPath: SCRIPTS_DIR, readOnly: true };
    const tmpMount: k8s.VolumeMount = { name: 'tmp', mountPath: '/tmp' };
    const adminScript = (...args: string[]) => ({ exec: { command: [`${SCRIPTS_DIR}/admin.sh`, ...args] } });

    const proxysql: k8s.Container = {
      name: 'proxysql',
      image: props.image ?? ProxySqlLayer.DEFAULT_IMAGE,
      imagePullPolicy: 'IfNotPresent',
      command: [`${SCRIPTS_DIR}/start.sh`],
      env: [
        { name: 'PROXYSQL_CONFIG_TEMPLATE', value: `${TEMPLATE_DIR}/proxysql.cnf` },
        { name: 'PROXYSQL_CONFIG', value: `${RUN_DIR}/proxysql.cnf` },
        { name: 'PROXYSQL_DATADIR', value: DATA_DIR },
        ...adminEnv,
        galera.monitorPassword._toEnvVar(MONITOR_PASSWORD_ENV),
        ...model.users.map((u, i) => users[i].user.password._toEnvVar(u.passwordEnv)),
      ],
      ports: [
        { name: 'rw', containerPort: model.readWritePort, protocol: 'TCP' },
        { name: 'ro', containerPort: model.readOnlyPort, protocol: 'TCP' },
      ],
      resources: toResourceRequirements(resources),
      // Ready while it accepts clients on the read-write port; the pod is Ready only when the admin sidecar also
      // sees an ONLINE writer. PAUSE closes the listeners, so a paused ProxySQL turns unready at once.
      readinessProbe: { tcpSocket: { port: k8s.IntOrString.fromString('rw') }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
      livenessProbe: { ...adminScript('live'), periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
      // Keep serving open sessions while the admin sidecar's preStop has paused new connections.
      lifecycle: { preStop: { exec: { command: ['sleep', String(drainSeconds)] } } },
      volumeMounts: [
        { name: 'template', mountPath: TEMPLATE_DIR, readOnly: true },
        scriptsMount,
        { name: 'run', mountPath: RUN_DIR },
        { name: 'data', mountPath: DATA_DIR },
        tmpMount,
      ],
      securityContext: containerSecurityContext(),
    };

    const admin: k8s.Container = {
      name: 'admin',
      image: props.adminImage ?? GaleraPetSet.DEFAULT_IMAGE,
      imagePullPolicy: 'IfNotPresent',
      command: [`${SCRIPTS_DIR}/admin.sh`, 'watch'],
      env: [
        ...adminEnv,
        { name: 'PROXYSQL_WRITER_HOSTGROUP', value: String(model.hostgroups.writer) },
        { name: 'PROXYSQL_READER_HOSTGROUP', value: String(model.hostgroups.reader) },
        { name: 'PROXYSQL_READ_ONLY_RULE_ID', value: String(READ_ONLY_SELECT_RULE_ID) },
        { name: 'PROXYSQL_READER_FALLBACK', value: String(readerFallback) },
      ],
      resources: toResourceRequirements({ cpuRequestMillis: 20, cpuLimitMillis: 200, memoryRequestMiB: 32, memoryLimitMiB: 64 }),
      // The pod takes client traffic only while ProxySQL has an ONLINE writer.
      readinessProbe: { ...adminScript('ready'), periodSeconds: 2, timeoutSeconds: 3, failureThreshold: 2, successThreshold: 1 },
      livenessProbe: { ...adminScript('live'), periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 6 },
      lifecycle: { preStop: adminScript('pause') },
      volumeMounts: [scriptsMount, tmpMount],
      securityContext: containerSecurityContext(),
    };

    this.deployment = new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name, labels },
      spec: {
        replicas,
        selector: { matchLabels: selector },
        // One pod at a time, never a surge: with one pod per node, a surge pod may have nowhere to go.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(0), maxUnavailable: k8s.IntOrString.fromNumber(1) } },
        minReadySeconds: 5,
        template: {
          metadata: { labels, annotations: { [CONFIG_HASH_ANNOTATION]: configHash(configData, scripts) } },
          spec: {
            ...basePodSpec(),
            terminationGracePeriodSeconds: drainSeconds + 15,
            securityContext: restrictedPodSecurityContext(PROXYSQL_UID),
            affinity: placement._affinity(selector),
            tolerations: placement._tolerations(),
            containers: [proxysql, admin],
            volumes: [
              { name: 'template', configMap: { name: `${name}-config` } },
              { name: 'scripts', configMap: { name: `${name}-scripts`, defaultMode: 0o555 } },
              // The rendered file holds passwords: memory only, never on the node's disk.
              { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('4Mi') } },
              // proxysql.db and the generated TLS keys; set aside by --initial at every start.
              { name: 'data', emptyDir: { sizeLimit: k8s.Quantity.fromString('256Mi') } },
              { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
            ],
          },
        },
      },
    });

    new k8s.KubeService(this, 'Service', {
      metadata: { name, labels },
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [
          { name: 'rw', port: model.readWritePort, targetPort: k8s.IntOrString.fromString('rw'), protocol: 'TCP' },
          { name: 'ro', port: model.readOnlyPort, targetPort: k8s.IntOrString.fromString('ro'), protocol: 'TCP' },
        ],
      },
    });

    clientIngressPolicy(this, 'NetworkPolicy', { name, labels, selector, clients, ports: [model.readWritePort, model.readOnlyPort] });

    podDisruptionBudget(this, 'Budget', { name, labels, selector, maxUnavailable: 1 });
    galera.allowClients({ podLabels: { ...selector } });
  }
}

/**
 * One ProxySQL user per account name: ProxySQL matches clients by name only and connects to Galera from its pod IP,
 * so of several accounts with one name, the one for any host ('%') is used. Keeps each user's index in the list.
 */
function proxyUsers(users: readonly DatabaseUser[]): Array<{ user: DatabaseUser; index: number }> {
  const byName = new Map<string, { user: DatabaseUser; index: number }>();
  users.forEach((user, index) => {
    const seen = byName.get(user.name);
    if (!seen || ((seen.user.host ?? '%') !== '%' && (user.host ?? '%') === '%')) byName.set(user.name, { user, index });
  });
  return [...byName.values()].sort((a, b) => a.index - b.index);
}

function userPasswordEnv(userName: string): string {
  return `${USER_PASSWORD_ENV_PREFIX}${userName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** 0 for the preferred writer, then 1, 2, ... for the other members in ordinal order. */
function writerRank(ordinal: number, writerOrdinal: number): number {
  if (ordinal === writerOrdinal) return 0;
  return ordinal < writerOrdinal ? ordinal + 1 : ordinal;
}

function resolveHostgroups(hostgroups: ProxySqlHostgroups = {}): HostgroupIds {
  return {
    writer: hostgroups.writer ?? 10,
    backupWriter: hostgroups.backupWriter ?? 20,
    reader: hostgroups.reader ?? 30,
    offline: hostgroups.offline ?? 9999,
  };
}

/** `11.4.7-MariaDB` from `docker.io/library/mariadb:11.4.7`. */
function defaultServerVersion(): string {
  const tag = /:(\d+\.\d+\.\d+)/.exec(GaleraPetSet.DEFAULT_IMAGE)?.[1] ?? '';
  return `${tag}-MariaDB`;
}
