/**
 * The VIP (keepalived + HAProxy) while a dead controller is replaced by a new node, with the real daemons (Debian
 * keepalived 2.2.7 and HAProxy 2.6 running what OpenStackControlPlane renders for [ctl-a, ctl-b, ctl-c], then for
 * [ctl-a, ctl-b, ctl-d]), in two placements of the VIP's DaemonSets:
 * - by node name (the default): both pod templates name the nodes, so the apply rolls api-vip and api-lb on the
 *   survivors, independently, one node at a time each; ctl-d's pods start at the apply (its keepalived waits for an
 *   advert, start.ts) and the rolls begin once they are Ready, as a DaemonSet does;
 * - by node label (`vip.nodeLabel`): the pod templates are the same for both inventories (asserted), so no pod rolls;
 *   the kubelet swaps each survivor's ConfigMap volume (a `..data` symlink, as the kubelet does) at its own time, and
 *   the survivor's keepalived reloads its new peer list live (start.ts, step 5); ctl-d's pods start at the apply.
 * Each controller is a network namespace `vinv-a..d` (10.249.0.11-14/24) on the bridge `vinvbr0` (in `vinv-br`); the
 * API Service (what the rendered HAProxy servers name) is a tiny HTTP server in `vinv-api` (10.249.0.60) answering
 * with the address the request came from; a client (`vinv-cl`, 10.249.0.50) requests the VIP 10.249.0.100:5000
 * every 50 ms throughout. VIP holders are followed with `ip monitor address` in every namespace.
 * Unique names: netns `vinv-*`, bridge `vinvbr0`, veths `vinv-?-p`, 10.249.0.0/24, /tmp `vinv-*` (mkdtemp) and
 * `/tmp/vinv-{name,label}-last-logs` (the last run's daemon logs). About 60-100 s.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Chart } from 'cdk8s';
import { CONTROL_PLANE_SECRETS, SERVICES } from '../../examples/openstack-control-plane';
import { GaleraStorage, InventoryNode, OpenStackControlPlane } from '../../lib';
import { find, newApp, synth } from '../support/harness';
import { Daemons, describeUnlessMissing, keepLastLogs, which } from './support/daemons';
import { createNamespaces, deleteNamespaces, sh } from './support/netns';
import { HolderTimeline, killTree } from './support/vrrp';
import {
  LayerNode, projectConfigMap, Request, RenderedVipLayer, renderedVipLayer, requestStats, roll, startVipClient, vacancies, vipTestNetwork, VipLayerPods, inNs, waitUntil,
} from './support/vip-layer';

jest.setTimeout(600_000);

const { vip: VIP, api: API, client: CLIENT, controllers: [A, B, C, D], network: NETWORK } = vipTestNetwork('vinv', '10.249.0');
type Controller = LayerNode;
const KEYSTONE_PORT = 5000;
const STATS_PORT = 8404;
const LABEL = { key: 'openstack-ha.cdk8s.io/edge', value: 'true' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function render(controllers: Controller[], byLabel: boolean): RenderedVipLayer & { templates: Record<'api-vip' | 'api-lb', string> } {
  const cp = new OpenStackControlPlane(new Chart(newApp(), 'cp', { namespace: 'openstack', disableResourceNameHashes: true }), 'cp', {
    controllers: controllers.map((c): InventoryNode => ({ name: c.name, ip: c.address })),
    vip: { address: VIP, interface: 'eth0', ...(byLabel ? { nodeLabel: LABEL } : {}) },
    galeraStorage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '10Gi' }),
    secrets: CONTROL_PLANE_SECRETS,
    services: SERVICES,
  });
  const objects = synth(Chart.of(cp));
  const template = (name: string) => JSON.stringify(find(objects, 'DaemonSet', name).spec.template);
  return { ...renderedVipLayer(objects), templates: { 'api-vip': template('api-vip'), 'api-lb': template('api-lb') } };
}
type Rendered = RenderedVipLayer;

const missing = [
  ...['keepalived', 'haproxy', 'ip', 'unshare', 'setpriv', 'curl', 'bash'].filter((b) => !which(b)),
  ...(process.getuid?.() === 0 ? [] : ['root (network namespaces)']),
];
const figures: string[] = [];

afterAll(() => {
  // eslint-disable-next-line no-console
  console.log(`the VIP during a controller replacement:\n${figures.join('\n')}`);
});

test('the rendered templates: by name both change with the inventory, by label neither does', () => {
  for (const byLabel of [false, true]) {
    const [before, after] = [render([A, B, C], byLabel), render([A, B, D], byLabel)];
    for (const ds of ['api-vip', 'api-lb'] as const) expect(before.templates[ds] === after.templates[ds]).toBe(byLabel);
    // The node lists are in the ConfigMap, which changes either way.
    expect(after.keepalivedFiles[`${A.name}.conf`]).not.toBe(before.keepalivedFiles[`${A.name}.conf`]);
  }
});

for (const byLabel of [false, true]) {
  const placement = byLabel ? 'by label (no roll: live reload)' : 'by node name (both DaemonSets roll)';
  describeUnlessMissing(`a controller replaced, the VIP's DaemonSets placed ${placement}`, missing,
    'apt-get install keepalived haproxy iproute2 util-linux curl, and run as root', () => {
      const daemons = new Daemons();
      let work: string;
      let before: Rendered;
      let after: Rendered;
      let timeline: HolderTimeline;
      const requests: Request[] = [];
      let layer: VipLayerPods;
      const pod = (node: Controller) => layer.pod(node);
      const readLog = (node: Controller, what: string) => layer.readLog(node, what);

      const startNode = (node: Controller, r: Rendered) => Promise.all([layer.startLbPod(node, r), layer.startVipPod(node, r)]);

      beforeAll(async () => {
        work = fs.mkdtempSync(path.join(os.tmpdir(), 'vinv-'));
        layer = new VipLayerPods(daemons, work, { statsPort: STATS_PORT, apiAddress: API.address });
        createNamespaces(NETWORK);
        before = render([A, B, C], byLabel);
        after = render([A, B, D], byLabel);
        const api = `require('http').createServer((q, r) => r.end(q.socket.remoteAddress)).listen(${KEYSTONE_PORT}, '${API.address}')`;
        daemons.start('ip', inNs(API.ns, [process.execPath, '-e', api]));
        timeline = new HolderTimeline(daemons, VIP, [A, B, C]);
        timeline.start();
        // ctl-c starts first and takes the VIP, so its death is a holder's death.
        await startNode(C, before);
        await timeline.waitFor((h) => h.length === 1 && h[0] === C.name, 'ctl-c to take the VIP', 60_000);
        await Promise.all([startNode(A, before), startNode(B, before)]);
      }, 240_000);

      afterAll(async () => {
        await daemons.stopAll();
        deleteNamespaces(NETWORK);
        keepLastLogs(work, byLabel ? 'vinv-label' : 'vinv-name');
      });

      test('the holder dies, ctl-d replaces it: VIP holders and requests through the VIP', async () => {
        const started = Date.now();
        startVipClient(daemons, CLIENT.ns, `http://${VIP}:${KEYSTONE_PORT}/v3`, requests);
        await waitUntil('the client\'s first answer through the VIP', () => requests.some(([, , ok]) => ok), 30_000);

        const killedAt = Date.now();
        for (const child of [pod(C).keepalived, pod(C).haproxy, pod(C).reloader]) if (child) killTree(child);
        timeline.remove(C.name);
        expect(sh('ip', ['netns', 'del', C.ns]).status).toBe(0);
        const movedAt = await timeline.waitFor((h) => h.length === 1, 'a survivor to take the VIP', 60_000);
        const holderBefore = timeline.holders()[0];
        await sleep(3000);

        // The apply. ctl-d's pods start at once (a DaemonSet creates them for a new eligible node).
        const applyAt = Date.now();
        timeline.add(D);
        const survivorPids = [A, B].map((n) => pod(n).keepalived!.pid);
        const logFrom = new Map([A, B].map((n) => [n.name, readLog(n, 'keepalived').length]));
        let detail: string;
        if (byLabel) {
          // No pod rolls: the kubelet of each survivor swaps the ConfigMap volume at its own time (within its sync
          // period, up to about a minute; here 2 and 6 s after the apply, while ctl-d's pods start).
          const swap = async (node: Controller, delayMs: number) => {
            await sleep(delayMs);
            projectConfigMap(pod(node).keepalivedConfig!, after.keepalivedFiles);
            return Date.now();
          };
          // Each seen in the logs, polled every 100 ms from the apply on.
          const seen = (node: Controller, re: RegExp, what: string) => waitUntil(what, () => re.test(readLog(node, 'keepalived')), 120_000,
            () => readLog(node, 'keepalived').slice(-2000)).then(() => Date.now());
          const [joinedAt, reloadedA, reloadedB, swappedA, swappedB] = await Promise.all([
            seen(D, /an advert from a peer arrived/, 'ctl-d\'s keepalived to hear an advert'),
            seen(A, /changed: keepalived reloads it/, 'ctl-a\'s keepalived to reload its file'),
            seen(B, /changed: keepalived reloads it/, 'ctl-b\'s keepalived to reload its file'),
            swap(A, 2000), swap(B, 6000), startNode(D, after)]);
          const s1 = (t: number) => `+${((t - applyAt) / 1000).toFixed(1)} s`;
          detail = `ConfigMap swapped on ctl-a ${s1(swappedA)}, ctl-b ${s1(swappedB)}; reloaded (seen in the log) ctl-a ${s1(reloadedA)}, ctl-b ${s1(reloadedB)}; ` +
            `ctl-d heard an advert ${s1(joinedAt)} (the holder is ${holderBefore})`;
        } else {
          await startNode(D, after);
          const readyAt = Date.now();
          const rolls = await Promise.all([
            roll('api-vip', [A, B], (n) => layer.stopVipPod(n), (n) => layer.startVipPod(n, after)),
            roll('api-lb', [A, B], (n) => layer.stopLbPod(n, before), (n) => layer.startLbPod(n, after)),
          ]);
          detail = `ctl-d's pods Ready ${((readyAt - applyAt) / 1000).toFixed(1)} s after the apply; then ${rolls.join('; ')} (${((Date.now() - readyAt) / 1000).toFixed(1)} s)`;
        }
        await sleep(3000);
        const endAt = Date.now();

        const applyStats = requestStats(requests, applyAt, endAt);
        const overlaps = timeline.overlaps(started);
        // The apply's own (the death's handover is keepalived's election: a same-millisecond pair of events once here).
        const applyOverlaps = timeline.overlaps(applyAt);
        const moves = timeline.events.filter(([t, , added]) => t >= applyAt && added);
        const vacant = vacancies(timeline.events, applyAt, endAt);
        const at = (t: number) => `+${((t - applyAt) / 1000).toFixed(1)} s`;
        // A survivor's track check failing or timing out (its HAProxy slow to answer /healthz within 1 s on a starved CPU)
        // moves the VIP whatever the placement: such a run cannot show what the reload does, and says so. (By name the
        // drains in the api-lb roll fail the checks on purpose.)
        const checkFailures = [A, B].flatMap((n) => readLog(n, 'keepalived').slice(logFrom.get(n.name)).split('\n')
          .filter((l) => /VRRP_Script\(\S+\) (timed_out|failed)/.test(l)).map((l) => `${n.name}: ${l.replace(/^.*VRRP_Script/, 'VRRP_Script')}`));
        figures.push(`placed ${placement}: holder ctl-c killed -> VIP on ${holderBefore} after ${movedAt - killedAt} ms; apply: ${detail}`);
        figures.push(`  from the apply to the end (${((endAt - applyAt) / 1000).toFixed(1)} s): ${applyStats.failed} failed of ${applyStats.requests} requests, ` +
          `longest gap ${applyStats.longestGapMs} ms; VIP taken ${moves.length} time(s)${moves.length ? ` (${moves.map(([t, n]) => `${n} ${at(t)}`).join(', ')})` : ''}; ` +
          `no holder: ${vacant.map(([t, d]) => `${d} ms at ${at(t)}`).join(', ') || 'never'}; two holders: ${overlaps.map(([t, d]) => `${d} ms at ${at(t)}`).join(', ') || 'never'}` +
          `${byLabel && checkFailures.length ? `; INCONCLUSIVE for the reload: a survivor's track check failed (${checkFailures.join('; ')})` : ''}`);

        expect(timeline.holders()).toHaveLength(1);
        expect(overlaps.filter(([, d]) => d >= 1000)).toEqual([]);
        expect(timeline.holders()).not.toEqual([D.name]);
        if (byLabel) {
          // The design's promise: the survivors' keepalived never restarted, the VIP never moved, nobody was without it.
          expect([A, B].map((n) => pod(n).keepalived!.pid)).toEqual(survivorPids);
          expect([A, B].every((n) => pod(n).keepalived!.exitCode === null)).toBe(true);
          expect(applyOverlaps).toEqual([]);
          if (checkFailures.length === 0) {
            expect(moves).toEqual([]);
            expect(vacant).toEqual([]);
            expect(applyStats.failed).toBe(0);
            expect(timeline.holders()).toEqual([holderBefore]);
          }
        }
      });

      test('ctl-d is a peer of both survivors: their checks fail one after the other and the VIP goes to ctl-d, one holder', async () => {
        const since = Date.now();
        await layer.drainHolders(timeline, [A, B], D, 60_000);
        expect(timeline.holders()).toEqual([D.name]);
        // A handover to two backups at once is one keepalived election: the lower priority backs off at the first advert
        // it hears (176 ms once here, niced on a loaded machine; keepalived.test.ts measures these races). Not this design's.
        const overlaps = timeline.overlaps(since);
        expect(overlaps.filter(([, d]) => d >= 1000)).toEqual([]);
        const res = sh('ip', inNs(CLIENT.ns, ['curl', '-q', '--silent', '--max-time', '2', `http://${VIP}:${KEYSTONE_PORT}/v3`]));
        expect(res.output).toBe(D.address);
        figures.push(`  placed ${placement}: both survivors drained -> VIP on ctl-d ${Date.now() - since} ms later, served by its HAProxy; ` +
          `two holders in the elections: ${overlaps.map(([, d]) => `${d} ms`).join(', ') || 'never'}`);
      });
    });
}
