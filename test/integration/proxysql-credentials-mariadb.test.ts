/**
 * The order of a live database password rotation, with the real MariaDB side: GaleraPetSet's apply-users.sh against a
 * real mariadbd starts and ends the rotation (`IDENTIFIED VIA a OR b`, then the grace), and ProxySQL's credentials.sh
 * checks the members with the real `mariadb` client before it switches. ProxySQL itself cannot run here (in neither
 * Debian nor npm): its admin interface is the stand-in of the unit tests (test/support/fake-proxysql-client.py), which
 * hands every call to a member to the real client (STUB_REAL_CLIENT).
 *
 * One mariadbd on 127.0.0.1:33961 (a port no other file uses), data in /tmp/psqlrot-itest-*; no network namespace.
 */
import { ChildProcess, spawnSync } from 'child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { installFiles } from './support/certs';
import { clientOptionFile, startStandaloneMariadb, stopStandaloneMariadb } from './support/standalone-mariadb';

jest.setTimeout(900_000);

const ROOT = join(__dirname, '..', '..');
const CREDENTIALS = join(ROOT, 'assets', 'proxysql', 'credentials.sh');
const APPLY_USERS = join(ROOT, 'assets', 'galera', 'apply-users.sh');
const PORT = 33961;
const GRACE_SECONDS = 8;
const OLD = 'old"pw\\';
const NEW = 'n"o\\va; DROP TABLE x; --\\ é€ #q';
const MON_OLD = 'mon-old';
const MON_NEW = "mon\\new'x";

