/**
 * The tmpdir settings a GaleraPetSet renders, on the real mariadbd: a query whose on-disk temporary table outgrows
 * `tmp_disk_table_size` fails with "table is full" (1114), the server keeps running, and the tmpdir (the pod's
 * /tmp emptyDir) never held more than that table, so the kubelet has no reason to evict the member.
 *
 * A standalone mariadbd on a socket (no network, no Galera): the setting is the server's, not the provider's.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GaleraPetSet, GaleraStorage, Placement, SecretValue } from '../../lib';
import { find, newChart, synth } from '../support/harness';
import { describeWithGalera, sleep, waitFor } from './galera-harness';

const TMP_SIZE_MIB = 256;

/** The [mysqld] settings of the rendered server.cnf, for a GaleraPetSet with a 256 MiB tmpdir. */
function renderedMysqld(): Record<string, string> {
  const chart = newChart('openstack');
  new GaleraPetSet(chart, 'galera', {
    placement: Placement.onNodes([{ name: 'ctl-1', ip: '10.0.0.11' }, { name: 'ctl-2', ip: '10.0.0.12' }, { name: 'ctl-3', ip: '10.0.0.13' }]),
    storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
    credentials: {
      rootPassword: SecretValue.fromSecret('galera-root', 'password'),
      sstPassword: SecretValue.fromSecret('galera-sst', 'password'),
      monitorPassword: SecretValue.fromSecret('galera-monitor', 'password'),
    },
    tmpSizeMiB: TMP_SIZE_MIB,
  });
  const cnf: string = find(synth(chart), 'ConfigMap', 'galera-config').data['server.cnf'];
  const section = /\[mysqld\]\n([\s\S]*?)(\n\[|$)/.exec(cnf)![1];
  return Object.fromEntries(section.split('\n').filter((l) => l.includes(' = ')).map((l) => l.split(' = ') as [string, string]));
}

/** Bytes in the files under `dir` that process `pid` holds open (temporary files may be unlinked at once). */
function openBytesUnder(pid: number, dir: string): number {
  let total = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(`${dir}/`)) total += fs.statSync(`/proc/${pid}/fd/${fd}`).size;
    } catch {
      // closed meanwhile
    }
  }
  return total;
}

describeWithGalera('the rendered tmpdir bound on the real mariadbd', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'galera-tmpdir-'));
  const socket = path.join(work, 'mysqld.sock');
  const tmpdir = path.join(work, 'tmp');
  let server: ReturnType<typeof spawn> | undefined;
  const sql = (query: string) => spawnSync('mariadb', ['--no-defaults', '-S', socket, '-uroot', '-N', '-B', '-e', query], { encoding: 'utf8', timeout: 120_000 });

  beforeAll(async () => {
    // Everything here belongs to the mysql user, as the pod's volumes belong to uid 999.
    const mysqlUid = Number(spawnSync('id', ['-u', 'mysql'], { encoding: 'utf8' }).stdout);
    fs.mkdirSync(tmpdir);
    for (const dir of [work, tmpdir]) fs.chownSync(dir, mysqlUid, mysqlUid);
    const asMysql = ['--reuid=mysql', '--regid=mysql', '--init-groups'];
    const install = spawnSync('setpriv', [...asMysql, 'mariadb-install-db', '--no-defaults', `--datadir=${work}/data`,
      '--auth-root-authentication-method=socket'], { encoding: 'utf8', cwd: '/', env: { PATH: process.env.PATH } });
    if (install.status !== 0) throw new Error(`mariadb-install-db: ${install.stderr}`);
    const mysqld = renderedMysqld();
    expect(mysqld.tmpdir).toBe('/tmp');
    server = spawn('setpriv', [...asMysql, 'mariadbd', '--no-defaults', `--datadir=${work}/data`, '--skip-networking',
      `--socket=${socket}`, `--pid-file=${work}/mysqld.pid`, `--tmpdir=${tmpdir}`, // the pod's /tmp, here
      `--tmp-disk-table-size=${mysqld.tmp_disk_table_size}`], { stdio: 'ignore' });
    await waitFor('mariadbd to answer', 60_000, () => (sql('SELECT 1').stdout.trim() === '1' ? true : undefined));
  }, 120_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await waitFor('mariadbd to stop', 60_000, () => (server!.exitCode !== null || server!.signalCode !== null ? true : undefined));
    }
    fs.rmSync(work, { recursive: true, force: true });
  }, 90_000);

  const GROUP_BY = 'SELECT b, a, COUNT(*) FROM t.x GROUP BY a, b ORDER BY COUNT(*) DESC LIMIT 1';

  /** Runs `statements` in one session while sampling the server's open tmpdir bytes; exit code, stderr, peak. */
  async function runSampled(statements: string): Promise<{ code: number | null; stderr: string; peak: number }> {
    let peak = 0;
    let done = false;
    const watcher = (async () => {
      while (!done) {
        peak = Math.max(peak, openBytesUnder(server!.pid!, tmpdir));
        await sleep(50);
      }
    })();
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('mariadb', ['--no-defaults', '-S', socket, '-uroot', '-N', '-B', '-e', statements], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
      child.on('close', (code) => resolve({ code, stderr }));
    });
    done = true;
    await watcher;
    return { ...result, peak };
  }

  beforeAll(() => {
    // Twice the emptyDir of distinct 1000-byte groups: the GROUP BY's temporary table would outgrow the volume.
    const rows = Math.ceil((2 * TMP_SIZE_MIB * 1024 * 1024) / 1000);
    const setup = sql(`CREATE DATABASE t; USE t; CREATE TABLE t.x (a INT, b VARCHAR(1000)) ENGINE=InnoDB;
      INSERT INTO t.x SELECT seq, REPEAT('x', 1000) FROM seq_1_to_${rows};`);
    expect(setup.stderr).toBe('');
  }, 120_000);

  test('an oversized temporary table fails its query (1114); the server stays up; tmpdir stays under the limit', async () => {
    const run = await runSampled(GROUP_BY);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/ERROR 1114 .*is full/);
    expect(sql('SELECT 1').stdout.trim()).toBe('1');
    expect(run.peak).toBeLessThan(TMP_SIZE_MIB * 1024 * 1024);
    process.stdout.write(`tmpdir peak during the refused query: ${(run.peak / 1024 / 1024).toFixed(1)} MiB of ${TMP_SIZE_MIB} MiB\n`);
  }, 180_000);

  test('the trap is real: unbounded, the same query fills more than the emptyDir holds (the kubelet would evict)', async () => {
    const run = await runSampled(`SET SESSION tmp_disk_table_size = 18446744073709551615; ${GROUP_BY}`);
    expect(run.stderr).toBe('');
    expect(run.peak).toBeGreaterThan(TMP_SIZE_MIB * 1024 * 1024);
    process.stdout.write(`tmpdir peak of the same query unbounded: ${(run.peak / 1024 / 1024).toFixed(1)} MiB\n`);
  }, 180_000);
});
