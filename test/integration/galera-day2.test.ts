/**
 * Day 2 on a real 3-member Galera cluster (entrypoint, probes and rendered config, members at 127.0.20.1-3; the
 * test plays the recovery agent and the StatefulSet controller):
 * - a member whose system tables are older than its server runs mariadb-upgrade once, after it is Synced, is not
 *   Ready until it is done, and nothing of it replicates to the other members (they may still run the old version);
 * - a config change rolls through the cluster under writes in the order the preflight plan prints (highest ordinal
 *   first, the writer galera-0 last), each member Ready before the next: no acknowledged row lost.
 */
import * as fs from 'fs';
import * as path from 'path';
import { objectId } from '../../lib/cli/preflight/manifests';
import { planChanges } from '../../lib/cli/preflight/plan';
import { KubeObject, Lookup } from '../../lib/cli/preflight/types';
import { renderUsersFile } from '../../lib/galera/users';
import { Day2Options, NAMESPACE, addDay2ControlPlane } from '../support/fixtures';
import { newChart, synth } from '../support/harness';
import { AckedWriter, GaleraTestCluster, Member, acquireGaleraLock, describeWithGalera, releaseGaleraLock, runAsMysql, waitFor } from './galera-harness';

jest.setTimeout(300_000);

const NOVA_PASSWORD = 'nova-old-pw';

