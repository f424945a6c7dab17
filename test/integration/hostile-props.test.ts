/**
 * Random strings in every free-text prop of HaproxyLoadBalancer, KeepalivedVip, GaleraPetSet and ProxySqlLayer:
 * either the construct refuses the value, or every rendered config file still passes the real daemon's own checker
 * (`haproxy -c`, `keepalived -t`, `mariadbd --help --verbose` and `my_print_defaults` for server.cnf, the libconfig
 * parser ProxySQL embeds for proxysql.cnf) and contains the string only in the lines meant for it. Bounded (100
 * runs per prop), and only config checks: no daemon is started.
 *
 * memcached has no config file (its arguments are numbers and a `$(HOST_IP)` reference, covered by the unit
 * tests). RabbitMQ's free text (user and vhost names, policy patterns) goes into definitions.json, which the
 * broker parses only at boot; cuttlefish's own parser ships inside rabbitmq-server but checking the rendered
 * files needs a booted node, which the rabbitmq suite does: not repeated here.
 */
import { spawnSync } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import * as fc from 'fast-check';
import {
  DatabaseUser, GaleraPetSet, GaleraPetSetProps, GaleraStorage, HaproxyLoadBalancer, KeepalivedVip, LoadBalancedService, Placement,
  ProxySqlLayer, ProxySqlLayerProps, SecretValue, VipTrack,
} from '../../lib';
import { HOSTILE_STRINGS } from '../support/hostile';
import { find, newChart, synth } from '../support/harness';
import { describeWithBinaries } from './support/daemons';
import { Tree, compileLibconfigChecker, parseLibconfig } from './support/libconfig';
import { NODES } from '../support/fixtures';

const RUNS = 100;
/** Random text, the hostile list, and plausible values, so that both refusals and accepted values are exercised. */
const text = (plausible: fc.Arbitrary<string>) => fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom(...HOSTILE_STRINGS), plausible);

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'hostile-props-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(command: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Built, or undefined when the construct refused the value (the refusal is what the unit tests check). */
function built<T>(build: () => T): T | undefined {
  try { return build(); } catch (e) { if (/has invalid props/.test((e as Error).message)) return undefined; throw e; }
}

/**
 * The string lands only where intended: every line that differs from the config rendered with a baseline value
 * (the lines the value changed or added, e.g. by a newline injection) matches `where`.
 */
function onlyWhere(config: string, baseline: string, where: RegExp): boolean {
  const before = new Set(baseline.split('\n'));
  return config.split('\n').filter((l) => !before.has(l)).every((l) => where.test(l));
}

describeWithBinaries('hostile props: haproxy -c', ['haproxy'], ['haproxy'], () => {
  function check(services: LoadBalancedService[], name: string): { cfg: string; ok: boolean } | undefined {
    const chart = newChart('openstack');
    if (!built(() => new HaproxyLoadBalancer(chart, 'lb', { placement: Placement.onNodes(NODES), services }))) return undefined;
    const cfg = synth(chart).find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'lb-config')!.data['haproxy.cfg'];
    const file = join(dir, `${name}.cfg`);
    writeFileSync(file, cfg);
    const r = run('haproxy', ['-c', '-f', file]);
    return { cfg, ok: r.status === 0 };
  }
  const props: [string, fc.Arbitrary<string>, (s: string) => LoadBalancedService, RegExp, string][] = [
    ['checkPath', fc.stringMatching(/^\/[a-z0-9._~\/?=&-]{0,20}$/), (s) => LoadBalancedService.openStackApi('keystone', { servers: [{ address: '10.1.0.5' }], checkPath: s }), /^  http-check send meth GET uri /, '/baseline'],
    ['service name', fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/), (s) => LoadBalancedService.tcp(s, 5000, { servers: [{ address: '10.1.0.5' }] }), /^(listen |  server |# )/, 'baseline'],
    ['server address', fc.stringMatching(/^[a-z][a-z0-9-]{0,10}(\.[a-z0-9-]{1,10}){0,3}$/), (s) => LoadBalancedService.tcp('x', 5000, { servers: [{ address: s }] }), /^  server x-0 /, 'baseline.example'],
    ['discoverFrom', fc.stringMatching(/^[a-z][a-z0-9-]{0,10}(\.[a-z0-9-]{1,10}){0,3}$/), (s) => LoadBalancedService.tcp('x', 5000, { discoverFrom: s }), /^  server-template x- /, 'baseline.example'],
  ];
  test.each(props)('%s: refused, or accepted by haproxy -c and only where intended', (name, plausible, service, where, base) => {
    const baseline = check([service(base)], 'baseline')!;
    expect(baseline.ok).toBe(true);
    fc.assert(fc.property(text(plausible), (s) => {
      const r = check([service(s)], name.replace(/ /g, '-'));
      return r === undefined || (r.ok && onlyWhere(r.cfg, baseline.cfg, where));
    }), { numRuns: RUNS });
  });
});

