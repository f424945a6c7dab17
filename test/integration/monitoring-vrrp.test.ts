/**
 * keepalived's VRRP state end to end: two real keepalived (Debian 2.2.7) with the rendered per-node files and the
 * rendered container command (which writes the state file before keepalived starts, and whose `notify` rewrites it
 * on every transition), in network namespaces `i19-a`/`i19-b` (10.219.0.11-12/24, bridged in `i19-br`); per node a
 * real node-exporter (Debian) with the synthesized sidecar's arguments, reading the node's run directory (what the
 * pod mounts); a real Prometheus on 127.0.19.11 with the scrape config and rules from the synthesized PodMonitor and
 * PrometheusRule. Each node's track check is a TCP connect to a listener on 127.0.0.1:5000 in its namespace.
 *
 * Time scale, stated: the alerts' 30 s windows are divided by FOR_SCALE (5), i.e. 6 s, still longer than a real
 * takeover here (0.1-2.8 s), which is not scaled. Proven at that scale: a takeover after a failed check fires
 * nothing; no holder at all (every check failing) goes pending, fires, and resolves when a check passes again. A node
 * out of the election (its check failing for good) is proven by a second Prometheus (127.0.19.13) on the same
 * exporters at 1/30 (its 5 min window at 1/5 would cost a minute): pending, firing for that node alone, resolved.
 */
import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ControlPlaneMonitoring, KeepalivedVip, Placement, VipTrack } from '../../lib';
import { find, newChart, synth } from '../support/harness';
import { SCRAPER } from '../support/monitoring';
import { sleep, waitFor } from './galera-harness';
import { Daemons, describeWithBinaries } from './support/daemons';
import { BridgedNodes, createNamespaces, deleteNamespaces } from './support/netns';
import { resolved, scrapeConfigs, stopProcess, TestPrometheus } from './support/prometheus';

jest.setTimeout(180_000);

const FOR_SCALE = 5;
const PROMETHEUS = '127.0.19.11:9090';
/** The second Prometheus of the out-of-election case: every `for` divided by 30 (5 min -> 10 s). */
const FAST_PROMETHEUS = '127.0.19.13:9090';
const FAST_FOR_SCALE = 30;
const BRIDGE_NS = 'i19-br';
const BRIDGE = 'i19br0';
const NODES = [
  { name: 'lb-a', ns: 'i19-a', address: '10.219.0.11', hostIp: '127.0.19.31' },
  { name: 'lb-b', ns: 'i19-b', address: '10.219.0.12', hostIp: '127.0.19.32' },
];
const VIP = '10.219.0.100';
const CHECK_PORT = 5000;

const NETWORK: BridgedNodes = { bridgeNs: BRIDGE_NS, bridge: BRIDGE, nodes: NODES };

