/**
 * The preflight checks: pure functions from the manifests, the topology and a snapshot of the cluster to one
 * result line per thing checked. Nothing here talks to the cluster (main.ts fetches the snapshot), so every check
 * is tested with plain objects.
 */
import {
  PinnedVolume, SecretReference, Workload, manifestNamespaces, manifestSecrets, objectId, objectNamespace, pinnedVolumes,
  secretReferences, workloads,
} from './manifests';
import { LEVELS, PodSecurityLevel, admits, isLevel, podSecurityNeed } from './pod-security';
import {
  NodeView, describeNodeSelection, describeNodeSelector, describeTaint, hasNodeSelection, matchesNodeSelector, onePerNode,
  podMatchesNode, untoleratedTaints, viewOf,
} from './scheduling';
import { inventoryFromManifests } from './topology';
import { MAX_TESTED_KUBERNETES_VERSION, MIN_KUBERNETES_VERSION, apiRuleProblems, compareVersions } from '../../../plugins/k8s-api-rules';
import { CheckResult, CheckStatus, ClusterSnapshot, DryRunOutcome, KubeObject, Lookup, Node, ObjectMeta, Topology, TopologyNode } from './types';

const ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce';

export interface PreflightInput {
  readonly objects: KubeObject[];
  /** Undefined when no topology file was given: the inventory then comes from the manifests. */
  readonly topology: Topology | undefined;
  /** The namespace of namespaced objects that name none (the topology's, else the kubeconfig context's). */
  readonly defaultNamespace: string;
  readonly snapshot: ClusterSnapshot;
}

/** Every check, in the order they are printed. */
export function runChecks(input: PreflightInput): CheckResult[] {
  const { objects, topology, defaultNamespace, snapshot } = input;
  const pods = workloads(objects, defaultNamespace);
  const inventory = topology?.nodes ?? inventoryFromManifests(pods);
  const results: CheckResult[] = [checkVersion(snapshot.version)];
  if (snapshot.nodes.state === 'found') {
    const nodes = snapshot.nodes.value;
    results.push(
      ...checkNodes(inventory, nodes, topology !== undefined),
      ...checkPlacement(pods, pinnedVolumes(objects), nodes),
      ...checkTaints(pods, nodes, inventory),
      ...checkVips(topology, nodes),
    );
  } else {
    const why = snapshot.nodes.state === 'error' ? snapshot.nodes.message : 'the API returned no node list';
    results.push(result('fail', 'node', '', `cannot list nodes: ${why}; node, placement, taint and VIP checks not run`));
  }
  results.push(
    ...checkNamespaces(objects, pods, defaultNamespace, snapshot.namespaces),
    ...checkSecrets(secretReferences(pods), manifestSecrets(objects, defaultNamespace), snapshot.secrets),
    ...checkDryRun(objects, defaultNamespace, snapshot.dryRuns),
    ...checkApiRules(objects, snapshot.version.state === 'found' ? snapshot.version.value : undefined),
  );
  return results;
}

const SUPPORTED = `supported: Kubernetes ${MIN_KUBERNETES_VERSION} to ${MAX_TESTED_KUBERNETES_VERSION}`;

/**
 * The server is a Kubernetes this library supports: below the minimum, fields the manifests rely on are dropped
 * without an error (a StatefulSet's persistentVolumeClaimRetentionPolicy before 1.27); above the newest tested
 * version, a warning.
 */
export function checkVersion(version: Lookup<string>): CheckResult {
  if (version.state !== 'found') {
    return result('warn', 'version', '', `cannot read the server version (${version.state === 'error' ? version.message : 'GET /version: not found'}); not checked (${SUPPORTED})`);
  }
  const v = version.value;
  if (compareVersions(v, MIN_KUBERNETES_VERSION) < 0) {
    return result('fail', 'version', v, `is older than Kubernetes ${MIN_KUBERNETES_VERSION}, the oldest this library supports: the API server would drop fields the manifests rely on (StatefulSet persistentVolumeClaimRetentionPolicy) without an error; upgrade the cluster to ${MIN_KUBERNETES_VERSION} or newer`);
  }
  if (compareVersions(v, MAX_TESTED_KUBERNETES_VERSION) > 0) {
    return result('warn', 'version', v, `is newer than Kubernetes ${MAX_TESTED_KUBERNETES_VERSION}, the newest this library is tested against; the dry runs below are the check that counts`);
  }
  return result('pass', 'version', v, SUPPORTED);
}

