import { ApiObject, Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { configHash } from '../common/config-hash';
import { daemonSetBudget, podDisruptionBudget } from '../common/disruption';
import { CONFIG_HASH_ANNOTATION, selectorLabels, standardLabels } from '../common/labels';
import { ClientSelector, clientIngressPolicy, validateClientSelectors, validateObjectName } from '../common/network';
import { Placement } from '../common/placement';
import { ContainerResources, resolveResources, toResourceRequirements, validateResources } from '../common/resources';
import { containerSecurityContext, restrictedPodSecurityContext } from '../common/security';
import { registerAppChecks } from '../common/app-checks';
import { validateImage } from '../common/k8s-rules';
import { Validator, hostPort, isPort } from '../common/validation';
import { basePodSpec } from '../common/pod';
import { k8s } from '../k8s';
import { MIN_ITEM_MEMORY_MIB, itemMemoryMiB, memcachedArgs } from './memcached-args';

/** The uid/gid of the `memcache` user in the official image. */
const MEMCACHE_UID = 11211;
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

  public constructor(scope: Construct, id: string, props: MemcachedPoolProps) {
    super(scope, id);
    const name = props.name ?? id;
    const network = props.network ?? MemcachedNetwork.hostNetwork();
    const port = props.port ?? 11211;
    const maxConnections = props.maxConnections ?? 8192;
    const resources = resolveResources(props.resources, {
      cpuRequestMillis: 100, cpuLimitMillis: 2000, memoryRequestMiB: 1024, memoryLimitMiB: 1024,
    });
    const nodes = props.placement.nodes;
    const replicas = props.replicas ?? nodes?.length ?? 0;

    const v = new Validator(`MemcachedPool '${id}'`);
    validateObjectName(v, 'name', name);
    props.placement._validate(v, 'placement', network.isHostNetwork ? undefined : replicas);
    v.check(network.isHostNetwork && nodes === undefined, 'placement', 'labelled nodes without an inventory',
      'gives no node IPs for memcache_servers; pass `nodes` to Placement.onLabelledNodes, or use MemcachedNetwork.podNetwork()');
    v.check(!network.isHostNetwork && props.replicas === undefined && nodes === undefined, 'replicas', undefined,
      'is needed on the pod network when the placement has no inventory; set it to the number of labelled nodes');
    v.check(props.replicas !== undefined && network.isHostNetwork, 'replicas', props.replicas,
      'only applies on the pod network; on the host network there is one instance per inventory node');
    v.check(props.replicas !== undefined && (!Number.isInteger(props.replicas) || props.replicas < 1), 'replicas', props.replicas,
      'must be a whole number of at least 1');
    v.check(!isPort(port), 'port', port, 'is not a TCP port; use 1-65535');
    v.check(!Number.isInteger(maxConnections) || maxConnections < 16 || maxConnections > 1_000_000, 'maxConnections', maxConnections,
      'must be a whole number from 16 to 1000000');
    validateResources(v, 'resources', resources);
    validateImage(v, 'image', props.image ?? MemcachedPool.DEFAULT_IMAGE);
    const itemMemory = itemMemoryMiB(resources.memoryLimitMiB, maxConnections);
    v.check(itemMemory < MIN_ITEM_MEMORY_MIB, 'resources.memoryLimitMiB', resources.memoryLimitMiB,
      `leaves ${itemMemory} MiB for items after memcached's overhead (${maxConnections} connections); ` +
      `raise the limit so at least ${MIN_ITEM_MEMORY_MIB} MiB remain, or lower maxConnections`);
    if (!network.isHostNetwork) {
      v.check(network.allowedClients.length === 0, 'network.allowedClients', [],
        'is empty, so no client could connect; name the client pods (e.g. keystone\'s labels)');
      validateClientSelectors(v, 'network.allowedClients', network.allowedClients);
    }
    v.throwIfInvalid();
    registerAppChecks(this);

    this.name = name;
    const namespace = Chart.of(this).namespace;
    const selector = selectorLabels(name, COMPONENT);
    const labels = standardLabels(name, COMPONENT);
    const args = memcachedArgs({
      listenAddress: network.isHostNetwork ? '$(HOST_IP)' : '$(POD_IP)',
      port,
      maxConnections,
      memoryLimitMiB: resources.memoryLimitMiB,
      cpuLimitMillis: resources.cpuLimitMillis,
    });

    const probe = (periodSeconds: number, failureThreshold: number): k8s.Probe => ({
      tcpSocket: { port: k8s.IntOrString.fromNumber(port) },
      periodSeconds,
      timeoutSeconds: 2,
      failureThreshold,
    });
    const podSpec: k8s.PodSpec = {
      ...basePodSpec({ hostNetwork: network.isHostNetwork }),
      // memcached exits at once on SIGTERM; there is nothing to drain, clients remap the keys.
      terminationGracePeriodSeconds: 10,
      securityContext: restrictedPodSecurityContext(MEMCACHE_UID),
      affinity: props.placement._affinity(selector),
      tolerations: props.placement._tolerations(),
      containers: [{
        name: 'memcached',
        image: props.image ?? MemcachedPool.DEFAULT_IMAGE,
        imagePullPolicy: 'IfNotPresent',
        command: ['memcached'],
        args,
        env: [network.isHostNetwork
          ? { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } }
          : { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
        ports: [{ name: 'memcache', containerPort: port, protocol: 'TCP' }],
        resources: toResourceRequirements(resources),
        readinessProbe: probe(5, 2),
        livenessProbe: probe(10, 3),
        securityContext: containerSecurityContext(),
      }],
    };
    const template: k8s.PodTemplateSpec = {
      metadata: { labels, annotations: { [CONFIG_HASH_ANNOTATION]: configHash({ args: args.join(' ') }) } },
      spec: podSpec,
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
      this.servers = (nodes ?? []).map((n) => hostPort(n.ip, port));
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
          replicas,
          podManagementPolicy: 'Parallel',
          selector: { matchLabels: selector },
          updateStrategy: { type: 'RollingUpdate' },
          template,
        },
      });
      clientIngressPolicy(this, 'NetworkPolicy', { name, labels, selector, clients: network.allowedClients, ports: [port] });
      const domain = namespace ? `${name}.${namespace}.svc` : name;
      this.servers = Array.from({ length: replicas }, (_, i) => `${name}-${i}.${domain}:${port}`);
    }
    this.memcacheServers = this.servers.join(',');

    // A cache node loss only remaps keys, but drains and upgrades should still take one instance at a time.
    if (network.isHostNetwork) daemonSetBudget(this, 'Budget', { name, labels, selector, nodeCount: nodes?.length });
    else podDisruptionBudget(this, 'Budget', { name, labels, selector, maxUnavailable: 1 });
  }
}
