/** `tributary status`: per source and table, where the sync stands. */
import type { Command } from 'commander';
import { unitStatuses } from '../../pipeline/status';
import { withRuntime } from '../context';
import { ExitCode } from '../exit-codes';
import { ago, outputTable } from '../format';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('per source and table: snapshot, applied change id, pending changes, lag, last pass')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) =>
      withRuntime(program, async (runtime) => {
        const statuses = await unitStatuses(runtime);
        if (opts.json) {
          process.stdout.write(JSON.stringify(statuses, null, 2) + '\n');
          return ExitCode.ok;
        }
        const rows = statuses.map((s) => [
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
          s.lastError ?? '',
        ]);
        process.stdout.write(outputTable(['source', 'table', 'target', 'snapshot', 'applied id', 'pending', 'lag s', 'gaps held', 'gaps waiting', 'last pass', 'last error'], rows) + '\n');
        // Every target reading these changelogs (several warehouses on one source), with its progress.
        const consumers = statuses.flatMap((s) => s.consumers.map((c) => [s.sourceId, s.table, c.name + (c.self ? ' (this target)' : ''), c.watermark, c.state, c.lastSeen]));
        if (consumers.length > 0) {
          process.stdout.write('\nconsumers of the changelogs\n' + outputTable(['source', 'table', 'consumer', 'applied id', 'state', 'last seen (source clock)'], consumers) + '\n');
        }
        return ExitCode.ok;
      }),
    );
}
