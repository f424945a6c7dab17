/**
 * Galera chaos: real mariadbd + galera-4, the shipped entrypoint, probes and bundled agent (as the harness runs
 * them: one "pod" = entrypoint + agent, on 127.0.1.1-3), under failures the recovery must survive without losing
 * an acknowledged write. One cluster is shared by every scenario (each starts from three Synced members and ends
 * with three Synced members), which keeps the suite within minutes.
 *
 * Every scenario runs a writer that inserts rows one by one into whichever member is Synced and remembers the
 * ones the server acknowledged; at the end every acknowledged row must be on every member (rows only on a volume
 * the scenario declares lost for good are reported apart). Reported per scenario: seconds from the last restart (or
 * heal) to three Synced members, and rows lost.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  acquireGaleraLock, AckedWriter, GaleraTestCluster, LoopbackPartition, Member, missingGaleraTools, releaseGaleraLock, sleep, waitAllSynced, waitFor,
} from './galera-harness';
import { describeUnlessMissing } from './support/daemons';

jest.setTimeout(900_000);

const IPS = ['127.0.1.1', '127.0.1.2', '127.0.1.3'];
const AGENT_PORT = 9200;
/** Short timers so that the suite fits a few minutes; production keeps the defaults (README). */
const AGENT_ENV = {
  GALERA_CLUSTER_SIZE: '3',
  GALERA_PEER_URLS: IPS.map((ip) => `http://${ip}:${AGENT_PORT}`).join(','),
  GALERA_AGENT_PORT: String(AGENT_PORT),
  GALERA_POLL_SECONDS: '0.5',
  GALERA_BLOCK_AFTER_SECONDS: '8',
  GALERA_PC_RECOVERY_SECONDS: '15',
  GALERA_WAIT_PRIMARY_SECONDS: '40',
  GALERA_RESTART_RETRY_SECONDS: '10',
};
const ENTRYPOINT_ENV = { GALERA_STOP_TIMEOUT_SECONDS: '15' };
/** How long any scenario may take to get back to three Synced members. */
const SYNCED_BOUND_MS = 240_000;

interface Outcome {
  scenario: string;
  seconds: number;
  acked: number;
  lost: number;
  note: string;
}

