/**
 * The props of `OpenStackControlPlane`: the inventory, the OpenStack services that use the HA layer (their accounts
 * and APIs), the VIP, the Secrets of the layer's own accounts, and each part's options. Checked by validation.ts.
 */
import { OpenStackRelease } from '../common/openstack-release';
import { InventoryNode, NodeLabel } from '../common/placement';
import { SecretValue } from '../common/secret';
import { GaleraTlsOptions } from '../galera/props';
import { GaleraBackupOptions } from '../galera-backup/props';
import { GaleraStorage } from '../galera/storage';
import { HaproxyTlsOptions } from '../haproxy/props';
import { MemcachedTlsOptions } from '../memcached/props';
import type { MonitoringOptions } from '../monitoring/props';
import { ProxySqlTlsOptions } from '../proxysql/proxysql-layer';
import { RabbitTlsOptions } from '../rabbitmq/tls';
import { RabbitVersion } from '../rabbitmq/version';
import { ControlPlaneTlsOptions } from './tls';

/** Which of a service's two RabbitMQ accounts its connection uses (README, "Day 2: rotating a RabbitMQ password"). */
export enum MessagingAccount {
  /** The account named after the service, with `messagingPassword`. */
  PRIMARY = 'primary',
  /** The account `<service>-b`, with `messagingAlternatePassword`. */
  ALTERNATE = 'alternate',
}

/**
 * Which of a service's two database accounts its connection uses (README, "Day 2: rotating a database password"):
 * ProxySQL has one password per user, so a rotation without a failed login changes an account no client uses.
 */
export enum DatabaseAccount {
  /** The account named after the service, with `databasePassword`. */
  PRIMARY = 'primary',
  /** The account `<service>-b`, with `databaseAlternatePassword`. */
  ALTERNATE = 'alternate',
}

/** An OpenStack service that uses the HA layer. */
export interface OpenStackService {
  /** The service's name, e.g. `nova`; also its database and messaging user name. */
  readonly name: string;
  /**
   * Its databases.
   *
   * @default - one database named after the service
   */
  readonly databases?: string[];
  /** Its database user's password (required when it has databases). @default - none: the service has no database */
  readonly databasePassword?: SecretValue;
  /**
   * The password of a second database account for the service, `<name>-b`, with the same databases, privileges and
   * connection limit. ProxySQL keeps one password per user (MariaDB keeps two for a while, ProxySQL cannot): a
   * password changes without a failed login only on an account no client uses, so rotation alternates between two
   * accounts (change the unused one's Secret, move the service to it with `databaseAccount`, then change the
   * other's; README, "Day 2: rotating a database password"). Both accounts exist in Galera and ProxySQL.
   *
   * @default - one account, named after the service
   */
  readonly databaseAlternatePassword?: SecretValue;
  /**
   * The database account the service's connection uses (connection URLs, oslo config, secret references).
   *
   * @default DatabaseAccount.PRIMARY
   */
  readonly databaseAccount?: DatabaseAccount;
  /**
   * Its database user's connection limit (0: unlimited).
   *
   * @default 0
   */
  readonly maxDatabaseConnections?: number;
  /**
   * Its RabbitMQ user's password.
   *
   * @default - the service does not use messaging
   */
  readonly messagingPassword?: SecretValue;
  /**
   * The password of a second RabbitMQ account for the service, `<name>-b`. RabbitMQ has no dual passwords: a password
   * changes without a failed login only on an account no client uses, so rotation alternates between two accounts
   * (change the unused one's Secret, move the service to it with `messagingAccount`, then change the other's; README,
   * "Day 2: rotating a RabbitMQ password"). Both accounts exist on the brokers.
   *
   * @default - one account, named after the service
   */
  readonly messagingAlternatePassword?: SecretValue;
  /**
   * The account the service's connection uses (transport URLs, oslo config, secret references).
   *
   * @default MessagingAccount.PRIMARY
   */
  readonly messagingAccount?: MessagingAccount;
  /**
   * The service's API, load-balanced by HAProxy on the VIP.
   *
   * @default - no API endpoint on the VIP
   */
  readonly api?: OpenStackServiceApi;
  /**
   * Labels of the service's pods: they are admitted to ProxySQL by NetworkPolicy.
   *
   * @default - { application: <name> } (openstack-helm's label)
   */
  readonly podLabels?: Record<string, string>;
}

/** Where a service's API pods are: HAProxy balances over the Kubernetes Service in front of them. */
export interface OpenStackServiceApi {
  /** The Kubernetes Service of the API pods in the control plane's namespace, e.g. `nova-api`. */
  readonly serviceName: string;
  /**
   * Its port, which is also the port on the VIP (given or not, except horizon's default with `apiTls`: HTTPS on
   * 443 of the VIP, to its pods' 80).
   *
   * @default - the API's registered port (keystone 5000, nova 8774, horizon 80, ...)
   */
  readonly port?: number;
}

