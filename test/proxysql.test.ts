import { spawnSync } from 'child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { DatabaseUser, GaleraPetSet, GaleraStorage, OpenStackControlPlane, Placement, ProxySqlLayer, ProxySqlLayerProps, SecretValue, TlsCertificates } from '../lib';
import { ProxySqlConfigModel } from '../lib/proxysql/model';
import { renderProxySqlConfig } from '../lib/proxysql/render';
import { proxySqlConfigProblems } from '../lib/proxysql/validation';
import { errorOf, expectValidManifests, find, K8sObject, newChart, synth } from './support/harness';
import { CONTROL_PLANE_PROPS, NODES } from './support/fixtures';

const secret = (name: string) => SecretValue.fromSecret(name, 'password');
const USERS: DatabaseUser[] = [
  { name: 'nova', password: secret('nova-db'), databases: ['nova'], maxConnections: 500 },
  { name: 'keystone', password: secret('keystone-db'), databases: ['keystone'] },
];

function layer(props: Partial<ProxySqlLayerProps> = {}, users: DatabaseUser[] = USERS) {
  const chart = newChart('openstack');
  const galera = new GaleraPetSet(chart, 'galera', {
    placement: Placement.onNodes(NODES),
    storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
    credentials: { rootPassword: secret('galera-root'), sstPassword: secret('galera-sst'), monitorPassword: secret('galera-monitor') },
    users,
  });
  const proxy = new ProxySqlLayer(chart, 'proxysql', {
    galera,
    placement: Placement.onNodes(NODES),
    adminPassword: secret('proxysql-admin'),
    allowedClients: [{ podLabels: { application: 'nova' } }],
    ...props,
  });
  return { chart, galera, proxy, objects: synth(chart) };
}

const deployment = (objects: K8sObject[]) => find(objects, 'Deployment', 'proxysql');
const container = (objects: K8sObject[], name: string) => deployment(objects).spec.template.spec.containers.find((c: any) => c.name === name);
const cnf = (objects: K8sObject[]) => find(objects, 'ConfigMap', 'proxysql-config').data['proxysql.cnf'] as string;
const script = (objects: K8sObject[], file: string) => find(objects, 'ConfigMap', 'proxysql-scripts').data[file] as string;
const envOf = (c: any) => Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
/** The credentials volume's files: path -> Secret/key. */
const passwordFiles = (objects: K8sObject[]) => Object.fromEntries(deployment(objects).spec.template.spec.volumes
  .find((v: any) => v.name === 'credentials').projected.sources.map((s: any) => [s.secret.items[0].path, `${s.secret.name}/${s.secret.items[0].key}`]));
/** The `{ ... }` row of a libconfig list that contains `marker`. */
const row = (text: string, marker: string) => text.split('\n').find((l) => l.includes(marker)) ?? '';

const MODEL: ProxySqlConfigModel = {
  dataDir: '/var/lib/proxysql',
  adminPort: 6032,
  adminUser: 'admin',
  readWritePort: 3306,
  readOnlyPort: 3307,
  threads: 2,
  maxClientConnections: 4096,
  serverVersion: '11.4.7-MariaDB',
  monitorUser: 'monitor',
  healthCheck: { intervalMs: 1000, timeoutMs: 800, maxTimeoutCount: 2 },
  hostgroups: { writer: 10, backupWriter: 20, reader: 30, offline: 9999 },
  servers: [0, 1, 2].map((i) => ({ host: `galera-${i}.galera-peers.openstack.svc`, port: 3306, weight: 1000 - i, maxConnections: 1000, comment: `galera-${i}` })),
  users: [{ name: 'nova', passwordEnv: 'PROXYSQL_USER_PASSWORD_NOVA', maxConnections: 500, requireTls: false }],
};

