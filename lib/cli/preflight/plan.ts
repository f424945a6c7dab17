/**
 * The plan before an apply (`preflight --plan`): what the synthesized manifests would change in the running cluster,
 * in the order it would happen, and which of those changes the day-2 rules refuse. Pure: the manifests and the live
 * objects (read by cluster.ts) in, one line per change out.
 *
 * Synth cannot refuse a transition (it has no memory of what runs); the plan can, because it reads what runs:
 * - a MariaDB downgrade or a skipped long-term series, a skipped RabbitMQ release line (galera/upgrade.ts,
 *   rabbitmq/upgrade.ts);
 * - shrinking Galera or RabbitMQ by a majority in one apply, or to an even count;
 * - a cluster-wide Galera setting (cluster name, replication TLS, ...) changed by a roll (galera/settings.ts);
 * - a new Erlang cookie by a roll (brokers with different cookies cannot talk);
 * - a MariaDB version change whose roll would not end with the writer.
 */
import { settingChanges } from '../../galera/settings';
import { imageTagVersion } from '../../common/image-version';
import { mariadbUpgradeVerdict } from '../../galera/upgrade';
import { rabbitUpgradeVerdict } from '../../rabbitmq/upgrade';
import { objectId, objectNamespace, secretReferences, workloads } from './manifests';
import { CheckResult, CheckStatus, KubeObject, Lookup } from './types';

export interface PlanInput {
  /** The synthesized manifests. */
  readonly objects: KubeObject[];
  /** What the API server holds for each manifest object, by `objectId`. Secrets are never read. */
  readonly live: Readonly<Record<string, Lookup<KubeObject>>>;
  readonly defaultNamespace: string;
}

const COMPONENT = 'app.kubernetes.io/component';
const DAY2 = 'README, "Day 2"';

type Spec = Record<string, any>;

