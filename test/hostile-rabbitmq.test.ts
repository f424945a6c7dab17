/** RabbitDaemonSet with hostile and out-of-range values in every prop: each is refused, naming the prop, the value and a fix. */
import { Placement, RabbitDaemonSet, RabbitDaemonSetProps, RabbitVersion, SecretValue, TlsCertificates } from '../lib';
import { HOSTILE_NUMBERS, HOSTILE_STRINGS, cases, errorOf, expectNamedProblem } from './support/hostile';
import { newChart } from './support/harness';
import { NODES } from './support/fixtures';

const ADMIN = { name: 'admin', administrator: true, password: SecretValue.fromSecret('rabbit', 'admin') };
const rabbit = (props: Partial<RabbitDaemonSetProps>) => () => new RabbitDaemonSet(newChart('openstack'), 'rabbitmq', {
  placement: Placement.onNodes(NODES), version: RabbitVersion.V3_13, erlangCookie: SecretValue.fromSecret('rabbit', 'cookie'), users: [ADMIN], ...props,
});
const user = (u: any) => rabbit({ users: [ADMIN, { password: SecretValue.fromSecret('rabbit', 'nova'), ...u }] });
const policy = (p: any) => rabbit({ additionalPolicies: [{ vhost: 'notifications', name: 'extra', pattern: '^x', definition: { 'message-ttl': 1 }, ...p }] });
const vhostNames = HOSTILE_STRINGS.filter((x) => x !== 'UPPER' && x !== '/');
const CERTIFICATES = TlsCertificates.certManager({ issuer: { name: 'openstack-ca' } });
const tls = (t: any) => rabbit({ tls: { certificates: CERTIFICATES, ...t } });

