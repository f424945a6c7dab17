/**
 * OpenStackControlPlane's TLS: the one `tls` prop (every Certificate, every listener, every oslo option and URL),
 * the per-component props as whole overrides, Galera's TLS on the control plane (and ProxySQL's backend TLS to it),
 * the derivation as a pure function, and the cross-part rules, each refused in one error.
 */
import { Chart } from 'cdk8s';
import { BackupDestination, OpenStackControlPlane, OpenStackControlPlaneProps, OpenStackRelease, TlsCertificates } from '../lib';
import { ControlPlaneTlsInput, controlPlaneTlsProblems, resolveControlPlaneTls } from '../lib/control-plane/tls';
import { settingChanges } from '../lib/galera/settings';
import { EXAMPLES } from '../examples';
import { errorOf, expectValidManifests, find, K8sObject, newApp, ofKind, synth, synthApp } from './support/harness';
import { CONTROL_PLANE_PROPS as PROPS } from './support/fixtures';
import { providerOptions, section } from './support/my-cnf';

const certificates = TlsCertificates.certManager({ issuer: { name: 'openstack-ca', kind: 'ClusterIssuer' } });
const other = TlsCertificates.certManager({ issuer: { name: 'other-ca', kind: 'ClusterIssuer' } });
const VIP = PROPS.vip.address;
const CONTROLLER_IPS = PROPS.controllers.map((n) => n.ip);
const MONITORING = { scraper: { podLabels: { 'app.kubernetes.io/name': 'prometheus' } } };

function controlPlane(props: Partial<OpenStackControlPlaneProps> = {}) {
  const chart = new Chart(newApp(), 'cp', { namespace: 'openstack', disableResourceNameHashes: true });
  const cp = new OpenStackControlPlane(chart, 'cp', { ...PROPS, ...props });
  return { cp, objects: synth(chart) };
}

const configMap = (objects: K8sObject[], name: string, key: string) => find(objects, 'ConfigMap', name).data[key] as string;
const serverCnf = (objects: K8sObject[]) => configMap(objects, 'galera-config', 'server.cnf');
const proxySqlCnf = (objects: K8sObject[]) => configMap(objects, 'proxysql-config', 'proxysql.cnf');
const container = (objects: K8sObject[], kind: string, workload: string, name: string) =>
  find(objects, kind, workload).spec.template.spec.containers.find((c: any) => c.name === name);

