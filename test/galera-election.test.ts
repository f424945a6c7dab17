import * as fc from 'fast-check';
import { decide, isUsablePosition, resolveMemberName } from '../lib/galera/agent/election';
import type { Decision, ElectionInput, MemberReport, PositionSource } from '../lib/galera/agent/types';
import { A, B, known, ZERO } from './support/fixtures';

function empty(ordinal: number, extra: Partial<MemberReport> = {}): MemberReport {
  return { ordinal, name: `galera-${ordinal}`, data: 'empty', running: false, primary: false, synced: false, ...extra };
}

function unknown(ordinal: number, extra: Partial<MemberReport> = {}): MemberReport {
  return { ordinal, name: `galera-${ordinal}`, data: 'unknown', running: false, primary: false, synced: false, ...extra };
}

/** A volume that held cluster A's data, emptied by a transfer that did not finish. */
function wiped(ordinal: number, extra: Partial<MemberReport> = {}): MemberReport {
  return { ordinal, name: `galera-${ordinal}`, data: 'wiped', clusters: [A], interruptedTransfer: true, running: false, primary: false, synced: false, ...extra };
}

/** A member running in the Primary component. */
function primary(ordinal: number, seqno: number, extra: Partial<MemberReport> = {}): MemberReport {
  return known(ordinal, seqno, { running: true, primary: true, synced: true, clusterUuid: A, ...extra });
}

type Scenario = Omit<ElectionInput, 'self' | 'size' | 'statefulSetName'> & { readonly size?: number };

/** Every reported member's decision for the same reports, by ordinal. */
function decideAll(scenario: Scenario): Map<number, Decision> {
  const size = scenario.size ?? 3;
  const decisions = new Map<number, Decision>();
  for (const r of scenario.reports) {
    decisions.set(r.ordinal, decide({ statefulSetName: 'galera', size, ...scenario, self: r.ordinal }));
  }
  return decisions;
}

function actions(decisions: Map<number, Decision>): string[] {
  return [...decisions.entries()].sort(([a], [b]) => a - b).map(([, d]) => d.action);
}

function only(decisions: Map<number, Decision>, ordinal: number): Decision {
  return decisions.get(ordinal)!;
}

describe('brand-new cluster', () => {
  test('every member empty: the lowest ordinal bootstraps, the others join', () => {
    const d = decideAll({ reports: [empty(0), empty(1), empty(2)] });
    expect(actions(d)).toEqual(['bootstrap', 'join', 'join']);
    expect(only(d, 0)).toMatchObject({ rule: 'new-cluster' });
    expect(only(d, 0)).not.toHaveProperty('startPosition');
    expect(only(d, 1).reason).toContain('galera-0 bootstraps');
  });

  test('empty members with one member missing wait: the missing one may hold the data (bitnami #22)', () => {
    const d = decideAll({ reports: [empty(0), empty(1)] });
    expect(actions(d)).toEqual(['wait', 'wait']);
    expect(only(d, 0).reason).toContain('galera-2 has not reported');
  });

  test('a volume that ever held a cluster\'s data is never new: a wiped member (or an "empty" one naming clusters) blocks new-cluster', () => {
    for (const reports of [[empty(0), wiped(1), empty(2)], [empty(0), empty(1, { clusters: [A] }), empty(2)]]) {
      const d = decideAll({ reports });
      expect(actions(d)).toEqual(['blocked', 'blocked', 'blocked']);
      expect(only(d, 0)).toMatchObject({ rule: 'no-data' });
      expect(only(d, 0).reason).toContain("galera-1 held a cluster's data");
      expect(only(d, 0).reason).toContain('name a member in the override');
    }
  });

  test('a single-member cluster bootstraps itself when empty', () => {
    expect(decide({ self: 0, size: 1, statefulSetName: 'galera', reports: [empty(0)] })).toMatchObject({
      action: 'bootstrap',
      rule: 'new-cluster',
    });
  });
});

