/**
 * ProxySQL's live password rotation without ProxySQL (not installable here: not in Debian, not on npm):
 * assets/proxysql/credentials.sh runs against a stand-in `mariadb` client (test/support/fake-proxysql-client.py) that
 * plays ProxySQL's admin interface (main and runtime tables) and the Galera members (which passwords each user has),
 * and records every call. The exact statements, their order with the members' side, the bounded retries, where the
 * passwords travel, idempotence and half-updated Secrets are asserted here; the pod that runs it below.
 */
import { ChildProcess, spawnSync } from 'child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { DatabaseUser, GaleraPetSet, GaleraStorage, Placement, ProxySqlLayer, ProxySqlLayerProps, SecretValue, TlsCertificates } from '../lib';
import { installFiles } from './integration/support/certs';
import { killAll, spawnInGroup } from './support/background-script';
import { NODES } from './support/fixtures';
import { expectValidManifests, find, K8sObject, newChart, synth } from './support/harness';

// Each test runs bash and a python stand-in many times: generous on a loaded machine.
jest.setTimeout(180_000);

const SCRIPT = join(__dirname, '..', 'assets', 'proxysql', 'credentials.sh');
const START = join(__dirname, '..', 'assets', 'proxysql', 'start.sh');
const ADMIN_PASSWORD = 'adm"in\\pw';

interface Call {
  argv: string[]; host: string; port: string; user: string; password: string; sql: string;
  environ: string; cmdline: string; parent_environ: string; parent_cmdline: string;
}
interface State {
  admin_password: string;
  memory: { users: Record<string, string>; monitor: string };
  runtime: { users: Record<string, string>; monitor: string };
  servers: Array<[string, string, string]>;
  members: Record<string, string[]>;
  down?: string[];
  admin_failures?: number;
  fail_on?: string;
  loads?: string[];
}

/** How a password travels in the SQL: hex digits of its UTF-8 bytes. */
const hex = (s: string) => `CAST(X'${Buffer.from(s, 'utf8').toString('hex').toUpperCase()}' AS TEXT)`;

