/**
 * The Galera SST and root passwords rotate live, like the monitor's and the users': both are files of the credentials
 * volume; apply-users.sh rotates the accounts with the grace (old and new both accepted) and, once this member's SST
 * account accepts the file's password, sets this member's wsrep_sst_auth to it (SET GLOBAL: dynamic); the entrypoint
 * renders wsrep_sst_auth from the file before every start of mariadbd. Here against a stand-in client; the real
 * mariadbd, a 3-member cluster and SSTs during and after the grace are in
 * test/integration/galera-credential-rotation.test.ts.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { installStandInClient, runApplyUsers, sqlLiteral, standInCalls, writeSecretVolume } from './support/secret-volume';

const ASSETS = path.resolve(__dirname, '../assets/galera');
const ENTRYPOINT = path.join(ASSETS, 'entrypoint.sh');

/** Passwords that break naive quoting in SQL, shell and option files (a colon, as wsrep_sst_auth is user:password). */
const HOSTILE = [`s'st:pw\\"; DROP USER x; -- $(id) \`id\` #é`, `r:o\\\\ot'--\t%s`, '$GALERA_SST_PASSWORD'];

describe('apply-users.sh: the SST and root passwords from the credentials volume (stand-in client)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galera-creds-'));
    installStandInClient(dir);
    fs.writeFileSync(path.join(dir, 'users.tsv'), '');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const credentials = (files: Record<string, string>) => writeSecretVolume(path.join(dir, 'credentials'), files);
  const run = (args: string[], env: Record<string, string> = {}) => runApplyUsers(dir, args, env);
  const calls = () => standInCalls(dir);

  test.each(HOSTILE)('a live run rotates the SST account from its file, then sets wsrep_sst_auth to it, last; the password only on stdin (%#)', (password) => {
    credentials({ GALERA_SST_PASSWORD: password });
    const result = run([], { GALERA_SST_USER: 'sst-user' });
    expect(result.stderr).not.toMatch(/apply-users: /);
    expect(result.status).toBe(0);
    const [call] = calls();
    const literal = sqlLiteral(password);
    expect(call.sql).toContain(`@ha_old=PASSWORD(${literal})`);
    expect(call.sql).toContain(`ALTER USER ''sst-user''@''localhost'' IDENTIFIED VIA mysql_native_password USING PASSWORD(${sqlLiteral(literal).slice(1, -1)}) OR mysql_native_password USING `);
    // The grace's end, as for every account.
    expect(call.sql).toMatch(/WHERE User='sst-user' AND Host='localhost'\n {2}AND JSON_VALUE\(Priv, '\$\.authentication_string'\)=PASSWORD\(.*\+ 600 < UNIX_TIMESTAMP\(\)/s);
    // wsrep_sst_auth only after the account accepts it: the last statement, in the same session (the client stops at
    // the first error, so a run that failed before never offers a password the account refuses).
    const statements = call.sql.trim().split('\n');
    expect(statements[statements.length - 1]).toBe(`SET GLOBAL wsrep_sst_auth=${sqlLiteral(`sst-user:${password}`)};`);
    expect(call.sql.indexOf('SET GLOBAL wsrep_sst_auth')).toBeGreaterThan(call.sql.lastIndexOf('ALTER USER'));
    for (const part of password.split(/\s+/).filter((p) => p.length >= 6)) {
      expect(call.args).not.toContain(part);
      expect(call.environ).not.toContain(part);
    }
  });

  test('root rotates with the grace, unix_socket kept first: the new password, the old one by its hash, the end after the grace (auth_or[2])', () => {
    credentials({ MARIADB_ROOT_PASSWORD: "r'2" });
    expect(run([]).status).toBe(0);
    expect(run(['--finish-rotations']).status).toBe(0);
    const [live, finish] = calls();
    expect(live.sql).toContain("WHERE User='root' AND Host='localhost');");
    expect(live.sql).toContain("@ha_old=PASSWORD('r''2')");
    expect(live.sql).toContain("ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(''r''''2'') OR mysql_native_password USING ");
    // A root with no password hash yet (mariadb-install-db's `invalid`): set outright, unix_socket first.
    expect(live.sql).toContain("'ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(''r''''2'')'");
    for (const sql of [live.sql, finish.sql]) {
      expect(sql).toMatch(/WHERE User='root' AND Host='localhost'\n {2}AND JSON_VALUE\(Priv, '\$\.authentication_string'\)=PASSWORD\('r''2'\) AND JSON_EXISTS\(Priv, '\$\.auth_or\[2\]'\)\n {2}AND .*\+ 600 < UNIX_TIMESTAMP\(\)/);
    }
    // The finish run starts nothing and sets nothing live.
    expect(finish.sql).not.toContain('@ha_old');
    expect(finish.sql).not.toContain('wsrep_sst_auth');
  });

  test('a brand-new cluster (--print-sql): the accounts from the files, no SET GLOBAL (mariadbd --bootstrap has the file\'s value already)', () => {
    credentials({ GALERA_SST_PASSWORD: 's1', MARIADB_ROOT_PASSWORD: 'r1' });
    const fresh = run(['--print-sql']);
    expect(fresh.status).toBe(0);
    expect(fresh.stdout).toContain("CREATE USER IF NOT EXISTS 'mariabackup'@'localhost' IDENTIFIED BY 's1' WITH MAX_USER_CONNECTIONS 0;");
    expect(fresh.stdout).toContain("ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('r1');");
    expect(fresh.stdout).not.toContain('wsrep_sst_auth');
  });

  test('the files win over variables left in the environment; with neither, no SST account, no root password, no wsrep_sst_auth', () => {
    credentials({ GALERA_SST_PASSWORD: 'sst-file', MARIADB_ROOT_PASSWORD: 'root-file' });
    expect(run([], { GALERA_SST_PASSWORD: 'sst-env', MARIADB_ROOT_PASSWORD: 'root-env' }).status).toBe(0);
    fs.rmSync(path.join(dir, 'credentials'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'credentials'));
    expect(run([]).status).toBe(0);
    const [files, none] = calls();
    expect(files.sql).toContain("wsrep_sst_auth='mariabackup:sst-file'");
    expect(files.sql).toContain("PASSWORD('root-file')");
    expect(files.sql).not.toMatch(/-env/);
    expect(none.sql).not.toMatch(/mariabackup|root@localhost|wsrep_sst_auth/);
  });

  test.each(['GALERA_SST_PASSWORD', 'MARIADB_ROOT_PASSWORD'])('an empty %s file (a half-written Secret) is refused as a whole: nothing is sent, the problem is named', (file) => {
    credentials({ GALERA_SST_PASSWORD: 's', MARIADB_ROOT_PASSWORD: 'r', [file]: '' });
    const result = run([]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`its password file ${path.join(dir, 'credentials')}/${file} is empty`);
    expect(calls()).toEqual([]);
  });
});

