/**
 * The static MariaDB/Galera server configuration (a my.cnf include file), rendered from plain data.
 *
 * It holds only what is the same on every member and contains no secret, so it can live in a ConfigMap.
 * What differs per pod (wsrep_node_address/name, socket, datadir) and what is secret (wsrep_sst_auth) is
 * rendered by `assets/galera/entrypoint.sh` at container start into the memory-backed run directory.
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s.
 */

/** Values by key, per my.cnf section. Later layers win key by key. */
export type ConfigSections = Readonly<Record<string, Readonly<Record<string, string>>>>;

export interface GaleraServerConfigModel {
  /** `wsrep_cluster_name`: members refuse to join a cluster with another name. */
  readonly clusterName: string;
  /** Every member's host (pod DNS names in production), in ordinal order, for `gcomm://`. */
  readonly peerHosts: readonly string[];
  /** Path of libgalera_smm.so in the image. */
  readonly providerPath: string;
  /** Address mariadbd listens on for clients. */
  readonly bindAddress: string;
  /** Address Galera group communication listens on (`gmcast.listen_addr`). */
  readonly listenAddress: string;
  readonly mysqlPort: number;
  /**
   * Group communication port. IST listens on `groupPort + 1` (Galera's rule); the SST port is per pod
   * (`wsrep_sst_receive_address` needs the pod IP) and rendered by the entrypoint from GALERA_SST_PORT.
   */
  readonly groupPort: number;
  /** `gcache.size`, e.g. `1G`: how far back a restarted member can catch up by IST instead of a full SST. */
  readonly gcacheSize: string;
  /** `pc.recovery`: keep gvwstate.dat so that a full crash with every member back re-forms the Primary alone. */
  readonly pcRecovery: boolean;
  /** `evs.suspect_timeout` in seconds: a dead member is evicted (and writes resume) after about this long. */
  readonly suspectTimeoutSeconds: number;
  /** `evs.inactive_timeout` in seconds: hard limit after which a silent member is dropped; > suspect. */
  readonly inactiveTimeoutSeconds: number;
  /** `wsrep_slave_threads`: parallel appliers. */
  readonly applierThreads: number;
  readonly maxConnections: number;
  /** `innodb_flush_log_at_trx_commit`: 1 = fsync per commit; 2 = once a second (replication covers a crash). */
  readonly innodbFlushLogAtTrxCommit: 0 | 1 | 2;
  /** `innodb_buffer_pool_size`, e.g. `1G`; omitted = the server default (128M). */
  readonly innodbBufferPoolSize?: string;
  /** `tmpdir`: where on-disk temporary tables and filesort files go (the pod's /tmp emptyDir). */
  readonly tmpDir: string;
  /**
   * `tmp_disk_table_size` in MiB: one on-disk internal temporary table may grow this large, then its query fails
   * with "table is full" (1114) instead of filling tmpdir until the kubelet evicts the pod; omitted = unbounded.
   */
  readonly tmpDiskTableSizeMiB?: number;
  /** Extra `wsrep_provider_options` entries; they replace ours key by key. */
  readonly providerOptions?: Readonly<Record<string, string>>;
  /** Extra settings per section (`mysqld`, `galera`, `mariadb`, ...); they replace ours key by key. */
  readonly overrides?: ConfigSections;
}

/** Defaults for everything except the cluster identity and the peers. */
export const GALERA_SERVER_DEFAULTS = {
  /** The official `mariadb` image (Ubuntu) and Debian's galera-4 package both install it here. */
  providerPath: '/usr/lib/galera/libgalera_smm.so',
  bindAddress: '0.0.0.0',
  listenAddress: '0.0.0.0',
  mysqlPort: 3306,
  groupPort: 4567,
  gcacheSize: '1G',
  pcRecovery: true,
  // Galera's defaults are 5 s / 15 s. The write stall after a member dies equals the suspect timeout plus
  // the proxy's check period (measured ~6 s with ProxySQL at the defaults). 3 s keeps the stall near 4 s;
  // a false suspicion (a long GC/IO pause) only costs the member an IST rejoin, not data.
  suspectTimeoutSeconds: 3,
  inactiveTimeoutSeconds: 10,
  applierThreads: 4,
  maxConnections: 4096,
  innodbFlushLogAtTrxCommit: 2,
  tmpDir: '/tmp',
} as const;