describe('proxysql.cnf renderer', () => {
  const text = renderProxySqlConfig(MODEL);

  test('one writer among the members, the others standbys and readers, an offline group', () => {
    expect(row(text, 'writer_hostgroup=')).toContain(
      '{ writer_hostgroup=10, backup_writer_hostgroup=20, reader_hostgroup=30, offline_hostgroup=9999, active=1, max_writers=1, writer_is_also_reader=1,');
  });

  test('every member starts in the writer hostgroup with a distinct weight, heaviest first, so every ProxySQL picks the same writer', () => {
    const servers = text.split('\n').filter((l) => l.includes('address='));
    expect(servers.map((l) => /weight=(\d+)/.exec(l)?.[1])).toEqual(['1000', '999', '998']);
    expect(servers.every((l) => l.includes('hostgroup=10,') && l.includes('port=3306,'))).toBe(true);
    expect(servers[0]).toContain('address="galera-0.galera-peers.openstack.svc"');
  });

  test('Galera health checks every second; a member that times out twice goes offline', () => {
    expect(text).toMatch(/^ {2}monitor_galera_healthcheck_interval=1000$/m);
    expect(text).toMatch(/^ {2}monitor_galera_healthcheck_timeout=800$/m);
    expect(text).toMatch(/^ {2}monitor_galera_healthcheck_max_timeout_count=2$/m);
    expect(text).toMatch(/^ {2}server_version="11\.4\.7-MariaDB"$/m);
  });

  test('two client ports; the admin interface on loopback only', () => {
    expect(text).toContain('interfaces="0.0.0.0:3306;0.0.0.0:3307"');
    expect(text).toContain('mysql_ifaces="127.0.0.1:6032"');
  });

  test('query rules apply to the read-only port only: no global split that would break read-your-writes', () => {
    const rules = text.split('\n').filter((l) => l.includes('rule_id='));
    expect(rules).toHaveLength(2);
    expect(rules.every((r) => r.includes('proxy_port=3307,'))).toBe(true);
    // Locking reads first (lower rule_id), to the writer; then plain SELECTs to the readers.
    expect(rules[0]).toMatch(/rule_id=100, .*match_digest="\^SELECT\.\*\(FOR UPDATE\|.*LOCK IN SHARE MODE.*destination_hostgroup=10, apply=1/);
    expect(rules[1]).toMatch(/rule_id=200, .*match_digest="\^SELECT".*destination_hostgroup=30, apply=1/);
    const writerOnly = new RegExp(/match_digest="([^"]+)"/.exec(rules[0])?.[1] ?? '', 'i');
    expect(writerOnly.test('SELECT * FROM instances WHERE id = ? FOR UPDATE')).toBe(true);
    expect(writerOnly.test('select id from t lock in share mode')).toBe(true);
    expect(writerOnly.test('SELECT * FROM instances WHERE id = ?')).toBe(false);
  });

  test('users default to the writer, with their own connection limit, and a placeholder for the password', () => {
    expect(row(text, 'username="nova"')).toBe(
      '  { username="nova", password="@@PROXYSQL_USER_PASSWORD_NOVA@@", default_hostgroup=10, transaction_persistent=1, max_connections=500, active=1 }');
  });

  test('integers are never quoted (ProxySQL would load them as 0) and no value holds a secret', () => {
    expect(text).not.toMatch(/=\s*"-?\d+"/);
    expect(text).toMatch(/admin_credentials="@@PROXYSQL_ADMIN_CREDENTIALS@@"/);
    expect(text).toMatch(/monitor_password="@@PROXYSQL_MONITOR_PASSWORD@@"/);
  });

  test('same model, same bytes', () => {
    expect(renderProxySqlConfig(MODEL)).toBe(text);
  });

  test('every problem the loader would hide is reported, each with its field', () => {
    const bad: ProxySqlConfigModel = {
      ...MODEL,
      readOnlyPort: 3306,
      hostgroups: { writer: 10, backupWriter: 10, reader: 0, offline: 9999 },
      servers: [{ ...MODEL.servers[0], weight: 3_000_000_000 }, { ...MODEL.servers[1], weight: 1.5 }],
      users: [
        { name: "o'brien", passwordEnv: 'PROXYSQL_USER_PASSWORD_O_BRIEN', maxConnections: 10, requireTls: false },
        { name: 'nova', passwordEnv: 'NOVA_PASSWORD', maxConnections: 0, requireTls: false },
        { name: 'admin', passwordEnv: 'PROXYSQL_USER_PASSWORD_ADMIN', maxConnections: 10, requireTls: false },
      ],
      serverVersion: '"8.0"',
    };
    const fields = proxySqlConfigProblems(bad).map((p) => p.field);
    expect(fields).toEqual(expect.arrayContaining([
      'adminPort, readWritePort, readOnlyPort', 'hostgroups.reader', 'hostgroups', 'servers[0].weight', 'servers[1].weight',
      'users[0].name', 'users[1].name', 'users[1].maxConnections', 'users[2].name', 'serverVersion',
    ]));
    expect(() => renderProxySqlConfig(bad)).toThrow(/proxysql\.cnf: .*hostgroups/);
  });

  test('equal weights are refused: the writer would depend on host names', () => {
    const problems = proxySqlConfigProblems({ ...MODEL, servers: MODEL.servers.map((s) => ({ ...s, weight: 1 })) });
    expect(problems.map((p) => p.fix)).toContain('must all differ, so that every ProxySQL picks the same writer');
  });
});

