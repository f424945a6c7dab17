/**
 * The real broker (Debian's rabbitmq-server 3.10.8) runs what a synthesized `RabbitDaemonSet` deploys: three
 * brokers, each in its own network namespace (rmqt-a/b/c, 10.214.0.11-13) on a bridge inside a fourth
 * (rmqt-br), so each uses the ports a host-network pod would, and `rabbit@rmqt-x` resolves only through the
 * generated erl_inetrc host table.
 *
 * Each broker is the DaemonSet's container as the kubelet would run it: its command, its env (downward API and
 * Secret references resolved, `$(VAR)` expanded), and its volumes filled from the synthesized ConfigMaps and
 * from test Secrets. Mount paths that exist on this host (/etc/rabbitmq, /var/lib/rabbitmq) are bind mounts in
 * a private mount namespace, so the rendered config's paths are used verbatim; the others (/etc/rabbitmq-template,
 * /etc/rabbitmq-cookie, /opt/rabbitmq-ha) are rewritten to temp dirs in the env and command; the host's /tmp
 * stands in for the /tmp emptyDir. Probes and the preStop hook are the manifest's own commands.
 *
 * What differs from production: the 3.10 line (rendered with RabbitVersion.V3_10: the same keys as 3.13;
 * 4.x swaps mirroring for quorum queues, which this broker cannot show), `-kernel net_ticktime 10`
 * (default 60) so a cut-off node notices within ~15 s instead of ~75 s, and paths under a temp dir.
 *
 * Figures (formation, pause, rejoin times; throughput) are printed, never asserted.
 */
import { ChildProcess, spawn, spawnSync, SpawnSyncReturns } from 'child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { isDeepStrictEqual } from 'util';
import { Placement, RabbitDaemonSet, RabbitVersion, SecretValue } from '../../lib';
import { find, K8sObject, newChart, synth } from '../support/harness';
import { adminAndNova } from '../support/fixtures';

const RABBIT_BIN = '/usr/lib/rabbitmq/bin';
const PYTHON = '/usr/bin/python3';
const ROOT = join(__dirname, '..', '..');
const BENCH_SCRIPT = join(ROOT, 'scripts', 'bench-rabbitmq.py');
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
/** Mount paths that exist on a Debian host with rabbitmq-server: bind-mounted, so their paths stay verbatim. */
const BIND_MOUNTED = ['/etc/rabbitmq', '/var/lib/rabbitmq'];
/** The host's /tmp stands in for the pod's /tmp emptyDir (the test's own files live there). */
const HOST_PROVIDED = ['/tmp'];

function sh(cmd: string, args: string[], timeoutMs = 60_000, env?: NodeJS.ProcessEnv): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, env: env ?? process.env });
}

function must(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

function missingTools(): string[] {
  const missing: string[] = [];
  if (sh('ip', ['-V']).status !== 0) missing.push('ip (iproute2)');
  if (!existsSync(`${RABBIT_BIN}/rabbitmq-server`)) missing.push('rabbitmq-server (Debian package rabbitmq-server)');
  if (sh(PYTHON, ['-c', 'import pika']).status !== 0) missing.push('python3-pika');
  if (typeof process.getuid === 'function' && process.getuid() !== 0) missing.push('root (network namespaces)');
  return missing;
}

const missing = missingTools();
if (missing.length > 0 && !process.env.CI) {
  // eslint-disable-next-line no-console
  console.warn(`skipping RabbitMQ integration tests: missing ${missing.join(', ')}`);
}
const describeIfTools = missing.length > 0 && !process.env.CI ? describe.skip : describe;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value other than undefined; throws with `what` on timeout. */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(1000);
  }
}

/**
 * Distributed state (a node's view of the cluster, a listener, maintenance status) is waited for, never sampled
 * once: each broker notices a change at its own time. Polls until `probe()` deep-equals `expected`; on timeout the
 * error shows the last value seen.
 */
