/**
 * The long-running loops: `sync --follow` (pass after pass) and the daemon (a pass on every tick of
 * the node-cron schedule). Both stop when their AbortSignal fires: the pass in progress ends at its
 * next chunk or batch boundary with its progress committed, then the loop resolves. Who aborts (a
 * signal handler in the CLI, a library caller) is not this module's business.
 */
import { schedule } from 'node-cron';
import type { PassResult } from './pass';
import { runPass } from './pass';
import type { Runtime } from './runtime';

export interface LoopOptions {
  /** Ends the loop: the current pass stops at its next chunk or batch boundary. */
  signal: AbortSignal;
  /** Called with every finished pass. */
  onPass?: (result: PassResult) => void;
  /** Called when a pass fails as a whole (the target down, say), for the health check. */
  onError?: (error: unknown) => void;
}

// A pass that fails as a whole (the target is down) is tried again after a growing pause, not every
// pollInterval: 1 s, doubling, at most a minute. A source that is down does not fail the pass: it is
// retried on its own schedule (see outages.ts).
const FAILED_PASS_FIRST_MS = 1_000;
const FAILED_PASS_MAX_MS = 60_000;
const failedPassPause = (failures: number): number => Math.min(FAILED_PASS_FIRST_MS * 2 ** (failures - 1), FAILED_PASS_MAX_MS);

/** Resolves after ms, or at once when the signal fires. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return pause(2 ** 31 - 1, signal);
}

/**
 * `sync --follow`: near-real-time. A new pass starts at once while the last one found changes (more
 * are likely coming), otherwise after pollInterval.
 */
export async function runFollow(runtime: Runtime, { signal, onPass, onError }: LoopOptions): Promise<void> {
  const log = runtime.logger;
  runtime.longRunning = true;
  log.info('following changes', { pollIntervalMs: runtime.config.pollInterval, units: runtime.units.length });
  let failedPasses = 0;
  while (!signal.aborted) {
    let busy = false;
    try {
      const result = await runPass(runtime, { signal });
      failedPasses = 0;
      onPass?.(result);
      busy = result.units.some((u) => u.status === 'ok' && u.changes > 0);
    } catch (error) {
      failedPasses++;
      onError?.(error);
      log.error('pass failed', { error: error instanceof Error ? error.message : String(error), retryInSeconds: failedPassPause(failedPasses) / 1000 });
    }
    if (!busy) await pause(failedPasses > 0 ? failedPassPause(failedPasses) : runtime.config.pollInterval, signal);
  }
}

/** The daemon: a pass on every schedule tick; a tick that finds a pass still running is skipped. */
export async function runDaemon(runtime: Runtime, { signal, onPass, onError }: LoopOptions): Promise<void> {
  const log = runtime.logger;
  let running: Promise<void> | null = null;

  const tick = (): void => {
    if (signal.aborted) return;
    if (running) {
      log.info('previous pass still running; tick skipped');
      return;
    }
    running = runPass(runtime, { signal })
      .then((result) => onPass?.(result))
      .catch((error: unknown) => {
        onError?.(error);
        log.error('pass failed', { error: error instanceof Error ? error.message : String(error) });
      })
      .finally(() => {
        running = null;
      });
  };

  runtime.longRunning = true;
  const task = schedule(runtime.config.schedule, tick, { name: 'tributary-sync' });
  log.info('daemon started', { schedule: runtime.config.schedule, units: runtime.units.length });
  tick();
  try {
    await untilAborted(signal);
  } finally {
    await task.stop();
  }
  await running;
}