describe('one tls prop turns every connection to TLS', () => {
  const { cp, objects } = controlPlane({ tls: { certificates }, monitoring: MONITORING });

  test('one Certificate per component, each covering what its clients and peers connect to', () => {
    const names = (name: string) => {
      const spec = find(objects, 'Certificate', name).spec;
      return { dnsNames: spec.dnsNames, ipAddresses: spec.ipAddresses, issuer: spec.issuerRef.name };
    };
    expect(ofKind(objects, 'Certificate').map((c) => c.metadata.name).sort()).toEqual(['api-lb-tls', 'galera-tls', 'memcached-tls', 'proxysql-tls', 'rabbitmq-tls']);
    expect(names('galera-tls')).toEqual({
      dnsNames: [0, 1, 2].map((i) => `galera-${i}.galera-peers.openstack.svc`).concat(['galera', 'galera.openstack', 'galera.openstack.svc']),
      ipAddresses: undefined, issuer: 'openstack-ca',
    });
    // ProxySQL is exposed on the VIP too (proxysql-vip).
    expect(names('proxysql-tls')).toEqual({ dnsNames: ['proxysql', 'proxysql.openstack', 'proxysql.openstack.svc'], ipAddresses: [VIP], issuer: 'openstack-ca' });
    expect(names('memcached-tls')).toEqual({ dnsNames: undefined, ipAddresses: CONTROLLER_IPS, issuer: 'openstack-ca' });
    expect(names('rabbitmq-tls')).toEqual({ dnsNames: PROPS.controllers.map((n) => n.name), ipAddresses: CONTROLLER_IPS, issuer: 'openstack-ca' });
    // The VIP and every edge node HAProxy runs on.
    expect(names('api-lb-tls')).toEqual({ dnsNames: undefined, ipAddresses: [VIP, ...CONTROLLER_IPS], issuer: 'openstack-ca' });
  });

  test('Galera: client TLS with require_secure_transport, replication and IST over TLS, SST encrypted', () => {
    const cnf = serverCnf(objects);
    expect(section(cnf, 'mysqld')).toMatchObject({
      ssl_cert: '/etc/galera-tls/tls.crt', ssl_key: '/etc/galera-tls/tls.key', ssl_ca: '/etc/galera-tls/ca.crt',
      tls_version: 'TLSv1.2,TLSv1.3', require_secure_transport: 'ON',
    });
    expect(providerOptions(cnf)).toMatchObject({ 'socket.ssl': 'YES', 'socket.ssl_ca': '/etc/galera-tls/ca.crt' });
    expect(providerOptions(cnf)).not.toHaveProperty('socket.dynamic');
    expect(section(cnf, 'sst')).toMatchObject({ 'encrypt': '3', 'ssl-mode': 'VERIFY_CA' });
    expect(cp.galera.requiresSecureTransport).toBe(true);
    // The exporter's loopback TCP login is refused in plaintext under require_secure_transport: it speaks TLS.
    expect(container(objects, 'StatefulSet', 'galera', 'mysqld-exporter').args).toContain('--tls.insecure-skip-verify');
  });

  test('ProxySQL: TLS for clients, use_ssl on every user, and TLS to every member verified with the CA', () => {
    const cnf = proxySqlCnf(objects);
    expect(cnf).toContain('have_ssl="true"');
    expect(cnf).toContain('ssl_p2s_ca="/etc/proxysql-tls/ca.crt"');
    const rows = (block: string) => cnf.split(`${block}=\n(`)[1].split('\n)')[0].split('\n').filter((l) => l.includes('{'));
    expect(rows('mysql_servers')).toHaveLength(3);
    expect(rows('mysql_servers').every((l) => l.includes('use_ssl=1'))).toBe(true);
    expect(rows('mysql_users').length).toBeGreaterThan(0);
    expect(rows('mysql_users').every((l) => l.includes('use_ssl=1'))).toBe(true);
    expect(cp.proxySql.requiresSecureTransport).toBe(true);
  });

  test('memcached: TLS only, client certificates required', () => {
    const args: string[] = container(objects, 'DaemonSet', 'memcached', 'memcached').args;
    expect(args).toContain('-Z');
    expect(args.join(' ')).toContain('ssl_verify_mode=2');
    expect(cp.memcached.requiresClientCertificates).toBe(true);
  });

  test('RabbitMQ: AMQPS only, HTTPS management, TLS distribution', () => {
    const conf = configMap(objects, 'rabbitmq-config', 'rabbitmq.conf');
    expect(conf).toContain('listeners.tcp = none');
    expect(conf).toContain('listeners.ssl.1 = @@HOST_IP@@:5671');
    expect(conf).toContain('management.ssl.port = 15671');
    expect(configMap(objects, 'rabbitmq-config', 'inter_node_tls.config')).toContain('verify_peer');
    expect(cp.rabbitmq.requiresClientCertificates).toBe(false);
  });

  test('the API VIP: HTTPS on every API with HSTS, horizon on 443 with 80 redirected (308)', () => {
    const cfg = configMap(objects, 'api-lb-config', 'haproxy.cfg');
    const apis = PROPS.services.filter((s) => s.api).map((s) => s.name);
    for (const api of apis) {
      const block = cfg.split(`listen ${api}\n`)[1].split('\nlisten ')[0];
      expect(block).toMatch(/bind \S+ ssl crt \/etc\/haproxy-tls\/tls\.crt/);
      expect(block).toContain('Strict-Transport-Security "max-age=63072000"');
    }
    const redirect = cfg.split('frontend horizon-redirect\n')[1];
    expect(redirect).toMatch(/^ {2}bind 0\.0\.0\.0:80\n/);
    expect(redirect).toMatch(/http-request redirect location https:\/\/\S+ code 308/);
    expect(Object.values(cp.apiEndpoints).every((url) => url.startsWith(`https://${VIP}:`))).toBe(true);
    expect(cp.apiEndpoints.horizon).toBe(`https://${VIP}:443`);
  });

  test('connection(): every URL and oslo option is TLS, with the CA and the service\'s client certificate', () => {
    const nova = cp.connection('nova');
    expect(nova.caBundlePath).toBe('/etc/openstack-ha-tls/ca.crt');
    expect(nova.clientCertificatePath).toBe('/etc/openstack-ha-tls/tls.crt');
    expect(nova.clientKeyPath).toBe('/etc/openstack-ha-tls/tls.key');
    for (const url of [...Object.values(nova.databaseConnections), ...Object.values(nova.databaseReadOnlyConnections)]) {
      expect(url).toMatch(/^mysql\+pymysql:\/\/nova:@@NOVA_DATABASE_PASSWORD@@@proxysql\.openstack\.svc:330[67]\/\w+\?charset=utf8&ssl_ca=\/etc\/openstack-ha-tls\/ca\.crt$/);
    }
    for (const url of [nova.transportUrl!, nova.notificationsTransportUrl!]) {
      expect(url.match(/@[\d.]+:(\d+)/g)!.map((h) => h.split(':')[1])).toEqual(['5671', '5671', '5671']);
    }
    const ini = nova.osloConfig;
    for (const line of [
      'ssl = true', 'ssl_ca_file = /etc/openstack-ha-tls/ca.crt',
      'backend = dogpile.cache.pymemcache', 'tls_enabled = true', 'tls_cafile = /etc/openstack-ha-tls/ca.crt',
      'tls_certfile = /etc/openstack-ha-tls/tls.crt', 'tls_keyfile = /etc/openstack-ha-tls/tls.key',
      `auth_url = https://${VIP}:5000`, `www_authenticate_uri = https://${VIP}:5000`, 'cafile = /etc/openstack-ha-tls/ca.crt',
      'memcache_tls_enabled = true', 'memcache_tls_cafile = /etc/openstack-ha-tls/ca.crt', 'memcache_tls_certfile = /etc/openstack-ha-tls/tls.crt',
    ]) expect(ini.split('\n')).toContain(line);
    expect(ini).not.toMatch(/:5672|http:\/\//);
  });

  test('every object is schema-valid and meets every API rule and invariant', () => {
    expectValidManifests(objects, { requireNamespace: true });
  });
});

test('the full-tls example: nova mounts the CA and its client certificate where its connection names them', () => {
  const app = newApp();
  EXAMPLES['full-tls'](app);
  const objects = synthApp(app);
  expect(ofKind(objects, 'Certificate').map((c) => c.metadata.name).sort())
    .toEqual(['api-lb-tls', 'galera-tls', 'memcached-tls', 'nova-client-tls', 'proxysql-tls', 'rabbitmq-tls']);
  expect(find(objects, 'Certificate', 'api-lb-tls').spec.dnsNames).toEqual(['api.openstack.example.com']);
  const pod = find(objects, 'Deployment', 'nova-api').spec.template.spec;
  const mounts = pod.containers[0].volumeMounts.map((m: any) => m.mountPath);
  expect(mounts).toContain('/etc/openstack-ha-tls');
  expect(pod.securityContext.fsGroup).toBe(42424);
  const rendered = find(objects, 'ConfigMap', 'nova-ha-config').data;
  expect(JSON.stringify(rendered)).toContain('ssl_ca=/etc/openstack-ha-tls/ca.crt');
  expect(JSON.stringify(rendered)).toContain('https://api.openstack.example.com:5000');
});

describe('per-component props', () => {
  test('a per-component prop replaces what tls gives that component, whole; the others still come from tls', () => {
    const { cp, objects } = controlPlane({
      tls: { certificates, apiHostnames: ['api.example.com'] },
      rabbitmqTls: { certificates: other, verifyClients: true, distribution: false },
      memcachedTls: { certificates },
    });
    expect(find(objects, 'Certificate', 'rabbitmq-tls').spec.issuerRef.name).toBe('other-ca');
    expect(cp.rabbitmq.requiresClientCertificates).toBe(true);
    // Not merged with tls' verifyClients: true.
    expect(cp.memcached.requiresClientCertificates).toBe(false);
    expect(find(objects, 'Certificate', 'api-lb-tls').spec.dnsNames).toEqual(['api.example.com']);
    expect(cp.apiEndpoints.nova).toBe('https://api.example.com:8774');
    expect(cp.galera.requiresSecureTransport).toBe(true);
  });

  test('galeraTls alone: the control plane\'s members have TLS (no ProxySQL TLS, so no ssl_ca in the URLs)', () => {
    const { cp, objects } = controlPlane({ galeraTls: { certificates } });
    expect(cp.galera.tlsSecretName).toBe('galera-tls');
    expect(section(serverCnf(objects), 'mysqld').ssl_ca).toBe('/etc/galera-tls/ca.crt');
    expect(proxySqlCnf(objects)).not.toContain('use_ssl=1');
    expect(cp.connection('nova').databaseConnections.nova).toMatch(/\?charset=utf8$/);
  });

  test('oslo.db URLs carry ssl_ca exactly when ProxySQL\'s front is TLS, whatever Galera has; the backend follows Galera', () => {
    const combinations: Array<[string, Partial<OpenStackControlPlaneProps>, boolean, boolean]> = [
      ['nothing', {}, false, false],
      ['Galera only', { galeraTls: { certificates } }, false, false],
      ['ProxySQL only', { proxySqlTls: { certificates } }, true, false],
      ['both', { galeraTls: { certificates }, proxySqlTls: { certificates } }, true, true],
      ['tls', { tls: { certificates } }, true, true],
    ];
    for (const [what, props, front, backend] of combinations) {
      const { cp, objects } = controlPlane(props);
      const urls = [...Object.values(cp.connection('nova').databaseConnections), ...Object.values(cp.connection('nova').databaseReadOnlyConnections)];
      expect({ what, sslCa: urls.map((u) => u.endsWith('&ssl_ca=/etc/openstack-ha-tls/ca.crt')) }).toEqual({ what, sslCa: urls.map(() => front) });
      expect({ what, backend: proxySqlCnf(objects).includes('ssl_p2s_ca=') }).toEqual({ what, backend });
      expect({ what, caBundlePath: cp.connection('placement').caBundlePath }).toEqual({ what, caBundlePath: front ? '/etc/openstack-ha-tls/ca.crt' : undefined });
    }
  });

  test('tls with requireSecureTransport: false: TLS everywhere, plaintext SQL still accepted (the first apply on a running deployment)', () => {
    const { cp, objects } = controlPlane({ tls: { certificates, requireSecureTransport: false } });
    expect(section(serverCnf(objects), 'mysqld')).not.toHaveProperty('require_secure_transport');
    expect(cp.proxySql.requiresSecureTransport).toBe(false);
    expect(proxySqlCnf(objects)).toContain('ssl_p2s_ca=');
    expect(cp.connection('nova').databaseConnections.nova).toContain('&ssl_ca=');
  });

  test('without tls, the output is what the per-component props alone give (no exporter flag, no Certificate)', () => {
    const { objects } = controlPlane({ monitoring: MONITORING });
    expect(ofKind(objects, 'Certificate')).toEqual([]);
    expect(container(objects, 'StatefulSet', 'galera', 'mysqld-exporter').args).not.toContain('--tls.insecure-skip-verify');
  });
});

describe('Galera TLS on a running control plane: the cluster-wide rules of GaleraPetSet and its plan hold', () => {
  const cnf = (props: Partial<OpenStackControlPlaneProps>) => serverCnf(controlPlane(props).objects);
  const verdict = (from: string, to: string) => settingChanges(from, to).find((c) => c.setting === 'replication TLS');

  test('turning tls on in one apply is the roll the preflight plan refuses (plain -> tls), with the procedure', () => {
    const change = verdict(cnf({}), cnf({ tls: { certificates } }));
    expect(change).toMatchObject({ from: 'plain', to: 'tls', rollingSafe: false, scope: 'cluster-wide' });
    expect(change!.procedure).toMatch(/roll to both first/);
  });

  test('the steps: tls + galeraTls in transition (ProxySQL\'s backend waits), then without it; each a safe roll', () => {
    const rabbitmqTls = { certificates, distribution: false, plaintextAmqp: true };
    const step1 = controlPlane({ tls: { certificates, requireSecureTransport: false }, galeraTls: { certificates, replicationTransition: true, stateTransfer: false }, rabbitmqTls });
    expect(providerOptions(serverCnf(step1.objects))['socket.dynamic']).toBe('YES');
    // Members not yet restarted have no TLS: ProxySQL keeps its backend plaintext for this step (tls' derivation).
    expect(proxySqlCnf(step1.objects)).not.toContain('use_ssl=1');
    expect(step1.cp.connection('nova').databaseConnections.nova).toContain('&ssl_ca=');
    expect(configMap(step1.objects, 'rabbitmq-config', 'rabbitmq.conf')).toMatch(/listeners\.tcp\.1 = \S+:5672/);
    expect(step1.cp.connection('nova').transportUrl).toContain(':5671');
    const step2 = controlPlane({ tls: { certificates, requireSecureTransport: false }, galeraTls: { certificates, stateTransfer: false }, rabbitmqTls });
    expect(proxySqlCnf(step2.objects)).toContain('ssl_p2s_ca=');
    const step3 = cnf({ tls: { certificates } });
    expect(verdict(cnf({}), serverCnf(step1.objects))).toMatchObject({ from: 'plain', to: 'both', rollingSafe: true });
    expect(verdict(serverCnf(step1.objects), serverCnf(step2.objects))).toMatchObject({ from: 'both', to: 'tls', rollingSafe: true });
    // Step 3 adds encrypted SST (applied with every member stopped, README "TLS"); replication TLS does not move,
    // and the plan refuses the SST step as a roll.
    expect(verdict(serverCnf(step2.objects), step3)).toBeUndefined();
    expect(section(step3, 'sst').encrypt).toBe('3');
    expect(settingChanges(serverCnf(step2.objects), step3).find((c) => c.setting === 'state transfer encryption'))
      .toMatchObject({ from: 'plain', to: 'tls', rollingSafe: false });
  });
});

describe('resolveControlPlaneTls (pure)', () => {
  const apis = [{ name: 'keystone' }, { name: 'horizon' }];

  test('nothing given: nothing on, each component from its own prop', () => {
    expect(resolveControlPlaneTls({ apis })).toEqual({
      from: { api: 'apiTls', memcached: 'memcachedTls', rabbitmq: 'rabbitmqTls', proxySql: 'proxySqlTls', galera: 'galeraTls' },
    });
  });

  test('tls alone: the defaults of every component', () => {
    const r = resolveControlPlaneTls({ tls: { certificates, apiHostnames: ['api.example.com'] }, apis });
    expect(r).toEqual({
      from: { api: 'tls', memcached: 'tls', rabbitmq: 'tls', proxySql: 'tls', galera: 'tls' },
      galera: { certificates, requireSecureTransport: true },
      proxySql: { certificates, requireSecureTransport: true, backend: true },
      memcached: { certificates, verifyClients: true },
      rabbitmq: { certificates },
      api: { certificates, hostnames: ['api.example.com'], redirectHttp: true, hsts: true },
    });
  });

  test('the redirect only where an API has a plain port to redirect from; no API: no VIP TLS', () => {
    expect(resolveControlPlaneTls({ tls: { certificates }, apis: [{ name: 'keystone' }] }).api).toEqual({ certificates, redirectHttp: false, hsts: true });
    expect(resolveControlPlaneTls({ tls: { certificates }, apis: [{ name: 'horizon', port: 8080 }] }).api!.redirectHttp).toBe(false);
    expect(resolveControlPlaneTls({ tls: { certificates }, apis: [] })).not.toHaveProperty('api');
  });

  test('a per-component prop wins whole, and is named as the source', () => {
    const galeraTls = { certificates: other, replicationTransition: true, stateTransfer: false };
    const r = resolveControlPlaneTls({ tls: { certificates }, galeraTls, apis });
    expect(r.galera).toBe(galeraTls);
    expect(r.from.galera).toBe('galeraTls');
    expect(r.proxySql).toEqual({ certificates, requireSecureTransport: true, backend: false });
  });
});

describe('refused at construct time, every problem in one error', () => {
  const problems = (input: ControlPlaneTlsInput) => controlPlaneTlsProblems(input, resolveControlPlaneTls(input)).map((p) => p.field);

  test('Galera requiring TLS behind a plaintext ProxySQL, backend TLS without Galera TLS, backend TLS during the transition', () => {
    expect(problems({ apis: [], galeraTls: { certificates, requireSecureTransport: true } })).toEqual(['galeraTls.requireSecureTransport']);
    expect(problems({ apis: [], galeraTls: { certificates, requireSecureTransport: true }, proxySqlTls: { certificates, backend: false } }))
      .toEqual(['galeraTls.requireSecureTransport']);
    expect(problems({ apis: [], proxySqlTls: { certificates, backend: true } })).toEqual(['proxySqlTls.backend']);
    expect(problems({ apis: [], tls: { certificates }, proxySqlTls: { certificates }, galeraTls: { certificates, replicationTransition: true, stateTransfer: false } }))
      .toEqual(['proxySqlTls.backend']);
    // tls' own derivation is consistent.
    expect(problems({ apis: [], tls: { certificates } })).toEqual([]);
    expect(problems({ apis: [], tls: { certificates }, galeraTls: { certificates, replicationTransition: true, stateTransfer: false } })).toEqual([]);
  });

  test('the composite names every problem, with the prop the user wrote', () => {
    const message = errorOf(() => controlPlane({
      tls: { certificates, requireSecureTransport: 'yes' as any },
      proxySqlTls: { certificates, backend: false },
      openStackRelease: OpenStackRelease.V2025_1,
    }));
    expect(message).toContain('tls.requireSecureTransport: "yes" must be true or false');
    expect(message).toContain('tls: "2025.1" needs openStackRelease 2025.2 or later');
    expect(message).toContain('give the other components their per-component TLS props instead of tls');
    expect(errorOf(() => controlPlane({ galeraTls: { certificates, requireSecureTransport: true } })))
      .toContain('galeraTls.requireSecureTransport: true refuses plaintext clients, and ProxySQL would connect to the members in plaintext (no proxySqlTls)');
  });
});

describe('backups with TLS: the member -> job stream follows Galera\'s TLS', () => {
  const BACKUP = { schedule: '0 2 * * *', destination: BackupDestination.volume({ claimName: 'galera-backups' }) };
  const sidecar = (objects: K8sObject[]) => container(objects, 'StatefulSet', 'galera', 'backup');
  const jobVolumes = (objects: K8sObject[]) => find(objects, 'CronJob', 'galera-backup').spec.jobTemplate.spec.template.spec.volumes;

  test('tls (and galeraTls alone) with backup: the sidecars listen with TLS and the job gets its own client certificate from the same issuer', () => {
    for (const props of [{ tls: { certificates } }, { galeraTls: { certificates } }]) {
      const { cp, objects } = controlPlane({ ...props, backup: BACKUP });
      expect(cp.backup!.tls).toBe(true);
      expect(sidecar(objects).command).toEqual(['bash', '/opt/galera-backup/listen.sh']);
      const client = find(objects, 'Certificate', 'galera-backup-client-tls').spec;
      expect(client).toMatchObject({ commonName: 'galera-backup', usages: ['client auth', 'digital signature'], issuerRef: { name: 'openstack-ca' } });
      expect(jobVolumes(objects).find((v: any) => v.name === 'tls').secret.secretName).toBe('galera-backup-client-tls');
      expectValidManifests(objects);
    }
  });

  test('without Galera TLS the stream stays as it was; user Secrets without one for the backup are refused with what to add', () => {
    const { cp, objects } = controlPlane({ backup: BACKUP });
    expect(cp.backup!.tls).toBe(false);
    expect(sidecar(objects).command[0]).toBe('socat');
    const galeraOnly = TlsCertificates.fromSecrets({ secrets: [{ component: 'galera', secretName: 'galera-cert',
      covers: ['*.galera-peers.openstack.svc', 'galera', 'galera.openstack', 'galera.openstack.svc'] }] });
    expect(() => controlPlane({ galeraTls: { certificates: galeraOnly } })).not.toThrow();
    expect(errorOf(() => controlPlane({ galeraTls: { certificates: galeraOnly }, backup: BACKUP })))
      .toContain("tls: \"galera-backup\" has no client certificate: add { component: 'galera-backup', secretName, covers: ['galera-backup'] }");
  });
});
