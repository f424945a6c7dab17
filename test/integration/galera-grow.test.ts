/**
 * Growing, shrinking and replacing Galera members with real daemons (issue 20, "Growing and replacing"): each step is
 * what a synthesized GaleraPetSet renders for an inventory (3 nodes, then 5, then 3, then one node replaced by a new
 * name and IP), rolled out in the order the StatefulSet controller and the preflight plan give, under continuous
 * acknowledged writes. Members are the entrypoint with the rendered server config (galera-harness.ts) on 127.0.27.x,
 * addresses unique to this file; the test plays the agents (join decisions) and the StatefulSet controller.
 *
 * Where each member runs comes from the manifests: member N's local PersistentVolume is pinned to a node, and the
 * node's inventory IP is the member's address, which is what its DNS name (the gcomm list's entries) resolves to.
 * So the gcomm list each member starts with is the rendered one, resolved.
 *
 * Figures (SST join time per member, time to 5 Synced, time per step, failed writes per step) are printed, not
 * asserted; behaviour is asserted: every acknowledged row on every member, survivors Primary throughout a shrink
 * (sampled every ~200 ms), each member's gcomm list the rendered one.
 */
import * as fs from 'fs';
import * as path from 'path';
import { GaleraPetSet, GaleraStorage, InventoryNode, Placement, SecretValue } from '../../lib';
import { objectId } from '../../lib/cli/preflight/manifests';
import { planChanges } from '../../lib/cli/preflight/plan';
import { CheckResult, KubeObject, Lookup } from '../../lib/cli/preflight/types';
import { renderUsersFile } from '../../lib/galera/users';
import { newChart, synth } from '../support/harness';
import { AckedWriter, GaleraTestCluster, Member, acquireGaleraLock, describeWithGalera, releaseGaleraLock, sleep, waitFor } from './galera-harness';

jest.setTimeout(600_000);

const NAMESPACE = 'openstack';
/** ctl-1..ctl-5 grow the cluster; ctl-6 replaces ctl-3. 127.0.27.x: this file's addresses only. */
const NODES: InventoryNode[] = [1, 2, 3, 4, 5, 6].map((i) => ({ name: `ctl-${i}`, ip: `127.0.27.${i}` }));
const node = (name: string) => NODES.find((n) => n.name === name)!;

interface Rendered {
  readonly objects: KubeObject[];
  readonly replicas: number;
  /** The gcomm list of the rendered server.cnf (DNS names). */
  readonly gcomm: string[];
  /** The same list resolved: each member's DNS name to the IP of the node its local volume is pinned to. */
  readonly resolved: string[];
  readonly minAvailable: number;
  /** PersistentVolume name -> node. */
  readonly volumes: Record<string, string>;
}

/** The GaleraPetSet for an inventory: one member per node, local volumes. */
function render(inventory: readonly InventoryNode[]): Rendered {
  const chart = newChart(NAMESPACE);
  new GaleraPetSet(chart, 'galera', {
    placement: Placement.onNodes([...inventory]),
    replicas: inventory.length,
    storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '10Gi' }),
    credentials: {
      rootPassword: SecretValue.fromSecret('galera-root', 'password'),
      sstPassword: SecretValue.fromSecret('galera-sst', 'password'),
      monitorPassword: SecretValue.fromSecret('galera-monitor', 'password'),
    },
  });
  const objects = synth(chart) as KubeObject[];
  const of = (kind: string) => objects.filter((o) => o.kind === kind) as any[];
  const cnf = of('ConfigMap').find((o) => o.data?.['server.cnf'])!.data['server.cnf'] as string;
  const gcomm = /^wsrep_cluster_address = gcomm:\/\/(\S+)$/m.exec(cnf)![1].split(',');
  const volumes: Record<string, string> = {};
  const nodeOfClaim: Record<string, string> = {};
  for (const pv of of('PersistentVolume')) {
    const pinned = pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0];
    volumes[pv.metadata.name] = pinned;
    nodeOfClaim[pv.spec.claimRef.name] = pinned;
  }
  const resolved = gcomm.map((host) => {
    const pod = host.split('.')[0];
    const pinned = nodeOfClaim[`data-${pod}`];
    if (!pinned) throw new Error(`${host}: no local volume for ${pod}`);
    return node(pinned).ip;
  });
  const sts = of('StatefulSet')[0];
  return { objects, replicas: sts.spec.replicas, gcomm, resolved, minAvailable: of('PodDisruptionBudget')[0].spec.minAvailable, volumes };
}

