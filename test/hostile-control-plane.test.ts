/** OpenStackControlPlane with hostile and out-of-range values in its own props: each is refused at construct time, naming the prop, the value and a fix. */
import { Chart } from 'cdk8s';
import { DatabaseAccount, GaleraStorage, MessagingAccount, OpenStackControlPlane, OpenStackControlPlaneProps, SecretValue } from '../lib';
import { CONTROL_PLANE_SECRETS, SERVICES } from '../examples/openstack-control-plane';
import { TlsCertificates } from '../lib/tls/tls-certificates';
import { HOSTILE_STRINGS, cases, errorOf, expectNamedProblem } from './support/hostile';
import { newApp } from './support/harness';
import { NODES as CONTROLLERS } from './support/fixtures';

const PROPS: OpenStackControlPlaneProps = {
  controllers: CONTROLLERS, vip: { address: '10.0.0.10', interface: 'bond0' },
  galeraStorage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }), secrets: CONTROL_PLANE_SECRETS, services: SERVICES,
};
const cp = (props: Partial<OpenStackControlPlaneProps>) => () =>
  new OpenStackControlPlane(new Chart(newApp(), 'cp', { namespace: 'openstack' }), 'cp', { ...PROPS, ...props });
const service = (s: any) => cp({ services: [{ name: 'heat', databases: [], ...s }] });
const without = (key: keyof typeof CONTROL_PLANE_SECRETS) => {
  const secrets: any = { ...CONTROL_PLANE_SECRETS };
  delete secrets[key];
  return cp({ secrets });
};

const CASES = [
  ...cases('vip.address', [...HOSTILE_STRINGS, '10.0.0.11', '10.0.0.0', '10.0.0.255', '127.0.0.1', '0.0.0.0'], (address) => cp({ vip: { address, interface: 'bond0' } })),
  ...cases('vip.nodeLabel.key', [...HOSTILE_STRINGS.filter((x) => x !== 'UPPER'), 'a/b/c', `${'x'.repeat(64)}`, null],
    (key) => cp({ vip: { address: '10.0.0.10', interface: 'bond0', nodeLabel: { key, value: 'true' } } })),
  ...cases('vip.nodeLabel.value', [...HOSTILE_STRINGS.filter((x) => !['', 'UPPER'].includes(x)), `${'x'.repeat(64)}`, '-true'],
    (value) => cp({ vip: { address: '10.0.0.10', interface: 'bond0', nodeLabel: { key: 'openstack-ha.cdk8s.io/edge', value } } })),
  ...cases('memcachedWarmRestart', [...HOSTILE_STRINGS, 0, 1, null], (memcachedWarmRestart) => cp({ memcachedWarmRestart })),
  ...Object.keys(CONTROL_PLANE_SECRETS).map((key) => [`secrets.${key}`, undefined, without(key as any)] as [string, unknown, () => unknown]),
  ...cases('services[0].name', ['admin', 'guest', 'root', 'monitor', 'mariabackup'], (name) => service({ name })),
  ...cases('services[0].podLabels key', HOSTILE_STRINGS.filter((x) => x !== 'UPPER'), (key) => service({ podLabels: { [key]: 'x' } })),
  ...cases('services[0].podLabels["application"]', HOSTILE_STRINGS.filter((x) => !['', 'UPPER'].includes(x)), (value) => service({ podLabels: { application: value } })),
  ...cases('services[0].api.serviceName', [...HOSTILE_STRINGS, 'heat-api.other', 'heat-api.other.svc', '9heat'], (serviceName) => service({ api: { serviceName } })),
  ...cases('services[0].messagingPassword', ['inline-password'], (messagingPassword) => service({ messagingPassword })),
  // The alternate RabbitMQ account (rotation without a failed login).
  ...cases('services[0].messagingAlternatePassword', ['inline-password'], (messagingAlternatePassword) => service({ messagingPassword: SecretValue.fromSecret('heat-rabbitmq', 'password'), messagingAlternatePassword })),
  ...cases('services[0].messagingAccount', [...HOSTILE_STRINGS, 'ALTERNATE', 2], (messagingAccount) => service({ messagingPassword: SecretValue.fromSecret('heat-rabbitmq', 'password'), messagingAccount })),
  ...cases('services[0].messagingAccount', [MessagingAccount.ALTERNATE], (messagingAccount) => service({ messagingPassword: SecretValue.fromSecret('heat-rabbitmq', 'password'), messagingAccount })),
  // The alternate database account (ProxySQL has one password per user).
  ...cases('services[0].databaseAlternatePassword', ['inline-password'], (databaseAlternatePassword) => service({ databases: ['heat'], databasePassword: SecretValue.fromSecret('heat-db', 'password'), databaseAlternatePassword })),
  ...cases('services[0].databaseAccount', [...HOSTILE_STRINGS, 'ALTERNATE', 2], (databaseAccount) => service({ databases: ['heat'], databasePassword: SecretValue.fromSecret('heat-db', 'password'), databaseAccount })),
  ...cases('services[0].databaseAccount', [DatabaseAccount.ALTERNATE], (databaseAccount) => service({ databases: ['heat'], databasePassword: SecretValue.fromSecret('heat-db', 'password'), databaseAccount })),
];

