/**
 * Per-account TLS (DatabaseUser.requireTls) with the real mariadbd: GaleraPetSet's apply-users.sh, fed the users
 * file the library renders, creates an account with `REQUIRE SSL` and turns it on and off on an existing one
 * (`ALTER USER ... REQUIRE SSL | NONE`); the server then refuses that account's plaintext logins and accepts its TLS
 * ones, while an account without it logs in either way. A re-run with nothing to change alters no account.
 *
 * One mariadbd with TLS on 127.0.0.1:33987 (a port no other file uses), data in /tmp/reqtls-itest-*, certificates
 * made by openssl (support/certs.ts); no network namespace, no lock of its own.
 */
import { ChildProcess, spawnSync } from 'child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { DatabaseUserModel, renderUsersFile } from '../../lib/galera/users';
import { TestCa } from './support/certs';
import { clientOptionFile, startStandaloneMariadb, StandaloneMariadb, stopStandaloneMariadb } from './support/standalone-mariadb';

jest.setTimeout(300_000);

const ROOT = resolve(__dirname, '..', '..');
const APPLY_USERS = join(ROOT, 'assets', 'galera', 'apply-users.sh');
const PORT = 33987;
const PASSWORDS: Record<string, string> = { GALERA_PASSWORD_NOVA: 'nova"pw\\', GALERA_PASSWORD_GLANCE: "glance'pw" };

describe('requireTls: REQUIRE SSL per account, applied by apply-users.sh to a real mariadbd', () => {
  let dir: string;
  let db: StandaloneMariadb | undefined;
  let server: ChildProcess | undefined;
  let ca: TestCa;

  /** A real TCP login of USER (password in an option file, never argv): `plain` with --skip-ssl, `tls` verifying the CA. */
  const login = (user: string, mode: 'plain' | 'tls'): { ok: boolean; out: string } => {
    const env = `GALERA_PASSWORD_${user.toUpperCase()}`;
    writeFileSync(join(dir, 'login.cnf'), clientOptionFile(user, PASSWORDS[env]), { mode: 0o600 });
    const tls = mode === 'tls' ? ['--ssl', `--ssl-ca=${ca.caFile}`, '--ssl-verify-server-cert'] : ['--skip-ssl'];
    const r = spawnSync('mariadb', [`--defaults-file=${join(dir, 'login.cnf')}`, ...tls, '--protocol=tcp', '-h', '127.0.0.1', '-P', String(PORT), '-N', '-B',
      '-e', "SHOW SESSION STATUS LIKE 'Ssl_version'"], { encoding: 'utf8' });
    return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
  };

  /** The users file as GaleraPetSet renders it, then one live apply-users.sh run. */
  const applyUsers = (users: DatabaseUserModel[]): void => {
    writeFileSync(join(dir, 'users.tsv'), renderUsersFile(users));
    const r = spawnSync('bash', [APPLY_USERS], {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', GALERA_RUN_DIR: dir, GALERA_USERS_FILE: join(dir, 'users.tsv'), GALERA_CREDENTIALS_DIR: join(dir, 'credentials') },
    });
    if (r.status !== 0) throw new Error(`apply-users.sh failed: ${r.stderr}`);
  };
  const users = (novaTls: boolean, glanceTls: boolean): DatabaseUserModel[] => [
    { name: 'nova', passwordEnv: 'GALERA_PASSWORD_NOVA', databases: ['nova'], requireTls: novaTls },
    { name: 'glance', passwordEnv: 'GALERA_PASSWORD_GLANCE', databases: ['glance'], requireTls: glanceTls },
  ];
  const sslType = (user: string) => db!.root(`SELECT ssl_type FROM mysql.user WHERE User='${user}' AND Host='%'`).trim();
  const alters = () => Number(db!.root("SHOW GLOBAL STATUS LIKE 'Com_alter_user'").split('\t')[1]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'reqtls-itest-'));
    ca = new TestCa(dir, 'reqtls');
    const leaf = ca.issue({ sans: ['IP:127.0.0.1', 'DNS:localhost'] });
    writeFileSync(join(dir, 'server.crt'), leaf.certificate);
    writeFileSync(join(dir, 'server.key'), leaf.privateKey, { mode: 0o600 });
    mkdirSync(join(dir, 'credentials'));
    for (const [file, value] of Object.entries(PASSWORDS)) writeFileSync(join(dir, 'credentials', file), value);
    db = await startStandaloneMariadb(dir, PORT, [`--ssl-cert=${join(dir, 'server.crt')}`, `--ssl-key=${join(dir, 'server.key')}`, `--ssl-ca=${ca.caFile}`]);
    server = db.server;
    writeFileSync(join(dir, 'client.cnf'), `[client]\nsocket=${join(dir, 'sock')}\nuser=root\n`);
  });

  afterAll(async () => {
    await stopStandaloneMariadb(server);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a new account with requireTls is created REQUIRE SSL: its plaintext login is refused, its TLS login accepted', () => {
    applyUsers(users(true, false));
    expect(sslType('nova')).toBe('ANY');
    expect(sslType('glance')).toBe('');
    const plain = login('nova', 'plain');
    expect(plain.ok).toBe(false);
    expect(plain.out).toMatch(/ERROR 1045 .*Access denied for user 'nova'/);
    expect(login('nova', 'tls')).toEqual({ ok: true, out: expect.stringMatching(/^Ssl_version\tTLSv1\.[23]$/) });
    // An account without it logs in either way (the server does not require TLS of everyone).
    expect(login('glance', 'plain')).toEqual({ ok: true, out: 'Ssl_version' });
    expect(login('glance', 'tls').ok).toBe(true);
  });

  test('turned on and off on existing accounts by the next run (ALTER USER ... REQUIRE); a run with nothing to change alters nothing', () => {
    applyUsers(users(false, true));
    expect(sslType('nova')).toBe('');
    expect(sslType('glance')).toBe('ANY');
    expect(login('nova', 'plain').ok).toBe(true);
    expect(login('glance', 'plain').ok).toBe(false);
    expect(login('glance', 'tls').ok).toBe(true);
    const before = alters();
    applyUsers(users(false, true));
    expect(alters()).toBe(before);
    // A REQUIRE set by hand (X509) is the library's to reset: the account is as the props say after the next run.
    db!.root("ALTER USER 'nova'@'%' REQUIRE X509");
    applyUsers(users(false, true));
    expect(sslType('nova')).toBe('');
    expect(login('nova', 'plain').ok).toBe(true);
  });
});