describeWithBinaries('hostile props: keepalived -t', ['keepalived'], ['keepalived'], () => {
  // keepalived -t needs the interface to exist: the first non-loopback one of this machine.
  const iface = run('sh', ['-c', "ls /sys/class/net | grep -v '^lo$' | head -1"]).output.trim();
  function check(props: { name?: string; track?: VipTrack }): { files: string[]; ok: boolean; output: string } | undefined {
    const chart = newChart('openstack');
    const vip = built(() => new KeepalivedVip(chart, 'vip', {
      address: '10.0.0.10', prefixLength: 24, interface: iface, placement: Placement.onNodes(NODES), virtualRouterId: 51,
      track: props.track ?? VipTrack.tcp(5000), name: props.name,
    }));
    if (!vip) return undefined;
    const cm = synth(chart).find((o) => o.kind === 'ConfigMap')!;
    const files = Object.values<string>(cm.data);
    const file = join(dir, 'keepalived.conf');
    writeFileSync(file, files[0]);
    const r = run('keepalived', ['-t', '-f', file]);
    // keepalived -t exits 0 even when it ignores a bad value: any line of output is a problem.
    return { files, ok: r.status === 0 && r.output.trim() === '', output: r.output };
  }
  test('the unmodified config passes (so the property below can fail)', () => {
    expect(check({})).toMatchObject({ ok: true });
  });
  test('track path: refused, or accepted by keepalived -t and only in the track script', () => {
    const baseline = check({ track: VipTrack.http(8404, '/baseline') })!;
    fc.assert(fc.property(text(fc.stringMatching(/^\/[a-z0-9._~\/?=&-]{0,20}$/)), (s) => {
      const r = check({ track: VipTrack.http(8404, s) });
      return r === undefined || (r.ok && r.files.every((f, i) => onlyWhere(f, baseline.files[i], /^  script "\/usr\/bin\/curl /)));
    }), { numRuns: RUNS });
  });
  test('name: refused, or accepted by keepalived -t and only in instance, script and comment lines', () => {
    const baseline = check({ name: 'baseline' })!;
    fc.assert(fc.property(text(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/)), (s) => {
      const r = check({ name: s });
      return r === undefined || (r.ok && r.files.every((f, i) => onlyWhere(f, baseline.files[i], /^(# keepalived\.conf|vrrp_script chk_|vrrp_instance VI_|    chk_)/)));
    }), { numRuns: RUNS });
  });
});

const secret = (name: string) => SecretValue.fromSecret(name, 'password');
const NOVA: DatabaseUser = { name: 'nova', password: secret('nova-db'), databases: ['nova'] };
const galeraProps = (p: Partial<GaleraPetSetProps>, monitorUser?: string): GaleraPetSetProps => ({
  placement: Placement.onNodes(NODES), storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }), users: [NOVA],
  credentials: { rootPassword: secret('root'), sstPassword: secret('sst'), monitorPassword: secret('monitor'), monitorUser }, ...p,
});

describeWithBinaries('hostile props: mariadbd and my_print_defaults read server.cnf', ['mariadbd', 'my_print_defaults'], ['mariadb-server'], () => {
  /** The groups mariadbd reads (plus a user section, when the property puts one in). */
  const SERVER_GROUPS = ['mysqld', 'server', 'mariadb', 'mariadbd', 'galera', 'client-server'];
  /** Options the library owns: every one of their lines must stay as in the baseline, whatever the user adds. */
  const OWNED_LINE = /^--(wsrep_\w+|port|bind_address|tmpdir|tmp_disk_table_size|binlog_format|innodb_autoinc_lock_mode|default_storage_engine)=/;
  interface Checked { cnf: string; users: string; options: string[]; ok: boolean; output: string }
  function check(p: Partial<GaleraPetSetProps>, group?: string): Checked | undefined {
    const chart = newChart('openstack');
    if (!built(() => new GaleraPetSet(chart, 'galera', galeraProps(p)))) return undefined;
    const data = find(synth(chart), 'ConfigMap', 'galera-config').data;
    const file = join(dir, 'server.cnf');
    writeFileSync(file, data['server.cnf']);
    const printed = spawnSync('my_print_defaults', [`--defaults-file=${file}`, ...SERVER_GROUPS, ...(group ? [group] : [])], { encoding: 'utf8', timeout: 20_000 });
    const help = run('mariadbd', [`--defaults-file=${file}`, '--help', '--verbose']);
    return { cnf: data['server.cnf'], users: data['users.tsv'], options: printed.stdout.split('\n').filter(Boolean), ok: help.status === 0, output: help.output };
  }
  /** Only the options matching `where` changed or were added, and every owned option is still ours. */
  const onlyOptions = (r: Checked, base: Checked, where: RegExp) => {
    const before = new Set(base.options);
    const after = new Set(r.options);
    return r.options.filter((l) => !before.has(l)).every((l) => where.test(l)) &&
      base.options.filter((l) => OWNED_LINE.test(l) && !where.test(l)).every((l) => after.has(l));
  };
  let baseline: Checked;
  beforeAll(() => { baseline = check({})!; });

  test('the unmodified server.cnf passes both (so the properties below can fail)', () => {
    expect(baseline).toMatchObject({ ok: true });
    expect(baseline.options).toContain('--wsrep_cluster_name=galera');
  });

  // [prop, plausible values, props, the only option lines it may change, the line that must read back exactly]
  const props: [string, fc.Arbitrary<string>, (s: string) => Partial<GaleraPetSetProps>, RegExp, (s: string) => string][] = [
    ['clusterName', fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), (s) => ({ clusterName: s }), /^--wsrep_cluster_name=/, (s) => `--wsrep_cluster_name=${s}`],
    ['serverConfig value', fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,30}$/), (s) => ({ serverConfig: { mysqld: { report_host: s } } }), /^--report_host=/, (s) => `--report_host=${s}`],
    ['serverConfig provider option', fc.stringMatching(/^[0-9]{1,4}$/), (s) => ({ serverConfig: { galera: { wsrep_provider_options: `gcs.fc_limit=${s}` } } }),
      /^--wsrep_provider_options=/, (s) => `${baseline.options.find((l) => l.startsWith('--wsrep_provider_options='))}; gcs.fc_limit=${s}`],
    ['gcacheSize', fc.stringMatching(/^[1-9][0-9]{0,3}[MG]$/), (s) => ({ gcacheSize: s }), /^--wsrep_provider_options=/,
      (s) => baseline.options.find((l) => l.startsWith('--wsrep_provider_options='))!.replace('gcache.size=1G', `gcache.size=${s}`)],
  ];
  test.each(props)('%s: refused, or accepted by mariadbd, read back exactly, and only where intended', (_name, plausible, given, where, line) => {
    fc.assert(fc.property(text(plausible), (s) => {
      const r = check(given(s));
      return r === undefined || (r.ok && r.options.includes(line(s)) && onlyOptions(r, baseline, where));
    }), { numRuns: RUNS });
  });

  test('serverConfig key: refused, or one option of that name only (mariadbd refuses only an option it does not know)', () => {
    fc.assert(fc.property(text(fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/)), (s) => {
      const r = check({ serverConfig: { mysqld: { [s]: '1' } } });
      const named = new RegExp(`'(--)?${s.replace(/[-_]/g, '[-_]')}=1'`, 'i');
      return r === undefined || ((r.ok || named.test(r.output)) && onlyOptions(r, baseline, new RegExp(`^--${s}=1$`)));
    }), { numRuns: RUNS });
  });

  test('serverConfig section: refused, or its one option read in that group only', () => {
    fc.assert(fc.property(text(fc.stringMatching(/^[a-z][a-z0-9_-]{0,15}$/)), (s) => {
      const r = check({ serverConfig: { [s]: { report_host: 'h' } } }, s);
      return r === undefined || (r.ok && r.options.includes('--report_host=h') && onlyOptions(r, baseline, /^--report_host=h$/));
    }), { numRuns: RUNS });
  });

  // users.tsv is read by apply-users.sh (its own patterns, tested in test/galera-users.test.ts), not by mariadbd:
  // a user's free text must leave server.cnf untouched and land only in its own row.
  const userProps: [string, fc.Arbitrary<string>, (s: string) => DatabaseUser, number][] = [
    ['users[0].name', fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/), (s) => ({ ...NOVA, name: s }), 0],
    ['users[0].databases[0]', fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/), (s) => ({ ...NOVA, databases: [s] }), 5],
  ];
  test.each(userProps)('%s: refused, or server.cnf unchanged and the string only in its users.tsv field', (_name, plausible, u, field) => {
    fc.assert(fc.property(text(plausible), (s) => {
      const r = check({ users: [u(s)] });
      if (r === undefined) return true;
      const rows = r.users.split('\n').slice(1).filter(Boolean).map((l) => l.split('\t'));
      return r.cnf === baseline.cnf && rows.length === 1 && rows[0].length === 6 && rows[0][field] === s;
    }), { numRuns: RUNS });
  });
});

