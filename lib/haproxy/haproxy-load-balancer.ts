import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { configHash } from '../common/config-hash';
import { oneNodeAtATimeDaemonSet } from '../common/daemon-set';
import { daemonSetBudget } from '../common/disruption';
import { CAPABILITIES_ANNOTATION, CONFIG_HASH_ANNOTATION, selectorLabels, standardLabels } from '../common/labels';
import { Placement } from '../common/placement';
import { ContainerResources, resolveResources } from '../common/resources';
import { describeGrants } from '../common/security';
import { registerAppChecks } from '../common/app-checks';
import { Validator, hostPort, isIpAddress } from '../common/validation';
import { GaleraPetSet } from '../galera/galera-petset';
import { basePodSpec } from '../common/pod';
import { k8s } from '../k8s';
import { KeepalivedVip } from '../keepalived/keepalived-vip';
import { IHealthCheckedProxy, VipTrack } from '../keepalived/props';
import { TlsMaterial } from '../tls/model';
import { haproxyReloaderScripts } from './assets';
import { OPENSTACK_ENDPOINTS, openStackService } from './catalogue';
import { HAPROXY_CONFIG_PATH, HaproxyModel, HaproxyServer, HaproxyService, ServiceTlsContext } from './model';
import { CONFIG_DIR, HAPROXY_TLS_PATHS, HEALTH_PATH, haproxyPod, haproxyTlsMount } from './pod';
import { HaproxyTlsOptions } from './props';
import { renderHaproxyCfg, terminatesTls } from './render';
import { haproxyCertificateRequest, validateLoadBalancerModel, validateLoadBalancerProps, validateLoadBalancerTls } from './validation';

const COMPONENT = 'haproxy';
/** Above oslo.db's connection_recycle_time (3600 s), so HAProxy never cuts a pooled connection first. */
const GALERA_TIMEOUT_SECONDS = 5400;
/** HSTS max-age by default: 2 years (what browsers' preload lists require). */
const HSTS_MAX_AGE_SECONDS = 63_072_000;

/** A backend server of a load-balanced service. */
export interface LoadBalancedServer {
  /**
   * IP address or DNS name. A Kubernetes Service name ending in `.svc` (e.g. `keystone-api.openstack.svc`) is
   * completed with the cluster domain: HAProxy's run-time resolver does not apply resolv.conf search domains.
   */
  readonly address: string;
  /**
   * Server port.
   *
   * @default - the service's port
   */
  readonly port?: number;
  /**
   * Name in HAProxy's stats and metrics.
   *
   * @default - `<service>-<index>`
   */
  readonly name?: string;
}

/** Backends of one load-balanced service. */
export interface LoadBalancedBackendOptions {
  /**
   * Explicit servers: a ClusterIP Service name (kube-proxy picks a ready pod per connection), pod or node
   * addresses.
   *
   * @default - none (then `discoverFrom` is required)
   */
  readonly servers?: LoadBalancedServer[];
  /**
   * A headless Service's DNS name: HAProxy fills server slots from its records, so each pod is checked and
   * balanced on its own and pods come and go without a reload.
   *
   * @default - no discovery
   */
  readonly discoverFrom?: string;
  /**
   * Port of the discovered pods.
   *
   * @default - the service's port
   */
  readonly discoveryPort?: number;
  /**
   * Server slots for discovered pods (room for scale-out).
   *
   * @default 8
   */
  readonly discoverySlots?: number;
  /**
   * Inactivity timeout, in seconds.
   *
   * @default - the catalogue's (300 s for APIs, 6 h for image uploads) or 300 s for TCP services
   */
  readonly timeoutSeconds?: number;
}

