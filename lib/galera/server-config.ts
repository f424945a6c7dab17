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
  /**
   * `evs.suspect_timeout` in seconds (fractions allowed): a member silent this long is suspected, and evicted as soon
   * as every other member suspects it; writes stall until then.
   */
  readonly suspectTimeoutSeconds: number;
  /** `evs.inactive_timeout` in seconds: hard limit after which a silent member is dropped; > suspect. */
  readonly inactiveTimeoutSeconds: number;
  /** `evs.inactive_check_period` in seconds: how often a member looks for silent peers (the eviction's granularity). */
  readonly inactiveCheckPeriodSeconds: number;
  /** `evs.keepalive_period` in seconds: an idle member sends a keepalive this often; well below the suspect timeout. */
  readonly keepalivePeriodSeconds: number;
  /**
   * `evs.join_retrans_period` in seconds: while the members agree on a new view (after a suspicion), each resends its
   * join message this often; a round that misses a member's join waits this long.
   */
  readonly joinRetransPeriodSeconds: number;
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
  /** TLS for clients, replication (group communication and IST) and SST; omitted = none. */
  readonly tls?: GaleraServerTls;
  /** Extra `wsrep_provider_options` entries; they replace ours key by key. */
  readonly providerOptions?: Readonly<Record<string, string>>;
  /** Extra settings per section (`mysqld`, `galera`, `mariadb`, ...); they replace ours key by key. */
  readonly overrides?: ConfigSections;
  /** Binary logs with cluster-consistent GTIDs, for GaleraBackup's archive (point-in-time restore); none when absent. */
  readonly binlog?: GaleraBinlogConfig;
}

/** Where the member's certificate files are mounted, and what is encrypted. */
export interface GaleraServerTls {
  readonly certificate: string;
  readonly privateKey: string;
  readonly ca: string;
  /** `require_secure_transport`: clients must use TLS (the socket account of the probes is local, so it is exempt). */
  readonly requireSecureTransport: boolean;
  /** Galera replication (`socket.ssl_*`, which IST uses too). */
  readonly replication: boolean;
  /** SST through socat with OpenSSL (joiner and donor must agree: see GaleraTlsOptions.stateTransfer). */
  readonly stateTransfer: boolean;
  /**
   * `socket.dynamic`: the member accepts encrypted and plaintext peers, so replication TLS can be turned on (or
   * off) by two rolling restarts without splitting the cluster (see the README, "TLS"). SST stays as it was.
   */
  readonly replicationTransition: boolean;
}

/** TLS 1.2 and 1.3 only (`tls_version`): MariaDB 10.11 would otherwise also offer 1.1. */
export const GALERA_TLS_VERSIONS = 'TLSv1.2,TLSv1.3';

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
  // Galera's defaults are suspect 5 s, check period 0.5 s, keepalive 1 s: writes stalled about 6 s after a member
  // died (ProxySQL, measured). The stall is the eviction time (suspect timeout + up to one check period + the view
  // change) plus the proxy's switch, so these values are what bounds write resumption; figures in the README
  // (Galera, "Failure detection") from test/integration/haproxy-galera-writer.test.ts. A keepalive every 0.5 s
  // leaves three chances to be heard within the suspect timeout; a false suspicion (a pause longer than that)
  // costs the member an IST rejoin, not data, and none was seen under saturating write load on two cores.
  // Ranges Galera enforces at start (gcomm/src/evs_proto.cpp): check period <= suspect/2, keepalive in
  // [0.1 s, suspect/3]; outside them mariadbd aborts (test/galera-server-config.test.ts holds them).
  suspectTimeoutSeconds: 1.5,
  inactiveTimeoutSeconds: 10,
  inactiveCheckPeriodSeconds: 0.25,
  keepalivePeriodSeconds: 0.5,
  // Galera's PT1S matched the ~1.1 s measured between the suspect timeout and the eviction (the members' join
  // messages of the view change, resent every join_retrans_period).
  joinRetransPeriodSeconds: 0.3,
  applierThreads: 4,
  maxConnections: 4096,
  innodbFlushLogAtTrxCommit: 2,
  tmpDir: '/tmp',
} as const;

/**
 * Renders the include file. Same model, same bytes. Throws when the merged result would override what the library
 * owns (the construct refuses such input first, with the prop named; `check` is off only for that comparison).
 */
/**
 * Binary logs on every member, the same GTID for the same write-set on every member (MariaDB >= 10.5.1 replicates
 * the origin's GTID with the write-set when `wsrep_gtid_mode=ON`): the archive can then continue from any member.
 */
