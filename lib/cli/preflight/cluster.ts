/**
 * Taking the snapshot of the cluster the checks need, through one plain `request` function (main.ts builds it
 * from the kubeconfig). Reads only what the manifests refer to: the server's version, the nodes, their
 * namespaces, the Secrets they reference (reduced to key names at once), and a server-side dry run of every object.
 */
import { manifestNamespaces, manifestSecrets, objectId, objectNamespace, secretReferences, workloads } from './manifests';
import { ClusterSnapshot, DryRunOutcome, GaleraWriterReading, KubeObject, LivePod, Lookup, Node, ObjectMeta, SecretWrite } from './types';

export interface ApiResponse {
  readonly status: number;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  readonly body: any;
  /** The texts of the `Warning` headers (deprecations, Pod Security `warn` level, ...). */
  readonly warnings?: string[];
}

/** Per-request options: the media type asked for, and a shorter timeout than the transport's default. */
export interface ApiRequestOptions {
  readonly accept?: string;
  readonly timeoutMs?: number;
}

/** One HTTP request to the API server; rejects only when there is no HTTP answer at all. */
export type ApiRequest = (method: 'GET' | 'PATCH', path: string, body?: { contentType: string; text: string }, options?: ApiRequestOptions) => Promise<ApiResponse>;

/** The field manager the dry-run applies claim (nothing is persisted, but the API requires one). */
const FIELD_MANAGER = 'openstack-ha-preflight';

/** The API server's own words for a refusal: the Status message, else the body. */
function apiMessage(r: ApiResponse): string {
  const message = typeof r.body === 'object' && r.body !== null && typeof r.body.message === 'string' ? r.body.message
    : typeof r.body === 'string' && r.body.trim() !== '' ? r.body.trim() : undefined;
  return `HTTP ${r.status}${message ? `: ${message}` : ''}`;
}

/** The texts of RFC 7234 `Warning: 299 - "text"` headers, each header on its own (Node joins repeated ones). */
export function warningTexts(rawHeaders: string[]): string[] {
  const texts: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() !== 'warning') continue;
    const m = /^\d{3} \S+ "((?:[^"\\]|\\.)*)"/.exec(rawHeaders[i + 1]);
    texts.push(m ? m[1].replace(/\\(.)/g, '$1') : rawHeaders[i + 1]);
  }
  return texts;
}

async function lookup<T>(request: ApiRequest, path: string, pick: (body: any) => T): Promise<Lookup<T>> {
  const r = await request('GET', path);
  if (r.status === 200) return { state: 'found', value: pick(r.body) };
  if (r.status === 404) return { state: 'absent' };
  return { state: 'error', message: apiMessage(r) };
}

/** Every node, following `continue` tokens. */
async function listNodes(request: ApiRequest): Promise<Lookup<Node[]>> {
  const nodes: Node[] = [];
  let token: string | undefined;
  do {
    const r = await request('GET', `/api/v1/nodes?limit=500${token ? `&continue=${encodeURIComponent(token)}` : ''}`);
    if (r.status !== 200) return { state: 'error', message: apiMessage(r) };
    nodes.push(...(r.body.items ?? []));
    token = r.body.metadata?.continue || undefined;
  } while (token);
  return { state: 'found', value: nodes };
}

interface Resource {
  readonly plural: string;
  readonly namespaced: boolean;
}

/** Resource names by kind, from API discovery, one request per apiVersion. */
class Discovery {
  private readonly byVersion = new Map<string, Promise<Map<string, Resource> | string>>();

  public constructor(private readonly request: ApiRequest) {}

