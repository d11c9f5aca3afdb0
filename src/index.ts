/**
 * Tributary as a library: the same work as the `tributary` command, with results as values and no
 * hold on the process (no signal handler, no exit, nothing printed; logs only through a logger you
 * pass). A typical embedding:
 *
 *   const config = loadConfig('tributary.yml');
 *   const runtime = openRuntime(config, { logger: createLogger() });
 *   try {
 *     const result = await runPass(runtime);          // one pass, like `sync --once`
 *     if (result.failed > 0) ...
 *   } finally {
 *     await closeRuntime(runtime);
 *   }
 *
 * Errors are TributaryError with a `code` (ErrorCode); a pass reports a unit's failure in its result
 * rather than throwing.
 */
import { loadConfig as loadConfigFile, parseConfig, type TributaryConfig } from './config';
import { type Logger, silentLogger } from './log';
import { captureStatus as captureStatusOf, forgetConsumerEverywhere, installAll, printCapture as printCaptureOf, printUninstall, uninstallAll } from './pipeline/capture';
import type { PrintedScript, TableCaptureStatus, UninstallOutcome } from './pipeline/capture';
import { type LoopOptions, runDaemon as daemonLoop, runFollow as followLoop } from './pipeline/daemon';
import { type PassOptions, type PassResult, runPass as corePass } from './pipeline/pass';
import { closeRuntime as closeCore, openRuntime as openCore, prepareRuntime, type Runtime } from './pipeline/runtime';
import { type StatusReport, unitStatuses } from './pipeline/status';
import { verify as verifyCore, type VerifyOptions, type VerifyResult } from './pipeline/verify';
import type { InstallOutcome } from './mysql/capture';

export type { TributaryConfig, SourceConfig, TableConfig, DatabaseEndpoint, TlsSettings, BadValuePolicy, ConflictPolicy, IndexPolicy } from './config';
export { TributaryError, ConfigError, redactSecrets, type ErrorCode } from './errors';
export { createLogger, silentLogger, type Logger, type LogFormat } from './log';
export { Monitor } from './monitor';
export { Metrics } from './metrics';
export type { Runtime } from './pipeline/runtime';
export type { PassOptions, PassResult } from './pipeline/pass';
export type { UnitResult } from './pipeline/unit';
export type { LoopOptions } from './pipeline/daemon';
export type { VerifyOptions, VerifyResult, Comparison, DifferenceKind } from './pipeline/verify';
export type { StatusReport, UnitStatus } from './pipeline/status';
export type { SourceAvailability } from './pipeline/outages';
export type { PrintedScript, TableCaptureStatus, UninstallOutcome } from './pipeline/capture';
export type { InstallOutcome, CaptureProblem } from './mysql/capture';
export { grantStatements } from './pipeline/grants';

// ---------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------

/** Reads and validates a YAML configuration file; `${VAR}` references are taken from env. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): TributaryConfig {
  return loadConfigFile(path, env);
}

/**
 * Validates a configuration given as a plain object, with the same keys as the YAML file. Relative
 * paths in it (passwordFile, TLS files, metrics.textfile) are taken from baseDir (default: cwd).
 */
export function configFromObject(settings: Record<string, unknown>, options: { env?: NodeJS.ProcessEnv; baseDir?: string } = {}): TributaryConfig {
  // The file's own validation, so both accept the same keys and give the same messages.
  return parseConfig(settings, { env: options.env ?? process.env, ...(options.baseDir !== undefined ? { baseDir: options.baseDir } : {}) });
}

// ---------------------------------------------------------------------------------------------------
// Runtime
// ---------------------------------------------------------------------------------------------------

export interface OpenOptions {
  /** Where logs go (default: nowhere). createLogger() gives the command's JSON lines on stderr. */
  logger?: Logger;
}

/** Opens connection pools to every source and the target (lazily: nothing connects until used). */
export function openRuntime(config: TributaryConfig, options: OpenOptions = {}): Runtime {
  return openCore(config, options.logger ?? silentLogger());
}

