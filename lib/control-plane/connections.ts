/**
 * What one OpenStack service needs to connect to the HA layer. Secret values never appear: each is an
 * `@@NAME@@` placeholder, listed in `secretReferences` with the Secret key it stands for. `ServiceConfigRenderer`
 * renders it into the service's pods at start; anything else that does must replace placeholders inside URLs
 * percent-encoded, and not accept a '/' in a RabbitMQ password (oslo.messaging cannot pass it to kombu).
 */
export interface ServiceConnection {
  /** The service, e.g. `nova`. */
  readonly service: string;
  /**
   * oslo.db URL per database, through ProxySQL's read-write port (one writer).
   * e.g. `{ nova: 'mysql+pymysql://nova:@@NOVA_DATABASE_PASSWORD@@@proxysql.openstack.svc:3306/nova?charset=utf8' }`
   */
  readonly databaseConnections: Record<string, string>;
  /** The same through ProxySQL's read-only port (oslo.db `slave_connection`). */
  readonly databaseReadOnlyConnections: Record<string, string>;
  /**
   * `[DEFAULT] transport_url` (RPC: every broker, unreplicated), when the service has a messaging user.
   *
   * @default - none
   */
  readonly transportUrl?: string;
  /**
   * `[oslo_messaging_notifications] transport_url` (the replicated notifications vhost).
   *
   * @default - none
   */
  readonly notificationsTransportUrl?: string;
  /** `[cache] memcache_servers` / `[keystone_authtoken] memcached_servers`. */
  readonly memcacheServers: string;
  /** An oslo.config snippet with every section above, placeholders included. */
  readonly osloConfig: string;
  /** Placeholder (without the @@) → `secretName/key` it stands for. */
  readonly secretReferences: Record<string, string>;
}

/** The placeholder name of one of a service's secrets: `NOVA_DATABASE_PASSWORD`. @internal */
export function secretPlaceholderName(service: string, what: string): string {
  return `${service}_${what}`.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** oslo.db URL. The user name is percent-encoded here; the password placeholder is replaced encoded later. @internal */
export function databaseUrl(user: string, passwordPlaceholder: string, host: string, port: number, database: string): string {
  return `mysql+pymysql://${encodeURIComponent(user)}:${passwordPlaceholder}@${host}:${port}/${encodeURIComponent(database)}?charset=utf8`;
}
