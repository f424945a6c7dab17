import { App, Chart, Testing } from 'cdk8s';
import { GaleraPetSet, GaleraPetSetProps, GaleraStorage, Placement, ProxySqlLayer, SecretValue, TlsCertificates } from '../lib';
import { k8s } from '../lib/k8s';
import { covers, goDurationSeconds, uncoveredNames } from '../lib/tls/model';
import { errorOf, expectValidManifests, find, K8sObject, newChart, ofKind, schemaProblems, synth } from './support/harness';
import { NODES } from './support/fixtures';
import { providerOptions, section } from './support/my-cnf';

const CREDENTIALS = {
  rootPassword: SecretValue.fromSecret('galera-root', 'password'),
  sstPassword: SecretValue.fromSecret('galera-sst', 'password'),
  monitorPassword: SecretValue.fromSecret('galera-monitor', 'password'),
};
const CERT_MANAGER = TlsCertificates.certManager({ issuer: { name: 'openstack-ca', kind: 'ClusterIssuer' } });
const MEMBER_NAMES = [0, 1, 2].map((i) => `galera-${i}.galera-peers.openstack.svc`);
const SERVICE_NAMES = ['galera', 'galera.openstack', 'galera.openstack.svc'];

function galera(props: Partial<GaleraPetSetProps> = {}, chart: Chart = newChart('openstack')) {
  const db = new GaleraPetSet(chart, 'galera', {
    placement: Placement.onNodes(NODES),
    storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
    credentials: CREDENTIALS,
    ...props,
  });
  return { db, objects: synth(chart) };
}

const sts = (objects: K8sObject[]) => find(objects, 'StatefulSet', 'galera');
const mariadb = (objects: K8sObject[]) => sts(objects).spec.template.spec.containers.find((c: any) => c.name === 'mariadb');
const serverCnf = (objects: K8sObject[]) => find(objects, 'ConfigMap', 'galera-config').data['server.cnf'] as string;

describe('certificate names', () => {
  test('a wildcard covers one label, never an IP; names compare case-insensitively', () => {
    expect(covers('*.galera-peers.openstack.svc', 'galera-0.galera-peers.openstack.svc')).toBe(true);
    expect(covers('*.galera-peers.openstack.svc', 'a.b.galera-peers.openstack.svc')).toBe(false);
    expect(covers('*.galera-peers.openstack.svc', 'galera-peers.openstack.svc')).toBe(false);
    expect(covers('Galera.OpenStack', 'galera.openstack')).toBe(true);
    expect(covers('10.0.0.1', '10.0.0.1')).toBe(true);
    expect(covers('*.0.0.1', '10.0.0.1')).toBe(false);
    expect(uncoveredNames({ component: 'x', dnsNames: ['a.b', 'c.b'], ipAddresses: ['10.0.0.1'] }, ['*.b'])).toEqual(['10.0.0.1']);
  });

  test('Go durations as cert-manager reads them', () => {
    expect(goDurationSeconds('2160h')).toBe(2160 * 3600);
    expect(goDurationSeconds('1h30m')).toBe(5400);
    expect(goDurationSeconds('90d')).toBeUndefined();
    expect(goDurationSeconds('')).toBeUndefined();
  });
});

