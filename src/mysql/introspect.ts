/** Reads the shape of the configured tables from a source's information_schema. */
import type { RowDataPacket } from 'mysql2/promise';
import type { SourceColumn, SourceTable } from '../model';
import { sqlFile } from '../sqlfiles';
import { type SourceHandle, sourceQuery } from './connection';

interface ColumnRow extends RowDataPacket {
  table_name: string;
  column_name: string;
  ordinal: string;
  data_type: string;
  column_type: string;
  is_nullable: string;
  charset: string | null;
  collation_name: string | null;
  char_max_length: string | null;
  numeric_precision: string | null;
  numeric_scale: string | null;
  datetime_precision: string | null;
}

const toInt = (v: string | null): number | null => (v === null ? null : Number(v));

// The server of a source does not change flavour while a process runs: asked once per source.
const flavours = new WeakMap<SourceHandle, boolean>();

export async function isMariaDb(handle: SourceHandle): Promise<boolean> {
  const known = flavours.get(handle);
  if (known !== undefined) return known;
  const rows = await sourceQuery<RowDataPacket>(handle, 'reading the server version', sqlFile('mysql/server.sql'));
  const row = rows[0] ?? {};
  const mariadb = /mariadb/i.test(`${row.version} ${row.version_comment}`);
  flavours.set(handle, mariadb);
  return mariadb;
}

/**
 * The shape of each named table. Tables that do not exist are left out of the map; the caller decides
 * whether that is an error. A table without a primary key is an error here.
 */
export async function introspectTables(handle: SourceHandle, tableNames: readonly string[]): Promise<Map<string, SourceTable>> {
  const result = new Map<string, SourceTable>();
  if (tableNames.length === 0) return result;
  const names = [...tableNames];
  const columnRows = await sourceQuery<ColumnRow>(handle, 'reading table columns', sqlFile('mysql/columns.sql'), [names]);
  const keyRows = await sourceQuery<RowDataPacket>(handle, 'reading primary keys', sqlFile('mysql/primary_keys.sql'), [names]);
  const jsonColumns = new Set<string>();
  if (await isMariaDb(handle)) {
    const checks = await sourceQuery<RowDataPacket>(handle, 'reading check constraints', sqlFile('mysql/mariadb_json_checks.sql'), [names]);
    for (const check of checks) {
      const match = /^\s*json_valid\(\s*`((?:[^`]|``)+)`\s*\)\s*$/i.exec(String(check.check_clause));
      if (match) jsonColumns.add(`${check.table_name}\u0000${match[1]!.replace(/``/g, '`')}`);
    }
  }
  for (const row of columnRows) {
    let table = result.get(row.table_name);
    if (!table) {
      table = { database: handle.database, name: row.table_name, columns: [], key: [] };
      result.set(row.table_name, table);
    }
    const column: SourceColumn = {
      name: row.column_name,
      ordinal: Number(row.ordinal),
      dataType: row.data_type,
      columnType: row.column_type,
      nullable: row.is_nullable === 'YES',
      unsigned: /\bunsigned\b/.test(row.column_type),
      charset: row.charset,
      collation: row.collation_name,
      charMaxLength: toInt(row.char_max_length),
      numericPrecision: toInt(row.numeric_precision),
      numericScale: toInt(row.numeric_scale),
      datetimePrecision: toInt(row.datetime_precision),
      isJson: row.data_type === 'json' || jsonColumns.has(`${row.table_name}\u0000${row.column_name}`),
    };
    table.columns.push(column);
  }
  const nullable = new Set(columnRows.filter((r) => r.is_nullable === 'YES').map((r) => `${r.table_name}\u0000${r.column_name}`));
  for (const [tableName, key] of chooseKeys(keyRows, nullable)) {
    const table = result.get(tableName);
    if (table) table.key = key;
  }
  return result;
}

/**
 * The key of each table: its primary key, else its first unique index whose columns are all NOT NULL
 * and indexed in full (a NULL or a prefix would not identify a row). Tables with neither get no entry.
 */
function chooseKeys(rows: RowDataPacket[], nullable: ReadonlySet<string>): Map<string, string[]> {
  const indexes = new Map<string, { table: string; columns: string[]; usable: boolean }>();
  for (const row of rows) {
    const id = `${row.table_name}\u0000${row.index_name}`;
    let index = indexes.get(id);
    if (!index) {
      index = { table: row.table_name, columns: [], usable: true };
      indexes.set(id, index);
    }
    index.columns.push(row.column_name);
    if (nullable.has(`${row.table_name}\u0000${row.column_name}`) || row.sub_part !== null) index.usable = false;
  }
  const keys = new Map<string, string[]>();
  // Rows come primary key first, then unique indexes by name.
  for (const index of indexes.values()) if (index.usable && !keys.has(index.table)) keys.set(index.table, index.columns);
  return keys;
}

/** Columns whose values mysql2 must hand over as bytes. */
export function binaryColumnNames(columns: readonly SourceColumn[]): Set<string> {
  return new Set(columns.filter(isBinaryColumn).map((c) => c.name));
}

export function isBinaryColumn(column: SourceColumn): boolean {
  if (['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob'].includes(column.dataType)) return true;
  return column.charset === 'binary';
}
