/**
 * ProxySQL itself cannot be installed here (not in Debian, not on npm), so the rendered proxysql.cnf is checked
 * with what ProxySQL embeds to read it: the real libconfig parser (Debian libconfig-dev), through a tiny C program
 * compiled at test time that prints the parsed tree with libconfig's own types. The file is the one a pod would
 * get: the synthesized ConfigMap template, rendered by the synthesized start.sh with test passwords in the
 * environment, exactly as the Deployment's container would run it.
 *
 * Beyond syntax, the tree is read the way ProxySQL's loader reads it (lib/ProxySQL_Config.cpp): a key it looks
 * up as an int must be an int (a quoted int loads as 0), a global variable must be an int, a bool or a string (an
 * int64 or a float loads as an empty string), and every mandatory key of every row must be there (a row without
 * one is skipped with only a log line).
 */
import { spawnSync } from 'child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { SecretValue } from '../../lib';
import { K8sObject, find } from '../support/harness';
import { describeWithBinaries } from './support/daemons';
import { Tree, compileLibconfigChecker, parseLibconfig } from './support/libconfig';
import { proxySqlObjects } from '../support/fixtures';

const secret = (name: string) => SecretValue.fromSecret(name, 'password');

const synthesize = () =>
  proxySqlObjects([
    { name: 'nova', password: secret('nova-db'), databases: ['nova', 'nova_api'], maxConnections: 500 },
    { name: 'neutron', password: secret('neutron-db'), databases: ['neutron'] },
    { name: 'heat', password: secret('heat-db'), databases: ['heat'] },
  ], { metricsExporter: true });

/** Passwords that break naive renderers but that ProxySQL can load: each must come back byte for byte. */
const HOSTILE_BUT_VALID = {
  PROXYSQL_ADMIN_PASSWORD: 'adm\\in\'$HOME&$(id)`x`',
  PROXYSQL_MONITOR_PASSWORD: 'mon\\\\it\'or$1&',
  PROXYSQL_USER_PASSWORD_NOVA: 'no"va\\"; DROP$USER&\\é',
  PROXYSQL_USER_PASSWORD_NEUTRON: '@@PROXYSQL_USER_PASSWORD_HEAT@@',
  PROXYSQL_USER_PASSWORD_HEAT: 'h\\e:a;t%s&&\\\\',
};

