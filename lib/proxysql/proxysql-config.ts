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
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s.
 */
import { envPlaceholder } from '../common/secret';
import { duplicates } from '../common/validation';

/** The four hostgroups of one `mysql_galera_hostgroups` row. */
export interface HostgroupIds {
  readonly writer: number;
  readonly backupWriter: number;
  readonly reader: number;
  readonly offline: number;
}

export interface BackendServerModel {
  /** DNS name (or address) of the Galera member. */
  readonly host: string;
  readonly port: number;
  /** Higher is preferred as the writer; ProxySQL orders writers by weight, then hostname, then port (descending). */
  readonly weight: number;
  /** Connections this ProxySQL opens to this member at most. */
  readonly maxConnections: number;
  readonly comment: string;
}

export interface FrontendUserModel {
  readonly name: string;
  /** The environment variable holding the password; it must start with USER_PASSWORD_ENV_PREFIX. */
  readonly passwordEnv: string;
  /** Client connections of this user to this ProxySQL, at most. */
  readonly maxConnections: number;
}

export interface HealthCheckModel {
  /** `monitor_galera_healthcheck_interval`: how often each member's wsrep state is read. */
  readonly intervalMs: number;
  /** `monitor_galera_healthcheck_timeout`. */
  readonly timeoutMs: number;
  /** `monitor_galera_healthcheck_max_timeout_count`: timeouts in a row before a member goes OFFLINE. */
  readonly maxTimeoutCount: number;
}

export interface ProxySqlConfigModel {
  readonly dataDir: string;
  readonly adminPort: number;
  /** Not written to the file (start.sh pairs PROXYSQL_ADMIN_USER with the password); checked against the users. */
  readonly adminUser: string;
  /** Port for read-write traffic: every query goes to the writer. */
  readonly readWritePort: number;
  /** Port for read-only traffic: plain SELECTs go to the readers, everything else to the writer. */
  readonly readOnlyPort: number;
  /** `mysql-threads` (read at startup only). */
  readonly threads: number;
  /** `mysql-max_connections`: client connections to this ProxySQL. */
  readonly maxClientConnections: number;
  /** What ProxySQL announces to clients; drivers pick SQL dialect features from it. */
  readonly serverVersion: string;
  readonly monitorUser: string;
  readonly healthCheck: HealthCheckModel;
  readonly hostgroups: HostgroupIds;
  /** Galera members in ordinal order. */
  readonly servers: readonly BackendServerModel[];
  readonly users: readonly FrontendUserModel[];
}

/** Environment variables start.sh substitutes; their names tell it which characters ProxySQL can take. */
export const ADMIN_PASSWORD_ENV = 'PROXYSQL_ADMIN_PASSWORD';
/** `user:password` of the admin account: start.sh builds it from PROXYSQL_ADMIN_USER and ADMIN_PASSWORD_ENV. */
const ADMIN_CREDENTIALS_PLACEHOLDER = 'PROXYSQL_ADMIN_CREDENTIALS';
export const MONITOR_PASSWORD_ENV = 'PROXYSQL_MONITOR_PASSWORD';
export const USER_PASSWORD_ENV_PREFIX = 'PROXYSQL_USER_PASSWORD_';

/** The query rule that sends plain SELECTs on the read-only port to the readers; the admin sidecar re-points it. */
export const READ_ONLY_SELECT_RULE_ID = 200;
/** Locking reads and session-bound functions on the read-only port stay on the writer. */
const READ_ONLY_WRITER_RULE_ID = 100;
/**
 * Matched against the query digest (literals replaced, whitespace folded), case-insensitively. A locking read
 * must take its locks where the writes happen; LAST_INSERT_ID and the named locks are per connection.
 */
const WRITER_ONLY_SELECT = '^SELECT.*(FOR UPDATE|FOR SHARE|LOCK IN SHARE MODE|GET_LOCK|RELEASE_LOCK|IS_USED_LOCK|LAST_INSERT_ID)';
const PLAIN_SELECT = '^SELECT';

