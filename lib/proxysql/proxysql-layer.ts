import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { registerAppChecks } from '../common/app-checks';
import { configHash } from '../common/config-hash';
import { podDisruptionBudget } from '../common/disruption';
import { CONFIG_HASH_ANNOTATION, selectorLabels, standardLabels } from '../common/labels';
import { ClientSelector, clientIngressPolicy } from '../common/network';
import { Placement } from '../common/placement';
import { ContainerResources } from '../common/resources';
import { SecretValue } from '../common/secret';
import { restrictedPodSecurityContext } from '../common/security';
import { GaleraPetSet } from '../galera/galera-petset';
import { basePodSpec } from '../common/pod';
import { k8s } from '../k8s';
import { TlsMaterial } from '../tls/model';
import { TlsCertificates } from '../tls/tls-certificates';
import { proxySqlScripts, proxySqlTlsScripts } from './assets';
import { proxySqlCertificateRequest, resolveProxySql } from './model';
import { PROXYSQL_UID, proxySqlConfigMapNames, proxySqlPod } from './pod';
import { renderProxySqlConfig } from './render';
import { validateProxySql } from './validation';

const COMPONENT = 'proxysql';

/** The hostgroup ids of the one `mysql_galera_hostgroups` row. */
export interface ProxySqlHostgroups {
  /**
   * The hostgroup of the single writer; every user's default hostgroup.
   *
   * @default 10
   */
  readonly writer?: number;
  /**
   * The standbys: healthy members that are not the writer (hot spares, promoted in the same check pass).
   *
   * @default 20
   */
  readonly backupWriter?: number;
  /**
   * The readers: every healthy member, the writer included (`writer_is_also_reader=1`). Must be above 0.
   *
   * @default 30
   */
  readonly reader?: number;
  /**
   * Members that failed their health check (not Synced, desynced, donor, not Primary, unreachable).
   *
   * @default 9999
   */
  readonly offline?: number;
}

/**
 * TLS on ProxySQL (2.7): clients connect with TLS to the read-write and read-only ports (ProxySQL serves the
 * certificate from its datadir, copied there from the mounted Secret), and ProxySQL connects to the Galera members with
 * TLS, verifying their certificates with the CA. A renewal is loaded in place (`PROXYSQL RELOAD TLS` from the admin
 * sidecar, after it checked the new pair): no restart, open sessions untouched (README, "TLS").
 */
export interface ProxySqlTlsOptions {
  /**
   * Where the certificate comes from (`TlsCertificates.certManager` or `.fromSecrets`, component = the layer's name).
   * It must cover the client Service's names (and `additionalNames`); its `ca.crt` also verifies the Galera members,
   * so one CA must sign both.
   */
  readonly certificates: TlsCertificates;
  /**
   * Refuse clients without TLS: `use_ssl=1` on every ProxySQL user, so a plaintext login gets "Access denied ... SSL
   * is required". Turn it on once every client's URL carries the CA (`OpenStackControlPlane.connection()` does).
   *
   * @default false
   */
  readonly requireSecureTransport?: boolean;
  /**
   * Encrypt ProxySQL's connections to the Galera members (`use_ssl=1` on each server, `mysql-ssl_p2s_ca`: the
   * members' certificates must chain to the CA; ProxySQL does not check their names). Needs a GaleraPetSet with TLS.
   *
   * @default - true when the GaleraPetSet has TLS (`galera.tlsSecretName`), false otherwise
   */
  readonly backend?: boolean;
  /**
   * More names or IP addresses clients connect to, which the certificate must cover (e.g. the VIP, when ProxySQL is
   * exposed on it).
   *
   * @default - none: the Service's names only
   */
  readonly additionalNames?: string[];
}

