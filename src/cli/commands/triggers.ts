/** `tributary triggers print|install|status|uninstall|forget-consumer`: change capture in the sources. */
import type { Command } from 'commander';
import { captureStatus, forgetConsumerEverywhere, installAll, printCapture, printUninstall, uninstallAll } from '../../pipeline/capture';
import { TributaryError } from '../../errors';
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

  sub('print', 'print the DDL that installs or completes capture (only what is missing or must change) for a DBA to review and run', print)
    .option('--uninstall', 'print the statements that remove capture instead (only objects Tributary created)')
    .option('--table <name>', 'with --uninstall: only this table, configured or not')
    .option('--grants', 'print the least-privilege GRANT statements for the DBA and the sync user instead');
  sub('install', 'create or upgrade the changelog tables, triggers and consumer registry; refuses (exit 2) when a name is taken by an object Tributary did not create', install);
  sub('status', 'compare installed capture with what is expected, list capture of tables not in the configuration and the consumers of each changelog; exits 5 on any drift', status);
  sub('uninstall', 'drop the triggers and changelog tables Tributary created (pending changes are lost); objects it did not create are left alone', uninstall)
    .option('--table <name>', 'only this table, configured or not (capture left behind by a table removed from the configuration)')
    .option('--force', 'remove capture even while other targets (consumers) still read it');
  triggers
    .command('forget-consumer <name>')
    .description('stop holding changelog rows back for a target that is gone; if it ever returns, it snapshots its tables again')
    .option('--source <id>', 'only this source')
    .action(async (name: string, opts: SourceOption) =>
      withRuntime(program, async (runtime) => {
        checkSource(runtime, opts.source);
        return forget(runtime, name, opts);
      }),
    );
}

async function print(runtime: Runtime, opts: SourceOption & { uninstall?: boolean; table?: string; grants?: boolean }): Promise<number> {
  if (opts.grants) {
    process.stdout.write(grantStatements(runtime.config, opts.source));
    return ExitCode.ok;
  }
  const scripts = opts.uninstall ? await printUninstall(runtime, opts.source, opts.table) : await printCapture(runtime, opts.source);
  for (const script of scripts) {
    process.stdout.write(`-- Tributary capture for ${script.where}\n`);
    for (const part of script.statements) {
      const sql = part.sql.length > 0 ? part.sql.map((s) => (s.startsWith('--') ? s : s + ';')).join('\n\n') : '-- installed and complete: nothing to do';
      process.stdout.write(`\n-- table ${part.table}\n${sql}\n`);
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
  const readers = (s: (typeof statuses)[number]): string =>
    s.consumers.map((c) => `${c.name}${c.self ? ' (this target)' : ''} at ${c.watermark}, ${c.state}, seen ${c.secondsSinceSeen}s ago`).join('; ');
  const rows = statuses.flatMap((s) => {
    // Capture of a table not in the configuration that other live targets still read is theirs: fine.
    const ok = s.configured ? 'ok' : 'not in config';
    const detail = s.configured ? '' : `triggers ${s.triggers?.join(', ') || 'none'}; read by other live targets`;
    return s.problems.length === 0 ? [[s.sourceId, s.table, ok, detail, readers(s)]] : s.problems.map((p) => [s.sourceId, s.table, p.kind, p.message, readers(s)]);
  });
  process.stdout.write(outputTable(['source', 'table', 'state', 'detail', 'consumers'], rows) + '\n');
  return statuses.some((s) => s.problems.length > 0) ? ExitCode.drift : ExitCode.ok;
}

async function uninstall(runtime: Runtime, opts: SourceOption & { table?: string; force?: boolean }): Promise<number> {
  const outcomes = await uninstallAll(runtime, { sourceId: opts.source, table: opts.table, force: opts.force === true });
  const state = (o: (typeof outcomes)[number]): string => (o.removed.length > 0 ? 'removed' : o.leftAlone.length > 0 ? 'left alone' : 'not installed');
  const rows = outcomes.map((o) => [o.sourceId, o.table, state(o), o.removed.join(' ') || '-', o.leftAlone.length > 0 ? `${o.leftAlone.join(' ')}: not created by Tributary, left alone` : '']);
  process.stdout.write(outputTable(['source', 'table', 'state', 'dropped', 'note'], rows) + '\n');
  return ExitCode.ok;
}

async function forget(runtime: Runtime, name: string, opts: SourceOption): Promise<number> {
  const forgotten = await forgetConsumerEverywhere(runtime, name, opts.source);
  if (forgotten.every((f) => f.registrations === 0)) {
    throw new TributaryError('CONFIG_INVALID', `no live registration of consumer ${JSON.stringify(name)} was found; \`tributary status\` lists the consumers by name`);
  }
  process.stdout.write(outputTable(['source', 'consumer', 'registrations dropped'], forgotten.map((f) => [f.sourceId, name, f.registrations])) + '\n');
  return ExitCode.ok;
}
