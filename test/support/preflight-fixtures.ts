/**
 * A small synthesized control plane and the cluster it is meant for, shared by the preflight unit tests (as a
 * snapshot) and the CLI test (served by a fake API server): memcached on labelled nodes, Galera pinned to node
 * names with local volumes and Secret references.
 */
import { Chart } from 'cdk8s';
import { GaleraPetSet, GaleraStorage, MemcachedPool, Placement, SecretValue } from '../../lib';
import { objectId } from '../../lib/cli/preflight/manifests';
import { ClusterSnapshot, KubeObject, Node, Taint, Topology } from '../../lib/cli/preflight/types';
import { newChart, synth } from './harness';

export const NAMESPACE = 'openstack';
/** The version the fake cluster reports: the newest this library is tested against. */
export const SERVER_VERSION = 'v1.33.1';
export const CONTROLLER_LABEL = { 'openstack-control-plane': 'enabled' };
export const INVENTORY = [
  { name: 'ctl-1', ip: '10.0.0.11' },
  { name: 'ctl-2', ip: '10.0.0.12' },
  { name: 'ctl-3', ip: '10.0.0.13' },
];

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

/** Adds the HA layer the preflight tests check to `chart` (whose namespace should be NAMESPACE). */
export function addControlPlane(chart: Chart): void {
  const [key, value] = Object.entries(CONTROLLER_LABEL)[0];
  new MemcachedPool(chart, 'memcached', { placement: Placement.onLabelledNodes(key, value, { nodes: INVENTORY }) });
  new GaleraPetSet(chart, 'galera', {
    placement: Placement.onNodes(INVENTORY),
    storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '10Gi' }),
    credentials: {
      rootPassword: SecretValue.fromSecret('galera-root', 'password'),
      sstPassword: SecretValue.fromSecret('galera-sst', 'password'),
      monitorPassword: SecretValue.fromSecret('galera-monitor', 'password'),
    },
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
