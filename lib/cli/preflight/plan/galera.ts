/**
 * The plan's Galera lines: member count, cluster-wide settings (galera/settings.ts), credentials, MariaDB upgrades and
 * the writer that must roll last, and a local volume moved to another node (a replaced controller).
 */
import { settingChanges } from '../../../galera/settings';
import { imageTagVersion } from '../../../common/image-version';
import { mariadbUpgradeVerdict } from '../../../galera/upgrade';
import { objectId, objectNamespace } from '../manifests';
import { CheckResult, KubeObject } from '../types';
import { container, DAY2, line, memberCountLines, mountedConfig, PlanInput, secretRefsByUse, Spec, summarizeFields, templateChanges } from './common';
import { galeraCopyOfCredentials, galeraFileFollows, inPlaceSecretLines } from './secrets';

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

export function galeraPlan(input: PlanInput, sts: KubeObject, live: KubeObject): CheckResult[] {
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
    if (old !== undefined && old !== ref && !galeraCopyOfCredentials(use)) {
      lines.push(line('pass', 'credentials', `${subject} ${use}`, use.startsWith('volume credentials ')
        ? `${old} -> ${ref}: rotates live with the roll: the first member with the new Secret makes the account accept the new password `
          + `and keep the old one for passwordRotationGraceMinutes; ${galeraFileFollows(use)} (README, "Day 2: rotating a database password")`
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
export function movedVolume(id: string, o: KubeObject, live: KubeObject): CheckResult | undefined {
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