/**
 * What the API server accepts but its controllers or the kubelet refuse or mishandle (a PDB whose maxUnavailable
 * the disruption controller cannot compute, a StatefulSet without its headless Service, ...), and fields this
 * server's version drops: the API-rules check's controller and version rules, run over the manifests here
 * because a dry run cannot show them. (Its API rules are the server's own dry run above.)
 */
export function checkApiRules(objects: KubeObject[], serverVersion: string | undefined): CheckResult[] {
  const minVersion = serverVersion !== undefined && compareVersions(serverVersion, MIN_KUBERNETES_VERSION) > 0 ? serverVersion : MIN_KUBERNETES_VERSION;
  const problems = apiRuleProblems(objects, { levels: ['controller', 'version'], minVersion });
  if (problems.length === 0) {
    return [result('pass', 'api-rules', '', `${objects.length} objects: no controller or version problem (Kubernetes ${minVersion.replace(/^v/, '')})`)];
  }
  return problems.map((p) => result('fail', 'api-rules', p.object, `${p.path}: ${p.message}`));
}

function result(status: CheckStatus, check: string, subject: string, message: string): CheckResult {
  return { status, check, subject, message };
}

/** `10.0.0.1` stays; IPv6 in its canonical compressed form, so `fd00:0::1` equals `fd00::1`. */
function canonicalIp(ip: string): string {
  return ip.includes(':') ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
}

const nodeIps = (node: Node, type?: string) =>
  (node.status?.addresses ?? []).filter((a) => (type === undefined ? a.type !== 'Hostname' : a.type === type)).map((a) => a.address);

/** Every inventory node exists, is Ready, has the expected InternalIP and labels; a cordoned node is a warning. */
export function checkNodes(inventory: TopologyNode[], nodes: Node[], fromTopology: boolean): CheckResult[] {
  if (inventory.length === 0) {
    return [result('warn', 'node', '', 'no --topology file and no workload pinned to node names: no node to check')];
  }
  const byName = new Map(nodes.map((n) => [n.metadata.name, n]));
  return inventory.map((expected) => {
    const node = byName.get(expected.name);
    if (!node) return result('fail', 'node', expected.name, `not found among the cluster's ${nodes.length} nodes`);
    const problems: string[] = [];
    const notes: string[] = [];
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True') notes.push('Ready');
    else problems.push(`not Ready (${ready ? [ready.reason, ready.message].filter(Boolean).join(': ') || `Ready=${ready.status}` : 'no Ready condition'})`);
    const internal = nodeIps(node, 'InternalIP');
    if (expected.ip === undefined) {
      notes.push(`InternalIP ${internal.join(', ') || 'none'}${fromTopology ? '' : ' (no topology: not compared)'}`);
    } else if (internal.map(canonicalIp).includes(canonicalIp(expected.ip))) {
      notes.push(`InternalIP ${expected.ip}`);
    } else {
      problems.push(`InternalIP is ${internal.join(', ') || 'not reported'}, the topology says ${expected.ip}`);
    }
    for (const [key, value] of Object.entries(expected.labels ?? {})) {
      const actual = node.metadata.labels?.[key];
      if (actual === value) notes.push(`${key}=${value}`);
      else problems.push(`label ${key}=${value} missing${actual === undefined ? '' : ` (has ${key}=${actual})`}; kubectl label node ${expected.name} ${key}=${value}`);
    }
    if (problems.length > 0) return result('fail', 'node', expected.name, problems.join('; '));
    if (node.spec?.unschedulable) return result('warn', 'node', expected.name, `${notes.join(', ')}, but cordoned (kubectl uncordon ${expected.name})`);
    return result('pass', 'node', expected.name, notes.join(', '));
  });
}

