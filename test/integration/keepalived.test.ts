/**
 * The real keepalived (Debian keepalived 2.2.7) with the rendered per-node files, in three network namespaces
 * `vipt-a/b/c` (10.213.0.11-13/24) joined by the bridge `viptbr0` inside a fourth namespace `vipt-br`, so nothing
 * touches the host's interfaces. Each keepalived runs as the container would: the rendered command (PID files
 * cleared, file chosen by NODE_NAME), in a private mount namespace where /etc/keepalived is the ConfigMap and /run
 * is empty, with exactly the rendered capability set (setpriv bounding set). Each node's track check is a TCP
 * connect to a tiny listener on 127.0.0.1:5000 in its namespace.
 *
 * VIP holders are followed with `ip monitor address` in each namespace (every add/delete event, timestamped on
 * receipt), which sees overlaps of any length, not only those a 10 ms poller would catch. Failover times and
 * overlaps (two holders) are measured and printed, never asserted: a SIGKILLed holder keeps its VIP until its
 * keepalived restarts, and two backups racing for a released VIP can overlap for tens of ms on a loaded machine
 * (see `spreadPriorities`).
 */
import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { KeepalivedVip, KeepalivedVipProps, Placement, VipTrack } from '../../lib';
import { DEFAULT_ADVERT_INTERVAL_SECONDS } from '../../lib/keepalived/model';
import { keepalivedConfigKey } from '../../lib/keepalived/render';
import { find, newChart, synth } from '../support/harness';
import { Daemons, describeWithBinaries } from './support/daemons';
import { BridgedNodes, createNamespaces, deleteNamespaces, sh } from './support/netns';
import { HolderTimeline, killTree, startKeepalived as startKeepalivedContainer } from './support/vrrp';

jest.setTimeout(240_000);

const BRIDGE_NS = 'vipt-br';
const BRIDGE = 'viptbr0';
const NODES = [
  { name: 'lb-a', ns: 'vipt-a', address: '10.213.0.11' },
  { name: 'lb-b', ns: 'vipt-b', address: '10.213.0.12' },
  { name: 'lb-c', ns: 'vipt-c', address: '10.213.0.13' },
];
const VIP = '10.213.0.100';
const CHECK_PORT = 5000;
const TRIALS = 5;

/**
 * What the KeepalivedVip construct deploys for these nodes: the ConfigMap's files, and the container's command and
 * added capabilities, taken from the synthesized manifests so that what runs here is what is deployed.
 */
function deployed(overrides: Partial<KeepalivedVipProps> = {}): { files: Record<string, string>; command: string[]; capabilities: string[] } {
  const chart = newChart('openstack');
  new KeepalivedVip(chart, 'api', {
    address: VIP,
    prefixLength: 24,
    interface: 'eth0',
    placement: Placement.onNodes(NODES.map((n) => ({ name: n.name, ip: n.address }))),
    virtualRouterId: 51,
    track: VipTrack.tcp(CHECK_PORT),
    ...overrides,
  });
  const objects = synth(chart);
  const [container] = find(objects, 'DaemonSet', 'api').spec.template.spec.containers;
  return { files: find(objects, 'ConfigMap', 'api-config').data, command: container.command, capabilities: container.securityContext.capabilities.add };
}
const DEPLOYED = deployed();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const NETWORK: BridgedNodes = { bridgeNs: BRIDGE_NS, bridge: BRIDGE, nodes: NODES };

