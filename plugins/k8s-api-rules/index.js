'use strict';
/**
 * The API-rules check: what a Kubernetes API server enforces in code (not in its OpenAPI schema), what its
 * controllers and the kubelet do with an object that the API accepts, and which fields need a Kubernetes newer than
 * the minimum this library supports. Plain JavaScript with Node built-ins only, because three users share it:
 *
 * - the cdk8s validation plugin (`K8sApiRulesValidation`, registered in cdk8s.yaml): a violation fails `cdk8s synth`;
 * - the test harness (test/support/harness.ts), over every object of every test chart and example;
 * - the fake API server behind the preflight CLI tests, which refuses a dry run with HTTP 422 as the real one would
 *   (only the `api` rules: the real server accepts what only a controller or the kubelet later refuses), and the
 *   preflight CLI itself (lib/cli/preflight), which runs the `controller` rules over the manifests before applying.
 *
 * Every rule names the Kubernetes function it mirrors (Kubernetes 1.33 sources: pkg/apis/core/validation,
 * pkg/apis/apps/validation, pkg/apis/policy/validation, pkg/apis/networking/validation, pkg/apis/storage/validation,
 * apimachinery's util/validation and apis/meta/v1/validation; controllers under pkg/controller; the kubelet under
 * pkg/kubelet). The rules are written from reading that code, for the fields this library emits; they are not a
 * complete re-implementation. Each message says what Kubernetes says, then the fix.
 *
 * A problem is `{ rule, level, source, object, path, message }`:
 * - `level` `api`: the API server refuses the object (HTTP 422 Invalid);
 * - `level` `controller`: the API accepts it, but a controller or the kubelet refuses or mishandles it;
 * - `level` `version`: a field that a supported Kubernetes version drops or ignores;
 * - `level` `convention`: what Kubernetes tolerates but this library never emits, because it misleads (a namespace
 *   on a cluster-scoped object, which the API server silently clears; a CIDR with host bits, which only newer
 *   servers refuse). The fake API server does not refuse these: a real one accepts them.
 */
const net = require('net');

/**
 * The Kubernetes versions this library supports. Minimum 1.27: the first release where every field the library
 * emits is on by default (StatefulSet `persistentVolumeClaimRetentionPolicy`, feature StatefulSetAutoDeletePVC,
 * beta and default-on from 1.27; earlier servers drop the field silently). Maximum tested: 1.33, the schema the
 * objects are validated against (kubernetes-models 4.x) and the validation code these rules were read from.
 */
const MIN_KUBERNETES_VERSION = '1.27';
const MAX_TESTED_KUBERNETES_VERSION = '1.33';

/**
 * Fields whose feature is off by default before a Kubernetes version (the API server then drops them without an
 * error). `since` is the first version where the field is honoured by default; undefined for an alpha field.
 */
const FIELD_VERSIONS = [
  { kind: 'StatefulSet', path: 'spec.persistentVolumeClaimRetentionPolicy', since: '1.27', feature: 'StatefulSetAutoDeletePVC' },
  { kind: 'StatefulSet', path: 'spec.ordinals', since: '1.27', feature: 'StatefulSetStartOrdinal' },
  { kind: 'StatefulSet', path: 'spec.updateStrategy.rollingUpdate.maxUnavailable', since: undefined, feature: 'MaxUnavailableStatefulSet, alpha through 1.33' },
  { kind: 'PodDisruptionBudget', path: 'spec.unhealthyPodEvictionPolicy', since: '1.27', feature: 'PDBUnhealthyPodEvictionPolicy' },
  { kind: 'Service', path: 'spec.trafficDistribution', since: '1.31', feature: 'ServiceTrafficDistribution' },
  { kind: '*', path: 'initContainers[].restartPolicy', since: '1.29', feature: 'SidecarContainers' },
  { kind: '*', path: 'securityContext.appArmorProfile', since: '1.30', feature: 'AppArmorFields' },
];

/** Kinds that live outside namespaces (the API server's RESTScopeRoot). */
const CLUSTER_SCOPED_KINDS = new Set([
  'Namespace', 'Node', 'PersistentVolume', 'StorageClass', 'PriorityClass', 'RuntimeClass', 'IngressClass', 'CSIDriver',
  'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'APIService',
  'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding',
]);

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

// ------------------------------------------------------------------------------------------------------------
// apimachinery's util/validation predicates (k8s.io/apimachinery/pkg/util/validation/validation.go)

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** IsDNS1123Label: at most 63 lower-case alphanumerics or '-', starting and ending alphanumeric. */
const isDns1123Label = (s) => typeof s === 'string' && s.length <= 63 && DNS1123_LABEL.test(s);
/** IsDNS1123Subdomain: at most 253 characters, dot-separated DNS-1123 labels. */
const isDns1123Subdomain = (s) => typeof s === 'string' && s.length <= 253 && s.split('.').every((p) => DNS1123_LABEL.test(p));
/** IsDNS1035Label: a DNS-1123 label that starts with a letter. */
const isDns1035Label = (s) => typeof s === 'string' && s.length <= 63 && DNS1035_LABEL.test(s);
/** IsQualifiedName: an optional DNS-1123 subdomain prefix and '/', then a name of at most 63 characters. */
function isQualifiedName(s) {
  if (typeof s !== 'string') return false;
  const parts = s.split('/');
  if (parts.length > 2) return false;
  const name = parts[parts.length - 1];
  if (parts.length === 2 && (parts[0] === '' || !isDns1123Subdomain(parts[0]))) return false;
  return name.length <= 63 && QUALIFIED_NAME_PART.test(name);
}
/** IsValidLabelValue: empty, or at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric. */
const isLabelValue = (s) => typeof s === 'string' && s.length <= 63 && LABEL_VALUE.test(s);
/** IsValidPortName (IANA_SVC_NAME): 1-15 of [a-z0-9-], at least one letter, no '--', no '-' at either end. */
const isPortName = (s) => typeof s === 'string' && s.length >= 1 && s.length <= 15 && /^[-a-z0-9]+$/.test(s)
  && /[a-z]/.test(s) && !s.includes('--') && !s.startsWith('-') && !s.endsWith('-');
/** IsEnvVarName: letters, digits, '_', '-', '.', not starting with a digit (1.27-1.31 rule; 1.32+ relaxes it). */
const isEnvVarName = (s) => typeof s === 'string' && /^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(s);
/** IsConfigMapKey: at most 253 of [-._a-zA-Z0-9], not '.' or '..' and not starting with '..'. */
const isConfigMapKey = (s) => typeof s === 'string' && s.length <= 253 && /^[-._a-zA-Z0-9]+$/.test(s) && s !== '.' && !s.startsWith('..');
/** IsValidPortNum. */
const isPortNumber = (n) => Number.isInteger(n) && n >= 1 && n <= 65535;

/**
 * ParseQuantity's grammar (apimachinery pkg/api/resource/quantity.go): a signed decimal number, then at most one
 * of a binary SI suffix, a decimal SI suffix or a decimal exponent. `1e+300Mi` (what a template literal makes of a
 * huge JavaScript number) has two and is refused, as is anything with spaces.
 */
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
const isQuantity = (q) => (typeof q === 'number' && Number.isFinite(q)) || (typeof q === 'string' && QUANTITY.test(q));

/**
 * An image reference the kubelet can pull: distribution/reference's grammar as ParseNormalizedNamed applies it
 * (pkg/kubelet/images/image_manager.go; a failure is the pod status InvalidImageName, after the API accepted the
 * object). `[domain[:port]/]path[:tag][@algorithm:hex]`: path components lower case, the first component is a
 * domain only if it has a '.' or ':' or is `localhost`, a tag of at most 128 word characters, '.' or '-', a name
 * of at most 255 characters, a sha256 digest of exactly 64 hex digits. No white space anywhere (the API server
 * itself refuses leading and trailing white space).
 */
const IMAGE_DOMAIN_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IMAGE_PATH_PART = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const IMAGE_REFERENCE = new RegExp(`^(?:(${IMAGE_DOMAIN_PART}(?:\\.${IMAGE_DOMAIN_PART})*(?::[0-9]+)?|\\[[a-fA-F0-9:]+\\](?::[0-9]+)?)/)?`
  + `(${IMAGE_PATH_PART}(?:/${IMAGE_PATH_PART})*)(?::[\\w][\\w.-]{0,127})?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9a-fA-F]{32,}))?$`);
function isImageReference(s) {
  if (typeof s !== 'string') return false;
  const m = IMAGE_REFERENCE.exec(s);
  if (!m) {
    // "ctl/x" matched no domain because the path is not lower case: that is the only reading left, and it fails.
    return false;
  }
  const [, domain, path, algorithm, hex] = m;
  // Without a '.' or ':' the first component is a path component (docker.io/library/...), which must be lower case.
  if (domain !== undefined && !/[.:[]/.test(domain) && domain !== 'localhost' && !new RegExp(`^${IMAGE_PATH_PART}$`).test(domain)) return false;
  if ((domain ? domain.length + 1 : 0) + path.length > 255) return false;
  if (algorithm === 'sha256' && hex.length !== 64) return false;
  if (algorithm === 'sha512' && hex.length !== 128) return false;
  return true;
}

/** A CIDR as { family, bits, network: BigInt, hostBits: boolean }, or undefined (ParseCIDRSloppy + strict checks). */
function parseCidr(s) {
  if (typeof s !== 'string') return undefined;
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const family = net.isIP(m[1]);
  const bits = Number(m[2]);
  if (family === 0 || bits > (family === 4 ? 32 : 128)) return undefined;
  const width = BigInt(family === 4 ? 32 : 128);
  const value = ipToBigInt(m[1], family);
  const shift = width - BigInt(bits);
  const network = (value >> shift) << shift;
  return { family, bits, network, hostBits: network !== value };
}
function ipToBigInt(ip, family) {
  if (family === 4) return ip.split('.').reduce((acc, o) => (acc << 8n) + BigInt(Number(o)), 0n);
  const [head, tail = ''] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const expand = (part) => (part ? part.split(':') : []).flatMap((g) => (g.includes('.')
    ? (() => { const v = ipToBigInt(g, 4); return [(v >> 16n).toString(16), (v & 0xffffn).toString(16)]; })() : [g]));
  const h = expand(head);
  const t = tail === undefined ? [] : expand(tail);
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g, 16)), 0n);
}

/** A Kubernetes quantity in base units (cores, bytes), or undefined when it does not parse (resource.ParseQuantity). */
function parseQuantity(q) {
  if (typeof q === 'number') return q;
  if (typeof q !== 'string') return undefined;
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/.exec(q);
  if (!m) return undefined;
  const factor = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
  return Number(m[1]) * (m[2] ? factor[m[2]] : 1);
}

