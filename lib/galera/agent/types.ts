/**
 * The data the Galera recovery agent exchanges and decides on. Plain data, no cdk8s, no I/O: shared by the
 * pure election (`election.ts`), the agent runtime (`main.ts`, HTTP between peers) and the tests.
 *
 * This folder is not part of the jsii assembly (package.json `jsii.excludeTypescript`), so unions are fine here.
 */

/** A Galera position: cluster state UUID and sequence number, as in grastate.dat or `--wsrep-recover`. */
export interface GaleraPosition {
  readonly uuid: string;
  readonly seqno: number;
}

/**
 * What a member's data directory says about it, established before mariadbd starts.
 * - `empty`: no database at all (fresh volume or wiped): it can only join, by SST.
 * - `known`: a usable position (from grastate.dat, or from `mariadbd --wsrep-recover` when grastate said -1).
 * - `unknown`: the state could not be established (grastate.dat unreadable/corrupt, recovery failed):
 *   never chosen as a bootstrap source, and it blocks an automatic full-outage election just as a missing
 *   member does (its data might be the newest).
 */
export type DataState = 'empty' | 'known' | 'unknown';

/** Where a `known` position came from. */
export type PositionSource = 'grastate' | 'wsrep-recover';

/** What one member reports about itself (the agent's `GET /state`). */
export interface MemberReport {
  /** StatefulSet ordinal (0-based). */
  readonly ordinal: number;
  /** Pod name, e.g. `galera-1`. */
  readonly name: string;
  readonly data: DataState;
  /** Present when `data === 'known'`. */
  readonly position?: GaleraPosition;
  readonly positionSource?: PositionSource;
  /** grastate.dat `safe_to_bootstrap: 1` (this member was the last to leave a cleanly stopped cluster). */
  readonly safeToBootstrap?: boolean;
  /** gvwstate.dat exists: with every member back, Galera's `pc.recovery` can re-form the Primary by itself. */
  readonly hasViewState?: boolean;
  /** mariadbd is running on this member. */
  readonly running: boolean;
  /** This member is part of a Primary component right now (`wsrep_cluster_status = Primary`). */
  readonly primary: boolean;
  /** This member is Primary and Synced (`wsrep_local_state = 4`, ready, connected, not desynced). */
  readonly synced: boolean;
  /** The member that this member's operator override names as the bootstrap source, if any. */
  readonly overrideBootstrapFrom?: string;
}

/** Everything one member's agent knows when it decides. */
export interface ElectionInput {
  /** The deciding member's ordinal. */
  readonly self: number;
  /** Cluster size (StatefulSet replicas); members are ordinals 0..size-1. */
  readonly size: number;
  /** Pod name prefix (the StatefulSet name): member i is `${statefulSetName}-${i}`. */
  readonly statefulSetName: string;
  /** Reports from the members that answered, including self. A member that did not answer is absent. */
  readonly reports: readonly MemberReport[];
}

/** What the mariadb container is told to do. Never persisted: the agent hands it over once, in memory-backed storage. */
export type Decision =
  /** Start mariadbd joining the existing/forming cluster (optionally at a recovered start position). */
  | { readonly action: 'join'; readonly reason: string; readonly startPosition?: GaleraPosition }
  /** Start mariadbd with `--wsrep-new-cluster`. */
  | { readonly action: 'bootstrap'; readonly reason: string; readonly startPosition?: GaleraPosition }
  /** Not enough information yet (peers missing or not reported); ask again later. */
  | { readonly action: 'wait'; readonly reason: string }
  /** Automatic recovery must not proceed; an operator must act (e.g. name a bootstrap member). */
  | { readonly action: 'blocked'; readonly reason: string };
