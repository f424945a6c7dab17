import { GALERA_SERVER_DEFAULTS, GaleraServerConfigModel, parseKubernetesQuantity, parseSize, renderServerConfig } from '../lib/galera/server-config';
import { providerOptions, section } from './support/my-cnf';

const production: GaleraServerConfigModel = {
  ...GALERA_SERVER_DEFAULTS,
  clusterName: 'openstack',
  peerHosts: [0, 1, 2].map((i) => `galera-${i}.galera-peers.openstack.svc.cluster.local`),
};

describe('renderServerConfig', () => {
  const text = renderServerConfig(production);

  test('joins every peer by name, in ordinal order, without a bare gcomm://', () => {
    expect(section(text, 'galera').wsrep_cluster_address).toBe(
      'gcomm://galera-0.galera-peers.openstack.svc.cluster.local,galera-1.galera-peers.openstack.svc.cluster.local,galera-2.galera-peers.openstack.svc.cluster.local');
  });

  test('renders the settings Galera needs and the deliberate failure-detection timeouts', () => {
    expect(section(text, 'mysqld')).toEqual(expect.objectContaining({
      binlog_format: 'ROW', innodb_autoinc_lock_mode: '2', default_storage_engine: 'InnoDB', skip_name_resolve: 'ON',
      bind_address: '0.0.0.0', port: '3306', innodb_flush_log_at_trx_commit: '2', max_connections: '4096',
    }));
    expect(section(text, 'galera')).toEqual(expect.objectContaining({
      wsrep_on: 'ON', wsrep_provider: '/usr/lib/galera/libgalera_smm.so', wsrep_cluster_name: 'openstack',
      wsrep_sst_method: 'mariabackup', wsrep_sst_donor_rejects_queries: 'ON', wsrep_slave_threads: '4',
    }));
    expect(providerOptions(text)).toEqual({
      'gmcast.listen_addr': 'tcp://0.0.0.0:4567', 'gcache.size': '1G', 'gcache.recover': 'yes', 'pc.recovery': 'TRUE',
      'evs.suspect_timeout': 'PT1.5S', 'evs.inactive_timeout': 'PT10S', 'evs.inactive_check_period': 'PT0.25S',
      'evs.keepalive_period': 'PT0.5S', 'evs.join_retrans_period': 'PT0.3S', 'gmcast.peer_timeout': 'PT3S',
    });
  });

  test('the failure-detection timers are within the ranges Galera enforces at start', () => {
    // gcomm/src/evs_proto.cpp (Galera 4): inactive_check_period <= suspect/2, keepalive in [0.1 s, suspect/3],
    // inactive > suspect. Outside them mariadbd aborts ("value PT0.5S is out of range [PT0.1S,PT0.333333S)" was
    // seen with suspect PT1S and keepalive PT0.5S), and a member that never starts cannot be recovered by the agent.
    const d = GALERA_SERVER_DEFAULTS;
    expect(d.inactiveCheckPeriodSeconds).toBeLessThanOrEqual(d.suspectTimeoutSeconds / 2);
    expect(d.keepalivePeriodSeconds).toBeGreaterThanOrEqual(0.1);
    expect(d.keepalivePeriodSeconds).toBeLessThanOrEqual(d.suspectTimeoutSeconds / 3);
    expect(d.inactiveTimeoutSeconds).toBeGreaterThan(d.suspectTimeoutSeconds);
    expect(d.joinRetransPeriodSeconds).toBeGreaterThanOrEqual(0.1);
  });

  test('holds nothing per pod and nothing secret (the entrypoint renders those at start)', () => {
    expect(text).not.toMatch(/wsrep_node_address|wsrep_node_name|wsrep_sst_auth|password|wsrep_new_cluster/i);
  });

  test('user overrides win key by key; new keys and sections follow in sorted order', () => {
    const overridden = renderServerConfig({
      ...production,
      providerOptions: { 'gcs.fc_limit': '64', 'evs.user_send_window': '4' },
      overrides: { mysqld: { zz_new: '1', max_connections: '100', aa_new: '2' }, client: { default_character_set: 'utf8mb4' } },
    });
    expect(section(overridden, 'mysqld').max_connections).toBe('100');
    expect(providerOptions(overridden)['gcs.fc_limit']).toBe('64');
    expect(providerOptions(overridden)['gcache.size']).toBe('1G');
    expect(providerOptions(overridden)['evs.user_send_window']).toBe('4');
    const mysqldKeys = Object.keys(section(overridden, 'mysqld'));
    expect(mysqldKeys.slice(-2)).toEqual(['aa_new', 'zz_new']);
    expect(mysqldKeys.indexOf('max_connections')).toBe(Object.keys(section(text, 'mysqld')).indexOf('max_connections'));
    expect(overridden.match(/^\[\w+\]$/gm)).toEqual(['[mysqld]', '[galera]', '[client]']);
    // Same input, same bytes, whatever order the user's objects were built in.
    expect(renderServerConfig({ ...production, overrides: { mysqld: { aa_new: '2', zz_new: '1' } } }))
      .toBe(renderServerConfig({ ...production, overrides: { mysqld: { zz_new: '1', aa_new: '2' } } }));
  });

  test('non-default ports and IPv6 literals are written the way Galera parses them', () => {
    const v6 = renderServerConfig({ ...production, peerHosts: ['fd00::1', 'fd00::2', 'fd00::3'], listenAddress: '::', groupPort: 14567 });
    expect(section(v6, 'galera').wsrep_cluster_address).toBe('gcomm://[fd00::1]:14567,[fd00::2]:14567,[fd00::3]:14567');
    expect(providerOptions(v6)['gmcast.listen_addr']).toBe('tcp://[::]:14567');
  });

  test('pc.recovery can be turned off, and a line break in a value is refused', () => {
    expect(providerOptions(renderServerConfig({ ...production, pcRecovery: false }))['pc.recovery']).toBe('FALSE');
    expect(() => renderServerConfig({ ...production, overrides: { mysqld: { x: '1\n[client]' } } })).toThrow(/line breaks/);
  });
});