describe('full outage election', () => {
  test('the highest seqno bootstraps and the others join', () => {
    const d = decideAll({ reports: [known(0, 10), known(1, 12), known(2, 11)] });
    expect(actions(d)).toEqual(['join', 'bootstrap', 'join']);
    expect(only(d, 1)).toMatchObject({ rule: 'election' });
    expect(only(d, 1).reason).toContain('galera-1 has the highest seqno 12');
    expect(only(d, 0).reason).toContain('joining it');
  });

  test('ties go to the lowest ordinal', () => {
    const d = decideAll({ reports: [known(0, 10), known(1, 12), known(2, 12)] });
    expect(actions(d)).toEqual(['join', 'bootstrap', 'join']);
    expect(only(d, 1).reason).toContain('tie with galera-2 goes to the lowest ordinal');
  });

  test('a position recovered by --wsrep-recover is handed to mariadbd so the join is an IST, not an SST', () => {
    const d = decideAll({
      reports: [
        known(0, 40, { positionSource: 'wsrep-recover' }),
        known(1, 42, { positionSource: 'wsrep-recover' }),
        known(2, 41),
      ],
    });
    expect(only(d, 0)).toMatchObject({ action: 'join', startPosition: { uuid: A, seqno: 40 } });
    expect(only(d, 1)).toMatchObject({ action: 'bootstrap', startPosition: { uuid: A, seqno: 42 } });
    // grastate.dat already holds the position: mariadbd reads it itself.
    expect(only(d, 2)).not.toHaveProperty('startPosition');
  });

  test('Defect B: an interrupted IST with data recovered by InnoDB is known; fresh and wiped volumes do not block it', () => {
    const d = decideAll({
      reports: [empty(0), known(1, 40, { positionSource: 'wsrep-recover', interruptedTransfer: true, clusters: [A] }), wiped(2)],
    });
    expect(actions(d)).toEqual(['join', 'bootstrap', 'join']);
    expect(only(d, 1)).toMatchObject({ rule: 'election', startPosition: { uuid: A, seqno: 40 } });
    expect(only(d, 1).reason).toContain('galera-2 wiped');
  });

  test('a wiped member never bootstraps and does not block: it holds nothing newer than its donor had', () => {
    const d = decideAll({ reports: [known(0, 10), wiped(1), known(2, 12)] });
    expect(actions(d)).toEqual(['join', 'join', 'bootstrap']);
  });

  test('an empty member never bootstraps: it joins the member with data (bitnami #22)', () => {
    const d = decideAll({ reports: [empty(0), known(1, 5), empty(2)] });
    expect(actions(d)).toEqual(['join', 'bootstrap', 'join']);
  });

  test('safe_to_bootstrap on a lower seqno does not beat a higher recovered seqno (mariadb-operator #1701)', () => {
    const d = decideAll({
      reports: [
        known(0, 100, { safeToBootstrap: true }),
        known(1, 130, { positionSource: 'wsrep-recover' }),
        known(2, 90),
      ],
    });
    expect(actions(d)).toEqual(['join', 'bootstrap', 'join']);
    expect(only(d, 1).reason).toContain("galera-0's safe_to_bootstrap is ignored");
  });

  test('safe_to_bootstrap on a member with 0000…:-1 never makes it a source (mariadb-operator #1701)', () => {
    const d = decideAll({
      reports: [
        known(0, -1, { position: { uuid: ZERO, seqno: -1 }, safeToBootstrap: true }),
        known(1, 130),
        known(2, 90),
      ],
    });
    expect(actions(d)).toEqual(['wait', 'wait', 'wait']);
    expect(only(d, 1).reason).toContain("galera-0's data state is unknown");
  });

  test('safe_to_bootstrap does not fill an information gap: a missing member still blocks', () => {
    const d = decideAll({ reports: [known(0, 100, { safeToBootstrap: true }), known(1, 90)] });
    expect(actions(d)).toEqual(['wait', 'wait']);
  });

  test('a member whose seqno stayed -1 (no --wsrep-recover) waits, then blocks instead of waiting forever (openstack-helm)', () => {
    const reports = [known(0, 10), known(1, -1), known(2, 12)];
    expect(actions(decideAll({ reports, secondsWithoutPrimary: 30 }))).toEqual(['wait', 'wait', 'wait']);
    const late = decideAll({ reports, secondsWithoutPrimary: 120 });
    expect(actions(late)).toEqual(['blocked', 'blocked', 'blocked']);
    expect(only(late, 0)).toMatchObject({ rule: 'incomplete' });
    expect(only(late, 0).reason).toContain("galera-1's data state is unknown");
    expect(only(late, 0).reason).toContain('override');
  });

  test('a member whose grastate.dat is corrupt (unknown) blocks the election like a missing one', () => {
    const d = decideAll({ reports: [known(0, 10), unknown(1), known(2, 12)], blockAfterSeconds: 60, secondsWithoutPrimary: 61 });
    expect(actions(d)).toEqual(['blocked', 'blocked', 'blocked']);
    expect(only(d, 2).reason).toContain("galera-1's data state is unknown");
  });

  test('a missing member blocks the election, and the reason names it', () => {
    const d = decideAll({ reports: [known(0, 10), known(1, 12)], secondsWithoutPrimary: 5 });
    expect(only(d, 1)).toMatchObject({ action: 'wait', rule: 'incomplete' });
    expect(only(d, 1).reason).toContain('galera-2 has not reported');
    expect(only(d, 1).reason).toContain('5 s of 120 s');
  });

  test('the missing member coming back unblocks the election', () => {
    const d = decideAll({ reports: [known(0, 10), known(1, 12), known(2, 13)], secondsWithoutPrimary: 500 });
    expect(actions(d)).toEqual(['join', 'join', 'bootstrap']);
  });

  test('a "known" member with a malformed UUID is treated as unknown', () => {
    const d = decideAll({ reports: [known(0, 10, { position: { uuid: 'not-a-uuid', seqno: 10 } }), known(1, 1), known(2, 2)] });
    expect(actions(d)).toEqual(['wait', 'wait', 'wait']);
    expect(only(d, 1).reason).toContain('unusable position');
  });

  test('known members with different cluster UUIDs block the election and the reason says which (PR #1905)', () => {
    const d = decideAll({
      reports: [known(0, 10), known(1, 50, { position: { uuid: B, seqno: 50 } }), known(2, 12)],
    });
    expect(actions(d)).toEqual(['blocked', 'blocked', 'blocked']);
    expect(only(d, 0)).toMatchObject({ rule: 'uuid-disagreement' });
    expect(only(d, 0).reason).toContain(`galera-0, galera-2: cluster ${A}`);
    expect(only(d, 0).reason).toContain(`galera-1: cluster ${B}`);
  });

  test('UUID disagreement blocks at once, even while a member is still missing', () => {
    const d = decideAll({ reports: [known(0, 10), known(1, 50, { position: { uuid: B, seqno: 50 } })] });
    expect(actions(d)).toEqual(['blocked', 'blocked']);
  });

  test('five members: the highest seqno among them wins', () => {
    const d = decideAll({ size: 5, reports: [known(0, 7), known(1, 9), empty(2), known(3, 9), known(4, 8)] });
    expect(actions(d)).toEqual(['join', 'bootstrap', 'join', 'join', 'join']);
  });
});

