import { Construct } from 'constructs';
import { k8s } from '../k8s';

/**
 * A PodDisruptionBudget (policy/v1; cdk8s-plus has no L2 for it). Exactly one of `minAvailable` and
 * `maxUnavailable`, always as an integer: a percentage re-bases during a drain and can leave a quorum short.
 */
export function podDisruptionBudget(scope: Construct, id: string, options: {
  name: string;
  namespace?: string;
  labels: Record<string, string>;
  selector: Record<string, string>;
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
