/**
 * When the target tables get their indexes: a table that is still empty while its first snapshot is
 * pending gets them once every source's snapshot is done (COPY into an unindexed table is faster than
 * maintaining the indexes row by row); a table that holds rows gets them at once, built concurrently
 * so that readers and the sync go on. A build that fails (a unique index over values that are not yet
 * unique while a snapshot's rows catch up) is tried again after the next pass.
 */
import type { Logger } from '../log';
import { countSnapshotsDone } from '../postgres/state';
import { connectTarget } from '../postgres/connection';
import { type IndexNote, syncIndexes, tableIsEmpty } from '../postgres/indexes';
import type { TargetTable } from '../postgres/schema';
import type { Runtime, Unit } from './runtime';

// Tables whose index build failed or waited, per runtime: looked at again after each pass.
const pending = new WeakMap<Runtime, Map<string, { table: TargetTable; sourceTable: string }>>();

function pendingOf(runtime: Runtime): Map<string, { table: TargetTable; sourceTable: string }> {
  let map = pending.get(runtime);
  if (!map) pending.set(runtime, (map = new Map()));
  return map;
}

export function logIndexNotes(logger: Logger, table: TargetTable, notes: readonly IndexNote[]): void {
  for (const note of notes) {
    logger.info('source index not copied as it is', { target: `${table.schema}.${table.name}`, index: note.index, sources: note.sources, reason: note.reason });
  }
}

/**
 * Builds (or drops) the table's indexes now unless the table is empty and a source's snapshot is
 * still to come. sourceTable: the configured (source) table name, as checkpoints know it.
 */
export async function buildIndexesWhenReady(runtime: Runtime, table: TargetTable, sourceTable: string): Promise<void> {
  const log = runtime.logger.child({ target: `${table.schema}.${table.name}` });
  const where = runtime.target.where;
  const sourceIds = runtime.config.sources.map((s) => s.id);
  const client = await connectTarget(runtime.target, `checking indexes of ${table.name}`);
  let wait: boolean;
  try {
    wait = (await countSnapshotsDone(client, where, sourceTable, sourceIds)) < sourceIds.length && (await tableIsEmpty(client, where, table));
  } finally {
    client.release();
  }
  const key = table.qualified;
  if (wait) {
    pendingOf(runtime).set(key, { table, sourceTable });
    return;
  }
  const result = await syncIndexes(runtime.target, table);
  if (result.created.length) log.info('built target indexes', { indexes: result.created });
  if (result.dropped.length) log.info('dropped target indexes the sources no longer have', { indexes: result.dropped });
  for (const failure of result.failed) log.warn('could not build target index; tried again after the next pass', { index: failure.name, reason: failure.reason });
  if (result.failed.length > 0 || result.busy) pendingOf(runtime).set(key, { table, sourceTable });
  else pendingOf(runtime).delete(key);
}

/** At the end of a unit's snapshot: the last source to finish builds the table's indexes. */
export async function buildIndexesAfterSnapshot(runtime: Runtime, unit: Unit): Promise<void> {
  await buildIndexesWhenReady(runtime, unit.target, unit.sourceTable.name).catch((error: Error) =>
    runtime.logger.warn('could not build target indexes after the snapshot; tried again after the next pass', { table: unit.target.name, reason: error.message }),
  );
}

// Follow mode runs many passes a second; waiting tables are looked at this often at most.
const RETRY_EVERY_MS = 30_000;
const retriedAt = new WeakMap<Runtime, number>();

/** After a pass: tables whose indexes waited or failed. */
export async function retryPendingIndexes(runtime: Runtime): Promise<void> {
  if (pendingOf(runtime).size === 0 || Date.now() - (retriedAt.get(runtime) ?? 0) < RETRY_EVERY_MS) return;
  retriedAt.set(runtime, Date.now());
  for (const { table, sourceTable } of [...pendingOf(runtime).values()]) {
    await buildIndexesWhenReady(runtime, table, sourceTable).catch((error: Error) =>
      runtime.logger.warn('could not build target indexes; tried again after the next pass', { table: table.name, reason: error.message }),
    );
  }
}