describe('credentials.sh (against a stand-in mariadb client)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'proxysql-credentials-'));
    mkdirSync(join(dir, 'bin'));
    copyFileSync(join(__dirname, 'support', 'fake-proxysql-client.py'), join(dir, 'bin', 'mariadb'));
    chmodSync(join(dir, 'bin', 'mariadb'), 0o755);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const volume = () => join(dir, 'credentials');
  let delivered: Record<string, string> = {};
  /** The kubelet's update of the Secret volume (a `..data` swap): these files change, the others stay; undefined removes one. */
  function kubelet(changes: Record<string, string | undefined>) {
    delivered = Object.fromEntries(Object.entries({ ...delivered, ...changes }).filter((e): e is [string, string] => e[1] !== undefined));
    installFiles(volume(), delivered);
  }
  /** ProxySQL started from the files (memory = runtime = files), the members know the same passwords. */
  function start(files: { monitor: string; nova: string; keystone: string }, extra: Partial<State> = {}) {
    delivered = {};
    kubelet({ PROXYSQL_MONITOR_PASSWORD: files.monitor, PROXYSQL_USER_PASSWORD_NOVA: files.nova, PROXYSQL_USER_PASSWORD_KEYSTONE: files.keystone });
    const users = { nova: files.nova, keystone: files.keystone };
    setState({
      admin_password: ADMIN_PASSWORD,
      memory: { users: { ...users }, monitor: files.monitor },
      runtime: { users: { ...users }, monitor: files.monitor },
      servers: [['galera-0.galera', '3306', 'ONLINE'], ['galera-0.galera', '3306', 'ONLINE'], ['galera-1.galera', '3306', 'ONLINE'], ['galera-2.galera', '3306', 'OFFLINE_HARD']],
      members: { monitor: [files.monitor], nova: [files.nova], keystone: [files.keystone] },
      ...extra,
    });
  }
  const state = (): State => JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
  /** Whole (a rename), so a stand-in call never reads a half-written state while a watcher runs. */
  const setState = (s: State) => {
    writeFileSync(join(dir, 'state.json.test'), JSON.stringify(s));
    renameSync(join(dir, 'state.json.test'), join(dir, 'state.json'));
  };
  const patchState = (patch: Partial<State>) => setState({ ...state(), ...patch });
  /** The members accept these passwords from now on (a rotation on the Galera side). */
  const members = (m: Record<string, string[]>) => patchState({ members: { ...state().members, ...m } });
  const calls = (): Call[] => (existsSync(join(dir, 'calls.jsonl'))
    ? readFileSync(join(dir, 'calls.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
  const clearCalls = () => rmSync(join(dir, 'calls.jsonl'), { force: true });
  const admin = () => calls().filter((c) => c.host === '127.0.0.1');
  const statements = () => admin().map((c) => c.sql.trim());

  /** The credentials container's environment (lib/proxysql/pod.ts), pointed at the stub. */
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, STUB_DIR: dir, PROXYSQL_CREDENTIALS_DIR: volume(),
    PROXYSQL_USERS: 'nova:PROXYSQL_USER_PASSWORD_NOVA keystone:PROXYSQL_USER_PASSWORD_KEYSTONE', PROXYSQL_MONITOR_USER: 'monitor',
    PROXYSQL_ADMIN_PORT: '6032', PROXYSQL_ADMIN_USER: 'admin', PROXYSQL_ADMIN_PASSWORD: ADMIN_PASSWORD,
    PROXYSQL_CREDENTIALS_RETRY_SECONDS: '0', PROXYSQL_CREDENTIALS_HEARTBEAT: join(dir, 'heartbeat'), ...extra,
  });

  /** `count` passes of the watcher in one process (what `watch` runs every 5 s). */
  function passes(count: number, extra: Record<string, string> = {}) {
    const body = Array.from({ length: count }, () => 'apply').join('; ');
    const r = spawnSync('bash', ['-c', `. "${SCRIPT}"; ${body}`], { encoding: 'utf8', timeout: 60_000, env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    return { status: r.status, stderr: r.stderr };
  }

  const FILES = { monitor: 'mon-1', nova: 'nova-1', keystone: 'keystone-1' };

  test('nothing changed: the first pass only reads (is each file what ProxySQL has?), later passes send nothing', () => {
    start(FILES);
    const r = passes(3);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(statements()).toEqual([
      `SELECT COUNT(*) FROM global_variables WHERE variable_name='mysql-monitor_password' AND variable_value=${hex('mon-1')};`,
      `SELECT COUNT(*) FROM mysql_users WHERE username=${hex('nova')} AND password=${hex('nova-1')};`,
      `SELECT COUNT(*) FROM mysql_users WHERE username=${hex('keystone')} AND password=${hex('keystone-1')};`,
    ]);
    expect(calls().filter((c) => c.host !== '127.0.0.1')).toEqual([]);
    expect(state().loads).toBeUndefined();
  });

  test('a changed user password: checked against every ONLINE member as that user, then one UPDATE and LOAD MYSQL USERS TO RUNTIME; never SAVE', () => {
    start(FILES);
    passes(1);
    kubelet({ PROXYSQL_USER_PASSWORD_NOVA: 'nova-2' });
    // GaleraPetSet's rotation: the account accepts the new password and keeps the old one for the grace.
    members({ nova: ['nova-2', 'nova-1'] });
    clearCalls();
    const r = passes(1);
    expect(r.status).toBe(0);
    // A new watcher process (each `passes` call is one) first reads, for every file, whether ProxySQL has it.
    expect(calls().map((c) => `${c.host} ${c.user}: ${c.sql.trim()}`)).toEqual([
      `127.0.0.1 admin: SELECT COUNT(*) FROM global_variables WHERE variable_name='mysql-monitor_password' AND variable_value=${hex('mon-1')};`,
      `127.0.0.1 admin: SELECT COUNT(*) FROM mysql_users WHERE username=${hex('nova')} AND password=${hex('nova-2')};`,
      "127.0.0.1 admin: SELECT DISTINCT hostname, port FROM runtime_mysql_servers WHERE status='ONLINE' ORDER BY hostname, port;",
      // Each ONLINE member once (galera-0 is listed twice: writer and reader hostgroups); not the OFFLINE one.
      'galera-0.galera nova: SELECT 1;',
      'galera-1.galera nova: SELECT 1;',
      `127.0.0.1 admin: SELECT COUNT(*) FROM mysql_users WHERE username=${hex('keystone')} AND password=${hex('keystone-1')};`,
      `127.0.0.1 admin: UPDATE mysql_users SET password=${hex('nova-2')} WHERE username=${hex('nova')};\nLOAD MYSQL USERS TO RUNTIME;`,
    ]);
    expect(calls().filter((c) => c.host !== '127.0.0.1').map((c) => c.password)).toEqual(['nova-2', 'nova-2']);
    expect(state().runtime.users).toEqual({ nova: 'nova-2', keystone: 'keystone-1' });
    expect(state().runtime.monitor).toBe('mon-1');
    expect(state().loads).toEqual(['users']);
    expect(r.stderr).toBe('credentials.sh: user nova: new password loaded into ProxySQL\'s runtime (the members accept it; no restart)\n');
    expect(calls().map((c) => c.sql).join('\n')).not.toMatch(/SAVE|DISK/i);
    // And again (a new process: it reads, finds everything in place, and its second pass sends nothing).
    clearCalls();
    passes(2);
    expect(statements().every((st) => st.startsWith('SELECT COUNT(*)'))).toBe(true);
    expect(statements()).toHaveLength(3);
  });

  test('the order: ProxySQL keeps the old password until every ONLINE member accepts the new one (said once), then switches', () => {
    start(FILES);
    kubelet({ PROXYSQL_USER_PASSWORD_NOVA: 'nova-2' });
    // The ProxySQL pod's kubelet was first: the members still have only the old password.
    const waiting = passes(3);
    expect(state().runtime.users.nova).toBe('nova-1');
    expect(statements().filter((s) => s.startsWith('UPDATE') || s.includes('LOAD'))).toEqual([]);
    expect(waiting.stderr.match(/user nova: changed, but the members do not accept the new password yet \(galera-0\.galera:3306: ERROR 1045/g)).toHaveLength(1);
    // Galera replicated the rotation: every member accepts both.
    members({ nova: ['nova-2', 'nova-1'] });
    const switched = passes(1);
    expect(state().runtime.users.nova).toBe('nova-2');
    expect(switched.stderr).toContain('user nova: new password loaded');
  });

  test('a member that refuses while another accepts, or no ONLINE member at all, keeps ProxySQL waiting', () => {
    start(FILES, { members: { monitor: ['mon-1'], nova: ['nova-1'], keystone: ['keystone-1'] } });
    kubelet({ PROXYSQL_USER_PASSWORD_NOVA: 'nova-2' });
    // galera-0 accepts the new password, galera-1 does not answer at all.
    patchState({ down: ['galera-1.galera'], members: { ...state().members, nova: ['nova-2', 'nova-1'] } });
    expect(passes(1).stderr).toContain("(galera-1.galera:3306: ERROR 2002 (HY000): Can't connect");
    expect(state().runtime.users.nova).toBe('nova-1');
    patchState({ down: [], servers: [['galera-0.galera', '3306', 'SHUNNED']] });
    expect(passes(1).stderr).toContain('(no member is ONLINE in ProxySQL)');
    expect(state().runtime.users.nova).toBe('nova-1');
  });

  test('the monitor: checked as the monitor user, then mysql-monitor_password and LOAD MYSQL VARIABLES TO RUNTIME', () => {
    start(FILES);
    passes(1);
    kubelet({ PROXYSQL_MONITOR_PASSWORD: 'mon-2' });
    passes(2);
    // Galera's monitor password changes when its members restart: until then the monitor keeps the old one, which
    // the members still accept (a refused monitor would take them OFFLINE).
    expect(state().runtime.monitor).toBe('mon-1');
    members({ monitor: ['mon-2', 'mon-1'] });
    clearCalls();
    passes(1);
    expect(calls().map((c) => `${c.host} ${c.user}: ${c.sql.trim()}`)).toEqual([
      `127.0.0.1 admin: SELECT COUNT(*) FROM global_variables WHERE variable_name='mysql-monitor_password' AND variable_value=${hex('mon-2')};`,
      "127.0.0.1 admin: SELECT DISTINCT hostname, port FROM runtime_mysql_servers WHERE status='ONLINE' ORDER BY hostname, port;",
      'galera-0.galera monitor: SELECT 1;',
      'galera-1.galera monitor: SELECT 1;',
      `127.0.0.1 admin: SELECT COUNT(*) FROM mysql_users WHERE username=${hex('nova')} AND password=${hex('nova-1')};`,
      `127.0.0.1 admin: SELECT COUNT(*) FROM mysql_users WHERE username=${hex('keystone')} AND password=${hex('keystone-1')};`,
      `127.0.0.1 admin: UPDATE global_variables SET variable_value=${hex('mon-2')} WHERE variable_name='mysql-monitor_password';\nLOAD MYSQL VARIABLES TO RUNTIME;`,
    ]);
    expect(state().runtime).toEqual({ users: { nova: 'nova-1', keystone: 'keystone-1' }, monitor: 'mon-2' });
  });

  test('users and monitor changed together: the users in one load, then the monitor', () => {
    start(FILES);
    kubelet({ PROXYSQL_MONITOR_PASSWORD: 'mon-2', PROXYSQL_USER_PASSWORD_NOVA: 'nova-2', PROXYSQL_USER_PASSWORD_KEYSTONE: 'keystone-2' });
    members({ monitor: ['mon-2', 'mon-1'], nova: ['nova-2', 'nova-1'], keystone: ['keystone-2', 'keystone-1'] });
    passes(1);
    expect(statements().filter((s) => !s.startsWith('SELECT'))).toEqual([
      `UPDATE mysql_users SET password=${hex('nova-2')} WHERE username=${hex('nova')};\n`
        + `UPDATE mysql_users SET password=${hex('keystone-2')} WHERE username=${hex('keystone')};\nLOAD MYSQL USERS TO RUNTIME;`,
      `UPDATE global_variables SET variable_value=${hex('mon-2')} WHERE variable_name='mysql-monitor_password';\nLOAD MYSQL VARIABLES TO RUNTIME;`,
    ]);
    expect(state().loads).toEqual(['users', 'variables']);
  });

  test('retries are bounded: a restarting admin interface is tried 3 times per call, then the pass stops and the next one starts over', () => {
    start(FILES);
    kubelet({ PROXYSQL_USER_PASSWORD_NOVA: 'nova-2' });
    members({ nova: ['nova-2', 'nova-1'] });
    // Two failures: the third try of the same call succeeds, the pass goes on.
    patchState({ admin_failures: 2 });
    passes(1);
    expect(state().runtime.users.nova).toBe('nova-2');

    start(FILES);
    kubelet({ PROXYSQL_USER_PASSWORD_NOVA: 'nova-3' });
    members({ nova: ['nova-3', 'nova-1'] });
    patchState({ admin_failures: 100 });
    clearCalls();
    const down = passes(2);
    // 3 tries in each pass, of its first call only; no member asked.
    expect(admin()).toHaveLength(6);
    expect(calls().filter((c) => c.host !== '127.0.0.1')).toEqual([]);
    expect(down.stderr.match(/the admin interface does not answer \(ERROR 2013/g)).toHaveLength(1);
    patchState({ admin_failures: 0 });
    passes(1);
    expect(state().runtime.users.nova).toBe('nova-3');
    // PROXYSQL_CREDENTIALS_ATTEMPTS sets the bound.
    start(FILES);
    patchState({ admin_failures: 100 });
    clearCalls();
    passes(1, { PROXYSQL_CREDENTIALS_ATTEMPTS: '1' });
    expect(admin()).toHaveLength(1);
  });

  test('a failed LOAD after its UPDATE: the next pass of the same watcher loads again (the table already holds the new password)', () => {
    start(FILES);
    kubelet({ PROXYSQL_USER_PASSWORD_NOVA: 'nova-2' });
    members({ nova: ['nova-2', 'nova-1'] });
    patchState({ fail_on: 'LOAD MYSQL USERS' });
    // One watcher process: a pass that fails at the LOAD, the fault cleared, a second pass.
    const clear = `python3 -c 'import json,sys; p=sys.argv[1]; s=json.load(open(p)); s.pop("fail_on"); json.dump(s, open(p, "w"))' "${join(dir, 'state.json')}"`;
    const r = spawnSync('bash', ['-c', `. "${SCRIPT}"; apply; echo "runtime after the first pass: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["runtime"]["users"]["nova"])' "${join(dir, 'state.json')}")" >&2; ${clear}; apply`], {
      encoding: 'utf8', timeout: 60_000, env: env({ PROXYSQL_CREDENTIALS_ATTEMPTS: '1' }), stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(r.stderr).toContain('users nova: the update failed');
    expect(r.stderr).toContain('runtime after the first pass: nova-1');
    // The stub's error quotes the statement, as SQLite's does: no hex literal (a password) reaches the log.
    expect(r.stderr).not.toMatch(/X'[0-9A-F]{4,}/);
    expect(r.stderr).toContain("X'...'");
    expect(r.stderr).toContain('user nova: new password loaded');
    expect(state().runtime.users.nova).toBe('nova-2');
    expect(state().loads).toEqual(['users']);
  });

  test('a half-updated Secret: each file on its own; a missing, empty or unloadable one is refused (said once) and the rest applied', () => {
    start(FILES);
    passes(1);
    // keystone gets a password ProxySQL's loader cannot take (start.sh would refuse it at the next start too), the
    // monitor's key is gone, nova changes properly.
    kubelet({ PROXYSQL_USER_PASSWORD_NOVA: 'nova-2', PROXYSQL_USER_PASSWORD_KEYSTONE: "it's", PROXYSQL_MONITOR_PASSWORD: undefined });
    members({ nova: ['nova-2', 'nova-1'], keystone: ["it's", 'keystone-1'] });
    const r = passes(3);
    expect(state().runtime).toEqual({ users: { nova: 'nova-2', keystone: 'keystone-1' }, monitor: 'mon-1' });
    expect(r.stderr.split('\n').filter(Boolean).sort()).toEqual([
      `credentials.sh: monitor monitor: no readable password file ${volume()}/PROXYSQL_MONITOR_PASSWORD; ProxySQL keeps its current password`,
      "credentials.sh: user keystone: the new password contains a single quote ('), which ProxySQL's loader cannot take in a user password; NOT applied, ProxySQL keeps its current password (fix the Secret)",
      "credentials.sh: user nova: new password loaded into ProxySQL's runtime (the members accept it; no restart)",
    ]);
    expect(r.stderr).not.toContain("it's");
    for (const [file, value, why] of [
      ['PROXYSQL_USER_PASSWORD_KEYSTONE', '', 'is empty'],
      ['PROXYSQL_USER_PASSWORD_KEYSTONE', 'line\nbreak', 'contains a control character'],
      ['PROXYSQL_MONITOR_PASSWORD', 'x"y', 'contains a double quote'],
    ]) {
      start(FILES);
      kubelet({ [file]: value });
      members({ monitor: [value, 'mon-1'], keystone: [value, 'keystone-1'] });
      expect(passes(2).stderr.match(new RegExp(why, 'g'))).toHaveLength(1);
      expect(state().runtime).toEqual({ users: { nova: 'nova-1', keystone: 'keystone-1' }, monitor: 'mon-1' });
    }
  });

  test('hostile passwords arrive byte for byte (hex in the SQL, escaped in the option file), and no password is in any argv, environment or log', () => {
    const hostile = {
      monitor: 'm\'on\\$(id);`x` é€ #c',
      nova: 'n"o\\va; DROP TABLE mysql_users; --\\',
      keystone: 'X\'41\' AS TEXT) --',
    };
    start(FILES);
    kubelet({ PROXYSQL_MONITOR_PASSWORD: hostile.monitor, PROXYSQL_USER_PASSWORD_NOVA: hostile.nova, PROXYSQL_USER_PASSWORD_KEYSTONE: 'keystone-1' });
    members({ monitor: [hostile.monitor], nova: [hostile.nova] });
    const r = passes(1);
    expect(state().runtime).toEqual({ users: { nova: hostile.nova, keystone: 'keystone-1' }, monitor: hostile.monitor });
    // A user password with a single quote is refused (ProxySQL's loader), so the third one is a monitor-style test of the SQL.
    expect(hostile.keystone).toContain("'");
    const secrets = [hostile.monitor, hostile.nova, 'mon-1', 'nova-1', 'keystone-1'];
    const all = calls();
    expect(all.length).toBeGreaterThan(4);
    for (const c of all) {
      for (const s of secrets) {
        expect(c.argv.join(' ')).not.toContain(s);
        expect(c.cmdline).not.toContain(s);
        expect(c.parent_cmdline).not.toContain(s);
        expect(c.environ).not.toContain(s);
        expect(c.parent_environ).not.toContain(s);
        expect(c.sql).not.toContain(s);
      }
      // The client's own password comes from an option file on a pipe, not MYSQL_PWD or -p.
      expect(c.argv[0]).toMatch(/^--defaults-file=\/dev\/fd\/\d+$/);
      expect(c.environ).not.toContain('MYSQL_PWD');
      expect(c.argv.join(' ')).not.toMatch(/(^| )(-p|--password)/);
    }
    for (const s of secrets) expect(r.stderr).not.toContain(s);
    expect(all.filter((c) => c.host === '127.0.0.1').every((c) => c.password === ADMIN_PASSWORD)).toBe(true);
  });

  test('TLS to the members: the check logs in with TLS and the CA (verified), the admin interface on loopback without', () => {
    start(FILES);
    kubelet({ PROXYSQL_USER_PASSWORD_NOVA: 'nova-2' });
    members({ nova: ['nova-2'] });
    passes(1, { PROXYSQL_BACKEND_CA: '/etc/proxysql-tls/ca.crt' });
    for (const c of calls()) {
      if (c.host === '127.0.0.1') expect(c.argv).toContain('--skip-ssl');
      else expect(c.argv).toEqual(expect.arrayContaining(['--ssl', '--ssl-ca=/etc/proxysql-tls/ca.crt', '--ssl-verify-server-cert']));
    }
    expect(calls().filter((c) => c.host !== '127.0.0.1')).toHaveLength(2);
  });

  test('live: 0 while the loop beats, 1 before its first pass or when it has not moved for PROXYSQL_CREDENTIALS_STALE_SECONDS', () => {
    const heartbeat = join(dir, 'heartbeat');
    const live = (env: Record<string, string> = {}) => spawnSync('bash', [SCRIPT, 'live'], {
      encoding: 'utf8', env: { PATH: '/usr/bin:/bin', PROXYSQL_CREDENTIALS_HEARTBEAT: heartbeat, ...env },
    });
    expect(live()).toMatchObject({ status: 1, stdout: expect.stringContaining('no pass has started yet') });
    start(FILES);
    passes(1);
    expect(live().status).toBe(0);
    writeFileSync(heartbeat, `${Math.floor(Date.now() / 1000) - 120}\n`);
    expect(live()).toMatchObject({ status: 1, stdout: expect.stringContaining('made no progress') });
    expect(live({ PROXYSQL_CREDENTIALS_STALE_SECONDS: '300' }).status).toBe(0);
  });

  test('watch: the loop applies a change at its next pass and stops at once on SIGTERM', async () => {
    start(FILES);
    const children: ChildProcess[] = [];
    const child = spawnInGroup(children, 'bash', [SCRIPT, 'watch'], { env: env({ PROXYSQL_CREDENTIALS_INTERVAL_SECONDS: '0.2' }), stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      const deadline = Date.now() + 30_000;
      while (!existsSync(join(dir, 'heartbeat')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      kubelet({ PROXYSQL_USER_PASSWORD_NOVA: 'nova-2' });
      members({ nova: ['nova-2', 'nova-1'] });
      while (state().runtime.users.nova !== 'nova-2' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(state().runtime.users.nova).toBe('nova-2');
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const t0 = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      killAll(children);
    }
  });
});

describe('start.sh reads the users\' and the monitor\'s passwords from the credentials volume', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'proxysql-start-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function render(files: Record<string, string>, env: Record<string, string>) {
    writeFileSync(join(dir, 'template.cnf'), 'monitor_password="@@PROXYSQL_MONITOR_PASSWORD@@"\npassword="@@PROXYSQL_USER_PASSWORD_NOVA@@"\n');
    installFiles(join(dir, 'credentials'), files);
    const r = spawnSync('bash', [START, '--render-only'], {
      encoding: 'utf8',
      env: {
        PATH: '/usr/bin:/bin', PROXYSQL_CONFIG_TEMPLATE: join(dir, 'template.cnf'), PROXYSQL_CONFIG: join(dir, 'out.cnf'), PROXYSQL_DATADIR: dir,
        PROXYSQL_CREDENTIALS_DIR: join(dir, 'credentials'), ...env,
      },
    });
    return { status: r.status, stderr: r.stderr, text: r.status === 0 ? readFileSync(join(dir, 'out.cnf'), 'utf8') : '' };
  }

  test('the file wins over a variable of the same name; without the file, the variable (pods started before the upgrade)', () => {
    expect(render({ PROXYSQL_MONITOR_PASSWORD: "m'o\\n", PROXYSQL_USER_PASSWORD_NOVA: 'from-file' }, { PROXYSQL_USER_PASSWORD_NOVA: 'from-env' }).text)
      .toBe('monitor_password="m\'o\\\\n"\npassword="from-file"\n');
    expect(render({ PROXYSQL_MONITOR_PASSWORD: 'mon' }, { PROXYSQL_USER_PASSWORD_NOVA: 'from-env' }).text).toBe('monitor_password="mon"\npassword="from-env"\n');
  });

  test('a file is read byte for byte and checked like a variable', () => {
    expect(render({ PROXYSQL_MONITOR_PASSWORD: 'mon', PROXYSQL_USER_PASSWORD_NOVA: 'pw\n' }, {})).toMatchObject({
      status: 1, stderr: expect.stringContaining('PROXYSQL_USER_PASSWORD_NOVA contains a control character'),
    });
    expect(render({ PROXYSQL_MONITOR_PASSWORD: '', PROXYSQL_USER_PASSWORD_NOVA: 'pw' }, {})).toMatchObject({
      status: 1, stderr: expect.stringContaining('PROXYSQL_MONITOR_PASSWORD is empty'),
    });
    expect(render({ PROXYSQL_MONITOR_PASSWORD: 'mon' }, {})).toMatchObject({ status: 1, stderr: expect.stringContaining('PROXYSQL_USER_PASSWORD_NOVA is not set') });
  });
});

describe('the ProxySQL pod: passwords as files, the credentials sidecar', () => {
  const secret = (name: string) => SecretValue.fromSecret(name, 'password');
  const USERS: DatabaseUser[] = [
    { name: 'nova', password: secret('nova-db'), databases: ['nova'] },
    { name: 'nova-b', password: SecretValue.fromSecret('nova-db-b', 'pw'), databases: ['nova'] },
  ];
  function layer(props: Partial<ProxySqlLayerProps> = {}, galeraTls = false, monitorSecret = 'galera-monitor'): K8sObject[] {
    const chart = newChart('openstack');
    const certificates = TlsCertificates.certManager({ issuer: { name: 'ca', kind: 'ClusterIssuer' } });
    const galera = new GaleraPetSet(chart, 'galera', {
      placement: Placement.onNodes(NODES),
      storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }),
      credentials: { rootPassword: secret('galera-root'), sstPassword: secret('galera-sst'), monitorPassword: secret(monitorSecret) },
      users: USERS,
      ...(galeraTls ? { tls: { certificates } } : {}),
    });
    new ProxySqlLayer(chart, 'proxysql', {
      galera, placement: Placement.onNodes(NODES), adminPassword: secret('proxysql-admin'), allowedClients: [{ podLabels: { application: 'nova' } }],
      ...(galeraTls ? { tls: { certificates } } : {}), ...props,
    });
    return synth(chart);
  }
  const pod = (objects: K8sObject[]) => find(objects, 'Deployment', 'proxysql').spec.template.spec;
  const container = (objects: K8sObject[], name: string) => pod(objects).containers.find((c: any) => c.name === name);

  test('one projected volume: the monitor\'s and each user\'s Secret key as the file its placeholder names, 0440, mounted whole and read-only', () => {
    const objects = layer();
    expectValidManifests(objects);
    const volume = pod(objects).volumes.find((v: any) => v.name === 'credentials');
    expect(volume).toEqual({
      name: 'credentials',
      projected: {
        defaultMode: 0o440,
        sources: [
          { secret: { name: 'galera-monitor', items: [{ key: 'password', path: 'PROXYSQL_MONITOR_PASSWORD', mode: 0o440 }] } },
          { secret: { name: 'nova-db', items: [{ key: 'password', path: 'PROXYSQL_USER_PASSWORD_NOVA', mode: 0o440 }] } },
          { secret: { name: 'nova-db-b', items: [{ key: 'pw', path: 'PROXYSQL_USER_PASSWORD_NOVA_B', mode: 0o440 }] } },
        ],
      },
    });
    const mounts = (name: string) => (container(objects, name).volumeMounts as any[]).filter((m) => m.name === 'credentials');
    expect(mounts('proxysql')).toEqual([{ name: 'credentials', mountPath: '/etc/proxysql-credentials', readOnly: true }]);
    expect(mounts('credentials')).toEqual([{ name: 'credentials', mountPath: '/etc/proxysql-credentials', readOnly: true }]);
    // The admin sidecar (probes, PAUSE, reader fallback) needs no user password.
    expect(mounts('admin')).toEqual([]);
  });

  test('no user or monitor password in any container\'s environment; the admin password stays a Secret reference', () => {
    const objects = layer();
    for (const c of pod(objects).containers) {
      const fromSecrets = (c.env as any[]).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.name);
      expect(fromSecrets).toEqual(['PROXYSQL_ADMIN_PASSWORD']);
      expect((c.env as any[]).map((e) => e.name)).not.toEqual(expect.arrayContaining([expect.stringMatching(/USER_PASSWORD|MONITOR_PASSWORD/)]));
    }
  });

  test('the credentials sidecar: the admin image, credentials.sh watch, which users and files, heartbeat probes', () => {
    const objects = layer();
    const c = container(objects, 'credentials');
    expect(c.image).toBe(GaleraPetSet.DEFAULT_IMAGE);
    expect(c.command).toEqual(['/opt/proxysql/credentials.sh', 'watch']);
    const env = Object.fromEntries((c.env as any[]).map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toEqual({
      PROXYSQL_ADMIN_PORT: '6032', PROXYSQL_ADMIN_USER: 'admin', PROXYSQL_ADMIN_PASSWORD: { secretKeyRef: { name: 'proxysql-admin', key: 'password' } },
      PROXYSQL_CREDENTIALS_DIR: '/etc/proxysql-credentials', PROXYSQL_MONITOR_USER: 'monitor',
      PROXYSQL_USERS: 'nova:PROXYSQL_USER_PASSWORD_NOVA nova-b:PROXYSQL_USER_PASSWORD_NOVA_B',
    });
    expect(c.readinessProbe.exec.command).toEqual(['/opt/proxysql/credentials.sh', 'live']);
    expect(c.livenessProbe.exec.command).toEqual(['/opt/proxysql/credentials.sh', 'live']);
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    expect(find(objects, 'ConfigMap', 'proxysql-scripts').data['credentials.sh']).toBe(readFileSync(SCRIPT, 'utf8'));
    expect(envOfProxysql(objects)).toMatchObject({ PROXYSQL_CREDENTIALS_DIR: '/etc/proxysql-credentials' });
  });
  const envOfProxysql = (objects: K8sObject[]) => Object.fromEntries((container(objects, 'proxysql').env as any[]).map((e) => [e.name, e.value ?? e.valueFrom]));

  test('with TLS to the members the check uses the mounted CA; without, no TLS mount in the sidecar', () => {
    const withTls = container(layer({}, true), 'credentials');
    expect(withTls.env).toEqual(expect.arrayContaining([{ name: 'PROXYSQL_BACKEND_CA', value: '/etc/proxysql-tls/ca.crt' }]));
    expect(withTls.volumeMounts).toEqual(expect.arrayContaining([{ name: 'tls', mountPath: '/etc/proxysql-tls', readOnly: true }]));
    expect(withTls.command).toEqual(['/opt/proxysql/credentials.sh', 'watch']);
    const plain = container(layer(), 'credentials');
    expect((plain.env as any[]).map((e) => e.name)).not.toContain('PROXYSQL_BACKEND_CA');
    expect((plain.volumeMounts as any[]).map((m) => m.name)).toEqual(['scripts', 'tmp', 'credentials']);
  });

  test('a Secret changed in place changes nothing in the manifests (the kubelet delivers it); another Secret changes the pod template (a roll)', () => {
    expect(JSON.stringify(pod(layer()))).toBe(JSON.stringify(pod(layer())));
    const moved = pod(layer({}, false, 'galera-monitor-2')).volumes.find((v: any) => v.name === 'credentials').projected.sources[0];
    expect(moved).toEqual({ secret: { name: 'galera-monitor-2', items: [{ key: 'password', path: 'PROXYSQL_MONITOR_PASSWORD', mode: 0o440 }] } });
  });
});
