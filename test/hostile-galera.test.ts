/**
 * GaleraPetSet with hostile and out-of-range values in every prop: each is refused, naming the prop as written,
 * the value as given (a credential is never echoed) and a fix. serverConfig: every setting the library owns, in
 * every section and every spelling MariaDB accepts (case, `-`/`_`, special prefixes, abbreviations).
 */
import { DatabaseUser, GaleraPetSet, GaleraPetSetProps, GaleraStorage, Placement, SecretValue } from '../lib';
import { HOSTILE_NUMBERS, HOSTILE_STRINGS, cases, errorOf, expectNamedProblem } from './support/hostile';
import { find, newChart, synth } from './support/harness';
import { NODES } from './support/fixtures';

const CREDENTIALS = {
  rootPassword: SecretValue.fromSecret('galera', 'root'), sstPassword: SecretValue.fromSecret('galera', 'sst'),
  monitorPassword: SecretValue.fromSecret('galera', 'monitor'),
};
const NOVA: DatabaseUser = { name: 'nova', password: SecretValue.fromSecret('nova-db', 'password'), databases: ['nova'] };
const props = (p: Partial<GaleraPetSetProps>): GaleraPetSetProps => ({
  placement: Placement.onNodes(NODES), storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size: '100Gi' }), credentials: CREDENTIALS, ...p,
});
const galera = (p: Partial<GaleraPetSetProps>) => () => new GaleraPetSet(newChart('openstack'), 'galera', props(p));
const user = (u: Partial<DatabaseUser>) => galera({ users: [{ ...NOVA, ...u }] });
const server = (section: string, key: string, value: unknown) => galera({ serverConfig: { [section]: { [key]: value } } as any });
const provider = (options: string) => server('galera', 'wsrep_provider_options', options);
/** Strings that are refused as names (some hostile strings are valid user or host names: `UPPER`, `../..`). */
const hostileNames = (...allowed: string[]) => HOSTILE_STRINGS.filter((x) => !allowed.includes(x));

