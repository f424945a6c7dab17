import { mkdirSync, writeFileSync } from 'fs';
import { join } from 'path';
import { ApiObject, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { standardLabels } from '../common/labels';
import { DEFAULT_OPENSTACK_RELEASE, OpenStackRelease, validateOpenStackRelease } from '../common/openstack-release';
import { InventoryNode, NodeLabel, Placement } from '../common/placement';
import { clusterScoped } from '../common/scope';
import { registerAppChecks } from '../common/app-checks';
import { isDns1035Label, isLabelValue, isQualifiedName, validateLabels } from '../common/k8s-rules';
import { SecretValue, envPlaceholder, validateSecretValue } from '../common/secret';
import { Validator, duplicates, isIpAddress } from '../common/validation';
import { DatabaseUser } from '../galera/credentials';
import { GaleraPetSet } from '../galera/galera-petset';
import { GaleraTlsOptions } from '../galera/props';
import { GaleraBackup } from '../galera-backup/galera-backup';
import { GaleraBackupOptions } from '../galera-backup/props';
import { GaleraStorage } from '../galera/storage';
import { HaproxyLoadBalancer, LoadBalancedService } from '../haproxy/haproxy-load-balancer';
import { HaproxyTlsOptions } from '../haproxy/props';
import { KeepalivedVip } from '../keepalived/keepalived-vip';
import { k8s } from '../k8s';
import { MemcachedPool } from '../memcached/memcached-pool';
import { clientTlsProblems } from '../memcached/clients';
import { MemcachedClientTls, MemcachedTlsOptions } from '../memcached/props';
import { ControlPlaneMonitoring } from '../monitoring/control-plane-monitoring';
import type { MonitoringOptions } from '../monitoring/props';
import { ProxySqlLayer, ProxySqlTlsOptions } from '../proxysql/proxysql-layer';
import { OsloMessaging } from '../rabbitmq/oslo';
import { passwordEnvName } from '../rabbitmq/model';
import { RabbitDaemonSet } from '../rabbitmq/rabbit-daemonset';
import { RabbitClientTls, RabbitTlsOptions } from '../rabbitmq/tls';
import { RabbitVersion } from '../rabbitmq/version';
import { SERVICE_TLS_DEFAULTS, ServiceConnection, ServiceConnectionOptions, databaseUrl, secretPlaceholderName } from './connections';
import { reservedVipAddress } from '../keepalived/validation';
import { ControlPlaneTlsOptions, ResolvedControlPlaneTls, controlPlaneTlsProblems, resolveControlPlaneTls } from './tls';
import { renderTopologyMarkdown } from './topology';

/** Every secret of `ControlPlaneSecrets`, each required. */
const SECRET_KEYS: ReadonlyArray<keyof ControlPlaneSecrets> = ['galeraRootPassword', 'galeraSstPassword', 'galeraMonitorPassword',
  'proxySqlAdminPassword', 'rabbitErlangCookie', 'rabbitAdminPassword', 'memcacheSecretKey'];

/** Account names the HA layer uses itself: a service of that name would share (or be refused) its account. */
const RESERVED_SERVICE_NAMES: Record<string, string> = {
  admin: 'RabbitMQ administrator account of the control plane',
  guest: 'built-in RabbitMQ account, usable from localhost only',
  root: 'MariaDB superuser',
  monitor: 'Galera monitor account (ProxySQL\'s health checks)',
  mariabackup: 'Galera state-transfer (SST) account',
};

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

/** The name of a service's alternate RabbitMQ or database account. */
function alternateAccountName(service: string): string {
  return `${service}-b`;
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

/** The first release line whose keystonemiddleware (10.10) can reach a TLS memcached for its token cache. */
const FIRST_MEMCACHE_TLS_RELEASE = OpenStackRelease.V2025_2;

/**
 * The whole HA layer under an OpenStack control plane, wired from one inventory of controllers, with typed
 * connection outputs for the OpenStack services. Every part is a public property to tune further.
 */
export class OpenStackControlPlane extends Construct {
  public readonly namespace: string;
  public readonly galera: GaleraPetSet;
  public readonly proxySql: ProxySqlLayer;
  public readonly memcached: MemcachedPool;
  public readonly rabbitmq: RabbitDaemonSet;
  public readonly vip: KeepalivedVip;
  public readonly apiLoadBalancer: HaproxyLoadBalancer;
  /** The monitoring objects, when the `monitoring` prop is set. */
  public readonly monitoring?: ControlPlaneMonitoring;
  /** The OpenStack release line the connection outputs target. */
  public readonly openStackRelease: OpenStackRelease;
  /**
   * Galera's backups, when the `backup` prop is given.
   *
   * @default - none
   */
  public readonly backup?: GaleraBackup;

  private readonly props: OpenStackControlPlaneProps;
  /** Each part's TLS options, from `tls` and the per-component props. */
  private readonly tls: ResolvedControlPlaneTls;

  public constructor(scope: Construct, id: string, props: OpenStackControlPlaneProps) {
    super(scope, id);
    const namespace = Chart.of(this).namespace;
    const controllers = props.controllers;
    const galeraReplicas = props.galeraReplicas ?? 3;

    const v = new Validator(`OpenStackControlPlane '${id}'`);
    v.check(namespace === undefined, 'namespace', undefined, 'is not set; give the chart a namespace (the control plane creates it)');
    Placement.onNodes(controllers)._validate(v, 'controllers');
    v.check(controllers.length < 3, 'controllers', controllers.map((n) => n.name),
      `are ${controllers.length}; an HA control plane needs at least 3 controllers`);
    v.check(!isIpAddress(props.vip.address), 'vip.address', props.vip.address, 'is not an IP address');
    v.check(props.memcachedWarmRestart !== undefined && typeof props.memcachedWarmRestart !== 'boolean', 'memcachedWarmRestart', props.memcachedWarmRestart,
      'must be true or false');
    v.check(controllers.some((n) => n.ip === props.vip.address), 'vip.address', props.vip.address,
      'is a controller\'s own address; the VIP must be a free address on the controllers\' network');
    if (props.vip.nodeLabel !== undefined) {
      const { key, value } = props.vip.nodeLabel;
      v.check(!isQualifiedName(key ?? ''), 'vip.nodeLabel.key', key,
        'is not a valid label key; use an optional DNS prefix and a name, e.g. "openstack-ha.cdk8s.io/edge"');
      v.check(!isLabelValue(value ?? ''), 'vip.nodeLabel.value', value, 'is not a valid label value; use at most 63 letters, digits, "-", "_" or ".", e.g. "true"');
    }
    const reserved = reservedVipAddress(props.vip.address, props.vip.prefixLength ?? 24);
    if (reserved) v.add('vip.address', props.vip.address, reserved);
    // Every secret now, so that a missing one is named here rather than surfacing as a TypeError in connection().
    for (const key of SECRET_KEYS) validateSecretValue(v, `secrets.${key}`, (props.secrets ?? {})[key]);
    for (const dup of duplicates(props.services.map((s) => s.name))) {
      v.add('services', dup, 'is listed more than once; list each service once');
    }
    props.services.forEach((s, i) => {
      const databases = s.databases ?? [s.name];
      v.check(databases.length > 0 && s.databasePassword === undefined, `services[${i}].databasePassword`, undefined,
        `is missing for ${s.name}, which has databases ${JSON.stringify(databases)}; reference its database user's Secret`);
      if (s.databasePassword !== undefined) validateSecretValue(v, `services[${i}].databasePassword`, s.databasePassword);
      if (s.messagingPassword !== undefined) validateSecretValue(v, `services[${i}].messagingPassword`, s.messagingPassword);
      validateAlternateAccount(v, props.services, i);
      const reservedName = RESERVED_SERVICE_NAMES[s.name];
      if (reservedName) v.add(`services[${i}].name`, s.name, `is the ${reservedName}; a service's database and messaging users take its name, so use another`);
      // They select the service's pods in ProxySQL's NetworkPolicy: Kubernetes must accept them.
      validateLabels(v, s.podLabels ? `services[${i}].podLabels` : `services[${i}].name (the default podLabels {"application": name})`,
        s.podLabels ?? { application: s.name });
      if (s.api) {
        // Qualified as <serviceName>.<namespace>.svc: a dotted name would point into another namespace or domain.
        v.check(!isDns1035Label(s.api.serviceName), `services[${i}].api.serviceName`, s.api.serviceName,
          `must be the name of a Service in the control plane's namespace ${JSON.stringify(namespace ?? '')}: a DNS-1035 label ` +
          '(lower-case letters, digits and "-", starting with a letter, at most 63), without a namespace or domain, e.g. "nova-api"');
      }
    });
    const tlsInput = {
      tls: props.tls, apiTls: props.apiTls, memcachedTls: props.memcachedTls, rabbitmqTls: props.rabbitmqTls, proxySqlTls: props.proxySqlTls,
      galeraTls: props.galeraTls, apis: props.services.filter((s) => s.api !== undefined).map((s) => ({ name: s.name, port: s.api!.port })),
    };
    const tls = resolveControlPlaneTls(tlsInput);
    for (const p of controlPlaneTlsProblems(tlsInput, tls)) v.add(p.field, p.value, p.fix);
    const release = props.openStackRelease ?? DEFAULT_OPENSTACK_RELEASE;
    if (validateOpenStackRelease(v, 'openStackRelease', release)) {
      OsloMessaging._validateRelease(v, 'openStackRelease', props.rabbitVersion ?? RabbitVersion.V4_1, release);
      const lines = OpenStackRelease.all();
      v.check(tls.memcached !== undefined && lines.indexOf(release) < lines.indexOf(FIRST_MEMCACHE_TLS_RELEASE), tls.from.memcached, release.line,
        `needs openStackRelease ${FIRST_MEMCACHE_TLS_RELEASE.line} or later: keystonemiddleware before 10.10 has no TLS for its token cache ` +
        'and would talk plaintext to a TLS-only memcached (every token validation a cache miss); upgrade the services, or ' +
        (tls.from.memcached === 'tls' ? 'give the other components their per-component TLS props instead of tls' : 'remove memcachedTls'));
    }
    v.throwIfInvalid();

    this.props = props;
    this.tls = tls;
    this.openStackRelease = release;
    this.namespace = namespace ?? '';
    const ns = new k8s.KubeNamespace(this, 'Namespace', {
      metadata: {
        name: this.namespace,
        labels: {
          ...standardLabels(id, 'control-plane'),
          // keepalived (NET_ADMIN), host-network RabbitMQ and memcached, and hostPath data cannot run under
          // `baseline`; every pod-network part still meets `restricted`, and `warn` shows it on apply.
          'pod-security.kubernetes.io/enforce': 'privileged',
          'pod-security.kubernetes.io/enforce-version': 'v1.33',
          'pod-security.kubernetes.io/warn': 'baseline',
          'pod-security.kubernetes.io/warn-version': 'v1.33',
        },
      },
    });
    clusterScoped(ns);

    const on = (nodes: InventoryNode[]) => Placement.onNodes(nodes, { tolerateControlPlane: props.tolerateControlPlane });
    const everywhere = on(controllers);
    const firstControllers = (count: number) => on(controllers.slice(0, count));
    const edgeNodes = props.edgeNodes ?? controllers.slice(0, 3);
    const label = props.vip.nodeLabel;
    const edge = label === undefined ? on(edgeNodes)
      : Placement.onLabelledNodes(label.key, label.value, { nodes: edgeNodes, tolerateControlPlane: props.tolerateControlPlane });

    this.galera = new GaleraPetSet(this, 'galera', {
      placement: firstControllers(galeraReplicas),
      replicas: galeraReplicas,
      storage: props.galeraStorage,
      ...(tls.galera ? { tls: tls.galera } : {}),
      credentials: {
        rootPassword: props.secrets.galeraRootPassword,
        sstPassword: props.secrets.galeraSstPassword,
        monitorPassword: props.secrets.galeraMonitorPassword,
      },
      metricsExporter: props.monitoring !== undefined,
      users: props.services.filter((s) => (s.databases ?? [s.name]).length > 0).flatMap((s): DatabaseUser[] => {
        const user = { name: s.name, password: s.databasePassword!, databases: s.databases ?? [s.name], maxConnections: s.maxDatabaseConnections };
        // The alternate account, for rotation without a failed login (ProxySQL has one password per user).
        return s.databaseAlternatePassword ? [user, { ...user, name: alternateAccountName(s.name), password: s.databaseAlternatePassword }] : [user];
      }),
    });
    this.proxySql = new ProxySqlLayer(this, 'proxysql', {
      galera: this.galera,
      placement: everywhere,
      adminPassword: props.secrets.proxySqlAdminPassword,
      allowedClients: props.services.map((s) => ({ podLabels: s.podLabels ?? { application: s.name } })),
      metricsExporter: props.monitoring !== undefined,
      // Clients outside the cluster reach ProxySQL on the VIP (proxysql-vip below): the certificate covers it too.
      ...(tls.proxySql ? { tls: { ...tls.proxySql, additionalNames: [...(tls.proxySql.additionalNames ?? []), props.vip.address] } } : {}),
    });
    if (props.backup) this.backup = new GaleraBackup(this, 'backup', { ...props.backup, galera: this.galera });
    this.memcached = new MemcachedPool(this, 'memcached', {
      placement: everywhere, metricsExporter: props.monitoring !== undefined, ...(tls.memcached ? { tls: tls.memcached } : {}),
      ...(props.memcachedWarmRestart !== undefined ? { warmRestart: props.memcachedWarmRestart } : {}),
    });
    // RPC in "/" unreplicated and transient; notifications replicated in their own vhost.
    this.rabbitmq = new RabbitDaemonSet(this, 'rabbitmq', {
      placement: on(props.rabbitNodes ?? controllers.slice(0, 3)),
      version: props.rabbitVersion ?? RabbitVersion.V4_1,
      openStackRelease: release,
      erlangCookie: props.secrets.rabbitErlangCookie,
      users: [
        { name: 'admin', administrator: true, password: props.secrets.rabbitAdminPassword },
        ...props.services.filter((s) => s.messagingPassword !== undefined).flatMap((s) => [
          { name: s.name, password: s.messagingPassword! },
          // The alternate account, for rotation without a failed login (RabbitMQ has no dual passwords).
          ...(s.messagingAlternatePassword ? [{ name: alternateAccountName(s.name), password: s.messagingAlternatePassword }] : []),
        ]),
      ],
      ...(tls.rabbitmq ? { tls: tls.rabbitmq } : {}),
    });

    // The public face: one address that follows a healthy HAProxy, in front of every API.
    this.vip = new KeepalivedVip(this, 'vip', {
      name: 'api-vip',
      address: props.vip.address,
      prefixLength: props.vip.prefixLength ?? 24,
      interface: props.vip.interface,
      virtualRouterId: props.vip.virtualRouterId ?? 51,
      placement: edge,
      metricsExporter: props.monitoring !== undefined,
    });
    this.apiLoadBalancer = new HaproxyLoadBalancer(this, 'api-lb', {
      name: 'api-lb',
      placement: edge,
      vip: this.vip,
      tls: tls.api,
      services: props.services.filter((s) => s.api !== undefined).map((s) => LoadBalancedService.openStackApi(s.name, {
        port: s.api!.port,
        servers: [{ address: `${s.api!.serviceName}.${this.namespace}.svc`, port: s.api!.port }],
      })),
    });
    // Database clients outside the cluster reach ProxySQL on the VIP too (kube-proxy forwards VIP:3306/3307).
    this.vip.exposeService({
      name: 'proxysql-vip',
      podSelector: this.proxySql.podSelector,
      ports: [{ name: 'rw', port: this.proxySql.readWritePort }, { name: 'ro', port: this.proxySql.readOnlyPort }],
    });

    if (props.monitoring) {
      this.monitoring = new ControlPlaneMonitoring(this, 'monitoring', {
        ...props.monitoring, galera: this.galera, rabbitmq: this.rabbitmq, haproxy: this.apiLoadBalancer, memcached: this.memcached, vip: this.vip, proxySql: this.proxySql,
        // The backup and drill alerts exist only with backups.
        ...(this.backup ? { backup: this.backup } : {}),
      });
    }

    // Two host-network daemons on one port of one node, duplicate objects, shared host directories: checked
    // across every chart of the app at synth (the parts above register it too; once per app).
    registerAppChecks(this);
  }

  /** The public endpoint of each service with an API: `http://<vip>:<port>`, `https://` with TLS on the VIP (`tls` or `apiTls`). */
  public get apiEndpoints(): Record<string, string> {
    return Object.fromEntries(this.props.services.filter((s) => s.api !== undefined)
      .map((s) => [s.name, this.apiLoadBalancer.endpointUrl(s.name)]));
  }

  /** The Kubernetes objects of the control plane (those `filter` keeps), as JSON. */
  private objects(filter: (o: ApiObject) => boolean = () => true): any[] {
    return this.node.findAll().filter((c): c is ApiObject => c instanceof ApiObject && filter(c)).map((o) => o.toJson());
  }

  /**
   * What `service` needs to connect, with secrets as placeholders; with TLS on a component, the TLS options that
   * name the files of `options` (mount them in the service's pods: `caBundlePath` in the result says where).
   */
  public connection(service: string, options?: ServiceConnectionOptions): ServiceConnection {
    const s = this.props.services.find((x) => x.name === service);
    if (!s) throw new Error(`OpenStackControlPlane: no service ${JSON.stringify(service)}; known: ${this.props.services.map((x) => x.name).join(', ')}`);
    const caBundlePath = options?.caBundlePath ?? SERVICE_TLS_DEFAULTS.caBundlePath;
    const apiTls = this.tls.api !== undefined;
    const proxySqlCa = this.proxySql.tlsSecretName !== undefined ? caBundlePath : undefined;
    // Checked whenever the config names a file (the paths go into the INI verbatim).
    const rabbitTls = this.rabbitmq.tlsSecretName !== undefined;
    const files = apiTls || rabbitTls || proxySqlCa !== undefined || this.memcached.tlsSecretName !== undefined ? this.clientTlsFiles(options, caBundlePath) : undefined;
    const memcachedTls = this.memcached.tlsSecretName === undefined ? undefined : files;
    const secretReferences: Record<string, string> = {};
    const reference = (what: string, secret: SecretValue) => {
      const name = secretPlaceholderName(s.name, what);
      secretReferences[name] = secret.toString();
      return envPlaceholder(name);
    };
    const databaseConnections: Record<string, string> = {};
    const databaseReadOnlyConnections: Record<string, string> = {};
    if (s.databasePassword) {
      const db = activeAccount(s, DATABASE_ACCOUNTS);
      // One placeholder name whichever account: moving the service re-points its Secret reference (its pods roll).
      const password = reference('database_password', db.password);
      for (const name of s.databases ?? [s.name]) {
        databaseConnections[name] = databaseUrl(db.user, password, this.proxySql.host, this.proxySql.readWritePort, name, proxySqlCa);
        databaseReadOnlyConnections[name] = databaseUrl(db.user, password, this.proxySql.host, this.proxySql.readOnlyPort, name, proxySqlCa);
      }
    }
    let messaging: Record<string, Record<string, string>> = {};
    const account = s.messagingPassword ? activeAccount(s, MESSAGING_ACCOUNTS) : undefined;
    const rabbitClient = account && rabbitTls ? this.rabbitClientTls(files!, options) : undefined;
    if (account) {
      secretReferences[passwordEnvName(account.user)] = account.password.toString();
      messaging = this.rabbitmq.osloConfig(account.user, rabbitClient);
    }
    // The service's own certificate, when memcached or RabbitMQ verifies clients (both name the same files).
    const clientCertificate = [memcachedTls, rabbitClient].find((t) => t?.certificateFile !== undefined);
    const memcacheKey = envPlaceholder('MEMCACHE_SECRET_KEY');
    secretReferences.MEMCACHE_SECRET_KEY = this.props.secrets.memcacheSecretKey.toString();
    const firstDb = Object.keys(databaseConnections)[0];
    const sections: Record<string, Record<string, string>> = { ...messaging };
    if (firstDb !== undefined) {
      sections.database = { connection: databaseConnections[firstDb], slave_connection: databaseReadOnlyConnections[firstDb] };
    }
    sections.cache = this.memcached.osloCacheOptions(memcachedTls);
    const keystone = this.apiEndpoints.keystone;
    sections.keystone_authtoken = {
      ...(keystone ? { www_authenticate_uri: keystone, auth_url: keystone } : {}),
      // The https keystone URL is verified with the CA that signed the VIP's certificate.
      ...(keystone && apiTls ? { cafile: caBundlePath } : {}),
      ...this.memcached.keystoneAuthtokenOptions(memcachedTls),
      memcache_security_strategy: 'ENCRYPT',
      memcache_secret_key: memcacheKey,
    };
    return {
      service: s.name,
      databaseConnections,
      databaseReadOnlyConnections,
      ...(account ? {
        transportUrl: this.rabbitmq.transportUrl(account.user),
        notificationsTransportUrl: this.rabbitmq.notificationsTransportUrl(account.user),
      } : {}),
      memcacheServers: this.memcached.memcacheServers,
      ...(memcachedTls !== undefined || rabbitClient !== undefined || proxySqlCa !== undefined || (keystone && apiTls) ? { caBundlePath } : {}),
      ...(clientCertificate !== undefined ? { clientCertificatePath: clientCertificate.certificateFile, clientKeyPath: clientCertificate.keyFile } : {}),
      osloConfig: OsloMessaging.renderIni(sections),
      secretReferences,
    };
  }

  /** The files the service presents to the brokers: the CA, and its certificate when they verify clients. */
  private rabbitClientTls(files: MemcachedClientTls, options: ServiceConnectionOptions | undefined): RabbitClientTls {
    if (!this.rabbitmq.requiresClientCertificates) return { caFile: files.caFile };
    return {
      caFile: files.caFile,
      certificateFile: options?.clientCertificatePath ?? SERVICE_TLS_DEFAULTS.clientCertificatePath,
      keyFile: options?.clientKeyPath ?? SERVICE_TLS_DEFAULTS.clientKeyPath,
    };
  }

  /** The TLS files of a service's pods, checked (one error with every problem); the certificate when memcached asks for one. */
  private clientTlsFiles(options: ServiceConnectionOptions | undefined, caFile: string): MemcachedClientTls {
    const withCertificate = this.memcached.requiresClientCertificates && this.memcached.tlsSecretName !== undefined;
    const files: MemcachedClientTls = {
      caFile,
      ...(withCertificate ? {
        certificateFile: options?.clientCertificatePath ?? SERVICE_TLS_DEFAULTS.clientCertificatePath,
        keyFile: options?.clientKeyPath ?? SERVICE_TLS_DEFAULTS.clientKeyPath,
      } : {}),
    };
    const names: Record<string, string> = { caFile: 'caBundlePath', certificateFile: 'clientCertificatePath', keyFile: 'clientKeyPath' };
    const v = new Validator(`OpenStackControlPlane '${this.node.id}'.connection`);
    for (const p of clientTlsProblems('options', { servers: this.memcached.memcacheServers, tls: { verifyClients: withCertificate } }, files)) {
      v.add(p.field.replace(/^options\.(\w+)/, (_, f: string) => `options.${names[f] ?? f}`), p.value, p.fix);
    }
    v.throwIfInvalid();
    return files;
  }

  /**
   * Writes, beside the manifests, the topology summary (`<chart>.topology.md`, Markdown with a Mermaid diagram)
   * and the preflight input (`<chart>.topology.json`: nodes, VIPs, namespace). Call it after `app.synth()`.
   */
  public writeTopology(outdir: string): void {
    const chart = Chart.of(this).node.id;
    mkdirSync(outdir, { recursive: true });
    // Every node of the inventory: the controllers, then dedicated RabbitMQ or edge nodes. With vip.nodeLabel the VIP's
    // nodes must carry the label (the preflight fails a node without it, with the kubectl command: a DaemonSet placed
    // by the label would delete its pod there).
    const label = this.props.vip.nodeLabel;
    const nodes = [...this.props.controllers, ...(this.props.rabbitNodes ?? []), ...(this.props.edgeNodes ?? [])]
      .filter((n, i, all) => all.findIndex((m) => m.name === n.name) === i)
      .map((n) => ({ name: n.name, ip: n.ip,
        ...(label && this.vip.nodeNames.includes(n.name) ? { labels: { [label.key]: label.value } } : {}) }));
    const vip = {
      address: this.props.vip.address,
      interface: this.props.vip.interface,
      nodes: this.vip.nodeNames,
      fronts: [
        ...this.props.services.filter((s) => s.api !== undefined).map((s) => `${s.name} ${this.apiLoadBalancer.portOf(s.name)}`),
        `proxysql ${this.proxySql.readWritePort}/${this.proxySql.readOnlyPort}`,
      ],
      workloads: [this.apiLoadBalancer.workload.name],
    };
    writeFileSync(join(outdir, `${chart}.topology.md`), renderTopologyMarkdown({
      title: `OpenStack HA layer: ${chart}`, namespace: this.namespace, nodes, objects: this.objects(), vips: [vip],
    }));
    const preflight = { namespace: this.namespace, nodes, vips: [{ address: vip.address, interface: vip.interface }] };
    writeFileSync(join(outdir, `${chart}.topology.json`), JSON.stringify(preflight, null, 2) + '\n');
  }
}

/**
 * The account of one kind a service's connection uses: its own, or with `ALTERNATE` (MessagingAccount or
 * DatabaseAccount, both 'alternate') and an alternate password the `<name>-b` one. Call only when the service has
 * the primary password.
 */
function activeAccount(s: OpenStackService, k: AlternateAccountProps): { user: string; password: SecretValue } {
  const alternate = s[k.alternateProp];
  return s[k.accountProp] === 'alternate' && alternate ? { user: alternateAccountName(s.name), password: alternate } : { user: s.name, password: s[k.primaryProp]! };
}

/** The props of one kind of alternate account (RabbitMQ or database), for validateAlternateAccount. */
interface AlternateAccountProps {
  readonly what: 'RabbitMQ' | 'database';
  readonly enumName: string;
  readonly values: readonly string[];
  readonly accountProp: 'messagingAccount' | 'databaseAccount';
  readonly alternateProp: 'messagingAlternatePassword' | 'databaseAlternatePassword';
  readonly primaryProp: 'messagingPassword' | 'databasePassword';
  /** Whether service `o` has its own account of this kind. */
  readonly hasAccount: (o: OpenStackService) => boolean;
}

const MESSAGING_ACCOUNTS: AlternateAccountProps = {
  what: 'RabbitMQ', enumName: 'MessagingAccount', values: Object.values(MessagingAccount), accountProp: 'messagingAccount',
  alternateProp: 'messagingAlternatePassword', primaryProp: 'messagingPassword', hasAccount: (o) => o.messagingPassword !== undefined,
};

const DATABASE_ACCOUNTS: AlternateAccountProps = {
  what: 'database', enumName: 'DatabaseAccount', values: Object.values(DatabaseAccount), accountProp: 'databaseAccount',
  alternateProp: 'databaseAlternatePassword', primaryProp: 'databasePassword', hasAccount: (o) => (o.databases ?? [o.name]).length > 0,
};

const ALTERNATE_ACCOUNTS: readonly AlternateAccountProps[] = [MESSAGING_ACCOUNTS, DATABASE_ACCOUNTS];

/** The alternate accounts of services[i]: their Secrets, the account each connection names, and names no other account has. */
function validateAlternateAccount(v: Validator, services: readonly OpenStackService[], i: number): void {
  const s = services[i];
  const at = `services[${i}]`;
  for (const k of ALTERNATE_ACCOUNTS) {
    const account: string = s[k.accountProp] ?? 'primary';
    const alternate = s[k.alternateProp];
    if (!v.check(!k.values.includes(account), `${at}.${k.accountProp}`, account,
      `is not a ${k.enumName}; use ${k.enumName}.PRIMARY or ${k.enumName}.ALTERNATE`)) {
      v.check(account === 'alternate' && alternate === undefined, `${at}.${k.accountProp}`, account,
        `names the alternate account ${alternateAccountName(s.name)}, which has no password; set ${k.alternateProp}, or use ${k.enumName}.PRIMARY`);
    }
    if (alternate === undefined) continue;
    validateSecretValue(v, `${at}.${k.alternateProp}`, alternate);
    v.check(s[k.primaryProp] === undefined || !k.hasAccount(s), `${at}.${k.alternateProp}`, alternate.toString(),
      `is set but ${s.name} has no ${k.what} account to alternate with (${k.primaryProp}${k.what === 'database' ? ', or databases' : ''}); set it too, or remove ${k.alternateProp}`);
    const other = services.findIndex((o) => o.name === alternateAccountName(s.name) && k.hasAccount(o));
    v.check(other >= 0, `${at}.${k.alternateProp}`, alternate.toString(),
      `would create the account ${alternateAccountName(s.name)}, which is services[${other}]'s own ${k.what === 'RabbitMQ' ? 'messaging' : k.what} account; rename that service`);
  }
}
