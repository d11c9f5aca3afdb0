/**
 * Snapshot: a copy of a source table, in key-ordered chunks, each written to the target and committed
 * with its progress, so a crash resumes from the last committed chunk.
 *
 * Nothing written during the snapshot is lost: capture is installed before the snapshot starts, the
 * watermark is not moved by it, and every change in the changelog is applied afterwards by reading
 * the row's current state, which is never older than what the snapshot copied.
 *
 * Every snapshot leaves the source's rows readable throughout (see postgres/replace.ts): a first copy
 * into a target without rows of the source only adds rows (plan fill); a re-snapshot (changelog
 * recreated, capture repaired, settings changed, columns added) replaces each chunk's key range in the
 * chunk's transaction (plan range), or, for keys whose order PostgreSQL cannot reproduce, upserts chunk
 * by chunk and deletes the rows no chunk saw with the last one (plan sweep). Nothing is deleted before
 * the rows that replace it were read from MySQL.
 */
import { faultPoint } from '../faults';
import type { SourceValue } from '../model';
import { estimateRows, snapshotChunkReader } from '../mysql/changes';
import { inTransaction, type PoolClient, targetQuery } from '../postgres/connection';
import { SOURCE_COLUMN } from '../postgres/internal-columns';
import type { TargetTable } from '../postgres/schema';
import { mergeStage } from '../postgres/merge';
import {
  buildCreateSeenSql,
  buildDropSeenSql,
  buildHasSourceRowsSql,
  buildRangeDeleteSql,
  buildRememberSeenSql,
  buildSweepUnseenSql,
  KEEP_OP,
  keyOrderIsExact,
  seenTable,
} from '../postgres/replace';
import { type Checkpoint, type SnapshotPlan, unitState } from '../postgres/state';
import { copyLines, CopyText, ensureStage, stageColumns } from '../postgres/stage';
import { conflictRejects, encodeKeyOnly, encodeRowText, type Reject, rowKey, stageHead, stageLine, stageLineText, storedRejects } from '../convert/rows';
import { addLineRow, copyLinePlan } from '../convert/copy-line';
import { type Runtime, stateUnit, type Unit, unitKey } from './runtime';
import { builtUniqueIndexes } from '../postgres/indexes';
import { buildIndexesAfterSnapshot } from './target-indexes';
import { countIds } from './gaps';
import { snapshotFloor } from './floor';

export interface SnapshotOutcome {
  rows: number;
  /** Rows of the source removed from the target because the source no longer has them. */
  removed: number;
  rejects: Reject[];
}

/** How this snapshot replaces the source's rows; decided once, when it starts. */
async function choosePlan(client: PoolClient, where: string, table: TargetTable, sourceId: string): Promise<SnapshotPlan> {
  const present = await targetQuery<{ present: boolean }>(client, where, `looking for rows of ${sourceId} in ${table.name}`, buildHasSourceRowsSql(table), [sourceId]);
  if (present.rows[0]?.present !== true) return 'fill';
  return keyOrderIsExact(table) ? 'range' : 'sweep';
}

