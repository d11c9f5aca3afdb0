/**
 * SIGTERM/SIGINT for a running command. The first signal aborts the work's AbortSignal: a pass ends at
 * its next snapshot chunk or batch boundary with its progress committed, and the command exits as
 * usual. A second signal exits at once with ExitCode.interrupted (the open transaction is rolled back
 * by the server; the next run redoes it). The handlers are removed when the work ends.
 */
import type { Logger } from '../log';
import { ExitCode } from './exit-codes';

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export async function untilStopped<T>(logger: Logger, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      logger.warn('second signal; exiting now', { signal, exitCode: ExitCode.interrupted });
      process.exit(ExitCode.interrupted);
    }
    logger.info('stopping after the current chunk or batch (a second signal exits at once)', { signal });
    controller.abort();
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  try {
    return await work(controller.signal);
  } finally {
    for (const name of STOP_SIGNALS) process.off(name, onSignal);
  }
}
