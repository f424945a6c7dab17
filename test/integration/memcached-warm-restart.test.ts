/**
 * memcached's warm restart as the DaemonSet renders it, with the real memcached (Debian's 1.6.18): the memcached
 * container's command (the wrapper script) and args, the data-owner init container's command, and the node's RAM disk
 * directory (a directory of /dev/shm here, as the default `warmRestartPath` is). A "pod" is the wrapper run as the
 * memcache uid (11211) with the directory where the hostPath is mounted; it is stopped as the kubelet stops a pod
 * (SIGTERM to PID 1, SIGKILL to every process of the container after the grace period) and replaced by a new process
 * with the same command, args and directory. Measured: the items restored and the hit ratio after the replacement,
 * the time to stop and to serve again, with and without TLS; what a change of the item memory, a crash (SIGKILL), an
 * older image, a second memcached on the same directory and a RAM disk too small or not a RAM disk at all do.
 *
 * Unique names (grepped in test/integration): 127.0.29.41 and 127.0.29.42, port 41911, /dev/shm/s29-mcwarm-* and
 * /tmp/s29-mcwarm-* (removed at the end; a 64 MiB tmpfs is mounted on /tmp/s29-mcwarm-XXXXXX/small for one case and
 * unmounted after it).
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as tls from 'tls';
import { MemcachedPool, MemcachedPoolProps, Placement, TlsCertificates } from '../../lib';
import { WARM_RESTART_DIR } from '../../lib/memcached/warm-restart';
import { find, newChart, synth } from '../support/harness';
import { TestCa } from './support/certs';
import { describeUnlessMissing, which, waitForTcp } from './support/daemons';
import { waitFor } from './galera-harness';

const PLAIN_IP = '127.0.29.41';
const TLS_IP = '127.0.29.42';
const PORT = 41911;
/** The image's memcache user: the pod runs as it. */
const MEMCACHE = { uid: 11211, gid: 11211 };
/** The pod's terminationGracePeriodSeconds, as rendered (checked below). */
const GRACE_MS = 10_000;
const KEYS = 20_000;
/** Over TLS the keys are written one per round trip (see fill). */
const TLS_KEYS = 5_000;
const TLS_MOUNT = '/etc/memcached-tls';

interface Rendered { command: string[]; args: string[]; initCommand: string[]; grace: number; hostPath: string }

/** The memcached pod of a one-node pool on `ip`, as the kubelet runs it there, with the hostPath at `dir`. */
function render(ip: string, props: Partial<MemcachedPoolProps>, dir: string, tlsDir?: string): Rendered {
  const chart = newChart('openstack');
  new MemcachedPool(chart, 'mc', { placement: Placement.onNodes([{ name: 'n1', ip }]), port: PORT, resources: { memoryLimitMiB: 256, memoryRequestMiB: 256 }, ...props });
  const spec = find(synth(chart), 'DaemonSet', 'mc').spec.template.spec;
  const local = (s: string) => s.split('$(HOST_IP)').join(ip).split(WARM_RESTART_DIR).join(dir).split(TLS_MOUNT).join(tlsDir ?? TLS_MOUNT);
  const [c] = spec.containers;
  const init = spec.initContainers?.[0];
  return {
    command: (c.command as string[]).map(local),
    args: (c.args as string[]).map(local),
    initCommand: init ? (init.command as string[]).map(local) : [],
    grace: spec.terminationGracePeriodSeconds * 1000,
    hostPath: spec.volumes?.find((v: any) => v.name === 'warm-restart')?.hostPath?.path ?? '',
  };
}

/**
 * One pod's memcached container: the wrapper as PID 1 of a PID namespace of its own (as in a container: PID 1 gets
 * only the signals it handles), and its children, in a process group of their own.
 */
class Pod {
  public log = '';
  private readonly child: ChildProcess;
  public readonly exited: Promise<number | null>;

