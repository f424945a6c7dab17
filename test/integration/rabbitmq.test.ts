/**
 * The real broker (Debian's rabbitmq-server 3.10.8) runs what a synthesized `RabbitDaemonSet` deploys: three
 * brokers, each in its own network namespace (rmqt-a/b/c, 10.214.0.11-13) on a bridge inside a fourth
 * (rmqt-br), run by `support/rabbit-cluster.ts` as the kubelet would run the DaemonSet's container.
 *
 * What differs from production: the 3.10 line (rendered with RabbitVersion.V3_10: the same keys as 3.13;
 * 4.x swaps mirroring for quorum queues, which this broker cannot show), `-kernel net_ticktime 10`
 * (default 60) so a cut-off node notices within ~15 s instead of ~75 s, and paths under a temp dir.
 *
 * Figures (formation, pause, rejoin times) are printed, never asserted. The throughput of the mirrored vs the
 * unreplicated queues is a benchmark: `npm run bench` (rabbitmq-throughput.bench.ts).
 */
import { spawnSync } from 'child_process';
import { mkdirSync, readFileSync, rmSync } from 'fs';
import { join } from 'path';
import { Placement, RabbitDaemonSet, RabbitVersion, SecretValue } from '../../lib';
import { newChart, synth } from '../support/harness';
import { adminAndNova } from '../support/fixtures';
import {
  eventually, HARD_NOFILE, mirrors, missingRabbitTools, must, PYTHON, RabbitNamespaceCluster, sh, tearDownAndPrint, waitFor,
} from './support/rabbit-cluster';
import { procFile } from './support/daemons';

const BRIDGE_NS = 'rmqt-br';
const NODES = [
  { name: 'rmqt-a', ip: '10.214.0.11' },
  { name: 'rmqt-b', ip: '10.214.0.12' },
  { name: 'rmqt-c', ip: '10.214.0.13' },
];
const PASSWORDS: Record<string, string> = {
  // Quote and backslash: start.sh must JSON-escape what it puts into definitions.json.
  admin: 'adm"in\\pass',
  nova: 'nova-pass',
};
const COOKIE = 'RMQTESTCOOKIEABCDEFGHIJKLMNOP';
/** The test's Secrets, by name then key (what the manifest's secretKeyRefs and Secret volumes point at). */
function secretValue(name: string, key: string): string {
  if (name === 'rabbitmq-users') return PASSWORDS[key];
  if (name === 'rmqt-cookie' && key === 'cookie') return COOKIE;
  throw new Error(`the manifest refers to an unknown Secret ${name}/${key}`);
}

const missing = missingRabbitTools();
if (missing.length > 0 && !process.env.CI) {
  // eslint-disable-next-line no-console
  console.warn(`skipping RabbitMQ integration tests: missing ${missing.join(', ')}`);
}
const describeIfTools = missing.length > 0 && !process.env.CI ? describe.skip : describe;