describe('a Primary component exists', () => {
  test('a member returning after a crash joins the Primary (IST from its recovered position)', () => {
    const d = decide({
      self: 2,
      size: 3,
      statefulSetName: 'galera',
      reports: [primary(0, 200), primary(1, 200), known(2, 150, { positionSource: 'wsrep-recover' })],
    });
    expect(d).toMatchObject({ action: 'join', rule: 'primary-exists', startPosition: { uuid: A, seqno: 150 } });
    expect(d.reason).toContain('galera-0, galera-1');
  });

  test('the former bootstrapper restarting joins instead of bootstrapping again (mariadb-operator #1626)', () => {
    const d = decideAll({ reports: [known(0, 300, { positionSource: 'wsrep-recover' }), primary(1, 290), primary(2, 290)] });
    expect(only(d, 0)).toMatchObject({ action: 'join', rule: 'primary-exists' });
  });

  test('a Primary that is not Synced yet is still joined', () => {
    const d = decide({
      self: 0,
      size: 3,
      statefulSetName: 'galera',
      reports: [known(0, 1), primary(1, 2, { synced: false })],
    });
    expect(d).toMatchObject({ action: 'join', rule: 'primary-exists' });
  });

  test('empty and unknown members join a Primary: it holds every committed write', () => {
    const d = decideAll({ reports: [empty(0), unknown(1), primary(2, 9)] });
    expect(actions(d)).toEqual(['join', 'join', 'join']);
  });

  test('the member in the Primary is told it is already part of it', () => {
    expect(decide({ self: 1, size: 3, statefulSetName: 'galera', reports: [primary(1, 2)] })).toMatchObject({
      action: 'join',
      rule: 'primary-exists',
    });
  });

  test('own data of another cluster than the Primary blocks the join (joining would SST it away)', () => {
    const d = decide({
      self: 0,
      size: 3,
      statefulSetName: 'galera',
      reports: [known(0, 80, { position: { uuid: B, seqno: 80 } }), primary(1, 10), primary(2, 10)],
    });
    expect(d).toMatchObject({ action: 'blocked', rule: 'uuid-mismatch-with-primary' });
    expect(d.reason).toContain(B);
  });

  test('an override naming a Primary member lets a member of another history join (its data replaced)', () => {
    const d = decide({
      self: 0,
      size: 3,
      statefulSetName: 'galera',
      reports: [
        known(0, 80, { position: { uuid: B, seqno: 80 }, overrideBootstrapFrom: 'galera-1' }),
        primary(1, 10),
        primary(2, 10),
      ],
    });
    expect(d).toMatchObject({ action: 'join', rule: 'primary-exists' });
    expect(d.reason).toContain('will be replaced by SST');
  });

  test('own data of another cluster blocks the join even when its seqno is unknown (-1)', () => {
    const d = decide({
      self: 0,
      size: 3,
      statefulSetName: 'galera',
      reports: [known(0, -1, { position: { uuid: B, seqno: -1 } }), primary(1, 10), primary(2, 10)],
    });
    expect(d).toMatchObject({ action: 'blocked', rule: 'uuid-mismatch-with-primary' });
  });

  test('an override naming a member outside the Primary does not let another history be replaced', () => {
    const d = decide({
      self: 0,
      size: 3,
      statefulSetName: 'galera',
      reports: [known(0, 80, { position: { uuid: B, seqno: 80 }, overrideBootstrapFrom: 'galera-2' }), primary(1, 10), known(2, 10)],
    });
    expect(d).toMatchObject({ action: 'blocked', rule: 'uuid-mismatch-with-primary' });
  });

  test('two Primary components with different cluster UUIDs are a split brain', () => {
    const d = decideAll({ reports: [primary(0, 5), primary(1, 5, { clusterUuid: B }), known(2, 5)] });
    expect(actions(d)).toEqual(['blocked', 'blocked', 'blocked']);
    expect(only(d, 2)).toMatchObject({ rule: 'split-brain' });
  });

  test('a leftover override is ignored while a Primary exists, and the reason says to remove it', () => {
    const d = decide({
      self: 0,
      size: 3,
      statefulSetName: 'galera',
      reports: [known(0, 5, { overrideBootstrapFrom: 'galera-0' }), primary(1, 9)],
    });
    expect(d).toMatchObject({ action: 'join', rule: 'primary-exists' });
    expect(d.reason).toContain('is ignored (remove it)');
  });
});

