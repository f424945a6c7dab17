import { SecretValue } from '../common/secret';

/** The accounts GaleraPetSet manages itself. Every password is a Secret reference. */
export interface GaleraCredentials {
  /**
   * The `root@localhost` password (root also logs in by the unix socket; nothing automated uses the password). Mounted
   * as a file: a changed Secret rotates live, the old password accepted for `passwordRotationGraceMinutes`.
   */
  readonly rootPassword: SecretValue;
  /**
   * The account mariabackup uses for SST (RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, on localhost only).
   * Must be the same on every member, and is not the admin account.
   *
   * @default 'mariabackup'
   */
  readonly sstUser?: string;
  /**
   * The SST account's password, also each member's `wsrep_sst_auth` (what its mariabackup logs in with when it donates)
   * and GaleraBackup's token. Mounted as a file: a changed Secret rotates live, the old password accepted for
   * `passwordRotationGraceMinutes`; each member donates with the new one once its account accepts it (no restart).
   */
  readonly sstPassword: SecretValue;
  /**
   * The account ProxySQL and HAProxy checks use to read wsrep status (no data access).
   *
   * @default 'monitor'
   */
  readonly monitorUser?: string;
  /**
   * The monitor account's password. Mounted as a file (not an env var), like the users' passwords: a changed Secret
   * rotates live, with the grace of `passwordRotationGraceMinutes`, and its clients (ProxySQL's health checks, the
   * mysqld-exporter) move to it once the members accept it. The root and SST passwords rotate the same way.
   */
  readonly monitorPassword: SecretValue;
}

/**
 * A database account for an OpenStack service (or any client). GaleraPetSet creates it and applies changes
 * idempotently once the cluster is Synced; ProxySqlLayer reads the same list, so users are defined once.
 */
export interface DatabaseUser {
  /** The account name, e.g. `nova`. */
  readonly name: string;
  /** Its password. */
  readonly password: SecretValue;
  /** Databases it gets privileges on (each is created if missing); `*` for global privileges. */
  readonly databases: string[];
  /**
   * Privileges on those databases.
   *
   * @default ['ALL PRIVILEGES']
   */
  readonly privileges?: string[];
  /**
   * Maximum simultaneous connections of this account (MAX_USER_CONNECTIONS); 0 is unlimited.
   *
   * @default 0
   */
  readonly maxConnections?: number;
  /**
   * The host part of the account.
   *
   * @default '%'
   */
  readonly host?: string;
  /**
   * The account logs in over TLS only (`REQUIRE SSL`): the members refuse its plaintext logins even without
   * `tls.requireSecureTransport`, and a ProxySqlLayer in front refuses this user's clients without TLS (`use_ssl`)
   * and reaches the members over TLS. Needs `tls` on the GaleraPetSet (and on a ProxySqlLayer in front). Applied to
   * an existing account by the next member start or apply (`ALTER USER ... REQUIRE SSL`, or `REQUIRE NONE` back).
   *
   * @default false
   */
  readonly requireTls?: boolean;
}