/** How many nodes a workload's pods need: one for a DaemonSet; one per replica when pods must be on distinct nodes. */
function nodesNeeded(w: Workload): { need: number; needs: string } {
  if (w.replicas === undefined) return { need: 1, needs: 'a DaemonSet needs at least one' };
  const pods = w.replicas === 1 ? '1 replica needs' : `${w.replicas} replicas need`;
  if (onePerNode(w.pod)) return { need: w.replicas, needs: `${pods} ${w.replicas} (one per node)` };
  return { need: Math.min(w.replicas, 1), needs: `${pods} at least one` };
}

/**
 * Each workload's node selection matches enough existing nodes: one for a DaemonSet, one per replica when the
 * pods must be on distinct nodes; each local PersistentVolume's node affinity matches a node.
 */
export function checkPlacement(pods: Workload[], volumes: PinnedVolume[], nodes: Node[]): CheckResult[] {
  const views = nodes.map(viewOf);
  const names = (list: NodeView[]) => list.map((n) => n.name).join(', ');
  const forPods = pods.filter((w) => hasNodeSelection(w.pod)).map((w) => {
    const matching = views.filter((n) => podMatchesNode(w.pod, n));
    const spread = onePerNode(w.pod);
    const { need, needs } = nodesNeeded(w);
    if (matching.length === 0) return result('fail', 'placement', w.id, `no node matches ${describeNodeSelection(w.pod)}; ${needs}`);
    if (matching.length < need) return result('fail', 'placement', w.id, `only ${names(matching)} match ${describeNodeSelection(w.pod)}; ${needs}`);
    const count = w.replicas === undefined ? '' : ` (${w.replicas} replica${w.replicas === 1 ? '' : 's'}${spread ? ', one per node' : ''})`;
    return result('pass', 'placement', w.id, `can run on ${names(matching)}${count}`);
  });
  const forVolumes = volumes.map((v) => {
    const matching = views.filter((n) => matchesNodeSelector(v.nodeAffinity, n));
    return matching.length === 0
      ? result('fail', 'placement', v.id, `no node matches its node affinity ${describeNodeSelector(v.nodeAffinity)}; its pod could never be scheduled`)
      : result('pass', 'placement', v.id, `on ${names(matching)}`);
  });
  return [...forPods, ...forVolumes];
}

/**
 * No node that must run a workload has a NoSchedule or NoExecute taint the workload does not tolerate. The nodes
 * that may run it: the cluster nodes its selection matches, plus the inventory nodes it would match once they
 * carry the labels the topology expects. A DaemonSet must run on each of them, so any untolerated taint fails;
 * other workloads fail only when the untainted nodes are fewer than their pods need, and are warned otherwise.
 */
export function checkTaints(pods: Workload[], nodes: Node[], inventory: TopologyNode[]): CheckResult[] {
  const expectedLabels = new Map(inventory.map((n) => [n.name, n.labels ?? {}]));
  return pods.filter((w) => hasNodeSelection(w.pod)).flatMap((w) => {
    const hosts = nodes.filter((node) => {
      const view = viewOf(node);
      return podMatchesNode(w.pod, view) || podMatchesNode(w.pod, { ...view, labels: { ...view.labels, ...expectedLabels.get(view.name) } });
    });
    if (hosts.length === 0) return [];
    const blocked = hosts.map((node) => ({ node: node.metadata.name, taints: untoleratedTaints(w, node) })).filter((b) => b.taints.length > 0);
    if (blocked.length === 0) return [result('pass', 'taints', w.id, `no untolerated taint on ${hosts.map((n) => n.metadata.name).join(', ')}`)];
    const list = blocked.map((b) => `${b.node} has ${b.taints.map(describeTaint).join(', ')}`).join('; ');
    const { need, needs } = nodesNeeded(w);
    const free = hosts.length - blocked.length;
    if (w.replicas !== undefined && free >= need) {
      return [result('warn', 'taints', w.id, `${list}, not tolerated; its pods avoid ${blocked.length === 1 ? 'that node' : 'those nodes'} (${free} other${free === 1 ? '' : 's'} left; ${needs})`)];
    }
    return [result('fail', 'taints', w.id, `${list}, not tolerated; add a toleration to the workload or remove the taint`)];
  });
}

