import { Chart } from 'cdk8s';
import {
  GaleraPetSet, GaleraStorage, HaproxyLoadBalancer, HaproxyLoadBalancerProps, KeepalivedVip, LoadBalancedService,
  Placement, SecretValue,
} from '../lib';
import { CAPABILITIES_ANNOTATION, CONFIG_HASH_ANNOTATION } from '../lib/common/labels';
import { haproxyCommand } from '../lib/haproxy/render';
import { errorOf, expectValidManifests, find, newChart, synth } from './support/harness';
import { NODES } from './support/fixtures';


const api = (name: string, dns: string, port: number) =>
  LoadBalancedService.openStackApi(name, { servers: [{ address: `${dns}.openstack.svc`, port }] });

function lbProps(overrides: Partial<HaproxyLoadBalancerProps> = {}): HaproxyLoadBalancerProps {
  return {
    placement: Placement.onNodes(NODES),
    services: [api('keystone', 'keystone-api', 5000), api('nova', 'nova-api', 8774)],
    ...overrides,
  };
}

function build(overrides: Partial<HaproxyLoadBalancerProps> = {}, chart: Chart = newChart('openstack')) {
  const lb = new HaproxyLoadBalancer(chart, 'lb', lbProps(overrides));
  return { chart, lb, objects: synth(chart) };
}

function galeraIn(chart: Chart): GaleraPetSet {
  return new GaleraPetSet(chart, 'galera', {
    placement: Placement.onNodes(NODES),
    storage: GaleraStorage.localVolume({ path: '/mnt/galera', size: '10Gi' }),
    credentials: {
      rootPassword: SecretValue.fromSecret('galera-root', 'password'),
      sstPassword: SecretValue.fromSecret('galera-sst', 'password'),
      monitorPassword: SecretValue.fromSecret('galera-monitor', 'password'),
    },
  });
}

const podOf = (objects: ReturnType<typeof synth>) => find(objects, 'DaemonSet', 'lb').spec.template;
const containerOf = (objects: ReturnType<typeof synth>, name: string) => podOf(objects).spec.containers.find((c: any) => c.name === name);
const cfgOf = (objects: ReturnType<typeof synth>): string => find(objects, 'ConfigMap', 'lb-config').data['haproxy.cfg'];

