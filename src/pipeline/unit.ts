/**
 * One pass over one (source, table) unit: check capture, snapshot if needed, then apply batches until
 * the changelog is caught up. The unit is fenced by a PostgreSQL advisory lock for the whole pass.
 */
import { TributaryError } from '../errors';
import { captureProblems, captureProblemsAgain, type CaptureState, namesOf, onlyMoving } from '../mysql/capture';
import { estimateRows } from '../mysql/changes';
import {
  type Checkpoint,
  clearPrunePending,
  loadCheckpoint,
  loadGaps,
  markCaptureBroken,
  markSchemaChangeSeen,
  refreshAfterSchemaChange,
  requestResnapshot,
  requestRefresh,
  resetCheckpoint,
  setSyncedColumns,
  setChangelogToken,
  type StoredGap,
  tryLockUnit,
  unlockUnit,
} from '../postgres/checkpoint';
import { beginEnclosing, connectTarget, inTransaction, type PoolClient, rollbackEnclosing } from '../postgres/connection';
import { forgetStages } from '../postgres/stage';
import { applyBatch } from './apply';
import { afterPass, enterConsumer, pruneApplied, sweepApplied } from './consumers';
import { countIds, type Evidence, gapsAfter, inGaps, openGapIds } from './gaps';
import { isEmptyBatch, pollBatch } from './poll';
import { type Runtime, type Unit, unitKey } from './runtime';
import { describeKey, type Reject } from '../convert/rows';
import { noticeSettingChanges } from './settings';
import { type SnapshotOutcome, snapshotUnit } from './snapshot';

export interface UnitResult {
  sourceId: string;
  table: string;
  target: string;
  status: 'ok' | 'skipped' | 'failed';
  /** Why a unit was skipped or failed. */
  reason?: string;
  errorCode?: string;
  /** Not run because its source was down (found in an earlier pass or earlier in this one). */
  sourceDown?: boolean;
  snapshotRows: number;
  batches: number;
  /** Batches that came back full: more was waiting when the pass moved on (none when caught up). */
  fullBatches: number;
  changes: number;
  inserted: number;
  updated: number;
  deleted: number;
  openGaps: number;
  expiredGaps: number;
  lateChanges: number;
  /** Values PostgreSQL could not hold: rows kept out or values set to NULL (tributary.rejects). */
  rejects: number;
  highWater: number;
  /** Age of the oldest pending change when the pass found it (0 when nothing was pending). */
  lagSeconds: number;
  /** Duration of each applied batch. */
  batchMs: number[];
  ms: number;
}

export interface PassServices {
  captureState: (sourceId: string) => Promise<CaptureState>;
  evidence: (sourceId: string) => Promise<Evidence>;
  /** Compute what the pass would do, inside a transaction that is rolled back; prune nothing. */
  dryRun: boolean;
  /** Once aborted, the unit stops at its next snapshot chunk or batch boundary, progress committed. */
  signal?: AbortSignal;
}

export function emptyResult(unit: Unit): UnitResult {
  return {
    sourceId: unit.source.id,
    table: unit.sourceTable.name,
    target: unit.target.name,
    status: 'ok',
    snapshotRows: 0,
    batches: 0,
    fullBatches: 0,
    changes: 0,
    inserted: 0,
    updated: 0,
    deleted: 0,
    openGaps: 0,
    expiredGaps: 0,
    lateChanges: 0,
    rejects: 0,
    highWater: 0,
    lagSeconds: 0,
    batchMs: [],
    ms: 0,
  };
}

