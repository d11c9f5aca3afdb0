/** `tributary triggers print|install|status|uninstall`: change capture in the sources. */
import type { Command } from 'commander';
import { captureStatus, installAll, printCapture, printUninstall, uninstallAll } from '../../pipeline/capture';
import { grantStatements } from '../../pipeline/grants';
import type { Runtime } from '../../pipeline/runtime';
import { checkSource, withRuntime } from '../context';
import { ExitCode } from '../exit-codes';
import { outputTable } from '../format';

interface SourceOption {
  source?: string;
}

export function registerTriggers(program: Command): void {
  const triggers = program.command('triggers').description('install, inspect or remove change capture in the sources');
  /** A subcommand that takes --source and runs with a runtime. */
  const sub = <O extends SourceOption>(name: string, description: string, run: (runtime: Runtime, opts: O) => Promise<number>): Command =>
    triggers
      .command(name)
      .description(description)
      .option('--source <id>', 'only this source')
      .action(async (opts: O) =>
        withRuntime(program, async (runtime) => {
          checkSource(runtime, opts.source);
          return run(runtime, opts);
        }),
      );

  sub('print', 'print the DDL (changelog tables and triggers) for a DBA to review and run', print)
    .option('--uninstall', 'print the statements that remove capture instead')
    .option('--grants', 'print the least-privilege GRANT statements for the DBA and the sync user instead');
  sub('install', 'create or upgrade the changelog tables and triggers', install);
  sub('status', 'compare installed capture with what is expected; exits 5 on any drift', status);
  sub('uninstall', 'drop the triggers and changelog tables (pending changes are lost)', uninstall);
}

async function print(runtime: Runtime, opts: SourceOption & { uninstall?: boolean; grants?: boolean }): Promise<number> {
  if (opts.grants) {
    process.stdout.write(grantStatements(runtime.config, opts.source));
    return ExitCode.ok;
  }
  const scripts = opts.uninstall ? printUninstall(runtime, opts.source) : await printCapture(runtime, opts.source);
  for (const script of scripts) {
    process.stdout.write(`-- Tributary capture for ${script.where}\n`);
    for (const part of script.statements) {
      process.stdout.write(`\n-- table ${part.table}\n${part.sql.map((s) => s + ';').join('\n\n')}\n`);
    }
    process.stdout.write('\n');
  }
  return ExitCode.ok;
}

async function install(runtime: Runtime, opts: SourceOption): Promise<number> {
  const outcomes = await installAll(runtime, opts.source);
  const rows = outcomes.map((o) => [o.sourceId, o.table, o.created.join(' ') || '-', o.replaced.join(' ') || '-', o.unchanged.length]);
  process.stdout.write(outputTable(['source', 'table', 'created', 'upgraded', 'unchanged'], rows) + '\n');
  return ExitCode.ok;
}

async function status(runtime: Runtime, opts: SourceOption): Promise<number> {
  const statuses = await captureStatus(runtime, opts.source);
  const rows = statuses.flatMap((s) => (s.problems.length === 0 ? [[s.sourceId, s.table, 'ok', '']] : s.problems.map((p) => [s.sourceId, s.table, p.kind, p.message])));
  process.stdout.write(outputTable(['source', 'table', 'state', 'detail'], rows) + '\n');
  return statuses.some((s) => s.problems.length > 0) ? ExitCode.drift : ExitCode.ok;
}

async function uninstall(runtime: Runtime, opts: SourceOption): Promise<number> {
  const outcomes = await uninstallAll(runtime, opts.source);
  const rows = outcomes.map((o) => [o.sourceId, o.table, o.removed.length > 0 ? 'removed' : 'not installed', o.removed.join(' ') || '-']);
  process.stdout.write(outputTable(['source', 'table', 'state', 'dropped'], rows) + '\n');
  return ExitCode.ok;
}