describeIfTools('RabbitMQ 3.10 cluster in network namespaces', () => {
  let cluster: RabbitNamespaceCluster;
  const figures: string[] = [];
  const container = () => cluster.container;
  const nodeDir = (node: string) => cluster.nodeDir(node);
  const renderDir = (node: string) => cluster.volumeDir(node, 'render');
  const dataDir = (node: string) => cluster.volumeDir(node, 'data');
  const mnesiaBase = (node: string) => join(dataDir(node), 'mnesia');

  /** Declares queues as oslo.messaging does (python3-pika): `[vhost, name, durable]`. */
  function declare(node: { name: string; ip: string }, declarations: [string, string, boolean][]): void {
    const program = [
      'import json, os, sys, pika',
      'creds = pika.PlainCredentials("nova", os.environ["PW"])',
      'for vhost, name, durable in json.loads(sys.argv[1]):',
      `    c = pika.BlockingConnection(pika.ConnectionParameters("${node.ip}", 5672, vhost, creds))`,
      '    c.channel().queue_declare(name, durable=durable)',
      '    c.close()',
    ].join('\n');
    const r = sh('ip', ['netns', 'exec', node.name, PYTHON, '-c', program, JSON.stringify(declarations)], 30_000,
      { ...process.env, PW: PASSWORDS.nova });
    if (r.status !== 0) throw new Error(`declare failed: ${r.stderr}`);
  }

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`CI is set but tools are missing: ${missing.join(', ')}`);
    cluster = new RabbitNamespaceCluster({ bridge: BRIDGE_NS, nodes: NODES, daemonSet: 'rmqt', secretValue });
    const chart = newChart('openstack');
    new RabbitDaemonSet(chart, 'rmqt', {
      placement: Placement.onNodes(NODES),
      version: RabbitVersion.V3_10,
      image: 'debian-rabbitmq-server-3.10',
      erlangCookie: SecretValue.fromSecret('rmqt-cookie', 'cookie'),
      users: adminAndNova(),
      resources: { memoryRequestMiB: 1024, memoryLimitMiB: 1024 },
      diskFreeLimitBytes: 50_000_000,
      drainTimeoutSeconds: 60,
    });
    cluster.setUp(synth(chart));

    figures.push(`cluster formation (3 blank brokers, started together): ${(await cluster.startAllBrokers()).toFixed(1)} s`);
  }, 360_000);

  afterAll(() => tearDownAndPrint(cluster, 'RabbitMQ integration figures', figures), 90_000);

  test('three brokers form one cluster; every listener is on the node IP; users come from the definitions', async () => {
    for (const node of NODES) {
      await eventually(`${node.name} to see all three running`, 30_000, () => cluster.runningNodes(node.name), NODES.map((n) => `rabbit@${n.name}`));
    }
    const listeners = sh('ip', ['netns', 'exec', 'rmqt-a', 'ss', '-ltnH']).stdout;
    for (const port of [5672, 15672, 15692, 25672]) {
      expect(listeners).toContain(`10.214.0.11:${port}`);
      expect(listeners).not.toMatch(new RegExp(`(0\\.0\\.0\\.0|\\*|\\[::\\]):${port}\\b`));
    }
    const users = cluster.ctl('rmqt-a', ['list_users', '--formatter', 'json']);
    expect((JSON.parse(users.stdout) as any[]).map((u) => u.user).sort()).toEqual(['admin', 'nova']); // no guest
    expect(cluster.ctl('rmqt-b', ['authenticate_user', 'admin', PASSWORDS.admin]).status).toBe(0);
    expect(cluster.ctl('rmqt-b', ['authenticate_user', 'nova', 'wrong']).status).not.toBe(0);
    // The rendered definitions hold the password (memory-backed dir in the pod), readable by the owner only.
    expect(readFileSync(join(renderDir('rmqt-a'), 'definitions.json'), 'utf8')).toContain('"adm\\"in\\\\pass"');
    expect(spawnSync('stat', ['-c', '%a', join(dataDir('rmqt-a'), '.erlang.cookie')], { encoding: 'utf8' }).stdout.trim()).toBe('600');
  });

  test('start.sh raises the soft open-files limit to the hard one (started with 1024, as containerd 2 does)', () => {
    expect(HARD_NOFILE).toBeGreaterThan(1024);
    for (const node of NODES) {
      const beam = sh('ip', ['netns', 'pids', node.name]).stdout.split('\n').filter((p) => p.trim() !== '')
        .find((pid) => procFile(pid, 'comm')?.trim() === 'beam.smp');
      expect(beam).toBeDefined();
      const limits = procFile(beam!, 'limits') ?? '';
      expect(/^Max open files\s+(\d+)\s+(\d+)/m.exec(limits)?.slice(1)).toEqual([String(HARD_NOFILE), String(HARD_NOFILE)]);
    }
  });

  test('a queue in the notifications vhost is mirrored; RPC queues in / are not, and get TTL/expiry', async () => {
    declare(NODES[0], [
      ['notifications', 'notifications.info', true],
      ['/', 'compute.host1', false],
      ['/', 'reply_0123abcd', false],
      ['/', 'compute_fanout_0123abcd', false],
    ]);
    const info = await waitFor('a synchronised mirror of notifications.info', 30_000, () => {
      const q = cluster.queues('rmqt-a', 'notifications')['notifications.info'];
      return q && mirrors(q.synchronised_slave_pids) === 1 ? q : undefined;
    });
    expect(info.policy).toBe('notifications-ha');
    expect(info.durable).toBe(true);
    expect(mirrors(info.slave_pids)).toBe(1); // ha-mode exactly 2: one master + one mirror

    const rpc = cluster.queues('rmqt-a', '/');
    expect(rpc['compute.host1']).toMatchObject({ policy: 'rpc-hygiene', durable: false });
    expect(rpc.reply_0123abcd.policy).toBe('rpc-transient');
    expect(rpc.compute_fanout_0123abcd.policy).toBe('rpc-transient');
    for (const name of ['compute.host1', 'reply_0123abcd', 'compute_fanout_0123abcd']) expect(mirrors(rpc[name].slave_pids)).toBe(0);
  }, 90_000);

  test('a broker cut off from its peers pauses (pause_minority) and resumes when the link returns', async () => {
    const c = NODES[2];
    const t0 = Date.now();
    must('ip', ['-n', BRIDGE_NS, 'link', 'set', cluster.linkOf(c.name), 'down']);
    try {
      await cluster.waitFor('rmqt-c to pause', 90_000, () => (cluster.isRunning('rmqt-c') === false ? true : undefined));
      figures.push(`link down -> minority node paused: ${((Date.now() - t0) / 1000).toFixed(1)} s (net_ticktime 10)`);
      // Paused = not listening: a TCP readiness probe on 5672 fails, so Services and clients move off it.
      await eventually('the paused rmqt-c to close 5672', 30_000, () => cluster.amqpPortOpen(c), false);
      // The majority notices on its own tick: wait for its view, do not sample it.
      await eventually('the majority to see two running', 60_000, () => cluster.runningNodes('rmqt-a'), ['rabbit@rmqt-a', 'rabbit@rmqt-b']);
      await eventually('the majority to keep 5672 open', 30_000, () => cluster.amqpPortOpen(NODES[0]), true);
      // The manifest's liveness command still succeeds: a paused broker must not be restarted.
      expect(cluster.inContainer('rmqt-c', container().livenessProbe.exec.command).status).toBe(0);
    } finally {
      must('ip', ['-n', BRIDGE_NS, 'link', 'set', cluster.linkOf(c.name), 'up']);
    }
    const t1 = Date.now();
    await cluster.waitFor('rmqt-c to resume', 90_000, () => (cluster.runningNodes('rmqt-a')?.length === 3 && cluster.isRunning('rmqt-c') ? true : undefined));
    figures.push(`link up -> paused node running again: ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    await waitFor('rmqt-c to listen on 5672', 30_000, () => (cluster.amqpPortOpen(c) ? true : undefined));
  }, 200_000);

  test('a broker whose data dir is wiped rejoins by itself (start.sh forgets it on a live peer first)', async () => {
    const b = NODES[1];
    await cluster.stopBroker(b.name);
    rmSync(mnesiaBase(b.name), { recursive: true, force: true });
    mkdirSync(mnesiaBase(b.name));
    const t0 = Date.now();
    cluster.startBroker(b);
    await cluster.waitFor('the wiped rmqt-b to rejoin', 120_000, () => (cluster.runningNodes('rmqt-a')?.length === 3 && cluster.isRunning('rmqt-b') ? true : undefined));
    figures.push(`wiped broker restarted -> running in the cluster: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const log = readFileSync(join(nodeDir(b.name), 'broker.log'), 'utf8');
    expect(log).toMatch(/rabbit@rmqt-[ac] forgot the stale rabbit@rmqt-b/);
    await eventually('rmqt-b to see all three', 30_000, () => cluster.runningNodes('rmqt-b'), NODES.map((n) => `rabbit@${n.name}`));
    // The notification queue survived on the others and is mirrored again.
    await waitFor('notifications.info mirrored again', 60_000, () =>
      (mirrors(cluster.queues('rmqt-a', 'notifications')['notifications.info']?.synchronised_slave_pids) === 1 ? true : undefined));
  }, 200_000);

  test('the manifest\'s preStop drains the broker; restarted, it leaves maintenance mode and applies a rotated password', async () => {
    const c = NODES[2];
    const t0 = Date.now();
    const preStop = cluster.inContainer(c.name, container().lifecycle.preStop.exec.command, 150_000);
    expect(preStop.status).toBe(0);
    figures.push(`preStop (await synchronised mirror + drain): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await eventually('the drained rmqt-c to close 5672', 30_000, () => cluster.amqpPortOpen(c), false);
    const underMaintenance = (node: string): boolean | undefined => {
      const r = cluster.ctl('rmqt-a', ['cluster_status', '--formatter', 'json']);
      const status = r.status === 0 ? JSON.parse(r.stdout).maintenance_status?.[`rabbit@${node}`] : undefined;
      return typeof status === 'string' ? !status.startsWith('not') : undefined;
    };
    await eventually('rmqt-a to see rmqt-c under maintenance', 30_000, () => underMaintenance(c.name), true);
    await cluster.stopBroker(c.name);
    // A rotated Secret reaches the broker on its next start: the changed definitions are imported again
    // (skip_if_unchanged compares the rendered file's hash), and users are cluster-wide.
    const oldPassword = PASSWORDS.nova;
    PASSWORDS.nova = 'nova-rotated';
    // The restarted pod mounts the Secret as it is now (its kubelet writes the credentials volume); the running brokers'
    // files are not updated yet (rabbitmq-rotation.test.ts covers the live path).
    cluster.syncProjectedVolume(c.name, 'credentials');
    cluster.startBroker(c);
    await waitFor('rmqt-c back in the cluster', 120_000, () => (cluster.runningNodes('rmqt-a')?.length === 3 && cluster.amqpPortOpen(c) ? true : undefined));
    await eventually('rmqt-a to see rmqt-c out of maintenance', 30_000, () => underMaintenance(c.name), false);
    expect(cluster.ctl('rmqt-a', ['authenticate_user', 'nova', 'nova-rotated']).status).toBe(0);
    expect(cluster.ctl('rmqt-a', ['authenticate_user', 'nova', oldPassword]).status).not.toBe(0);
    // The other kubelets catch up: their brokers find the password already set.
    for (const node of NODES.slice(0, 2)) cluster.syncProjectedVolume(node.name, 'credentials');
  }, 300_000);

  test('a seed wiped during a full outage waits for its peers instead of forming a second cluster, then rejoins', async () => {
    const [a, b, c] = NODES;
    // Full outage, seed first (and wiped), rmqt-c last: the last broker down restarts without waiting for the others.
    for (const node of NODES) await cluster.stopBroker(node.name);
    rmSync(mnesiaBase(a.name), { recursive: true, force: true });
    mkdirSync(mnesiaBase(a.name));
    const logFile = join(nodeDir(a.name), 'broker.log');
    const logStart = readFileSync(logFile, 'utf8').length;
    const newLog = () => readFileSync(logFile, 'utf8').slice(logStart);

    cluster.startBroker(a);
    await cluster.waitFor('the blank seed to wait twice', 60_000, () =>
      (newLog().split('not forming a new cluster while a peer may hold its data').length > 2 ? true : undefined));
    expect(newLog()).not.toMatch(/first formation|starting rabbit@rmqt-a/);
    expect(cluster.amqpPortOpen(a)).toBe(false);
    // The manifest's liveness command passes during the wait, so the kubelet does not restart it into back-off.
    expect(cluster.inContainer(a.name, container().livenessProbe.exec.command).status).toBe(0);

    const t0 = Date.now();
    cluster.startBroker(c);
    cluster.startBroker(b);
    await cluster.waitFor('all three running again', 150_000, () =>
      (cluster.runningNodes('rmqt-c')?.length === 3 && cluster.isRunning('rmqt-a') ? true : undefined));
    figures.push(`full outage, seed wiped: peers restarted -> seed rejoined, 3 running: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(newLog()).toMatch(/rabbit@rmqt-[bc] forgot the stale rabbit@rmqt-a/);
    await eventually('rmqt-a to see all three', 30_000, () => cluster.runningNodes('rmqt-a'), NODES.map((n) => `rabbit@${n.name}`));
    // One cluster, with the data the peers kept: the durable notification queue is still there.
    expect(Object.keys(cluster.queues('rmqt-a', 'notifications'))).toContain('notifications.info');
  }, 300_000);
});