describe('ProxySqlLayer', () => {
  test('every object is schema-valid and meets every invariant', () => {
    expectValidManifests(layer().objects);
  });

  test('stateless pods: two by default, one per node, a PDB, one at a time on rollout', () => {
    const { objects } = layer();
    const d = deployment(objects);
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.strategy.rollingUpdate).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    expect(d.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]).toEqual({
      labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'proxysql', 'app.kubernetes.io/instance': 'proxysql' } },
      topologyKey: 'kubernetes.io/hostname',
    });
    expect(find(objects, 'PodDisruptionBudget', 'proxysql').spec.maxUnavailable).toBe(1);
    const volumes = Object.fromEntries(d.spec.template.spec.volumes.map((v: any) => [v.name, v]));
    expect(volumes.data.emptyDir).toEqual({ sizeLimit: '256Mi' });
    expect(volumes.run.emptyDir).toEqual({ medium: 'Memory', sizeLimit: '4Mi' });
  });

  test('ProxySQL always starts from the rendered file (--initial), rendered at start into memory', () => {
    const { objects } = layer();
    const c = container(objects, 'proxysql');
    expect(c.image).toBe('docker.io/proxysql/proxysql:2.7.3');
    expect(c.command).toEqual(['/opt/proxysql/start.sh']);
    expect(envOf(c)).toMatchObject({ PROXYSQL_CONFIG_TEMPLATE: '/etc/proxysql/proxysql.cnf', PROXYSQL_CONFIG: '/run/proxysql/proxysql.cnf', PROXYSQL_DATADIR: '/var/lib/proxysql' });
    expect(script(objects, 'start.sh')).toMatch(/^exec proxysql -f --idle-threads --initial -c "\$PROXYSQL_CONFIG" -D "\$PROXYSQL_DATADIR"$/m);
    expect(c.volumeMounts).toEqual(expect.arrayContaining([{ name: 'run', mountPath: '/run/proxysql' }, { name: 'data', mountPath: '/var/lib/proxysql' }]));
  });

  test('writerOrdinal gives another member the heaviest weight; the rest keep ordinal order', () => {
    const weights = (text: string) => text.split('\n').filter((l) => l.includes('address=')).map((l) => /weight=(\d+)/.exec(l)?.[1]);
    expect(weights(cnf(layer().objects))).toEqual(['1000', '999', '998']);
    expect(weights(cnf(layer({ writerOrdinal: 1 }).objects))).toEqual(['999', '1000', '998']);
    expect(weights(cnf(layer({ writerOrdinal: 2 }).objects))).toEqual(['999', '998', '1000']);
    expect(() => layer({ writerOrdinal: 3 })).toThrow(/writerOrdinal: 3 must be the ordinal of a Galera member \(0 to 2\)/);
  });

  test('without its own writerOrdinal, ProxySQL prefers the GaleraPetSet\'s initial writer', () => {
    const chart = newChart('openstack');
    const galera = new GaleraPetSet(chart, 'galera', {
      placement: Placement.onNodes(NODES), writerOrdinal: 2,
      storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
      credentials: { rootPassword: secret('galera-root'), sstPassword: secret('galera-sst'), monitorPassword: secret('galera-monitor') },
    });
    new ProxySqlLayer(chart, 'proxysql', { galera, placement: Placement.onNodes(NODES), adminPassword: secret('proxysql-admin'), allowedClients: [{ podLabels: { application: 'nova' } }] });
    const weights = cnf(synth(chart)).split('\n').filter((l) => l.includes('address=')).map((l) => /weight=(\d+)/.exec(l)?.[1]);
    expect(weights).toEqual(['999', '998', '1000']);
  });

  test('by default on the nodes labelled openstack-control-plane=enabled', () => {
    const { objects } = layer({ placement: undefined });
    expect(deployment(objects).spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      { matchExpressions: [{ key: 'openstack-control-plane', operator: 'In', values: ['enabled'] }] },
    ]);
  });

  test('the announced server version follows the MariaDB image, or the prop', () => {
    expect(cnf(layer().objects)).toContain(`server_version="${/:(\d+\.\d+\.\d+)/.exec(GaleraPetSet.DEFAULT_IMAGE)?.[1]}-MariaDB"`);
    expect(cnf(layer({ serverVersion: '10.11.10-MariaDB' }).objects)).toContain('server_version="10.11.10-MariaDB"');
    expect(() => layer({ serverVersion: '10.11 "x"' })).toThrow(/serverVersion: "10.11 \\"x\\"" must be a server version/);
  });

  test('a config change rolls the pods', () => {
    const hash = (objects: K8sObject[]) => deployment(objects).spec.template.metadata.annotations['openstack-ha.cdk8s.io/config-hash'];
    expect(hash(layer().objects)).toBe(hash(layer().objects));
    expect(hash(layer({ readOnlyPort: 3308 }).objects)).not.toBe(hash(layer().objects));
  });

  test('users are the GaleraPetSet\'s: names and limits in the file, passwords from the same Secrets', () => {
    const { objects } = layer();
    const text = cnf(objects);
    expect(row(text, 'username="nova"')).toContain('max_connections=500');
    // 0 (unlimited) in Galera is ProxySQL's whole client limit.
    expect(row(text, 'username="keystone"')).toContain('max_connections=4096');
    // The users' and the monitor's passwords are files of the credentials volume (test/proxysql-credentials.test.ts).
    expect(passwordFiles(objects)).toEqual({
      PROXYSQL_MONITOR_PASSWORD: 'galera-monitor/password',
      PROXYSQL_USER_PASSWORD_NOVA: 'nova-db/password',
      PROXYSQL_USER_PASSWORD_KEYSTONE: 'keystone-db/password',
    });
    expect(envOf(container(objects, 'proxysql'))).toMatchObject({
      PROXYSQL_ADMIN_PASSWORD: { secretKeyRef: { name: 'proxysql-admin', key: 'password' } },
      PROXYSQL_ADMIN_USER: 'admin',
      PROXYSQL_CREDENTIALS_DIR: '/etc/proxysql-credentials',
    });
    expect(text).toContain('monitor_username="monitor"');
  });

  test('of two accounts with one name, ProxySQL gets the one for any host', () => {
    const { objects } = layer({}, [
      { name: 'nova', password: secret('nova-local'), databases: ['nova'], host: '10.0.0.%' },
      { name: 'nova', password: secret('nova-db'), databases: ['nova'], maxConnections: 300 },
    ]);
    expect(cnf(objects).match(/username="nova"/g)).toHaveLength(1);
    expect(row(cnf(objects), 'username="nova"')).toContain('max_connections=300');
    expect(passwordFiles(objects).PROXYSQL_USER_PASSWORD_NOVA).toBe('nova-db/password');
  });

  test('ready only with an ONLINE writer (backup writers are SHUNNED rows of the writer hostgroup); alive while the admin port answers', () => {
    const { objects } = layer();
    const admin = container(objects, 'admin');
    expect(admin.readinessProbe.exec.command).toEqual(['/opt/proxysql/admin.sh', 'ready']);
    expect(script(objects, 'admin.sh')).toContain("FROM runtime_mysql_servers WHERE hostgroup_id=$PROXYSQL_WRITER_HOSTGROUP AND status='ONLINE'");
    expect(envOf(admin)).toMatchObject({ PROXYSQL_WRITER_HOSTGROUP: '10', PROXYSQL_READER_HOSTGROUP: '30', PROXYSQL_READ_ONLY_RULE_ID: '200', PROXYSQL_READER_FALLBACK: 'true' });
    expect(container(objects, 'proxysql').livenessProbe.exec.command).toEqual(['/opt/proxysql/admin.sh', 'live']);
  });

  test('on stop: PAUSE first, open sessions drain, then SIGTERM within the grace period', () => {
    const { objects } = layer({ drainSeconds: 30 });
    expect(container(objects, 'admin').lifecycle.preStop.exec.command).toEqual(['/opt/proxysql/admin.sh', 'pause']);
    expect(container(objects, 'proxysql').lifecycle.preStop.exec.command).toEqual(['sleep', '30']);
    expect(deployment(objects).spec.template.spec.terminationGracePeriodSeconds).toBe(45);
  });

  test('a ClusterIP Service with named rw and ro ports', () => {
    const { objects, proxy } = layer();
    expect(find(objects, 'Service', 'proxysql').spec).toEqual({
      type: 'ClusterIP',
      selector: { 'app.kubernetes.io/name': 'proxysql', 'app.kubernetes.io/instance': 'proxysql' },
      ports: [
        { name: 'rw', port: 3306, targetPort: 'rw', protocol: 'TCP' },
        { name: 'ro', port: 3307, targetPort: 'ro', protocol: 'TCP' },
      ],
    });
    expect([proxy.host, proxy.readWritePort, proxy.readOnlyPort]).toEqual(['proxysql.openstack.svc', 3306, 3307]);
  });

  test('clients reach the proxy ports only; the proxy reaches Galera 3306', () => {
    const { objects } = layer();
    expect(find(objects, 'NetworkPolicy', 'proxysql').spec.ingress).toEqual([{
      from: [{ podSelector: { matchLabels: { application: 'nova' } } }],
      ports: [{ protocol: 'TCP', port: 3306 }, { protocol: 'TCP', port: 3307 }],
    }]);
    expect(find(objects, 'NetworkPolicy', 'galera').spec.ingress).toContainEqual({
      from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'proxysql', 'app.kubernetes.io/instance': 'proxysql' } } }],
      ports: [{ protocol: 'TCP', port: 3306 }],
    });
  });

  test('without the reader fallback, the sidecar leaves the rule alone', () => {
    expect(envOf(container(layer({ readerFallbackToWriter: false }).objects, 'admin')).PROXYSQL_READER_FALLBACK).toBe('false');
  });

  test('every problem at once, each with its prop and fix', () => {
    const { galera } = layer();
    galera.users.push({ name: 'glance', password: 'plain-text' as unknown as SecretValue, databases: ['glance'] });
    const chart = newChart('openstack');
    const message = errorOf(() => new ProxySqlLayer(chart, 'proxysql', {
      galera,
      replicas: 0,
      readOnlyPort: 6032,
      hostgroups: { backupWriter: 10, reader: 0 },
      adminPassword: 'secret' as unknown as SecretValue,
      allowedClients: [],
      drainSeconds: -1,
    }));
    expect(message).toMatch(/^ProxySqlLayer 'proxysql' has invalid props:/);
    for (const expected of [
      /- replicas: 0 must be a whole number from 1 to 100/,
      /- adminPassword: "\(a string\)" must be a Secret reference/,
      /- galera\.users\[2\]\.password: "\(a string\)" must be a Secret reference/,
      /- allowedClients: \[\] is empty/,
      /- drainSeconds: -1 must be/,
      /- adminPort, readWritePort, readOnlyPort: \[6032,3306,6032\] collide/,
      /- hostgroups\.reader: 0 must be a whole number from 1/,
      /- hostgroups: .* must be four different ids/,
    ]) {
      expect(message).toMatch(expected);
    }
  });

  test('a target that is not a GaleraPetSet is refused', () => {
    expect(() => new ProxySqlLayer(newChart(), 'proxysql', {
      galera: { members: [{ ordinal: 0, podName: 'db-0', host: 'db-0' }], users: [] } as unknown as GaleraPetSet,
      adminPassword: secret('proxysql-admin'),
      allowedClients: [{ podLabels: { application: 'nova' } }],
    })).toThrow(/- galera: "object" is not a GaleraPetSet/);
  });

  test('snapshot', () => {
    expect(layer().objects.filter((o) => o.metadata.name.startsWith('proxysql'))).toMatchSnapshot();
  });
});