describe('sizes', () => {
  test.each([['1G', 1024 ** 3], ['512M', 512 * 1024 ** 2], ['128k', 128 * 1024], ['1073741824', 1073741824], [' 2T ', 2 * 1024 ** 4]])('parseSize(%j)', (size, bytes) => {
    expect(parseSize(size)).toBe(bytes);
  });
  test.each(['', '1.5G', '1GB', 'G', '-1G'])('parseSize(%j) is not a size', (size) => expect(parseSize(size)).toBeUndefined());
  test.each([['10Gi', 10 * 1024 ** 3], ['500M', 5e8], ['1.5Gi', 1.5 * 1024 ** 3], ['100', 100]])('parseKubernetesQuantity(%j)', (q, bytes) => {
    expect(parseKubernetesQuantity(q)).toBe(bytes);
  });
  test('gcache.size against a volume', () => {
    expect(parseSize('1G')! < parseKubernetesQuantity('10Gi')!).toBe(true);
    expect(parseKubernetesQuantity('10Gx')).toBeUndefined();
  });
});

describe('the merged, rendered file is checked too (the last guard behind the construct)', () => {
  test('an override of an owned setting in another spelling or section, or a dropped provider option, throws', () => {
    expect(() => renderServerConfig({ ...production, overrides: { mariadb: { 'WSREP-Cluster-Address': 'gcomm://' } } })).toThrow(/overrides wsrep_cluster_address/);
    expect(() => renderServerConfig({ ...production, overrides: { galera: { 'loose-skip-wsrep-on': '' } } })).toThrow(/overrides wsrep_on/);
    expect(() => renderServerConfig({ ...production, overrides: { galera: { 'wsrep_provider_options': '"gcache.size=1G"' } } })).toThrow(/provider option pc.recovery is not TRUE/);
    expect(() => renderServerConfig({ ...production, providerOptions: { 'pc.recovery': 'FALSE' } })).toThrow(/provider option pc.recovery is not TRUE/);
  });

  test('a setting of ours given in another spelling or section replaces ours instead of appearing twice', () => {
    const text = renderServerConfig({ ...production, overrides: { mariadb: { 'max-connections': '100' }, MYSQLD: { 'Skip-Name-Resolve': 'OFF' } } });
    expect(section(text, 'mysqld').max_connections).toBeUndefined();
    expect(section(text, 'mariadb')['max-connections']).toBe('100');
    expect(section(text, 'mysqld').skip_name_resolve).toBe('OFF');
    expect(text.match(/^\[\w+\]$/gm)).toEqual(['[mysqld]', '[galera]', '[mariadb]']);
  });
});
