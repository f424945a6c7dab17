/**
 * oslo.db (Debian 12: 12.1.0, SQLAlchemy 1.4 + PyMySQL) through a rendered `[database] connection` against a real
 * 3-member Galera cluster (the harness of galera-cluster.test.ts, 127.0.1.1-3), through HAProxy's one-writer Galera
 * listener rendered by this library (ProxySQL cannot be installed here). The writer is killed while the client
 * writes a row every 0.1 s through oslo.db's writer session and its retry decorator (`wrap_db_retry`, retrying on
 * disconnect, as nova's DB API does); every write must end acknowledged and every acknowledged row must be there.
 *
 * The members run with their agents, whose `GET /writer` HAProxy checks (the writer the members decide). Stand-in:
 * the URL is the control plane's URL shape (`databaseUrl`) pointed at HAProxy instead of ProxySQL. Figures (failover
 * seen by the client) are printed, not asserted.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Chart } from 'cdk8s';
import { ServiceConfigRenderer, ServiceConnection } from '../../lib';
import { databaseUrl } from '../../lib/control-plane/connections';
import { renderUsersFile } from '../../lib/galera/users';
import { haproxyCommand, renderHaproxyCfg } from '../../lib/haproxy/render';
import { newApp, synth } from '../support/harness';
import { runInitContainer } from '../support/service-config';
import { fullHaproxyModel } from '../support/fixtures';
import { Daemons, describeUnlessMissing, waitForTcp, which } from './support/daemons';
import { acquireGaleraLock, GaleraTestCluster, missingGaleraTools, releaseGaleraLock, waitFor } from './galera-harness';
import { missingOsloClients, OSLO_CLIENTS, OSLO_CLIENTS_SCRIPT, PYTHON } from './support/oslo';

jest.setTimeout(600_000);

const MEMBERS = ['127.0.1.1', '127.0.1.2', '127.0.1.3'];
const LB = '127.0.6.1';
const LB_PORT = 13306;
const AGENT_PORT = 9200;
const STATS_PORT = 18405;
/** Percent-encoded in the URL, raw to PyMySQL; quotes and backslashes for apply-users' SQL. */
const NOVA_PASSWORD = `n@va:p/w%d?#$x'"\\`;
const RUN_SECONDS = 40;

const missing = [...missingGaleraTools(), ...missingOsloClients(), ...(which('haproxy') ? [] : ['haproxy'])];