/** An OpenStack API from the catalogue, with overrides of its defaults. */
export interface OpenStackApiOptions extends LoadBalancedBackendOptions {
  /**
   * Listen port.
   *
   * @default - the service's registered port (keystone 5000, nova 8774, horizon 80, ...)
   */
  readonly port?: number;
  /**
   * Health check path.
   *
   * @default - the catalogue's (a version document or oslo.middleware `/healthcheck`)
   */
  readonly checkPath?: string;
  /**
   * Plain-HTTP port whose requests are redirected to this API's HTTPS port (needs `tls.redirectHttp`).
   *
   * @default - with `tls.redirectHttp`, the catalogue's plain port when the API has its own HTTPS port (horizon:
   * 80, HTTPS on 443); none otherwise
   */
  readonly httpRedirectPort?: number;
}

/** A service HAProxy load-balances: an OpenStack API from the catalogue, or a plain TCP service. */
export class LoadBalancedService {
  /** An OpenStack HTTP API by its catalogue name (`keystone`, `nova`, `glance`, `horizon`, ...). */
  public static openStackApi(name: string, options: OpenStackApiOptions): LoadBalancedService {
    return new LoadBalancedService(name, options.port, 'http', options.checkPath, options, options.httpRedirectPort);
  }

  /** A TCP passthrough service (e.g. an API that terminates TLS itself), checked by TCP connect. */
  public static tcp(name: string, port: number, options: LoadBalancedBackendOptions): LoadBalancedService {
    return new LoadBalancedService(name, port, 'tcp', undefined, options);
  }

  private constructor(
    /** The service name (HAProxy proxy name). */
    public readonly name: string,
    private readonly port: number | undefined,
    private readonly mode: 'http' | 'tcp',
    private readonly checkPath: string | undefined,
    private readonly options: LoadBalancedBackendOptions,
    private readonly httpRedirectPort?: number,
  ) {}

  /** The model of this service; records unknown catalogue names in `v`. @internal */
  public _toModel(v: Validator, prop: string, qualify: (address: string) => string,
    tls: ServiceTlsContext = { tls: false, redirectHttp: false }): HaproxyService | undefined {
    const o = this.options;
    const port = this.port ?? OPENSTACK_ENDPOINTS[this.name]?.port ?? 0;
    const servers: HaproxyServer[] = (o.servers ?? []).map((s, i) => ({
      name: s.name ?? `${this.name}-${i}`, address: qualify(s.address), port: s.port ?? port,
    }));
    const discovery = o.discoverFrom === undefined ? undefined
      : { fqdn: qualify(o.discoverFrom), port: o.discoveryPort ?? port, slots: o.discoverySlots ?? 8 };
    if (this.mode === 'tcp') {
      return { name: this.name, port, mode: 'tcp', servers, discovery, timeoutSeconds: o.timeoutSeconds ?? 300 };
    }
    if (!OPENSTACK_ENDPOINTS[this.name]) {
      v.add(`${prop}.name`, this.name, `is not in the OpenStack catalogue; use one of ${Object.keys(OPENSTACK_ENDPOINTS).join(', ')}, or LoadBalancedService.tcp`);
      return undefined;
    }
    const defaults = OPENSTACK_ENDPOINTS[this.name];
    v.check(this.httpRedirectPort !== undefined && !tls.redirectHttp, `${prop}.httpRedirectPort`, this.httpRedirectPort,
      'redirects plain HTTP to HTTPS: it needs tls with redirectHttp: true; set both or remove httpRedirectPort');
    const defaultRedirect = defaults.tlsPort !== undefined && this.port === undefined ? defaults.port : undefined;
    const redirectPort = tls.redirectHttp ? this.httpRedirectPort ?? defaultRedirect : this.httpRedirectPort;
    return openStackService(this.name, {
      servers, discovery, port: this.port, checkPath: this.checkPath, timeoutSeconds: o.timeoutSeconds, tls: tls.tls, redirectPort,
    });
  }
}

