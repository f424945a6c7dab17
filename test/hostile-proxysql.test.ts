/**
 * ProxySqlLayer with hostile and out-of-range values in every prop: each is refused, naming the prop as written,
 * the value as given and a fix. Users come from the GaleraPetSet: a name ProxySQL cannot take is named after the
 * GaleraPetSet user it came from (`galera.users[i].name`).
 */
import { DatabaseUser, GaleraPetSet, GaleraStorage, Placement, ProxySqlLayer, ProxySqlLayerProps, SecretValue, TlsCertificates } from '../lib';
import { HOSTILE_NUMBERS, HOSTILE_STRINGS, cases, errorOf, expectNamedProblem } from './support/hostile';
import { newChart } from './support/harness';
import { NODES } from './support/fixtures';

const secret = (name: string) => SecretValue.fromSecret(name, 'password');
const NOVA: DatabaseUser = { name: 'nova', password: secret('nova-db'), databases: ['nova'] };
const layer = (props: Partial<ProxySqlLayerProps>, users: DatabaseUser[] = [NOVA], monitorUser?: string, galeraTls?: object) => () => {
  const chart = newChart('openstack');
  const galera = new GaleraPetSet(chart, 'galera', {
    placement: Placement.onNodes(NODES), storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }), users,
    credentials: { rootPassword: secret('root'), sstPassword: secret('sst'), monitorPassword: secret('monitor'), monitorUser },
    ...(galeraTls ? { tls: galeraTls as any } : {}),
  });
  return new ProxySqlLayer(chart, 'proxysql', {
    galera, placement: Placement.onNodes(NODES), adminPassword: secret('admin'), allowedClients: [{ podLabels: { application: 'nova' } }], ...props,
  });
};
const certificates = TlsCertificates.certManager({ issuer: { name: 'ca', kind: 'ClusterIssuer' } });
const PORT_VALUES = [...HOSTILE_NUMBERS, 80, 1023, 65536, 2 ** 31];
const HOSTGROUP_VALUES = [-1, 0.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 53 + 2];