  public constructor(r: Rendered) {
    const [cmd, ...rest] = r.command;
    // A process group stands in for the container's cgroup: the kubelet's SIGKILL reaches every process in it.
    this.child = spawn('unshare', ['--pid', '--kill-child', 'setpriv', `--reuid=${MEMCACHE.uid}`, `--regid=${MEMCACHE.gid}`, '--clear-groups',
      cmd, ...rest, ...r.args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const collect = (chunk: Buffer) => { this.log += chunk.toString(); };
    this.child.stdout?.on('data', collect);
    this.child.stderr?.on('data', collect);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    LIVE.add(this);
  }

  public get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The kubelet's stop: SIGTERM to PID 1; after the grace period, SIGKILL to the whole container. Resolves with the ms it took. */
  public async stop(graceMs = GRACE_MS): Promise<number> {
    const t0 = Date.now();
    const timer = setTimeout(() => this.killAll(), graceMs);
    process.kill(await this.pid1(), 'SIGTERM');
    await this.exited;
    clearTimeout(timer);
    // The container is gone when PID 1 is: anything left in it is killed (nothing should be).
    const left = this.groupAlive();
    this.killAll();
    if (left) throw new Error(`processes left in the pod after PID 1 exited:\n${this.log}`);
    LIVE.delete(this);
    return Date.now() - t0;
  }

  /** A crash of the node's pod (OOM kill, node power cut without a reboot of the tmpfs): SIGKILL to every process. */
  public async crash(): Promise<void> {
    this.killAll();
    await this.exited;
    await waitFor('the killed pod\'s processes gone', 10_000, () => (this.groupAlive() ? undefined : true));
    LIVE.delete(this);
  }

  /** The wrapper's PID as seen from here (PID 1 in the pod's namespace): unshare's child. */
  public async pid1(): Promise<number> {
    return waitFor('the pod\'s PID 1', 10_000, () => {
      const out = spawnSync('pgrep', ['-P', String(this.child.pid)], { encoding: 'utf8' }).stdout.trim();
      return out === '' ? undefined : Number(out.split('\n')[0]);
    });
  }

  public killAll(): void {
    try { process.kill(-this.child.pid!, 'SIGKILL'); } catch { /* already gone */ }
  }

  private groupAlive(): boolean {
    try { process.kill(-this.child.pid!, 0); return true; } catch { return false; }
  }
}
const LIVE = new Set<Pod>();

/** A memcached text-protocol session over TCP or TLS: send a batch, read until the reply is complete. */
class Session {
  private buffer = Buffer.alloc(0);
  private waiter?: () => void;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => { this.buffer = Buffer.concat([this.buffer, chunk]); this.waiter?.(); });
  }

  public static async open(ip: string, tlsOptions?: tls.ConnectionOptions): Promise<Session> {
    const socket: net.Socket = await new Promise((resolve, reject) => {
      const s = tlsOptions
        ? tls.connect({ host: ip, port: PORT, ...tlsOptions }, () => resolve(s))
        : net.connect({ host: ip, port: PORT }, () => resolve(s));
      s.once('error', reject);
    });
    return new Session(socket);
  }

