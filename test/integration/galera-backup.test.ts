/**
 * GaleraBackup's scripts with real daemons: three members (the Galera harness, 127.0.1.1-3) each with the backup
 * sidecar (assets/galera-backup/serve.sh under socat, as the pod runs it), the backup job (backup.sh) and the
 * restore (restore.sh) run as the mysql user with the environment the construct gives them, against a volume
 * destination (rclone's local backend) and an S3 server started here on 127.0.17.1 (s3rver, from npm).
 */
import { ChildProcess, execFile, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import {
  acquireGaleraLock, AckedWriter, GaleraTestCluster, Member, missingGaleraTools, releaseGaleraLock, sleep, waitFor,
} from './galera-harness';
import { describeUnlessMissing, waitForTcp, which } from './support/daemons';
import { startBackupSidecar, stopBackupSidecar } from './support/galera-backup';
import { BINLOG_GTID_DOMAIN } from '../../lib/galera-backup/model';

jest.setTimeout(600_000);

const REPO = path.resolve(__dirname, '../..');
const BACKUP_ASSETS = path.join(REPO, 'assets/galera-backup');
const SIDECAR_PORT = 4445;
const TOKEN = 'backup-t0ken';
const S3 = { address: '127.0.17.1', port: 4569, bucket: 'backups' };
const MYSQL = { uid: -1, gid: -1 };
try {
  MYSQL.uid = Number(execFileSync('id', ['-u', 'mysql']).toString());
  MYSQL.gid = Number(execFileSync('id', ['-g', 'mysql']).toString());
} catch {
  // missingGaleraTools() reports the missing user.
}

interface Run { code: number; stdout: string; stderr: string; ms: number }

/** Runs a backup script as the mysql user (the pod's uid) with only the env the construct sets. */
function runScript(script: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 180_000): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile('bash', [path.join(BACKUP_ASSETS, script), ...args], {
      uid: MYSQL.uid, gid: MYSQL.gid, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024,
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/tmp', ...env },
    }, (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) || 1 : 0, stdout, stderr, ms: Date.now() - t0 }));
  });
}

/** The p-th percentile of `values` (nearest rank). */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/**
 * Writes one row per statement over one persistent client session to the writer, measuring each commit's latency.
 * The client stops at the first error (no --force), so a failed write is seen as a dead session and counted.
 */
class TimedWriter {
  public readonly acked: number[] = [];
  public readonly latencies: Array<{ at: number; ms: number }> = [];
  public failures = 0;
  private next = 1;
  private running = false;
  private loop?: Promise<void>;

  public constructor(private readonly member: Member, private readonly table: string) {}

  public start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const client = spawn('mariadb', [`--defaults-file=${path.join(this.member.runDir, 'client.cnf')}`, '-N', '-B', '--unbuffered'],
          { uid: MYSQL.uid, gid: MYSQL.gid, stdio: ['pipe', 'pipe', 'ignore'] });
        let buffered = '';
        let waiter: ((line: string | undefined) => void) | undefined;
        client.stdout!.on('data', (chunk) => {
          buffered += chunk.toString();
          const lines = buffered.split('\n');
          buffered = lines.pop()!;
          for (const line of lines) waiter?.(line);
        });
        client.on('exit', () => waiter?.(undefined));
        client.stdin!.on('error', () => undefined);
        while (this.running) {
          const id = this.next++;
          const t0 = performance.now();
          const answer = new Promise<string | undefined>((resolve) => { waiter = resolve; });
          client.stdin!.write(`INSERT INTO ${this.table} (id, pad) VALUES (${id}, REPEAT('x', 200)); SELECT ${id};\n`);
          let timer: NodeJS.Timeout | undefined;
          const line = await Promise.race([answer, new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), 10_000); })]);
          clearTimeout(timer);
          if (line !== String(id)) {
            this.failures++;
            break;
          }
          this.latencies.push({ at: Date.now(), ms: performance.now() - t0 });
          this.acked.push(id);
          await sleep(10);
        }
        client.kill('SIGKILL');
      }
    })();
  }

  public async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

const missing = [...missingGaleraTools(), ...(which('rclone') ? [] : ['rclone'])];

