/**
 * Poll: reads the next batch of changes past the watermark plus the gaps still watched, and decides
 * what the batch does to the gap list (see gaps.ts for the rule).
 */
import { TributaryError } from '../errors';
import type { SourceValue } from '../model';
import { type ChangeRow, type Evidence, readChanges, readGapChanges } from '../mysql/changes';
import type { StoredGap } from '../postgres/state';
import { type GapPlan, needsEvidence, planGaps } from './gaps';
import { keyString } from '../convert/rows';
import type { Unit } from './runtime';

export interface Batch {
  previousHighWater: number;
  changes: ChangeRow[];
  /** Changes above the old watermark (the rest are late arrivals of gaps). */
  freshChanges: number;
  readAt: string | null;
  /** Age of the oldest change in the batch when it was read. */
  lagSeconds: number;
  plan: GapPlan;
  /** Distinct keys touched by the batch (old and new keys), in first-seen order. */
  keys: SourceValue[][];
}

export interface PollOptions {
  highWater: number;
  gaps: readonly StoredGap[];
  batchSize: number;
  timeoutSeconds: number;
  /** Returns INNODB_TRX evidence read before this call's changelog read. */
  evidence: () => Promise<Evidence>;
}

export async function pollBatch(unit: Unit, options: PollOptions): Promise<Batch> {
  const evidence = needsEvidence(options.gaps) ? await options.evidence() : null;
  // Evidence first, then the changelog (field notes §1): a holder that commits in between is found
  // by the reads below, so no gap is decided on evidence older than the read that still misses it.
  const gapRead = options.gaps.length > 0 ? await readGapChanges(unit.source, unit.sourceTable, options.gaps, options.batchSize) : { changes: [], readThrough: Infinity };
  const read = await readChanges(unit.source, unit.sourceTable, options.highWater, options.batchSize);
  if (options.highWater > 0 && !read.sentinelSeen) {
    throw new TributaryError(
      'CHANGELOG_RESET',
      `changelog of ${unit.sourceTable.name} in ${unit.source.where} no longer holds change ${options.highWater}: it was emptied or recreated`,
    );
  }
  const changes = gapRead.changes.length > 0 ? [...gapRead.changes, ...read.changes] : read.changes;
  const plan = planGaps({
    previousHighWater: options.highWater,
    stored: options.gaps,
    readIds: changes.map((c) => c.changeId),
    gapsReadThrough: gapRead.readThrough,
    readAt: read.readAt,
    evidence,
    timeoutSeconds: options.timeoutSeconds,
  });
  const keys = new Map<string, SourceValue[]>();
  for (const change of changes) {
    if (change.oldKey) keys.set(keyString(change.oldKey), change.oldKey);
    if (change.newKey) keys.set(keyString(change.newKey), change.newKey);
  }
  return {
    previousHighWater: options.highWater,
    changes,
    freshChanges: read.changes.length,
    readAt: read.readAt,
    lagSeconds: read.lagSeconds,
    plan,
    keys: [...keys.values()],
  };
}

/** True when the batch changes nothing: no change read and no gap decided. */
export function isEmptyBatch(batch: Batch): boolean {
  return batch.changes.length === 0 && batch.plan.expired.length === 0 && batch.plan.holders.length === 0 && batch.plan.split.length === 0;
}
