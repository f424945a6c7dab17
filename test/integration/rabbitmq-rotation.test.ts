/**
 * Live password rotation with the real broker (Debian's rabbitmq-server 3.10.8): three brokers run what a synthesized
 * `RabbitDaemonSet` deploys (namespaces rrot-1/2/3, 10.77.20.11-13, on a bridge in rrot-br; clients in rrot-c,
 * 10.77.20.50), with the real start.sh and credentials.sh. The users' passwords are the projected Secret volume,
 * written per node the way the kubelet updates it (a `..data` symlink swap), at different times on each node as
 * kubelets do.
 *
 * The procedure is the README's ("Day 2: rotating a RabbitMQ password"): RabbitMQ has no dual passwords, so each
 * service has two accounts (nova, nova-b); the one no client uses is rotated, the clients move to it, then the other
 * is rotated. Clients open AMQP connections (python3-pika) to every broker in turn, all the time, on the account in
 * their credentials file; the figures are the failed/total authentications (goal 0), the time from the first file
 * swap to the new password accepted on every broker, and what a client left on a rotated account sees.
 * Figures are printed, never asserted.
 */
import { ChildProcess, spawn } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Placement, RabbitDaemonSet, RabbitVersion, SecretValue } from '../../lib';
import { newChart, synth } from '../support/harness';
import { procFile } from './support/daemons';
import { eventually, missingRabbitTools, PYTHON, RabbitNamespaceCluster, sh, sleep, tearDownAndPrint, waitFor } from './support/rabbit-cluster';

const NODES = [
  { name: 'rrot-1', ip: '10.77.20.11' },
  { name: 'rrot-2', ip: '10.77.20.12' },
  { name: 'rrot-3', ip: '10.77.20.13' },
];
const CLIENT = { name: 'rrot-c', ip: '10.77.20.50' };
const COOKIE = 'RROTTESTCOOKIEABCDEFGHIJKLMNOP';
/** The test's Secret `rrot-users`, changed in place by the test (the kubelet then updates each node's files). */
const PASSWORDS: Record<string, string> = { 'admin': 'admin-pass', 'nova': 'nova-1', 'nova-b': 'nova-b-1' };
function secretValue(name: string, key: string): string {
  if (name === 'rrot-users' && key in PASSWORDS) return PASSWORDS[key];
  if (name === 'rrot-cookie' && key === 'cookie') return COOKIE;
  throw new Error(`the manifest refers to an unknown Secret ${name}/${key}`);
}

/**
 * A client: opens an AMQP connection to each broker in turn (a fresh authentication each time), with the account in
 * its credentials file (`user\npassword`, re-read before every connection: moving a client = rewriting it), until the
 * stop file exists. Every second it writes its counts as JSON to its status file.
 */
const CLIENT_LOOP = `
import json, os, sys, time, pika
creds_file, status_file, stop_file = sys.argv[1], sys.argv[2], sys.argv[3]
hosts = sys.argv[4:]
counts = {"ok": 0, "auth_failed": 0, "other_failed": 0, "by_user": {}, "last_failure": None}
i, last = 0, 0
while not os.path.exists(stop_file):
    user, password = open(creds_file).read().split("\\n", 1)
    host = hosts[i % len(hosts)]
    i += 1
    by = counts["by_user"].setdefault(user, {"ok": 0, "failed": 0})
    try:
        c = pika.BlockingConnection(pika.ConnectionParameters(host, 5672, "/", pika.PlainCredentials(user, password),
            connection_attempts=1, socket_timeout=5, blocked_connection_timeout=5))
        c.close()
        counts["ok"] += 1
        by["ok"] += 1
    except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError) as e:
        counts["auth_failed"] += 1
        by["failed"] += 1
        counts["last_failure"] = "%s %s %s" % (time.time(), host, type(e).__name__)
    except Exception as e:
        counts["other_failed"] += 1
        by["failed"] += 1
        counts["last_failure"] = "%s %s %s %s" % (time.time(), host, type(e).__name__, e)
    if time.time() - last > 1:
        last = time.time()
        open(status_file + ".tmp", "w").write(json.dumps(counts))
        os.replace(status_file + ".tmp", status_file)
open(status_file + ".tmp", "w").write(json.dumps(counts))
os.replace(status_file + ".tmp", status_file)
`;

