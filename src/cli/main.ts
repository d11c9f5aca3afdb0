#!/usr/bin/env node
/**
 * The `tributary` command: builds the program from one module per command, maps errors to exit codes
 * and exits. The only place besides src/cli/signals.ts that touches the process.
 */
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { redactSecrets } from '../errors';
import { registerInit } from './commands/init';
import { registerStatus } from './commands/status';
import { registerSync } from './commands/sync';
import { registerTriggers } from './commands/triggers';
import { registerVerify } from './commands/verify';
import { Exit } from './context';
import { ExitCode, exitCodeFor } from './exit-codes';

const LOG_LEVELS = ['error', 'warn', 'info', 'debug'];

/** The package's version; src/cli and dist/cli both sit two levels below package.json. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('tributary')
    .description('Keep many MySQL databases merged and in sync inside one PostgreSQL.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('-c, --config <path>', 'configuration file (default: $TRIBUTARY_CONFIG, else config/tributary.yml)')
    .addOption(new Option('--log-level <level>', 'log detail on stderr').choices(LOG_LEVELS))
    .addOption(new Option('--log-format <format>', 'log line format on stderr').choices(['json', 'pretty']))
    .showHelpAfterError()
    .exitOverride();
  registerInit(program);
  registerTriggers(program);
  registerSync(program);
  registerStatus(program);
  registerVerify(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof Exit) return error.code;
    const commanderError = error as { code?: string };
    if (typeof commanderError.code === 'string' && commanderError.code.startsWith('commander.')) {
      // commander has printed its message (unknown option, invalid choice...) already.
      const fine = ['commander.helpDisplayed', 'commander.version', 'commander.help'];
      return fine.includes(commanderError.code) ? ExitCode.ok : ExitCode.config;
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
