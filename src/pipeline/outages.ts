/**
 * Sources that are down. One source being upgraded, failed over or firewalled is not an outage of the
 * whole sync: its tables are reported failed with the reason while every other source carries on, and
 * a long-running process tries it again on its own schedule (capped exponential backoff), in the
 * background, so that no pass waits on its connect timeouts. It is logged once when it goes down and
 * once when it comes back.
 */
import { TributaryError } from '../errors';
import { acceptShapes, introspectSource, type Runtime, type SourceShapes, usingSource } from './runtime';

export interface SourceOutage {
  /** Why the source is down (the last failure). */
  error: TributaryError;
  /** When it was first found down (ms since the epoch). */
  since: number;
  /** The pause before the next try; doubles on each failed try up to MAX_RETRY_MS. */
  delayMs: number;
  /** When the next try may start. */
  retryAt: number;
  /** A try under way, in the background. */
  probe: Promise<void> | null;
  /** What a successful try read: taken by the next pass, which builds the source's units again. */
  recovered: SourceShapes | null;
}

// A source that fails over comes back in seconds; one that is being upgraded may take an hour. The
// first try after a second, then twice the pause each time, never more than a minute apart.
export const FIRST_RETRY_MS = 1_000;
export const MAX_RETRY_MS = 60_000;

export const asTributaryError = (error: unknown): TributaryError =>
  error instanceof TributaryError ? error : new TributaryError('INTERNAL', error instanceof Error ? error.message : String(error), { cause: error });

/** Puts a source aside (logged once), or, when it already is, pushes its next try further away. */
export function markSourceDown(runtime: Runtime, sourceId: string, error: TributaryError): void {
  const now = Date.now();
  const outage = runtime.outages.get(sourceId);
  if (!outage) {
    runtime.outages.set(sourceId, { error, since: now, delayMs: FIRST_RETRY_MS, retryAt: now + FIRST_RETRY_MS, probe: null, recovered: null });
    runtime.logger.warn('source down', { source: sourceId, code: error.code, reason: error.message, retryInSeconds: FIRST_RETRY_MS / 1000 });
    return;
  }
  outage.error = error;
  outage.delayMs = Math.min(outage.delayMs * 2, MAX_RETRY_MS);
  outage.retryAt = now + outage.delayMs;
  runtime.logger.debug('source still down', { source: sourceId, code: error.code, reason: error.message, retryInSeconds: outage.delayMs / 1000 });
}

/** Starts, in the background, a try of every down source whose pause is over. Never waits. */
export function probeDueSources(runtime: Runtime): void {
  const now = Date.now();
  for (const [sourceId, outage] of runtime.outages) {
    if (outage.probe || outage.recovered || outage.retryAt > now) continue;
    const source = runtime.sources.get(sourceId)!;
    outage.probe = usingSource(runtime, source, () => introspectSource(runtime, source))
      .then(
        (shapes) => {
          outage.recovered = shapes;
        },
        (error: unknown) => markSourceDown(runtime, sourceId, asTributaryError(error)),
      )
      .finally(() => {
        outage.probe = null;
      });
  }
}

// A source none of whose tables can be synced (capture not installed yet, say) has no unit that would
// notice the fix; it is read again this often, so that `triggers install` takes effect without a restart.
export const RECHECK_REFUSED_MS = 10_000;

export interface RefusedRecheck {
  at: number;
  probe: Promise<void> | null;
  /** A fresh read whose shape differs from the one the units were built from. */
  changed: SourceShapes | null;
}

/** Starts, in the background, a new read of each reachable source that has tables but no unit. */
export function recheckRefusedSources(runtime: Runtime): void {
  const now = Date.now();
  for (const { id } of runtime.config.sources) {
    const shapes = runtime.shapes.get(id);
    if (!shapes || !runtime.refused.some((r) => r.sourceId === id) || runtime.outages.has(id) || runtime.units.some((u) => u.source.id === id)) continue;
    const check = runtime.rechecks.get(id) ?? { at: 0, probe: null, changed: null };
    runtime.rechecks.set(id, check);
    if (check.probe || check.changed || now - check.at < RECHECK_REFUSED_MS) continue;
    check.at = now;
    const source = runtime.sources.get(id)!;
    check.probe = usingSource(runtime, source, () => introspectSource(runtime, source))
      .then(
        (fresh) => {
          if (fresh.state.shape !== runtime.fingerprints.get(id)) check.changed = fresh;
        },
        (error: unknown) => markSourceDown(runtime, id, asTributaryError(error)),
      )
      .finally(() => {
        check.probe = null;
      });
  }
}

/** Takes back the sources whose last try succeeded (logged once); their units are built again. */
export function rejoinRecovered(runtime: Runtime): string[] {
  for (const [sourceId, check] of runtime.rechecks) {
    if (!check.changed) continue;
    acceptShapes(runtime, sourceId, check.changed);
    check.changed = null;
    runtime.logger.info('source tables changed; preparing them again', { source: sourceId });
  }
  const back: string[] = [];
  for (const [sourceId, outage] of runtime.outages) {
    if (!outage.recovered) continue;
    runtime.outages.delete(sourceId);
    acceptShapes(runtime, sourceId, outage.recovered);
    runtime.logger.info('source back', { source: sourceId, downSeconds: Math.round((Date.now() - outage.since) / 1000) });
    back.push(sourceId);
  }
  return back;
}

/** Waits for the tries under way (at shutdown). */
export async function settleProbes(runtime: Runtime): Promise<void> {
  await Promise.allSettled([...runtime.outages.values()].map((o) => o.probe));
}

export interface SourceAvailability {
  sourceId: string;
  up: boolean;
  /** While down: why, and since when. */
  reason?: string;
  errorCode?: string;
  downSince?: Date;
}

/** Every configured source, up or down, in configuration order. */
export function sourceAvailability(runtime: Runtime): SourceAvailability[] {
  return runtime.config.sources.map((source) => {
    const outage = runtime.outages.get(source.id);
    if (!outage) return { sourceId: source.id, up: true };
    return { sourceId: source.id, up: false, reason: outage.error.message, errorCode: outage.error.code, downSince: new Date(outage.since) };
  });
}
