/**
 * What of a source table is synced, per its configuration: the key (primary key, unique key or
 * declared `key`), the columns (`columns.include` / `columns.exclude`) and the row filter (`where`).
 */
import type { TableConfig } from '../config';
import { TributaryError } from '../errors';
import type { SourceTable } from '../model';

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
  return {
    ...table,
    columns: table.columns.filter((c) => keep(c.name)),
    key,
    ...(config.where ? { filter: config.where } : {}),
    ...(config.changelog ? { changelog: config.changelog } : {}),
  };
}
