/**
 * What every part of the plan shares: its input, the line shape, field comparison (quantities in canonical form), the
 * manifests' and live objects' lookups, and the member-count rules of Galera and RabbitMQ. Internal to the preflight CLI.
 */
import { objectId, objectNamespace, secretReferences, workloads } from '../manifests';
import { CheckResult, CheckStatus, GaleraWriterReading, KubeObject, LivePod, Lookup, SecretWrite } from '../types';

export interface PlanInput {
  /** The synthesized manifests. */
  readonly objects: KubeObject[];
  /** What the API server holds for each manifest object, by `objectId`. Secrets are never read. */
  readonly live: Readonly<Record<string, Lookup<KubeObject>>>;
  readonly defaultNamespace: string;
  /**
   * The writer the members name, by Galera StatefulSet `objectId` (cluster.ts asks the agents).
   * @default - not read: the plan says so and falls back to the first writer the manifests name
   */
  readonly writers?: Readonly<Record<string, Lookup<GaleraWriterReading>>>;
  /** The pods of each live workload, by its `objectId`. @default - not read: in-place Secret changes are not checked */
  readonly pods?: Readonly<Record<string, Lookup<LivePod[]>>>;
  /** When each Secret the pods use was last written, by `namespace/name` (metadata only). @default - not read */
  readonly secretWrites?: Readonly<Record<string, Lookup<SecretWrite>>>;
}

export const COMPONENT = 'app.kubernetes.io/component';
export const DAY2 = 'README, "Day 2"';
/** The README section of the RabbitMQ procedure (two accounts per service, the unused one rotated). */
export const RABBIT_ROTATION = 'Day 2: rotating a RabbitMQ password';

export type Spec = Record<string, any>;

export function line(status: CheckStatus, check: string, subject: string, message: string): CheckResult {
  return { status, check, subject, message };
}

/**
 * The paths at which `live` differs from `desired`, looking only at what `desired` sets: the API server adds
 * defaults (dnsPolicy, terminationMessagePath, ...) that the manifests never mention and that are no change.
 */
export function changedFields(desired: unknown, live: unknown, path = ''): string[] {
  if (desired === null || typeof desired !== 'object') {
    if (desired === live) return [];
    // The API server stores quantities in canonical form (4000m as 4, 2048Mi as 2Gi): the same amount is no change.
    const a = QUANTITY_FIELD.test(path) ? quantityValue(desired) : undefined;
    return a !== undefined && a === quantityValue(live) ? [] : [path || '.'];
  }
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return [path || '.'];
    return desired.flatMap((d, i) => changedFields(d, live[i], `${path}[${i}]`));
  }
  if (live === null || typeof live !== 'object' || Array.isArray(live)) return [path || '.'];
  return Object.entries(desired).flatMap(([k, v]) => changedFields(v, (live as Record<string, unknown>)[k], path ? `${path}.${k}` : k));
}

/** Fields that hold resource quantities: container resources, emptyDir size limits, claim and volume sizes. */
const QUANTITY_FIELD = /(^|\.)(resources\.(limits|requests)\.[^.]+|sizeLimit|capacity\.storage)$/;

const QUANTITY_FACTORS: Record<string, number> = {
  '': 1, 'm': 1e-3, 'k': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12, 'P': 1e15, 'E': 1e18,
  'Ki': 2 ** 10, 'Mi': 2 ** 20, 'Gi': 2 ** 30, 'Ti': 2 ** 40, 'Pi': 2 ** 50, 'Ei': 2 ** 60,
};

