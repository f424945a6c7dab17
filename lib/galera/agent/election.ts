/**
 * The Galera recovery election: a pure, deterministic function from everything one member knows (its own report,
 * its peers' reports, how long there has been no Primary) to what its mariadb container must do.
 *
 * Every member's agent runs it on the same reports, so they agree without talking about the result: at most one
 * member is ever told to bootstrap. Every rule follows from one invariant:
 *
 *   never bootstrap from a member that may be behind another member that might come back
 *
 * (bootstrapping starts a history; every member that joins it is brought to it by IST or SST, so anything newer
 * elsewhere is lost). The rules, in the order they apply (README.md shows each against the invariant):
 *
 *  1. A Primary component exists: join it (no bootstrap at all). Two Primaries with different cluster UUIDs are a
 *     split brain (blocked). A member whose own data has another cluster UUID than the Primary is blocked (joining
 *     would SST over a different history, mariadb-operator PR #1905), unless the operator's override names a member
 *     of the Primary.
 *  2. A member was told to bootstrap and is starting: join it (two at once: blocked).
 *  3. Operator override (a file every member reads, e.g. a ConfigMap key): the named member bootstraps, the others
 *     join, whatever its data state (known, unknown, wiped, empty); the reason spells out what is lost. Refused only
 *     when members' overrides disagree, or it names no member or one that has not reported.
 *  4. The `known` members' data belong to different cluster UUIDs: blocked (no order between histories).
 *  5. Every member reported and every member is `empty` (pristine volumes, none ever in a cluster): a brand-new
 *     cluster, the lowest ordinal bootstraps. A `wiped` volume (it held a cluster's data) never counts as new.
 *  6. A member is missing or its data state is `unknown`: nobody bootstraps (its data may be the newest;
 *     openstack-helm waits forever here, bitnami #22 lost all data bootstrapping an empty node). `wait`, then
 *     `blocked` after `blockAfterSeconds` so an operator is called. `empty` and `wiped` members do not block: they
 *     hold nothing that could be newer.
 *  7. Every member is known and has gvwstate.dat: everyone joins and Galera's own pc.recovery re-forms the Primary;
 *     after `pcRecoverySeconds` of trying without a Primary the election (8) takes over.
 *  8. Election: the highest seqno bootstraps, ties to the lowest ordinal; other members join. When no member holds
 *     data but some volume held a cluster's data (`wiped`), nobody bootstraps: blocked (`no-data`).
 *
 * `safe_to_bootstrap` never decides anything: it only says a member was the last to leave *as it saw the cluster*,
 * and trusting it over a higher seqno recovered elsewhere is how mariadb-operator #1701 recovered a cluster into an
 * empty state. It cannot fill an information gap either (a missing member may still hold newer data), so it is only
 * mentioned in reasons. A `known` report whose position is unusable (zero or malformed UUID, negative seqno) is
 * treated as `unknown`: it cannot be a source, and a real position may hide behind it (mariadb-operator #1108). An
 * `empty` report that names clusters its volume held is treated as `wiped`.
 */
import type {
  DataState,
  Decision,
  DecisionRule,
  ElectionInput,
  GaleraPosition,
  MemberReport,
} from './types';

export const DEFAULT_BLOCK_AFTER_SECONDS = 120;
export const DEFAULT_PC_RECOVERY_SECONDS = 60;

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One reported member as the election sees it: its data state after the usable-position check. */
interface Member {
  readonly ordinal: number;
  readonly name: string;
  readonly report: MemberReport;
  readonly data: DataState;
  /** Present exactly when `data === 'known'`. */
  readonly position?: GaleraPosition;
}

/** A usable Galera position: a real cluster UUID and a seqno of at least 0. */
export function isUsablePosition(position: GaleraPosition | undefined): position is GaleraPosition {
  return (
    position !== undefined &&
    typeof position.uuid === 'string' &&
    UUID.test(position.uuid) &&
    position.uuid !== ZERO_UUID &&
    Number.isSafeInteger(position.seqno) &&
    position.seqno >= 0
  );
}

/** `uuid:seqno`, as mariadbd's `--wsrep-start-position` and its logs write it. */
export function formatPosition(position: GaleraPosition): string {
  return `${position.uuid}:${position.seqno}`;
}

