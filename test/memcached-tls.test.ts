/**
 * memcached TLS (MemcachedPool `tls`) and the client outputs that carry it: the rendered flags, the certificate and its
 * names, the mounts and modes, the reloader sidecar and the exporter, the oslo.cache / keystonemiddleware options and
 * OpenStackControlPlane's `memcachedTls` and `connection()` options, and the refusals.
 */
import { MemcachedNetwork, MemcachedPool, MemcachedPoolProps, OpenStackControlPlane, OpenStackRelease, Placement, TlsCertificates } from '../lib';
import { TLS12_CIPHERS } from '../lib/tls/model';
import { CONTROL_PLANE_PROPS, NODES } from './support/fixtures';
import { errorOf, expectValidManifests, find, newChart, synth } from './support/harness';
import { HOSTILE_STRINGS, cases, expectNamedProblem } from './support/hostile';

const CERT_MANAGER = TlsCertificates.certManager({ issuer: { name: 'openstack-ca', kind: 'ClusterIssuer' } });

function build(overrides: Partial<MemcachedPoolProps> = {}) {
  const chart = newChart('openstack');
  const pool = new MemcachedPool(chart, 'mc', { placement: Placement.onNodes(NODES), tls: { certificates: CERT_MANAGER }, ...overrides });
  const objects = synth(chart);
  const workload = objects.find((o) => (o.kind === 'DaemonSet' || o.kind === 'StatefulSet') && o.metadata.name === 'mc')!;
  return { pool, objects, spec: workload.spec.template.spec, annotations: workload.spec.template.metadata.annotations };
}
const container = (spec: any, name: string) => spec.containers.find((c: any) => c.name === name);
const env = (c: any) => Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

describe('memcached flags', () => {
  test('TLS only, TLS 1.2 minimum, ECDHE AEAD ciphers, the mounted files; no client verification by default', () => {
    const args: string[] = container(build().spec, 'memcached').args;
    expect(args.slice(-3)).toEqual(['-Z', '-o',
      `ssl_chain_cert=/etc/memcached-tls/tls.crt,ssl_key=/etc/memcached-tls/tls.key,ssl_min_version=2,ssl_ciphers=${TLS12_CIPHERS}`]);
    expect(TLS12_CIPHERS).not.toContain(',');
  });

  test('verifyClients: the CA and ssl_verify_mode=2 (a certificate is required)', () => {
    const args: string[] = container(build({ tls: { certificates: CERT_MANAGER, verifyClients: true } }).spec, 'memcached').args;
    expect(args[args.length - 1]).toMatch(/,ssl_ca_cert=\/etc\/memcached-tls\/ca\.crt,ssl_verify_mode=2$/);
  });

  test('without tls nothing changes: no -Z, no volume, no sidecar, no Certificate, the same config hash input', () => {
    const chart = newChart('openstack');
    new MemcachedPool(chart, 'mc', { placement: Placement.onNodes(NODES) });
    const objects = synth(chart);
    const spec = find(objects, 'DaemonSet', 'mc').spec.template.spec;
    expect(spec.containers.map((c: any) => c.name)).toEqual(['memcached']);
    // The warm-restart directory only (memcached-warm-restart.test.ts): no certificate volume.
    expect(spec.volumes.map((v: any) => v.name)).toEqual(['warm-restart']);
    expect(spec.containers[0].args).not.toContain('-Z');
    expect(objects.filter((o) => o.kind === 'Certificate' || o.kind === 'ConfigMap')).toEqual([]);
  });
});

describe('the certificate', () => {
  test('host network: one Certificate covering every node address clients list', () => {
    const { pool, objects } = build();
    const certificate = find(objects, 'Certificate', 'mc-tls');
    expect(certificate.spec.ipAddresses).toEqual(NODES.map((n) => n.ip));
    expect(certificate.spec.dnsNames).toBeUndefined();
    expect(pool.tlsSecretName).toBe('mc-tls');
    expect(pool.servers).toEqual(NODES.map((n) => `${n.ip}:11211`));
    expectValidManifests(objects);
  });

  test('pod network: the pods\' DNS names through the headless Service (pod IPs change)', () => {
    const { objects } = build({ network: MemcachedNetwork.podNetwork({ allowedClients: [{ podLabels: { application: 'nova' } }] }) });
    expect(find(objects, 'Certificate', 'mc-tls').spec.dnsNames).toEqual([0, 1, 2].map((i) => `mc-${i}.mc.openstack.svc`));
    expectValidManifests(objects);
  });

  test('user Secrets: a certificate that misses a node address is refused, naming it', () => {
    const certificates = TlsCertificates.fromSecrets({ secrets: [{ component: 'mc', secretName: 'mc-cert', covers: ['10.0.0.11', '10.0.0.12'] }] });
    expect(errorOf(() => build({ tls: { certificates } }))).toMatch(/10\.0\.0\.13.*does not cover/);
  });
});

