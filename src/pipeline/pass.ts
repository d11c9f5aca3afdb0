/**
 * A sync pass: every (source, table) unit once, at most `concurrency` at a time. Returns one result
 * per unit as a value; printing and exit codes are the CLI's business.
 */
import pLimit from 'p-limit';
import { TributaryError } from '../errors';
import { type CaptureState, readCaptureState } from '../mysql/capture';
import { readChangelogEdges, readEvidence } from '../mysql/changes';
import { captureProblems, namesOf } from '../mysql/capture';
import { targetQuery } from '../postgres/connection';
import { sqlFile } from '../sqlfiles';
import type { Evidence } from './gaps';
import { prepareRuntime, type Runtime, type Unit, usingSource } from './runtime';
import { retryPendingIndexes } from './target-indexes';
import { settingsUnchanged } from './settings';
import { emptyResult, syncUnit, type UnitResult } from './unit';
import { heartbeatConsumers } from './consumers';

export interface PassResult {
  startedAt: Date;
  ms: number;
  units: UnitResult[];
  failed: number;
  skipped: number;
}

// Transient failures (deadlock, dropped connection, server restarting) are retried a few times with
// growing pauses before the unit is reported failed; the next pass starts over anyway.
const RETRY_DELAYS_MS = [500, 2000, 5000];

function memo<T>(make: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const cache = new Map<string, Promise<T>>();
  return (key) => {
    let value = cache.get(key);
    if (!value) {
      value = make(key);
      // A failed read is retried by the next caller rather than cached.
      value.catch(() => cache.delete(key));
      cache.set(key, value);
    }
    return value;
  };
}

export interface PassOptions {
  /** Only these units (default: every prepared unit). */
  units?: Unit[];
  /** Compute what the pass would apply inside a transaction that is rolled back. */
  dryRun?: boolean;
  /**
   * Stops the pass early: each running unit ends at its next snapshot chunk or batch boundary with its
   * progress committed (the next pass resumes there), and units not started yet are skipped.
   */
  signal?: AbortSignal;
}

export async function runPass(runtime: Runtime, options: PassOptions = {}): Promise<PassResult> {
  const startedAt = new Date();
  let results = await runUnits(runtime, options.units ?? runtime.units, options.dryRun === true, options.signal);
  // A source whose columns changed since the units were prepared: prepare again (evolving the target
  // tables) and run its units once more, now with their new shape.
  const changed = results.filter((r) => r.errorCode === 'SOURCE_SHAPE_CHANGED');
  if (changed.length > 0 && !options.units) {
    runtime.logger.info('source table columns changed; preparing target tables again', { sources: [...new Set(changed.map((r) => r.sourceId))] });
    await prepareRuntime(runtime);
    const again = runtime.units.filter((u) => changed.some((r) => r.sourceId === u.source.id && r.table === u.sourceTable.name));
    const rerun = await runUnits(runtime, again, options.dryRun === true, options.signal);
    results = results.map((r) => rerun.find((x) => x.sourceId === r.sourceId && x.table === r.table) ?? r);
  }
  if (!options.dryRun) await recordPass(runtime, results);
  if (!options.dryRun) await heartbeatConsumers(runtime);
  if (!options.dryRun) await retryPendingIndexes(runtime);
  return {
    startedAt,
    ms: Date.now() - startedAt.getTime(),
    units: results,
    failed: results.filter((r) => r.status === 'failed').length,
    skipped: results.filter((r) => r.status === 'skipped').length,
  };
}

async function runUnits(runtime: Runtime, units: readonly Unit[], dryRun: boolean, signal: AbortSignal | undefined): Promise<UnitResult[]> {
  const services = {
    captureState: memo<CaptureState>(async (sourceId) => {
      const prepared = runtime.preparedStates.get(sourceId);
      runtime.preparedStates.delete(sourceId);
      return prepared ?? readCaptureState(runtime.sources.get(sourceId)!, runtime.config.tables);
    }),
    evidence: memo<Evidence>((sourceId) => readEvidence(runtime.sources.get(sourceId)!)),
    dryRun,
    ...(signal ? { signal } : {}),
  };
  // Source by source, so that only a few sources' connections are open at any time.
  const order = new Map([...runtime.sources.keys()].map((id, index) => [id, index]));
  const sorted = [...units].sort((a, b) => order.get(a.source.id)! - order.get(b.source.id)!);
  const limit = pLimit(runtime.config.concurrency);
  const idle = dryRun ? new Map<Unit, number>() : await findIdleUnits(runtime, sorted, services.captureState, limit);
  const results = await Promise.all(
    sorted.map((unit) => {
      const highWater = idle.get(unit);
      if (highWater !== undefined) {
        runtime.logger.debug('unit idle: nothing to apply', { source: unit.source.id, table: unit.sourceTable.name, highWater });
        return Promise.resolve({ ...emptyResult(unit), highWater });
      }
      return limit(() => {
        if (signal?.aborted) return Promise.resolve({ ...emptyResult(unit), status: 'skipped' as const, reason: 'stopped before this unit started' });
        return usingSource(runtime, unit.source, () => syncWithRetry(runtime, unit, services));
      });
    }),
  );
  // Results in configuration order, whatever order the units ran in.
  const byUnit = new Map(sorted.map((unit, index) => [unit, results[index]!]));
  return units.map((unit) => byUnit.get(unit)!);
}