/** A connection opened once and kept: a queue declared on it every 0.5 s; its status says whether it still works. */
const HELD_CONNECTION = `
import json, os, sys, time, pika
user, password, host, status_file, stop_file = sys.argv[1:6]
c = pika.BlockingConnection(pika.ConnectionParameters(host, 5672, "/", pika.PlainCredentials(user, password), heartbeat=10))
ch = c.channel()
counts = {"ok": 0, "failed": 0, "error": None}
while not os.path.exists(stop_file):
    try:
        ch.queue_declare("rrot-held", durable=False, auto_delete=True)
        counts["ok"] += 1
    except Exception as e:
        counts["failed"] += 1
        counts["error"] = repr(e)
        break
    open(status_file + ".tmp", "w").write(json.dumps(counts))
    os.replace(status_file + ".tmp", status_file)
    c.sleep(0.5)
open(status_file + ".tmp", "w").write(json.dumps(counts))
os.replace(status_file + ".tmp", status_file)
`;

/** One AMQP login as `user` to a broker: "accepted", "refused", or "error <what>" (the broker did not answer). */
const LOGIN_ONCE = `
import sys, pika
user, password, host = sys.argv[1:4]
try:
    pika.BlockingConnection(pika.ConnectionParameters(host, 5672, "/", pika.PlainCredentials(user, password), connection_attempts=1, socket_timeout=5)).close()
    print("accepted")
except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError):
    print("refused")
except Exception as e:
    print("error %s" % type(e).__name__)
`;

const missing = missingRabbitTools();
if (missing.length > 0 && !process.env.CI) {
  // eslint-disable-next-line no-console
  console.warn(`skipping RabbitMQ rotation tests: missing ${missing.join(', ')}`);
}
const describeIfTools = missing.length > 0 && !process.env.CI ? describe.skip : describe;

