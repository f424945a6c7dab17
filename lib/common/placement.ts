import { k8s } from '../k8s';
import { isLabelValue, isQualifiedName } from './k8s-rules';
import { Validator, duplicates, isDns1123Subdomain, isIpAddress } from './validation';

/** A Kubernetes node of the inventory: where a workload may run, and the address host-network peers use. */
export interface InventoryNode {
  /** The node's name as Kubernetes knows it (`metadata.name`). */
  readonly name: string;
  /** The node's internal IPv4 or IPv6 address (what `status.hostIP` reports for pods on it). */
  readonly ip: string;
}

/** A node label, `key=value`, that selects nodes. */
export interface NodeLabel {
  /** The label key, an optional DNS prefix and a name, e.g. `openstack-ha.cdk8s.io/edge`. */
  readonly key: string;
  /** The label value, e.g. `true`. */
  readonly value: string;
}

/** Options common to every placement. */
export interface PlacementOptions {
  /**
   * Tolerate the `node-role.kubernetes.io/control-plane:NoSchedule` taint, for clusters whose Kubernetes
   * control-plane nodes are also the OpenStack controllers.
   *
   * @default false
   */
  readonly tolerateControlPlane?: boolean;
}

/** Options for a placement on labelled nodes. */
export interface LabelPlacementOptions extends PlacementOptions {
  /**
   * The nodes expected to carry the label. Host-network workloads need it to render their peer lists, and it
   * lets synth check that there are enough eligible nodes for the replicas.
   *
   * @default - unknown: peer lists cannot be rendered and the node count is not checked
   */
  readonly nodes?: InventoryNode[];
}

const CONTROL_PLANE_TAINT = 'node-role.kubernetes.io/control-plane';
const HOSTNAME_TOPOLOGY = 'kubernetes.io/hostname';

/**
 * Which nodes a workload runs on: an explicit inventory of nodes, or the nodes that carry a label. Replicated
 * workloads always get required anti-affinity, one pod per node, so that losing a node loses one member.
 */
export class Placement {
  /** Run on exactly these nodes, selected by node name. */
  public static onNodes(nodes: InventoryNode[], options: PlacementOptions = {}): Placement {
    return new Placement([...nodes], undefined, undefined, options.tolerateControlPlane ?? false);
  }

  /** Run on the nodes labelled `key=value`. */
  public static onLabelledNodes(key: string, value: string, options: LabelPlacementOptions = {}): Placement {
    const nodes = options.nodes ? [...options.nodes] : undefined;
    return new Placement(nodes, key, value, options.tolerateControlPlane ?? false);
  }

  private constructor(
    /** The inventory, when known. */
    public readonly nodes: InventoryNode[] | undefined,
    /** The node label key, for a label placement. */
    public readonly labelKey: string | undefined,
    /** The node label value, for a label placement. */
    public readonly labelValue: string | undefined,
    /** Whether the control-plane taint is tolerated. */
    public readonly tolerateControlPlane: boolean,
  ) {}

  /** How many nodes can host a pod, when known. */
  public get eligibleNodeCount(): number | undefined {
    return this.nodes?.length;
  }

  /**
   * Records every problem with this placement. With `replicas`, also checks that one-per-node anti-affinity
   * leaves room for them.
   *
   * @internal
   */
  public _validate(v: Validator, prop: string, replicas?: number): void {
    if (this.labelKey !== undefined) {
      v.check(!isQualifiedName(this.labelKey), `${prop} label key`, this.labelKey,
        'is not a valid label key; use an optional DNS prefix and a name, e.g. "openstack-control-plane"');
      v.check(!isLabelValue(this.labelValue ?? ''), `${prop} label value`,
        this.labelValue, 'is not a valid label value; use at most 63 letters, digits, "-", "_" or "."');
    }
    if (this.nodes === undefined) return;
    if (this.nodes.length === 0) {
      v.add(`${prop} nodes`, [], 'is empty; list the nodes the workload runs on');
      return;
    }
    validateInventory(v, `${prop} nodes`, this.nodes);
    if (replicas !== undefined && replicas > this.nodes.length) {
      v.add(`${prop} nodes`, this.nodes.map((n) => n.name),
        `are ${this.nodes.length} nodes, but ${replicas} replicas need ${replicas} (one per node); add nodes or lower the replicas`);
    }
  }

  /**
   * Required node affinity to the eligible nodes, and required anti-affinity between the pods that `podLabels`
   * selects, so that no two land on one node.
   *
   * @internal
   */
  public _affinity(podLabels: Record<string, string>): k8s.Affinity {
    return {
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: this._nodeSelectorTerms() } },
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { labelSelector: { matchLabels: { ...podLabels } }, topologyKey: HOSTNAME_TOPOLOGY },
        ],
      },
    };
  }

  /**
   * The node selector terms of the eligible nodes (terms are ORed). An inventory is matched on the node's
   * `metadata.name` field, which is exact, rather than on the hostname label, which some installers set to a
   * different (short) name. One term per node: the API server allows exactly one value in a node *field*
   * requirement (`metadata.name In [a, b]` is refused, Kubernetes' validateNodeFieldSelectorRequirement).
   *
   * @internal
   */
  public _nodeSelectorTerms(): k8s.NodeSelectorTerm[] {
    if (this.labelKey !== undefined) {
      return [{ matchExpressions: [{ key: this.labelKey, operator: 'In', values: [this.labelValue ?? ''] }] }];
    }
    return (this.nodes ?? []).map((n) => ({ matchFields: [{ key: 'metadata.name', operator: 'In', values: [n.name] }] }));
  }

  /** @internal */
  public _tolerations(): k8s.Toleration[] | undefined {
    if (!this.tolerateControlPlane) return undefined;
    return [{ key: CONTROL_PLANE_TAINT, operator: 'Exists', effect: 'NoSchedule' }];
  }
}

/**
 * Records every problem of an inventory: node names, addresses, a node or an address listed twice. The one home
 * of these rules: placements check their nodes with it, and families add only what their daemon needs on top.
 */
export function validateInventory(v: Validator, prop: string, nodes: readonly InventoryNode[]): void {
  nodes.forEach((node, i) => {
    v.check(!isDns1123Subdomain(node?.name ?? ''), `${prop}[${i}].name`, node?.name,
      'is not a valid node name; use the node\'s metadata.name (lower-case DNS-1123, e.g. "ctl-1")');
    v.check(!isIpAddress(node?.ip ?? ''), `${prop}[${i}].ip`, node?.ip,
      'is not an IP address; use the node\'s internal IPv4 or IPv6 address, e.g. "10.0.0.11"');
  });
  for (const name of duplicates(nodes.map((n) => n?.name))) {
    v.add(prop, name, 'is listed more than once; list each node once');
  }
  for (const ip of duplicates(nodes.map((n) => n?.ip))) {
    v.add(prop, ip, 'is the IP of more than one node; each node needs its own address');
  }
}
