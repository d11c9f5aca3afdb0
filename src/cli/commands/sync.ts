/** `tributary sync`: one pass (--once), a dry run, follow mode, or the daemon on the schedule. */
import type { Command } from 'commander';
import { TributaryError } from '../../errors';
import { Monitor } from '../../monitor';
import { runDaemon, runFollow } from '../../pipeline/daemon';
import { type PassResult, runPass } from '../../pipeline/pass';
import { prepareRuntime, type Runtime } from '../../pipeline/runtime';
import { withRuntime } from '../context';
import { ExitCode, passExitCode } from '../exit-codes';
import { outputTable } from '../format';
import { untilStopped } from '../signals';

interface SyncFlags {
  once?: boolean;
  follow?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export function registerSync(program: Command): void {
  program
    .command('sync')
    .description('apply changes: one pass with --once, continuously with --follow, otherwise a daemon on the configured schedule')
    .option('--once', 'run one pass and exit (for cron)')
    .option('--follow', 'near real time: pass after pass, pausing pollInterval when caught up')
    .option('--dry-run', 'report per table what a pass would insert, update and delete, and write nothing')
    .option('--json', 'print the run report as JSON (needs --once or --dry-run)')
    .action(async (opts: SyncFlags) => {
      checkFlags(opts);
      return withRuntime(program, (runtime) => untilStopped(runtime.logger, (signal) => sync(runtime, opts, signal)));
    });
}

/** Refused before connecting to anything, so a wrong command line costs nothing. */
function checkFlags(opts: SyncFlags): void {
  if ([opts.once, opts.follow, opts.dryRun].filter(Boolean).length > 1) {
    throw new TributaryError('CONFIG_INVALID', '--once, --follow and --dry-run exclude each other');
  }
  if (opts.json && !opts.once && !opts.dryRun) {
    throw new TributaryError('CONFIG_INVALID', '--json prints the report of one pass: use it with --once or --dry-run (follow mode and the daemon report through logs and /metrics)');
  }
}

async function sync(runtime: Runtime, opts: SyncFlags, signal: AbortSignal): Promise<number> {
  const monitor = new Monitor(runtime.config, runtime.logger);
  await prepareRuntime(runtime);
  if (signal.aborted) return ExitCode.ok;
  if (opts.once || opts.dryRun) {
    const dryRun = opts.dryRun === true;
    const result = await runPass(runtime, { dryRun, signal });
    if (!dryRun) await monitor.record(result);
    if (opts.json) process.stdout.write(JSON.stringify(passReport(result, dryRun), null, 2) + '\n');
    else printPass(result, dryRun);
    return passExitCode(result);
  }
  await monitor.serve();
  try {
    const log = runtime.logger;
    if (opts.follow) {
      await runFollow(runtime, {
        signal,
        onPass: (result) => {
          void monitor.record(result);
          // Follow mode passes many times a second: only passes that did something are logged. A down
          // source's tables are not tried on every pass: that is logged once down and once back.
          if (result.units.some((u) => u.changes > 0 || (u.status !== 'ok' && !u.sourceDown))) log.info('pass finished', passFields(result));
        },
        onError: (error) => monitor.metrics.passFailed(error),
      });
    } else {
      await runDaemon(runtime, {
        signal,
        onPass: (result) => {
          void monitor.record(result);
          log.info('pass finished', passFields(result));
        },
        onError: (error) => monitor.metrics.passFailed(error),
      });
    }
  } finally {
    await monitor.close();
  }
  return ExitCode.ok;
}

const passFields = (result: PassResult) => ({ units: result.units.length, failed: result.failed, skipped: result.skipped, ms: result.ms });

function printPass(result: PassResult, dryRun: boolean): void {
  const rows = result.units.map((u) => [u.sourceId, u.table, u.status, u.snapshotRows || null, u.changes, u.inserted, u.updated, u.deleted, u.rejects, u.openGaps, u.lagSeconds.toFixed(2), u.ms, unitNote(u)]);
  if (dryRun) process.stdout.write('dry run: nothing was written; these are the changes a pass would apply now\n');
  const headers = ['source', 'table', 'status', dryRun ? 'to snapshot' : 'snapshot', 'changes', 'inserted', 'updated', 'deleted', 'rejects', 'gaps', 'lag s', 'ms', 'note'];
  process.stdout.write(outputTable(headers, rows) + '\n');
}

/** Why a unit was skipped or failed; or that it caught up by re-snapshot instead of draining. */
function unitNote(unit: PassResult['units'][number]): string {
  return unit.reason ?? (unit.catchUpSnapshots > 0 ? 'caught up by re-snapshot (catchUp: adaptive)' : '');
}

/** The machine-readable run report of `sync --once --json`. */
function passReport(result: PassResult, dryRun: boolean) {
  return {
    dryRun,
    startedAt: result.startedAt.toISOString(),
    durationMs: result.ms,
    failed: result.failed,
    skipped: result.skipped,
    sources: result.sources.map((s) => ({
      source: s.sourceId,
      up: s.up,
      ...(s.up ? {} : { reason: s.reason, errorCode: s.errorCode, downSince: s.downSince?.toISOString() }),
    })),
    units: result.units.map((u) => ({
      source: u.sourceId,
      table: u.table,
      target: u.target,
      status: u.status,
      ...(u.reason ? { reason: u.reason, errorCode: u.errorCode } : {}),
      snapshotRows: u.snapshotRows,
      catchUpSnapshots: u.catchUpSnapshots,
      changes: u.changes,
      inserted: u.inserted,
      updated: u.updated,
      deleted: u.deleted,
      rejects: u.rejects,
      batches: u.batches,
      openGaps: u.openGaps,
      lagSeconds: u.lagSeconds,
      appliedThrough: u.highWater,
      durationMs: u.ms,
    })),
  };
}
