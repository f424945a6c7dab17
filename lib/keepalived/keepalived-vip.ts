import { Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { configHash } from '../common/config-hash';
import { oneNodeAtATimeDaemonSet } from '../common/daemon-set';
import { daemonSetBudget } from '../common/disruption';
import { CAPABILITIES_ANNOTATION, CONFIG_HASH_ANNOTATION, selectorLabels, standardLabels } from '../common/labels';
import { hostCidr } from '../common/network';
import { resolveResources } from '../common/resources';
import { describeGrants } from '../common/security';
import { registerAppChecks } from '../common/app-checks';
import { Validator, isIpAddress } from '../common/validation';
import { basePodSpec } from '../common/pod';
import { k8s } from '../k8s';
import { DEFAULT_ADVERT_INTERVAL_SECONDS, KEEPALIVED_CAPABILITIES, KeepalivedVipModel, spreadPriorities } from './model';
import { keepalivedRollingConf, renderKeepalivedConf } from './render';
import { keepalivedCommand } from './start';
import { keepalivedContainer, keepalivedVolumes, vrrpStateExporterContainer } from './pod';
import { KeepalivedVipProps, VipServiceOptions, VipTrack } from './props';
import { validateKeepalivedVip, validateKeepalivedVipSet, validateVipModel, validateVipProps, validateVipServiceOptions } from './validation';

const COMPONENT = 'keepalived';

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
  /** The labels that select the VIP's keepalived pods. */
  public readonly podSelector: Record<string, string>;
  /** A sidecar serves the VRRP state (`keepalived_vrrp_master`, `keepalived_vrrp_fault`) on port 9650 (`metrics`). */
  public readonly metricsExporter: boolean;

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
    this.metricsExporter = props.metricsExporter ?? false;

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
    this.podSelector = selector;
    const labels = standardLabels(name, COMPONENT);
    const configName = `${name}-config`;
    // Rendered at synth: the track may be set after construction by the load balancer that fronts this VIP.
    const files = () => renderKeepalivedConf(this.model(true));
    new k8s.KubeConfigMap(this, 'Config', {
      metadata: { name: configName, labels },
      data: Lazy.any({ produce: files }),
    });

    // One node at a time: a stopping keepalived sends priority 0, so the VIP moves in well under a second.
    this.workload = oneNodeAtATimeDaemonSet(this, 'Resource', {
      name,
      labels,
      selector,
      template: {
        metadata: {
          labels,
          annotations: {
            // Not the node lists: keepalived reloads a changed node file live (start.ts), so an inventory change rolls no pod.
            [CONFIG_HASH_ANNOTATION]: Lazy.any({ produce: () => configHash({ conf: keepalivedRollingConf(this.model(true)) }) }),
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
          containers: [
            // The start script knows the VIP (fixed at construction), not the track nor the nodes (it reads its node's file).
            keepalivedContainer(props.image ?? KeepalivedVip.DEFAULT_IMAGE, resources, keepalivedCommand(model)),
            ...(this.metricsExporter ? [vrrpStateExporterContainer()] : []),
          ],
          volumes: keepalivedVolumes(configName),
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
    validateVipServiceOptions(v, options, this.claimedPorts);
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
      stateMetrics: this.metricsExporter,
    };
  }
}