/**
 * The ordinal an override names: `galera-2` (pod name) or `2`. Undefined when it names no member of this cluster.
 */
export function resolveMemberName(value: string, statefulSetName: string, size: number): number | undefined {
  const prefix = `${statefulSetName}-`;
  const digits = value.startsWith(prefix) ? value.slice(prefix.length) : value;
  if (!/^(0|[1-9][0-9]*)$/.test(digits)) return undefined;
  const ordinal = Number(digits);
  return ordinal < size ? ordinal : undefined;
}

export function decide(input: ElectionInput): Decision {
  const memberName = (ordinal: number) => `${input.statefulSetName}-${ordinal}`;
  const members = collectMembers(input, memberName);
  const self = members.get(input.self);
  if (self === undefined) {
    return {
      action: 'wait',
      rule: 'self-unknown',
      reason: `${memberName(input.self)} has not established its own data state yet (no state.json)`,
    };
  }
  const all = [...members.values()];
  const missing = range(input.size).filter((ordinal) => !members.has(ordinal)).map(memberName);
  const waited = input.secondsWithoutPrimary ?? 0;
  const states = `[states: ${describeStates(input.size, members, memberName)}]`;
  const join = (rule: DecisionRule, reason: string): Decision => joinDecision(self, rule, reason);
  const blocked = (rule: DecisionRule, reason: string): Decision => ({ action: 'blocked', rule, reason });

  const override = readOverride(all);

  // 1. A Primary component exists.
  const primaries = all.filter((m) => m.report.primary);
  if (primaries.length > 0) {
    const byUuid = groupBy(primaries, primaryUuid);
    byUuid.delete(undefined);
    if (byUuid.size > 1) {
      return blocked(
        'split-brain',
        `split brain: ${listGroups(byUuid)} are in Primary components with different cluster UUIDs; stop the ` +
          `component whose writes must be discarded ${states}`,
      );
    }
    const ignored =
      override.values.length > 0 ? `; the override naming ${override.values.join(', ')} is ignored (remove it)` : '';
    if (self.report.primary) {
      return join('primary-exists', `${self.name} is already part of the Primary component${ignored}`);
    }
    const clusterUuid = byUuid.size === 1 ? [...byUuid.keys()][0] : undefined;
    const inPrimary = primaries.map((m) => m.name).join(', ');
    const ownUuid = dataUuid(self);
    if (clusterUuid !== undefined && ownUuid !== undefined && ownUuid !== clusterUuid) {
      const overrideTarget = override.conflicting ? undefined : override.target(input);
      if (!primaries.some((m) => m.ordinal === overrideTarget)) {
        return blocked(
          'uuid-mismatch-with-primary',
          `${self.name}'s data belongs to cluster ${ownUuid} but the Primary component (${inPrimary}) ` +
            `is cluster ${clusterUuid}: joining would replace this data by SST. If that is intended, name a ` +
            `member of the Primary in the override (or empty this member's data) ${states}`,
        );
      }
      return join(
        'primary-exists',
        `joining the Primary component (${inPrimary}, cluster ${clusterUuid}); this member's data of cluster ` +
          `${ownUuid} will be replaced by SST because the override names ${memberName(overrideTarget!)}`,
      );
    }
    return join('primary-exists', `joining the Primary component (${inPrimary})${ignored}`);
  }

  // 2. A member was told to bootstrap and is starting.
  const bootstrapping = all.filter((m) => m.report.bootstrapping);
  if (bootstrapping.length > 1) {
    return blocked(
      'several-bootstrapping',
      `${bootstrapping.map((m) => m.name).join(', ')} all report that they are bootstrapping; stop all but one ${states}`,
    );
  }
  if (bootstrapping.length === 1 && bootstrapping[0] !== self) {
    return join('peer-bootstrapping', `${bootstrapping[0].name} is bootstrapping the cluster; joining it`);
  }

  const known = all.filter((m) => m.data === 'known');
  const unknown = all.filter((m) => m.data === 'unknown');

  // 3. Operator override.
  if (override.conflicting) {
    return blocked(
      'conflicting-overrides',
      `the members' overrides disagree (${listGroups(override.byValue, (v) => `name ${JSON.stringify(v)}`)}); ` +
        `make every member's override name the same member ${states}`,
    );
  }
  if (override.values.length === 1) {
    const value = override.values[0];
    const targetOrdinal = override.target(input);
    const members0 = `${memberName(0)}..${memberName(input.size - 1)}`;
    if (targetOrdinal === undefined) {
      return blocked(
        'invalid-override',
        `the override names ${JSON.stringify(value)}, which is not a member of this cluster (${members0}); ` +
          `name one of them ${states}`,
      );
    }
    const target = members.get(targetOrdinal);
    const targetName = memberName(targetOrdinal);
    if (target === undefined) {
      return blocked(
        'invalid-override',
        `the override names ${targetName}, which has not reported its state: it must be up (its agent answering) ` +
          `before it can bootstrap ${states}`,
      );
    }
    const losses = overrideLosses(target, all, missing);
    const chosen = `the operator's override names ${targetName} (${describeSource(target)})`;
    return target === self
      ? bootstrapDecision(self, 'override', `${chosen}: bootstrapping from it${losses} ${states}`)
      : join('override', `${chosen} as the bootstrap member: joining it${losses} ${states}`);
  }

  // 4. The known members' data belong to different histories.
  const knownByUuid = groupBy(known, (m) => m.position?.uuid);
  if (knownByUuid.size > 1) {
    return blocked(
      'uuid-disagreement',
      `the members' data belong to different clusters (${listGroups(knownByUuid)}): there is no single newest ` +
        `history; name the member to bootstrap from in the override (the others' data will be replaced by SST) ${states}`,
    );
  }

  // 5. Brand-new cluster: nobody holds data, and no volume ever held any.
  if (missing.length === 0 && all.every((m) => m.data === 'empty')) {
    const first = memberName(0);
    const reason = `every member is empty: a brand-new cluster, which the lowest ordinal ${first} bootstraps`;
    return self.ordinal === 0
      ? bootstrapDecision(self, 'new-cluster', reason)
      : join('new-cluster', `${reason}; joining it`);
  }

  // 6. Missing members or unknown data: their data may be the newest.
  if (missing.length > 0 || unknown.length > 0) {
    const gaps = [
      ...missing.map((name) => `${name} has not reported`),
      ...unknown.map((m) => `${m.name}'s data state is unknown`),
    ].join(', ');
    const blockAfter = input.blockAfterSeconds ?? DEFAULT_BLOCK_AFTER_SECONDS;
    const reason =
      `no Primary component and ${gaps}: their data may be the newest, so nobody bootstraps (${seconds(waited)} ` +
      `of ${seconds(blockAfter)} waited). If they are lost for good, name the member to bootstrap from in the ` +
      `override ${states}`;
    return waited >= blockAfter ? blocked('incomplete', reason) : { action: 'wait', rule: 'incomplete', reason };
  }

  // 7. Galera's own pc.recovery, while it has time.
  const pcRecoverySeconds = input.pcRecoverySeconds ?? DEFAULT_PC_RECOVERY_SECONDS;
  const everyoneHasViewState = all.every((m) => m.data === 'known' && m.report.hasViewState);
  const inPcRecovery = input.secondsInPcRecovery ?? 0;
  if (everyoneHasViewState && inPcRecovery < pcRecoverySeconds) {
    return join(
      'pc-recovery',
      `every member is back with known data and gvwstate.dat: Galera's pc.recovery re-forms the Primary by ` +
        `itself; the seqno election takes over if no Primary appears within ${seconds(pcRecoverySeconds)} ` +
        `(${seconds(inPcRecovery)} so far) ${states}`,
    );
  }

  // 8. Election: the highest seqno, ties to the lowest ordinal.
  const ranked = [...known].sort((a, b) => b.position!.seqno - a.position!.seqno || a.ordinal - b.ordinal);
  const winner = ranked[0];
  if (winner === undefined) {
    const wiped = all.filter((m) => m.data === 'wiped').map((m) => m.name);
    return blocked(
      'no-data',
      `no member holds data, but ${wiped.join(', ')} held a cluster's data (an interrupted state transfer emptied ` +
        `it, or its files were removed): the data is gone from every volume, so nobody bootstraps on its own. To ` +
        `start over with an EMPTY cluster, name a member in the override ${states}`,
    );
  }
  const seqno = winner.position!.seqno;
  const tied = ranked.filter((m) => m.position!.seqno === seqno && m !== winner).map((m) => m.name);
  const notes = [
    everyoneHasViewState ? `pc.recovery formed no Primary within ${seconds(pcRecoverySeconds)}` : undefined,
    tied.length > 0 ? `tie with ${tied.join(', ')} goes to the lowest ordinal` : undefined,
    ...all
      .filter((m) => m.report.safeToBootstrap && m !== winner)
      .map((m) => `${m.name}'s safe_to_bootstrap is ignored (only the seqno decides)`),
  ].filter((n): n is string => n !== undefined);
  const elected =
    `full outage, every member reported: ${winner.name} has the highest seqno ${seqno} ` +
    `(${formatPosition(winner.position!)})${notes.map((n) => `; ${n}`).join('')}`;
  return winner === self
    ? bootstrapDecision(self, 'election', `${elected}: bootstrapping from it ${states}`)
    : join('election', `${elected}: joining it ${states}`);
}