describe('a rotation with a real mariadbd: MariaDB accepts both, then ProxySQL switches, then the grace ends', () => {
  let dir: string;
  let server: ChildProcess | undefined;
  const log: string[] = [];
  const say = (s: string) => { log.push(`${new Date().toISOString()} ${s}`); };

  /** A real login of USER with PASSWORD over TCP, the password in an option file (never argv). */
  const login = (user: string, password: string): boolean => {
    writeFileSync(join(dir, 'login.cnf'), clientOptionFile(user, password), { mode: 0o600 });
    return spawnSync('mariadb', [`--defaults-file=${join(dir, 'login.cnf')}`, '--skip-ssl', '--protocol=tcp', '-h', '127.0.0.1', '-P', String(PORT), '-N', '-B', '-e', 'SELECT 1'],
      { encoding: 'utf8' }).status === 0;
  };
  /** GaleraPetSet's apply-users.sh on this "member", with its credentials files and the monitor's env var. */
  const applyUsers = (monitor: string, ...args: string[]) => {
    const r = spawnSync('bash', [APPLY_USERS, ...args], {
      encoding: 'utf8',
      env: {
        PATH: '/usr/bin:/bin', GALERA_RUN_DIR: dir, GALERA_USERS_FILE: join(dir, 'users.tsv'),
        GALERA_CREDENTIALS_DIR: join(dir, 'galera-credentials'), GALERA_MONITOR_PASSWORD: monitor,
        GALERA_PASSWORD_ROTATION_GRACE_SECONDS: String(GRACE_SECONDS),
      },
    });
    if (r.status !== 0) throw new Error(`apply-users.sh ${args.join(' ')} failed: ${r.stderr}`);
  };
  const state = () => JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
  /** Passes of ProxySQL's credentials.sh (one process). */
  const passes = (count: number) => spawnSync('bash', ['-c', `. "${CREDENTIALS}"; ${Array(count).fill('apply').join('; ')}`], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000,
    env: {
      PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, STUB_DIR: dir, STUB_REAL_CLIENT: '/usr/bin/mariadb', PROXYSQL_CREDENTIALS_DIR: join(dir, 'proxysql-credentials'),
      PROXYSQL_USERS: 'nova:PROXYSQL_USER_PASSWORD_NOVA', PROXYSQL_MONITOR_USER: 'monitor', PROXYSQL_ADMIN_PORT: '6032', PROXYSQL_ADMIN_USER: 'admin',
      PROXYSQL_ADMIN_PASSWORD: 'admin-pw', PROXYSQL_CREDENTIALS_RETRY_SECONDS: '0', PROXYSQL_CREDENTIALS_HEARTBEAT: join(dir, 'heartbeat'),
    },
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'psqlrot-itest-'));
    mkdirSync(join(dir, 'bin'));
    copyFileSync(join(ROOT, 'test', 'support', 'fake-proxysql-client.py'), join(dir, 'bin', 'mariadb'));
    chmodSync(join(dir, 'bin', 'mariadb'), 0o755);
    ({ server } = await startStandaloneMariadb(dir, PORT));
    writeFileSync(join(dir, 'client.cnf'), `[client]\nsocket=${join(dir, 'sock')}\nuser=root\n`);
    writeFileSync(join(dir, 'users.tsv'), 'nova\t%\tGALERA_PASSWORD_NOVA\t0\tALL PRIVILEGES\tnova\n');
    installFiles(join(dir, 'galera-credentials'), { GALERA_PASSWORD_NOVA: OLD });
    applyUsers(MON_OLD);
    installFiles(join(dir, 'proxysql-credentials'), { PROXYSQL_USER_PASSWORD_NOVA: OLD, PROXYSQL_MONITOR_PASSWORD: MON_OLD });
    writeFileSync(join(dir, 'state.json'), JSON.stringify({
      admin_password: 'admin-pw',
      memory: { users: { nova: OLD }, monitor: MON_OLD },
      runtime: { users: { nova: OLD }, monitor: MON_OLD },
      servers: [['127.0.0.1', String(PORT), 'ONLINE']],
      members: {},
    }));
  });

  afterAll(async () => {
    // eslint-disable-next-line no-console
    console.log(log.join('\n'));
    await stopStandaloneMariadb(server);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('users: ProxySQL waits for the members, switches while both passwords work, the grace then ends', async () => {
    expect(login('nova', OLD)).toBe(true);
    expect(login('nova', NEW)).toBe(false);
    // The ProxySQL node's kubelet is first: the members refuse the new password, ProxySQL keeps the old one.
    installFiles(join(dir, 'proxysql-credentials'), { PROXYSQL_USER_PASSWORD_NOVA: NEW, PROXYSQL_MONITOR_PASSWORD: MON_OLD });
    const waiting = passes(2);
    say(`ProxySQL file changed, members not yet: ${waiting.stderr.trim()}`);
    expect(waiting.stderr).toMatch(/user nova: changed, but the members do not accept the new password yet \(127\.0\.0\.1:33961: ERROR 1045/);
    expect(state().runtime.users.nova).toBe(OLD);
    // The Galera node's kubelet: apply-users.sh starts the rotation (both accepted).
    installFiles(join(dir, 'galera-credentials'), { GALERA_PASSWORD_NOVA: NEW });
    const t0 = Date.now();
    applyUsers(MON_OLD);
    expect(login('nova', NEW)).toBe(true);
    expect(login('nova', OLD)).toBe(true);
    const switched = passes(1);
    say(`members accept both (${Date.now() - t0} ms after apply-users): ${switched.stderr.trim()}`);
    expect(switched.stderr).toContain('user nova: new password loaded');
    expect(state().runtime.users.nova).toBe(NEW);
    // Still both on the members: ProxySQL's connections opened with the old password and its new ones both work.
    expect(login('nova', OLD)).toBe(true);
    // The grace ends (apply-users.sh --finish-rotations, the entrypoints' minute check).
    await new Promise((r) => setTimeout(r, (GRACE_SECONDS + 1) * 1000));
    applyUsers(MON_OLD, '--finish-rotations');
    expect(login('nova', NEW)).toBe(true);
    expect(login('nova', OLD)).toBe(false);
    // Nothing left to do on ProxySQL's side: a pass reads and changes nothing.
    const idle = passes(2);
    expect(idle.stderr).toBe('');
    expect(state().runtime.users.nova).toBe(NEW);
  });

  test('monitor: ProxySQL keeps the old monitor password until the members (restarted with the new Secret) accept the new one', () => {
    installFiles(join(dir, 'proxysql-credentials'), { PROXYSQL_USER_PASSWORD_NOVA: NEW, PROXYSQL_MONITOR_PASSWORD: MON_NEW });
    const waiting = passes(2);
    expect(waiting.stderr).toMatch(/monitor monitor: changed, but the members do not accept the new password yet \(127\.0\.0\.1:33961: ERROR 1045/);
    expect(state().runtime.monitor).toBe(MON_OLD);
    // Galera's monitor password is an env var: the first member restarted with the new Secret starts the rotation.
    applyUsers(MON_NEW);
    expect(login('monitor', MON_NEW)).toBe(true);
    expect(login('monitor', MON_OLD)).toBe(true);
    const switched = passes(1);
    say(`monitor: ${switched.stderr.trim()}`);
    expect(state().runtime.monitor).toBe(MON_NEW);
  });

  test('no password in the arguments or environment of any client call, real or stand-in', () => {
    const calls = readFileSync(join(dir, 'calls.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(calls.filter((c) => c.real).length).toBeGreaterThan(4);
    for (const c of calls) {
      for (const secret of [OLD, NEW, MON_OLD, MON_NEW]) {
        expect(c.argv.join(' ')).not.toContain(secret);
        expect(c.environ).not.toContain(secret);
        expect(c.parent_environ).not.toContain(secret);
      }
    }
  });
});
