import { GALERA_SERVER_DEFAULTS, GaleraServerConfigModel, renderServerConfig } from '../lib/galera/server-config';
import { SERVER_OPTION_RULES, settingChanges, stateTransferEncryption, tlsMode, tlsModesCompatible } from '../lib/galera/settings';
import { imageTagVersion } from '../lib/common/image-version';
import { mariadbUpgradeVerdict } from '../lib/galera/upgrade';
import { rabbitUpgradeVerdict } from '../lib/rabbitmq/upgrade';

function cnf(overrides: Partial<GaleraServerConfigModel> = {}): string {
  return renderServerConfig({
    ...GALERA_SERVER_DEFAULTS,
    clusterName: 'galera',
    peerHosts: ['galera-0.galera-peers.openstack.svc', 'galera-1.galera-peers.openstack.svc', 'galera-2.galera-peers.openstack.svc'],
    ...overrides,
  });
}

const TLS = { 'socket.ssl': 'YES', 'socket.ssl_key': '/etc/galera/tls/tls.key', 'socket.ssl_cert': '/etc/galera/tls/tls.crt', 'socket.ssl_ca': '/etc/galera/tls/ca.crt' };

describe('Galera settings: rolling-safe or cluster-wide', () => {
  test('the same file changes nothing; the gcomm list is left to the member-count rules', () => {
    expect(settingChanges(cnf(), cnf())).toEqual([]);
    expect(settingChanges(cnf(), cnf({ peerHosts: ['a', 'b', 'c', 'd', 'e'] }))).toEqual([]);
  });

  test('per-member settings roll: gcache size, timeouts, server variables', () => {
    const changes = settingChanges(cnf(), cnf({ gcacheSize: '2G', suspectTimeoutSeconds: 5, maxConnections: 8192, overrides: { mysqld: { innodb_buffer_pool_size: '4G' } } }));
    expect(changes.map((c) => [c.setting, c.from, c.to, c.scope, c.rollingSafe])).toEqual([
      ['innodb_buffer_pool_size', undefined, '4G', 'rolling', true],
      ['max_connections', '4096', '8192', 'rolling', true],
      ['wsrep_provider_options evs.suspect_timeout', 'PT1.5S', 'PT5S', 'rolling', true],
      ['wsrep_provider_options gcache.size', '1G', '2G', 'rolling', true],
    ]);
  });

  test('the cluster name is cluster-wide: a roll is refused with the procedure', () => {
    const [change] = settingChanges(cnf(), cnf({ clusterName: 'openstack' }));
    expect(change).toMatchObject({ setting: 'wsrep_cluster_name', from: 'galera', to: 'openstack', scope: 'cluster-wide', rollingSafe: false });
    expect(change.procedure).toMatch(/Day 2: changing a cluster-wide Galera setting/);
  });

  test('turning GaleraBackup\'s binlogArchive on: binary logs roll, the cluster GTID mode and domain are refused with the procedure', () => {
    const binlog = { gtidDomainId: 1, expireSeconds: 3 * 86400, maxFileBytes: 64 * 1024 * 1024 };
    const changes = settingChanges(cnf(), cnf({ binlog }));
    expect(changes.map((c) => [c.setting, c.to, c.rollingSafe])).toEqual([
      ['binlog_expire_logs_seconds', '259200', true], ['gtid_domain_id', '0', true], ['log_bin', 'binlog', true],
      ['log_slave_updates', 'ON', true], ['max_binlog_size', '67108864', true],
      ['wsrep_gtid_domain_id', '1', false], ['wsrep_gtid_mode', 'ON', false],
    ]);
    expect(changes.filter((c) => !c.rollingSafe).every((c) => /Day 2/.test(c.procedure ?? ''))).toBe(true);
  });

  test('GTID domain, SST method and data-fixed settings are refused in any spelling', () => {
    const changes = settingChanges(cnf(), cnf({ overrides: { mariadb: { 'wsrep-gtid-domain-id': '7', 'Lower_Case_Table_Names': '1' } } }));
    expect(changes.map((c) => [c.setting, c.scope, c.rollingSafe])).toEqual([
      ['lower_case_table_names', 'data', false],
      ['wsrep_gtid_domain_id', 'cluster-wide', false],
    ]);
    expect(SERVER_OPTION_RULES.wsrep_sst_method.scope).toBe('cluster-wide');
  });

  test('replication TLS: the mode comes from socket.ssl, or from a key and certificate, and socket.dynamic', () => {
    expect(tlsMode(new Map())).toBe('plain');
    expect(tlsMode(new Map(Object.entries(TLS)))).toBe('tls');
    expect(tlsMode(new Map(Object.entries({ ...TLS, 'socket.ssl': 'NO' })))).toBe('plain');
    const { 'socket.ssl': _ssl, ...keyAndCert } = TLS;
    expect(tlsMode(new Map(Object.entries(keyAndCert)))).toBe('tls');
    expect(tlsMode(new Map(Object.entries({ ...TLS, 'socket.dynamic': 'yes' })))).toBe('both');
    expect(tlsModesCompatible('plain', 'tls')).toBe(false);
    expect(tlsModesCompatible('plain', 'both')).toBe(true);
    expect(tlsModesCompatible('both', 'tls')).toBe(true);
  });

  test('replication TLS on in one roll is refused; through socket.dynamic it rolls in two steps, and back off the same way', () => {
    const plain = cnf();
    const tls = cnf({ providerOptions: TLS });
    const both = cnf({ providerOptions: { ...TLS, 'socket.dynamic': 'YES' } });
    const direct = settingChanges(plain, tls);
    expect(direct.find((c) => c.setting === 'replication TLS')).toMatchObject({ from: 'plain', to: 'tls', scope: 'cluster-wide', rollingSafe: false });
    expect(direct.find((c) => c.setting === 'replication TLS')!.procedure).toMatch(/^roll to both first/);
    expect(direct.filter((c) => c.setting === 'wsrep_provider_options socket.ssl')[0].rollingSafe).toBe(false);
    for (const [from, to] of [[plain, both], [both, tls], [tls, both], [both, plain]]) {
      expect(settingChanges(from, to).every((c) => c.rollingSafe)).toBe(true);
    }
    expect(settingChanges(tls, plain).find((c) => c.setting === 'replication TLS')!.rollingSafe).toBe(false);
  });

  test('a new CA or cipher list while every member speaks TLS only is cluster-wide; in the bridge mode it rolls', () => {
    const tls = cnf({ providerOptions: TLS });
    const newCa = cnf({ providerOptions: { ...TLS, 'socket.ssl_ca': '/etc/galera/tls-next/ca.crt' } });
    expect(settingChanges(tls, newCa)).toEqual([expect.objectContaining({ setting: 'wsrep_provider_options socket.ssl_ca', scope: 'cluster-wide', rollingSafe: false })]);
    const both = { ...TLS, 'socket.dynamic': 'YES' };
    expect(settingChanges(cnf({ providerOptions: both }), cnf({ providerOptions: { ...both, 'socket.ssl_ca': '/x/ca.crt' } }))[0].rollingSafe).toBe(true);
  });
});

