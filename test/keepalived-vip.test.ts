import { Chart } from 'cdk8s';
import { KeepalivedVip, KeepalivedVipProps, Placement, VipTrack } from '../lib';
import { CAPABILITIES_ANNOTATION, CONFIG_HASH_ANNOTATION } from '../lib/common/labels';
import { KEEPALIVED_CAPABILITIES } from '../lib/keepalived/model';
import { errorOf, expectValidManifests, find, newChart, synth } from './support/harness';
import { NODES } from './support/fixtures';


function vipProps(overrides: Partial<KeepalivedVipProps> = {}): KeepalivedVipProps {
  return {
    address: '10.0.0.10',
    prefixLength: 24,
    interface: 'bond0',
    placement: Placement.onNodes(NODES),
    virtualRouterId: 51,
    track: VipTrack.tcp(5000),
    ...overrides,
  };
}

function build(overrides: Partial<KeepalivedVipProps> = {}, chart: Chart = newChart('openstack')) {
  const vip = new KeepalivedVip(chart, 'vip', vipProps(overrides));
  return { chart, vip, objects: synth(chart) };
}

describe('KeepalivedVip', () => {
  const { objects, vip } = build();
  const ds = find(objects, 'DaemonSet', 'vip');
  const pod = ds.spec.template;
  const [container] = pod.spec.containers;

  test('a host-network DaemonSet on exactly the inventory nodes, one node at a time on updates', () => {
    expect(pod.spec.hostNetwork).toBe(true);
    expect(pod.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['ctl-1'] }] },
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['ctl-2'] }] },
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['ctl-3'] }] },
    ]);
    expect(ds.spec.updateStrategy.rollingUpdate.maxUnavailable).toBe(1);
    expect(pod.spec.priorityClassName).toBe('system-node-critical');
    expect(pod.spec.automountServiceAccountToken).toBe(false);
  });

  test('root with only NET_ADMIN, NET_RAW, SETGID, SYS_NICE: drop ALL, never privileged; the annotation says why', () => {
    const sc = container.securityContext;
    expect(sc.capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW', 'SETGID', 'SYS_NICE'] });
    expect(sc).toMatchObject({ privileged: false, allowPrivilegeEscalation: false, runAsUser: 0, runAsNonRoot: false, readOnlyRootFilesystem: true });
    const annotation: string = pod.metadata.annotations[CAPABILITIES_ANNOTATION];
    for (const grant of KEEPALIVED_CAPABILITIES) expect(annotation).toContain(`${grant.capability}: ${grant.reason}`);
  });

  test('each node picks its own file: NODE_NAME from spec.nodeName, the rendered command, ConfigMap and run dir mounted', () => {
    expect(container.env).toEqual([{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }]);
    expect(container.command).toEqual(['/bin/bash', '-c', expect.stringContaining('exec keepalived --dont-fork')]);
    // The start script knows the VIP, and no node: it reads its node's interface, address and peers from the node's file
    // (so that an inventory change rolls no pod), and reloads that file when it changes.
    expect(container.command[2]).toMatch(/^vip=10\.0\.0\.10$/m);
    expect(container.command[2]).toMatch(/^conf=\/etc\/keepalived\/"\$NODE_NAME"\.conf$/m);
    expect(container.command[2]).not.toMatch(/ctl-\d|10\.0\.0\.1[1-3]/);
    expect(container.command[2]).not.toContain('\'');
    expect(container.volumeMounts).toEqual([
      { name: 'config', mountPath: '/etc/keepalived', readOnly: true },
      { name: 'run', mountPath: '/run/keepalived' },
    ]);
    const volumes = Object.fromEntries(pod.spec.volumes.map((v: any) => [v.name, v]));
    expect(volumes.config.configMap.name).toBe('vip-config');
    expect(volumes.run.emptyDir.medium).toBe('Memory');
    expect(Object.keys(find(objects, 'ConfigMap', 'vip-config').data)).toEqual(['ctl-1.conf', 'ctl-2.conf', 'ctl-3.conf']);
  });

  test('priorities follow the inventory order, spread; every node unicasts to the two others', () => {
    const data = find(objects, 'ConfigMap', 'vip-config').data;
    expect(data['ctl-1.conf']).toMatch(/priority 254\n/);
    expect(data['ctl-2.conf']).toMatch(/priority 128\n/);
    expect(data['ctl-3.conf']).toMatch(/priority 2\n/);
    expect(data['ctl-2.conf']).toContain('unicast_src_ip 10.0.0.12');
    expect(data['ctl-2.conf']).toContain('10.0.0.11 min_ttl 255 max_ttl 255\n    10.0.0.13 min_ttl 255 max_ttl 255');
    expect(data['ctl-1.conf']).toContain('10.0.0.10/24 dev bond0');
    expect(data['ctl-1.conf']).toContain('virtual_router_id 51');
    expect(data['ctl-1.conf']).toContain('advert_int 0.2');
  });

  test('probes check that the VRRP process is alive; a PDB lets one node go at a time', () => {
    expect(container.readinessProbe.exec.command.join(' ')).toContain('kill -0 "$(cat /run/keepalived/vrrp.pid)"');
    expect(container.livenessProbe.exec.command).toEqual(container.readinessProbe.exec.command);
    // A DaemonSet has no scale subresource: an integer minAvailable (nodes - 1), never maxUnavailable.
    expect(find(objects, 'PodDisruptionBudget', 'vip').spec).toEqual({ minAvailable: 2, selector: expect.anything() });
  });

  test('outputs', () => {
    expect(vip.address).toBe('10.0.0.10');
    expect(vip.nodeNames).toEqual(['ctl-1', 'ctl-2', 'ctl-3']);
    expect(vip.nodeAddresses).toEqual(['10.0.0.11', '10.0.0.12', '10.0.0.13']);
  });

  test('manifests are valid and meet the invariants; snapshot', () => {
    expectValidManifests(objects);
    expect(objects).toMatchSnapshot();
  });
});

