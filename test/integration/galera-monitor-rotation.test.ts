/**
 * The Galera monitor account's password rotates live, with a real mariadbd: the kubelet-style swap of the credentials
 * volume's file GALERA_MONITOR_PASSWORD is seen by the entrypoint's own watcher (`apply_users_if_rotated`, sourced
 * from entrypoint.sh, a pass a second as in the status loop), which runs apply-users.sh: the account accepts the new
 * password and, for the grace, the old one; the minute check (here every 5 s) then drops the old one. Meanwhile:
 *  - a monitor client (what ProxySQL's Galera check does) logs in every ~100 ms, on the old password until the new
 *    one is accepted, then on the new one (ProxySQL's credentials sidecar switches once the members accept it): no
 *    login may fail;
 *  - the mysqld-exporter runs under the real assets/galera/exporter.sh (dash, as the image's busybox sh) with its own
 *    copy of the file, swapped 12 s BEFORE the member's (the worst order): it must keep `mysql_up 1` throughout.
 *    The exporter is Debian's prometheus-mysqld-exporter 0.14 (the image runs 0.15.1, which reads
 *    MYSQLD_EXPORTER_PASSWORD; 0.14 reads DATA_SOURCE_NAME): a 3-line shim passes the password from the one to
 *    the other, and the wrapper, the candidate check and the restart are the shipped ones.
 * One member is enough: the rotation is per member (each member's watcher runs apply-users.sh on its own copy of the
 * file; every statement is conditional, so the second member to run finds it done, as galera-cluster.test.ts shows
 * for the users' passwords).
 *
 * Unique names: one mariadbd on 127.0.0.1:33975, the exporter on 127.0.0.1:9275 and its candidate on 127.0.0.1:9276
 * (ports no other file uses), files in /tmp/monrot-itest-*; no network namespace.
 */
import { ChildProcess, execFile, spawn } from 'child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { get } from 'http';
import { tmpdir } from 'os';
import { join } from 'path';
import { installFiles } from './support/certs';
import { clientOptionFile, StandaloneMariadb, startStandaloneMariadb, stopStandaloneMariadb } from './support/standalone-mariadb';
import { describeUnlessMissing, procFile } from './support/daemons';
import { killAll, runScriptInBackground } from '../support/background-script';

jest.setTimeout(600_000);