/** Owned settings, each in another section and spelling: [section, key, value]. */
const OWNED: Array<[string, string, string]> = [
  ['mysqld', 'wsrep_new_cluster', 'ON'], ['galera', 'wsrep-cluster-address', 'gcomm://'], ['mariadb', 'WSREP_PROVIDER', 'none'],
  ['server', 'loose-wsrep-on', 'OFF'], ['mariadbd', 'skip-wsrep-on', ''], ['mysqld-11.4', 'disable_wsrep_on', ''],
  ['MYSQLD', 'enable-wsrep-new-cluster', ''], ['galera', 'wsrep_node_address', '10.0.0.1'], ['galera', 'wsrep_node_name', 'x'],
  ['galera', 'wsrep_node_incoming_address', '10.0.0.1'], ['galera', 'wsrep_sst_receive_address', '10.0.0.1:4444'],
  ['galera', 'wsrep_sst_method', 'rsync'], ['galera', 'wsrep_cluster_name', 'other'], ['galera', 'wsrep_sst_donor_rejects_queries', 'OFF'],
  ['galera', 'wsrep_start_position', 'x:1'], ['galera', 'wsrep_desync', 'ON'], ['galera', 'wsrep_provider', '/x.so'], ['galera', 'wsrep-notify-cmd', '/bin/true'],
  ['mysqld', 'port', '3307'], ['mysqld', 'maximum-port', '3307'], ['client', 'port', '3307'], ['mysqld', 'bind-address', '127.0.0.1'],
  ['mysqld', 'datadir', '/tmp'], ['mysqld', 'socket', '/tmp/s'], ['mysqld', 'tmpdir', '/var'], ['mysqld', 'tmp_disk_table_size', '1G'],
  ['mysqld', 'binlog_format', 'STATEMENT'], ['mysqld', 'innodb_autoinc_lock_mode', '1'], ['mysqld', 'default-storage-engine', 'MyISAM'],
  ['mysqld', 'skip-grant-tables', ''], ['mysqld', 'skip_networking', ''],
  // Abbreviations: MariaDB expands any unique prefix of an option name.
  ['galera', 'wsrep-cluster-addr', 'gcomm://'], ['mysqld', 'bind', '127.0.0.1'], ['galera', 'wsrep_new', 'ON'],
];
/** State transfer encryption and its files, in the groups the SST script reads (tls.stateTransfer owns them). */
const OWNED_SST: Array<[string, string, string]> = [
  ['sst', 'encrypt', '0'], ['mariabackup', 'ssl_mode', 'DISABLED'], ['xtrabackup', 'tca', '/x/ca.crt'], ['SST', 'loose-tcert', '/x/tls.crt'],
  ['sst', 'tkey', '/x/tls.key'], ['sst', 'ssl-server-key', '/x/k'], ['mariabackup', 'SSL-CA', '/x/ca.crt'],
  // The script reads these from the server groups first; there a key would also replace ours in [sst].
  ['mysqld', 'encrypt', '0'], ['galera', 'ssl-mode', 'DISABLED'], ['mariadb', 'tca', '/x/ca.crt'],
];
/** Credentials in any spelling: refused, and the value never shown. */
const SECRETS: Array<[string, string]> = [
  ['galera', 'wsrep-sst-auth'], ['mysqld', 'WSREP_SST_AUTH'], ['mysqld', 'loose-wsrep_sst_auth'], ['galera', 'wsrep_sst_au'],
  ['client', 'password'], ['client', 'Pass-Word'], ['mysqld', 'loose_server_audit_secret'], ['mysqldump', 'passwd'],
];
/** Provider options the design depends on: [key, value]. */
const OWNED_PROVIDER: Array<[string, string]> = [
  ['pc.recovery', 'FALSE'], ['PC.Recovery', 'FALSE'], ['gcache.recover', 'no'], ['gcache.size', '10G'], ['gcache.dir', '/tmp'],
  ['evs.suspect_timeout', 'PT30S'], ['evs.inactive_timeout', 'PT1M'], ['gmcast.peer_timeout', 'PT1S'], ['gmcast.listen_addr', 'tcp://0.0.0.0:5000'],
  ['pc.bootstrap', 'YES'], ['pc.ignore_sb', 'true'], ['pc.ignore_quorum', 'true'], ['pc.weight', '3'], ['ist.recv_addr', '10.0.0.1:5000'], ['base_port', '5000'],
];