describeUnlessMissing('GaleraBackup scripts (sidecar, backup job, restore) on a real 3-member cluster', missing,
  'apt-get install mariadb-server galera-4 mariadb-backup socat rclone, and run as root', () => {
  let cluster: GaleraTestCluster;
  let root: string;
  const sidecars = new Map<string, ChildProcess>();
  let s3: { close: () => Promise<void> } | undefined;
  const figures: Record<string, unknown> = {};

  const membersEnv = () => ({
    // The writer's order of preference (ProxySQL's): galera-0 first.
    BACKUP_MEMBERS: cluster.members.map((m) => `${m.name}=${m.ip}`).join(' '),
    BACKUP_PORT: String(SIDECAR_PORT),
    BACKUP_TOKEN: TOKEN,
    BACKUP_WORK_DIR: path.join(root, 'work'),
  });
  const volumeEnv = (dir: string) => ({ ...membersEnv(), BACKUP_REMOTE: `dest:${dir}`, RCLONE_CONFIG_DEST_TYPE: 'local' });
  const s3Env = () => ({
    ...membersEnv(),
    BACKUP_REMOTE: `dest:${S3.bucket}/itest/full`,
    RCLONE_CONFIG_DEST_TYPE: 's3',
    RCLONE_CONFIG_DEST_PROVIDER: 'Other',
    RCLONE_CONFIG_DEST_ENDPOINT: `http://${S3.address}:${S3.port}`,
    RCLONE_CONFIG_DEST_ACCESS_KEY_ID: 'S3RVER',
    RCLONE_CONFIG_DEST_SECRET_ACCESS_KEY: 'S3RVER',
    RCLONE_CONFIG_DEST_REGION: 'us-east-1',
  });
  const retention = (count: number, maxAgeSeconds = 86400 * 30) => ({ RETENTION_COUNT: String(count), RETENTION_MAX_AGE_SECONDS: String(maxAgeSeconds) });

  const startSidecar = (member: Member) => sidecars.set(member.name, startBackupSidecar(cluster, member, TOKEN, { BINLOG_GTID_DOMAIN: String(BINLOG_GTID_DOMAIN) }));

  function backupIds(dir: string): string[] {
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => /^\d{8}T\d{6}Z$/.test(d)).sort() : [];
  }

  beforeAll(async () => {
    await acquireGaleraLock(600_000);
    cluster = new GaleraTestCluster(['127.0.1.1', '127.0.1.2', '127.0.1.3']);
    // What GaleraBackup's binlogArchive puts in server.cnf (64 MiB files, kept 3 days).
    cluster.binlog = { gtidDomainId: BINLOG_GTID_DOMAIN, expireSeconds: 3 * 86400, maxFileBytes: 64 * 1024 * 1024 };
    root = cluster.root;
    for (const dir of ['work', 'volume', 's3', 'pitr']) {
      fs.mkdirSync(path.join(root, dir));
      fs.chownSync(path.join(root, dir), MYSQL.uid, MYSQL.gid);
    }
    cluster.writeUsersFile('');
    await cluster.bootstrapFromFirst();
    const [first] = cluster.members;
    for (const m of cluster.members) startSidecar(m);
    for (const m of cluster.members) await waitForTcp(m.ip, SIDECAR_PORT);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const S3rver = require('s3rver');
    const server = new S3rver({ address: S3.address, port: S3.port, silent: true, directory: path.join(root, 's3'), configureBuckets: [{ name: S3.bucket }] });
    await server.run();
    s3 = server;
    // About 40 MB of rows, so that a backup takes long enough for writes to happen during it.
    await first.sql(`CREATE DATABASE itest; CREATE TABLE itest.bulk (id INT PRIMARY KEY, pad VARCHAR(1000));
      CREATE TABLE itest.w (id INT PRIMARY KEY, pad VARCHAR(255)); CREATE TABLE itest.acked (id INT PRIMARY KEY, member VARCHAR(32));
      CREATE TABLE itest.late (id INT PRIMARY KEY, member VARCHAR(32))`);
    for (let chunk = 0; chunk < 8; chunk++) {
      await first.sql(`USE itest; INSERT INTO itest.bulk SELECT seq, REPEAT(MD5(seq), 30) FROM seq_${chunk * 5000 + 1}_to_${(chunk + 1) * 5000}`, 60_000);
    }
  }, 900_000);

  afterAll(async () => {
    await s3?.close();
    await cluster?.destroy();
    releaseGaleraLock();
    console.log(`GaleraBackup figures: ${JSON.stringify(figures)}`);
  });

  test('a member\'s sidecar answers its state only to the token; the writer is never chosen', async () => {
    const [first] = cluster.members;
    const ask = (token: string) => new Promise<string>((resolve) => {
      const c = spawn('socat', ['-t', '5', '-', `TCP:${first.ip}:${SIDECAR_PORT}`]);
      let out = '';
      c.stdout.on('data', (d) => { out += d; });
      c.on('exit', () => resolve(out.trim()));
      c.stdin.end(`${token} status\n`);
    });
    // State, cluster status, desync, and the writer the replicated writer row names (what choose_source excludes).
    const writer = await first.sql('SELECT member FROM galera_ha.writer WHERE id = 1');
    expect(writer).toMatch(/^galera-[0-2]$/);
    expect(await ask(TOKEN)).toBe(`4 Primary OFF ${writer}`);
    expect(await ask('wrong')).toBe('refused: bad token');
  });

  test('volume: a backup under continuous writes comes from a Synced non-writer, desyncs it only meanwhile, and no write fails', async () => {
    const dir = path.join(root, 'volume');
    const writer = new TimedWriter(cluster.members[0], 'itest.w');
    writer.start();
    await sleep(8000);
    const before = writer.latencies.length;
    const t0 = Date.now();
    const run = await runScript('backup.sh', [], { ...volumeEnv(dir), ...retention(3) });
    const t1 = Date.now();
    await sleep(3000);
    await writer.stop();
    expect(run.stderr).toMatch(/backup \d{8}T\d{6}Z: complete/);
    expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 });
    // galera-0 is the writer; galera-2 is the last in the order among the other Synced members.
    expect(run.stderr).toContain('from galera-2');
    expect(writer.failures).toBe(0);
    const ids = backupIds(dir);
    expect(ids).toHaveLength(1);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, ids[0], 'backup.json'), 'utf8'));
    expect(manifest).toEqual(expect.objectContaining({ id: ids[0], source: 'galera-2', format: 'mbstream+gzip' }));
    expect(fs.statSync(path.join(dir, ids[0], 'backup.mbstream.gz')).size).toBe(manifest.bytes);
    // Resynced afterwards: every member Synced and ready again.
    await waitFor('galera-2 Synced after the backup', 30_000, () => (cluster.members[2].synced() ? true : undefined));
    expect(await cluster.members[2].sql("SHOW VARIABLES LIKE 'wsrep_desync'")).toBe('wsrep_desync\tOFF');
    const during = writer.latencies.filter((l) => l.at >= t0 && l.at <= t1).map((l) => l.ms);
    const without = writer.latencies.slice(0, before).map((l) => l.ms);
    figures.volumeBackup = {
      seconds: run.ms / 1000, bytes: manifest.bytes, writesDuring: during.length,
      p99DuringMs: +percentile(during, 99).toFixed(1), p99WithoutMs: +percentile(without, 99).toFixed(1),
      p50DuringMs: +percentile(during, 50).toFixed(1), p50WithoutMs: +percentile(without, 50).toFixed(1), failedWrites: writer.failures,
    };
    expect(during.length).toBeGreaterThan(0);
  });

  test('S3: a backup goes to a real S3-protocol server and comes back byte for byte', async () => {
    const run = await runScript('backup.sh', [], { ...s3Env(), ...retention(3) });
    expect(run.stderr).toMatch(/complete/);
    expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 });
    // Asynchronously: the S3 server runs in this process, so a synchronous child would wait for it forever.
    const objects = await new Promise<string>((resolve, reject) => execFile('rclone', ['--config=/dev/null', 'lsf', '-R', '--files-only', s3Env().BACKUP_REMOTE],
      { env: { PATH: process.env.PATH, ...s3Env() } }, (error, stdout) => (error ? reject(error) : resolve(stdout))));
    const ids = [...new Set(objects.split('\n').filter(Boolean).map((l) => l.split('/')[0]))];
    expect(ids).toHaveLength(1);
    expect(objects).toContain(`${ids[0]}/backup.json`);
    expect(objects).toContain(`${ids[0]}/backup.mbstream.gz`);
    // restore.sh into a scratch dir (no member involved): it fetches, checks, prepares.
    const scratch = fs.mkdtempSync(path.join(root, 'work', 'scratch-'));
    fs.chownSync(scratch, MYSQL.uid, MYSQL.gid);
    const restore = await runScript('restore.sh', ['latest', scratch], { ...s3Env(), RESTORE_SKIP_LIVE_CHECK: '1' });
    expect(restore.stderr).toContain(`restore ${ids[0]}: done`);
    expect(restore.code).toBe(0);
    expect(fs.existsSync(path.join(scratch, 'itest', 'bulk.ibd'))).toBe(true);
    expect(fs.readFileSync(path.join(scratch, 'grastate.dat'), 'utf8')).toMatch(/seqno: +\d+/);
    figures.s3 = { backupSeconds: run.ms / 1000, restoreSeconds: restore.ms / 1000 };
  });

  test('retention keeps the newest N complete backups, removes those past the age and dead jobs\' leftovers', async () => {
    const dir = path.join(root, 'volume');
    // An old complete backup (past any age), and an old incomplete one (a job that died).
    for (const [id, complete] of [['20200101T000000Z', true], ['20200102T000000Z', false]] as const) {
      fs.mkdirSync(path.join(dir, id));
      fs.writeFileSync(path.join(dir, id, 'backup.mbstream.gz'), 'x');
      if (complete) fs.writeFileSync(path.join(dir, id, 'backup.json'), '{}');
      execFileSync('chown', ['-R', `${MYSQL.uid}:${MYSQL.gid}`, path.join(dir, id)]);
    }
    const existing = backupIds(dir).filter((id) => !id.startsWith('2020'));
    for (let i = 0; i < 2; i++) {
      await sleep(1100); // ids are per second
      const run = await runScript('backup.sh', [], { ...volumeEnv(dir), ...retention(2, 86400) });
      expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 });
    }
    const after = backupIds(dir);
    expect(after).toHaveLength(2);
    expect(after).not.toContain('20200101T000000Z');
    expect(after).not.toContain('20200102T000000Z');
    for (const id of existing) expect(after).not.toContain(id);
  });

  test('with one member down the backup comes from the other non-writer; with two down it refuses and stores nothing', async () => {
    const dir = path.join(root, 'volume');
    const [, second, third] = cluster.members;
    await third.stop();
    const oneDown = await runScript('backup.sh', [], { ...volumeEnv(dir), ...retention(5) });
    expect(oneDown.stderr).toContain('from galera-1');
    expect({ code: oneDown.code, stderr: oneDown.stderr }).toMatchObject({ code: 0 });
    const count = backupIds(dir).length;
    await second.stop();
    const twoDown = await runScript('backup.sh', [], { ...volumeEnv(dir), ...retention(5) });
    expect(twoDown.code).not.toBe(0);
    expect(twoDown.stderr).toMatch(/no member may be backed up: 1 Synced member\(s\).*the writer \(galera-0\) is never a source/);
    expect(backupIds(dir)).toHaveLength(count);
    await cluster.joinInTurn([second, third], 200_000);
  });

  test('restore refuses while the cluster runs, an unknown backup and a corrupted one, and changes nothing', async () => {
    const dir = path.join(root, 'volume');
    const target = cluster.members[0];
    const live = await runScript('restore.sh', ['latest', target.dataDir], volumeEnv(dir));
    expect(live.code).toBe(2);
    expect(live.stderr).toMatch(/REFUSED, nothing changed: member galera-0 is running/);
    const scratch = fs.mkdtempSync(path.join(root, 'work', 'scratch-'));
    fs.chownSync(scratch, MYSQL.uid, MYSQL.gid);
    fs.writeFileSync(path.join(scratch, 'sentinel'), 'untouched');
    const unknown = await runScript('restore.sh', ['20991231T000000Z', scratch], { ...volumeEnv(dir), RESTORE_SKIP_LIVE_CHECK: '1' });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/backup '20991231T000000Z' does not exist or is incomplete.*complete backups: \d{8}T/);
    // A corrupted copy: one byte flipped in the middle of the stream.
    const corrupt = path.join(root, 'corrupt');
    execFileSync('cp', ['-a', dir, corrupt]);
    const id = backupIds(corrupt).at(-1)!;
    const stream = path.join(corrupt, id, 'backup.mbstream.gz');
    const bytes = fs.readFileSync(stream);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(stream, bytes);
    const bad = await runScript('restore.sh', [id, scratch], { ...volumeEnv(corrupt), RESTORE_SKIP_LIVE_CHECK: '1' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/REFUSED, nothing changed: backup \d+T\d+Z is corrupt|could not be unpacked/);
    expect(fs.readdirSync(scratch)).toEqual(['sentinel']);
    for (const m of cluster.members) expect(m.synced()).toBe(true);
  });

  test('drill: the latest backup restores into a scratch server, every table opens, its sentinel row is there; a corrupt one is reported', async () => {
    const dir = path.join(root, 'volume');
    const metrics = path.join(root, 'work', 'drill.prom');
    const run = await runScript('drill.sh', [], { ...volumeEnv(dir), DRILL_TABLES: 'itest.bulk itest.w', DRILL_METRICS_FILE: metrics });
    const result = JSON.parse(run.stdout.split('\n').find((l) => l.includes('"drill result"'))!);
    expect(result).toEqual(expect.objectContaining({ ok: true, backup: backupIds(dir).at(-1) }));
    expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 });
    expect(run.stderr).toContain('itest.bulk has 40000 rows');
    const text = fs.readFileSync(metrics, 'utf8');
    expect(text).toMatch(/^galera_backup_drill_success 1$/m);
    expect(text).toMatch(/^galera_backup_drill_restore_duration_seconds \d+$/m);
    expect(fs.readFileSync(path.join(dir, 'drill.prom'), 'utf8')).toBe(text);
    figures.drillSeconds = run.ms / 1000;

    const corrupt = await runScript('drill.sh', [], { ...volumeEnv(path.join(root, 'corrupt')), DRILL_METRICS_FILE: metrics });
    expect(corrupt.code).not.toBe(0);
    expect(JSON.parse(corrupt.stdout.split('\n').find((l) => l.includes('"drill result"'))!)).toEqual(expect.objectContaining({
      ok: false, reason: expect.stringMatching(/restore failed: .*(corrupt|could not be unpacked)/),
    }));
    expect(fs.readFileSync(metrics, 'utf8')).toMatch(/^galera_backup_drill_success 0$/m);
    for (const m of cluster.members) expect(m.synced()).toBe(true);
  });

  /** Starts a private mariadbd on a restored data dir (as the drill does), runs `sql`, stops it. */
  async function queryRestored(datadir: string, sql: string): Promise<string> {
    const socket = path.join(datadir, 'check.sock');
    const server = spawn('mariadbd', ['--no-defaults', `--datadir=${datadir}`, `--socket=${socket}`, '--skip-networking', '--wsrep-on=OFF',
      '--skip-log-bin', '--innodb-buffer-pool-size=64M', `--log-error=${datadir}/check.err`], { uid: MYSQL.uid, gid: MYSQL.gid, stdio: 'ignore' });
    const query = () => new Promise<string | undefined>((resolve) => execFile('mariadb', ['--no-defaults', `--socket=${socket}`, '--user=mysql', '-N', '-B', '-e', sql],
      { uid: MYSQL.uid, gid: MYSQL.gid }, (error, stdout) => resolve(error ? undefined : stdout.trim())));
    try {
      return await waitFor('the restored server answers', 60_000, query);
    } finally {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
  }

  /** The archive pass's JSON log line. */
  const archivePass = (run: Run) => JSON.parse(run.stdout.split('\n').find((l) => l.includes('"archive pass"')) ?? '{}');

  test('point in time: every member writes the same GTIDs; the archive continues from another member by GTID; a restore to just before a DROP TABLE brings back exactly the rows before it; points outside the archive are refused', async () => {
    const dir = path.join(root, 'pitr');
    const env = { ...volumeEnv(dir), BINLOG_GTID_DOMAIN: String(BINLOG_GTID_DOMAIN) };
    const [first] = cluster.members;
    await first.sql(`USE itest; CREATE TABLE itest.pitr (id INT PRIMARY KEY, at DATETIME(6));
      CREATE TABLE itest.victim (id INT PRIMARY KEY); INSERT INTO itest.victim SELECT seq FROM seq_1_to_100;
      INSERT INTO itest.pitr VALUES (1, UTC_TIMESTAMP(6))`);
    const backup = await runScript('backup.sh', [], { ...env, ...retention(5) });
    expect({ code: backup.code, stderr: backup.stderr }).toMatchObject({ code: 0 });
    const first1 = await runScript('archive.sh', [], env);
    expect({ code: first1.code, stderr: first1.stderr }).toMatchObject({ code: 0 });
    const sticky = archivePass(first1).member as string;
    expect(sticky).toMatch(/^galera-[0-2]$/);
    // Acknowledged before the point: rows 2-6; the point is the next whole second after the last of them.
    for (let id = 2; id <= 6; id++) await first.sql(`INSERT INTO itest.pitr VALUES (${id}, UTC_TIMESTAMP(6))`);
    const until = new Date(Math.ceil((Date.now() + 1) / 1000) * 1000);
    const untilText = until.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
    await sleep(until.getTime() - Date.now() + 300);
    const second = await runScript('archive.sh', [], env);
    expect({ code: second.code, pass: archivePass(second) }).toMatchObject({ code: 0, pass: { member: sticky, gaps: 0 } });
    expect(archivePass(second).shipped).toBeGreaterThan(0); // rows 2-6
    // The archiving member drops out (desynced: its sidecar refuses to list), after the point: rows 101-105, the
    // bad migration.
    const stickyMember = cluster.members.find((m) => m.name === sticky)!;
    await stickyMember.sql('SET GLOBAL wsrep_desync=ON');
    try {
      for (let id = 101; id <= 105; id++) await first.sql(`INSERT INTO itest.pitr VALUES (${id}, UTC_TIMESTAMP(6))`);
      await first.sql('DROP TABLE itest.victim');
      const third = await runScript('archive.sh', [], env);
      const pass = archivePass(third);
      expect({ code: third.code, stderr: third.stderr }).toMatchObject({ code: 0 });
      expect(pass.member).not.toBe(sticky);
      expect(pass).toMatchObject({ gaps: 0, domain: BINLOG_GTID_DOMAIN });
      // The pass's log says which files it saw against the archive: printed when nothing was shipped.
      expect(pass.shipped > 0 ? 'shipped' : `nothing shipped: ${JSON.stringify(pass)}\n${third.stderr}`).toBe('shipped');
      expect(pass.covered_until * 1000).toBeGreaterThan(until.getTime());
      figures.archive = { passes: [first1, second, third].map((r) => r.ms / 1000), files: pass.files, lastSeq: pass.last_seq };
    } finally {
      await stickyMember.sql('SET GLOBAL wsrep_desync=OFF');
    }
    // Every member wrote the same GTID for the DROP (read from each member's own binary logs).
    const dropGtids = cluster.members.map((m) => {
      const logs = fs.readdirSync(m.dataDir).filter((f) => /^binlog\.\d{6}$/.test(f)).map((f) => path.join(m.dataDir, f));
      const text = execFileSync('mariadb-binlog', [`--do-domain-ids=${BINLOG_GTID_DOMAIN}`, ...logs], { maxBuffer: 256 * 1024 * 1024 }).toString();
      const at = text.indexOf('DROP TABLE `itest`.`victim`') >= 0 ? text.indexOf('DROP TABLE `itest`.`victim`') : text.indexOf('DROP TABLE itest.victim');
      return [...text.slice(0, at).matchAll(/GTID (\d+-\d+-\d+)/g)].at(-1)?.[1];
    });
    expect(dropGtids[0]).toMatch(new RegExp(`^${BINLOG_GTID_DOMAIN}-\\d+-\\d+$`));
    expect(dropGtids).toEqual([dropGtids[0], dropGtids[0], dropGtids[0]]);

    // The restore to just before the point, into a scratch data dir (the cluster's own restore is the next test).
    const scratch = fs.mkdtempSync(path.join(root, 'work', 'pitr-'));
    fs.chownSync(scratch, MYSQL.uid, MYSQL.gid);
    const restore = await runScript('restore.sh', ['latest', scratch, '--until', untilText], { ...env, RESTORE_SKIP_LIVE_CHECK: '1' });
    expect({ code: restore.code, stderr: restore.stderr }).toMatchObject({ code: 0 });
    expect(restore.stderr).toContain(`replayed the archive up to ${untilText}`);
    figures.pointInTimeRestoreSeconds = restore.ms / 1000;
    expect(await queryRestored(scratch, 'SELECT GROUP_CONCAT(id ORDER BY id) FROM itest.pitr')).toBe('1,2,3,4,5,6');
    expect(await queryRestored(scratch, 'SELECT COUNT(*) FROM itest.victim')).toBe('100');

    // To a GTID: the transaction just before the DROP (the last row written), inclusive.
    const [, server, seq] = dropGtids[0]!.split('-');
    const byGtid = fs.mkdtempSync(path.join(root, 'work', 'pitr-gtid-'));
    fs.chownSync(byGtid, MYSQL.uid, MYSQL.gid);
    const gtidRestore = await runScript('restore.sh', ['latest', byGtid, '--until', `${BINLOG_GTID_DOMAIN}-${server}-${Number(seq) - 1}`], { ...env, RESTORE_SKIP_LIVE_CHECK: '1' });
    expect({ code: gtidRestore.code, stderr: gtidRestore.stderr }).toMatchObject({ code: 0 });
    expect(await queryRestored(byGtid, 'SELECT GROUP_CONCAT(id ORDER BY id) FROM itest.pitr')).toBe('1,2,3,4,5,6,101,102,103,104,105');
    expect(await queryRestored(byGtid, 'SELECT COUNT(*) FROM itest.victim')).toBe('100');

    // Refused, nothing changed: a point past the archive, a point before the backup, a GTID before it.
    const untouched = fs.mkdtempSync(path.join(root, 'work', 'untouched-'));
    fs.chownSync(untouched, MYSQL.uid, MYSQL.gid);
    fs.writeFileSync(path.join(untouched, 'sentinel'), 'untouched');
    const later = new Date(Date.now() + 3600_000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
    const earlier = new Date(Date.now() - 86400_000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
    for (const [point, why] of [[later, /past what the archive covers/], [earlier, /before backup \d{8}T\d{6}Z was complete/],
      [`${BINLOG_GTID_DOMAIN}-1-1`, /is before backup/], ['yesterday', /neither a UTC time/]] as const) {
      const refused = await runScript('restore.sh', ['latest', untouched, '--until', point], { ...env, RESTORE_SKIP_LIVE_CHECK: '1' });
      expect({ point, code: refused.code }).toEqual({ point, code: 2 });
      expect(refused.stderr).toMatch(why);
      expect(refused.stderr).toContain('REFUSED, nothing changed');
    }
    expect(fs.readdirSync(untouched)).toEqual(['sentinel']);
    const metrics = fs.readFileSync(path.join(dir, 'binlog', 'archive.prom'), 'utf8');
    expect(metrics).toMatch(/^galera_binlog_archive_gaps 0$/m);
  });

  test('full restore: every row acknowledged before the backup is back on all three members, none written after it', async () => {
    const dir = path.join(root, 'volume');
    const [first, ...others] = cluster.members;
    const acked = new AckedWriter('itest.acked');
    acked.start(() => [first]);
    await sleep(3000);
    await acked.stop();
    const beforeBackup = new Set(acked.acked);
    const run = await runScript('backup.sh', [], { ...volumeEnv(dir), ...retention(10) });
    expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 });
    const id = /backup (\d{8}T\d{6}Z): complete/.exec(run.stderr)![1];
    const after = new AckedWriter('itest.late');
    after.start(() => [first]);
    await sleep(2000);
    await after.stop();
    expect(after.acked.size).toBeGreaterThan(0);

    const t0 = Date.now();
    for (const m of [...others].reverse()) await m.stop();
    await first.stop();
    for (const m of cluster.members) await stopBackupSidecar(sidecars.get(m.name));
    const restore = await runScript('restore.sh', [id, first.dataDir], volumeEnv(dir));
    expect(restore.stderr).toContain(`restore ${id}: done`);
    expect(restore.code).toBe(0);
    // The others are emptied (what their restore templates run): they rejoin the restored member by SST.
    for (const m of others) {
      const emptied = await runScript('restore.sh', ['--empty', m.dataDir], volumeEnv(dir));
      expect({ code: emptied.code, stderr: emptied.stderr }).toMatchObject({ code: 0 });
      expect(fs.readdirSync(m.dataDir)).toEqual(['galera-identity.sst']);
    }
    await cluster.bootstrapFromFirst({ bootstrapMs: 120_000, joinMs: 200_000 });
    for (const m of cluster.members) startSidecar(m);
    figures.fullRestoreToThreeSyncedSeconds = (Date.now() - t0) / 1000;
    for (const m of cluster.members) {
      expect(await acked.missingOn(m, beforeBackup)).toEqual([]);
      expect(await m.sql('SELECT COUNT(*) FROM itest.late')).toBe('0');
      expect(await m.sql('SELECT COUNT(*) FROM itest.bulk')).toBe('40000');
      await m.waitClusterSize(3);
    }
  });
});
