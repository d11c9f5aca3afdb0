/** `tributary status`: per source and table, where the sync stands. It only reads. */
import type { Command } from 'commander';
import { unitStatuses } from '../../pipeline/status';
import { withRuntime } from '../context';
import { statusExitCode } from '../exit-codes';
import { ago, outputTable } from '../format';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('per source and table: snapshot, applied change id, pending changes, lag, last pass; exits 6 when some source cannot be read')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) =>
      withRuntime(program, async (runtime) => {
        const report = await unitStatuses(runtime);
        if (opts.json) {
          process.stdout.write(JSON.stringify(report, null, 2) + '\n');
          return statusExitCode(report.units);
        }
        if (!report.synced) process.stdout.write('not synced yet: the target has no tributary state schema (run `tributary sync` first)\n');
        const rows = report.units.map((s) => [
          s.sourceId,
          s.table,
          s.target,
          s.snapshot,
          s.appliedThrough,
          s.pending ?? 'unknown',
          s.lagSeconds === null ? 'unknown' : s.lagSeconds.toFixed(1),
          s.heldGaps,
          s.waitingGaps,
          ago(s.lastPassAt),
          [s.unknownReason ? `unknown: ${s.unknownReason}` : '', s.lastError ? `last error: ${s.lastError}` : ''].filter(Boolean).join(' | '),
        ]);
        process.stdout.write(outputTable(['source', 'table', 'target', 'snapshot', 'applied id', 'pending', 'lag s', 'gaps held', 'gaps waiting', 'last pass', 'note'], rows) + '\n');
        // Every target reading these changelogs (several warehouses on one source), with its progress.
        const consumers = report.units.flatMap((s) => s.consumers.map((c) => [s.sourceId, s.table, c.name + (c.self ? ' (this target)' : ''), c.watermark, c.state, c.lastSeen]));
        if (consumers.length > 0) {
          process.stdout.write('\nconsumers of the changelogs\n' + outputTable(['source', 'table', 'consumer', 'applied id', 'state', 'last seen (source clock)'], consumers) + '\n');
        }
        return statusExitCode(report.units);
      }),
    );
}