describe('HaproxyLoadBalancer', () => {
  const { objects, lb } = build();
  const pod = podOf(objects);
  const haproxy = containerOf(objects, 'haproxy');
  const reloader = containerOf(objects, 'reloader');

  test('a host-network DaemonSet on the inventory nodes that resolves cluster DNS names', () => {
    expect(pod.spec.hostNetwork).toBe(true);
    expect(pod.spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
    // One term per node (ORed): a node field requirement takes exactly one value.
    expect(pod.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms
      .map((t: any) => t.matchFields)).toEqual(['ctl-1', 'ctl-2', 'ctl-3'].map((n) => [{ key: 'metadata.name', operator: 'In', values: [n] }]));
    expect(find(objects, 'DaemonSet', 'lb').spec.updateStrategy.rollingUpdate.maxUnavailable).toBe(1);
  });

  test('master-worker, config and run dir mounted, nothing per node', () => {
    expect(haproxy.command).toEqual(haproxyCommand());
    expect(haproxy.env).toBeUndefined();
    expect(haproxy.volumeMounts).toEqual([
      { name: 'config', mountPath: '/usr/local/etc/haproxy', readOnly: true },
      { name: 'run', mountPath: '/var/run/haproxy' },
    ]);
    expect(haproxy.ports.map((p: any) => p.containerPort)).toEqual([5000, 8774, 8404]);
  });

  test('without a port below 1024: the image\'s haproxy user (99), no capability at all', () => {
    expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 99 });
    expect(haproxy.securityContext.capabilities).toEqual({ drop: ['ALL'] });
    expect(haproxy.securityContext.runAsUser).toBeUndefined();
    expect(pod.metadata.annotations[CAPABILITIES_ANNOTATION]).toBeUndefined();
  });

  test('probes on the /healthz monitor URI; a preStop drain; a PDB of one node at a time', () => {
    expect(haproxy.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 8404 });
    expect(haproxy.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 8404 });
    expect(haproxy.lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
    expect(reloader.lifecycle.preStop.exec.command).toEqual(['node', '/opt/haproxy-reloader/reloader.js', 'drain']);
    // A DaemonSet has no scale subresource: an integer minAvailable (nodes - 1), never maxUnavailable.
    expect(find(objects, 'PodDisruptionBudget', 'lb').spec).toEqual({ minAvailable: 2, selector: expect.anything() });
  });

  test('labelled nodes without an inventory: the PDB keeps one pod (the node count is unknown), and evictions still work', () => {
    const { objects: labelled } = build({ placement: Placement.onLabelledNodes('openstack-control-plane', 'enabled') });
    expect(find(labelled, 'PodDisruptionBudget', 'lb').spec).toEqual({ minAvailable: 1, selector: expect.anything() });
    expectValidManifests(labelled);
  });

  test('the reloader sidecar watches the mounted config and talks to the master socket as the same user', () => {
    expect(reloader.command).toEqual(['node', '/opt/haproxy-reloader/reloader.js', 'watch']);
    expect(reloader.env).toEqual(expect.arrayContaining([
      { name: 'HAPROXY_CONFIG', value: '/usr/local/etc/haproxy/haproxy.cfg' },
      { name: 'HAPROXY_MASTER_SOCKET', value: '/var/run/haproxy/master.sock' },
    ]));
    expect(reloader.securityContext.capabilities).toEqual({ drop: ['ALL'] });
    expect(find(objects, 'ConfigMap', 'lb-reloader').data['reloader.js']).toContain("master('reload')");
  });

  test('Service names are completed with the cluster domain (HAProxy\'s resolver applies no search list)', () => {
    expect(cfgOf(objects)).toContain('server keystone-0 keystone-api.openstack.svc.cluster.local:5000 check');
    expect(cfgOf(build({ clusterDomain: 'k8s.example' }).objects)).toContain('keystone-api.openstack.svc.k8s.example:5000');
  });

  test('a config change is a hitless reload: the hash ignores haproxy.cfg but follows the image', () => {
    const hash = (o: Partial<HaproxyLoadBalancerProps>) => podOf(build(o).objects).metadata.annotations[CONFIG_HASH_ANNOTATION];
    const base = hash({});
    expect(hash({ services: [api('keystone', 'keystone-api', 5000)] })).toBe(base);
    expect(cfgOf(build({ services: [api('keystone', 'keystone-api', 5000)] }).objects)).not.toBe(cfgOf(objects));
    expect(hash({ image: 'docker.io/library/haproxy:2.6.21-bookworm' })).not.toBe(base);
    expect(hash({ reloaderImage: 'docker.io/library/node:22.13.0-bookworm-slim' })).not.toBe(base);
  });

  test('outputs: ports by service, the health endpoint', () => {
    expect(lb.portOf('nova')).toBe(8774);
    expect(() => lb.portOf('heat')).toThrow(/has no service "heat"; it has keystone, nova/);
    expect([lb.healthPort, lb.healthPath, lb.host]).toEqual([8404, '/healthz', undefined]);
  });

  test('manifests are valid and meet the invariants; snapshot', () => {
    expectValidManifests(objects);
    expect(objects).toMatchSnapshot();
  });
});

describe('HaproxyLoadBalancer with the dashboard on port 80', () => {
  const { objects } = build({ services: [api('keystone', 'keystone-api', 5000), api('horizon', 'horizon', 80)] });
  const pod = podOf(objects);

  test('root with NET_BIND_SERVICE only, for haproxy and its reloader (same socket owner), with the reason annotated', () => {
    expect(containerOf(objects, 'haproxy').securityContext).toMatchObject({
      runAsUser: 0, runAsNonRoot: false, privileged: false, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
    });
    expect(containerOf(objects, 'reloader').securityContext).toMatchObject({ runAsUser: 0, capabilities: { drop: ['ALL'] } });
    expect(pod.metadata.annotations[CAPABILITIES_ANNOTATION]).toBe('NET_BIND_SERVICE: binds port(s) 80 below 1024 on the host network');
    expectValidManifests(objects);
  });
});

