/**
 * The plan before an apply (`preflight --plan`): what the synthesized manifests would change in the running cluster,
 * in the order it would happen, and which of those changes the day-2 rules refuse. Pure: the manifests and the live
 * objects (read by cluster.ts) in, one line per change out.
 *
 * Synth cannot refuse a transition (it has no memory of what runs); the plan can, because it reads what runs:
 * - a MariaDB downgrade or a skipped long-term series, a skipped RabbitMQ release line (galera/upgrade.ts,
 *   rabbitmq/upgrade.ts);
 * - shrinking Galera or RabbitMQ by a majority in one apply, or to an even count;
 * - a cluster-wide Galera setting (cluster name, replication TLS, state transfer encryption, ...) changed by a roll
 *   (galera/settings.ts);
 * - RabbitMQ's distribution TLS turned on or off by a roll (a TLS broker and a plain one cannot talk);
 * - a new Erlang cookie by a roll (brokers with different cookies cannot talk), or a cookie Secret changed in place
 *   under running brokers (the next broker to restart could not rejoin);
 * - a MariaDB version change whose roll would not end with the writer: the writer the members decide (the replicated
 *   row galera_ha.writer, read from the agents by cluster.ts), and ProxySQL's (its heaviest server, writerOrdinal).
 *
 * A Secret changed in place (same name and key) is seen without reading it: its last write (metadata only) is later
 * than the start of the containers that use it.
 *
 * This file orders the lines; the rules are by component in plan/: galera.ts, rabbitmq.ts, daemonsets.ts (keepalived
 * and memcached nodes joining or leaving, any other roll), secrets.ts (Secrets changed in place), common.ts.
 */
import { objectId } from './manifests';
import { CheckResult, CheckStatus, KubeObject } from './types';
import { changedFields, COMPONENT, line, PlanInput, Spec, summarizeFields } from './plan/common';
import { galeraPlan, movedVolume } from './plan/galera';
import { rabbitPlan } from './plan/rabbitmq';
import { genericRoll, joiningNodeLines } from './plan/daemonsets';

// The plan's input and the field comparison belong to its interface (main.ts and the tests use them).
export { changedFields, quantityValue } from './plan/common';
export type { PlanInput } from './plan/common';

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