describe('TlsCertificates.certManager', () => {
  test('one Certificate per component, covering every member and the client Service, in the schema', () => {
    const { db, objects } = galera({ tls: { certificates: CERT_MANAGER } });
    const cert = find(objects, 'Certificate', 'galera-tls');
    expect(cert.apiVersion).toBe('cert-manager.io/v1');
    expect(cert.metadata.namespace).toBe('openstack');
    expect(cert.spec).toEqual({
      secretName: 'galera-tls',
      issuerRef: { name: 'openstack-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
      dnsNames: [...MEMBER_NAMES, ...SERVICE_NAMES],
      duration: '2160h',
      renewBefore: '720h',
      usages: ['server auth', 'client auth', 'digital signature', 'key encipherment'],
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
    });
    expect(db.tlsSecretName).toBe('galera-tls');
    expectValidManifests(objects, { requireNamespace: true });
  });

  test('the schema check rejects a Certificate cert-manager would refuse', () => {
    const broken = { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'x' }, spec: { dnsNames: 'galera' } };
    // Against the pinned CRD's own schema (v1.21.1): every problem, one line each.
    const problems = schemaProblems([broken as any]).join('\n');
    expect(problems).toMatch(/required property 'issuerRef'/);
    expect(problems).toMatch(/required property 'secretName'/);
    expect(problems).toMatch(/dnsNames must be array/);
  });

  test('no private key in the YAML: the pod mounts the Secret read-only, key 0440 for the mysql group, never by subPath', () => {
    const { objects } = galera({ tls: { certificates: CERT_MANAGER } });
    expect(JSON.stringify(objects)).not.toMatch(/PRIVATE KEY/);
    const volume = sts(objects).spec.template.spec.volumes.find((v: any) => v.name === 'tls');
    expect(volume.secret).toEqual({
      secretName: 'galera-tls',
      items: [{ key: 'tls.crt', path: 'tls.crt', mode: 0o444 }, { key: 'tls.key', path: 'tls.key', mode: 0o440 }, { key: 'ca.crt', path: 'ca.crt', mode: 0o444 }],
      defaultMode: 0o444,
    });
    const mount = mariadb(objects).volumeMounts.find((m: any) => m.name === 'tls');
    expect(mount).toEqual({ name: 'tls', mountPath: '/etc/galera-tls', readOnly: true });
    expect(sts(objects).spec.template.spec.securityContext).toMatchObject({ runAsUser: 999, fsGroup: 999 });
  });

  test('every bad option in one error', () => {
    const message = errorOf(() => TlsCertificates.certManager({ issuer: { name: 'Bad_Name', kind: 'cluster-issuer' }, duration: '90d', renewBefore: '2h' }));
    expect(message).toContain('issuer.name: "Bad_Name" must be a DNS-1123 subdomain');
    expect(message).toContain('issuer.kind: "cluster-issuer" must be a Kubernetes kind');
    expect(message).toContain('duration: "90d" must be a duration in hours');
    expect(errorOf(() => TlsCertificates.certManager({ issuer: { name: 'ca' }, duration: '24h', renewBefore: '48h' })))
      .toContain('renewBefore: "48h" must be more than 0 and less than duration (24h)');
    expect(errorOf(() => TlsCertificates.certManager({ issuer: { name: 'ca' }, duration: '30m' }))).toContain('duration: "30m" must be at least 1h');
    expect(errorOf(() => TlsCertificates.certManager(undefined as any))).toContain('issuer: (not set) is required');
  });
});