describe('a member is bootstrapping', () => {
  test('the others join it without running their own election', () => {
    const d = decideAll({ reports: [known(0, 10, { bootstrapping: true, running: true }), known(1, 10), known(2, 9)] });
    expect(actions(d)).toEqual(['bootstrap', 'join', 'join']);
    expect(only(d, 1)).toMatchObject({ rule: 'peer-bootstrapping' });
  });

  test('two members bootstrapping at once is refused', () => {
    const d = decideAll({ reports: [known(0, 10, { bootstrapping: true }), known(1, 10, { bootstrapping: true }), known(2, 9)] });
    expect(actions(d)).toEqual(['blocked', 'blocked', 'blocked']);
  });
});

describe('operator override', () => {
  test('names the bootstrap member while another is missing: it bootstraps, the others join', () => {
    const reports = [known(0, 10, { overrideBootstrapFrom: 'galera-1' }), known(1, 12, { overrideBootstrapFrom: 'galera-1' })];
    const d = decideAll({ reports });
    expect(actions(d)).toEqual(['join', 'bootstrap']);
    expect(only(d, 1)).toMatchObject({ rule: 'override' });
    expect(only(d, 1).reason).toContain('galera-2 has not reported: anything newer there will be lost');
  });

  test('an ordinal works as well as a pod name', () => {
    expect(actions(decideAll({ reports: [known(0, 1, { overrideBootstrapFrom: '0\n' }), known(1, 2)] }))).toEqual([
      'bootstrap',
      'join',
    ]);
  });

  test('naming a lower seqno is allowed, but the reason says newer data will be lost where', () => {
    const d = decideAll({ reports: [known(0, 10, { overrideBootstrapFrom: 'galera-0' }), known(1, 12), known(2, 11)] });
    expect(actions(d)).toEqual(['bootstrap', 'join', 'join']);
    expect(only(d, 0).reason).toContain('data newer than galera-0 exists on galera-1 (seqno 12 > 10) and will be lost');
    expect(only(d, 1).reason).toContain('data newer than galera-0 exists on galera-1');
  });

  test('an override resolves a UUID disagreement, saying which history is replaced', () => {
    const d = decideAll({
      reports: [known(0, 10, { overrideBootstrapFrom: 'galera-0' }), known(1, 50, { position: { uuid: B, seqno: 50 } }), known(2, 10)],
    });
    expect(actions(d)).toEqual(['bootstrap', 'join', 'join']);
    expect(only(d, 0).reason).toContain(`galera-1 holds data of another cluster (${B}:50)`);
  });

  test('an override unblocks an unknown member (corrupt grastate.dat) and says its data is lost', () => {
    const d = decideAll({ reports: [known(0, 10, { overrideBootstrapFrom: 'galera-2' }), unknown(1), known(2, 12)] });
    expect(actions(d)).toEqual(['join', 'join', 'bootstrap']);
    expect(only(d, 2).reason).toContain("galera-1's data state is unknown");
  });

  test('conflicting overrides are refused, naming who says what', () => {
    const d = decideAll({
      reports: [known(0, 10, { overrideBootstrapFrom: 'galera-0' }), known(1, 12, { overrideBootstrapFrom: 'galera-1' }), known(2, 11)],
    });
    expect(actions(d)).toEqual(['blocked', 'blocked', 'blocked']);
    expect(only(d, 2)).toMatchObject({ rule: 'conflicting-overrides' });
    expect(only(d, 2).reason).toContain('galera-0: name "galera-0"; galera-1: name "galera-1"');
  });

  test.each([
    ['galera-7', 'not a member of this cluster (galera-0..galera-2)'],
    ['mysql-1', 'not a member'],
    ['-1', 'not a member'],
    ['01', 'not a member'],
  ])('an override naming %s is refused', (value, message) => {
    const d = decideAll({ reports: [known(0, 10, { overrideBootstrapFrom: value }), known(1, 12), known(2, 11)] });
    expect(actions(d)).toEqual(['blocked', 'blocked', 'blocked']);
    expect(only(d, 0)).toMatchObject({ rule: 'invalid-override' });
    expect(only(d, 0).reason).toContain(message);
  });

  test('an override naming a member that has not reported is refused', () => {
    const d = decideAll({ reports: [known(0, 10, { overrideBootstrapFrom: 'galera-2' }), known(1, 12)] });
    expect(actions(d)).toEqual(['blocked', 'blocked']);
    expect(only(d, 0).reason).toContain('galera-2, which has not reported');
  });

  test.each([
    ['empty', empty(0, { overrideBootstrapFrom: 'galera-0' })],
    ['wiped', wiped(0, { overrideBootstrapFrom: 'galera-0' })],
  ])('an override naming an %s member starts an empty cluster, and the reason says all data is lost', (_state, target) => {
    const d = decideAll({ reports: [target, known(1, 12), known(2, 1)] });
    expect(actions(d)).toEqual(['bootstrap', 'join', 'join']);
    expect(only(d, 0)).toMatchObject({ rule: 'override' });
    expect(only(d, 0)).not.toHaveProperty('startPosition');
    expect(only(d, 0).reason).toContain('starts an EMPTY cluster');
    expect(only(d, 0).reason).toContain('ALL DATA IS LOST');
    expect(only(d, 1).reason).toContain("galera-1's data will be replaced by SST");
  });

  test('an override naming an unknown member (an interrupted transfer) bootstraps it, saying what may be missing', () => {
    const d = decideAll({ reports: [unknown(0, { overrideBootstrapFrom: 'galera-0', interruptedTransfer: true }), known(1, 12), empty(2)] });
    expect(actions(d)).toEqual(['bootstrap', 'join', 'join']);
    expect(only(d, 0).reason).toContain('data of unknown position, left by an interrupted state transfer');
    expect(only(d, 0).reason).toContain('an interrupted IST stops part-way');
    expect(only(d, 0).reason).toContain("galera-1's data will be replaced by SST");
  });
});

