import { k8s } from '../k8s';

/**
 * The pod fields every workload of this library shares. No service account token: nothing here talks to the
 * Kubernetes API (Galera recovery included). No service-link env vars: they leak every Service of the namespace into
 * the daemons' environment. On the host network, `ClusterFirstWithHostNet` keeps cluster DNS for Service names
 * (HAProxy backends, peers), which the node's resolv.conf would not resolve.
 */
export function basePodSpec(options: { hostNetwork?: boolean } = {}): Partial<k8s.PodSpec> {
  return {
    ...(options.hostNetwork ? { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' } : {}),
    automountServiceAccountToken: false,
    enableServiceLinks: false,
  };
}
