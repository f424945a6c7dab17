/**
 * A node joining a keepalived VIP (a dead controller replaced by a new node, new name and IP) with NO procedure:
 * the new node's keepalived starts at the apply, before the survivors roll with the new peer list, as a DaemonSet
 * does. The real keepalived (Debian 2.2.7) runs the container's rendered start script (lib/keepalived/start.ts), with
 * the rendered files and capabilities (support/vrrp.ts), each node a network namespace:
 * - `kvjn-a`..`kvjn-d` (10.247.0.11-14/24) on the bridge `kvjnbr0` (in `kvjn-br`), `kvjn-x` (10.247.0.50) a host
 *   that is no peer; VIP 10.247.0.100, router id 61; each node's track check is a TCP listener on 127.0.0.1:5000
 *   inside its namespace; files under mkdtemp `kvjn-*` (removed at the end).
 * - the replacement: [ctl-a, ctl-b, ctl-c] running, ctl-c (the holder) dies, then ctl-d starts with the files of
 *   [ctl-a, ctl-b, ctl-d] and, once it is Ready, ctl-a and ctl-b roll one at a time (SIGTERM, start with the new
 *   files, Ready after the VRRP PID file + 2 s, next). With the previous command (keepalived at once) ctl-d takes
 *   the VIP too; with the start script it waits for an advert and no two nodes hold the VIP.
 * - a cold start of every node, a survivor's restart and the holder's, a holder that is no peer, and a waiting node
 *   whose peers all die (it must not wait for ever).
 * VIP holders are followed with `ip monitor address` in every namespace (support/vrrp.ts HolderTimeline).
 * About 3 minutes (three replacements with the start script, one with the previous command, cold starts, restarts).
 */
import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { KeepalivedVip, Placement, VipTrack } from '../../lib';
import { find, newChart, synth } from '../support/harness';
import { Daemons, describeWithBinaries, keepLastLogs } from './support/daemons';
import { BridgedNodes, createNamespaces, deleteNamespaces, ip, sh } from './support/netns';
import { HolderTimeline, killTree, startKeepalived } from './support/vrrp';

jest.setTimeout(600_000);

const VIP = '10.247.0.100';
const CHECK_PORT = 5000;
interface Node { readonly name: string; readonly ns: string; readonly address: string }
const [A, B, C, D]: Node[] = ['a', 'b', 'c', 'd'].map((x, i) => ({ name: `ctl-${x}`, ns: `kvjn-${x}`, address: `10.247.0.${11 + i}` }));
const X: Node = { name: 'foreign', ns: 'kvjn-x', address: '10.247.0.50' };
const NETWORK: BridgedNodes = { bridgeNs: 'kvjn-br', bridge: 'kvjnbr0', nodes: [A, B, C, D, X] };
/**
 * Replacement sequences with the start script (each a full death, apply and roll), and cold-start trials per
 * command. The suite runs two replacements (both roll orders) and two trials (CI's time); the figures in the README
 * came from KEEPALIVED_JOIN_REPEATS=3 KEEPALIVED_JOIN_TRIALS=3.
 */
const REPEATS = Number(process.env.KEEPALIVED_JOIN_REPEATS ?? 2);
const TRIALS = Number(process.env.KEEPALIVED_JOIN_TRIALS ?? 2);

