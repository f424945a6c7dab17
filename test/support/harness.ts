/**
 * Test helpers every construct test uses: synthesize, validate every object against the Kubernetes schema and
 * against the API-rules check (what the API server enforces in code, what its controllers do with an object:
 * plugins/k8s-api-rules), and check this library's own invariants (probes, resources, PDBs, placement, no secret
 * in a ConfigMap, ...). Each check returns the list of problems so that a test can assert it is empty, and the
 * harness' own tests can show each check catches what it should.
 */
import { App, Chart, Testing } from 'cdk8s';
// The plugin is plain JS so that `cdk8s synth` can load it; tests use the same rules.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { validateObject } = require('../../plugins/k8s-schema') as { validateObject: (o: unknown) => string[] };
import * as apiRules from '../../plugins/k8s-api-rules';
import { appWideProblems } from '../../lib/common/app-checks';

export interface ApiRulesOptions {
  /** Every namespaced object must name its namespace (the examples, and `cdk8s synth`); test charts may omit it. */
  readonly requireNamespace?: boolean;
}

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: any }; [k: string]: any };

/**
 * A fresh app whose output is never written: tests read objects with `Testing.synth`. (`Testing.app()` would
 * create a temp directory per call and leave hundreds behind.)
 */
export function newApp(): App {
  return new App({ outdir: '/nonexistent/cdk8s-tests-never-write-here' });
}

/** A fresh chart in a fresh app. */
export function newChart(namespace?: string): Chart {
  return new Chart(newApp(), 'test', namespace ? { namespace } : {});
}

/** Every object of a chart. */
export function synth(chart: Chart): K8sObject[] {
  return Testing.synth(chart) as K8sObject[];
}

/** Every object of every chart of an app. */
export function synthApp(app: App): K8sObject[] {
  return app.charts.flatMap((c) => Testing.synth(c) as K8sObject[]);
}

/** Finds one object by kind and name; throws if absent so a test fails with a clear message. */
export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

export function ofKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

/** Schema problems of every object. */
export function schemaProblems(objects: K8sObject[]): string[] {
  return objects.flatMap((o) => validateObject(o));
}

/** API-rules problems of the objects, one line each (the same rules as `cdk8s synth` and the fake API server). */
export function apiRulesProblems(objects: K8sObject[], options: ApiRulesOptions = {}): string[] {
  return apiRules.apiRuleProblems(objects, options).map(apiRules.formatProblem);
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']);
const REPLICATED_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

function id(o: K8sObject): string {
  return `${o.kind}/${o.metadata.name}`;
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function podTemplate(o: K8sObject): any {
  return o.spec?.template;
}

/** Every string leaf of a JSON value, with its path. */
function* leaves(value: unknown, path: string): Generator<[string, unknown]> {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* leaves(value[i], `${path}[${i}]`);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) yield* leaves(v, `${path}.${k}`);
  } else {
    yield [path, value];
  }
}

/**
 * A line of configuration that assigns a literal value to something secret-like. References that are filled in
 * at container start (`$VAR`, `${VAR:-}`, `$(VAR)`, `{{...}}`, `@@VAR@@`, file paths) are not values, nor are
 * numbers and sizes (`token_cache_time = 300`), nor shell syntax around them (`[[ -n ${X:-} ]]`, `=~ ^re$`).
 */