describe('TlsCertificates.fromSecrets', () => {
  const covering = [...MEMBER_NAMES, ...SERVICE_NAMES];

  test('the user Secret is mounted under the fixed file names, whatever its keys are called; no Certificate', () => {
    const certificates = TlsCertificates.fromSecrets({
      secrets: [{ component: 'galera', secretName: 'db-cert', covers: covering, certificateKey: 'cert.pem', privateKeyKey: 'key.pem', caKey: 'chain.pem' }],
    });
    const { objects } = galera({ tls: { certificates } });
    expect(ofKind(objects, 'Certificate')).toEqual([]);
    const volume = sts(objects).spec.template.spec.volumes.find((v: any) => v.name === 'tls');
    expect(volume.secret.secretName).toBe('db-cert');
    expect(volume.secret.items.map((i: any) => [i.key, i.path])).toEqual([['cert.pem', 'tls.crt'], ['key.pem', 'tls.key'], ['chain.pem', 'ca.crt']]);
    expectValidManifests(objects, { requireNamespace: true });
  });

  test('a wildcard certificate covers the members', () => {
    const certificates = TlsCertificates.fromSecrets({ secrets: [{ component: 'galera', secretName: 'db-cert', covers: ['*.galera-peers.openstack.svc', ...SERVICE_NAMES] }] });
    expect(() => galera({ tls: { certificates } })).not.toThrow();
  });

  test('a name the certificate must cover is missing: the construct names it', () => {
    const certificates = TlsCertificates.fromSecrets({ secrets: [{ component: 'galera', secretName: 'db-cert', covers: [MEMBER_NAMES[0], MEMBER_NAMES[1], 'galera'] }] });
    const message = errorOf(() => galera({ tls: { certificates } }));
    expect(message).toContain(`tls: ["${MEMBER_NAMES[2]}","galera.openstack","galera.openstack.svc"] are names peers or clients of 'galera' connect to that Secret 'db-cert' does not cover`);
  });

  test('no Secret for the component', () => {
    const certificates = TlsCertificates.fromSecrets({ secrets: [{ component: 'rabbitmq', secretName: 'mq-cert', covers: ['rabbitmq'] }] });
    expect(errorOf(() => galera({ tls: { certificates } }))).toContain("tls: \"galera\" has no certificate: add { component: 'galera', secretName, covers } to TlsCertificates.fromSecrets (it lists rabbitmq)");
  });

  test('bad Secrets, all in one error', () => {
    const message = errorOf(() => TlsCertificates.fromSecrets({
      secrets: [
        { component: 'galera', secretName: 'db-cert', covers: [], privateKeyKey: '' },
        { component: 'galera', secretName: 'Bad', covers: ['ok.example', 'not a name'], caKey: 'tls.crt' },
      ],
    }));
    expect(message).toContain('secrets[0].privateKeyKey: "" must be a Secret key');
    expect(message).toContain('secrets[0].covers: [] must list every DNS name and IP');
    expect(message).toContain('secrets[1].secretName: "Bad" must be a Secret name');
    expect(message).toContain('secrets[1].covers[1]: "not a name" must be a DNS name');
    expect(message).toContain('secrets[1]: {"certificateKey":"tls.crt","privateKeyKey":"tls.key","caKey":"tls.crt"} certificateKey, privateKeyKey and caKey must be three different keys');
    expect(message).toContain('secrets: ["galera"] name a component more than once');
    expect(errorOf(() => TlsCertificates.fromSecrets({ secrets: [] }))).toContain('secrets: [] must list at least one Secret');
  });

  test('a Secret the app defines without the key a pod mounts is an error at synth', () => {
    const app = new App({ outdir: '/nonexistent/cdk8s-tests-never-write-here' });
    const chart = new Chart(app, 'db', { namespace: 'openstack' });
    const certificates = TlsCertificates.fromSecrets({ secrets: [{ component: 'galera', secretName: 'db-cert', covers: covering }] });
    galera({ tls: { certificates } }, chart);
    // Only the certificate and the CA: no private key.
    new k8s.KubeSecret(chart, 'Cert', { metadata: { name: 'db-cert' }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': 'x', 'ca.crt': 'y' } });
    expect(errorOf(() => Testing.synth(chart) && app.synth())).toContain('mounts key "tls.key" of Secret db-cert, which has no such key (it has ca.crt, tls.crt)');
  });
});

describe('Galera TLS', () => {
  test('client TLS: certificate files, TLS 1.2+ only; plaintext allowed unless required', () => {
    const plain = section(serverCnf(galera({ tls: { certificates: CERT_MANAGER } }).objects), 'mysqld');
    expect(plain).toMatchObject({ ssl_cert: '/etc/galera-tls/tls.crt', ssl_key: '/etc/galera-tls/tls.key', ssl_ca: '/etc/galera-tls/ca.crt', tls_version: 'TLSv1.2,TLSv1.3' });
    expect(plain.require_secure_transport).toBeUndefined();
    const required = section(serverCnf(galera({ tls: { certificates: CERT_MANAGER, requireSecureTransport: true } }).objects), 'mysqld');
    expect(required.require_secure_transport).toBe('ON');
  });

  test('replication and SST over TLS by default; SST checks the chain (pod IPs cannot be in a certificate)', () => {
    const text = serverCnf(galera({ tls: { certificates: CERT_MANAGER } }).objects);
    expect(providerOptions(text)).toMatchObject({
      'socket.ssl': 'YES', 'socket.ssl_cert': '/etc/galera-tls/tls.crt', 'socket.ssl_key': '/etc/galera-tls/tls.key', 'socket.ssl_ca': '/etc/galera-tls/ca.crt',
    });
    expect(providerOptions(text)['socket.dynamic']).toBeUndefined();
    expect(section(text, 'sst')).toEqual({
      encrypt: '3', 'ssl-mode': 'VERIFY_CA', tca: '/etc/galera-tls/ca.crt', tcert: '/etc/galera-tls/tls.crt', tkey: '/etc/galera-tls/tls.key',
    });
  });

  test('the transition accepts both kinds of peers; replication off means no socket.ssl', () => {
    const transition = serverCnf(galera({ tls: { certificates: CERT_MANAGER, replicationTransition: true, stateTransfer: false } }).objects);
    expect(providerOptions(transition)).toMatchObject({ 'socket.ssl': 'YES', 'socket.dynamic': 'YES' });
    expect(section(transition, 'sst')).toEqual({});
    const off = serverCnf(galera({ tls: { certificates: CERT_MANAGER, replication: false, stateTransfer: false } }).objects);
    expect(Object.keys(providerOptions(off)).filter((k) => k.startsWith('socket.'))).toEqual([]);
    expect(section(off, 'sst')).toEqual({});
    expect(section(off, 'mysqld').ssl_cert).toBe('/etc/galera-tls/tls.crt');
  });

  test('encrypted state transfers cannot be rolled in one member at a time: refused during the transition', () => {
    expect(errorOf(() => galera({ tls: { certificates: CERT_MANAGER, replicationTransition: true } })))
      .toContain('tls.stateTransfer: (not set) must be false during replicationTransition');
  });

  test('the entrypoint is told where the certificate is, so it reloads it on renewal', () => {
    const env = Object.fromEntries(mariadb(galera({ tls: { certificates: CERT_MANAGER } }).objects).env.map((e: any) => [e.name, e.value]));
    expect(env.GALERA_TLS_DIR).toBe('/etc/galera-tls');
    expect(env.GALERA_TLS_REPLICATION).toBe('true');
    const plain = Object.fromEntries(mariadb(galera().objects).env.map((e: any) => [e.name, e.value]));
    expect(plain.GALERA_TLS_DIR).toBeUndefined();
  });

  test('without tls nothing changes: no Certificate, no volume, no ssl option', () => {
    const { objects } = galera();
    expect(ofKind(objects, 'Certificate')).toEqual([]);
    expect(serverCnf(objects)).not.toMatch(/ssl|tls/);
  });

  test('TLS settings are the tls prop\'s: serverConfig may not set them', () => {
    const message = errorOf(() => galera({
      serverConfig: { mysqld: { ssl_cert: '/x.pem', 'require-secure-transport': 'ON' }, galera: { wsrep_provider_options: 'socket.ssl=NO; socket.dynamic=YES' } },
    }));
    expect(message).toContain('ssl_cert');
    expect(message).toContain('require-secure-transport');
    expect(message).toContain('socket.ssl');
    expect(message).toContain('socket.dynamic');
  });

  test('ProxySQL without backend TLS in front of a Galera that requires TLS is refused; with tls it is accepted', () => {
    const chart = newChart('openstack');
    const { db } = galera({ tls: { certificates: CERT_MANAGER, requireSecureTransport: true } }, chart);
    expect(db.requiresSecureTransport).toBe(true);
    const message = errorOf(() => new ProxySqlLayer(chart, 'proxysql', { galera: db, placement: Placement.onNodes(NODES), adminPassword: SecretValue.fromSecret('proxysql-admin', 'password'), allowedClients: [{ podLabels: { application: 'nova' } }] }));
    expect(message).toContain('galera: "galera" requires TLS from every client (its tls.requireSecureTransport), and ProxySQL would connect to it in plaintext: set tls on the ProxySqlLayer');
    expect(() => new ProxySqlLayer(chart, 'proxysql-tls', { galera: db, placement: Placement.onNodes(NODES), adminPassword: SecretValue.fromSecret('proxysql-admin', 'password'), allowedClients: [{ podLabels: { application: 'nova' } }], tls: { certificates: CERT_MANAGER } })).not.toThrow();
    const plain = newChart('openstack');
    const { db: optional } = galera({ tls: { certificates: CERT_MANAGER } }, plain);
    expect(() => new ProxySqlLayer(plain, 'proxysql', { galera: optional, placement: Placement.onNodes(NODES), adminPassword: SecretValue.fromSecret('proxysql-admin', 'password'), allowedClients: [{ podLabels: { application: 'nova' } }] })).not.toThrow();
  });

  test('bad tls props', () => {
    const message = errorOf(() => galera({ tls: { certificates: {} as any, replication: 'yes' as any } }));
    expect(message).toContain('tls.replication: "yes" must be true or false');
    expect(message).toContain('tls.certificates: {} must come from TlsCertificates.certManager');
  });
});