/** The previous container command (before the start script): keepalived at once, whoever holds the VIP. */
const PREVIOUS_COMMAND = ['/bin/sh', '-c', 'mkdir -p /run/keepalived && rm -f /run/keepalived/keepalived.pid /run/keepalived/vrrp.pid && ' +
  'exec keepalived --dont-fork --log-console --log-detail --vrrp --pid=/run/keepalived/keepalived.pid ' +
  '--vrrp_pid=/run/keepalived/vrrp.pid --use-file=/etc/keepalived/"$NODE_NAME".conf'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What KeepalivedVip deploys for an inventory: the ConfigMap's files, the container's command and capabilities. */
function render(nodes: Node[]) {
  const chart = newChart('openstack');
  new KeepalivedVip(chart, 'api', {
    address: VIP, prefixLength: 24, interface: 'eth0', virtualRouterId: 61, track: VipTrack.tcp(CHECK_PORT),
    placement: Placement.onNodes(nodes.map((n) => ({ name: n.name, ip: n.address }))),
  });
  const objects = synth(chart);
  const [container] = find(objects, 'DaemonSet', 'api').spec.template.spec.containers;
  return { files: find(objects, 'ConfigMap', 'api-config').data as Record<string, string>, command: container.command as string[], capabilities: container.securityContext.capabilities.add as string[] };
}
type Rendered = ReturnType<typeof render>;
const OLD = render([A, B, C]);
const NEW = render([A, B, D]);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

describeWithBinaries('a node joins a keepalived VIP with no procedure: the start script waits for an advert', ['keepalived', 'ip', 'unshare', 'setpriv', 'bash'],
  ['keepalived', 'iproute2', 'util-linux', 'bash'], () => {
    const daemons = new Daemons();
    const keepalived = new Map<string, ChildProcess>();
    const logOffset = new Map<string, number>();
    const runDirs = new Map<string, string>();
    let work: string;
    let timeline: HolderTimeline;
    let pods = 0;
    const figures: string[] = [];

    const logPath = (node: Node) => path.join(work, `${node.name}.log`);
    const log = (node: Node) => (fs.existsSync(logPath(node)) ? fs.readFileSync(logPath(node), 'utf8') : '');
    /** The node's log since its current container started. */
    const podLog = (node: Node) => log(node).slice(logOffset.get(node.name) ?? 0);

    function exited(child: ChildProcess | undefined): Promise<void> {
      if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      return new Promise((resolve) => child.once('exit', () => resolve()));
    }

    async function until(what: string, ready: () => boolean, timeoutMs: number, node?: Node): Promise<number> {
      const start = Date.now();
      while (!ready()) {
        if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${node ? `:\n${podLog(node).slice(-3000)}` : ''}`);
        await sleep(20);
      }
      return Date.now();
    }

    /**
     * A new keepalived pod on `node` (a new emptyDir), or a restarted container of its pod (`runDir`: the pod's
     * emptyDir, kept), with the rendered files and the given command. Returns its start time and run directory.
     */
    function startPod(node: Node, r: Rendered, command = r.command, keptRunDir?: string): { at: number; runDir: string } {
      const n = ++pods;
      const configMap = path.join(work, `${node.name}-config-${n}`);
      const runDir = keptRunDir ?? path.join(work, `${node.name}-run-${n}`);
      fs.mkdirSync(configMap, { recursive: true });
      fs.mkdirSync(runDir, { recursive: true });
      for (const [key, text] of Object.entries(r.files)) fs.writeFileSync(path.join(configMap, key), text);
      logOffset.set(node.name, log(node).length);
      runDirs.set(node.name, runDir);
      keepalived.set(node.name, startKeepalived(daemons, {
        ns: node.ns, nodeName: node.name, configMap, runDir, logPath: logPath(node), command, capabilities: r.capabilities,
      }));
      return { at: Date.now(), runDir };
    }

    /** Starts the pod and resolves when the kubelet would call it Ready (the VRRP PID file, then the 2 s initial delay). */
    async function startReadyPod(node: Node, r: Rendered, command = r.command): Promise<number> {
      const { at, runDir } = startPod(node, r, command);
      await until(`${node.name}'s VRRP PID file`, () => fs.existsSync(path.join(runDir, 'vrrp.pid')), 60_000, node);
      await sleep(2000);
      return at;
    }

    async function stopPod(node: Node): Promise<void> {
      const k = keepalived.get(node.name);
      k?.kill('SIGTERM');
      await exited(k);
    }

    async function stopAll(): Promise<void> {
      for (const node of [A, B, C, D]) await stopPod(node);
      await timeline.waitFor((h) => h.length === 0, 'every node to release the VIP', 30_000);
    }

    /** The node is gone: every process killed, its link down and its addresses gone (as its namespace would be). */
    function kill(node: Node): void {
      const k = keepalived.get(node.name);
      if (k) killTree(k);
      ip('-n', node.ns, 'link', 'set', 'eth0', 'down');
      ip('-n', node.ns, 'addr', 'flush', 'dev', 'eth0');
    }

    function revive(node: Node): void {
      ip('-n', node.ns, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0');
      ip('-n', node.ns, 'link', 'set', 'eth0', 'up');
    }

    /** The time the node's current container logged a line matching `re`. */
    const logged = (node: Node, re: RegExp, what: string, timeoutMs = 120_000) => until(`${node.name}: ${what}`, () => re.test(podLog(node)), timeoutMs, node);

    beforeAll(() => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'kvjn-'));
      createNamespaces(NETWORK);
      // Each node's track check passes: a TCP listener on 127.0.0.1:5000 in its namespace.
      const program = `require('net').createServer((s) => s.end()).listen(${CHECK_PORT}, '127.0.0.1')`;
      for (const node of [A, B, C, D]) daemons.start('ip', ['netns', 'exec', node.ns, process.execPath, '-e', program]);
      timeline = new HolderTimeline(daemons, VIP, [A, B, C, D, X]);
      timeline.start();
    });

    afterAll(async () => {
      await daemons.stopAll();
      deleteNamespaces(NETWORK);
      keepLastLogs(work, 'kvjn');
      // eslint-disable-next-line no-console
      console.log(`keepalived join (start script):\n${figures.join('\n')}`);
    });

    /**
     * The replacement with no procedure: ctl-c (holder) dies, ctl-d starts at once, then ctl-a and ctl-b roll.
     * Returns the overlaps (two holders) from ctl-d's start to the end, and ctl-d's wait.
     */
    async function replacement(command: string[] | undefined, rollOrder: Node[]) {
      for (const n of [A, B, C]) if (!sh('ip', ['-n', n.ns, 'link', 'show', 'eth0']).output.includes('state UP')) revive(n);
      // ctl-c starts first and takes the VIP; then ctl-a and ctl-b (BACKUP).
      await startReadyPod(C, OLD, command ?? OLD.command);
      await timeline.waitFor((h) => h.length === 1 && h[0] === C.name, 'ctl-c to take the VIP', 30_000);
      await Promise.all([startReadyPod(A, OLD, command ?? OLD.command), startReadyPod(B, OLD, command ?? OLD.command)]);
      await sleep(1000);
      expect(timeline.holders()).toEqual([C.name]);

      const killedAt = Date.now();
      kill(C);
      const takenAt = await timeline.waitFor((h) => h.length === 1 && h[0] !== C.name, 'a survivor to take the VIP', 30_000);

      // The apply: ctl-d's pod first (a DaemonSet creates it at once and rolls the old pods once it is Ready).
      const applyAt = Date.now();
      const dStart = await startReadyPod(D, NEW, command ?? NEW.command);
      // Followed during the roll (the log is polled every 20 ms): the advert that ends ctl-d's wait.
      const heard = command ? undefined : logged(D, /an advert from a peer arrived after/, 'the advert that ends its wait', 120_000);
      const rolls: string[] = [];
      const stops: Array<[string, number]> = [];
      for (const node of rollOrder) {
        const t0 = Date.now();
        stops.push([node.name, t0]);
        await stopPod(node);
        await startReadyPod(node, NEW, command ?? NEW.command);
        rolls.push(`${node.name} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
      const rolledAt = Date.now();
      const heardAt = await heard;
      const lastStop = heardAt === undefined ? undefined : stops.filter(([, t]) => t <= heardAt).pop();
      await sleep(3000);
      const overlaps = timeline.overlaps(applyAt);
      const dHeld = timeline.events.filter(([t, n, added]) => t >= applyAt && n === D.name && added).length;
      const holders = timeline.holders();
      await stopAll();
      return { killedAt, takenAt, applyAt, dStart, rolledAt, heardAt, lastStop, overlaps, dHeld, holders, rolls };
    }

    test('before: with the previous command the new node takes the VIP too (the defect this fixes)', async () => {
      const r = await replacement(PREVIOUS_COMMAND, [A, B]);
      const total = r.overlaps.reduce((s, [, d]) => s + d, 0);
      figures.push(`previous command: two holders for ${r.overlaps.map(([, d]) => `${d} ms`).join(' + ') || 'never'} (ctl-d took the VIP ${r.dHeld} time(s)); ` +
        `roll ${r.rolls.join(', ')}`);
      expect(r.dHeld).toBeGreaterThan(0);
      expect(total).toBeGreaterThanOrEqual(1000);
    });

    for (let i = 0; i < REPEATS; i++) {
      const order = i % 2 === 0 ? [A, B] : [B, A];
      test(`after (${i + 1}/${REPEATS}): ctl-d waits for an advert; no two holders at any instant (roll ${order.map((n) => n.name).join(', ')})`, async () => {
        const r = await replacement(undefined, order);
        const dLog = podLog(D);
        const waited = /an advert from a peer arrived after (\d+) s/.exec(dLog)?.[1];
        figures.push(`start script, run ${i + 1}: ctl-c killed -> VIP on a survivor ${r.takenAt - r.killedAt} ms; ctl-d waited ${((r.heardAt! - r.dStart) / 1000).toFixed(1)} s ` +
          `(its log: ${waited} s), until ${r.heardAt! - r.lastStop![1]} ms after ${r.lastStop![0]} was stopped in the roll; the roll ended ${((r.rolledAt - r.dStart) / 1000).toFixed(1)} s after ctl-d started; roll ${r.rolls.join(', ')}; ` +
          `two holders: ${r.overlaps.map(([, d]) => `${d} ms`).join(', ') || 'never'}; holder at the end: ${r.holders.join(', ')}`);
        expect(dLog).not.toMatch(/WARNING/);
        expect(r.dHeld).toBe(0);
        // A handover between the survivors in the roll (priority 0: the next holder adds the VIP after its skew, 1.6 ms
        // for priority 254, while the stopping one removes it) may overlap by a millisecond or so (0 ms once: both
        // events stamped in the same millisecond): keepalived's own, not this defect (ctl-d never held the VIP).
        expect(r.overlaps.filter(([, d]) => d >= 100)).toEqual([]);
        expect(r.holders).toHaveLength(1);
        // The wait ends with the roll that gives the holder the new peer list, not before ctl-d was Ready.
        expect(r.heardAt! - r.dStart).toBeGreaterThan(2000);
      });
    }

    test('cold start of every node: the VIP is up about as fast as with the previous command', async () => {
      for (const n of [A, B, C]) if (!sh('ip', ['-n', n.ns, 'link', 'show', 'eth0']).output.includes('state UP')) revive(n);
      const times: Record<string, number[]> = { previous: [], 'start script': [] };
      for (let trial = 0; trial < TRIALS; trial++) {
        for (const [label, command] of [['previous', PREVIOUS_COMMAND], ['start script', undefined]] as const) {
          const at = Date.now();
          for (const node of [A, B, D]) startPod(node, NEW, command ?? NEW.command);
          const up = await timeline.waitFor((h) => h.length >= 1, 'a holder after a cold start', 60_000);
          times[label].push(up - at);
          await sleep(2000);
          expect(timeline.holders()).toHaveLength(1);
          if (!command) for (const node of [A, B, D]) expect(podLog(node)).toMatch(/nobody answers for the VIP: bidding|an advert from a peer arrived/);
          await stopAll();
        }
      }
      figures.push(`cold start (${TRIALS} trials each), VIP up after: previous command ${times.previous.join(', ')} ms (median ${median(times.previous)}); ` +
        `start script ${times['start script'].join(', ')} ms (median ${median(times['start script'])})`);
      // The first probe waits 1 s for an answer for the VIP (then bash, ip and keepalived start, slowly at nice 19).
      expect(median(times['start script'])).toBeLessThan(median(times.previous) + 2500);
    });

    test('a survivor restarting, and the holder restarting, wait one advert, not a bound', async () => {
      await startReadyPod(A, NEW);
      await timeline.waitFor((h) => h.length === 1 && h[0] === A.name, 'ctl-a to take the VIP', 30_000);
      await Promise.all([startReadyPod(B, NEW), startReadyPod(D, NEW)]);
      await logged(B, /\(VI_api\) Entering BACKUP STATE/, 'BACKUP');
      const since = Date.now();
      const waits: string[] = [];
      // A backup restarts (a roll): the holder lists it, so its first advert ends the wait.
      for (const node of [B, D]) {
        await stopPod(node);
        const at = Date.now();
        startPod(node, NEW);
        const heard = await logged(node, /an advert from a peer arrived after/, 'the advert', 30_000);
        await logged(node, /\(VI_api\) Entering BACKUP STATE/, 'BACKUP', 30_000);
        waits.push(`${node.name} (backup) ${heard - at} ms`);
      }
      // The holder restarts: SIGTERM (priority 0: ctl-b takes over), then it waits for ctl-b's advert.
      await stopPod(A);
      const at = Date.now();
      startPod(A, NEW);
      const heard = await logged(A, /an advert from a peer arrived after/, 'the advert', 30_000);
      waits.push(`ctl-a (the holder) ${heard - at} ms`);
      // The holder SIGKILLed (an OOM kill): its VIP stays until its next start removes it.
      await logged(A, /\(VI_api\) Entering BACKUP STATE/, 'BACKUP', 30_000);
      const [holder] = timeline.holders();
      const h = [A, B, D].find((n) => n.name === holder)!;
      const killedAt = Date.now();
      killTree(keepalived.get(h.name)!);
      const other = await timeline.waitFor((x) => x.some((n) => n !== h.name), 'another node to take the VIP', 30_000);
      // The kubelet restarts the container in the same pod: the emptyDir keeps the PID files, whose PIDs are alive
      // again in the new PID namespace (played by this process's PID): the listener must not be refused.
      const kept = runDirs.get(h.name)!;
      for (const f of ['keepalived.pid', 'vrrp.pid']) fs.writeFileSync(path.join(kept, f), `${process.pid}\n`);
      startPod(h, NEW, NEW.command, kept);
      await logged(h, /removed the VIP left on eth0/, 'the stale VIP removed', 30_000);
      await timeline.waitFor((x) => x.length === 1 && x[0] !== h.name, 'one holder again', 30_000);
      const overlap = timeline.overlaps(killedAt).map(([, d]) => d);
      await logged(h, /an advert from a peer arrived after/, 'the advert', 30_000);
      waits.push(`${h.name} after SIGKILL, restarted with the old PID files: VIP elsewhere after ${other - killedAt} ms, two holders ${overlap.join(', ') || 'never'} ms until its restart removed the stale VIP`);
      figures.push(`restarts: from the container start to the advert that ends the wait: ${waits.join('; ')}`);
      for (const node of [A, B, D]) expect(podLog(node)).not.toMatch(/WARNING/);
      expect(timeline.overlaps(since).filter(([t]) => t < killedAt)).toEqual([]);
      await stopAll();
    });

    test('a holder that is no peer (another host on the address) does not hold the start: WARNING, bidding as before', async () => {
      ip('-n', X.ns, 'addr', 'add', `${VIP}/24`, 'dev', 'eth0');
      try {
        const at = Date.now();
        startPod(A, NEW);
        await logged(A, /answers for the VIP and is none of the peers of this node/, 'the WARNING', 30_000);
        const up = await timeline.waitFor((h) => h.includes(A.name), 'ctl-a to bid and take the VIP', 30_000);
        figures.push(`a foreign holder: ctl-a bid after a WARNING and held the VIP ${up - at} ms after its start (two holders, as before: another host uses the address)`);
        await stopPod(A);
      } finally {
        ip('-n', X.ns, 'addr', 'del', `${VIP}/24`, 'dev', 'eth0');
      }
    });

    test('a waiting node whose peers all die bids: it does not wait for ever', async () => {
      for (const n of [A, B]) if (!sh('ip', ['-n', n.ns, 'link', 'show', 'eth0']).output.includes('state UP')) revive(n);
      // ctl-a and ctl-b on the old files (they do not list ctl-d); ctl-d waits.
      await startReadyPod(A, OLD);
      await timeline.waitFor((h) => h.length === 1 && h[0] === A.name, 'ctl-a to take the VIP', 30_000);
      await startReadyPod(B, OLD);
      startPod(D, NEW);
      await logged(D, /peer 10\.247\.0\.11 holds the VIP: not bidding/, 'the wait', 30_000);
      await sleep(3000);
      expect(timeline.holders()).toEqual([A.name]);
      const diedAt = Date.now();
      kill(A);
      kill(B);
      const taken = await timeline.waitFor((h) => h.length === 1 && h[0] === D.name, 'ctl-d to take the VIP', 60_000);
      await logged(D, /no peer answers for the VIP any more/, 'the end of the wait', 10_000);
      figures.push(`every peer dead while ctl-d waited: ctl-d held the VIP ${taken - diedAt} ms later`);
      await stopPod(D);
      revive(A);
      revive(B);
    });
  });