const CASES = [
  ...cases('name', HOSTILE_STRINGS, (name) => rabbit({ name })),
  ...cases('clusterName', HOSTILE_STRINGS.filter((x) => x !== 'UPPER'), (clusterName) => rabbit({ clusterName })),
  ...cases('dataPath', [...HOSTILE_STRINGS, '/', '/etc', '/etc/rabbitmq', '/var', '/var/lib', '/var/lib/kubelet/x', '/var/log/rabbitmq', '/usr/local/rabbit',
    '/tmp/rabbit', '/data', '/var/lib/rabbitmq/', '/var/lib//rabbitmq', '/var/lib/rabbitmq/../kubelet', '/var/lib/./rabbitmq', '/root/rabbit', '/home/x'],
  (dataPath) => rabbit({ dataPath })),
  ...cases('image', HOSTILE_STRINGS, (image) => rabbit({ image })),
  ...cases('drainTimeoutSeconds', [...HOSTILE_NUMBERS, 9, 3601], (drainTimeoutSeconds) => rabbit({ drainTimeoutSeconds })),
  ...cases('notificationsVhost', vhostNames, (notificationsVhost) => rabbit({ notificationsVhost })),
  ...cases('rpcVhost', vhostNames, (rpcVhost) => rabbit({ rpcVhost })),
  ...['amqpPort', 'managementPort', 'prometheusPort', 'distributionPort'].flatMap((prop) =>
    cases(prop, [...HOSTILE_NUMBERS, 65536, 4369, 35672], (port) => rabbit({ [prop]: port }))),
  ...cases('managementPort', [5672], (managementPort) => rabbit({ managementPort })),
  ...['diskFreeLimitBytes', 'notificationsMaxLength'].flatMap((prop) => cases(prop, HOSTILE_NUMBERS, (value) => rabbit({ [prop]: value }))),
  ...['rpcMessageTtlSeconds', 'rpcQueueExpirySeconds', 'transientQueueExpirySeconds'].flatMap((prop) =>
    cases(prop, [...HOSTILE_NUMBERS, 4_294_968], (value) => rabbit({ [prop]: value }))),
  ...['cpuRequestMillis', 'cpuLimitMillis', 'memoryRequestMiB', 'memoryLimitMiB'].flatMap((field) =>
    cases(`resources.${field}`, HOSTILE_NUMBERS, (value) => rabbit({ resources: { [field]: value } }))),
  ...cases('resources.memoryLimitMiB', [128, 255], (memoryLimitMiB) => rabbit({ resources: { memoryRequestMiB: 64, memoryLimitMiB } })),
  ...cases('users[1].name', [...HOSTILE_STRINGS.filter((x) => x !== 'UPPER'), 'guest', 'GUEST'], (name) => user({ name })),
  ...cases('users[1].vhosts', ['other', 'a;b'], (vh) => user({ name: 'nova', vhosts: [vh] })),
  ...cases('additionalPolicies[0].name', [...HOSTILE_STRINGS.filter((x) => x !== 'UPPER'), 'rpc-hygiene'], (name) => policy({ name })),
  ...cases('additionalPolicies[0].vhost', ['other', 'a;b', ''], (vhost) => policy({ vhost })),
  ...cases('additionalPolicies[0].pattern', ['', '(', '[a'], (pattern) => policy({ pattern })),
  ...cases('additionalPolicies[0].priority', [...HOSTILE_NUMBERS.filter((x) => x !== 0), 256], (priority) => policy({ priority })),
  ...cases('additionalPolicies[0].applyTo', ['exchange', 'a;b', ''], (applyTo) => policy({ applyTo })),
  ...cases('additionalPolicies[0].definition.ha-mode', ['all'], (mode) => policy({ priority: 10, definition: { 'ha-mode': mode } })),
  ...cases('additionalPolicies[0].definition.max-length', [1], (len) => policy({ priority: 20, definition: { 'max-length': len } })),
  ...cases('additionalPolicies[0].definition.ha-mode', ['exactly'], (mode) => policy({ vhost: '/', definition: { 'ha-mode': mode } })),
  ...cases('tls.amqpsPort', [...HOSTILE_NUMBERS, 65536, 4369, 35672, 5672, 15692, 25672], (amqpsPort) => tls({ amqpsPort })),
  ...cases('tls.managementPort', [...HOSTILE_NUMBERS, 4369, 5671, 15672], (managementPort) => tls({ managementPort })),
  ...['plaintextAmqp', 'distribution', 'verifyClients'].flatMap((f) => cases(`tls.${f}`, ['yes', 1, ...HOSTILE_STRINGS.slice(0, 3)], (value) => tls({ [f]: value }))),
  ...cases('tls.certificates', [undefined, 'secret', {}, ...HOSTILE_STRINGS], (certificates) => tls({ certificates })),
  ...cases('tls', [null, 'on'], (value) => rabbit({ tls: value as any })),
  ...cases('placement nodes[0].name', HOSTILE_STRINGS, (name) => rabbit({ placement: Placement.onNodes([{ ...NODES[0], name }, ...NODES.slice(1)]) })),
];

test.each(CASES)('%s = %p is refused with the prop, the value and a fix', (prop, value, build) => {
  expectNamedProblem(errorOf(build), prop, value);
});

test('an inline password or cookie is never echoed', () => {
  const message = errorOf(rabbit({ erlangCookie: 'hunter2-cookie' as any, users: [{ ...ADMIN, password: 'hunter2-password' as any }] }));
  expect(message).toContain('erlangCookie: "(a string)" must be a Secret reference');
  expect(message).not.toContain('hunter2');
});

test('a policy over notification queues that outranks the generated one keeps replication and the cap', () => {
  const chart = newChart('openstack');
  new RabbitDaemonSet(chart, 'rabbitmq', {
    placement: Placement.onNodes(NODES), version: RabbitVersion.V3_13, erlangCookie: SecretValue.fromSecret('rabbit', 'cookie'), users: [ADMIN],
    additionalPolicies: [{ vhost: 'notifications', name: 'audit-ttl', pattern: '^audit\\.', priority: 20, definition: { 'message-ttl': 60000 } }],
  });
  const template = chart.toJson().find((o: any) => o.kind === 'ConfigMap' && o.metadata.name === 'rabbitmq-config');
  const definitions = JSON.parse(template.data['definitions.json']);
  expect(definitions.policies.find((p: any) => p.name === 'audit-ttl').definition).toMatchObject({
    'ha-mode': 'exactly', 'ha-params': 2, 'max-length': 100000, 'message-ttl': 60000, 'overflow': 'drop-head',
  });
});