export async function syncUnit(runtime: Runtime, unit: Unit, services: PassServices, result: UnitResult): Promise<UnitResult> {
  const started = Date.now();
  const { config } = runtime;
  const where = runtime.target.where;
  const tableName = unit.sourceTable.name;
  const id = { sourceId: unit.source.id, table: tableName };
  const log = runtime.logger.child({ source: unit.source.id, table: tableName });

  // A table whose target cannot take its settings (see prepareRuntime) stops alone.
  if (unit.blocked) throw unit.blocked;
  const state = await services.captureState(unit.source.id);
  if (runtime.fingerprints.has(unit.source.id) && state.shape !== runtime.fingerprints.get(unit.source.id)) {
    throw new TributaryError('SOURCE_SHAPE_CHANGED', `columns of tables in ${unit.source.where} changed since the pass was prepared`);
  }
  let problems = captureProblems(unit.sourceTable, unit.sourceTable, state, unit.changelogTable);
  if (problems.some((p) => p.kind === 'trigger-missing')) problems = await captureProblemsAgain(unit.source, unit.sourceTable, unit.sourceTable, unit.changelogTable);
  const schemaChanging = state.onlineSchemaChange.has(tableName);
  if (schemaChanging && !services.dryRun) await rememberSchemaChange(runtime, unit, id);
  if (onlyMoving(problems)) {
    log.info('pt-online-schema-change is swapping this table; skipped until it is done', { detail: problems.map((p) => p.message).join('; ') });
    return { ...result, status: 'skipped', reason: 'online schema change in progress', ms: Date.now() - started };
  }
  if (problems.length > 0) {
    const code = problems[0]!.kind === 'table-missing' ? 'SOURCE_TABLE_MISSING' : problems[0]!.kind === 'name-taken' ? 'NAME_TAKEN' : 'TRIGGER_DRIFT';
    if (code === 'TRIGGER_DRIFT' && !services.dryRun) await rememberBrokenCapture(runtime, unit, id);
    throw new TributaryError(code, `capture of ${tableName} in ${unit.source.where} is incomplete, refusing to sync it: ${problems.map((p) => p.message).join('; ')}`);
  }
  const token = state.changelogs.get(namesOf(unit.sourceTable).changelog)?.token ?? null;

  const noteRejects = (rejects: readonly Reject[]): void => {
    result.rejects += rejects.length;
    for (const reject of rejects.slice(0, 20)) {
      log.warn(reject.action === 'nulled' ? 'value stored as NULL: PostgreSQL cannot hold it' : 'row kept out: PostgreSQL cannot hold a value', {
        key: describeKey(unit.target, reject.key),
        column: reject.column,
        reason: reject.reason,
      });
    }
    if (rejects.length > 20) log.warn('more rejected values; see tributary.rejects', { count: rejects.length - 20 });
  };
  const noteSnapshot = (outcome: SnapshotOutcome): void => {
    result.snapshotRows += outcome.rows;
    noteRejects(outcome.rejects);
  };

  const client = await connectTarget(runtime.target, `syncing ${tableName}`);
  let broken = false;
  try {
    if (!(await tryLockUnit(client, where, id))) {
      log.info('unit is being applied by another process; skipped');
      return { ...result, status: 'skipped', reason: 'locked by another process', ms: Date.now() - started };
    }
    if (services.dryRun) await beginEnclosing(client, where);
    try {
      let checkpoint = await loadCheckpoint(client, where, id, unit.target.name);
      if (checkpoint.changelogToken === null) {
        await setChangelogToken(client, where, id, token);
      } else if (checkpoint.changelogToken !== token) {
        checkpoint = await restart(client, runtime, unit, token, 'the changelog table was recreated (its install token changed)');
      }
      checkpoint = await noticeSettingChanges(client, runtime, unit, checkpoint);
      checkpoint = await enterConsumer(runtime, unit, checkpoint, services.dryRun, (why) => restart(client, runtime, unit, token, why));
      if (checkpoint.captureBrokenAt !== null && !services.dryRun) {
        log.warn('capture was incomplete since an earlier pass; changes made meanwhile never reached the changelog, so the table is snapshotted again', {
          brokenSince: checkpoint.captureBrokenAt,
        });
        await requestResnapshot(client, where, id);
        checkpoint = await loadCheckpoint(client, where, id, unit.target.name);
      }
      if (checkpoint.schemaChangeSeenAt !== null && !schemaChanging && !services.dryRun) {
        log.info('pt-online-schema-change is done; the rows of this table are re-read once, since its trigger move can let a key change reach the changelog with its old key only');
        await refreshAfterSchemaChange(client, where, id);
        checkpoint = await loadCheckpoint(client, where, id, unit.target.name);
      }
      checkpoint = await noticeNewColumns(client, runtime, unit, checkpoint);
      if (services.dryRun && checkpoint.snapshotState !== 'done') {
        result.snapshotRows = await estimateRows(unit.source, tableName);
        return { ...result, reason: `${checkpoint.snapshotMode === 'refresh' ? 'refresh' : 'snapshot'} pending (row count estimated)`, ms: Date.now() - started };
      }
      if (checkpoint.snapshotState !== 'done') {
        noteSnapshot(await snapshotUnit(runtime, unit, client, checkpoint, services.signal));
        checkpoint = await loadCheckpoint(client, where, id, unit.target.name); // the snapshot may raise the watermark (floor.ts)
      }
      // A snapshot cut short by a stop is resumed by the next pass; changes wait until it is done.
      if (services.signal?.aborted) return { ...result, reason: 'stopped; the next run resumes here', ms: Date.now() - started };

      let gaps = await loadGaps(client, where, id, config.gaps.recheckSeconds);
      const key = unitKey(unit.source.id, tableName);
      const retention = config.retention.seconds;
      if (!services.dryRun && checkpoint.prunePending && !runtime.cleanedUnits.has(key)) {
        const leftovers = await sweepApplied(runtime, unit, checkpoint.highWater, (changeId) => inGaps(gaps, changeId));
        if (leftovers > 0) log.info('removed applied changelog rows left by an earlier run', { rows: leftovers });
        runtime.cleanedUnits.add(key);
        runtime.retentionPrunedAt.set(key, Date.now());
        if (retention === 0) await clearPrunePending(client, where, id, checkpoint.highWater);
      }

      let highWater = checkpoint.highWater;
      for (;;) {
        if (services.signal?.aborted) break;
        const batchStarted = Date.now();
        let batch;
        try {
          batch = await pollBatch(unit, {
            highWater,
            gaps,
            batchSize: config.batchSize,
            timeoutSeconds: config.gaps.timeoutSeconds,
            evidence: () => services.evidence(unit.source.id),
          });
        } catch (error) {
          if (!(error instanceof TributaryError) || error.code !== 'CHANGELOG_RESET' || services.dryRun) throw error;
          checkpoint = await restart(client, runtime, unit, token, error.message);
          checkpoint = await enterConsumer(runtime, unit, checkpoint, false, (why) => restart(client, runtime, unit, token, why));
          noteSnapshot(await snapshotUnit(runtime, unit, client, checkpoint, services.signal));
          highWater = (await loadCheckpoint(client, where, id, unit.target.name)).highWater;
          gaps = await loadGaps(client, where, id, config.gaps.recheckSeconds);
          continue;
        }
        log.debug('batch read', { afterChangeId: highWater, changes: batch.changes.length, gapsWatched: gaps.length, ms: Date.now() - batchStarted });
        if (isEmptyBatch(batch)) break;
        if (result.batches === 0) result.lagSeconds = batch.lagSeconds;
        const counts = await applyBatch(unit, client, where, batch);
        // With retention, applied rows are pruned by age below instead of right away.
        if (!services.dryRun) await pruneApplied(runtime, unit, batch);
        result.batches++;
        result.changes += batch.changes.length;
        result.inserted += counts.inserted;
        result.updated += counts.updated;
        result.deleted += counts.deleted;
        noteRejects(counts.rejects);
        result.expiredGaps += batch.plan.expiredIds;
        result.lateChanges += batch.plan.late.length;
        if (batch.plan.late.length > 0) log.warn('changes arrived after their gap had expired; applied', { changeIds: batch.plan.late });
        if (batch.plan.expiredIds > 0) log.info('gaps expired: their transactions ended without committing', { firstIds: batch.plan.expired.slice(0, 20), count: batch.plan.expiredIds });
        result.batchMs.push(Date.now() - batchStarted);
        log.info(services.dryRun ? 'batch would apply (dry run, rolled back)' : 'batch applied', {
          batch: result.batches,
          rows: batch.changes.length,
          inserted: counts.inserted,
          updated: counts.updated,
          deleted: counts.deleted,
          rejects: counts.rejects.length,
          ms: Date.now() - batchStarted,
        });
        gaps = gapsAfter(gaps, batch.plan, batch.readAt);
        highWater = batch.plan.newHighWater;
        if (batch.freshChanges < config.batchSize) break;
        result.fullBatches++;
      }
      result.highWater = highWater;
      result.openGaps = openGapIds(gaps);
      // Every batch of this pass was pruned right after its commit: nothing is left to look for.
      // A long-running process looks for leftovers once at its start anyway: it skips this write.
      if (!services.dryRun && retention === 0 && result.batches > 0 && !runtime.longRunning) await clearPrunePending(client, where, id, highWater);
      if (!services.dryRun) await afterPass(runtime, unit, highWater, gaps);
      warnOldGaps(runtime, unit, gaps);
    } catch (error) {
      broken = isBrokenConnection(error);
      throw error;
    } finally {
      if (services.dryRun) await rollbackEnclosing(client);
      if (!broken) await unlockUnit(client, where, id).catch(() => (broken = true));
    }
  } finally {
    if (broken) forgetStages(client);
    // A client whose connection failed must not go back to the pool.
    client.release(broken ? true : undefined);
  }
  return { ...result, ms: Date.now() - started };
}

