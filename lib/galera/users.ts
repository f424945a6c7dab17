/**
 * The database users file that `assets/galera/apply-users.sh` applies (GALERA_USERS_FILE, a ConfigMap key).
 * It names each user's password *environment variable*; the value comes from a Secret ref on the container,
 * never from this file.
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s.
 */
import { show } from '../common/validation';
import { databaseUserProblems } from './validation';

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
  /** `REQUIRE SSL`: logins over TLS only; default false (`REQUIRE NONE`). */
  readonly requireTls?: boolean;
}

/**
 * Names the entrypoint's built-in users take (SST, monitor, root); a file user may not reuse them (the monitor's is
 * also its file in the credentials volume).
 */
export const BUILT_IN_PASSWORD_ENVS = ['GALERA_SST_PASSWORD', 'GALERA_MONITOR_PASSWORD', 'MARIADB_ROOT_PASSWORD'];

/**
 * Accounts MariaDB itself has (`mariadb.sys` owns the system views, `mysql` is the unix-socket administrator since
 * 10.4, `PUBLIC` is the role every account has since 10.11) or that the entrypoint manages (`root`).
 */
export const RESERVED_USER_NAMES = ['root', 'mariadb.sys', 'mysql', 'public'];
/** MAX_USER_CONNECTIONS at most this (ProxySQL's per-user limit is the same). */
export const MAX_USER_CONNECTIONS = 1_000_000;

/**
 * One tab-separated line per user, sorted by name then host (same users, same bytes). Throws on a user with
 * problems: the construct validates first, with better messages. The seventh field (`SSL`) is written only for an
 * account that requires TLS: a member still running the previous apply-users.sh (its scripts ConfigMap updates
 * apart from this one) reads six fields for every other account.
 */
export function renderUsersFile(users: readonly DatabaseUserModel[]): string {
  const lines = [...users]
    .sort((a, b) => compare(a.name, b.name) || compare(a.host ?? '%', b.host ?? '%'))
    .map((user) => {
      const problems = databaseUserProblems(user);
      if (problems.length > 0) throw new Error(`database user ${user.name}: ${problems.map((p) => `${p.field} ${show(p.value)} ${p.fix}`).join('; ')}`);
      const privileges = user.privileges === undefined || user.privileges.length === 0 ? ['ALL PRIVILEGES'] : user.privileges;
      return [user.name, user.host ?? '%', user.passwordEnv, String(user.maxConnections ?? 0), privileges.join(','), user.databases.join(','),
        ...(user.requireTls === true ? ['SSL'] : [])].join('\t');
    });
  return ['# name\thost\tpassword env\tmax connections\tprivileges\tdatabases', ...lines].join('\n') + '\n';
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
