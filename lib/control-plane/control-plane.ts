import { mkdirSync, writeFileSync } from 'fs';
import { join } from 'path';
import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { standardLabels } from '../common/labels';
import { InventoryNode, Placement } from '../common/placement';
import { SecretValue } from '../common/secret';
import { Validator, duplicates, isIpAddress } from '../common/validation';
import { DatabaseUser } from '../galera/credentials';
import { GaleraPetSet } from '../galera/galera-petset';
import { GaleraStorage } from '../galera/storage';
import { k8s } from '../k8s';
import { MemcachedPool } from '../memcached/memcached-pool';
import { ProxySqlLayer } from '../proxysql/proxysql-layer';
import { OsloMessaging } from '../rabbitmq/oslo';
import { ServiceConnection, databaseUrl, describeSecret, placeholder, secretPlaceholderName } from './connections';
import { Topology, renderTopologyMarkdown } from './topology';

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
   * Labels of the service's pods: they are admitted to ProxySQL by NetworkPolicy.
   *
   * @default - { application: <name> } (openstack-helm's label)
   */
  readonly podLabels?: Record<string, string>;
}

/** The Secrets the HA layer's own accounts use. */
export interface ControlPlaneSecrets {
  readonly galeraRootPassword: SecretValue;
  readonly galeraSstPassword: SecretValue;
  readonly galeraMonitorPassword: SecretValue;
  readonly proxySqlAdminPassword: SecretValue;
  /** The key that encrypts and authenticates tokens cached in memcached (`memcache_secret_key`). */
  readonly memcacheSecretKey: SecretValue;
}

/** The virtual IP in front of the API endpoints. */
export interface ControlPlaneVip {
  /** The address. */
  readonly address: string;
  /** The interface it goes on, on every VIP node. */
  readonly interface: string;
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
   * Tolerate the Kubernetes control-plane taint on the controllers.
   *
   * @default false
   */
  readonly tolerateControlPlane?: boolean;
}

/**
 * The whole HA layer under an OpenStack control plane, wired from one inventory of controllers, with typed
 * connection outputs for the OpenStack services. Every part is a public property to tune further.
 */
export class OpenStackControlPlane extends Construct {
  public readonly namespace: string;
  public readonly galera: GaleraPetSet;
  public readonly proxySql: ProxySqlLayer;
  public readonly memcached: MemcachedPool;

  private readonly props: OpenStackControlPlaneProps;