describe('VipTrack', () => {
  const conf = (track: VipTrack) => find(build({ track }).objects, 'ConfigMap', 'vip-config').data['ctl-1.conf'];

  test('tcp: a bash connect to the local port; http: curl of the local URL; timing options', () => {
    expect(conf(VipTrack.tcp(3306))).toContain(`script "/bin/bash -c '</dev/tcp/127.0.0.1/3306'"`);
    const http = conf(VipTrack.http(8404, '/healthz', { intervalSeconds: 2, fall: 3, rise: 4 }));
    expect(http).toContain('http://127.0.0.1:8404/healthz');
    expect(http).toMatch(/interval 2\n\s+timeout 1\n\s+rise 4\n\s+fall 3\n\s+init_fail/);
  });

  test('a VIP with no track fails at synth with the fix', () => {
    const chart = newChart('openstack');
    new KeepalivedVip(chart, 'vip', vipProps({ track: undefined }));
    expect(() => synth(chart)).toThrow(/track: \(not set\) .*give this VIP to a HaproxyLoadBalancer as `vip`/);
  });

  test('the config hash follows the rendered files, but not the node lists (keepalived reloads those live)', () => {
    const hash = (overrides: Partial<KeepalivedVipProps>) => find(build(overrides).objects, 'DaemonSet', 'vip').spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION];
    expect(hash({ track: VipTrack.tcp(5000) })).toBe(hash({ track: VipTrack.tcp(5000) }));
    expect(hash({ track: VipTrack.tcp(5000) })).not.toBe(hash({ track: VipTrack.tcp(5001) }));
    expect(hash({ advertIntervalSeconds: 0.5 })).not.toBe(hash({}));
    expect(hash({ virtualRouterId: 52 })).not.toBe(hash({}));
    // A node replaced (new name and address), one added, one removed: the same hash.
    const replaced = [NODES[0], NODES[1], { name: 'ctl-9', ip: '10.0.0.19' }];
    expect(hash({ placement: Placement.onNodes(replaced) })).toBe(hash({}));
    expect(hash({ placement: Placement.onNodes([...NODES, { name: 'ctl-9', ip: '10.0.0.19' }]) })).toBe(hash({}));
  });

  test('placed by a node label, the pod template names no node: a replaced or added node rolls no pod, only the ConfigMap changes', () => {
    const byLabel = (nodes: typeof NODES) => build({ placement: Placement.onLabelledNodes('openstack-ha.cdk8s.io/edge', 'true', { nodes }) }).objects;
    const [before, after] = [byLabel(NODES), byLabel([NODES[0], NODES[1], { name: 'ctl-9', ip: '10.0.0.19' }])];
    const template = (o: any[]) => find(o, 'DaemonSet', 'vip').spec.template;
    expect(template(after)).toEqual(template(before));
    expect(JSON.stringify(template(after))).not.toMatch(/ctl-|10\.0\.0\.1[1-9]/);
    expect(template(after).spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      { matchExpressions: [{ key: 'openstack-ha.cdk8s.io/edge', operator: 'In', values: ['true'] }] }]);
    const files = (o: any[]) => find(o, 'ConfigMap', 'vip-config').data;
    expect(Object.keys(files(after))).toEqual(['ctl-1.conf', 'ctl-2.conf', 'ctl-9.conf']);
    expect(files(after)['ctl-1.conf']).toContain('    10.0.0.19 min_ttl 255 max_ttl 255');
  });
});

