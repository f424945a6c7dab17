/**
 * The `proxysql.cnf` renderer: a plain model in, libconfig text out. Secrets are never in the model: each password
 * is an `@@ENV_NAME@@` placeholder inside a string, which `assets/proxysql/start.sh` replaces (escaped for
 * libconfig, checked against what ProxySQL's loader can take) with the value of that environment variable at
 * container start.
 *
 * ProxySQL has no config test and its loader never fails on a bad file: it skips rows that lack a mandatory key,
 * reads a quoted integer (`port = "3306"`) as 0, a float or a 64-bit integer variable as an empty string, and
 * builds SQL with the strings pasted in unescaped (`"` breaks a variable or a query rule, `'` breaks a user). So
 * this module emits every value through a typed writer (integers bare and within 32 bits, strings quoted and
 * escaped) and refuses, before anything is written, every value the loader would mangle.
 *
 * The rules it relies on are in validation.ts (proxySqlConfigProblems); it checks them again before writing.
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s.
 */
import { envPlaceholder } from '../common/secret';
import {
  ENV_NAME, INT32_MAX, MONITOR_PASSWORD_ENV, ProxySqlConfigModel, READ_ONLY_SELECT_RULE_ID,
} from './model';
import { proxySqlConfigProblems } from './validation';

/** `user:password` of the admin account: start.sh builds it from PROXYSQL_ADMIN_USER and ADMIN_PASSWORD_ENV. */
const ADMIN_CREDENTIALS_PLACEHOLDER = 'PROXYSQL_ADMIN_CREDENTIALS';
/** Locking reads and session-bound functions on the read-only port stay on the writer. */
const READ_ONLY_WRITER_RULE_ID = 100;
/**
 * Matched against the query digest (literals replaced, whitespace folded), case-insensitively. A locking read
 * must take its locks where the writes happen; LAST_INSERT_ID and the named locks are per connection.
 */
const WRITER_ONLY_SELECT = '^SELECT.*(FOR UPDATE|FOR SHARE|LOCK IN SHARE MODE|GET_LOCK|RELEASE_LOCK|IS_USED_LOCK|LAST_INSERT_ID)';
const PLAIN_SELECT = '^SELECT';

/**
 * The `proxysql.cnf` template. Throws on a model with problems (the construct validates first, with better
 * messages). Same model, same bytes.
 */
