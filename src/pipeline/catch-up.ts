/**
 * Adaptive catch-up: whether a unit far behind should catch up by a re-snapshot instead of draining.
 *
 * Draining costs per pending change (read it, fetch the row's current state, stage, merge, prune it);
 * a re-snapshot costs per row of the table. Past some share of the table's rows the re-snapshot is the
 * faster way to the same end (BENCHMARKS.md, catch-up row): catchUpPercent.
 *
 * Nothing is lost and no row goes missing on the way: the re-snapshot is the replacing kind (each chunk
 * replaces its key range in one transaction, snapshot.ts), and it starts from the snapshot floor
 * (floor.ts), so every change committed before it copies is in the rows it copies, and later ones are
 * drained as usual. The changelog rows it covers are then pruned like applied ones.
 *
 * Asked only after a pass's first batch came back full: an idle or nearly caught-up unit pays no extra
 * statement, and a backlog smaller than one batch is never worth a re-snapshot.
 */
import { countChangesAfter, estimateRows, readChangelogTop } from '../mysql/changes';
import type { Unit } from './runtime';

export interface CatchUpDecision {
  resnapshot: boolean;
  /** Changes waiting past the watermark (counted no further than the threshold + 1). */
  pending: number;
  /** The table's rows, InnoDB's estimate. */
  estimatedRows: number;
  /** Pending changes above which a re-snapshot is taken. */
  threshold: number;
}

/** Pending changes above which the unit re-snapshots: percent of its rows, never less than one batch. */
export function catchUpThreshold(estimatedRows: number, percent: number, batchSize: number): number {
  return Math.max(batchSize, Math.ceil((estimatedRows * percent) / 100));
}

/** null when the table always drains (catchUp: drain). */
export async function decideCatchUp(unit: Unit, highWater: number, settings: { percent: number; batchSize: number }): Promise<CatchUpDecision | null> {
  if (unit.tableConfig.catchUp !== 'adaptive') return null;
  const estimatedRows = await estimateRows(unit.source, unit.sourceTable.name);
  const threshold = catchUpThreshold(estimatedRows, settings.percent, settings.batchSize);
  // Ids only grow, one per change: the distance to the top bounds the count, from one index edge.
  const top = await readChangelogTop(unit.source, unit.sourceTable);
  const bound = top.maxId === null ? 0 : top.maxId - highWater;
  if (bound <= threshold) return { resnapshot: false, pending: Math.max(0, bound), estimatedRows, threshold };
  const pending = await countChangesAfter(unit.source, unit.sourceTable, highWater, threshold + 1);
  return { resnapshot: pending > threshold, pending, estimatedRows, threshold };
}
