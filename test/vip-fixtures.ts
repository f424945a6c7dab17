import { openStackService } from '../lib/haproxy/catalogue';
import { HaproxyModel } from '../lib/haproxy/model';
import { DEFAULT_ADVERT_INTERVAL_SECONDS, KeepalivedVipModel, spreadPriorities } from '../lib/keepalived/model';

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

/** Every catalogue endpoint, DNS and literal servers, discovery, and a Galera listener with peers. */
export function fullHaproxyModel(overrides: Partial<HaproxyModel> = {}): HaproxyModel {
  return {
    bindAddress: '0.0.0.0',
    maxConnections: 8000,
    nameservers: ['10.96.0.10'],
    statsPort: 8404,
    peersPort: 10000,
    peers: [
      { name: 'lb-a', address: '10.213.0.11' },
      { name: 'lb-b', address: '10.213.0.12' },
    ],
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
      checkPath: '/synced',
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
