/**
 * The database users file that `assets/galera/apply-users.sh` applies (GALERA_USERS_FILE, a ConfigMap key).
 * It names each user's password *environment variable*; the value comes from a Secret ref on the container,
 * never from this file.
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s.
 */

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

/** Every problem with one user, as `prop: problem` lines for the construct's Validator. */
export function databaseUserProblems(user: DatabaseUserModel): string[] {
  const problems: string[] = [];
  const check = (bad: boolean, what: string) => bad && problems.push(what);
  check(!USER_NAME.test(user.name), `name ${JSON.stringify(user.name)} must match ${USER_NAME.source}`);
  check(user.name === 'root', 'name "root" is managed by the entrypoint (MARIADB_ROOT_PASSWORD)');
  const host = user.host ?? '%';
  check(!HOST.test(host), `host ${JSON.stringify(host)} must match ${HOST.source}`);
  check(!ENV_NAME.test(user.passwordEnv), `passwordEnv ${JSON.stringify(user.passwordEnv)} is not an environment variable name`);
  check(BUILT_IN_PASSWORD_ENVS.includes(user.passwordEnv), `passwordEnv ${user.passwordEnv} belongs to a built-in user`);
  check(user.databases.length === 0, 'databases is empty; name at least one, or "*" for global privileges');
  for (const db of user.databases) {
    check(db !== '*' && !DATABASE.test(db), `database ${JSON.stringify(db)} must match ${DATABASE.source} or be "*"`);
  }
  check(user.databases.includes('*') && user.databases.length > 1, 'databases: "*" already covers every database');
  for (const privilege of user.privileges ?? []) {
    check(!PRIVILEGE.test(privilege), `privilege ${JSON.stringify(privilege)} must be upper-case words, e.g. "LOCK TABLES"`);
  }
  const max = user.maxConnections ?? 0;
  check(!Number.isInteger(max) || max < 0, `maxConnections ${max} must be a whole number >= 0`);
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
      if (problems.length > 0) throw new Error(`database user ${user.name}: ${problems.join('; ')}`);
      const privileges = user.privileges === undefined || user.privileges.length === 0 ? ['ALL PRIVILEGES'] : user.privileges;
      return [user.name, user.host ?? '%', user.passwordEnv, String(user.maxConnections ?? 0), privileges.join(','), user.databases.join(',')].join('\t');
    });
  return ['# name\thost\tpassword env\tmax connections\tprivileges\tdatabases', ...lines].join('\n') + '\n';
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