describe('Galera state transfer settings: joiner and donor must agree', () => {
  const tls = (stateTransfer: boolean) => ({ certificate: '/etc/galera/tls/tls.crt', privateKey: '/etc/galera/tls/tls.key', ca: '/etc/galera/tls/ca.crt',
    requireSecureTransport: false, replication: true, stateTransfer, replicationTransition: false });
  const mode = (o: Record<string, string>) => stateTransferEncryption(new Map(Object.entries(o)));

  test('the mode as the SST script derives it from encrypt and ssl-mode', () => {
    expect(mode({})).toBe('plain');
    expect(mode({ 'encrypt': '0' })).toBe('plain');
    expect(mode({ 'encrypt': '1' })).toBe('key');
    for (const e of ['2', '3', '4']) expect(mode({ encrypt: e })).toBe('tls');
    expect(mode({ 'ssl-mode': 'REQUIRED' })).toBe('tls');
    expect(mode({ 'ssl-mode': 'verify_ca' })).toBe('tls');
    expect(mode({ 'ssl-mode': 'DISABLED', 'encrypt': '0' })).toBe('plain');
  });

  test('encryption on or off is refused as a roll, whichever option turns it; the server groups win as in the script', () => {
    const on = settingChanges(cnf({ tls: tls(false) }), cnf({ tls: tls(true) }));
    expect(on.find((c) => c.setting === 'state transfer encryption')).toMatchObject({ from: 'plain', to: 'tls', scope: 'cluster-wide', rollingSafe: false });
    expect(on.filter((c) => !c.rollingSafe).map((c) => c.setting)).toEqual(['state transfer encryption', '[sst] encrypt', '[sst] ssl-mode']);
    // ssl-mode alone (with the server's key and certificate) turns it on too, in any spelling and group the script reads.
    const viaMode = settingChanges(cnf(), cnf({ overrides: { mariabackup: { ssl_mode: 'REQUIRED' } } }));
    expect(viaMode.find((c) => c.setting === 'state transfer encryption')).toMatchObject({ from: 'plain', to: 'tls', rollingSafe: false });
    // encrypt in a server group is read before [sst]: [sst] encrypt=3 under [mysqld] encrypt=0 is plain.
    // (Written by hand: the library's own files never set encrypt in a server group.)
    const shadowed = '[mysqld]\nencrypt = 0\n\n[sst]\nencrypt = 3\n';
    expect(settingChanges('[mysqld]\n', shadowed).some((c) => c.setting === 'state transfer encryption')).toBe(false);
    expect(settingChanges('[mysqld]\n', '[sst]\nencrypt = 3\n').some((c) => c.setting === 'state transfer encryption')).toBe(true);
    // 3 -> 4 keeps the mode: the option is listed and rolls.
    expect(settingChanges(cnf({ overrides: { sst: { encrypt: '3' } } }), cnf({ overrides: { sst: { encrypt: '4' } } })))
      .toEqual([expect.objectContaining({ setting: '[sst] encrypt', from: '3', to: '4', rollingSafe: true })]);
  });

  test('the CA while both sides verify, and the stream format and compression, are cluster-wide; the rest rolls', () => {
    const withTls = { tls: tls(true) };
    const newCa = settingChanges(cnf(withTls), cnf({ ...withTls, overrides: { sst: { tca: '/etc/galera/tls-next/ca.crt' } } }));
    expect(newCa).toEqual([expect.objectContaining({ setting: '[sst] tca', scope: 'cluster-wide', rollingSafe: false })]);
    const compressed = settingChanges(cnf(), cnf({ overrides: { sst: { compressor: 'zstd', decompressor: 'zstd -d', 'sst-initial-timeout': '600' } } }));
    expect(compressed.map((c) => [c.setting, c.rollingSafe])).toEqual([['[sst] compressor', false], ['[sst] decompressor', false], ['[sst] sst-initial-timeout', true]]);
  });
});