/** "1.27" < "1.33"; accepts "v1.27.3", "1.27+" (GKE/EKS minor suffixes). */
function compareVersions(a, b) {
  const parse = (v) => String(v).replace(/^v/, '').split('.').slice(0, 2).map((x) => parseInt(x, 10) || 0);
  const [a1, a2] = parse(a);
  const [b1, b2] = parse(b);
  return a1 !== b1 ? a1 - b1 : a2 - b2;
}

/** Linux capabilities (capabilities(7)), as Kubernetes names them: without the `CAP_` prefix. */
const LINUX_CAPABILITIES = new Set([
  'AUDIT_CONTROL', 'AUDIT_READ', 'AUDIT_WRITE', 'BLOCK_SUSPEND', 'BPF', 'CHECKPOINT_RESTORE', 'CHOWN', 'DAC_OVERRIDE',
  'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'IPC_LOCK', 'IPC_OWNER', 'KILL', 'LEASE', 'LINUX_IMMUTABLE', 'MAC_ADMIN',
  'MAC_OVERRIDE', 'MKNOD', 'NET_ADMIN', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_RAW', 'PERFMON', 'SETFCAP', 'SETGID',
  'SETPCAP', 'SETUID', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_CHROOT', 'SYS_MODULE', 'SYS_NICE', 'SYS_PACCT', 'SYS_PTRACE',
  'SYS_RAWIO', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'SYSLOG', 'WAKE_ALARM',
]);

const HOST_PATH_TYPES = new Set(['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice']);
const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);
/** The volume sources a pod volume may have (core.VolumeSource); a persistent volume has its own list. */
const POD_VOLUME_SOURCES = ['hostPath', 'emptyDir', 'gcePersistentDisk', 'awsElasticBlockStore', 'gitRepo', 'secret', 'nfs', 'iscsi',
  'glusterfs', 'persistentVolumeClaim', 'rbd', 'flexVolume', 'cinder', 'cephfs', 'flocker', 'downwardAPI', 'fc', 'azureFile',
  'configMap', 'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk', 'projected', 'portworxVolume', 'scaleIO',
  'storageos', 'csi', 'ephemeral', 'image'];
const PV_SOURCES = ['gcePersistentDisk', 'awsElasticBlockStore', 'hostPath', 'glusterfs', 'nfs', 'rbd', 'iscsi', 'cinder', 'cephfs',
  'fc', 'flocker', 'flexVolume', 'azureFile', 'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk', 'portworxVolume',
  'scaleIO', 'local', 'storageos', 'csi'];
const PROBE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'grpc'];
const LIFECYCLE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'sleep'];

// ------------------------------------------------------------------------------------------------------------
// The rules. Each `check(o, report, ctx)` reports problems of one object (`api`) or of the whole set (`controller`).

/** Every rule: id, level, the Kubernetes function it mirrors, and the check. */
const RULES = [];
function rule(id, level, source, check) {
  RULES.push({ id, level, source, check });
}

const json = (v) => JSON.stringify(v);
/** The pod template spec of a workload and its path, or of a Pod. */
function podOf(o) {
  if (o.kind === 'Pod') return { spec: o.spec || {}, meta: o.metadata || {}, path: 'spec' };
  // A CronJob's pods are its Jobs' pods: the same rules, at the template's path.
  const jobTemplate = o.kind === 'CronJob' && o.spec && o.spec.jobTemplate && o.spec.jobTemplate.spec;
  if (jobTemplate && jobTemplate.template) {
    return { spec: jobTemplate.template.spec || {}, meta: jobTemplate.template.metadata || {}, path: 'spec.jobTemplate.spec.template.spec' };
  }
  if (!WORKLOAD_KINDS.has(o.kind) || !o.spec || !o.spec.template) return undefined;
  return { spec: o.spec.template.spec || {}, meta: o.spec.template.metadata || {}, path: 'spec.template.spec' };
}
/** [container, path, isInit] of every container of a pod spec. */
function containersOf(pod) {
  return [
    ...(pod.spec.initContainers || []).map((c, i) => [c, `${pod.path}.initContainers[${i}]`, true]),
    ...(pod.spec.containers || []).map((c, i) => [c, `${pod.path}.containers[${i}]`, false]),
  ];
}
const isSidecar = (c, init) => init && c.restartPolicy === 'Always';
/** An IntOrString that is a percentage ("25%"). */
const isPercent = (v) => typeof v === 'string' && /^\d+%$/.test(v);

// --- metadata ---------------------------------------------------------------------------------------------------

rule('object-name', 'api', 'ValidateObjectMeta with the kind\'s name validator: NameIsDNSSubdomain; NameIsDNSLabel for Namespace (ValidateNamespaceName); NameIsDNS1035Label for Service (ValidateServiceName)', (o, report) => {
  const name = o.metadata && o.metadata.name;
  if (typeof name !== 'string' || name === '') return report('metadata.name', 'Required value: name or generateName is required; give the object a name');
  if (o.kind === 'Service' && !isDns1035Label(name)) {
    report('metadata.name', `Invalid value: ${json(name)}: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with a letter, end with an alphanumeric, at most 63 characters; Service names become DNS labels: rename it, e.g. "galera-peers"`);
  } else if (o.kind === 'Namespace' && !isDns1123Label(name)) {
    report('metadata.name', `Invalid value: ${json(name)}: a lowercase RFC 1123 label (at most 63 of a-z, 0-9, '-'); rename the namespace, e.g. "openstack"`);
  } else if (!isDns1123Subdomain(name)) {
    report('metadata.name', `Invalid value: ${json(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', at most 253 characters; rename it`);
  }
});

rule('namespace-scope', 'convention', 'rest.BeforeCreate (apiserver pkg/registry/rest/create.go): the API server clears the namespace of a cluster-scoped object, and puts a namespaced one without a namespace in the request\'s namespace', (o, report, ctx) => {
  const ns = o.metadata && o.metadata.namespace;
  if (CLUSTER_SCOPED_KINDS.has(o.kind) && ns) {
    report('metadata.namespace', `${o.kind} is cluster-scoped, but has namespace ${json(ns)} (the API server ignores it; tools that key objects by namespace do not); remove metadata.namespace`);
  } else if (!CLUSTER_SCOPED_KINDS.has(o.kind) && !ns && ctx.requireNamespace) {
    report('metadata.namespace', `${o.kind} is namespaced but names no namespace, so it lands in whatever namespace kubectl's context has; give the chart a namespace`);
  }
});

/** Problems of a label map (ValidateLabels: ValidateLabelName per key, IsValidLabelValue per value). */
function checkLabels(labels, path, report) {
  for (const [k, v] of Object.entries(labels || {})) {
    if (!isQualifiedName(k)) report(`${path}`, `Invalid value: ${json(k)}: a label key must be a qualified name (optional DNS subdomain prefix and '/', then at most 63 alphanumerics, '-', '_', '.'); rename the key`);
    if (!isLabelValue(v)) report(`${path}`, `Invalid value: ${json(v)}: a valid label value must be an empty string or at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric (key ${json(k)}); shorten or replace the value`);
  }
}

rule('labels', 'api', 'ValidateLabels (apimachinery apis/meta/v1/validation): ValidateLabelName, IsValidLabelValue', (o, report) => {
  checkLabels(o.metadata && o.metadata.labels, 'metadata.labels', report);
  const pod = podOf(o);
  if (pod && pod.path !== 'spec') checkLabels(pod.meta.labels, 'spec.template.metadata.labels', report);
});

rule('annotations', 'api', 'ValidateAnnotations (apimachinery api/validation/objectmeta.go): qualified-name keys, total size at most 256 KiB', (o, report) => {
  const check = (annotations, path) => {
    let size = 0;
    for (const [k, v] of Object.entries(annotations || {})) {
      size += k.length + String(v).length;
      if (!isQualifiedName(k.toLowerCase())) report(path, `Invalid value: ${json(k)}: an annotation key must be a qualified name; rename the key`);
    }
    if (size > 256 * 1024) report(path, `Too long: must have at most 262144 bytes (has ${size}); move the data into a ConfigMap`);
  };
  check(o.metadata && o.metadata.annotations, 'metadata.annotations');
  const pod = podOf(o);
  if (pod && pod.path !== 'spec') check(pod.meta.annotations, 'spec.template.metadata.annotations');
});

/** ValidateLabelSelector: matchLabels valid; matchExpressions operators with or without values as they require. */
function checkLabelSelector(selector, path, report) {
  if (!selector) return;
  checkLabels(selector.matchLabels, `${path}.matchLabels`, report);
  (selector.matchExpressions || []).forEach((r, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    if (!isQualifiedName(r.key)) report(`${p}.key`, `Invalid value: ${json(r.key)}: a label key must be a qualified name`);
    if (r.operator === 'In' || r.operator === 'NotIn') {
      if (!r.values || r.values.length === 0) report(`${p}.values`, 'Required value: must be specified when `operator` is \'In\' or \'NotIn\'; list the values, or use Exists');
    } else if (r.operator === 'Exists' || r.operator === 'DoesNotExist') {
      if (r.values && r.values.length > 0) report(`${p}.values`, 'Forbidden: may not be specified when `operator` is \'Exists\' or \'DoesNotExist\'; remove the values');
    } else {
      report(`${p}.operator`, `Invalid value: ${json(r.operator)}: not a valid selector operator; use In, NotIn, Exists or DoesNotExist`);
    }
    (r.values || []).forEach((v) => { if (!isLabelValue(v)) report(`${p}.values`, `Invalid value: ${json(v)}: not a valid label value`); });
  });
}

// --- scheduling -------------------------------------------------------------------------------------------------

