/**
 * A sync pass: every (source, table) unit once, at most `concurrency` at a time. Returns one result
 * per unit as a value; printing and exit codes are the CLI's business.
 */
import pLimit from 'p-limit';
import { TributaryError } from '../errors';
import { type CaptureState, type ChangelogEdge, readCaptureState } from '../mysql/capture';
import { type Evidence, readChangelogEdges, readEvidence } from '../mysql/changes';
import { captureProblems, namesOf } from '../mysql/capture';
import { probeUnits, recordPass as storePassOutcomes, type UnitProbe } from '../postgres/state';
import { asTributaryError, markSourceDown, probeDueSources, recheckRefusedSources, rejoinRecovered, type SourceAvailability, sourceAvailability } from './outages';
import { buildUnits, prepareRuntime, type Runtime, type Unit, unitKey, usingSource } from './runtime';
import { retryPendingIndexes } from './target-indexes';
import { settingsUnchanged } from './settings';
import { blankResult, emptyResult, syncUnit, type UnitResult } from './unit';
import { heartbeatConsumers } from './consumers';

export interface PassResult {
  startedAt: Date;
  ms: number;
  units: UnitResult[];
  failed: number;
  skipped: number;
  /** Every source, up or down (with the reason), at the end of the pass. */
  sources: SourceAvailability[];
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
  if (!options.units) await refreshSources(runtime);
  const available = (options.units ?? runtime.units).filter((u) => !runtime.outages.has(u.source.id));
  let results = await runUnits(runtime, available, options.dryRun === true, options.signal);
  if (!options.units) results = await rerunReshaped(runtime, results, options.dryRun === true, options.signal);
  if (!options.units) results = inConfigurationOrder(runtime, [...results, ...unavailableResults(runtime, results)]);
  if (!options.dryRun) await recordPass(runtime, results);
  if (!options.dryRun) await heartbeatConsumers(runtime);
  if (!options.dryRun) await retryPendingIndexes(runtime);
  return {
    startedAt,
    ms: Date.now() - startedAt.getTime(),
    units: results,
    failed: results.filter((r) => r.status === 'failed').length,
    skipped: results.filter((r) => r.status === 'skipped').length,
    sources: sourceAvailability(runtime),
  };
}

/**
 * A source whose columns changed since the units were prepared: prepare it again (evolving the
 * target tables) and run its units once more, now with their new shape.
 */
async function rerunReshaped(runtime: Runtime, results: UnitResult[], dryRun: boolean, signal: AbortSignal | undefined): Promise<UnitResult[]> {
  const changed = results.filter((r) => r.errorCode === 'SOURCE_SHAPE_CHANGED');
  if (changed.length === 0) return results;
  const sources = [...new Set(changed.map((r) => r.sourceId))];
  runtime.logger.info('source table columns changed; preparing target tables again', { sources });
  await prepareRuntime(runtime, { sources });
  const again = runtime.units.filter((u) => changed.some((r) => r.sourceId === u.source.id && r.table === u.sourceTable.name));
  const rerun = await runUnits(runtime, again, dryRun, signal);
  return results.map((r) => rerun.find((x) => x.sourceId === r.sourceId && x.table === r.table) ?? r);
}

/**
 * Before a pass: sources that came back join again (their shapes merged into the target tables), and
 * in a long-running process the down sources whose pause is over are tried again in the background.
 */
async function refreshSources(runtime: Runtime): Promise<void> {
  rejoinRecovered(runtime);
  if (runtime.unitsStale) await buildUnits(runtime);
  if (runtime.longRunning) {
    probeDueSources(runtime);
    recheckRefusedSources(runtime);
  }
}

/** A failed result for a (source, table) that was not run, with the reason. */
function notRunResult(sourceId: string, table: string, target: string, error: TributaryError, sourceDown: boolean): UnitResult {
  return {
    ...blankResult(sourceId, table, target),
    status: 'failed',
    reason: error.message,
    errorCode: error.code,
    ...(sourceDown ? { sourceDown: true } : {}),
  };
}

/** The tables of down sources and the refused tables, as failed results, unless run in this pass. */
function unavailableResults(runtime: Runtime, ran: readonly UnitResult[]): UnitResult[] {
  const seen = new Set(ran.map((r) => JSON.stringify([r.sourceId, r.table])));
  const out: UnitResult[] = [];
  for (const [sourceId, outage] of runtime.outages) {
    for (const table of runtime.config.tables) out.push(notRunResult(sourceId, table.name, table.target, outage.error, true));
  }
  for (const refused of runtime.refused) {
    if (!runtime.outages.has(refused.sourceId)) out.push(notRunResult(refused.sourceId, refused.table, refused.target, refused.error, false));
  }
  return out.filter((r) => !seen.has(JSON.stringify([r.sourceId, r.table])));
}

/** Results table by table, source by source, as configured, whatever order they ran in. */
function inConfigurationOrder(runtime: Runtime, results: UnitResult[]): UnitResult[] {
  const tableIndex = new Map(runtime.config.tables.map((t, i) => [t.name, i]));
  const sourceIndex = new Map(runtime.config.sources.map((s, i) => [s.id, i]));
  return [...results].sort((a, b) => tableIndex.get(a.table)! - tableIndex.get(b.table)! || sourceIndex.get(a.sourceId)! - sourceIndex.get(b.sourceId)!);
}

