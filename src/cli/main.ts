#!/usr/bin/env node
/**
 * The `tributary` command. The only place that prints command output and chooses exit codes; all
 * work is done by modules that return values.
 */
import { Command, Option } from 'commander';
import { loadConfig, resolveConfigPath, type TributaryConfig } from '../config';
import { ExitCode, exitCodeFor, redactSecrets, TributaryError } from '../errors';
import { createLogger, type LogFormat, type Logger } from '../log';
import { captureStatus, installAll, printCapture, printUninstall, uninstallAll } from '../commands/triggers';
import { unitStatuses } from '../commands/status';
import { runDaemon } from '../pipeline/daemon';
import { type PassResult, runPass } from '../pipeline/pass';
import { closeRuntime, openRuntime, prepareRuntime, type Runtime } from '../pipeline/runtime';
import { ago, table } from './format';

interface GlobalOptions {
  config?: string;
  logLevel?: string;
  logFormat?: LogFormat;
}

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function setup(program: Command): { config: TributaryConfig; logger: Logger } {
  const options = program.opts<GlobalOptions>();
  const logger = createLogger({ level: options.logLevel, format: options.logFormat });
  const config = loadConfig(resolveConfigPath(options.config, process.env, process.cwd()));
  return { config, logger };
}

async function withRuntime(program: Command, fn: (runtime: Runtime) => Promise<number>): Promise<never> {
  const { config, logger } = setup(program);
  const runtime = openRuntime(config, logger);
  try {
    throw new Exit(await fn(runtime));
  } finally {
    await closeRuntime(runtime);
  }
}

function checkSource(runtime: Runtime, sourceId: string | undefined): void {
  if (sourceId !== undefined && !runtime.sources.has(sourceId)) {
    throw new TributaryError('CONFIG_INVALID', `--source ${sourceId}: no such source in the configuration (sources: ${[...runtime.sources.keys()].join(', ')})`);
  }
}

function passExitCode(result: PassResult): number {
  const failed = result.units.filter((u) => u.status === 'failed');
  if (failed.length === 0) return ExitCode.ok;
  if (failed.length === result.units.length) {
    const codes = new Set(failed.map((u) => u.errorCode));
    if (codes.size === 1) return exitCodeFor(new TributaryError(failed[0]!.errorCode as never, ''));
  }
  return ExitCode.partialFailure;
}

