/**
 * `tributary sync` as a daemon: a pass on every tick of the node-cron schedule. Ticks never overlap
 * (a tick that finds a pass running is skipped with a log line). SIGTERM/SIGINT let the current pass
 * finish, then release everything; a second signal exits at once.
 */
import { schedule } from 'node-cron';
import type { PassResult } from './pass';
import { runPass } from './pass';
import type { Runtime } from './runtime';

/** Resolves on the first SIGTERM/SIGINT; a second one exits the process at once. */
function untilSignal(log: Runtime['logger'], onStop: () => void): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        log.warn('second signal; exiting now', { signal });
        process.exit(130);
      }
      stopping = true;
      log.info('stopping after the current pass', { signal });
      onStop();
      resolve();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

/**
 * `sync --follow`: near-real-time. A new pass starts at once while the last one found a full batch
 * (more is waiting) or any changes (more are likely coming), otherwise after pollInterval.
 */
export async function runFollow(runtime: Runtime, onPass: (result: PassResult) => void): Promise<void> {
  const log = runtime.logger;
  let stopping = false;
  let wake: (() => void) | null = null;
  const stopped = untilSignal(log, () => {
    stopping = true;
    wake?.();
  });
  runtime.longRunning = true;
  log.info('following changes', { pollIntervalMs: runtime.config.pollInterval, units: runtime.units.length });
  while (!stopping) {
    let busy = false;
    try {
      const result = await runPass(runtime);
      onPass(result);
      // Changes arrived during the last pass are likely followed by more: look again at once, and
      // sleep only once a pass finds nothing.
      busy = result.units.some((u) => u.status === 'ok' && u.changes > 0);
    } catch (error) {
      log.error('pass failed', { error: error instanceof Error ? error.message : String(error) });
    }
    if (busy || stopping) continue;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, runtime.config.pollInterval);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    wake = null;
  }
  await stopped;
}

export async function runDaemon(runtime: Runtime, onPass: (result: PassResult) => void): Promise<void> {
  const log = runtime.logger;
  let running: Promise<void> | null = null;
  let stopping = false;

  const tick = (): void => {
    if (stopping) return;
    if (running) {
      log.info('previous pass still running; tick skipped');
      return;
    }
    running = runPass(runtime)
      .then(onPass)
      .catch((error: unknown) => {
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

  await untilSignal(log, () => {
    stopping = true;
    void task.stop();
  });
  await running;
}
