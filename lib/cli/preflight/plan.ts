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
 * - a new Erlang cookie by a roll (brokers with different cookies cannot talk), or a cookie Secret changed in place
 *   under running brokers (the next broker to restart could not rejoin);
 * - a MariaDB version change whose roll would not end with the writer: the writer the members decide (the replicated
 *   row galera_ha.writer, read from the agents by cluster.ts), and ProxySQL's (its heaviest server, writerOrdinal).
 *
 * A Secret changed in place (same name and key) is seen without reading it: its last write (metadata only) is later
 * than the start of the containers that use it.
 */
import { settingChanges } from '../../galera/settings';
import { imageTagVersion } from '../../common/image-version';
import { mariadbUpgradeVerdict } from '../../galera/upgrade';
import { rabbitUpgradeVerdict } from '../../rabbitmq/upgrade';
import { objectId, objectNamespace, secretReferences, workloads } from './manifests';
import { CheckResult, CheckStatus, GaleraWriterReading, KubeObject, LivePod, Lookup, SecretWrite } from './types';

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

const COMPONENT = 'app.kubernetes.io/component';
const DAY2 = 'README, "Day 2"';
/** The README section of the RabbitMQ procedure (two accounts per service, the unused one rotated). */
const RABBIT_ROTATION = 'Day 2: rotating a RabbitMQ password';

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

/**
 * The Galera member ProxySQL sends writes to: the heaviest server of the ProxySQL config in the manifests, when there is
 * one. ProxySQL keeps its own writer (weights, with failback), apart from the row the members decide.
 */
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
    lines.push(...galeraRollLines(input, sts, live, subject, rolled, versionChange, summarizeFields(changed)));
  }
  lines.push(...inPlaceSecretLines(input, sts, live, changed.length > 0));
  return lines;
}

/** The UPDATE that names MEMBER in the writer row, run on that member (README, "Day 2: upgrading MariaDB"). */
function moveWriterCommand(namespace: string, member: string): string {
  return `kubectl -n ${namespace} exec ${member} -c mariadb -- mariadb --defaults-file=/run/galera/client.cnf -e `
    + `"UPDATE galera_ha.writer SET member='${member}', changed_by='operator', changed_at=UTC_TIMESTAMP(6), reason='last in a roll' WHERE id=1"`;
}