describeWithBinaries('keepalived with the rendered configuration', ['keepalived', 'ip', 'unshare', 'setpriv', 'bash'],
  ['keepalived', 'iproute2', 'util-linux', 'bash'], () => {
    let work: string;
    const daemons = new Daemons();
    const keepalived = new Map<string, ChildProcess>();
    const listeners = new Map<string, ChildProcess>();
    let timeline: HolderTimeline;

    beforeAll(() => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'vip-keepalived-'));
      createNamespaces(NETWORK);
      timeline = new HolderTimeline(daemons, VIP, NODES);
      timeline.start();
    });
    afterAll(async () => {
      await daemons.stopAll();
      deleteNamespaces(NETWORK);
      fs.rmSync(work, { recursive: true, force: true });
    });

    /** Writes the synthesized ConfigMap's files into a directory that plays its volume; returns the directory. */
    function writeConfigMap(name: string, overrides: Partial<KeepalivedVipProps> = {}): string {
      const dir = path.join(work, name);
      fs.mkdirSync(dir, { recursive: true });
      for (const [key, text] of Object.entries(deployed(overrides).files)) fs.writeFileSync(path.join(dir, key), text);
      return dir;
    }

    function logPath(node: string): string {
      return path.join(work, `${node}.log`);
    }

    /** The node's /run/keepalived: kept across restarts of its keepalived, as an emptyDir outlives a container. */
    function runDir(node: string): string {
      const dir = path.join(work, `run-${node}`);
      fs.mkdirSync(dir, { recursive: true });
      return dir;
    }

    /**
     * Starts the node's keepalived as its container would, with `capabilities` as its only capabilities, and
     * `nodeName` as NODE_NAME (the node's own name unless a test says otherwise).
     */
    function startKeepalived(node: typeof NODES[number], configMap: string,
      capabilities = DEPLOYED.capabilities, nodeName = node.name, env: Record<string, string> = {}): ChildProcess {
      const child = startKeepalivedContainer(daemons, {
        ns: node.ns, nodeName, configMap, runDir: runDir(node.name), logPath: logPath(node.name), command: DEPLOYED.command, capabilities, env,
      });
      keepalived.set(node.name, child);
      return child;
    }

    /** SIGKILL of every keepalived process of the node at once (the parent is stopped first so it cannot respawn). */
    function killKeepalived(node: string): void {
      killTree(keepalived.get(node)!);
    }

    async function stopKeepalived(node: string): Promise<void> {
      const child = keepalived.get(node);
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }

    function startListener(node: typeof NODES[number]): void {
      // Answers both check kinds: a TCP connect, and GET / with 200.
      const program = `require('http').createServer((q, r) => r.end('ok')).listen(${CHECK_PORT}, '127.0.0.1')`;
      listeners.set(node.name, daemons.start('ip', ['netns', 'exec', node.ns, process.execPath, '-e', program]));
    }

    async function stopListener(node: string): Promise<void> {
      const child = listeners.get(node)!;
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    }

    /** Waits until the node's keepalived log shows it BACKUP (its check passed) after `offset` bytes. */
    async function waitForBackup(node: string, offset: number): Promise<void> {
      for (let i = 0; i < 400; i++) {
        const log = fs.existsSync(logPath(node)) ? fs.readFileSync(logPath(node), 'utf8').slice(offset) : '';
        if (/Entering BACKUP STATE/.test(log)) return;
        await sleep(25);
      }
      throw new Error(`${node} never entered BACKUP:\n${fs.readFileSync(logPath(node), 'utf8').slice(offset)}`);
    }

    function logSize(node: string): number {
      return fs.existsSync(logPath(node)) ? fs.statSync(logPath(node)).size : 0;
    }

    async function stopAllNodes(): Promise<void> {
      for (const n of NODES) {
        await stopKeepalived(n.name);
        if (listeners.has(n.name)) await stopListener(n.name);
      }
      await timeline.waitFor((h) => h.length === 0, 'every node to release the VIP on stop');
    }

    describe('keepalived -t', () => {
      function configTest(file: string): { status: number | null; output: string } {
        return sh('ip', ['netns', 'exec', 'vipt-a', 'keepalived', '-t', '-f', file]);
      }

      test('accepts every node file (in a namespace where eth0 exists)', () => {
        const dir = writeConfigMap('config-test');
        for (const node of NODES) {
          const r = configTest(path.join(dir, keepalivedConfigKey(node.name)));
          expect(r.output).toBe('');
          expect(r.status).toBe(0);
        }
      });

      test('accepts an HTTP track check with a 1 s advert', () => {
        const dir = writeConfigMap('config-test-http', {
          advertIntervalSeconds: 1, track: VipTrack.http(8404, '/healthz', { intervalSeconds: 2 }),
        });
        expect(configTest(path.join(dir, 'lb-a.conf')).status).toBe(0);
      });

      test('rejects a node file whose interface does not exist, and a fractional advert under VRRPv2', () => {
        const dir = writeConfigMap('config-test-bad', { interface: 'bond7' });
        const missingInterface = configTest(path.join(dir, 'lb-a.conf'));
        expect(missingInterface.status).toBe(5);
        const v2 = path.join(dir, 'v2.conf');
        const good = writeConfigMap('config-test-v2');
        fs.writeFileSync(v2, fs.readFileSync(path.join(good, 'lb-b.conf'), 'utf8').replace('vrrp_version 3', 'vrrp_version 2'));
        expect(configTest(v2).status).toBe(5);
      });
    });

    describe('the track check gates the VIP', () => {
      afterAll(() => stopAllNodes());

      test('no node takes the VIP before its check passes; then the one whose check passes does, whatever its priority', async () => {
        const configMap = writeConfigMap('gate');
        const offsets = NODES.map((n) => logSize(n.name));
        for (const node of NODES) startKeepalived(node, configMap);
        // Let every keepalived run its init_fail check for well over the master-down interval (0.6 s + skew).
        await sleep(3000);
        expect(timeline.holders()).toEqual([]);
        for (const [i, n] of NODES.entries()) expect(fs.readFileSync(logPath(n.name), 'utf8').slice(offsets[i])).toMatch(/VRRP_Script\(chk_api\) failed/);

        startListener(NODES[2]); // lb-c, the lowest priority
        await timeline.waitFor((h) => h.length === 1 && h[0] === 'lb-c', 'lb-c to take the VIP');
        expect(timeline.overlaps(0)).toEqual([]);
      });
    });

    test('without SETGID keepalived 2.2.7 reports the failing check as passed and takes the VIP', async () => {
      const configMap = writeConfigMap('no-setgid');
      const withoutSetgid = DEPLOYED.capabilities.filter((c) => c !== 'SETGID');
      startKeepalived(NODES[1], configMap, withoutSetgid); // no listener anywhere
      await timeline.waitFor((h) => h.includes('lb-b'), 'lb-b to (wrongly) take the VIP');
      expect(fs.readFileSync(logPath('lb-b'), 'utf8')).toMatch(/Couldn't setgroups/);
      await stopAllNodes();
    });

    test('stale PID files naming live processes do not stop a restart: the command clears them', async () => {
      const configMap = writeConfigMap('stale-pid');
      // What a restarted container finds in its emptyDir: PID files whose PIDs are alive again in the new PID
      // namespace. This test's own PID is alive; keepalived alone would refuse: "daemon is already running".
      for (const file of ['keepalived.pid', 'vrrp.pid']) fs.writeFileSync(path.join(runDir('lb-a'), file), `${process.pid}\n`);
      const bare = sh('ip', ['netns', 'exec', 'vipt-a', 'timeout', '5', 'keepalived', '--dont-fork', '--log-console', '--vrrp',
        `--pid=${runDir('lb-a')}/keepalived.pid`, `--vrrp_pid=${runDir('lb-a')}/vrrp.pid`, `--use-file=${configMap}/lb-a.conf`]);
      expect(bare.output).toMatch(/daemon is already running/);

      const offset = logSize('lb-a');
      startListener(NODES[0]);
      startKeepalived(NODES[0], configMap);
      await timeline.waitFor((h) => h.includes('lb-a'), 'lb-a to start and take the VIP');
      expect(fs.readFileSync(logPath('lb-a'), 'utf8').slice(offset)).not.toMatch(/already running/);
      await stopAllNodes();
    });

    test('a node whose name has no file in the ConfigMap waits for it, then exits instead of running a default config', async () => {
      const configMap = writeConfigMap('unknown-node');
      const offset = logSize('lb-a');
      // The wait is 5 min in a pod (start.ts step 0); 3 s here.
      const child = startKeepalived(NODES[0], configMap, undefined, 'lb-unknown', { KEEPALIVED_NODE_FILE_WAIT_SECONDS: '3' });
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      expect(code).not.toBe(0);
      const log = fs.readFileSync(logPath('lb-a'), 'utf8').slice(offset);
      expect(log).toContain('keepalived-start: WARNING: no /etc/keepalived/lb-unknown.conf: node lb-unknown is not in the inventory of this VIP (yet)');
      expect(log).toMatch(/keepalived-start: WARNING: still no \/etc\/keepalived\/lb-unknown\.conf after [3-9] s/);
      expect(log).toMatch(/Config files missing '\/etc\/keepalived\/lb-unknown\.conf'/);
      expect(timeline.holders()).toEqual([]);
    });

    test('a node whose file arrives while it waits (labelled before the apply that adds it): keepalived starts once the file is there', async () => {
      const configMap = writeConfigMap('late-file');
      const file = path.join(configMap, keepalivedConfigKey('lb-a'));
      const text = fs.readFileSync(file, 'utf8');
      fs.rmSync(file);
      const offset = logSize('lb-a');
      const log = () => fs.readFileSync(logPath('lb-a'), 'utf8').slice(offset);
      try {
        startListener(NODES[0]);
        startKeepalived(NODES[0], configMap);
        const deadline = Date.now() + 20_000;
        while (!log().includes('is not in the inventory of this VIP (yet)') && Date.now() < deadline) await sleep(100);
        expect(log()).toContain('keepalived-start: WARNING: no /etc/keepalived/lb-a.conf: node lb-a is not in the inventory of this VIP (yet)');
        // Waiting: no VIP claimed, and the probes' PID file names a live process (the script).
        await sleep(1000);
        expect(timeline.holders()).toEqual([]);
        const pid = Number(fs.readFileSync(path.join(runDir('lb-a'), 'vrrp.pid'), 'utf8'));
        expect(() => process.kill(pid, 0)).not.toThrow();
        const arrived = Date.now();
        fs.writeFileSync(file, text);
        await timeline.waitFor((h) => h.includes('lb-a'), 'lb-a to start and take the VIP once its file is there');
        console.log(`a node's file arriving while it waits: lb-a held the VIP ${Date.now() - arrived} ms after the file appeared (polled every 2 s)`);
        expect(log()).toMatch(/keepalived-start: \/etc\/keepalived\/lb-a\.conf appeared after \d+ s: starting/);
        expect(log()).toContain('keepalived-start: nobody answers for the VIP: bidding');
      } finally {
        // Also when it fails: the next tests start from no keepalived and no listener.
        await stopAllNodes();
      }
    });

    // The construct's default advert interval (0.2 s) with a TCP check, and 1 s with an HTTP check.
    const phases: Array<[number | undefined, VipTrack]> = [[undefined, VipTrack.tcp(CHECK_PORT)], [1, VipTrack.http(CHECK_PORT, '/')]];
    for (const [advertOverride, track] of phases) {
      const advert = advertOverride ?? DEFAULT_ADVERT_INTERVAL_SECONDS;
      describe(`failover with advert_int ${advert} s and a ${track.path === undefined ? 'tcp' : 'http'} track check`, () => {
        const killTimes: number[] = [];
        const trackTimes: number[] = [];
        const overlapsSeen: number[] = [];
        const trackOverlaps: number[] = [];
        let configMap: string;

        beforeAll(async () => {
          configMap = writeConfigMap(`failover-${advert}`, { advertIntervalSeconds: advertOverride, track });
          const offsets = NODES.map((n) => logSize(n.name));
          for (const node of NODES) { startListener(node); startKeepalived(node, configMap); }
          await timeline.waitFor((h) => h.length === 1, 'one holder');
          await Promise.all(NODES.map((n, i) => (timeline.holders()[0] === n.name ? undefined : waitForBackup(n.name, offsets[i]))));
        });
        afterAll(async () => {
          await stopAllNodes();
          const stats = (xs: number[]) => {
            const s = [...xs].sort((a, b) => a - b);
            return `median ${s[Math.floor(s.length / 2)]} ms, max ${s[s.length - 1]} ms (${xs.join(', ')})`;
          };
          console.log(`advert_int ${advert} s: holder SIGKILLed -> VIP elsewhere: ${stats(killTimes)}\n` +
            `advert_int ${advert} s: holder's check fails -> VIP elsewhere: ${stats(trackTimes)}\n` +
            `advert_int ${advert} s: overlaps (two holders) after SIGKILL, until the restarted keepalived removed ` +
            `the stale VIP: ${overlapsSeen.join(', ')} ms\n` +
            `advert_int ${advert} s: overlaps (two holders) during track-check handovers: ${trackOverlaps.join(', ') || 'none'}`);
        });

        test(`SIGKILL of every keepalived process of the holder moves the VIP (${TRIALS} trials)`, async () => {
          for (let trial = 0; trial < TRIALS; trial++) {
            const [holder] = timeline.holders();
            const t0 = Date.now();
            killKeepalived(holder);
            const moved = await timeline.waitFor((h) => h.some((n) => n !== holder), 'another holder');
            killTimes.push(moved - t0);
            // A dead keepalived leaves its VIP behind: the kubelet restarts the container, which removes it.
            const offset = logSize(holder);
            startKeepalived(NODES.find((n) => n.name === holder)!, configMap);
            await timeline.waitFor((h) => h.length === 1 && h[0] !== holder, 'the restarted node to drop the stale VIP');
            await waitForBackup(holder, offset);
            overlapsSeen.push(...timeline.overlaps(t0).map(([, duration]) => duration));
          }
          expect(timeline.holders()).toHaveLength(1);
        });

        test(`a failing track check moves the VIP, and the VIP stays when it passes again (${TRIALS} trials)`, async () => {
          const from = Date.now();
          for (let trial = 0; trial < TRIALS; trial++) {
            const [holder] = timeline.holders();
            const offset = logSize(holder);
            const t0 = Date.now();
            await stopListener(holder);
            const moved = await timeline.waitFor((h) => h.length >= 1 && !h.includes(holder), 'the VIP to leave the node whose check fails');
            trackTimes.push(moved - t0);
            const [newHolder] = timeline.holders();
            startListener(NODES.find((n) => n.name === holder)!);
            await waitForBackup(holder, offset);
            // nopreempt: the recovered node (maybe of higher priority) does not take the VIP back.
            expect(timeline.holders()).toEqual([newHolder]);
          }
          trackOverlaps.push(...timeline.overlaps(from).map(([, duration]) => duration));
          expect(timeline.holders()).toHaveLength(1);
        });
      });
    }
  });