export function renderProxySqlConfig(model: ProxySqlConfigModel): string {
  const problems = proxySqlConfigProblems(model);
  if (problems.length > 0) throw new Error(`proxysql.cnf: ${problems.map((p) => `${p.field}: ${JSON.stringify(p.value)} ${p.fix}`).join('; ')}`);
  const hg = model.hostgroups;
  const sections: string[] = [
    setting('datadir', str(model.dataDir)),
    group('admin_variables', [
      // The admin interface listens on loopback only: probes and the admin sidecar run inside the pod.
      ['admin_credentials', secretStr(ADMIN_CREDENTIALS_PLACEHOLDER)],
      ['mysql_ifaces', str(`127.0.0.1:${model.adminPort}`)],
      // The built-in Prometheus exporter (ProxySQL 2.7 lib/ProxySQL_Admin.cpp: admin variables restapi_enabled and
      // restapi_port, default 6070, registered as `/metrics` at line 7287 of the 2.7.2 tree): no bind address
      // exists, it listens on every interface of the pod, hence the scraper-only NetworkPolicy.
      ...(model.metricsPort !== undefined ? [['restapi_enabled', str('true')], ['restapi_port', int(model.metricsPort)]] as const : []),
    ]),
    group('mysql_variables', mysqlVariables(model)),
    list('mysql_servers', model.servers.map((s) => [
      ['address', str(s.host)],
      ['port', int(s.port)],
      ['hostgroup', int(hg.writer)],
      ['weight', int(s.weight)],
      ['max_connections', int(s.maxConnections)],
      ['comment', str(s.comment)],
      // TLS to the member (the monitor's health checks too), verified with mysql-ssl_p2s_ca.
      ...(model.tls?.backendCaFile !== undefined ? [['use_ssl', int(1)] as const] : []),
    ])),
    list('mysql_galera_hostgroups', [[
      ['writer_hostgroup', int(hg.writer)],
      ['backup_writer_hostgroup', int(hg.backupWriter)],
      ['reader_hostgroup', int(hg.reader)],
      ['offline_hostgroup', int(hg.offline)],
      ['active', int(1)],
      // One writer at a time: Galera certification conflicts (deadlocks at commit) only happen with several.
      ['max_writers', int(1)],
      // The writer is a reader too, so the reader hostgroup is never empty while any member is Synced. With 2
      // ("only backup writers read") ProxySQL 2.6/2.7 empties it when the last standby leaves: converge_galera_config
      // deletes the writer from the readers and adds the backup writers, of which there are none (source:
      // lib/MySQL_HostGroups_Manager.cpp), and a connection already queued for the empty hostgroup waits
      // connect_timeout_server_max and fails (ERROR 9001, measured: 13 of 16 read-only connections after a clean
      // stop of the last standby). The writer's share of reads is its weight over the sum (about 1/N): the copy in
      // the reader hostgroup takes the writer row's weight (mysql_hostgroup_attributes.servers_defaults only fills
      // in servers added without one, which these copies never are).
      ['writer_is_also_reader', int(1)],
      ['max_transactions_behind', int(100)],
      ['comment', str('galera')],
    ]]),
    list('mysql_users', model.users.map((u) => [
      ['username', str(u.name)],
      ['password', secretStr(u.passwordEnv)],
      ['default_hostgroup', int(hg.writer)],
      ['transaction_persistent', int(1)],
      ['max_connections', int(u.maxConnections)],
      ['active', int(1)],
      // Frontend only: a client of this user that did not start TLS is refused ("SSL is required"). Every user with
      // requireSecureTransport; one whose Galera account requires TLS (REQUIRE SSL) always: TLS end to end.
      ...(model.tls?.requireSecureTransport || u.requireTls ? [['use_ssl', int(1)] as const] : []),
    ])),
    list('mysql_query_rules', [
      [
        ['rule_id', int(READ_ONLY_WRITER_RULE_ID)],
        ['active', int(1)],
        ['proxy_port', int(model.readOnlyPort)],
        ['match_digest', str(WRITER_ONLY_SELECT)],
        ['re_modifiers', str('CASELESS')],
        ['destination_hostgroup', int(hg.writer)],
        ['apply', int(1)],
        ['comment', str('read-only port: locking reads stay on the writer')],
      ],
      [
        ['rule_id', int(READ_ONLY_SELECT_RULE_ID)],
        ['active', int(1)],
        ['proxy_port', int(model.readOnlyPort)],
        ['match_digest', str(PLAIN_SELECT)],
        ['re_modifiers', str('CASELESS')],
        ['destination_hostgroup', int(hg.reader)],
        ['apply', int(1)],
        ['comment', str('read-only port: SELECT to the readers')],
      ],
    ]),
  ];
  return [
    '# proxysql.cnf template, rendered by cdk8s-openstack-ha. start.sh fills in the @@...@@ passwords at container',
    '# start and ProxySQL runs with --initial, so this file (never an old proxysql.db) is the whole configuration.',
    ...sections,
  ].join('\n') + '\n';
}