describeIfTools('RabbitMQ live password rotation (3.10 cluster in network namespaces)', () => {
  let cluster: RabbitNamespaceCluster;
  let work: string;
  const figures: string[] = [];
  const processes: ChildProcess[] = [];

  /** Runs a Python program in the client namespace. */
  function python(program: string, args: string[], timeoutMs = 20_000): string {
    const r = sh('ip', ['netns', 'exec', CLIENT.name, PYTHON, '-c', program, ...args], timeoutMs);
    if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
    return r.stdout.trim();
  }
  const login = (user: string, password: string, node: { ip: string }) => python(LOGIN_ONCE, [user, password, node.ip]);
  function startPython(program: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', CLIENT.name, PYTHON, '-c', program, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    processes.push(child);
    return child;
  }
  async function stopPython(child: ChildProcess, stopFile: string): Promise<void> {
    writeFileSync(stopFile, '');
    const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
    await Promise.race([exited, sleep(20_000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  const status = (file: string): any => {
    try {
      return JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return undefined;
    }
  };

  /** A service's clients: one loop per broker order, all on the account in one credentials file. */
  class Clients {
    private readonly loops: { child: ChildProcess; status: string; stop: string }[] = [];
    public readonly credsFile: string;
    public constructor(private readonly name: string, count: number, user: string) {
      this.credsFile = join(work, `${name}.creds`);
      this.use(user);
      for (let i = 0; i < count; i++) {
        const hosts = [...NODES.slice(i % NODES.length), ...NODES.slice(0, i % NODES.length)].map((n) => n.ip);
        const s = join(work, `${name}-${i}.status`);
        const stop = join(work, `${name}-${i}.stop`);
        this.loops.push({ child: startPython(CLIENT_LOOP, [this.credsFile, s, stop, ...hosts]), status: s, stop });
      }
    }
    /** Moves the clients to `user` (as re-rendering the service's config and restarting it would). */
    public use(user: string): void {
      writeFileSync(`${this.credsFile}.tmp`, `${user}\n${PASSWORDS[user]}`);
      sh('mv', ['-f', `${this.credsFile}.tmp`, this.credsFile]);
    }
    public totals(): { ok: number; failed: number; lastFailure?: string } {
      const all = this.loops.map((l) => status(l.status) ?? { ok: 0, auth_failed: 0, other_failed: 0 });
      return {
        ok: all.reduce((a, s) => a + s.ok, 0),
        failed: all.reduce((a, s) => a + s.auth_failed + s.other_failed, 0),
        lastFailure: all.map((s) => s.last_failure).filter((x) => x).join('; ') || undefined,
      };
    }
    public async stop(): Promise<{ ok: number; failed: number; lastFailure?: string }> {
      await Promise.all(this.loops.map((l) => stopPython(l.child, l.stop)));
      return this.totals();
    }
    public toString(): string {
      return this.name;
    }
  }

  /** A broker's log (its container's output: start.sh, credentials.sh and the broker); '' before it exists. */
  const brokerLog = (node: { name: string }): string => {
    try {
      return readFileSync(join(cluster.nodeDir(node.name), 'broker.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const brokerLogs = (): string => NODES.map(brokerLog).join('\n');
  /** credentials.sh's two outcomes of a changed file: it ran change_password, or found the new password working. */
  const CHANGED = 'password changed';
  const FOUND = 'the new password already works';
  /** How many times `pattern` (a regular expression's source) occurs in `text`. */
  const occurrences = (text: string, pattern: string): number => text.match(new RegExp(pattern, 'g'))?.length ?? 0;
  /** How many changes of `user`'s file a broker's watcher has settled (either outcome). */
  const settled = (user: string, node: { name: string }): number => occurrences(brokerLog(node), `user ${user}: (${CHANGED}|${FOUND})`);
  /** A broker's watcher, for `eventually`: 'settled' once it has settled one more change than `before`, else its last line for `user`. */
  const watcher = (user: string, node: { name: string }, before: number): string => (settled(user, node) > before ? 'settled'
    : brokerLog(node).split('\n').filter((l) => l.includes(`credentials.sh: user ${user}:`)).pop() ?? '(no line)');

  /**
   * Changes `user`'s password in the Secret, then updates each node's files one after the other `lagMs` apart (the
   * kubelets notice at different times). Returns when the new password is accepted by every broker, the old one
   * refused by every broker, and every broker's watcher has settled the change (each is distributed state, waited
   * for with a bound: the password works everywhere as soon as one broker changed it, while a broker whose file
   * swapped last may not have polled yet); the seconds from the first swap.
   */
  async function rotate(user: string, lagMs: number, nodes = NODES): Promise<{ acceptedEverywhere: number; oldRefusedEverywhere: number; settledEverywhere: number }> {
    const old = PASSWORDS[user];
    const settledBefore = nodes.map((n) => settled(user, n));
    PASSWORDS[user] = `${user}-${Date.now().toString(36)}`;
    const t0 = Date.now();
    for (const [i, node] of nodes.entries()) {
      if (i > 0) await sleep(lagMs);
      cluster.syncProjectedVolume(node.name, 'credentials');
    }
    await waitFor(`${user}'s new password accepted on every broker`, 60_000,
      () => (NODES.every((n) => login(user, PASSWORDS[user], n) === 'accepted') ? true : undefined));
    const acceptedEverywhere = (Date.now() - t0) / 1000;
    await waitFor(`${user}'s old password refused on every broker`, 30_000, () => (NODES.every((n) => login(user, old, n) === 'refused') ? true : undefined));
    const oldRefusedEverywhere = (Date.now() - t0) / 1000;
    // A watcher polls every 5 s and retries a failed rabbitmqctl after 10 s: 60 s is several of each. On timeout the
    // error shows each watcher's last line for the user.
    await eventually(`every broker's watcher to settle ${user}'s change`, 60_000,
      () => nodes.map((n, i) => watcher(user, n, settledBefore[i])), nodes.map(() => 'settled'));
    return { acceptedEverywhere, oldRefusedEverywhere, settledEverywhere: (Date.now() - t0) / 1000 };
  }

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`CI is set but tools are missing: ${missing.join(', ')}`);
    work = mkdtempSync(join(tmpdir(), 'rrot-clients-'));
    cluster = new RabbitNamespaceCluster({ bridge: 'rrot-br', nodes: NODES, clients: [CLIENT], daemonSet: 'rrot', secretValue });
    const chart = newChart('openstack');
    new RabbitDaemonSet(chart, 'rrot', {
      placement: Placement.onNodes(NODES),
      version: RabbitVersion.V3_10,
      image: 'debian-rabbitmq-server-3.10',
      erlangCookie: SecretValue.fromSecret('rrot-cookie', 'cookie'),
      // Two accounts for nova: the README's alternating procedure.
      users: ['admin', 'nova', 'nova-b'].map((name) => ({ name, administrator: name === 'admin', password: SecretValue.fromSecret('rrot-users', name) })),
      resources: { memoryRequestMiB: 1024, memoryLimitMiB: 1024 },
      diskFreeLimitBytes: 50_000_000,
      drainTimeoutSeconds: 30,
    });
    cluster.setUp(synth(chart));
    figures.push(`cluster formation (3 blank brokers, started together): ${(await cluster.startAllBrokers()).toFixed(1)} s`);
  }, 360_000);

  afterAll(async () => {
    try {
      for (const child of processes) if (child.exitCode === null) child.kill('SIGKILL');
    } finally {
      if (work) rmSync(work, { recursive: true, force: true });
      await tearDownAndPrint(cluster, 'RabbitMQ rotation figures', figures);
    }
  }, 120_000);

  test('the passwords come from the files: every broker accepts them, the definitions are rendered from them', () => {
    for (const node of NODES) {
      for (const user of ['admin', 'nova', 'nova-b']) expect(login(user, PASSWORDS[user], node)).toBe('accepted');
    }
    // No password in any environment (start.sh's variables are not exported, so the broker does not keep a rotated
    // one in /proc/<pid>/environ): every process in the node's namespace.
    for (const node of NODES) {
      for (const pid of sh('ip', ['netns', 'pids', node.name]).stdout.split('\n').filter((p) => p.trim())) {
        const environ = procFile(pid, 'environ');
        if (environ !== undefined) expect(environ).not.toContain('nova-1');
      }
    }
    expect(brokerLogs()).toMatch(/credentials\.sh: watching 3 password file\(s\)/);
  });

  test('the alternating procedure under client load: 0 failed authentications; the old passwords are refused afterwards', async () => {
    // Clients of the service, on nova; a client that never moves (as a service someone forgot) on nova; a connection
    // opened on nova before its rotation and kept.
    const service = new Clients('service', 3, 'nova');
    const forgotten = new Clients('forgotten', 1, 'nova');
    const heldStatus = join(work, 'held.status');
    const heldStop = join(work, 'held.stop');
    const held = startPython(HELD_CONNECTION, ['nova', PASSWORDS.nova, NODES[1].ip, heldStatus, heldStop]);
    try {
      await waitFor('the clients to connect', 30_000, () => (service.totals().ok >= 30 && forgotten.totals().ok >= 5 && status(heldStatus)?.ok > 0 ? true : undefined));

      // 1. Rotate nova-b, which no client uses; the kubelets update the nodes 3 s apart.
      const b = await rotate('nova-b', 3_000);
      figures.push(`nova-b (unused) rotated: new password accepted on every broker ${b.acceptedEverywhere.toFixed(1)} s after the first node's file swap `
        + `(nodes swapped 3 s apart), old one refused everywhere after ${b.oldRefusedEverywhere.toFixed(1)} s, every broker's watcher settled after ${b.settledEverywhere.toFixed(1)} s`);

      // 2. Move the service's clients to nova-b (re-render their config with the other account, restart them).
      service.use('nova-b');
      const moved = service.totals().ok;
      await waitFor('the clients to log in on nova-b', 30_000, () => (service.totals().ok >= moved + 30 ? true : undefined));

      // 3. Rotate nova, which no client of the service uses any more.
      const forgottenBefore = forgotten.totals();
      const a = await rotate('nova', 3_000);
      figures.push(`nova (the service's previous account) rotated: accepted everywhere ${a.acceptedEverywhere.toFixed(1)} s after the first swap, `
        + `old one refused everywhere after ${a.oldRefusedEverywhere.toFixed(1)} s, every broker's watcher settled after ${a.settledEverywhere.toFixed(1)} s`);
      const forgottenAfter = await forgotten.stop();
      figures.push(`a client left on the rotated account (never moved): ${forgottenAfter.failed - forgottenBefore.failed} of `
        + `${forgottenAfter.ok + forgottenAfter.failed - forgottenBefore.ok - forgottenBefore.failed} logins refused while its account was rotated (RabbitMQ has no dual passwords)`);

      const last = service.totals().ok;
      await waitFor('more logins after the rotation', 30_000, () => (service.totals().ok >= last + 30 ? true : undefined));
      const totals = await service.stop();
      await stopPython(held, heldStop);
      const heldTotals = status(heldStatus);
      figures.push(`service clients (3 loops, each broker in turn) through both rotations and the move: ${totals.failed} failed of ${totals.ok + totals.failed} authentications`);
      figures.push(`a connection opened on nova before its rotation: ${heldTotals.ok} operations after, ${heldTotals.failed} failed (a connection is authenticated once, when it opens)`);

      expect(totals.failed).toBe(0);
      expect(heldTotals.failed).toBe(0);
      expect(forgottenAfter.failed).toBeGreaterThan(forgottenBefore.failed);
      for (const node of NODES) {
        expect(login('nova', 'nova-1', node)).toBe('refused');
        expect(login('nova-b', 'nova-b-1', node)).toBe('refused');
      }
      // The first broker to see a change applies it (two may, when their files swap within one poll: harmless, the
      // same value), the others find it done: each broker settles each change exactly once (rotate waited for every
      // one); a retry (rabbitmqctl not answering) is said, not failed; no value in the logs.
      const logs = brokerLogs();
      const count = (pattern: string) => occurrences(logs, pattern);
      const applied = (user: string) => count(`user ${user}: ${CHANGED}`);
      const found = (user: string) => count(`user ${user}: ${FOUND}`);
      const retried = (user: string) => count(`user ${user}: (its password file changed; the broker does not answer yet|change_password failed)`);
      figures.push(`per rotation, brokers that ran change_password / found it done / retries: nova-b ${applied('nova-b')}/${found('nova-b')}/${retried('nova-b')}, `
        + `nova ${applied('nova')}/${found('nova')}/${retried('nova')}`);
      for (const node of NODES) expect([node.name, settled('nova-b', node), settled('nova', node)]).toEqual([node.name, 1, 1]);
      expect(applied('nova-b')).toBeGreaterThanOrEqual(1);
      expect(applied('nova')).toBeGreaterThanOrEqual(1);
      for (const value of Object.values(PASSWORDS)) expect(logs).not.toContain(value);
    } finally {
      for (const child of [held]) if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 300_000);

  test('a broker whose file changes while it is down starts with the new password and sets it for the cluster', async () => {
    const down = NODES[2];
    await cluster.stopBroker(down.name);
    const old = PASSWORDS.nova;
    const foundBefore = occurrences(brokerLogs(), `user nova: ${FOUND}`);
    PASSWORDS.nova = `nova-down-${Date.now().toString(36)}`;
    // Only the stopped broker's kubelet has updated the file so far: the running brokers keep the old password.
    cluster.syncProjectedVolume(down.name, 'credentials');
    await sleep(6_000);
    expect(login('nova', old, NODES[0])).toBe('accepted');
    const t0 = Date.now();
    cluster.startBroker(down);
    await cluster.waitFor(`${down.name} to rejoin`, 120_000, () => (cluster.runningNodes(NODES[0].name)?.length === 3 ? true : undefined));
    await waitFor('the new password accepted on every broker', 60_000,
      () => (NODES.every((n) => login('nova', PASSWORDS.nova, n) === 'accepted') ? true : undefined));
    figures.push(`a broker restarted with a changed file: new password accepted on every broker ${((Date.now() - t0) / 1000).toFixed(1)} s after its start`);
    for (const node of NODES) expect(login('nova', old, node)).toBe('refused');
    // The other kubelets catch up: their watchers find the password already set.
    for (const node of NODES.slice(0, 2)) cluster.syncProjectedVolume(node.name, 'credentials');
    await waitFor('the other brokers to find it done', 30_000,
      () => (occurrences(brokerLogs(), `user nova: ${FOUND}`) >= foundBefore + 2 ? true : undefined));
  }, 240_000);
});