function line(status: CheckStatus, check: string, subject: string, message: string): CheckResult {
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

function container(o: KubeObject | undefined, name: string): Spec | undefined {
  return ((o?.spec as Spec | undefined)?.template?.spec?.containers as Spec[] | undefined)?.find((c) => c.name === name);
}

/** The ConfigMap data value of the workload's volume that holds `key`, in the manifests and live. */
function mountedConfig(input: PlanInput, workload: KubeObject, key: string): { next?: string; live?: string; id?: string } {
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

/** `namespace/name key` of each Secret reference of a workload, by where it is used (`env X`, `volume cookie`). */
function secretRefsByUse(o: KubeObject, defaultNamespace: string): Map<string, string> {
  const refs = new Map<string, string>();
  for (const r of secretReferences(workloads([o], defaultNamespace))) {
    const use = r.from.slice(r.from.indexOf(' ', r.from.indexOf(' ') + 1) + 1);
    refs.set(use, [...(refs.get(use) ?? '').split(', ').filter((x) => x !== ''), `Secret ${r.name}${r.key ? ` key ${r.key}` : ''}`].join(', '));
  }
  return refs;
}

function templateChanges(next: KubeObject, live: KubeObject): string[] {
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
function memberCountLines(kind: 'Galera' | 'RabbitMQ', subject: string, from: number, to: number, detail: string): CheckResult[] {
  if (from === to) return [];
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

/** The Galera member ProxySQL sends writes to: the heaviest server of the ProxySQL config, when there is one. */
function proxysqlWriter(input: PlanInput, galeraName: string): number | undefined {
  let best: { weight: number; ordinal: number } | undefined;
  for (const o of input.objects) {
    if (o.kind !== 'ConfigMap') continue;
    for (const text of Object.values((o.data as Record<string, string> | undefined) ?? {})) {
      if (!text.includes('mysql_servers')) continue;
      for (const m of text.matchAll(/\{[^}]*\bweight=(\d+)[^}]*\bcomment="([^"]+)"[^}]*\}/g)) {
        const ordinal = new RegExp(`^${galeraName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)$`).exec(m[2])?.[1];
        if (ordinal !== undefined && (!best || Number(m[1]) > best.weight)) best = { weight: Number(m[1]), ordinal: Number(ordinal) };
      }
    }
  }
  return best?.ordinal;
}

function galeraPlan(input: PlanInput, sts: KubeObject, live: KubeObject): CheckResult[] {
  const subject = objectId(sts, input.defaultNamespace);
  const name = sts.metadata.name;
  const lines: CheckResult[] = [];
  const from = Number((live.spec as Spec).replicas ?? 1);
  const to = Number((sts.spec as Spec).replicas ?? 1);
  lines.push(...memberCountLines('Galera', subject, from, to, from === 0
    ? 'every member starts on its volume at once; the recovery agents elect the most advanced to bootstrap, the others join by IST'
    : to > from
    ? `${Array.from({ length: to - from }, (_, i) => `${name}-${from + i}`).join(', ')} join by SST from a Synced member; every member's gcomm list grows in the roll`
    : `${Array.from({ length: from - to }, (_, i) => `${name}-${from - 1 - i}`).join(', ')} stop and leave the cluster cleanly (SIGTERM); their claims and local volumes are kept (Retain)`));

  const imageFrom = container(live, 'mariadb')?.image as string | undefined;
  const imageTo = container(sts, 'mariadb')?.image as string | undefined;
  let versionChange = false;
  if (imageFrom && imageTo && imageFrom !== imageTo) {
    const a = imageTagVersion(imageFrom);
    const b = imageTagVersion(imageTo);
    if (!a || !b) {
      lines.push(line('warn', 'version', subject, `image ${imageFrom} -> ${imageTo}: the MariaDB version is not in the tag; the upgrade rules cannot be checked`));
    } else {
      const verdict = mariadbUpgradeVerdict(a, b);
      versionChange = a.text !== b.text;
      lines.push(line(verdict.status === 'refuse' ? 'fail' : verdict.status === 'warn' ? 'warn' : 'pass', 'version', subject, verdict.message));
    }
  }

  if (versionChange && to > from) {
    lines.push(line('fail', 'members', subject, `${from} -> ${to} members together with a MariaDB version change: the new members would join by SST from a member `
      + 'of the other version, and the mixed cluster would last longer; apply the upgrade first, then the growth'));
  }

  const cnf = mountedConfig(input, sts, 'server.cnf');
  // Scaled to 0 (the first step of the cluster-wide procedure): nothing rolls, every member starts with the new value.
  const stopped = from === 0 && Number((live.status as Spec | undefined)?.replicas ?? 0) === 0;
  if (cnf.next !== undefined && cnf.live !== undefined) {
    for (const c of settingChanges(cnf.live, cnf.next)) {
      const values = `${c.from ?? '(unset)'} -> ${c.to ?? '(unset)'}`;
      if (stopped && c.scope === 'cluster-wide') {
        lines.push(line('pass', 'setting', `${subject} ${c.setting}`, `${values}: cluster-wide, and no member runs: every member starts with it`));
      } else if (c.rollingSafe) {
        lines.push(line('pass', 'setting', `${subject} ${c.setting}`, `${values}: ${c.scope === 'rolling' ? 'per member, changes in the roll' : `${c.scope}, ${c.procedure ?? 'safe in a roll'}`}`));
      } else {
        lines.push(line('fail', 'setting', `${subject} ${c.setting}`, `${values}: ${c.scope === 'data' ? 'fixed by the data' : 'cluster-wide'}: ${c.why}; `
          + `a roll would change it one member at a time; ${c.procedure ?? DAY2}`));
      }
    }
  }

  const before = secretRefsByUse(live, input.defaultNamespace);
  for (const [use, ref] of secretRefsByUse(sts, input.defaultNamespace)) {
    const old = before.get(use);
    if (old !== undefined && old !== ref) {
      lines.push(line('pass', 'credentials', `${subject} ${use}`, use.startsWith('volume credentials ')
        ? `${old} -> ${ref}: rotates live with the roll: the first member with the new Secret makes the account accept the new password `
          + 'and keep the old one for passwordRotationGraceMinutes; roll the clients within it (README, "Day 2: rotating a database password")'
        : `${old} -> ${ref}: read when each member restarts in the roll; the first restarted member `
          + 'sets the password for the whole cluster, keeping the old one for passwordRotationGraceMinutes (README, "Day 2: rotating a database password")'));
    }
  }

  const changed = templateChanges(sts, live);
  if (changed.length > 0) {
    const rolled = Array.from({ length: Math.min(from, to) }, (_, i) => `${name}-${Math.min(from, to) - 1 - i}`);
    const writer = proxysqlWriter(input, name);
    const writerText = writer === undefined ? `${name}-0 last` : writer === 0 ? `${name}-0 last, the writer` : `${name}-0 last; the writer is ${name}-${writer}`;
    lines.push(line('pass', 'roll', subject, `pods roll one at a time, highest ordinal first, each Ready (Synced) before the next: ${rolled.join(', ')} (${writerText}); `
      + `changed: ${summarizeFields(changed)}`));
    if (writer !== undefined && writer !== 0 && rolled.includes(`${name}-${writer}`)) {
      const message = `the writer ${name}-${writer} would roll before ${name}-0: `
        + (versionChange
          ? 'writes on the upgraded writer would replicate to members still on the old version; apply writerOrdinal 0 alone first (ProxySQL moves the writer, Galera does not restart), then the upgrade'
          : 'ProxySQL moves the writer away and back once during the roll (a brief reconnect); set writerOrdinal 0 to keep it last');
      lines.push(line(versionChange ? 'fail' : 'warn', 'roll', subject, message));
    }
  }
  return lines;
}

/** The broker names of rabbitmq.conf's classic_config list. */
function rabbitBrokers(conf: string | undefined): string[] | undefined {
  if (conf === undefined) return undefined;
  return [...conf.matchAll(/^cluster_formation\.classic_config\.nodes\.\d+ = (\S+)$/gm)].map((m) => m[1]);
}

function rabbitPlan(input: PlanInput, ds: KubeObject, live: KubeObject): CheckResult[] {
  const subject = objectId(ds, input.defaultNamespace);
  const lines: CheckResult[] = [];
  const conf = mountedConfig(input, ds, 'rabbitmq.conf');
  const from = rabbitBrokers(conf.live);
  const to = rabbitBrokers(conf.next);
  if (from && to) {
    const added = to.filter((b) => !from.includes(b));
    const removed = from.filter((b) => !to.includes(b));
    lines.push(...memberCountLines('RabbitMQ', subject, from.length, to.length,
      `${added.length > 0 ? `${added.join(', ')} join` : ''}${added.length > 0 && removed.length > 0 ? '; ' : ''}`
      + `${removed.length > 0 ? `${removed.join(', ')} leave: run rabbitmqctl forget_cluster_node for each once its pod is gone` : ''}`));
  }
  const imageFrom = container(live, 'rabbitmq')?.image as string | undefined;
  const imageTo = container(ds, 'rabbitmq')?.image as string | undefined;
  if (imageFrom && imageTo && imageFrom !== imageTo) {
    const a = imageTagVersion(imageFrom)?.series;
    const b = imageTagVersion(imageTo)?.series;
    if (!a || !b) {
      lines.push(line('warn', 'version', subject, `image ${imageFrom} -> ${imageTo}: the RabbitMQ version is not in the tag; the upgrade rules cannot be checked`));
    } else if (a !== b) {
      const verdict = rabbitUpgradeVerdict(a, b);
      lines.push(line(verdict.status === 'refuse' ? 'fail' : verdict.status === 'warn' ? 'warn' : 'pass', 'version', subject, verdict.message));
    }
  }
  // Every broker stopped (the first step of the cookie procedure): the status says no node runs one.
  const stopped = Number((live.status as Spec | undefined)?.currentNumberScheduled ?? 1) === 0;
  const before = secretRefsByUse(live, input.defaultNamespace);
  for (const [use, ref] of secretRefsByUse(ds, input.defaultNamespace)) {
    const old = before.get(use);
    if (old === undefined || old === ref) continue;
    if (use.startsWith('volume cookie') && stopped) {
      lines.push(line('pass', 'credentials', `${subject} erlang cookie`, `${old} -> ${ref}: no broker runs: every broker starts with the new cookie`));
    } else if (use.startsWith('volume cookie')) {
      lines.push(line('fail', 'credentials', `${subject} erlang cookie`, `${old} -> ${ref}: a broker with another cookie cannot talk to the others, so a roll `
        + 'would split the cluster; change the cookie by the full restart procedure (README, "Day 2: changing the Erlang cookie")'));
    } else {
      lines.push(line('pass', 'credentials', `${subject} ${use}`, `${old} -> ${ref}: read when each broker restarts in the roll`));
    }
  }
  const changed = templateChanges(ds, live);
  if (changed.length > 0) {
    lines.push(line('pass', 'roll', subject, `brokers restart one node at a time (RollingUpdate, maxUnavailable 1), each Ready before the next, in the order the DaemonSet controller picks; changed: ${summarizeFields(changed)}`));
  }
  return lines;
}

function genericRoll(input: PlanInput, o: KubeObject, live: KubeObject): CheckResult[] {
  const changed = templateChanges(o, live);
  if (changed.length === 0) return [];
  return [line('pass', 'roll', objectId(o, input.defaultNamespace), `pods roll (${o.kind} RollingUpdate); changed: ${summarizeFields(changed)}`)];
}

/** At most three paths, then a count: the line stays readable. */
function summarizeFields(paths: string[]): string {
  const shown = paths.slice(0, 3).join(', ');
  return paths.length > 3 ? `${shown} and ${paths.length - 3} more` : shown;
}

const isWorkload = (o: KubeObject) => (o.kind === 'StatefulSet' || o.kind === 'DaemonSet' || o.kind === 'Deployment') && (o.spec as Spec | undefined)?.template;

/** Every change the manifests would make, Galera and RabbitMQ first (their order matters), then the rest. */
export function planChanges(input: PlanInput): CheckResult[] {
  const results: CheckResult[] = [];
  const creates: CheckResult[] = [];
  const others: CheckResult[] = [];
  let unchanged = 0;
  const ordered = [...input.objects].sort((a, b) => rank(a) - rank(b));
  for (const o of ordered) {
    const id = objectId(o, input.defaultNamespace);
    const l = input.live[id];
    if (!l || l.state === 'error') {
      others.push(line('warn', 'read', id, `cannot read the live object${l?.state === 'error' ? ` (${l.message})` : ''}; not compared`));
      continue;
    }
    if (l.state === 'absent') {
      creates.push(line('pass', 'create', id, 'not in the cluster: created'));
      continue;
    }
    const component = o.metadata.labels?.[COMPONENT];
    if (o.kind === 'StatefulSet' && component === 'galera') results.push(...galeraPlan(input, o, l.value));
    else if (o.kind === 'DaemonSet' && component === 'rabbitmq') results.push(...rabbitPlan(input, o, l.value));
    else if (isWorkload(o)) others.push(...genericRoll(input, o, l.value));
    const fields = o.kind === 'Secret' ? [] : changedFields(withoutStatus(o), l.value);
    if (fields.length === 0) unchanged += 1;
    else if (!isWorkload(o)) others.push(line('pass', 'change', id, `changed: ${summarizeFields(fields)}`));
  }
  return [...creates, ...results, ...others, line('pass', 'unchanged', '', `${unchanged} object${unchanged === 1 ? '' : 's'} as in the cluster`)];
}

function rank(o: KubeObject): number {
  const c = o.metadata.labels?.[COMPONENT];
  return c === 'galera' ? 0 : c === 'rabbitmq' ? 1 : 2;
}

function withoutStatus(o: KubeObject): Record<string, unknown> {
  const { status: _status, ...rest } = o as Record<string, unknown>;
  return rest;
}

const PLAN_WORDS: Record<CheckStatus, string> = { pass: 'PLAN', warn: 'WARN', fail: 'REFUSE' };

/** `PLAN  roll StatefulSet openstack/galera: ...`, `REFUSE  setting ...: ...` */
export function formatPlanLine(r: CheckResult): string {
  return `${PLAN_WORDS[r.status]}  ${r.check}${r.subject ? ` ${r.subject}` : ''}: ${r.message}`;
}

/** `plan: 3 changes, 1 warning, 1 refused` */
export function planSummary(results: CheckResult[]): string {
  const count = (s: CheckStatus) => results.filter((r) => r.status === s && r.check !== 'unchanged').length;
  const refused = count('fail');
  return `plan: ${count('pass')} change${count('pass') === 1 ? '' : 's'}, ${count('warn')} warning${count('warn') === 1 ? '' : 's'}, ${refused} refused`
    + (refused > 0 ? '; resolve every refused change before applying' : '');
}