describe('HaproxyLoadBalancer with Galera and a VIP', () => {
  const chart = newChart('openstack');
  const galera = galeraIn(chart);
  const vip = new KeepalivedVip(chart, 'vip', {
    address: '10.0.0.10', prefixLength: 24, interface: 'bond0', placement: Placement.onNodes(NODES), virtualRouterId: 51,
  });
  const { lb, objects } = build({ galera, vip }, chart);

  test('one writer: the member the cluster named, checked on the agent\'s /writer; no peers, no stick table', () => {
    const cfg = cfgOf(objects);
    expect(cfg).not.toMatch(/^peers |stick-table|stick on/m);
    expect(cfg).toContain('http-check send meth GET uri /writer');
    expect(cfg).toContain('server galera-0 galera-0.galera-peers.openstack.svc.cluster.local:3306 check port 9200');
    expect(lb.galeraPort).toBe(3306);
  });

  test('Galera admits HAProxy on 3306 and 9200 by pod labels and by node address (host network)', () => {
    const ingress = find(objects, 'NetworkPolicy', 'galera').spec.ingress;
    const peersFor = (port: number) => ingress.find((r: any) => r.ports.length === 1 && r.ports[0].port === port).from;
    for (const port of [3306, 9200]) {
      expect(peersFor(port)).toEqual(expect.arrayContaining([
        { podSelector: { matchLabels: lb.podSelector } },
        { ipBlock: { cidr: '10.0.0.11/32' } }, { ipBlock: { cidr: '10.0.0.12/32' } }, { ipBlock: { cidr: '10.0.0.13/32' } },
      ]));
    }
  });

  test('a node address of a host-network client must be an IP address', () => {
    expect(() => galera.allowClients({ podLabels: { app: 'x' }, nodeAddresses: ['ctl-1'] }))
      .toThrow(/client\[0\]\.nodeAddresses\[0\]: "ctl-1" is not an IP address/);
  });

  test('the VIP follows HAProxy\'s /healthz on each node', () => {
    expect(find(objects, 'ConfigMap', 'vip-config').data['ctl-2.conf']).toContain('http://127.0.0.1:8404/healthz');
    expect(lb.host).toBe('10.0.0.10');
  });

  test('a port HAProxy listens on cannot also be exposed on the VIP', () => {
    expect(() => vip.exposeService({ name: 'db', podSelector: { app: 'x' }, ports: [{ name: 'mysql', port: 3306 }] }))
      .toThrow(/ports\[0\]\.port: 3306 is already served on this VIP by HaproxyLoadBalancer 'lb'/);
  });

  test('manifests are valid and meet the invariants', () => {
    expectValidManifests(objects);
  });
});

describe('HaproxyLoadBalancer validation', () => {
  test('every problem at once: duplicate ports, a backend without servers, unknown API, limits', () => {
    const message = errorOf(() => build({
      services: [
        api('keystone', 'keystone-api', 5000),
        LoadBalancedService.tcp('keystone-tls', 5000, { servers: [{ address: '10.1.0.5' }] }),
        LoadBalancedService.openStackApi('nova', {}),
        LoadBalancedService.openStackApi('novaa', { servers: [{ address: '10.1.0.6' }] }),
      ],
      maxConnections: 300_000,
      drainSeconds: -1,
    }));
    expect(message).toMatch(/^HaproxyLoadBalancer 'lb' has invalid props:/);
    for (const part of [
      'services[1].port: 5000 is also the port of services[0].port',
      'services[2].servers: [] is empty',
      'services[3].name: "novaa" is not in the OpenStack catalogue',
      'maxConnections: 300000 needs about 600000 file descriptors',
      'maxConnections: 300000 can use 9375 MiB of buffers',
      'drainSeconds: -1',
    ]) {
      expect(message).toContain(part);
    }
  });

  test('Galera or a VIP need the inventory; the VIP\'s nodes must all run HAProxy', () => {
    const chart = newChart('openstack');
    const vip = new KeepalivedVip(chart, 'vip', {
      address: '10.0.0.10', interface: 'bond0', placement: Placement.onNodes(NODES), virtualRouterId: 51,
    });
    const lb = (id: string, placement: Placement) => new HaproxyLoadBalancer(chart, id, lbProps({ vip, placement }));
    expect(errorOf(() => lb('lb1', Placement.onNodes(NODES.slice(0, 2)))))
      .toContain('vip: "vip" may be held by node "ctl-3", where this HAProxy does not run');
    expect(errorOf(() => lb('lb2', Placement.onLabelledNodes('role', 'lb')))).toContain('gives no node names and addresses');
  });

  test('a VIP follows one proxy only', () => {
    const chart = newChart('openstack');
    const vip = new KeepalivedVip(chart, 'vip', {
      address: '10.0.0.10', interface: 'bond0', placement: Placement.onNodes(NODES), virtualRouterId: 51,
    });
    new HaproxyLoadBalancer(chart, 'lb', lbProps({ vip }));
    expect(() => new HaproxyLoadBalancer(chart, 'lb2', lbProps({ vip, statsPort: 8405 }))).toThrow(/this VIP already follows another check/);
  });
});
