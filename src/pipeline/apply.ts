/**
 * Apply: one PostgreSQL transaction per batch. Stage the final state of every touched key (its current
 * row in the source, or a delete when the row is gone), merge it, and move the watermark, all or
 * nothing. Then prune the applied changelog rows in the source.
 */
import { faultPoint } from '../faults';
import type { SourceRow } from '../model';
import { fetchRows, pruneChanges } from '../source/mysql/changes';
import { advanceCheckpoint, lockCheckpoint, type UnitId } from '../target/postgres/checkpoint';
import { inTransaction, type PoolClient } from '../target/postgres/connection';
import { type MergeCounts, mergeStage } from '../target/postgres/merge';
import { copyLines, ensureStage, stageColumns } from '../target/postgres/stage';
import type { Batch } from './poll';
import { encodeFields, encodeKeyOnly, keyString, rowKey } from './rows';
import type { Unit } from './runtime';

export async function applyBatch(unit: Unit, client: PoolClient, where: string, batch: Batch): Promise<MergeCounts> {
  const sourceId = unit.source.id;
  const table = unit.target;
  const id: UnitId = { sourceId, table: unit.sourceTable.name };
  return inTransaction(client, where, `applying changes to ${table.name}`, async () => {
    await lockCheckpoint(client, where, id, batch.previousHighWater);
    let counts: MergeCounts = { inserted: 0, updated: 0, deleted: 0 };
    if (batch.keys.length > 0) {
      const stage = await ensureStage(client, where, table);
      async function* lines(): AsyncGenerator<string> {
        const present = new Set<string>();
        for await (const rows of fetchRows(unit.source, unit.sourceTable, batch.keys)) {
          for (const row of rows as SourceRow[]) {
            const key = keyString(rowKey(table, row));
            // With a case-insensitive key, two requested spellings can return the same row twice.
            if (present.has(key)) continue;
            present.add(key);
            yield 'U\t' + sourceId + '\t' + encodeFields(sourceId, table, row).join('\t') + '\n';
          }
        }
        for (const key of batch.keys) {
          if (!present.has(keyString(key))) yield 'D\t' + sourceId + '\t' + encodeKeyOnly(sourceId, table, key).join('\t') + '\n';
        }
      }
      await copyLines(client, where, stage, stageColumns(table), lines());
      faultPoint('after-copy');
      counts = await mergeStage(client, where, table, stage);
    }
    await advanceCheckpoint(client, where, id, batch.plan.newHighWater, batch.changes.length, {
      added: batch.plan.added,
      readAt: batch.readAt,
      filled: batch.plan.filled,
      expired: batch.plan.expired,
      holders: batch.plan.holders,
    });
    return counts;
  });
}

/**
 * Deletes the batch's changelog rows from the source. The row at the new watermark stays as the
 * sentinel; the previous sentinel goes once the watermark has moved past it.
 */
export async function pruneBatch(unit: Unit, batch: Batch): Promise<number> {
  faultPoint('after-commit');
  const keep = batch.plan.newHighWater;
  const ids = batch.changes.map((c) => c.changeId).filter((id) => id !== keep);
  if (batch.previousHighWater > 0 && batch.previousHighWater !== keep) ids.push(batch.previousHighWater);
  if (ids.length === 0) return 0;
  return pruneChanges(unit.source, unit.sourceTable, ids);
}
