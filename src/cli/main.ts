#!/usr/bin/env node
/**
 * The `tributary` command. The only place that prints command output and chooses exit codes; all
 * work is done by modules that return values.
 */
import { Command, Option } from 'commander';
import { loadConfig, resolveConfigPath, type TributaryConfig } from '../config';
import { ExitCode, exitCodeFor, redactSecrets, TributaryError } from '../errors';
import { createLogger, type LogFormat, type Logger } from '../log';
import { captureStatus, installAll, printCapture, printUninstall, uninstallAll } from '../pipeline/capture';
import { unitStatuses } from '../pipeline/status';
import { type Comparison, hasDifferences, verify, type VerifyResult } from '../pipeline/verify';
import { runDaemon, runFollow } from '../pipeline/daemon';
import { type PassResult, runPass } from '../pipeline/pass';
import { closeRuntime, openRuntime, prepareRuntime, type Runtime } from '../pipeline/runtime';
import { existsSync, writeFileSync } from 'node:fs';
import { grantStatements } from '../pipeline/grants';
import { initConfig } from '../pipeline/init';
import { startHttp } from '../http';
import { Metrics } from '../metrics';
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

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
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

function printPass(result: PassResult, dryRun: boolean): void {
  const rows = result.units.map((u) => [u.sourceId, u.table, u.status, u.snapshotRows || null, u.changes, u.inserted, u.updated, u.deleted, u.rejects, u.openGaps, u.lagSeconds.toFixed(2), u.ms, u.reason ?? '']);
  if (dryRun) process.stdout.write('dry run: nothing was written; these are the changes a pass would apply now\n');
  process.stdout.write(table(['source', 'table', 'status', dryRun ? 'to snapshot' : 'snapshot', 'changes', 'inserted', 'updated', 'deleted', 'rejects', 'gaps', 'lag s', 'ms', 'note'], rows) + '\n');
}