describe('MariaDB upgrade paths', () => {
  const v = (image: string) => imageTagVersion(image)!;

  test('the version is read from the image tag', () => {
    expect(v('docker.io/library/mariadb:11.4.7')).toEqual({ major: 11, minor: 4, patch: 7, series: '11.4', text: '11.4.7' });
    expect(v('registry:5000/mariadb:10.11-jammy')).toEqual({ major: 10, minor: 11, series: '10.11', text: '10.11' });
    expect(imageTagVersion('mariadb@sha256:abc')).toBeUndefined();
    expect(imageTagVersion('mariadb:lts')).toBeUndefined();
  });

  test('LTS to the next LTS and patch releases roll; a downgrade or a skipped LTS is refused with the path', () => {
    expect(mariadbUpgradeVerdict(v('m:10.11.9'), v('m:11.4.7')).status).toBe('ok');
    expect(mariadbUpgradeVerdict(v('m:11.4.5'), v('m:11.4.7')).status).toBe('ok');
    expect(mariadbUpgradeVerdict(v('m:10.11.9'), v('m:11.2.1')).status).toBe('ok');
    expect(mariadbUpgradeVerdict(v('m:11.4.7'), v('m:11.4.5')).status).toBe('warn');
    const down = mariadbUpgradeVerdict(v('m:11.4.7'), v('m:10.11.9'));
    expect(down).toMatchObject({ status: 'refuse' });
    expect(down.message).toMatch(/downgrade of the release series/);
    const skip = mariadbUpgradeVerdict(v('m:10.6.20'), v('m:11.4.7'));
    expect(skip).toMatchObject({ status: 'refuse' });
    expect(skip.message).toMatch(/skips the long-term series 10\.11.*upgrade 10\.6 -> 10\.11 -> 11\.4, one apply per step/);
    expect(mariadbUpgradeVerdict(v('m:10.6.20'), v('m:11.8.2')).message).toMatch(/10\.6 -> 10\.11 -> 11\.4 -> 11\.8/);
  });
});

describe('RabbitMQ upgrade paths', () => {
  test('the line is read from the image tag', () => {
    expect(imageTagVersion('docker.io/library/rabbitmq:4.0.9-management')?.series).toBe('4.0');
    expect(imageTagVersion('rabbitmq:3.13-management')?.series).toBe('3.13');
    expect(imageTagVersion('my/rabbit:latest')?.series).toBeUndefined();
  });

  test('only the next line, never a skip or a downgrade', () => {
    expect(rabbitUpgradeVerdict('4.0', '4.0').status).toBe('ok');
    const next = rabbitUpgradeVerdict('3.13', '4.0');
    expect(next.status).toBe('warn');
    expect(next.message).toMatch(/enable_feature_flag all.*quorum queues/);
    const skip = rabbitUpgradeVerdict('3.13', '4.1');
    expect(skip).toMatchObject({ status: 'refuse' });
    expect(skip.message).toMatch(/skips 4\.0: .*upgrade 3\.13 -> 4\.0 -> 4\.1/);
    expect(rabbitUpgradeVerdict('3.10', '3.13').message).toMatch(/skips 3\.11, 3\.12/);
    expect(rabbitUpgradeVerdict('4.1', '4.0')).toMatchObject({ status: 'refuse' });
  });
});