/** Closes every pool. Call it once, after the last call that uses the runtime. */
export function closeRuntime(runtime: Runtime): Promise<void> {
  return closeCore(runtime);
}

/**
 * Checks sources and target, migrates the state schema and creates or evolves the target tables.
 * runPass, runFollow and runDaemon do it on first use; call it to fail early.
 */
export async function prepare(runtime: Runtime): Promise<void> {
  await prepareRuntime(runtime);
}

async function prepared(runtime: Runtime): Promise<void> {
  // Prepared once: a runtime whose sources are all down has no units yet, and retries them itself.
  if (runtime.units.length === 0 && runtime.shapes.size === 0 && runtime.outages.size === 0) await prepareRuntime(runtime);
}

// ---------------------------------------------------------------------------------------------------
// Sync
// ---------------------------------------------------------------------------------------------------

/** One pass over every (source, table), like `sync --once` (`dryRun`: like `sync --dry-run`). */
export async function runPass(runtime: Runtime, options: Omit<PassOptions, 'units'> = {}): Promise<PassResult> {
  await prepared(runtime);
  return corePass(runtime, options);
}

/** Pass after pass, like `sync --follow`, until options.signal aborts; resolves after the last pass ends. */
export async function runFollow(runtime: Runtime, options: LoopOptions): Promise<void> {
  await prepared(runtime);
  return followLoop(runtime, options);
}

/** A pass on every tick of config.schedule, like `sync`, until options.signal aborts. */
export async function runDaemon(runtime: Runtime, options: LoopOptions): Promise<void> {
  await prepared(runtime);
  return daemonLoop(runtime, options);
}

/** Where each unit stands, like `status --json`; only reads (a monitoring role can run it). */
export function status(runtime: Runtime): Promise<StatusReport> {
  return unitStatuses(runtime);
}

/** Compares sources with the target (and repairs with `repair: true`), like `verify --json`. */
export function verify(runtime: Runtime, options: VerifyOptions = {}): Promise<VerifyResult[]> {
  return verifyCore(runtime, options);
}

// ---------------------------------------------------------------------------------------------------
// Capture (triggers and changelog tables in the sources)
// ---------------------------------------------------------------------------------------------------

/** The DDL that installs capture, per source, for a DBA to review (`triggers print`). */
export function printCapture(runtime: Runtime, options: { sourceId?: string } = {}): Promise<PrintedScript[]> {
  return printCaptureOf(runtime, options.sourceId);
}

/** The DDL that removes capture Tributary created, per source (`triggers print --uninstall`). */
export function printUninstallCapture(runtime: Runtime, options: { sourceId?: string; table?: string } = {}): Promise<PrintedScript[]> {
  return printUninstall(runtime, options.sourceId, options.table);
}

/** Creates what is missing and upgrades what differs (`triggers install`). */
export function installCapture(runtime: Runtime, options: { sourceId?: string } = {}): Promise<(InstallOutcome & { sourceId: string })[]> {
  return installAll(runtime, options.sourceId);
}

/** What is installed compared with what is expected (`triggers status`); no problem listed: all in place. */
export function captureStatus(runtime: Runtime, options: { sourceId?: string } = {}): Promise<TableCaptureStatus[]> {
  return captureStatusOf(runtime, options.sourceId);
}

/**
 * Drops the triggers and changelog tables Tributary created; pending changes are lost (`triggers
 * uninstall`). `table` removes one table's capture, configured or not; `force` also while other
 * targets still read it.
 */
export function uninstallCapture(runtime: Runtime, options: { sourceId?: string; table?: string; force?: boolean } = {}): Promise<UninstallOutcome[]> {
  return uninstallAll(runtime, options);
}

/** A target that is gone stops holding changelog rows back (`triggers forget-consumer`). */
export function forgetConsumer(runtime: Runtime, name: string, options: { sourceId?: string } = {}): Promise<{ sourceId: string; registrations: number }[]> {
  return forgetConsumerEverywhere(runtime, name, options.sourceId);
}