/**
 * Each namespace of the manifests exists (or is created by them) and its enforced Pod Security level admits the
 * level its pods need.
 */
export function checkNamespaces(objects: KubeObject[], pods: Workload[], defaultNamespace: string,
  namespaces: Record<string, Lookup<ObjectMeta>>): CheckResult[] {
  return manifestNamespaces(objects, defaultNamespace).map((name) => {
    const inNamespace = pods.filter((w) => w.namespace === name).map((w) => ({ w, need: podSecurityNeed(w.pod, w.podMeta) }));
    const needed = inNamespace.reduce<PodSecurityLevel>((level, { need }) => (admits(level, need.level) ? level : need.level), 'restricted');
    const because = inNamespace.filter(({ need }) => need.level === needed && need.reasons.length > 0)
      .map(({ w, need }) => `${w.id}: ${need.reasons.join(', ')}`).join('; ');
    const needs = `the pods need ${needed}${because ? ` (${because})` : ''}`;
    const created = objects.find((o) => o.kind === 'Namespace' && o.metadata.name === name);
    const lookup: Lookup<ObjectMeta> = created ? { state: 'found', value: created.metadata } : namespaces[name] ?? { state: 'absent' };
    const origin = created ? ' (created by the manifests)' : '';
    if (lookup.state === 'absent') {
      return result('fail', 'namespace', name, `does not exist; create it labelled ${ENFORCE_LABEL}=${needed}: ${needs}`);
    }
    if (lookup.state === 'error') return result('fail', 'namespace', name, `cannot read it: ${lookup.message}`);
    const enforced = lookup.value.labels?.[ENFORCE_LABEL];
    if (enforced === undefined) {
      return result(needed === 'restricted' ? 'pass' : 'warn', 'namespace', name,
        `has no ${ENFORCE_LABEL} label${origin}, so the cluster's default level applies (privileged unless the PodSecurity admission configuration sets another); ${needs}`);
    }
    if (!isLevel(enforced)) {
      return result('fail', 'namespace', name, `${ENFORCE_LABEL}=${enforced}${origin} is not one of ${LEVELS.join(', ')}`);
    }
    if (!admits(enforced, needed)) {
      return result('fail', 'namespace', name, `enforces ${enforced}${origin}, but ${needs}; label it ${ENFORCE_LABEL}=${needed}`);
    }
    return result('pass', 'namespace', name, `enforces ${enforced}${origin}; ${needs}`);
  });
}

/** No VIP is already the address of a node (of the cluster, or of the inventory). */
export function checkVips(topology: Topology | undefined, nodes: Node[]): CheckResult[] {
  if (topology === undefined) return [result('warn', 'vip', '', 'no --topology file: VIPs not checked')];
  return topology.vips.map((vip) => {
    const address = canonicalIp(vip.address);
    const owners = [
      ...nodes.flatMap((n) => (n.status?.addresses ?? []).filter((a) => a.type !== 'Hostname' && canonicalIp(a.address) === address)
        .map((a) => `node ${n.metadata.name}'s ${a.type}`)),
      ...topology.nodes.filter((n) => n.ip !== undefined && canonicalIp(n.ip) === address).map((n) => `topology node ${n.name}'s ip`),
    ];
    const on = vip.interface ? ` (on ${vip.interface})` : '';
    return owners.length > 0
      ? result('fail', 'vip', vip.address, `is already ${[...new Set(owners)].join(', ')}; a VIP must be a free address${on}`)
      : result('pass', 'vip', vip.address, `is no node's address${on}`);
  });
}