describe('KeepalivedVip validation', () => {
  test('every problem at once: address, prefix, interface, router id, advert interval, track', () => {
    const message = errorOf(() => build({
      address: '10.0.0.300', prefixLength: 33, interface: 'a-very-long-interface0', virtualRouterId: 256,
      advertIntervalSeconds: 41, track: VipTrack.http(0, '/bad path'),
    }));
    expect(message).toMatch(/^KeepalivedVip 'vip' has invalid props:/);
    for (const prop of ['address: "10.0.0.300"', 'interface: "a-very-long-interface0"', 'virtualRouterId: 256',
      'advertIntervalSeconds: 41', 'track.port: 0', 'track.path: "/bad path"']) {
      expect(message).toContain(prop);
    }
    expect(errorOf(() => build({ prefixLength: 33 }))).toContain('prefixLength: 33 must be an integer 1..32');
  });

  test('a VIP equal to a node address, or outside the nodes\' subnet', () => {
    expect(errorOf(() => build({ address: '10.0.0.12' }))).toContain('address: "10.0.0.12" is node "ctl-2"\'s own address');
    const outside = errorOf(() => build({ address: '10.0.1.10', prefixLength: 24 }));
    expect(outside).toContain('placement nodes[0].address: "10.0.0.11" is outside the interface subnet 10.0.1.10/24');
    // Without a prefix length the subnet is unknown and not checked.
    expect(() => build({ address: '10.0.1.10', prefixLength: undefined })).not.toThrow();
  });

  test('the inventory must be known and have two nodes', () => {
    expect(errorOf(() => build({ placement: Placement.onLabelledNodes('role', 'lb') }))).toContain('gives no node addresses');
    expect(errorOf(() => build({ placement: Placement.onNodes([NODES[0]]) }))).toContain('must list at least 2 nodes');
  });

  test('a virtual router id used twice on one interface of the same nodes is refused, in any chart of the app', () => {
    const chart = newChart('openstack');
    new KeepalivedVip(chart, 'api', vipProps());
    const other = new Chart(chart.node.scope!, 'other', { namespace: 'infra' });
    const message = errorOf(() => new KeepalivedVip(other, 'db', vipProps({ address: '10.0.0.20' })));
    expect(message).toContain('vips["db"].virtualRouterId: 51 is also used by VIP "api" on bond0 of node "ctl-1"');
    // Another id, or another interface, is fine.
    expect(() => new KeepalivedVip(other, 'db2', vipProps({ address: '10.0.0.21', virtualRouterId: 52 }))).not.toThrow();
    expect(() => new KeepalivedVip(other, 'db3', vipProps({ address: '10.0.5.21', prefixLength: undefined, interface: 'bond1' }))).not.toThrow();
  });
});

describe('KeepalivedVip.exposeService', () => {
  const selector = { 'app.kubernetes.io/name': 'proxysql', 'app.kubernetes.io/instance': 'proxysql' };

  test('a Service with the VIP as external IP, and a NetworkPolicy admitting the VIP nodes (kube-proxy masquerades to them)', () => {
    const chart = newChart('openstack');
    const vip = new KeepalivedVip(chart, 'vip', vipProps());
    vip.exposeService({ name: 'proxysql-vip', podSelector: selector, ports: [{ name: 'rw', port: 3306 }, { name: 'ro', port: 3307 }], allowedSourceCidrs: ['192.0.2.0/24'] });
    const objects = synth(chart);
    const service = find(objects, 'Service', 'proxysql-vip');
    expect(service.spec).toMatchObject({ type: 'ClusterIP', externalIPs: ['10.0.0.10'], selector });
    expect(service.spec.ports.map((p: any) => [p.name, p.port, p.targetPort])).toEqual([['rw', 3306, 3306], ['ro', 3307, 3307]]);
    const policy = find(objects, 'NetworkPolicy', 'proxysql-vip');
    expect(policy.spec.podSelector.matchLabels).toEqual(selector);
    expect(policy.spec.ingress[0].from).toEqual(['10.0.0.11/32', '10.0.0.12/32', '10.0.0.13/32', '192.0.2.0/24'].map((cidr) => ({ ipBlock: { cidr } })));
    expect(policy.spec.ingress[0].ports.map((p: any) => p.port)).toEqual([3306, 3307]);
  });

  test('every problem at once, including a port already served on the VIP', () => {
    const chart = newChart('openstack');
    const vip = new KeepalivedVip(chart, 'vip', vipProps());
    vip.claimPorts('HaproxyLoadBalancer \'lb\'', [3306]);
    const message = errorOf(() => vip.exposeService({ name: 'Bad_Name', podSelector: {}, ports: [{ name: 'rw', port: 3306 }, { name: 'rw', port: 70000 }], allowedSourceCidrs: ['nope'] }));
    for (const part of ['name: "Bad_Name"', 'podSelector: {}', 'ports[0].port: 3306 is already served on this VIP by HaproxyLoadBalancer \'lb\'',
      'ports[1].port: 70000', 'ports[].name: "rw" is used twice', 'allowedSourceCidrs[0]: "nope"']) {
      expect(message).toContain(part);
    }
  });
});