export interface ProxySqlLayerProps {
  /** The Galera cluster to front: its members, users and monitor account are taken from it. */
  readonly galera: GaleraPetSet;
  /** The ProxySQL admin password (admin interface on 127.0.0.1 only). */
  readonly adminPassword: SecretValue;
  /** The pods allowed to connect to the read-write and read-only ports (NetworkPolicy). */
  readonly allowedClients: ClientSelector[];
  /**
   * Where ProxySQL runs; one pod per node (required anti-affinity).
   *
   * @default Placement.onLabelledNodes('openstack-control-plane', 'enabled')
   */
  readonly placement?: Placement;
  /**
   * Base name of the Kubernetes objects.
   *
   * @default - the construct id
   */
  readonly name?: string;
  /**
   * Number of ProxySQL pods. They share nothing: each renders the same file, so each picks the same writer.
   *
   * @default 2
   */
  readonly replicas?: number;
  /**
   * Port for read-write traffic: every query goes to the writer (read-your-writes holds).
   *
   * @default 3306
   */
  readonly readWritePort?: number;
  /**
   * Port for read-only traffic (oslo.db `slave_connection`): plain SELECTs go to the standbys, locking reads and
   * everything else to the writer.
   *
   * @default 3307
   */
  readonly readOnlyPort?: number;
  /**
   * Port of the admin interface, on 127.0.0.1 inside the pod.
   *
   * @default 6032
   */
  readonly adminPort?: number;
  /**
   * Name of the admin account.
   *
   * @default 'admin'
   */
  readonly adminUser?: string;
  /**
   * Hostgroup ids.
   *
   * @default - writer 10, backupWriter 20, reader 30, offline 9999
   */
  readonly hostgroups?: ProxySqlHostgroups;
  /**
   * The ordinal of the member that is the writer whenever it is healthy (ProxySQL fails back to it once it is
   * Synced again). The others follow in ordinal order.
   *
   * @default - the GaleraPetSet's writerOrdinal (0 unless set there)
   */
  readonly writerOrdinal?: number;
  /**
   * While no reader is ONLINE, send the read-only port's SELECTs to the writer hostgroup instead of letting them
   * wait and fail after 10 s. The admin sidecar re-points the rule within about a second, both ways. The writer is
   * itself a reader, so this only happens when no member is Synced: a guard, not the normal path.
   *
   * @default true
   */
  readonly readerFallbackToWriter?: boolean;
  /**
   * Serve ProxySQL's built-in Prometheus exporter: `admin-restapi_enabled` with `admin-restapi_port` 6070, whose
   * `GET /metrics` exposes, among others, each backend's status per hostgroup (`proxysql_connpool_conns_status`).
   * ProxySQL binds that port on every interface of the pod; ControlPlaneMonitoring's NetworkPolicy admits only the
   * scraper to it.
   *
   * @default false
   */
  readonly metricsExporter?: boolean;
  /**
   * The server version ProxySQL announces to clients; match the MariaDB image.
   *
   * @default - the version of GaleraPetSet.DEFAULT_IMAGE, e.g. '11.4.7-MariaDB'
   */
  readonly serverVersion?: string;
  /**
   * Client connections each ProxySQL accepts; also the per-user limit of users whose `maxConnections` is 0.
   *
   * @default 4096
   */
  readonly maxClientConnections?: number;
  /**
   * Connections each ProxySQL opens to each Galera member at most. Keep `replicas` times this below the
   * members' `max_connections`.
   *
   * @default 1000
   */
  readonly maxConnectionsPerBackend?: number;
  /**
   * Seconds a stopping pod keeps serving its open sessions after it stopped accepting new ones (PROXYSQL PAUSE).
   *
   * @default 20
   */
  readonly drainSeconds?: number;
  /**
   * The proxysql container's resources; ProxySQL's worker threads follow the CPU limit.
   *
   * @default - requests 250m CPU / 256 MiB, limits 2000m CPU / 512 MiB
   */
  readonly resources?: ContainerResources;
  /**
   * The ProxySQL image (2.7). The pod runs `/bin/bash` (with `/dev/tcp`), `sleep` and `proxysql` (on PATH) in it;
   * the official image has them (see the README, "The image").
   *
   * @default ProxySqlLayer.DEFAULT_IMAGE
   */
  readonly image?: string;
  /**
   * An image with bash and the `mariadb` client, for the admin sidecar (probes, PAUSE, reader fallback).
   *
   * @default GaleraPetSet.DEFAULT_IMAGE (already on the nodes for Galera)
   */
  readonly adminImage?: string;
  /**
   * TLS for clients and to the Galera members, renewed in place (see ProxySqlTlsOptions).
   *
   * @default - no TLS of ours (ProxySQL 2.7 still offers TLS with a self-signed certificate it generates, which no
   * client can verify), plaintext to the members
   */
  readonly tls?: ProxySqlTlsOptions;
}

/**
 * Stateless ProxySQL pods in front of a GaleraPetSet: one writer chosen by fixed weights (the same on every
 * ProxySQL), the other Synced members as hot standbys and readers, members that are not Synced taken out within a
 * second or two. Users come from the GaleraPetSet (defined once), passwords from Secrets at container start.
 *
 * The construct only wires: props resolve into the model (model.ts), the rules check them (validation.ts), the
 * renderer writes proxysql.cnf (render.ts), the pod is plain data (pod.ts).
 */
export class ProxySqlLayer extends Construct {
  /** The official ProxySQL image, pinned: what the pod runs in it is verified in lib/proxysql/image.ts. */
  public static readonly DEFAULT_IMAGE = 'docker.io/proxysql/proxysql:2.7.3';