/** The Secrets the HA layer's own accounts use. */
export interface ControlPlaneSecrets {
  readonly galeraRootPassword: SecretValue;
  readonly galeraSstPassword: SecretValue;
  readonly galeraMonitorPassword: SecretValue;
  readonly proxySqlAdminPassword: SecretValue;
  /** The Erlang cookie the RabbitMQ brokers share (a Secret key of at least 20 characters). */
  readonly rabbitErlangCookie: SecretValue;
  /** The password of RabbitMQ's `admin` account (management and operations). */
  readonly rabbitAdminPassword: SecretValue;
  /** The key that encrypts and authenticates tokens cached in memcached (`memcache_secret_key`). */
  readonly memcacheSecretKey: SecretValue;
}

/** The virtual IP in front of the API endpoints (and of ProxySQL, for clients outside the cluster). */
export interface ControlPlaneVip {
  /** The address. */
  readonly address: string;
  /**
   * Prefix length of the nodes' subnet, to check the VIP is on it.
   *
   * @default 24
   */
  readonly prefixLength?: number;
  /** The interface it goes on, on every VIP node. */
  readonly interface: string;
  /**
   * VRRP virtual router id, unique among the VRRP routers of the network segment.
   *
   * @default 51
   */
  readonly virtualRouterId?: number;
  /**
   * Place the VIP's keepalived and HAProxy on the edge nodes that carry this label (they are still listed, by
   * `edgeNodes` or the first controllers, for the peer lists and the certificate) instead of by node name. Their pod
   * templates then name no node, so replacing or adding an edge node rolls no pod on the others: their keepalived
   * reloads its peer list live and keeps the VIP, HAProxy is not touched. Label every edge node before the apply that
   * sets this (a node without the label runs neither: the DaemonSets would delete their pods there), and a new node
   * when it should join (`kubectl label node <node> key=value`).
   *
   * @default - placed by node name: an edge inventory change rolls both DaemonSets on every edge node, which moves the
   * VIP (README, "Day 2", replacing a controller)
   */
  readonly nodeLabel?: NodeLabel;
}