describe('entrypoint.sh: wsrep_sst_auth from the SST password file, at every start of mariadbd', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galera-sst-auth-'));
    fs.mkdirSync(path.join(dir, 'credentials'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const render = (env: Record<string, string> = {}) => {
    const result = spawnSync('bash', ['-c', `. ${ENTRYPOINT}; render_runtime_config && cat "$GALERA_RUN_DIR/99-runtime.cnf"`], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, GALERA_RUN_DIR: dir, GALERA_CREDENTIALS_DIR: path.join(dir, 'credentials'), POD_NAME: 'galera-0', POD_IP: '10.0.0.1', ...env },
    });
    expect(result.status).toBe(0);
    return /^wsrep_sst_auth = (.*)$/m.exec(result.stdout)?.[1];
  };

  test('the file, quoted for the option file (backslash and double quote escaped), over a variable left in the environment; mode 600', () => {
    fs.writeFileSync(path.join(dir, 'credentials', 'GALERA_SST_PASSWORD'), 'a"b\\c:d');
    expect(render({ GALERA_SST_PASSWORD: 'from-env', GALERA_SST_USER: 'sst' })).toBe('"sst:a\\"b\\\\c:d"');
    expect(fs.statSync(path.join(dir, '99-runtime.cnf')).mode & 0o777).toBe(0o600);
    // The kubelet changed the file: the next start of mariadbd takes the new one.
    fs.writeFileSync(path.join(dir, 'credentials', 'GALERA_SST_PASSWORD'), 'new');
    expect(render({ GALERA_SST_USER: 'sst' })).toBe('"sst:new"');
    // No file: the variable (a run outside the pod).
    fs.rmSync(path.join(dir, 'credentials', 'GALERA_SST_PASSWORD'));
    expect(render({ GALERA_SST_PASSWORD: 'from-env' })).toBe('"mariabackup:from-env"');
  });

  test('main renders the runtime config inside its loop, before each establish/start (a restart in the container re-reads the file)', () => {
    const text = fs.readFileSync(ENTRYPOINT, 'utf8');
    const main = text.slice(text.indexOf('\nmain() {'));
    const loop = main.slice(main.indexOf('while ((TERMINATING == 0)); do'));
    expect(loop.indexOf('render_runtime_config')).toBeGreaterThan(0);
    expect(loop.indexOf('render_runtime_config')).toBeLessThan(loop.indexOf('start_mariadbd'));
    expect(main.slice(0, main.indexOf('while ((TERMINATING == 0)); do'))).not.toContain('render_runtime_config');
  });
});