export interface GaleraBinlogConfig {
  /**
   * `wsrep_gtid_domain_id`, the same on every member: replicated transactions are numbered in this domain.
   * Members' local writes (with wsrep off) stay in `gtid_domain_id` 0, so they never disturb its numbering.
   */
  readonly gtidDomainId: number;
  /** `binlog_expire_logs_seconds`: how long a member keeps a file; far longer than an archiver outage may last. */
  readonly expireSeconds: number;
  /** `max_binlog_size` in bytes. */
  readonly maxFileBytes: number;
}

/** The base name of the binary logs, relative: they go to the data dir (the data volume), `binlog.000001`... */
export const BINLOG_BASENAME = 'binlog';

function binlogOptions(binlog: GaleraBinlogConfig): { mysqld: Record<string, string>; galera: Record<string, string> } {
  return {
    mysqld: {
      log_bin: BINLOG_BASENAME,
      // Write-sets applied from other members are logged too: every member's binlog holds every transaction.
      log_slave_updates: 'ON',
      // 0 is not the cluster's domain: a member's local statements (wsrep off) never take a cluster GTID.
      gtid_domain_id: '0',
      binlog_expire_logs_seconds: String(binlog.expireSeconds),
      max_binlog_size: String(binlog.maxFileBytes),
    },
    galera: { wsrep_gtid_mode: 'ON', wsrep_gtid_domain_id: String(binlog.gtidDomainId) },
  };
}

export function renderServerConfig(model: GaleraServerConfigModel, check = true): string {
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
    ...(model.tls ? clientTlsOptions(model.tls) : {}),
    ...(model.binlog ? binlogOptions(model.binlog).mysqld : {}),
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
    ...(model.binlog ? binlogOptions(model.binlog).galera : {}),
  };
  const sst: ConfigSections = model.tls?.stateTransfer ? { sst: sstTlsOptions(model.tls) } : {};
  const sections = mergeSections({ mysqld, galera, ...sst }, model.overrides ?? {});
  const text = renderIni(sections);
  const problems = check ? renderedServerConfigProblems(text, model) : [];
  if (problems.length > 0) throw new Error(`server.cnf: ${problems.join('; ')}`);
  return text;
}

function clientTlsOptions(tls: GaleraServerTls): Record<string, string> {
  return {
    ssl_cert: tls.certificate,
    ssl_key: tls.privateKey,
    ssl_ca: tls.ca,
    tls_version: GALERA_TLS_VERSIONS,
    ...(tls.requireSecureTransport ? { require_secure_transport: 'ON' } : {}),
  };
}

/**
 * mariabackup SST through socat with OpenSSL: the joiner listens with the member's certificate, the donor connects
 * with its own, each checks the other's chain against the CA (`VERIFY_CA`: the donor reaches the joiner by pod IP,
 * which no certificate can name ahead of time, so the CA (one per deployment) is the identity).
 */
function sstTlsOptions(tls: GaleraServerTls): Record<string, string> {
  return { encrypt: '3', 'ssl-mode': 'VERIFY_CA', tca: tls.ca, tcert: tls.certificate, tkey: tls.privateKey };
}