export interface OpenStackControlPlaneProps {
  /** The controller nodes; everything runs on them unless placed elsewhere. At least 3. */
  readonly controllers: InventoryNode[];
  /** The virtual IP. */
  readonly vip: ControlPlaneVip;
  /** Where Galera keeps its data. */
  readonly galeraStorage: GaleraStorage;
  /** The HA layer's own secrets. */
  readonly secrets: ControlPlaneSecrets;
  /** The OpenStack services that connect to it. */
  readonly services: OpenStackService[];
  /**
   * Galera members (odd, at least 3), on the first controllers.
   *
   * @default 3
   */
  readonly galeraReplicas?: number;
  /**
   * The nodes of the RabbitMQ brokers (an odd number, at least 3, for pause_minority).
   *
   * @default - the first 3 controllers
   */
  readonly rabbitNodes?: InventoryNode[];
  /**
   * The RabbitMQ release line: decides how notification queues are replicated (3.x: mirroring policy; 4.x:
   * quorum queues).
   *
   * @default RabbitVersion.V4_1
   */
  readonly rabbitVersion?: RabbitVersion;
  /**
   * The OpenStack release line of the services: the connection outputs carry only the oslo options its
   * libraries have (see `OpenStackRelease`), and a line that cannot work with `rabbitVersion` is refused.
   *
   * @default OpenStackRelease.V2026_1
   */
  readonly openStackRelease?: OpenStackRelease;
  /**
   * The nodes that hold the VIP and run HAProxy.
   *
   * @default - the first 3 controllers
   */
  readonly edgeNodes?: InventoryNode[];
  /**
   * Tolerate the Kubernetes control-plane taint on the controllers.
   *
   * @default false
   */
  readonly tolerateControlPlane?: boolean;
  /**
   * Scheduled physical backups of Galera (GaleraBackup), never taken from ProxySQL's writer.
   *
   * @default - no backups
   */
  readonly backup?: GaleraBackupOptions;
  /**
   * Monitoring (opt-in): exporter sidecars for Galera, memcached and keepalived's VRRP state, PodMonitors and alert
   * rules for prometheus-operator, NetworkPolicies admitting the scraper on the metrics ports, Grafana dashboards.
   *
   * @default - not monitored: no exporters, no monitoring objects
   */
  readonly monitoring?: MonitoringOptions;
  /**
   * TLS on every connection, from one prop: Galera (SQL clients with `require_secure_transport`, replication, IST and
   * SST), ProxySQL (clients, the VIP in its certificate, and to the members), memcached (with client certificates),
   * RabbitMQ (AMQPS only, HTTPS management, Erlang distribution) and HTTPS on the API VIP (HSTS, horizon's 80
   * redirected to 443); `connection()` and `apiEndpoints` then carry TLS everywhere. A per-component prop
   * (`galeraTls`, `proxySqlTls`, `memcachedTls`, `rabbitmqTls`, `apiTls`) replaces what `tls` gives that component,
   * whole. A new deployment: `tls` alone. A running one: see the README, "TLS" (Galera's replication TLS cannot be
   * switched by one roll; the preflight plan refuses it).
   *
   * @default - no TLS but what the per-component props turn on
   */
  readonly tls?: ControlPlaneTlsOptions;
  /**
   * TLS on the control plane's Galera members (certificate `galera-tls`: every member's DNS name and the `galera`
   * Service's names): SQL clients, replication and IST, SST. ProxySQL then encrypts its connections to the members
   * too (with `proxySqlTls` or `tls`: backend TLS is on by default in front of a Galera with TLS). Replication TLS and
   * encrypted SST are settings every member must share: on a running cluster they change in the steps of the
   * README, "TLS" (`replicationTransition` first; the preflight plan refuses a replication-TLS roll that would split
   * the cluster). Overrides what `tls` gives Galera.
   *
   * @default - with `tls`, client TLS with `require_secure_transport`, replication and SST TLS; otherwise no TLS
   */
  readonly galeraTls?: GaleraTlsOptions;
  /**
   * TLS on the API VIP: HAProxy terminates HTTPS for every API (`apiEndpoints` and keystone's URLs in the service
   * configs become `https://`), certificate `api-lb-tls` covering the VIP and the edge nodes' addresses. Overrides
   * what `tls` gives the VIP.
   *
   * @default - with `tls`, HTTPS with HSTS and horizon's 80 redirected; otherwise plain HTTP on the VIP
   */
  readonly apiTls?: HaproxyTlsOptions;
  /**
   * TLS on every memcached instance (certificate `memcached-tls` covering the controllers' addresses), renewed in place;
   * `connection()` then gives oslo.cache and keystonemiddleware the TLS options (the CA path, and the client
   * certificate with `verifyClients`). Needs `openStackRelease` 2025.2 or later: keystonemiddleware's token cache has
   * TLS from 10.10 on. Overrides what `tls` gives memcached.
   *
   * @default - with `tls`, TLS with `verifyClients`; otherwise plaintext memcached (on the controllers' addresses;
   * restrict port 11211 on their firewall)
   */
  readonly memcachedTls?: MemcachedTlsOptions;
  /**
   * memcached keeps each node's cache across its pod's replacement (`MemcachedPool`'s `warmRestart`: a file on the
   * node's /dev/shm, handed to memcached by an init container with CHOWN): a controller replaced or added, a TLS or
   * image change, a drain no longer empty the survivors' caches. `false` restarts them empty, as before.
   *
   * @default true
   */
  readonly memcachedWarmRestart?: boolean;
  /**
   * TLS on the RabbitMQ brokers (certificate `rabbitmq-tls` covering the brokers' node names and IPs), renewed in
   * place: AMQPS only, HTTPS management, the Erlang distribution over TLS. `connection()` then gives AMQPS transport
   * URLs and `[oslo_messaging_rabbit] ssl`, `ssl_ca_file` (and the client certificate with `verifyClients`).
   * Overrides what `tls` gives RabbitMQ.
   *
   * @default - with `tls`, the RabbitTlsOptions defaults (no client certificates); otherwise plaintext AMQP on the
   * brokers' node IPs (restrict the ports on their firewall)
   */
  readonly rabbitmqTls?: RabbitTlsOptions;
  /**
   * TLS on ProxySQL's client ports (certificate `proxysql-tls` covering the Service's names and the VIP, which
   * exposes ProxySQL too), renewed in place; `connection()` then adds `ssl_ca=<caBundlePath>` to every oslo.db URL
   * (PyMySQL verifies the certificate and the host name). TLS to the Galera members (`backend`) is on by default
   * when they have TLS (`galeraTls` or `tls`). Overrides what `tls` gives ProxySQL.
   *
   * @default - with `tls`, clients and members over TLS, `requireSecureTransport` as `tls` says; otherwise no TLS
   * to ProxySQL
   */
  readonly proxySqlTls?: ProxySqlTlsOptions;
}