const missing = [...missingGaleraTools(), ...(LoopbackPartition.available() ? [] : ['nft (nftables, for partitions)'])];
describeUnlessMissing('Galera chaos (real daemons, acknowledged writes counted)', missing, 'apt-get install mariadb-server galera-4 mariadb-backup socat nftables, and run as root', () => {
  let cluster: GaleraTestCluster;
  let members: Member[];
  const writer = new AckedWriter('chaos.acks');
  const outcomes: Outcome[] = [];
  const heal = () => LoopbackPartition.heal();

  beforeAll(async () => {
    await acquireGaleraLock(900_000);
    process.on('exit', heal);
    cluster = new GaleraTestCluster(IPS);
    cluster.extraEnv = ENTRYPOINT_ENV;
    cluster.buildAgent();
    members = cluster.members;
    const t0 = Date.now();
    startPods(members);
    await allSynced(members);
    await members[0].sql('CREATE DATABASE chaos; CREATE TABLE chaos.acks (id INT PRIMARY KEY, member VARCHAR(20))');
    console.log(`chaos: cold start to 3 Synced in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 1_200_000); // includes waiting for the other Galera test files (shared addresses)

  afterAll(async () => {
    await writer.stop();
    heal();
    process.off('exit', heal);
    await cluster?.destroy(120);
    releaseGaleraLock();
    const table = [
      '| scenario | last restart/heal → 3 Synced (s) | acknowledged rows | rows lost | notes |',
      '|---|---|---|---|---|',
      ...outcomes.map((o) => `| ${o.scenario} | ${o.seconds.toFixed(1)} | ${o.acked} | ${o.lost} | ${o.note} |`),
    ];
    console.log(`Galera chaos (2-core machine, 3 members on loopback):\n${table.join('\n')}`);
  });

  /** New pods (fresh run dirs) for these members: entrypoint and agent. */
  function startPods(pods: Member[]): void {
    for (const m of pods) {
      m.startEntrypoint({ freshRunDir: true });
      m.startAgent(AGENT_ENV);
    }
  }

  async function allSynced(pods: Member[] = members, timeoutMs = SYNCED_BOUND_MS): Promise<void> {
    await waitAllSynced(pods, timeoutMs);
  }

  /** Kills pods at once (SIGKILL to every process of each: mariadbd, SST scripts, agent). */
  async function kill(...pods: Member[]): Promise<void> {
    await Promise.all(pods.map((m) => m.kill()));
  }

  /** Waits for a state transfer to begin on `member` (the joiner's SST script creates sst_in_progress, IST or SST). */
  async function waitTransferStarted(member: Member): Promise<void> {
    // Polled every 10 ms (not waitFor's 200 ms): an IST can be over within a second.
    const deadline = Date.now() + 90_000;
    while (!member.hasDataFile('sst_in_progress')) {
      if (Date.now() > deadline) throw new Error(`no state transfer to ${member.name} within 90 s`);
      await sleep(10);
    }
  }

  /** The member whose agent reports the given decision action (e.g. `blocked`), polled until it does. */
  async function waitDecision(pods: Member[], action: string, timeoutMs = 60_000): Promise<Record<string, any>> {
    return waitFor(`${pods.map((m) => m.name).join(', ')} to report ${action}`, timeoutMs, async () => {
      const statuses = await Promise.all(pods.map((m) => m.agentStatus(AGENT_PORT)));
      return statuses.every((s) => s?.decision?.action === action) ? statuses[0]!.decision : undefined;
    });
  }

  /**
   * Waits for three Synced members (timed from `since`), stops the writer, checks every acknowledged row on every
   * member and records the outcome. `expected` narrows the rows that must survive when the scenario itself
   * destroyed the only copies of others (a volume lost for good); those are reported, not counted as lost.
   */
  async function finish(scenario: string, since: number, options: { expected?: ReadonlySet<number>; note?: string } = {}): Promise<Outcome> {
    await allSynced();
    const seconds = (Date.now() - since) / 1000;
    await writer.stop();
    const expected = options.expected ?? new Set(writer.acked);
    const missing = await Promise.all(members.map((m) => writer.missingOn(m, expected)));
    const lost = new Set(missing.flat()).size;
    const outcome = { scenario, seconds, acked: expected.size, lost, note: options.note ?? '' };
    outcomes.push(outcome);
    expect(missing).toEqual([[], [], []]);
    // Every member's own view holds all three (live, bounded: allSynced read the status files, a second old at most).
    await Promise.all(members.map((m) => m.waitClusterSize(3)));
    expect(await Promise.all(members.map(async (m) => (await m.script('probe.sh', 'live')).code))).toEqual([0, 0, 0]);
    return outcome;
  }

  /** Agent events of `event` on every member since its agent last started, with the member's name. */
  function events(event: string): Array<Record<string, any>> {
    return members.flatMap((m) => m.agentEvents(event).map((e) => ({ ...e, member: m.name })));
  }

  function bootstrapped(): string[] {
    return events('decision-written').filter((e) => e.decision.action === 'bootstrap').map((e) => e.member);
  }

  /** The highest committed seqno each member's agent reports while the member waits (its state.json position). */
  async function reportedSeqnos(pods: Member[]): Promise<number[]> {
    const statuses = await Promise.all(pods.map((m) => m.agentStatus(AGENT_PORT)));
    return statuses.map((s) => Number(s?.self?.position?.seqno ?? -1));
  }

  function writeTo(...pods: Member[]): void {
    writer.start(() => pods);
  }

  /**
   * Cascade failure: `first` is killed, the two others go on writing with a 2-member view for a few seconds and are
   * killed too, so the saved views differ (`first` saved the 3-member one). Then the members come back one by one, 3 s
   * apart, in `order`.
   */
  async function cascade(scenario: string, first: number, order: number[]): Promise<void> {
    const others = members.filter((m) => m.ordinal !== first);
    writeTo(...others);
    await sleep(1500);
    await kill(members[first]);
    await others[0].waitClusterSize(2);
    await sleep(3000);
    await kill(...others);
    await writer.stop();
    for (const ordinal of order.slice(0, -1)) {
      startPods([members[ordinal]]);
      await sleep(3000);
    }
    const t0 = Date.now();
    startPods([members[order[order.length - 1]]]);
    await finish(scenario, t0);
  }

  test('Defect A: cascade failure with different saved views, members restarted one by one, newest last', async () => {
    await cascade('Defect A: cascade kill -9 (views differ), restart 0,1,2 one by one', 0, [0, 1, 2]);
  });

  test('Defect B: an IST receiver whose donors die, everything killed, the other data holders lost for good', async () => {
    // galera-1 falls behind, then is restarted and asks for an IST; at that moment its donors die and so does it.
    writeTo(members[0]);
    await sleep(1000);
    // Every acknowledged row applied on galera-1 before it dies (a row another member acknowledged may still be
    // queued here, and the other copies are destroyed below).
    await writer.stop();
    await members[1].sql('SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM chaos.acks');
    const beforeGalera1Died = new Set(writer.acked);
    await kill(members[1]);
    await members[0].waitClusterSize(2);
    // Many write sets, so that the IST takes long enough to be caught in progress.
    for (let i = 0; i < 100; i++) await writer.bulk(members[0], 200);
    await writer.stop();
    startPods([members[1]]);
    await waitTransferStarted(members[1]);
    await kill(members[0], members[2]);
    await kill(members[1]);
    expect(members[1].hasDataFile('sst_in_progress')).toBe(true);
    expect(fs.existsSync(path.join(members[1].dataDir, 'mysql'))).toBe(true);
    // galera-0 and galera-2 are lost for good: new, empty volumes.
    members[0].wipeData();
    members[2].wipeData();
    const t0 = Date.now();
    startPods(members);
    const outcome = await finish('Defect B: IST receiver, donors die, their volumes replaced', t0, {
      expected: beforeGalera1Died,
      note: `${writer.acked.size - beforeGalera1Died.size} rows were only on the replaced volumes`,
    });
    expect(bootstrapped()).toEqual(['galera-1']);
    expect(outcome.lost).toBe(0);
    // Rows only galera-0 and galera-2 held: lost with their volumes (the test's doing), not expected from here on.
    writer.forget([...writer.acked].filter((id) => !beforeGalera1Died.has(id)));
  });

  test('cascade failure again, restarted newest first', async () => {
    await cascade('cascade kill -9 (views differ), restart 1,0,2 (newest first)', 2, [1, 0, 2]);
  });

  /**
   * `joiner` comes back and a state transfer to it begins: an SST onto a fresh volume (`fresh`), or an IST after it
   * fell 100 write sets behind. With `donor`, Galera is told to prefer it (then any other: the trailing comma), so
   * that the test knows whom to kill. Returns once the joiner's SST script has started.
   */
  async function transferTo(joiner: Member, options: { fresh: boolean; donor?: Member; writeTo: Member }): Promise<void> {
    writeTo(options.writeTo);
    await kill(joiner);
    if (options.fresh) {
      joiner.wipeData();
    } else {
      await options.writeTo.waitClusterSize(2);
      for (let i = 0; i < 100; i++) await writer.bulk(options.writeTo, 200);
    }
    joiner.configOverrides = options.donor ? { wsrep_sst_donor: `"${options.donor.name},"` } : {};
    startPods([joiner]);
    await waitTransferStarted(joiner);
  }

  /** The donor dies mid-transfer and is back 3 s later; the joiner must get its data elsewhere. */
  async function killDonor(scenario: string, joiner: Member, donor: Member): Promise<void> {
    await kill(donor);
    await sleep(3000);
    const t0 = Date.now();
    startPods([donor]);
    try {
      await finish(scenario, t0);
    } finally {
      joiner.configOverrides = {};
    }
  }

  test('SST: the joiner is killed mid-transfer (its volume lost for good while the cluster runs), then rejoins', async () => {
    await transferTo(members[2], { fresh: true, writeTo: members[0] });
    await sleep(1000);
    await kill(members[2]);
    // The SST emptied the volume but kept the identity: it is `wiped`, never a brand-new `empty` volume.
    expect(fs.readFileSync(path.join(members[2].dataDir, 'galera-identity.sst'), 'utf8')).toContain('joined');
    const t0 = Date.now();
    startPods([members[2]]);
    await waitFor('galera-2 state.json', 60_000, () => members[2].readJson('state.json'));
    expect(members[2].readJson('state.json')).toMatchObject({ data: 'wiped', interruptedTransfer: true });
    await finish('SST joiner kill -9 mid-transfer (fresh volume), restart', t0);
  });

  test('SST: the donor is killed mid-transfer; the joiner gets its data elsewhere, the donor comes back', async () => {
    await transferTo(members[2], { fresh: true, donor: members[0], writeTo: members[1] });
    await sleep(1000);
    await killDonor('SST donor kill -9 mid-transfer, donor restarted 3 s later', members[2], members[0]);
  });

  test('IST: the joiner is killed mid-transfer, then rejoins', async () => {
    await transferTo(members[1], { fresh: false, writeTo: members[0] });
    await kill(members[1]);
    expect(members[1].hasDataFile('sst_in_progress')).toBe(true);
    const t0 = Date.now();
    startPods([members[1]]);
    await finish('IST joiner kill -9 mid-transfer, restart', t0);
  });

  test('IST: the donor is killed mid-transfer; the joiner gets it elsewhere, the donor comes back', async () => {
    await transferTo(members[1], { fresh: false, donor: members[0], writeTo: members[2] });
    await killDonor('IST donor kill -9 mid-transfer, donor restarted 3 s later', members[1], members[0]);
  });

  test('the bootstrapper dies while it bootstraps; it comes back and bootstraps again', async () => {
    // Clean stops one by one: no saved views, so the election (not pc.recovery) runs, and galera-2 is the newest.
    writeTo(members[2]);
    await members[0].stop();
    await members[2].waitClusterSize(2);
    await members[1].stop();
    await members[2].waitClusterSize(1);
    await sleep(1000);
    await writer.stop();
    await members[2].stop();
    startPods(members);
    await waitFor('a bootstrap decision', 60_000, () => (members[2].agentEvents('decision-written').some((e) => e.decision.action === 'bootstrap') ? true : undefined));
    await kill(members[2]);
    await sleep(2000);
    const t0 = Date.now();
    startPods([members[2]]);
    await finish('bootstrapper kill -9 during bootstrap, restarted 2 s later', t0);
    // galera-0 and galera-1 are behind galera-2: they must never have bootstrapped while it was away.
    expect(bootstrapped().filter((m) => m !== 'galera-2')).toEqual([]);
  });

  test('partition: one member cut off from the other two, then healed', async () => {
    writeTo(members[1], members[2]);
    await sleep(1000);
    LoopbackPartition.cut([[IPS[0]], [IPS[1], IPS[2]]]);
    await waitFor('galera-0 out of the Primary', 30_000, () => ((members[0].readJson('wsrep.json') as any)?.wsrep?.wsrep_cluster_status === 'non-Primary' ? true : undefined));
    await sleep(5000);
    const t0 = Date.now();
    heal();
    await finish('partition {0} vs {1,2} for ~10 s, healed', t0);
  });

  test('partition: every member cut off from the others for longer than the wait bound, then healed', async () => {
    writeTo(...members);
    await sleep(1000);
    LoopbackPartition.cut(IPS.map((ip) => [ip]));
    // No Primary anywhere: past GALERA_WAIT_PRIMARY_SECONDS each agent has its mariadbd restarted to decide afresh.
    await waitFor('a restart for a member outside any Primary', 90_000, () =>
      events('restart-requested').some((e) => /without reaching a Primary/.test(e.reason)) ? true : undefined);
    const t0 = Date.now();
    heal();
    await finish(`partition {0} vs {1} vs {2} past the ${AGENT_ENV.GALERA_WAIT_PRIMARY_SECONDS} s wait bound, healed`, t0);
  });

  test('a member lost for good: blocked without an operator, then the documented override, then a new volume joins', async () => {
    writeTo(members[0]);
    await sleep(1500);
    await kill(...members);
    await writer.stop();
    const survivors = [members[0], members[1]];
    startPods(survivors);
    const blocked = await waitDecision(survivors, 'blocked', 60_000);
    expect(blocked.reason).toContain('galera-2 has not reported');
    for (const m of survivors) expect(m.readJson('wsrep.json')).toEqual({ running: false });
    // The README's procedure: name the member with the highest seqno the agents report.
    const seqnos = await reportedSeqnos(survivors);
    const chosen = seqnos[1] > seqnos[0] ? members[1] : members[0];
    fs.writeFileSync(path.join(cluster.root, 'bootstrap-from'), `${chosen.name}\n`);
    try {
      await allSynced(survivors);
    } finally {
      fs.rmSync(path.join(cluster.root, 'bootstrap-from'));
    }
    members[2].wipeData();
    const t0 = Date.now();
    startPods([members[2]]);
    await finish('kill -9 all, galera-2 never back: blocked, override, new volume joins', t0, { note: `override named ${chosen.name}` });
  });

  const ORDERS = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
  test.each(ORDERS.map((order) => [order.join(',')]))('kill -9 of all three, restarted in the order %s, 2 s apart', async (order) => {
    writeTo(...members);
    await sleep(1500);
    await kill(...members);
    await writer.stop();
    const pods = order.split(',').map((o) => members[Number(o)]);
    for (const m of pods.slice(0, -1)) {
      startPods([m]);
      await sleep(2000);
    }
    const t0 = Date.now();
    startPods(pods.slice(-1));
    await finish(`kill -9 all, restart ${order} (2 s apart)`, t0);
  });
});