describe('admin.sh (with a stand-in for the mariadb client)', () => {
  let dir: string;
  const SCRIPT = join(__dirname, '..', 'assets', 'proxysql', 'admin.sh');

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'proxysql-admin-'));
    // Records each call (argv, the password it got through MYSQL_PWD, the SQL) and answers SELECTs with $FAKE_SELECT.
    writeFileSync(join(dir, 'mariadb'), [
      '#!/bin/bash',
      'printf "ARGS %s\\nPWD %s\\n" "$*" "$MYSQL_PWD" >>"$FAKE_LOG"',
      '[[ -n ${FAKE_FAIL:-} ]] && exit 1',
      'sql=${@: -1}; printf "SQL %s\\n" "$sql" >>"$FAKE_LOG"',
      '[[ $sql == SELECT* ]] && printf "%b\\n" "$FAKE_SELECT"',
      'exit 0',
    ].join('\n'));
    chmodSync(join(dir, 'mariadb'), 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function run(command: string, fake: { select?: string; fail?: boolean }) {
    const log = join(dir, 'log');
    writeFileSync(log, '');
    const r = spawnSync('bash', [SCRIPT, command], {
      encoding: 'utf8',
      timeout: 10_000,
      env: {
        PATH: `${dir}:${process.env.PATH}`,
        PROXYSQL_ADMIN_PORT: '6032', PROXYSQL_ADMIN_USER: 'admin', PROXYSQL_ADMIN_PASSWORD: 'pa ss"word',
        PROXYSQL_WRITER_HOSTGROUP: '10', PROXYSQL_READER_HOSTGROUP: '30', PROXYSQL_READ_ONLY_RULE_ID: '200',
        FAKE_LOG: log, FAKE_SELECT: fake.select ?? '', ...(fake.fail ? { FAKE_FAIL: '1' } : {}),
      },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls: readFileSync(log, 'utf8') };
  }

  test('ready: 0 once a member answered a check as Synced since the start and a writer is ONLINE; 1 otherwise', () => {
    const ok = run('ready', { select: '3\\t1' });
    expect(ok.status).toBe(0);
    expect(ok.calls).toContain("SQL SELECT (SELECT COUNT(*) FROM monitor.mysql_server_galera_log WHERE (error IS NULL OR error='') " +
      "AND primary_partition='YES' AND wsrep_local_state=4), (SELECT COUNT(*) FROM runtime_mysql_servers WHERE hostgroup_id=10 AND status='ONLINE')");
    // Just started: the servers are ONLINE as loaded from the file, but no check has answered yet.
    expect(run('ready', { select: '0\\t3' })).toMatchObject({ status: 1, stdout: expect.stringContaining('no Galera member has answered a health check') });
    expect(run('ready', { select: '2\\t0' })).toMatchObject({ status: 1, stdout: expect.stringContaining('no ONLINE writer in hostgroup 10') });
    expect(run('ready', { select: '' })).toMatchObject({ status: 1 });
    expect(run('ready', { fail: true })).toMatchObject({ status: 1, stdout: expect.stringContaining('admin interface does not answer') });
  });

  test('the password travels in MYSQL_PWD, never on the command line; TLS off on loopback', () => {
    const { calls } = run('ready', { select: '1\\t1' });
    expect(calls).toContain('PWD pa ss"word');
    expect(calls).not.toMatch(/ARGS .*pa ss/);
    expect(calls).toMatch(/ARGS --no-defaults --skip-ssl --protocol=tcp -h 127\.0\.0\.1 -P 6032 -u admin /);
  });

  test('pause sends PROXYSQL PAUSE', () => {
    const r = run('pause', {});
    expect(r.status).toBe(0);
    expect(r.calls).toContain('SQL PROXYSQL PAUSE');
  });

  test('reconcile: no ONLINE reader sends read-only SELECTs to the writer, and back once a reader is ONLINE', () => {
    const toWriter = run('reconcile', { select: '0\\t30' });
    expect(toWriter.calls).toContain('SQL UPDATE mysql_query_rules SET destination_hostgroup=10 WHERE rule_id=200; LOAD MYSQL QUERY RULES TO RUNTIME');
    expect(toWriter.stderr).toContain('read-only SELECTs now go to the writer hostgroup 10');
    const back = run('reconcile', { select: '2\\t10' });
    expect(back.calls).toContain('SQL UPDATE mysql_query_rules SET destination_hostgroup=30 WHERE rule_id=200; LOAD MYSQL QUERY RULES TO RUNTIME');
  });

  test('reconcile changes nothing when the rule already points right, or when the answer is unreadable', () => {
    for (const select of ['1\\t30', '0\\t10', 'NULL\\tNULL', '']) {
      expect(run('reconcile', { select }).calls).not.toContain('UPDATE');
    }
  });
});

