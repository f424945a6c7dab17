/**
 * The plan's RabbitMQ lines: broker count and leavers, distribution TLS, release lines, the Erlang cookie and users'
 * credentials, the roll.
 */
import { imageTagVersion } from '../../../common/image-version';
import { rabbitUpgradeVerdict } from '../../../rabbitmq/upgrade';
import { objectId, objectNamespace } from '../manifests';
import { CheckResult, KubeObject } from '../types';
import { container, DAY2, line, memberCountLines, mountedConfig, PlanInput, RABBIT_ROTATION, secretRefsByUse, Spec, summarizeFields, templateChanges } from './common';
import { inPlaceSecretLines } from './secrets';

/** The README section that stops every broker at once and starts them with a setting all must share. */
const RABBIT_FULL_RESTART = 'Day 2: restarting every broker at once';

/** Whether a broker DaemonSet runs the Erlang distribution over TLS (`-proto_dist inet_tls` in the server's flags). */
function distributionTls(o: KubeObject): boolean {
  const env = container(o, 'rabbitmq')?.env as Spec[] | undefined;
  const flags = env?.find((e) => e.name === 'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS')?.value;
  return typeof flags === 'string' && /(^|\s)-proto_dist\s+inet6?_tls(\s|$)/.test(flags);
}

/** The broker names of rabbitmq.conf's classic_config list. */
function rabbitBrokers(conf: string | undefined): string[] | undefined {
  if (conf === undefined) return undefined;
  return [...conf.matchAll(/^cluster_formation\.classic_config\.nodes\.\d+ = (\S+)$/gm)].map((m) => m[1]);
}

export function rabbitPlan(input: PlanInput, ds: KubeObject, live: KubeObject): CheckResult[] {
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
  // Every broker stopped (the first step of the full-restart procedure): the status says no node runs one.
  const stopped = Number((live.status as Spec | undefined)?.currentNumberScheduled ?? 1) === 0;
  const tlsFrom = distributionTls(live);
  const tlsTo = distributionTls(ds);
  if (tlsFrom !== tlsTo) {
    const values = `${tlsFrom ? 'on' : 'off'} -> ${tlsTo ? 'on' : 'off'}`;
    lines.push(stopped
      ? line('pass', 'setting', `${subject} distribution TLS`, `${values}: cluster-wide, and no broker runs: every broker starts with it`)
      : line('fail', 'setting', `${subject} distribution TLS`, `${values}: cluster-wide: a broker that speaks TLS on the distribution port cannot talk to `
        + 'one that does not, so the first broker restarted in the roll could not rejoin the others; stop every broker first, then apply '
        + `(README, "${RABBIT_FULL_RESTART}")`));
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