describeWithBinaries('hostile props: libconfig (ProxySQL\'s parser) reads proxysql.cnf', ['gcc', '/usr/include/libconfig.h'], ['gcc', 'libconfig-dev'], () => {
  let checker: string;
  beforeAll(() => { checker = compileLibconfigChecker(dir); }, 60_000);
  function check(p: Partial<ProxySqlLayerProps>, users: DatabaseUser[] = [NOVA], monitorUser?: string): Record<string, Tree> | undefined {
    const chart = newChart('openstack');
    const made = built(() => {
      const galera = new GaleraPetSet(chart, 'galera', galeraProps({ users }, monitorUser));
      return new ProxySqlLayer(chart, 'proxysql', {
        galera, placement: Placement.onNodes(NODES), adminPassword: secret('admin'), allowedClients: [{ podLabels: { application: 'nova' } }], ...p,
      });
    });
    if (!made) return undefined;
    const file = join(dir, 'proxysql.cnf');
    writeFileSync(file, find(synth(chart), 'ConfigMap', 'proxysql-config').data['proxysql.cnf']);
    return parseLibconfig(checker, file);
  }
  /** The baseline tree with `edit` applied: the string must land there and nowhere else, read as a string. */
  const expected = (edit: (t: any) => void) => {
    const t = JSON.parse(JSON.stringify(check({})));
    edit(t);
    return t;
  };
  const slug = (s: string) => s.toUpperCase().replace(/[^A-Z0-9]/g, '_');

  test('serverVersion: refused, or read as that string in server_version only', () => {
    fc.assert(fc.property(text(fc.stringMatching(/^[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}(-[A-Za-z]{1,10})?$/)), (s) => {
      const tree = check({ serverVersion: s });
      return tree === undefined || JSON.stringify(tree) === JSON.stringify(expected((t) => { t.mysql_variables.server_version = { string: s }; }));
    }), { numRuns: RUNS });
  });

  test('galera.users[0].name: refused, or read as that string in its mysql_users row only', () => {
    fc.assert(fc.property(text(fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/)), (s) => {
      const tree = check({}, [{ ...NOVA, name: s }]);
      return tree === undefined || JSON.stringify(tree) === JSON.stringify(expected((t) => {
        t.mysql_users[0].username = { string: s };
        t.mysql_users[0].password = { string: `@@PROXYSQL_USER_PASSWORD_${slug(s)}@@` };
      }));
    }), { numRuns: RUNS });
  });

  test('galera credentials.monitorUser: refused, or read as that string in monitor_username only', () => {
    fc.assert(fc.property(text(fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/)), (s) => {
      const tree = check({}, [NOVA], s);
      return tree === undefined || JSON.stringify(tree) === JSON.stringify(expected((t) => { t.mysql_variables.monitor_username = { string: s }; }));
    }), { numRuns: RUNS });
  });

  test('adminUser: refused, or absent from the file (start.sh pairs it with the password at start)', () => {
    const base = JSON.stringify(check({}));
    fc.assert(fc.property(text(fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/)), (s) => {
      const tree = check({ adminUser: s });
      return tree === undefined || JSON.stringify(tree) === base;
    }), { numRuns: RUNS });
  });
});
