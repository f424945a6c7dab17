/**
 * Galera recovery with real daemons and the bundled recovery agent: every member is a "pod" of two processes,
 * the entrypoint (mariadb container) and the agent (sidecar), on 127.0.1.1-3 (127.0.1.4-6 for the new-address
 * case). No decision is written by the test: the agents elect, from the members' real data.
 *
 * Measured per scenario: the time from "all pods started" to three Synced members (printed as a table, never
 * asserted). Asserted: who bootstrapped, by which rule, every committed row present, no bootstrap while a
 * member is missing until the operator names one.
 */
import * as fs from 'fs';
import * as path from 'path';
import { isDeepStrictEqual } from 'util';
import { acquireGaleraLock, describeWithGalera, GaleraTestCluster, Member, releaseGaleraLock, sleep, waitAllSynced, waitFor } from './galera-harness';

jest.setTimeout(600_000);

const FIRST_IPS = ['127.0.1.1', '127.0.1.2', '127.0.1.3'];
const NEW_IPS = ['127.0.1.4', '127.0.1.5', '127.0.1.6'];
const AGENT_PORT = 9200;
/** Short agent timers so the whole suite fits a few minutes; production keeps the agent's defaults. */
const BLOCK_AFTER_SECONDS = 8;
const PC_RECOVERY_SECONDS = 25;

interface Outcome {
  scenario: string;
  seconds: number;
  bootstrapped: string[];
  rules: string[];
  /** Per member, how it caught up: IST, SST, or '-' (it was the source, or pc.recovery needed no transfer). */
  transfers: string;
  rows: number;
}

