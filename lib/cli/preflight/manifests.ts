/**
 * Reading the synthesized manifests: parse the YAML documents, and find in the objects what the checks need
 * (the pods they will run, the Secrets they read, the namespaces they live in).
 */
import { parseAllDocuments } from 'yaml';
// The kinds that live outside namespaces: one list, the API-rules check's.
import { CLUSTER_SCOPED_KINDS } from '../../../plugins/k8s-api-rules';
import { KubeObject, NodeSelector, ObjectMeta, PodSpec } from './types';


/**
 * The objects of one manifest file (YAML, any number of documents; empty documents are skipped). `source` names
 * the file in error messages.
 */
export function parseManifests(text: string, source: string): KubeObject[] {
  const objects: KubeObject[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${source}: document ${i + 1}: ${doc.errors[0].message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    const o = value as Partial<KubeObject>;
    if (typeof o !== 'object' || typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') {
      throw new Error(`${source}: document ${i + 1} is not a Kubernetes object with apiVersion, kind and metadata.name`);
    }
    objects.push(o as KubeObject);
  });
  return objects;
}

function isNamespaced(o: KubeObject): boolean {
  return !CLUSTER_SCOPED_KINDS.has(o.kind);
}

/**
 * The namespace an object will be applied to: its own, else `defaultNamespace` (what kubectl does with the
 * context's namespace). Undefined for cluster-scoped objects.
 */
export function objectNamespace(o: KubeObject, defaultNamespace: string): string | undefined {
  return isNamespaced(o) ? o.metadata.namespace ?? defaultNamespace : undefined;
}

/** `StatefulSet openstack/galera`, `PersistentVolume data-0`: how every line names an object. */
export function objectId(o: KubeObject, defaultNamespace: string): string {
  const ns = objectNamespace(o, defaultNamespace);
  return `${o.kind} ${ns === undefined ? '' : `${ns}/`}${o.metadata.name}`;
}

/** The namespaces the manifests put objects in, sorted. */
export function manifestNamespaces(objects: KubeObject[], defaultNamespace: string): string[] {
  const names = objects.map((o) => objectNamespace(o, defaultNamespace)).filter((n): n is string => n !== undefined);
  return [...new Set(names)].sort();
}

/** A controller (or bare Pod) and the pods it runs. */
export interface Workload {
  /** `DaemonSet memcached` */
  readonly id: string;
  readonly kind: string;
  readonly namespace: string;
  readonly podMeta: ObjectMeta | undefined;
  readonly pod: PodSpec;
  /** Desired pods; undefined for a DaemonSet (one per eligible node). */
  readonly replicas: number | undefined;
}

type Spec = Record<string, any>;

/** Every pod template of the manifests, with the controller that owns it. */
export function workloads(objects: KubeObject[], defaultNamespace: string): Workload[] {
  const result: Workload[] = [];
  for (const o of objects) {
    const spec = o.spec as Spec | undefined;
    if (!spec) continue;
    const template = o.kind === 'Pod' ? { metadata: o.metadata, spec }
      : o.kind === 'CronJob' ? spec.jobTemplate?.spec?.template
        : spec.template;
    if (!template?.spec?.containers) continue;
    const replicas = o.kind === 'DaemonSet' ? undefined
      : o.kind === 'Job' || o.kind === 'CronJob' ? spec.parallelism ?? 1
        : o.kind === 'Pod' ? 1 : spec.replicas ?? 1;
    result.push({
      id: `${o.kind} ${o.metadata.name}`,
      kind: o.kind,
      namespace: objectNamespace(o, defaultNamespace) ?? defaultNamespace,
      podMeta: template.metadata,
      pod: template.spec as PodSpec,
      replicas,
    });
  }
  return result;
}

/** A PersistentVolume bound to nodes by its required node affinity (a local volume). */
export interface PinnedVolume {
  readonly id: string;
  readonly nodeAffinity: NodeSelector;
}

export function pinnedVolumes(objects: KubeObject[]): PinnedVolume[] {
  return objects.flatMap((o) => {
    const required = o.kind === 'PersistentVolume' ? (o.spec as Spec | undefined)?.nodeAffinity?.required : undefined;
    return required ? [{ id: `${o.kind} ${o.metadata.name}`, nodeAffinity: required as NodeSelector }] : [];
  });
}

/** One reference from a pod to a Secret, or to one key of it. */
export interface SecretReference {
  readonly namespace: string;
  readonly name: string;
  /** Undefined when the whole Secret is used (envFrom, a volume without items, an image pull secret). */
  readonly key: string | undefined;
  readonly optional: boolean;
  /** `StatefulSet galera env GALERA_SST_PASSWORD`, `StatefulSet galera volume credentials file GALERA_SST_PASSWORD` */
  readonly from: string;
}

/** Every Secret reference of every pod template: env, envFrom, secret and projected volumes, image pull secrets. */
export function secretReferences(workloadList: Workload[]): SecretReference[] {
  const refs: SecretReference[] = [];
  for (const w of workloadList) {
    const ref = (name: string, key: string | undefined, optional: boolean | undefined, from: string) =>
      refs.push({ namespace: w.namespace, name, key, optional: optional ?? false, from: `${w.id} ${from}` });
    const containers = [...(w.pod.initContainers ?? []), ...w.pod.containers, ...(w.pod.ephemeralContainers ?? [])];
    for (const c of containers) {
      for (const e of c.env ?? []) {
        const s = e.valueFrom?.secretKeyRef;
        if (s) ref(s.name, s.key, s.optional, `env ${e.name}`);
      }
      for (const e of c.envFrom ?? []) {
        if (e.secretRef) ref(e.secretRef.name, undefined, e.secretRef.optional, `container ${c.name} envFrom`);
      }
    }
    for (const v of w.pod.volumes ?? []) {
      // An item names its file: with several Secrets in one volume (GaleraPetSet's credentials), the file says which use.
      const byVolume = (name: string, items: { key: string; path?: string }[] | undefined, optional: boolean | undefined) => {
        if (!items || items.length === 0) ref(name, undefined, optional, `volume ${v.name}`);
        for (const item of items ?? []) ref(name, item.key, optional, `volume ${v.name}${item.path ? ` file ${item.path}` : ''}`);
      };
      if (v.secret?.secretName) byVolume(v.secret.secretName, v.secret.items, v.secret.optional);
      for (const source of v.projected?.sources ?? []) {
        if (source.secret) byVolume(source.secret.name, source.secret.items, source.secret.optional);
      }
    }
    for (const s of w.pod.imagePullSecrets ?? []) ref(s.name, undefined, false, 'imagePullSecrets');
  }
  return refs;
}

/** The key names of the Secrets the manifests themselves create, by `namespace/name`. */
export function manifestSecrets(objects: KubeObject[], defaultNamespace: string): Map<string, string[]> {
  const secrets = new Map<string, string[]>();
  for (const o of objects) {
    if (o.kind !== 'Secret') continue;
    const keys = [...Object.keys((o.data as object | undefined) ?? {}), ...Object.keys((o.stringData as object | undefined) ?? {})];
    secrets.set(`${objectNamespace(o, defaultNamespace)}/${o.metadata.name}`, keys);
  }
  return secrets;
}