/** Galera's own TLS: every peer connection and IST; `socket.dynamic` only while replication TLS is turned on or off. */
function replicationTlsOptions(tls: GaleraServerTls | undefined): Record<string, string> {
  // In transition the member speaks TLS and still accepts plaintext peers, whichever way replication TLS is going.
  if (!tls?.replication && !tls?.replicationTransition) return {};
  return {
    'socket.ssl': 'YES',
    'socket.ssl_cert': tls.certificate,
    'socket.ssl_key': tls.privateKey,
    'socket.ssl_ca': tls.ca,
    ...(tls.replicationTransition ? { 'socket.dynamic': 'YES' } : {}),
  };
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
    'evs.inactive_check_period': `PT${model.inactiveCheckPeriodSeconds}S`,
    'evs.keepalive_period': `PT${model.keepalivePeriodSeconds}S`,
    'evs.join_retrans_period': `PT${model.joinRetransPeriodSeconds}S`,
    // Galera's default: how long a connection handshake may take (it does not bound the eviction).
    'gmcast.peer_timeout': 'PT3S',
    ...replicationTlsOptions(model.tls),
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

/**
 * MariaDB reads option names in any case and with `-` or `_`, and group names in any case: a user key replaces ours
 * whatever its spelling. In the same section ours keeps its place and spelling; in another section ours is
 * dropped, so that the file never holds the same option twice (which one wins would depend on group order).
 */
function mergeSections(base: ConfigSections, over: ConfigSections): Record<string, Record<string, string>> {
  const merged: Record<string, Record<string, string>> = {};
  for (const name of Object.keys(base)) merged[name] = { ...base[name] };
  for (const name of Object.keys(over).sort()) {
    const target = Object.keys(merged).find((m) => m.toLowerCase() === name.toLowerCase()) ?? name;
    const values: Record<string, string> = {};
    for (const key of Object.keys(over[name])) {
      const ours = Object.entries(merged).flatMap(([s, kv]) => Object.keys(kv).filter((k) => normalizeOptionName(k) === normalizeOptionName(key)).map((k) => [s, k] as const));
      for (const [s, k] of ours) {
        if (s === target) values[k] = over[name][key];
        else delete merged[s][k];
      }
      if (!ours.some(([s]) => s === target)) values[key] = over[name][key];
    }
    // Own keys only: a section named like an Object method (`valueOf`, `constructor`) is a plain section.
    merged[target] = mergeKeyed(Object.hasOwn(merged, target) ? merged[target] : {}, values);
  }
  return merged;
}

// --- what the library owns in server.cnf, and how MariaDB spells option names -----------------------------------

/** An option name as MariaDB compares it: case-insensitive, `-` and `_` alike. */
export function normalizeOptionName(key: string): string {
  return key.toLowerCase().replace(/-/g, '_');
}

/**
 * The prefixes MariaDB's option parser (my_getopt) accepts before any option name, found with the real
 * `mariadbd --help --verbose`: `loose-` (ignore if unknown), `skip-`/`disable-` (false), `enable-` (true),
 * `maximum-` (the session maximum) and `autoset-`. They combine (`loose-skip-wsrep-on`).
 */
const OPTION_PREFIXES = ['loose_', 'skip_', 'disable_', 'enable_', 'maximum_', 'autoset_'];

/** Every name MariaDB may take `key` for: the normalized key, then with each leading special prefix removed. */
export function optionNameSpellings(key: string): string[] {
  const names = [normalizeOptionName(key)];
  for (let prefix; (prefix = OPTION_PREFIXES.find((p) => names[names.length - 1].startsWith(p)));) {
    names.push(names[names.length - 1].slice(prefix.length));
  }
  return names;
}

/**
 * Options the library sets (or the entrypoint and the recovery agent set per pod) and that the probes, Services,
 * agent and PodDisruptionBudget assume: a user value would let a member start its own cluster, leave replication,
 * listen where nothing points, or put data where the volume is not. The value is why.
 */
export const OWNED_OPTIONS: Readonly<Record<string, string>> = {
  wsrep_on: 'a member with replication off serves writes no other member sees',
  wsrep_provider: 'the Galera library path is the image\'s',
  wsrep_cluster_address: 'is every member\'s headless-Service name; another address lets a member start or join another cluster',
  wsrep_cluster_name: 'set it with the clusterName prop',
  wsrep_new_cluster: 'only the recovery agent decides which member bootstraps, once',
  wsrep_node_address: 'the entrypoint sets it to the pod IP at start',
  wsrep_node_incoming_address: 'the entrypoint sets it to the pod IP at start',
  wsrep_node_name: 'the entrypoint sets it to the pod name at start; the agent identifies members by it',
  wsrep_sst_receive_address: 'the entrypoint sets it to the pod IP and the SST port the Service and NetworkPolicy open',
  wsrep_sst_method: 'the entrypoint and the probes assume mariabackup',
  wsrep_sst_auth: 'it is a secret: the entrypoint builds it from credentials.sstUser and credentials.sstPassword',
  wsrep_sst_donor_rejects_queries: 'the readiness probe and ProxySQL fence a donor only while it rejects queries',
  wsrep_start_position: 'the entrypoint recovers it from the data at every start',
  wsrep_recover: 'the entrypoint runs the recovery itself',
  wsrep_notify_cmd: 'the entrypoint sets it: the recovery agent learns of an eviction from it (the writer takeover)',
  wsrep_desync: 'a desynced member is never Ready and stalls nothing, silently',
  wsrep_reject_queries: 'the readiness probe would take the member out for good',
  port: 'the Services, NetworkPolicy, probes and ProxySQL use 3306',
  bind_address: 'the Services and probes reach every member on its pod IP',
  socket: 'the entrypoint sets it per pod in the run directory the probes use',
  datadir: 'the data must be on the data volume (storage)',
  tmpdir: 'it is the tmp emptyDir sized by tmpSizeMiB',
  tmp_disk_table_size: 'it follows tmpSizeMiB (half of it); set tmpSizeMiB',
  binlog_format: 'Galera replicates row events only (ROW)',
  innodb_autoinc_lock_mode: 'Galera needs interleaved auto-increment locks (2)',
  default_storage_engine: 'Galera replicates InnoDB tables only',
  skip_grant_tables: 'it lets any client in without a password',
  skip_networking: 'ProxySQL and the peers connect over TCP',
  ssl_cert: 'set it with the tls prop (the certificate Secret is mounted and reloaded on renewal)',
  ssl_key: 'set it with the tls prop (the certificate Secret is mounted and reloaded on renewal)',
  ssl_ca: 'set it with the tls prop (the certificate Secret is mounted and reloaded on renewal)',
  tls_version: 'the tls prop allows TLS 1.2 and 1.3 only',
  require_secure_transport: 'set it with tls.requireSecureTransport',
};

/** The option groups mariabackup's SST script reads besides the server groups (wsrep_sst_mariabackup's `bkgroups`). */
export const SST_GROUP = /^(sst|xtrabackup|mariabackup)$/i;

/** An option name as the SST script compares it: lower case, `_` as `-`, without a `loose-` prefix. */
export function sstOptionName(key: string): string {
  return key.toLowerCase().replace(/_/g, '-').replace(/^loose-/, '');
}

/**
 * SST options (by sstOptionName, in the SST groups) that the tls prop sets: whether state transfers are encrypted
 * and with which files. A user value would encrypt one member's transfers and not another's (joiner and donor must
 * agree, even for an IST) or point at files the certificate reload does not watch.
 */
export const OWNED_SST_OPTIONS: ReadonlySet<string> = new Set(['encrypt', 'ssl-mode', 'tca', 'tcapath', 'tcert', 'tkey',
  'ssl-ca', 'ssl-capath', 'ssl-cert', 'ssl-key', 'ssl-server-ca', 'ssl-server-capath', 'ssl-server-cert', 'ssl-server-key',
  'ssl-client-ca', 'ssl-client-capath', 'ssl-client-cert', 'ssl-client-key']);

/** Full option names that are also the start of an owned one: MariaDB matches them exactly, not as abbreviations. */
const FULL_NAMES_PREFIXING_OWNED = new Set(['innodb', 'wsrep_provider', 'wsrep_sst_donor', 'ssl']);

/**
 * The owned option `key` sets, in any spelling MariaDB accepts: either case, `-` or `_`, a special prefix, or an
 * abbreviation (MariaDB expands any unique prefix of an option name: `wsrep-cluster-addr`, `bind`).
 */
export function ownedOption(key: string): string | undefined {
  for (const name of optionNameSpellings(key)) {
    if (Object.hasOwn(OWNED_OPTIONS, name)) return name;
    if (name === '' || FULL_NAMES_PREFIXING_OWNED.has(name)) continue;
    const expanded = Object.keys(OWNED_OPTIONS).find((o) => o.startsWith(name));
    if (expanded !== undefined) return expanded;
  }
  return undefined;
}

/** A key whose value is a credential (a password, an auth string, a secret or token), in any spelling. */
export function isSecretOption(key: string): boolean {
  return optionNameSpellings(key).some((n) => /pass(word|wd)?($|_)|(^|_)auth($|_)|secret|token/.test(n)) || ownedOption(key) === 'wsrep_sst_auth';
}

/**
 * Galera provider options the design depends on: the user's `wsrep_provider_options` is merged into ours key by
 * key, and may not set these. The value is why.
 */
export const OWNED_PROVIDER_OPTIONS: Readonly<Record<string, string>> = {
  'gmcast.listen_addr': 'the peers and the NetworkPolicy use port 4567 on every address',
  'gcache.size': 'set it with the gcacheSize prop (checked against storage.size)',
  'gcache.dir': 'gcache must stay on the data volume to survive restarts',
  'gcache.name': 'gcache must stay on the data volume to survive restarts',
  'gcache.recover': 'after a full outage the bootstrapped member feeds the others by IST from it',
  'pc.recovery': 'a full crash with every member back re-forms the Primary from it, before the agent steps in',
  'pc.bootstrap': 'only the recovery agent decides which member bootstraps, once',
  'pc.ignore_sb': 'it lets both sides of a partition take writes (split brain)',
  'pc.ignore_quorum': 'it lets a minority take writes (split brain)',
  'pc.weight': 'the PodDisruptionBudget and the agent count one vote per member',
  'evs.suspect_timeout': 'the failover timing (and ProxySQL\'s health check) is built on it',
  'evs.inactive_timeout': 'the failover timing (and ProxySQL\'s health check) is built on it',
  'evs.inactive_check_period': 'the failover timing (and ProxySQL\'s health check) is built on it',
  'evs.keepalive_period': 'a member must be heard well within evs.suspect_timeout, or it is evicted under load',
  'evs.join_retrans_period': 'the failover timing (and ProxySQL\'s health check) is built on it',
  'gmcast.peer_timeout': 'the failover timing (and ProxySQL\'s health check) is built on it',
  'ist.recv_addr': 'IST must arrive on port 4568, which the Service and NetworkPolicy open',
  'ist.recv_bind': 'IST must arrive on port 4568, which the Service and NetworkPolicy open',
  'base_port': 'the peers and the NetworkPolicy use port 4567',
  'base_host': 'the entrypoint sets the node address to the pod IP',
  'socket.ssl': 'set it with tls.replication: every member must agree, and turning it on needs the transition (README, "TLS")',
  'socket.ssl_cert': 'set it with the tls prop',
  'socket.ssl_key': 'set it with the tls prop',
  'socket.ssl_ca': 'set it with the tls prop',
  'socket.dynamic': 'set it with tls.replicationTransition: left on, a plaintext peer may join',
};

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

/** Server option groups mariadbd reads (group names are case-insensitive): an option set in two is ambiguous. */
export const SERVER_GROUP = /^(mysqld|server|mariadb|mariadbd|galera|client-server|(mysqld|mariadb|mariadbd)-\d+\.\d+)$/i;
export const PROVIDER_OPTIONS = 'wsrep_provider_options';

/**
 * Problems of a rendered server.cnf, read the way MariaDB reads it: every owned option once, with the library's
 * value, no credential, no option twice in the server groups, every owned provider option present with ours.
 * The last guard behind validateServerConfig (a merge bug would show here, not in a cluster).
 */
export function renderedServerConfigProblems(text: string, model: GaleraServerConfigModel): string[] {
  const expected = renderServerConfig({ ...model, overrides: undefined, providerOptions: undefined }, false);
  const ours = readIni(expected);
  const theirs = readIni(text);
  const problems: string[] = [];
  const serverOptions = theirs.filter((o) => SERVER_GROUP.test(o.section));
  for (const o of theirs) {
    if (isSecretOption(o.key)) problems.push(`[${o.section}] ${o.key} holds a credential`);
    const owned = ownedOption(o.key);
    if (owned !== undefined && !ours.some((x) => x.section === o.section && x.key === o.key && x.value === o.value)) {
      problems.push(`[${o.section}] ${o.key} overrides ${owned}, which the library owns`);
    }
  }
  for (const x of ours.filter((o) => ownedOption(o.key) !== undefined || o.key === PROVIDER_OPTIONS)) {
    const found = serverOptions.filter((o) => normalizeOptionName(o.key) === normalizeOptionName(x.key));
    if (found.length !== 1) problems.push(`${x.key} is set ${found.length} times`);
  }
  const seen = new Set<string>();
  for (const o of serverOptions) {
    const name = optionNameSpellings(o.key).at(-1)!;
    if (seen.has(name)) problems.push(`${o.key} is set twice in the server groups`);
    seen.add(name);
  }
  const provider = (rows: IniOption[]) => parseProviderOptions(rows.find((o) => o.key === PROVIDER_OPTIONS)?.value ?? '');
  const ourProvider = provider(ours);
  const theirProvider = provider(theirs);
  for (const [k, x] of ourProvider) if (theirProvider.get(k) !== x) problems.push(`provider option ${k} is not ${x}`);
  return problems;
}

/** One `key = value` line of a server.cnf, with its section. */
export interface IniOption { readonly section: string; readonly key: string; readonly value: string }

/**
 * The entries of a `wsrep_provider_options` value as renderServerConfig writes it (`"a=1; b=2"`), by key in order.
 * Galera splits on `;` and the first `=`; the values are printable ASCII without `;` (validation).
 */
export function parseProviderOptions(value: string): Map<string, string> {
  const entries = value.trim().replace(/^"|"$/g, '').split(';').map((e) => e.trim()).filter((e) => e !== '');
  return new Map(entries.map((e) => (e.includes('=') ? [e.slice(0, e.indexOf('=')).trim(), e.slice(e.indexOf('=') + 1).trim()] : [e, ''])));
}

/** `key = value` lines by section, as renderIni writes them. */
export function readIni(text: string): IniOption[] {
  const options: IniOption[] = [];
  let section = '';
  for (const line of text.split('\n')) {
    const header = /^\[(.*)\]$/.exec(line);
    if (header) section = header[1];
    else if (line.includes(' = ')) options.push({ section, key: line.slice(0, line.indexOf(' = ')), value: line.slice(line.indexOf(' = ') + 3) });
  }
  return options;
}