  /** The URL path of an object, or why the server cannot take it. */
  public async path(o: KubeObject, namespace: string | undefined): Promise<string | { error: string }> {
    const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
    let resources = this.byVersion.get(o.apiVersion);
    if (!resources) {
      resources = this.request('GET', base).then((r) => (r.status === 200
        ? new Map<string, Resource>((r.body.resources ?? []).filter((x: any) => !x.name.includes('/'))
          .map((x: any) => [x.kind, { plural: x.name, namespaced: x.namespaced }]))
        : `the server does not serve ${o.apiVersion} (${apiMessage(r)})`));
      this.byVersion.set(o.apiVersion, resources);
    }
    const table = await resources;
    if (typeof table === 'string') return { error: table };
    const resource = table.get(o.kind);
    if (!resource) return { error: `the server has no kind ${o.kind} in ${o.apiVersion}` };
    const scope = resource.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? 'default')}` : '';
    return `${base}${scope}/${resource.plural}/${encodeURIComponent(o.metadata.name)}`;
  }
}

/**
 * Server-side apply of the object with `dryRun=All`: the API server runs defaulting, validation (strict: unknown
 * and duplicate fields are errors, as with kubectl), admission (Pod Security included) and the update rules
 * against the live object (immutable fields), and persists nothing. `force` takes over fields other managers
 * own, as `kubectl apply` would overwrite them.
 */
async function dryRun(request: ApiRequest, discovery: Discovery, o: KubeObject, defaultNamespace: string): Promise<DryRunOutcome> {
  const object = objectId(o, defaultNamespace);
  const path = await discovery.path(o, objectNamespace(o, defaultNamespace));
  if (typeof path !== 'string') return { object, ok: false, message: path.error };
  const query = `dryRun=All&fieldManager=${FIELD_MANAGER}&force=true&fieldValidation=Strict`;
  const r = await request('PATCH', `${path}?${query}`, { contentType: 'application/apply-patch+yaml', text: JSON.stringify(o) });
  if (r.status !== 200 && r.status !== 201) return { object, ok: false, message: apiMessage(r) };
  return r.warnings && r.warnings.length > 0 ? { object, ok: true, warnings: r.warnings } : { object, ok: true };
}

export async function takeSnapshot(request: ApiRequest, objects: KubeObject[], defaultNamespace: string): Promise<ClusterSnapshot> {
  const version = await lookup(request, '/version', (body) => String(body.gitVersion ?? `v${body.major}.${body.minor}`));
  const nodes = await listNodes(request);
  const namespaces: Record<string, Lookup<ObjectMeta>> = {};
  for (const name of manifestNamespaces(objects, defaultNamespace)) {
    namespaces[name] = await lookup(request, `/api/v1/namespaces/${encodeURIComponent(name)}`, (body) => body.metadata);
  }
  const created = manifestSecrets(objects, defaultNamespace);
  const secrets: Record<string, Lookup<string[]>> = {};
  for (const ref of secretReferences(workloads(objects, defaultNamespace))) {
    const id = `${ref.namespace}/${ref.name}`;
    if (created.has(id) || secrets[id]) continue;
    // Only the key names survive this line: the values are dropped with the response.
    secrets[id] = await lookup(request, `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/secrets/${encodeURIComponent(ref.name)}`,
      (body) => [...Object.keys(body.data ?? {}), ...Object.keys(body.stringData ?? {})]);
  }
  const discovery = new Discovery(request);
  const dryRuns: DryRunOutcome[] = [];
  for (const o of objects) dryRuns.push(await dryRun(request, discovery, o, defaultNamespace));
  return { version, nodes, namespaces, secrets, dryRuns };
}

/**
 * The live object behind each manifest object (`GET` of its path), by `objectId`, for the plan. Secrets are not read:
 * the manifests never hold one this library renders, and the plan must not bring a secret value into memory.
 */
export async function readLiveObjects(request: ApiRequest, objects: KubeObject[], defaultNamespace: string): Promise<Record<string, Lookup<KubeObject>>> {
  const discovery = new Discovery(request);
  const live: Record<string, Lookup<KubeObject>> = {};
  for (const o of objects) {
    if (o.kind === 'Secret') continue;
    const id = objectId(o, defaultNamespace);
    const path = await discovery.path(o, objectNamespace(o, defaultNamespace));
    live[id] = typeof path === 'string' ? await lookup(request, path, (body) => body as KubeObject) : { state: 'error', message: path.error };
  }
  return live;
}

const COMPONENT = 'app.kubernetes.io/component';
/** Asked for this media type, the API server sends the object's metadata alone: a Secret without its `data`. */
export const PARTIAL_OBJECT_METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
/** An agent answers in milliseconds; a NetworkPolicy that drops the API server's proxy traffic shows as a timeout. */
const AGENT_TIMEOUT_MS = 5_000;

type Spec = Record<string, any>;

/** The agent container's port in a Galera StatefulSet (pod proxy paths need the number). */
function agentPort(sts: KubeObject | undefined): number | undefined {
  const agent = ((sts?.spec as Spec | undefined)?.template?.spec?.containers as Spec[] | undefined)?.find((c) => c.name === 'agent');
  const port = agent?.ports?.[0]?.containerPort;
  return typeof port === 'number' ? port : undefined;
}

/**
 * The writer the members decide, for each Galera StatefulSet that runs: each member's agent is asked `GET /writer`
 * through the API server's pod proxy (`pods/<name>:<port>/proxy/writer`, needs `get` on `pods/proxy`), lowest
 * ordinal first, until a Primary and Synced member answers with the row it reads (`named`). Every member reads the
 * same replicated row, so one Synced answer is enough. When none can be asked (RBAC, a NetworkPolicy that drops the
 * API server's traffic to the agent port, no member Synced), the reading says why and the plan falls back.
 */
export async function readGaleraWriters(request: ApiRequest, objects: KubeObject[], live: Readonly<Record<string, Lookup<KubeObject>>>,
  defaultNamespace: string): Promise<Record<string, Lookup<GaleraWriterReading>>> {
  const writers: Record<string, Lookup<GaleraWriterReading>> = {};
  for (const o of objects) {
    if (o.kind !== 'StatefulSet' || o.metadata.labels?.[COMPONENT] !== 'galera') continue;
    const id = objectId(o, defaultNamespace);
    const l = live[id];
    if (l?.state !== 'found') continue;
    writers[id] = await askAgents(request, l.value, agentPort(l.value) ?? agentPort(o), objectNamespace(o, defaultNamespace) ?? defaultNamespace);
  }
  return writers;
}

async function askAgents(request: ApiRequest, sts: KubeObject, port: number | undefined, namespace: string): Promise<Lookup<GaleraWriterReading>> {
  const members = Number((sts.spec as Spec).replicas ?? 0);
  if (members === 0) return { state: 'error', message: 'no member runs' };
  if (port === undefined) return { state: 'error', message: 'the StatefulSet has no agent container port' };
  const problems: string[] = [];
  let unanswered = 0;
  for (let i = 0; i < members; i++) {
    const pod = `${sts.metadata.name}-${i}`;
    let r: ApiResponse;
    try {
      r = await request('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}:${port}/proxy/writer`, undefined, { timeoutMs: AGENT_TIMEOUT_MS });
    } catch (e) {
      problems.push(`${pod}: ${(e as Error).message}`);
      // Two members in a row without an answer: the path itself is blocked, the others would time out too.
      if (++unanswered >= 2) break;
      continue;
    }
    unanswered = 0;
    const b = r.body;
    // The agent's own answer (200 on the writer, 503 elsewhere) passes through the proxy; the API server's errors are Status objects.
    if (b !== null && typeof b === 'object' && typeof b.synced === 'boolean' && 'named' in b) {
      if (b.synced && typeof b.named === 'string' && b.named !== '') return { state: 'found', value: { member: b.named, answeredBy: pod } };
      problems.push(`${pod}: ${b.synced ? 'cannot read the writer row' : 'not Synced'}`);
    } else {
      problems.push(`${pod}: ${apiMessage(r)}`);
    }
  }
  return { state: 'error', message: problems.join('; ') };
}

