/**
 * One join at a time: the election (election.ts) says *whether* a member joins; this rule says *when*.
 *
 * Why: when two members enter the group at the same moment (a new cluster's first joins, the members that follow a
 * bootstrap after a full outage, two pods restarted together), the second one's group connections are dropped and
 * retried for 2-4 s while the first one's membership round runs; with `evs.suspect_timeout` at 1.5 s that round
 * fails, the members fall into singleton non-Primary views and a state transfer in flight is cut (measured:
 * 5 of 15 new clusters with a cut SST at PT1.5S; one member entering an established cluster: 0 of 10). Galera
 * serves one SST per donor anyway, so joining in turn costs a new cluster nothing, and the others about one
 * round each (an IST).
 *
 * The rule, for a member that the election tells to join and whose mariadbd is not running (joins that Galera's own
 * pc.recovery makes are excluded: there every member must start together):
 *  1. It first stands in line (`inLine` in its report) for one poll round, so that a peer deciding in the same
 *     round sees it before either goes.
 *  2. It waits while another member is joining (told to join and not Synced since), for at most `turnSeconds` of
 *     that member's join: past the membership round, a long SST need not hold the others.
 *  3. It waits while a member with a lower ordinal stands in line (the lowest goes first; each decides alone, on
 *     the same reports, so exactly one goes).
 *  4. After `turnSeconds` in line it goes whatever it sees: a peer that stands in line but never goes (its agent
 *     sees other reports) must not hold the cluster below its size forever.
 *
 * Races: two members decide in the same round only if neither saw the other's `inLine`; each then waits one more
 * round, and the one that goes first publishes `joining` before the other's next round reads it (a round takes
 * milliseconds, the poll period is a second).
 *
 * A member whose agent does not answer in a round is taken as it last reported (withSilentMembers): a joiner's agent
 * can miss a round while its SST starts on a loaded node (seen: the member behind it went in that round, joined
 * during the transfer and the transfer was cut).
 */
import type { Decision, MemberReport } from './types';

/** How long a join holds the others, and how long a member stands in line at most (`GALERA_JOIN_TURN_SECONDS`). */
export const DEFAULT_JOIN_TURN_SECONDS = 120;

export interface JoinTurnInput {
  /** The deciding member's ordinal. */
  readonly self: number;
  /** Every report this round (self included), as the election saw them. */
  readonly reports: readonly MemberReport[];
  /** How long this member has stood in line for this state; undefined when it does not stand in line yet. */
  readonly secondsInLine?: number;
  /** The agent's poll period: how long a member stands in line before it may go. */
  readonly pollSeconds: number;
  /** See DEFAULT_JOIN_TURN_SECONDS. */
  readonly turnSeconds: number;
}

/** A member whose agent did not answer this round: its last report, and how long ago it was read. */
export interface SilentMember {
  readonly report: MemberReport;
  readonly secondsSinceSeen: number;
}

/**
 * The reports the turn is taken on: this round's, and for each member absent from them, its last report while it
 * was read less than `turnSeconds` ago, its join aged by that time (the election keeps counting it as missing).
 */
export function withSilentMembers(reports: readonly MemberReport[], silent: readonly SilentMember[], turnSeconds: number): MemberReport[] {
  const answered = new Set(reports.map((r) => r.ordinal));
  const kept = silent
    .filter((s) => !answered.has(s.report.ordinal) && s.secondsSinceSeen < turnSeconds)
    .map((s) => (s.report.joiningSeconds === undefined ? s.report : { ...s.report, joiningSeconds: s.report.joiningSeconds + s.secondsSinceSeen }));
  return [...reports, ...kept].sort((a, b) => a.ordinal - b.ordinal);
}

/** The election's join decisions that are taken one member at a time. */
export function joinsInTurn(decision: Decision, self: MemberReport | undefined): boolean {
  return decision.action === 'join' && decision.rule !== 'pc-recovery' && self !== undefined && !self.running;
}

/**
 * The decision this member acts on: the election's, or `wait` (rule `join-in-turn`) while another member's join
 * goes first. A decision that is not taken in turn (joinsInTurn) is returned unchanged.
 */
export function takeTurn(decision: Decision, input: JoinTurnInput): Decision {
  const self = input.reports.find((r) => r.ordinal === input.self);
  if (!joinsInTurn(decision, self)) return decision;
  const wait = (why: string): Decision => ({
    action: 'wait',
    rule: 'join-in-turn',
    reason: `${why}; then joining (${decision.reason})`,
  });
  const inLine = input.secondsInLine;
  if (inLine === undefined || inLine < input.pollSeconds) {
    return wait('standing in line for one round before joining, so that a member deciding now sees this one');
  }
  if (inLine >= input.turnSeconds) return decision;
  const peers = input.reports.filter((r) => r.ordinal !== input.self);
  const joining = peers.find((r) => r.joining === true && !r.synced && (r.joiningSeconds ?? 0) < input.turnSeconds);
  if (joining !== undefined) {
    return wait(
      `${joining.name} is joining (${Math.round(joining.joiningSeconds ?? 0)} s, not Synced yet): one join at a time ` +
        `(for at most ${input.turnSeconds} s of its join)`,
    );
  }
  const ahead = peers.find((r) => r.inLine === true && !r.running && r.ordinal < input.self);
  if (ahead !== undefined) return wait(`${ahead.name} stands in line ahead of this member (lower ordinal)`);
  return decision;
}
