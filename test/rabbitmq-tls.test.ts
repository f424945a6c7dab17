/**
 * RabbitMQ TLS (RabbitDaemonSet `tls`) and the client outputs that carry it: the rendered listeners and ssl options,
 * the distribution's options file and flags, the certificate and its names, the mount and modes, the scripts, the
 * ports and probe, the oslo.messaging options, OpenStackControlPlane's `rabbitmqTls`, and the refusals.
 */
import { spawnSync } from 'child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { OpenStackControlPlane, OsloMessaging, Placement, RabbitDaemonSet, RabbitDaemonSetProps, RabbitVersion, SecretValue, TlsCertificates } from '../lib';
import { rabbitTlsScripts } from '../lib/rabbitmq/assets';
import { TLS12_CIPHERS } from '../lib/tls/model';
import { TestCa, installFiles } from './integration/support/certs';
import { CONTROL_PLANE_PROPS, NODES, adminAndNova } from './support/fixtures';
import { errorOf, expectValidManifests, find, newChart, synth } from './support/harness';

const CERT_MANAGER = TlsCertificates.certManager({ issuer: { name: 'openstack-ca', kind: 'ClusterIssuer' } });
const BASE: RabbitDaemonSetProps = {
  placement: Placement.onNodes(NODES), version: RabbitVersion.V4_1, erlangCookie: SecretValue.fromSecret('rabbit', 'cookie'), users: adminAndNova(),
};

function build(overrides: Partial<RabbitDaemonSetProps> = {}) {
  const chart = newChart('openstack');
  const rabbit = new RabbitDaemonSet(chart, 'rabbitmq', { ...BASE, tls: { certificates: CERT_MANAGER }, ...overrides });
  const objects = synth(chart);
  const ds = find(objects, 'DaemonSet', 'rabbitmq');
  const config = find(objects, 'ConfigMap', 'rabbitmq-config').data;
  const scripts = find(objects, 'ConfigMap', 'rabbitmq-scripts').data;
  return { rabbit, objects, spec: ds.spec.template.spec, container: ds.spec.template.spec.containers[0], config, scripts };
}
const env = (c: any) => Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

describe('rabbitmq.conf', () => {
  test('AMQPS on the node IP, plaintext closed, TLS 1.3/1.2 with the shared strong ciphers, server cipher order', () => {
    const conf: string = build().config['rabbitmq.conf'];
    expect(conf).toContain('listeners.tcp = none\n');
    expect(conf).toContain('listeners.ssl.1 = @@HOST_IP@@:5671\n');
    expect(conf).not.toMatch(/listeners\.tcp\.1/);
    for (const line of ['ssl_options.cacertfile = /etc/rabbitmq/tls/ca.crt', 'ssl_options.certfile = /etc/rabbitmq/tls/tls.crt',
      'ssl_options.keyfile = /etc/rabbitmq/tls/tls.key', 'ssl_options.verify = verify_none', 'ssl_options.fail_if_no_peer_cert = false',
      'ssl_options.versions.1 = tlsv1.3', 'ssl_options.versions.2 = tlsv1.2', 'ssl_options.honor_cipher_order = true']) {
      expect(conf).toContain(`${line}\n`);
    }
    const ciphers = [...conf.matchAll(/^ssl_options\.ciphers\.\d+ = (.+)$/gm)].map((m) => m[1]);
    expect(ciphers.filter((c) => !c.startsWith('TLS_')).join(':')).toBe(TLS12_CIPHERS);
    expect(ciphers.filter((c) => c.startsWith('TLS_'))).toHaveLength(3);
  });

  test('management over HTTPS only (15671, no client certificate), Prometheus unchanged (plain HTTP on 15692)', () => {
    const conf: string = build({ tls: { certificates: CERT_MANAGER, verifyClients: true } }).config['rabbitmq.conf'];
    expect(conf).toContain('management.ssl.ip = @@HOST_IP@@\nmanagement.ssl.port = 15671\n');
    expect(conf).toContain('management.ssl.certfile = /etc/rabbitmq/tls/tls.crt\n');
    expect(conf).not.toMatch(/management\.tcp|management\.ssl\.verify|management\.ssl\.fail_if/);
    expect(conf).toContain('prometheus.tcp.ip = @@HOST_IP@@\nprometheus.tcp.port = 15692\n');
    expect(conf).toContain('ssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = true\n');
  });

  test('plaintextAmqp keeps 5672 beside AMQPS', () => {
    const conf: string = build({ tls: { certificates: CERT_MANAGER, plaintextAmqp: true } }).config['rabbitmq.conf'];
    expect(conf).toContain('listeners.tcp.1 = @@HOST_IP@@:5672\nlisteners.ssl.1 = @@HOST_IP@@:5671\n');
  });
});