/** The first writer the running StatefulSet names (`GALERA_INITIAL_WRITER`, from writerOrdinal). */
function initialWriter(live: KubeObject): string | undefined {
  const env = container(live, 'mariadb')?.env as Spec[] | undefined;
  const value = env?.find((e) => e.name === 'GALERA_INITIAL_WRITER')?.value;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The roll order (the StatefulSet controller's: highest ordinal first, so ordinal 0 is last), the writer the members
 * name and whether it rolls last, and ProxySQL's writer (which fails back to its heaviest member).
 *
 * The writer row moves only by a takeover, to the lowest Synced member, when the named one is not Synced; it never
 * fails back. A roll that reaches the writer before the last member moves it twice (a brief write stall each time):
 * a warning for a config roll. For a version change the writer must be the last member to roll, so that writes stay
 * on the old version until no old member is left (a takeover while galera-0 donates could otherwise pick an upgraded
 * member): refused, with the one UPDATE that moves the row to the last member first (no restart).
 */
function galeraRollLines(input: PlanInput, sts: KubeObject, live: KubeObject, subject: string, rolled: string[], versionChange: boolean, changed: string): CheckResult[] {
  const name = sts.metadata.name;
  const namespace = objectNamespace(sts, input.defaultNamespace) ?? input.defaultNamespace;
  const last = rolled[rolled.length - 1];
  const reading = input.writers?.[subject];
  const writer = reading?.state === 'found' ? reading.value.member : undefined;
  const why = reading === undefined ? 'not read' : reading.state === 'found' ? '' : reading.state === 'error' ? reading.message : 'no answer';
  const first = initialWriter(live);
  const source = reading?.state === 'found' ? `named by the members' writer row as ${reading.value.answeredBy} reads it` : '';
  const writerText = writer === undefined
    ? `${last} last; the writer the members name could not be read (${why})${first ? `: the manifests name ${first} as the first writer, and it may have moved since` : ''}`
    : writer === last ? `${last} last: the writer, ${source}` : `${last} last; the writer is ${writer}, ${source}`;
  const lines = [line('pass', 'roll', subject, `pods roll one at a time, highest ordinal first, each Ready (Synced) before the next: ${rolled.join(', ')} (${writerText}); changed: ${changed}`)];

  const move = last === undefined ? '' : `move the writer to ${last} first (no restart; HAProxy follows the row within a check): ${moveWriterCommand(namespace, last)}; then plan again`;
  if (writer !== undefined && last !== undefined && writer !== last && rolled.includes(writer)) {
    lines.push(versionChange
      ? line('fail', 'roll', subject, `the writer ${writer} would roll before ${last}: when it stops, a takeover moves the writes to the lowest Synced member, `
        + `which may already run the new version while ${last} runs the old one; ${move}`)
      : line('warn', 'roll', subject, `the writer ${writer} rolls before ${last}: the writes move twice (a takeover when ${writer} stops, another when ${last} stops), `
        + `a brief stall each; to move them once, ${move}`));
  } else if (writer !== undefined && !rolled.includes(writer) && writer.startsWith(`${name}-`) && /^\d+$/.test(writer.slice(name.length + 1))) {
    lines.push(line('warn', 'roll', subject, `the writer ${writer} leaves the cluster in this apply: when it stops, a takeover moves the writes to the lowest Synced member `
      + `(a brief stall); to choose when, ${move}`));
  } else if (writer === undefined && versionChange && last !== undefined) {
    lines.push(line('warn', 'roll', subject, `cannot check that the writer rolls last (${why}): before applying, check that ${last}'s agent answers 200 on /writer `
      + `(kubectl -n ${namespace} exec ${last} -c agent -- node -e "require('http').get('http://127.0.0.1:${agentPortOf(sts)}/writer', r => r.pipe(process.stdout))"), or ${move}`));
  }

  // ProxySQL sends writes to its heaviest healthy member (writerOrdinal) and fails back to it once it is Synced again.
  const proxysql = proxysqlWriter(input, name);
  if (proxysql !== undefined && last !== undefined && `${name}-${proxysql}` !== last && rolled.includes(`${name}-${proxysql}`)) {
    lines.push(line(versionChange ? 'fail' : 'warn', 'roll', subject, `ProxySQL's writer ${name}-${proxysql} (writerOrdinal ${proxysql}) rolls before ${last}: `
      + (versionChange
        ? `ProxySQL fails back to it once it is Synced on the new version while ${last} still runs the old one; apply writerOrdinal 0 alone first (ProxySQL's pods roll, Galera does not restart), then the upgrade`
        : 'ProxySQL moves the writes away and back once during the roll (a brief reconnect); set writerOrdinal 0 to keep it last')));
  }
  return lines;
}

function agentPortOf(sts: KubeObject): number {
  const port = (container(sts, 'agent')?.ports as Spec[] | undefined)?.[0]?.containerPort;
  return typeof port === 'number' ? port : 9200;
}

/** What a Secret changed in place means for each use the plan knows, and what to do. */
function inPlaceVerdict(component: string | undefined, use: string, rolls: boolean, stopped: boolean, restart: string): { status: CheckStatus; message: string } | undefined {
  if (component === 'galera' && use.startsWith('volume credentials')) {
    return { status: 'pass', message: 'rotates live: the kubelet updates the file within about a minute and each member applies it (ALTER USER), keeping the old '
      + 'password for passwordRotationGraceMinutes; roll the clients within it (README, "Day 2: rotating a database password")' };
  }
  if (component === 'rabbitmq' && use.startsWith('volume credentials')) {
    return { status: 'pass', message: `rotates live: the kubelet updates the file within about a minute and the first broker to see it changes the password for the `
      + 'whole cluster (rabbitmqctl change_password, no restart); RabbitMQ has no dual passwords: connections already open stay open, new ones with the old password '
      + `are refused, so this should be an account no client uses (README, "${RABBIT_ROTATION}")` };
  }
  if (component === 'proxysql' && use.startsWith('volume credentials')) {
    return { status: 'pass', message: 'rotates live: the kubelet updates the file within about a minute and the credentials sidecar loads it into ProxySQL '
      + '(LOAD MYSQL USERS or VARIABLES TO RUNTIME, no restart) once every ONLINE Galera member accepts it (the monitor\'s: once the members have restarted '
      + 'with it); ProxySQL has one password per user: clients still on the old one are refused from then on, so this should be an account no client uses '
      + '(README, "Day 2: rotating a database password")' };
  }
  if (component === 'rabbitmq' && use.startsWith('volume cookie')) {
    return stopped
      ? { status: 'pass', message: 'no broker runs: every broker starts with the new cookie' }
      : { status: 'fail', message: `the brokers copy the cookie when they start, so the next one to restart${rolls ? ' (this apply rolls them)' : ' (a crash, a reboot, a roll)'} `
        + 'comes back with a cookie the others do not have and cannot rejoin; put the old value back, or change the cookie by the full restart procedure now '
        + '(README, "Day 2: changing the Erlang cookie")' };
  }
  if (!use.startsWith('env ')) return undefined;
  const picked = rolls ? 'this apply rolls the pods, which picks it up' : `roll them to pick it up (${restart})`;
  if (component === 'rabbitmq') {
    return { status: 'warn', message: `the brokers read it when they start: ${picked}; RabbitMQ has no dual passwords: the first restarted broker sets the new one `
      + 'for the whole cluster, and clients still on the old one fail until they have the new one' };
  }
  if (component === 'galera') {
    return { status: 'warn', message: `the members read it when they start: ${picked}; the first restarted member starts the rotation, keeping the old password `
      + 'for passwordRotationGraceMinutes, so roll every member (and the clients) within it (README, "Day 2: rotating a database password")' };
  }
  return { status: 'warn', message: `the pods read it when they start: ${picked}${component === 'proxysql' ? ', within the Galera password\'s rotation grace' : ''}` };
}

/**
 * Secrets changed in place (same name and key) since the running containers that use them started: the Secret's last
 * write (its metadata: creation and managedFields times) is later than the container's start. Their values are never
 * read, so "changed" means written: a write that kept the value reads the same. Only a reference the manifests keep is
 * judged (a new reference is the credentials line's business).
 */
function inPlaceSecretLines(input: PlanInput, o: KubeObject, live: KubeObject, rolls: boolean): CheckResult[] {
  const subject = objectId(o, input.defaultNamespace);
  const pods = input.pods?.[subject];
  if (pods?.state === 'error') return [line('warn', 'secret', subject, `cannot list the pods (${pods.message}): Secrets changed in place since they started are not checked`)];
  if (!input.secretWrites || pods?.state !== 'found') return [];
  const component = o.metadata.labels?.[COMPONENT];
  const namespace = objectNamespace(o, input.defaultNamespace) ?? input.defaultNamespace;
  const next = secretRefsByUse(o, input.defaultNamespace);
  const stopped = o.kind === 'DaemonSet' && Number((live.status as Spec | undefined)?.currentNumberScheduled ?? 1) === 0;
  const stale = new Map<string, { secret: string; key: string; pods: string[]; written: string; version: string }>();
  const unreadable = new Set<string>();
  for (const pod of pods.value) {
    for (const ref of secretReferences(workloads([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: pod.name, namespace }, spec: pod.spec }], namespace))) {
      const use = ref.from.slice(`Pod ${pod.name} `.length);
      const described = `Secret ${ref.name}${ref.key ? ` key ${ref.key}` : ''}`;
      if (next.get(use) !== described) continue;
      const write = input.secretWrites[`${ref.namespace}/${ref.name}`];
      if (write?.state === 'error') unreadable.add(`Secret ${ref.name} (${write.message})`);
      if (write?.state !== 'found') continue;
      const started = consumerStarts(pod, use);
      if (started.length === 0 || !started.some((t) => Date.parse(write.value.lastWrite) > Date.parse(t))) continue;
      const entry = stale.get(use) ?? { secret: ref.name, key: ref.key ?? '', pods: [], written: write.value.lastWrite, version: write.value.resourceVersion };
      entry.pods.push(pod.name);
      stale.set(use, entry);
    }
  }
  const restart = `kubectl -n ${namespace} rollout restart ${o.kind.toLowerCase()}/${o.metadata.name}`;
  const lines: CheckResult[] = unreadable.size === 0 ? []
    : [line('warn', 'secret', subject, `cannot read the metadata of ${[...unreadable].join(', ')}: whether it changed in place is not checked`)];
  for (const [use, s] of stale) {
    const verdict = inPlaceVerdict(component, use, rolls, stopped, restart);
    if (!verdict) continue;
    lines.push(line(verdict.status, 'secret', `${subject} ${use}`, `Secret ${s.secret}${s.key ? ` key ${s.key}` : ''} was written at ${s.written}`
      + `${s.version ? ` (resourceVersion ${s.version})` : ''}, after `
      + `${s.pods.sort().join(', ')} started (changed in place; its value is not read): ${verdict.message}`));
  }
  return lines;
}