/** ValidateNodeSelector / ValidateNodeSelectorTerm / ValidateNodeSelectorRequirement / ValidateNodeFieldSelectorRequirement. */
function checkNodeSelector(selector, path, report) {
  const terms = selector && selector.nodeSelectorTerms;
  if (!terms || terms.length === 0) return report(`${path}.nodeSelectorTerms`, 'Required value: must have at least one node selector term; add a term or remove the selector');
  terms.forEach((term, t) => {
    (term.matchExpressions || []).forEach((r, j) => {
      const p = `${path}.nodeSelectorTerms[${t}].matchExpressions[${j}]`;
      const n = (r.values || []).length;
      if (r.operator === 'In' || r.operator === 'NotIn') {
        if (n === 0) report(`${p}.values`, 'Required value: must be specified when `operator` is \'In\' or \'NotIn\'');
      } else if (r.operator === 'Exists' || r.operator === 'DoesNotExist') {
        if (n > 0) report(`${p}.values`, 'Forbidden: may not be specified when `operator` is \'Exists\' or \'DoesNotExist\'');
      } else if (r.operator === 'Gt' || r.operator === 'Lt') {
        if (n !== 1) report(`${p}.values`, 'Required value: must be specified single value when `operator` is \'Lt\' or \'Gt\'');
      } else {
        report(`${p}.operator`, `Invalid value: ${json(r.operator)}: not a valid selector operator`);
      }
      if (!isQualifiedName(r.key)) report(`${p}.key`, `Invalid value: ${json(r.key)}: a node label key must be a qualified name`);
      (r.values || []).forEach((v, i) => { if (!isLabelValue(v)) report(`${p}.values[${i}]`, `Invalid value: ${json(v)}: not a valid label value`); });
    });
    (term.matchFields || []).forEach((r, j) => {
      const p = `${path}.nodeSelectorTerms[${t}].matchFields[${j}]`;
      if (r.operator === 'In' || r.operator === 'NotIn') {
        if ((r.values || []).length !== 1) {
          report(`${p}.values`, 'Required value: must be only one value when `operator` is \'In\' or \'NotIn\' for node field selector; '
            + 'use one node selector term per node (terms are ORed): [{matchFields: [metadata.name In [a]]}, {matchFields: [metadata.name In [b]]}]');
        }
      } else {
        report(`${p}.operator`, `Invalid value: ${json(r.operator)}: not a valid selector operator; a node field selector takes In or NotIn`);
      }
      if (r.key !== 'metadata.name') report(`${p}.key`, `Invalid value: ${json(r.key)}: not a valid field selector key; the only node field is metadata.name`);
      else (r.values || []).forEach((v, i) => { if (!isDns1123Subdomain(v)) report(`${p}.values[${i}]`, `Invalid value: ${json(v)}: not a node name (DNS-1123 subdomain)`); });
    });
  });
}

rule('node-affinity', 'api', 'validateNodeAffinity, ValidateNodeSelector, ValidateNodeSelectorTerm, ValidateNodeSelectorRequirement, ValidateNodeFieldSelectorRequirement, ValidatePreferredSchedulingTerms (pkg/apis/core/validation)', (o, report) => {
  const pod = podOf(o);
  if (pod) {
    const na = pod.spec.affinity && pod.spec.affinity.nodeAffinity;
    if (na && na.requiredDuringSchedulingIgnoredDuringExecution) checkNodeSelector(na.requiredDuringSchedulingIgnoredDuringExecution, `${pod.path}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`, report);
    ((na && na.preferredDuringSchedulingIgnoredDuringExecution) || []).forEach((p, i) => {
      const path = `${pod.path}.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
      if (!Number.isInteger(p.weight) || p.weight < 1 || p.weight > 100) report(`${path}.weight`, `Invalid value: ${json(p.weight)}: must be in the range 1-100`);
      checkNodeSelector({ nodeSelectorTerms: [p.preference || {}] }, path, report);
    });
    checkLabels(pod.spec.nodeSelector, `${pod.path}.nodeSelector`, report);
  }
  if (o.kind === 'PersistentVolume' && o.spec && o.spec.nodeAffinity) {
    if (!o.spec.nodeAffinity.required) report('spec.nodeAffinity.required', 'Required value: must specify required node constraints');
    else checkNodeSelector(o.spec.nodeAffinity.required, 'spec.nodeAffinity.required', report);
  }
});

rule('pod-affinity', 'api', 'validatePodAffinityTerm, validateWeightedPodAffinityTerms (pkg/apis/core/validation)', (o, report) => {
  const pod = podOf(o);
  const affinity = pod && pod.spec.affinity;
  if (!affinity) return;
  for (const kind of ['podAffinity', 'podAntiAffinity']) {
    const a = affinity[kind] || {};
    const terms = [
      ...(a.requiredDuringSchedulingIgnoredDuringExecution || []).map((t, i) => [t, `${pod.path}.affinity.${kind}.requiredDuringSchedulingIgnoredDuringExecution[${i}]`]),
      ...(a.preferredDuringSchedulingIgnoredDuringExecution || []).map((w, i) => {
        const p = `${pod.path}.affinity.${kind}.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
        if (!Number.isInteger(w.weight) || w.weight < 1 || w.weight > 100) report(`${p}.weight`, `Invalid value: ${json(w.weight)}: must be in the range 1-100`);
        return [w.podAffinityTerm || {}, `${p}.podAffinityTerm`];
      }),
    ];
    for (const [t, p] of terms) {
      if (!t.topologyKey) report(`${p}.topologyKey`, 'Required value: can not be empty; use e.g. "kubernetes.io/hostname"');
      else if (!isQualifiedName(t.topologyKey)) report(`${p}.topologyKey`, `Invalid value: ${json(t.topologyKey)}: must be a qualified name`);
      checkLabelSelector(t.labelSelector, `${p}.labelSelector`, report);
    }
  }
});