/** The machine-readable run report of `sync --once --json`. */
function passReport(result: PassResult, dryRun: boolean) {
  return {
    dryRun,
    startedAt: result.startedAt.toISOString(),
    durationMs: result.ms,
    failed: result.failed,
    skipped: result.skipped,
    units: result.units.map((u) => ({
      source: u.sourceId,
      table: u.table,
      target: u.target,
      status: u.status,
      ...(u.reason ? { reason: u.reason, errorCode: u.errorCode } : {}),
      snapshotRows: u.snapshotRows,
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

  program
    .command('init')
    .description('write a commented configuration from source and target URLs, listing the tables every source has')
    .requiredOption('--source <id=url>', 'a source, as ID=mysql://user:password@host:port/database (repeatable)', collect, [])
    .requiredOption('--target <url>', 'postgres://user:password@host:port/database')
    .option('--tables <names>', 'only these tables, comma-separated')
    .option('--out <file>', 'write the configuration here instead of stdout (an existing file is not overwritten)')
    .action(async (opts: { source: string[]; target: string; tables?: string; out?: string }) => {
      const sources = opts.source.map((pair) => {
        const at = pair.indexOf('=');
        if (at <= 0) throw new TributaryError('CONFIG_INVALID', `--source ${redactSecrets(pair)}: expected ID=URL`);
        return { id: pair.slice(0, at), url: pair.slice(at + 1) };
      });
      const global = program.opts<GlobalOptions>();
      const logger = createLogger({ level: global.logLevel, format: global.logFormat });
      const result = await initConfig({ sources, target: opts.target, ...(opts.tables ? { tables: opts.tables.split(',').map((t) => t.trim()).filter(Boolean) } : {}) });
      for (const warning of result.warnings) logger.warn(warning);
      if (opts.out) {
        if (existsSync(opts.out)) throw new TributaryError('CONFIG_INVALID', `--out ${opts.out}: the file exists; not overwriting it`);
        writeFileSync(opts.out, result.yaml);
        process.stderr.write(`wrote ${opts.out}\n`);
      } else {
        process.stdout.write(result.yaml);
      }
      throw new Exit(ExitCode.ok);
    });

  const triggers = program.command('triggers').description('install, inspect or remove change capture in the sources');
  triggers
    .command('print')
    .description('print the DDL (changelog tables and triggers) for a DBA to review and run')
    .option('--source <id>', 'only this source')
    .option('--uninstall', 'print the statements that remove capture instead')
    .option('--grants', 'print the least-privilege GRANT statements for the DBA and the sync user instead')
    .action(async (opts: { source?: string; uninstall?: boolean; grants?: boolean }) =>
      withRuntime(program, async (runtime) => {
        checkSource(runtime, opts.source);
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
    .description('apply changes: one pass with --once, continuously with --follow, otherwise a daemon on the configured schedule')
    .option('--once', 'run one pass and exit (for cron)')
    .option('--follow', 'near real time: pass after pass, pausing pollInterval when caught up')
    .option('--dry-run', 'report per table what a pass would insert, update and delete, and write nothing')
    .option('--json', 'print the run report as JSON (with --once or --dry-run)')
    .action(async (opts: { once?: boolean; follow?: boolean; dryRun?: boolean; json?: boolean }) =>
      withRuntime(program, async (runtime) => {
        if ([opts.once, opts.follow, opts.dryRun].filter(Boolean).length > 1) {
          throw new TributaryError('CONFIG_INVALID', '--once, --follow and --dry-run exclude each other');
        }
        const { config } = runtime;
        const metrics = new Metrics(config.alerts.maxPendingChanges);
        const record = async (result: PassResult): Promise<void> => {
          metrics.observe(result);
          for (const unit of result.units) {
            if (unit.changes > config.alerts.maxPendingChanges) {
              runtime.logger.warn('pending changes exceed alerts.maxPendingChanges', { source: unit.sourceId, table: unit.table, rows: unit.changes });
            }
          }
          if (config.metrics.textfile) {
            await metrics.writeTextfile(config.metrics.textfile).catch((error: unknown) => runtime.logger.warn('could not write the metrics textfile', { error: String(error) }));
          }
        };
        await prepareRuntime(runtime);
        if (opts.once || opts.dryRun) {
          const result = await runPass(runtime, { dryRun: opts.dryRun === true });
          if (!opts.dryRun) await record(result);
          if (opts.json) process.stdout.write(JSON.stringify(passReport(result, opts.dryRun === true), null, 2) + '\n');
          else printPass(result, opts.dryRun === true);
          return passExitCode(result);
        }
        const server = config.metrics.port
          ? await startHttp(metrics, { host: config.metrics.host, port: config.metrics.port, maxLagSeconds: config.health.maxLagSeconds })
          : null;
        if (server) runtime.logger.info('serving /metrics and /healthz', { host: config.metrics.host, port: config.metrics.port });
        try {
          if (opts.follow) {
            await runFollow(runtime, (result) => {
              void record(result);
              if (result.units.some((u) => u.changes > 0 || u.status !== 'ok')) {
                runtime.logger.info('pass finished', { units: result.units.length, failed: result.failed, skipped: result.skipped, ms: result.ms });
              }
            });
          } else {
            await runDaemon(runtime, (result) => {
              void record(result);
              runtime.logger.info('pass finished', { units: result.units.length, failed: result.failed, skipped: result.skipped, ms: result.ms });
            });
          }
        } finally {
          server?.close();
        }
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

  program
    .command('verify')
    .description('compare every source table with its rows in PostgreSQL; exits 5 on any difference')
    .option('--source <id>', 'only this source')
    .option('--table <name>', 'only this table')
    .option('--repair', 're-copy the differing keys from the source, then verify again')
    .option('--json', 'machine-readable output')
    .action(async (opts: { source?: string; table?: string; repair?: boolean; json?: boolean }) =>
      withRuntime(program, async (runtime) => {
        checkSource(runtime, opts.source);
        const results = await verify(runtime, { sourceId: opts.source, table: opts.table, repair: opts.repair });
        if (opts.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
        else printVerify(results);
        return verifyExitCode(results);
      }),
    );
  return program;
}

const VERIFY_STATES: Record<VerifyResult['state'], string> = {
  equal: 'equal',
  different: 'DIFFERENT',
  repaired: 'repaired',
  'not-synced': 'not synced yet',
  failed: 'FAILED',
};

function printVerify(results: VerifyResult[]): void {
  const rows = results.map((r) => {
    const final = r.comparison;
    const found = r.repair?.found;
    // After a repair: what was found -> what is left.
    const count = (kind: 'missing' | 'extra' | 'different'): string | number | null =>
      found && final ? `${found[kind]}->${final[kind]}` : final ? final[kind] : null;
    // Samples of what is left, else of what was repaired.
    const shown: Comparison | null = final && (hasDifferences(final) || !found) ? final : (found ?? null);
    const notes = shown
      ? (['missing', 'extra', 'different'] as const)
          .filter((kind) => shown.samples[kind].length > 0)
          .map((kind) => `${kind}: ${shown.samples[kind].join('; ')}${shown[kind] > shown.samples[kind].length ? ' ...' : ''}`)
      : [];
    if (final && final.rejected > 0) notes.push(`${final.rejected} rejected row(s) not compared (tributary.rejects)`);
    const samples = notes.join(' | ');
    const repaired = r.repair ? `+${r.repair.inserted} ~${r.repair.updated} -${r.repair.deleted}` : null;
    return [r.sourceId, r.table, VERIFY_STATES[r.state], final?.sourceRows, final?.targetRows, count('missing'), count('extra'), count('different'), repaired, r.reason ?? samples];
  });
  process.stdout.write(
    table(['source', 'table', 'state', 'source rows', 'target rows', 'missing', 'extra', 'different', 'repaired', 'sample keys / error'], rows) + '\n',
  );
}

function verifyExitCode(results: VerifyResult[]): number {
  const failed = results.filter((r) => r.state === 'failed');
  if (failed.length > 0) {
    const codes = new Set(failed.map((r) => r.errorCode));
    if (failed.length === results.length && codes.size === 1) return exitCodeFor(new TributaryError(failed[0]!.errorCode as never, ''));
    return ExitCode.partialFailure;
  }
  return results.some((r) => r.state === 'different') ? ExitCode.drift : ExitCode.ok;
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
