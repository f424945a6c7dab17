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
 * What a member's data directory says about it, established from evidence before mariadbd starts (never from a
 * marker file alone: `sst_in_progress` is created at the start of every transfer, an IST too).
 * - `empty`: nothing on the volume; it never held a cluster's data (no identity file). It can only join, by SST,
 *   and a brand-new cluster starts only when every member is `empty`.
 * - `wiped`: the volume joined a cluster (its identity file says so) but holds no database: a state transfer emptied
 *   it and did not finish, or the files were removed. It can only join; it cannot hold anything newer than its donor.
 * - `known`: a database and a usable position (grastate.dat, or `mariadbd --wsrep-recover`, which is also how an
 *   interrupted IST's data is read).
 * - `unknown`: a database without a usable position (recovery failed, an SST cut while moving files in): never
 *   chosen automatically, and it blocks an automatic full-outage election just as a missing member does (its data
 *   might be the newest).
 */
export type DataState = 'empty' | 'wiped' | 'known' | 'unknown';

/**
 * Where a `known` position came from: grastate.dat or `mariadbd --wsrep-recover` before mariadbd started, or, while
 * it runs, its live status (`wsrep_local_state_uuid:wsrep_last_committed`), which is newer than either.
 */
export type PositionSource = 'grastate' | 'wsrep-recover' | 'wsrep-status';

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
  /** A state transfer to this member was cut short (`sst_in_progress` was left behind). */
  readonly interruptedTransfer?: boolean;
  /** The cluster UUIDs this member's volume ever held data of (its identity file), sorted. */
  readonly clusters?: readonly string[];
  /** mariadbd is running on this member. */
  readonly running: boolean;
  /** This member is part of a Primary component right now (`wsrep_cluster_status = Primary`). */
  readonly primary: boolean;
  /** This member is Primary and Synced (`wsrep_local_state = 4`, ready, connected, not desynced). */
  readonly synced: boolean;
  /** The member that this member's operator override names as the bootstrap source, if any. */
  readonly overrideBootstrapFrom?: string;
  /**
   * `wsrep_cluster_state_uuid` while mariadbd runs: the history of the component this member is in. Joiners
   * compare it with their own data's UUID (a different UUID means a different history, and joining would SST over
   * this member's data).
   */
  readonly clusterUuid?: string;
  /**
   * This member's agent handed out a `bootstrap` decision and the member is not Primary yet. Peers join it instead
   * of running their own election, so two members can never bootstrap because their views differed for a moment.
   */
  readonly bootstrapping?: boolean;
  /**
   * This member's agent would hand out a `join` now but waits for its turn (join-turn.ts): peers with a higher
   * ordinal wait behind it.
   */
  readonly inLine?: boolean;
  /** This member's agent handed out a `join` for its current state and the member has not been Synced since. */
  readonly joining?: boolean;
  /** How long ago that `join` was handed out (by this member's own clock), while `joining`. */
  readonly joiningSeconds?: number;
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
  /**
   * How long this member's agent has seen no Primary component anywhere (0 when one exists). Time is an input so
   * that `decide` stays pure: it turns a long `wait` into `blocked`.
   * @default 0
   */
  readonly secondsWithoutPrimary?: number;
  /**
   * After this long without a Primary, missing or unknown members turn `wait` into `blocked` (an operator is needed).
   * @default 120
   */
  readonly blockAfterSeconds?: number;
  /**
   * How long this member's agent has been letting Galera's `pc.recovery` work (since it first decided
   * `pc-recovery` without a Primary appearing since); 0 when it has not tried.
   * @default 0
   */
  readonly secondsInPcRecovery?: number;
  /**
   * How long Galera's own `pc.recovery` gets to re-form the Primary before the seqno election takes over.
   * @default 60
   */
  readonly pcRecoverySeconds?: number;
}

/** Which rule produced a decision: a stable code for logs, tests and `/status` (the reason is for humans). */
export type DecisionRule =
  /** A Primary component exists (or this member is in it): join it. */
  | 'primary-exists'
  /** Two Primary components with different cluster UUIDs: split brain, a human must choose. */
  | 'split-brain'
  /** This member's data has another cluster UUID than the running Primary: joining would SST over it. */
  | 'uuid-mismatch-with-primary'
  /** Another member was told to bootstrap and is starting: join it. */
  | 'peer-bootstrapping'
  /** More than one member reports that it is bootstrapping. */
  | 'several-bootstrapping'
  /** Members' override files name different bootstrap members. */
  | 'conflicting-overrides'
  /** The operator's override names no member of this cluster, or one that has not reported its state. */
  | 'invalid-override'
  /** The operator's override names the bootstrap member. */
  | 'override'
  /** The `known` members' data belongs to different cluster UUIDs. */
  | 'uuid-disagreement'
  /** Every member reported and every member is empty (pristine, never in a cluster): a brand-new cluster. */
  | 'new-cluster'
  /** Every member reported, none holds data, but some volume held a cluster's data: only an operator may start over. */
  | 'no-data'
  /** Some members have not reported or their data state is unknown. */
  | 'incomplete'
  /** Every member is known and has gvwstate.dat: let Galera's pc.recovery re-form the Primary. */
  | 'pc-recovery'
  /** Full outage, everyone reported: the highest seqno bootstraps, ties to the lowest ordinal. */
  | 'election'
  /** The deciding member's own state is not established yet. */
  | 'self-unknown'
  /** The election says join, but another member's join goes first (join-turn.ts). */
  | 'join-in-turn';

/** What the mariadb container is told to do. Never persisted: the agent hands it over once, in memory-backed storage. */
export type Decision =
  /** Start mariadbd joining the existing/forming cluster (optionally at a recovered start position). */
  | { readonly action: 'join'; readonly rule: DecisionRule; readonly reason: string; readonly startPosition?: GaleraPosition }
  /** Start mariadbd with `--wsrep-new-cluster`. */
  | { readonly action: 'bootstrap'; readonly rule: DecisionRule; readonly reason: string; readonly startPosition?: GaleraPosition }
  /** Not enough information yet (peers missing or not reported); ask again later. */
  | { readonly action: 'wait'; readonly rule: DecisionRule; readonly reason: string }
  /** Automatic recovery must not proceed; an operator must act (e.g. name a bootstrap member). */
  | { readonly action: 'blocked'; readonly rule: DecisionRule; readonly reason: string };

/**
 * `<run>/state.json`, written by the mariadb container before it starts mariadbd (see README.md): this member's data
 * state. `stateId` changes with every write, and the decision written for it echoes it back, so a decision made from
 * an older state is never acted on.
 */
export interface LocalState {
  readonly stateId: string;
  readonly data: DataState;
  readonly position?: GaleraPosition;
  readonly positionSource?: PositionSource;
  readonly safeToBootstrap?: boolean;
  readonly hasViewState?: boolean;
  readonly interruptedTransfer?: boolean;
  readonly clusters?: readonly string[];
}