/** Pods and Secret writes for the in-place credential check, by workload `objectId` and by `namespace/name`. */
export interface RunningCredentials {
  readonly pods: Record<string, Lookup<LivePod[]>>;
  readonly secretWrites: Record<string, Lookup<SecretWrite>>;
}

/**
 * The pods of each live workload of the manifests (by its live selector) and, for every Secret they reference, when
 * it was last written: its metadata alone (`PartialObjectMetadata`), so no Secret value is ever received.
 */
export async function readRunningCredentials(request: ApiRequest, objects: KubeObject[], live: Readonly<Record<string, Lookup<KubeObject>>>,
  defaultNamespace: string): Promise<RunningCredentials> {
  const pods: Record<string, Lookup<LivePod[]>> = {};
  const secretWrites: Record<string, Lookup<SecretWrite>> = {};
  for (const o of objects) {
    if (!['StatefulSet', 'DaemonSet', 'Deployment'].includes(o.kind)) continue;
    const id = objectId(o, defaultNamespace);
    const l = live[id];
    const labels = l?.state === 'found' ? ((l.value.spec as Spec | undefined)?.selector?.matchLabels as Record<string, string> | undefined) : undefined;
    if (!labels || Object.keys(labels).length === 0) continue;
    const namespace = objectNamespace(o, defaultNamespace) ?? defaultNamespace;
    const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
    const r = await request('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?labelSelector=${encodeURIComponent(selector)}`);
    if (r.status !== 200) {
      pods[id] = { state: 'error', message: apiMessage(r) };
      continue;
    }
    const list: LivePod[] = (r.body.items ?? []).map((p: any) => ({
      name: String(p.metadata?.name),
      spec: p.spec,
      startedAt: Object.fromEntries(((p.status?.containerStatuses ?? []) as Spec[])
        .filter((c) => typeof c.state?.running?.startedAt === 'string').map((c) => [c.name, c.state.running.startedAt])),
    }));
    pods[id] = { state: 'found', value: list };
    for (const ref of secretReferences(list.map((p) => ({ id: `Pod ${p.name}`, kind: 'Pod', namespace, podMeta: undefined, pod: p.spec, replicas: 1 })))) {
      const key = `${ref.namespace}/${ref.name}`;
      if (secretWrites[key]) continue;
      const m = await request('GET', `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/secrets/${encodeURIComponent(ref.name)}`, undefined, { accept: PARTIAL_OBJECT_METADATA });
      // Only the metadata survives this line, even from a server that ignored the Accept header and sent the data.
      secretWrites[key] = m.status === 200 ? { state: 'found', value: secretWrite(m.body?.metadata ?? {}) }
        : m.status === 404 ? { state: 'absent' } : { state: 'error', message: apiMessage(m) };
    }
  }
  return { pods, secretWrites };
}

function secretWrite(meta: Spec): SecretWrite {
  const times = [meta.creationTimestamp, ...((meta.managedFields ?? []) as Spec[]).map((f) => f.time)].filter((t): t is string => typeof t === 'string');
  return { resourceVersion: String(meta.resourceVersion ?? ''), lastWrite: times.reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a), times[0] ?? '') };
}
