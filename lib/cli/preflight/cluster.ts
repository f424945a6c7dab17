/**
 * Taking the snapshot of the cluster the checks need, through one plain `request` function (main.ts builds it
 * from the kubeconfig). Reads only what the manifests refer to: the server's version, the nodes, their
 * namespaces, the Secrets they reference (reduced to key names at once), and a server-side dry run of every object.
 */
import { manifestNamespaces, manifestSecrets, objectId, objectNamespace, secretReferences, workloads } from './manifests';
import { ClusterSnapshot, DryRunOutcome, KubeObject, Lookup, Node, ObjectMeta } from './types';

export interface ApiResponse {
  readonly status: number;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  readonly body: any;
  /** The texts of the `Warning` headers (deprecations, Pod Security `warn` level, ...). */
  readonly warnings?: string[];
}

/** One HTTP request to the API server; rejects only when there is no HTTP answer at all. */
export type ApiRequest = (method: 'GET' | 'PATCH', path: string, body?: { contentType: string; text: string }) => Promise<ApiResponse>;

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