describe('the pod', () => {
  test('the Secret is mounted read-only, whole (never subPath), key 0440 for the memcache group, in memcached and the reloader', () => {
    const { spec } = build();
    const volume = spec.volumes.find((v: any) => v.name === 'tls');
    expect(volume.secret).toEqual({
      secretName: 'mc-tls', defaultMode: 0o444,
      items: [{ key: 'tls.crt', path: 'tls.crt', mode: 0o444 }, { key: 'tls.key', path: 'tls.key', mode: 0o440 }, { key: 'ca.crt', path: 'ca.crt', mode: 0o444 }],
    });
    for (const name of ['memcached', 'cert-reloader']) {
      expect(container(spec, name).volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/memcached-tls', readOnly: true });
      expect(container(spec, name).volumeMounts.some((m: any) => m.subPath)).toBe(false);
    }
    expect(spec.securityContext).toMatchObject({ runAsUser: 11211, fsGroup: 11211, runAsNonRoot: true });
  });

  test('the reloader: the shipped script, the synthesized address and files, no capability, a heartbeat probe', () => {
    const { spec, objects } = build({ tls: { certificates: CERT_MANAGER, verifyClients: true } });
    const reloader = container(spec, 'cert-reloader');
    expect(reloader.command).toEqual(['node', '/opt/memcached-reloader/cert-reloader.js']);
    expect(env(reloader)).toMatchObject({
      MEMCACHED_HOST: '$(HOST_IP)', MEMCACHED_PORT: '11211', MEMCACHED_SERVER_NAME: '$(HOST_IP)', TLS_CERT: '/etc/memcached-tls/tls.crt',
      TLS_KEY: '/etc/memcached-tls/tls.key', TLS_CA: '/etc/memcached-tls/ca.crt', TLS_CLIENT_CERTIFICATE: 'true', RELOADER_INTERVAL_MS: '5000',
    });
    expect(reloader.securityContext.capabilities).toEqual({ drop: ['ALL'] });
    expect(reloader.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(reloader.livenessProbe.exec.command[0]).toBe('node');
    expect(find(objects, 'ConfigMap', 'mc-cert-reloader').data['cert-reloader.js']).toMatch(/refresh_certs/);
  });

  test('pod network: the reloader and the exporter verify the pod\'s DNS name, not its IP', () => {
    const { spec } = build({ network: MemcachedNetwork.podNetwork({ allowedClients: [{ podLabels: { application: 'nova' } }] }), metricsExporter: true });
    expect(env(container(spec, 'cert-reloader')).MEMCACHED_SERVER_NAME).toBe('$(POD_NAME).mc.openstack.svc');
    expect(env(container(spec, 'cert-reloader')).POD_NAME).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(container(spec, 'memcached-exporter').args).toContain('--memcached.tls.server-name=$(POD_NAME).mc.openstack.svc');
  });

  test('the exporter speaks TLS, verifies the server, presents the pool\'s certificate only when memcached requires one', () => {
    const open = container(build({ metricsExporter: true }).spec, 'memcached-exporter');
    expect(open.args).toEqual(['--memcached.address=$(HOST_IP):11211', '--web.listen-address=$(HOST_IP):9150', '--memcached.tls.enable',
      '--memcached.tls.ca-file=/etc/memcached-tls/ca.crt', '--memcached.tls.server-name=$(HOST_IP)']);
    expect(open.volumeMounts).toEqual([{ name: 'tls', mountPath: '/etc/memcached-tls', readOnly: true }]);
    const verifying = container(build({ metricsExporter: true, tls: { certificates: CERT_MANAGER, verifyClients: true } }).spec, 'memcached-exporter');
    expect(verifying.args).toEqual(expect.arrayContaining(['--memcached.tls.cert-file=/etc/memcached-tls/tls.crt', '--memcached.tls.key-file=/etc/memcached-tls/tls.key']));
  });

  test('a changed reloader script or image rolls the pods (config hash)', () => {
    const a = build().annotations;
    const b = build({ reloaderImage: 'docker.io/library/node:22-alpine' }).annotations;
    expect(a).not.toEqual(b);
  });
});

describe('client outputs', () => {
  test('without TLS, oslo.cache and keystonemiddleware options are what they were', () => {
    const chart = newChart('openstack');
    const pool = new MemcachedPool(chart, 'mc', { placement: Placement.onNodes(NODES) });
    const servers = NODES.map((n) => `${n.ip}:11211`).join(',');
    expect(pool.osloCacheOptions()).toEqual({ enabled: 'true', backend: 'oslo_cache.memcache_pool', memcache_servers: servers });
    expect(pool.keystoneAuthtokenOptions()).toEqual({ memcached_servers: servers });
  });

  test('with TLS: the pymemcache backend and tls_*; keystonemiddleware\'s memcache_tls_*; client files with verifyClients', () => {
    const { pool } = build({ tls: { certificates: CERT_MANAGER, verifyClients: true } });
    const files = { caFile: '/etc/ca/ca.crt', certificateFile: '/etc/c/tls.crt', keyFile: '/etc/c/tls.key' };
    expect(pool.osloCacheOptions(files)).toEqual({
      enabled: 'true', backend: 'dogpile.cache.pymemcache', memcache_servers: pool.memcacheServers, tls_enabled: 'true',
      tls_cafile: '/etc/ca/ca.crt', tls_certfile: '/etc/c/tls.crt', tls_keyfile: '/etc/c/tls.key',
    });
    expect(pool.keystoneAuthtokenOptions(files)).toEqual({
      memcached_servers: pool.memcacheServers, memcache_tls_enabled: 'true', memcache_tls_cafile: '/etc/ca/ca.crt',
      memcache_tls_certfile: '/etc/c/tls.crt', memcache_tls_keyfile: '/etc/c/tls.key',
    });
  });

  test('a TLS pool refuses to render options without the CA, and without a client certificate when it verifies clients', () => {
    expect(errorOf(() => build().pool.osloCacheOptions())).toMatch(/clientTls: \(not set\) is required: the pool speaks TLS only/);
    const verifying = build({ tls: { certificates: CERT_MANAGER, verifyClients: true } }).pool;
    const message = errorOf(() => verifying.keystoneAuthtokenOptions({ caFile: '/ca.crt', keyFile: '/k.key' }));
    expect(message).toMatch(/clientTls.keyFile: "\/k.key" and certificateFile go together/);
    expect(message).toMatch(/clientTls.certificateFile: \(not set\) is required: the memcached pool verifies clients/);
  });
});

describe('OpenStackControlPlane memcachedTls and connection() options', () => {
  const SECTION = (config: string, name: string) => config.split(/\n(?=\[)/).find((s) => s.startsWith(`[${name}]`)) ?? '';

  test('memcachedTls: the pool has TLS, [cache] and [keystone_authtoken] carry it with the CA path given (or the default)', () => {
    const chart = newChart('openstack');
    const cp = new OpenStackControlPlane(chart, 'cp', { ...CONTROL_PLANE_PROPS, memcachedTls: { certificates: CERT_MANAGER } });
    const defaults = cp.connection('nova');
    expect(defaults.caBundlePath).toBe('/etc/openstack-ha-tls/ca.crt');
    expect(SECTION(defaults.osloConfig, 'cache')).toContain('backend = dogpile.cache.pymemcache\n');
    expect(SECTION(defaults.osloConfig, 'cache')).toContain('tls_cafile = /etc/openstack-ha-tls/ca.crt');
    expect(SECTION(defaults.osloConfig, 'cache')).not.toContain('tls_certfile');
    const given = cp.connection('nova', { caBundlePath: '/etc/pki/ca.pem' });
    expect(SECTION(given.osloConfig, 'keystone_authtoken')).toContain('memcache_tls_enabled = true\nmemcache_tls_cafile = /etc/pki/ca.pem');
    expect(SECTION(given.osloConfig, 'keystone_authtoken')).not.toContain('\ncafile');
    const objects = synth(chart);
    expect(find(objects, 'Certificate', 'memcached-tls').spec.ipAddresses).toEqual(CONTROL_PLANE_PROPS.controllers.map((n) => n.ip));
    expectValidManifests(objects);
  });

  test('verifyClients: the client certificate paths (defaults or given) in both sections', () => {
    const cp = new OpenStackControlPlane(newChart('openstack'), 'cp', { ...CONTROL_PLANE_PROPS, memcachedTls: { certificates: CERT_MANAGER, verifyClients: true } });
    const config = cp.connection('nova', { clientCertificatePath: '/etc/nova/tls/tls.crt' }).osloConfig;
    expect(SECTION(config, 'cache')).toContain('tls_certfile = /etc/nova/tls/tls.crt\ntls_keyfile = /etc/openstack-ha-tls/tls.key');
    expect(SECTION(config, 'keystone_authtoken')).toContain('memcache_tls_certfile = /etc/nova/tls/tls.crt\nmemcache_tls_keyfile = /etc/openstack-ha-tls/tls.key');
  });

  test('apiTls: keystonemiddleware verifies the https keystone URL with the CA bundle', () => {
    const cp = new OpenStackControlPlane(newChart('openstack'), 'cp', { ...CONTROL_PLANE_PROPS, apiTls: { certificates: CERT_MANAGER } });
    const connection = cp.connection('nova', { caBundlePath: '/etc/pki/ca.pem' });
    expect(SECTION(connection.osloConfig, 'keystone_authtoken')).toMatch(/auth_url = https:\/\/[^\n]+\ncafile = \/etc\/pki\/ca.pem\n/);
    expect(SECTION(connection.osloConfig, 'cache')).not.toContain('tls');
    expect(connection.caBundlePath).toBe('/etc/pki/ca.pem');
  });

  test('without TLS: no CA path, no tls option anywhere, and the options are ignored', () => {
    const cp = new OpenStackControlPlane(newChart('openstack'), 'cp', CONTROL_PLANE_PROPS);
    const connection = cp.connection('nova', { caBundlePath: '/etc/pki/ca.pem' });
    expect(connection.caBundlePath).toBeUndefined();
    expect(connection.osloConfig).not.toMatch(/tls|cafile/);
    expect(connection.osloConfig).toBe(cp.connection('nova').osloConfig);
  });

  test('a release line whose keystonemiddleware has no memcache TLS is refused, naming the first one that has it', () => {
    const message = errorOf(() => new OpenStackControlPlane(newChart('openstack'), 'cp', {
      ...CONTROL_PLANE_PROPS, openStackRelease: OpenStackRelease.V2025_1, memcachedTls: { certificates: CERT_MANAGER },
    }));
    expect(message).toMatch(/memcachedTls: "2025.1" needs openStackRelease 2025.2 or later/);
    expect(() => new OpenStackControlPlane(newChart('openstack'), 'cp', {
      ...CONTROL_PLANE_PROPS, openStackRelease: OpenStackRelease.V2025_2, memcachedTls: { certificates: CERT_MANAGER },
    })).not.toThrow();
  });

  test('hostile paths are refused in one error naming each option (they would go into the INI verbatim)', () => {
    const cp = new OpenStackControlPlane(newChart('openstack'), 'cp', { ...CONTROL_PLANE_PROPS, memcachedTls: { certificates: CERT_MANAGER, verifyClients: true } });
    const message = errorOf(() => cp.connection('nova', { caBundlePath: 'relative/ca.crt', clientCertificatePath: '/a\n[DEFAULT]', clientKeyPath: '/x/../etc/shadow' }));
    expectNamedProblem(message, 'options.caBundlePath', 'relative/ca.crt');
    expectNamedProblem(message, 'options.clientCertificatePath', '/a\n[DEFAULT]');
    expectNamedProblem(message, 'options.clientKeyPath', '/x/../etc/shadow');
  });

  test.each(cases('options.caBundlePath', HOSTILE_STRINGS, (caBundlePath) => () =>
    new OpenStackControlPlane(newChart('openstack'), 'cp', { ...CONTROL_PLANE_PROPS, apiTls: { certificates: CERT_MANAGER } }).connection('nova', { caBundlePath })))(
    '%s = %p is refused with the option, the value and a fix', (prop, value, build_) => {
      expectNamedProblem(errorOf(build_), prop, value);
    });
});

describe('validation', () => {
  test('every problem of the TLS props in one error', () => {
    const message = errorOf(() => new MemcachedPool(newChart('openstack'), 'mc', {
      placement: Placement.onNodes(NODES), reloaderImage: 'UPPER CASE', tls: { certificates: {} as any, verifyClients: 'yes' as any },
    }));
    expectNamedProblem(message, 'reloaderImage', 'UPPER CASE');
    expectNamedProblem(message, 'tls.verifyClients', 'yes');
    expect(message).toMatch(/- tls\.certificates: \{\} must come from TlsCertificates/);
  });

  test('a reloader image without tls is refused', () => {
    expectNamedProblem(errorOf(() => new MemcachedPool(newChart('openstack'), 'mc', {
      placement: Placement.onNodes(NODES), reloaderImage: 'docker.io/library/node:22',
    })), 'reloaderImage', 'docker.io/library/node:22');
  });
});
