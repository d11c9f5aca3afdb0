/**
 * The snapshot floor: where the changelog is read from once a snapshot has copied the table.
 *
 * A snapshot that replaces a source's rows covers every change committed before it starts copying.
 * Without a floor, the watermark stays where it was (0 after a reset or re-install) and every id below
 * the first surviving changelog row becomes a gap: a changelog pruned to id 2,000,000 meant two
 * million gaps, one IN list too big for max_allowed_packet, and a table that never synced again.
 *
 * So when a replacing snapshot begins, before it copies anything:
 *   1. read M, the highest committed change id (at MySQL time t1);
 *   2. read the writing transactions alive (INNODB_TRX, as for gap evidence) at least
 *      FLOOR_EVIDENCE_DELAY after t1, so that InnoDB's 0.1 s cache of that table reflects a moment
 *      after t1;
 *   3. move the watermark to M (M itself is committed, hence covered, and serves as the sentinel).
 *
 * Why no change is lost: take an id X below M that the changelog lacks. Auto-increment ids are handed
 * out in increasing order, so X was taken before M, and M was committed by t1: X's transaction took
 * it before t1, and being an AFTER trigger's INSERT it had written by then. If that transaction
 * committed before the snapshot starts copying (which is after step 2), the snapshot sees its rows;
 * if it rolled back there is nothing to apply. The only ids the snapshot may miss belong to
 * transactions still open after step 2, and those are writers that were alive at step 2's read.
 *   - No writer alive at step 2 (the usual case, and always on an idle server): nothing below M can
 *     still arrive. No gap is recorded at all, whatever the number of ids pruned before.
 *   - Writers alive: the ids below M that the changelog lacks are listed (bounded chunks of
 *     ID_SCAN_CHUNK ids) and recorded as gap ranges, first seen at t1, whose holders are exactly
 *     those writers. They close as soon as none of them is alive, by the usual gap rule (gaps.ts);
 *     an id that one of them commits meanwhile is read and applied.
 *   - No PROCESS privilege (no evidence): the same ranges, without holders; they expire by timeout.
 * Ids the changelog still holds below M were committed before step 2: the snapshot covers them, they
 * are not re-applied, and the usual clean-up prunes them.
 */
import { type Evidence, readChangelogTop, readEvidence, scanChangeIds } from '../mysql/changes';
import type { StoredGap } from '../postgres/state';
import { missingRuns, mysqlTimeToMicros } from './gaps';
import type { Unit } from './runtime';

// Twice InnoDB's 0.1 s refresh interval of the INNODB_TRX cache: evidence read this long after t1
// describes a moment after t1.
export const FLOOR_EVIDENCE_DELAY_MICROS = 200_000;

export interface SnapshotFloor {
  highWater: number;
  /** Ids below the floor that a writer alive when the snapshot began may still commit. */
  gaps: StoredGap[];
  /** Writers alive at the floor's evidence read (null without the PROCESS privilege). */
  writers: number | null;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function evidenceAfter(unit: Unit, t1: string): Promise<Evidence> {
  for (;;) {
    const evidence = await readEvidence(unit.source);
    const waited = mysqlTimeToMicros(evidence.readAt) - mysqlTimeToMicros(t1);
    if (waited >= FLOOR_EVIDENCE_DELAY_MICROS) return evidence;
    await sleep(Math.ceil((FLOOR_EVIDENCE_DELAY_MICROS - waited) / 1000));
  }
}

/** The floor for a replacing snapshot of the unit whose watermark is highWater; null: keep it. */
export async function snapshotFloor(unit: Unit, highWater: number): Promise<SnapshotFloor | null> {
  const table = unit.sourceTable;
  const top = await readChangelogTop(unit.source, table);
  if (top.maxId === null || top.maxId <= highWater) return null;
  const floor = top.maxId;
  const evidence = await evidenceAfter(unit, top.readAt);
  if (evidence.alive !== null && evidence.alive.size === 0) return { highWater: floor, gaps: [], writers: 0 };

  const holders = evidence.alive === null ? null : [...evidence.alive].sort();
  const seenEpoch = Date.now() / 1000;
  const gaps: StoredGap[] = [];
  let previous = highWater;
  for await (const ids of scanChangeIds(unit.source, table, highWater, floor)) {
    const last = ids[ids.length - 1]!;
    for (const run of missingRuns(previous, last + 1, ids)) gaps.push({ ...run, firstSeenSource: top.readAt, firstSeenEpoch: seenEpoch, holders, expired: false });
    previous = last;
  }
  for (const run of missingRuns(previous, floor, [])) gaps.push({ ...run, firstSeenSource: top.readAt, firstSeenEpoch: seenEpoch, holders, expired: false });
  return { highWater: floor, gaps, writers: holders === null ? null : holders.length };
}