/** When the containers of POD that consume USE (an env var of one container, or a volume they mount) started. */
function consumerStarts(pod: LivePod, use: string): string[] {
  const containers = [...(pod.spec.initContainers ?? []), ...pod.spec.containers] as Spec[];
  const env = /^env (\S+)$/.exec(use)?.[1];
  const volume = /^volume (\S+)/.exec(use)?.[1];
  const users = containers.filter((c) => (env !== undefined ? (c.env as Spec[] | undefined)?.some((e) => e.name === env)
    : volume !== undefined ? (c.volumeMounts as Spec[] | undefined)?.some((m) => m.name === volume) : false));
  return users.map((c) => pod.startedAt[c.name]).filter((t): t is string => t !== undefined);
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
    const counted = memberCountLines('RabbitMQ', subject, from.length, to.length,
      `${added.length > 0 ? `${added.join(', ')} join` : ''}${added.length > 0 && removed.length > 0 ? '; ' : ''}`
      + `${removed.length > 0 ? `${removed.join(', ')} leave` : ''}`);
    lines.push(...counted);
    if (removed.length > 0 && counted.every((l) => l.status !== 'fail')) lines.push(leavingBrokersLine(subject, objectNamespace(ds, input.defaultNamespace), live, removed, to));
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
    } else if (use.startsWith('volume credentials')) {
      lines.push(line('pass', 'credentials', `${subject} ${use}`, `${old} -> ${ref}: the first broker restarted in the roll sets its password for the whole cluster `
        + `(RabbitMQ has no dual passwords: new connections with the old one are refused from then on, so this should be an account no client uses; README, "${RABBIT_ROTATION}")`));
    } else {
      lines.push(line('pass', 'credentials', `${subject} ${use}`, `${old} -> ${ref}: read when each broker restarts in the roll`));
    }
  }
  const changed = templateChanges(ds, live);
  if (changed.length > 0) {
    lines.push(line('pass', 'roll', subject, `brokers restart one node at a time (RollingUpdate, maxUnavailable 1), each Ready before the next, in the order the DaemonSet controller picks; `
      + `each broker enables every stable feature flag once all run the same release line; changed: ${summarizeFields(changed)}`));
  }
  lines.push(...inPlaceSecretLines(input, ds, live, changed.length > 0));
  return lines;
}