rule('tolerations', 'api', 'validateTolerations (pkg/apis/core/validation)', (o, report) => {
  const pod = podOf(o);
  ((pod && pod.spec.tolerations) || []).forEach((t, i) => {
    const p = `${pod.path}.tolerations[${i}]`;
    if (t.key && !isQualifiedName(t.key)) report(`${p}.key`, `Invalid value: ${json(t.key)}: must be a qualified name`);
    if (!t.key && t.operator !== 'Exists') report(`${p}.operator`, `Invalid value: ${json(t.operator)}: operator must be Exists when \`key\` is empty, which means "match all values and all keys"`);
    if (t.operator === 'Exists' && t.value) report(`${p}.operator`, 'Invalid value: value must be empty when `operator` is \'Exists\'; remove the value');
    if (t.operator !== undefined && t.operator !== 'Exists' && t.operator !== 'Equal') report(`${p}.operator`, `Unsupported value: ${json(t.operator)}: supported values: "Equal", "Exists"`);
    if (t.effect !== undefined && t.effect !== '' && !['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) report(`${p}.effect`, `Unsupported value: ${json(t.effect)}: supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`);
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') report(`${p}.effect`, 'Invalid value: effect must be \'NoExecute\' when `tolerationSeconds` is set');
  });
});

// --- containers -------------------------------------------------------------------------------------------------

rule('container-names', 'api', 'validateContainers, validateInitContainers, validateContainerCommon (pkg/apis/core/validation): DNS-1123 label names, unique across init and app containers, image required', (o, report) => {
  const pod = podOf(o);
  if (!pod) return;
  if (!pod.spec.containers || pod.spec.containers.length === 0) report(`${pod.path}.containers`, 'Required value: a pod needs at least one container');
  const seen = new Set();
  for (const [c, p] of containersOf(pod)) {
    if (!c.name) report(`${p}.name`, 'Required value: every container needs a name');
    else if (!isDns1123Label(c.name)) report(`${p}.name`, `Invalid value: ${json(c.name)}: a container name must be a DNS-1123 label; rename it`);
    else if (seen.has(c.name)) report(`${p}.name`, `Duplicate value: ${json(c.name)}: container names are unique across init and app containers; rename one`);
    seen.add(c.name);
    if (!c.image) report(`${p}.image`, 'Required value: give the container an image');
  }
});

rule('image-reference', 'controller', 'kubelet EnsureImageExists (pkg/kubelet/images/image_manager.go): ParseNormalizedNamed (distribution/reference) refuses the image, the pod stays in InvalidImageName; validateContainerCommon (pkg/apis/core/validation) refuses leading or trailing white space', (o, report) => {
  const pod = podOf(o);
  if (!pod) return;
  for (const [c, p] of containersOf(pod)) {
    if (c.image && !isImageReference(c.image)) report(`${p}.image`, `Invalid value: ${json(c.image)}: not a valid image reference ([registry[:port]/]repository[:tag][@sha256:<64 hex digits>], lower-case repository, no white space); e.g. "docker.io/library/memcached:1.6.39"`);
  }
});

rule('priority-class-name', 'api', 'ValidatePodSpec, ValidatePriorityClassName (pkg/apis/core/validation): a DNS-1123 subdomain', (o, report) => {
  const pod = podOf(o);
  if (!pod || pod.spec.priorityClassName === undefined) return;
  if (!isDns1123Subdomain(pod.spec.priorityClassName)) report(`${pod.path}.priorityClassName`, `Invalid value: ${json(pod.spec.priorityClassName)}: a priority class name must be a DNS-1123 subdomain (lower-case alphanumerics, '-' and '.', at most 253); use an existing PriorityClass, e.g. "system-node-critical"`);
});

rule('container-ports', 'api', 'validateContainerPorts, AccumulateUniqueHostPorts, validateHostNetwork (pkg/apis/core/validation); IsValidPortName, IsValidPortNum', (o, report) => {
  const pod = podOf(o);
  if (!pod) return;
  const hostPorts = new Set();
  for (const [c, p] of containersOf(pod)) {
    const names = new Set();
    (c.ports || []).forEach((port, i) => {
      const pp = `${p}.ports[${i}]`;
      if (port.name !== undefined) {
        if (!isPortName(port.name)) report(`${pp}.name`, `Invalid value: ${json(port.name)}: a port name (IANA_SVC_NAME) has at most 15 characters of a-z, 0-9 and '-', at least one letter, no '--' and no '-' at either end; shorten it, e.g. "mysql"`);
        else if (names.has(port.name)) report(`${pp}.name`, `Duplicate value: ${json(port.name)}: port names are unique in a container; rename one`);
        names.add(port.name);
      }
      if (!isPortNumber(port.containerPort)) report(`${pp}.containerPort`, `Invalid value: ${json(port.containerPort)}: must be between 1 and 65535, inclusive`);
      if (port.hostPort !== undefined && port.hostPort !== 0 && !isPortNumber(port.hostPort)) report(`${pp}.hostPort`, `Invalid value: ${json(port.hostPort)}: must be between 1 and 65535, inclusive`);
      if (port.protocol !== undefined && !PROTOCOLS.has(port.protocol)) report(`${pp}.protocol`, `Unsupported value: ${json(port.protocol)}: supported values: "SCTP", "TCP", "UDP"`);
      if (pod.spec.hostNetwork && port.hostPort !== undefined && port.hostPort !== port.containerPort) {
        report(`${pp}.hostPort`, `Invalid value: ${json(port.hostPort)}: must match \`containerPort\` when \`hostNetwork\` is true; set hostPort to ${port.containerPort} or drop it`);
      }
      const hp = port.hostPort || (pod.spec.hostNetwork ? port.containerPort : 0);
      if (hp) {
        const key = `${port.hostIP || ''}/${hp}/${port.protocol || 'TCP'}`;
        if (hostPorts.has(key)) report(`${pp}.hostPort`, `Duplicate value: ${json(key)}: two containers of one pod bind the same host port; give one another port`);
        hostPorts.add(key);
      }
    });
  }
});

rule('env', 'api', 'ValidateEnv, validateEnvVarValueFrom (pkg/apis/core/validation); IsEnvVarName, IsConfigMapKey', (o, report) => {
  const pod = podOf(o);
  if (!pod) return;
  for (const [c, p] of containersOf(pod)) {
    (c.env || []).forEach((e, i) => {
      const ep = `${p}.env[${i}]`;
      if (!e.name) report(`${ep}.name`, 'Required value: every env var needs a name');
      else if (!isEnvVarName(e.name)) report(`${ep}.name`, `Invalid value: ${json(e.name)}: a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit; rename it, e.g. "MY_VAR"`);
      if (!e.valueFrom) return;
      const sources = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef', 'fileKeyRef'].filter((s) => e.valueFrom[s]);
      if (sources.length !== 1) report(`${ep}.valueFrom`, `Invalid value: ${sources.length === 0 ? 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`' : 'may not have more than one field specified at a time'}; keep one source`);
      if (e.value) report(`${ep}.valueFrom`, 'Invalid value: may not be specified when `value` is not empty; keep either value or valueFrom');
      for (const s of ['configMapKeyRef', 'secretKeyRef']) {
        const ref = e.valueFrom[s];
        if (!ref) continue;
        if (!ref.name) report(`${ep}.valueFrom.${s}.name`, 'Required value: name the ConfigMap or Secret');
        if (!isConfigMapKey(ref.key)) report(`${ep}.valueFrom.${s}.key`, `Invalid value: ${json(ref.key)}: a valid config key must consist of alphanumeric characters, '-', '_' or '.'`);
      }
    });
  }
});

/** validateProbe / validateHandler: exactly one handler; thresholds. */
function checkProbe(probe, path, kind, report) {
  const handlers = PROBE_HANDLERS.filter((h) => probe[h]);
  if (handlers.length === 0) report(path, 'Required value: must specify a handler type; give the probe exec, httpGet, tcpSocket or grpc');
  if (handlers.length > 1) report(path, `Forbidden: may not specify more than 1 handler type (has ${handlers.join(', ')}); keep one`);
  for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold', 'terminationGracePeriodSeconds']) {
    if (probe[f] !== undefined && (!Number.isInteger(probe[f]) || probe[f] < 0)) report(`${path}.${f}`, `Invalid value: ${json(probe[f])}: must be greater than or equal to 0`);
  }
  if ((kind === 'livenessProbe' || kind === 'startupProbe') && probe.successThreshold !== undefined && probe.successThreshold !== 1) {
    report(`${path}.successThreshold`, `Invalid value: ${json(probe.successThreshold)}: must be 1 (a ${kind} counts one success); set successThreshold: 1 or drop it`);
  }
  if (probe.terminationGracePeriodSeconds !== undefined && kind === 'readinessProbe') report(`${path}.terminationGracePeriodSeconds`, 'Invalid value: must not be set for readinessProbes');
  const port = (probe.httpGet && probe.httpGet.port) ?? (probe.tcpSocket && probe.tcpSocket.port);
  if (port !== undefined && !(typeof port === 'number' ? isPortNumber(port) : isPortName(port))) report(`${path}.${probe.httpGet ? 'httpGet' : 'tcpSocket'}.port`, `Invalid value: ${json(port)}: must be a port number 1-65535 or a port name (IANA_SVC_NAME)`);
  if (probe.exec && (!probe.exec.command || probe.exec.command.length === 0)) report(`${path}.exec.command`, 'Required value: give the command');
}

rule('probes', 'api', 'validateProbe, validateHandler, validateLifecycle, validateInitContainers (pkg/apis/core/validation)', (o, report) => {
  const pod = podOf(o);
  if (!pod) return;
  for (const [c, p, init] of containersOf(pod)) {
    for (const kind of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      if (!c[kind]) continue;
      if (init && !isSidecar(c, init)) report(`${p}.${kind}`, `Forbidden: may not be set for init containers without restartPolicy=Always; remove the ${kind}`);
      else checkProbe(c[kind], `${p}.${kind}`, kind, report);
    }
    for (const hook of ['postStart', 'preStop']) {
      const h = c.lifecycle && c.lifecycle[hook];
      if (!h) continue;
      const n = LIFECYCLE_HANDLERS.filter((x) => h[x]).length;
      if (n !== 1) report(`${p}.lifecycle.${hook}`, n === 0 ? 'Required value: must specify a handler type' : 'Forbidden: may not specify more than 1 handler type');
    }
  }
});

rule('security-context', 'api', 'ValidateSecurityContext, ValidatePodSecurityContext, validateSeccompProfileField (pkg/apis/core/validation); IsValidUserID, IsValidGroupID', (o, report) => {
  const pod = podOf(o);
  if (!pod) return;
  const checkIds = (sc, path) => {
    for (const f of ['runAsUser', 'runAsGroup', 'fsGroup']) {
      if (sc[f] !== undefined && (!Number.isInteger(sc[f]) || sc[f] < 0 || sc[f] > 2147483647)) report(`${path}.${f}`, `Invalid value: ${json(sc[f])}: must be between 0 and 2147483647, inclusive`);
    }
    const seccomp = sc.seccompProfile;
    if (seccomp) {
      if (!['RuntimeDefault', 'Unconfined', 'Localhost'].includes(seccomp.type)) report(`${path}.seccompProfile.type`, `Unsupported value: ${json(seccomp.type)}: supported values: "Localhost", "RuntimeDefault", "Unconfined"`);
      if (seccomp.type === 'Localhost' && !seccomp.localhostProfile) report(`${path}.seccompProfile.localhostProfile`, 'Required value: must be set when seccomp type is Localhost');
      if (seccomp.type !== 'Localhost' && seccomp.localhostProfile) report(`${path}.seccompProfile.localhostProfile`, 'Invalid value: can only be set when seccomp type is Localhost');
    }
  };
  if (pod.spec.securityContext) checkIds(pod.spec.securityContext, `${pod.path}.securityContext`);
  for (const [c, p] of containersOf(pod)) {
    const sc = c.securityContext;
    if (!sc) continue;
    checkIds(sc, `${p}.securityContext`);
    if (sc.allowPrivilegeEscalation === false && sc.privileged === true) {
      report(`${p}.securityContext`, 'Invalid value: cannot set `allowPrivilegeEscalation` to false and `privileged` to true; a privileged container can always escalate: drop one of the two');
    }
    if (sc.allowPrivilegeEscalation === false && ((sc.capabilities && sc.capabilities.add) || []).includes('CAP_SYS_ADMIN')) {
      report(`${p}.securityContext`, 'Invalid value: cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN');
    }
  }
});

rule('run-as-non-root', 'controller', 'kubelet verifyRunAsNonRoot (pkg/kubelet/kuberuntime/security_context_others.go): the container never starts (CreateContainerConfigError)', (o, report) => {
  const pod = podOf(o);
  if (!pod) return;
  const psc = pod.spec.securityContext || {};
  for (const [c, p] of containersOf(pod)) {
    const sc = c.securityContext || {};
    const nonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot;
    const user = sc.runAsUser ?? psc.runAsUser;
    if (nonRoot === true && user === 0) {
      report(`${p}.securityContext`, 'runAsNonRoot is true but runAsUser is 0: the kubelet refuses to start the container ("container\'s runAsUser breaks non-root policy"); run as a non-zero UID, or drop runAsNonRoot for a container that must be root');
    }
  }
});

rule('capabilities', 'controller', 'the container runtime\'s capability list (containerd/CRI-O prefix names with CAP_ and refuse unknown ones) and Pod Security\'s capability checks (k8s.io/pod-security-admission policy/check_capabilities_*.go, exact names)', (o, report) => {
  const pod = podOf(o);
  if (!pod) return;
  for (const [c, p] of containersOf(pod)) {
    const caps = (c.securityContext && c.securityContext.capabilities) || {};
    for (const field of ['add', 'drop']) {
      (caps[field] || []).forEach((cap, i) => {
        if (cap === 'ALL') return;
        if (typeof cap === 'string' && cap.startsWith('CAP_')) report(`${p}.securityContext.capabilities.${field}[${i}]`, `${json(cap)}: Kubernetes names capabilities without the CAP_ prefix (the runtime adds it, and Pod Security compares exact names); use ${json(cap.slice(4))}`);
        else if (!LINUX_CAPABILITIES.has(cap)) report(`${p}.securityContext.capabilities.${field}[${i}]`, `${json(cap)}: not a Linux capability; the runtime refuses to create the container; use a name from capabilities(7) without CAP_, e.g. "NET_ADMIN"`);
      });
    }
  }
});

rule('resources', 'api', 'ValidateResourceRequirements, ValidateResourceQuantityValue (pkg/apis/core/validation)', (o, report) => {
  const pod = podOf(o);
  if (!pod) return;
  for (const [c, p] of containersOf(pod)) {
    const r = c.resources || {};
    for (const part of ['requests', 'limits']) {
      for (const [name, q] of Object.entries(r[part] || {})) {
        const v = isQuantity(q) ? parseQuantity(q) : undefined;
        if (v === undefined) report(`${p}.resources.${part}.${name}`, `Invalid value: ${json(q)}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
        else if (v < 0) report(`${p}.resources.${part}.${name}`, `Invalid value: ${json(q)}: must be greater than or equal to 0`);
      }
    }
    for (const [name, q] of Object.entries(r.requests || {})) {
      const limit = r.limits && r.limits[name];
      if (limit !== undefined && parseQuantity(q) > parseQuantity(limit)) report(`${p}.resources.requests`, `Invalid value: ${json(q)}: must be less than or equal to ${name} limit of ${limit}; raise the limit or lower the request`);
    }
  }
});

// --- volumes ----------------------------------------------------------------------------------------------------

rule('volumes', 'api', 'ValidateVolumes, validateVolumeSource, validateHostPathVolumeSource, validateHostPathType, validateVolumeMounts (pkg/apis/core/validation)', (o, report) => {
  const pod = podOf(o);
  if (!pod) return;
  const names = new Set();
  (pod.spec.volumes || []).forEach((v, i) => {
    const p = `${pod.path}.volumes[${i}]`;
    if (!isDns1123Label(v.name)) report(`${p}.name`, `Invalid value: ${json(v.name)}: a volume name must be a DNS-1123 label; rename it`);
    else if (names.has(v.name)) report(`${p}.name`, `Duplicate value: ${json(v.name)}: volume names are unique in a pod; rename one`);
    names.add(v.name);
    const sources = POD_VOLUME_SOURCES.filter((s) => v[s] !== undefined);
    if (sources.length === 0) report(p, 'Required value: must specify a volume type; give the volume one source (emptyDir, configMap, secret, hostPath, persistentVolumeClaim, ...)');
    if (sources.length > 1) report(p, `Forbidden: may not specify more than 1 volume type (has ${sources.join(', ')}); split it into one volume per source`);
    if (v.hostPath) {
      if (!v.hostPath.path) report(`${p}.hostPath.path`, 'Required value: give the host path');
      else if (v.hostPath.path.split('/').includes('..')) report(`${p}.hostPath.path`, `Invalid value: ${json(v.hostPath.path)}: must not contain '..'`);
      if (v.hostPath.type !== undefined && !HOST_PATH_TYPES.has(v.hostPath.type)) report(`${p}.hostPath.type`, `Unsupported value: ${json(v.hostPath.type)}: supported values: "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"`);
    }
    for (const s of ['configMap', 'secret']) {
      const src = v[s];
      if (!src) continue;
      const modes = [['defaultMode', src.defaultMode], ...(src.items || []).map((it, j) => [`items[${j}].mode`, it.mode])];
      for (const [f, mode] of modes) {
        if (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o777)) report(`${p}.${s}.${f}`, `Invalid value: ${json(mode)}: must be a number between 0 and 0777 (octal), both inclusive`);
      }
      (src.items || []).forEach((it, j) => {
        if (!it.path || it.path.startsWith('/') || it.path.split('/').includes('..')) report(`${p}.${s}.items[${j}].path`, `Invalid value: ${json(it.path)}: must be a relative path without '..'`);
      });
    }
    if (v.projected) {
      const mode = v.projected.defaultMode;
      if (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o777)) report(`${p}.projected.defaultMode`, `Invalid value: ${json(mode)}: must be a number between 0 and 0777 (octal), both inclusive`);
      // validateProjectionSources: one kind per source, item paths relative and unique across all the sources.
      const seen = new Set();
      (v.projected.sources || []).forEach((source, j) => {
        const sp = `${p}.projected.sources[${j}]`;
        const kinds = ['secret', 'configMap', 'downwardAPI', 'serviceAccountToken', 'clusterTrustBundle'].filter((k) => source[k] !== undefined);
        if (kinds.length !== 1) report(sp, `Forbidden: may not specify ${kinds.length === 0 ? 'no' : 'more than 1'} volume projection type${kinds.length > 1 ? ` (has ${kinds.join(', ')})` : ''}; give each source exactly one`);
        for (const k of ['secret', 'configMap']) {
          ((source[k] && source[k].items) || []).forEach((it, n) => {
            const ip = `${sp}.${k}.items[${n}]`;
            if (!it.path || it.path.startsWith('/') || it.path.split('/').includes('..')) report(`${ip}.path`, `Invalid value: ${json(it.path)}: must be a relative path without '..'`);
            else if (seen.has(it.path)) report(`${ip}.path`, `Invalid value: ${json(it.path)}: conflicting duplicate paths; give each projected file its own path`);
            seen.add(it.path);
            if (it.mode !== undefined && (!Number.isInteger(it.mode) || it.mode < 0 || it.mode > 0o777)) report(`${ip}.mode`, `Invalid value: ${json(it.mode)}: must be a number between 0 and 0777 (octal), both inclusive`);
          });
        }
      });
    }
  });
  const claimTemplates = new Set(((o.kind === 'StatefulSet' && o.spec.volumeClaimTemplates) || []).map((t) => t.metadata && t.metadata.name));
  for (const [c, p] of containersOf(pod)) {
    const paths = new Set();
    (c.volumeMounts || []).forEach((m, i) => {
      const mp = `${p}.volumeMounts[${i}]`;
      if (!names.has(m.name) && !claimTemplates.has(m.name)) report(`${mp}.name`, `Not found: ${json(m.name)}: no volume of the pod has this name; add the volume or fix the mount`);
      if (!m.mountPath) report(`${mp}.mountPath`, 'Required value: give the mount path');
      else if (paths.has(m.mountPath)) report(`${mp}.mountPath`, `Invalid value: ${json(m.mountPath)}: must be unique; mount one volume per path`);
      paths.add(m.mountPath);
      if (m.subPath && (m.subPath.startsWith('/') || m.subPath.split('/').includes('..'))) report(`${mp}.subPath`, `Invalid value: ${json(m.subPath)}: must be a relative path without '..'`);
    });
  }
});

/**
 * The modes of the files a Secret, ConfigMap or projected volume puts in a container, by mounted path (`undefined`
 * mode: the kubelet's default 0644). Volumes of other kinds are not looked at.
 */
function projectedFileModes(volume) {
  const files = [];
  const add = (defaultMode, items, what) => {
    if (items && items.length > 0) for (const it of items) files.push({ path: it.path, mode: it.mode ?? defaultMode ?? 0o644, what });
    else files.push({ path: '(every key)', mode: defaultMode ?? 0o644, what });
  };
  for (const k of ['secret', 'configMap']) if (volume[k]) add(volume[k].defaultMode, volume[k].items, `${k} ${volume[k].secretName ?? volume[k].name}`);
  if (volume.projected) {
    for (const source of volume.projected.sources || []) {
      for (const k of ['secret', 'configMap']) if (source[k]) add(volume.projected.defaultMode, source[k].items, `${k} ${source[k].name}`);
    }
  }
  return files;
}

rule('file-readable', 'controller', 'kubelet AtomicWriter (pkg/volume/util/atomic_writer.go) writes each file with its mode, owned by root; SetVolumeOwnership (pkg/volume/volume_linux.go) gives the group to fsGroup only when the pod sets one', (o, report) => {
  const pod = podOf(o);
  if (!pod) return;
  const psc = pod.spec.securityContext || {};
  const volumes = new Map((pod.spec.volumes || []).map((v) => [v.name, v]));
  for (const [c, p] of containersOf(pod)) {
    const sc = c.securityContext || {};
    const user = sc.runAsUser ?? psc.runAsUser;
    const group = sc.runAsGroup ?? psc.runAsGroup;
    // Unknown user (the image's) or root: nothing to say.
    if (user === undefined || user === 0) continue;
    const groups = new Set([group, ...(psc.supplementalGroups || [])].filter((g) => g !== undefined));
    const fsGroup = psc.fsGroup;
    (c.volumeMounts || []).forEach((m, i) => {
      const volume = volumes.get(m.name);
      if (!volume) return;
      for (const f of projectedFileModes(volume)) {
        if (f.mode & 0o004) continue;
        const groupReadable = (f.mode & 0o040) !== 0 && ((fsGroup !== undefined) || groups.has(0));
        if (groupReadable) continue;
        const why = (f.mode & 0o040) === 0
          ? `mode 0${f.mode.toString(8)} lets only root read it`
          : `mode 0${f.mode.toString(8)} lets root and the file's group read it, and without securityContext.fsGroup that group is root`;
        report(`${p}.volumeMounts[${i}]`, `${f.what} key ${f.path} in volume ${json(m.name)} is unreadable by uid ${user}: ${why}; set the pod's fsGroup (with a group-readable mode) or make the file world-readable if it is not secret`);
      }
    });
  }
});

// --- workloads --------------------------------------------------------------------------------------------------

/** The labels a selector's matchLabels and matchExpressions require of a pod (LabelSelectorAsSelector().Matches). */
function selectorMatches(selector, labels) {
  if (!selector) return false;
  const l = labels || {};
  const ok = Object.entries(selector.matchLabels || {}).every(([k, v]) => l[k] === v) && (selector.matchExpressions || []).every((r) => {
    if (r.operator === 'In') return k8sHas(l, r.key) && (r.values || []).includes(l[r.key]);
    if (r.operator === 'NotIn') return !k8sHas(l, r.key) || !(r.values || []).includes(l[r.key]);
    if (r.operator === 'Exists') return k8sHas(l, r.key);
    if (r.operator === 'DoesNotExist') return !k8sHas(l, r.key);
    return false;
  });
  return ok;
}
const k8sHas = (labels, key) => Object.prototype.hasOwnProperty.call(labels, key);
const emptySelector = (s) => !s || (Object.keys(s.matchLabels || {}).length === 0 && (s.matchExpressions || []).length === 0);

rule('workload-selector', 'api', 'ValidateDeploymentSpec, ValidateDaemonSetSpec, ValidateStatefulSetSpec (pkg/apis/apps/validation): selector required, non-empty, valid, and matching the template labels', (o, report) => {
  if (!['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(o.kind)) return;
  const spec = o.spec || {};
  if (emptySelector(spec.selector)) return report('spec.selector', `Invalid value: empty selector is invalid for ${o.kind.toLowerCase()}; select the pods by their labels`);
  checkLabelSelector(spec.selector, 'spec.selector', report);
  if (!selectorMatches(spec.selector, spec.template && spec.template.metadata && spec.template.metadata.labels)) {
    report('spec.template.metadata.labels', `Invalid value: ${json((spec.template && spec.template.metadata && spec.template.metadata.labels) || {})}: \`selector\` does not match template \`labels\`; give the template every label the selector requires`);
  }
});

rule('restart-policy', 'api', 'ValidatePodTemplateSpecForReplicaSet / ValidateDaemonSetSpec / ValidatePodTemplateSpecForStatefulSet (pkg/apis/apps/validation): restartPolicy Always, no activeDeadlineSeconds', (o, report) => {
  if (!['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(o.kind)) return;
  const pod = podOf(o);
  if (pod.spec.restartPolicy !== undefined && pod.spec.restartPolicy !== 'Always') report(`${pod.path}.restartPolicy`, `Unsupported value: ${json(pod.spec.restartPolicy)}: supported values: "Always"; a controller restarts its pods itself: use Always`);
  if (pod.spec.activeDeadlineSeconds !== undefined) report(`${pod.path}.activeDeadlineSeconds`, `Forbidden: activeDeadlineSeconds in ${o.kind} is not Supported; remove it`);
});

/** ValidatePositiveIntOrPercent + IsNotMoreThan100Percent. */
function checkIntOrPercent(v, path, report) {
  if (v === undefined) return;
  if (typeof v === 'string') {
    if (!isPercent(v)) report(path, `Invalid value: ${json(v)}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%')`);
    else if (parseInt(v, 10) > 100) report(path, `Invalid value: ${json(v)}: must not be greater than 100%`);
  } else if (!Number.isInteger(v) || v < 0) {
    report(path, `Invalid value: ${json(v)}: must be greater than or equal to 0`);
  }
}
const isZero = (v) => v === 0 || v === '0%';

rule('deployment', 'api', 'ValidateDeploymentSpec, ValidateDeploymentStrategy, ValidateRollingUpdateDeployment (pkg/apis/apps/validation)', (o, report) => {
  if (o.kind !== 'Deployment') return;
  const spec = o.spec || {};
  if (spec.replicas !== undefined && (!Number.isInteger(spec.replicas) || spec.replicas < 0)) report('spec.replicas', `Invalid value: ${json(spec.replicas)}: must be greater than or equal to 0`);
  const s = spec.strategy || {};
  if (s.type !== undefined && s.type !== 'Recreate' && s.type !== 'RollingUpdate') report('spec.strategy.type', `Unsupported value: ${json(s.type)}: supported values: "Recreate", "RollingUpdate"`);
  if (s.type === 'Recreate' && s.rollingUpdate) report('spec.strategy.rollingUpdate', 'Forbidden: may not be specified when strategy `type` is \'Recreate\'; remove rollingUpdate');
  const ru = s.rollingUpdate;
  if (ru) {
    checkIntOrPercent(ru.maxUnavailable, 'spec.strategy.rollingUpdate.maxUnavailable', report);
    checkIntOrPercent(ru.maxSurge, 'spec.strategy.rollingUpdate.maxSurge', report);
    if (isZero(ru.maxUnavailable ?? '25%') && isZero(ru.maxSurge ?? '25%')) report('spec.strategy.rollingUpdate.maxUnavailable', 'Invalid value: may not be 0 when `maxSurge` is 0; the rollout could never replace a pod: allow one unavailable or one surge pod');
  }
  if (spec.progressDeadlineSeconds !== undefined && spec.progressDeadlineSeconds <= (spec.minReadySeconds || 0)) report('spec.progressDeadlineSeconds', 'Invalid value: must be greater than minReadySeconds');
});

rule('daemonset', 'api', 'ValidateDaemonSetSpec, ValidateDaemonSetUpdateStrategy, ValidateRollingUpdateDaemonSet (pkg/apis/apps/validation)', (o, report) => {
  if (o.kind !== 'DaemonSet') return;
  const s = (o.spec && o.spec.updateStrategy) || {};
  if (s.type !== undefined && s.type !== 'RollingUpdate' && s.type !== 'OnDelete') report('spec.updateStrategy.type', `Unsupported value: ${json(s.type)}: supported values: "OnDelete", "RollingUpdate"`);
  // Unlike a StatefulSet's, a DaemonSet's OnDelete strategy may keep a rollingUpdate block (it is ignored).
  const ru = s.rollingUpdate;
  if (ru) {
    checkIntOrPercent(ru.maxUnavailable, 'spec.updateStrategy.rollingUpdate.maxUnavailable', report);
    checkIntOrPercent(ru.maxSurge, 'spec.updateStrategy.rollingUpdate.maxSurge', report);
    if (isZero(ru.maxUnavailable ?? 1) && isZero(ru.maxSurge ?? 0)) report('spec.updateStrategy.rollingUpdate.maxUnavailable', 'Invalid value: may not be 0 when `maxSurge` is 0; allow one node at a time: maxUnavailable: 1');
    if (ru.maxUnavailable !== undefined && !isZero(ru.maxUnavailable) && ru.maxSurge !== undefined && !isZero(ru.maxSurge)) report('spec.updateStrategy.rollingUpdate.maxSurge', 'Invalid value: may not be set when maxUnavailable is non-zero');
  }
  if (o.spec && o.spec.minReadySeconds !== undefined && o.spec.minReadySeconds < 0) report('spec.minReadySeconds', 'Invalid value: must be greater than or equal to 0');
});

rule('statefulset', 'api', 'ValidateStatefulSetSpec, ValidatePersistentVolumeClaimRetentionPolicy (pkg/apis/apps/validation)', (o, report) => {
  if (o.kind !== 'StatefulSet') return;
  const spec = o.spec || {};
  if (spec.podManagementPolicy !== undefined && !['OrderedReady', 'Parallel'].includes(spec.podManagementPolicy)) report('spec.podManagementPolicy', `Invalid value: ${json(spec.podManagementPolicy)}: must be 'OrderedReady' or 'Parallel'`);
  const s = spec.updateStrategy || {};
  if (s.type !== undefined && !['RollingUpdate', 'OnDelete'].includes(s.type)) report('spec.updateStrategy', `Invalid value: ${json(s.type)}: must be 'RollingUpdate' or 'OnDelete'`);
  if (s.type === 'OnDelete' && s.rollingUpdate) report('spec.updateStrategy.rollingUpdate', 'Invalid value: only allowed for updateStrategy \'RollingUpdate\'; remove rollingUpdate');
  if (s.rollingUpdate && s.rollingUpdate.partition !== undefined && (!Number.isInteger(s.rollingUpdate.partition) || s.rollingUpdate.partition < 0)) report('spec.updateStrategy.rollingUpdate.partition', 'Invalid value: must be greater than or equal to 0');
  if (spec.replicas !== undefined && (!Number.isInteger(spec.replicas) || spec.replicas < 0)) report('spec.replicas', `Invalid value: ${json(spec.replicas)}: must be greater than or equal to 0`);
  const retention = spec.persistentVolumeClaimRetentionPolicy;
  for (const f of ['whenDeleted', 'whenScaled']) {
    if (retention && retention[f] !== undefined && !['Retain', 'Delete'].includes(retention[f])) report(`spec.persistentVolumeClaimRetentionPolicy.${f}`, `Unsupported value: ${json(retention[f])}: supported values: "Retain", "Delete"`);
  }
});

rule('volume-claim-templates', 'controller', 'StatefulSet controller getPersistentVolumeClaims / createPersistentVolumeClaims (pkg/controller/statefulset/stateful_pod_control.go): each claim and pod volume it makes from a template is validated by ValidatePersistentVolumeClaim and ValidatePodSpec, and refused', (o, report) => {
  if (o.kind !== 'StatefulSet') return;
  const spec = o.spec || {};
  const names = new Set();
  (spec.volumeClaimTemplates || []).forEach((t, i) => {
    const p = `spec.volumeClaimTemplates[${i}]`;
    const name = t.metadata && t.metadata.name;
    if (!isDns1123Label(name)) report(`${p}.metadata.name`, `Invalid value: ${json(name)}: a claim template name becomes a volume name: a DNS-1123 label`);
    else if (names.has(name)) report(`${p}.metadata.name`, `Duplicate value: ${json(name)}`);
    names.add(name);
    if (((o.spec.template && o.spec.template.spec && o.spec.template.spec.volumes) || []).some((v) => v.name === name)) report(`${p}.metadata.name`, `Duplicate value: ${json(name)}: the pod template already has a volume of this name`);
    const ts = t.spec || {};
    if (!ts.accessModes || ts.accessModes.length === 0) report(`${p}.spec.accessModes`, 'Required value: at least 1 access mode is required; use ["ReadWriteOnce"]');
    if (!(ts.resources && ts.resources.requests && ts.resources.requests.storage)) report(`${p}.spec.resources[storage]`, 'Required value: the controller\'s claims would be refused; give the claim a storage request, e.g. "10Gi"');
  });
});

// --- Service ----------------------------------------------------------------------------------------------------

rule('service', 'api', 'ValidateService, validateServicePort, ValidatePortNumOrName, validateServiceFields (pkg/apis/core/validation)', (o, report) => {
  if (o.kind !== 'Service') return;
  const spec = o.spec || {};
  const type = spec.type || 'ClusterIP';
  const headless = spec.clusterIP === 'None';
  const ports = spec.ports || [];
  if (!['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(type)) report('spec.type', `Unsupported value: ${json(type)}: supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`);
  if (headless && type !== 'ClusterIP') report('spec.clusterIPs[0]', `Invalid value: "None": may not be set to 'None' for ${type} services`);
  if (ports.length === 0 && !headless && type !== 'ExternalName') report('spec.ports', 'Required value: a Service with a cluster IP needs at least one port (only a headless Service, clusterIP None, may have none)');
  const names = new Set();
  const keys = new Set();
  ports.forEach((port, i) => {
    const p = `spec.ports[${i}]`;
    if (ports.length > 1 && !port.name) report(`${p}.name`, 'Required value: every port of a multi-port Service needs a name; name it, e.g. "mysql"');
    else if (port.name !== undefined && port.name !== '') {
      if (!isDns1123Label(port.name)) report(`${p}.name`, `Invalid value: ${json(port.name)}: a Service port name must be a DNS-1123 label`);
      else if (names.has(port.name)) report(`${p}.name`, `Duplicate value: ${json(port.name)}`);
      names.add(port.name);
    }
    if (!isPortNumber(port.port)) report(`${p}.port`, `Invalid value: ${json(port.port)}: must be between 1 and 65535, inclusive`);
    if (port.protocol !== undefined && !PROTOCOLS.has(port.protocol)) report(`${p}.protocol`, `Unsupported value: ${json(port.protocol)}: supported values: "SCTP", "TCP", "UDP"`);
    const key = `${port.port}/${port.protocol || 'TCP'}`;
    if (keys.has(key)) report(p, `Duplicate value: ${json({ port: port.port, protocol: port.protocol || 'TCP' })}: each port and protocol once`);
    keys.add(key);
    const tp = port.targetPort;
    if (tp !== undefined && !(typeof tp === 'number' ? isPortNumber(tp) : isPortName(tp))) report(`${p}.targetPort`, `Invalid value: ${json(tp)}: must be a port number 1-65535 or a container port name (IANA_SVC_NAME, at most 15 characters)`);
    if (port.nodePort !== undefined && type === 'ClusterIP') report(`${p}.nodePort`, 'Forbidden: may not be used when `type` is \'ClusterIP\'');
  });
  checkLabels(spec.selector, 'spec.selector', report);
  (spec.externalIPs || []).forEach((ip, i) => { if (!net.isIP(ip)) report(`spec.externalIPs[${i}]`, `Invalid value: ${json(ip)}: must be a valid IP address`); });
});

// --- policy -----------------------------------------------------------------------------------------------------

rule('pod-disruption-budget', 'api', 'ValidatePodDisruptionBudgetSpec (pkg/apis/policy/validation); ValidatePositiveIntOrPercent, IsNotMoreThan100Percent', (o, report) => {
  if (o.kind !== 'PodDisruptionBudget') return;
  const spec = o.spec || {};
  if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) report('spec', 'Invalid value: minAvailable and maxUnavailable cannot be both set; keep one');
  checkIntOrPercent(spec.minAvailable, 'spec.minAvailable', report);
  checkIntOrPercent(spec.maxUnavailable, 'spec.maxUnavailable', report);
  checkLabelSelector(spec.selector, 'spec.selector', report);
  if (spec.unhealthyPodEvictionPolicy !== undefined && !['IfHealthyBudget', 'AlwaysAllow'].includes(spec.unhealthyPodEvictionPolicy)) report('spec.unhealthyPodEvictionPolicy', `Unsupported value: ${json(spec.unhealthyPodEvictionPolicy)}: supported values: "AlwaysAllow", "IfHealthyBudget"`);
});

// --- networking -------------------------------------------------------------------------------------------------

rule('network-policy', 'api', 'ValidateNetworkPolicySpec, ValidateNetworkPolicyPeer, ValidateNetworkPolicyPort, ValidateIPBlock (pkg/apis/networking/validation); IsValidCIDR', (o, report) => {
  if (o.kind !== 'NetworkPolicy') return;
  const spec = o.spec || {};
  checkLabelSelector(spec.podSelector, 'spec.podSelector', report);
  if ((spec.policyTypes || []).length > 2) report('spec.policyTypes', 'Invalid value: may not specify more than two policyTypes');
  (spec.policyTypes || []).forEach((t, i) => { if (t !== 'Ingress' && t !== 'Egress') report(`spec.policyTypes[${i}]`, `Unsupported value: ${json(t)}: supported values: "Egress", "Ingress"`); });
  for (const [dir, peersKey] of [['ingress', 'from'], ['egress', 'to']]) {
    (spec[dir] || []).forEach((r, i) => {
      (r.ports || []).forEach((port, j) => {
        const p = `spec.${dir}[${i}].ports[${j}]`;
        if (port.protocol !== undefined && !PROTOCOLS.has(port.protocol)) report(`${p}.protocol`, `Unsupported value: ${json(port.protocol)}: supported values: "SCTP", "TCP", "UDP"`);
        if (port.port !== undefined && !(typeof port.port === 'number' ? isPortNumber(port.port) : isPortName(port.port))) report(`${p}.port`, `Invalid value: ${json(port.port)}: must be a port number 1-65535 or a port name`);
        if (port.endPort !== undefined) {
          if (typeof port.port !== 'number') report(`${p}.endPort`, 'Required value: may not be specified when `port` is non-numeric');
          else if (port.endPort < port.port) report(`${p}.endPort`, `Invalid value: ${port.endPort}: must be greater than or equal to \`port\``);
        }
      });
      (r[peersKey] || []).forEach((peer, j) => {
        const p = `spec.${dir}[${i}].${peersKey}[${j}]`;
        const kinds = ['podSelector', 'namespaceSelector', 'ipBlock'].filter((k) => peer[k] !== undefined);
        if (kinds.length === 0) report(p, 'Required value: must specify a peer');
        if (peer.ipBlock && kinds.length > 1) report(p, 'Forbidden: may not specify both ipBlock and another peer; put them in separate peers');
        checkLabelSelector(peer.podSelector, `${p}.podSelector`, report);
        checkLabelSelector(peer.namespaceSelector, `${p}.namespaceSelector`, report);
        if (!peer.ipBlock) return;
        const b = peer.ipBlock;
        if (!b.cidr) return report(`${p}.ipBlock.cidr`, 'Required value: give the CIDR, e.g. "10.0.0.0/24"');
        const cidr = parseCidr(b.cidr);
        if (!cidr) return report(`${p}.ipBlock.cidr`, `Invalid value: ${json(b.cidr)}: must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)`);
        (b.except || []).forEach((e, k) => {
          const ex = parseCidr(e);
          if (!ex) return report(`${p}.ipBlock.except[${k}]`, `Invalid value: ${json(e)}: must be a valid CIDR value`);
          const width = BigInt(cidr.family === 4 ? 32 : 128);
          const inside = ex.family === cidr.family && ex.bits > cidr.bits && (ex.network >> (width - BigInt(cidr.bits))) === (cidr.network >> (width - BigInt(cidr.bits)));
          if (!inside) report(`${p}.ipBlock.except[${k}]`, `Invalid value: ${json(e)}: must be a strict subset of \`cidr\` (${b.cidr}); drop it or fix the cidr`);
        });
      });
    });
  }
});

rule('cidr-host-bits', 'convention', 'IsValidCIDR with StrictIPCIDRValidation (apimachinery util/validation/ip.go; off by default in 1.33): newer API servers refuse host bits in a new object\'s CIDR', (o, report) => {
  if (o.kind !== 'NetworkPolicy') return;
  for (const [dir, peersKey] of [['ingress', 'from'], ['egress', 'to']]) {
    ((o.spec && o.spec[dir]) || []).forEach((r, i) => (r[peersKey] || []).forEach((peer, j) => {
      const cidr = peer.ipBlock && parseCidr(peer.ipBlock.cidr);
      if (cidr && cidr.hostBits) report(`spec.${dir}[${i}].${peersKey}[${j}].ipBlock.cidr`, `Invalid value: ${json(peer.ipBlock.cidr)}: must not have bits set beyond the prefix length (ambiguous, and refused by newer API servers); use the network address`);
    }));
  }
});

// --- storage ----------------------------------------------------------------------------------------------------

rule('persistent-volume', 'api', 'ValidatePersistentVolumeSpec, validateLocalVolumeSource, validateVolumeNodeAffinity (pkg/apis/core/validation)', (o, report) => {
  if (o.kind !== 'PersistentVolume') return;
  const spec = o.spec || {};
  if (!spec.capacity || spec.capacity.storage === undefined) report('spec.capacity', 'Required value: give the volume a storage capacity, e.g. "100Gi"');
  else if (!(parseQuantity(spec.capacity.storage) > 0)) report('spec.capacity.storage', `Invalid value: ${json(spec.capacity.storage)}: must be a positive quantity`);
  if (!spec.accessModes || spec.accessModes.length === 0) report('spec.accessModes', 'Required value: give at least one access mode, e.g. ["ReadWriteOnce"]');
  const sources = PV_SOURCES.filter((s) => spec[s] !== undefined);
  if (sources.length === 0) report('spec', 'Required value: must specify a volume type');
  if (sources.length > 1) report('spec', `Forbidden: may not specify more than 1 volume type (has ${sources.join(', ')})`);
  if (spec.persistentVolumeReclaimPolicy !== undefined && !['Retain', 'Delete', 'Recycle'].includes(spec.persistentVolumeReclaimPolicy)) report('spec.persistentVolumeReclaimPolicy', `Unsupported value: ${json(spec.persistentVolumeReclaimPolicy)}: supported values: "Delete", "Recycle", "Retain"`);
  if (spec.volumeMode !== undefined && !['Filesystem', 'Block'].includes(spec.volumeMode)) report('spec.volumeMode', `Unsupported value: ${json(spec.volumeMode)}: supported values: "Block", "Filesystem"`);
  if (spec.storageClassName && !isDns1123Subdomain(spec.storageClassName)) report('spec.storageClassName', `Invalid value: ${json(spec.storageClassName)}: a StorageClass name is a DNS-1123 subdomain`);
  if (spec.local) {
    if (!spec.local.path) report('spec.local.path', 'Required value: give the directory on the node');
    else if (!spec.local.path.startsWith('/') || spec.local.path.split('/').includes('..')) report('spec.local.path', `Invalid value: ${json(spec.local.path)}: must be an absolute path without '..' (the directory on the node)`);
    if (!spec.nodeAffinity) report('spec.nodeAffinity', 'Required value: Local volume requires node affinity; pin the volume to the node that has the directory');
  }
});

rule('storage-class', 'api', 'ValidateStorageClass, validateProvisioner, validateReclaimPolicy, validateVolumeBindingMode (pkg/apis/storage/validation)', (o, report) => {
  if (o.kind !== 'StorageClass') return;
  if (!o.provisioner) report('provisioner', 'Required value: name the provisioner, e.g. "kubernetes.io/no-provisioner" for local volumes');
  else if (!isQualifiedName(o.provisioner.toLowerCase())) report('provisioner', `Invalid value: ${json(o.provisioner)}: a provisioner name must be a qualified name`);
  if (o.reclaimPolicy !== undefined && !['Delete', 'Retain'].includes(o.reclaimPolicy)) report('reclaimPolicy', `Unsupported value: ${json(o.reclaimPolicy)}: supported values: "Delete", "Retain"`);
  if (o.volumeBindingMode !== undefined && !['Immediate', 'WaitForFirstConsumer'].includes(o.volumeBindingMode)) report('volumeBindingMode', `Unsupported value: ${json(o.volumeBindingMode)}: supported values: "Immediate", "WaitForFirstConsumer"`);
  if (Object.keys(o.parameters || {}).length > 512) report('parameters', 'Too many: must have at most 512 items');
});

rule('config-data', 'api', 'ValidateConfigMap, ValidateSecret (pkg/apis/core/validation): IsConfigMapKey keys, at most 1 MiB of data', (o, report) => {
  if (o.kind !== 'ConfigMap' && o.kind !== 'Secret') return;
  let size = 0;
  for (const field of ['data', 'binaryData', 'stringData']) {
    for (const [k, v] of Object.entries(o[field] || {})) {
      size += String(v).length;
      if (!isConfigMapKey(k)) report(`${field}[${k}]`, `Invalid value: ${json(k)}: a valid config key must consist of alphanumeric characters, '-', '_' or '.'; rename the key`);
    }
  }
  if (size > 1024 * 1024) report('data', `Too long: must have at most 1048576 bytes (has ${size}); split it into several ${o.kind}s`);
});

// --- versions ---------------------------------------------------------------------------------------------------

/** The value at a dotted path with `[]` for "every element". */
function valuesAt(obj, path) {
  let current = [obj];
  for (const part of path.split('.')) {
    const each = part.endsWith('[]');
    const key = each ? part.slice(0, -2) : part;
    current = current.flatMap((c) => (c && typeof c === 'object' && c[key] !== undefined ? (each ? (Array.isArray(c[key]) ? c[key] : []) : [c[key]]) : []));
  }
  return current;
}

rule('field-version', 'version', 'the feature gates of pkg/features/kube_features.go (a field whose feature is off is dropped by the registry strategy\'s dropDisabledFields)', (o, report, ctx) => {
  const pod = podOf(o);
  for (const f of FIELD_VERSIONS) {
    if (f.kind !== '*' && f.kind !== o.kind) continue;
    if (f.kind === '*' && !pod) continue;
    const [root, prefix] = f.kind === '*' ? [pod.spec, `${pod.path}.`] : [o, ''];
    if (valuesAt(root, f.path).length === 0) continue;
    if (f.since === undefined) {
      report(`${prefix}${f.path}`, `is an alpha field (${f.feature}), off by default in every supported Kubernetes version: the API server drops it without an error; remove it`);
    } else if (compareVersions(f.since, ctx.minVersion) > 0) {
      report(`${prefix}${f.path}`, `needs Kubernetes ${f.since} (${f.feature}), but these objects must work on Kubernetes ${ctx.minVersion.replace(/^v/, '')}, which drops it without an error; remove the field (or raise the minimum supported version)`);
    }
  }
});

// --- controller semantics over the whole set -------------------------------------------------------------------

const SET_RULES = [];
function setRule(id, source, check) {
  SET_RULES.push({ id, level: 'controller', source, check });
}

/** The workloads of a set with their namespace, template labels and the count of pods when known. */
function workloadsOf(objects) {
  return objects.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(o.kind) && o.spec && o.spec.template).map((o) => ({
    o, ns: o.metadata.namespace, labels: (o.spec.template.metadata && o.spec.template.metadata.labels) || {},
    replicas: o.kind === 'DaemonSet' ? undefined : (o.spec.replicas ?? 1),
  }));
}
const sameNamespace = (a, b) => (a.metadata.namespace || '') === (b.metadata.namespace || '');

setRule('pdb-controller', 'DisruptionController getExpectedPodCount / getExpectedScale and finders (pkg/controller/disruption/disruption.go): maxUnavailable and percentages need the controller\'s scale subresource', (objects, report) => {
  for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
    const spec = pdb.spec || {};
    const selected = workloadsOf(objects).filter((w) => sameNamespace(w.o, pdb) && selectorMatches(spec.selector, w.labels));
    const daemonSets = selected.filter((w) => w.o.kind === 'DaemonSet');
    const scaled = spec.maxUnavailable !== undefined || isPercent(spec.minAvailable);
    if (daemonSets.length > 0 && scaled) {
      report(pdb, 'spec', `selects the pods of DaemonSet ${daemonSets.map((w) => w.o.metadata.name).join(', ')}, which has no scale subresource: the disruption controller cannot compute ${spec.maxUnavailable !== undefined ? 'maxUnavailable' : 'a percentage'} (SyncFailed, disruptionsAllowed 0) and refuses every eviction; use an integer minAvailable, e.g. the node count minus 1`);
    }
    for (const w of selected.filter((x) => x.replicas !== undefined)) {
      const never = (Number.isInteger(spec.minAvailable) && spec.minAvailable >= w.replicas && w.replicas > 0) || isZero(spec.maxUnavailable) || spec.minAvailable === '100%';
      if (never) report(pdb, 'spec', `allows no disruption of ${w.o.kind} ${w.o.metadata.name} (${w.replicas} replicas): disruptionsAllowed stays 0 and every drain blocks; keep minAvailable below the replicas`);
    }
  }
  // The eviction API refuses a pod that more than one budget selects (pkg/registry/core/pod/storage/eviction.go).
  for (const w of workloadsOf(objects)) {
    const budgets = objects.filter((o) => o.kind === 'PodDisruptionBudget' && sameNamespace(o, w.o) && selectorMatches(o.spec && o.spec.selector, w.labels));
    if (budgets.length > 1) report(w.o, 'spec.template.metadata.labels', `its pods are selected by ${budgets.length} PodDisruptionBudgets (${budgets.map((b) => b.metadata.name).join(', ')}): the eviction API refuses such pods ("more than one PodDisruptionBudget"); keep one`);
  }
});

setRule('statefulset-service', 'StatefulSet controller newStatefulSetPod / identity (pkg/controller/statefulset/stateful_set_utils.go): pods get hostname.serviceName DNS only through a headless Service that selects them', (objects, report) => {
  for (const sts of objects.filter((o) => o.kind === 'StatefulSet')) {
    const name = sts.spec && sts.spec.serviceName;
    if (!name) { report(sts, 'spec.serviceName', 'is empty: the pods get no stable DNS names (<pod>.<service>); name a headless Service that selects them'); continue; }
    const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === name && sameNamespace(o, sts));
    const labels = (sts.spec.template && sts.spec.template.metadata && sts.spec.template.metadata.labels) || {};
    if (!svc) report(sts, 'spec.serviceName', `names Service ${json(name)}, which is not among the objects: the pods' DNS names never resolve; create the headless Service`);
    else if (svc.spec.clusterIP !== 'None') report(sts, 'spec.serviceName', `names Service ${json(name)}, which is not headless (clusterIP ${json(svc.spec.clusterIP)}): per-pod DNS records exist only for a headless Service; set clusterIP: None`);
    else if (!svc.spec.selector || !Object.entries(svc.spec.selector).every(([k, v]) => labels[k] === v)) report(sts, 'spec.serviceName', `names Service ${json(name)}, whose selector does not select the StatefulSet's pods; give it the pods' labels`);
  }
});

setRule('statefulset-name-length', 'StatefulSet controller: the pod label controller-revision-hash is "<name>-<hash>" (up to 10 characters of hash) and must be a valid label value (kubernetes/kubernetes#64023)', (objects, report) => {
  for (const sts of objects.filter((o) => o.kind === 'StatefulSet')) {
    if (sts.metadata.name.length > 52) report(sts, 'metadata.name', `is ${sts.metadata.name.length} characters: the controller labels its pods "${sts.metadata.name}-<hash>", longer than 63, and the pods are refused; use at most 52 characters`);
  }
});

setRule('surge-host-port', 'DaemonSet controller rolling update with surge (pkg/controller/daemon/update.go) and the scheduler\'s NodePorts filter: a surge pod cannot start beside the old pod on the same host port', (objects, report) => {
  for (const ds of objects.filter((o) => o.kind === 'DaemonSet')) {
    const ru = ds.spec && ds.spec.updateStrategy && ds.spec.updateStrategy.rollingUpdate;
    if (!ru || ru.maxSurge === undefined || isZero(ru.maxSurge)) continue;
    const pod = podOf(ds);
    const hostPorts = containersOf(pod).some(([c]) => (c.ports || []).some((p) => p.hostPort || pod.spec.hostNetwork));
    if (hostPorts) report(ds, 'spec.updateStrategy.rollingUpdate.maxSurge', 'surges a second pod onto each node, but the pods bind host ports: the new pod never schedules beside the old one and the rollout stalls; use maxSurge 0 and maxUnavailable 1');
  }
});

setRule('named-ports', 'EndpointSlice controller podutil.FindPort (pkg/api/v1/pod/util.go) and the kubelet prober\'s port lookup (pkg/kubelet/prober): a port name must be declared by the container', (objects, report) => {
  const workloads = workloadsOf(objects);
  for (const svc of objects.filter((o) => o.kind === 'Service' && o.spec && o.spec.selector)) {
    const pods = workloads.filter((w) => sameNamespace(w.o, svc) && Object.entries(svc.spec.selector).every(([k, v]) => w.labels[k] === v));
    (svc.spec.ports || []).forEach((port, i) => {
      if (typeof port.targetPort !== 'string') return;
      for (const w of pods) {
        const declared = containersOf(podOf(w.o)).some(([c]) => (c.ports || []).some((p) => p.name === port.targetPort));
        if (!declared) report(svc, `spec.ports[${i}].targetPort`, `names port ${json(port.targetPort)}, which no container of ${w.o.kind} ${w.o.metadata.name} declares: the Service gets no endpoints for it; name the container port or use a number`);
      }
    });
  }
  for (const w of workloads) {
    for (const [c, p] of containersOf(podOf(w.o))) {
      for (const kind of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        const probe = c[kind];
        const port = probe && ((probe.httpGet && probe.httpGet.port) ?? (probe.tcpSocket && probe.tcpSocket.port));
        if (typeof port === 'string' && !(c.ports || []).some((x) => x.name === port)) report(w.o, `${p}.${kind}`, `uses port name ${json(port)}, which container ${c.name} does not declare: the probe always fails; declare the port or use its number`);
      }
    }
  }
});

// ------------------------------------------------------------------------------------------------------------

const objectId = (o) => `${o && o.kind}/${o && o.metadata && o.metadata.name}`;

/**
 * Problems of one object: every `api` and `version` rule, and the per-object `controller` rules (kubelet and runtime).
 * @param {any} o a Kubernetes object as plain JSON
 * @param {{ levels?: string[], minVersion?: string, requireNamespace?: boolean }} [options]
 */
function objectProblems(o, options = {}) {
  const ctx = { minVersion: options.minVersion || MIN_KUBERNETES_VERSION, requireNamespace: options.requireNamespace === true };
  const problems = [];
  if (!o || typeof o !== 'object' || !o.metadata) return [{ rule: 'object', level: 'api', source: 'ValidateObjectMeta', object: objectId(o), path: 'metadata', message: 'Required value: not a Kubernetes object' }];
  for (const r of RULES) {
    if (options.levels && !options.levels.includes(r.level)) continue;
    r.check(o, (path, message) => problems.push({ rule: r.id, level: r.level, source: r.source, object: objectId(o), path, message }), ctx);
  }
  return problems;
}

/** Problems of a set of objects (one chart, one manifest file): every object's, and the controller rules across them. */
function apiRuleProblems(objects, options = {}) {
  const problems = objects.flatMap((o) => objectProblems(o, options));
  if (!options.levels || options.levels.includes('controller')) {
    for (const r of SET_RULES) {
      r.check(objects, (o, path, message) => problems.push({ rule: r.id, level: r.level, source: r.source, object: objectId(o), path, message }));
    }
  }
  return problems;
}

/** One line per problem: `DaemonSet/memcached spec.x: message [rule]`. */
const formatProblem = (p) => `${p.object} ${p.path}: ${p.message} [${p.rule}]`;

/**
 * The message of the API server's 422 for an object with `api` problems, as `kubectl` prints it:
 * `DaemonSet.apps "memcached" is invalid: spec.x: Required value: ...`.
 */
function invalidMessage(o, problems) {
  const group = o.apiVersion && o.apiVersion.includes('/') ? `.${o.apiVersion.split('/')[0]}` : '';
  const causes = problems.map((p) => `${p.path}: ${p.message}`);
  return `${o.kind}${group} ${json(o.metadata && o.metadata.name)} is invalid: ${causes.length === 1 ? causes[0] : `[${causes.join(', ')}]`}`;
}

/** The cdk8s CLI validation plugin: every rule over every object of every manifest; any problem fails synth. */
class K8sApiRulesValidation {
  async validate(context) {
    let failed = false;
    for (const manifestPath of context.manifests) {
      const objects = context.parseManifest(manifestPath).filter(Boolean);
      const byObject = new Map();
      for (const p of apiRuleProblems(objects, { requireNamespace: true })) byObject.set(p.object, [...(byObject.get(p.object) || []), p]);
      for (const [object, problems] of byObject) {
        failed = true;
        context.report.addViolation({
          ruleName: `kubernetes-api-rules (Kubernetes ${MIN_KUBERNETES_VERSION}-${MAX_TESTED_KUBERNETES_VERSION})`,
          recommendation: problems.map(formatProblem).join('\n'),
          fix: 'Fix the construct or props that produced this object; the message says what the API server or controller does with it.',
          violatingResources: [{ manifestPath, resourceName: object, locations: problems.map((p) => p.path) }],
        });
      }
    }
    context.report.submit(failed ? 'failure' : 'success');
  }
}

module.exports = {
  K8sApiRulesValidation,
  RULES,
  SET_RULES,
  objectProblems,
  apiRuleProblems,
  formatProblem,
  invalidMessage,
  compareVersions,
  MIN_KUBERNETES_VERSION,
  MAX_TESTED_KUBERNETES_VERSION,
  FIELD_VERSIONS,
  CLUSTER_SCOPED_KINDS,
  predicates: { isDns1123Label, isDns1123Subdomain, isDns1035Label, isQualifiedName, isLabelValue, isPortName, isEnvVarName, isConfigMapKey, isQuantity, isImageReference, parseCidr, parseQuantity },
};