describeWithBinaries('Monitoring end to end: keepalived\'s VRRP state', ['keepalived', 'prometheus', 'prometheus-node-exporter', 'unshare'],
  ['keepalived', 'prometheus', 'prometheus-node-exporter', 'util-linux'], () => {
    /** The VIP with its monitoring, synthesized, the monitoring declaring `scrapeIntervalSeconds` (default 30). */
    function monitoredVip(scrapeIntervalSeconds?: number): ReturnType<typeof synth> {
      const chart = newChart('openstack');
      const vip = new KeepalivedVip(chart, 'api', {
        address: VIP, prefixLength: 24, interface: 'eth0', virtualRouterId: 51, track: VipTrack.tcp(CHECK_PORT), metricsExporter: true,
        placement: Placement.onNodes(NODES.map((n) => ({ name: n.name, ip: n.address }))),
      });
      new ControlPlaneMonitoring(chart, 'mon', { scraper: SCRAPER, vip, ...(scrapeIntervalSeconds !== undefined ? { scrapeIntervalSeconds } : {}) });
      return synth(chart);
    }
    const objects = monitoredVip();
    /**
     * For the second Prometheus: the monitoring declared at the test's real 1 s scrapes, since the rules' range windows
     * are counted in scrapes (3 scrapes: 3 s, not the 90 s of the default 30 s interval).
     */
    const fastObjects = monitoredVip(1);
    const [keepalivedContainer, exporterContainer] = find(objects, 'DaemonSet', 'api').spec.template.spec.containers;
    const files: Record<string, string> = find(objects, 'ConfigMap', 'api-config').data;
    const daemons = new Daemons();
    const listeners = new Map<string, ChildProcess>();
    let dir: string;
    let prometheus: TestPrometheus;

    const runDir = (node: string) => path.join(dir, node, 'run');

    /** The node's keepalived as its container runs it: the rendered command, the ConfigMap at /etc/keepalived. */
    function startKeepalived(node: typeof NODES[number]): void {
      const config = path.join(dir, node.name, 'config');
      fs.mkdirSync(config, { recursive: true });
      fs.mkdirSync(runDir(node.name), { recursive: true });
      for (const [key, text] of Object.entries(files)) fs.writeFileSync(path.join(config, key), text);
      const [shell, flag, script] = keepalivedContainer.command;
      const inner = `mount --bind ${config} /etc/keepalived && mount -t tmpfs tmpfs /run && mkdir /run/keepalived && ` +
        `mount --bind ${runDir(node.name)} /run/keepalived && exec ${shell} ${flag} '${script}' >>${path.join(dir, `${node.name}.log`)} 2>&1`;
      daemons.start('ip', ['netns', 'exec', node.ns, 'unshare', '-m', 'sh', '-c', inner], { env: { ...process.env, NODE_NAME: node.name } });
    }

    /** The sidecar's node-exporter: its arguments, the node's address, the run directory as the pod mounts it. */
    function startExporter(node: typeof NODES[number]): void {
      const args = (exporterContainer.args as string[]).map((a) => a
        .replace('$(HOST_IP)', node.hostIp)
        .replace('=/run/keepalived/', `=${runDir(node.name)}/`));
      daemons.start('prometheus-node-exporter', args);
    }

    function startListener(node: typeof NODES[number]): void {
      const program = `require('net').createServer((s) => s.end()).listen(${CHECK_PORT}, '127.0.0.1')`;
      listeners.set(node.name, daemons.start('ip', ['netns', 'exec', node.ns, process.execPath, '-e', program]));
    }

    /** The node's track check fails from now on (its listener is gone). */
    const stopListener = (node: string) => stopProcess(listeners.get(node)!);

    /** The nodes keepalived says are MASTER, as Prometheus last scraped them. */
    async function holders(): Promise<string[]> {
      return (await prometheus.query('keepalived_vrrp_master{job="api"} == 1')).map((s) => s.metric.pod).sort();
    }

    async function waitHolders(expected: number, timeoutMs: number): Promise<string[]> {
      return waitFor(`${expected} holder(s)`, timeoutMs, async () => {
        const now = await holders();
        return now.length === expected ? now : undefined;
      });
    }

    /** `waitFor` for a condition. */
    const until = (what: string, timeoutMs: number, probe: () => Promise<boolean>) =>
      waitFor(what, timeoutMs, async () => ((await probe()) ? true : undefined));

    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'i19-vrrp-'));
      createNamespaces(NETWORK);
      prometheus = new TestPrometheus(PROMETHEUS, dir, objects, scrapeConfigs(objects, { api: NODES.map((n) => ({ name: n.name, ip: n.hostIp })) }), FOR_SCALE);
      for (const node of NODES) {
        startListener(node);
        startKeepalived(node);
        startExporter(node);
      }
      await prometheus.ready(NODES.length, 60_000);
    });

    afterAll(async () => {
      await prometheus?.stop();
      await daemons.stopAll();
      deleteNamespaces(NETWORK);
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    test('one holder; a takeover after the holder\'s check fails raises nothing', async () => {
      const [first] = await waitHolders(1, 30_000);
      const watch = prometheus.watch();
      try {
        await stopListener(first);
        // The other node takes over; the failed one reports FAULT.
        await until('the VIP to move', 20_000, async () => {
          const now = await holders();
          return now.length === 1 && now[0] !== first;
        });
        await until(`${first} FAULT`, 10_000, async () => (await prometheus.query(`keepalived_vrrp_fault{pod="${first}"} == 1`)).length === 1);
        // Longer than the scaled window: a takeover must not page.
        await sleep(8_000);
      } finally {
        await watch.stop();
      }
      expect([...watch.seen].filter(([, s]) => s.firing !== undefined).map(([name]) => name)).toEqual([]);
      startListener(NODES.find((n) => n.name === first)!);
    });

    test('every check failing: KeepalivedVipNoHolder goes pending, fires, and resolves when a check passes again', async () => {
      await until('both nodes out of FAULT', 20_000, async () => (await prometheus.query('sum(keepalived_vrrp_fault{job="api"})'))[0]?.value[1] === '0');
      const watch = prometheus.watch();
      try {
        for (const node of NODES) await stopListener(node.name);
        const alert = await watch.pendingThenFiring('KeepalivedVipNoHolder', 40_000);
        expect(alert.firing - alert.pending).toBeGreaterThanOrEqual((30 / FOR_SCALE - 1) * 1000);
        expect(await holders()).toEqual([]);
        startListener(NODES[1]);
        await waitHolders(1, 20_000);
        await resolved(prometheus, ['KeepalivedVipNoHolder'], 20_000);
      } finally {
        await watch.stop();
      }
      startListener(NODES[0]);
    });

    test('a node whose check stays failing: KeepalivedNodeOutOfElection goes pending, fires for it alone, and resolves when the check passes', async () => {
      await until('both nodes out of FAULT', 20_000, async () => (await prometheus.query('sum(keepalived_vrrp_fault{job="api"})'))[0]?.value[1] === '0');
      // Its 5 min window at 1/5 would be 60 s: a second Prometheus on the same exporters divides by 30 (10 s) for this
      // case alone (the first keeps 1/5, so that the 30 s windows above stay longer than a real takeover).
      const fastDir = path.join(dir, 'fast');
      fs.mkdirSync(fastDir, { recursive: true });
      const fast = new TestPrometheus(FAST_PROMETHEUS, fastDir, fastObjects, scrapeConfigs(fastObjects, { api: NODES.map((n) => ({ name: n.name, ip: n.hostIp })) }), FAST_FOR_SCALE);
      try {
        await fast.ready(NODES.length, 60_000);
        const [holder] = await waitHolders(1, 30_000);
        const out = NODES.find((n) => n.name !== holder)!;
        const watch = fast.watch();
        const t0 = Date.now();
        let checkBack = false;
        try {
          await stopListener(out.name);
          const alert = await watch.pendingThenFiring('KeepalivedNodeOutOfElection', 60_000);
          expect(alert.firing - alert.pending).toBeGreaterThanOrEqual((300 / FAST_FOR_SCALE - 1) * 1000);
          // For that node alone, while the other still holds the VIP (and NoHolder stays silent).
          expect(watch.describe('KeepalivedNodeOutOfElection', t0)?.labels?.pod).toBe(out.name);
          expect((await fast.activeAlerts()).filter((a) => a.labels.alertname === 'KeepalivedNodeOutOfElection').map((a) => a.labels.pod)).toEqual([out.name]);
          expect(await holders()).toEqual([holder]);
          startListener(out);
          checkBack = true;
          await resolved(fast, ['KeepalivedNodeOutOfElection'], 30_000);
        } finally {
          await watch.stop();
          // Also when it fails: the next test starts with both checks passing.
          if (!checkBack) startListener(out);
        }
        expect(watch.seen.has('KeepalivedVipNoHolder')).toBe(false);
      } finally {
        await fast.stop();
      }
    });

    test('figures: series per node of the VRRP state exporter (reported, not asserted beyond the two state series)', async () => {
      const perNode = await prometheus.query('scrape_samples_scraped{job="api"}');
      // eslint-disable-next-line no-console
      console.log(`VRRP exporter series per node: ${JSON.stringify(Object.fromEntries(perNode.map((r) => [r.metric.pod, Number(r.value[1])])))}`);
      expect(perNode.length).toBe(NODES.length);
      for (const r of perNode) expect(Number(r.value[1])).toBeGreaterThanOrEqual(2);
    });
  });
