/**
 * The scheduler's rules that decide where a pod may go, as the checks need them: does a node match a pod's
 * required node selection, and which of a node's taints does a pod not tolerate.
 */
import { Workload } from './manifests';
import { Node, NodeSelector, NodeSelectorRequirement, PodSpec, Taint, Toleration } from './types';

/** What a selector sees of a node: its name (for matchFields) and its labels. */
export interface NodeView {
  readonly name: string;
  readonly labels: Record<string, string>;
}

export function viewOf(node: Node): NodeView {
  return { name: node.metadata.name, labels: node.metadata.labels ?? {} };
}

function matchesRequirement(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In': return value !== undefined && values.includes(value);
    case 'NotIn': return value === undefined || !values.includes(value);
    case 'Exists': return value !== undefined;
    case 'DoesNotExist': return value === undefined;
    case 'Gt': return value !== undefined && Number.parseInt(value, 10) > Number.parseInt(values[0], 10);
    case 'Lt': return value !== undefined && Number.parseInt(value, 10) < Number.parseInt(values[0], 10);
    default: return false;
  }
}

/** Terms are ORed; the requirements of a term are ANDed; a term with no requirement matches nothing. */
export function matchesNodeSelector(selector: NodeSelector, node: NodeView): boolean {
  return selector.nodeSelectorTerms.some((term) => {
    const expressions = term.matchExpressions ?? [];
    const fields = term.matchFields ?? [];
    if (expressions.length + fields.length === 0) return false;
    return expressions.every((r) => matchesRequirement(r, node.labels[r.key]))
      && fields.every((r) => matchesRequirement(r, r.key === 'metadata.name' ? node.name : undefined));
  });
}

/** Whether a pod restricts its nodes at all (nodeSelector or required node affinity). */
export function hasNodeSelection(pod: PodSpec): boolean {
  return Object.keys(pod.nodeSelector ?? {}).length > 0 || pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution !== undefined;
}

export function podMatchesNode(pod: PodSpec, node: NodeView): boolean {
  const bySelector = Object.entries(pod.nodeSelector ?? {}).every(([k, v]) => node.labels[k] === v);
  const required = pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  return bySelector && (required === undefined || matchesNodeSelector(required, node));
}

/**
 * Human-readable form of a node selector, for messages: `a In x,y and b Exists or ...`. Terms of one `key In value`
 * requirement each (one term per node name: a field requirement takes one value) read as one `key In x,y,z`.
 */
export function describeNodeSelector(selector: NodeSelector): string {
  const requirements = selector.nodeSelectorTerms.map((t) => [...(t.matchExpressions ?? []), ...(t.matchFields ?? [])]);
  const [first] = requirements;
  if (requirements.length > 1 && requirements.every((rs) => rs.length === 1 && rs[0].operator === 'In' && rs[0].key === first[0].key)) {
    return `${first[0].key} In ${requirements.flatMap((rs) => rs[0].values ?? []).join(',')}`;
  }
  return requirements.map((rs) => rs.map((r) => `${r.key} ${r.operator}${r.values ? ` ${r.values.join(',')}` : ''}`).join(' and ')).join(' or ');
}

/** Human-readable form of a pod's node selection, for messages. */
export function describeNodeSelection(pod: PodSpec): string {
  const parts = Object.entries(pod.nodeSelector ?? {}).map(([k, v]) => `${k}=${v}`);
  const required = pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required) parts.push(describeNodeSelector(required));
  return parts.join('; ');
}

/**
 * The tolerations the control plane adds to every pod of a kind (DefaultTolerationSeconds admission for all pods;
 * the DaemonSet controller for DaemonSet pods), so that a cordoned or pressured node is not reported as a taint
 * the manifests forgot.
 */
function implicitTolerations(w: Workload): Toleration[] {
  const all: Toleration[] = [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  ];
  if (w.kind !== 'DaemonSet') return all;
  const daemon = ['disk-pressure', 'memory-pressure', 'pid-pressure', 'unschedulable']
    .map((t): Toleration => ({ key: `node.kubernetes.io/${t}`, operator: 'Exists', effect: 'NoSchedule' }));
  if (w.pod.hostNetwork) daemon.push({ key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' });
  return [...all, ...daemon];
}

function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.operator === 'Exists') return !t.key || t.key === taint.key;
  return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
}

/** The taints of `node` that keep the workload's pods off it (NoSchedule, NoExecute) and that it does not tolerate. */
export function untoleratedTaints(w: Workload, node: Node): Taint[] {
  const tolerations = [...(w.pod.tolerations ?? []), ...implicitTolerations(w)];
  return (node.spec?.taints ?? [])
    .filter((taint) => taint.effect === 'NoSchedule' || taint.effect === 'NoExecute')
    .filter((taint) => !tolerations.some((t) => tolerates(t, taint)));
}

export function describeTaint(t: Taint): string {
  return `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;
}

/** Whether pods of the workload must land on distinct nodes (required anti-affinity on the hostname). */
export function onePerNode(pod: PodSpec): boolean {
  return (pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [])
    .some((t) => t.topologyKey === 'kubernetes.io/hostname');
}
