/**
 * A sync pass: every (source, table) unit once, at most `concurrency` at a time. Returns one result
 * per unit as a value; printing and exit codes are the CLI's business.
 */
import pLimit from 'p-limit';
import { TributaryError } from '../errors';
import { type CaptureState, readCaptureState } from '../source/mysql/capture';
import { readEvidence } from '../source/mysql/changes';
import { targetQuery } from '../target/postgres/connection';
import { sqlFile } from '../sqlfiles';
import type { Evidence } from './gaps';
import { prepareRuntime, type Runtime, shapesChanged, type Unit } from './runtime';
import { emptyResult, syncUnit, type UnitResult } from './unit';

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

export async function runPass(runtime: Runtime, options: { units?: Unit[]; dryRun?: boolean } = {}): Promise<PassResult> {
  const startedAt = new Date();
  if (!options.units && (await shapesChanged(runtime))) {
    runtime.logger.info('source table columns changed; preparing target tables again');
    await prepareRuntime(runtime);
  }
  const units = options.units ?? runtime.units;
  const tableNames = [...new Set(units.map((u) => u.sourceTable.name))];
  const services = {
    captureState: memo<CaptureState>((sourceId) => readCaptureState(runtime.sources.get(sourceId)!, tableNames)),
    evidence: memo<Evidence>((sourceId) => readEvidence(runtime.sources.get(sourceId)!)),
    dryRun: options.dryRun === true,
  };
  const limit = pLimit(runtime.config.concurrency);
  const results = await Promise.all(units.map((unit) => limit(() => syncWithRetry(runtime, unit, services))));
  if (!options.dryRun) await recordPass(runtime, results);
  return {
    startedAt,
    ms: Date.now() - startedAt.getTime(),
    units: results,
    failed: results.filter((r) => r.status === 'failed').length,
    skipped: results.filter((r) => r.status === 'skipped').length,
  };
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
      if (transient && attempt < RETRY_DELAYS_MS.length) {
        log.warn('unit failed with a transient error; retrying', { error: message, attempt: attempt + 1, delayMs: RETRY_DELAYS_MS[attempt] });
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[attempt]));
        continue;
      }
      log.error('unit failed', { error: message, code: error instanceof TributaryError ? error.code : 'INTERNAL' });
      return {
        ...result,
        status: 'failed',
        reason: message,
        errorCode: error instanceof TributaryError ? error.code : 'INTERNAL',
      };
    }
  }
}

async function recordPass(runtime: Runtime, results: UnitResult[]): Promise<void> {
  const touched = results.filter((r) => r.status !== 'skipped');
  if (touched.length === 0) return;
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