async function runUnits(runtime: Runtime, units: readonly Unit[], dryRun: boolean, signal: AbortSignal | undefined): Promise<UnitResult[]> {
  const services = {
    captureState: memo<CaptureState>(async (sourceId) => {
      const prepared = runtime.preparedStates.get(sourceId);
      runtime.preparedStates.delete(sourceId);
      // The idle probe reads the changelog edges in the same statement (see findIdleUnits).
      return prepared ?? readCaptureState(runtime.sources.get(sourceId)!, runtime.config.tables, dryRun ? {} : { edges: true, registry: runtime.config.consumers.table });
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
        // Its source was found down earlier in this pass: not tried again until its next retry.
        const outage = runtime.outages.get(unit.source.id);
        if (outage) return Promise.resolve(notRunResult(unit.source.id, unit.sourceTable.name, unit.target.name, outage.error, true));
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
  let probe: UnitProbe[];
  try {
    probe = await probeUnits(runtime.target.pool, runtime.target.where);
  } catch {
    return idle;
  }
  const checkpoints = new Map(probe.map((row) => [unitKey(row.sourceId, row.table), row]));
  const bySource = new Map<string, Unit[]>();
  for (const unit of units) bySource.set(unit.source.id, [...(bySource.get(unit.source.id) ?? []), unit]);
  await Promise.all(
    [...bySource].map(([sourceId, sourceUnits]) =>
      limit(() =>
        usingSource(runtime, sourceUnits[0]!.source, async () => {
          let state: CaptureState;
          try {
            state = await captureState(sourceId);
          } catch (error) {
            // The source's units find out for themselves; one that cannot be reached is put aside now,
            // so its units do not each wait on it.
            if (error instanceof TributaryError && error.code === 'SOURCE_UNREACHABLE') markSourceDown(runtime, sourceId, error);
            return;
          }
          if (state.shape !== runtime.fingerprints.get(sourceId)) return;
          const candidates = sourceUnits.flatMap((unit) => {
            const probed = checkpoints.get(unitKey(sourceId, unit.sourceTable.name));
            return probed !== undefined && looksIdle(runtime, unit, probed, state) ? [{ unit, highWater: probed.highWater }] : [];
          });
          for (const [unit, highWater] of await onlySentinelLeft(candidates, state)) idle.set(unit, highWater);
        }),
      ),
    ),
  );
  return idle;
}

/** What the target and the capture check say: snapshot done, nothing broken, no gap, same columns, settings and changelog. */
function looksIdle(runtime: Runtime, unit: Unit, probed: UnitProbe, state: CaptureState): boolean {
  const names = namesOf(unit.sourceTable);
  const columns = unit.target.columns.map((c) => c.name);
  const synced = probed.syncedColumns;
  return (
    !unit.blocked &&
    !unit.targetCreated &&
    probed.snapshotState === 'done' &&
    !probed.captureBroken &&
    !probed.schemaChangeSeen &&
    !state.onlineSchemaChange.has(unit.sourceTable.name) &&
    !probed.hasGaps &&
    probed.changelogToken !== null &&
    probed.changelogToken === state.changelogs.get(names.changelog)?.token &&
    Array.isArray(synced) &&
    synced.length === columns.length &&
    columns.every((c) => synced.includes(c)) &&
    settingsUnchanged(probed.syncedSettings, unit, runtime.config.target.schema) &&
    captureProblems(unit.sourceTable, unit.sourceTable, state, unit.changelogTable).length === 0
  );
}

/**
 * The candidates (all of one source) whose changelog holds only the sentinel row at their watermark,
 * or nothing at all before the first change. The edges come with the capture check when it read them
 * (the same statement, so no later than the check that found capture complete); else one query for
 * all of them. On error, none.
 */
async function onlySentinelLeft(candidates: readonly { unit: Unit; highWater: number }[], state: CaptureState): Promise<Map<Unit, number>> {
  const idle = new Map<Unit, number>();
  if (candidates.length === 0) return idle;
  const changelogOf = (unit: Unit): string => namesOf(unit.sourceTable).changelog;
  const read = state.edges;
  const edges =
    read && candidates.every((c) => read.has(changelogOf(c.unit)))
      ? read
      : await readChangelogEdges(candidates[0]!.unit.source, candidates.map((c) => changelogOf(c.unit))).catch(() => new Map<string, ChangelogEdge>());
  for (const { unit, highWater } of candidates) {
    const edge = edges.get(changelogOf(unit));
    if (!edge) continue;
    const empty = edge.lo === null && edge.hi === null && highWater === 0;
    const sentinelOnly = edge.lo === highWater && edge.hi === highWater;
    if (empty || sentinelOnly) idle.set(unit, highWater);
  }
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
      const unreachable = error instanceof TributaryError && error.code === 'SOURCE_UNREACHABLE';
      // A long-running process tries an unreachable source again on its own schedule (outages.ts)
      // rather than holding up this pass; a one-shot run gives it a few tries here.
      const retry = transient && attempt < RETRY_DELAYS_MS.length && !(unreachable && runtime.longRunning) && !runtime.outages.has(unit.source.id) && !services.signal?.aborted;
      if (unreachable && !retry) markSourceDown(runtime, unit.source.id, asTributaryError(error));
      if (retry) {
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
    await storePassOutcomes(
      runtime.target.pool,
      runtime.target.where,
      touched.map((r) => ({ sourceId: r.sourceId, table: r.table, error: r.status === 'failed' ? (r.reason ?? 'failed') : null })),
    );
  } catch (error) {
    runtime.logger.warn('could not record the pass in the target', { error: error instanceof Error ? error.message : String(error) });
  }
}
