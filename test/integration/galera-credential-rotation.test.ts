/**
 * The Galera SST and root passwords rotate live, with real mariadbd/Galera: 3 members run the shipped entrypoint, each
 * with its OWN credentials directory (each pod's Secret volume; the kubelets update them at different moments), written
 * the way the kubelet swaps a Secret volume. Under client load (acknowledged writes through the writer), with consumer
 * clients logging in every ~0.5 s on every member as root and as the SST account (what a donor's mariabackup does),
 * each on the password it holds: the old one until its member accepts the new one, then the new one.
 *
 *  1. galera-0's files change (SST and root): it starts both rotations (old and new both accepted cluster-wide).
 *  2. During the grace, galera-2 is restarted with a wiped volume and its files already NEW, and takes an SST from
 *     galera-1, whose files are still OLD (its wsrep_sst_auth is the old password): it must succeed.
 *  3. galera-1's files change; the grace ends (shortened to GRACE_SECONDS, the check every 3 s): the old passwords are
 *     refused on every member.
 *  4. After the grace, galera-1 is wiped and takes an SST from galera-0, which never restarted: its mariabackup can
 *     only log in with the password apply-users.sh set live (SET GLOBAL wsrep_sst_auth); galera-0's option file
 *     still says the old one.
 *  5. The Secret changes twice within seconds (every member); galera-2 is wiped again and takes an SST from galera-1.
 * Every consumer login that the server refused for its password counts as a failure: there must be none. No
 * acknowledged row may be lost.
 *
 * Unique names (grep test/integration: unused): members on 127.0.41.1-3 (the suite's Galera files use 127.0.1.x,
 * and others 127.0.0/3/4/6/15/17-21/27/29/118.x), files in /tmp/gcreds-itest-*. It never takes the Galera lock nor
 * /tmp/cdk8s-itest.lock: nothing it binds is shared.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeSecretVolume } from '../support/secret-volume';
import { AckedWriter, describeWithGalera, GaleraTestCluster, Member, runAsMysql, sleep, waitAllSynced, waitFor } from './galera-harness';

jest.setTimeout(1_500_000);

const IPS = ['127.0.41.1', '127.0.41.2', '127.0.41.3'];
const GRACE_SECONDS = 90;
const SST = [`sst0'"\\;#:pw`, `sst1'"\\;#:pw`, `sst2'"\\;#:pw`, `sst3'"\\;#:pw`];
const ROOT = [`root0'"\\;#pw`, `root1'"\\;#pw`, `root2'"\\;#pw`, `root3'"\\;#pw`];
const TABLE = 'itest.credrot';

/** A login over the member's socket as USER with PASSWORD (MYSQL_PWD), as the OS user mysql (so root's unix_socket does not apply). */
async function socketLogin(m: Member, user: string, password: string): Promise<'ok' | 'denied' | 'unavailable'> {
  const r = await runAsMysql(['mariadb', '--no-defaults', `--socket=${path.join(m.runDir, 'mysqld.sock')}`, `--user=${user}`, '--connect-timeout=5', '-N', '-B', '-e', 'SELECT 1'],
    { MYSQL_PWD: password }, undefined, 20_000);
  if (r.code === 0) return 'ok';
  return /Access denied/.test(r.stderr) ? 'denied' : 'unavailable';
}

/**
 * A client of one account on one member: logs in every ~0.5 s with the password it holds; once the password of the
 * Secret (`want`) differs, it asks the member whether the new one is accepted (a check, not a login of the client)
 * and moves to it when it is. Logins only while the member is Synced (a member being rebuilt serves no one).
 */
class Consumer {
  public ok = 0;
  public denied: string[] = [];
  public unavailable = 0;
  public switches: string[] = [];
  private running = true;
  private loop: Promise<void>;
  public constructor(private readonly member: Member, private readonly user: string, private holds: string, private readonly want: () => string) {
    this.loop = this.run();
  }

  public get holding(): string {
    return this.holds;
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (this.member.running && this.member.synced()) {
        const wanted = this.want();
        if (wanted !== this.holds && await socketLogin(this.member, this.user, wanted) === 'ok') {
          this.switches.push(`${new Date().toISOString()} ${this.holds.slice(0, 5)} -> ${wanted.slice(0, 5)}`);
          this.holds = wanted;
        }
        const result = await socketLogin(this.member, this.user, this.holds);
        if (result === 'ok') this.ok++;
        else if (result === 'denied') this.denied.push(`${new Date().toISOString()} ${this.member.name} ${this.user} with ${this.holds.slice(0, 5)}`);
        else this.unavailable++;
      }
      await sleep(500);
    }
  }

  public async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

