/** `tributary verify`: compare sources with the target, optionally repair. */
import type { Command } from 'commander';
import { type Comparison, hasDifferences, verify, type VerifyResult } from '../../pipeline/verify';
import { checkSource, collect, withRuntime } from '../context';
import { verifyExitCode } from '../exit-codes';
import { outputTable } from '../format';

interface VerifyFlags {
  source?: string;
  table: string[];
  repair?: boolean;
  json?: boolean;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('compare every source table with its rows in PostgreSQL; exits 5 on any difference, 8 when only rejected rows are kept out')
    .option('--source <id>', 'only this source')
    .option('--table <name>', 'only this table (repeatable)', collect, [])
    .option('--repair', 're-copy the differing keys from the source, then verify again')
    .option('--json', 'machine-readable output')
    .action(async (opts: VerifyFlags) =>
      withRuntime(program, async (runtime) => {
        checkSource(runtime, opts.source);
        const results = await verify(runtime, { sourceId: opts.source, ...(opts.table.length > 0 ? { table: opts.table } : {}), repair: opts.repair });
        if (opts.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
        else printVerify(results);
        return verifyExitCode(results);
      }),
    );
}

const VERIFY_STATES: Record<VerifyResult['state'], string> = {
  equal: 'equal',
  different: 'DIFFERENT',
  rejected: 'REJECTED ROWS',
  repaired: 'repaired',
  'not-synced': 'not synced yet',
  failed: 'FAILED',
};

/** Samples of what is left, else of what was repaired, as one note. */
function sampleNotes(r: VerifyResult): string {
  const final = r.comparison;
  const found = r.repair?.found;
  const shown: Comparison | null = final && (hasDifferences(final) || !found) ? final : (found ?? null);
  const notes = shown
    ? (['missing', 'extra', 'different'] as const)
        .filter((kind) => shown.samples[kind].length > 0)
        .map((kind) => `${kind}: ${shown.samples[kind].join('; ')}${shown[kind] > shown.samples[kind].length ? ' ...' : ''}`)
    : [];
  if (final && final.rejected > 0) {
    const without = final.rejectedWithoutVersion > 0 ? `, ${final.rejectedWithoutVersion} with no version in the target` : '';
    notes.push(`${final.rejected} rejected row(s) kept out (tributary.rejects${without}): ${final.samples.rejected.join('; ')}${final.rejected > final.samples.rejected.length ? ' ...' : ''}`);
  }
  return notes.join(' | ');
}

function printVerify(results: VerifyResult[]): void {
  const rows = results.map((r) => {
    const final = r.comparison;
    const found = r.repair?.found;
    // After a repair: what was found -> what is left.
    const count = (kind: 'missing' | 'extra' | 'different'): string | number | null => (found && final ? `${found[kind]}->${final[kind]}` : final ? final[kind] : null);
    const repaired = r.repair ? `+${r.repair.inserted} ~${r.repair.updated} -${r.repair.deleted}` : null;
    return [r.sourceId, r.table, VERIFY_STATES[r.state], final?.sourceRows, final?.targetRows, count('missing'), count('extra'), count('different'), repaired, r.reason ?? sampleNotes(r)];
  });
  process.stdout.write(outputTable(['source', 'table', 'state', 'source rows', 'target rows', 'missing', 'extra', 'different', 'repaired', 'sample keys / error'], rows) + '\n');
}
