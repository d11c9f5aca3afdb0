/** What every command shares: the global options, the logger, the configuration and the runtime. */
import type { Command } from 'commander';
import { loadConfig, resolveConfigPath, type TributaryConfig } from '../config';
import { TributaryError } from '../errors';
import { createLogger, type LogFormat, type Logger } from '../log';
import { closeRuntime, openRuntime, type Runtime } from '../pipeline/runtime';

export interface GlobalOptions {
  config?: string;
  logLevel?: string;
  logFormat?: LogFormat;
}

/** Thrown by a command's action to end with this exit code (after its runtime is closed). */
export class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** For repeatable options: --x a --x b gives [a, b]. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function loggerFor(program: Command): Logger {
  const options = program.opts<GlobalOptions>();
  return createLogger({ level: options.logLevel, format: options.logFormat });
}

export function configFor(program: Command): TributaryConfig {
  return loadConfig(resolveConfigPath(program.opts<GlobalOptions>().config, process.env, process.cwd()));
}

/** Opens a runtime on the configuration, runs the command, closes the runtime, exits with fn's code. */
export async function withRuntime(program: Command, fn: (runtime: Runtime) => Promise<number>): Promise<never> {
  const logger = loggerFor(program);
  const runtime = openRuntime(configFor(program), logger);
  try {
    throw new Exit(await fn(runtime));
  } finally {
    await closeRuntime(runtime);
  }
}

export function checkSource(runtime: Runtime, sourceId: string | undefined): void {
  if (sourceId !== undefined && !runtime.sources.has(sourceId)) {
    throw new TributaryError('CONFIG_INVALID', `--source ${sourceId}: no such source in the configuration (sources: ${[...runtime.sources.keys()].join(', ')})`);
  }
}