test.each(CASES)('%s = %p is refused with the prop, the value and a fix', (prop, value, build) => {
  const message = errorOf(build);
  // An inline secret is described by its type, never echoed.
  expectNamedProblem(message, prop, prop.endsWith('Password') && typeof value === 'string' ? '(a string)' : value);
  expect(message).not.toContain('inline-password');
});

test('an alternate RabbitMQ account needs the primary one, and a name no other service has', () => {
  const alternate = SecretValue.fromSecret('heat-rabbitmq-b', 'password');
  expectNamedProblem(errorOf(service({ messagingAlternatePassword: alternate })), 'services[0].messagingAlternatePassword', 'heat-rabbitmq-b/password');
  expect(errorOf(cp({
    services: [
      { name: 'heat', databases: [], messagingPassword: SecretValue.fromSecret('heat-rabbitmq', 'password'), messagingAlternatePassword: alternate },
      { name: 'heat-b', databases: [], messagingPassword: SecretValue.fromSecret('heat-b-rabbitmq', 'password') },
    ],
  }))).toContain('services[0].messagingAlternatePassword: "heat-rabbitmq-b/password" would create the account heat-b, which is services[1]\'s own messaging account');
});

test('an alternate database account needs the service\'s own (a password and databases), and a name no other service\'s database account has', () => {
  const alternate = SecretValue.fromSecret('heat-db-b', 'password');
  // No databases: no database account to alternate with.
  expectNamedProblem(errorOf(service({ databaseAlternatePassword: alternate })), 'services[0].databaseAlternatePassword', 'heat-db-b/password');
  expect(errorOf(service({ databaseAlternatePassword: alternate }))).toContain('heat has no database account to alternate with');
  expect(errorOf(cp({
    services: [
      { name: 'heat', databasePassword: SecretValue.fromSecret('heat-db', 'password'), databaseAlternatePassword: alternate },
      { name: 'heat-b', databasePassword: SecretValue.fromSecret('heat-b-db', 'password') },
    ],
  }))).toContain('services[0].databaseAlternatePassword: "heat-db-b/password" would create the account heat-b, which is services[1]\'s own database account');
  // A service named heat-b without a database of its own does not collide.
  expect(() => cp({
    services: [
      { name: 'heat', databasePassword: SecretValue.fromSecret('heat-db', 'password'), databaseAlternatePassword: alternate, api: { serviceName: 'heat-api' } },
      { name: 'heat-b', databases: [], messagingPassword: SecretValue.fromSecret('heat-b-rabbitmq', 'password') },
    ],
  })()).not.toThrow();
});

test('the service name is a label value when podLabels are not given: a name Kubernetes refuses is named', () => {
  expect(errorOf(service({ name: 'heat;x' }))).toContain('services[0].name (the default podLabels {"application": name})["application"]: "heat;x" is not a valid label value');
});

const certificates = TlsCertificates.certManager({ issuer: { name: 'openstack-ca' } });

const TLS_CASES = [
  // The one TLS prop: its shape, and the rules across parts it and the per-component props must keep.
  ...cases('tls', [null, 'tls', 1, [certificates]], (tls) => cp({ tls })),
  ...cases('tls.certificates', [undefined, null, ...HOSTILE_STRINGS, { issuer: { name: 'openstack-ca' } }], (c) => cp({ tls: { certificates: c } })),
  ...cases('tls.requireSecureTransport', ['yes', 1, null], (r) => cp({ tls: { certificates, requireSecureTransport: r } })),
  ...cases('tls.apiHostnames', ['api.example.com', {}], (h) => cp({ tls: { certificates, apiHostnames: h } })),
  ...cases('tls.apiHostnames[0]', [...HOSTILE_STRINGS, 1, '10.0.0.10:443', 'https://api.example.com'], (h) => cp({ tls: { certificates, apiHostnames: [h] } })),
  ...cases('tls.apiHostnames', ['api.example.com'], (h) => cp({ tls: { certificates, apiHostnames: [h, h] } })),
  ...cases('galeraTls.requireSecureTransport', [true], (r) => cp({ galeraTls: { certificates, requireSecureTransport: r } })),
  ...cases('galeraTls.requireSecureTransport', [true], (r) => cp({ galeraTls: { certificates, requireSecureTransport: r }, proxySqlTls: { certificates, backend: false } })),
  ...cases('proxySqlTls.backend', [true], (backend) => cp({ proxySqlTls: { certificates, backend } })),
  ...cases('proxySqlTls.backend', [undefined], (backend) => cp({ tls: { certificates }, proxySqlTls: { certificates, backend }, galeraTls: { certificates, replicationTransition: true, stateTransfer: false } })),
];

test.each(TLS_CASES)('%s = %p is refused with the prop, the value and a fix', (prop, value, build) => {
  expectNamedProblem(errorOf(build), prop, value);
});