describeWithGalera('the SST and root passwords rotate live on a real 3-member cluster: SSTs during and after the grace, 0 refused logins', () => {
  let cluster: GaleraTestCluster;
  const credentials: string[] = [];
  /** What each member's Secret volume holds now (index into SST/ROOT). */
  const holds = [0, 0, 0];
  const log: string[] = [];
  const say = (s: string) => { log.push(`${new Date().toISOString()} ${s}`); };

  const writeCredentials = (ordinal: number, version: number) => {
    writeSecretVolume(credentials[ordinal], { GALERA_SST_PASSWORD: SST[version], MARIADB_ROOT_PASSWORD: ROOT[version] });
    holds[ordinal] = version;
    say(`galera-${ordinal}: credentials files -> version ${version}`);
  };

  /** How many SSTs MEMBER has donated (its mariadbd log, across its restarts). */
  const donations = (member: string): number => {
    const file = path.join(cluster.root, `${member}.mariadb.log`);
    return fs.existsSync(file) ? (fs.readFileSync(file, 'utf8').match(/mariabackup SST completed on donor/g) ?? []).length : 0;
  };

  /** Stops a member, wipes its volume and starts it again as a new pod, joining by SST from DONOR. */
  const rebuild = async (m: Member, donor: string, version: number): Promise<number> => {
    const donated = donations(donor);
    await m.stop(120_000);
    m.wipeData();
    writeCredentials(m.ordinal, version);
    m.configOverrides = { wsrep_sst_donor: donor };
    const started = Date.now();
    say(`${m.name}: wiped, starting (SST from ${donor})`);
    m.startEntrypoint({ freshRunDir: true });
    await m.joinUntilSynced(400_000);
    const seconds = (Date.now() - started) / 1000;
    say(`${m.name}: Synced after ${seconds} s; transfers ${m.stateTransfers().join(',')}`);
    expect(m.stateTransfers()).toContain('SST');
    expect(donations(donor)).toBe(donated + 1);
    return seconds;
  };

  /** Until the old passwords (version OLD) are refused by every member for both accounts; the seconds it took. */
  const waitOldRefused = async (old: number, from: number): Promise<number> => {
    await waitFor(`version ${old} refused everywhere`, (GRACE_SECONDS + 90) * 1000, async () => {
      for (const m of cluster.members) {
        if (await socketLogin(m, 'root', ROOT[old]) !== 'denied' || await socketLogin(m, 'mariabackup', SST[old]) !== 'denied') return undefined;
      }
      return true;
    });
    return (Date.now() - from) / 1000;
  };

  beforeAll(async () => {
    cluster = new GaleraTestCluster(IPS, 'gcreds-itest-');
    cluster.extraEnv = { GALERA_PASSWORD_ROTATION_GRACE_SECONDS: String(GRACE_SECONDS), GALERA_ROTATION_CHECK_SECONDS: '3' };
    for (const m of cluster.members) {
      const dir = path.join(cluster.root, `${m.name}-credentials`);
      fs.mkdirSync(dir, { mode: 0o755 });
      credentials.push(dir);
      writeCredentials(m.ordinal, 0);
      // Each pod's own Secret volume: the env var the harness sets stays, and the file must win over it.
      const base = m.containerEnv.bind(m);
      m.containerEnv = () => ({ ...base(), GALERA_CREDENTIALS_DIR: dir });
    }
    await cluster.bootstrapFromFirst({ bootstrapMs: 180_000, joinMs: 400_000 });
    await waitAllSynced(cluster.members, 120_000);
  });

  afterAll(async () => {
    // eslint-disable-next-line no-console
    console.log(log.join('\n'));
    await cluster?.destroy(80);
  });

  test('rotations under load: every SST succeeds, no consumer login refused, the old passwords refused after the grace, no acknowledged row lost', async () => {
    const [m0, m1, m2] = cluster.members;
    await m0.sql(`CREATE DATABASE IF NOT EXISTS itest; CREATE TABLE IF NOT EXISTS ${TABLE} (id INT PRIMARY KEY, member VARCHAR(32))`);
    // The first SSTs (the joins) used version 0; the accounts accept it.
    for (const m of cluster.members) expect(await socketLogin(m, 'mariabackup', SST[0])).toBe('ok');
    const writer = new AckedWriter(TABLE);
    writer.start(() => [m0, m1, m2]);
    const consumers = cluster.members.flatMap((m) => [
      new Consumer(m, 'root', ROOT[0], () => ROOT[holds[m.ordinal]]),
      new Consumer(m, 'mariabackup', SST[0], () => SST[holds[m.ordinal]]),
    ]);
    try {
      await sleep(3000);
      // 1. galera-0 first.
      const rotated = Date.now();
      writeCredentials(0, 1);
      await waitFor('galera-0 accepts the new passwords', 60_000, async () => (await socketLogin(m0, 'root', ROOT[1]) === 'ok'
        && await socketLogin(m0, 'mariabackup', SST[1]) === 'ok' ? true : undefined));
      say(`new passwords accepted ${(Date.now() - rotated) / 1000} s after galera-0's files changed`);
      // Cluster-wide: galera-1, whose files are still old, accepts both.
      expect(await socketLogin(m1, 'mariabackup', SST[1])).toBe('ok');
      expect(await socketLogin(m1, 'mariabackup', SST[0])).toBe('ok');

      // 2. In the grace: galera-2 restarted, files already new, SST from galera-1 (old wsrep_sst_auth).
      expect(holds[1]).toBe(0);
      expect(fs.readFileSync(path.join(m1.runDir, '99-runtime.cnf'), 'utf8')).toContain('sst0');
      const sstInGrace = await rebuild(m2, 'galera-1', 1);
      expect(fs.readFileSync(path.join(m2.runDir, '99-runtime.cnf'), 'utf8')).toContain('sst1');
      // Still in the grace when it ended: the donor's old password was accepted throughout.
      expect(await socketLogin(m1, 'mariabackup', SST[0])).toBe('ok');

      // 3. galera-1 follows; the grace ends.
      writeCredentials(1, 1);
      const oldRefusedAfter = await waitOldRefused(0, rotated);
      say(`version 0 refused everywhere ${oldRefusedAfter} s after the first change (grace ${GRACE_SECONDS} s)`);
      expect(oldRefusedAfter).toBeGreaterThanOrEqual(GRACE_SECONDS);

      // 4. After the grace: an SST from galera-0, which never restarted (its option file still says version 0).
      expect(fs.readFileSync(path.join(m0.runDir, '99-runtime.cnf'), 'utf8')).toContain('sst0');
      const sstAfterGrace = await rebuild(m1, 'galera-0', 1);

      // 5. Two changes in a row on every member (the second once the clients have moved to the first: only one old
      // password is kept, so a client still on the one before is refused from the second change on), then an SST
      // (from galera-1) in the new grace.
      for (const m of cluster.members) writeCredentials(m.ordinal, 2);
      await waitFor('every client on version 2', 60_000, () => (consumers.every((c) => c.holding === SST[2] || c.holding === ROOT[2]) ? true : undefined));
      for (const m of cluster.members) writeCredentials(m.ordinal, 3);
      await waitFor('every member accepts version 3', 60_000, async () => {
        for (const m of cluster.members) if (await socketLogin(m, 'mariabackup', SST[3]) !== 'ok' || await socketLogin(m, 'root', ROOT[3]) !== 'ok') return undefined;
        return true;
      });
      await sleep(3000);
      const sstTwice = await rebuild(m2, 'galera-1', 3);
      say(`SSTs: in the grace ${sstInGrace} s, after it ${sstAfterGrace} s, after a double change ${sstTwice} s`);
      await sleep(3000);
    } finally {
      await writer.stop();
      for (const c of consumers) await c.stop();
    }
    const summary = consumers.map((c, i) => `${cluster.members[Math.floor(i / 2)].name} ${i % 2 === 0 ? 'root' : 'mariabackup'}: ${c.ok} ok, ${c.denied.length} refused, `
      + `${c.unavailable} unavailable; switches ${c.switches.join('; ')}`);
    say(`consumers:\n${summary.join('\n')}`);
    say(`writes: ${writer.acked.size} acknowledged, ${writer.failures} failed (not acknowledged)`);
    expect(consumers.flatMap((c) => c.denied)).toEqual([]);
    expect(consumers.reduce((n, c) => n + c.ok, 0)).toBeGreaterThan(100);
    for (const m of cluster.members) expect(await writer.missingOn(m)).toEqual([]);
    // Only the newest passwords are left once the last grace is over... not waited for here; the old ones of the
    // first rotation stay refused.
    for (const m of cluster.members) {
      expect(await socketLogin(m, 'root', ROOT[0])).toBe('denied');
      expect(await socketLogin(m, 'mariabackup', SST[0])).toBe('denied');
    }
  });
});