const CASES = [
  ...cases('name', HOSTILE_STRINGS, (name) => galera({ name })),
  ...cases('clusterName', hostileNames('UPPER'), (clusterName) => galera({ clusterName })),
  ...cases('replicas', [...HOSTILE_NUMBERS, 1, 2, 4], (replicas) => galera({ replicas })),
  ...cases('gcacheSize', [...HOSTILE_STRINGS, '0', '512K', ' 1G', '1G ', '1.5G', '-1G', '99999999T'], (gcacheSize) => galera({ gcacheSize })),
  ...cases('gcacheSize', ['50G', '60G', '1T'], (gcacheSize) => galera({ gcacheSize })),
  ...cases('storage.path', [...HOSTILE_STRINGS, '/', '/etc', '/var/lib', '/var/lib/kubelet/x', '/mnt/../etc', '/mnt//x', '/mnt/x/', '/data'],
    (path) => galera({ storage: GaleraStorage.localVolume({ path, size: '100Gi' }) })),
  ...cases('storage.path', ['/var/lib/mysql/..', '/usr/local/galera'], (path) => galera({ storage: GaleraStorage.hostPath({ path }) })),
  ...cases('storage.size', [...HOSTILE_STRINGS, '0', '10Mi', '-1Gi', ' 100Gi'], (size) => galera({ storage: GaleraStorage.localVolume({ path: '/mnt/disks/galera', size }) })),
  ...cases('storage.storageClassName', hostileNames(), (storageClassName) => galera({ storage: GaleraStorage.storageClass({ storageClassName, size: '100Gi' }) })),
  ...cases('image', HOSTILE_STRINGS, (image) => galera({ image })),
  ...cases('agentImage', HOSTILE_STRINGS, (agentImage) => galera({ agentImage })),
  ...cases('tmpSizeMiB', [...HOSTILE_NUMBERS, 255, 1024 * 1024 + 1], (tmpSizeMiB) => galera({ tmpSizeMiB })),
  ...cases('recovery.pcRecoveryTimeoutSeconds', [...HOSTILE_NUMBERS, 9, 10.5, 3601], (x) => galera({ recovery: { pcRecoveryTimeoutSeconds: x } })),
  ...cases('recovery.missingMemberTimeoutSeconds', [...HOSTILE_NUMBERS, 9, 86401], (x) => galera({ recovery: { missingMemberTimeoutSeconds: x } })),
  ...['cpuRequestMillis', 'cpuLimitMillis', 'memoryRequestMiB', 'memoryLimitMiB'].flatMap((field) =>
    cases(`resources.${field}`, HOSTILE_NUMBERS, (value) => galera({ resources: { [field]: value } }))),
  ...cases('resources.memoryRequestMiB', [4096], (memoryRequestMiB) => galera({ resources: { memoryRequestMiB, memoryLimitMiB: 2048 } })),
  ...cases('credentials.sstUser', [...hostileNames('UPPER', '../..'), 'root', 'mysql', 'mariadb.sys', 'monitor'], (sstUser) => galera({ credentials: { ...CREDENTIALS, sstUser } })),
  ...cases('credentials.monitorUser', [...hostileNames('UPPER', '../..'), 'root', 'PUBLIC'], (monitorUser) => galera({ credentials: { ...CREDENTIALS, monitorUser } })),
  ...cases('users[0].name', [...hostileNames('UPPER', '../..'), 'root', 'mysql', 'mariadb.sys', 'PUBLIC', 'mariabackup', 'monitor'], (name) => user({ name })),
  ...cases('users[1].name', ['nova'], (name) => galera({ users: [NOVA, { ...NOVA, name }] })),
  ...cases('users[1].name', ['NOVA'], (name) => galera({ users: [NOVA, { ...NOVA, name }] })),
  ...cases('users[0].host', hostileNames('UPPER', '../..'), (host) => user({ host })),
  ...cases('users[0].databases[0]', hostileNames('UPPER'), (db) => user({ databases: [db] })),
  ...cases('users[0].databases', ['nova'], (db) => user({ databases: ['nova', db] })),
  ...cases('users[0].databases', [[]], (databases) => user({ databases })),
  ...cases('users[0].privileges[0]', hostileNames('UPPER'), (privilege) => user({ privileges: [privilege] })),
  ...cases('users[0].maxConnections', [...HOSTILE_NUMBERS.filter((x) => x !== 0), 1_000_001], (maxConnections) => user({ maxConnections })),
  ...cases('users[0].requireTls', ['yes', 1, null], (requireTls) => user({ requireTls })),
  // REQUIRE SSL on members that serve no TLS: every login of the account refused.
  ...cases('users[0].requireTls', [true], (requireTls) => user({ requireTls })),
  ...cases('allowedClients[0].podLabels key', hostileNames('UPPER'), (key) => galera({ allowedClients: [{ podLabels: { [key]: 'x' } }] })),
  ...cases('placement nodes[0].name', HOSTILE_STRINGS, (name) => galera({ placement: Placement.onNodes([{ ...NODES[0], name }, ...NODES.slice(1)]) })),
  ...OWNED.map(([section, key, value]): [string, unknown, () => unknown] => [`serverConfig.${section}.${key}`, value, server(section, key, value)]),
  ...OWNED_SST.map(([section, key, value]): [string, unknown, () => unknown] => [`serverConfig.${section}.${key}`, value, server(section, key, value)]),
  ...SECRETS.map(([section, key]): [string, unknown, () => unknown] => [`serverConfig.${section}.${key}`, '(a string)', server(section, key, 'hunter2')]),
  ...OWNED_PROVIDER.map(([k, x]): [string, unknown, () => unknown] => [`serverConfig.galera.wsrep_provider_options ${JSON.stringify(k)}`, x, provider(`${k}=${x}`)]),
  ...cases('serverConfig.galera.wsrep_provider_options "x"', ['a b', '', 'a"b', 'x'.repeat(300)], (x) => provider(`gcs.fc_limit=64; x=${x}`)),
  ...cases('serverConfig.galera.wsrep_provider_options "gcs.fc_limit"', ['32'], (x) => provider(`gcs.fc_limit=64; gcs.fc_limit=${x}`)),
  ...cases('serverConfig.galera.wsrep-provider-opt', ['gcs.fc_limit=64'], (x) => server('galera', 'wsrep-provider-opt', x)),
  ...cases('serverConfig.galera.loose-wsrep-provider-options', ['gcs.fc_limit=64'], (x) => server('galera', 'loose-wsrep-provider-options', x)),
  ...cases('serverConfig.mysqld.max_connections', [' ', ' 8192', '8192 ', 'a\nb', 'a\rb', '\'q\'', '"q"', '#c', '8192 # comment', 'x\\y', 'x'.repeat(4097)],
    (value) => server('mysqld', 'max_connections', value)),
  ...cases('serverConfig.mysqld.max_connections', [8192, null, ['1']], (value) => server('mysqld', 'max_connections', value)),
  // Counterexamples the real-mariadbd property test found: a tab inside provider options, a 4-byte character.
  ...cases('serverConfig.galera.wsrep_provider_options', ['gcs.fc_limit=\t+', 'gcs.fc_limit=\u{622a0}'], (x) => provider(x)),
  ...cases('serverConfig.mysqld.report_host', ['\u{622a0}', 'hôte', 'a\tb'], (value) => server('mysqld', 'report_host', value)),
  ...cases('serverConfig.mysqld key', ['', 'a b', '-x', 'a=b', 'x\ny', 'ünï', '#c', '!include', 'x'.repeat(300)], (key) => server('mysqld', key, '1')),
  ...cases('serverConfig section', ['', 'my sect', 'a]b', '[x', 'x\ny', '!includedir', 'x'.repeat(300)], (section) => server(section, 'x', '1')),
  ...cases('serverConfig.mysqld', ['x', null], (values) => galera({ serverConfig: { mysqld: values } })),
  ...cases('serverConfig', ['x', []], (serverConfig) => galera({ serverConfig })),
  ...cases('serverConfig.mariadb.max-connections', ['2'], (value) => galera({ serverConfig: { mysqld: { max_connections: '1' }, mariadb: { 'max-connections': value } } })),
  ...cases('serverConfig.mysqld.MAX_CONNECTIONS', ['2'], (value) => galera({ serverConfig: { mysqld: { max_connections: '1', MAX_CONNECTIONS: value } } })),
];