describe('Erlang distribution over TLS', () => {
  test('the options file (both sides verified, TLS 1.3/1.2, the checked copy) and the flags of the server and the CLI', () => {
    const { config, container } = build();
    const file: string = config['inter_node_tls.config'];
    expect(file).toMatch(/\{server, \[.*\{verify, verify_peer\}.*\{fail_if_no_peer_cert, true\}/);
    expect(file).toMatch(/\{client, \[.*\{verify, verify_peer\}/);
    expect(file).toContain('{certfile, "/etc/rabbitmq/tls/tls.crt"}');
    expect(file).toContain("{versions, ['tlsv1.3', 'tlsv1.2']}");
    expect(file).not.toMatch(/BEGIN|PRIVATE/);
    const flags = '-proto_dist inet_tls -ssl_dist_optfile /etc/rabbitmq-template/inter_node_tls.config';
    expect(env(container).RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS).toContain(flags);
    expect(env(container).RABBITMQ_CTL_ERL_ARGS).toBe(flags);
  });

  test('distribution: false leaves the distribution plain (no file, no flags)', () => {
    const { config, container } = build({ tls: { certificates: CERT_MANAGER, distribution: false } });
    expect(config['inter_node_tls.config']).toBeUndefined();
    expect(env(container).RABBITMQ_CTL_ERL_ARGS).toBeUndefined();
    expect(env(container).RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS).not.toContain('inet_tls');
  });
});

describe('the pod', () => {
  test('one Certificate covering every node name and IP; the Secret mounted read-only, key 0440, no subPath', () => {
    const { objects, spec, container } = build();
    const cert = find(objects, 'Certificate', 'rabbitmq-tls');
    expect(cert.spec.dnsNames).toEqual(NODES.map((n) => n.name));
    expect(cert.spec.ipAddresses).toEqual(NODES.map((n) => n.ip));
    const volume = spec.volumes.find((v: any) => v.name === 'tls');
    expect(volume.secret.items.find((i: any) => i.path === 'tls.key').mode).toBe(0o440);
    expect(container.volumeMounts.find((m: any) => m.name === 'tls')).toEqual({ name: 'tls', mountPath: '/etc/rabbitmq-tls', readOnly: true });
    expect(spec.securityContext.fsGroup).toBe(999);
    expect(JSON.stringify(objects)).not.toMatch(/PRIVATE KEY/);
    expectValidManifests(objects);
  });

  test('the command installs the checked copy and starts the watcher; ports, Service and readiness follow the listeners', () => {
    const { container, scripts, objects } = build();
    expect(container.command).toEqual(['bash', '/opt/rabbitmq-ha/tls-start.sh']);
    expect(Object.keys(scripts).sort()).toEqual(['credentials.sh', 'post-start.sh', 'release.sh', 'start.sh', 'tls-pair-check.sh', 'tls-reload.sh', 'tls-start.sh']);
    expect(container.ports.map((p: any) => `${p.name}:${p.containerPort}`)).toEqual(['amqps:5671', 'management:15671', 'prometheus:15692', 'epmd:4369', 'dist:25672']);
    expect(container.readinessProbe.tcpSocket.port).toBe(5671);
    expect(find(objects, 'Service', 'rabbitmq').spec.ports.map((p: any) => p.port)).toEqual([5671, 15671, 15692]);
    expect(env(container)).toMatchObject({ RABBITMQ_TLS_SOURCE_DIR: '/etc/rabbitmq-tls', RABBITMQ_TLS_DIR: '/etc/rabbitmq/tls', RABBITMQ_TLS_CHECK_PORT: '5671' });
  });

  test('without tls the manifest is the plaintext one: no TLS script, file, env, volume, port or Certificate', () => {
    const chart = newChart('openstack');
    const rabbit = new RabbitDaemonSet(chart, 'rabbitmq', BASE);
    const objects = synth(chart);
    const text = JSON.stringify(objects);
    expect(text).not.toMatch(/tls|ssl|5671|15671/i);
    expect(rabbit.amqpsPort).toBeUndefined();
    expect(rabbit.transportUrl('nova')).toContain(':5672');
  });
});

describe('client outputs', () => {
  test('transport URLs use AMQPS; oslo gets ssl, ssl_ca_file (and the client certificate with verifyClients)', () => {
    const { rabbit } = build();
    expect(rabbit.transportUrl('nova')).toMatch(/^rabbit:\/\/nova:@@RABBITMQ_PASSWORD_NOVA@@@10\.0\.0\.11:5671,.*:5671\/$/);
    expect(rabbit.notificationsTransportUrl('nova')).toContain('@10.0.0.12:5671,');
    const ini = OsloMessaging.renderIni(rabbit.osloConfig('nova', { caFile: '/etc/ca.crt' }));
    expect(ini).toMatch(/\[oslo_messaging_rabbit\][\s\S]*\nssl = true\nssl_ca_file = \/etc\/ca\.crt\n/);
    expect(ini).not.toContain('ssl_cert_file');
    const verifying = build({ tls: { certificates: CERT_MANAGER, verifyClients: true } }).rabbit;
    expect(errorOf(() => verifying.osloConfig('nova', { caFile: '/etc/ca.crt' }))).toMatch(/clientTls\.certificateFile: .* is required: the brokers verify clients/);
    expect(verifying.osloConfig('nova', { caFile: '/ca', certificateFile: '/c', keyFile: '/k' }).oslo_messaging_rabbit)
      .toMatchObject({ ssl: 'true', ssl_ca_file: '/ca', ssl_cert_file: '/c', ssl_key_file: '/k' });
    expect(errorOf(() => rabbit.osloConfig('nova'))).toMatch(/clientTls: \(not set\) is required: the brokers serve AMQPS only/);
  });

  test('OpenStackControlPlane rabbitmqTls: AMQPS URLs and ssl options in every connection, the CA path reported', () => {
    const chart = newChart('openstack');
    const cp = new OpenStackControlPlane(chart, 'cp', { ...CONTROL_PLANE_PROPS, rabbitmqTls: { certificates: CERT_MANAGER } });
    const c = cp.connection('nova');
    expect(c.transportUrl).toContain(':5671');
    expect(c.osloConfig).toContain('ssl = true\nssl_ca_file = /etc/openstack-ha-tls/ca.crt\n');
    expect(c.caBundlePath).toBe('/etc/openstack-ha-tls/ca.crt');
    const verifying = new OpenStackControlPlane(newChart('openstack'), 'cp', { ...CONTROL_PLANE_PROPS, rabbitmqTls: { certificates: CERT_MANAGER, verifyClients: true } });
    expect(verifying.connection('nova', { clientCertificatePath: '/x/c.crt', clientKeyPath: '/x/c.key' }).osloConfig)
      .toContain('ssl_cert_file = /x/c.crt\nssl_key_file = /x/c.key\n');
  });
});

describe('refusals', () => {
  test('a user Secret that does not cover a node name or IP is refused, naming them', () => {
    const certificates = TlsCertificates.fromSecrets({ secrets: [{ component: 'rabbitmq', secretName: 'r-tls', covers: [NODES[0].ip, NODES[0].name] }] });
    const message = errorOf(() => build({ tls: { certificates } }));
    expect(message).toContain(NODES[1].name);
    expect(message).toContain(NODES[2].ip);
    expect(message).toMatch(/does not cover: reissue the certificate/);
  });
});

describe('tls-reload.sh (the checks and the swap, with bash and openssl)', () => {
  let root: string;
  let scriptDir: string;
  let ca: TestCa;
  let other: TestCa;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'rtls-unit-'));
    // The TLS scripts as the scripts ConfigMap ships them: tls-reload.sh runs tls-pair-check.sh from its own directory.
    scriptDir = join(root, 'scripts');
    mkdirSync(scriptDir);
    for (const [name, text] of Object.entries(rabbitTlsScripts())) writeFileSync(join(scriptDir, name), text, { mode: 0o555 });
    ca = new TestCa(root, 'ca');
    other = new TestCa(root, 'other');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** Mounts `files` as the kubelet does, then runs `tls_stage` (and `tls_activate` when it passes); returns its verdict. */
  function stage(files: { certificate: string; privateKey: string; ca: string }, dir = scriptDir): { verdict: string; served?: string } {
    const source = join(root, 'source');
    const active = join(root, 'active');
    installFiles(source, { 'tls.crt': files.certificate, 'tls.key': files.privateKey, 'ca.crt': files.ca });
    const r = spawnSync('bash', ['-c', `source "${join(dir, 'tls-reload.sh')}"; s=$(tls_stage); echo "$s"; [[ $s == ok* ]] && tls_activate "\${s#ok }"; cat "${active}/tls.crt" 2>/dev/null`],
      { encoding: 'utf8', env: { ...process.env, RABBITMQ_TLS_SOURCE_DIR: source, RABBITMQ_TLS_DIR: active } });
    const [verdict, ...rest] = r.stdout.split('\n');
    return { verdict, served: rest.join('\n').trim() || undefined };
  }

  test('a good pair is copied and served through ..data; a broken one is refused and the served pair stays', () => {
    const good = ca.issue({ sans: ['IP:10.0.0.11'] });
    expect(stage(good)).toEqual({ verdict: expect.stringMatching(/^ok /), served: good.certificate.trim() });
    const mismatched = { ...ca.issue({ sans: ['IP:10.0.0.11'] }), privateKey: ca.issue({ sans: ['IP:10.0.0.11'] }).privateKey };
    // The reasons are tls-pair-check.sh's (its own test: tls-pair-check.test.ts); no TLS purpose is required here.
    expect(stage(mismatched)).toEqual({ verdict: 'bad tls.key does not match the certificate in tls.crt', served: good.certificate.trim() });
    const expired = ca.issue({ sans: ['IP:10.0.0.11'], expired: true });
    expect(stage(expired).verdict).toBe('bad tls.crt does not verify against ca.crt now: certificate has expired (depth 0)');
    const foreign = { ...other.issue({ sans: ['IP:10.0.0.11'] }), ca: readFileSync(ca.caFile, 'utf8') };
    expect(stage(foreign).verdict).toMatch(/^bad tls\.crt does not verify against ca\.crt now: unable to get local issuer certificate/);
    expect(stage({ ...good, privateKey: '' }).verdict).toBe('bad tls.key is empty');
    // Not a TLS server certificate: served all the same (the broker requires no purpose, as before the shared check).
    const clientOnly = ca.issue({ sans: ['IP:10.0.0.11'], extendedKeyUsage: 'clientAuth' });
    expect(stage(clientOnly)).toEqual({ verdict: expect.stringMatching(/^ok /), served: clientOnly.certificate.trim() });
    // A check that cannot run (tls-pair-check.sh not beside tls-reload.sh) refuses: never an empty reason, never served.
    const alone = join(root, 'alone');
    mkdirSync(alone);
    writeFileSync(join(alone, 'tls-reload.sh'), rabbitTlsScripts()['tls-reload.sh']);
    expect(stage(ca.issue({ sans: ['IP:10.0.0.11'] }), alone).verdict).toMatch(/^bad bash: .*tls-pair-check\.sh: No such file or directory$/);
    // The last good pair is still what the broker reads, and only one version directory is left.
    expect(readFileSync(join(root, 'active', 'tls.crt'), 'utf8').trim()).toBe(clientOnly.certificate.trim());
    expect(readdirSync(join(root, 'active')).filter((f) => f.startsWith('..staging')).length).toBe(1);
  });
});