async function rememberSchemaChange(runtime: Runtime, unit: Unit, id: { sourceId: string; table: string }): Promise<void> {
  const client = await connectTarget(runtime.target, 'recording an online schema change');
  try {
    await loadCheckpoint(client, runtime.target.where, id, unit.target.name);
    await markSchemaChangeSeen(client, runtime.target.where, id);
  } finally {
    client.release();
  }
}

/** Remembers that capture was found incomplete, so that its repair leads to a fresh snapshot. */
async function rememberBrokenCapture(runtime: Runtime, unit: Unit, id: { sourceId: string; table: string }): Promise<void> {
  const client = await connectTarget(runtime.target, 'recording incomplete capture');
  try {
    await loadCheckpoint(client, runtime.target.where, id, unit.target.name);
    await markCaptureBroken(client, runtime.target.where, id);
  } finally {
    client.release();
  }
}

function isBrokenConnection(error: unknown): boolean {
  return error instanceof TributaryError && (error.code === 'TARGET_UNREACHABLE' || (error.transient && error.code.startsWith('TARGET')));
}

async function restart(client: PoolClient, runtime: Runtime, unit: Unit, token: string | null, why: string): Promise<Checkpoint> {
  const id = { sourceId: unit.source.id, table: unit.sourceTable.name };
  runtime.logger.warn(`${why}; changes made while capture was missing are unknown, so the table is snapshotted again`, {
    source: unit.source.id,
    table: unit.sourceTable.name,
  });
  await inTransaction(client, runtime.target.where, 'resetting checkpoint', () => resetCheckpoint(client, runtime.target.where, id, token));
  runtime.cleanedUnits.add(unitKey(unit.source.id, unit.sourceTable.name));
  return loadCheckpoint(client, runtime.target.where, id, unit.target.name);
}