  /** Sends `request` and resolves with the reply once it ends with `terminator`. */
  public async exchange(request: string, terminator: string, timeoutMs = 60_000, complete?: (reply: string) => boolean): Promise<string> {
    this.buffer = Buffer.alloc(0);
    const isComplete = complete ?? ((r: string) => r.endsWith(terminator));
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${JSON.stringify(terminator)} after ${this.buffer.length} bytes`)), timeoutMs);
      this.waiter = () => { if (isComplete(this.buffer.toString('latin1'))) { clearTimeout(timer); resolve(); } };
    });
    this.socket.write(request);
    await done;
    return this.buffer.toString('latin1');
  }

  public close(): void {
    this.socket.destroy();
  }
}

const valueOf = (i: number) => `v${i}-`.padEnd(100 + (i * 37) % 900, String.fromCharCode(97 + (i % 26)));

/**
 * Writes `count` keys (100-1000 bytes each), `perTrip` per round trip, each acknowledged (STORED). Over TLS one set
 * per round trip: Debian's memcached 1.6.18 hangs on pipelined sets over TLS (measured: 178 of 200 answered, then
 * nothing for a minute), memcached's own bug 96e05b75f ("tls: fix potential hang when pipelining sets"), fixed in
 * 1.6.39, the image's version.
 */
async function fill(s: Session, prefix: string, count = KEYS, perTrip = 200): Promise<void> {
  for (let start = 0; start < count; start += perTrip) {
    let batch = '';
    const end = Math.min(count, start + perTrip);
    for (let i = start; i < end; i++) batch += `set ${prefix}${i} 0 0 ${valueOf(i).length}\r\n${valueOf(i)}\r\n`;
    const reply = await s.exchange(batch, '\r\n', 60_000, (r) => r.split('\r\n').length - 1 >= end - start);
    const stored = reply.split('STORED\r\n').length - 1;
    if (stored !== end - start) throw new Error(`stored ${stored} of ${end - start}: ${reply.slice(0, 200)}`);
  }
}

/** Reads `count` keys back (multi-gets of 200): how many came back with their exact value. */
async function hits(s: Session, prefix: string, count = KEYS): Promise<number> {
  let found = 0;
  for (let start = 0; start < count; start += 200) {
    const keys = Array.from({ length: Math.min(200, count - start) }, (_, j) => `${prefix}${start + j}`);
    const reply = await s.exchange(`get ${keys.join(' ')}\r\n`, 'END\r\n');
    for (const m of reply.matchAll(/VALUE (\S+) \d+ \d+\r\n([^\r]*)\r\n/g)) {
      const i = Number(m[1].slice(prefix.length));
      if (m[2] === valueOf(i)) found++;
    }
  }
  return found;
}

async function stat(s: Session, name: string): Promise<string> {
  const reply = await s.exchange('stats\r\n', 'END\r\n');
  return [...reply.matchAll(/STAT (\S+) (\S+)\r\n/g)].find((m) => m[1] === name)?.[2] ?? '';
}

const figures: string[] = [];
const report = (line: string) => { figures.push(line); console.log(`warm restart: ${line}`); };

const missing = ['memcached', 'setpriv', 'unshare', 'pgrep', 'openssl', 'stat', 'flock'].filter((b) => !which(b));

describeUnlessMissing('memcached warm restart: the rendered wrapper, init step and node directory, with the real memcached', missing,
  'apt-get install memcached util-linux procps openssl coreutils', () => {
    let shm: string;
    let work: string;

    let ownTmpfs = false;

    beforeAll(() => {
      shm = fs.mkdtempSync('/dev/shm/s29-mcwarm-');
      // As the node's: /dev/shm is 1777 and the kubelet creates the hostPath's parents 0755.
      fs.chmodSync(shm, 0o755);
      work = fs.mkdtempSync(path.join(os.tmpdir(), 's29-mcwarm-'));
      fs.chmodSync(work, 0o755);
      // The cases need room for a 224 MiB file: a small /dev/shm (a container's 64 MiB) gets a tmpfs of our own there.
      const freeKiB = Number(spawnSync('df', ['-Pk', shm], { encoding: 'utf8' }).stdout.trim().split('\n')[1]?.split(/\s+/)[3] ?? 0);
      if (freeKiB < 512 * 1024) {
        const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512m,mode=0755', 'tmpfs', shm], { encoding: 'utf8' });
        if (mounted.status !== 0) throw new Error(`/dev/shm has ${freeKiB} KiB free and no tmpfs could be mounted: ${mounted.stderr}`);
        ownTmpfs = true;
      }
    });

    // A failed test must not leave its memcached on the port for the next one.
    afterEach(async () => {
      for (const pod of [...LIVE]) await pod.crash();
    });

    afterAll(async () => {
      for (const pod of LIVE) pod.killAll();
      LIVE.clear();
      if (ownTmpfs) spawnSync('umount', [shm]);
      if (shm) fs.rmSync(shm, { recursive: true, force: true });
      if (work) fs.rmSync(work, { recursive: true, force: true });
      if (figures.length > 0) console.log(`warm restart figures:\n${figures.join('\n')}`);
    });

    /** The node's directory for one scenario, created and handed over as the kubelet and the init container do. */
    function nodeDir(name: string, parent = shm): string {
      const dir = path.join(parent, name);
      fs.mkdirSync(dir, { mode: 0o755 }); // kubelet: DirectoryOrCreate, root 0755
      return dir;
    }

    function runInit(r: Rendered): void {
      const [cmd, ...rest] = r.initCommand;
      const out = spawnSync(cmd, rest, { encoding: 'utf8' });
      expect(out.status).toBe(0);
    }

    async function startPod(r: Rendered, ip: string): Promise<{ pod: Pod; readyMs: number }> {
      const t0 = Date.now();
      const pod = new Pod(r);
      await waitForTcp(ip, PORT, 30_000).catch((err) => { throw new Error(`${err.message}\n${pod.log}`); });
      return { pod, readyMs: Date.now() - t0 };
    }

    /** A pod on a new node directory (`name` in /dev/shm, or the directory `at`), filled with KEYS keys (still running). */
    async function filledPod(name: string, at?: string): Promise<{ dir: string; r: Rendered; pod: Pod }> {
      const dir = at ?? nodeDir(name);
      const r = render(PLAIN_IP, {}, dir);
      runInit(r);
      const { pod } = await startPod(r, PLAIN_IP);
      const s = await Session.open(PLAIN_IP);
      await fill(s, 'k');
      s.close();
      return { dir, r, pod };
    }

    /** How many of the KEYS keys the running pod serves, on a new connection. */
    async function hitsNow(): Promise<number> {
      const s = await Session.open(PLAIN_IP);
      try { return await hits(s, 'k'); } finally { s.close(); }
    }

    test('the pod as rendered: a wrapper around memcached, the hostPath under /dev/shm, the grace period', () => {
      const r = render(PLAIN_IP, {}, '/x');
      expect(r.command.slice(0, 2)).toEqual(['sh', '-c']);
      expect(r.args).not.toContain('-e');
      expect(r.hostPath).toBe('/dev/shm/openstack-ha-memcached/openstack-mc');
      expect(r.grace).toBe(GRACE_MS);
      expect(r.initCommand.slice(0, 2)).toEqual(['sh', '-c']);
    });

    test('a replaced pod restores every item: 100 % hits, and the stop and the restart take about a second', async () => {
      const dir = nodeDir('plain');
      const r = render(PLAIN_IP, {}, dir);
      runInit(r);
      expect(fs.statSync(dir).uid).toBe(MEMCACHE.uid);
      expect(fs.statSync(dir).mode & 0o777).toBe(0o750);
      const { pod: first, readyMs: firstReady } = await startPod(r, PLAIN_IP);
      expect(first.log).toMatch(/warm restart: no saved cache \(first start/);
      let s = await Session.open(PLAIN_IP);
      await fill(s, 'k');
      const before = Number(await stat(s, 'curr_items'));
      expect(before).toBe(KEYS);
      s.close();
      // RAM the file holds on the node's tmpfs (allocated blocks), against the item memory it may grow to.
      const fileMiB = (fs.statSync(path.join(dir, 'memory')).blocks * 512) / 2 ** 20;
      const stopMs = await first.stop();
      expect(first.log).toMatch(/warm restart: stopping: saving the cache \(SIGUSR1\)/);
      expect(fs.existsSync(path.join(dir, 'memory.meta'))).toBe(true);
      // The kubelet deletes the old pod and creates the new one: seconds (the overlap test below restarts at once,
      // and so waits out the second of the save). So the time measured is memcached's restore and start alone.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      // The init container runs again in the new pod: nothing to do, the directory is memcached's already.
      runInit(r);
      const { pod: second, readyMs } = await startPod(r, PLAIN_IP);
      expect(second.log).toMatch(/warm restart: restoring the cache saved by memcached 1\.6\.\d+/);
      s = await Session.open(PLAIN_IP);
      const restored = Number(await stat(s, 'curr_items'));
      const hit = await hits(s, 'k');
      s.close();
      report(`plaintext: ${KEYS} items (${fileMiB.toFixed(1)} MiB of the ${r.args[r.args.indexOf('-m') + 1]} MiB file in RAM); `
        + `stop (SIGTERM -> saved, exited) ${stopMs} ms; new pod serving ${readyMs} ms (first start ${firstReady} ms); `
        + `items after restart ${restored}; hits ${hit}/${KEYS} (${((100 * hit) / KEYS).toFixed(1)} %)`);
      expect(restored).toBe(KEYS);
      expect(hit).toBe(KEYS);
      expect(stopMs).toBeLessThan(GRACE_MS);

      // Without warm restart (warmRestart: false, what every roll did before): nothing survives.
      await second.stop();
      const cold = render(PLAIN_IP, { warmRestart: false }, dir);
      expect(cold.command).toEqual(['memcached']);
      const coldArgs = [...cold.args, '-u', 'nobody'];
      const start = () => spawn('memcached', coldArgs, { stdio: 'ignore', detached: true });
      let p = start();
      await waitForTcp(PLAIN_IP, PORT, 30_000);
      s = await Session.open(PLAIN_IP);
      await fill(s, 'k');
      s.close();
      p.kill('SIGTERM');
      await new Promise((resolve) => p.once('exit', resolve));
      p = start();
      await waitForTcp(PLAIN_IP, PORT, 30_000);
      s = await Session.open(PLAIN_IP);
      const coldHits = await hits(s, 'k');
      s.close();
      p.kill('SIGTERM');
      await new Promise((resolve) => p.once('exit', resolve));
      report(`without warm restart (warmRestart: false): hits after a restart ${coldHits}/${KEYS}`);
      expect(coldHits).toBe(0);
    }, 180_000);

    test('with TLS (-Z): the items come back, read over TLS', async () => {
      const dir = nodeDir('tls');
      const tlsDir = path.join(work, 'tls');
      const ca = new TestCa(work, 'mcwarm-ca');
      ca.install(tlsDir, { sans: [`IP:${TLS_IP}`] }, MEMCACHE);
      fs.chmodSync(tlsDir, 0o755);
      const certificates = TlsCertificates.fromSecrets({ secrets: [{ component: 'mc', secretName: 'mc-tls', covers: [TLS_IP] }] });
      const r = render(TLS_IP, { tls: { certificates } }, dir, tlsDir);
      expect(r.args).toContain('-Z');
      runInit(r);
      const options = { ca: fs.readFileSync(ca.caFile, 'utf8'), checkServerIdentity: (_: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(TLS_IP, cert) };
      const { pod: first } = await startPod(r, TLS_IP);
      let s = await Session.open(TLS_IP, options);
      await fill(s, 't', TLS_KEYS, 1);
      s.close();
      const stopMs = await first.stop();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const { pod: second, readyMs } = await startPod(r, TLS_IP);
      s = await Session.open(TLS_IP, options);
      const hit = await hits(s, 't', TLS_KEYS);
      s.close();
      await second.stop();
      report(`TLS: ${TLS_KEYS} items; stop ${stopMs} ms; new pod serving ${readyMs} ms; hits ${hit}/${TLS_KEYS}`);
      expect(second.log).toMatch(/restoring the cache/);
      expect(hit).toBe(TLS_KEYS);
    }, 180_000);

    test('a new item memory (-m) is refused by memcached: the pod starts clean, says so, serves, and the file takes the new size', async () => {
      const { dir, r, pod: first } = await filledPod('resize');
      await first.stop();
      const bigger = render(PLAIN_IP, { resources: { memoryLimitMiB: 320, memoryRequestMiB: 320 } }, dir);
      const m = (x: Rendered) => Number(x.args[x.args.indexOf('-m') + 1]);
      expect(m(bigger)).toBeGreaterThan(m(r));
      const { pod: second, readyMs } = await startPod(bigger, PLAIN_IP);
      const hit = await hitsNow();
      const s = await Session.open(PLAIN_IP);
      expect(await s.exchange('set after 0 0 2\r\nok\r\nget after\r\n', 'END\r\n')).toBe('STORED\r\nVALUE after 0 2\r\nok\r\nEND\r\n');
      s.close();
      await second.stop();
      report(`item memory ${m(r)} -> ${m(bigger)} MiB: hits ${hit}/${KEYS}, serving after ${readyMs} ms; memcached's log: `
        + `${JSON.stringify(second.log.split('\n').filter((l) => l.startsWith('[restart]')).join(' | '))}`);
      expect(hit).toBe(0);
      expect(second.log).toMatch(/\[restart\] restart incompatible due to setting for \[maxbytes\]/);
      expect(second.log).toMatch(/starting with a clean cache/);
      expect(fs.statSync(path.join(dir, 'memory')).size).toBe(m(bigger) * 1024 * 1024);
    }, 180_000);

    test('a crash (SIGKILL of the whole pod) loses that node\'s items only: the next pod starts clean, says so, and serves', async () => {
      const { dir, r, pod: first } = await filledPod('crash');
      await first.crash();
      expect(fs.existsSync(path.join(dir, 'memory.meta'))).toBe(false);
      const { pod: second, readyMs } = await startPod(r, PLAIN_IP);
      const hit = await hitsNow();
      const s = await Session.open(PLAIN_IP);
      await fill(s, 'k');
      s.close();
      const refilled = await hitsNow();
      // And the pod after that one restores again: the crash left nothing behind that breaks the next save.
      await second.stop();
      const { pod: third } = await startPod(r, PLAIN_IP);
      const again = await hitsNow();
      await third.stop();
      report(`crash (SIGKILL): hits after ${hit}/${KEYS}, serving after ${readyMs} ms; refilled, then a normal replacement: ${again}/${KEYS}`);
      expect(second.log).toMatch(/warm restart: no saved cache/);
      expect(second.log).toMatch(/\[restart\] no metadata save file, starting with a clean cache/);
      expect(hit).toBe(0);
      expect(refilled).toBe(KEYS);
      expect(again).toBe(KEYS);
    }, 180_000);

    test('a cache saved by a newer memcached (an image rolled back) is not restored; one saved by an older one (an upgrade) is', async () => {
      const { dir, r, pod: first } = await filledPod('version');
      await first.stop();
      // The version the wrapper recorded at the save, as an image with another memcached would have.
      fs.writeFileSync(path.join(dir, 'memory.version'), '1.6.99\n');
      const { pod: second } = await startPod(r, PLAIN_IP);
      const downgrade = await hitsNow();
      const s = await Session.open(PLAIN_IP);
      await fill(s, 'k');
      s.close();
      await second.stop();
      fs.writeFileSync(path.join(dir, 'memory.version'), '1.5.18\n');
      const { pod: third } = await startPod(r, PLAIN_IP);
      const upgrade = await hitsNow();
      await third.stop();
      report(`saved by 1.6.99, restarted by 1.6.18 (a rollback): hits ${downgrade}/${KEYS}; saved by 1.5.18 (an upgrade): ${upgrade}/${KEYS}`);
      expect(second.log).toMatch(/warm restart: the cache was saved by memcached 1\.6\.99, this is 1\.6\.\d+: starting with a clean cache/);
      expect(downgrade).toBe(0);
      expect(third.log).toMatch(/restoring the cache saved by memcached 1\.5\.18/);
      expect(upgrade).toBe(KEYS);
    }, 180_000);

    test('a new pod started while the old memcached still runs on the directory waits for it, then restores', async () => {
      const { r, pod: old } = await filledPod('overlap');
      // A force-deleted pod whose container still runs, and its replacement on the same node.
      const next = new Pod(r);
      await waitFor('the new pod to wait for the lock', 30_000, () => (/waiting for the previous memcached/.test(next.log) ? true : undefined));
      // The running memcached is untouched by the waiting one.
      const during = await hitsNow();
      // A waiting pod that is stopped (deleted again) goes at once, not after the grace period.
      const another = new Pod(r);
      await waitFor('a third pod to wait for the lock', 30_000, () => (/waiting for the previous memcached/.test(another.log) ? true : undefined));
      const waitingStopMs = await another.stop();
      const t0 = Date.now();
      await old.stop();
      await waitForTcp(PLAIN_IP, PORT, 30_000);
      const handover = Date.now() - t0;
      const after = await hitsNow();
      await next.stop();
      report(`two pods on one directory: the second waited; hits while both existed ${during}/${KEYS}, after the first stopped ${after}/${KEYS} `
        + `(serving ${handover} ms after its stop began); a waiting pod stopped in ${waitingStopMs} ms`);
      expect(waitingStopMs).toBeLessThan(5_000);
      expect(during).toBe(KEYS);
      expect(after).toBe(KEYS);
      expect(next.log).toMatch(/restoring the cache/);
    }, 180_000);

    test('a RAM disk without room for the item memory: memcached starts without -e, cold, and says so (with -e it would die of SIGBUS)', async () => {
      const dir = nodeDir('small', work);
      // 64 MiB for a 160 MiB cache (a node whose /dev/shm is small or shared).
      const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'tmpfs', dir], { encoding: 'utf8' });
      if (mount.status !== 0) {
        report(`small RAM disk case skipped: cannot mount a tmpfs here (${mount.stderr.trim()})`);
        return;
      }
      try {
        const { pod } = await filledPod('small', dir);
        const hit = await hitsNow();
        await pod.stop();
        report(`RAM disk of 64 MiB for -m 160: started cold, ${hit}/${KEYS} served while it ran; log: ${JSON.stringify(pod.log.trim())}`);
        expect(pod.log).toMatch(new RegExp(`warm restart: ${dir} has \\d+ MiB for a 160 MiB cache: memcached starts without -e`));
        expect(hit).toBe(KEYS);
        expect(fs.existsSync(path.join(dir, 'memory'))).toBe(false);
      } finally {
        spawnSync('umount', [dir]);
      }
    }, 60_000);

    test('a warmRestartPath that is not a RAM disk: memcached starts without -e, cold, and says so', async () => {
      const dir = nodeDir('disk', work);
      const fsType = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).stdout.trim();
      if (fsType === 'tmpfs' || fsType === 'ramfs') {
        report(`not-a-RAM-disk case skipped: ${os.tmpdir()} is ${fsType} here`);
        return;
      }
      const r = render(PLAIN_IP, {}, dir);
      runInit(r);
      const { pod } = await startPod(r, PLAIN_IP);
      const s = await Session.open(PLAIN_IP);
      expect(await s.exchange('set x 0 0 1\r\n1\r\nget x\r\n', 'END\r\n')).toBe('STORED\r\nVALUE x 0 1\r\n1\r\nEND\r\n');
      s.close();
      await pod.stop();
      expect(pod.log).toMatch(new RegExp(`warm restart: ${dir} is ${fsType}, not a RAM disk`));
      expect(fs.existsSync(path.join(dir, 'memory'))).toBe(false);
    }, 60_000);
  });
