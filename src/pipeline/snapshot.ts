/**
 * Snapshot: the first copy of a source table, in key-ordered chunks, each COPYed straight into the
 * target and committed with its progress, so a crash resumes from the last committed chunk.
 *
 * Nothing written during the snapshot is lost: capture is installed before the snapshot starts, the
 * watermark is not moved by it, and every change in the changelog is applied afterwards by reading
 * the row's current state, which is never older than what the snapshot copied.
 */
import { faultPoint } from '../faults';
import { quotePg } from '../ident';
import type { SourceValue } from '../model';
import { estimateRows, streamSnapshotChunk } from '../mysql/changes';
import { beginSnapshot, type Checkpoint, finishSnapshot, raiseWatermark, recordSnapshotProgress } from '../postgres/checkpoint';
import { inTransaction, type PoolClient, targetQuery } from '../postgres/connection';
import { SOURCE_COLUMN } from '../postgres/internal-columns';
import { mergeStage } from '../postgres/merge';
import { copyLines, ensureStage, stageColumns } from '../postgres/stage';
import { clearRejects, recordRejects } from '../postgres/rejects';
import { conflictRejects, describeKey, encodeRow, type Reject, rowKey, stageLine } from '../convert/rows';
import { type Runtime, type Unit, unitKey } from './runtime';
import { builtUniqueIndexes } from '../postgres/indexes';
import { buildIndexesAfterSnapshot } from './target-indexes';
import { countIds } from './gaps';
import { snapshotFloor } from './floor';

export interface SnapshotOutcome {
  rows: number;
  rejects: Reject[];
}

/** A signal that fires ends the snapshot after the chunk in progress, which is committed as usual. */
export async function snapshotUnit(runtime: Runtime, unit: Unit, client: PoolClient, checkpoint: Checkpoint, signal?: AbortSignal): Promise<SnapshotOutcome> {
  const { target } = runtime;
  const sourceId = unit.source.id;
  const table = unit.target;
  const id = { sourceId, table: unit.sourceTable.name };
  const log = runtime.logger.child({ source: sourceId, table: unit.sourceTable.name });
  const chunkSize = runtime.config.snapshotChunkSize;
  let after: SourceValue[] | null = checkpoint.snapshotState === 'running' ? checkpoint.snapshotAfter : null;

  // A refresh upserts every row into what is there; a replace empties this source's rows first.
  const refresh = checkpoint.snapshotMode === 'refresh';
  // Rows go through the stage and merge when they may meet other sources' rows in one key space, or
  // meet their own older versions (refresh); otherwise straight into the table.
  // So do rows of a table with unique indexes: the merge clears rows they make out of date.
  const viaStage = refresh || !table.keyIncludesSource || (await builtUniqueIndexes(client, target.where, table)).length > 0;
  if (checkpoint.snapshotState === 'pending') {
    // A replacing snapshot covers every change committed before it starts: the changelog is read from
    // its floor on (floor.ts). A refresh deletes nothing, so changes below the watermark still count.
    const floor = refresh ? null : await snapshotFloor(unit, checkpoint.highWater);
    await inTransaction(client, target.where, `starting snapshot of ${table.name}`, async () => {
      await beginSnapshot(client, target.where, id);
      if (floor) await raiseWatermark(client, target.where, id, floor.highWater, floor.gaps);
      if (!refresh) {
        await clearRejects(client, target.where, id);
        // A re-snapshot replaces this source's rows; other sources' rows are untouched.
        await targetQuery(client, target.where, `clearing ${table.name}`, `DELETE FROM ${table.qualified} WHERE ${quotePg(SOURCE_COLUMN)} = $1`, [sourceId]);
      }
    });
    if (floor) {
      // Changelog rows below the floor are covered by this snapshot: let the clean-up prune them.
      runtime.cleanedUnits.delete(unitKey(sourceId, unit.sourceTable.name));
      log.info('changelog is read from the snapshot floor on', { floor: floor.highWater, writersAlive: floor.writers, gapRanges: floor.gaps.length, gapIds: countIds(floor.gaps) });
    }
    log.info(refresh ? 'refresh started' : 'snapshot started');
  } else {
    log.info('snapshot resumed', { rows: checkpoint.snapshotRows });
  }

  let total = 0;
  const allRejects: Reject[] = [];
  const started = Date.now();
  const estimate = Math.max(await estimateRows(unit.source, unit.sourceTable.name), checkpoint.snapshotState === 'running' ? checkpoint.snapshotRows : 0);
  const done0 = checkpoint.snapshotState === 'running' ? checkpoint.snapshotRows : 0;
  for (;;) {
    const chunkStarted = Date.now();
    let rows = 0;
    let last: SourceValue[] | null = null;
    const from = after;
    const rejects: Reject[] = [];
    await inTransaction(client, target.where, `copying snapshot of ${table.name}`, async () => {
      async function* lines(): AsyncGenerator<string> {
        for await (const batch of streamSnapshotChunk(unit.source, unit.sourceTable, from, chunkSize)) {
          let text = '';
          for (const row of batch) {
            rows++;
            last = rowKey(table, row);
            const encoded = encodeRow(sourceId, table, row, unit.tableConfig.onBadValue);
            if (encoded.rejects.length > 0) rejects.push(...encoded.rejects);
            if (encoded.fields === null) continue;
            text += viaStage ? stageLine('U', sourceId, table, last, encoded.fields) : sourceId + '\t' + encoded.fields.join('\t') + '\n';
          }
          yield text;
        }
      }
      if (viaStage) {
        const stage = await ensureStage(client, target.where, table);
        await copyLines(client, target.where, stage, stageColumns(table), lines());
        const merged = await mergeStage(client, target.where, table, stage);
        rejects.push(...conflictRejects(merged.conflicts));
      } else {
        await copyLines(client, target.where, table.qualified, [SOURCE_COLUMN, ...table.columns.map((c) => c.name)], lines());
      }
      await recordRejects(client, target.where, id, table.name, rejects, (key) => describeKey(table, key));
      if (rows > 0) await recordSnapshotProgress(client, target.where, id, last!, rows);
      if (rows < chunkSize) await finishSnapshot(client, target.where, id);
      faultPoint('during-snapshot');
    });
    total += rows;
    allRejects.push(...rejects);
    const elapsed = (Date.now() - started) / 1000;
    const rate = elapsed > 0 ? total / elapsed : 0;
    const done = done0 + total;
    // InnoDB's row count is an estimate: progress may pass 100% or end below it.
    log.info('snapshot progress', {
      rows,
      done,
      estimatedTotal: estimate,
      percent: estimate > 0 ? Math.min(100, Math.round((done / estimate) * 1000) / 10) : null,
      rowsPerSecond: Math.round(rate),
      etaSeconds: rate > 0 && estimate > done ? Math.round((estimate - done) / rate) : 0,
      rejects: rejects.length,
      ms: Date.now() - chunkStarted,
    });
    if (rows < chunkSize) break;
    after = last;
    if (signal?.aborted) {
      log.info('snapshot stopped; the next run resumes it from here', { done });
      return { rows: total, rejects: allRejects };
    }
  }
  log.info('snapshot done', { rows: total, ms: Date.now() - started });
  await buildIndexesAfterSnapshot(runtime, unit);
  return { rows: total, rejects: allRejects };
}
