import { ApiObject } from 'cdk8s';
import { IConstruct } from 'constructs';
import { hostPathsOverlap } from './host-path';

/**
 * Checks across every chart of one App, at `app.synth()`: what no single construct can see, because the user
 * composes several (in one chart or in many).
 *
 * - Two objects with the same kind, namespace and name but different content: applied together, one silently
 *   replaces the other (e.g. two `MemcachedPool`s both named `memcached`, a ConfigMap of one construct named like
 *   another's). The same object emitted twice with the same content is harmless and allowed.
 * - Two host-network listeners on one port of one node (memcached on 5672 beside RabbitMQ, HAProxy's stats port on
 *   a RabbitMQ port, two pools on 11211): the second pod crash-loops with EADDRINUSE on that node only.
 * - Two workloads whose hostPath (or local PersistentVolume) directories on one node are the same or nested: each
 *   daemon would chown and write the other's data.
 *
 * - A workload that mounts keys of a Secret the app itself defines, when the Secret lacks one (a TLS Secret without
 *   its private key): the kubelet would leave the pod in ContainerCreating on every node.
 *
 * Each problem names both owners by construct path. Every construct of this library registers the check once
 * per App (`registerAppChecks`); constructs' `node.addValidation` runs at `app.synth()`, before anything is
 * written.
 */
export function registerAppChecks(scope: IConstruct): void {
  const root = scope.node.root;
  if (REGISTERED.has(root)) return;
  REGISTERED.add(root);
  root.node.addValidation({
    validate: () => {
      const problems = appWideProblems(ownedObjects(root));
      return problems.length === 0 ? [] : [`cdk8s-openstack-ha found conflicts between constructs of this app:\n${problems.map((p) => `- ${p}`).join('\n')}`];
    },
  });
}

/** Roots (Apps) whose check is registered: once per App, however many constructs ask. */
const REGISTERED = new WeakSet<IConstruct>();

/** One synthesized object and who made it (a construct path, or `Kind/name` where no construct is known). */
export interface OwnedObject {
  readonly owner: string;
  readonly object: any;
}