test.each(CASES)('%s = %p is refused with the prop, the value and a fix', (prop, value, build) => {
  expectNamedProblem(errorOf(build), prop, value);
});

test('a credential in serverConfig is never echoed, in any spelling', () => {
  for (const [section, key] of SECRETS) expect(errorOf(server(section, key, 'hunter2-secret'))).not.toContain('hunter2');
});

describe('accepted overrides', () => {
  const cnf = (p: Partial<GaleraPetSetProps>) => {
    const chart = newChart('openstack');
    new GaleraPetSet(chart, 'galera', props(p));
    return find(synth(chart), 'ConfigMap', 'galera-config').data['server.cnf'] as string;
  };

  test('provider options are merged into ours key by key: ours kept, the user\'s added', () => {
    const text = cnf({ serverConfig: { galera: { wsrep_provider_options: '"gcs.fc_limit=64; evs.send_window=512"' } } });
    const line = text.split('\n').filter((l) => l.startsWith('wsrep_provider_options'));
    expect(line).toHaveLength(1);
    expect(line[0]).toContain('pc.recovery=TRUE; evs.suspect_timeout=PT1.5S; evs.inactive_timeout=PT10S; evs.inactive_check_period=PT0.25S; ' +
      'evs.keepalive_period=PT0.5S; evs.join_retrans_period=PT0.3S; gmcast.peer_timeout=PT3S; evs.send_window=512; gcs.fc_limit=64"');
    expect(line[0]).toContain('gcache.recover=yes');
  });

  test('state transfer options that do not touch its encryption are accepted (the plan judges which are cluster-wide)', () => {
    const text = cnf({ serverConfig: { sst: { 'sst-initial-timeout': '600', progress: '1' } } });
    expect(text.slice(text.indexOf('[sst]'))).toMatch(/^\[sst\]\n(progress = 1\nsst-initial-timeout = 600|sst-initial-timeout = 600\nprogress = 1)\n/);
  });

  test('a setting of ours in another spelling replaces ours (never twice in the file)', () => {
    const text = cnf({ serverConfig: { mariadb: { 'max-connections': '8192' } } });
    expect(text.match(/^max[-_]connections = .*$/gim)).toEqual(['max-connections = 8192']);
  });

  test('sections and options named like Object methods are plain names (random testing found `valueOf` lost)', () => {
    const text = cnf({ serverConfig: { valueOf: { report_host: 'h' }, constructor: { toString: 'x' }, mysqld: { constructor: 'y' } } as any });
    expect(text).toContain('[valueOf]\nreport_host = h\n');
    expect(text).toContain('[constructor]\ntoString = x\n');
    expect(text).toMatch(/^constructor = y$/m);
  });

  test('settings the library does not own pass, in any section; a full option name that starts like an owned one is not an abbreviation', () => {
    expect(() => cnf({ serverConfig: { mysqld: { 'wsrep-sst-donor': 'galera-1', innodb: 'ON', 'skip-name-resolve': 'OFF' }, client: { 'default-character-set': 'utf8mb4' } } })).not.toThrow();
  });
});