/** Reports by ordinal, in ordinal order; reports outside 0..size-1 and repeated ordinals (first wins) are ignored. */
function collectMembers(input: ElectionInput, memberName: (ordinal: number) => string): Map<number, Member> {
  const byOrdinal = new Map<number, Member>();
  const inRange = input.reports
    .filter((r) => Number.isInteger(r.ordinal) && r.ordinal >= 0 && r.ordinal < input.size)
    .sort((a, b) => a.ordinal - b.ordinal);
  for (const report of inRange) {
    if (byOrdinal.has(report.ordinal)) continue;
    const usable = report.data === 'known' && isUsablePosition(report.position);
    const data: DataState =
      report.data === 'known' && !usable
        ? 'unknown'
        : report.data === 'empty' && (report.clusters?.length ?? 0) > 0
          ? 'wiped'
          : report.data;
    byOrdinal.set(report.ordinal, {
      ordinal: report.ordinal,
      name: memberName(report.ordinal),
      report,
      data,
      position: usable ? report.position : undefined,
    });
  }
  return byOrdinal;
}

interface Override {
  /** The distinct member names the overrides give, sorted. */
  readonly values: string[];
  /** Which members give which value. */
  readonly byValue: Map<string, Member[]>;
  readonly conflicting: boolean;
  /** The ordinal the (single) override names, if it names a member. */
  target(input: ElectionInput): number | undefined;
}

