import { ApiObject, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { configHash } from '../common/config-hash';
import { daemonSetBudget, podDisruptionBudget } from '../common/disruption';
import { CAPABILITIES_ANNOTATION, CONFIG_HASH_ANNOTATION, selectorLabels, standardLabels } from '../common/labels';
import { describeGrants } from '../common/security';
import { ClientSelector, clientIngressPolicy } from '../common/network';
import { Placement } from '../common/placement';
import { ContainerResources } from '../common/resources';
import { registerAppChecks } from '../common/app-checks';
import { Validator } from '../common/validation';
import { GaleraPetSet } from '../galera/galera-petset';
import { k8s } from '../k8s';
import { TlsMaterial } from '../tls/model';
import { memcachedReloaderScripts } from './assets';
import { MemcachedClientView, authtokenCacheOptions, clientTlsProblems, osloCacheOptions } from './clients';
import { memcachedCertificateRequest, memcachedServers, resolveMemcached } from './model';
import { memcachedPod } from './pod';
import { MemcachedClientTls, MemcachedTlsOptions } from './props';
import { validateMemcached } from './validation';

const COMPONENT = 'memcached';

/** Options for memcached on the pod network. */
export interface MemcachedPodNetworkOptions {
  /** The pods allowed to connect (a NetworkPolicy admits only them). */
  readonly allowedClients: ClientSelector[];
}

/** How memcached is reached: on each node's own address (default), or on the pod network. */
export class MemcachedNetwork {
  /**
   * One memcached per node on the host network, listening on the node's IP only. Clients list node IPs.
   * NetworkPolicy cannot protect host-network pods, so restrict port 11211 on the nodes' firewall.
   */
  public static hostNetwork(): MemcachedNetwork {
    return new MemcachedNetwork(true, []);
  }

  /**
   * One pod per node on the pod network behind a headless Service; clients list the pods' stable DNS names
   * and a NetworkPolicy admits only the named client pods.
   */
  public static podNetwork(options: MemcachedPodNetworkOptions): MemcachedNetwork {
    return new MemcachedNetwork(false, [...options.allowedClients]);
  }

  private constructor(
    /** Whether pods use the host network. */
    public readonly isHostNetwork: boolean,
    /** Pods allowed to connect, on the pod network. */
    public readonly allowedClients: ClientSelector[],
  ) {}
}

export interface MemcachedPoolProps {
  /** Where memcached runs: one instance per node. Host-network mode needs the inventory (node IPs). */
  readonly placement: Placement;
  /**
   * Base name of the Kubernetes objects.
   *
   * @default - the construct id
   */
  readonly name?: string;
  /**
   * How clients reach memcached.
   *
   * @default MemcachedNetwork.hostNetwork()
   */
  readonly network?: MemcachedNetwork;
  /**
   * Number of instances on the pod network, when the placement has no inventory.
   *
   * @default - one per inventory node
   */
  readonly replicas?: number;
  /**
   * TCP port.
   *
   * @default 11211
   */
  readonly port?: number;
  /**
   * Maximum simultaneous connections per instance (`-c`). Every OpenStack API worker holds a pool of them.
   *
   * @default 8192
   */
  readonly maxConnections?: number;
  /**
   * Container resources; item memory (`-m`) and worker threads (`-t`) are derived from the limits.
   *
   * @default - requests 100m CPU / 1024 MiB, limits 2000m CPU / 1024 MiB (item memory 857 MiB, 2 threads)
   */
  readonly resources?: ContainerResources;
  /**
   * Container image.
   *
   * @default MemcachedPool.DEFAULT_IMAGE (the official image, pinned)
   */
  readonly image?: string;
  /**
   * Run a memcached-exporter sidecar (stock image, port 9150 named `metrics`, on the address memcached listens on).
   * `OpenStackControlPlane`'s `monitoring` prop turns this on.
   *
   * @default false
   */
  readonly metricsExporter?: boolean;
  /**
   * TLS on every instance (`-Z`, TLS 1.2+, strong ciphers, optional client certificates), renewed in place by a
   * sidecar that sends memcached `refresh_certs`. Clients need the CA (oslo.cache `tls_cafile`, see
   * `OpenStackControlPlane.connection()`).
   *
   * @default - plaintext (memcached's default; restrict who reaches the port)
   */
  readonly tls?: MemcachedTlsOptions;
  /**
   * Keep each node's cache across the pod's replacement (memcached's warm restart, `-e`): the item memory is a file
   * on the node's RAM disk (`warmRestartPath`); when the pod stops (a roll of the DaemonSet after an inventory, memory,
   * TLS or image change; a drain) memcached saves its index beside it and exits, and the next pod on the node restores
   * the items. A change of the item memory (`resources.memoryLimitMiB`, `maxConnections`), an older image or a node
   * reboot starts that node clean, and memcached's log says why. Costs: a hostPath volume (the namespace is
   * `privileged` already for the host network) and an init container that gives the directory to memcached's user
   * (capability CHOWN only); the file keeps up to the item memory of the node's RAM after the pod is gone (a node
   * that leaves the pool: remove the directory, the preflight plan prints the command). Host network only: pods on the
   * pod network are not tied to a node, so a file could be restored by another instance than the one that saved it.
   *
   * @default - true on the host network; false on the pod network
   */
  readonly warmRestart?: boolean;
  /**
   * The directory on each node that holds the warm-restart file, created if missing. It must be on a RAM disk
   * (tmpfs): on a real disk memcached would write every item to it, so the pod then starts memcached without warm
   * restart and says so in its log. Either inside `/dev/shm` (a tmpfs on every systemd Linux, half the RAM by
   * default), or a directory dedicated to this pool on a tmpfs you mount.
   *
   * @default - `/dev/shm/openstack-ha-memcached/<namespace>-<name>` (namespace `default` when the chart has none)
   */
  readonly warmRestartPath?: string;
  /**
   * A stock Node.js image (20 or later) for the certificate reloader sidecar (with `tls` only).
   *
   * @default - the image of the Galera recovery agent (`GaleraPetSet.DEFAULT_AGENT_IMAGE`)
   */
  readonly reloaderImage?: string;
}

/**
 * memcached for OpenStack token and API caching: one instance per node, never behind a load-balancing
 * Service (oslo.cache and keystonemiddleware shard keys over the full list of servers themselves), not
 * exposed beyond its clients, since memcached has no authentication.
 */
export class MemcachedPool extends Construct {
  /** The official memcached image, pinned: the output must not change under a moving tag. */
  public static readonly DEFAULT_IMAGE = 'docker.io/library/memcached:1.6.39';

  /** Base name of the objects. */
  public readonly name: string;
  /** The servers, in inventory (or ordinal) order, as `host:port`. */
  public readonly servers: string[];
  /** The value for oslo.cache `[cache] memcache_servers` and keystonemiddleware `memcached_servers`. */
  public readonly memcacheServers: string;
  /**
   * The underlying workload (escape hatch: every construct of this library names its workload `workload`): a
   * KubeDaemonSet on the host network, a KubeStatefulSet on the pod network. Typed as their common base, so that
   * the API has no union type; patch it with `addJsonPatch`.
   */
  public readonly workload: ApiObject;
  /** The labels that select the pool's pods. */
  public readonly podSelector: Record<string, string>;
  /** A memcached-exporter sidecar serves memcached's metrics on port 9150 (`metrics`). */
  public readonly metricsExporter: boolean;
  /**
   * The Secret with the pool's certificate, when `tls` is set.
   *
   * @default - no TLS
   */
  public readonly tlsSecretName?: string;
  /** Clients must present a certificate signed by the CA (`tls.verifyClients`). */
  public readonly requiresClientCertificates: boolean;

  private readonly clientView: MemcachedClientView;

  public constructor(scope: Construct, id: string, props: MemcachedPoolProps) {
    super(scope, id);
    const m = resolveMemcached(id, props, Chart.of(this).namespace,
      { image: MemcachedPool.DEFAULT_IMAGE, network: MemcachedNetwork.hostNetwork() });
    let tlsMaterial: TlsMaterial | undefined;
    validateMemcached(id, props, m, (v) => {
      tlsMaterial = props.tls!.certificates._certificateFor(this, memcachedCertificateRequest(m), v);
    });
    registerAppChecks(this);

    const { name, network, port } = m;
    this.name = name;
    const selector = selectorLabels(name, COMPONENT);
    this.podSelector = selector;
    this.metricsExporter = m.metricsExporter;
    const labels = standardLabels(name, COMPONENT);
    this.tlsSecretName = tlsMaterial?.secretName;
    this.requiresClientCertificates = m.tls?.verifyClients === true;
    const reloaderImage = props.reloaderImage ?? GaleraPetSet.DEFAULT_AGENT_IMAGE;
    const reloaderConfigMap = `${name}-cert-reloader`;
    const reloaderData = tlsMaterial ? memcachedReloaderScripts() : undefined;
    if (reloaderData) new k8s.KubeConfigMap(this, 'Reloader', { metadata: { name: reloaderConfigMap, labels }, data: reloaderData });
    const pod = memcachedPod(m, selector, tlsMaterial && { material: tlsMaterial, reloaderImage, reloaderConfigMap });
    // Without TLS the hash input is what it always was (no pod rolls when the library is upgraded).
    const hashed = reloaderData ? configHash({ args: pod.args.join(' '), reloaderImage }, reloaderData) : configHash({ args: pod.args.join(' ') });
    const template: k8s.PodTemplateSpec = {
      metadata: { labels, annotations: { [CONFIG_HASH_ANNOTATION]: hashed, ...(pod.grants.length > 0 ? { [CAPABILITIES_ANNOTATION]: describeGrants(pod.grants) } : {}) } },
      spec: pod.spec,
    };

    if (network.isHostNetwork) {
      this.workload = new k8s.KubeDaemonSet(this, 'Resource', {
        metadata: { name, labels },
        spec: {
          selector: { matchLabels: selector },
          updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(1) } },
          template,
        },
      });
    } else {
      new k8s.KubeService(this, 'Service', {
        metadata: { name, labels },
        spec: {
          clusterIp: 'None',
          selector,
          ports: [{ name: 'memcache', port, targetPort: k8s.IntOrString.fromNumber(port), protocol: 'TCP' }],
        },
      });
      this.workload = new k8s.KubeStatefulSet(this, 'Resource', {
        metadata: { name, labels },
        spec: {
          serviceName: name,
          replicas: m.replicas,
          podManagementPolicy: 'Parallel',
          selector: { matchLabels: selector },
          updateStrategy: { type: 'RollingUpdate' },
          template,
        },
      });
      clientIngressPolicy(this, 'NetworkPolicy', { name, labels, selector, clients: network.allowedClients, ports: [port] });
    }
    this.servers = memcachedServers(m);
    this.memcacheServers = this.servers.join(',');
    this.clientView = { servers: this.memcacheServers, ...(tlsMaterial && m.tls ? { tls: m.tls } : {}) };

    // A cache node loss only remaps keys, but drains and upgrades should still take one instance at a time.
    if (network.isHostNetwork) daemonSetBudget(this, 'Budget', { name, labels, selector, nodeCount: m.nodes?.length });
    else podDisruptionBudget(this, 'Budget', { name, labels, selector, maxUnavailable: 1 });
  }

  /**
   * oslo.cache's `[cache]` options for this pool (`enabled`, `backend`, `memcache_servers`); with TLS, the pymemcache
   * backend (the one oslo.cache hands its TLS context to) and `tls_enabled`, `tls_cafile`, plus `tls_certfile` and
   * `tls_keyfile` when `clientTls` has them.
   *
   * @param clientTls where the client's pod has the CA (and its own certificate): required when the pool has TLS
   */
  public osloCacheOptions(clientTls?: MemcachedClientTls): { [option: string]: string } {
    this.checkClientTls('osloCacheOptions', clientTls);
    return osloCacheOptions(this.clientView, clientTls);
  }

  /**
   * keystonemiddleware's `[keystone_authtoken]` cache options for this pool: `memcached_servers`; with TLS,
   * `memcache_tls_enabled`, `memcache_tls_cafile` (and `memcache_tls_certfile`/`memcache_tls_keyfile`), which
   * keystonemiddleware has from 10.10 (OpenStack 2025.2) on.
   *
   * @param clientTls where the client's pod has the CA (and its own certificate): required when the pool has TLS
   */
  public keystoneAuthtokenOptions(clientTls?: MemcachedClientTls): { [option: string]: string } {
    this.checkClientTls('keystoneAuthtokenOptions', clientTls);
    return authtokenCacheOptions(this.clientView, clientTls);
  }

  private checkClientTls(method: string, clientTls: MemcachedClientTls | undefined): void {
    const v = new Validator(`MemcachedPool '${this.node.id}'.${method}`);
    v.check(this.clientView.tls !== undefined && (clientTls === undefined || clientTls === null), 'clientTls', clientTls,
      'is required: the pool speaks TLS only; give the CA file as mounted in the client\'s pod ({ caFile })');
    for (const p of clientTlsProblems('clientTls', this.clientView, clientTls ?? undefined)) v.add(p.field, p.value, p.fix);
    v.throwIfInvalid();
  }
}
