import type { Evidence } from '../../src/mysql/changes';
import {
  countIds,
  EVIDENCE_MARGIN_MICROS,
  gapChanges,
  gapsAfter,
  inGaps,
  missingRuns,
  mysqlTimeToMicros,
  needsEvidence,
  openGapIds,
  planGaps,
  type GapInput,
  type GapPlan,
} from '../../src/pipeline/gaps';
import type { StoredGap } from '../../src/postgres/state';

// ---------------------------------------------------------------- fixtures

const T0 = '2024-05-01 12:00:00.000000';
const T0_MICROS = Date.UTC(2024, 4, 1, 12, 0, 0) * 1000;
const SECOND = 1_000_000;

/** MySQL NOW(6) text, `micros` after T0. */
function at(micros: number): string {
  const total = T0_MICROS + micros;
  const iso = new Date(Math.floor(total / 1000)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${String(((total % SECOND) + SECOND) % SECOND).padStart(6, '0')}`;
}

/** A stored gap of one id, or of first..last. */
function gap(first: number, extra: Partial<StoredGap> = {}): StoredGap {
  return { first, last: first, firstSeenSource: T0, firstSeenEpoch: 1_714_564_800, holders: null, expired: false, ...extra };
}

const run = (first: number, last = first): { first: number; last: number } => ({ first, last });

function evidence(micros: number, alive: string[] | null): Evidence {
  return { readAt: at(micros), alive: alive === null ? null : new Set(alive) };
}

function plan(input: Partial<GapInput>): GapPlan {
  return planGaps({ previousHighWater: 100, stored: [], readIds: [], gapsReadThrough: Infinity, readAt: at(60 * SECOND), evidence: null, timeoutSeconds: 1200, ...input });
}

/** Evidence clearly past the margin. */
const LATER = 5 * SECOND;

/** Holder groups with sorted ids, sorted for comparison. */
const groups = (p: GapPlan): { changeIds: number[]; holders: string[] }[] =>
  p.holders.map((g) => ({ changeIds: [...g.firsts].sort((a, b) => a - b), holders: [...g.holders].sort() })).sort((a, b) => a.changeIds[0]! - b.changeIds[0]!);

// ---------------------------------------------------------------- watermark and new gaps

describe('planGaps: watermark and new gaps', () => {
  test('ids above the old watermark that the read skipped become gaps', () => {
    const p = plan({ previousHighWater: 10, readIds: [11, 13, 16] });
    expect(p.added).toEqual([run(12), run(14, 15)]);
  });

  test('the new watermark is the highest id read', () => {
    expect(plan({ previousHighWater: 10, readIds: [13, 11, 12] }).newHighWater).toBe(13);
  });

  test('a read without new ids keeps the watermark and adds no gaps', () => {
    expect(plan({ previousHighWater: 10, readIds: [], readAt: null })).toMatchObject({ newHighWater: 10, added: [] });
  });

  test('a contiguous read adds no gaps', () => {
    expect(plan({ previousHighWater: 10, readIds: [11, 12, 13] }).added).toEqual([]);
  });

  test('the first read of an empty watermark starts the gap search at id 1', () => {
    expect(plan({ previousHighWater: 0, readIds: [3] })).toMatchObject({ newHighWater: 3, added: [run(1, 2)] });
  });

  test('old gap ids read below the watermark neither move it nor count as new gaps', () => {
    const p = plan({ previousHighWater: 10, stored: [gap(4)], readIds: [4] });
    expect(p).toMatchObject({ newHighWater: 10, added: [], filled: [4] });
  });

  test('a gap just found is not decided in the same read', () => {
    const p = plan({ previousHighWater: 10, readIds: [12], evidence: evidence(LATER, []) });
    expect(p.added).toEqual([run(11)]);
    expect(p.expired).toEqual([]);
    expect(p.holders).toEqual([]);
  });
});

// ---------------------------------------------------------------- filled and late

describe('planGaps: filled and late', () => {
  test('stored gaps the read returned are filled', () => {
    const p = plan({ stored: [gap(5), gap(7), gap(9)], readIds: [5, 9, 101] });
    expect(p.filled.sort()).toEqual([5, 9]);
  });

  test('a filled gap that had expired is reported late; an open one is not', () => {
    const p = plan({ stored: [gap(5, { expired: true }), gap(7)], readIds: [5, 7] });
    expect(p.filled.sort()).toEqual([5, 7]);
    expect(p.late).toEqual([5]);
  });

  test('a filled gap is never expired nor given holders, whatever the evidence', () => {
    const p = plan({ stored: [gap(5), gap(6, { holders: ['t1'] })], readIds: [5, 6], evidence: evidence(LATER, []) });
    expect(p.expired).toEqual([]);
    expect(p.holders).toEqual([]);
  });
});

// ---------------------------------------------------------------- evidence margin

describe('planGaps: evidence margin', () => {
  test('no evidence, no expiry, however old the gap', () => {
    const p = plan({ stored: [gap(5)], evidence: null, timeoutSeconds: 1 });
    expect(p.expired).toEqual([]);
    expect(p.holders).toEqual([]);
  });

  test('evidence read less than the margin after the gap was first seen cannot expire it', () => {
    const p = plan({ stored: [gap(5)], evidence: evidence(EVIDENCE_MARGIN_MICROS - 1, []) });
    expect(p.expired).toEqual([]);
  });

  test('evidence read less than the margin after the gap was first seen does not fix its holders', () => {
    const p = plan({ stored: [gap(5)], evidence: evidence(EVIDENCE_MARGIN_MICROS - 1, ['t1']) });
    expect(p.holders).toEqual([]);
  });

  test('evidence read exactly the margin after the gap was first seen is trusted', () => {
    expect(plan({ stored: [gap(5)], evidence: evidence(EVIDENCE_MARGIN_MICROS, []) }).expired).toEqual([5]);
  });

  test('evidence read before the gap was first seen cannot expire it', () => {
    expect(plan({ stored: [gap(5)], evidence: evidence(-10 * SECOND, []) }).expired).toEqual([]);
  });

  test('the margin is measured per gap, from when each one was first seen', () => {
    const old = gap(5);
    const fresh = gap(6, { firstSeenSource: at(LATER - EVIDENCE_MARGIN_MICROS / 2) });
    expect(plan({ stored: [old, fresh], evidence: evidence(LATER, []) }).expired).toEqual([5]);
  });

  test('the margin is at least the 0.1 s INNODB_TRX cache refresh', () => {
    expect(EVIDENCE_MARGIN_MICROS).toBeGreaterThanOrEqual(100_000);
  });
});

// ---------------------------------------------------------------- first examination

describe('planGaps: first examination', () => {
  test('no transaction alive: the holder rolled back, the gap expires', () => {
    const p = plan({ stored: [gap(5)], evidence: evidence(LATER, []) });
    expect(p.expired).toEqual([5]);
    expect(p.holders).toEqual([]);
  });

  test('transactions alive: the gap stays open and its holders are the alive set', () => {
    const p = plan({ stored: [gap(5)], evidence: evidence(LATER, ['t2', 't1']) });
    expect(p.expired).toEqual([]);
    expect(groups(p)).toEqual([{ changeIds: [5], holders: ['t1', 't2'] }]);
  });

  test('gaps examined together with the same alive set are reported as one group', () => {
    const p = plan({ stored: [gap(5), gap(6), gap(8)], evidence: evidence(LATER, ['t1', 't2']) });
    expect(groups(p)).toEqual([{ changeIds: [5, 6, 8], holders: ['t1', 't2'] }]);
  });
});

// ---------------------------------------------------------------- later examinations

describe('planGaps: later examinations', () => {
  test('holders are narrowed to those still alive; newcomers are not added', () => {
    const p = plan({ stored: [gap(5, { holders: ['t1', 't2', 't3'] })], evidence: evidence(LATER, ['t2', 't9']) });
    expect(p.expired).toEqual([]);
    expect(groups(p)).toEqual([{ changeIds: [5], holders: ['t2'] }]);
  });

  test('the gap expires when none of its holders is alive, even if other transactions are', () => {
    const p = plan({ stored: [gap(5, { holders: ['t1', 't2'] })], evidence: evidence(LATER, ['t7', 't8']) });
    expect(p.expired).toEqual([5]);
    expect(p.holders).toEqual([]);
  });

  test('a gap whose holders are all still alive is neither expired nor re-reported', () => {
    const p = plan({ stored: [gap(5, { holders: ['t1', 't2'] })], evidence: evidence(LATER, ['t1', 't2', 't3']) });
    expect(p.expired).toEqual([]);
    expect(p.holders).toEqual([]);
  });

  test('gaps narrowed to different holder sets are reported in separate groups', () => {
    const p = plan({
      stored: [gap(5, { holders: ['t1', 't2'] }), gap(6, { holders: ['t1', 't3'] }), gap(7, { holders: ['t1', 't2', 't4'] })],
      evidence: evidence(LATER, ['t1', 't2']),
    });
    expect(groups(p)).toEqual([
      { changeIds: [6], holders: ['t1'] },
      { changeIds: [7], holders: ['t1', 't2'] },
    ]);
  });

  test('each gap is decided on its own in one pass', () => {
    const p = plan({
      stored: [gap(5, { holders: ['t1'] }), gap(6, { holders: ['t2'] }), gap(7), gap(8, { expired: true }), gap(9)],
      readIds: [9, 101],
      evidence: evidence(LATER, ['t2', 't3']),
    });
    expect(p.filled).toEqual([9]);
    expect(p.expired).toEqual([5]);
    expect(groups(p)).toEqual([{ changeIds: [7], holders: ['t2', 't3'] }]);
  });
});

// ---------------------------------------------------------------- no PROCESS privilege

describe('planGaps: without INNODB_TRX (alive === null)', () => {
  test('a gap younger than the timeout stays open', () => {
    const p = plan({ stored: [gap(5)], evidence: evidence(1199 * SECOND, null), timeoutSeconds: 1200 });
    expect(p.expired).toEqual([]);
    expect(p.holders).toEqual([]);
  });

  test('a gap as old as the timeout expires', () => {
    expect(plan({ stored: [gap(5)], evidence: evidence(1200 * SECOND, null), timeoutSeconds: 1200 }).expired).toEqual([5]);
  });

  test('known holders do not matter without evidence of who is alive', () => {
    const p = plan({ stored: [gap(5, { holders: ['t1'] }), gap(6, { firstSeenSource: at(900 * SECOND) })], evidence: evidence(1300 * SECOND, null), timeoutSeconds: 1200 });
    expect(p.expired).toEqual([5]);
    expect(p.holders).toEqual([]);
  });
});

// ---------------------------------------------------------------- expired gaps

describe('planGaps: expired gaps', () => {
  test('a gap that already expired is never expired again', () => {
    const stored = [gap(5, { expired: true }), gap(6, { expired: true, holders: ['t1'] })];
    expect(plan({ stored, evidence: evidence(LATER, []) }).expired).toEqual([]);
    expect(plan({ stored, evidence: evidence(LATER, ['t1']) })).toMatchObject({ expired: [], holders: [] });
    expect(plan({ stored, evidence: evidence(10_000 * SECOND, null), timeoutSeconds: 1 }).expired).toEqual([]);
  });
});

describe('needsEvidence', () => {
  test('false without gaps', () => {
    expect(needsEvidence([])).toBe(false);
  });

  test('false when every gap has expired', () => {
    expect(needsEvidence([gap(5, { expired: true }), gap(6, { expired: true })])).toBe(false);
  });

  test('true when some gap is still open', () => {
    expect(needsEvidence([gap(5, { expired: true }), gap(6)])).toBe(true);
  });
});

describe('mysqlTimeToMicros', () => {
  test('reads NOW(6) text as UTC microseconds', () => {
    expect(mysqlTimeToMicros('2024-05-01 12:00:00.000001')).toBe(T0_MICROS + 1);
    expect(mysqlTimeToMicros('2024-05-01 12:00:01.5')).toBe(T0_MICROS + 1_500_000);
    expect(mysqlTimeToMicros('2024-05-01 12:00:00')).toBe(T0_MICROS);
  });

  test('the fixture clock round-trips', () => {
    expect(mysqlTimeToMicros(at(EVIDENCE_MARGIN_MICROS - 1)) - mysqlTimeToMicros(T0)).toBe(EVIDENCE_MARGIN_MICROS - 1);
  });

  test('orders times across a day boundary', () => {
    expect(mysqlTimeToMicros('2024-05-02 00:00:00.000000') - mysqlTimeToMicros('2024-05-01 23:59:59.999999')).toBe(1);
  });

  test('refuses text that is not MySQL time', () => {
    expect(() => mysqlTimeToMicros('2024-05-01T12:00:00Z')).toThrow();
    expect(() => mysqlTimeToMicros('Wed May 01 2024 12:00:00 GMT+0000')).toThrow();
  });
});

// ---------------------------------------------------------------- ranges

describe('gap ranges', () => {
  test('ids skipped over in millions are one range, not millions of gaps', () => {
    const p = plan({ previousHighWater: 0, readIds: [3_000_000, 3_000_001] });
    expect(p.added).toEqual([run(1, 2_999_999)]);
    expect(countIds(p.added)).toBe(2_999_999);
  });

  test('a change arriving inside a range splits it; the rest keeps its first sighting and holders', () => {
    const stored = [gap(10, { last: 20, holders: ['t1'] })];
    const p = plan({ stored, readIds: [12, 13, 20] });
    expect(p.filled).toEqual([12, 13, 20]);
    expect(p.split).toEqual([{ first: 10, rest: [{ ...stored[0], first: 10, last: 11 }, { ...stored[0], first: 14, last: 19 }] }]);
  });

  test('a range whose every id arrived leaves nothing behind', () => {
    const p = plan({ stored: [gap(10, { last: 12 })], readIds: [10, 11, 12] });
    expect(p.split).toEqual([{ first: 10, rest: [] }]);
  });

  test('the rest of a split range is decided with it: expired together', () => {
    const p = plan({ stored: [gap(10, { last: 20, holders: ['t1'] })], readIds: [15], evidence: evidence(LATER, ['t9']) });
    expect(p.split[0]!.rest.map((g) => [g.first, g.last, g.expired])).toEqual([
      [10, 14, true],
      [16, 20, true],
    ]);
    expect(p.expiredIds).toBe(10);
    expect(p.expired).toEqual([]);
  });

  test('arrivals in an expired range are late', () => {
    const p = plan({ stored: [gap(10, { last: 20, expired: true })], readIds: [11] });
    expect(p.late).toEqual([11]);
  });

  test('a whole range expires by its first id and counts all its ids', () => {
    const p = plan({ stored: [gap(10, { last: 1009 })], evidence: evidence(LATER, []) });
    expect(p.expired).toEqual([10]);
    expect(p.expiredIds).toBe(1000);
  });

  test('a range the bounded gap read did not reach is neither expired nor given holders', () => {
    const stored = [gap(10, { last: 20 }), gap(30, { last: 40 }), gap(50)];
    const p = plan({ stored, readIds: [12, 35], gapsReadThrough: 35, evidence: evidence(LATER, []) });
    // 10..20 lies wholly below 35: decided. 30..40 reaches above it, 50 was not read at all.
    expect(p.split.map((s) => [s.first, s.rest.map((g) => g.expired)])).toEqual([
      [10, [true, true]],
      [30, [false, false]],
    ]);
    expect(p.expired).toEqual([]);
  });
});

describe('missingRuns', () => {
  test('runs between the ids, exclusive bounds', () => {
    expect(missingRuns(0, 10, [3, 4, 7])).toEqual([run(1, 2), run(5, 6), run(8, 9)]);
  });

  test('nothing missing', () => {
    expect(missingRuns(2, 6, [3, 4, 5])).toEqual([]);
    expect(missingRuns(5, 6, [])).toEqual([]);
  });

  test('ids outside the bounds are ignored', () => {
    expect(missingRuns(5, 9, [1, 5, 7, 9, 12])).toEqual([run(6), run(8)]);
  });
});

describe('gapsAfter and gapChanges', () => {
  const stored = [gap(5, { last: 9, holders: ['t1', 't2'] }), gap(20), gap(30, { last: 31 })];
  const p = plan({ previousHighWater: 100, stored, readIds: [7, 101, 104], evidence: evidence(LATER, ['t1']) });

  test('the in-memory list equals what is written', () => {
    const next = gapsAfter(stored, p, at(60 * SECOND), 42);
    const written = gapChanges({ plan: p, readAt: at(60 * SECOND) }, 42);
    expect(next.map((g) => [g.first, g.last, g.expired, g.holders])).toEqual([
      [5, 6, false, ['t1']],
      [8, 9, false, ['t1']],
      [20, 20, false, ['t1']],
      [30, 31, false, ['t1']],
      [102, 103, false, null],
    ]);
    expect(written.removed).toEqual([5]);
    expect(written.inserted.map((g) => [g.first, g.last])).toEqual([
      [5, 6],
      [8, 9],
      [102, 103],
    ]);
    expect(written.holders).toEqual([{ firsts: [20, 30], holders: ['t1'] }]);
    expect(openGapIds(next)).toBe(2 + 2 + 1 + 2 + 2);
  });

  test('inGaps finds ids in sorted ranges', () => {
    const next = gapsAfter(stored, p, at(60 * SECOND));
    expect([4, 5, 6, 7, 9, 20, 21, 31, 102, 104].map((id) => inGaps(next, id))).toEqual([false, true, true, false, true, true, false, true, true, false]);
  });
});
