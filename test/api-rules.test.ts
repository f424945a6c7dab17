/**
 * The API-rules check (plugins/k8s-api-rules): every rule refuses an object that breaks it, with the meaning of
 * the Kubernetes message and the fix, and accepts the example control plane. Each case breaks one thing in an
 * otherwise valid example; a final test proves that every rule has a case, so none is untested.
 */
import { EXAMPLES } from '../examples';
import { K8sObject, newApp, synthApp } from './support/harness';

import * as rules from '../plugins/k8s-api-rules';

function controlPlane(): K8sObject[] {
  const app = newApp();
  EXAMPLES['control-plane'](app);
  return synthApp(app);
}
const get = (objects: K8sObject[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;
const pod = (objects: K8sObject[], kind: string, name: string) => get(objects, kind, name).spec.template.spec;
const first = (objects: K8sObject[], kind: string, name: string) => pod(objects, kind, name).containers[0];

test('the example control plane meets every rule', () => {
  expect(rules.apiRuleProblems(controlPlane(), { requireNamespace: true })).toEqual([]);
});

/** [case, rule id, what to break, the message it must give (Kubernetes' meaning, then the fix)] */
const CASES: [string, string, (o: K8sObject[]) => void, RegExp][] = [
  // metadata
  ['a Service name that is not a DNS-1035 label', 'object-name', (o) => { get(o, 'Service', 'galera').metadata.name = '1galera'; }, /DNS-1035 label .*start with a letter.*rename it/],
  ['a Namespace name that is not a DNS-1123 label', 'object-name', (o) => { get(o, 'Namespace', 'openstack').metadata.name = 'open.stack'; }, /RFC 1123 label.*rename the namespace/],
  ['an object name with upper case', 'object-name', (o) => { get(o, 'ConfigMap', 'galera-config').metadata.name = 'Galera'; }, /RFC 1123 subdomain.*rename it/],
  ['a cluster-scoped object with a namespace', 'namespace-scope', (o) => { get(o, 'Namespace', 'openstack').metadata.namespace = 'openstack'; }, /cluster-scoped, but has namespace "openstack".*remove metadata.namespace/],
  ['a namespaced object without a namespace', 'namespace-scope', (o) => { delete get(o, 'ConfigMap', 'galera-config').metadata.namespace; }, /names no namespace.*give the chart a namespace/],
  ['a label value longer than 63 characters', 'labels', (o) => { get(o, 'ConfigMap', 'galera-config').metadata.labels.x = 'a'.repeat(64); }, /valid label value .*at most 63.*shorten/],
  ['a label key with two slashes', 'labels', (o) => { pod(o, 'StatefulSet', 'galera'); get(o, 'StatefulSet', 'galera').spec.template.metadata.labels['a/b/c'] = 'x'; }, /label key must be a qualified name/],
  ['an annotation key that is not a qualified name', 'annotations', (o) => { get(o, 'Deployment', 'proxysql').spec.template.metadata.annotations['bad key'] = 'x'; }, /annotation key must be a qualified name/],
  // scheduling
  ['several node names in one field requirement (issue 11)', 'node-affinity', (o) => {
    pod(o, 'DaemonSet', 'memcached').affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms = [
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['ctl-1', 'ctl-2', 'ctl-3'] }] }];
  }, /must be only one value when `operator` is 'In' or 'NotIn' for node field selector; use one node selector term per node/],
  ['a node field other than metadata.name', 'node-affinity', (o) => {
    pod(o, 'DaemonSet', 'memcached').affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key = 'metadata.labels';
  }, /not a valid field selector key; the only node field is metadata.name/],
  ['no node selector term', 'node-affinity', (o) => { pod(o, 'DaemonSet', 'api-lb').affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms = []; }, /must have at least one node selector term/],
  ['Gt with two values in a local volume\'s node affinity', 'node-affinity', (o) => {
    get(o, 'PersistentVolume', 'openstack-galera-data-0').spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0] = { key: 'rank', operator: 'Gt', values: ['1', '2'] };
  }, /single value when `operator` is 'Lt' or 'Gt'/],
  ['an anti-affinity term without a topology key', 'pod-affinity', (o) => { delete pod(o, 'StatefulSet', 'galera').affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey; }, /topologyKey: Required value.*kubernetes.io\/hostname/],
  ['an anti-affinity selector with In and no values', 'pod-affinity', (o) => {
    pod(o, 'StatefulSet', 'galera').affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions = [{ key: 'a', operator: 'In' }];
  }, /must be specified when `operator` is 'In' or 'NotIn'; list the values/],
  ['a toleration with Exists and a value', 'tolerations', (o) => { pod(o, 'DaemonSet', 'api-vip').tolerations = [{ key: 'k', operator: 'Exists', value: 'v' }]; }, /value must be empty when `operator` is 'Exists'/],
  // containers
  ['two containers with one name', 'container-names', (o) => { const p = pod(o, 'Deployment', 'proxysql'); p.containers[1].name = p.containers[0].name; }, /Duplicate value: "proxysql".*unique across init and app containers/],
  ['a container name with upper case', 'container-names', (o) => { first(o, 'DaemonSet', 'rabbitmq').name = 'RabbitMQ'; }, /container name must be a DNS-1123 label/],
  ['a port name longer than 15 characters', 'container-ports', (o) => { first(o, 'Deployment', 'proxysql').ports[0].name = 'read-write-mysql-port'; }, /at most 15 characters.*shorten it/],
  ['a port name without a letter', 'container-ports', (o) => { first(o, 'Deployment', 'proxysql').ports[0].name = '3306'; }, /IANA_SVC_NAME.*at least one letter/],
  ['two ports of one container with one name', 'container-ports', (o) => { const c = first(o, 'Deployment', 'proxysql'); c.ports[1].name = c.ports[0].name; }, /Duplicate value: "rw": port names are unique/],
  ['a host port other than the container port on the host network', 'container-ports', (o) => { first(o, 'DaemonSet', 'memcached').ports[0].hostPort = 11212; }, /must match `containerPort` when `hostNetwork` is true/],
  ['an image with a space', 'image-reference', (o) => { first(o, 'DaemonSet', 'memcached').image = 'memcached 1.6'; }, /"memcached 1.6": not a valid image reference/],
  ['an image with an upper-case repository', 'image-reference', (o) => { first(o, 'DaemonSet', 'memcached').image = 'docker.io/library/Memcached:1.6'; }, /not a valid image reference.*lower-case repository/],
  ['a short sha256 digest', 'image-reference', (o) => { first(o, 'DaemonSet', 'memcached').image = 'memcached@sha256:abc'; }, /not a valid image reference/],
  ['a priority class name with upper case', 'priority-class-name', (o) => { pod(o, 'DaemonSet', 'api-vip').priorityClassName = 'System-Node-Critical'; }, /priority class name must be a DNS-1123 subdomain/],
  ['a quantity with both an exponent and a suffix', 'resources', (o) => { first(o, 'DaemonSet', 'memcached').resources.limits.memory = '1e+300Mi'; }, /"1e\+300Mi": quantities must match/],
  ['an env var name with a space', 'env', (o) => { first(o, 'StatefulSet', 'galera').env.push({ name: 'MY VAR', value: 'x' }); }, /valid environment variable name.*rename it/],
  ['an env var with two valueFrom sources', 'env', (o) => {
    first(o, 'StatefulSet', 'galera').env.push({ name: 'X', valueFrom: { fieldRef: { fieldPath: 'metadata.name' }, secretKeyRef: { name: 's', key: 'k' } } });
  }, /may not have more than one field specified at a time; keep one source/],
  ['a probe with two handlers', 'probes', (o) => { first(o, 'DaemonSet', 'memcached').livenessProbe.exec = { command: ['true'] }; }, /may not specify more than 1 handler type.*keep one/],
  ['a probe without a handler', 'probes', (o) => { delete first(o, 'DaemonSet', 'memcached').readinessProbe.tcpSocket; }, /must specify a handler type/],
  ['a liveness probe with successThreshold 2', 'probes', (o) => { first(o, 'DaemonSet', 'memcached').livenessProbe.successThreshold = 2; }, /must be 1 .*set successThreshold: 1/],
  ['a readiness probe on an init container', 'probes', (o) => {
    const p = pod(o, 'StatefulSet', 'galera');
    (p.initContainers ??= []).push({ name: 'wait', image: 'busybox', readinessProbe: { exec: { command: ['true'] } } });
  }, /may not be set for init containers without restartPolicy=Always/],
  ['privileged with allowPrivilegeEscalation false', 'security-context', (o) => { first(o, 'DaemonSet', 'api-vip').securityContext.privileged = true; }, /cannot set `allowPrivilegeEscalation` to false and `privileged` to true/],
  ['a negative runAsUser', 'security-context', (o) => { first(o, 'StatefulSet', 'galera').securityContext.runAsUser = -1; }, /must be between 0 and 2147483647/],
  ['seccomp Localhost without a profile', 'security-context', (o) => { first(o, 'StatefulSet', 'galera').securityContext.seccompProfile = { type: 'Localhost' }; }, /must be set when seccomp type is Localhost/],
  ['runAsNonRoot with runAsUser 0', 'run-as-non-root', (o) => { first(o, 'DaemonSet', 'api-vip').securityContext.runAsNonRoot = true; }, /breaks non-root policy.*run as a non-zero UID/],
  ['a capability with the CAP_ prefix', 'capabilities', (o) => { first(o, 'DaemonSet', 'api-vip').securityContext.capabilities.add[0] = 'CAP_NET_ADMIN'; }, /without the CAP_ prefix.*use "NET_ADMIN"/],
  ['a capability that does not exist', 'capabilities', (o) => { first(o, 'DaemonSet', 'api-vip').securityContext.capabilities.add[0] = 'NET_ADMINS'; }, /not a Linux capability/],
  ['a request above the limit', 'resources', (o) => { first(o, 'DaemonSet', 'memcached').resources.requests.memory = '4Gi'; }, /must be less than or equal to memory limit.*raise the limit/],
  ['a quantity that does not parse', 'resources', (o) => { first(o, 'DaemonSet', 'memcached').resources.limits.cpu = 'two'; }, /quantities must match the regular expression/],
  // volumes
  ['a volume with two sources', 'volumes', (o) => { pod(o, 'Deployment', 'proxysql').volumes[0].emptyDir = {}; }, /may not specify more than 1 volume type.*one volume per source/],
  ['a volume without a source', 'volumes', (o) => { pod(o, 'Deployment', 'proxysql').volumes.push({ name: 'nothing' }); }, /must specify a volume type/],
  ['two volumes with one name', 'volumes', (o) => { const v = pod(o, 'Deployment', 'proxysql').volumes; v.push({ ...v[0] }); }, /Duplicate value.*volume names are unique/],
  ['a hostPath type that does not exist', 'volumes', (o) => { pod(o, 'DaemonSet', 'rabbitmq').volumes.push({ name: 'h', hostPath: { path: '/x', type: 'Dir' } }); }, /hostPath.type: Unsupported value: "Dir"/],
  ['a mount of a volume that does not exist', 'volumes', (o) => { first(o, 'Deployment', 'proxysql').volumeMounts.push({ name: 'ghost', mountPath: '/ghost' }); }, /Not found: "ghost".*add the volume/],
  ['two mounts on one path', 'volumes', (o) => { const m = first(o, 'Deployment', 'proxysql').volumeMounts; m.push({ ...m[0], name: m[1].name }); }, /must be unique; mount one volume per path/],
  ['two projected sources writing one path', 'volumes', (o) => {
    pod(o, 'Deployment', 'proxysql').volumes.push({ name: 'tls', projected: { sources: [
      { configMap: { name: 'ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }, { secret: { name: 'cert', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }] } });
  }, /projected.sources\[1\].secret.items\[0\].path: Invalid value: "ca.crt": conflicting duplicate paths/],
  ['a key only root may read, mounted into a non-root container', 'file-readable', (o) => {
    pod(o, 'Deployment', 'proxysql').volumes.push({ name: 'key', secret: { secretName: 'k', items: [{ key: 'tls.key', path: 'tls.key', mode: 0o400 }] } });
    first(o, 'Deployment', 'proxysql').volumeMounts.push({ name: 'key', mountPath: '/etc/key', readOnly: true });
  }, /secret k key tls.key in volume "key" is unreadable by uid \d+: mode 0400 lets only root read it; set the pod's fsGroup/],
  ['a group-readable key without an fsGroup', 'file-readable', (o) => {
    const p = pod(o, 'Deployment', 'proxysql');
    delete p.securityContext.fsGroup;
    p.volumes.push({ name: 'key', projected: { defaultMode: 0o440, sources: [{ secret: { name: 'k' } }] } });
    first(o, 'Deployment', 'proxysql').volumeMounts.push({ name: 'key', mountPath: '/etc/key', readOnly: true });
  }, /secret k key \(every key\) .* mode 0440 lets root and the file's group read it, and without securityContext.fsGroup that group is root/],
  ['a defaultMode above 0777', 'volumes', (o) => { pod(o, 'Deployment', 'proxysql').volumes.push({ name: 'c', configMap: { name: 'x', defaultMode: 0o1000 } }); }, /between 0 and 0777/],
  // workloads
  ['a selector that misses the template labels', 'workload-selector', (o) => { get(o, 'Deployment', 'proxysql').spec.selector.matchLabels.extra = 'x'; }, /`selector` does not match template `labels`.*give the template every label/],
  ['an empty selector', 'workload-selector', (o) => { get(o, 'DaemonSet', 'api-lb').spec.selector = {}; }, /empty selector is invalid for daemonset/],
  ['restartPolicy OnFailure in a StatefulSet', 'restart-policy', (o) => { pod(o, 'StatefulSet', 'galera').restartPolicy = 'OnFailure'; }, /supported values: "Always"/],
  ['a Recreate Deployment with rollingUpdate', 'deployment', (o) => { get(o, 'Deployment', 'proxysql').spec.strategy.type = 'Recreate'; }, /may not be specified when strategy `type` is 'Recreate'/],
  ['a Deployment with maxSurge 0 and maxUnavailable 0', 'deployment', (o) => { get(o, 'Deployment', 'proxysql').spec.strategy.rollingUpdate.maxUnavailable = 0; }, /may not be 0 when `maxSurge` is 0/],
  ['a percentage above 100%', 'deployment', (o) => { get(o, 'Deployment', 'proxysql').spec.strategy.rollingUpdate.maxUnavailable = '150%'; }, /must not be greater than 100%/],
  ['a DaemonSet with an unknown update strategy', 'daemonset', (o) => { get(o, 'DaemonSet', 'memcached').spec.updateStrategy.type = 'Rolling'; }, /supported values: "OnDelete", "RollingUpdate"/],
  ['a DaemonSet with maxUnavailable 0 and no surge', 'daemonset', (o) => { get(o, 'DaemonSet', 'memcached').spec.updateStrategy.rollingUpdate.maxUnavailable = 0; }, /may not be 0 when `maxSurge` is 0; allow one node at a time/],
  ['a DaemonSet with both maxUnavailable and maxSurge', 'daemonset', (o) => { get(o, 'DaemonSet', 'memcached').spec.updateStrategy.rollingUpdate.maxSurge = 1; }, /maxSurge: Invalid value: may not be set when maxUnavailable is non-zero/],
  ['an unknown podManagementPolicy', 'statefulset', (o) => { get(o, 'StatefulSet', 'galera').spec.podManagementPolicy = 'Ordered'; }, /must be 'OrderedReady' or 'Parallel'/],
  ['a StatefulSet OnDelete with rollingUpdate', 'statefulset', (o) => { get(o, 'StatefulSet', 'galera').spec.updateStrategy = { type: 'OnDelete', rollingUpdate: { partition: 0 } }; }, /only allowed for updateStrategy 'RollingUpdate'; remove rollingUpdate/],
  ['an unknown PVC retention', 'statefulset', (o) => { get(o, 'StatefulSet', 'galera').spec.persistentVolumeClaimRetentionPolicy.whenDeleted = 'Keep'; }, /supported values: "Retain", "Delete"/],
  ['a claim template without a storage request', 'volume-claim-templates', (o) => { delete get(o, 'StatefulSet', 'galera').spec.volumeClaimTemplates[0].spec.resources; }, /storage request/],
  // Service
  ['a multi-port Service with an unnamed port', 'service', (o) => { delete get(o, 'Service', 'galera-peers').spec.ports[1].name; }, /every port of a multi-port Service needs a name/],
  ['two Service ports with one port number', 'service', (o) => { const p = get(o, 'Service', 'galera-peers').spec.ports; p[1].port = p[0].port; }, /Duplicate value.*each port and protocol once/],
  ['a Service targetPort name longer than 15 characters', 'service', (o) => { get(o, 'Service', 'galera').spec.ports[0].targetPort = 'a-very-long-port-name'; }, /container port name \(IANA_SVC_NAME, at most 15 characters\)/],
  ['a ClusterIP Service without ports', 'service', (o) => { get(o, 'Service', 'galera').spec.ports = []; }, /only a headless Service, clusterIP None, may have none/],
  ['clusterIP None on a NodePort Service', 'service', (o) => { get(o, 'Service', 'galera-peers').spec.type = 'NodePort'; }, /may not be set to 'None' for NodePort services/],
  // policy
  ['a PDB with minAvailable and maxUnavailable', 'pod-disruption-budget', (o) => { get(o, 'PodDisruptionBudget', 'galera').spec.maxUnavailable = 1; }, /cannot be both set; keep one/],
  ['a PDB with a negative minAvailable', 'pod-disruption-budget', (o) => { get(o, 'PodDisruptionBudget', 'galera').spec.minAvailable = -1; }, /must be greater than or equal to 0/],
  ['a PDB with maxUnavailable over DaemonSet pods (issue 11)', 'pdb-controller', (o) => { const s = get(o, 'PodDisruptionBudget', 'memcached').spec; delete s.minAvailable; s.maxUnavailable = 1; }, /DaemonSet memcached, which has no scale subresource.*SyncFailed.*use an integer minAvailable/],
  ['a PDB with a percentage over DaemonSet pods', 'pdb-controller', (o) => { get(o, 'PodDisruptionBudget', 'rabbitmq').spec.minAvailable = '50%'; }, /cannot compute a percentage/],
  ['a PDB that allows no disruption', 'pdb-controller', (o) => { get(o, 'PodDisruptionBudget', 'galera').spec.minAvailable = 3; }, /allows no disruption of StatefulSet galera \(3 replicas\)/],
  ['pods selected by two PDBs', 'pdb-controller', (o) => { o.push({ ...get(o, 'PodDisruptionBudget', 'galera'), metadata: { name: 'galera-2', namespace: 'openstack' } }); }, /selected by 2 PodDisruptionBudgets.*keep one/],
  // networking
  ['an ipBlock except outside its cidr', 'network-policy', (o) => { get(o, 'NetworkPolicy', 'proxysql-vip').spec.ingress[0].from[0].ipBlock = { cidr: '10.0.0.0/24', except: ['192.168.0.0/24'] }; }, /must be a strict subset of `cidr`/],
  ['an ipBlock except equal to its cidr', 'network-policy', (o) => { get(o, 'NetworkPolicy', 'proxysql-vip').spec.ingress[0].from[0].ipBlock = { cidr: '10.0.0.0/24', except: ['10.0.0.0/24'] }; }, /strict subset/],
  ['an ipBlock that is not a CIDR', 'network-policy', (o) => { get(o, 'NetworkPolicy', 'proxysql-vip').spec.ingress[0].from[0].ipBlock = { cidr: '10.0.0.300/32' }; }, /must be a valid CIDR value/],
  ['an ipBlock with host bits', 'cidr-host-bits', (o) => { get(o, 'NetworkPolicy', 'proxysql-vip').spec.ingress[0].from[0].ipBlock = { cidr: '10.0.0.1/24' }; }, /must not have bits set beyond the prefix length/],
  ['an ipBlock beside a podSelector in one peer', 'network-policy', (o) => { get(o, 'NetworkPolicy', 'proxysql-vip').spec.ingress[0].from[0].podSelector = {}; }, /may not specify both ipBlock and another peer/],
  ['an endPort below the port', 'network-policy', (o) => { get(o, 'NetworkPolicy', 'proxysql-vip').spec.ingress[0].ports[0].endPort = 1; }, /must be greater than or equal to `port`/],
  // storage
  ['a local volume without node affinity', 'persistent-volume', (o) => { delete get(o, 'PersistentVolume', 'openstack-galera-data-0').spec.nodeAffinity; }, /Local volume requires node affinity; pin the volume/],
  ['a local volume with a relative path', 'persistent-volume', (o) => { get(o, 'PersistentVolume', 'openstack-galera-data-0').spec.local.path = 'mnt/galera'; }, /must be an absolute path/],
  ['a volume without capacity', 'persistent-volume', (o) => { delete get(o, 'PersistentVolume', 'openstack-galera-data-0').spec.capacity; }, /storage capacity/],
  ['a StorageClass with reclaimPolicy Recycle', 'storage-class', (o) => { get(o, 'StorageClass', 'galera-local').reclaimPolicy = 'Recycle'; }, /supported values: "Delete", "Retain"/],
  ['a StorageClass without a provisioner', 'storage-class', (o) => { delete get(o, 'StorageClass', 'galera-local').provisioner; }, /name the provisioner/],
  ['a ConfigMap key with a slash', 'config-data', (o) => { get(o, 'ConfigMap', 'galera-config').data['conf.d/x.cnf'] = 'x'; }, /valid config key.*rename the key/],
  // versions
  ['an alpha field', 'field-version', (o) => { get(o, 'StatefulSet', 'galera').spec.updateStrategy.rollingUpdate = { maxUnavailable: 1 }; }, /alpha field \(MaxUnavailableStatefulSet.*remove it/],
  ['a sidecar (1.29) above the minimum version', 'field-version', (o) => {
    (pod(o, 'StatefulSet', 'galera').initContainers ??= []).push({ name: 'side', image: 'busybox', restartPolicy: 'Always' });
  }, /needs Kubernetes 1.29 \(SidecarContainers\), but these objects must work on Kubernetes 1.27, which drops it/],
  // controller semantics
  ['a StatefulSet whose Service is not headless', 'statefulset-service', (o) => { get(o, 'Service', 'galera-peers').spec.clusterIP = '10.96.0.10'; }, /not headless.*set clusterIP: None/],
  ['a StatefulSet whose Service does not exist', 'statefulset-service', (o) => { get(o, 'StatefulSet', 'galera').spec.serviceName = 'nothing'; }, /not among the objects.*create the headless Service/],
  ['a StatefulSet name longer than 52 characters', 'statefulset-name-length', (o) => { get(o, 'StatefulSet', 'galera').metadata.name = 'g'.repeat(53); }, /use at most 52 characters/],
  ['a host-network DaemonSet that surges', 'surge-host-port', (o) => { get(o, 'DaemonSet', 'memcached').spec.updateStrategy.rollingUpdate = { maxUnavailable: 0, maxSurge: 1 }; }, /rollout stalls; use maxSurge 0 and maxUnavailable 1/],
  ['a Service targetPort name no container declares', 'named-ports', (o) => { get(o, 'Service', 'proxysql').spec.ports[0].targetPort = 'nope'; }, /no container of Deployment proxysql declares: the Service gets no endpoints/],
  ['a probe on a port name the container does not declare', 'named-ports', (o) => { first(o, 'Deployment', 'proxysql').readinessProbe = { tcpSocket: { port: 'admin' } }; }, /does not declare: the probe always fails/],
];

test.each(CASES)('refuses %s', (_name, ruleId, mutate, expected) => {
  const objects = controlPlane();
  mutate(objects);
  const problems = rules.apiRuleProblems(objects, { requireNamespace: true });
  const ofRule = problems.filter((p) => p.rule === ruleId);
  expect(ofRule.map((p) => `${p.path}: ${p.message}`).join('\n')).toMatch(expected);
});

test('every rule has a case that breaks it, and names the Kubernetes source it mirrors', () => {
  const tested = new Set(CASES.map((c) => c[1]));
  for (const r of [...rules.RULES, ...rules.SET_RULES]) {
    expect({ rule: r.id, tested: tested.has(r.id) }).toEqual({ rule: r.id, tested: true });
    expect(r.source.length).toBeGreaterThan(10);
  }
});

test('the levels: the API server refuses api problems; controller and version problems are separate', () => {
  const objects = controlPlane();
  const ds = get(objects, 'DaemonSet', 'memcached');
  ds.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms = [
    { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['ctl-1', 'ctl-2'] }] }];
  ds.spec.template.spec.containers[0].securityContext.runAsUser = 0;
  const api = rules.objectProblems(ds, { levels: ['api'] });
  expect(api.map((p) => p.rule)).toEqual(['node-affinity']);
  // The API server's 422 message, as kubectl prints it.
  expect(rules.invalidMessage(ds, api)).toBe('DaemonSet.apps "memcached" is invalid: spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution'
    + '.nodeSelectorTerms[0].matchFields[0].values: Required value: must be only one value when `operator` is \'In\' or \'NotIn\' for node field selector; '
    + 'use one node selector term per node (terms are ORed): [{matchFields: [metadata.name In [a]]}, {matchFields: [metadata.name In [b]]}]');
  expect(rules.objectProblems(ds).map((p) => p.rule)).toEqual(['node-affinity', 'run-as-non-root']);
  // What a real API server tolerates is not refused at the api level (the fake server's): a namespace on a
  // cluster-scoped object is silently cleared by the API server.
  const ns = { ...get(objects, 'Namespace', 'openstack'), metadata: { name: 'openstack', namespace: 'openstack' } };
  expect(rules.objectProblems(ns, { levels: ['api'] })).toEqual([]);
  expect(rules.objectProblems(ns).map((p) => [p.rule, p.level])).toEqual([['namespace-scope', 'convention']]);
});

test('the cdk8s validation plugin reports one violation per broken object and fails the synth', async () => {
  const objects = controlPlane();
  get(objects, 'Service', 'galera').metadata.name = 'Galera';
  const violations: any[] = [];
  let status = '';
  await new rules.K8sApiRulesValidation().validate({
    manifests: ['control-plane.k8s.yaml'],
    parseManifest: () => objects,
    report: { addViolation: (v: unknown) => violations.push(v), submit: (s: string) => { status = s; } },
  });
  expect(status).toBe('failure');
  expect(violations).toHaveLength(1);
  expect(violations[0].violatingResources).toEqual([{ manifestPath: 'control-plane.k8s.yaml', resourceName: 'Service/Galera', locations: ['metadata.name'] }]);
  expect(violations[0].recommendation).toMatch(/DNS-1035 label/);
});

test('versions compare by minor, with or without v and provider suffixes', () => {
  expect(rules.compareVersions('v1.26.15', rules.MIN_KUBERNETES_VERSION)).toBeLessThan(0);
  expect(rules.compareVersions('1.27+', '1.27')).toBe(0);
  expect(rules.compareVersions('1.33', '1.9')).toBeGreaterThan(0);
});

describe('the name predicates (apimachinery util/validation)', () => {
  const p = rules.predicates;
  test.each([
    ['isPortName', 'mysql', true], ['isPortName', 'a-b', true], ['isPortName', '123', false], ['isPortName', 'a--b', false],
    ['isPortName', '-ab', false], ['isPortName', 'abcdefghijklmnop', false], ['isPortName', 'abcdefghijklmno', true],
    ['isDns1035Label', 'galera', true], ['isDns1035Label', '9galera', false],
    ['isDns1123Label', '9galera', true], ['isDns1123Label', 'a.b', false], ['isDns1123Subdomain', 'a.b', true],
    ['isQualifiedName', 'openstack-ha.cdk8s.io/config-hash', true], ['isQualifiedName', '/x', false], ['isQualifiedName', 'a/b/c', false],
    ['isLabelValue', '', true], ['isLabelValue', '-a', false], ['isEnvVarName', '1A', false], ['isEnvVarName', 'A.b-c_1', true],
    ['isConfigMapKey', '..x', false], ['isConfigMapKey', 'my.cnf', true],
    ['isImageReference', 'docker.io/library/haproxy:2.6.22-bookworm', true], ['isImageReference', 'memcached', true],
    ['isImageReference', 'localhost:5000/a/b:c', true], ['isImageReference', `a@sha256:${'0'.repeat(64)}`, true],
    ['isImageReference', 'Foo/bar', false], ['isImageReference', 'a b', false], ['isImageReference', '', false],
    ['isImageReference', ' memcached', false], ['isImageReference', 'memcached\n', false], ['isImageReference', 'x@sha256:abc', false],
    ['isImageReference', `x:${'t'.repeat(129)}`, false], ['isImageReference', `${'a'.repeat(256)}`, false],
    ['isQuantity', '100m', true], ['isQuantity', '2048Mi', true], ['isQuantity', '.5Gi', true], ['isQuantity', '1e+300Mi', false],
    ['isQuantity', '1 Mi', false], ['isQuantity', 'NaN', false],
  ] as const)('%s(%j) is %s', (name, value, expected) => {
    expect((p[name] as (x: unknown) => unknown)(value)).toBe(expected);
  });
  test('CIDRs: IPv4 and IPv6, host bits found', () => {
    expect(p.parseCidr('10.0.0.0/8')).toMatchObject({ family: 4, bits: 8, hostBits: false });
    expect(p.parseCidr('fd00::1/64')).toMatchObject({ family: 6, bits: 64, hostBits: true });
    expect(p.parseCidr('10.0.0.0/33')).toBeUndefined();
  });
  test('quantities', () => {
    expect(p.parseQuantity('250m')).toBeCloseTo(0.25);
    expect(p.parseQuantity('1Gi')).toBe(2 ** 30);
    expect(p.parseQuantity('1.5')).toBe(1.5);
    expect(p.parseQuantity('lots')).toBeUndefined();
  });
});