describe('TLS (tls prop)', () => {
  const certificates = TlsCertificates.certManager({ issuer: { name: 'ca', kind: 'ClusterIssuer' } });
  const TLS_MODEL: ProxySqlConfigModel = { ...MODEL, tls: { requireSecureTransport: true, backendCaFile: '/etc/proxysql-tls/ca.crt', backendCiphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' } };

  /** The layer in front of a GaleraPetSet with (or without) TLS. */
  function tlsLayer(props: Partial<ProxySqlLayerProps>, galeraTls: boolean) {
    const chart = newChart('openstack');
    const galera = new GaleraPetSet(chart, 'galera', {
      placement: Placement.onNodes(NODES),
      storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
      credentials: { rootPassword: secret('galera-root'), sstPassword: secret('galera-sst'), monitorPassword: secret('galera-monitor') },
      users: USERS,
      ...(galeraTls ? { tls: { certificates, requireSecureTransport: true } } : {}),
    });
    const proxy = new ProxySqlLayer(chart, 'proxysql', {
      galera, placement: Placement.onNodes(NODES), adminPassword: secret('proxysql-admin'), allowedClients: [{ podLabels: { application: 'nova' } }], ...props,
    });
    return { proxy, objects: synth(chart) };
  }

  test('the renderer: have_ssl, the backend CA and ciphers, use_ssl on every server and (required) every user', () => {
    const text = renderProxySqlConfig(TLS_MODEL);
    expect(text).toContain('  have_ssl="true"\n  ssl_p2s_ca="/etc/proxysql-tls/ca.crt"\n  ssl_p2s_cipher="ECDHE-ECDSA-AES128-GCM-SHA256"\n}');
    expect(row(text, 'galera-0"')).toMatch(/comment="galera-0", use_ssl=1 }/);
    expect(row(text, 'username="nova"')).toMatch(/active=1, use_ssl=1 }/);
    // Frontend only: no backend lines, no use_ssl on servers; not required: no use_ssl on users.
    const front = renderProxySqlConfig({ ...MODEL, tls: { requireSecureTransport: false, backendCiphers: 'x' } });
    expect(front).toContain('  have_ssl="true"\n}');
    expect(front).not.toContain('ssl_p2s');
    expect(front).not.toContain('use_ssl');
    // Without tls: none of it (the snapshot above holds the whole file).
    expect(renderProxySqlConfig(MODEL)).not.toMatch(/ssl/);
  });

  test('the certificate covers the Service names and additionalNames; both containers wrap their command with tls.sh', () => {
    const { proxy, objects } = tlsLayer({ tls: { certificates, additionalNames: ['10.0.0.10', 'db.example.com'] } }, true);
    expectValidManifests(objects);
    expect(proxy.tlsSecretName).toBe('proxysql-tls');
    expect(proxy.requiresSecureTransport).toBe(false);
    const cert = find(objects, 'Certificate', 'proxysql-tls');
    expect(cert.spec.dnsNames).toEqual(['proxysql', 'proxysql.openstack', 'proxysql.openstack.svc', 'db.example.com']);
    expect(cert.spec.ipAddresses).toEqual(['10.0.0.10']);
    const spec = deployment(objects).spec.template.spec;
    expect(spec.volumes).toContainEqual(expect.objectContaining({ name: 'tls', secret: expect.objectContaining({ secretName: 'proxysql-tls' }) }));
    // The datadir holds the key: memory-backed.
    expect(spec.volumes.find((v: any) => v.name === 'data').emptyDir).toEqual({ medium: 'Memory', sizeLimit: '256Mi' });
    const proxysql = container(objects, 'proxysql');
    const admin = container(objects, 'admin');
    expect(proxysql.command).toEqual(['/opt/proxysql/tls.sh', 'start']);
    expect(admin.command).toEqual(['/opt/proxysql/tls.sh', 'watch']);
    expect(envOf(proxysql)).toMatchObject({ PROXYSQL_TLS_DIR: '/etc/proxysql-tls', PROXYSQL_DATADIR: '/var/lib/proxysql' });
    expect(envOf(admin)).toMatchObject({ PROXYSQL_TLS_DIR: '/etc/proxysql-tls', PROXYSQL_DATADIR: '/var/lib/proxysql' });
    for (const c of [proxysql, admin]) {
      expect(c.volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/proxysql-tls', readOnly: true });
      expect(c.volumeMounts).toContainEqual({ name: 'data', mountPath: '/var/lib/proxysql' });
    }
    expect(script(objects, 'tls.sh')).toContain('PROXYSQL RELOAD TLS');
    // Backend TLS follows the GaleraPetSet's TLS by default.
    expect(row(cnf(objects), 'galera-0.')).toContain('use_ssl=1');
    expect(cnf(objects)).toContain('ssl_p2s_ca="/etc/proxysql-tls/ca.crt"');
  });

  test('backend TLS is off in front of a GaleraPetSet without TLS; requireSecureTransport marks every user', () => {
    const { proxy, objects } = tlsLayer({ tls: { certificates, requireSecureTransport: true } }, false);
    expect(proxy.requiresSecureTransport).toBe(true);
    expect(cnf(objects)).not.toContain('ssl_p2s');
    expect(row(cnf(objects), 'galera-0.')).not.toContain('use_ssl');
    expect(row(cnf(objects), 'username="nova"')).toContain('use_ssl=1');
  });

  test('an account that requires TLS (requireTls: REQUIRE SSL on the members) gets use_ssl alone; backend TLS is on', () => {
    const chart = newChart('openstack');
    const galera = new GaleraPetSet(chart, 'galera', {
      placement: Placement.onNodes(NODES),
      storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
      credentials: { rootPassword: secret('galera-root'), sstPassword: secret('galera-sst'), monitorPassword: secret('galera-monitor') },
      users: [{ ...USERS[0], requireTls: true }, ...USERS.slice(1)],
      tls: { certificates },
    });
    new ProxySqlLayer(chart, 'proxysql', { galera, placement: Placement.onNodes(NODES), adminPassword: secret('proxysql-admin'), allowedClients: [{ podLabels: { application: 'nova' } }], tls: { certificates } });
    const objects = synth(chart);
    expect(row(cnf(objects), `username="${USERS[0].name}"`)).toContain('use_ssl=1');
    for (const u of USERS.slice(1)) expect(row(cnf(objects), `username="${u.name}"`)).not.toContain('use_ssl');
    expect(row(cnf(objects), 'galera-0.')).toContain('use_ssl=1');
    // The members' side: the account's line in users.tsv asks for REQUIRE SSL.
    expect(find(objects, 'ConfigMap', 'galera-config').data['users.tsv']).toMatch(new RegExp(`^${USERS[0].name}\t.*\tSSL$`, 'm'));
  });

  test('without tls the scripts ConfigMap has no tls.sh and the pod is unchanged (the snapshot)', () => {
    const { objects } = layer();
    expect(Object.keys(find(objects, 'ConfigMap', 'proxysql-scripts').data).sort()).toEqual(['admin.sh', 'credentials.sh', 'start.sh']);
    expect(container(objects, 'admin').command).toEqual(['/opt/proxysql/admin.sh', 'watch']);
  });

  test('the control plane: proxySqlTls adds ssl_ca to every oslo.db URL, covers the VIP, and names the CA path', () => {
    const chart = newChart('openstack');
    const cp = new OpenStackControlPlane(chart, 'cp', { ...CONTROL_PLANE_PROPS, proxySqlTls: { certificates } });
    const nova = cp.connection('nova', { caBundlePath: '/etc/nova/ca.pem' });
    expect(nova.databaseConnections.nova).toBe('mysql+pymysql://nova:@@NOVA_DATABASE_PASSWORD@@@proxysql.openstack.svc:3306/nova?charset=utf8&ssl_ca=/etc/nova/ca.pem');
    expect(nova.databaseReadOnlyConnections.nova).toMatch(/:3307\/nova\?charset=utf8&ssl_ca=\/etc\/nova\/ca\.pem$/);
    expect(nova.caBundlePath).toBe('/etc/nova/ca.pem');
    expect(nova.osloConfig).toContain('connection = mysql+pymysql://nova:@@NOVA_DATABASE_PASSWORD@@@proxysql.openstack.svc:3306/nova?charset=utf8&ssl_ca=/etc/nova/ca.pem');
    expect(find(synth(chart), 'Certificate', 'proxysql-tls').spec.ipAddresses).toEqual([CONTROL_PLANE_PROPS.vip.address]);
    expect(() => cp.connection('nova', { caBundlePath: 'ca.pem&ssl_verify_cert=false' })).toThrow(/options\.caBundlePath/);
    // Without it: no ssl_ca, no caBundlePath.
    const plain = new OpenStackControlPlane(newChart('openstack'), 'cp', CONTROL_PLANE_PROPS).connection('nova');
    expect(plain.databaseConnections.nova).toMatch(/\?charset=utf8$/);
    expect(plain.caBundlePath).toBeUndefined();
  });
});