/**
 * Columns added to the source since the unit last synced got their values from ALTER TABLE, which no
 * trigger sees: the unit's rows are refreshed (re-read and upserted) once.
 */
async function noticeNewColumns(client: PoolClient, runtime: Runtime, unit: Unit, checkpoint: Checkpoint): Promise<Checkpoint> {
  const id = { sourceId: unit.source.id, table: unit.sourceTable.name };
  const where = runtime.target.where;
  const columns = unit.target.columns.map((c) => c.name);
  const before = checkpoint.syncedColumns;
  if (before !== null && columns.length === before.length && columns.every((c) => before.includes(c))) return checkpoint;
  const added = before === null ? [] : columns.filter((c) => !before.includes(c));
  await inTransaction(client, where, 'recording synced columns', async () => {
    if (added.length > 0 && checkpoint.snapshotState === 'done') await requestRefresh(client, where, id);
    await setSyncedColumns(client, where, id, columns);
  });
  if (added.length > 0 && checkpoint.snapshotState === 'done') {
    runtime.logger.info('columns added in the source; refreshing the rows of this table', { source: id.sourceId, table: id.table, columns: added });
    return loadCheckpoint(client, where, id, unit.target.name);
  }
  return checkpoint;
}

function warnOldGaps(runtime: Runtime, unit: Unit, gaps: StoredGap[]): void {
  const now = Date.now() / 1000;
  const old = gaps.filter((g) => !g.expired && now - g.firstSeenEpoch > runtime.config.gaps.alertSeconds);
  if (old.length > 0) {
    runtime.logger.warn('changes are held back by a long-open transaction; they will be applied when it commits', {
      source: unit.source.id,
      table: unit.sourceTable.name,
      firstIds: old.slice(0, 20).map((g) => g.first),
      count: countIds(old),
      oldestSeconds: Math.round(now - Math.min(...old.map((g) => g.firstSeenEpoch))),
    });
  }
}
