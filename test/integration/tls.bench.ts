/**
 * TLS against plaintext, side by side in one run (`npm run bench` runs it through scripts/bench-tls.sh): for each
 * component, the real daemon started with the configuration this library renders, plaintext and TLS, certificates
 * made here with openssl (support/certs.ts), one load generator for both (support/tls_bench_client.py, the client
 * library the OpenStack services use). Prints one table: ops/s and p50/p99 latency over persistent connections, and
 * p50/p99 of opening a new connection (the handshake), with the method beside it. Figures, not assertions; a
 * component that cannot be measured fails the run with its reason (never a row of zeros).
 *
 * - SQL: one Galera member (the harness: entrypoint.sh, renderServerConfig with GaleraPetSet's `tls` defaults) on
 *   127.0.118.1; TLS is optional for clients there (requireSecureTransport's default), so one server serves both.
 * - AMQP: a synthesized RabbitDaemonSet with `tls` and `plaintextAmqp` (5671 and 5672 on each broker): three brokers
 *   (the fewest it accepts) in network namespaces tlsb-a/b/c (10.118.0.11-13), the load on the first, the client in
 *   tlsb-cl (10.118.0.20), the bridge in tlsb-br.
 * - memcached: two instances of a synthesized MemcachedPool's args, without `tls` on 127.0.118.31 and with it (`-Z`)
 *   on 127.0.118.32, port 11811.
 * - HTTPS: HAProxy's rendered haproxy.cfg (keystone on 15118, stats 18418), with TLS termination on 127.0.118.10
 *   and without on 127.0.118.11, both to one trivial node backend on 127.0.118.21:18181.
 * Every address, namespace and port here is used by no other file in test/integration; files under
 * /tmp/tls-bench-* (and the harnesses' own mkdtemp directories), removed at the end.
 *
 * ProxySQL is not measured: it is in neither Debian nor npm, so it cannot be installed here (the output says so).
 */
import { execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MemcachedPool, MemcachedTlsOptions, Placement, RabbitDaemonSet, RabbitVersion, SecretValue, TlsCertificates } from '../../lib';
import { renderUsersFile } from '../../lib/galera/users';
import { openStackService } from '../../lib/haproxy/catalogue';
import { renderHaproxyCfg } from '../../lib/haproxy/render';
import { adminAndNova, fullHaproxyModel } from '../support/fixtures';
import { find, newChart, synth } from '../support/harness';
import { GaleraTestCluster, missingGaleraTools, MYSQL_USER } from './galera-harness';
import { TestCa } from './support/certs';
import { Daemons, waitForTcp, which } from './support/daemons';
import { startRenderedHaproxy } from './support/haproxy';
import { missingOsloClients, PYTHON } from './support/oslo';
import { missingRabbitTools, RabbitNamespaceCluster } from './support/rabbit-cluster';

/** Per mode: seconds of the persistent phase and of the new-connection phase, and the persistent connections (env to change). */
const SECONDS = Number(process.env.TLS_BENCH_SECONDS ?? 5);
const SETUP_SECONDS = Number(process.env.TLS_BENCH_SETUP_SECONDS ?? 3);
const SETUP_MAX = 1000;
const CONCURRENCY = Number(process.env.TLS_BENCH_CONCURRENCY ?? 4);
const PAYLOAD = 1024;
/** One phase's bound: generous, the bench may run beside other work (then its figures say little, but it ends). */
const MEASURE_TIMEOUT_MS = 2 * (SECONDS + SETUP_SECONDS) * 1000 + 600_000;

const CLIENT = path.join(__dirname, 'support', 'tls_bench_client.py');
const NOVA_PASSWORD = 'tls-bench-nova';
const SQL_HOST = '127.0.118.1';
const MEMCACHED = { plain: '127.0.118.31', tls: '127.0.118.32', port: 11811 };
const HAPROXY = { tls: '127.0.118.10', plain: '127.0.118.11', port: 15118, statsPort: 18418 };
const BACKEND = { host: '127.0.118.21', port: 18181 };
/** Three brokers (the fewest a RabbitDaemonSet accepts); the load goes to the first. */
const RABBIT = {
  bridge: 'tlsb-br',
  nodes: [{ name: 'tlsb-a', ip: '10.118.0.11' }, { name: 'tlsb-b', ip: '10.118.0.12' }, { name: 'tlsb-c', ip: '10.118.0.13' }],
  client: { name: 'tlsb-cl', ip: '10.118.0.20' },
};
const RABBIT_SECRETS: Record<string, string> = { 'rabbitmq-users/admin': 'tls-bench-admin', 'rabbitmq-users/nova': NOVA_PASSWORD, 'tlsb-cookie/cookie': 'TLSBENCHCOOKIEABCDEFGHIJKLMNOP' };
/** memcached drops to nobody; its key is 0440 root:nogroup, as the kubelet mounts it with the pod's fsGroup. */
const NOBODY = { uid: 65534, gid: 65534 };