function readOverride(all: readonly Member[]): Override {
  const given = all.filter((m) => (m.report.overrideBootstrapFrom ?? '').trim() !== '');
  const byValue = groupBy(given, (m) => m.report.overrideBootstrapFrom!.trim());
  const values = [...byValue.keys()].sort();
  return {
    values,
    byValue,
    conflicting: values.length > 1,
    target: (input) =>
      values.length === 1 ? resolveMemberName(values[0], input.statefulSetName, input.size) : undefined,
  };
}

/** The override's target as the reason names it. */
function describeSource(target: Member): string {
  switch (target.data) {
    case 'known':
      return formatPosition(target.position!);
    case 'unknown':
      return target.report.interruptedTransfer
        ? 'data of unknown position, left by an interrupted state transfer'
        : 'data of unknown position';
    default:
      return `${target.data}: no data`;
  }
}

/**
 * What an override bootstrap discards, for the reason: everything when the target has no data, whatever is missing
 * from a target of unknown position, newer data, other histories, members nobody could check.
 */
function overrideLosses(target: Member, all: readonly Member[], missing: readonly string[]): string {
  const losses: string[] = [];
  if (target.data === 'empty' || target.data === 'wiped') {
    losses.push(
      `${target.name} holds no data, so this starts an EMPTY cluster: every other member's data is replaced by SST ` +
        'and ALL DATA IS LOST',
    );
  } else if (target.data === 'unknown') {
    losses.push(
      `${target.name}'s position is unknown: the cluster restarts from whatever its data holds` +
        (target.report.interruptedTransfer
          ? ' (an interrupted IST stops part-way: the last transactions may be missing; an SST cut while moving ' +
            'files in may miss whole tables)'
          : '') +
        ', and every other member is brought to it by SST',
    );
  }
  const position = target.position;
  for (const m of all) {
    if (m === target) continue;
    if (position === undefined) {
      if (m.data === 'known' || m.data === 'unknown') losses.push(`${m.name}'s data will be replaced by SST`);
    } else if (m.position !== undefined && m.position.uuid !== position.uuid) {
      losses.push(`${m.name} holds data of another cluster (${formatPosition(m.position)}) that will be replaced by SST`);
    } else if (m.position !== undefined && m.position.seqno > position.seqno) {
      losses.push(
        `data newer than ${target.name} exists on ${m.name} (seqno ${m.position.seqno} > ${position.seqno}) and will be lost`,
      );
    } else if (m.data === 'unknown') {
      losses.push(`${m.name}'s data state is unknown: anything newer there will be lost`);
    }
  }
  for (const name of missing) losses.push(`${name} has not reported: anything newer there will be lost`);
  return losses.length === 0 ? '' : `; as the operator asked: ${losses.join('; ')}`;
}