export interface HaproxyLoadBalancerProps {
  /** The nodes HAProxy runs on (one per node, host network). With `galera` or `vip`, it needs the inventory. */
  readonly placement: Placement;
  /** The load-balanced services, each on its own port. */
  readonly services: LoadBalancedService[];
  /**
   * A Galera cluster to reach through HAProxy with exactly one writer at a time (for deployments without ProxySQL):
   * the member the Galera members name themselves in their replicated writer row, read through each agent's
   * `GET /writer`, so every HAProxy instance agrees (a restarted one too) and a recovered old writer gets no
   * writes back.
   *
   * @default - no Galera listener
   */
  readonly galera?: GaleraPetSet;
  /**
   * Listen port of the Galera listener.
   *
   * @default 3306
   */
  readonly galeraPort?: number;
  /**
   * The VIP in front of this HAProxy: it is made to follow HAProxy's `/healthz` on each node.
   *
   * @default - no VIP (clients use the node addresses)
   */
  readonly vip?: KeepalivedVip;
  /**
   * Base name of the Kubernetes objects.
   *
   * @default - the construct id
   */
  readonly name?: string;
  /**
   * Port of `/healthz` (keepalived's track check, probes), `/stats` and Prometheus `/metrics`, on every node.
   *
   * @default 8404
   */
  readonly statsPort?: number;
  /**
   * Global connection limit of each HAProxy; at most 250000 (file descriptors) and 32 KiB each within the
   * memory limit.
   *
   * @default 10000
   */
  readonly maxConnections?: number;
  /**
   * The cluster DNS domain, appended to `.svc` names.
   *
   * @default 'cluster.local'
   */
  readonly clusterDomain?: string;
  /**
   * Seconds a stopping pod keeps serving after its `/healthz` stopped answering, so the VIP moves away first
   * (keepalived needs fall x interval, 2 s by default).
   *
   * @default 5
   */
  readonly drainSeconds?: number;
  /**
   * The haproxy container's resources.
   *
   * @default - requests 250m CPU / 256 MiB, limits 2000m CPU / 1024 MiB
   */
  readonly resources?: ContainerResources;
  /**
   * The official HAProxy image (2.6 or later, Debian based).
   *
   * @default HaproxyLoadBalancer.DEFAULT_IMAGE
   */
  readonly image?: string;
  /**
   * A stock Node.js image (20 or later) for the config reloader sidecar.
   *
   * @default GaleraPetSet.DEFAULT_AGENT_IMAGE (already on the controllers for Galera)
   */
  readonly reloaderImage?: string;
  /**
   * TLS termination on every API service (TCP services and the Galera listener are passed through), with the
   * certificate renewed in place: HAProxy serves the new one without a reload or a dropped connection.
   *
   * @default - plain HTTP
   */
  readonly tls?: HaproxyTlsOptions;
}

/**
 * HAProxy for the OpenStack APIs (and optionally a one-writer Galera listener) on the host network of every
 * placement node, binding 0.0.0.0 so that whichever node holds the VIP serves it. Master-worker mode; a config
 * change is applied by a hitless reload, not by restarting pods (which would move the VIP and cut connections).
 */
export class HaproxyLoadBalancer extends Construct implements IHealthCheckedProxy {
  /** The official HAProxy image, 2.6 LTS on Debian bookworm, pinned. */
  public static readonly DEFAULT_IMAGE = 'docker.io/library/haproxy:2.6.22-bookworm';

  /** Base name of the objects. */
  public readonly name: string;
  /** The VIP address clients use, when a VIP fronts this HAProxy. */
  public readonly host?: string;
  public readonly healthPort: number;
  public readonly healthPath: string = HEALTH_PATH;
  /** The Galera listener's port, with `galera`. */
  public readonly galeraPort?: number;
  /** Labels that select the HAProxy pods. */
  public readonly podSelector: Record<string, string>;
  /** The underlying DaemonSet (escape hatch: every construct of this library names its workload `workload`). */
  public readonly workload: k8s.KubeDaemonSet;
  /**
   * The Secret with the load balancer's certificate, when `tls` is set.
   *
   * @default - no TLS
   */
  public readonly tlsSecretName?: string;