jest.setTimeout(900_000);

interface Figures {
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly negotiated: readonly string[];
  readonly setup: { readonly count: number; readonly p50Ms: number; readonly p99Ms: number };
}

interface Row {
  readonly component: string;
  /** The daemon, its version and what of our rendering it runs. */
  server: string;
  /** The client library and its Python and OpenSSL. */
  client?: string;
  plain?: Figures;
  tls?: Figures;
  error?: string;
}

const rows: Row[] = ['SQL (MariaDB/Galera)', 'AMQP publish, confirms', 'memcached get', 'HTTPS via HAProxy'].map((component) => ({ component, server: '' }));

let work: string;
let ca: TestCa;
let idleBefore: number;
const loadBefore = os.loadavg();

/**
 * The machine's idle share over `ms` (/proc/stat: idle + iowait over all cores), taken before anything starts: the
 * load average alone would also count `npm run bench`'s own earlier steps.
 */
async function idleShare(ms: number): Promise<number> {
  const read = () => fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const before = read();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const spent = read().map((x, i) => x - before[i]);
  return (spent[3] + spent[4]) / spent.reduce((a, b) => a + b, 0);
}

/** The version of installed Debian packages, for the table. */
function debianVersion(pkg: string): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f', '${Version}', pkg]).toString().replace(/^\d+:/, '').replace(/[-+~].*$/, '');
  } catch {
    return '?';
  }
}

/** The load generator on one component, plaintext against TLS (in `netns` if given); rejects with its reason. */
async function measure(r: Row, server: string, spec: Record<string, unknown>, netns?: string): Promise<void> {
  r.server = server;
  const full = { concurrency: CONCURRENCY, seconds: SECONDS, setupSeconds: SETUP_SECONDS, setupMax: SETUP_MAX, payload: PAYLOAD, ca: ca.caFile, ...spec };
  const argv = [PYTHON, CLIENT, JSON.stringify(full)];
  const [command, ...args] = netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv;
  const out = await new Promise<{ client: string; plain: Figures; tls: Figures }>((resolve, reject) => execFile(command, args,
    { timeout: MEASURE_TIMEOUT_MS, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`load generator: ${stderr.trim() || error.message}`));
      try {
        return resolve(JSON.parse(stdout));
      } catch {
        return reject(new Error(`load generator: not one JSON object: ${stdout.slice(0, 200)} ${stderr.slice(0, 200)}`));
      }
    }));
  r.client = out.client;
  r.plain = out.plain;
  r.tls = out.tls;
}

/** One component's test: a failure anywhere (missing tools, a daemon, a measurement) goes into its row, and fails the run. */
async function component(prefix: string, body: (r: Row) => Promise<void>): Promise<void> {
  const r = rows.find((x) => x.component.startsWith(prefix))!;
  try {
    await body(r);
  } catch (e) {
    r.error = (e as Error).message.split('\n').filter((l) => l.trim() !== '').slice(0, 3).join(' | ');
    throw e;
  }
}

function failIfMissing(missing: string[], fix: string): void {
  if (missing.length > 0) throw new Error(`cannot be measured: missing ${missing.join(', ')} (${fix})`);
}

/** The memcached command line a one-node MemcachedPool renders, with or without TLS, for `ip` and `tlsDir`. */
function memcachedArgs(ip: string, tls: MemcachedTlsOptions | undefined, tlsDir: string): string[] {
  const chart = newChart();
  new MemcachedPool(chart, 'mc', {
    placement: Placement.onNodes([{ name: 'n1', ip }]), port: MEMCACHED.port, resources: { memoryLimitMiB: 256, memoryRequestMiB: 256 }, ...(tls ? { tls } : {}),
  });
  const container = find(synth(chart), 'DaemonSet', 'mc').spec.template.spec.containers.find((c: { name: string }) => c.name === 'memcached');
  return (container.args as string[]).map((a) => a.replace('$(HOST_IP)', ip).split('/etc/memcached-tls').join(tlsDir));
}

beforeAll(async () => {
  idleBefore = await idleShare(3000);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-bench-'));
  fs.chmodSync(work, 0o755);
  ca = new TestCa(work, 'tls-bench-ca');
});

