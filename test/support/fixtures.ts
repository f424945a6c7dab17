/**
 * The one fixtures module of the tests: inputs that several test files share, each defined once. Sections:
 * the inventory, RabbitMQ users, Galera agent member reports, keepalived and HAProxy models, and the preflight
 * control plane and cluster.
 */
import { Chart } from 'cdk8s';
import { DatabaseUser, GaleraCredentials, GaleraPetSet, GaleraPetSetProps, GaleraStorage, GaleraTlsOptions, InventoryNode, MemcachedPool, OpenStackControlPlaneProps, Placement, ProxySqlLayer, ProxySqlLayerProps, RabbitDaemonSet, RabbitTlsOptions, RabbitVersion, SecretValue } from '../../lib';
import { CONTROL_PLANE_SECRETS, SERVICES } from '../../examples/openstack-control-plane';
import { objectId } from '../../lib/cli/preflight/manifests';
import { ClusterSnapshot, KubeObject, Node, Taint, Topology } from '../../lib/cli/preflight/types';
import type { MemberReport } from '../../lib/galera/agent/types';
import { openStackService } from '../../lib/haproxy/catalogue';
import { HaproxyModel } from '../../lib/haproxy/model';
import { DEFAULT_ADVERT_INTERVAL_SECONDS, KeepalivedVipModel, spreadPriorities } from '../../lib/keepalived/model';
import { RabbitUser } from '../../lib/rabbitmq/model';
import { newChart, synth } from './harness';

// --- inventory -----------------------------------------------------------------------------------------------

/** Three controller nodes: what most tests place their workloads on. */
export const NODES: InventoryNode[] = [
  { name: 'ctl-1', ip: '10.0.0.11' },
  { name: 'ctl-2', ip: '10.0.0.12' },
  { name: 'ctl-3', ip: '10.0.0.13' },
];

// --- RabbitMQ ------------------------------------------------------------------------------------------------

/** An administrator and one OpenStack service, with passwords in the Secret `rabbitmq-users` (key = user name). */
export function adminAndNova(): RabbitUser[] {
  return ['admin', 'nova'].map((name) => ({ name, administrator: name === 'admin', password: SecretValue.fromSecret('rabbitmq-users', name) }));
}

// --- Galera agent: member reports shared by the election and agent tests -------------------------------------


/** Two cluster histories, and the UUID Galera writes when a member has none. */
export const A = '6f3c1c7e-0c39-11ef-9a4b-2b8c5a7d3e11';
export const B = '9d2e4f10-0c39-11ef-8e1d-7f4a2b6c9d22';
export const ZERO = '00000000-0000-0000-0000-000000000000';

/** A member that came back after an outage with data at `seqno` of cluster A, read from grastate.dat. */
export function known(ordinal: number, seqno: number, extra: Partial<MemberReport> = {}): MemberReport {
  return {
    ordinal,
    name: `galera-${ordinal}`,
    data: 'known',
    position: { uuid: A, seqno },
    positionSource: 'grastate',
    running: false,
    primary: false,
    synced: false,
    ...extra,
  };
}

// --- keepalived and HAProxy models ---------------------------------------------------------------------------

/** Three controller nodes on 10.213.0.0/24 (the integration test's namespaces use the same addresses). */
export function threeNodeVip(overrides: Partial<KeepalivedVipModel> = {}): KeepalivedVipModel {
  return {
    name: 'api',
    address: '10.213.0.100',
    prefixLength: 24,
    interface: 'eth0',
    virtualRouterId: 51,
    advertIntervalSeconds: DEFAULT_ADVERT_INTERVAL_SECONDS,
    nodes: ['lb-a', 'lb-b', 'lb-c'].map((name, i) => ({ name, address: `10.213.0.${11 + i}`, priority: spreadPriorities(3)[i] })),
    trackCheck: { kind: 'tcp', host: '127.0.0.1', port: 5000, intervalSeconds: 1, timeoutSeconds: 1, rise: 2, fall: 2 },
    subnet: '10.213.0.0/24',
    ...overrides,
  };
}

const k8sName = (pod: string, service: string) => `${pod}.${service}.openstack.svc.cluster.local`;

/** Every catalogue endpoint, DNS and literal servers, discovery, and a Galera listener. */
export function fullHaproxyModel(overrides: Partial<HaproxyModel> = {}): HaproxyModel {
  return {
    bindAddress: '0.0.0.0',
    maxConnections: 8000,
    nameservers: ['10.96.0.10'],
    statsPort: 8404,
    services: [
      openStackService('keystone', {
        servers: [0, 1].map((i) => ({ name: `keystone-${i}`, address: k8sName(`keystone-${i}`, 'keystone'), port: 5000 })),
      }),
      openStackService('nova', { servers: [{ name: 'nova-0', address: '10.1.0.5', port: 8774 }] }),
      openStackService('glance', { discovery: { fqdn: 'glance-api.openstack.svc.cluster.local', port: 9292, slots: 4 } }),
    ],
    galera: {
      port: 3306,
      checkPort: 9200,
      checkPath: '/writer',
      timeoutSeconds: 5400,
      servers: [0, 1, 2].map((i) => ({ name: `galera-${i}`, address: k8sName(`galera-${i}`, 'galera'), port: 3306 })),
    },
    ...overrides,
  };
}

