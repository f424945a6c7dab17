/** MemcachedPool with hostile and out-of-range values in every prop: each is refused, naming the prop, the value and a fix. */
import { MemcachedNetwork, MemcachedPool, MemcachedPoolProps, Placement, TlsCertificates } from '../lib';
import { HOSTILE_NUMBERS, HOSTILE_STRINGS, cases, errorOf, expectNamedProblem } from './support/hostile';
import { newApp, newChart } from './support/harness';
import { Chart } from 'cdk8s';
import { NODES } from './support/fixtures';

const pool = (props: Partial<MemcachedPoolProps>) => () => new MemcachedPool(newChart('openstack'), 'mc', { placement: Placement.onNodes(NODES), ...props });
const podNetwork = (client: any) => pool({ network: MemcachedNetwork.podNetwork({ allowedClients: [client] }) });

const certificates = TlsCertificates.certManager({ issuer: { name: 'ca' } });
const withTls = (props: Partial<MemcachedPoolProps>) => pool({ tls: { certificates }, ...props });

const CASES = [
  ...cases('reloaderImage', HOSTILE_STRINGS, (reloaderImage) => withTls({ reloaderImage })),
  ...cases('tls.verifyClients', [...HOSTILE_STRINGS, 0, 1, null], (verifyClients) => withTls({ tls: { certificates, verifyClients } })),
  ...cases('tls.certificates', [...HOSTILE_STRINGS, {}, null, 42], (c) => withTls({ tls: { certificates: c } })),
  ...cases('tls', ['', 'on', 1, null], (tls) => pool({ tls })),
  ...cases('name', HOSTILE_STRINGS, (name) => pool({ name })),
  ...cases('warmRestart', [...HOSTILE_STRINGS, 0, 1, null], (warmRestart) => pool({ warmRestart })),
  ...cases('warmRestartPath', [...HOSTILE_STRINGS, 7, null, '/', '/dev', '/dev/shm', '/dev/shm/', '/dev/shm//x', '/dev/shm/x/..', '/dev/shm/./x', '/dev/shm/$(id)',
    '/dev/shm/a b', '/dev/shm/a;b', '/dev/shm/`id`', '/dev/shm/a\nb', `/dev/shm/${'x'.repeat(1100)}`, '/dev/x', '/run/memcached', '/proc/x', '/etc/memcached',
    '/var/lib/kubelet/x', '/tmp/mc', '/mc'], (warmRestartPath) => pool({ warmRestartPath })),
  ...cases('port', [...HOSTILE_NUMBERS, 65536], (port) => pool({ port })),
  ...cases('maxConnections', [...HOSTILE_NUMBERS, 15, 1_000_001], (maxConnections) => pool({ maxConnections })),
  ...cases('replicas', HOSTILE_NUMBERS.filter((x) => x !== 2 ** 53 + 2), (replicas) => pool({ replicas, network: MemcachedNetwork.podNetwork({ allowedClients: [{ podLabels: { a: 'b' } }] }) })),
  ...cases('image', HOSTILE_STRINGS, (image) => pool({ image })),
  ...['cpuRequestMillis', 'cpuLimitMillis', 'memoryRequestMiB', 'memoryLimitMiB'].flatMap((field) =>
    cases(`resources.${field}`, HOSTILE_NUMBERS, (value) => pool({ resources: { [field]: value } }))),
  ...cases('resources.memoryLimitMiB', [64, 100], (memoryLimitMiB) => pool({ resources: { memoryRequestMiB: 64, memoryLimitMiB } })),
  ...cases('placement nodes[0].name', HOSTILE_STRINGS, (name) => pool({ placement: Placement.onNodes([{ ...NODES[0], name }, ...NODES.slice(1)]) })),
  ...cases('placement nodes[0].ip', HOSTILE_STRINGS, (ip) => pool({ placement: Placement.onNodes([{ ...NODES[0], ip }, ...NODES.slice(1)]) })),
  ...cases('placement label key', HOSTILE_STRINGS.filter((x) => x !== 'UPPER'), (key) => pool({ placement: Placement.onLabelledNodes(key, 'x', { nodes: NODES }) })),
  ...cases('placement label value', HOSTILE_STRINGS.filter((x) => !['', 'UPPER'].includes(x)), (value) => pool({ placement: Placement.onLabelledNodes('role', value, { nodes: NODES }) })),
  ...cases('network.allowedClients[0].podLabels key', HOSTILE_STRINGS.filter((x) => x !== 'UPPER'), (key) => podNetwork({ podLabels: { [key]: 'x' } })),
  ...cases('network.allowedClients[0].podLabels["app"]', HOSTILE_STRINGS.filter((x) => !['', 'UPPER'].includes(x)), (value) => podNetwork({ podLabels: { app: value } })),
  ...cases('network.allowedClients[0].namespaceLabels["ns"]', HOSTILE_STRINGS.filter((x) => !['', 'UPPER'].includes(x)), (value) => podNetwork({ podLabels: { app: 'x' }, namespaceLabels: { ns: value } })),
  ...cases('network.allowedClients[0].nodeAddresses[0]', HOSTILE_STRINGS, (address) => podNetwork({ podLabels: { app: 'x' }, nodeAddresses: [address] })),
];