/** The plan for going from what runs (`running`, as the live objects) to `next`; `absent` objects were deleted. */
function plan(running: Rendered, next: Rendered, absent: readonly string[] = []): CheckResult[] {
  const live: Record<string, Lookup<KubeObject>> = {};
  for (const o of running.objects) live[objectId(o, NAMESPACE)] = { state: 'found', value: o };
  for (const id of absent) live[id] = { state: 'absent' };
  for (const o of next.objects) live[objectId(o, NAMESPACE)] ??= { state: 'absent' };
  return planChanges({ objects: next.objects, live, defaultNamespace: NAMESPACE });
}

const planText = (lines: readonly CheckResult[]) => lines.filter((l) => !/unchanged/.test(l.check)).map((l) => `${l.status} ${l.check} ${l.subject}: ${l.message}`);

/** The plan's roll order of the Galera StatefulSet. */
function rollOrder(lines: readonly CheckResult[]): string[] {
  const roll = lines.find((l) => l.check === 'roll' && l.subject === 'StatefulSet openstack/galera');
  const order = /before the next: ([^(]+) \(/.exec(roll?.message ?? '')?.[1];
  if (!order) throw new Error(`no Galera roll in the plan: ${roll?.message}`);
  return order.split(', ').map((p) => p.trim());
}

/** As the StatefulSet controller waits for the pod's readiness probe. */
async function waitReady(member: Member, timeoutMs: number): Promise<void> {
  await waitFor(`${member.name} Ready`, timeoutMs, async () => ((await member.script('probe.sh', 'ready')).code === 0 ? true : undefined));
}

/**
 * Reads wsrep_cluster_status on every member it watches, about every 200 ms, until stopped: a member the test
 * stops on purpose is unwatched first and watched again once Ready. An answer other than Primary is recorded.
 */
class PrimarySampler {
  public samples = 0;
  public readonly nonPrimary: string[] = [];
  public readonly unanswered: string[] = [];
  private readonly unwatched = new Set<string>();
  private running = true;
  private readonly loop: Promise<void>;

  public constructor(private readonly members: () => Member[]) {
    this.loop = (async () => {
      while (this.running) {
        await Promise.all(this.members().filter((m) => !this.unwatched.has(m.name)).map(async (m) => {
          try {
            const row = await m.sql("SHOW STATUS LIKE 'wsrep_cluster_status'", 5000);
            if (this.unwatched.has(m.name)) return;
            this.samples++;
            if (row !== 'wsrep_cluster_status\tPrimary') this.nonPrimary.push(`${m.name}: ${row} at ${new Date().toISOString()}`);
          } catch (e) {
            if (!this.unwatched.has(m.name)) this.unanswered.push(`${m.name}: ${String(e).split('\n')[0]}`);
          }
        }));
        await sleep(200);
      }
    })();
  }

  public unwatch(m: Member): void {
    this.unwatched.add(m.name);
  }

  public watch(m: Member): void {
    this.unwatched.delete(m.name);
  }

  public async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** The seqno a clean shutdown leaves in grastate.dat (-1 after a crash). */
const grastateSeqno = (m: Member) => Number(/^seqno:\s*(-?\d+)/m.exec(fs.readFileSync(path.join(m.dataDir, 'grastate.dat'), 'utf8'))?.[1]);

const seconds = (t0: number) => Math.round((Date.now() - t0) / 100) / 10;

describeWithGalera('Galera grow 3 -> 5 -> 3 and a replaced controller, under writes', () => {
  let cluster: GaleraTestCluster;
  /** One writer for the whole file (ids stay unique): every row it had acknowledged is checked after each step. */
  const writer = new AckedWriter('grow.rows');
  const figures: Record<string, unknown> = {};
  const three = render(NODES.slice(0, 3));
  const five = render(NODES.slice(0, 5));
  const replaced = render([node('ctl-1'), node('ctl-2'), node('ctl-6')]);

  /** The member of that name (the harness's array grows with the members the test adds). */
  const member = (name: string) => cluster.members.find((m) => m.name === name)!;
  const gcommOf = async (m: Member) => (await m.sql('SELECT @@wsrep_cluster_address')).trim();

  /** Stops, restarts with the gcomm list the harness holds now (the rendered one), answers join, waits Ready. */
  async function roll(m: Member, sampler?: PrimarySampler): Promise<number> {
    const t0 = Date.now();
    sampler?.unwatch(m);
    await m.stop();
    m.startEntrypoint();
    await m.decide('join');
    await waitReady(m, 180_000);
    sampler?.watch(m);
    return seconds(t0);
  }

  beforeAll(async () => {
    await acquireGaleraLock(600_000);
    cluster = new GaleraTestCluster(three.resolved);
    cluster.extraEnv = { NOVA_DB_PASSWORD: 'nova-pw' };
    cluster.writeUsersFile(renderUsersFile([{ name: 'nova', passwordEnv: 'NOVA_DB_PASSWORD', databases: ['nova'] }]));
    await cluster.bootstrapFromFirst({ bootstrapMs: 90_000, joinMs: 240_000 });
    await Promise.all(cluster.members.map((m) => m.waitSettled(180_000)));
    await cluster.members[0].sql('CREATE DATABASE IF NOT EXISTS grow; CREATE TABLE grow.rows (id INT PRIMARY KEY, member VARCHAR(20))');
  }, 900_000);

  afterAll(async () => {
    await cluster?.destroy();
    releaseGaleraLock();
    console.log(`Galera grow figures: ${JSON.stringify(figures, null, 1)}`);
  });

  test('the rendered inventory: 3 members, their gcomm list, PDB minAvailable 2, one local volume per node', async () => {
    expect(three.replicas).toBe(3);
    expect(three.gcomm).toEqual([0, 1, 2].map((i) => `galera-${i}.galera-peers.openstack.svc`));
    expect(three.resolved).toEqual(['127.0.27.1', '127.0.27.2', '127.0.27.3']);
    expect(three.minAvailable).toBe(2);
    for (const m of cluster.members) expect(await gcommOf(m)).toBe(`gcomm://${three.resolved.join(',')}`);
  });

  test('3 -> 5 under writes: galera-3 and galera-4 join by SST, every member rolls with the grown gcomm list, 5 Synced, no row lost', async () => {
    // What the apply changes, as the plan prints it.
    const lines = plan(three, five);
    figures.plan3to5 = planText(lines);
    expect(lines.find((l) => l.check === 'members')?.message).toMatch(/3 -> 5 members: galera-3, galera-4 join by SST/);
    expect(lines.every((l) => l.status !== 'fail')).toBe(true);
    const order = rollOrder(lines);
    expect(order).toEqual(['galera-2', 'galera-1', 'galera-0']);
    expect(five.replicas).toBe(5);
    expect(five.minAvailable).toBe(3);
    expect(five.resolved).toEqual(['127.0.27.1', '127.0.27.2', '127.0.27.3', '127.0.27.4', '127.0.27.5']);
    expect(five.volumes).toMatchObject({ 'openstack-galera-data-3': 'ctl-4', 'openstack-galera-data-4': 'ctl-5' });

    writer.start(() => cluster.members);
    await waitFor('first writes', 30_000, () => (writer.acked.size >= 20 ? true : undefined));
    cluster.setPeerHosts(five.resolved);
    const t0 = Date.now();
    // Parallel pod management: the StatefulSet creates galera-3 and galera-4 at once; their agents take turns for
    // the join (one SST at a time); the rolling update waits until both are Ready before it touches galera-2.
    const added = [3, 4].map((ordinal) => new Member(cluster, ordinal, five.resolved[ordinal]));
    cluster.members.push(...added);
    const sst: Record<string, number> = {};
    const retries: Record<string, number> = {};
    for (const m of added) {
      const t = Date.now();
      m.startEntrypoint();
      retries[m.name] = await m.joinUntilSynced(300_000);
      await waitReady(m, 120_000);
      sst[m.name] = seconds(t);
      expect(m.stateTransfers()).toEqual(['SST']);
    }
    figures.sstJoinSeconds = sst;
    figures.sstRetries = retries;
    figures.fiveMembersSyncedSeconds = seconds(t0);
    const failedBeforeRoll = writer.failures;
    const rolls: Record<string, number> = {};
    const failures: Record<string, number> = {};
    for (const name of order) {
      const f = writer.failures;
      rolls[name] = await roll(member(name));
      failures[name] = writer.failures - f;
    }
    figures.growRollSeconds = rolls;
    figures.growTotalSeconds = seconds(t0);
    await Promise.all(cluster.members.map((m) => m.waitClusterSize(5, 60_000)));
    const ackedAfterRoll = writer.acked.size;
    await waitFor('writes after the growth', 60_000, () => (writer.acked.size >= ackedAfterRoll + 50 ? true : undefined));
    await writer.stop();
    figures.growWrites = { acked: writer.acked.size, failed: writer.failures, failedWhileJoining: failedBeforeRoll, failedPerRoll: failures };
    for (const m of cluster.members) {
      expect(await gcommOf(m)).toBe(`gcomm://${five.resolved.join(',')}`);
      expect(await writer.missingOn(m)).toEqual([]);
      // Synced, waited for: right after a roll a member may still be the donor of the last IST for a moment.
      await m.waitSynced(60_000);
    }
    // Joins and the standbys' rolls cost the writes nothing; only the writer's own restart is the brief reconnect.
    expect(failedBeforeRoll).toBe(0);
    expect(failures['galera-2'] + failures['galera-1']).toBe(0);
    expect(failures['galera-0']).toBeLessThanOrEqual(20);
  });

  test('5 -> 3 under writes: galera-4 and galera-3 leave cleanly at once, the survivors stay Primary, roll with the 3-member list, no row lost', async () => {
    const lines = plan(five, three);
    figures.plan5to3 = planText(lines);
    expect(lines.find((l) => l.check === 'members')?.message).toMatch(/5 -> 3 members: galera-4, galera-3 stop and leave the cluster cleanly/);
    expect(lines.every((l) => l.status !== 'fail')).toBe(true);
    const order = rollOrder(lines);
    expect(order).toEqual(['galera-2', 'galera-1', 'galera-0']);

    const survivors = () => cluster.members.filter((m) => m.ordinal < 3);
    const leavers = cluster.members.filter((m) => m.ordinal >= 3);
    const failedBefore = writer.failures;
    // The rows acknowledged during the growth are counted again at the end.
    writer.start(() => survivors());
    await waitFor('first writes', 30_000, () => (writer.acked.size >= 20 ? true : undefined));
    const sampler = new PrimarySampler(survivors);
    cluster.setPeerHosts(three.resolved);
    let t0 = Date.now();
    // Parallel pod management: both condemned pods get SIGTERM at once.
    await Promise.all(leavers.map((m) => m.stop(120_000)));
    await Promise.all(survivors().map((m) => m.waitClusterSize(3, 60_000)));
    figures.leaveSeconds = seconds(t0);
    const failedLeaving = writer.failures - failedBefore;
    // Clean leaves: grastate.dat keeps the seqno (a killed member would have -1).
    for (const m of leavers) expect(grastateSeqno(m)).toBeGreaterThan(0);
    t0 = Date.now();
    const rolls: Record<string, number> = {};
    const failures: Record<string, number> = {};
    for (const name of order) {
      const f = writer.failures;
      rolls[name] = await roll(member(name), sampler);
      failures[name] = writer.failures - f;
    }
    figures.shrinkRollSeconds = rolls;
    figures.shrinkRollTotalSeconds = seconds(t0);
    await sleep(2000);
    await sampler.stop();
    await writer.stop();
    figures.shrinkPrimarySamples = { samples: sampler.samples, nonPrimary: sampler.nonPrimary, unanswered: sampler.unanswered.length };
    figures.shrinkWrites = { acked: writer.acked.size, failedWhileLeaving: failedLeaving, failedPerRoll: failures };
    expect(sampler.samples).toBeGreaterThan(50);
    expect(sampler.nonPrimary).toEqual([]);
    cluster.members.splice(3);
    for (const m of cluster.members) {
      await m.waitClusterSize(3, 30_000);
      expect(await gcommOf(m)).toBe(`gcomm://${three.resolved.join(',')}`);
      expect(await writer.missingOn(m)).toEqual([]);
    }
    expect(failedLeaving).toBe(0);
    expect(failures['galera-2'] + failures['galera-1']).toBe(0);
    expect(failures['galera-0']).toBeLessThanOrEqual(20);
    const rows = Number(await cluster.members[0].sql('SELECT COUNT(*) FROM grow.rows'));
    figures.rowsAfterShrink = rows;
  });

  test('a controller replaced by a new node name and IP: galera-2 joins by SST at 127.0.27.6, the old address leaves every gcomm list, no row lost', async () => {
    const [g0, g1, g2] = cluster.members;
    const failedBefore = writer.failures;
    writer.start(() => cluster.members);
    await waitFor('first writes', 30_000, () => (writer.acked.size >= 20 ? true : undefined));
    // ctl-3 dies with its disk: galera-2 is killed and its data is gone.
    let t0 = Date.now();
    await g2.kill();
    g2.wipeData();
    await Promise.all([g0, g1].map((m) => m.waitClusterSize(2, 60_000)));
    figures.deadMemberEvictedSeconds = seconds(t0);

    // The new inventory: ctl-6 in ctl-3's place. The gcomm list (DNS names) is the same; galera-2's local volume
    // moves to ctl-6, so its name now resolves to ctl-6's address.
    expect(replaced.gcomm).toEqual(three.gcomm);
    expect(replaced.volumes['openstack-galera-data-2']).toBe('ctl-6');
    expect(replaced.resolved).toEqual(['127.0.27.1', '127.0.27.2', '127.0.27.6']);
    // A PersistentVolume's node affinity cannot change (the API server refuses it): the plan refuses the apply
    // while the old volume exists, and passes once it (with galera-2's claim and pod) is deleted.
    const refused = plan(three, replaced);
    figures.planReplaceWithOldVolume = planText(refused);
    expect(refused.filter((l) => l.status === 'fail').map((l) => `${l.subject}: ${l.message}`).join('\n')).toMatch(/openstack-galera-data-2.*ctl-3 -> ctl-6[\s\S]*kubectl delete/);
    const lines = plan(three, replaced, ['PersistentVolume openstack-galera-data-2']);
    figures.planReplace = planText(lines);
    expect(lines.every((l) => l.status !== 'fail')).toBe(true);
    const order = rollOrder(lines);
    expect(order).toEqual(['galera-2', 'galera-1', 'galera-0']);

    cluster.setPeerHosts(replaced.resolved);
    t0 = Date.now();
    // galera-2 first (the new pod on ctl-6, its volume empty), then the others roll (their pod template changed).
    g2.startEntrypoint({ ip: node('ctl-6').ip, freshRunDir: true });
    const retries = await g2.joinUntilSynced(300_000);
    await waitReady(g2, 120_000);
    figures.replacementSstSeconds = seconds(t0);
    figures.replacementSstRetries = retries;
    expect(g2.stateTransfers()).toEqual(['SST']);
    const failedJoining = writer.failures - failedBefore;
    const rolls: Record<string, number> = {};
    const failures: Record<string, number> = {};
    for (const name of order.filter((n) => n !== 'galera-2')) {
      const f = writer.failures;
      rolls[name] = await roll(member(name));
      failures[name] = writer.failures - f;
    }
    figures.replacementRollSeconds = rolls;
    figures.replacementTotalSeconds = seconds(t0);
    await writer.stop();
    figures.replacementWrites = { acked: writer.acked.size, failedWhileDeadAndJoining: failedJoining, failedPerRoll: failures };
    for (const m of cluster.members) {
      await m.waitClusterSize(3, 30_000);
      // Synced, waited for: right after a roll a member may still be the donor of the last IST for a moment.
      await m.waitSynced(60_000);
      const gcomm = await gcommOf(m);
      expect(gcomm).toBe('gcomm://127.0.27.1,127.0.27.2,127.0.27.6');
      const incoming = (await m.sql("SHOW STATUS LIKE 'wsrep_incoming_addresses'")).split('\t')[1];
      expect(incoming).toContain('127.0.27.6');
      expect(incoming).not.toContain('127.0.27.3');
      expect(await writer.missingOn(m)).toEqual([]);
    }
    expect(failures['galera-1']).toBe(0);
    figures.rowsAtTheEnd = Number(await g0.sql('SELECT COUNT(*) FROM grow.rows'));
  });
});
