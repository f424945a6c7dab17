/**
 * KeepalivedVip's props and the track it follows: what the user writes. Resolved into the renderer's model by the
 * construct; checked by validation.ts.
 */
import { Placement } from '../common/placement';
import { ContainerResources } from '../common/resources';
import { VrrpTrackCheck } from './model';

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
   * An image with keepalived 2.2.x, `/bin/bash`, `/usr/bin/curl`, `/bin/sh` and `ip` (iproute2, a dependency of
   * Debian's keepalived; without it the start script cannot look for a holder and starts keepalived at once).
   *
   * @default KeepalivedVip.DEFAULT_IMAGE
   */
  readonly image?: string;
  /**
   * Publish the VRRP state for Prometheus: keepalived's `notify` writes `keepalived_vrrp_master` and
   * `keepalived_vrrp_fault` (0 or 1) into a text file on every transition, and a node-exporter sidecar (stock
   * image, textfile collector only) serves it on the node address, port 9650. `OpenStackControlPlane`'s
   * `monitoring` prop turns this on.
   *
   * @default false
   */
  readonly metricsExporter?: boolean;
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
