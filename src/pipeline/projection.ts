/**
 * What of a source table is synced, per its configuration: the key (primary key, unique key or
 * declared `key`), the columns (`columns.include` / `columns.exclude`) and the row filter (`where`).
 */
import type { TableConfig } from '../config';
import { ConfigError, TributaryError } from '../errors';
import type { SourceTable } from '../model';
import { INTERNAL_COLUMNS, PG_NAME_BYTES } from '../postgres/internal-columns';
import type { SourceHandle } from '../mysql/connection';
import { hasDuplicateKeys } from '../mysql/introspect';

export function projectTable(table: SourceTable, config: TableConfig, where: string): SourceTable {
  const context = `table ${table.name} in ${where}`;
  const names = new Set(table.columns.map((c) => c.name));
  const unknown = (list: readonly string[] | undefined, setting: string): void => {
    const missing = (list ?? []).filter((n) => !names.has(n));
    if (missing.length > 0) {
      throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `${context}: ${setting} names column(s) ${missing.join(', ')}, which the table does not have`);
    }
  };
  unknown(config.key, 'key');
  unknown(config.includeColumns, 'columns.include');
  unknown(config.excludeColumns, 'columns.exclude');
  unknown(Object.keys(config.rename), 'rename');

  const key = config.key ? [...config.key] : table.key;
  if (key.length === 0) {
    throw new TributaryError(
      'SOURCE_TABLE_NO_KEY',
      `${context} has no primary key and no unique index on NOT NULL columns; Tributary needs a key to match rows between MySQL and PostgreSQL: add one, or declare \`key: [column, ...]\` in the table's configuration`,
    );
  }
  const nullableKey = key.filter((k) => table.columns.find((c) => c.name === k)?.nullable);
  if (nullableKey.length > 0) {
    throw new TributaryError(
      'SOURCE_SCHEMA_MISMATCH',
      `${context}: key column(s) ${nullableKey.join(', ')} allow NULL, and a key must identify every row: make them NOT NULL in MySQL (ALTER TABLE ... MODIFY ... NOT NULL) or declare other columns as \`key\``,
    );
  }
  const excludedKey = key.filter((k) => config.excludeColumns?.includes(k));
  if (excludedKey.length > 0) {
    throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `${context}: columns.exclude names key column(s) ${excludedKey.join(', ')}; key columns are always synced`);
  }
  const keep = (name: string): boolean => {
    if (key.includes(name)) return true;
    if (config.includeColumns) return config.includeColumns.includes(name);
    if (config.excludeColumns) return !config.excludeColumns.includes(name);
    return true;
  };
  const dropped = Object.keys(config.rename).filter((n) => !keep(n));
  if (dropped.length > 0) throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `${context}: rename names column(s) ${dropped.join(', ')}, which are not synced`);
  const columns = table.columns.filter((c) => keep(c.name));
  checkTargetNames(context, config, columns.map((c) => c.name));
  return {
    ...table,
    columns,
    key,
    ...(config.where ? { filter: config.where } : {}),
    ...(config.changelog ? { changelog: config.changelog } : {}),
  };
}

/**
 * Names PostgreSQL cannot take as they are, refused before anything is created or installed, each with
 * the setting that fixes it: a target table name over 63 bytes (PostgreSQL would cut it silently, and
 * two tables could end up as one), a column over 63 bytes, or a column named like one of Tributary's own.
 */
function checkTargetNames(context: string, config: TableConfig, sourceColumns: readonly string[]): void {
  const problem = targetNameProblem(config, sourceColumns);
  if (problem !== undefined) throw new ConfigError(`${context}: ${problem} in the table's configuration`);
}

/** The first name of the table that PostgreSQL or Tributary cannot take, with its fix; also used by init. */
export function targetNameProblem(config: Pick<TableConfig, 'target' | 'rename'>, sourceColumns: readonly string[]): string | undefined {
  const bytes = (name: string): number => Buffer.byteLength(name, 'utf8');
  if (bytes(config.target) > PG_NAME_BYTES) {
    return `the target table name ${JSON.stringify(config.target)} is ${bytes(config.target)} bytes long; PostgreSQL names are at most ${PG_NAME_BYTES} bytes: set \`target: ${shortened(config.target)}\` (or another shorter name)`;
  }
  const targetNames = sourceColumns.map((name) => config.rename[name] ?? name);
  for (const [i, name] of sourceColumns.entries()) {
    const target = targetNames[i]!;
    const renamed = target === name ? '' : ` (renamed to ${JSON.stringify(target)})`;
    if (INTERNAL_COLUMNS.includes(target)) {
      const free = freeName(target.replace(/^_+/, ''), targetNames);
      return `column ${JSON.stringify(name)}${renamed} has a name Tributary uses for its own columns (${INTERNAL_COLUMNS.join(', ')}): give it another name in the target with \`rename: { ${name}: ${free} }\``;
    }
    if (bytes(target) > PG_NAME_BYTES) {
      return `column ${JSON.stringify(name)}${renamed} is ${bytes(target)} bytes long; PostgreSQL names are at most ${PG_NAME_BYTES} bytes: give it a shorter name in the target with \`rename: { ${name}: ${freeName(shortened(target), targetNames)} }\``;
    }
  }
  return undefined;
}

/** A suggestion: the name cut to fit, well within the limit. */
function shortened(name: string): string {
  let out = '';
  for (const char of name) {
    if (Buffer.byteLength(out + char, 'utf8') > PG_NAME_BYTES - 8) break;
    out += char;
  }
  return out;
}

/** base, or base_2, base_3...: a name no column of the table has. */
function freeName(base: string, taken: readonly string[]): string {
  let name = base;
  for (let n = 2; taken.includes(name) || INTERNAL_COLUMNS.includes(name); n++) name = `${base}_${n}`;
  return name;
}

// A declared key without a unique index is checked by reading the table once (GROUP BY the key):
// once per source and table in a process, not on every re-preparation.
const checkedKeys = new WeakMap<SourceHandle, Set<string>>();

/**
 * A declared `key` must be unique in the source, or the snapshot would stop on a duplicate key in
 * PostgreSQL. A unique index on (some of) the key columns proves it without reading the table; else
 * the table is scanned for one duplicate.
 */
export async function checkDeclaredKey(source: SourceHandle, table: SourceTable): Promise<void> {
  if ((table.uniqueIndexes ?? []).some((index) => index.every((column) => table.key.includes(column)))) return;
  const checked = checkedKeys.get(source) ?? new Set<string>();
  checkedKeys.set(source, checked);
  const id = JSON.stringify([table.name, table.key]);
  if (checked.has(id)) return;
  if (await hasDuplicateKeys(source, table.name, table.key)) {
    throw new TributaryError(
      'SOURCE_SCHEMA_MISMATCH',
      `table ${table.name} in ${source.where}: the declared key (${table.key.join(', ')}) is not unique: some rows share its values; declare columns that identify each row, or add a unique index`,
    );
  }
  checked.add(id);
}