/** Every ApiObject of every chart under `root`, as JSON. An object whose own rendering fails is left to fail at synth. */
function ownedObjects(root: IConstruct): OwnedObject[] {
  const owned: OwnedObject[] = [];
  for (const c of root.node.findAll()) {
    if (!(c instanceof ApiObject)) continue;
    try {
      owned.push({ owner: c.node.path, object: c.toJson() });
    } catch {
      // e.g. a KeepalivedVip with no track: its own error is thrown when the chart is synthesized.
    }
  }
  return owned;
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

/**
 * Where a pod template may run: the node names of its `metadata.name` field terms, or one `label k=v` pseudo-node
 * per label term. Two placements are compared node by node; a label placement only meets the same label (which
 * nodes carry it is unknown at synth).
 */
export function placementNodes(podSpec: any): string[] {
  const terms: any[] = podSpec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  const nodes: string[] = [];
  for (const t of terms) {
    for (const f of t.matchFields ?? []) if (f.key === 'metadata.name') nodes.push(...(f.values ?? []));
    for (const e of t.matchExpressions ?? []) nodes.push(...(e.values ?? []).map((x: string) => `label ${e.key}=${x}`));
  }
  for (const [k, x] of Object.entries(podSpec?.nodeSelector ?? {})) nodes.push(`label ${k}=${x}`);
  return nodes;
}

/** What each object holds on a node: listening ports and host directories. */
interface NodeClaim {
  readonly owner: string;
  readonly node: string;
  readonly what: 'port' | 'path';
  readonly value: string;
}

function claimsOf(o: OwnedObject): NodeClaim[] {
  const obj = o.object;
  const id = `${obj.kind} ${obj.metadata?.name}`;
  const owner = o.owner === id ? id : `${o.owner} (${id})`;
  const claims: NodeClaim[] = [];
  if (WORKLOAD_KINDS.has(obj.kind)) {
    const spec = obj.spec?.template?.spec ?? {};
    const nodes = placementNodes(spec);
    for (const c of spec.containers ?? []) {
      for (const p of c.ports ?? []) {
        const hostPort = p.hostPort || (spec.hostNetwork ? p.containerPort : 0);
        if (hostPort) for (const node of nodes) claims.push({ owner, node, what: 'port', value: `${hostPort}/${p.protocol ?? 'TCP'}` });
      }
    }
    for (const v of spec.volumes ?? []) {
      if (v.hostPath?.path) for (const node of nodes) claims.push({ owner, node, what: 'path', value: v.hostPath.path });
    }
  } else if (obj.kind === 'PersistentVolume') {
    const path = obj.spec?.local?.path ?? obj.spec?.hostPath?.path;
    const terms: any[] = obj.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [];
    const nodes = terms.flatMap((t) => (t.matchExpressions ?? []).filter((e: any) => e.key === 'kubernetes.io/hostname').flatMap((e: any) => e.values ?? []));
    if (path) for (const node of nodes) claims.push({ owner, node, what: 'path', value: path });
  }
  return claims;
}

/** Keys sorted at every level, so that content is compared, not key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as any)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

/** Every conflict between the objects of one app, one line each, naming both owners. Pure: the test harness uses it too. */
export function appWideProblems(objects: readonly OwnedObject[]): string[] {
  const problems: string[] = [];
  const byKey = new Map<string, OwnedObject>();
  for (const o of objects) {
    const m = o.object?.metadata ?? {};
    const key = `${o.object?.kind} ${m.namespace ? `${m.namespace}/` : ''}${m.name}`;
    const first = byKey.get(key);
    if (!first) {
      byKey.set(key, o);
    } else if (canonical(first.object) !== canonical(o.object)) {
      problems.push(`${key} is emitted by ${first.owner} and by ${o.owner} with different content; applied together one ` +
        'replaces the other: give one of them another name (its `name` prop) or put it in another namespace');
    }
  }

  const claims = objects.flatMap(claimsOf);
  const ports = new Map<string, NodeClaim>();
  for (const c of claims.filter((x) => x.what === 'port')) {
    const key = `${c.node} ${c.value}`;
    const first = ports.get(key);
    if (!first) ports.set(key, c);
    else if (first.owner !== c.owner) {
      problems.push(`port ${c.value} on node ${c.node} is listened on by ${first.owner} and by ${c.owner} (host network); ` +
        'change one of their ports, or place them on different nodes');
    }
  }
  const paths = claims.filter((x) => x.what === 'path');
  const reported = new Set<string>();
  paths.forEach((a, i) => {
    for (const b of paths.slice(i + 1)) {
      const key = `${a.owner} ${b.owner} ${a.node}`;
      if (a.owner === b.owner || a.node !== b.node || !hostPathsOverlap(a.value, b.value) || reported.has(key)) continue;
      reported.add(key);
      problems.push(`host directory ${a.value} of ${a.owner} and ${b.value} of ${b.owner} on node ${a.node} are the same or nested; ` +
        'each would chown and write the other\'s data: give each workload its own directory (e.g. its dataPath)');
    }
  });
  problems.push(...missingSecretKeys(objects));
  return problems;
}

/** Secret volume items naming a key that the Secret, when this app defines it, does not have. */
function missingSecretKeys(objects: readonly OwnedObject[]): string[] {
  const secrets = new Map<string, Set<string>>();
  for (const o of objects) {
    const obj = o.object;
    if (obj?.kind !== 'Secret') continue;
    secrets.set(`${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`, new Set([...Object.keys(obj.data ?? {}), ...Object.keys(obj.stringData ?? {})]));
  }
  const problems: string[] = [];
  for (const o of objects.filter((x) => WORKLOAD_KINDS.has(x.object?.kind))) {
    for (const v of o.object.spec?.template?.spec?.volumes ?? []) {
      const keys = secrets.get(`${o.object.metadata?.namespace ?? ''}/${v.secret?.secretName}`);
      if (!keys || v.secret?.optional === true) continue;
      for (const item of v.secret.items ?? []) {
        if (!keys.has(item.key)) {
          problems.push(`${o.owner} mounts key ${JSON.stringify(item.key)} of Secret ${v.secret.secretName}, which has no such key ` +
            `(it has ${[...keys].join(', ') || 'none'}): add the key to the Secret or name the key it has`);
        }
      }
    }
  }
  return problems;
}