  private readonly servicePorts: Record<string, number>;
  private readonly serviceSchemes: Record<string, string>;
  private readonly endpointHost?: string;

  public constructor(scope: Construct, id: string, props: HaproxyLoadBalancerProps) {
    super(scope, id);
    const name = props.name ?? id;
    const nodes = props.placement.nodes;
    const clusterDomain = props.clusterDomain ?? 'cluster.local';
    const drainSeconds = props.drainSeconds ?? 5;
    const resources = resolveResources(props.resources, {
      cpuRequestMillis: 250, cpuLimitMillis: 2000, memoryRequestMiB: 256, memoryLimitMiB: 1024,
    });
    const galera = props.galera;
    const qualify = (address: string) => (!isIpAddress(address) && address.endsWith('.svc') ? `${address}.${clusterDomain}` : address);

    const v = new Validator(`HaproxyLoadBalancer '${id}'`);
    validateLoadBalancerProps(v, props, { name, clusterDomain, drainSeconds, resources,
      image: props.image ?? HaproxyLoadBalancer.DEFAULT_IMAGE, reloaderImage: props.reloaderImage ?? GaleraPetSet.DEFAULT_AGENT_IMAGE });
    const tlsContext = { tls: props.tls !== undefined, redirectHttp: props.tls?.redirectHttp === true };
    const services = props.services.map((s, i) => s._toModel(v, `services[${i}]`, qualify, tlsContext));
    let tlsMaterial: TlsMaterial | undefined;
    if (props.tls !== undefined) {
      const request = haproxyCertificateRequest(name, Chart.of(this).namespace, props);
      validateLoadBalancerTls(v, props.tls, services, request, () => {
        tlsMaterial = props.tls!.certificates._certificateFor(this, request, v);
      });
    }
    const tlsMount = tlsMaterial && haproxyTlsMount(tlsMaterial);
    const model: HaproxyModel = {
      bindAddress: '0.0.0.0',
      maxConnections: props.maxConnections ?? 10_000,
      services: services.filter((s): s is HaproxyService => s !== undefined),
      galera: galera && {
        port: props.galeraPort ?? 3306,
        servers: galera.members.map((m) => ({ name: m.podName, address: qualify(m.host), port: galera.port })),
        checkPort: galera.agentPort,
        checkPath: '/writer',
        timeoutSeconds: GALERA_TIMEOUT_SECONDS,
      },
      // Empty: the resolvers read /etc/resolv.conf, which ClusterFirstWithHostNet points at the cluster DNS.
      nameservers: [],
      statsPort: props.statsPort ?? 8404,
      ...(props.tls ? {
        tls: {
          // Fixed paths, known before the certificate is (a refused certificate must not add path errors).
          certificate: HAPROXY_TLS_PATHS.certificate,
          ca: HAPROXY_TLS_PATHS.ca,
          hstsMaxAgeSeconds: props.tls.hsts === false ? undefined : props.tls.hstsMaxAgeSeconds ?? HSTS_MAX_AGE_SECONDS,
          reencrypt: props.tls.reencrypt === true,
        },
      } : {}),
    };
    validateLoadBalancerModel(v, props, model, resources);
    v.throwIfInvalid();

    this.name = name;
    this.healthPort = model.statsPort;
    this.galeraPort = model.galera?.port;
    this.host = props.vip?.address;
    this.servicePorts = Object.fromEntries(model.services.map((s) => [s.name, s.port]));
    this.serviceSchemes = Object.fromEntries(model.services.filter((s) => s.mode === 'http')
      .map((s) => [s.name, terminatesTls(model, s) ? 'https' : 'http']));
    this.endpointHost = props.tls?.hostnames?.[0] ?? this.host;
    this.tlsSecretName = tlsMaterial?.secretName;
    const selector = selectorLabels(name, COMPONENT);
    const labels = standardLabels(name, COMPONENT);
    this.podSelector = selector;

    const configName = `${name}-config`;
    const reloaderName = `${name}-reloader`;
    const configData = { [HAPROXY_CONFIG_PATH.slice(CONFIG_DIR.length + 1)]: renderHaproxyCfg(model) };
    const reloaderData = haproxyReloaderScripts();
    new k8s.KubeConfigMap(this, 'Config', { metadata: { name: configName, labels }, data: configData });
    new k8s.KubeConfigMap(this, 'Reloader', { metadata: { name: reloaderName, labels }, data: reloaderData });

    const image = props.image ?? HaproxyLoadBalancer.DEFAULT_IMAGE;
    const reloaderImage = props.reloaderImage ?? GaleraPetSet.DEFAULT_AGENT_IMAGE;
    const pod = haproxyPod({ model, image, reloaderImage, resources, drainSeconds, configMap: configName, reloaderConfigMap: reloaderName, tls: tlsMount });
    const annotations: Record<string, string> = {
      // Deliberately not haproxy.cfg: a config change is applied by the reloader's hitless reload, without moving
      // the VIP. What a reload cannot apply rolls the pods: the binary and its command line, the reloader itself.
      // The certificate's Secret name and mount are in the pod spec itself; its content is renewed in place.
      [CONFIG_HASH_ANNOTATION]: configHash({ image, command: pod.command.join(' '), reloaderImage }, reloaderData),
    };
    if (pod.grants.length > 0) annotations[CAPABILITIES_ANNOTATION] = describeGrants(pod.grants);

    this.workload = oneNodeAtATimeDaemonSet(this, 'Resource', {
      name,
      labels,
      selector,
      template: {
        metadata: { labels, annotations },
        spec: {
          ...basePodSpec({ hostNetwork: true }),
          terminationGracePeriodSeconds: drainSeconds + 15,
          securityContext: pod.securityContext,
          affinity: { nodeAffinity: props.placement._affinity(selector).nodeAffinity },
          tolerations: props.placement._tolerations(),
          containers: pod.containers,
          volumes: pod.volumes,
        },
      },
    });

    daemonSetBudget(this, 'Budget', { name, labels, selector, nodeCount: nodes?.length });

    registerAppChecks(this);
    if (galera) {
      // Host-network pods: most network plugins see their traffic as the node's, so admit the node addresses too.
      const client = { podLabels: { ...selector }, nodeAddresses: (nodes ?? []).map((n) => n.ip) };
      galera.allowClients(client);
      galera.allowHealthChecks(client);
    }
    if (props.vip) {
      props.vip.trackWith(VipTrack.proxy(this), `HaproxyLoadBalancer '${id}'`);
      props.vip.claimPorts(`HaproxyLoadBalancer '${id}'`, pod.listenPorts);
    }
  }

  /**
   * The URL clients use for an HTTP service, e.g. `https://api.example.com:5000` with TLS (`http://<vip>:5000`
   * without): the first of `tls.hostnames`, else the VIP. Throws for a TCP service (no URL scheme) and without a VIP
   * or hostname (no single address to name).
   */
  public endpointUrl(service: string): string {
    const port = this.portOf(service);
    if (this.endpointHost === undefined) {
      throw new Error(`HaproxyLoadBalancer '${this.node.id}' has no VIP and no tls.hostnames: its services have no single URL (clients use the node addresses)`);
    }
    const scheme = this.serviceSchemes[service];
    if (scheme === undefined) throw new Error(`HaproxyLoadBalancer '${this.node.id}': "${service}" is a TCP service, it has no URL; use portOf`);
    return `${scheme}://${hostPort(this.endpointHost, port)}`;
  }

  /** The listen port of a load-balanced service, e.g. `portOf('keystone')` (5000). */
  public portOf(service: string): number {
    const port = this.servicePorts[service];
    if (port === undefined) throw new Error(`HaproxyLoadBalancer '${this.node.id}' has no service "${service}"; it has ${Object.keys(this.servicePorts).join(', ')}`);
    return port;
  }
}