async function eventually<T>(what: string, timeoutMs: number, probe: () => T, expected: T): Promise<void> {
  let last: T | undefined;
  try {
    await waitFor(what, timeoutMs, () => {
      last = probe();
      return isDeepStrictEqual(last, expected) ? true : undefined;
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}: expected ${JSON.stringify(expected)}, last seen ${JSON.stringify(last)}`);
  }
}

/** The hard open-files limit of this process: the containers get it, with the soft one at 1024 (containerd 2). */
const HARD_NOFILE = Number(/^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]);

describeIfTools('RabbitMQ 3.10 cluster in network namespaces', () => {
  let work: string;
  let objects: K8sObject[];
  let container: any;
  const brokers = new Map<string, ChildProcess>();
  const figures: string[] = [];

  const nodeDir = (node: string) => join(work, node);
  /** The local directory behind a volume of the pod on `node`. */
  const volumeDir = (node: string, volume: string) => join(nodeDir(node), 'volumes', volume);
  const renderDir = (node: string) => volumeDir(node, 'render');
  const dataDir = (node: string) => volumeDir(node, 'data');
  const mnesiaBase = (node: string) => join(dataDir(node), 'mnesia');

  /** Fills the pod's volumes on `node` from the synthesized ConfigMaps and the test Secrets. */
  function createVolumes(node: string): void {
    for (const volume of find(objects, 'DaemonSet', 'rmqt').spec.template.spec.volumes) {
      const dir = volumeDir(node, volume.name);
      mkdirSync(dir, { recursive: true });
      if (volume.configMap) {
        for (const [file, text] of Object.entries<string>(find(objects, 'ConfigMap', volume.configMap.name).data)) writeFileSync(join(dir, file), text);
      } else if (volume.secret) {
        for (const item of volume.secret.items) writeFileSync(join(dir, item.path), secretValue(volume.secret.secretName, item.key), { mode: 0o400 });
      }
    }
  }

  /** A mount path that does not exist here becomes its volume's local dir in env values and commands. */
  function rewritePaths(node: string, text: string): string {
    let out = text;
    for (const m of container.volumeMounts) {
      if (![...BIND_MOUNTED, ...HOST_PROVIDED].includes(m.mountPath)) out = out.split(m.mountPath).join(volumeDir(node, m.name));
    }
    return out;
  }

  /** The container's env as the kubelet builds it on this node: downward API, Secrets, `$(VAR)` expansion. */
  function nodeEnv(node: { name: string; ip: string }): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { PATH: `${RABBIT_BIN}:/usr/sbin:/usr/bin:/sbin:/bin`, LANG: 'C.UTF-8' };
    const fields: Record<string, string> = { 'spec.nodeName': node.name, 'status.hostIP': node.ip };
    for (const e of container.env) {
      if (e.valueFrom?.fieldRef) env[e.name] = fields[e.valueFrom.fieldRef.fieldPath];
      else if (e.valueFrom?.secretKeyRef) env[e.name] = secretValue(e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key);
      else env[e.name] = rewritePaths(node.name, (e.value as string).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (ref, name) => env[name] ?? ref));
    }
    return {
      ...env,
      // Debian's log dir belongs to the rabbitmq user; the official image logs to the console only.
      RABBITMQ_LOG_BASE: join(nodeDir(node.name), 'log'),
      // Test only: a cut-off node notices in ~15 s instead of ~75 s.
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: `${env.RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS} -kernel net_ticktime 10`,
    };
  }

  /** `command` in the node's "container": its network namespace, a private mount namespace with the bind mounts, its env. */
  function containerArgs(node: string, command: string[]): string[] {
    const binds = container.volumeMounts.filter((m: any) => BIND_MOUNTED.includes(m.mountPath))
      .map((m: any) => `mount --bind ${volumeDir(node, m.name)} ${m.mountPath}`);
    return ['netns', 'exec', node, 'unshare', '--mount', '--propagation', 'private', 'bash', '-c',
      `${binds.join(' && ')} && exec "$@"`, 'container', ...command.map((c) => rewritePaths(node, c))];
  }

  function startBroker(node: { name: string; ip: string }): void {
    const log = openSync(join(nodeDir(node.name), 'broker.log'), 'a');
    // As containerd 2 starts a container: soft open-files limit 1024, hard limit high.
    const child = spawn('prlimit', [`--nofile=1024:${HARD_NOFILE}`, '--', 'ip', ...containerArgs(node.name, container.command)], {
      env: nodeEnv(node), stdio: ['ignore', log, log], detached: true,
    });
    closeSync(log);
    brokers.set(node.name, child);
  }

  /** Stops every process in the node's namespace (broker, epmd, CLI leftovers): all were started by this test. */
  async function stopBroker(node: string): Promise<void> {
    const pids = () => (sh('ip', ['netns', 'pids', node]).stdout ?? '').split('\n').filter((p) => p.trim() !== '');
    for (const pid of pids()) sh('kill', ['-TERM', pid]);
    const deadline = Date.now() + 30_000;
    while (pids().length > 0 && Date.now() < deadline) await sleep(500);
    for (const pid of pids()) sh('kill', ['-KILL', pid]);
    while (pids().length > 0) await sleep(200);
    brokers.delete(node);
  }

  /** A command in the node's namespace with the container's env (what kubectl exec, probes and hooks get). */
  function inContainer(node: string, command: string[], timeoutMs = 30_000): SpawnSyncReturns<string> {
    const env = nodeEnv(NODES.find((n) => n.name === node)!);
    return sh('ip', containerArgs(node, command), timeoutMs, env);
  }

  /** rabbitmqctl as a CLI inside the node's namespace would run it: same cookie, same host table. */
  function ctl(node: string, args: string[], timeoutMs = 30_000): SpawnSyncReturns<string> {
    return inContainer(node, [`${RABBIT_BIN}/rabbitmqctl`, '-n', `rabbit@${node}`, ...args], timeoutMs);
  }

  function runningNodes(node: string): string[] | undefined {
    const r = ctl(node, ['cluster_status', '--formatter', 'json']);
    if (r.status !== 0) return undefined;
    return (JSON.parse(r.stdout).running_nodes as string[]).sort();
  }

  function isRunning(node: string): boolean | undefined {
    const r = ctl(node, ['eval', 'rabbit:is_running().'], 15_000);
    const out = r.stdout.trim().split('\n').pop();
    return out === 'true' ? true : out === 'false' ? false : undefined;
  }

  function amqpPortOpen(node: { name: string; ip: string }): boolean {
    return sh('ip', ['netns', 'exec', node.name, 'bash', '-c', `exec 3<>/dev/tcp/${node.ip}/5672`], 10_000).status === 0;
  }

  function queues(node: string, vhost: string): Record<string, any> {
    const r = ctl(node, ['list_queues', '-p', vhost, 'name', 'durable', 'policy', 'slave_pids', 'synchronised_slave_pids', '--formatter', 'json']);
    if (r.status !== 0) throw new Error(`list_queues failed: ${r.stderr}${r.stdout}`);
    return Object.fromEntries((JSON.parse(r.stdout) as any[]).map((q) => [q.name, q]));
  }

  /** Number of mirrors (3.10 lists none as "" or []). */
  const mirrors = (pids: unknown): number => (Array.isArray(pids) ? pids.length : 0);

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

  function deleteNamespaces(): void {
    for (const ns of [...NODES.map((n) => n.name), BRIDGE_NS]) {
      if (!sh('ip', ['netns', 'list']).stdout.split('\n').some((l) => l.split(' ')[0] === ns)) continue;
      for (const pid of sh('ip', ['netns', 'pids', ns]).stdout.split('\n').filter((p) => p.trim())) sh('kill', ['-KILL', pid]);
      sh('ip', ['netns', 'del', ns]);
    }
  }

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`CI is set but tools are missing: ${missing.join(', ')}`);
    deleteNamespaces(); // leftovers of an interrupted run
    work = mkdtempSync(join(tmpdir(), 'rmqt-'));
    must('ip', ['netns', 'add', BRIDGE_NS]);
    must('ip', ['-n', BRIDGE_NS, 'link', 'add', 'br0', 'type', 'bridge']);
    must('ip', ['-n', BRIDGE_NS, 'link', 'set', 'br0', 'up']);
    for (const node of NODES) {
      const peer = `v${node.name.slice(-1)}`;
      must('ip', ['netns', 'add', node.name]);
      must('ip', ['-n', BRIDGE_NS, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.name]);
      must('ip', ['-n', BRIDGE_NS, 'link', 'set', peer, 'master', 'br0', 'up']);
      must('ip', ['-n', node.name, 'addr', 'add', `${node.ip}/24`, 'dev', 'eth0']);
      must('ip', ['-n', node.name, 'link', 'set', 'eth0', 'up']);
      must('ip', ['-n', node.name, 'link', 'set', 'lo', 'up']);
    }

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
    objects = synth(chart);
    container = find(objects, 'DaemonSet', 'rmqt').spec.template.spec.containers.find((c: any) => c.name === 'rabbitmq');
    for (const node of NODES) {
      mkdirSync(join(nodeDir(node.name), 'log'), { recursive: true });
      createVolumes(node.name);
    }

    const t0 = Date.now();
    for (const node of NODES) startBroker(node);
    await waitFor('3 running nodes', 150_000, () => (runningNodes('rmqt-a')?.length === 3 ? true : undefined));
    figures.push(`cluster formation (3 blank brokers, started together): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 200_000);

  afterAll(async () => {
    try {
      for (const node of NODES) if (brokers.has(node.name)) await stopBroker(node.name);
    } finally {
      deleteNamespaces();
      if (work) rmSync(work, { recursive: true, force: true });
      // eslint-disable-next-line no-console
      if (figures.length > 0) console.log(`RabbitMQ integration figures:\n${figures.map((f) => `  ${f}`).join('\n')}`);
    }
  }, 90_000);

  test('three brokers form one cluster; every listener is on the node IP; users come from the definitions', async () => {
    for (const node of NODES) {
      await eventually(`${node.name} to see all three running`, 30_000, () => runningNodes(node.name), NODES.map((n) => `rabbit@${n.name}`));
    }
    const listeners = sh('ip', ['netns', 'exec', 'rmqt-a', 'ss', '-ltnH']).stdout;
    for (const port of [5672, 15672, 15692, 25672]) {
      expect(listeners).toContain(`10.214.0.11:${port}`);
      expect(listeners).not.toMatch(new RegExp(`(0\\.0\\.0\\.0|\\*|\\[::\\]):${port}\\b`));
    }
    const users = ctl('rmqt-a', ['list_users', '--formatter', 'json']);
    expect((JSON.parse(users.stdout) as any[]).map((u) => u.user).sort()).toEqual(['admin', 'nova']); // no guest
    expect(ctl('rmqt-b', ['authenticate_user', 'admin', PASSWORDS.admin]).status).toBe(0);
    expect(ctl('rmqt-b', ['authenticate_user', 'nova', 'wrong']).status).not.toBe(0);
    // The rendered definitions hold the password (memory-backed dir in the pod), readable by the owner only.
    expect(readFileSync(join(renderDir('rmqt-a'), 'definitions.json'), 'utf8')).toContain('"adm\\"in\\\\pass"');
    expect(spawnSync('stat', ['-c', '%a', join(dataDir('rmqt-a'), '.erlang.cookie')], { encoding: 'utf8' }).stdout.trim()).toBe('600');
  });

  test('start.sh raises the soft open-files limit to the hard one (started with 1024, as containerd 2 does)', () => {
    expect(HARD_NOFILE).toBeGreaterThan(1024);
    for (const node of NODES) {
      const beam = sh('ip', ['netns', 'pids', node.name]).stdout.split('\n').filter((p) => p.trim() !== '')
        .find((pid) => existsSync(`/proc/${pid}/comm`) && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'beam.smp');
      expect(beam).toBeDefined();
      const limits = readFileSync(`/proc/${beam}/limits`, 'utf8');
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
      const q = queues('rmqt-a', 'notifications')['notifications.info'];
      return q && mirrors(q.synchronised_slave_pids) === 1 ? q : undefined;
    });
    expect(info.policy).toBe('notifications-ha');
    expect(info.durable).toBe(true);
    expect(mirrors(info.slave_pids)).toBe(1); // ha-mode exactly 2: one master + one mirror

    const rpc = queues('rmqt-a', '/');
    expect(rpc['compute.host1']).toMatchObject({ policy: 'rpc-hygiene', durable: false });
    expect(rpc.reply_0123abcd.policy).toBe('rpc-transient');
    expect(rpc.compute_fanout_0123abcd.policy).toBe('rpc-transient');
    for (const name of ['compute.host1', 'reply_0123abcd', 'compute_fanout_0123abcd']) expect(mirrors(rpc[name].slave_pids)).toBe(0);
  }, 90_000);

  test('a broker cut off from its peers pauses (pause_minority) and resumes when the link returns', async () => {
    const c = NODES[2];
    const t0 = Date.now();
    must('ip', ['-n', BRIDGE_NS, 'link', 'set', 'vc', 'down']);
    try {
      await waitFor('rmqt-c to pause', 90_000, () => (isRunning('rmqt-c') === false ? true : undefined));
      figures.push(`link down -> minority node paused: ${((Date.now() - t0) / 1000).toFixed(1)} s (net_ticktime 10)`);
      // Paused = not listening: a TCP readiness probe on 5672 fails, so Services and clients move off it.
      await eventually('the paused rmqt-c to close 5672', 30_000, () => amqpPortOpen(c), false);
      // The majority notices on its own tick: wait for its view, do not sample it.
      await eventually('the majority to see two running', 60_000, () => runningNodes('rmqt-a'), ['rabbit@rmqt-a', 'rabbit@rmqt-b']);
      await eventually('the majority to keep 5672 open', 30_000, () => amqpPortOpen(NODES[0]), true);
      // The manifest's liveness command still succeeds: a paused broker must not be restarted.
      expect(inContainer('rmqt-c', container.livenessProbe.exec.command).status).toBe(0);
    } finally {
      must('ip', ['-n', BRIDGE_NS, 'link', 'set', 'vc', 'up']);
    }
    const t1 = Date.now();
    await waitFor('rmqt-c to resume', 90_000, () => (runningNodes('rmqt-a')?.length === 3 && isRunning('rmqt-c') ? true : undefined));
    figures.push(`link up -> paused node running again: ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    await waitFor('rmqt-c to listen on 5672', 30_000, () => (amqpPortOpen(c) ? true : undefined));
  }, 200_000);

  test('a broker whose data dir is wiped rejoins by itself (start.sh forgets it on a live peer first)', async () => {
    const b = NODES[1];
    await stopBroker(b.name);
    rmSync(mnesiaBase(b.name), { recursive: true, force: true });
    mkdirSync(mnesiaBase(b.name));
    const t0 = Date.now();
    startBroker(b);
    await waitFor('the wiped rmqt-b to rejoin', 120_000, () => (runningNodes('rmqt-a')?.length === 3 && isRunning('rmqt-b') ? true : undefined));
    figures.push(`wiped broker restarted -> running in the cluster: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const log = readFileSync(join(nodeDir(b.name), 'broker.log'), 'utf8');
    expect(log).toMatch(/rabbit@rmqt-[ac] forgot the stale rabbit@rmqt-b/);
    await eventually('rmqt-b to see all three', 30_000, () => runningNodes('rmqt-b'), NODES.map((n) => `rabbit@${n.name}`));
    // The notification queue survived on the others and is mirrored again.
    await waitFor('notifications.info mirrored again', 60_000, () =>
      (mirrors(queues('rmqt-a', 'notifications')['notifications.info']?.synchronised_slave_pids) === 1 ? true : undefined));
  }, 200_000);

  test('the manifest\'s preStop drains the broker; restarted, it leaves maintenance mode and applies a rotated password', async () => {
    const c = NODES[2];
    const t0 = Date.now();
    const preStop = inContainer(c.name, container.lifecycle.preStop.exec.command, 150_000);
    expect(preStop.status).toBe(0);
    figures.push(`preStop (await synchronised mirror + drain): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await eventually('the drained rmqt-c to close 5672', 30_000, () => amqpPortOpen(c), false);
    const underMaintenance = (node: string): boolean | undefined => {
      const r = ctl('rmqt-a', ['cluster_status', '--formatter', 'json']);
      const status = r.status === 0 ? JSON.parse(r.stdout).maintenance_status?.[`rabbit@${node}`] : undefined;
      return typeof status === 'string' ? !status.startsWith('not') : undefined;
    };
    await eventually('rmqt-a to see rmqt-c under maintenance', 30_000, () => underMaintenance(c.name), true);
    await stopBroker(c.name);
    // A rotated Secret reaches the broker on its next start: the changed definitions are imported again
    // (skip_if_unchanged compares the rendered file's hash), and users are cluster-wide.
    const oldPassword = PASSWORDS.nova;
    PASSWORDS.nova = 'nova-rotated';
    startBroker(c);
    await waitFor('rmqt-c back in the cluster', 120_000, () => (runningNodes('rmqt-a')?.length === 3 && amqpPortOpen(c) ? true : undefined));
    await eventually('rmqt-a to see rmqt-c out of maintenance', 30_000, () => underMaintenance(c.name), false);
    expect(ctl('rmqt-a', ['authenticate_user', 'nova', 'nova-rotated']).status).toBe(0);
    expect(ctl('rmqt-a', ['authenticate_user', 'nova', oldPassword]).status).not.toBe(0);
  }, 300_000);

  test('throughput of the mirrored vs the unreplicated queues (figures printed, not asserted)', () => {
    const r = sh('ip', ['netns', 'exec', 'rmqt-a', PYTHON, BENCH_SCRIPT, '--host', NODES[0].ip, '--user', 'nova',
      '--password-env', 'PW', '--count', '3000', '--confirmed-count', '300', '--rounds', '3'], 110_000, { ...process.env, PW: PASSWORDS.nova });
    if (r.status !== 0) throw new Error(`benchmark failed: ${r.stderr}`);
    figures.push(...r.stderr.trim().split('\n'));
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).queue)).toEqual(['bench.replicated', 'bench.durable', 'bench.transient']);
  }, 120_000);

  test('a seed wiped during a full outage waits for its peers instead of forming a second cluster, then rejoins', async () => {
    const [a, b, c] = NODES;
    // Full outage, seed first (and wiped), rmqt-c last: the last broker down restarts without waiting for the others.
    for (const node of NODES) await stopBroker(node.name);
    rmSync(mnesiaBase(a.name), { recursive: true, force: true });
    mkdirSync(mnesiaBase(a.name));
    const logFile = join(nodeDir(a.name), 'broker.log');
    const logStart = readFileSync(logFile, 'utf8').length;
    const newLog = () => readFileSync(logFile, 'utf8').slice(logStart);

    startBroker(a);
    await waitFor('the blank seed to wait twice', 60_000, () =>
      (newLog().split('not forming a new cluster while a peer may hold its data').length > 2 ? true : undefined));
    expect(newLog()).not.toMatch(/first formation|starting rabbit@rmqt-a/);
    expect(amqpPortOpen(a)).toBe(false);
    // The manifest's liveness command passes during the wait, so the kubelet does not restart it into back-off.
    expect(inContainer(a.name, container.livenessProbe.exec.command).status).toBe(0);

    const t0 = Date.now();
    startBroker(c);
    startBroker(b);
    await waitFor('all three running again', 150_000, () =>
      (runningNodes('rmqt-c')?.length === 3 && isRunning('rmqt-a') ? true : undefined));
    figures.push(`full outage, seed wiped: peers restarted -> seed rejoined, 3 running: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(newLog()).toMatch(/rabbit@rmqt-[bc] forgot the stale rabbit@rmqt-a/);
    await eventually('rmqt-a to see all three', 30_000, () => runningNodes('rmqt-a'), NODES.map((n) => `rabbit@${n.name}`));
    // One cluster, with the data the peers kept: the durable notification queue is still there.
    expect(Object.keys(queues('rmqt-a', 'notifications'))).toContain('notifications.info');
  }, 300_000);
});
