/**
 * `tributary init`: from source and target URLs to a commented configuration, listing the tables
 * every source has, and saying which tables cannot be synced as they are and why.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { parseMysqlUrl, parsePgUrl, type SourceConfig } from '../config';
import { isValidSourceId, SOURCE_ID_PROBLEM } from '../config/schema';
import { ConfigError } from '../errors';
import type { SourceTable } from '../model';
import { ConnectionBudget, openSource, sourceQuery } from '../mysql/connection';
import { introspectTables } from '../mysql/introspect';
import { sqlFile } from '../sqlfiles';
import { pgTypeFor } from '../convert/typemap';
import { targetNameProblem } from './projection';

export interface InitOptions {
  sources: { id: string; url: string }[];
  target: string;
  tables?: string[];
}

export interface InitResult {
  yaml: string;
  warnings: string[];
}

const passwordVariable = (id: string): string => `${id.toUpperCase()}_PASSWORD`;

/** The URL with its password replaced by a ${VAR} reference, so the file holds no secret. */
function withoutPassword(url: string, variable: string): string {
  const parsed = new URL(url);
  if (parsed.password === '') return url;
  parsed.password = 'PLACEHOLDER';
  return parsed.toString().replace('PLACEHOLDER', '${' + variable + '}');
}

function describe(table: SourceTable): string {
  return table.columns.map((c) => `${c.name} ${pgTypeFor(c)}`).join(', ');
}

// Views of the connected database: listed so that init can say why it leaves them out (MySQL fires
// no trigger on a view, so there is nothing to capture).
const VIEWS_SQL = "SELECT TABLE_NAME AS table_name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'VIEW' ORDER BY TABLE_NAME";



export async function initConfig(options: InitOptions): Promise<InitResult> {
  if (options.sources.length === 0) throw new ConfigError('init needs at least one --source ID=URL');
  parsePgUrl(options.target);
  options.sources.forEach((source, index) => {
    // Not echoed: a mistyped --source (a URL without "ID=") can put part of a password before the "=".
    if (!isValidSourceId(source.id)) throw new ConfigError(`--source number ${index + 1}: the text before "=" is ${SOURCE_ID_PROBLEM} (write ID=URL, e.g. eu=mysql://<user>:<password>@<host>:3306/<database>)`);
  });
  const warnings: string[] = [];
  const found = new Map<string, Map<string, SourceTable>>();
  // One source at a time over one connection: init may list many shards on one server, and a
  // connection moves from one database of a server to the next.
  const budget = new ConnectionBudget(1);
  const views = new Set<string>();
  const wantedName = (name: string): boolean => !options.tables || options.tables.includes(name);
  try {
    for (const source of options.sources) {
      const config: SourceConfig = { id: source.id, url: source.url, endpoint: parseMysqlUrl(source.url) };
      const handle = openSource(config, budget);
      const names = (await sourceQuery<RowDataPacket>(handle, 'listing tables', sqlFile('mysql/base_tables.sql'))).map((r) => String(r.table_name));
      for (const view of (await sourceQuery<RowDataPacket>(handle, 'listing views', VIEWS_SQL)).map((r) => String(r.table_name))) if (wantedName(view)) views.add(view);
      const wanted = names.filter(wantedName);
      for (const missing of (options.tables ?? []).filter((t) => !names.includes(t) && !views.has(t))) warnings.push(`table ${missing} does not exist in source ${source.id}`);
      found.set(source.id, await introspectTables(handle, wanted));
    }
  } finally {
    await budget.close();
  }
  const allNames = [...new Set([...found.values()].flatMap((tables) => [...tables.keys()]))].sort();
  const lines: string[] = [
    '# Tributary configuration written by `tributary init`. Review it, then:',
    '#   tributary --config THIS_FILE triggers print     (the DDL, for a DBA to review)',
    '#   tributary --config THIS_FILE triggers install',
    '#   tributary --config THIS_FILE sync --once',
    '# Every key is described in config/example.yml of the Tributary repository.',
    '',
    'target:',
    `  url: ${JSON.stringify(withoutPassword(options.target, 'TARGET_PASSWORD'))}`,
    '  schema: public',
    '',
    'sources:',
  ];
  for (const source of options.sources) {
    lines.push(`  - id: ${source.id}`, `    url: ${JSON.stringify(withoutPassword(source.url, passwordVariable(source.id)))}`);
  }
  lines.push('', 'tables:');
  let listed = 0;
  const leftOut: string[] = [];
  for (const view of [...views].sort()) {
    warnings.push(`table ${view}: left out: a view; Tributary captures base tables only (list the table it reads from instead)`);
    lines.push(`  # - name: ${JSON.stringify(view)}    # left out: a view (Tributary captures base tables only)`);
    leftOut.push(`${view} (a view)`);
  }
  for (const name of allNames) {
    const shapes = options.sources.map((s) => ({ id: s.id, table: found.get(s.id)!.get(name) }));
    const missingIn = shapes.filter((s) => !s.table).map((s) => s.id);
    const problems: string[] = [];
    if (missingIn.length > 0) problems.push(`missing in source(s) ${missingIn.join(', ')}`);
    const present = shapes.filter((s): s is { id: string; table: SourceTable } => s.table !== undefined);
    if (present.some((s) => s.table.key.length === 0)) problems.push('no primary key and no unique index on NOT NULL columns: add one, or declare key: [columns]');
    const naming = targetNameProblem({ target: name, rename: {} }, [...new Set(present.flatMap((s) => s.table.columns.map((c) => c.name)))]);
    if (naming !== undefined) problems.push(naming);
    const definitions = new Set(present.map((s) => describe(s.table)));
    const keys = new Set(present.map((s) => s.table.key.join(',')));
    const notes: string[] = [];
    if (keys.size > 1) problems.push(`keys differ between sources (${present.map((s) => `${s.id}: ${s.table.key.join(', ') || 'none'}`).join('; ')})`);
    else if (definitions.size > 1) notes.push('columns differ between sources; the target table will hold every column (see README, "Sources whose tables differ")');
    for (const problem of problems) warnings.push(`table ${name}: ${problem}`);
    for (const note of notes) warnings.push(`table ${name}: ${note}`);
    const entry = `  - name: ${JSON.stringify(name)}`;
    if (problems.length > 0) {
      lines.push(`  # ${entry.trim()}    # left out: ${problems.join('; ')}`);
      leftOut.push(`${name} (${problems.join('; ')})`);
    } else {
      lines.push(entry);
      for (const note of notes) lines.push(`    # ${note}`);
      listed++;
    }
  }
  if (listed === 0) {
    throw new ConfigError(
      `init found no table that can be synced as it is, so it writes no configuration${leftOut.length > 0 ? `; left out: ${leftOut.join('; ')}` : ' (the sources have no base tables' + (options.tables ? ' of those named by --tables' : '') + ')'}`,
    );
  }
  if (leftOut.length > 0) warnings.push(`left out ${leftOut.length} table(s), listed commented in the file: ${leftOut.map((t) => t.split(' (')[0]).join(', ')}`);
  lines.push('', 'schedule: "*/5 * * * * *"', 'batchSize: 10000', '');
  const passwords = [options.target, ...options.sources.map((s) => s.url)].some((u) => new URL(u).password !== '');
  if (passwords) {
    lines.unshift(
      `# Passwords were taken out of the URLs; set them in the environment: ${['TARGET_PASSWORD', ...options.sources.map((s) => passwordVariable(s.id))].join(', ')}`,
    );
  }
  return { yaml: lines.join('\n'), warnings };
}
