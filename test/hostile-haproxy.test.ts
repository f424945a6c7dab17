/** HaproxyLoadBalancer with hostile and out-of-range values in every prop: each is refused, naming the prop, the value and a fix. */
import { HaproxyLoadBalancer, HaproxyLoadBalancerProps, LoadBalancedBackendOptions, LoadBalancedService, Placement, TlsCertificates } from '../lib';
import { MAX_TIMEOUT_SECONDS } from '../lib/haproxy/validation';
import { HOSTILE_NUMBERS, HOSTILE_STRINGS, cases, errorOf, expectNamedProblem } from './support/hostile';
import { newChart } from './support/harness';
import { NODES } from './support/fixtures';

const KEYSTONE = { servers: [{ address: 'keystone-api.openstack.svc' }] };
const lb = (props: Partial<HaproxyLoadBalancerProps>) => () => new HaproxyLoadBalancer(newChart('openstack'), 'lb', {
  placement: Placement.onNodes(NODES), services: [LoadBalancedService.openStackApi('keystone', KEYSTONE)], ...props,
});
const api = (options: Partial<Parameters<typeof LoadBalancedService.openStackApi>[1]>) =>
  lb({ services: [LoadBalancedService.openStackApi('keystone', { ...KEYSTONE, ...options })] });
const tcp = (name: string, port: number, options: LoadBalancedBackendOptions = { servers: [{ address: '10.1.0.5' }] }) =>
  lb({ services: [LoadBalancedService.tcp(name, port, options)] });
const certificates = TlsCertificates.certManager({ issuer: { name: 'openstack-ca' } });
// A valid HAProxy name may be upper case; a DNS name may not.
const notHaproxyNames = HOSTILE_STRINGS.filter((x) => x !== 'UPPER' && x !== 'x'.repeat(300));

const CASES = [
  ...cases('name', HOSTILE_STRINGS, (name) => lb({ name })),
  ...cases('services[0].name', notHaproxyNames, (name) => tcp(name, 5000)),
  ...cases('services[0].name', ['stats', 'galera', 'k8s'], (name) => tcp(name, 5000)),
  ...cases('services[0].name', ['keystonee', 'UPPER'], (name) => lb({ services: [LoadBalancedService.openStackApi(name, KEYSTONE)] })),
  ...cases('services[0].port', [...HOSTILE_NUMBERS, 65536], (port) => api({ port })),
  ...cases('services[0].checkPath', HOSTILE_STRINGS, (checkPath) => api({ checkPath })),
  ...cases('services[0].servers[0].address', HOSTILE_STRINGS, (address) => api({ servers: [{ address }] })),
  ...cases('services[0].servers[0].port', [...HOSTILE_NUMBERS, 65536], (port) => api({ servers: [{ address: '10.1.0.5', port }] })),
  ...cases('services[0].servers[0].name', notHaproxyNames, (name) => api({ servers: [{ address: '10.1.0.5', name }] })),
  ...cases('services[0].discoverFrom', HOSTILE_STRINGS, (discoverFrom) => api({ servers: [], discoverFrom })),
  ...cases('services[0].discoveryPort', [...HOSTILE_NUMBERS, 65536], (discoveryPort) => api({ discoverFrom: 'keystone.openstack.svc', discoveryPort })),
  ...cases('services[0].discoverySlots', [...HOSTILE_NUMBERS, 257], (discoverySlots) => api({ discoverFrom: 'keystone.openstack.svc', discoverySlots })),
  ...cases('services[0].timeoutSeconds', [...HOSTILE_NUMBERS, MAX_TIMEOUT_SECONDS + 1], (timeoutSeconds) => api({ timeoutSeconds })),
  ...cases('statsPort', [...HOSTILE_NUMBERS, 65536, 5000], (statsPort) => lb({ statsPort })),
  ...cases('maxConnections', [...HOSTILE_NUMBERS, 250_001], (maxConnections) => lb({ maxConnections })),
  ...cases('clusterDomain', HOSTILE_STRINGS, (clusterDomain) => lb({ clusterDomain })),
  ...cases('drainSeconds', [-1, 0.5, NaN, Infinity, 301], (drainSeconds) => lb({ drainSeconds })),
  ...cases('image', HOSTILE_STRINGS, (image) => lb({ image })),
  ...cases('reloaderImage', HOSTILE_STRINGS, (reloaderImage) => lb({ reloaderImage })),
  ...['cpuRequestMillis', 'cpuLimitMillis', 'memoryRequestMiB', 'memoryLimitMiB'].flatMap((field) =>
    cases(`resources.${field}`, HOSTILE_NUMBERS, (value) => lb({ resources: { [field]: value } }))),
  ...cases('tls.hostnames[0]', HOSTILE_STRINGS, (hostname) => lb({ tls: { certificates, hostnames: [hostname] } })),
  ...cases('tls.hstsMaxAgeSeconds', [...HOSTILE_NUMBERS, 315_360_001], (hstsMaxAgeSeconds) => lb({ tls: { certificates, hstsMaxAgeSeconds } })),
  ...cases('services[0].httpRedirectPort', [...HOSTILE_NUMBERS, 65536], (httpRedirectPort) =>
    lb({ services: [LoadBalancedService.openStackApi('keystone', { ...KEYSTONE, httpRedirectPort })], tls: { certificates, redirectHttp: true } })),
  ...cases('placement nodes[0].name', HOSTILE_STRINGS, (name) => lb({ placement: Placement.onNodes([{ ...NODES[0], name }, ...NODES.slice(1)]) })),
];

test.each(CASES)('%s = %p is refused with the prop, the value and a fix', (prop, value, build) => {
  expectNamedProblem(errorOf(build), prop, value);
});

test('two services on one port: the second is named, with the first as the other place to change', () => {
  const message = errorOf(lb({ services: [LoadBalancedService.openStackApi('keystone', KEYSTONE), LoadBalancedService.tcp('x', 5000, { servers: [{ address: '10.1.0.5' }] })] }));
  expect(message).toContain('- services[1].port: 5000 is also the port of services[0].port; HAProxy listens on each port once');
});
