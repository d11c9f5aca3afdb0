/**
 * Apply: one PostgreSQL transaction per batch. Stage the final state of every touched key (its current
 * row in the source, or a delete when the row is gone), merge it, and move the watermark, all or
 * nothing. Then prune the applied changelog rows in the source.
 */
import { faultPoint } from '../faults';
import type { SourceRow, SourceValue } from '../model';
import { fetchRows, pruneChanges } from '../mysql/changes';
import { connectTarget, inTransaction, type PoolClient } from '../postgres/connection';
import { type MergeCounts, mergeStage } from '../postgres/merge';
import { copyLines, ensureStage, stageColumns } from '../postgres/stage';
import type { Batch } from './poll';
import { gapChanges } from './gaps';
import { TributaryError } from '../errors';
import { unitState } from '../postgres/state';
import { conflictRejects, describeKey, encodeKeyOnly, encodeRow, keyString, type Reject, rowKey, stageLine, storedRejects } from '../convert/rows';
import { type Runtime, stateUnit, type Unit } from './runtime';

/**
 * Makes the target rows of the given keys equal to the source's current rows: upserts the rows that
 * exist, deletes the keys that no longer do. Runs inside the caller's transaction.
 */
export interface AppliedCounts extends MergeCounts {
  rejects: Reject[];
}

export async function stageAndMerge(unit: Unit, client: PoolClient, where: string, keys: readonly SourceValue[][]): Promise<AppliedCounts> {
  if (keys.length === 0) return { inserted: 0, updated: 0, deleted: 0, rejects: [] };
  const sourceId = unit.source.id;
  const table = unit.target;
  const stage = await ensureStage(client, where, table);
  const rejects: Reject[] = [];
  const staged: string[] = [];
  async function* lines(): AsyncGenerator<string> {
    const present = new Set<string>();
    for await (const rows of fetchRows(unit.source, unit.sourceTable, keys)) {
      const inChunk = new Set<string>();
      // One string per fetched chunk: a yield per row would cost an await per row.
      let text = '';
      for (const row of rows as SourceRow[]) {
        const key = keyString(rowKey(table, row));
        if (inChunk.has(key)) {
          throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `table ${unit.sourceTable.name} in ${unit.source.where} has two rows with key ${describeKey(table, rowKey(table, row))}; the configured key must be unique`);
        }
        inChunk.add(key);
        // With a case-insensitive key, two requested spellings can return the same row in two chunks.
        if (present.has(key)) continue;
        present.add(key);
        const encoded = encodeRow(sourceId, table, row, unit.tableConfig.onBadValue);
        if (encoded.rejects.length > 0) rejects.push(...encoded.rejects);
        if (encoded.fields === null) continue;
        staged.push(key);
        text += stageLine('U', sourceId, table, rowKey(table, row), encoded.fields);
      }
      yield text;
    }
    let deletes = '';
    for (const key of keys) {
      const text = keyString(key);
      if (present.has(text)) continue;
      staged.push(text);
      deletes += stageLine('D', sourceId, table, key, encodeKeyOnly(sourceId, table, key));
    }
    yield deletes;
  }
  await copyLines(client, where, stage, stageColumns(table), lines());
  faultPoint('after-copy');
  const { conflicts, ...counts } = await mergeStage(client, where, table, stage);
  rejects.push(...conflictRejects(conflicts));
  const state = unitState(client, where, stateUnit(unit));
  await state.clearRejectsForKeys(staged);
  await state.recordRejects(storedRejects(table, rejects));
  return { ...counts, rejects };
}

export async function applyBatch(unit: Unit, client: PoolClient, where: string, batch: Batch): Promise<AppliedCounts> {
  const state = unitState(client, where, stateUnit(unit));
  return inTransaction(client, where, `applying changes to ${unit.target.name}`, async () => {
    await state.lockCheckpoint(batch.previousHighWater);
    const counts = await stageAndMerge(unit, client, where, batch.keys);
    await state.advance(batch.plan.newHighWater, batch.changes.length, gapChanges(batch));
    return counts;
  });
}

/**
 * Deletes the batch's changelog rows from the source. The row at the new watermark stays as the
 * sentinel; the previous sentinel goes once the watermark has moved past it. Rows from `below` on
 * stay: other consumers of the changelog still need them.
 */
export async function pruneBatch(unit: Unit, batch: Batch, below = Infinity): Promise<number> {
  faultPoint('after-commit');
  const keep = batch.plan.newHighWater;
  const ids = batch.changes.map((c) => c.changeId).filter((id) => id !== keep && id < below);
  if (batch.previousHighWater > 0 && batch.previousHighWater !== keep && batch.previousHighWater < below) ids.push(batch.previousHighWater);
  if (ids.length === 0) return 0;
  return pruneChanges(unit.source, unit.sourceTable, ids);
}

/**
 * Re-copies the given keys from the source (verify --repair). Waits for the unit's lock so it never
 * interleaves with a pass on the same unit, which could otherwise overwrite a newer row with an older.
 */
export async function repairKeys(runtime: Runtime, unit: Unit, keys: readonly SourceValue[][]): Promise<AppliedCounts> {
  const where = runtime.target.where;
  const client = await connectTarget(runtime.target, `repairing ${unit.target.name}`);
  const state = unitState(client, where, stateUnit(unit));
  let broken = false;
  try {
    await state.waitLock();
    try {
      // A repair between a crashed snapshot and its resumption would insert rows the snapshot then
      // copies again; such a unit is left to the snapshot.
      const checkpoint = await state.load();
      if (checkpoint.snapshotState !== 'done') {
        throw new TributaryError('INTERNAL', `${unit.source.id}.${unit.sourceTable.name} has a snapshot in progress; run sync before repairing it`);
      }
      const total: AppliedCounts = { inserted: 0, updated: 0, deleted: 0, rejects: [] };
      // Bounded transactions, as for batches.
      for (let start = 0; start < keys.length; start += runtime.config.batchSize) {
        const slice = keys.slice(start, start + runtime.config.batchSize);
        const counts = await inTransaction(client, where, `repairing ${unit.target.name}`, () => stageAndMerge(unit, client, where, slice));
        total.inserted += counts.inserted;
        total.updated += counts.updated;
        total.deleted += counts.deleted;
        total.rejects.push(...counts.rejects);
      }
      return total;
    } finally {
      await state.unlock().catch(() => (broken = true));
    }
  } catch (error) {
    broken = true;
    throw error;
  } finally {
    client.release(broken ? true : undefined);
  }
}