/** ProxySQL reads integers as C `int`: anything wider turns into an empty string or 0. */
const INT32_MAX = 2147483647;
const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;
/** User and host names ProxySQL pastes into SQL unescaped: no quotes, no backslash, no spaces. */
const SQL_SAFE_NAME = /^[A-Za-z0-9_.%:-]{1,64}$/;
/**
 * Users of ProxySQL's admin interface: `admin_credentials` (ours) and `stats_credentials` (ProxySQL's default
 * `stats`). ProxySQL refuses an admin or stats user that is also a `mysql_users` entry (it keeps the frontend user
 * and ignores the admin credential, leaving the probes locked out), and the admin user cannot be `stats`.
 */
export const PROXYSQL_ADMIN_INTERFACE_USERS = ['admin', 'stats'];
/**
 * Lowest port ProxySQL can listen on: it runs as uid 999 with every capability dropped (no NET_BIND_SERVICE), and
 * Kubernetes leaves net.ipv4.ip_unprivileged_port_start at 1024 unless the runtime changes it.
 */
const MIN_PORT = 1024;

/** One problem: the field (named as the construct's prop that feeds it), its bad value, and the fix. */
export interface ConfigProblem {
  readonly field: string;
  readonly value: unknown;
  readonly fix: string;
}

/** Every problem with the model; empty when the model renders to a file ProxySQL loads exactly as written. */
export function proxySqlConfigProblems(model: ProxySqlConfigModel): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const check = (bad: boolean, field: string, value: unknown, fix: string) => bad && problems.push({ field, value, fix });
  const int = (field: string, value: number, min: number, max = INT32_MAX) =>
    check(!Number.isInteger(value) || value < min || value > max, field, value, `must be a whole number from ${min} to ${max}`);

  const ports = { adminPort: model.adminPort, readWritePort: model.readWritePort, readOnlyPort: model.readOnlyPort };
  for (const [field, port] of Object.entries(ports)) {
    check(!Number.isInteger(port) || port < MIN_PORT || port > 65535, field, port,
      `must be a port from ${MIN_PORT} to 65535 (ProxySQL runs unprivileged and cannot bind a lower one)`);
  }
  const portValues = Object.values(ports);
  check(new Set(portValues).size !== portValues.length, 'adminPort, readWritePort, readOnlyPort', portValues,
    'collide; ProxySQL needs a distinct port for each');
  int('threads', model.threads, 1, 256);
  int('maxClientConnections', model.maxClientConnections, 1, 1_000_000);
  int('healthCheck.intervalMs', model.healthCheck.intervalMs, 100, 60_000);
  int('healthCheck.timeoutMs', model.healthCheck.timeoutMs, 50, 60_000);
  int('healthCheck.maxTimeoutCount', model.healthCheck.maxTimeoutCount, 1, 100);
  check(model.healthCheck.timeoutMs >= model.healthCheck.intervalMs, 'healthCheck.timeoutMs', model.healthCheck.timeoutMs,
    `must be shorter than the interval (${model.healthCheck.intervalMs} ms)`);
  check(typeof model.serverVersion !== 'string' || !/^[0-9]+\.[0-9]+\.[0-9]+[A-Za-z0-9.+-]{0,50}$/.test(model.serverVersion), 'serverVersion',
    model.serverVersion, 'must be a server version (at most 64 characters) such as "11.4.7-MariaDB"');
  check(typeof model.adminUser !== 'string' || !SQL_SAFE_NAME.test(model.adminUser) || /[:;%]/.test(model.adminUser), 'adminUser', model.adminUser,
    'must be 1-64 letters, digits, "_", "." or "-"');
  check(model.adminUser === 'stats', 'adminUser', model.adminUser, 'is ProxySQL\'s read-only stats account; use another name, e.g. "admin"');
  check(model.adminUser === model.monitorUser, 'adminUser', model.adminUser,
    'is also the Galera monitor account (galera.monitorUser); use another name, e.g. "admin"');
  check(!SQL_SAFE_NAME.test(model.monitorUser), 'galera.monitorUser', model.monitorUser, `must match ${SQL_SAFE_NAME.source}`);

  const hg = model.hostgroups;
  for (const [name, id] of Object.entries(hg)) int(`hostgroups.${name}`, id, name === 'reader' ? 1 : 0);
  // ProxySQL's CHECK constraints on mysql_galera_hostgroups: the four ids differ, the reader is above 0. A row that
  // breaks them is dropped at load with only a log line, leaving ProxySQL with no Galera routing at all.
  const ids = [hg.writer, hg.backupWriter, hg.reader, hg.offline];
  check(new Set(ids).size !== ids.length, 'hostgroups', hg, 'must be four different ids (writer, backupWriter, reader, offline)');

  check(model.servers.length === 0, 'galera.memberHosts', [], 'is empty; ProxySQL needs the Galera members');
  model.servers.forEach((s, i) => {
    check(!/^[A-Za-z0-9.:-]{1,253}$/.test(s.host), `galera.memberHosts[${i}]`, s.host, 'must be a DNS name or an address');
    int(`galera.port`, s.port, 1, 65535);
    int(`servers[${i}].weight`, s.weight, 1, 10_000_000);
    int('maxConnectionsPerBackend', s.maxConnections, 1, 1_000_000);
  });
  const weights = model.servers.map((s) => s.weight);
  check(new Set(weights).size !== weights.length, 'servers weights', weights, 'must all differ, so that every ProxySQL picks the same writer');

  // Fields `users[i]...` index model.users; the construct renames them to the prop that feeds them.
  const names = new Set<string>();
  model.users.forEach((user, i) => {
    const field = `users[${i}].name`;
    check(!SQL_SAFE_NAME.test(user.name), field, user.name, 'must be 1-64 letters, digits, "_", ".", "-", ":" or "%" (ProxySQL pastes it into SQL unescaped)');
    check(names.has(user.name), field, user.name, 'is listed twice; ProxySQL keeps one entry per name');
    check(user.name === model.adminUser || user.name === model.monitorUser || PROXYSQL_ADMIN_INTERFACE_USERS.includes(user.name), field, user.name,
      `is also the ProxySQL admin (${model.adminUser}), stats or monitor (${model.monitorUser}) account, which ProxySQL would refuse; use another name`);
    names.add(user.name);
    check(!ENV_NAME.test(user.passwordEnv) || !user.passwordEnv.startsWith(USER_PASSWORD_ENV_PREFIX), field, user.name,
      `has password variable ${user.passwordEnv}; it must be ${USER_PASSWORD_ENV_PREFIX}<NAME>`);
    int(`users[${i}].maxConnections`, user.maxConnections, 1, 1_000_000);
  });
  for (const env of duplicates(model.users.map((u) => u.passwordEnv))) {
    const i = model.users.findIndex((u) => u.passwordEnv === env);
    check(true, `users[${i}].name`, model.users[i].name,
      `shares the password variable ${env} with ${model.users.filter((u) => u.passwordEnv === env).slice(1).map((u) => JSON.stringify(u.name)).join(', ')} (names that differ only in punctuation or case); rename one`);
  }
  return problems;
}