/** /etc/hosts lines for every DNS name in `fullHaproxyModel`, so `haproxy -c` can resolve them offline. */
export const FULL_MODEL_HOSTS = [
  ...[0, 1].map((i) => `10.1.1.${i + 10} ${k8sName(`keystone-${i}`, 'keystone')}`),
  ...[0, 1, 2].map((i) => `10.1.2.${i + 10} ${k8sName(`galera-${i}`, 'galera')}`),
];

// --- preflight: a small synthesized control plane and the cluster it is meant for ----------------------------
// Shared by the preflight unit tests (as a snapshot) and the CLI test (served by a fake API server): memcached on
// labelled nodes, Galera pinned to node names with local volumes and Secret references.

export const NAMESPACE = 'openstack';
/** The version the fake cluster reports: the newest this library is tested against. */
export const SERVER_VERSION = 'v1.33.1';
export const CONTROLLER_LABEL = { 'openstack-control-plane': 'enabled' };
/** The preflight tests' name for the three controllers. */
export const INVENTORY = NODES;

export const TOPOLOGY: Topology = {
  namespace: NAMESPACE,
  nodes: INVENTORY.map((n) => ({ ...n, labels: { ...CONTROLLER_LABEL } })),
  vips: [{ address: '10.0.0.10', interface: 'bond0' }],
};

/** Every Secret the chart references, with its keys. */
export const SECRETS: Record<string, string[]> = {
  'openstack/galera-root': ['password'],
  'openstack/galera-sst': ['password'],
  'openstack/galera-monitor': ['password'],
  'openstack/nova-db': ['password'],
};

/** The Galera accounts' Secrets (the ones SECRETS lists). */
export const GALERA_CREDENTIALS: GaleraCredentials = {
  rootPassword: SecretValue.fromSecret('galera-root', 'password'),
  sstPassword: SecretValue.fromSecret('galera-sst', 'password'),
  monitorPassword: SecretValue.fromSecret('galera-monitor', 'password'),
};

// --- ProxySQL ------------------------------------------------------------------------------------------------

/** A GaleraPetSet with `users` and a ProxySqlLayer in front of it (default props), synthesized in `openstack`. */
export function proxySqlObjects(users: DatabaseUser[], proxySql: Partial<ProxySqlLayerProps> = {}, galeraProps: Partial<GaleraPetSetProps> = {}): KubeObject[] {
  const chart = newChart('openstack');
  const galera = new GaleraPetSet(chart, 'galera', {
    placement: Placement.onNodes(NODES),
    storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
    credentials: GALERA_CREDENTIALS,
    users,
    ...galeraProps,
  });
  new ProxySqlLayer(chart, 'proxysql', {
    galera,
    placement: Placement.onNodes(NODES),
    adminPassword: SecretValue.fromSecret('proxysql-admin', 'password'),
    allowedClients: [{ podLabels: { application: 'nova' } }],
    ...proxySql,
  });
  return synth(chart) as KubeObject[];
}

/** The example control plane's props (examples/openstack-control-plane.ts's secrets and services). */
export const CONTROL_PLANE_PROPS: OpenStackControlPlaneProps = {
  controllers: NODES,
  vip: { address: '10.0.0.10', interface: 'bond0' },
  galeraStorage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
  secrets: CONTROL_PLANE_SECRETS,
  services: SERVICES,
};

/** Adds the HA layer the preflight tests check to `chart` (whose namespace should be NAMESPACE). */
export function addControlPlane(chart: Chart): void {
  const [key, value] = Object.entries(CONTROLLER_LABEL)[0];
  new MemcachedPool(chart, 'memcached', { placement: Placement.onLabelledNodes(key, value, { nodes: INVENTORY }) });
  new GaleraPetSet(chart, 'galera', {
    placement: Placement.onNodes(INVENTORY),
    storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '10Gi' }),
    credentials: GALERA_CREDENTIALS,
    users: [{ name: 'nova', password: SecretValue.fromSecret('nova-db', 'password'), databases: ['nova'] }],
  });
}

/** The synthesized objects of `addControlPlane`. */
export function preflightChart(): KubeObject[] {
  const chart = newChart(NAMESPACE);
  addControlPlane(chart);
  return synth(chart) as KubeObject[];
}

export interface NodeOptions {
  readonly labels?: Record<string, string>;
  readonly taints?: Taint[];
  readonly ready?: boolean;
  readonly unschedulable?: boolean;
}

/** A node as the API returns it; by default Ready, labelled for the control plane, with its hostname label. */
export function clusterNode(name: string, ip: string, options: NodeOptions = {}): Node {
  return {
    metadata: { name, labels: options.labels ?? { 'kubernetes.io/hostname': name, ...CONTROLLER_LABEL } },
    spec: { ...(options.taints ? { taints: options.taints } : {}), ...(options.unschedulable ? { unschedulable: true } : {}) },
    status: {
      addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }],
      conditions: [options.ready === false
        ? { type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'container runtime network not ready' }
        : { type: 'Ready', status: 'True', reason: 'KubeletReady' }],
    },
  };
}