describe('pc.recovery', () => {
  const withViewState = [
    known(0, 10, { hasViewState: true, positionSource: 'wsrep-recover' }),
    known(1, 12, { hasViewState: true }),
    known(2, 11, { hasViewState: true }),
  ];

  test('every member known with gvwstate.dat: everyone joins and Galera re-forms the Primary', () => {
    const d = decideAll({ reports: withViewState, secondsWithoutPrimary: 300, secondsInPcRecovery: 10 });
    expect(actions(d)).toEqual(['join', 'join', 'join']);
    expect(only(d, 0)).toMatchObject({ rule: 'pc-recovery', startPosition: { uuid: A, seqno: 10 } });
    expect(only(d, 0).reason).toContain('pc.recovery');
  });

  test('no Primary after the pc.recovery time: the seqno election takes over', () => {
    const d = decideAll({ reports: withViewState, secondsWithoutPrimary: 60, secondsInPcRecovery: 60 });
    expect(actions(d)).toEqual(['join', 'bootstrap', 'join']);
    expect(only(d, 1).reason).toContain('pc.recovery formed no Primary within 60 s');
  });

  test('not used when one member lacks gvwstate.dat', () => {
    const reports = [withViewState[0], known(1, 12), withViewState[2]];
    expect(actions(decideAll({ reports }))).toEqual(['join', 'bootstrap', 'join']);
  });

  test('not used while a member is missing', () => {
    expect(actions(decideAll({ reports: withViewState.slice(0, 2) }))).toEqual(['wait', 'wait']);
  });
});