/** The pods the plan says roll, in its order, for a change from `running` to `next`. */
function planRollOrder(running: Day2Options, next: Day2Options): string[] {
  const manifests = (options: Day2Options) => {
    const chart = newChart(NAMESPACE);
    addDay2ControlPlane(chart, options);
    return synth(chart) as KubeObject[];
  };
  const live: Record<string, Lookup<KubeObject>> = {};
  for (const o of manifests(running)) live[objectId(o, NAMESPACE)] = { state: 'found', value: o };
  const roll = planChanges({ objects: manifests(next), live, defaultNamespace: NAMESPACE })
    .find((l) => l.check === 'roll' && l.subject === 'StatefulSet openstack/galera');
  const order = /before the next: ([^(]+) \(/.exec(roll?.message ?? '')?.[1];
  if (!order) throw new Error(`no Galera roll in the plan: ${roll?.message}`);
  return order.split(', ').map((p) => p.trim());
}

/** As the StatefulSet controller waits for the pod's readiness probe: polls it until it passes. */
async function waitReady(member: Member, timeoutMs: number): Promise<void> {
  await waitFor(`${member.name} Ready`, timeoutMs, async () => ((await member.script('probe.sh', 'ready')).code === 0 ? true : undefined));
}

/** The member's whole entrypoint log (the pod's container log). */
const containerLog = (m: Member) => fs.readFileSync(path.join(path.dirname(m.dir), `${m.name}.mariadb.log`), 'utf8');

const usersApplied = (m: Member) => (containerLog(m).match(/users applied/g) ?? []).length;

describeWithGalera('Galera day 2 (mariadb-upgrade, rolling a config change under writes)', () => {
  let cluster: GaleraTestCluster;
  const figures: Record<string, number> = {};

  beforeAll(async () => {
    await acquireGaleraLock(600_000);
    cluster = new GaleraTestCluster(['127.0.20.1', '127.0.20.2', '127.0.20.3']);
    cluster.extraEnv = { NOVA_DB_PASSWORD: NOVA_PASSWORD };
    cluster.writeUsersFile(renderUsersFile([{ name: 'nova', passwordEnv: 'NOVA_DB_PASSWORD', databases: ['nova'] }]));
    await cluster.bootstrapFromFirst({ bootstrapMs: 90_000, joinMs: 240_000 });
    // The joiners' post-SST mariadb-upgrade and every member's first apply-users (its GRANTs replicate) must be over
    // before the tests count what a restart replicates: on a slow machine they landed inside that count (CI: 3).
    await Promise.all(cluster.members.map((m) => m.waitSettled(180_000)));
    await cluster.members[0].sql('CREATE DATABASE IF NOT EXISTS day2; CREATE TABLE day2.rows (id INT PRIMARY KEY, member VARCHAR(20))');
  }, 660_000);

  afterAll(async () => {
    await cluster?.destroy();
    releaseGaleraLock();
    console.log(`Galera day-2 figures: ${JSON.stringify(figures)}`);
  });

  test('system tables older than the server: mariadb-upgrade once after Synced, not Ready until done, nothing replicated', async () => {
    const [a, b, c] = cluster.members;
    const server = (await c.sql('SELECT VERSION()')).replace(/-.*/, '');
    /** Restarts c (SIGTERM, start, join) and returns how many write-sets the others committed meanwhile. */
    const restart = async (beforeStart: () => void = () => undefined): Promise<number> => {
      await c.stop();
      beforeStart();
      const before = await Promise.all([a, b].map((m) => m.lastCommitted()));
      const applied = usersApplied(c);
      c.startEntrypoint();
      await c.decide('join');
      await waitReady(c, 120_000);
      // apply-users (after the upgrade) is what replicates at every start: wait until it has run.
      await waitFor(`${c.name} users applied`, 60_000, () => (usersApplied(c) > applied ? true : undefined));
      const after = await waitFor('a and b at the same seqno', 30_000, async () => {
        const seqnos = await Promise.all([a, b].map((m) => m.lastCommitted()));
        return seqnos[0] === seqnos[1] ? seqnos : undefined;
      });
      return after[0] - before[0];
    };
    // apply-users replicates only what differs (galera-cluster.test.ts: nothing when nothing changed), but a start's
    // first run may still find a rotation to end: give c no user to apply, so that whatever the others commit while
    // c restarts comes from the restart itself.
    const env = cluster.extraEnv;
    // Nor the writer row: its idempotent CREATE ... IF NOT EXISTS is DDL, which Galera replicates (TOI) whenever a
    // start runs it before it has read the existing row.
    cluster.extraEnv = { ...env, GALERA_SST_PASSWORD: '', GALERA_MONITOR_PASSWORD: '', MARIADB_ROOT_PASSWORD: '', GALERA_INITIAL_WRITER: '' };
    cluster.writeUsersFile('');
    // A plain restart commits nothing on the others.
    // (c joined by SST at the start, which does not copy the upgrade info file: it ran mariadb-upgrade once then.)
    const upgrades = () => (containerLog(c).match(/mariadb-upgrade: done/g) ?? []).length;
    // Wait for that run: a stop in the middle of it leaves no info file and the next start runs it again.
    await waitFor(`${c.name} mariadb-upgrade after its SST`, 60_000, () => (upgrades() >= 1 ? true : undefined));
    const sstUpgrades = upgrades();
    figures.upgradesAfterSst = sstUpgrades;
    const plainRestart = await restart();
    expect(upgrades()).toBe(sstUpgrades);

    // The data of an older series, as after an image change: the upgrade info file names the old version.
    const info = ['mariadb_upgrade_info', 'mysql_upgrade_info'].map((f) => `${c.dataDir}/${f}`).find((f) => fs.existsSync(f))!;
    const upgradeRestart = restart(() => fs.writeFileSync(info, '10.6.0-MariaDB'));
    // Not Ready while the marker is there: the entrypoint sets it before mariadbd starts.
    await waitFor('the upgrade marker', 30_000, () => (fs.existsSync(`${c.runDir}/upgrade-pending`) ? true : undefined));
    const early = await c.script('probe.sh', 'ready');
    expect(early.code).toBe(1);
    expect(early.stdout).toMatch(/system tables are being upgraded/);
    const t0 = Date.now();
    await waitReady(c, 120_000);
    figures.upgradeToReadySeconds = (Date.now() - t0) / 1000;
    // Nothing of the upgrade replicated: the others committed what any restart makes them commit, and no more.
    figures.writeSetsOfAPlainRestart = plainRestart;
    // Since the writer row (issue 15) a plain restart of this harness commits 1 write-set on the others (source not
    // yet found; see the closing note of stop 22): the upgrade must add none beyond it.
    expect(plainRestart).toBeLessThanOrEqual(1);
    expect(await upgradeRestart).toBe(plainRestart);
    cluster.extraEnv = env;
    cluster.writeUsersFile(renderUsersFile([{ name: 'nova', passwordEnv: 'NOVA_DB_PASSWORD', databases: ['nova'] }]));
    expect(containerLog(c)).toMatch(new RegExp(`mariadb-upgrade: system tables of 10\\.6\\.0 under server ${server.replace(/\./g, '\\.')}`));
    expect(containerLog(c)).toMatch(/mariadb-upgrade: done/);
    expect(fs.readFileSync(info, 'utf8')).toMatch(new RegExp(`^${server.replace(/\./g, '\\.')}-MariaDB`));

    // The measure can fail: the same upgrade with binary logging (and so replication) on does reach the others.
    const before = await Promise.all([a, b].map((m) => m.lastCommitted()));
    const forced = await runAsMysql(['mariadb-upgrade', `--defaults-file=${c.runDir}/client.cnf`, '--force', '--write-binlog'], {}, undefined, 120_000);
    expect(forced.code).toBe(0);
    const after = await Promise.all([a, b].map((m) => m.lastCommitted()));
    figures.writeSetsOfAReplicatedUpgrade = after[0] - before[0];
    expect(after[0]).toBeGreaterThan(before[0]);

    // Once per version: a restart finds the tables current and does not run it again.
    const runs = upgrades();
    await c.stop();
    c.startEntrypoint();
    await c.decide('join');
    await waitReady(c, 120_000);
    expect(upgrades()).toBe(runs);
  });

  test('a config change rolls in the plan\'s order under writes: the writer last, each Ready before the next, no acknowledged row lost', async () => {
    const order = planRollOrder({ gcacheSize: '1G' }, { gcacheSize: '2G' });
    expect(order).toEqual(['galera-2', 'galera-1', 'galera-0']);
    const writer = new AckedWriter('day2.rows');
    // As ProxySQL with writerOrdinal 0: the writer while it is up, the next member while it is not.
    writer.start(() => cluster.members);
    await waitFor('first writes', 30_000, () => (writer.acked.size >= 20 ? true : undefined));
    cluster.gcacheSize = '128M';
    const t0 = Date.now();
    const failuresPerStep: Record<string, number> = {};
    for (const name of order) {
      const member = cluster.members.find((m) => m.name === name)!;
      const failed = writer.failures;
      await member.stop();
      member.startEntrypoint();
      await member.decide('join');
      await waitReady(member, 120_000);
      failuresPerStep[name] = writer.failures - failed;
    }
    figures.rollSeconds = (Date.now() - t0) / 1000;
    await waitFor('writes after the roll', 30_000, () => (writer.acked.size >= 200 ? true : undefined));
    await writer.stop();
    figures.ackedWrites = writer.acked.size;
    figures.failedWrites = writer.failures;
    for (const m of cluster.members) {
      expect(await writer.missingOn(m)).toEqual([]);
      expect(await m.sql("SHOW VARIABLES LIKE 'wsrep_provider_options'")).toMatch(/gcache\.size = 128M/);
    }
    // Writes went to the writer except while it was down: only then did galera-1 take them.
    const byMember = await cluster.members[0].sql('SELECT member, COUNT(*) FROM day2.rows GROUP BY member ORDER BY member');
    figures.rowsOnGalera1 = Number(/galera-1\t(\d+)/.exec(byMember)?.[1] ?? 0);
    expect(byMember).toMatch(/galera-0\t\d+/);
    // The standbys' restarts cost the writes nothing. When the writer stops, the statement in flight and the
    // retries until this client sees it gone (its status file, refreshed every second; ProxySQL's check in a pod)
    // fail and go to the next member: the brief reconnect. A failed write is never counted as acknowledged.
    expect(failuresPerStep['galera-2']).toBe(0);
    expect(failuresPerStep['galera-1']).toBe(0);
    figures.failedWritesWhileTheWriterRolled = failuresPerStep['galera-0'];
    expect(failuresPerStep['galera-0']).toBeLessThanOrEqual(20);
  });
});
