/** KeepalivedVip with hostile and out-of-range values in every prop: each is refused, naming the prop, the value and a fix. */
import { KeepalivedVip, KeepalivedVipProps, Placement, VipTrack } from '../lib';
import { HOSTILE_NUMBERS, HOSTILE_STRINGS, cases, errorOf, expectNamedProblem } from './support/hostile';
import { newChart } from './support/harness';
import { NODES } from './support/fixtures';

const PROPS: KeepalivedVipProps = {
  address: '10.0.0.10', prefixLength: 24, interface: 'bond0', placement: Placement.onNodes(NODES), virtualRouterId: 51, track: VipTrack.tcp(5000),
};
const vip = (props: Partial<KeepalivedVipProps>) => () => new KeepalivedVip(newChart('openstack'), 'vip', { ...PROPS, ...props });
const withNode = (node: Partial<{ name: string; ip: string }>) => vip({ placement: Placement.onNodes([{ ...NODES[0], ...node }, ...NODES.slice(1)]) });
const notHalf = HOSTILE_NUMBERS.filter((x) => x !== 0.5);

const CASES = [
  ...cases('address', [...HOSTILE_STRINGS, '0.0.0.0', '127.0.0.1', '224.0.0.18', '255.255.255.255', '169.254.0.5', '10.0.0.0', '10.0.0.255'],
    (address) => vip({ address })),
  ...cases('prefixLength', [...HOSTILE_NUMBERS, 33], (prefixLength) => vip({ prefixLength })),
  ...cases('interface', HOSTILE_STRINGS.filter((x) => x !== 'UPPER'), (iface) => vip({ interface: iface })),
  ...cases('virtualRouterId', [...HOSTILE_NUMBERS, 256], (virtualRouterId) => vip({ virtualRouterId })),
  ...cases('advertIntervalSeconds', [...notHalf, 41, 0.001], (advertIntervalSeconds) => vip({ advertIntervalSeconds })),
  ...cases('name', HOSTILE_STRINGS, (name) => vip({ name })),
  ...cases('priorityClassName', HOSTILE_STRINGS, (priorityClassName) => vip({ priorityClassName })),
  ...cases('image', HOSTILE_STRINGS, (image) => vip({ image })),
  ...['cpuRequestMillis', 'cpuLimitMillis', 'memoryRequestMiB', 'memoryLimitMiB'].flatMap((field) =>
    cases(`resources.${field}`, HOSTILE_NUMBERS, (value) => vip({ resources: { [field]: value } }))),
  ...cases('track.port', [...HOSTILE_NUMBERS, 65536], (port) => vip({ track: VipTrack.tcp(port) })),
  ...cases('track.path', HOSTILE_STRINGS, (path) => vip({ track: VipTrack.http(8404, path) })),
  ...cases('track.intervalSeconds', [...HOSTILE_NUMBERS, 4295], (intervalSeconds) => vip({ track: VipTrack.tcp(5000, { intervalSeconds }) })),
  ...cases('track.timeoutSeconds', [...HOSTILE_NUMBERS, 2], (timeoutSeconds) => vip({ track: VipTrack.tcp(5000, { timeoutSeconds }) })),
  ...cases('track.rise', [...HOSTILE_NUMBERS, 2 ** 31], (rise) => vip({ track: VipTrack.tcp(5000, { rise }) })),
  ...cases('track.fall', [...HOSTILE_NUMBERS, 2 ** 31], (fall) => vip({ track: VipTrack.tcp(5000, { fall }) })),
  ...cases('placement nodes[0].name', HOSTILE_STRINGS, (name) => withNode({ name })),
  ...cases('placement nodes[0].ip', HOSTILE_STRINGS, (ip) => withNode({ ip })),
];

test.each(CASES)('%s = %p is refused with the prop, the value and a fix', (prop, value, build) => {
  expectNamedProblem(errorOf(build), prop, value);
});

describe('exposeService', () => {
  const expose = (ports: any[], name = 'proxysql-vip') => () => new KeepalivedVip(newChart('openstack'), 'vip', PROPS)
    .exposeService({ name, podSelector: { app: 'proxysql' }, ports });
  test.each([
    ...cases('ports[0].name', [...HOSTILE_STRINGS, 'a-very-long-port-name'], (name) => expose([{ name, port: 3306 }])),
    ...cases('ports[0].port', [...HOSTILE_NUMBERS, 65536], (port) => expose([{ name: 'rw', port }])),
    ...cases('name', HOSTILE_STRINGS, (name) => expose([{ name: 'rw', port: 3306 }], name)),
  ])('%s = %p is refused', (prop, value, build) => {
    expectNamedProblem(errorOf(build), prop, value);
  });
});

test('a duplicate node is named once, with its value', () => {
  const message = errorOf(vip({ placement: Placement.onNodes([NODES[0], NODES[0], NODES[1]]) }));
  expect(message).toContain('placement nodes: "ctl-1" is listed more than once; list each node once');
});