  /** Base name of the objects. */
  public readonly name: string;
  /** The client Service's name. */
  public readonly serviceName: string;
  /** The client Service's DNS name, for connection URLs. */
  public readonly host: string;
  /** The read-write port of the client Service. */
  public readonly readWritePort: number;
  /** The read-only port of the client Service. */
  public readonly readOnlyPort: number;
  /** Labels that select the ProxySQL pods (e.g. for a keepalived or HAProxy check). */
  public readonly podSelector: Record<string, string>;
  /** The hostgroup of the (one) writer. */
  public readonly writerHostgroup: number;
  /** The hostgroup the read-only port's SELECTs go to. */
  public readonly readerHostgroup: number;
  /** The admin sidecar sends read-only SELECTs to the writer while no reader is ONLINE. */
  public readonly readerFallbackToWriter: boolean;
  /** ProxySQL serves `/metrics` on its REST API port (6070). */
  public readonly metricsExporter: boolean;
  /** The underlying Deployment (escape hatch: every construct of this library names its workload `workload`). */
  public readonly workload: k8s.KubeDeployment;
  /**
   * The Secret with ProxySQL's certificate, when `tls` is set: clients then verify ProxySQL with its `ca.crt`.
   *
   * @default - no TLS
   */
  public readonly tlsSecretName?: string;
  /** Clients must use TLS (`tls.requireSecureTransport`). */
  public readonly requiresSecureTransport: boolean;

  public constructor(scope: Construct, id: string, props: ProxySqlLayerProps) {
    super(scope, id);
    const model = resolveProxySql(id, props, Chart.of(this).namespace, { image: ProxySqlLayer.DEFAULT_IMAGE });
    let tlsMaterial: TlsMaterial | undefined;
    validateProxySql(id, props, model, (v) => {
      tlsMaterial = props.tls!.certificates._certificateFor(this, proxySqlCertificateRequest(model), v);
    });
    registerAppChecks(this);
    const { name, config, galera } = model;

    this.name = name;
    this.serviceName = name;
    this.host = model.host;
    this.readWritePort = config.readWritePort;
    this.readOnlyPort = config.readOnlyPort;
    const selector = selectorLabels(name, COMPONENT);
    const labels = standardLabels(name, COMPONENT);
    this.podSelector = selector;
    this.writerHostgroup = config.hostgroups.writer;
    this.readerHostgroup = config.hostgroups.reader;
    this.readerFallbackToWriter = model.readerFallback;
    this.metricsExporter = config.metricsPort !== undefined;
    this.tlsSecretName = tlsMaterial?.secretName;
    this.requiresSecureTransport = model.tls?.requireSecureTransport === true;

    const configData = { 'proxysql.cnf': renderProxySqlConfig(config) };
    const scripts = tlsMaterial ? { ...proxySqlScripts(), ...proxySqlTlsScripts() } : proxySqlScripts();
    const maps = proxySqlConfigMapNames(name);
    new k8s.KubeConfigMap(this, 'Config', { metadata: { name: maps.config, labels }, data: configData });
    new k8s.KubeConfigMap(this, 'Scripts', { metadata: { name: maps.scripts, labels }, data: scripts });

    const pod = proxySqlPod(model, props.adminPassword, tlsMaterial);
    this.workload = new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name, labels },
      spec: {
        replicas: model.replicas,
        selector: { matchLabels: selector },
        // One pod at a time, never a surge: with one pod per node, a surge pod may have nowhere to go.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(0), maxUnavailable: k8s.IntOrString.fromNumber(1) } },
        minReadySeconds: 5,
        template: {
          metadata: { labels, annotations: { [CONFIG_HASH_ANNOTATION]: configHash(configData, scripts) } },
          spec: {
            ...basePodSpec(),
            terminationGracePeriodSeconds: model.drainSeconds + 15,
            securityContext: restrictedPodSecurityContext(PROXYSQL_UID),
            affinity: model.placement._affinity(selector),
            tolerations: model.placement._tolerations(),
            containers: pod.containers,
            volumes: pod.volumes,
          },
        },
      },
    });

    new k8s.KubeService(this, 'Service', {
      metadata: { name, labels },
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [
          { name: 'rw', port: config.readWritePort, targetPort: k8s.IntOrString.fromString('rw'), protocol: 'TCP' },
          { name: 'ro', port: config.readOnlyPort, targetPort: k8s.IntOrString.fromString('ro'), protocol: 'TCP' },
        ],
      },
    });

    clientIngressPolicy(this, 'NetworkPolicy', { name, labels, selector, clients: model.clients, ports: [config.readWritePort, config.readOnlyPort] });

    podDisruptionBudget(this, 'Budget', { name, labels, selector, maxUnavailable: 1 });
    galera.allowClients({ podLabels: { ...selector } });
  }
}
