import { Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { configHash } from '../common/config-hash';
import { oneNodeAtATimeDaemonSet } from '../common/daemon-set';
import { daemonSetBudget } from '../common/disruption';
import { CAPABILITIES_ANNOTATION, CONFIG_HASH_ANNOTATION, selectorLabels, standardLabels } from '../common/labels';
import { hostCidr, validateObjectName } from '../common/network';
import { Placement } from '../common/placement';
import { ContainerResources, resolveResources, toResourceRequirements } from '../common/resources';
import { describeGrants, rootContainerSecurityContext } from '../common/security';
import { registerAppChecks } from '../common/app-checks';
import { validatePortName } from '../common/k8s-rules';
import { Validator, duplicates, isIpAddress, isPort } from '../common/validation';
import { basePodSpec } from '../common/pod';
import { k8s } from '../k8s';
import {
  DEFAULT_ADVERT_INTERVAL_SECONDS, KEEPALIVED_CAPABILITIES, KEEPALIVED_CONFIG_DIR, KEEPALIVED_RUN_DIR,
  KeepalivedVipModel, VrrpTrackCheck, spreadPriorities,
} from './model';
import { keepalivedCommand, renderKeepalivedConf } from './render';
import { validateKeepalivedVip, validateKeepalivedVipSet, validateVipModel, validateVipProps } from './validation';

const COMPONENT = 'keepalived';

/** Timing of a track check. */
export interface VipTrackOptions {
  /**
   * Whole seconds between checks (keepalived 2.2.7 rounds `vrrp_script interval` to seconds).
   *
   * @default 1
   */
  readonly intervalSeconds?: number;
  /**
   * Whole seconds after which a running check counts as failed (1..intervalSeconds).
   *
   * @default 1
   */
  readonly timeoutSeconds?: number;
  /**
   * Consecutive successes before a node may bid for the VIP.
   *
   * @default 2
   */
  readonly rise?: number;
  /**
   * Consecutive failures before the holder gives the VIP up: with the defaults, a dead proxy moves the VIP
   * within about 2 s (interval x fall), plus the backup's skew.
   *
   * @default 2
   */
  readonly fall?: number;
}

/** The port of a load balancer whose health a VIP follows (implemented by `HaproxyLoadBalancer`). */
export interface IHealthCheckedProxy {
  /** Port of the proxy's health endpoint on every node (HTTP, answers 200 while the proxy serves). */
  readonly healthPort: number;
  /** Path of that endpoint, e.g. `/healthz`. */
  readonly healthPath: string;
}

/**
 * What a VIP follows: on each node, keepalived runs this check against the local proxy (which binds 0.0.0.0 on
 * the host network, so loopback reaches it) and bids for the VIP only while it passes. A failing check puts the
 * node in FAULT, which hands the VIP to a backup at once.
 */
export class VipTrack {
  /** A TCP connect to `127.0.0.1:port`. */
  public static tcp(port: number, options: VipTrackOptions = {}): VipTrack {
    return new VipTrack('tcp', port, undefined, options);
  }

  /** An HTTP GET of `http://127.0.0.1:port<path>` that must answer 2xx or 3xx. */
  public static http(port: number, path: string, options: VipTrackOptions = {}): VipTrack {
    return new VipTrack('http', port, path, options);
  }

  /** The health endpoint of a load balancer on the same nodes (HAProxy's `/healthz` monitor URI). */
  public static proxy(proxy: IHealthCheckedProxy, options: VipTrackOptions = {}): VipTrack {
    return VipTrack.http(proxy.healthPort, proxy.healthPath, options);
  }

  private constructor(
    private readonly kind: 'tcp' | 'http',
    /** The checked port. */
    public readonly port: number,
    /** The HTTP path, for an HTTP check. */
    public readonly path: string | undefined,
    private readonly options: VipTrackOptions,
  ) {}

  /** @internal */
  public _toCheck(): VrrpTrackCheck {
    return {
      kind: this.kind,
      host: '127.0.0.1',
      port: this.port,
      path: this.path,
      intervalSeconds: this.options.intervalSeconds ?? 1,
      timeoutSeconds: this.options.timeoutSeconds ?? 1,
      rise: this.options.rise ?? 2,
      fall: this.options.fall ?? 2,
    };
  }
}

export interface KeepalivedVipProps {
  /** The virtual IP, a literal IPv4 or IPv6 address without prefix, e.g. `10.0.0.10`. */
  readonly address: string;
  /**
   * Prefix length of the interface's subnet. When given, the VIP is added with it and every node address must be
   * in `address/prefixLength` (a VIP outside the nodes' segment cannot move by gratuitous ARP).
   *
   * @default - 32 (IPv4) or 128 (IPv6): a host address, and the subnet is not checked
   */
  readonly prefixLength?: number;
  /** The node interface that carries the VIP and the VRRP adverts, e.g. `bond0`. The same on every node. */
  readonly interface: string;
  /**
   * The nodes that may hold the VIP, with their addresses (`Placement.onNodes`, or labelled nodes with `nodes`).
   * The inventory order is the takeover order.
   */
  readonly placement: Placement;
  /** 1..255, unique among the VRRP routers of the layer-2 segment (kolla-ansible and osixia default to 51). */
  readonly virtualRouterId: number;
  /**
   * What the VIP follows. A `HaproxyLoadBalancer` given this VIP as `vip` sets it (its `/healthz`).
   *
   * @default - set by the HaproxyLoadBalancer that fronts this VIP; synth fails if nothing sets it
   */
  readonly track?: VipTrack;
  /**
   * VRRPv3 advertisement interval, 0.01..40.95 s. A silent holder death is noticed after about 3 adverts.
   *
   * @default 0.2
   */
  readonly advertIntervalSeconds?: number;
  /**
   * Base name of the Kubernetes objects (at most 32 characters: it also names the VRRP instance).
   *
   * @default - the construct id
   */
  readonly name?: string;
  /**
   * Container resources. Keep CPU requests equal to limits (Guaranteed QoS) on busy nodes: sub-second adverts
   * must not wait for a CPU quota period.
   *
   * @default - requests 50m CPU / 32 MiB, limits 200m CPU / 64 MiB
   */
  readonly resources?: ContainerResources;
  /**
   * Priority class of the pods: a VIP holder must not be preempted or evicted before ordinary pods.
   *
   * @default 'system-node-critical'
   */
  readonly priorityClassName?: string;
  /**
   * An image with keepalived 2.2.x, `/bin/bash`, `/usr/bin/curl` and `/bin/sh`.
   *
   * @default KeepalivedVip.DEFAULT_IMAGE
   */
  readonly image?: string;
}

/** A port of a Service exposed on the VIP. */
export interface VipServicePort {
  /** Port name (DNS-1123 label). */
  readonly name: string;
  /** Port on the VIP. */
  readonly port: number;
  /**
   * Port of the selected pods.
   *
   * @default - the same as `port`
   */
  readonly targetPort?: number;
}

/** A pod-network service to reach on the VIP. */
export interface VipServiceOptions {
  /** Name of the Service to create (it must not clash with the workload's own Service). */
  readonly name: string;
  /** Labels of the pods that serve it, e.g. `proxySql.podSelector`. */
  readonly podSelector: Record<string, string>;
  readonly ports: VipServicePort[];
  /**
   * Extra client addresses (CIDRs) the pods must admit on these ports, for network plugins that keep the client's
   * own source address on external-IP traffic. The VIP nodes' addresses are always admitted: kube-proxy
   * masquerades external-IP traffic to the node's address when it forwards it.
   *
   * @default - none
   */
  readonly allowedSourceCidrs?: string[];
}

/**
 * A VRRP virtual IP held by one node of an inventory at a time: keepalived as a host-network DaemonSet with only
 * the capabilities it needs, every node BACKUP with nopreempt and unicast adverts, the holder chosen among the
 * nodes whose local proxy passes its check. The nodes' own addresses are never used for the VIP.
 */
export class KeepalivedVip extends Construct {
  /**
   * Kolla's keepalived image on Debian bookworm (keepalived 2.2.7, bash, curl), the 2025.1 (Epoxy) branch. A
   * branch tag that Kolla rebuilds with fixes: pin it by digest (`image@sha256:...`) in production.
   */
  public static readonly DEFAULT_IMAGE = 'quay.io/openstack.kolla/keepalived:2025.1-debian-bookworm';

  /** Every valid KeepalivedVip of an app (not one whose constructor threw), for the virtual router id check. */
  private static vipsOf(scope: Construct): KeepalivedVip[] {
    return scope.node.root.node.findAll().filter((c): c is KeepalivedVip => c instanceof KeepalivedVip && c.validated);
  }

  /** Base name of the objects. */
  public readonly name: string;
  /** The virtual IP. */
  public readonly address: string;
  public readonly prefixLength: number;
  public readonly interface: string;
  public readonly virtualRouterId: number;
  /** The nodes that may hold the VIP, in takeover order. */
  public readonly nodeNames: string[];
  /** The nodes' addresses, in the same order. */
  public readonly nodeAddresses: string[];
  /** The underlying DaemonSet (escape hatch: every construct of this library names its workload `workload`). */
  public readonly workload: k8s.KubeDaemonSet;

  private track: VipTrack | undefined;
  private validated = false;
  private readonly advertIntervalSeconds: number;
  private readonly subnet: string | undefined;
  /** Ports another construct listens on at the VIP (a fronting load balancer), by owner. */
  private readonly claimedPorts = new Map<number, string>();

  public constructor(scope: Construct, id: string, props: KeepalivedVipProps) {
    super(scope, id);
    const name = props.name ?? id;
    const nodes = props.placement.nodes ?? [];
    const family = isIpAddress(props.address) && props.address.includes(':') ? 6 : 4;
    const resources = resolveResources(props.resources, {
      cpuRequestMillis: 50, cpuLimitMillis: 200, memoryRequestMiB: 32, memoryLimitMiB: 64,
    });

    this.name = name;
    this.address = props.address;
    this.prefixLength = props.prefixLength ?? (family === 6 ? 128 : 32);
    this.interface = props.interface;
    this.virtualRouterId = props.virtualRouterId;
    this.advertIntervalSeconds = props.advertIntervalSeconds ?? DEFAULT_ADVERT_INTERVAL_SECONDS;
    this.subnet = props.prefixLength !== undefined ? `${props.address}/${props.prefixLength}` : undefined;
    this.nodeNames = nodes.map((n) => n.name);
    this.nodeAddresses = nodes.map((n) => n.ip);
    this.track = props.track;

    const v = new Validator(`KeepalivedVip '${id}'`);
    validateVipProps(v, props, { name, resources, image: props.image ?? KeepalivedVip.DEFAULT_IMAGE });
    const model = this.model();
    validateVipModel(v, model);
    // Virtual router ids are per segment: two VIPs of one app on the same interface of a node must differ.
    validateKeepalivedVipSet([...KeepalivedVip.vipsOf(scope).filter((x) => x !== this).map((x) => x.model()), model], v);
    v.throwIfInvalid();
    this.validated = true;
    registerAppChecks(this);

    const selector = selectorLabels(name, COMPONENT);
    const labels = standardLabels(name, COMPONENT);
    const configName = `${name}-config`;
    // Rendered at synth: the track may be set after construction by the load balancer that fronts this VIP.
    const files = () => renderKeepalivedConf(this.model(true));
    new k8s.KubeConfigMap(this, 'Config', {
      metadata: { name: configName, labels },
      data: Lazy.any({ produce: files }),
    });

    const pidAlive: k8s.Probe = {
      exec: { command: ['/bin/sh', '-c', `kill -0 "$(cat ${KEEPALIVED_RUN_DIR}/vrrp.pid)"`] },
    };
    const container: k8s.Container = {
      name: 'keepalived',
      image: props.image ?? KeepalivedVip.DEFAULT_IMAGE,
      imagePullPolicy: 'IfNotPresent',
      command: keepalivedCommand(),
      env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
      resources: toResourceRequirements(resources),
      // keepalived restarts a dead VRRP child itself; these probes catch a process that is gone or never started.
      readinessProbe: { ...pidAlive, initialDelaySeconds: 2, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
      livenessProbe: { ...pidAlive, initialDelaySeconds: 10, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
      volumeMounts: [
        { name: 'config', mountPath: KEEPALIVED_CONFIG_DIR, readOnly: true },
        { name: 'run', mountPath: KEEPALIVED_RUN_DIR },
      ],
      securityContext: rootContainerSecurityContext(KEEPALIVED_CAPABILITIES),
    };

    // One node at a time: a stopping keepalived sends priority 0, so the VIP moves in well under a second.
    this.workload = oneNodeAtATimeDaemonSet(this, 'Resource', {
      name,
      labels,
      selector,
      template: {
        metadata: {
          labels,
          annotations: {
            [CONFIG_HASH_ANNOTATION]: Lazy.any({ produce: () => configHash(files()) }),
            [CAPABILITIES_ANNOTATION]: describeGrants(KEEPALIVED_CAPABILITIES),
          },
        },
        spec: {
          ...basePodSpec({ hostNetwork: true }),
          priorityClassName: props.priorityClassName ?? 'system-node-critical',
          // On SIGTERM keepalived sends a priority-0 advert and removes the VIP: a backup takes over at once.
          terminationGracePeriodSeconds: 10,
          securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
          affinity: { nodeAffinity: props.placement._affinity(selector).nodeAffinity },
          tolerations: props.placement._tolerations(),
          containers: [container],
          volumes: [
            { name: 'config', configMap: { name: configName } },
            // PID files must not outlive the pod's processes (a stale one blocks the restart): memory only.
            { name: 'run', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('1Mi') } },
          ],
        },
      },
    });

    daemonSetBudget(this, 'Budget', { name, labels, selector, nodeCount: nodes.length });
  }

  /**
   * Makes the VIP follow `track` (used by the load balancer that fronts it). Throws if another track is set, or
   * if the track's check is invalid.
   */
  public trackWith(track: VipTrack, owner: string): void {
    const v = new Validator(`KeepalivedVip '${this.node.id}'`);
    v.check(this.track !== undefined && this.track !== track, 'track', owner,
      'cannot be set: this VIP already follows another check; a VIP follows one proxy (create one VIP per proxy)');
    this.track = track;
    const checks = new Validator('');
    validateKeepalivedVip(this.model(), checks);
    for (const e of checks.errors.filter((x) => x.startsWith('trackCheck'))) v.add(`track (from ${owner})`, track.port, e);
    v.throwIfInvalid();
  }

  /**
   * Records that `owner` listens on `ports` at this VIP (on the host network), so that `exposeService` refuses a
   * port that is already taken.
   */
  public claimPorts(owner: string, ports: number[]): void {
    for (const port of ports) this.claimedPorts.set(port, owner);
  }

  /**
   * Makes pod-network pods (e.g. ProxySQL) reachable on the VIP: a ClusterIP Service with the VIP as external IP,
   * so kube-proxy on whichever node holds the VIP forwards `VIP:port` to a ready pod, and a NetworkPolicy that
   * admits that forwarded traffic (its source is the holder's node address after kube-proxy's masquerade).
   *
   * Caveats: the cluster must allow `externalIPs` (the `DenyServiceExternalIPs` admission plugin, or a policy
   * engine, may refuse them); the VIP follows this VIP's track (e.g. HAProxy), not these pods, which is fine as
   * kube-proxy on any node reaches every ready pod; the pods' own NetworkPolicy still decides who else may connect.
   */
  public exposeService(options: VipServiceOptions): k8s.KubeService {
    const v = new Validator(`KeepalivedVip '${this.node.id}'.exposeService`);
    validateObjectName(v, 'name', options.name);
    v.check(Object.keys(options.podSelector).length === 0, 'podSelector', options.podSelector,
      'is empty, which would select every pod; pass the workload\'s pod selector, e.g. proxySql.podSelector');
    v.check(options.ports.length === 0, 'ports', [], 'is empty; list the ports to expose on the VIP');
    options.ports.forEach((p, i) => {
      validatePortName(v, `ports[${i}].name`, p.name);
      v.check(!isPort(p.port), `ports[${i}].port`, p.port, 'must be a port 1..65535');
      v.check(p.targetPort !== undefined && !isPort(p.targetPort), `ports[${i}].targetPort`, p.targetPort, 'must be a port 1..65535');
      const owner = this.claimedPorts.get(p.port);
      v.check(owner !== undefined, `ports[${i}].port`, p.port,
        `is already served on this VIP by ${owner} (host network, 0.0.0.0); use another port`);
    });
    for (const dup of duplicates(options.ports.map((p) => p.port))) v.add('ports', dup, 'is listed twice');
    for (const dup of duplicates(options.ports.map((p) => p.name))) v.add('ports[].name', dup, 'is used twice; name each port once');
    (options.allowedSourceCidrs ?? []).forEach((cidr, i) => v.check(!isCidr(cidr), `allowedSourceCidrs[${i}]`, cidr,
      'is not a CIDR; use e.g. "192.0.2.0/24"'));
    v.throwIfInvalid();

    const labels = standardLabels(options.name, COMPONENT);
    const id = `Expose-${options.name}`;
    const service = new k8s.KubeService(this, id, {
      metadata: { name: options.name, labels },
      spec: {
        type: 'ClusterIP',
        selector: { ...options.podSelector },
        externalIPs: [this.address],
        ports: options.ports.map((p) => ({
          name: p.name, port: p.port, targetPort: k8s.IntOrString.fromNumber(p.targetPort ?? p.port), protocol: 'TCP',
        })),
      },
    });
    new k8s.KubeNetworkPolicy(this, `${id}-NetworkPolicy`, {
      metadata: { name: options.name, labels },
      spec: {
        podSelector: { matchLabels: { ...options.podSelector } },
        policyTypes: ['Ingress'],
        ingress: [{
          from: [...this.nodeAddresses.map(hostCidr), ...(options.allowedSourceCidrs ?? [])].map((cidr) => ({ ipBlock: { cidr } })),
          ports: options.ports.map((p) => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(p.targetPort ?? p.port) })),
        }],
      },
    });
    return service;
  }

  /** The renderer's model; `requireTrack` at synth, when a missing track is an error. */
  private model(requireTrack = false): KeepalivedVipModel {
    if (requireTrack && !this.track) {
      throw new Error(`KeepalivedVip '${this.node.id}' has invalid props:\n- track: (not set) tells the VIP what to ` +
        'follow; pass `track` (VipTrack.tcp/http/proxy) or give this VIP to a HaproxyLoadBalancer as `vip`');
    }
    const priorities = spreadPriorities(this.nodeNames.length);
    return {
      name: this.name,
      address: this.address,
      prefixLength: this.prefixLength,
      interface: this.interface,
      virtualRouterId: this.virtualRouterId,
      advertIntervalSeconds: this.advertIntervalSeconds,
      nodes: this.nodeNames.map((name, i) => ({ name, address: this.nodeAddresses[i], priority: priorities[i] })),
      // Until a track is set, a placeholder that passes validation keeps the other checks meaningful.
      trackCheck: (this.track ?? VipTrack.tcp(1))._toCheck(),
      subnet: this.subnet,
    };
  }
}

function isCidr(text: string): boolean {
  const [address, bits, ...rest] = text.split('/');
  const max = address.includes(':') ? 128 : 32;
  return rest.length === 0 && isIpAddress(address) && /^\d{1,3}$/.test(bits ?? '') && Number(bits) <= max;
}
