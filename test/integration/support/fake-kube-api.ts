/**
 * A tiny Kubernetes API server on 127.0.0.1 for the preflight CLI test: HTTPS with a throwaway self-signed
 * certificate, bearer-token authentication, its version, paged node lists, namespaces, Secrets, API discovery,
 * and the server-side-apply dry runs the CLI sends. It refuses any write that is not a dry run, so a test also
 * proves that the preflight changes nothing; and it refuses a dry run that breaks the API server's own validation
 * rules (the `api` rules of plugins/k8s-api-rules) with HTTP 422 Invalid, as a real one would. For the plan it serves
 * live objects (`GET` of one object) the way an API server stores them: with server metadata, a status, and the
 * defaults the API server fills into pod templates, which the manifests never mention; the pods of the workloads
 * (list by label selector), Secrets' metadata alone (`PartialObjectMetadata`), and the Galera agents' `GET /writer`
 * through the pod proxy. `request` answers in-process (no socket), for unit tests of the plan's readers.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as https from 'https';
import { AddressInfo } from 'net';
import * as path from 'path';
import { ApiRequest, ApiResponse } from '../../../lib/cli/preflight/cluster';
import { Node } from '../../../lib/cli/preflight/types';
import { invalidMessage, objectProblems } from '../../../plugins/k8s-api-rules';

export interface FakeCluster {
  readonly nodes: Node[];
  /** Namespace name → labels. */
  readonly namespaces: Record<string, Record<string, string>>;
  /** `namespace/name` → Secret data (base64 values). */
  readonly secrets: Record<string, Record<string, string>>;
  /** Dry runs the API server refuses: request path (no query) → status and message, as admission or validation would. */
  readonly refusals?: Record<string, { status: number; message: string }>;
  /** `Warning` header texts for accepted dry runs, by request path (no query), as Pod Security `warn` would add. */
  readonly warnings?: Record<string, string[]>;
  /** What `GET /version` reports. @default 'v1.33.1' */
  readonly version?: string;
  /** The objects that run, as applied (see `liveObjects`): `GET` of their path returns them as stored. */
  readonly objects?: Record<string, unknown>;
  /** Running pods (metadata with labels, spec, status), listed by `GET .../pods?labelSelector=`. @default none */
  readonly pods?: { metadata: { name: string; namespace: string; labels: Record<string, string> }; spec: unknown; status?: unknown }[];
  /** Secret metadata beyond the name (resourceVersion, creationTimestamp, managedFields), by `namespace/name`. @default none */
  readonly secretMeta?: Record<string, Record<string, unknown>>;
  /**
   * What each Galera member's agent answers on `/writer` through the pod proxy, by pod name: status and body, or
   * `unreachable` (the connection is dropped: no HTTP answer, as when a NetworkPolicy drops the API server's traffic).
   * A pod not listed gets the API server's own 503. @default none
   */
  readonly agents?: Record<string, { status: number; body: unknown } | 'unreachable'>;
  /** GET paths (no query) RBAC refuses with 403. @default none */
  readonly forbidden?: string[];
}

/** An answer the fake gives no HTTP response to. */
const NO_ANSWER = Symbol('no answer');

/** The request path of an object, as discovery (RESOURCES) names its resource. */
export function objectPath(o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }, defaultNamespace: string): string {
  const resource = RESOURCES[o.apiVersion]?.find(([, kind]) => kind === o.kind);
  if (!resource) throw new Error(`the fake API does not serve ${o.kind} in ${o.apiVersion}`);
  const [plural, , namespaced] = resource;
  const base = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  return `${base}${namespaced ? `/namespaces/${o.metadata.namespace ?? defaultNamespace}` : ''}/${plural}/${o.metadata.name}`;
}

/** Objects as applied, by request path: what `FakeCluster.objects` serves. */
export function liveObjects(objects: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }[], defaultNamespace: string): Record<string, unknown> {
  return Object.fromEntries(objects.map((o) => [objectPath(o, defaultNamespace), o]));
}

