import * as fc from 'fast-check';
import { takeTurn, withSilentMembers } from '../lib/galera/agent/join-turn';
import type { Decision, MemberReport } from '../lib/galera/agent/types';
import { known } from './support/fixtures';

const JOIN: Decision = { action: 'join', rule: 'primary-exists', reason: 'joining the Primary component (galera-0)' };
const primary0 = known(0, 10, { running: true, primary: true, synced: true });

/** takeTurn for member `self` of these reports, in line for `secondsInLine` (poll 1 s, turn 120 s). */
function turn(self: number, reports: MemberReport[], secondsInLine: number | undefined, decision: Decision = JOIN): Decision {
  return takeTurn(decision, { self, reports, pollSeconds: 1, turnSeconds: 120, ...(secondsInLine !== undefined ? { secondsInLine } : {}) });
}

describe('one join at a time (join-turn.ts)', () => {
  test('decisions that are not joins, pc.recovery joins, and a running member are left as they are', () => {
    const bootstrap: Decision = { action: 'bootstrap', rule: 'election', reason: 'highest seqno' };
    const pcRecovery: Decision = { action: 'join', rule: 'pc-recovery', reason: 'every member has gvwstate.dat' };
    const reports = [primary0, known(1, 9), known(2, 9, { joining: true, joiningSeconds: 3 })];
    expect(turn(1, reports, undefined, bootstrap)).toBe(bootstrap);
    expect(turn(1, reports, undefined, pcRecovery)).toBe(pcRecovery);
    expect(turn(1, [primary0, known(1, 9, { running: true }), reports[2]], undefined)).toBe(JOIN);
  });

  test('a member first stands in line for one poll round, saying so and what it will do then', () => {
    const reports = [primary0, known(1, 9), known(2, 9)];
    for (const seconds of [undefined, 0, 0.99]) {
      expect(turn(1, reports, seconds)).toEqual({
        action: 'wait',
        rule: 'join-in-turn',
        reason: expect.stringMatching(/^standing in line for one round .*; then joining \(joining the Primary component \(galera-0\)\)$/),
      });
    }
    expect(turn(1, reports, 1)).toBe(JOIN);
  });

  test('another member\'s join holds it until that member is Synced, for at most turnSeconds of that join', () => {
    const joining = (extra: Partial<MemberReport>) => [primary0, known(1, 9, { joining: true, joiningSeconds: 30, ...extra }), known(2, 9)];
    expect(turn(2, joining({}), 5)).toMatchObject({ action: 'wait', rule: 'join-in-turn', reason: expect.stringContaining('galera-1 is joining (30 s, not Synced yet)') });
    // Its mariadbd runs and receives a transfer: still joining.
    expect(turn(2, joining({ running: true, primary: true }), 5)).toMatchObject({ action: 'wait' });
    expect(turn(2, joining({ running: true, primary: true, synced: true }), 5)).toBe(JOIN);
    expect(turn(2, joining({ joiningSeconds: 120 }), 5)).toBe(JOIN);
    // A higher ordinal that is joining holds a lower one too: it went first.
    expect(turn(1, [primary0, known(1, 9), known(2, 9, { joining: true, joiningSeconds: 1 })], 5)).toMatchObject({ action: 'wait' });
  });

  test('a lower ordinal in line goes first; a higher one, or one whose mariadbd runs, does not hold it', () => {
    expect(turn(2, [primary0, known(1, 9, { inLine: true }), known(2, 9)], 5)).toMatchObject({
      action: 'wait',
      reason: expect.stringContaining('galera-1 stands in line ahead of this member'),
    });
    expect(turn(1, [primary0, known(1, 9), known(2, 9, { inLine: true })], 5)).toBe(JOIN);
    expect(turn(2, [primary0, known(1, 9, { inLine: true, running: true }), known(2, 9)], 5)).toBe(JOIN);
  });

  test('after turnSeconds in line a member goes whatever it sees', () => {
    const reports = [primary0, known(1, 9, { inLine: true, joining: true, joiningSeconds: 2 }), known(2, 9)];
    expect(turn(2, reports, 119)).toMatchObject({ action: 'wait' });
    expect(turn(2, reports, 120)).toBe(JOIN);
  });

  test('a member whose agent did not answer this round counts as it last reported, its join aged, for turnSeconds', () => {
    const joining1 = known(1, 9, { joining: true, joiningSeconds: 4 });
    const now = [primary0, known(2, 9)];
    const kept = withSilentMembers(now, [{ report: joining1, secondsSinceSeen: 1.5 }], 120);
    expect(kept.map((r) => r.name)).toEqual(['galera-0', 'galera-1', 'galera-2']);
    expect(kept[1]).toMatchObject({ joining: true, joiningSeconds: 5.5 });
    expect(turn(2, kept, 5)).toMatchObject({ action: 'wait', reason: expect.stringContaining('galera-1 is joining (6 s') });
    // Read too long ago, or answered this round (this round's report wins): not taken from memory.
    expect(withSilentMembers(now, [{ report: joining1, secondsSinceSeen: 120 }], 120)).toEqual(now);
    expect(withSilentMembers([...now, known(1, 9)], [{ report: joining1, secondsSinceSeen: 1 }], 120)[1]).toEqual(known(1, 9));
  });

  test('of members in line on the same reports with no join under way, exactly the lowest ordinal goes', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 6 }), (inLine) => {
        const reports = [primary0, ...inLine.map((o) => known(o, 9, { inLine: true }))];
        const going = inLine.filter((o) => turn(o, reports, 5) === JOIN);
        expect(going).toEqual([Math.min(...inLine)]);
      }),
    );
  });
});
