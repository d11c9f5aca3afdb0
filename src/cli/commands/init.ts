/** `tributary init`: a commented configuration from source and target URLs. */
import type { Command } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import { TributaryError } from '../../errors';
import { initConfig } from '../../pipeline/init';
import { collect, Exit, loggerFor } from '../context';
import { ExitCode } from '../exit-codes';

interface InitOptions {
  source: string[];
  target: string;
  tables?: string;
  out?: string;
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a commented configuration from source and target URLs, listing the tables every source has')
    .requiredOption('--source <id=url>', 'a source, as ID=mysql://user:password@host:port/database (repeatable)', collect, [])
    .requiredOption('--target <url>', 'postgres://user:password@host:port/database')
    .option('--tables <names>', 'only these tables, comma-separated')
    .option('--out <file>', 'write the configuration here instead of stdout (an existing file is not overwritten)')
    .action(async (opts: InitOptions) => {
      const sources = opts.source.map((pair) => {
        const at = pair.indexOf('=');
        if (at <= 0) throw new TributaryError('CONFIG_INVALID', '--source: expected ID=URL, e.g. eu=mysql://<user>:<password>@<host>:3306/<database>');
        return { id: pair.slice(0, at), url: pair.slice(at + 1) };
      });
      const logger = loggerFor(program);
      const tables = opts.tables ? { tables: opts.tables.split(',').map((t) => t.trim()).filter(Boolean) } : {};
      const result = await initConfig({ sources, target: opts.target, ...tables });
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
}