describe('input handling', () => {
  test('own state not established yet: wait', () => {
    const d = decide({ self: 1, size: 3, statefulSetName: 'galera', reports: [known(0, 1), known(2, 2)] });
    expect(d).toMatchObject({ action: 'wait', rule: 'self-unknown' });
  });

  test('reports outside 0..size-1 and repeated ordinals are ignored', () => {
    const reports = [known(0, 10), known(1, 12), known(2, 11), known(3, 99), known(1, 1)];
    expect(decide({ self: 1, size: 3, statefulSetName: 'galera', reports })).toMatchObject({ action: 'bootstrap' });
  });

  test('resolveMemberName accepts pod names and ordinals in range only', () => {
    expect(resolveMemberName('galera-2', 'galera', 3)).toBe(2);
    expect(resolveMemberName('2', 'galera', 3)).toBe(2);
    expect(resolveMemberName('galera-3', 'galera', 3)).toBeUndefined();
    expect(resolveMemberName('galera-', 'galera', 3)).toBeUndefined();
    expect(resolveMemberName('other-1', 'galera', 3)).toBeUndefined();
  });

  test('isUsablePosition rejects the zero UUID and seqno -1', () => {
    expect(isUsablePosition({ uuid: A, seqno: 0 })).toBe(true);
    expect(isUsablePosition({ uuid: ZERO, seqno: 5 })).toBe(false);
    expect(isUsablePosition({ uuid: A, seqno: -1 })).toBe(false);
    expect(isUsablePosition({ uuid: A, seqno: 1.5 })).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties over generated member sets.

const reportArb = (ordinal: number): fc.Arbitrary<MemberReport> =>
  fc
    .record({
      data: fc.constantFrom<MemberReport['data']>('known', 'known', 'known', 'empty', 'empty', 'unknown', 'wiped'),
      clusters: fc.constantFrom<string[]>([], [], [A], [A, B]),
      interruptedTransfer: fc.boolean(),
      uuid: fc.constantFrom(A, A, A, B, ZERO),
      seqno: fc.integer({ min: -1, max: 6 }),
      positionSource: fc.constantFrom<PositionSource>('grastate', 'wsrep-recover', 'wsrep-status'),
      safeToBootstrap: fc.boolean(),
      hasViewState: fc.boolean(),
      primary: fc.constantFrom(false, false, false, false, true),
      clusterUuid: fc.constantFrom(undefined, A, B),
      bootstrapping: fc.constantFrom(false, false, false, false, false, true),
      overrideBootstrapFrom: fc.constantFrom(undefined, undefined, undefined, undefined, 'galera-0', 'galera-1', '2', 'x'),
    })
    .map((g) => ({
      ordinal,
      name: `galera-${ordinal}`,
      data: g.data,
      ...(g.data === 'known' ? { position: { uuid: g.uuid, seqno: g.seqno }, positionSource: g.positionSource } : {}),
      safeToBootstrap: g.safeToBootstrap,
      hasViewState: g.hasViewState,
      ...(g.clusters.length > 0 ? { clusters: g.clusters } : {}),
      ...(g.interruptedTransfer ? { interruptedTransfer: true } : {}),
      running: g.primary,
      primary: g.primary,
      synced: g.primary,
      ...(g.primary && g.clusterUuid !== undefined ? { clusterUuid: g.clusterUuid } : {}),
      bootstrapping: g.bootstrapping,
      ...(g.overrideBootstrapFrom !== undefined ? { overrideBootstrapFrom: g.overrideBootstrapFrom } : {}),
    }));

/** A cluster of 1..5 members, each present or missing, with the time without Primary. */
const clusterArb = fc
  .integer({ min: 1, max: 5 })
  .chain((size) =>
    fc.record({
      size: fc.constant(size),
      reports: fc
        .tuple(...Array.from({ length: size }, (_, i) => fc.option(reportArb(i), { freq: 5 })))
        .map((rs) => rs.filter((r): r is MemberReport => r !== null)),
      secondsWithoutPrimary: fc.integer({ min: 0, max: 200 }),
      secondsInPcRecovery: fc.integer({ min: 0, max: 100 }),
    }),
  );

/** A cluster without the inputs that legitimately change the plain election (overrides, bootstrapping flags). */
const plainClusterArb = clusterArb.map((c) => ({
  ...c,
  reports: c.reports.map(({ overrideBootstrapFrom: _o, bootstrapping: _b, ...r }) => r),
}));

function bootstrappers(c: Scenario): number[] {
  return [...decideAll(c).entries()].filter(([, d]) => d.action === 'bootstrap').map(([o]) => o);
}

function usable(r: MemberReport): boolean {
  return r.data === 'known' && isUsablePosition(r.position);
}

/** Never held a cluster's data: an empty volume that names no cluster. */
function pristine(r: MemberReport): boolean {
  return r.data === 'empty' && (r.clusters ?? []).length === 0;
}

/** Holds nothing at all (newer or not): pristine, wiped, or an empty volume that names the clusters it held. */
function holdsNothing(r: MemberReport): boolean {
  return r.data === 'empty' || r.data === 'wiped';
}

function overrideTarget(c: Scenario & { size: number }): number | undefined {
  const named = new Set(c.reports.map((r) => r.overrideBootstrapFrom).filter((v) => v !== undefined));
  return named.size === 1 ? resolveMemberName([...named][0]!, 'galera', c.size) : undefined;
}

describe('properties', () => {
  const runs = { numRuns: 3000 };

  test('at most one member is told to bootstrap across every member’s view of the same reports', () => {
    fc.assert(fc.property(clusterArb, (c) => bootstrappers(c).length <= 1), runs);
  });

  test('the bootstrapper has usable data, unless every member is pristine (brand-new cluster) or the override names it', () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const brandNew = c.reports.length === c.size && c.reports.every(pristine);
        return bootstrappers(c).every((o) => brandNew || o === overrideTarget(c) || usable(c.reports.find((r) => r.ordinal === o)!));
      }),
      runs,
    );
  });

  test('new-cluster only when every member reported and none ever belonged to a cluster', () => {
    fc.assert(
      fc.property(plainClusterArb, (c) =>
        [...decideAll(c).values()].every(
          (d) => d.action !== 'bootstrap' || d.rule !== 'new-cluster' || (c.reports.length === c.size && c.reports.every(pristine)),
        ),
      ),
      runs,
    );
  });

  test('without an override the bootstrapper has the highest seqno among known members, lowest ordinal on ties', () => {
    fc.assert(
      fc.property(plainClusterArb, (c) =>
        bootstrappers(c).every((o) => {
          const seqnos = c.reports.filter(usable).map((r) => r.position!.seqno);
          const mine = c.reports.find((r) => r.ordinal === o)!;
          if (seqnos.length === 0) return pristine(mine) && o === 0;
          const max = Math.max(...seqnos);
          const firstWithMax = c.reports.filter(usable).filter((r) => r.position!.seqno === max).sort((a, b) => a.ordinal - b.ordinal)[0];
          return mine.position!.seqno === max && firstWithMax.ordinal === o;
        }),
      ),
      runs,
    );
  });

  test('never bootstrap while a Primary exists', () => {
    fc.assert(fc.property(clusterArb, (c) => !c.reports.some((r) => r.primary) || bootstrappers(c).length === 0), runs);
  });

  test('never bootstrap with a missing or unknown member unless an override names the bootstrapper', () => {
    fc.assert(
      fc.property(plainClusterArb, (c) => {
        const complete = c.reports.length === c.size && c.reports.every((r) => holdsNothing(r) || usable(r));
        return complete || bootstrappers(c).length === 0;
      }),
      runs,
    );
  });

  test('never bootstrap when known members disagree on the cluster UUID, unless an override says so', () => {
    fc.assert(
      fc.property(plainClusterArb, (c) => {
        const uuids = new Set(c.reports.filter(usable).map((r) => r.position!.uuid));
        return uuids.size <= 1 || bootstrappers(c).length === 0;
      }),
      runs,
    );
  });

  test('a member never bootstraps while another member reports bootstrapping', () => {
    fc.assert(
      fc.property(clusterArb, (c) =>
        bootstrappers(c).every((o) => !c.reports.some((r) => r.ordinal !== o && r.bootstrapping)),
      ),
      runs,
    );
  });

  test('an override bootstrap is always the named member, whatever its data state', () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const named = new Set(c.reports.map((r) => r.overrideBootstrapFrom).filter((v) => v !== undefined));
        if (named.size !== 1 || c.reports.some((r) => r.primary || r.bootstrapping)) return true;
        return bootstrappers(c).every((o) => o === overrideTarget(c));
      }),
      runs,
    );
  });

  test('the override works for every data state: a reported named member bootstraps when no Primary exists', () => {
    fc.assert(
      fc.property(clusterArb, (c) => {
        const target = overrideTarget(c);
        const named = new Set(c.reports.map((r) => r.overrideBootstrapFrom).filter((v) => v !== undefined));
        if (named.size !== 1 || target === undefined || c.reports.some((r) => r.primary || r.bootstrapping)) return true;
        if (!c.reports.some((r) => r.ordinal === target)) return bootstrappers(c).length === 0;
        return bootstrappers(c).length === 1;
      }),
      runs,
    );
  });

  test('a member never joins a Primary of another cluster history unless the override names a Primary member', () => {
    fc.assert(
      fc.property(clusterArb, (c) =>
        [...decideAll(c).entries()].every(([o, d]) => {
          const mine = c.reports.find((r) => r.ordinal === o)!;
          const primaries = c.reports.filter((r) => r.primary);
          // A Primary's cluster: its live UUID, else its data's (when usable); unknown ones cannot be compared.
          const clusterUuids = new Set(primaries.map((r) => r.clusterUuid ?? (usable(r) ? r.position!.uuid : undefined)));
          const ownUuid = mine.position?.uuid;
          if (d.action !== 'join' || mine.primary || clusterUuids.size !== 1 || ownUuid === undefined || ownUuid === ZERO) return true;
          if (clusterUuids.has(ownUuid) || clusterUuids.has(undefined)) return true;
          const overrides = new Set(c.reports.map((r) => r.overrideBootstrapFrom).filter((v) => v !== undefined));
          const target = overrides.size === 1 ? resolveMemberName([...overrides][0]!, 'galera', c.size) : undefined;
          return primaries.some((r) => r.ordinal === target);
        }),
      ),
      runs,
    );
  });

  test('deterministic: the same reports in any order give the same decision', () => {
    fc.assert(
      fc.property(
        clusterArb.chain((c) => fc.record({ c: fc.constant(c), shuffled: fc.shuffledSubarray(c.reports, { minLength: c.reports.length }) })),
        ({ c, shuffled }) => {
          const original = decideAll(c);
          const again = decideAll({ ...c, reports: shuffled });
          return [...original.entries()].every(([o, d]) => JSON.stringify(again.get(o)) === JSON.stringify(d));
        },
      ),
      runs,
    );
  });

  test('a start position is only ever the deciding member’s own position recovered by --wsrep-recover', () => {
    fc.assert(
      fc.property(clusterArb, (c) =>
        [...decideAll(c).entries()].every(([o, d]) => {
          if (!('startPosition' in d) || d.startPosition === undefined) return true;
          const mine = c.reports.find((r) => r.ordinal === o)!;
          return (d.action === 'join' || d.action === 'bootstrap') && mine.positionSource === 'wsrep-recover' && d.startPosition === mine.position;
        }),
      ),
      runs,
    );
  });

  test('every decision has a reason and a rule', () => {
    fc.assert(
      fc.property(clusterArb, (c) => [...decideAll(c).values()].every((d) => d.reason.length > 20 && d.rule.length > 0)),
      runs,
    );
  });
});