/** Renders the include file. Same model, same bytes. */
export function renderServerConfig(model: GaleraServerConfigModel): string {
  const providerOptions = mergeKeyed(baseProviderOptions(model), model.providerOptions ?? {});
  const mysqld: Record<string, string> = {
    bind_address: model.bindAddress,
    port: String(model.mysqlPort),
    skip_name_resolve: 'ON',
    max_connections: String(model.maxConnections),
    default_storage_engine: 'InnoDB',
    binlog_format: 'ROW',
    innodb_autoinc_lock_mode: '2',
    innodb_flush_log_at_trx_commit: String(model.innodbFlushLogAtTrxCommit),
    innodb_file_per_table: 'ON',
    ...(model.innodbBufferPoolSize !== undefined ? { innodb_buffer_pool_size: model.innodbBufferPoolSize } : {}),
    tmpdir: model.tmpDir,
    ...(model.tmpDiskTableSizeMiB !== undefined ? { tmp_disk_table_size: `${model.tmpDiskTableSizeMiB}M` } : {}),
    character_set_server: 'utf8mb4',
    collation_server: 'utf8mb4_general_ci',
  };
  const galera: Record<string, string> = {
    wsrep_on: 'ON',
    wsrep_provider: model.providerPath,
    wsrep_cluster_name: model.clusterName,
    wsrep_cluster_address: `gcomm://${model.peerHosts.map((h) => peerAddress(h, model.groupPort)).join(',')}`,
    wsrep_provider_options: `"${Object.entries(providerOptions).map(([k, v]) => `${k}=${v}`).join('; ')}"`,
    wsrep_sst_method: 'mariabackup',
    // A donor would otherwise keep serving reads while it streams a backup (measured: 12-14 s) and the
    // proxy would not fence it; with ON the readiness probe and ProxySQL both take it out during SST.
    wsrep_sst_donor_rejects_queries: 'ON',
    wsrep_slave_threads: String(model.applierThreads),
  };
  const sections = mergeSections({ mysqld, galera }, model.overrides ?? {});
  return renderIni(sections);
}

function baseProviderOptions(model: GaleraServerConfigModel): Record<string, string> {
  return {
    'gmcast.listen_addr': `tcp://${bracketIpv6(model.listenAddress)}:${model.groupPort}`,
    'gcache.size': model.gcacheSize,
    // Keep the ring buffer across restarts: after a full outage the bootstrapped member can then feed the
    // others by IST instead of a full SST each.
    'gcache.recover': 'yes',
    'pc.recovery': model.pcRecovery ? 'TRUE' : 'FALSE',
    'evs.suspect_timeout': `PT${model.suspectTimeoutSeconds}S`,
    'evs.inactive_timeout': `PT${model.inactiveTimeoutSeconds}S`,
    'gmcast.peer_timeout': `PT${model.suspectTimeoutSeconds}S`,
  };
}

function peerAddress(host: string, port: number): string {
  return port === GALERA_SERVER_DEFAULTS.groupPort ? bracketIpv6(host) : `${bracketIpv6(host)}:${port}`;
}

function bracketIpv6(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * User values win. Our keys keep their place (it groups related settings); keys only the user has follow,
 * sorted, so that the output does not depend on the order the user's object was built in.
 */
function mergeKeyed(base: Record<string, string>, over: Readonly<Record<string, string>>): Record<string, string> {
  const merged = { ...base };
  for (const key of Object.keys(over).sort()) merged[key] = over[key];
  return merged;
}

function mergeSections(base: ConfigSections, over: ConfigSections): Record<string, Record<string, string>> {
  const merged: Record<string, Record<string, string>> = {};
  for (const name of Object.keys(base)) merged[name] = { ...base[name] };
  for (const name of Object.keys(over).sort()) merged[name] = mergeKeyed(merged[name] ?? {}, over[name]);
  return merged;
}

function renderIni(sections: Record<string, Record<string, string>>): string {
  const lines: string[] = [];
  for (const [name, values] of Object.entries(sections)) {
    if (lines.length > 0) lines.push('');
    lines.push(`[${name}]`);
    for (const [key, value] of Object.entries(values)) {
      // A line break would let a value start a new key or section; the construct validates, this is the last guard.
      if (/[\r\n]/.test(name + key + value)) throw new Error(`my.cnf [${name}] ${key}: line breaks are not allowed`);
      lines.push(`${key} = ${value}`);
    }
  }
  return lines.join('\n') + '\n';
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/**
 * Bytes of a MariaDB/Galera size (`512M`, `1G`, `1073741824`), or undefined when it is not one.
 * Used to check that gcache.size fits the data volume.
 */
export function parseSize(size: string): number | undefined {
  const match = /^(\d+)([KMGT]?)$/i.exec(size.trim());
  if (!match) return undefined;
  return Number(match[1]) * SIZE_UNITS[match[2].toUpperCase()];
}

/** Bytes of a Kubernetes quantity (`10Gi`, `500M`, `1T`), or undefined when it is not one we understand. */
export function parseKubernetesQuantity(quantity: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/.exec(quantity.trim());
  if (!match) return undefined;
  const factor: Record<string, number> = {
    '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15,
    Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5,
  };
  return Number(match[1]) * factor[match[2] ?? ''];
}