describeWithGalera('Galera recovery (entrypoint + recovery agent)', () => {
  let cluster: GaleraTestCluster;
  let members: Member[];
  /** Rows the test saw committed (the client got OK); every recovery must keep all of them. */
  let committed = 0;
  const outcomes: Outcome[] = [];

  beforeAll(async () => {
    await acquireGaleraLock(600_000);
    cluster = new GaleraTestCluster(FIRST_IPS);
    cluster.buildAgent();
    members = cluster.members;
  }, 660_000); // includes waiting for the other Galera test file (shared addresses)

  afterAll(async () => {
    await cluster?.destroy(80);
    releaseGaleraLock();
    const table = [
      '| scenario | start → 3 Synced (s) | bootstrapped | rules (agent decisions) | transfers (galera-0/1/2) | rows |',
      '|---|---|---|---|---|---|',
      ...outcomes.map((o) => `| ${o.scenario} | ${o.seconds.toFixed(1)} | ${o.bootstrapped.join(', ') || '(none)'} | ${o.rules.join(', ')} | ${o.transfers} | ${o.rows} |`),
    ];
    console.log(`Galera recovery times (2-core machine, 3 members on loopback):\n${table.join('\n')}`);
  });

  /** Starts pods (entrypoint + agent) with fresh run dirs, like new pods after an outage. */
  function startPods(pods: Member[], ips: readonly string[] = members.map((m) => m.ip)): void {
    const peerUrls = ips.map((ip) => `http://${ip}:${AGENT_PORT}`).join(',');
    for (const member of pods) {
      const ip = ips[member.ordinal];
      member.startEntrypoint({ ip, freshRunDir: true });
      member.startAgent({
        GALERA_CLUSTER_SIZE: '3',
        GALERA_PEER_URLS: peerUrls,
        GALERA_AGENT_PORT: String(AGENT_PORT),
        GALERA_POLL_SECONDS: '0.5',
        GALERA_BLOCK_AFTER_SECONDS: String(BLOCK_AFTER_SECONDS),
        GALERA_PC_RECOVERY_SECONDS: String(PC_RECOVERY_SECONDS),
      });
    }
  }

  async function allSynced(timeoutMs: number, pods: Member[] = members): Promise<void> {
    await waitAllSynced(pods, timeoutMs);
  }

  async function insertRows(member: Member, count: number, note: string): Promise<void> {
    const values = Array.from({ length: count }, () => `('${member.name}', '${note}')`).join(',');
    await member.sql(`INSERT INTO itest.rows (member, note) VALUES ${values}`);
    committed += count;
  }

  async function rowCounts(): Promise<number[]> {
    return Promise.all(members.map(async (m) => Number(await m.sql('SET SESSION wsrep_sync_wait=1; SELECT COUNT(*) FROM itest.rows'))));
  }

  /** Which members were told to bootstrap, and the rules of every decision, since the agents started. */
  function decisions(pods: Member[] = members): { bootstrapped: string[]; rules: string[] } {
    const written = pods.flatMap((m) => m.agentEvents('decision-written').map((e) => ({ member: m.name, ...e.decision })));
    return {
      bootstrapped: written.filter((d) => d.action === 'bootstrap').map((d) => d.member),
      rules: [...new Set(written.map((d) => `${d.action}:${d.rule}`))].sort(),
    };
  }

  function transfers(): string {
    return members.map((m) => m.stateTransfers().join('+') || '-').join(' / ');
  }

  function positions(): Record<string, { seqno: number; source: string; data: string }> {
    return Object.fromEntries(members.map((m) => {
      const state = m.readJson('state.json') as { data: string; position?: { seqno: number }; positionSource?: string } | undefined;
      return [m.name, { data: state?.data ?? '?', seqno: state?.position?.seqno ?? -1, source: state?.positionSource ?? '' }];
    }));
  }

  /** Starts every pod at once, waits for three Synced members, checks the rows, records the outcome. */
  async function recover(scenario: string, options: { ips?: readonly string[]; record?: boolean; whenSynced?: () => Promise<void> } = {}): Promise<Outcome> {
    const { ips, record = true, whenSynced } = options;
    const t0 = Date.now();
    startPods(members, ips);
    const liveness = watchLiveness(members);
    await allSynced(180_000).finally(() => liveness.stop());
    const seconds = (Date.now() - t0) / 1000;
    // Through --wsrep-recover, the wait for a decision, SST and IST, kubelet would never have killed a member.
    expect(await liveness.failures).toEqual([]);
    await whenSynced?.();
    const counts = await rowCounts();
    expect(counts).toEqual([committed, committed, committed]);
    const outcome = { scenario, seconds, ...decisions(), transfers: transfers(), rows: committed };
    if (record) outcomes.push(outcome);
    return outcome;
  }

  /** Runs `probe.sh live` on every member every 2 s, as kubelet would, until stopped; collects failures. */
  function watchLiveness(pods: Member[]): { stop: () => void; failures: Promise<string[]> } {
    let running = true;
    const failures: string[] = [];
    const loop = (async () => {
      while (running) {
        await Promise.all(pods.map(async (m) => {
          const result = await m.script('probe.sh', 'live');
          if (result.code !== 0) failures.push(`${m.name}: ${result.stdout.trim()} (phase ${m.phase()})`);
        }));
        await sleep(2000);
      }
      return failures;
    })();
    return { stop: () => { running = false; }, failures: loop };
  }



  async function stopAll(order: Member[], between: (stopped: Member) => Promise<void> = async () => undefined): Promise<void> {
    for (const member of order) {
      await member.stop();
      await between(member);
    }
  }

  test('1. cold start: three empty members form a Synced cluster with no decision from outside', async () => {
    const outcome = await recover('1. cold start (empty volumes, 2 SSTs)', {
      whenSynced: async () => {
        await members[0].sql('CREATE DATABASE itest; CREATE TABLE itest.rows (id INT AUTO_INCREMENT PRIMARY KEY, member VARCHAR(20), note VARCHAR(40))');
        await insertRows(members[0], 10, 'cold-start');
      },
    });
    expect(outcome.bootstrapped).toEqual(['galera-0']);
    expect(outcome.rules).toContain('bootstrap:new-cluster');
  });

  test('2. members stop one by one (seqnos differ); all start at once: the most recent bootstraps', async () => {
    // galera-2 stays last and alone (a clean leave keeps a Primary of one), so it has the newest rows.
    await insertRows(members[1], 5, 'before-stops');
    await stopAll([members[0], members[1]], async (stopped) => {
      await members[2].waitClusterSize(2 - stopped.ordinal);
      await insertRows(members[2], 7, `after-${stopped.name}-stopped`);
    });
    await members[2].stop();
    const outcome = await recover('2. staggered clean stop, all restart');
    const seen = positions();
    expect(seen['galera-2'].seqno).toBeGreaterThan(seen['galera-1'].seqno);
    expect(seen['galera-1'].seqno).toBeGreaterThan(seen['galera-0'].seqno);
    expect(outcome.bootstrapped).toEqual(['galera-2']);
    expect(outcome.rules).toContain('bootstrap:election');
  });

  test('pc.recovery: all SIGKILLed with gvwstate.dat; every member back on the same addresses', async () => {
    await insertRows(members[0], 5, 'before-kill-all');
    await Promise.all(members.map((m) => m.kill()));
    for (const m of members) expect(fs.existsSync(path.join(m.dataDir, 'gvwstate.dat'))).toBe(true);
    const outcome = await recover('pc.recovery: kill -9 all, same IPs');
    expect(Object.values(positions()).map((p) => p.source)).toEqual(['wsrep-recover', 'wsrep-recover', 'wsrep-recover']);
    // Either Galera re-formed the Primary itself (every member told to join), or the agent fell back to the election.
    expect(outcome.bootstrapped.length).toBeLessThanOrEqual(1);
    console.log(`pc.recovery, same addresses: path taken ${outcome.bootstrapped.length === 0 ? 'pc.recovery' : 'election fallback'} (${outcome.rules.join(', ')})`);
  });

  test('pc.recovery: all SIGKILLed, every member back on NEW addresses (127.0.1.4-6)', async () => {
    await insertRows(members[1], 5, 'before-kill-all-2');
    await Promise.all(members.map((m) => m.kill()));
    cluster.setPeerHosts(NEW_IPS);
    const outcome = await recover('pc.recovery: kill -9 all, new IPs', { ips: NEW_IPS });
    expect(outcome.bootstrapped.length).toBeLessThanOrEqual(1);
    console.log(`pc.recovery, new addresses: path taken ${outcome.bootstrapped.length === 0 ? 'pc.recovery' : 'election fallback'} (${outcome.rules.join(', ')})`);
    // Back to the first addresses for the rest of the suite (a clean stop leaves no view state).
    await stopAll(members);
    cluster.setPeerHosts(FIRST_IPS);
    for (const m of members) m.ip = FIRST_IPS[m.ordinal];
  });

  test('3. all SIGKILLed without pc.recovery (seqno -1): --wsrep-recover positions, the most recent bootstraps', async () => {
    // pc.recovery off in the config, so no member keeps gvwstate.dat and the election must decide.
    cluster.pcRecovery = false;
    await recover('(restart with pc.recovery=FALSE)', { record: false });
    // galera-0 dies first; the two others go on (2 of 3 is a quorum) and get newer rows; then both die.
    await members[0].kill();
    await members[1].waitClusterSize(2);
    await insertRows(members[1], 6, 'after-galera-0-killed');
    await Promise.all([members[1].kill(), members[2].kill()]);
    for (const m of members) expect(fs.readFileSync(path.join(m.dataDir, 'grastate.dat'), 'utf8')).toMatch(/seqno:\s+-1/);
    const outcome = await recover('3. kill -9 all, seqno -1 (no pc.recovery)');
    const seen = positions();
    expect(Object.values(seen).map((p) => p.source)).toEqual(['wsrep-recover', 'wsrep-recover', 'wsrep-recover']);
    expect(seen['galera-1'].seqno).toBe(seen['galera-2'].seqno);
    expect(seen['galera-1'].seqno).toBeGreaterThan(seen['galera-0'].seqno);
    // Tie between galera-1 and galera-2: the lowest ordinal.
    expect(outcome.bootstrapped).toEqual(['galera-1']);
    expect(outcome.rules).toContain('bootstrap:election');
  });

  test('4. a member whose data dir was wiped is never chosen and rejoins by SST', async () => {
    // galera-1 stops last, so it has the newest data; then its volume is lost.
    await insertRows(members[2], 4, 'before-wipe');
    await stopAll([members[0], members[2]]);
    await insertRows(members[1], 3, 'newest-on-galera-1');
    const lost = 3;
    await members[1].stop();
    members[1].wipeData();
    // The rows only galera-1 had are gone with its volume: that is the loss the test arranged, not recovery's.
    committed -= lost;
    const outcome = await recover('4. one data dir wiped (SST)');
    expect(positions()['galera-1'].data).toBe('empty');
    expect(outcome.bootstrapped).not.toContain('galera-1');
    expect(outcome.bootstrapped).toHaveLength(1);
  });

  test('5. one member never comes back: no bootstrap until the operator names one, then recovery', async () => {
    await insertRows(members[0], 2, 'before-outage-5');
    await stopAll([members[2], members[1], members[0]]);
    const t0 = Date.now();
    startPods([members[0], members[1]]);
    // Longer than the agents' block timer: they must still not start mariadbd.
    await sleep((BLOCK_AFTER_SECONDS + 4) * 1000);
    for (const m of [members[0], members[1]]) {
      expect(m.readJson('wsrep.json')).toEqual({ running: false });
      // Waiting for a decision: not ready, but alive (a liveness failure would restart it for nothing).
      expect((await m.script('probe.sh', 'live')).code).toBe(0);
      expect((await m.script('probe.sh', 'ready')).code).toBe(1);
    }
    expect(decisions([members[0], members[1]]).bootstrapped).toEqual([]);
    fs.writeFileSync(path.join(cluster.root, 'bootstrap-from'), 'galera-0\n');
    await allSynced(120_000, [members[0], members[1]]);
    const twoSynced = (Date.now() - t0) / 1000;
    fs.rmSync(path.join(cluster.root, 'bootstrap-from'));
    startPods([members[2]]);
    await allSynced(120_000);
    const counts = await rowCounts();
    expect(counts).toEqual([committed, committed, committed]);
    const outcome = { scenario: '5. one member missing, operator override', seconds: (Date.now() - t0) / 1000, ...decisions(), transfers: transfers(), rows: committed };
    outcomes.push(outcome);
    console.log(`scenario 5: two members Synced ${twoSynced.toFixed(1)} s after start (including the ${BLOCK_AFTER_SECONDS + 4} s the test waited before the override)`);
    expect(outcome.bootstrapped).toEqual(['galera-0']);
    expect(outcome.rules).toContain('bootstrap:override');
  });

  test('a member dies: how long a write on a survivor stalls (evs.suspect_timeout PT3S), and its IST rejoin', async () => {
    const [writer, , victim] = members;
    // The claim is about a member that dies while it replicates ordinary writes. One killed while it applies a DDL or
    // account statement (TOI) rejoins by SST instead, whatever its data: Galera writes the zero UUID to grastate.dat
    // for the statement's duration, and a start position from --wsrep-recover counts only under the UUID it belongs
    // to (seen in CI, r11 of session 33, and most likely r9 of session 32, which kept no logs: the victim was killed
    // a second after it became Synced in scenario 5, while its own apply-users run replicated its GRANTs; README,
    // "After a power failure", item 3). So every member's apply-users run is over, and the victim has applied
    // everything the cluster ordered, before the kill.
    await Promise.all(members.map((m) => m.waitSettled(60_000)));
    const ordered = await writer.lastCommitted();
    await waitFor(`${victim.name} has applied up to seqno ${ordered}`, 30_000, async () => ((await victim.lastCommitted()) >= ordered ? true : undefined));
    await insertRows(writer, 1, 'before-death');
    await victim.kill();
    const t0 = Date.now();
    await insertRows(writer, 1, 'first-write-after-death');
    const stall = (Date.now() - t0) / 1000;
    const t1 = Date.now();
    startPods([victim]);
    await victim.waitSynced(120_000);
    const rejoin = (Date.now() - t1) / 1000;
    expect(await rowCounts()).toEqual([committed, committed, committed]);
    const transfers = victim.stateTransfers();
    // An SST here, with no statement in flight, is a finding: the logs say why.
    if (!isDeepStrictEqual(transfers, ['IST'])) for (const m of members) console.log(m.logTail(150));
    expect(transfers).toEqual(['IST']);
    console.log(`member SIGKILLed: first write on a survivor took ${stall.toFixed(1)} s; the member rejoined by IST in ${rejoin.toFixed(1)} s`);
  });
});