/**
 * A quantity in the API server's canonical form for the forms the manifests use: whole cores without `m`
 * (4000m -> 4), binary sizes in the largest exact unit (2048Mi -> 2Gi).
 */
function canonicalQuantity(q: string): string {
  let m = /^(\d+)m$/.exec(q);
  if (m && Number(m[1]) % 1000 === 0) return String(Number(m[1]) / 1000);
  m = /^(\d+)(Ki|Mi|Gi|Ti)$/.exec(q);
  if (m) {
    const units = ['Ki', 'Mi', 'Gi', 'Ti', 'Pi'];
    let [n, u] = [Number(m[1]), units.indexOf(m[2])];
    while (n % 1024 === 0 && u < units.length - 1) [n, u] = [n / 1024, u + 1];
    return `${n}${units[u]}`;
  }
  return q;
}

/**
 * An object as the API server returns it after an apply: server-set metadata, a status, the pod-template
 * defaults (pkg/apis/core/v1/defaults.go) the manifests leave out, and quantities in canonical form.
 */
function asStored(o: any, index: number): unknown {
  const stored = JSON.parse(JSON.stringify(o));
  stored.metadata = { ...stored.metadata, uid: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`, resourceVersion: String(1000 + index),
    generation: 1, creationTimestamp: '2026-01-01T00:00:00Z', managedFields: [{ manager: 'kubectl', operation: 'Apply', apiVersion: stored.apiVersion }] };
  const pod = stored.spec?.template?.spec;
  if (pod) {
    pod.restartPolicy ??= 'Always';
    pod.dnsPolicy ??= 'ClusterFirst';
    pod.schedulerName ??= 'default-scheduler';
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      c.terminationMessagePath ??= '/dev/termination-log';
      c.terminationMessagePolicy ??= 'File';
    }
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      for (const kind of ['limits', 'requests']) {
        for (const [k, v] of Object.entries(c.resources?.[kind] ?? {})) c.resources[kind][k] = canonicalQuantity(String(v));
      }
    }
    for (const v of pod.volumes ?? []) if (v.emptyDir?.sizeLimit) v.emptyDir.sizeLimit = canonicalQuantity(v.emptyDir.sizeLimit);
    stored.status = { observedGeneration: 1, ...(stored.kind === 'StatefulSet' ? { replicas: stored.spec.replicas, readyReplicas: stored.spec.replicas } : {}) };
  }
  return stored;
}

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly accept?: string;
  readonly contentType: string | undefined;
  readonly authorization: string | undefined;
}

/** apiVersion → [plural, kind, namespaced]: what discovery serves. */
const RESOURCES: Record<string, [string, string, boolean][]> = {
  'v1': [['namespaces', 'Namespace', false], ['nodes', 'Node', false], ['persistentvolumes', 'PersistentVolume', false],
    ['configmaps', 'ConfigMap', true], ['secrets', 'Secret', true], ['services', 'Service', true], ['pods', 'Pod', true]],
  'apps/v1': [['daemonsets', 'DaemonSet', true], ['statefulsets', 'StatefulSet', true], ['deployments', 'Deployment', true]],
  'policy/v1': [['poddisruptionbudgets', 'PodDisruptionBudget', true]],
  'networking.k8s.io/v1': [['networkpolicies', 'NetworkPolicy', true]],
  'storage.k8s.io/v1': [['storageclasses', 'StorageClass', false]],
};
/** Small pages, so that the CLI must follow `continue` tokens. */
const NODE_PAGE = 2;

const status = (code: number, message: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, message });

/** A self-signed certificate for 127.0.0.1 in `dir`; also the CA the kubeconfig trusts. */
export function selfSignedCertificate(dir: string): { certFile: string; keyFile: string } {
  const certFile = path.join(dir, 'apiserver.crt');
  const keyFile = path.join(dir, 'apiserver.key');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=fake-apiserver', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { certFile, keyFile };
}

export class FakeKubeApi {
  public readonly requests: RecordedRequest[] = [];
  private server: https.Server | undefined;

  public constructor(private readonly cluster: FakeCluster, private readonly token: string) {}

  /** Listens on an ephemeral port of 127.0.0.1; returns the server URL. */
  public async start(certFile: string, keyFile: string): Promise<string> {
    this.server = https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', accept: req.headers.accept, contentType: req.headers['content-type'], authorization: req.headers.authorization });
        const url = new URL(req.url ?? '/', 'https://127.0.0.1');
        const [code, body] = this.answer(req.method ?? '', url, req.headers, Buffer.concat(chunks).toString('utf8'));
        if (body === NO_ANSWER) {
          req.socket.destroy();
          return;
        }
        const warnings = code === 200 && req.method === 'PATCH' ? this.cluster.warnings?.[url.pathname] ?? [] : [];
        // One header per warning, quoted and escaped as the API server writes them.
        const warningHeaders = warnings.map((w) => `299 - "${w.replace(/["\\]/g, (c) => `\\${c}`)}"`);
        res.writeHead(code, { 'Content-Type': 'application/json', ...(warningHeaders.length > 0 ? { Warning: warningHeaders } : {}) });
        res.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  public async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  /** The same answers in-process, recorded like the server's: an `ApiRequest` for unit tests. */
  public readonly request: ApiRequest = async (method, path, body, options): Promise<ApiResponse> => {
    const headers = { 'authorization': `Bearer ${this.token}`, 'accept': options?.accept ?? 'application/json', 'content-type': body?.contentType };
    this.requests.push({ method, url: path, accept: headers.accept, contentType: body?.contentType, authorization: headers.authorization });
    const [code, answer] = this.answer(method, new URL(path, 'https://127.0.0.1'), headers, body?.text ?? '');
    if (answer === NO_ANSWER) throw new Error(`GET ${path}: socket hang up`);
    return { status: code, body: JSON.parse(JSON.stringify(answer)), warnings: [] };
  };

  private answer(method: string, url: URL, headers: Record<string, string | string[] | undefined>, text: string): [number, unknown] {
    if (headers.authorization !== `Bearer ${this.token}`) return [401, status(401, 'Unauthorized')];
    const p = url.pathname;
    if (method === 'GET' && this.cluster.forbidden?.includes(p)) return [403, status(403, `forbidden: User "tester" cannot get ${p}`)];
    if (method === 'GET') {
      const proxied = /^\/api\/v1\/namespaces\/[^/]+\/pods\/([^/:]+):(\d+)\/proxy\/writer$/.exec(p);
      if (proxied) {
        const agent = this.cluster.agents?.[proxied[1]];
        if (agent === 'unreachable') return [0, NO_ANSWER];
        return agent ? [agent.status, agent.body] : [503, status(503, `error trying to reach service: dial tcp 10.244.0.9:${proxied[2]}: connect: connection refused`)];
      }
      const secret = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(p);
      if (secret && String(headers.accept ?? '').includes('as=PartialObjectMetadata')) {
        const data = this.cluster.secrets[`${secret[1]}/${secret[2]}`];
        return data ? [200, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1',
          metadata: { name: secret[2], namespace: secret[1], ...this.cluster.secretMeta?.[`${secret[1]}/${secret[2]}`] } }]
          : [404, status(404, `secrets "${secret[2]}" not found`)];
      }
      const podList = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(p);
      if (podList) {
        const wanted = (url.searchParams.get('labelSelector') ?? '').split(',').filter(Boolean).map((kv) => kv.split('='));
        const items = (this.cluster.pods ?? []).filter((pod) => pod.metadata.namespace === podList[1] && wanted.every(([k, v]) => pod.metadata.labels[k] === v));
        return [200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items }];
      }
      return this.get(p, url.searchParams);
    }
    if (method === 'PATCH') return this.dryRunApply(p, url.searchParams, headers['content-type'], text);
    return [405, status(405, `${method} is not served by the fake API`)];
  }

  private get(p: string, query: URLSearchParams): [number, unknown] {
    if (p === '/version') {
      const gitVersion = this.cluster.version ?? 'v1.33.1';
      const [major, minor] = gitVersion.replace(/^v/, '').split('.');
      return [200, { major, minor, gitVersion, platform: 'linux/amd64' }];
    }
    if (p === '/api/v1/nodes') {
      const start = Number(query.get('continue') ?? '0');
      const items = this.cluster.nodes.slice(start, start + NODE_PAGE);
      const next = start + NODE_PAGE < this.cluster.nodes.length ? String(start + NODE_PAGE) : undefined;
      return [200, { kind: 'NodeList', apiVersion: 'v1', metadata: next ? { continue: next } : {}, items }];
    }
    let m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(p);
    if (m) {
      const labels = this.cluster.namespaces[m[1]];
      return labels ? [200, { kind: 'Namespace', apiVersion: 'v1', metadata: { name: m[1], labels } }] : [404, status(404, `namespaces "${m[1]}" not found`)];
    }
    const paths = Object.keys(this.cluster.objects ?? {});
    if (paths.includes(p)) return [200, asStored(this.cluster.objects![p], paths.indexOf(p))];
    if (/^\/(?:api\/v1|apis\/[^/]+\/[^/]+)(?:\/namespaces\/[^/]+)?\/(?!secrets\/)[^/]+\/([^/]+)$/.test(p) && !/^\/api\/v1\/(namespaces|nodes)\/[^/]+$/.test(p)) {
      const [, plural, name] = /\/([^/]+)\/([^/]+)$/.exec(p)!;
      return [404, status(404, `${plural} "${name}" not found`)];
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(p);
    if (m) {
      const data = this.cluster.secrets[`${m[1]}/${m[2]}`];
      return data ? [200, { kind: 'Secret', apiVersion: 'v1', metadata: { name: m[2], namespace: m[1] }, type: 'Opaque', data }]
        : [404, status(404, `secrets "${m[2]}" not found`)];
    }
    m = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))$/.exec(p);
    const version = m?.[1] ?? m?.[2];
    if (version && RESOURCES[version]) {
      return [200, { kind: 'APIResourceList', groupVersion: version, resources: RESOURCES[version].map(([name, kind, namespaced]) => ({ name, kind, namespaced, verbs: ['get', 'patch'] })) }];
    }
    return [404, status(404, `the server could not find the requested resource (get ${p})`)];
  }

  private dryRunApply(p: string, query: URLSearchParams, contentType: unknown, text: string): [number, unknown] {
    if (query.get('dryRun') !== 'All') return [400, status(400, 'the fake API accepts dry runs only: a preflight must not write')];
    if (contentType !== 'application/apply-patch+yaml') return [415, status(415, `unsupported patch type ${String(contentType)}`)];
    if (!query.get('fieldManager')) return [400, status(400, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value')];
    const m = /^\/(?:api\/v1|apis\/[^/]+\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)\/([^/]+)$/.exec(p);
    if (!m) return [404, status(404, `the server could not find the requested resource (patch ${p})`)];
    const [, namespace, , name] = m;
    const object = JSON.parse(text);
    if (object.metadata?.name !== name) return [400, status(400, `the name of the object (${object.metadata?.name}) does not match the name on the URL (${name})`)];
    if (namespace !== undefined && !this.cluster.namespaces[namespace]) return [404, status(404, `namespaces "${namespace}" not found`)];
    const refusal = this.cluster.refusals?.[p];
    if (refusal) return [refusal.status, status(refusal.status, refusal.message)];
    // The API server's validation (pkg/apis/*/validation), as the API-rules check mirrors it.
    const invalid = objectProblems(object, { levels: ['api'] });
    if (invalid.length > 0) {
      return [422, {
        ...status(422, invalidMessage(object, invalid)),
        reason: 'Invalid',
        details: { name, kind: object.kind, causes: invalid.map((c) => ({ reason: 'FieldValueInvalid', message: c.message, field: c.path })) },
      }];
    }
    return [200, object];
  }
}
