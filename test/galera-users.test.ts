import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { renderUsersFile } from '../lib/galera/users';
import { databaseUserProblems } from '../lib/galera/validation';

const APPLY_USERS = path.resolve(__dirname, '../assets/galera/apply-users.sh');

describe('renderUsersFile', () => {
  test('one tab-separated line per user, sorted, with the defaults filled in', () => {
    const text = renderUsersFile([
      { name: 'nova', passwordEnv: 'NOVA_PW', databases: ['nova', 'nova_api'] },
      { name: 'glance', host: '10.0.0.%', passwordEnv: 'GLANCE_PW', databases: ['glance'], privileges: ['SELECT', 'LOCK TABLES'], maxConnections: 20 },
    ]);
    expect(text.split('\n').slice(1)).toEqual([
      'glance\t10.0.0.%\tGLANCE_PW\t20\tSELECT,LOCK TABLES\tglance',
      'nova\t%\tNOVA_PW\t0\tALL PRIVILEGES\tnova,nova_api',
      '',
    ]);
    expect(text).not.toMatch(/password\s*=|secret/i);
  });

  test('an account that requires TLS gets a seventh field, SSL; the others keep six (read by the previous script too)', () => {
    const text = renderUsersFile([
      { name: 'nova', passwordEnv: 'NOVA_PW', databases: ['nova'], requireTls: true },
      { name: 'placement', passwordEnv: 'PLACEMENT_PW', databases: ['placement'], requireTls: false },
    ]);
    expect(text.split('\n').slice(1)).toEqual(['nova\t%\tNOVA_PW\t0\tALL PRIVILEGES\tnova\tSSL', 'placement\t%\tPLACEMENT_PW\t0\tALL PRIVILEGES\tplacement', '']);
    expect(databaseUserProblems({ name: 'nova', passwordEnv: 'P', databases: ['nova'], requireTls: 'yes' as unknown as boolean }).map((p) => p.field)).toEqual(['requireTls']);
  });

  test('lists every problem of a user', () => {
    expect(databaseUserProblems({ name: 'bad name', host: 'a b', passwordEnv: '1X', databases: ['ok', 'x;y', '*'], privileges: ['all; drop'], maxConnections: -1 })
      .map((p) => [p.field, p.value])).toEqual([
      ['name', 'bad name'], ['host', 'a b'], ['passwordEnv', '1X'], ['databases[1]', 'x;y'], ['databases', ['ok', 'x;y', '*']],
      ['privileges[0]', 'all; drop'], ['maxConnections', -1],
    ]);
    expect(databaseUserProblems({ name: 'root', passwordEnv: 'GALERA_SST_PASSWORD', databases: [] })).toHaveLength(3);
    expect(() => renderUsersFile([{ name: 'x', passwordEnv: 'P', databases: [] }])).toThrow(/databases \[\] is empty/);
  });
});

describe('apply-users.sh --print-sql (the SQL a brand-new cluster is initialized with)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'apply-users-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function run(users: string, env: Record<string, string>) {
    const file = path.join(dir, 'users.tsv');
    fs.writeFileSync(file, users);
    return spawnSync('bash', [APPLY_USERS, '--print-sql'], { env: { PATH: process.env.PATH, GALERA_USERS_FILE: file, ...env }, encoding: 'utf8' });
  }

  test('escapes quotes and backslashes in passwords; built-in SST and monitor users get their grants', () => {
    const result = run(renderUsersFile([{ name: 'nova', passwordEnv: 'NOVA_PW', databases: ['nova'] }]), {
      NOVA_PW: `a'b\\c"d`, GALERA_SST_PASSWORD: `s'`, GALERA_MONITOR_PASSWORD: 'm', MARIADB_ROOT_PASSWORD: '\\',
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`CREATE USER IF NOT EXISTS 'nova'@'%' IDENTIFIED BY 'a''b\\\\c"d' WITH MAX_USER_CONNECTIONS 0;`);
    expect(result.stdout).toContain('GRANT ALL PRIVILEGES ON `nova`.* TO \'nova\'@\'%\';');
    expect(result.stdout).toContain(`CREATE USER IF NOT EXISTS 'mariabackup'@'localhost' IDENTIFIED BY 's'''`);
    expect(result.stdout).toContain(`GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'mariabackup'@'localhost';`);
    expect(result.stdout).toContain(`GRANT PROCESS, BINLOG MONITOR ON *.* TO 'monitor'@'%';`);
    expect(result.stdout).toContain(`USING PASSWORD('\\\\')`);
    expect(result.stdout.startsWith("SET SESSION sql_mode='';\nFLUSH PRIVILEGES;")).toBe(true);
  });

  test('an account with SSL in its seventh field is created REQUIRE SSL; any other seventh field is refused', () => {
    const ok = run('nova\t%\tNOVA_PW\t0\tALL PRIVILEGES\tnova\tSSL\nglance\t%\tGLANCE_PW\t0\tALL PRIVILEGES\tglance\n', { NOVA_PW: 'n', GLANCE_PW: 'g' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain("CREATE USER IF NOT EXISTS 'nova'@'%' IDENTIFIED BY 'n' REQUIRE SSL WITH MAX_USER_CONNECTIONS 0;");
    expect(ok.stdout).toContain("CREATE USER IF NOT EXISTS 'glance'@'%' IDENTIFIED BY 'g' WITH MAX_USER_CONNECTIONS 0;");
    const bad = run('nova\t%\tNOVA_PW\t0\tALL PRIVILEGES\tnova\tX509\n', { NOVA_PW: 'n' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("apply-users: nova: the seventh field 'X509' must be SSL or absent");
  });

  test('refuses a bad file as a whole and names every problem', () => {
    const result = run('bad user\t%\tP\t0\tALL PRIVILEGES\tdb\nok\t%\tMISSING\tx\tSELECT; DROP\tdb`x\n', { P: 'p' });
    expect(result.status).not.toBe(0);
    expect(result.stdout).toBe('');
    for (const problem of ["user name 'bad user'", 'MISSING', "max connections 'x'", 'privileges', 'databases']) {
      expect(result.stderr).toContain(problem);
    }
  });
});
