/**
 * GaleraBackup benchmark (`npm run bench` runs it through scripts/bench-galera-backup.sh, under the integration
 * lock): about 1 GiB of rows in a real 3-member cluster (the Galera harness, 127.0.1.1-3); a backup with the shipped
 * scripts to a volume destination on the same disk, against the floor of copying the same data directory with
 * `cp -a` on that disk; the restore until 3 members are Synced; the peak memory (VmHWM) of the processes of the
 * job (rclone) and of the sidecar (mariadb-backup, gzip). Figures, printed; nothing is asserted but success.
 */
import { execFile, execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { acquireGaleraLock, GaleraTestCluster, releaseGaleraLock } from './galera-harness';
import { procFile } from './support/daemons';
import { startBackupSidecar, stopBackupSidecar } from './support/galera-backup';

jest.setTimeout(1_800_000);

const ASSETS = path.resolve(__dirname, '../../assets/galera-backup');
const MYSQL_UID = Number(execFileSync('id', ['-u', 'mysql']).toString());
const MYSQL_GID = Number(execFileSync('id', ['-g', 'mysql']).toString());
const GIB_ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000); // 1 KiB of random bytes each

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}, asMysql = true): Promise<{ code: number; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => execFile(command, args, {
    ...(asMysql ? { uid: MYSQL_UID, gid: MYSQL_GID } : {}), maxBuffer: 64 << 20, timeout: 1_200_000,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/tmp', ...env },
  }, (error, _stdout, stderr) => resolve({ code: error ? 1 : 0, stderr, ms: Date.now() - t0 })));
}

/**
 * Bytes under `dir`. A member that has just joined may still be rewriting its system tables (mariadb-upgrade's
 * ALTERs), so a file can vanish while du walks the directory: du then says so and exits 1 with the total of the rest,
 * which is the figure. Any other complaint fails.
 */
function bytesUnder(dir: string): number {
  const r = spawnSync('du', ['-sb', dir], { encoding: 'utf8' });
  if (r.error) throw r.error; // du did not start: no stderr to read
  const other = r.stderr.split('\n').filter((l) => l !== '' && !l.endsWith('No such file or directory'));
  if (r.status !== 0 && (other.length > 0 || !/^\d+\t/.test(r.stdout))) throw new Error(`du -sb ${dir} exited ${r.status}: ${r.stderr}`);
  return Number(r.stdout.split('\t')[0]);
}

/** Samples /proc every 100 ms: the highest VmHWM (peak resident set) of each process name of interest. */
function memoryPeaks(names: readonly string[]): { stop: () => Record<string, number> } {
  const peaks: Record<string, number> = {};
  const timer = setInterval(() => {
    for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      const status = procFile(pid, 'status');
      if (status === undefined) continue;
      const name = /^Name:\s+(\S+)/m.exec(status)?.[1] ?? '';
      const hwm = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024;
      if (names.includes(name)) peaks[name] = Math.max(peaks[name] ?? 0, Math.round(hwm));
    }
  }, 100);
  return { stop: () => { clearInterval(timer); return peaks; } };
}

test('backup of ~1 GiB against the copy floor, restore to 3 Synced, peak memory', async () => {
  await acquireGaleraLock(600_000);
  const cluster = new GaleraTestCluster(['127.0.1.1', '127.0.1.2', '127.0.1.3']);
  const figures: Record<string, unknown> = {};
  try {
    cluster.writeUsersFile('');
    const [first, ...others] = cluster.members;
    // Load on the first member alone, then let the others join by SST (replicating 1 GiB row by row is slower).
    first.startEntrypoint();
    await first.decide('bootstrap');
    await first.waitSynced(60_000);
    await first.sql('CREATE DATABASE bench; CREATE TABLE bench.t (id INT PRIMARY KEY, pad VARBINARY(1024))');
    const chunk = 50_000;
    for (let from = 1; from <= GIB_ROWS; from += chunk) {
      await first.sql(`USE bench; INSERT INTO t SELECT seq, RANDOM_BYTES(1024) FROM seq_${from}_to_${Math.min(from + chunk - 1, GIB_ROWS)}`, 600_000);
    }
    await cluster.joinInTurn(others, 900_000);
    const sidecars = cluster.members.map((m) => startBackupSidecar(cluster, m, 'bench'));
    const dataBytes = bytesUnder(others[1].dataDir);
    figures.dataDirMiB = Math.round(dataBytes / 2 ** 20);

    const floorDir = path.join(cluster.root, 'floor');
    const floor = await run('cp', ['-a', others[1].dataDir, floorDir], {}, false);
    figures.copyFloorSeconds = floor.ms / 1000;
    fs.rmSync(floorDir, { recursive: true, force: true });

    const dest = path.join(cluster.root, 'dest');
    fs.mkdirSync(dest);
    fs.chownSync(dest, MYSQL_UID, MYSQL_GID);
    const env = {
      BACKUP_MEMBERS: cluster.members.map((m) => `${m.name}=${m.ip}`).join(' '), BACKUP_TOKEN: 'bench', BACKUP_REMOTE: `dest:${dest}`,
      RCLONE_CONFIG_DEST_TYPE: 'local', RETENTION_COUNT: '3', RETENTION_MAX_AGE_SECONDS: '86400', BACKUP_WORK_DIR: path.join(cluster.root, 'work'),
    };
    fs.mkdirSync(env.BACKUP_WORK_DIR);
    fs.chownSync(env.BACKUP_WORK_DIR, MYSQL_UID, MYSQL_GID);
    const sampler = memoryPeaks(['rclone', 'mariadb-backup', 'gzip']);
    const backup = await run('bash', [path.join(ASSETS, 'backup.sh')], env);
    figures.peakMiB = sampler.stop();
    if (backup.code !== 0) throw new Error(backup.stderr);
    const id = fs.readdirSync(dest).find((d) => /^\d{8}T\d{6}Z$/.test(d))!;
    const stored = fs.statSync(path.join(dest, id, 'backup.mbstream.gz')).size;
    figures.backupSeconds = backup.ms / 1000;
    figures.backupMiB = Math.round(stored / 2 ** 20);
    figures.backupMiBPerSecond = +((dataBytes / 2 ** 20) / (backup.ms / 1000)).toFixed(1);
    figures.backupOverFloor = +(backup.ms / floor.ms).toFixed(2);

    const t0 = Date.now();
    for (const m of [...others].reverse()) await m.stop();
    await first.stop();
    for (const sidecar of sidecars) await stopBackupSidecar(sidecar);
    const restore = await run('bash', [path.join(ASSETS, 'restore.sh'), id, first.dataDir], env);
    if (restore.code !== 0) throw new Error(restore.stderr);
    figures.restoreScriptSeconds = restore.ms / 1000;
    for (const m of others) m.wipeData();
    await cluster.bootstrapFromFirst({ bootstrapMs: 300_000, joinMs: 900_000 });
    figures.restoreToThreeSyncedSeconds = (Date.now() - t0) / 1000;
    figures.rows = await first.sql('SELECT COUNT(*) FROM bench.t');
  } finally {
    console.log(`GaleraBackup bench: ${JSON.stringify(figures)}`);
    await cluster.destroy();
    releaseGaleraLock();
  }
});