/**
 * Units with provably nothing to do, with their watermark: snapshot done, capture complete and
 * unchanged, no gap watched, and a changelog holding only the sentinel row at the watermark (or nothing
 * at all before the first change). Found with one query per source and one for the target, so an
 * idle shard costs no per-table round trip. Anything uncertain is left to the normal path.
 */
async function findIdleUnits(runtime: Runtime, units: readonly Unit[], captureState: (id: string) => Promise<CaptureState>, limit: ReturnType<typeof pLimit>): Promise<Map<Unit, number>> {
  const idle = new Map<Unit, number>();
  let probe;
  try {
    probe = (await targetQuery(runtime.target.pool, runtime.target.where, 'probing units', sqlFile('state/pass_probe.sql'))).rows;
  } catch {
    return idle;
  }
  const checkpoints = new Map(probe.map((row) => [JSON.stringify([row.source_id, row.source_table]), row]));
  const bySource = new Map<string, Unit[]>();
  for (const unit of units) bySource.set(unit.source.id, [...(bySource.get(unit.source.id) ?? []), unit]);
  await Promise.all(
    [...bySource].map(([sourceId, sourceUnits]) =>
      limit(() =>
        usingSource(runtime, sourceUnits[0]!.source, async () => {
          const state = await captureState(sourceId);
          if (state.shape !== runtime.fingerprints.get(sourceId)) return;
          const candidates = sourceUnits.filter((unit) => {
            const row = checkpoints.get(JSON.stringify([sourceId, unit.sourceTable.name]));
            const names = namesOf(unit.sourceTable);
            const columns = unit.target.columns.map((c) => c.name);
            return (
              row !== undefined &&
              !unit.blocked &&
              !unit.targetCreated &&
              row.snapshot_state === 'done' &&
              !row.capture_broken &&
              !row.schema_change_seen &&
              !state.onlineSchemaChange.has(unit.sourceTable.name) &&
              !row.has_gaps &&
              row.changelog_token !== null &&
              row.changelog_token === state.changelogs.get(names.changelog)?.token &&
              Array.isArray(row.synced_columns) &&
              row.synced_columns.length === columns.length &&
              columns.every((c) => row.synced_columns.includes(c)) &&
              settingsUnchanged(row.synced_settings, unit, runtime.config.target.schema) &&
              captureProblems(unit.sourceTable, unit.sourceTable, state, unit.changelogTable).length === 0
            );
          });
          if (candidates.length === 0) return;
          const edges = await readChangelogEdges(candidates[0]!.source, candidates.map((u) => namesOf(u.sourceTable).changelog)).catch(
            () => new Map<string, { lo: number | null; hi: number | null }>(),
          );
          for (const unit of candidates) {
            const highWater = Number(checkpoints.get(JSON.stringify([sourceId, unit.sourceTable.name]))!.high_water);
            const edge = edges.get(namesOf(unit.sourceTable).changelog);
            if (!edge) continue;
            const empty = edge.lo === null && edge.hi === null && highWater === 0;
            const onlySentinel = edge.lo === highWater && edge.hi === highWater;
            if (empty || onlySentinel) idle.set(unit, highWater);
          }
        }),
      ),
    ),
  );
  return idle;
}

async function syncWithRetry(runtime: Runtime, unit: Unit, services: Parameters<typeof syncUnit>[2]): Promise<UnitResult> {
  const log = runtime.logger.child({ source: unit.source.id, table: unit.sourceTable.name });
  for (let attempt = 0; ; attempt++) {
    const result = emptyResult(unit);
    try {
      return await syncUnit(runtime, unit, services, result);
    } catch (error) {
      const transient = error instanceof TributaryError && error.transient;
      const message = error instanceof Error ? error.message : String(error);
      if (transient && attempt < RETRY_DELAYS_MS.length && !services.signal?.aborted) {
        log.warn('unit failed with a transient error; retrying', { error: message, attempt: attempt + 1, delayMs: RETRY_DELAYS_MS[attempt] });
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[attempt]));
        continue;
      }
      const code = error instanceof TributaryError ? error.code : 'INTERNAL';
      if (code === 'SOURCE_SHAPE_CHANGED') log.info(message);
      else log.error('unit failed', { error: message, code });
      return {
        ...result,
        status: 'failed',
        reason: message,
        errorCode: error instanceof TributaryError ? error.code : 'INTERNAL',
      };
    }
  }
}

// Follow mode runs several passes a second; last-pass times are written at most this often, and at
// once when a unit failed (the error is what an operator looks for).
const RECORD_EVERY_MS = 5000;

async function recordPass(runtime: Runtime, results: UnitResult[]): Promise<void> {
  const touched = results.filter((r) => r.status !== 'skipped');
  if (touched.length === 0) return;
  const failed = touched.some((r) => r.status === 'failed');
  if (runtime.longRunning && !failed && Date.now() - runtime.passRecordedAt < RECORD_EVERY_MS) return;
  runtime.passRecordedAt = Date.now();
  try {
    await targetQuery(runtime.target.pool, runtime.target.where, 'recording the pass', sqlFile('state/record_pass.sql'), [
      touched.map((r) => r.sourceId),
      touched.map((r) => r.table),
      touched.map((r) => (r.status === 'failed' ? (r.reason ?? 'failed') : null)),
    ]);
  } catch (error) {
    runtime.logger.warn('could not record the pass in the target', { error: error instanceof Error ? error.message : String(error) });
  }
}