/** Every Secret the pods reference exists with every referenced key (a Secret of the manifests counts). */
export function checkSecrets(refs: SecretReference[], created: Map<string, string[]>,
  secrets: Record<string, Lookup<string[]>>): CheckResult[] {
  const byId = new Map<string, SecretReference[]>();
  for (const r of refs) byId.set(`${r.namespace}/${r.name}`, [...(byId.get(`${r.namespace}/${r.name}`) ?? []), r]);
  return [...byId.keys()].sort().map((id) => {
    const all = byId.get(id)!;
    const users = (list: SecretReference[]) => [...new Set(list.map((r) => r.from))].join(', ');
    const fromManifests = created.get(id);
    const lookup: Lookup<string[]> = fromManifests ? { state: 'found', value: fromManifests } : secrets[id] ?? { state: 'absent' };
    const origin = fromManifests ? ' (created by the manifests)' : '';
    if (lookup.state === 'error') return result('fail', 'secret', id, `cannot read it: ${lookup.message}`);
    if (lookup.state === 'absent') {
      return all.every((r) => r.optional)
        ? result('warn', 'secret', id, `does not exist; every reference is optional (${users(all)})`)
        : result('fail', 'secret', id, `does not exist; referenced by ${users(all.filter((r) => !r.optional))}`);
    }
    const missing = all.filter((r) => r.key !== undefined && !lookup.value.includes(r.key));
    const keys = [...new Set(all.map((r) => r.key).filter((k): k is string => k !== undefined))].sort();
    const keyList = (list: SecretReference[]) => [...new Set(list.map((r) => r.key))].join(', ');
    const required = missing.filter((r) => !r.optional);
    if (required.length > 0) {
      return result('fail', 'secret', id, `has no key ${keyList(required)}${origin}; referenced by ${users(required)}`);
    }
    if (missing.length > 0) return result('warn', 'secret', id, `has no key ${keyList(missing)}${origin}; the references are optional (${users(missing)})`);
    return result('pass', 'secret', id, `${keys.length > 0 ? `has key ${keys.join(', ')}` : 'exists'}${origin}`);
  });
}

/**
 * The API server accepted every object in a server-side dry run. An object in a namespace that the manifests
 * themselves create cannot be dry-run before that namespace exists: a warning, not a failure.
 */
export function checkDryRun(objects: KubeObject[], defaultNamespace: string, outcomes: DryRunOutcome[]): CheckResult[] {
  const byObject = new Map(outcomes.map((o) => [o.object, o]));
  const createdNamespaces = new Set(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
  return objects.map((o) => {
    const id = objectId(o, defaultNamespace);
    const outcome = byObject.get(id);
    if (!outcome) return result('fail', 'dry-run', id, 'not tried');
    if (outcome.ok && outcome.warnings) return result('warn', 'dry-run', id, `accepted, with warnings: ${outcome.warnings.join('; ')}`);
    if (outcome.ok) return result('pass', 'dry-run', id, 'accepted');
    const namespace = objectNamespace(o, defaultNamespace);
    if (namespace !== undefined && createdNamespaces.has(namespace) && /namespaces? "?[^ ]*"? not found/.test(outcome.message ?? '')) {
      return result('warn', 'dry-run', id, `not checked: namespace ${namespace} is created by these manifests and does not exist yet`);
    }
    return result('fail', 'dry-run', id, outcome.message ?? 'refused');
  });
}

const STATUS_WORDS: Record<CheckStatus, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' };

/** `PASS  node ctl-1: Ready, InternalIP 10.0.0.11` */
export function formatResult(r: CheckResult): string {
  return `${STATUS_WORDS[r.status]}  ${r.check}${r.subject ? ` ${r.subject}` : ''}: ${r.message}`;
}

/** `12 checks: 10 passed, 1 warning, 1 failed` */
export function summary(results: CheckResult[]): string {
  const count = (s: CheckStatus) => results.filter((r) => r.status === s).length;
  const warnings = count('warn');
  return `${results.length} checks: ${count('pass')} passed, ${warnings} warning${warnings === 1 ? '' : 's'}, ${count('fail')} failed`;
}

/** 1 when any check failed, else 0 (warnings do not fail the preflight). */
export function exitCode(results: CheckResult[]): number {
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}
