import { mkdirSync, writeFileSync } from 'fs';
import { join } from 'path';
import { ApiObject, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { standardLabels } from '../common/labels';
import { OpenStackRelease } from '../common/openstack-release';
import { InventoryNode, Placement } from '../common/placement';
import { clusterScoped } from '../common/scope';
import { registerAppChecks } from '../common/app-checks';
import { SecretValue, envPlaceholder } from '../common/secret';
import { Validator } from '../common/validation';
import { DatabaseUser } from '../galera/credentials';
import { GaleraPetSet } from '../galera/galera-petset';
import { GaleraBackup } from '../galera-backup/galera-backup';
import { HaproxyLoadBalancer, LoadBalancedService } from '../haproxy/haproxy-load-balancer';
import { KeepalivedVip } from '../keepalived/keepalived-vip';
import { k8s } from '../k8s';
import { MemcachedPool } from '../memcached/memcached-pool';
import { clientTlsProblems } from '../memcached/clients';
import { MemcachedClientTls } from '../memcached/props';
import { ControlPlaneMonitoring } from '../monitoring/control-plane-monitoring';
import { ProxySqlLayer } from '../proxysql/proxysql-layer';
import { OsloMessaging } from '../rabbitmq/oslo';
import { passwordEnvName } from '../rabbitmq/model';
import { RabbitDaemonSet } from '../rabbitmq/rabbit-daemonset';
import { RabbitClientTls } from '../rabbitmq/tls';
import { RabbitVersion } from '../rabbitmq/version';
import { SERVICE_TLS_DEFAULTS, ServiceConnection, ServiceConnectionOptions, databaseUrl, secretPlaceholderName } from './connections';
import { DATABASE_ACCOUNTS, MESSAGING_ACCOUNTS, activeAccount, alternateAccountName } from './accounts';
import { OpenStackControlPlaneProps } from './props';
import { ResolvedControlPlaneTls } from './tls';
import { validateControlPlaneProps } from './validation';
import { renderTopologyMarkdown } from './topology';

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

    const { tls, release } = validateControlPlaneProps(id, namespace, props);

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