afterAll(() => {
  process.stdout.write(report());
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('TLS against plaintext, per component (figures, not assertions)', () => {
  test('memcached get: a MemcachedPool without tls and one with tls (-Z)', () => component('memcached', async (r) => {
    failIfMissing(['memcached', 'openssl'].filter((b) => !which(b)).concat(missingOsloClients()), 'scripts/install-deps.sh');
    const daemons = new Daemons();
    try {
      const tlsDir = path.join(work, 'memcached-tls');
      ca.install(tlsDir, { sans: [`IP:${MEMCACHED.tls}`] }, NOBODY);
      fs.chmodSync(tlsDir, 0o755);
      const certificates = TlsCertificates.fromSecrets({ secrets: [{ component: 'mc', secretName: 'mc-tls', covers: [MEMCACHED.tls] }] });
      const plainArgs = memcachedArgs(MEMCACHED.plain, undefined, tlsDir);
      const tlsArgs = memcachedArgs(MEMCACHED.tls, { certificates }, tlsDir);
      for (const [ip, args] of [[MEMCACHED.plain, plainArgs], [MEMCACHED.tls, tlsArgs]] as const) {
        daemons.start('memcached', [...args, '-u', 'nobody']);
        await waitForTcp(ip, MEMCACHED.port, 60_000);
      }
      const threads = plainArgs[plainArgs.indexOf('-t') + 1];
      await measure(r, `memcached ${debianVersion('memcached')}, ${threads} threads (rendered args; TLS: -Z, server certificate only)`, {
        component: 'memcached', key: 'tls-bench', plain: { host: MEMCACHED.plain, port: MEMCACHED.port }, tls: { host: MEMCACHED.tls, port: MEMCACHED.port },
      });
    } finally {
      await daemons.stopAll();
    }
  }));

  test('HTTPS via HAProxy: the rendered haproxy.cfg with TLS termination and without, to one backend', () => component('HTTPS', async (r) => {
    failIfMissing(['haproxy', 'openssl', 'unshare', 'mount'].filter((b) => !which(b)).concat(missingOsloClients()), 'scripts/install-deps.sh');
    const daemons = new Daemons();
    try {
      const tlsDir = path.join(work, 'haproxy-tls');
      ca.install(tlsDir, { sans: [`IP:${HAPROXY.tls}`] });
      // The API: a 1 KiB body, keep-alive longer than HAProxy's idle backend connections (as a WSGI server should).
      daemons.start(process.execPath, ['-e', `const s = require('http').createServer((q, r) => r.end(Buffer.alloc(${PAYLOAD}, 120)));` +
        `s.keepAliveTimeout = 120000; s.listen(${BACKEND.port}, '${BACKEND.host}');`]);
      await waitForTcp(BACKEND.host, BACKEND.port, 60_000);
      const cfg = (bind: string, tls: boolean) => renderHaproxyCfg(fullHaproxyModel({
        bindAddress: bind, statsPort: HAPROXY.statsPort, nameservers: [], galera: undefined,
        services: [openStackService('keystone', { port: HAPROXY.port, servers: [{ name: 'api-0', address: BACKEND.host, port: BACKEND.port }], tls })],
        ...(tls ? { tls: { certificate: path.join(tlsDir, 'tls.crt'), ca: path.join(tlsDir, 'ca.crt'), hstsMaxAgeSeconds: 63_072_000, reencrypt: false } } : {}),
      }));
      await startRenderedHaproxy(daemons, path.join(work, 'haproxy-plain'), cfg(HAPROXY.plain, false), HAPROXY.plain, HAPROXY.statsPort);
      await startRenderedHaproxy(daemons, path.join(work, 'haproxy-tls-run'), cfg(HAPROXY.tls, true), HAPROXY.tls, HAPROXY.statsPort);
      await measure(r, `HAProxy ${debianVersion('haproxy')} (rendered haproxy.cfg, keystone frontend) -> node http backend, plain HTTP behind`, {
        component: 'https', path: '/v3', plain: { host: HAPROXY.plain, port: HAPROXY.port }, tls: { host: HAPROXY.tls, port: HAPROXY.port },
      });
    } finally {
      await daemons.stopAll();
    }
  }));

  test('SQL: one Galera member with the server TLS config GaleraPetSet renders, clients with and without TLS', () => component('SQL', async (r) => {
    failIfMissing([...missingGaleraTools(), ...missingOsloClients()], 'scripts/install-deps.sh, as root');
    const cluster = new GaleraTestCluster([SQL_HOST]);
    try {
      cluster.extraEnv = { NOVA_DB_PASSWORD: NOVA_PASSWORD };
      cluster.writeUsersFile(renderUsersFile([{ name: 'nova', passwordEnv: 'NOVA_DB_PASSWORD', databases: ['nova'] }]));
      const [member] = cluster.members;
      const tlsDir = path.join(cluster.root, 'tls');
      ca.install(tlsDir, { sans: [`IP:${SQL_HOST}`] }, { uid: 0, gid: MYSQL_USER.gid });
      // GaleraPetSet's tls defaults: clients may use TLS (not required), replication and SST encrypted.
      member.tls = {
        directory: tlsDir, certificate: `${tlsDir}/tls.crt`, privateKey: `${tlsDir}/tls.key`, ca: `${tlsDir}/ca.crt`,
        requireSecureTransport: false, replication: true, stateTransfer: true, replicationTransition: false,
      };
      member.startEntrypoint();
      await member.decide('bootstrap');
      await member.waitSynced(300_000);
      await member.waitSettled(300_000);
      const version = await member.sql('SELECT VERSION()');
      const server = { host: SQL_HOST, port: 3306 };
      await measure(r, `MariaDB ${version.replace(/-.*/, '')} + Galera, one member (rendered server config; TLS optional for clients)`, {
        component: 'sql', user: 'nova', password: NOVA_PASSWORD, database: 'nova', plain: server, tls: server,
      });
    } finally {
      await cluster.destroy();
    }
  }));

  test('AMQP publish with confirms: a RabbitDaemonSet with tls and plaintextAmqp (5671 and 5672), load on one broker', () => component('AMQP', async (r) => {
    failIfMissing([...missingRabbitTools(), ...missingOsloClients()], 'scripts/install-deps.sh, as root');
    const covers = RABBIT.nodes.flatMap((node) => [node.name, node.ip]);
    let leaf: { certificate: string; privateKey: string; ca: string } | undefined;
    const secretValue = (name: string, key: string) => {
      if (name === 'tlsb-tls') return ({ 'tls.crt': leaf!.certificate, 'tls.key': leaf!.privateKey, 'ca.crt': leaf!.ca } as Record<string, string>)[key];
      const value = RABBIT_SECRETS[`${name}/${key}`];
      if (value === undefined) throw new Error(`the manifest refers to an unknown Secret ${name}/${key}`);
      return value;
    };
    const cluster = new RabbitNamespaceCluster({ bridge: RABBIT.bridge, nodes: RABBIT.nodes, clients: [RABBIT.client], daemonSet: 'tlsb', secretValue });
    try {
      leaf = ca.issue({ sans: RABBIT.nodes.flatMap((node) => [`DNS:${node.name}`, `IP:${node.ip}`]) });
      const chart = newChart('openstack');
      new RabbitDaemonSet(chart, 'tlsb', {
        placement: Placement.onNodes(RABBIT.nodes), version: RabbitVersion.V3_10, image: 'debian-rabbitmq-server-3.10',
        erlangCookie: SecretValue.fromSecret('tlsb-cookie', 'cookie'), users: adminAndNova(),
        resources: { memoryRequestMiB: 1024, memoryLimitMiB: 1024 }, diskFreeLimitBytes: 50_000_000,
        tls: { certificates: TlsCertificates.fromSecrets({ secrets: [{ component: 'tlsb', secretName: 'tlsb-tls', covers }] }), plaintextAmqp: true },
      });
      cluster.setUp(synth(chart));
      // Bounded generously: the bench may run beside other work (three blank brokers form in under a minute idle).
      await cluster.startAllBrokers(600_000);
      const host = RABBIT.nodes[0].ip;
      await measure(r, `RabbitMQ ${debianVersion('rabbitmq-server')} on Erlang ${debianVersion('erlang-base')}, 3 brokers, load on one (rendered config, tls + plaintextAmqp)`, {
        component: 'amqp', user: 'nova', password: NOVA_PASSWORD, queue: 'tls-bench', plain: { host, port: 5672 }, tls: { host, port: 5671 },
      }, RABBIT.client.name);
    } finally {
      await cluster.tearDown();
    }
  }));
});

/** The table, the method and the conditions, as one block of text. */
function report(): string {
  const n = (x: number, digits: number) => x.toFixed(digits);
  const ratio = (tls: number, plain: number) => `${n(tls / plain, 2)}x`;
  const delta = (tls: number, plain: number) => `${tls >= plain ? '+' : ''}${n(tls - plain, 2)}`;
  const header = ['component', 'mode', 'ops/s', 'p50 ms', 'p99 ms', 'new conn p50 ms', 'new conn p99 ms', 'new conns', 'negotiated'];
  const lines: string[][] = [header];
  for (const r of rows) {
    if (r.error !== undefined || !r.plain || !r.tls) {
      lines.push([r.component, 'NOT MEASURED', r.error ?? 'not run (an earlier failure, or the run was interrupted)']);
      continue;
    }
    for (const [mode, f] of [['plaintext', r.plain], ['TLS', r.tls]] as const) {
      lines.push([mode === 'plaintext' ? r.component : '', mode, n(f.opsPerSecond, 0), n(f.p50Ms, 3), n(f.p99Ms, 3), n(f.setup.p50Ms, 2), n(f.setup.p99Ms, 2), String(f.setup.count), f.negotiated.join(', ')]);
    }
    lines.push(['', 'TLS vs plain', ratio(r.tls.opsPerSecond, r.plain.opsPerSecond), delta(r.tls.p50Ms, r.plain.p50Ms), delta(r.tls.p99Ms, r.plain.p99Ms),
      delta(r.tls.setup.p50Ms, r.plain.setup.p50Ms), delta(r.tls.setup.p99Ms, r.plain.setup.p99Ms), '', '']);
  }
  const widths = header.map((_, i) => Math.max(...lines.filter((l) => l.length === header.length).map((l) => l[i].length)));
  const table = lines.map((l) => (l.length === header.length ? l.map((c, i) => (i < 2 || i === 8 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ') : l.join('  ')).trimEnd());
  const loadAfter = os.loadavg();
  const cpus = os.cpus();
  const busy = idleBefore < 0.8;
  const clients = rows.filter((r) => r.client !== undefined).map((r) => r.client);
  return [
    '',
    '=== TLS against plaintext (test/integration/tls.bench.ts): real daemons with the configuration this library renders ===',
    ...table,
    '',
    'Servers:',
    ...rows.map((r) => `  ${r.component}: ${r.server || '(not started)'}`),
    'Method:',
    `  client: one load generator for plaintext and TLS (test/integration/support/tls_bench_client.py), the client library the OpenStack services use: ${clients.join('; ') || '(none ran)'}.`,
    '    TLS: the client verifies the chain against the test CA and the host name (the IP in the certificate); no client certificate; no session resumption.',
    `  persistent (ops/s, p50/p99): ${CONCURRENCY} processes with one connection each, closed loop (the next request once the reply is in), ${SECONDS} s per mode`,
    '    after 20 warm-up operations per connection; ops/s over all connections; p50/p99 of one operation. A connection replaced during the run fails the bench.',
    `  new connections (handshake cost): one process, one connection after another (each closed), ${SETUP_SECONDS} s or ${SETUP_MAX} connections per mode: connect until`,
    '    the first request can be sent: TCP + TLS handshake, plus SQL authentication, plus AMQP connection.open and channel.open (memcached and HTTP: TCP + TLS).',
    '  order: each phase in two halves, plaintext, TLS, TLS, plaintext (a load that drifts during the run favours neither side); one component at a time.',
    `  payload: ${PAYLOAD} bytes: SQL point SELECT of a ${PAYLOAD}-byte row by primary key (1000 rows, InnoDB); AMQP basic.publish of a transient ${PAYLOAD}-byte`,
    `    message to an unconsumed classic queue (x-max-length 10000), each waiting for its confirm; memcached get of a ${PAYLOAD}-byte value; HTTP/1.1 GET of a ${PAYLOAD}-byte body.`,
    '  certificates: ECDSA P-256 leaves of a test CA (openssl); versions and ciphers are what the rendered configs allow (negotiated column).',
    `  machine: ${cpus.length} cores (${cpus[0]?.model.trim() ?? '?'}), shared by the client and the daemons (no pinning: ops/s measure the machine, client included);`,
    `    before the run, ${n(idleBefore * 100, 0)}% idle (3 s sampled); load average (1 min) ${n(loadBefore[0], 2)} before, ${n(loadAfter[0], 2)} after; nice ${os.getPriority()}.`,
    ...(busy ? ['    THE MACHINE WAS BUSY during this run: absolute figures are not comparable with an idle run; compare plaintext and TLS within the run only.'] : []),
    'Not measured here:',
    '  SQL through ProxySQL: ProxySQL is in neither Debian nor npm, so it cannot be installed on these machines; SQL is measured directly against',
    '    MariaDB/Galera (the client leg ProxySQL would terminate; through ProxySQL a second TLS leg, proxy to member, adds its own cost).',
    '  Galera replication and SST over TLS (one member), RabbitMQ distribution over TLS (on, but the measured queue is not replicated),',
    '    HAProxy re-encryption to backends, client certificates.',
    '',
  ].join('\n');
}