  public constructor(scope: Construct, id: string, props: OpenStackControlPlaneProps) {
    super(scope, id);
    const namespace = Chart.of(this).namespace;
    const controllers = props.controllers;
    const galeraReplicas = props.galeraReplicas ?? 3;

    const v = new Validator(`OpenStackControlPlane '${id}'`);
    v.check(namespace === undefined, 'namespace', undefined, 'is not set; give the chart a namespace (the control plane creates it)');
    v.check(controllers.length < 3, 'controllers', controllers.map((n) => n.name),
      `are ${controllers.length}; an HA control plane needs at least 3 controllers`);
    v.check(!isIpAddress(props.vip.address), 'vip.address', props.vip.address, 'is not an IP address');
    v.check(controllers.some((n) => n.ip === props.vip.address), 'vip.address', props.vip.address,
      'is a controller\'s own address; the VIP must be a free address on the controllers\' network');
    for (const dup of duplicates(props.services.map((s) => s.name))) {
      v.add('services', dup, 'is listed more than once; list each service once');
    }
    props.services.forEach((s, i) => {
      const databases = s.databases ?? [s.name];
      v.check(databases.length > 0 && s.databasePassword === undefined, `services[${i}].databasePassword`, undefined,
        `is missing for ${s.name}, which has databases ${JSON.stringify(databases)}; reference its database user's Secret`);
    });
    v.throwIfInvalid();

    this.props = props;
    this.namespace = namespace ?? '';
    new k8s.KubeNamespace(this, 'Namespace', {
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

    const everywhere = Placement.onNodes(controllers, { tolerateControlPlane: props.tolerateControlPlane });
    const firstControllers = (count: number) => Placement.onNodes(controllers.slice(0, count), { tolerateControlPlane: props.tolerateControlPlane });

    this.galera = new GaleraPetSet(this, 'galera', {
      placement: firstControllers(galeraReplicas),
      replicas: galeraReplicas,
      storage: props.galeraStorage,
      credentials: {
        rootPassword: props.secrets.galeraRootPassword,
        sstPassword: props.secrets.galeraSstPassword,
        monitorPassword: props.secrets.galeraMonitorPassword,
      },
      users: props.services.filter((s) => (s.databases ?? [s.name]).length > 0).map((s): DatabaseUser => ({
        name: s.name,
        password: s.databasePassword!,
        databases: s.databases ?? [s.name],
        maxConnections: s.maxDatabaseConnections,
      })),
    });
    this.proxySql = new ProxySqlLayer(this, 'proxysql', {
      galera: this.galera,
      placement: everywhere,
      adminPassword: props.secrets.proxySqlAdminPassword,
      allowedClients: props.services.map((s) => ({ podLabels: s.podLabels ?? { application: s.name } })),
    });
    this.memcached = new MemcachedPool(this, 'memcached', { placement: everywhere });
  }

  /** What `service` needs to connect, with secrets as placeholders. */
  public connection(service: string): ServiceConnection {
    const s = this.props.services.find((x) => x.name === service);
    if (!s) throw new Error(`OpenStackControlPlane: no service ${JSON.stringify(service)}; known: ${this.props.services.map((x) => x.name).join(', ')}`);
    const secretReferences: Record<string, string> = {};
    const reference = (what: string, secret: SecretValue) => {
      const name = secretPlaceholderName(s.name, what);
      secretReferences[name] = describeSecret(secret);
      return placeholder(name);
    };
    const databaseConnections: Record<string, string> = {};
    const databaseReadOnlyConnections: Record<string, string> = {};
    if (s.databasePassword) {
      const password = reference('database_password', s.databasePassword);
      for (const db of s.databases ?? [s.name]) {
        databaseConnections[db] = databaseUrl(s.name, password, this.proxySql.host, this.proxySql.readWritePort, db);
        databaseReadOnlyConnections[db] = databaseUrl(s.name, password, this.proxySql.host, this.proxySql.readOnlyPort, db);
      }
    }
    const memcacheKey = placeholder('MEMCACHE_SECRET_KEY');
    secretReferences.MEMCACHE_SECRET_KEY = describeSecret(this.props.secrets.memcacheSecretKey);
    const firstDb = Object.keys(databaseConnections)[0];
    const sections: Record<string, Record<string, string>> = {};
    if (firstDb !== undefined) {
      sections.database = { connection: databaseConnections[firstDb], slave_connection: databaseReadOnlyConnections[firstDb] };
    }
    sections.cache = { enabled: 'true', backend: 'oslo_cache.memcache_pool', memcache_servers: this.memcached.memcacheServers };
    sections.keystone_authtoken = {
      memcached_servers: this.memcached.memcacheServers,
      memcache_security_strategy: 'ENCRYPT',
      memcache_secret_key: memcacheKey,
    };
    return {
      service: s.name,
      databaseConnections,
      databaseReadOnlyConnections,
      memcacheServers: this.memcached.memcacheServers,
      osloConfig: OsloMessaging.renderIni(sections),
      secretReferences,
    };
  }

  /** The topology: which pods on which node, which VIP fronts what, which ports are open. @internal */
  public _topology(): Topology {
    const controllers = this.props.controllers;
    const names = controllers.map((n) => n.name);
    return {
      title: `OpenStack HA layer: ${this.node.id}`,
      namespace: this.namespace,
      nodes: controllers.map((n) => ({ name: n.name, ip: n.ip })),
      parts: [
        {
          name: this.galera.name,
          workload: `StatefulSet, ${this.galera.replicas} members`,
          nodes: names.slice(0, this.galera.replicas),
          ports: [
            { name: 'mysql', port: this.galera.port, on: 'pod', from: 'ProxySQL' },
            { name: 'galera/ist/sst', port: 4567, on: 'pod', from: 'members only (4567, 4568, 4444)' },
            { name: 'agent', port: this.galera.agentPort, on: 'pod', from: 'members (recovery), health checks' },
          ],
          connectsTo: [],
        },
        {
          name: this.proxySql.name,
          workload: 'Deployment, 2 pods',
          nodes: names,
          ports: [
            { name: 'read-write', port: this.proxySql.readWritePort, on: 'pod', from: 'OpenStack services' },
            { name: 'read-only', port: this.proxySql.readOnlyPort, on: 'pod', from: 'OpenStack services' },
          ],
          connectsTo: [this.galera.name],
        },
        {
          name: this.memcached.name,
          workload: `DaemonSet, host network`,
          nodes: names,
          ports: [{ name: 'memcache', port: 11211, on: 'host', from: 'OpenStack services (node firewall)' }],
          connectsTo: [],
        },
      ],
      vips: [{ address: this.props.vip.address, interface: this.props.vip.interface, nodes: names, fronts: [] }],
    };
  }

  /**
   * Writes, beside the manifests, the topology summary (`<chart>.topology.md`, Markdown with a Mermaid diagram)
   * and the preflight input (`<chart>.topology.json`: nodes, VIPs, namespace). Call it after `app.synth()`.
   */
  public writeTopology(outdir: string): void {
    const chart = Chart.of(this).node.id;
    mkdirSync(outdir, { recursive: true });
    writeFileSync(join(outdir, `${chart}.topology.md`), renderTopologyMarkdown(this._topology()));
    const preflight = {
      namespace: this.namespace,
      nodes: this.props.controllers.map((n) => ({ name: n.name, ip: n.ip })),
      vips: [{ address: this.props.vip.address, interface: this.props.vip.interface }],
    };
    writeFileSync(join(outdir, `${chart}.topology.json`), JSON.stringify(preflight, null, 2) + '\n');
  }
}