test.each(CASES)('%s = %p is refused with the prop, the value and a fix', (prop, value, build) => {
  expectNamedProblem(errorOf(build), prop, value);
});

const files = { caFile: '/etc/tls/ca.crt', certificateFile: '/etc/tls/tls.crt', keyFile: '/etc/tls/tls.key' };
const verifyingPool = () => new MemcachedPool(newChart('openstack'), 'mc', { placement: Placement.onNodes(NODES), tls: { certificates, verifyClients: true } });
const CLIENT_CASES = (['caFile', 'certificateFile', 'keyFile'] as const).flatMap((field) =>
  cases(`clientTls.${field}`, [...HOSTILE_STRINGS, 'relative', '/a/../b', '/trailing/', 7], (value) => () => verifyingPool().osloCacheOptions({ ...files, [field]: value })));

test.each(CLIENT_CASES)('osloCacheOptions %s = %p is refused with the option, the value and a fix (it goes into the INI verbatim)', (prop, value, build) => {
  expectNamedProblem(errorOf(build), prop, value);
});

describe('across the app, at synth', () => {
  test('two pools on 11211 of the same nodes, in two charts: one error naming both', () => {
    const app = newApp();
    new MemcachedPool(new Chart(app, 'a', { namespace: 'one' }), 'mc', { placement: Placement.onNodes(NODES) });
    new MemcachedPool(new Chart(app, 'b', { namespace: 'two' }), 'mc', { placement: Placement.onNodes(NODES) });
    const errors = app.node.validate();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('port 11211/TCP on node ctl-1 is listened on by a/mc/Resource (DaemonSet mc) and by b/mc/Resource (DaemonSet mc)');
  });

  test('two pools of one name in one namespace: the objects collide', () => {
    const app = newApp();
    new MemcachedPool(new Chart(app, 'a', { namespace: 'one' }), 'mc', { placement: Placement.onNodes(NODES) });
    new MemcachedPool(new Chart(app, 'b', { namespace: 'one' }), 'mc', { placement: Placement.onNodes(NODES.slice(0, 2)), port: 11212 });
    expect(app.node.validate().join('\n')).toMatch(/DaemonSet one\/mc is emitted by a\/mc\/Resource and by b\/mc\/Resource with different content/);
  });

  test('pools on different ports or nodes do not collide', () => {
    const app = newApp();
    new MemcachedPool(new Chart(app, 'a', { namespace: 'one' }), 'mc', { placement: Placement.onNodes(NODES) });
    new MemcachedPool(new Chart(app, 'b', { namespace: 'two' }), 'mc', { placement: Placement.onNodes(NODES), port: 11212 });
    expect(app.node.validate()).toEqual([]);
  });
});