/** The cluster the chart is meant for: every check passes against it. */
export function healthySnapshot(objects: KubeObject[]): ClusterSnapshot {
  return {
    version: { state: 'found', value: SERVER_VERSION },
    nodes: { state: 'found', value: INVENTORY.map((n) => clusterNode(n.name, n.ip)) },
    namespaces: { [NAMESPACE]: { state: 'found', value: { name: NAMESPACE, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } } },
    secrets: Object.fromEntries(Object.entries(SECRETS).map(([id, keys]) => [id, { state: 'found', value: keys }])),
    dryRuns: objects.map((o) => ({ object: objectId(o, NAMESPACE), ok: true })),
  };
}

// --- day 2: the same control plane before and after a props change ------------------------------------------
// The plan tests synthesize the "running" manifests and the "next" ones from these options and compare them, as
// `preflight --plan` compares the manifests with the live objects.

/** Five controllers: room to grow Galera and RabbitMQ from 3 to 5. */
export const FIVE_NODES: InventoryNode[] = [...NODES, { name: 'ctl-4', ip: '10.0.0.14' }, { name: 'ctl-5', ip: '10.0.0.15' }];

export interface Day2Options {
  /** @default 3 */
  readonly galeraReplicas?: number;
  /** @default GaleraPetSet.DEFAULT_IMAGE */
  readonly mariadbImage?: string;
  readonly clusterName?: string;
  readonly gcacheSize?: string;
  readonly serverConfig?: Record<string, Record<string, string>>;
  /** The Secret of nova's database password. @default 'nova-db' */
  readonly novaSecret?: string;
  /** @default 3 */
  readonly rabbitNodes?: number;
  /** @default RabbitVersion.V3_13 */
  readonly rabbitVersion?: RabbitVersion;
  /** @default 'rabbitmq-erlang-cookie' */
  readonly cookieSecret?: string;
  /** @default 0 */
  readonly writerOrdinal?: number;
  /** Galera's TLS (replication TLS is a cluster-wide setting). @default - none */
  readonly galeraTls?: GaleraTlsOptions;
  /** The Secret of nova's RabbitMQ password. @default 'rabbitmq-users' */
  readonly novaRabbitSecret?: string;
  /** The brokers' TLS (distribution TLS is a cluster-wide setting). @default - none */
  readonly rabbitTls?: RabbitTlsOptions;
}

/** Galera (with ProxySQL in front) and RabbitMQ on up to five controllers, shaped by `options`. */
export function addDay2ControlPlane(chart: Chart, options: Day2Options = {}): void {
  const galera = new GaleraPetSet(chart, 'galera', {
    placement: Placement.onNodes(FIVE_NODES.slice(0, options.galeraReplicas ?? 3)),
    replicas: options.galeraReplicas ?? 3,
    storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '10Gi' }),
    credentials: {
      rootPassword: SecretValue.fromSecret('galera-root', 'password'),
      sstPassword: SecretValue.fromSecret('galera-sst', 'password'),
      monitorPassword: SecretValue.fromSecret('galera-monitor', 'password'),
    },
    users: [{ name: 'nova', password: SecretValue.fromSecret(options.novaSecret ?? 'nova-db', 'password'), databases: ['nova'] }],
    ...(options.mariadbImage ? { image: options.mariadbImage } : {}),
    ...(options.clusterName ? { clusterName: options.clusterName } : {}),
    ...(options.gcacheSize ? { gcacheSize: options.gcacheSize } : {}),
    ...(options.serverConfig ? { serverConfig: options.serverConfig } : {}),
    ...(options.galeraTls ? { tls: options.galeraTls } : {}),
    writerOrdinal: options.writerOrdinal ?? 0,
  });
  new ProxySqlLayer(chart, 'proxysql', {
    galera,
    placement: Placement.onNodes(NODES),
    adminPassword: SecretValue.fromSecret('proxysql-admin', 'password'),
    allowedClients: [{ podLabels: { application: 'nova' } }],
    writerOrdinal: options.writerOrdinal ?? 0,
  });
  new RabbitDaemonSet(chart, 'rabbitmq', {
    placement: Placement.onNodes(FIVE_NODES.slice(0, options.rabbitNodes ?? 3)),
    version: options.rabbitVersion ?? RabbitVersion.V3_13,
    erlangCookie: SecretValue.fromSecret(options.cookieSecret ?? 'rabbitmq-erlang-cookie', 'cookie'),
    users: adminAndNova().map((u) => (u.name === 'nova' && options.novaRabbitSecret ? { ...u, password: SecretValue.fromSecret(options.novaRabbitSecret, 'nova') } : u)),
    ...(options.rabbitTls ? { tls: options.rabbitTls } : {}),
  });
}