/**
 * The `proxysql.cnf` template. Throws on a model with problems (the construct validates first, with better
 * messages). Same model, same bytes.
 */
export function renderProxySqlConfig(model: ProxySqlConfigModel): string {
  const problems = proxySqlConfigProblems(model);
  if (problems.length > 0) throw new Error(`proxysql.cnf: ${problems.map((p) => `${p.field}: ${JSON.stringify(p.value)} ${p.fix}`).join('; ')}`);
  const hg = model.hostgroups;
  const hc = model.healthCheck;
  const sections: string[] = [
    setting('datadir', str(model.dataDir)),
    group('admin_variables', [
      // The admin interface listens on loopback only: probes and the admin sidecar run inside the pod.
      ['admin_credentials', secretStr(ADMIN_CREDENTIALS_PLACEHOLDER)],
      ['mysql_ifaces', str(`127.0.0.1:${model.adminPort}`)],
    ]),
    group('mysql_variables', [
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
    ]),
    list('mysql_servers', model.servers.map((s) => [
      ['address', str(s.host)],
      ['port', int(s.port)],
      ['hostgroup', int(hg.writer)],
      ['weight', int(s.weight)],
      ['max_connections', int(s.maxConnections)],
      ['comment', str(s.comment)],
    ])),
    list('mysql_galera_hostgroups', [[
      ['writer_hostgroup', int(hg.writer)],
      ['backup_writer_hostgroup', int(hg.backupWriter)],
      ['reader_hostgroup', int(hg.reader)],
      ['offline_hostgroup', int(hg.offline)],
      ['active', int(1)],
      // One writer at a time: Galera certification conflicts (deadlocks at commit) only happen with several.
      ['max_writers', int(1)],
      // The standbys (backup writers) serve reads; the writer does not.
      ['writer_is_also_reader', int(2)],
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

