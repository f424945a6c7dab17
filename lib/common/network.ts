import { Construct } from 'constructs';
import { k8s } from '../k8s';
import { validateLabels } from './k8s-rules';
import { Validator, isDns1123Label, isIpAddress, isIpv6 } from './validation';

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
  /**
   * Addresses of the nodes the client pods run on, when they use the host network (HAProxy, keepalived). Most
   * network plugins cannot tell a host-network pod from its node, so a pod selector does not match its traffic
   * (Kubernetes leaves this undefined); each address is admitted as an `ipBlock` of that one address as well.
   *
   * @default - none: only pods matched by the selectors
   */
  readonly nodeAddresses?: string[];
}

/** @internal */
export function validateClientSelectors(v: Validator, prop: string, clients: readonly ClientSelector[]): void {
  clients.forEach((c, i) => {
    v.check(Object.keys(c.podLabels).length === 0 && c.namespaceLabels === undefined, `${prop}[${i}].podLabels`, c.podLabels,
      'is empty, which would admit every pod; name the client pods\' labels, e.g. {"application": "keystone"}');
    // They become a NetworkPolicy's selectors: a key or value Kubernetes refuses would fail the apply.
    validateLabels(v, `${prop}[${i}].podLabels`, c.podLabels);
    validateLabels(v, `${prop}[${i}].namespaceLabels`, c.namespaceLabels);
    (c.nodeAddresses ?? []).forEach((address, j) => v.check(!isIpAddress(address), `${prop}[${i}].nodeAddresses[${j}]`,
      address, 'is not an IP address; use the node\'s internal IPv4 or IPv6 address, e.g. "10.0.0.11"'));
  });
}

/** The NetworkPolicy peers of a client: its pods, and each of its host-network nodes as a one-address block. @internal */
export function toNetworkPolicyPeers(client: ClientSelector): k8s.NetworkPolicyPeer[] {
  return [
    {
      podSelector: { matchLabels: { ...client.podLabels } },
      ...(client.namespaceLabels ? { namespaceSelector: { matchLabels: { ...client.namespaceLabels } } } : {}),
    },
    ...(client.nodeAddresses ?? []).map((address) => ({ ipBlock: { cidr: hostCidr(address) } })),
  ];
}

/** One address as a CIDR: `/32` for IPv4, `/128` for IPv6. @internal */
/**
 * The DNS name of a Service (`<service>.<namespace>.svc`), or of a pod behind a headless Service
 * (`<pod>.<service>.<namespace>.svc`); the bare name in a chart without a namespace (it then resolves in the
 * namespace the objects are applied to). The one place such names are built.
 */
export function serviceDnsName(service: string, namespace: string | undefined, pod?: string): string {
  const serviceName = namespace ? `${service}.${namespace}.svc` : service;
  return pod === undefined ? serviceName : `${pod}.${serviceName}`;
}

export function hostCidr(address: string): string {
  return `${address}/${isIpv6(address) ? 128 : 32}`;
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
        from: options.clients.flatMap(toNetworkPolicyPeers),
        ports: options.ports.map((port) => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) })),
      }],
    },
  });
}
