import { Construct } from 'constructs';
import { k8s } from '../k8s';

interface BudgetOptions {
  name: string;
  namespace?: string;
  labels: Record<string, string>;
  selector: Record<string, string>;
}

/**
 * A PodDisruptionBudget (policy/v1; cdk8s-plus has no L2 for it). Exactly one of `minAvailable` and
 * `maxUnavailable`, always as an integer: a percentage re-bases during a drain and can leave a quorum short.
 * `maxUnavailable` only for pods of a controller with a scale subresource (Deployment, StatefulSet): the
 * disruption controller needs the controller's replica count for it (see `daemonSetBudget`).
 */
export function podDisruptionBudget(scope: Construct, id: string, options: BudgetOptions & {
  minAvailable?: number;
  maxUnavailable?: number;
}): k8s.KubePodDisruptionBudget {
  const budget = options.minAvailable !== undefined
    ? { minAvailable: k8s.IntOrString.fromNumber(options.minAvailable) }
    : { maxUnavailable: k8s.IntOrString.fromNumber(options.maxUnavailable ?? 1) };
  return new k8s.KubePodDisruptionBudget(scope, id, {
    metadata: { name: options.name, namespace: options.namespace, labels: options.labels },
    spec: { selector: { matchLabels: options.selector }, ...budget },
  });
}

/**
 * The budget of a DaemonSet's pods: one node at a time. A DaemonSet has no scale subresource, so the disruption
 * controller cannot compute `maxUnavailable` (or a percentage) for its pods: such a PDB goes `SyncFailed` with
 * `disruptionsAllowed: 0` and every eviction is refused for ever (Kubernetes' DisruptionController
 * getExpectedPodCount). An integer `minAvailable` is counted against the pods it selects, so it works:
 * `nodeCount - 1` keeps all but one pod up. When the node count is unknown (a label placement without `nodes`),
 * `minAvailable: 1` keeps at least one pod up and lets evictions through; pass the nodes for one at a time.
 */
export function daemonSetBudget(scope: Construct, id: string, options: BudgetOptions & {
  /** The nodes the DaemonSet runs on, when known. */
  nodeCount: number | undefined;
}): k8s.KubePodDisruptionBudget {
  const { nodeCount, ...rest } = options;
  return podDisruptionBudget(scope, id, { ...rest, minAvailable: nodeCount === undefined ? 1 : Math.max(nodeCount - 1, 0) });
}