describeUnlessMissing('oslo.db through the rendered database URL, HAProxy\'s Galera listener and a writer failover', missing,
  `apt-get install mariadb-server galera-4 mariadb-backup socat haproxy ${OSLO_CLIENTS.join(' ')}, and run as root`, () => {
  let cluster: GaleraTestCluster;
  let configFile: string;
  const daemons = new Daemons();

  beforeAll(async () => {
    // Other Galera suites share the 127.0.1.x addresses: wait for them (a long one takes minutes).
    await acquireGaleraLock(1_200_000);
    cluster = new GaleraTestCluster(MEMBERS);
    cluster.extraEnv = { NOVA_DB_PASSWORD: NOVA_PASSWORD };
    cluster.writeUsersFile(renderUsersFile([{ name: 'nova', passwordEnv: 'NOVA_DB_PASSWORD', databases: ['nova'] }]));
    cluster.buildAgent();
    for (const m of cluster.members) {
      m.startEntrypoint();
      m.startAgent({
        GALERA_CLUSTER_SIZE: '3', GALERA_AGENT_PORT: String(AGENT_PORT), GALERA_PEER_URLS: MEMBERS.map((ip) => `http://${ip}:${AGENT_PORT}`).join(','),
      });
    }
    await Promise.all(cluster.members.map((m) => m.waitSynced(300_000)));
    // apply-users runs once a member is Synced: wait until nova can log in on each member.
    for (const m of cluster.members) await waitFor(`nova on ${m.name}`, 60_000, async () => ((await m.login('nova', NOVA_PASSWORD)).code === 0 ? true : undefined));

    // HAProxy with the rendered one-writer listener, run as its container runs it (config path, master socket).
    const cfg = renderHaproxyCfg(fullHaproxyModel({
      bindAddress: LB, statsPort: STATS_PORT, services: [],
      galera: { port: LB_PORT, checkPort: AGENT_PORT, checkPath: '/writer', timeoutSeconds: 5400, servers: MEMBERS.map((address, i) => ({ name: `galera-${i}`, address, port: 3306 })) },
    }));
    const dir = path.join(cluster.root, 'haproxy');
    fs.mkdirSync(path.join(dir, 'etc', 'haproxy'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'run'));
    fs.writeFileSync(path.join(dir, 'etc', 'haproxy', 'haproxy.cfg'), cfg);
    const command = haproxyCommand().join(' ');
    daemons.start('unshare', ['-m', 'sh', '-c', `mount --bind ${dir}/run /run/haproxy && mount --bind ${dir}/etc /usr/local/etc && exec ${command}`]);
    await waitForTcp(LB, LB_PORT);

    // The service's config, rendered by the renderer's init container from a connection with the generated URL shape.
    const url = (port: number) => databaseUrl('nova', '@@NOVA_DATABASE_PASSWORD@@', LB, port, 'nova');
    const connection: ServiceConnection = {
      service: 'nova',
      databaseConnections: { nova: url(LB_PORT) },
      databaseReadOnlyConnections: { nova: url(LB_PORT) },
      memcacheServers: '',
      osloConfig: `[database]\nconnection = ${url(LB_PORT)}\nslave_connection = ${url(LB_PORT)}\n`,
      secretReferences: { NOVA_DATABASE_PASSWORD: 'nova-db/password' },
    };
    const chart = new Chart(newApp(), 'svc', { namespace: 'openstack', disableResourceNameHashes: true });
    const renderer = new ServiceConfigRenderer(chart, 'ha', { connection });
    configFile = path.join(cluster.root, 'nova.conf');
    const run = runInitContainer(renderer, synth(chart), { 'nova-db/password': NOVA_PASSWORD }, configFile);
    if (run.status !== 0) throw new Error(run.stderr);
  }, 1_500_000);

  afterAll(async () => {
    await daemons.stopAll();
    if (cluster) await cluster.destroy();
    releaseGaleraLock();
  });

  test('an oslo.db session writes through HAProxy, and its retries carry every write over a killed writer', async () => {
    const client = spawn(PYTHON, [OSLO_CLIENTS_SCRIPT, 'db', configFile, String(RUN_SECONDS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    client.stdout!.on('data', (d) => { stdout += d; });
    client.stderr!.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((resolve) => client.once('exit', resolve));
    let killedAt = 0;
    let writerIp = '';
    try {
      await waitFor('10 acknowledged writes', 60_000, () => ((stderr.match(/'ok': True/g) ?? []).length >= 10 ? true : undefined))
        .catch((e) => { throw new Error(`${e.message}; the client said:\n${stderr.slice(-3000)}`); });
      // The writer is whichever member HAProxy's one-writer listener picked: the one the writes report.
      const lastWrite = [...stderr.matchAll(/'member': '([0-9.]+)'/g)].pop()![1];
      const writer = cluster.members.find((m) => m.ip === lastWrite)!;
      writerIp = writer.ip;
      killedAt = Date.now() / 1000;
      await writer.kill();
      expect(await exited).toBe(0);
    } finally {
      if (client.exitCode === null) client.kill('SIGKILL');
    }
    const { writes } = JSON.parse(stdout) as { writes: Array<{ id: number; t: number; ms: number; ok: boolean; member?: string; attempts: number; error?: string }> };
    // The retry logic absorbed the failover: no write surfaced an error, and writes went on on another member.
    expect(writes.filter((w) => !w.ok)).toEqual([]);
    const after = writes.filter((w) => w.t > killedAt);
    expect(after.length).toBeGreaterThan(10);
    expect(new Set(after.slice(-5).map((w) => w.member)).size).toBe(1);
    expect(after[after.length - 1].member).not.toBe(writerIp);
    // Every acknowledged row is on the survivors.
    const survivor = cluster.members.find((m) => m.ip !== writerIp)!;
    const count = await survivor.sql('SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM nova.itest_oslo');
    expect(Number(count)).toBe(writes.length);

    const spanning = writes.filter((w) => w.t <= killedAt && w.t + w.ms / 1000 > killedAt).concat(after.slice(0, 1));
    const lastBefore = Math.max(...writes.filter((w) => w.t + w.ms / 1000 <= killedAt).map((w) => w.t + w.ms / 1000));
    const firstAfter = Math.min(...writes.filter((w) => w.t + w.ms / 1000 > killedAt && w.member !== writerIp).map((w) => w.t + w.ms / 1000));
    const retried = writes.filter((w) => w.attempts > 1);
    // eslint-disable-next-line no-console
    console.log(`oslo.db writer failover (SIGKILL of the writer, HAProxy one-writer listener): writes acknowledged again ${(firstAfter - lastBefore).toFixed(1)} s `
      + `after the last one before the kill; ${retried.length} writes needed retries (max ${Math.max(0, ...retried.map((w) => w.attempts))} attempts), `
      + `longest write ${Math.max(...spanning.map((w) => w.ms)).toFixed(0)} ms; 0 errors surfaced; ${writes.length} rows written, ${writes.length} present`);
  });
});