const CASES = [
  ...cases('name', HOSTILE_STRINGS, (name) => layer({ name })),
  ...cases('replicas', [...HOSTILE_NUMBERS, 101], (replicas) => layer({ replicas })),
  ...['readWritePort', 'readOnlyPort', 'adminPort'].flatMap((prop) => cases(prop, PORT_VALUES, (port) => layer({ [prop]: port }))),
  ...cases('adminPort, readWritePort, readOnlyPort', [[3306, 3306, 3307]], () => layer({ adminPort: 3306 })),
  ...cases('adminUser', [...HOSTILE_STRINGS.filter((x) => x !== 'UPPER' && x !== '../..'), 'a:b', 'a%', 'stats', 'monitor'], (adminUser) => layer({ adminUser })),
  ...['writer', 'backupWriter', 'reader', 'offline'].flatMap((field) =>
    cases(`hostgroups.${field}`, HOSTGROUP_VALUES, (id) => layer({ hostgroups: { [field]: id } }))),
  ...cases('hostgroups.reader', [0], (reader) => layer({ hostgroups: { reader } })),
  ...cases('hostgroups', [{ writer: 10, backupWriter: 10, reader: 30, offline: 9999 }], (hostgroups) => layer({ hostgroups })),
  ...cases('writerOrdinal', [...HOSTILE_NUMBERS.filter((x) => x !== 0), 3], (writerOrdinal) => layer({ writerOrdinal })),
  ...cases('readerFallbackToWriter', ['yes', 1, 'false'], (readerFallbackToWriter) => layer({ readerFallbackToWriter })),
  ...cases('metricsExporter', ['yes', 1, 'false'], (metricsExporter) => layer({ metricsExporter })),
  ...cases('serverVersion', [...HOSTILE_STRINGS, '11.4', '11.4.7-MariaDB"', `11.4.7-${'x'.repeat(60)}`, '11.4.7 MariaDB'], (serverVersion) => layer({ serverVersion })),
  ...cases('maxClientConnections', [...HOSTILE_NUMBERS, 1_000_001], (maxClientConnections) => layer({ maxClientConnections })),
  ...cases('maxConnectionsPerBackend', [...HOSTILE_NUMBERS, 1_000_001], (maxConnectionsPerBackend) => layer({ maxConnectionsPerBackend })),
  ...cases('drainSeconds', [...HOSTILE_NUMBERS.filter((x) => x !== 0), 601], (drainSeconds) => layer({ drainSeconds })),
  ...['cpuRequestMillis', 'cpuLimitMillis', 'memoryRequestMiB', 'memoryLimitMiB'].flatMap((field) =>
    cases(`resources.${field}`, HOSTILE_NUMBERS, (value) => layer({ resources: { [field]: value } }))),
  ...cases('image', HOSTILE_STRINGS, (image) => layer({ image })),
  ...cases('adminImage', HOSTILE_STRINGS, (adminImage) => layer({ adminImage })),
  ...cases('allowedClients', [[]], (allowedClients) => layer({ allowedClients })),
  ...cases('allowedClients[0].podLabels key', HOSTILE_STRINGS.filter((x) => x !== 'UPPER'), (key) => layer({ allowedClients: [{ podLabels: { [key]: 'x' } }] })),
  ...cases('placement nodes[0].name', HOSTILE_STRINGS, (name) => layer({ placement: Placement.onNodes([{ ...NODES[0], name }, ...NODES.slice(1)]) })),
  // Frontend users: the admin-interface accounts, and names Galera takes but ProxySQL cannot (65-80 characters).
  ...cases('galera.users[1].name', ['admin', 'stats', 'x'.repeat(65)], (name) => layer({}, [NOVA, { ...NOVA, name }])),
  ...cases('galera.users[1].name', ['ops'], (name) => layer({ adminUser: name }, [NOVA, { ...NOVA, name }])),
  ...cases('adminUser', ['proxymon'], (adminUser) => layer({ adminUser }, [NOVA], 'proxymon')),
  // TLS: shapes, a backend the members cannot serve, names a certificate cannot hold, a Secret that misses a name.
  ...cases('tls', ['yes', 1], (tls) => layer({ tls })),
  ...cases('tls.certificates', [{}, 'cert-manager'], (c) => layer({ tls: { certificates: c } })),
  ...cases('tls.requireSecureTransport', ['yes', 1], (r) => layer({ tls: { certificates, requireSecureTransport: r } })),
  ...cases('tls.backend', ['yes', 1], (b) => layer({ tls: { certificates, backend: b } })),
  ...cases('tls.backend', [true], (b) => layer({ tls: { certificates, backend: b } })),
  ...cases('tls.additionalNames', ['10.0.0.10'], (n) => layer({ tls: { certificates, additionalNames: n } })),
  ...cases('tls.additionalNames[0]', [...HOSTILE_STRINGS.filter((x) => x !== 'UPPER'), 'a b', '-x.example.com'], (n) => layer({ tls: { certificates, additionalNames: [n] } })),
  ...cases('tls', [['proxysql.openstack.svc', '10.0.0.10']], () => layer({
    tls: { certificates: TlsCertificates.fromSecrets({ secrets: [{ component: 'proxysql', secretName: 'proxysql-cert', covers: ['proxysql', 'proxysql.openstack'] }] }), additionalNames: ['10.0.0.10'] },
  })),
  ...cases('galera', ['galera'], () => layer({}, [NOVA], undefined, { certificates, requireSecureTransport: true })),
  ...cases('galera', ['galera'], () => layer({ tls: { certificates, backend: false } }, [NOVA], undefined, { certificates, requireSecureTransport: true })),
  // An account that requires TLS (REQUIRE SSL) needs TLS both ways through the layer.
  ...cases('galera', ['galera'], () => layer({}, [{ ...NOVA, requireTls: true }], undefined, { certificates })),
  ...cases('galera', ['galera'], () => layer({ tls: { certificates, backend: false } }, [{ ...NOVA, requireTls: true }], undefined, { certificates })),
];

test.each(CASES)('%s = %p is refused with the prop, the value and a fix', (prop, value, build) => {
  expectNamedProblem(errorOf(build), prop, value);
});

test('a GaleraPetSet user ProxySQL cannot take is named after its place in galera.users', () => {
  const message = errorOf(layer({}, [NOVA, { ...NOVA, name: 'glance', host: '10.0.0.%' }, { ...NOVA, name: 'stats' }]));
  expect(message).toContain('- galera.users[2].name: "stats" is also the ProxySQL admin (admin), stats or monitor (monitor) account');
});
