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
  /**
   * The CA bundle path the config names (`[cache] tls_cafile`, `[keystone_authtoken] cafile`, ...), when a component
   * the service reaches has TLS: mount the CA there in the service's pods (e.g. the `ca.crt` key of any component's
   * certificate Secret: one CA signs them all).
   *
   * @default - none: nothing the service reaches has TLS
   */
  readonly caBundlePath?: string;
  /**
   * The client certificate path the config names (`[cache] tls_certfile`, ...), when a daemon the service reaches
   * verifies clients (memcached or RabbitMQ with `verifyClients`).
   *
   * @default - none: no daemon asks the service for a certificate
   */
  readonly clientCertificatePath?: string;
  /**
   * The client certificate's private key path the config names (`[cache] tls_keyfile`, ...), with `clientCertificatePath`.
   *
   * @default - none
   */
  readonly clientKeyPath?: string;
  /** An oslo.config snippet with every section above, placeholders included. */
  readonly osloConfig: string;
  /** Placeholder (without the @@) → `secretName/key` it stands for. */
  readonly secretReferences: Record<string, string>;
}

/** The placeholder name of one of a service's secrets: `NOVA_DATABASE_PASSWORD`. @internal */
export function secretPlaceholderName(service: string, what: string): string {
  return `${service}_${what}`.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/**
 * oslo.db URL. The user name is percent-encoded here; the password placeholder is replaced encoded later. With
 * `caFile` (ProxySQL has TLS), `ssl_ca`: SQLAlchemy's MySQL dialects pass it to PyMySQL as `ssl={'ca': ...}`, and
 * PyMySQL then requires TLS, verifies the certificate against that CA and checks the host name. The path is a plain
 * absolute path (checked by the caller), which needs no escaping in a query string. @internal
 */
export function databaseUrl(user: string, passwordPlaceholder: string, host: string, port: number, database: string, caFile?: string): string {
  const tls = caFile === undefined ? '' : `&ssl_ca=${caFile}`;
  return `mysql+pymysql://${encodeURIComponent(user)}:${passwordPlaceholder}@${host}:${port}/${encodeURIComponent(database)}?charset=utf8${tls}`;
}

/** Where an OpenStack service's pods have the TLS files the connection outputs name. */
export interface ServiceConnectionOptions {
  /**
   * The CA bundle (PEM) in the service's pods: `[cache] tls_cafile`, `[keystone_authtoken] memcache_tls_cafile` and
   * `cafile` (the https keystone URL with `apiTls`), `[oslo_messaging_rabbit] ssl_ca_file` (with `rabbitmqTls`),
   * `ssl_ca` in the oslo.db URLs (with `proxySqlTls`). Only rendered when a component has TLS.
   *
   * @default "/etc/openstack-ha-tls/ca.crt"
   */
  readonly caBundlePath?: string;
  /**
   * The service's client certificate (PEM) in its pods, presented to memcached or RabbitMQ when it verifies clients
   * (`memcachedTls.verifyClients`): `[cache] tls_certfile`, `[keystone_authtoken] memcache_tls_certfile`; and to the
   * RabbitMQ brokers when they do (`rabbitmqTls.verifyClients`): `[oslo_messaging_rabbit] ssl_cert_file`.
   *
   * @default "/etc/openstack-ha-tls/tls.crt"
   */
  readonly clientCertificatePath?: string;
  /**
   * The client certificate's private key in the service's pods (`tls_keyfile`, `memcache_tls_keyfile`).
   *
   * @default "/etc/openstack-ha-tls/tls.key"
   */
  readonly clientKeyPath?: string;
}

/** The defaults of ServiceConnectionOptions: a Secret mounted at one directory, the usual three keys. @internal */
export const SERVICE_TLS_DEFAULTS = {
  caBundlePath: '/etc/openstack-ha-tls/ca.crt',
  clientCertificatePath: '/etc/openstack-ha-tls/tls.crt',
  clientKeyPath: '/etc/openstack-ha-tls/tls.key',
} as const;
