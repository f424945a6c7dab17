/**
 * The cluster's one writer, decided by the members themselves (no proxy keeps state about it).
 *
 * The writer is a row of `galera_ha.writer` (one row, id 1, `member` = a pod name), created with the cluster and
 * replicated by Galera like any write. Every member reads it locally every second (the mariadb container's status
 * loop puts it in wsrep.json as `writer`), and the agent answers `GET /writer` with 200 only on the member the row
 * names, while that member is Primary and Synced. Every HAProxy instance checks `/writer`: they all read the same
 * replicated row, so they all send writes to the same member, whichever instance restarts, and nothing fails back.
 *
 * The row changes only by a takeover (this file decides when; the mariadb container runs the SQL):
 *  - only a member that is itself Primary and Synced claims, and only when the named member is not: Galera's own
 *    view no longer lists it (evicted: the fastest signal, view.json, written by mariadbd's notify command the
 *    moment the view changes), its agent says it is not Synced (a donor, a joiner, desynced, outside the Primary
 *    component), or its agent does not answer. Whenever the claim rests on the member being gone, the UPDATE
 *    itself also requires Galera's view of the Primary component not to list it (`mysql.wsrep_cluster_members`),
 *    so a flaky agent connection never moves the writer while the member is still in the cluster;
 *  - the claimant is the lowest-ordinal member whose agent reports it Synced (the others wait); with agents that
 *    disagree, several may claim, and the conditional `UPDATE ... WHERE member = <named>` decides: Galera certifies
 *    concurrent updates of one row, so exactly one commits, and the others then match no row;
 *  - a member outside the Primary component cannot commit anything (Galera refuses it), so a minority side of a
 *    partition never moves the writer;
 *  - a recovered old writer is not named by the row, so it gets no writes back (no failback).
 *
 * Pure: no I/O, unit-tested (test/galera-agent.test.ts).
 */
import type { MemberReport } from './types';

/** The schema and table of the writer row (created by the mariadb container with the cluster). */
export const WRITER_TABLE = 'galera_ha.writer';

/** What the writer decision reads. */
export interface WriterInput {
  /** This member's ordinal. */
  readonly self: number;
  /** Every member's pod name, by ordinal. */
  readonly names: readonly string[];
  /** This member is Primary and Synced (its own wsrep status). */
  readonly selfSynced: boolean;
  /** The member the writer row names, as this member reads it; undefined when it could not be read. */
  readonly named?: string;
  /** This round's report of each other member that answered, by ordinal (absent: it did not answer). */
  readonly peers: ReadonlyMap<number, MemberReport>;
  /**
   * The members of this member's Primary component as Galera lists them (view.json); undefined when not known.
   * A member it does not list is out of the cluster whatever its last report said, and cannot take over.
   */
  readonly members?: readonly string[];
}

/** What the claim rests on. */
export type WriterClaimGround = 'evicted' | 'not-a-member' | 'no-answer' | 'not-synced';

/** A takeover this member should attempt: `UPDATE ... SET member = to WHERE member = from [AND not in view]`. */
export interface WriterClaim {
  readonly from: string;
  readonly to: string;
  /**
   * The named member's agent did not answer: the UPDATE must also find it absent from Galera's view of the
   * Primary component (`mysql.wsrep_cluster_members`), so an agent that is merely unreachable never moves it.
   */
  readonly requireAbsent: boolean;
  readonly ground: WriterClaimGround;
  readonly reason: string;
}

export function writerClaim(input: WriterInput): WriterClaim | undefined {
  const { self, names, named, members } = input;
  const selfName = names[self];
  if (!input.selfSynced || named === undefined || named === selfName) return undefined;
  const listed = (name: string) => members === undefined || members.includes(name);
  const namedOrdinal = names.indexOf(named);
  const namedReport = namedOrdinal < 0 ? undefined : input.peers.get(namedOrdinal);
  const evicted = !listed(named);
  if (!evicted && namedReport?.synced === true) return undefined;
  const synced = names
    .map((_, ordinal) => ordinal)
    .filter((ordinal) => ordinal !== namedOrdinal && listed(names[ordinal]) &&
      (ordinal === self || input.peers.get(ordinal)?.synced === true));
  // The lowest Synced ordinal takes over; the others leave it to that member (the UPDATE settles a disagreement).
  if (synced[0] !== self) return undefined;
  const claim = (ground: WriterClaimGround, requireAbsent: boolean, reason: string): WriterClaim =>
    ({ from: named, to: selfName, requireAbsent, ground, reason });
  if (namedOrdinal < 0) return claim('not-a-member', true, `the writer row names ${named}, which is not a member`);
  if (evicted) return claim('evicted', true, `Galera's view no longer lists ${named}: it left the Primary component`);
  if (namedReport === undefined) {
    return claim('no-answer', true, `${named}'s agent does not answer; taking over once Galera's Primary component no longer lists it`);
  }
  return claim('not-synced', false,
    `${named} is not Synced in the Primary component (running ${namedReport.running}, primary ${namedReport.primary})`);
}