function joinDecision(self: Member, rule: DecisionRule, reason: string): Decision {
  const startPosition = recoveredPosition(self);
  return startPosition === undefined
    ? { action: 'join', rule, reason }
    : { action: 'join', rule, reason: `${reason} (from recovered position ${formatPosition(startPosition)})`, startPosition };
}

function bootstrapDecision(self: Member, rule: DecisionRule, reason: string): Decision {
  const startPosition = recoveredPosition(self);
  return startPosition === undefined
    ? { action: 'bootstrap', rule, reason }
    : { action: 'bootstrap', rule, reason, startPosition };
}

/**
 * The position mariadbd must be told (`--wsrep-start-position`): only one that `--wsrep-recover` found, because
 * then grastate.dat says -1 and a plain start would throw the data away for a full SST instead of an IST.
 */
function recoveredPosition(self: Member): GaleraPosition | undefined {
  return self.report.positionSource === 'wsrep-recover' ? self.position : undefined;
}

/**
 * The cluster history a member's data belongs to: the UUID of its position, even when the seqno is unusable (-1):
 * data of another history must not be replaced by SST without an operator saying so.
 */
function dataUuid(m: Member): string | undefined {
  const uuid = m.position?.uuid ?? m.report.position?.uuid;
  return uuid !== undefined && UUID.test(uuid) && uuid !== ZERO_UUID ? uuid : undefined;
}

/** The cluster a Primary member is in: its live `wsrep_cluster_state_uuid`, else its data's UUID. */
function primaryUuid(m: Member): string | undefined {
  return m.report.clusterUuid ?? m.position?.uuid;
}

function describeStates(size: number, members: Map<number, Member>, memberName: (o: number) => string): string {
  return range(size)
    .map((ordinal) => {
      const m = members.get(ordinal);
      if (m === undefined) return `${memberName(ordinal)} missing`;
      const r = m.report;
      const facts = [
        m.position !== undefined ? `${formatPosition(m.position)} (${r.positionSource ?? 'grastate'})` : undefined,
        r.data === 'known' && m.data === 'unknown' ? `unusable position ${JSON.stringify(r.position ?? null)}` : undefined,
        r.safeToBootstrap ? 'safe_to_bootstrap' : undefined,
        r.hasViewState ? 'gvwstate' : undefined,
        r.interruptedTransfer ? 'interrupted transfer' : undefined,
        r.running ? (r.primary ? 'Primary' : 'running non-Primary') : undefined,
        r.bootstrapping ? 'bootstrapping' : undefined,
      ].filter((f) => f !== undefined);
      return [m.name, m.data, ...facts].join(' ');
    })
    .join(', ');
}

function listGroups<K>(groups: Map<K, Member[]>, label: (key: K) => string = (key) => `cluster ${key}`): string {
  return [...groups.entries()].map(([key, ms]) => `${ms.map((m) => m.name).join(', ')}: ${label(key)}`).join('; ');
}

function groupBy<K>(members: readonly Member[], key: (m: Member) => K): Map<K, Member[]> {
  const groups = new Map<K, Member[]>();
  for (const m of members) groups.set(key(m), [...(groups.get(key(m)) ?? []), m]);
  return groups;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function seconds(s: number): string {
  return `${Math.round(s)} s`;
}
