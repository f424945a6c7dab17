/**
 * GaleraPetSet runtime with real daemons: the rendered server config, the entrypoint, the probes and
 * apply-users.sh, on three members at 127.0.1.1-3. The test plays the recovery agent: it writes the decisions
 * (bootstrap for galera-0, join for the others).
 */
import { renderUsersFile } from '../../lib/galera/users';
import { acquireGaleraLock, describeWithGalera, GaleraTestCluster, HARD_NOFILE, MONITOR_PASSWORD, releaseGaleraLock, ROOT_PASSWORD, SST_PASSWORD } from './galera-harness';

jest.setTimeout(360_000);

/** Quotes, backslashes, SQL comment and statement breakers, a tab, non-ASCII, a dollar and a backtick. */
const HOSTILE = {
  NOVA_DB_PASSWORD: `no'va\\"; DROP USER root; -- \t€$x\`y`,
  KEYSTONE_DB_PASSWORD: `\\'\\\\''"`,
  RO_DB_PASSWORD: `%_*?[]{}'`,
};

describeWithGalera('Galera cluster (entrypoint, config, probes, users)', () => {
  let cluster: GaleraTestCluster;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    await acquireGaleraLock(600_000);
    cluster = new GaleraTestCluster(['127.0.1.1', '127.0.1.2', '127.0.1.3']);
    cluster.extraEnv = HOSTILE;
    cluster.writeUsersFile(renderUsersFile([
      { name: 'nova', passwordEnv: 'NOVA_DB_PASSWORD', databases: ['nova', 'nova_api', 'nova_cell0'] },
      { name: 'keystone', passwordEnv: 'KEYSTONE_DB_PASSWORD', databases: ['keystone'], maxConnections: 50 },
      { name: 'reader', host: '127.0.0.%', passwordEnv: 'RO_DB_PASSWORD', databases: ['nova'], privileges: ['SELECT'] },
    ]));
  }, 660_000); // includes waiting for the other Galera test file (shared addresses)

  afterAll(async () => {
    await cluster?.destroy();
    releaseGaleraLock();
    console.log(`Galera cluster timings (s): ${JSON.stringify(timings)}`);
  });

  test('the first member bootstraps a brand-new cluster from an empty volume, the others join by SST', async () => {
    const [first, ...others] = cluster.members;
    let t0 = Date.now();
    first.startEntrypoint();
    await first.decide('bootstrap');
    await first.waitSynced(60_000);
    timings.bootstrapToSynced = (Date.now() - t0) / 1000;
    expect(first.readJson('state.json')).toEqual(expect.objectContaining({ data: 'empty' }));

    t0 = Date.now();
    for (const member of others) member.startEntrypoint();
    // One donor serves one SST at a time: the second joiner waits for the first (about 2 x 13 s here, but a loaded
    // 2-core CI machine once needed more than 90 s). The bound is generous; the time is reported, not asserted.
    // A cut SST is asked for again, as the agent would answer it (joinUntilSynced says why); the count is reported.
    const retries = await Promise.all(others.map((member) => member.joinUntilSynced(200_000)));
    timings.twoJoinersBySstToSynced = (Date.now() - t0) / 1000;
    timings.sstRetries = retries.reduce((a, b) => a + b, 0);
    // The joiners' mariadb-upgrade (once after an SST) and the users, before the tests that log in on any member.
    await Promise.all(cluster.members.map((member) => member.waitSettled(180_000)));
    timings.allSettled = (Date.now() - t0) / 1000;
    for (const member of cluster.members) {
      expect(await member.sql("SHOW STATUS LIKE 'wsrep_cluster_size'")).toBe('wsrep_cluster_size\t3');
    }
  });

  test('mariadbd gets more open files than the container\'s soft limit of 1024: the entrypoint raises it', async () => {
    for (const member of cluster.members) {
      const limit = Number((await member.sql('SELECT @@open_files_limit')).trim());
      expect(limit).toBeGreaterThan(1024);
      expect(limit).toBeLessThanOrEqual(HARD_NOFILE);
    }
  });

  test('a write on one member is read on the others', async () => {
    const [a, b, c] = cluster.members;
    await a.sql('CREATE DATABASE itest; CREATE TABLE itest.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO itest.t VALUES (1, "from-a")');
    await b.sql('SET SESSION wsrep_sync_wait=15; INSERT INTO itest.t VALUES (2, "from-b")');
    for (const member of [a, b, c]) {
      expect(await member.sql('SET SESSION wsrep_sync_wait=1; SELECT GROUP_CONCAT(v ORDER BY id) FROM itest.t')).toBe('from-a,from-b');
    }
  });

  test('readiness: ready on every Synced member, not ready while desynced; liveness passes', async () => {
    for (const member of cluster.members) {
      expect((await member.script('probe.sh', 'ready')).code).toBe(0);
      expect((await member.script('probe.sh', 'live')).code).toBe(0);
    }
    const desynced = cluster.members[1];
    await desynced.sql('SET GLOBAL wsrep_desync=ON');
    const notReady = await desynced.script('probe.sh', 'ready');
    expect(notReady.code).toBe(1);
    expect(notReady.stdout).toContain('desync=ON');
    expect((await desynced.script('probe.sh', 'live')).code).toBe(0);
    await desynced.sql('SET GLOBAL wsrep_desync=OFF');
    expect((await desynced.script('probe.sh', 'ready')).code).toBe(0);
  });

  test('apply-users: users with hostile passwords log in where they are allowed; a re-run changes nothing', async () => {
    const [a, b, c] = cluster.members;
    // Every entrypoint applied them once Synced (the first test waits for that); a run of its own proves the script.
    // (Loopback connections come from 127.0.0.1, so the host-restricted account is '127.0.0.%'.)
    expect((await a.script('apply-users.sh')).code).toBe(0);
    expect((await c.login('nova', HOSTILE.NOVA_DB_PASSWORD)).stdout.trim()).toBe('nova@%');
    expect((await b.login('keystone', HOSTILE.KEYSTONE_DB_PASSWORD)).stdout.trim()).toBe('keystone@%');
    expect((await a.login('reader', HOSTILE.RO_DB_PASSWORD)).stdout.trim()).toBe('reader@127.0.0.%');
    expect((await a.login('monitor', MONITOR_PASSWORD, "SHOW STATUS LIKE 'wsrep_local_state'")).stdout.trim()).toBe('wsrep_local_state\t4');
    expect((await a.login('nova', 'wrong')).code).not.toBe(0);
    expect((await b.login('reader', HOSTILE.RO_DB_PASSWORD, 'INSERT INTO nova.x VALUES (1)')).stderr).toMatch(/denied|doesn't exist/);
    expect(await a.sql('SHOW DATABASES')).toEqual(expect.stringContaining('nova_cell0'));
    expect(await a.sql("SELECT max_user_connections FROM mysql.user WHERE User='keystone'")).toBe('50');
    // The SST user works: it is what a joiner's SST used above; and its grants are exactly what mariabackup needs.
    expect(await a.sql("SHOW GRANTS FOR 'mariabackup'@'localhost'")).toContain('RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR');
    expect(SST_PASSWORD).toMatch(/['"\\]/);

    const before = await grantsAndHashes(a);
    const lastCommitted = async () => (await a.sql("SHOW STATUS LIKE 'wsrep_last_committed'")).split('\t')[1];
    const seqnoBefore = await lastCommitted();
    const rerun = await b.script('apply-users.sh');
    expect(rerun.code).toBe(0);
    expect(await grantsAndHashes(a)).toEqual(before);
    // Replicated events of a re-run: one GRANT per database grant (harmless, idempotent); no CREATE or ALTER.
    console.log(`apply-users re-run: wsrep_last_committed ${seqnoBefore} -> ${await lastCommitted()}`);
  });

  test('apply-users: a password change applies and a bad users file is refused as a whole', async () => {
    const a = cluster.members[0];
    const changed = await runWithEnv(a, { KEYSTONE_DB_PASSWORD: "n3w'pass" });
    expect(changed.code).toBe(0);
    expect((await a.login('keystone', "n3w'pass")).stdout.trim()).toBe('keystone@%');
    expect((await a.login('keystone', HOSTILE.KEYSTONE_DB_PASSWORD)).code).not.toBe(0);
    expect((await a.login('root', ROOT_PASSWORD)).code).not.toBe(0); // root@localhost only, not over TCP

    cluster.writeUsersFile('bad user\t%\tNOVA_DB_PASSWORD\t0\tALL PRIVILEGES\tnova\nx\t%\tUNSET_PASSWORD_VAR\t0\tSELECT; DROP\tnova\n');
    const refused = await a.script('apply-users.sh');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("user name 'bad user'");
    expect(refused.stderr).toContain('UNSET_PASSWORD_VAR');
    expect(refused.stderr).toContain('privileges');
  });

  async function runWithEnv(member: (typeof cluster.members)[number], env: Record<string, string>) {
    const saved = cluster.extraEnv;
    cluster.extraEnv = { ...saved, ...env };
    try {
      return await member.script('apply-users.sh');
    } finally {
      cluster.extraEnv = saved;
    }
  }
});

async function grantsAndHashes(member: { sql(q: string): Promise<string> }): Promise<string> {
  const accounts = (await member.sql("SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.user WHERE User IN ('nova','keystone','reader','monitor','mariabackup') ORDER BY 1")).split('\n');
  const grants = await Promise.all(accounts.map((account) => member.sql(`SHOW GRANTS FOR ${account}`)));
  return `${await member.sql('SELECT User, Host, authentication_string, max_user_connections FROM mysql.user ORDER BY User, Host')}\n${grants.join('\n')}`;
}