/** A signal that fires ends the snapshot after the chunk in progress, which is committed as usual. */
export async function snapshotUnit(runtime: Runtime, unit: Unit, client: PoolClient, checkpoint: Checkpoint, signal?: AbortSignal): Promise<SnapshotOutcome> {
  const { target } = runtime;
  const sourceId = unit.source.id;
  const table = unit.target;
  const state = unitState(client, target.where, stateUnit(unit));
  const log = runtime.logger.child({ source: sourceId, table: unit.sourceTable.name });
  const chunkSize = runtime.config.snapshotChunkSize;
  const seen = seenTable(sourceId, unit.sourceTable.name);
  let after: SourceValue[] | null = checkpoint.snapshotState === 'running' ? checkpoint.snapshotAfter : null;

  let plan: SnapshotPlan;
  // A snapshot begun by an earlier version (no plan stored) had already emptied or kept the source's
  // rows itself: it goes on upserting, without deleting anything.
  let upsertOnly = false;
  if (checkpoint.snapshotState === 'pending') {
    // A replacing snapshot covers every change committed before it starts: the changelog is read from
    // its floor on (floor.ts). A refresh (columns added) keeps the changes below the watermark counted.
    const floor = checkpoint.snapshotMode === 'refresh' ? null : await snapshotFloor(unit, checkpoint.highWater);
    plan = await inTransaction(client, target.where, `starting snapshot of ${table.name}`, async () => {
      await state.beginSnapshot();
      if (floor) await state.raiseWatermark(floor.highWater, floor.gaps);
      const chosen = await choosePlan(client, target.where, table, sourceId);
      await state.setSnapshotPlan(chosen);
      if (chosen === 'sweep') for (const sql of buildCreateSeenSql(table, seen)) await targetQuery(client, target.where, `preparing snapshot of ${table.name}`, sql);
      return chosen;
    });
    if (floor) {
      // Changelog rows below the floor are covered by this snapshot: let the clean-up prune them.
      runtime.prunedUpTo.delete(unitKey(sourceId, unit.sourceTable.name));
      log.info('changelog is read from the snapshot floor on', { floor: floor.highWater, writersAlive: floor.writers, gapRanges: floor.gaps.length, gapIds: countIds(floor.gaps) });
    }
    log.info(checkpoint.snapshotMode === 'refresh' ? 'refresh started' : 'snapshot started', { plan });
  } else {
    plan = checkpoint.snapshotPlan ?? 'fill';
    upsertOnly = checkpoint.snapshotPlan === null;
    log.info('snapshot resumed', { rows: checkpoint.snapshotRows, plan });
  }
  // Rows go through the stage and merge when they may meet rows already there: older versions of the
  // source's own rows (range, sweep), or other sources' rows in one key space; and rows of a table with
  // unique indexes, whose merge clears rows they make out of date. Otherwise straight in.
  const viaStage = plan !== 'fill' || upsertOnly || !table.keyIncludesSource || (await builtUniqueIndexes(client, target.where, table)).length > 0;
  // Keys of rows kept out are staged too, so that their last good version is not deleted.
  const keepKeys = plan === 'range' || plan === 'sweep';

  let total = 0;
  let removed = 0;
  const allRejects: Reject[] = [];
  const started = Date.now();
  const estimate = Math.max(await estimateRows(unit.source, unit.sourceTable.name), checkpoint.snapshotState === 'running' ? checkpoint.snapshotRows : 0);
  const done0 = checkpoint.snapshotState === 'running' ? checkpoint.snapshotRows : 0;
  // Rows come as one line each where every column allows it (see convert/copy-line.ts).
  const linePlan = copyLinePlan(table, unit.sourceTable);
  // The next chunk is read while this one is copied and committed (see snapshotChunkReader).
  const reader = snapshotChunkReader(unit.source, unit.sourceTable, chunkSize, linePlan?.columns);
  const sourceHead = sourceId + '\t';
  try {
    return await copyChunks();
  } finally {
    reader.close();
  }

  async function copyChunks(): Promise<SnapshotOutcome> {
    for (;;) {
      const chunkStarted = Date.now();
      let rows = 0;
      let last: SourceValue[] | null = null;
      const from = after;
      const rejects: Reject[] = [];
      let chunkRemoved = 0;
      await inTransaction(client, target.where, `copying snapshot of ${table.name}`, async () => {
        async function* lines(): AsyncGenerator<Buffer> {
          const text = new CopyText();
          for await (const batch of reader.read(from)) {
            for (let row of batch) {
              if (linePlan !== null) {
                const full = addLineRow(linePlan, text, viaStage ? stageHead('U', sourceId, table, rowKey(table, row)) : sourceHead, row);
                if (full === null) continue;
                row = full;
              }
              const fields = encodeRowText(sourceId, table, row, unit.tableConfig.onBadValue, rejects);
              if (fields === null) {
                if (keepKeys) text.add(keepLine(sourceId, table, rowKey(table, row)));
                continue;
              }
              text.add(viaStage ? stageLineText('U', sourceId, table, rowKey(table, row), fields) : sourceId + '\t' + fields + '\n');
            }
            rows += batch.length;
            if (batch.length > 0) last = rowKey(table, batch[batch.length - 1]!);
            yield* text.take(false);
          }
          yield* text.take(true);
        }
        if (viaStage) {
          const stage = await ensureStage(client, target.where, table);
          await copyLines(client, target.where, stage, stageColumns(table), lines());
          const merged = await mergeStage(client, target.where, table, stage);
          rejects.push(...conflictRejects(merged.conflicts));
          const lastChunk = rows < chunkSize;
          if (plan === 'range') {
            // This chunk's range: after the previous chunk's last key, up to its own last key (open-ended
            // for the last chunk, which so also removes rows beyond the source's last key).
            const bounds = { lower: from !== null, upper: !lastChunk };
            const params = [sourceId, ...(from ?? []), ...(lastChunk ? [] : last!)];
            const deleted = await targetQuery(client, target.where, `replacing a key range of ${table.name}`, buildRangeDeleteSql(table, stage, bounds), params);
            chunkRemoved += deleted.rowCount ?? 0;
          } else if (plan === 'sweep') {
            await targetQuery(client, target.where, `recording keys of ${table.name}`, buildRememberSeenSql(table, seen, stage));
            if (lastChunk) {
              const deleted = await targetQuery(client, target.where, `removing rows of ${table.name} the source no longer has`, buildSweepUnseenSql(table, seen), [sourceId]);
              chunkRemoved += deleted.rowCount ?? 0;
              await targetQuery(client, target.where, `finishing snapshot of ${table.name}`, buildDropSeenSql(seen));
            }
          }
        } else {
          await copyLines(client, target.where, table.qualified, [SOURCE_COLUMN, ...table.columns.map((c) => c.name)], lines());
        }
        await state.recordRejects(storedRejects(table, rejects));
        if (rows > 0) await state.recordSnapshotProgress(last!, rows);
        if (rows < chunkSize) await state.finishSnapshot();
        faultPoint('during-snapshot');
      });
      // A crash right after a chunk committed: the next run resumes after it.
      if (rows === chunkSize) faultPoint('after-snapshot-chunk');
      total += rows;
      removed += chunkRemoved;
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
        removed: chunkRemoved,
        ms: Date.now() - chunkStarted,
      });
      if (rows < chunkSize) break;
      after = last;
      if (signal?.aborted) {
        log.info('snapshot stopped; the next run resumes it from here', { done });
        return { rows: total, removed, rejects: allRejects };
      }
    }
    log.info('snapshot done', { rows: total, removed, plan, ms: Date.now() - started });
    await buildIndexesAfterSnapshot(runtime, unit);
    return { rows: total, removed, rejects: allRejects };
  }
}

/** A staged key-only line for a row kept out; nothing when not even its key fits PostgreSQL. */
function keepLine(sourceId: string, table: TargetTable, key: readonly SourceValue[]): string {
  try {
    return stageLine(KEEP_OP, sourceId, table, key, encodeKeyOnly(sourceId, table, key));
  } catch {
    return '';
  }
}