const ROOT = join(__dirname, '..', '..');
const ENTRYPOINT = join(ROOT, 'assets', 'galera', 'entrypoint.sh');
const EXPORTER_SH = join(ROOT, 'assets', 'galera', 'exporter.sh');
const PORT = 33975;
const EXPORTER_ADDRESS = '127.0.0.1:9275';
const CANDIDATE_ADDRESS = '127.0.0.1:9276';
const GRACE_SECONDS = 15;
const CHECK_SECONDS = 5;
const MON_OLD = `mon-old'"\\;#$x é`;
const MON_NEW = `mon\\new'"; $PATH #€`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TOOLS = ['/usr/sbin/mariadbd', '/usr/bin/mariadb', '/usr/bin/mariadb-install-db', '/usr/bin/prometheus-mysqld-exporter', '/usr/bin/dash', '/usr/bin/wget'];
describeUnlessMissing('the monitor password rotates live on a real mariadbd: 0 failed logins, the exporter follows', TOOLS.filter((f) => !existsSync(f)),
  'apt-get install mariadb-server prometheus-mysqld-exporter dash wget (scripts/install-deps.sh)', () => {
  let dir: string;
  let server: ChildProcess | undefined;
  let root: StandaloneMariadb['root'];
  const children: ChildProcess[] = [];
  const log: string[] = [];
  const say = (s: string) => { log.push(`${new Date().toISOString()} ${s}`); };

  /** A real TCP login as the monitor with PASSWORD (an option file, never argv); resolves to success. */
  const login = (password: string): Promise<boolean> => {
    const file = join(dir, password === MON_OLD ? 'old.cnf' : 'new.cnf');
    return new Promise((resolve) => execFile('mariadb', [`--defaults-file=${file}`, '--skip-ssl', '--protocol=tcp', '-h', '127.0.0.1', '-P', String(PORT), '-N', '-B', '-e', 'SELECT 1'],
      { timeout: 20_000 }, (error) => resolve(error === null)));
  };
  /** The exporter's /metrics, or undefined when nothing answers (the restart's gap). */
  const scrape = (): Promise<string | undefined> => new Promise((resolve) => {
    const request = get(`http://${EXPORTER_ADDRESS}/metrics`, { timeout: 10_000 }, (response) => {
      let body = '';
      response.on('data', (chunk) => { body += chunk; });
      response.on('end', () => resolve(response.statusCode === 200 ? body : undefined));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(undefined));
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'monrot-itest-'));
    for (const [name, password] of [['old.cnf', MON_OLD], ['new.cnf', MON_NEW]]) {
      writeFileSync(join(dir, name), clientOptionFile('monitor', password), { mode: 0o600 });
    }
    ({ server, root } = await startStandaloneMariadb(dir, PORT));
    writeFileSync(join(dir, 'client.cnf'), `[client]\nsocket=${join(dir, 'sock')}\nuser=root\n`);
    writeFileSync(join(dir, 'users.tsv'), '');
    installFiles(join(dir, 'galera-credentials'), { GALERA_MONITOR_PASSWORD: MON_OLD });
    installFiles(join(dir, 'exporter-credentials'), { GALERA_MONITOR_PASSWORD: MON_OLD });
    // mysqld_exporter 0.15's interface (MYSQLD_EXPORTER_PASSWORD, --mysqld.*) onto Debian's 0.14 (DATA_SOURCE_NAME).
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin', 'mysqld_exporter'), `#!/bin/bash
for a; do [[ $a == --web.listen-address=* ]] && listen=$a; done
DATA_SOURCE_NAME="monitor:\${MYSQLD_EXPORTER_PASSWORD}@tcp(127.0.0.1:${PORT})/" exec /usr/bin/prometheus-mysqld-exporter "$listen" --no-collect.slave_status
`);
    chmodSync(join(dir, 'bin', 'mysqld_exporter'), 0o755);
  });

  afterAll(async () => {
    killAll(children);
    // eslint-disable-next-line no-console
    console.log(log.join('\n'));
    await stopStandaloneMariadb(server);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the file swapped: the new password accepted within seconds, no login failed, the exporter switched with mysql_up 1 throughout, the old refused after the grace', async () => {
    const started = Date.now();
    // The member's watcher: the status loop's first Synced run of apply-users.sh, then apply_users_if_rotated every second.
    writeFileSync(join(dir, 'watch.sh'), `. "${ENTRYPOINT}"
CREDENTIALS_SEEN=$(files_fingerprint "$GALERA_CREDENTIALS_DIR"/*)
NEXT_FINISH_RUN=$((SECONDS + \${GALERA_ROTATION_CHECK_SECONDS:-60}))
bash "$SCRIPT_DIR/apply-users.sh" || exit 1
while :; do apply_users_if_rotated; sleep 1; done
`);
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', GALERA_RUN_DIR: dir, GALERA_USERS_FILE: join(dir, 'users.tsv'), GALERA_CREDENTIALS_DIR: join(dir, 'galera-credentials'),
      GALERA_PASSWORD_ROTATION_GRACE_SECONDS: String(GRACE_SECONDS), GALERA_ROTATION_CHECK_SECONDS: String(CHECK_SECONDS), GALERA_MONITOR_USER: 'monitor' };
    const watcher = runScriptInBackground(join(dir, 'watch.sh'), env, children);
    const until = async (what: string, ms: number, ok: () => boolean | Promise<boolean>) => {
      const deadline = Date.now() + ms;
      while (!(await ok())) {
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}\nwatcher: ${watcher.stderr()}\nexporter: ${exporterStderr}`);
        await sleep(100);
      }
    };
    let exporterStderr = '';
    await until('the monitor account exists with the old password', 120_000, () => login(MON_OLD));
    // The exporter under the shipped wrapper, its own copy of the file (the pod's exporter-credentials volume).
    const exporter = spawn('dash', [EXPORTER_SH, `--mysqld.address=127.0.0.1:${PORT}`, '--mysqld.username=monitor'], {
      detached: true, stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, MYSQLD_EXPORTER_BIN: join(dir, 'bin', 'mysqld_exporter'), MYSQLD_EXPORTER_PASSWORD_FILE: join(dir, 'exporter-credentials', 'GALERA_MONITOR_PASSWORD'),
        MYSQLD_EXPORTER_LISTEN: EXPORTER_ADDRESS, MYSQLD_EXPORTER_CHECK_ADDRESS: CANDIDATE_ADDRESS },
    });
    children.push(exporter);
    exporter.stderr!.on('data', (d) => { exporterStderr += d; });
    await until('the exporter reports mysql_up 1', 120_000, async () => /^mysql_up 1$/m.test((await scrape()) ?? ''));
    say(`set up in ${Date.now() - started} ms`);

    // The loops: the monitor client (old password until the new one is accepted, then the new one), a probe of the
    // new password until it is first accepted, and a scrape of the exporter every second.
    let running = true;
    let newAcceptedAt: number | undefined;
    const client = { logins: 0, failed: 0, onNew: 0, failures: [] as string[] };
    const scrapes = { total: 0, up: 0, down: 0, unanswered: 0 };
    let probesRefused = 0;
    const clientLoop = (async () => {
      while (running) {
        const password = newAcceptedAt === undefined ? MON_OLD : MON_NEW;
        const ok = await login(password);
        client.logins++;
        if (password === MON_NEW) client.onNew++;
        if (!ok) { client.failed++; client.failures.push(`${new Date().toISOString()} ${password === MON_OLD ? 'old' : 'new'}`); }
        await sleep(100);
      }
    })();
    const probeLoop = (async () => {
      while (running && newAcceptedAt === undefined) {
        if (await login(MON_NEW)) newAcceptedAt = Date.now();
        else probesRefused++;
        await sleep(100);
      }
    })();
    const scrapeLoop = (async () => {
      while (running) {
        const body = await scrape();
        scrapes.total++;
        if (body === undefined) scrapes.unanswered++;
        else if (/^mysql_up 1$/m.test(body)) scrapes.up++;
        else scrapes.down++;
        await sleep(1000);
      }
    })();
    const deniedBefore = Number(root("SHOW GLOBAL STATUS LIKE 'Access_denied_errors'").split('\t')[1]);

    await sleep(3000);
    // The exporter's volume first, the member's 12 s later: the wrapper must wait for the member.
    installFiles(join(dir, 'exporter-credentials'), { GALERA_MONITOR_PASSWORD: MON_NEW });
    const exporterSwap = Date.now();
    await sleep(12_000);
    expect(exporterStderr).not.toContain('now uses it');
    installFiles(join(dir, 'galera-credentials'), { GALERA_MONITOR_PASSWORD: MON_NEW });
    const swap = Date.now();
    await until('the new password is accepted', 60_000, () => newAcceptedAt !== undefined);
    say(`new password accepted ${newAcceptedAt! - swap} ms after the member's file swap (${probesRefused} probes refused before)`);
    expect(await login(MON_OLD)).toBe(true);
    await until('the exporter switches', 60_000, () => exporterStderr.includes('the exporter now uses it'));
    const exporterSwitched = Date.now();
    say(`exporter switched ${exporterSwitched - swap} ms after the member's file swap (${exporterSwitched - exporterSwap} ms after its own); wrapper log:\n${exporterStderr.trim()}`);
    // The grace: the old password keeps working until it ends (counted from the account's password_last_changed).
    const changedAt = Number(root("SELECT JSON_VALUE(Priv, '$.password_last_changed') FROM mysql.global_priv WHERE User='monitor'").trim()) * 1000;
    const graceEnd = changedAt + GRACE_SECONDS * 1000;
    expect(await login(MON_OLD)).toBe(true);
    let oldRefusedAt: number | undefined;
    await until('the old password is refused after the grace', (GRACE_SECONDS + CHECK_SECONDS) * 1000 + 60_000, async () => {
      if (await login(MON_OLD)) return false;
      oldRefusedAt = Date.now();
      return true;
    });
    say(`old password refused ${oldRefusedAt! - graceEnd} ms after the grace ended (${oldRefusedAt! - newAcceptedAt!} ms after the rotation started; check every ${CHECK_SECONDS} s)`);
    // password_last_changed is the change's second, truncated; the end is strictly after that second plus the
    // grace, so never before graceEnd + 1 s (a `<=` in apply-users.sh ended it up to a second early: in [graceEnd,
    // graceEnd + 1 s) whenever a check fell there).
    expect(oldRefusedAt!).toBeGreaterThanOrEqual(graceEnd + 1000);
    await sleep(2000);
    running = false;
    await Promise.all([clientLoop, probeLoop, scrapeLoop]);
    const denied = Number(root("SHOW GLOBAL STATUS LIKE 'Access_denied_errors'").split('\t')[1]) - deniedBefore;
    say(`monitor client: ${client.logins} logins (${client.onNew} on the new password), ${client.failed} failed ${client.failures.join(', ')}`);
    say(`exporter scrapes: ${scrapes.total}, mysql_up 1: ${scrapes.up}, mysql_up 0: ${scrapes.down}, unanswered (the restart): ${scrapes.unanswered}`);
    const candidateRefused = (exporterStderr.match(/Error pinging mysqld.*Access denied/g) ?? []).length;
    say(`server Access_denied_errors during the run: ${denied}; refused logins seen by the clients: the new-password probe ${probesRefused} before acceptance, `
      + `the wrapper's candidate ${candidateRefused}, the old-password probe 1 after the grace, the monitor client ${client.failed}, the exporter 0`);
    say(`watcher log:\n${watcher.stderr().trim()}`);
    expect(client.failed).toBe(0);
    expect(client.onNew).toBeGreaterThan(10);
    expect(scrapes.down).toBe(0);
    expect(scrapes.unanswered).toBeLessThanOrEqual(1);
    expect(scrapes.up).toBeGreaterThan(10);
    expect(/^mysql_up 1$/m.test((await scrape()) ?? '')).toBe(true);
    expect(exporterStderr.match(/does not accept the new password yet/g)).toHaveLength(1);

    // No password in any argument of the processes started here, nor in the watcher's environment (the mariadb
    // container's: the monitor's password is no env var any more).
    const groups = new Set(children.map((c) => c.pid));
    let seen = 0;
    // The watcher's loop keeps starting short-lived children (sleep, mysql): one can exit between two reads of its
    // /proc files (stop 35's CI: ENOENT on environ). A process gone before all its files were read is skipped.
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      const stat = procFile(pid, 'stat');
      if (stat === undefined) continue;
      const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (!groups.has(pgid)) continue;
      const cmdline = procFile(pid, 'cmdline');
      const environ = pgid === children[0].pid ? procFile(pid, 'environ') : '';
      if (cmdline === undefined || environ === undefined) continue;
      seen++;
      for (const secret of [MON_OLD, MON_NEW]) {
        expect(cmdline).not.toContain(secret);
        expect(environ).not.toContain(secret);
      }
    }
    expect(seen).toBeGreaterThanOrEqual(3);
    say(`whole test ${Date.now() - started} ms`);
  });
});
