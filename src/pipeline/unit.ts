/**
 * One pass over one (source, table) unit, as a list of steps (syncUnit reads top-down): check capture;
 * then, holding the unit's lock, reconcile the checkpoint with the changelog (and this target's entry
 * among its readers), snapshot if due, prune what an earlier run left, drain the changelog batch by
 * batch, publish progress and sweep, warn about old gaps.
 * The unit is fenced by a PostgreSQL advisory lock for the whole pass.
 */
import { TributaryError } from '../errors';
import type { Logger } from '../log';
import { captureProblems, captureProblemsAgain, type CaptureState, namesOf, onlyMoving } from '../mysql/capture';
import { estimateRows, type Evidence } from '../mysql/changes';
import { beginEnclosing, connectTarget, inTransaction, type PoolClient, rollbackEnclosing } from '../postgres/connection';
import { forgetStages } from '../postgres/stage';
import { type Checkpoint, type StoredGap, type UnitState, unitState } from '../postgres/state';
import { type AppliedCounts, applyBatch, StageRead } from './apply';
import { afterPass, enterConsumer, pruneApplied, sweepApplied } from './consumers';
import { countIds, gapsAfter, inGaps, openGapIds } from './gaps';
import { type Batch, isEmptyBatch, pollBatch } from './poll';
import { type Runtime, stateUnit, type Unit, unitKey } from './runtime';
import { describeKey, type Reject } from '../convert/rows';
import { decideCatchUp } from './catch-up';
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
  /** Re-snapshots taken instead of draining a backlog (adaptive catch-up, catch-up.ts). */
  catchUpSnapshots: number;
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
  return blankResult(unit.source.id, unit.sourceTable.name, unit.target.name);
}