describe('the password files (the monitor\'s and the users\', one credentials volume)', () => {
  const volumes = (p: Partial<GaleraPetSetProps>) => {
    const chart = newChart('openstack');
    new GaleraPetSet(chart, 'galera', props(p));
    return find(synth(chart), 'StatefulSet', 'galera').spec.template.spec.volumes as any[];
  };
  const paths = (v: any) => v.projected.sources.map((s: any) => s.secret.items[0].path as string);

  test('a user cannot take the monitor\'s file: its name is a built-in account, and no user name maps to GALERA_MONITOR_PASSWORD', () => {
    expectNamedProblem(errorOf(user({ name: 'monitor' })), 'users[0].name', 'monitor');
    // Every name a user may have gives GALERA_PASSWORD_<NAME>: never the monitor's file, whatever the case or the characters.
    for (const name of ['MONITOR_PASSWORD', 'galera_monitor', 'x.monitor-password', 'mon']) {
      const credentials = volumes({ users: [{ ...NOVA, name }] }).find((v) => v.name === 'credentials');
      const files = paths(credentials);
      expect(files.slice(0, 3)).toEqual(['GALERA_SST_PASSWORD', 'GALERA_MONITOR_PASSWORD', 'MARIADB_ROOT_PASSWORD']);
      expect(new Set(files).size).toBe(files.length);
    }
  });

  test('the monitor and a user on the same Secret key, or a hostile key: two files named by the library, never by a prop', () => {
    const shared = SecretValue.fromSecret('galera', 'monitor');
    const credentials = volumes({ users: [{ ...NOVA, password: shared }] }).find((v) => v.name === 'credentials');
    expect(paths(credentials)).toEqual(['GALERA_SST_PASSWORD', 'GALERA_MONITOR_PASSWORD', 'MARIADB_ROOT_PASSWORD', 'GALERA_PASSWORD_NOVA']);
    // A key is only ever the item's key, never its path: '..data' is a valid key and still lands in GALERA_MONITOR_PASSWORD.
    expect(paths(volumes({ credentials: { ...CREDENTIALS, monitorPassword: SecretValue.fromSecret('galera', '..data') } }).find((v) => v.name === 'credentials')))
      .toEqual(['GALERA_SST_PASSWORD', 'GALERA_MONITOR_PASSWORD', 'MARIADB_ROOT_PASSWORD']);
    for (const key of ['../x', 'a/b', '']) {
      expectNamedProblem(errorOf(galera({ credentials: { ...CREDENTIALS, monitorPassword: SecretValue.fromSecret('galera', key) } })), 'credentials.monitorPassword', `galera/${key}`);
    }
  });
});
