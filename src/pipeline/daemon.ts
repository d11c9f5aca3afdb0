/**
 * `tributary sync` as a daemon: a pass on every tick of the node-cron schedule. Ticks never overlap
 * (a tick that finds a pass running is skipped with a log line). SIGTERM/SIGINT let the current pass
 * finish, then release everything; a second signal exits at once.
 */
import { schedule } from 'node-cron';
import type { PassResult } from './pass';
import { runPass } from './pass';
import type { Runtime } from './runtime';

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

  const task = schedule(runtime.config.schedule, tick, { name: 'tributary-sync' });
  log.info('daemon started', { schedule: runtime.config.schedule, units: runtime.units.length });
  tick();

  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      if (stopping) {
        log.warn('second signal; exiting now', { signal });
        process.exit(130);
      }
      stopping = true;
      log.info('stopping after the current pass', { signal });
      void task.stop();
      void Promise.resolve(running).then(() => resolve());
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
