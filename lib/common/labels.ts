/** The recommended Kubernetes labels (app.kubernetes.io/*) every object of this library carries. */
export const PART_OF = 'openstack-ha';

/** Annotation holding the hash of every rendered config a pod template mounts: a config change rolls the pods. */
export const CONFIG_HASH_ANNOTATION = 'openstack-ha.cdk8s.io/config-hash';

/** Label on a member's own objects (a Galera member's local PersistentVolume): the member's pod name. */
export const MEMBER_LABEL = 'openstack-ha.cdk8s.io/member';

/** Annotation on pod templates listing the Linux capabilities a container adds and why, for reviewers. */
export const CAPABILITIES_ANNOTATION = 'openstack-ha.cdk8s.io/capabilities';

/**
 * Labels that identify one workload's pods: stable (never hashed construct paths), so that selectors, PDBs,
 * NetworkPolicies and anti-affinity of other constructs can refer to them.
 */
export function selectorLabels(name: string, component: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': component,
    'app.kubernetes.io/instance': name,
  };
}

/** Selector labels plus the informational ones. */
export function standardLabels(name: string, component: string): Record<string, string> {
  return {
    ...selectorLabels(name, component),
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': PART_OF,
    'app.kubernetes.io/managed-by': 'cdk8s',
  };
}