function printPass(result: PassResult): void {
  const rows = result.units.map((u) => [u.sourceId, u.table, u.status, u.snapshotRows || null, u.changes, u.inserted, u.updated, u.deleted, u.rejects, u.openGaps, u.ms, u.reason ?? '']);
  process.stdout.write(table(['source', 'table', 'status', 'snapshot', 'changes', 'inserted', 'updated', 'deleted', 'rejects', 'gaps', 'ms', 'note'], rows) + '\n');
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('tributary')
    .description('Keep many MySQL databases merged and in sync inside one PostgreSQL.')
    .option('-c, --config <path>', 'configuration file (default: $TRIBUTARY_CONFIG, else config/tributary.yml)')
    .option('--log-level <level>', 'error, warn, info or debug', undefined)
    .addOption(new Option('--log-format <format>', 'log line format on stderr').choices(['json', 'pretty']))
    .showHelpAfterError()
    .exitOverride();

  const triggers = program.command('triggers').description('install, inspect or remove change capture in the sources');
  triggers
    .command('print')
    .description('print the DDL (changelog tables and triggers) for a DBA to review and run')
    .option('--source <id>', 'only this source')
    .option('--uninstall', 'print the statements that remove capture instead')
    .action(async (opts: { source?: string; uninstall?: boolean }) =>
      withRuntime(program, async (runtime) => {
        checkSource(runtime, opts.source);
        const scripts = opts.uninstall ? printUninstall(runtime, opts.source) : await printCapture(runtime, opts.source);
        for (const script of scripts) {
          process.stdout.write(`-- Tributary capture for ${script.where}\n`);
          for (const part of script.statements) {
            process.stdout.write(`\n-- table ${part.table}\n${part.sql.map((s) => s + ';').join('\n\n')}\n`);
          }
          process.stdout.write('\n');
        }
        return ExitCode.ok;
      }),
    );
  triggers
    .command('install')
    .description('create or upgrade the changelog tables and triggers')
    .option('--source <id>', 'only this source')
    .action(async (opts: { source?: string }) =>
      withRuntime(program, async (runtime) => {
        checkSource(runtime, opts.source);
        const outcomes = await installAll(runtime, opts.source);
        const rows = outcomes.map((o) => [o.sourceId, o.table, o.created.join(' ') || '-', o.replaced.join(' ') || '-', o.unchanged.length]);
        process.stdout.write(table(['source', 'table', 'created', 'upgraded', 'unchanged'], rows) + '\n');
        return ExitCode.ok;
      }),
    );
  triggers
    .command('status')
    .description('compare installed capture with what is expected; exits 5 on any drift')
    .option('--source <id>', 'only this source')
    .action(async (opts: { source?: string }) =>
      withRuntime(program, async (runtime) => {
        checkSource(runtime, opts.source);
        const statuses = await captureStatus(runtime, opts.source);
        const rows = statuses.flatMap((s) =>
          s.problems.length === 0 ? [[s.sourceId, s.table, 'ok', '']] : s.problems.map((p) => [s.sourceId, s.table, p.kind, p.message]),
        );
        process.stdout.write(table(['source', 'table', 'state', 'detail'], rows) + '\n');
        return statuses.some((s) => s.problems.length > 0) ? ExitCode.drift : ExitCode.ok;
      }),
    );
  triggers
    .command('uninstall')
    .description('drop the triggers and changelog tables (pending changes are lost)')
    .option('--source <id>', 'only this source')
    .action(async (opts: { source?: string }) =>
      withRuntime(program, async (runtime) => {
        checkSource(runtime, opts.source);
        const removed = await uninstallAll(runtime, opts.source);
        process.stdout.write(table(['source', 'table', 'state'], removed.map((r) => [r.sourceId, r.table, 'removed'])) + '\n');
        return ExitCode.ok;
      }),
    );

  program
    .command('sync')
    .description('apply changes: one pass with --once, otherwise a daemon on the configured schedule')
    .option('--once', 'run one pass and exit (for cron)')
    .action(async (opts: { once?: boolean }) =>
      withRuntime(program, async (runtime) => {
        await prepareRuntime(runtime);
        if (opts.once) {
          const result = await runPass(runtime);
          printPass(result);
          return passExitCode(result);
        }
        await runDaemon(runtime, (result) => {
          runtime.logger.info('pass finished', { units: result.units.length, failed: result.failed, skipped: result.skipped, ms: result.ms });
        });
        return ExitCode.ok;
      }),
    );

  program
    .command('status')
    .description('per source and table: snapshot, applied change id, pending changes, lag, last pass')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) =>
      withRuntime(program, async (runtime) => {
        const statuses = await unitStatuses(runtime);
        if (opts.json) {
          process.stdout.write(JSON.stringify(statuses, null, 2) + '\n');
        } else {
          const rows = statuses.map((s) => [
            s.sourceId,
            s.table,
            s.target,
            s.snapshot,
            s.appliedThrough,
            s.pending ?? 'unknown',
            s.lagSeconds === null ? 'unknown' : s.lagSeconds.toFixed(1),
            s.openGaps,
            ago(s.lastPassAt),
            s.lastError ?? '',
          ]);
          process.stdout.write(table(['source', 'table', 'target', 'snapshot', 'applied id', 'pending', 'lag s', 'gaps', 'last pass', 'last error'], rows) + '\n');
        }
        return ExitCode.ok;
      }),
    );
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof Exit) return error.code;
    const commanderError = error as { code?: string; exitCode?: number };
    if (typeof commanderError.code === 'string' && commanderError.code.startsWith('commander.')) {
      return commanderError.code === 'commander.helpDisplayed' || commanderError.code === 'commander.version' ? ExitCode.ok : ExitCode.config;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`tributary: ${redactSecrets(message)}\n`);
    return exitCodeFor(error);
  }
}

if (require.main === module) {
  main(process.argv).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`tributary: ${redactSecrets(String(error))}\n`);
      process.exit(ExitCode.unexpected);
    },
  );
}