const SECRET_ASSIGNMENT = /(password|passwd|secret|token|cookie|private[_-]?key|_auth|credentials?)[A-Za-z0-9_-]*["']?\s*[=:]\s*["']?([^\s"',;}]+)/i;
// A URL without userinfo is an endpoint, not a secret (`www_authenticate_uri = http://...` matches `_auth`).
const REFERENCE = /^(\$.*|\{\{.*|@@[A-Z0-9_]+@@|\/.*|<[a-z-]+>|none|null|true|false|\d+[A-Za-z]{0,3}|[a-z][a-z0-9+.-]*:\/\/[^@\s]*)$/i;
/** A literal secret: starts with a letter or digit and is long enough to be one (shell tests, regexes are not). */
const LITERAL = /^[A-Za-z0-9][^\s]{3,}$/;

/** Problems with ConfigMap data that looks like it holds a secret value. */
export function secretLookingValues(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const cm of ofKind(objects, 'ConfigMap')) {
    for (const [key, text] of Object.entries<string>(cm.data ?? {})) {
      if (/BEGIN [A-Z ]*PRIVATE KEY/.test(text)) problems.push(`${id(cm)} ${key}: contains a private key`);
      for (const line of text.split('\n')) {
        if (/^\s*(#|\/\/|;)/.test(line)) continue;
        const m = SECRET_ASSIGNMENT.exec(line);
        if (m && LITERAL.test(m[2]) && !REFERENCE.test(m[2])) problems.push(`${id(cm)} ${key}: "${line.trim()}" assigns a literal secret-looking value`);
      }
    }
  }
  return problems;
}

/**
 * Problems with the invariants every object of this library must meet. Returns an empty list when all hold.
 * Labels, names, images and quantities are checked by Kubernetes' rules in `apiRulesProblems`; here, across all
 * the objects given: no two with one kind/namespace/name and different content, no two host-network listeners
 * on one node and port, no shared host directory.
 */
export function invariantProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const o of objects) {
    for (const [path, value] of leaves(o, '')) {
      if (value === null || value === undefined) problems.push(`${id(o)}: null leaf at ${path}`);
    }
    // Port names, selectors against template labels and mounts against volumes are API rules (apiRulesProblems).
    if (o.kind === 'Service') {
      if (o.spec?.selector && !objects.some((w) => WORKLOAD_KINDS.has(w.kind) && matches(o.spec.selector, podTemplate(w)?.metadata?.labels))) {
        problems.push(`${id(o)}: selector ${JSON.stringify(o.spec.selector)} selects no pods of this chart`);
      }
    }
    if (!WORKLOAD_KINDS.has(o.kind)) continue;
    const template = podTemplate(o);
    const spec = template?.spec ?? {};
    const containers: any[] = spec.containers ?? [];
    const initContainers: any[] = spec.initContainers ?? [];
    for (const c of [...initContainers, ...containers]) {
      if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory || !c.resources?.limits?.cpu) {
        problems.push(`${id(o)} container ${c.name}: no complete resource requests and limits`);
      }
      const sc = c.securityContext ?? {};
      if (sc.privileged === true || sc.allowPrivilegeEscalation !== false || !(sc.capabilities?.drop ?? []).includes('ALL')) {
        problems.push(`${id(o)} container ${c.name}: must drop ALL capabilities, forbid privilege escalation, and not be privileged`);
      }
    }
    if (o.kind !== 'Job') {
      for (const c of containers) {
        if (!c.readinessProbe || !c.livenessProbe) problems.push(`${id(o)} container ${c.name}: missing readiness or liveness probe`);
      }
      if (!template?.metadata?.annotations?.['openstack-ha.cdk8s.io/config-hash']) {
        problems.push(`${id(o)}: pod template has no config-hash annotation`);
      }
      if (!spec.affinity?.nodeAffinity && !spec.nodeSelector) problems.push(`${id(o)}: no node placement`);
    }
    if (REPLICATED_KINDS.has(o.kind)) {
      const replicas = o.kind === 'DaemonSet' ? 2 : (o.spec?.replicas ?? 1);
      const antiAffinity = spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
      if (replicas > 1 && o.kind !== 'DaemonSet' && !antiAffinity.some((t: any) => matches(t.labelSelector?.matchLabels, template?.metadata?.labels))) {
        problems.push(`${id(o)}: replicated without required anti-affinity between its own pods`);
      }
      const pdb = objects.find((p) => p.kind === 'PodDisruptionBudget' && p.metadata.namespace === o.metadata.namespace
        && matches(p.spec?.selector?.matchLabels, template?.metadata?.labels));
      if (replicas > 1 && !pdb) problems.push(`${id(o)}: no PodDisruptionBudget selects its pods`);
    }
  }
  for (const pdb of ofKind(objects, 'PodDisruptionBudget')) {
    if (!objects.some((w) => WORKLOAD_KINDS.has(w.kind) && matches(pdb.spec?.selector?.matchLabels, podTemplate(w)?.metadata?.labels))) {
      problems.push(`${id(pdb)}: selects no pods of this chart`);
    }
  }
  // Across every chart of the app (synthApp): the same check every construct registers for `app.synth()`.
  const appWide = appWideProblems(objects.map((object) => ({ owner: id(object).replace('/', ' '), object })));
  return [...problems, ...secretLookingValues(objects), ...appWide];
}

/** Asserts schema validity, the API rules and every invariant; the failure message lists every problem. */
export function expectValidManifests(objects: K8sObject[], options: ApiRulesOptions = {}): void {
  const problems = [...schemaProblems(objects), ...apiRulesProblems(objects, options), ...invariantProblems(objects)];
  if (problems.length > 0) throw new Error(`invalid manifests:\n${problems.map((p) => `- ${p}`).join('\n')}`);
}

/** The message of the error `fn` throws; fails the test when it throws nothing. */
export function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error, got none');
}