/**
 * Brokers that leave the inventory must leave the cluster before the apply. RabbitMQ counts every member it knows,
 * running or not, for pause_minority (a broker pauses when it sees no more than half of the cluster's nodes): with
 * two stopped leavers of five still members, each broker restarting in the roll leaves the other two at 2 of 5; a
 * dead broker not forgotten before its replacement joins leaves 2 of 4. The apply removes the leavers' pods and
 * starts the roll at once, so the forget cannot come after it. The plan cannot see the membership: it says what to
 * run (test/integration/rabbitmq-grow.test.ts runs these steps).
 */
function leavingBrokersLine(subject: string, namespace: string | undefined, live: KubeObject, removed: string[], stay: string[]): CheckResult {
  const preStop = ((container(live, 'rabbitmq')?.lifecycle as Spec | undefined)?.preStop as Spec | undefined)?.exec as Spec | undefined;
  const script = (preStop?.command as string[] | undefined)?.[2];
  const ns = namespace === undefined ? '' : ` -n ${namespace}`;
  const keeper = stay[0] ?? 'a broker that stays';
  return line('warn', 'members', subject, `before applying, make ${removed.join(', ')} leave the cluster, or each broker restarting in the roll leaves `
    + 'the others a minority of the members RabbitMQ still counts, and they pause (pause_minority): for each one that still runs, '
    + `kubectl${ns} exec <its rabbitmq pod> -- bash -c '${script ? `${script.replace(/'/g, '')}; ` : ''}rabbitmqctl stop_app'; then, for each, `
    + `kubectl${ns} exec <the rabbitmq pod of ${keeper.replace(/^rabbit@/, '')}> -- rabbitmqctl forget_cluster_node <the broker> (a dead node's broker only needs the forget); `
    + `check rabbitmqctl cluster_status lists only ${stay.join(', ')}; then apply (${DAY2})`);
}

/** The nodes a pod template is pinned to by name (a placement's required node affinity), in inventory order. */
function templateNodes(o: KubeObject): string[] {
  const affinity = (o.spec as Spec | undefined)?.template?.spec?.affinity?.nodeAffinity as Spec | undefined;
  const terms = (affinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms as Spec[] | undefined) ?? [];
  return terms.flatMap((t) => (t.matchFields as Spec[] | undefined) ?? [])
    .filter((f) => f.key === 'metadata.name').flatMap((f) => (f.values as string[] | undefined) ?? []);
}

/**
 * Nodes that join or move in a keepalived VIP or a memcached pool (a controller replaced or added). Both are
 * DaemonSets pinned to the inventory by name, so the apply rolls every old pod (the node list is in the template)
 * and starts the new nodes' pods at once.
 * - keepalived: peers are unicast, and a node's list is in its own rendered file. A new node's pod starts at the
 *   apply, while the holder still runs the old file, which does not list it. Its start script (keepalived/start.ts)
 *   sees that a peer holds the VIP and does not bid until a peer sends it an advert, i.e. until the holder's pod has
 *   rolled (the DaemonSet rolls the old pods once the new one is Ready, which it is while it waits). Before that
 *   script the new node took the VIP too: two holders for 7.2-7.6 s (replace-controller.test.ts, REPLACE_NAIVE=1);
 *   with it, none (keepalived-join.test.ts). So no taint procedure is needed; the line says what to watch.
 * - memcached: python-memcached (oslo.cache's memcache_pool, keystonemiddleware) places a key by its hash modulo the
 *   number of servers, in list order, and the list is the inventory's order: a node that stays but changes position
 *   sends most keys elsewhere, and services still on the old list (until they roll) and those on the new one read
 *   and write different servers (one's invalidation misses the other's copy) until the last service has rolled.
 */
function joiningNodeLines(input: PlanInput, o: KubeObject, live: KubeObject): CheckResult[] {
  const component = o.metadata.labels?.[COMPONENT];
  if (o.kind !== 'DaemonSet' || (component !== 'keepalived' && component !== 'memcached')) return [];
  const [from, to] = [templateNodes(live), templateNodes(o)];
  const added = to.filter((n) => !from.includes(n));
  const kept = to.filter((n) => from.includes(n));
  const removed = from.filter((n) => !to.includes(n));
  if (kept.length === 0 || (added.length === 0 && removed.length === 0 && from.join() === to.join())) return [];
  const subject = objectId(o, input.defaultNamespace);
  const ns = objectNamespace(o, input.defaultNamespace);
  const lines: CheckResult[] = [];
  if (component === 'keepalived' && added.length > 0) {
    const one = added.length === 1;
    lines.push(line('pass', 'members', subject, `${added.join(', ')} join${one ? 's' : ''} the VIP: while ${kept.join(', ')} still run${kept.length === 1 ? 's' : ''} `
      + `a peer list without ${one ? 'it' : 'them'}, ${one ? 'its' : 'their'} keepalived does not bid for the VIP a peer holds until a peer sends ${one ? 'it' : 'them'} an advert `
      + `(after the holder's pod has rolled; no taint needed); meanwhile out of the election (keepalived_vrrp_fault 1). A WARNING every 60 s in ${one ? 'its' : 'their'} `
      + `log means the roll has not reached the holder (kubectl${ns ? ` -n ${ns}` : ''} rollout status daemonset/${o.metadata.name}) or IP protocol 112 does not `
      + `reach ${one ? 'it' : 'them'} (${DAY2}: replacing a controller)`));
  }
  if (component === 'memcached') {
    const moved = kept.filter((n) => from.indexOf(n) !== to.indexOf(n));
    if (moved.length > 0) {
      lines.push(line('warn', 'members', subject, `memcached servers ${from.join(', ')} -> ${to.join(', ')}: ${moved.join(', ')} change${moved.length === 1 ? 's' : ''} `
        + 'position in the server list, and python-memcached (oslo.cache, keystonemiddleware) places keys by position: most cached keys move, and '
        + 'services on the old and the new list use different servers for one key until every service has rolled; keep the nodes that stay in their '
        + `positions (a new node in the place of the one it replaces) (${DAY2}: replacing a controller)`));
    }
    lines.push(line('pass', 'members', subject, `memcached on ${kept.join(', ')} restart${kept.length === 1 ? 's' : ''} in the roll (the node list is in the pod template) `
      + `and come${kept.length === 1 ? 's' : ''} back empty, one node at a time${added.length > 0 ? `; ${added.join(', ')} start${added.length === 1 ? 's' : ''} empty` : ''}: `
      + 'cached tokens and oslo.cache entries are fetched again; the services\' memcache_servers change: roll them after'));
  }
  return lines;
}

function genericRoll(input: PlanInput, o: KubeObject, live: KubeObject): CheckResult[] {
  const changed = templateChanges(o, live);
  const roll = changed.length === 0 ? [] : [line('pass', 'roll', objectId(o, input.defaultNamespace), `pods roll (${o.kind} RollingUpdate); changed: ${summarizeFields(changed)}`)];
  return [...roll, ...inPlaceSecretLines(input, o, live, changed.length > 0)];
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
    else if (isWorkload(o)) others.push(...joiningNodeLines(input, o, l.value), ...genericRoll(input, o, l.value));
    const fields = o.kind === 'Secret' ? [] : changedFields(withoutStatus(o), l.value);
    if (fields.length === 0) unchanged += 1;
    else if (o.kind === 'PersistentVolume' && movedVolume(id, o, l.value)) others.push(movedVolume(id, o, l.value)!);
    else if (!isWorkload(o)) others.push(line('pass', 'change', id, `changed: ${summarizeFields(fields)}`));
  }
  return [...creates, ...results, ...others, line('pass', 'unchanged', '', `${unchanged} object${unchanged === 1 ? '' : 's'} as in the cluster`)];
}

/** The nodes a PersistentVolume's node affinity names (local volumes name one), in order. */
function volumeNodes(pv: KubeObject): string[] {
  const terms = ((pv.spec as Spec | undefined)?.nodeAffinity as Spec | undefined)?.required as Spec | undefined;
  return ((terms?.nodeSelectorTerms as Spec[] | undefined) ?? [])
    .flatMap((t) => (t.matchExpressions as Spec[] | undefined) ?? [])
    .flatMap((e) => (e.values as string[] | undefined) ?? []);
}

/**
 * A PersistentVolume whose node affinity or source changes: the API server refuses both (immutable fields; a
 * mutable node affinity is only an alpha feature gate from Kubernetes 1.35), so the apply would fail half-way. This
 * is how a replaced controller shows: a GaleraPetSet local volume pinned to the new node. The old volume's data is
 * on the old node anyway; the member joins by SST on the new one once its claim and volume are recreated.
 */
function movedVolume(id: string, o: KubeObject, live: KubeObject): CheckResult | undefined {
  const name = o.metadata.name;
  const [from, to] = [volumeNodes(live), volumeNodes(o)];
  const source = (v: KubeObject) => JSON.stringify((v.spec as Spec | undefined)?.local ?? (v.spec as Spec | undefined)?.hostPath ?? null);
  const nodeMoved = from.join(',') !== to.join(',');
  if (!nodeMoved && source(o) === source(live)) return undefined;
  const claim = (o.spec as Spec | undefined)?.claimRef as Spec | undefined;
  const what = nodeMoved ? `node ${from.join(',') || '(none)'} -> ${to.join(',') || '(none)'}` : `source ${source(live)} -> ${source(o)}`;
  const claimSteps = claim?.name
    // A StatefulSet claim is `<template>-<pod>`; the library's template is `data`.
    ? `kubectl -n ${String(claim.namespace ?? 'default')} delete pvc ${String(claim.name)} --wait=false; kubectl -n ${String(claim.namespace ?? 'default')} delete pod `
      + `${/^data-/.test(String(claim.name)) ? String(claim.name).slice(5) : '<the pod using it>'} (add --force --grace-period=0 if its node is gone); `
    : '';
  return line('fail', 'change', id, `${what}: the API server refuses a changed node affinity or source on a PersistentVolume, so this apply would stop `
    + `half-way; the data on the old node is not moved. Delete the old volume first (its data is lost to this member, which joins by SST on the new `
    + `node): ${claimSteps}kubectl delete pv ${name}; then plan again and apply (${DAY2}: replacing a controller)`);
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