/** The amount of a Kubernetes quantity (`500m`, `2Gi`, `4`), in milli-units so that CPU compares exactly. */
export function quantityValue(q: unknown): number | undefined {
  if (typeof q === 'number') return Math.round(q * 1000);
  if (typeof q !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(q.trim());
  return m ? Math.round(Number(m[1]) * QUANTITY_FACTORS[m[2] ?? ''] * 1000) : undefined;
}

function found(input: PlanInput, o: KubeObject): KubeObject | undefined {
  const l = input.live[objectId(o, input.defaultNamespace)];
  return l?.state === 'found' ? l.value : undefined;
}

/** The manifest object of `kind` and `name` in the namespace of `near`. */
function sibling(input: PlanInput, near: KubeObject, kind: string, name: string): KubeObject | undefined {
  const ns = objectNamespace(near, input.defaultNamespace);
  return input.objects.find((o) => o.kind === kind && o.metadata.name === name && objectNamespace(o, input.defaultNamespace) === ns);
}

export function container(o: KubeObject | undefined, name: string): Spec | undefined {
  return ((o?.spec as Spec | undefined)?.template?.spec?.containers as Spec[] | undefined)?.find((c) => c.name === name);
}

/** The ConfigMap data value of the workload's volume that holds `key`, in the manifests and live. */
export function mountedConfig(input: PlanInput, workload: KubeObject, key: string): { next?: string; live?: string; id?: string } {
  const volumes = ((workload.spec as Spec).template?.spec?.volumes as Spec[] | undefined) ?? [];
  for (const v of volumes) {
    const cm = v.configMap?.name ? sibling(input, workload, 'ConfigMap', v.configMap.name) : undefined;
    const next = (cm?.data as Record<string, string> | undefined)?.[key];
    if (cm && next !== undefined) {
      const live = (found(input, cm)?.data as Record<string, string> | undefined)?.[key];
      return { next, live, id: objectId(cm, input.defaultNamespace) };
    }
  }
  return {};
}

/** The data keys of the ConfigMap that the workload's volume `volume` mounts, in the manifests and live (undefined: no such ConfigMap). */
export function mountedConfigKeys(input: PlanInput, workload: KubeObject, volume: string): { next?: string[]; live?: string[] } {
  const volumes = ((workload.spec as Spec).template?.spec?.volumes as Spec[] | undefined) ?? [];
  const name = volumes.find((v) => v.name === volume)?.configMap?.name as string | undefined;
  const cm = name ? sibling(input, workload, 'ConfigMap', name) : undefined;
  if (!cm) return {};
  const liveData = found(input, cm)?.data as Record<string, string> | undefined;
  return { next: Object.keys((cm.data as Record<string, string> | undefined) ?? {}), live: liveData && Object.keys(liveData) };
}

/** `namespace/name key` of each Secret reference of a workload, by where it is used (`env X`, `volume cookie`). */
export function secretRefsByUse(o: KubeObject, defaultNamespace: string): Map<string, string> {
  const refs = new Map<string, string>();
  for (const r of secretReferences(workloads([o], defaultNamespace))) {
    const use = r.from.slice(r.from.indexOf(' ', r.from.indexOf(' ') + 1) + 1);
    refs.set(use, [...(refs.get(use) ?? '').split(', ').filter((x) => x !== ''), `Secret ${r.name}${r.key ? ` key ${r.key}` : ''}`].join(', '));
  }
  return refs;
}

export function templateChanges(next: KubeObject, live: KubeObject): string[] {
  return changedFields((next.spec as Spec).template, (live.spec as Spec).template, 'spec.template');
}

/** The odd count between `to` and `from` that removes fewer than half of `from` (a majority stays up). */
function nextSafeCount(from: number, to: number): number {
  let m = Math.max(to, Math.ceil(from / 2) + (from % 2 === 0 ? 1 : 0));
  if (m % 2 === 0) m += 1;
  return Math.min(m, from);
}

/**
 * The member-count rules for Galera and RabbitMQ: no even count, no shrink that removes a majority of the members
 * at once (the survivors would be a minority of the last view if the leavers did not leave cleanly: a crash or a
 * kill mid-shrink leaves them without quorum).
 */
export function memberCountLines(kind: 'Galera' | 'RabbitMQ', subject: string, from: number, to: number, detail: string): CheckResult[] {
  // The same count with other members (a replaced broker) still says who joins and who must be forgotten.
  // (Galera members are ordinals: the same count is the same members.)
  if (from === to) return kind === 'RabbitMQ' && detail !== '' ? [line('pass', 'members', subject, `${from} -> ${to} brokers: ${detail}`)] : [];
  const members = kind === 'Galera' ? 'members' : 'brokers';
  if (to % 2 === 0 && to > 0) {
    return [line('fail', 'members', subject, `${from} -> ${to} ${members}: an even count is refused (a clean split leaves no side with a majority); use ${to + 1} or ${to - 1}`)];
  }
  if (to < from) {
    const removed = from - to;
    if (removed >= Math.floor(from / 2) + 1) {
      const path = [from];
      for (let n = nextSafeCount(from, to); n < path[path.length - 1]; n = nextSafeCount(n, to)) path.push(n);
      const safe = path[path.length - 1] === to ? `shrink ${path.join(' -> ')}, one apply per step` : `shrink ${path.join(' -> ')} at most, one apply per step: ${path[path.length - 1]} is the fewest a quorum allows`;
      return [line('fail', 'members', subject, `${from} -> ${to} ${members} removes ${removed} of ${from} at once, a majority: if they do not all leave cleanly `
        + `the ${to} left are a minority of the last view and stop; ${safe} (${DAY2})`)];
    }
    return [line('pass', 'members', subject, `${from} -> ${to} ${members}: ${detail}`)];
  }
  return [line('pass', 'members', subject, `${from} -> ${to} ${members}: ${detail}`)];
}

/** At most three paths, then a count: the line stays readable. */
export function summarizeFields(paths: string[]): string {
  const shown = paths.slice(0, 3).join(', ');
  return paths.length > 3 ? `${shown} and ${paths.length - 3} more` : shown;
}
