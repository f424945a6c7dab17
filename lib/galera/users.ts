/**
 * The database users file that `assets/galera/apply-users.sh` applies (GALERA_USERS_FILE, a ConfigMap key).
 * It names each user's password *environment variable*; the value comes from a Secret ref on the container,
 * never from this file.
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s.
 */
import { duplicates, show } from '../common/validation';

export interface DatabaseUserModel {
  readonly name: string;
  /** Host part of the account; '%' = from anywhere (ProxySQL pods). */
  readonly host?: string;
  /** Name of the container environment variable that holds the password (fed by a Secret ref). */
  readonly passwordEnv: string;
  /** Databases the user gets `privileges` on (each is created if missing); '*' = global privileges. */
  readonly databases: readonly string[];
  /** Privilege names, e.g. `SELECT`, `LOCK TABLES`; default `ALL PRIVILEGES`. */
  readonly privileges?: readonly string[];
  /** MAX_USER_CONNECTIONS; default 0 = unlimited. */
  readonly maxConnections?: number;
}

/** The same patterns apply-users.sh enforces; it refuses a file that breaks them. */
const USER_NAME = /^[A-Za-z0-9_.-]{1,80}$/;
const HOST = /^[A-Za-z0-9_.%:-]{1,255}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PRIVILEGE = /^[A-Z]+( [A-Z]+)*$/;
const DATABASE = /^[A-Za-z0-9_$-]{1,64}$/;
/** Names the entrypoint's built-in users take (SST, monitor, root); a file user may not reuse them. */
export const BUILT_IN_PASSWORD_ENVS = ['GALERA_SST_PASSWORD', 'GALERA_MONITOR_PASSWORD', 'MARIADB_ROOT_PASSWORD'];

/**
 * Accounts MariaDB itself has (`mariadb.sys` owns the system views, `mysql` is the unix-socket administrator since
 * 10.4, `PUBLIC` is the role every account has since 10.11) or that the entrypoint manages (`root`).
 */
export const RESERVED_USER_NAMES = ['root', 'mariadb.sys', 'mysql', 'public'];
/** MAX_USER_CONNECTIONS at most this (ProxySQL's per-user limit is the same). */
export const MAX_USER_CONNECTIONS = 1_000_000;

/** One problem of one user: the field as the DatabaseUser prop names it (`name`, `databases[1]`), its value, the fix. */
export interface UserProblem {
  readonly field: string;
  readonly value: unknown;
  readonly fix: string;
}

/** Every problem with one user. */
export function databaseUserProblems(user: DatabaseUserModel): UserProblem[] {
  const problems: UserProblem[] = [];
  const check = (bad: boolean, field: string, value: unknown, fix: string) => bad && problems.push({ field, value, fix });
  check(typeof user.name !== 'string' || !USER_NAME.test(user.name), 'name', user.name,
    'is not an account name apply-users.sh can quote; use 1-80 letters, digits, "_", "." or "-", e.g. "nova"');
  check(RESERVED_USER_NAMES.includes(String(user.name).toLowerCase()), 'name', user.name,
    'is an account MariaDB or the entrypoint manages (root, mariadb.sys, mysql, PUBLIC); choose another name');
  const host = user.host ?? '%';
  check(typeof host !== 'string' || !HOST.test(host), 'host', host,
    'is not a host pattern; use "%", an address, a DNS name or a pattern of letters, digits, ".", "-", "_", ":" and "%"');
  check(!ENV_NAME.test(user.passwordEnv), 'passwordEnv', user.passwordEnv, 'is not an environment variable name; rename the account');
  check(BUILT_IN_PASSWORD_ENVS.includes(user.passwordEnv), 'passwordEnv', user.passwordEnv, 'belongs to a built-in user; rename the account');
  check(user.databases.length === 0, 'databases', [], 'is empty; name at least one database, or "*" for global privileges');
  user.databases.forEach((db, i) => check(db !== '*' && (typeof db !== 'string' || !DATABASE.test(db)), `databases[${i}]`, db,
    'is not a database name apply-users.sh can quote; use 1-64 letters, digits, "_", "$" or "-", or "*" for every database'));
  check(user.databases.includes('*') && user.databases.length > 1, 'databases', user.databases, 'lists "*", which already covers every database; keep only "*"');
  for (const db of duplicates(user.databases)) check(true, 'databases', db, 'is listed twice; list each database once');
  (user.privileges ?? []).forEach((privilege, i) => check(typeof privilege !== 'string' || !PRIVILEGE.test(privilege), `privileges[${i}]`, privilege,
    'is not a privilege name; use upper-case words, e.g. "SELECT" or "LOCK TABLES"'));
  for (const privilege of duplicates(user.privileges ?? [])) check(true, 'privileges', privilege, 'is listed twice; list each privilege once');
  const max = user.maxConnections ?? 0;
  check(!Number.isInteger(max) || max < 0 || max > MAX_USER_CONNECTIONS, 'maxConnections', max,
    `must be a whole number from 0 (unlimited) to ${MAX_USER_CONNECTIONS}`);
  return problems;
}

/**
 * One tab-separated line per user, sorted by name then host (same users, same bytes). Throws on a user with
 * problems: the construct validates first, with better messages.
 */
export function renderUsersFile(users: readonly DatabaseUserModel[]): string {
  const lines = [...users]
    .sort((a, b) => compare(a.name, b.name) || compare(a.host ?? '%', b.host ?? '%'))
    .map((user) => {
      const problems = databaseUserProblems(user);
      if (problems.length > 0) throw new Error(`database user ${user.name}: ${problems.map((p) => `${p.field} ${show(p.value)} ${p.fix}`).join('; ')}`);
      const privileges = user.privileges === undefined || user.privileges.length === 0 ? ['ALL PRIVILEGES'] : user.privileges;
      return [user.name, user.host ?? '%', user.passwordEnv, String(user.maxConnections ?? 0), privileges.join(','), user.databases.join(',')].join('\t');
    });
  return ['# name\thost\tpassword env\tmax connections\tprivileges\tdatabases', ...lines].join('\n') + '\n';
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