describeWithBinaries('proxysql.cnf read by the real libconfig parser', ['bash', 'gcc', '/usr/include/libconfig.h'], ['gcc', 'libconfig-dev'], () => {
  let dir: string;
  let checker: string;
  let objects: K8sObject[];
  let containerEnv: Record<string, string>;
  let secretEnvNames: string[];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'proxysql-cnf-'));
    checker = compileLibconfigChecker(dir);
    objects = synthesize();
    const scripts = find(objects, 'ConfigMap', 'proxysql-scripts').data;
    writeFileSync(join(dir, 'start.sh'), scripts['start.sh']);
    chmodSync(join(dir, 'start.sh'), 0o755);
    writeFileSync(join(dir, 'template.cnf'), find(objects, 'ConfigMap', 'proxysql-config').data['proxysql.cnf']);
    const container = find(objects, 'Deployment', 'proxysql').spec.template.spec.containers.find((c: any) => c.name === 'proxysql');
    containerEnv = Object.fromEntries(container.env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
    // The admin password comes from env; the users' and monitor's from the credentials volume's files (live rotation).
    const credentials = find(objects, 'Deployment', 'proxysql').spec.template.spec.volumes.find((v: any) => v.name === 'credentials');
    const files: string[] = (credentials?.projected?.sources ?? []).flatMap((src: any) => (src.secret?.items ?? []).map((i: any) => i.path));
    secretEnvNames = [...container.env.filter((e: any) => e.valueFrom?.secretKeyRef).map((e: any) => e.name), ...files];
  }, 60_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the shipped start.sh in render-only mode with the container's plain env and the given passwords. */
  function render(passwords: Record<string, string>) {
    const output = join(dir, 'proxysql.cnf');
    rmSync(output, { force: true });
    const r = spawnSync('bash', [join(dir, 'start.sh'), '--render-only'], {
      encoding: 'utf8',
      timeout: 10_000,
      env: {
        PATH: process.env.PATH,
        ...containerEnv,
        PROXYSQL_CONFIG_TEMPLATE: join(dir, 'template.cnf'),
        PROXYSQL_CONFIG: output,
        PROXYSQL_DATADIR: dir,
        ...passwords,
      },
    });
    return { status: r.status, stderr: r.stderr, output };
  }

  const parse = (file: string): Record<string, Tree> => parseLibconfig(checker, file);

  function renderAndParse(passwords: Record<string, string> = HOSTILE_BUT_VALID): Record<string, Tree> {
    const r = render(passwords);
    if (r.status !== 0) throw new Error(`start.sh failed: ${r.stderr}`);
    return parse(r.output);
  }

  const asObject = (t: Tree | undefined) => t as Record<string, Tree>;
  const asList = (t: Tree | undefined) => t as Tree[];

  test('the container env feeds exactly the passwords the template refers to', () => {
    expect(secretEnvNames.sort()).toEqual(Object.keys(HOSTILE_BUT_VALID).sort());
    const template = find(objects, 'ConfigMap', 'proxysql-config').data['proxysql.cnf'] as string;
    const placeholders = [...template.matchAll(/@@([A-Z0-9_]+)@@/g)].map((m) => m[1]);
    expect(new Set(placeholders)).toEqual(new Set([
      'PROXYSQL_ADMIN_CREDENTIALS', 'PROXYSQL_MONITOR_PASSWORD',
      'PROXYSQL_USER_PASSWORD_NOVA', 'PROXYSQL_USER_PASSWORD_NEUTRON', 'PROXYSQL_USER_PASSWORD_HEAT',
    ]));
  });

  test('the template alone (placeholders in place) already parses', () => {
    expect(parse(join(dir, 'template.cnf')).datadir).toEqual({ string: '/var/lib/proxysql' });
  });

  test('every section ProxySQL reads is there, with the right types', () => {
    const cnf = renderAndParse();
    expect(cnf.datadir).toEqual({ string: '/var/lib/proxysql' });
    expect(asObject(cnf.admin_variables).mysql_ifaces).toEqual({ string: '127.0.0.1:6032' });
    // The built-in exporter: restapi_enabled is set from a string ("true", as ProxySQL stores it), the port an int.
    expect(asObject(cnf.admin_variables)).toMatchObject({ restapi_enabled: { string: 'true' }, restapi_port: { int: 6070 } });

    const vars = asObject(cnf.mysql_variables);
    expect(vars.interfaces).toEqual({ string: '0.0.0.0:3306;0.0.0.0:3307' });
    expect(vars.server_version).toEqual({ string: '11.4.7-MariaDB' });
    expect(vars.monitor_username).toEqual({ string: 'monitor' });
    expect(vars.monitor_galera_healthcheck_interval).toEqual({ int: 1000 });
    expect(vars.monitor_galera_healthcheck_timeout).toEqual({ int: 800 });
    expect(vars.monitor_galera_healthcheck_max_timeout_count).toEqual({ int: 2 });
    expect(vars.connect_timeout_server_max).toEqual({ int: 10000 });
    // Read_Global_Variables_from_configfile takes a bool, an int or a string; anything else becomes "".
    for (const group of [vars, asObject(cnf.admin_variables)]) {
      for (const [name, value] of Object.entries(group)) {
        expect([name, Object.keys(value)]).toEqual([name, [expect.stringMatching(/^(int|bool|string)$/)]]);
      }
    }

    const servers = asList(cnf.mysql_servers).map(asObject);
    expect(servers.map((s) => s.address)).toEqual([0, 1, 2].map((i) => ({ string: `galera-${i}.galera-peers.openstack.svc` })));
    expect(servers.map((s) => s.weight)).toEqual([{ int: 1000 }, { int: 999 }, { int: 998 }]);
    for (const s of servers) {
      expect(s).toMatchObject({ port: { int: 3306 }, hostgroup: { int: 10 }, max_connections: { int: 1000 } });
    }

    expect(asList(cnf.mysql_galera_hostgroups)).toEqual([{
      writer_hostgroup: { int: 10 }, backup_writer_hostgroup: { int: 20 }, reader_hostgroup: { int: 30 }, offline_hostgroup: { int: 9999 },
      active: { int: 1 }, max_writers: { int: 1 }, writer_is_also_reader: { int: 1 }, max_transactions_behind: { int: 100 },
      comment: { string: 'galera' },
    }]);

    const users = asList(cnf.mysql_users).map(asObject);
    expect(users.map((u) => u.username)).toEqual([{ string: 'nova' }, { string: 'neutron' }, { string: 'heat' }]);
    for (const u of users) {
      expect(u).toMatchObject({ default_hostgroup: { int: 10 }, transaction_persistent: { int: 1 }, active: { int: 1 } });
      expect(Object.keys(u.max_connections)).toEqual(['int']);
    }
    expect(users[0].max_connections).toEqual({ int: 500 });
    expect(users[1].max_connections).toEqual({ int: 4096 });

    const rules = asList(cnf.mysql_query_rules).map(asObject);
    expect(rules.map((r) => [r.rule_id, r.proxy_port, r.destination_hostgroup, r.apply])).toEqual([
      [{ int: 100 }, { int: 3307 }, { int: 10 }, { int: 1 }],
      [{ int: 200 }, { int: 3307 }, { int: 30 }, { int: 1 }],
    ]);
    expect(rules.map((r) => Object.keys(r.match_digest))).toEqual([['string'], ['string']]);
  });

  test('hostile but loadable passwords come back byte for byte, never expanded or substituted twice', () => {
    const cnf = renderAndParse();
    expect(asObject(cnf.admin_variables).admin_credentials).toEqual({ string: `admin:${HOSTILE_BUT_VALID.PROXYSQL_ADMIN_PASSWORD}` });
    expect(asObject(cnf.mysql_variables).monitor_password).toEqual({ string: HOSTILE_BUT_VALID.PROXYSQL_MONITOR_PASSWORD });
    const passwords = Object.fromEntries(asList(cnf.mysql_users).map(asObject).map((u) => [(u.username as any).string, u.password]));
    expect(passwords).toEqual({
      nova: { string: HOSTILE_BUT_VALID.PROXYSQL_USER_PASSWORD_NOVA },
      neutron: { string: '@@PROXYSQL_USER_PASSWORD_HEAT@@' },
      heat: { string: HOSTILE_BUT_VALID.PROXYSQL_USER_PASSWORD_HEAT },
    });
  });

  test('the rendered file is readable by its owner only', () => {
    const r = render(HOSTILE_BUT_VALID);
    expect(r.status).toBe(0);
    const mode = spawnSync('stat', ['-c', '%a', r.output], { encoding: 'utf8' }).stdout.trim();
    expect(mode).toBe('600');
  });

  test.each([
    ['a user password with a single quote', { PROXYSQL_USER_PASSWORD_NOVA: "it's" }, /PROXYSQL_USER_PASSWORD_NOVA contains a single quote/],
    ['a user password with a newline', { PROXYSQL_USER_PASSWORD_HEAT: 'line\nbreak' }, /PROXYSQL_USER_PASSWORD_HEAT contains a control character/],
    ['a user password with a tab', { PROXYSQL_USER_PASSWORD_HEAT: 'tab\there' }, /PROXYSQL_USER_PASSWORD_HEAT contains a control character/],
    ['an admin password with a double quote', { PROXYSQL_ADMIN_PASSWORD: 'say "hi"' }, /PROXYSQL_ADMIN_PASSWORD contains a double quote/],
    ['an admin password with a colon', { PROXYSQL_ADMIN_PASSWORD: 'a:b' }, /PROXYSQL_ADMIN_PASSWORD contains ':' or ';'/],
    ['an admin password with a semicolon', { PROXYSQL_ADMIN_PASSWORD: 'a;b' }, /PROXYSQL_ADMIN_PASSWORD contains ':' or ';'/],
    ['a monitor password with a double quote', { PROXYSQL_MONITOR_PASSWORD: 'x"y' }, /PROXYSQL_MONITOR_PASSWORD contains a double quote/],
    ['an empty password', { PROXYSQL_USER_PASSWORD_NEUTRON: '' }, /PROXYSQL_USER_PASSWORD_NEUTRON is empty/],
  ])('start.sh refuses %s with a clear error and writes no file', (_what, override, message) => {
    const r = render({ ...HOSTILE_BUT_VALID, ...override });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(spawnSync('test', ['-e', r.output]).status).not.toBe(0);
  });

  test('start.sh refuses a password whose Secret reference is missing', () => {
    const { PROXYSQL_USER_PASSWORD_HEAT: _missing, ...rest } = HOSTILE_BUT_VALID;
    const r = render(rest);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/PROXYSQL_USER_PASSWORD_HEAT is not set/);
  });
});
