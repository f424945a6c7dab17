import { Construct } from 'constructs';
import { k8s } from '../k8s';
import { Validator, isDns1123Label } from './validation';

/**
 * Pods allowed to reach a service, by labels (and optionally by their namespace's labels). Used to render
 * NetworkPolicy ingress rules: nothing else may connect.
 */
export interface ClientSelector {
  /** Labels the client pods carry. */
  readonly podLabels: Record<string, string>;
  /**
   * Labels of the namespaces the client pods live in.
   *
   * @default - the workload's own namespace only
   */
  readonly namespaceLabels?: Record<string, string>;
}

/** @internal */
export function validateClientSelectors(v: Validator, prop: string, clients: readonly ClientSelector[]): void {
  clients.forEach((c, i) => {
    v.check(Object.keys(c.podLabels).length === 0 && c.namespaceLabels === undefined, `${prop}[${i}].podLabels`, c.podLabels,
      'is empty, which would admit every pod; name the client pods\' labels, e.g. {"application": "keystone"}');
  });
}

/** @internal */
export function toNetworkPolicyPeer(client: ClientSelector): k8s.NetworkPolicyPeer {
  return {
    podSelector: { matchLabels: { ...client.podLabels } },
    ...(client.namespaceLabels ? { namespaceSelector: { matchLabels: { ...client.namespaceLabels } } } : {}),
  };
}

/** A Kubernetes object name that other objects' DNS names are built from. @internal */
export function validateObjectName(v: Validator, prop: string, name: string, maxLength = 52): void {
  v.check(!isDns1123Label(name) || name.length > maxLength, prop, name,
    `is not usable as an object name; use lower-case letters, digits and '-', at most ${maxLength} characters`);
}

/**
 * A NetworkPolicy that admits only `clients`, only on `ports` (TCP), to the pods `selector` picks; everything else
 * inbound is denied. @internal
 */
export function clientIngressPolicy(scope: Construct, id: string, options: {
  name: string;
  labels: Record<string, string>;
  selector: Record<string, string>;
  clients: readonly ClientSelector[];
  ports: readonly number[];
}): k8s.KubeNetworkPolicy {
  return new k8s.KubeNetworkPolicy(scope, id, {
    metadata: { name: options.name, labels: options.labels },
    spec: {
      podSelector: { matchLabels: options.selector },
      policyTypes: ['Ingress'],
      ingress: [{
        from: options.clients.map(toNetworkPolicyPeer),
        ports: options.ports.map((port) => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) })),
      }],
    },
  });
}