/** A result with nothing done yet, for a (source, table) whether or not it has a prepared unit. */
export function blankResult(sourceId: string, table: string, target: string): UnitResult {
  return {
    sourceId,
    table,
    target,
    status: 'ok',
    snapshotRows: 0,
    catchUpSnapshots: 0,
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
  // A table whose target cannot take its settings (see prepareRuntime) stops alone.
  if (unit.blocked) throw unit.blocked;
  const capture = await checkCapture(runtime, unit, services);
  if (capture.skipped !== undefined) return { ...result, status: 'skipped', reason: capture.skipped, ms: Date.now() - started };
  const locked = await withUnitLock(runtime, unit, services.dryRun, async (client) => {
    const pass = unitPass(runtime, unit, services, result, client, capture);
    let checkpoint = await reconcileCheckpoint(pass);
    if (services.dryRun && checkpoint.snapshotState !== 'done') return estimateSnapshot(pass, checkpoint);
    if (checkpoint.snapshotState !== 'done') checkpoint = await snapshot(pass, checkpoint);
    // A snapshot cut short by a stop is resumed by the next pass; changes wait until it is done.
    if (services.signal?.aborted) return stopped(pass);
    const gaps = await pass.state.gaps(runtime.config.gaps.recheckSeconds);
    await pruneLeftovers(pass, checkpoint, gaps);
    const position = await drainChanges(pass, { highWater: checkpoint.highWater, gaps });
    // A catch-up re-snapshot cut short by a stop: the next pass resumes it.
    if (position.snapshotUnfinished) return stopped(pass);
    await recordPruned(pass, position);
    await publishAndSweep(pass, position);
    warnOldGaps(pass, position.gaps);
  });
  if (locked === 'locked') {
    runtime.logger.info('unit is being applied by another process; skipped', { source: unit.source.id, table: unit.sourceTable.name });
    return { ...result, status: 'skipped', reason: 'locked by another process', ms: Date.now() - started };
  }
  return { ...result, ms: Date.now() - started };
}

/** What the steps of one unit's pass share. */
interface UnitPass {
  runtime: Runtime;
  unit: Unit;
  services: PassServices;
  /** Filled in as the steps go (a failed pass still reports what it did). */
  result: UnitResult;
  client: PoolClient;
  state: UnitState;
  log: Logger;
  /** The changelog's install token as the capture check found it. */
  token: string | null;
  /** pt-online-schema-change is at work on the table (its triggers are on it). */
  schemaChanging: boolean;
}

/** What the capture check found: the changelog's token, or why the unit is skipped this pass. */
interface CaptureCheck {
  token: string | null;
  schemaChanging: boolean;
  skipped?: string;
}

/** Where the changelog has been applied to: the watermark and the gaps below it. */
interface Position {
  highWater: number;
  gaps: StoredGap[];
  /** A catch-up re-snapshot began in this pass and was stopped before its last chunk. */
  snapshotUnfinished?: boolean;
}

function unitPass(runtime: Runtime, unit: Unit, services: PassServices, result: UnitResult, client: PoolClient, capture: CaptureCheck): UnitPass {
  const state = unitState(client, runtime.target.where, stateUnit(unit));
  const log = runtime.logger.child({ source: unit.source.id, table: unit.sourceTable.name });
  return { runtime, unit, services, result, client, state, log, token: capture.token, schemaChanging: capture.schemaChanging };
}

/**
 * Refuses to sync a unit whose capture is incomplete (and remembers it, so the repaired capture leads
 * to a fresh snapshot) or whose source columns changed since the pass was prepared. A table that
 * pt-online-schema-change is swapping is skipped until it is done (and remembered, so that it is
 * refreshed then).
 */
async function checkCapture(runtime: Runtime, unit: Unit, services: PassServices): Promise<CaptureCheck> {
  const tableName = unit.sourceTable.name;
  const state = await services.captureState(unit.source.id);
  if (runtime.fingerprints.has(unit.source.id) && state.shape !== runtime.fingerprints.get(unit.source.id)) {
    throw new TributaryError('SOURCE_SHAPE_CHANGED', `columns of tables in ${unit.source.where} changed since the pass was prepared`);
  }
  let problems = captureProblems(unit.sourceTable, unit.sourceTable, state, unit.changelogTable);
  if (problems.some((p) => p.kind === 'trigger-missing')) problems = await captureProblemsAgain(unit.source, unit.sourceTable, unit.sourceTable, unit.changelogTable);
  const schemaChanging = state.onlineSchemaChange.has(tableName);
  if (schemaChanging && !services.dryRun) await rememberSchemaChange(runtime, unit);
  const token = state.changelogs.get(namesOf(unit.sourceTable).changelog)?.token ?? null;
  if (onlyMoving(problems)) {
    runtime.logger.info('pt-online-schema-change is swapping this table; skipped until it is done', { source: unit.source.id, table: tableName, detail: problems.map((p) => p.message).join('; ') });
    return { token, schemaChanging, skipped: 'online schema change in progress' };
  }
  if (problems.length > 0) {
    const code = problems[0]!.kind === 'table-missing' ? 'SOURCE_TABLE_MISSING' : problems[0]!.kind === 'name-taken' ? 'NAME_TAKEN' : 'TRIGGER_DRIFT';
    if (code === 'TRIGGER_DRIFT' && !services.dryRun) await rememberBrokenCapture(runtime, unit);
    throw new TributaryError(code, `capture of ${tableName} in ${unit.source.where} is incomplete, refusing to sync it: ${problems.map((p) => p.message).join('; ')}`);
  }
  return { token, schemaChanging };
}

/** Remembers that pt-online-schema-change was seen at work, so that the table is refreshed once it is done. */
function rememberSchemaChange(runtime: Runtime, unit: Unit): Promise<void> {
  return markOnOwnConnection(runtime, unit, 'recording an online schema change', (state) => state.markSchemaChangeSeen());
}

/** Remembers that capture was found incomplete, so that its repair leads to a fresh snapshot. */
function rememberBrokenCapture(runtime: Runtime, unit: Unit): Promise<void> {
  return markOnOwnConnection(runtime, unit, 'recording incomplete capture', (state) => state.markCaptureBroken());
}

/** A mark on the unit's checkpoint, written outside the unit's lock and transaction (the pass is refusing the table). */
async function markOnOwnConnection(runtime: Runtime, unit: Unit, doing: string, mark: (state: ReturnType<typeof unitState>) => Promise<void>): Promise<void> {
  const client = await connectTarget(runtime.target, doing);
  try {
    const state = unitState(client, runtime.target.where, stateUnit(unit));
    await state.load();
    await mark(state);
  } finally {
    client.release();
  }
}

/**
 * Runs fn on a target client holding the unit's lock, or returns 'locked' when another process holds
 * it. A dry run's work is enclosed in a transaction that is rolled back. A client whose connection
 * failed is not unlocked (the lock went with the session) and does not go back to the pool.
 */
async function withUnitLock(runtime: Runtime, unit: Unit, dryRun: boolean, fn: (client: PoolClient) => Promise<unknown>): Promise<'locked' | 'done'> {
  const where = runtime.target.where;
  const client = await connectTarget(runtime.target, `syncing ${unit.sourceTable.name}`);
  const state = unitState(client, where, stateUnit(unit));
  let broken = false;
  try {
    if (!(await state.tryLock())) return 'locked';
    try {
      if (dryRun) await beginEnclosing(client, where);
      await fn(client);
      return 'done';
    } catch (error) {
      broken = isBrokenConnection(error);
      throw error;
    } finally {
      if (dryRun) await rollbackEnclosing(client);
      if (!broken) await state.unlock().catch(() => (broken = true));
    }
  } finally {
    if (broken) forgetStages(client);
    client.release(broken ? true : undefined);
  }
}

function isBrokenConnection(error: unknown): boolean {
  return error instanceof TributaryError && (error.code === 'TARGET_UNREACHABLE' || (error.transient && error.code.startsWith('TARGET')));
}

/**
 * The checkpoint as this pass must start from it: the changelog token recorded on first use (a
 * different one means the changelog was recreated: start over), a re-snapshot when the table's
 * settings were edited (settings.ts), a fresh snapshot requested when
 * capture was broken since an earlier pass, a refresh when pt-online-schema-change has finished or
 * source columns were added.
 */
async function reconcileCheckpoint(pass: UnitPass): Promise<Checkpoint> {
  const { state, token, services } = pass;
  let checkpoint = await state.load();
  if (checkpoint.changelogToken === null) {
    await state.setChangelogToken(token);
  } else if (checkpoint.changelogToken !== token) {
    checkpoint = await restart(pass, 'the changelog table was recreated (its install token changed)');
  }
  checkpoint = await noticeSettingChanges(pass.client, pass.runtime, pass.unit, checkpoint);
  checkpoint = await enterConsumer(pass.runtime, pass.unit, checkpoint, services.dryRun, (why) => restart(pass, why));
  if (checkpoint.captureBrokenAt !== null && !services.dryRun) {
    pass.log.warn('capture was incomplete since an earlier pass; changes made meanwhile never reached the changelog, so the table is snapshotted again', {
      brokenSince: checkpoint.captureBrokenAt,
    });
    await state.requestResnapshot();
    checkpoint = await state.load();
  }
  if (checkpoint.schemaChangeSeenAt !== null && !pass.schemaChanging && !services.dryRun) {
    pass.log.info('pt-online-schema-change is done; the rows of this table are re-read once, since its trigger move can let a key change reach the changelog with its old key only');
    await state.refreshAfterSchemaChange();
    checkpoint = await state.load();
  }
  return noticeNewColumns(pass, checkpoint);
}

/** Forgets the unit's progress (the changelog was recreated or emptied): it is snapshotted again. */
async function restart(pass: UnitPass, why: string): Promise<Checkpoint> {
  const { runtime, unit, state } = pass;
  pass.log.warn(`${why}; changes made while capture was missing are unknown, so the table is snapshotted again`);
  await inTransaction(pass.client, runtime.target.where, 'resetting checkpoint', () => state.reset(pass.token));
  const reset = await state.load();
  runtime.prunedUpTo.set(unitKey(unit.source.id, unit.sourceTable.name), reset.highWater);
  return reset;
}

/**
 * Columns added to the source since the unit last synced got their values from ALTER TABLE, which no
 * trigger sees: the unit's rows are refreshed (re-read and upserted) once.
 */
async function noticeNewColumns(pass: UnitPass, checkpoint: Checkpoint): Promise<Checkpoint> {
  const { runtime, unit, state } = pass;
  const columns = unit.target.columns.map((c) => c.name);
  const before = checkpoint.syncedColumns;
  if (before !== null && columns.length === before.length && columns.every((c) => before.includes(c))) return checkpoint;
  const added = before === null ? [] : columns.filter((c) => !before.includes(c));
  const refresh = added.length > 0 && checkpoint.snapshotState === 'done';
  await inTransaction(pass.client, runtime.target.where, 'recording synced columns', async () => {
    if (refresh) await state.requestRefresh();
    await state.setSyncedColumns(columns);
  });
  if (!refresh) return checkpoint;
  pass.log.info('columns added in the source; refreshing the rows of this table', { columns: added });
  return state.load();
}

/** The pass was asked to stop: what is committed stays, the next pass resumes from there. */
function stopped(pass: UnitPass): void {
  pass.result.reason = 'stopped; the next run resumes here';
}

/** A dry run does not copy a pending snapshot: it reports the source's estimated row count. */
async function estimateSnapshot(pass: UnitPass, checkpoint: Checkpoint): Promise<void> {
  pass.result.snapshotRows = await estimateRows(pass.unit.source, pass.unit.sourceTable.name);
  pass.result.reason = `${checkpoint.snapshotMode === 'refresh' ? 'refresh' : 'snapshot'} pending (row count estimated)`;
}

/** Takes (or resumes) the snapshot; returns the checkpoint after it, whose watermark it may raise (floor.ts). */
async function snapshot(pass: UnitPass, checkpoint: Checkpoint): Promise<Checkpoint> {
  noteSnapshot(pass, await snapshotUnit(pass.runtime, pass.unit, pass.client, checkpoint, pass.services.signal));
  return pass.state.load();
}

function noteSnapshot(pass: UnitPass, outcome: SnapshotOutcome): void {
  pass.result.snapshotRows += outcome.rows;
  noteRejects(pass, outcome.rejects);
}

/** Counts rejected values and logs the first few of them; the rest are in tributary.rejects. */
function noteRejects(pass: UnitPass, rejects: readonly Reject[]): void {
  pass.result.rejects += rejects.length;
  for (const reject of rejects.slice(0, 20)) {
    pass.log.warn(reject.action === 'nulled' ? 'value stored as NULL: PostgreSQL cannot hold it' : 'row kept out: PostgreSQL cannot hold a value', {
      key: describeKey(pass.unit.target, reject.key),
      column: reject.column,
      reason: reject.reason,
    });
  }
  if (rejects.length > 20) pass.log.warn('more rejected values; see tributary.rejects', { count: rejects.length - 20 });
}

/**
 * Applied changelog rows that another process left in the source (it died between a commit and its
 * prune): looked for when the checkpoint says a prune was pending and this process did not leave the
 * unit at that watermark itself (first pass, or another process applied since).
 */
async function pruneLeftovers(pass: UnitPass, checkpoint: Checkpoint, gaps: readonly StoredGap[]): Promise<void> {
  const { runtime, unit } = pass;
  const key = unitKey(unit.source.id, unit.sourceTable.name);
  const retention = runtime.config.retention.seconds;
  if (pass.services.dryRun || !checkpoint.prunePending || runtime.prunedUpTo.get(key) === checkpoint.highWater) return;
  const leftovers = await sweepApplied(runtime, unit, checkpoint.highWater, (changeId) => inGaps(gaps, changeId));
  if (leftovers > 0) pass.log.info('removed applied changelog rows another process left', { rows: leftovers });
  runtime.prunedUpTo.set(key, checkpoint.highWater);
  runtime.retentionPrunedAt.set(key, Date.now());
  if (retention === 0) await pass.state.clearPrunePending(checkpoint.highWater);
}

/** A batch read from the changelog with the read of its rows under way, or what the read failed with. */
type BatchRead = { batch: Batch; rows: StageRead } | { failed: unknown };

/**
 * Applies batches until the changelog is caught up (a batch that comes back less than full).
 *
 * Read-ahead: while a full batch applies in PostgreSQL, the next one is read from MySQL (changelog,
 * then the rows of its keys), starting from the position the applying batch commits: its new
 * watermark and the gap list its plan leaves, the values the loop moves to once it has committed.
 * Only reads run ahead, one batch at most, and each batch's read still starts after the read of the
 * one before has ended, so the gap rule (gaps.ts: evidence first, then the changelog) sees the same
 * sequence of reads as without it. A batch applies only after the one before it committed, and is
 * dropped unapplied when that one fails. The prune of a committed batch runs while the next one
 * applies; it is awaited before the next prune and before the pass goes on.
 */
async function drainChanges(pass: UnitPass, from: Position): Promise<Position> {
  const { batchSize } = pass.runtime.config;
  let position = from;
  // Asked once, before the first batch that applies; a unit with nothing to apply is not asked.
  let rejectsMayExist: boolean | null = null;
  let next: Promise<BatchRead> | null = readBatch(pass, position);
  let pruning: Promise<unknown> = Promise.resolve();
  try {
    for (;;) {
      if (pass.services.signal?.aborted) break;
      const batchStarted = Date.now();
      const read: BatchRead = await next!;
      next = null;
      if ('failed' in read) {
        await pruning;
        position = await restartAfterReset(pass, read.failed);
        rejectsMayExist = null;
        next = readBatch(pass, position);
        continue;
      }
      const { batch, rows } = read;
      pass.log.debug('batch read', { afterChangeId: position.highWater, changes: batch.changes.length, gapsWatched: position.gaps.length, ms: Date.now() - batchStarted });
      if (isEmptyBatch(batch)) break;
      const after: Position = { highWater: batch.plan.newHighWater, gaps: gapsAfter(position.gaps, batch.plan, batch.readAt) };
      const full = batch.freshChanges >= batchSize;
      if (full && !pass.services.signal?.aborted) next = readBatch(pass, after);
      rejectsMayExist ??= await pass.state.hasRejects();
      const counts = await applyBatch(pass.unit, pass.client, pass.runtime.target.where, batch, rows, rejectsMayExist);
      position = after;
      if (counts.rejects.length > 0) rejectsMayExist = true;
      await pruning;
      // With retention (this target's or another reader's), applied rows are pruned by age after the pass.
      if (!pass.services.dryRun) pruning = pruneApplied(pass.runtime, pass.unit, batch);
      // A failed prune is reported where it is awaited (before the next prune, or after the loop);
      // this keeps it from counting as unhandled until then.
      pruning.catch(() => undefined);
      countBatch(pass, batch, counts, batchStarted);
      if (!full) break;
      pass.result.fullBatches++;
      if (pass.result.fullBatches === 1) {
        // Before a catch-up re-snapshot, the read-ahead from the old position is dropped and the prune
        // finished: the snapshot uses the same connections and moves the position.
        const caughtUp = await catchUpBySnapshot(pass, position, async () => {
          await settle(next);
          next = null;
          await pruning;
        });
        if (caughtUp === 'dry run') break;
        if (caughtUp) {
          position = caughtUp;
          if (position.snapshotUnfinished) break;
          rejectsMayExist = null;
          next = readBatch(pass, position);
        }
      }
    }
    await pruning;
    // Every batch of this pass is pruned: a later pass of this process need not look for leftovers.
    if (!pass.services.dryRun && !position.snapshotUnfinished) pass.runtime.prunedUpTo.set(unitKey(pass.unit.source.id, pass.unit.sourceTable.name), position.highWater);
  } finally {
    await settle(next);
    await pruning.catch(() => undefined);
  }
  pass.result.highWater = position.highWater;
  pass.result.openGaps = openGapIds(position.gaps);
  return position;
}

/**
 * A unit far behind catches up by a hole-free re-snapshot instead of draining (catch-up.ts); returns
 * the position after it, or null to go on draining. The changelog rows the snapshot covers are pruned
 * as applied. A dry run reports what it would do and stops draining. beforeSnapshot runs just before
 * the snapshot is requested.
 */
async function catchUpBySnapshot(pass: UnitPass, position: Position, beforeSnapshot: () => Promise<void>): Promise<Position | null | 'dry run'> {
  const { runtime, state, log } = pass;
  const decision = await decideCatchUp(pass.unit, position.highWater, { percent: runtime.config.catchUpPercent, batchSize: runtime.config.batchSize });
  if (!decision?.resnapshot) return null;
  const facts = { pendingAtLeast: decision.pending, estimatedRows: decision.estimatedRows, threshold: decision.threshold, catchUpPercent: runtime.config.catchUpPercent };
  if (pass.services.dryRun) {
    log.info('would catch up by re-snapshot instead of draining (dry run)', facts);
    pass.result.reason = `catch-up by re-snapshot pending: over ${decision.threshold} changes waiting, the table has about ${decision.estimatedRows} rows`;
    return 'dry run';
  }
  log.info('far behind: catching up by re-snapshot instead of draining the backlog', facts);
  await beforeSnapshot();
  await inTransaction(pass.client, runtime.target.where, 'requesting a catch-up snapshot', () => state.requestResnapshot());
  const checkpoint = await snapshot(pass, await state.load());
  pass.result.catchUpSnapshots++;
  const gaps = await state.gaps(runtime.config.gaps.recheckSeconds);
  if (checkpoint.snapshotState !== 'done') return { highWater: checkpoint.highWater, gaps, snapshotUnfinished: true };
  await pruneLeftovers(pass, checkpoint, gaps);
  return { highWater: checkpoint.highWater, gaps };
}

/** Reads the next batch from the changelog and starts reading the rows of its keys. Never rejects. */
async function readBatch(pass: UnitPass, position: Position): Promise<BatchRead> {
  const { runtime, unit, services } = pass;
  try {
    const batch = await pollBatch(unit, {
      highWater: position.highWater,
      gaps: position.gaps,
      batchSize: runtime.config.batchSize,
      timeoutSeconds: runtime.config.gaps.timeoutSeconds,
      evidence: () => services.evidence(unit.source.id),
    });
    return { batch, rows: new StageRead(unit, batch.keys) };
  } catch (error) {
    return { failed: error };
  }
}

/** Waits for a batch read that will not be applied to end, so that no query of it outlives the pass. */
async function settle(read: Promise<BatchRead> | null): Promise<void> {
  if (read === null) return;
  const done = await read;
  if ('failed' in done) return;
  done.rows.drop();
  await done.rows.settled;
}

/**
 * When the changelog was emptied or recreated, a fresh snapshot and the position it leaves (its
 * floor, and the gaps below it a live writer may still fill); any other read failure is thrown.
 */
async function restartAfterReset(pass: UnitPass, error: unknown): Promise<Position> {
  const { runtime, unit, services } = pass;
  if (!(error instanceof TributaryError) || error.code !== 'CHANGELOG_RESET' || services.dryRun) throw error;
  const restarted = await restart(pass, error.message);
  const checkpoint = await snapshot(pass, await enterConsumer(runtime, unit, restarted, false, (why) => restart(pass, why)));
  return { highWater: checkpoint.highWater, gaps: await pass.state.gaps(runtime.config.gaps.recheckSeconds) };
}

/** Counts and logs an applied batch. */
function countBatch(pass: UnitPass, batch: Batch, counts: AppliedCounts, started: number): void {
  const { result, log } = pass;
  if (result.batches === 0) result.lagSeconds = batch.lagSeconds;
  result.batches++;
  result.changes += batch.changes.length;
  result.inserted += counts.inserted;
  result.updated += counts.updated;
  result.deleted += counts.deleted;
  noteRejects(pass, counts.rejects);
  result.expiredGaps += batch.plan.expiredIds;
  result.lateChanges += batch.plan.late.length;
  if (batch.plan.late.length > 0) log.warn('changes arrived after their gap had expired; applied', { changeIds: batch.plan.late });
  if (batch.plan.expiredIds > 0) log.info('gaps expired: their transactions ended without committing', { firstIds: batch.plan.expired.slice(0, 20), count: batch.plan.expiredIds });
  result.batchMs.push(Date.now() - started);
  log.info(pass.services.dryRun ? 'batch would apply (dry run, rolled back)' : 'batch applied', {
    batch: result.batches,
    rows: batch.changes.length,
    inserted: counts.inserted,
    updated: counts.updated,
    deleted: counts.deleted,
    rejects: counts.rejects.length,
    ms: Date.now() - started,
  });
}

/**
 * Every batch of this pass was pruned right after its commit: nothing is left to look for. A
 * long-running process looks for leftovers once at its start anyway: it skips this write.
 */
async function recordPruned(pass: UnitPass, position: Position): Promise<void> {
  const { runtime, services, result } = pass;
  if (services.dryRun || runtime.config.retention.seconds > 0 || result.batches === 0 || runtime.longRunning) return;
  await pass.state.clearPrunePending(position.highWater);
}

/**
 * Tells the changelog's other readers how far this target has applied, and now and then sweeps rows
 * every reader has applied or that are past retention (src/pipeline/consumers.ts).
 */
async function publishAndSweep(pass: UnitPass, position: Position): Promise<void> {
  if (pass.services.dryRun) return;
  await afterPass(pass.runtime, pass.unit, position.highWater, position.gaps);
}

function warnOldGaps(pass: UnitPass, gaps: readonly StoredGap[]): void {
  const now = Date.now() / 1000;
  const old = gaps.filter((g) => !g.expired && now - g.firstSeenEpoch > pass.runtime.config.gaps.alertSeconds);
  if (old.length > 0) {
    pass.log.warn('changes are held back by a long-open transaction; they will be applied when it commits', {
      firstIds: old.slice(0, 20).map((g) => g.first),
      count: countIds(old),
      oldestSeconds: Math.round(now - Math.min(...old.map((g) => g.firstSeenEpoch))),
    });
  }
}
