/**
 * Poll: reads the next batch of changes past the watermark plus the gaps still watched, and decides
 * what the batch does to the gap list (see gaps.ts for the rule).
 */
import { TributaryError } from '../errors';
import type { SourceValue } from '../model';
import { type ChangeRow, readChanges } from '../mysql/changes';
import type { StoredGap } from '../postgres/checkpoint';
import { type Evidence, type GapPlan, needsEvidence, planGaps } from './gaps';
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
  const gapIds = options.gaps.map((g) => g.changeId);
  const read = await readChanges(unit.source, unit.sourceTable, options.highWater, gapIds, options.batchSize);
  if (options.highWater > 0 && !read.sentinelSeen) {
    throw new TributaryError(
      'CHANGELOG_RESET',
      `changelog of ${unit.sourceTable.name} in ${unit.source.where} no longer holds change ${options.highWater}: it was emptied or recreated`,
    );
  }
  const plan = planGaps({
    previousHighWater: options.highWater,
    stored: options.gaps,
    readIds: read.changes.map((c) => c.changeId),
    readAt: read.readAt,
    evidence,
    timeoutSeconds: options.timeoutSeconds,
  });
  const keys = new Map<string, SourceValue[]>();
  for (const change of read.changes) {
    for (const key of [change.oldKey, change.newKey]) if (key) keys.set(keyString(key), key);
  }
  return {
    previousHighWater: options.highWater,
    changes: read.changes,
    freshChanges: read.changes.filter((c) => c.changeId > options.highWater).length,
    readAt: read.readAt,
    lagSeconds: read.lagSeconds,
    plan,
    keys: [...keys.values()],
  };
}

/** True when the batch changes nothing: no change read and no gap decided. */
export function isEmptyBatch(batch: Batch): boolean {
  return batch.changes.length === 0 && batch.plan.expired.length === 0 && batch.plan.holders.length === 0;
}