/** `mysql_variables`: listeners, the monitor, and the timeouts and retries that ride out a writer's eviction. */
function mysqlVariables(model: ProxySqlConfigModel): Row {
  const hc = model.healthCheck;
  return [
    ['threads', int(model.threads)],
    ['max_connections', int(model.maxClientConnections)],
    ['interfaces', str(`0.0.0.0:${model.readWritePort};0.0.0.0:${model.readOnlyPort}`)],
    ['server_version', str(model.serverVersion)],
    ['monitor_username', str(model.monitorUser)],
    ['monitor_password', secretStr(MONITOR_PASSWORD_ENV)],
    ['monitor_galera_healthcheck_interval', int(hc.intervalMs)],
    ['monitor_galera_healthcheck_timeout', int(hc.timeoutMs)],
    ['monitor_galera_healthcheck_max_timeout_count', int(hc.maxTimeoutCount)],
    ['monitor_ping_interval', int(2000)],
    ['monitor_connect_interval', int(60000)],
    // Galera pods get a new IP when they restart: re-resolve member names often, forget them soon.
    ['monitor_local_dns_cache_refresh_interval', int(10000)],
    ['monitor_local_dns_cache_ttl', int(30000)],
    ['connect_timeout_server', int(2000)],
    // How long a client waits for a usable backend before ERROR 9001, e.g. while Galera evicts a dead writer
    // (measured: about 6 s with the default evs.suspect_timeout). Must exceed that stall.
    ['connect_timeout_server_max', int(10000)],
    ['connect_retries_on_failure', int(10)],
    ['connect_retries_delay', int(100)],
    // Retried only outside a transaction and before any result reached the client.
    ['query_retries_on_failure', int(1)],
    ['shun_on_failures', int(5)],
    ['shun_recovery_time_sec', int(10)],
    // At least oslo.db's connection_recycle_time (3600 s): ProxySQL must not close idle pooled sessions first.
    ['wait_timeout', int(28800000)],
    ['free_connections_pct', int(10)],
  
    ...(model.tls ? tlsVariables(model.tls) : []),
  ];
}

/**
 * TLS for clients and to the members (ProxySQL 2.7, lib/MySQL_Thread.cpp and src/proxy_tls.cpp). The frontend has no
 * path variables: ProxySQL reads proxysql-cert.pem, proxysql-key.pem and proxysql-ca.pem from its datadir (tls.sh
 * copies them there). The backend reads its files per new connection, so mysql-ssl_p2s_ca names the mounted Secret
 * directly and a renewed CA needs nothing (the bundled connector re-reads the CA file when its SHA-1 changes).
 */
function tlsVariables(tls: NonNullable<ProxySqlConfigModel['tls']>): Row {
  return [
    // On by default since 2.6; written so the file says what it relies on.
    ['have_ssl', str('true')],
    ...(tls.backendCaFile !== undefined ? [
      ['ssl_p2s_ca', str(tls.backendCaFile)],
      ['ssl_p2s_cipher', str(tls.backendCiphers)],
    ] as const : []),
  ];
}

/** A libconfig value, already in its written form. */
type Value = { readonly text: string };
type Row = ReadonlyArray<readonly [string, Value]>;

function int(n: number): Value {
  // Guarded by proxySqlConfigProblems; kept here so no caller can ever write a quoted or 64-bit integer.
  if (!Number.isInteger(n) || Math.abs(n) > INT32_MAX) throw new Error(`not a 32-bit integer: ${n}`);
  return { text: String(n) };
}

/**
 * A string literal. Literals never contain `"` (ProxySQL pastes strings into double-quoted SQL), control
 * characters or `@@` (which would read as a placeholder); backslashes are escaped for libconfig.
 */
function str(s: string): Value {
  if (/["\x00-\x1f\x7f]|@@/.test(s)) throw new Error(`string not allowed in proxysql.cnf: ${JSON.stringify(s)}`);
  return { text: `"${s.replace(/\\/g, '\\\\')}"` };
}

/** A string filled in by start.sh from the environment (a password, escaped and checked there). */
function secretStr(placeholder: string): Value {
  if (!ENV_NAME.test(placeholder)) throw new Error(`not a placeholder name: ${placeholder}`);
  return { text: `"${envPlaceholder(placeholder)}"` };
}

function setting(name: string, value: Value): string {
  return `${name}=${value.text}`;
}

function group(name: string, settings: Row): string {
  return [`${name}=`, '{', ...settings.map(([k, v]) => `  ${setting(k, v)}`), '}'].join('\n');
}

function list(name: string, rows: readonly Row[]): string {
  const items = rows.map((row, i) => `  { ${row.map(([k, v]) => setting(k, v)).join(', ')} }${i < rows.length - 1 ? ',' : ''}`);
  return [`${name}=`, '(', ...items, ')'].join('\n');
}

