/** Reads the shape of the configured tables from a source's information_schema. */
import type { RowDataPacket } from 'mysql2/promise';
import type { SourceColumn, SourceIndex, SourceTable } from '../model';
import { quoteMysql } from '../ident';
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
  column_comment: string | null;
}

interface IndexRow extends RowDataPacket {
  table_name: string;
  index_name: string;
  column_name: string | null;
  seq: string;
  sub_part: string | null;
  non_unique: string | number;
  index_type: string;
}

const toInt = (v: string | null): number | null => (v === null ? null : Number(v));

// A server does not change flavour while a process runs: asked once per server and login (shards on
// one server share the answer; asking per source cost a round trip per source at every start).
const flavours = new Map<string, Promise<boolean>>();

export function isMariaDb(handle: SourceHandle): Promise<boolean> {
  let known = flavours.get(handle.server);
  if (!known) {
    known = sourceQuery<RowDataPacket>(handle, 'reading the server version', sqlFile('mysql/server.sql')).then((rows) => {
      const row = rows[0] ?? {};
      return /mariadb/i.test(`${row.version} ${row.version_comment}`);
    });
    // A failed read (server down) is asked again by the next caller rather than remembered.
    known.catch(() => flavours.delete(handle.server));
    flavours.set(handle.server, known);
  }
  return known;
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
  const indexRows = await sourceQuery<IndexRow>(handle, 'reading indexes', sqlFile('mysql/indexes.sql'), [handle.database, names]);
  const commentRows = await sourceQuery<RowDataPacket>(handle, 'reading table comments', sqlFile('mysql/table_comments.sql'), [handle.database, names]);
  const mariadb = await isMariaDb(handle);
  const srids = columnRows.some((r) => SPATIAL_TYPES.has(r.data_type)) ? await readSrids(handle, names, mariadb) : new Map<string, number>();
  const jsonColumns = new Set<string>();
  if (mariadb) {
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
      ...(row.column_comment ? { comment: row.column_comment } : {}),
    };
    const srid = srids.get(`${row.table_name}\u0000${row.column_name}`);
    if (srid !== undefined) column.srid = srid;
    table.columns.push(column);
  }
  const nullable = new Set(columnRows.filter((r) => r.is_nullable === 'YES').map((r) => `${r.table_name}\u0000${r.column_name}`));
  const uniqueRows = indexRows.filter((r) => Number(r.non_unique) === 0);
  for (const [tableName, key] of chooseKeys(uniqueRows, nullable)) {
    const table = result.get(tableName);
    if (table) table.key = key;
  }
  for (const [tableName, indexes] of groupIndexes(indexRows)) {
    const table = result.get(tableName);
    if (table) table.indexes = indexes;
  }
  for (const [tableName, indexes] of uniqueIndexes(uniqueRows)) {
    const table = result.get(tableName);
    if (table) table.uniqueIndexes = indexes;
  }
  for (const row of commentRows) {
    const table = result.get(row.table_name);
    if (table) table.comment = String(row.table_comment);
  }
  return result;
}

/** Whether a table has a spatial column: its SRIDs are read apart from the columns (see readSrids). */
export function hasSpatialColumns(table: SourceTable): boolean {
  return table.columns.some((c) => SPATIAL_TYPES.has(c.dataType) || c.srid !== undefined);
}

const SPATIAL_TYPES = new Set(['geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon', 'geometrycollection', 'geomcollection']);

/** The SRID each spatial column declares (0 or none: undeclared, left out). */
async function readSrids(handle: SourceHandle, names: string[], mariadb: boolean): Promise<Map<string, number>> {
  const file = mariadb ? 'mysql/mariadb_srids.sql' : 'mysql/mysql_srids.sql';
  const rows = await sourceQuery<RowDataPacket>(handle, 'reading spatial column SRIDs', sqlFile(file), [handle.database, names]);
  const result = new Map<string, number>();
  for (const row of rows) {
    if (row.srid !== null && Number(row.srid) > 0) result.set(`${row.table_name}\u0000${row.column_name}`, Number(row.srid));
  }
  return result;
}

/** Secondary and unique indexes per table, the primary key left out; rows come in index order. */
function groupIndexes(rows: readonly IndexRow[]): Map<string, SourceIndex[]> {
  const result = new Map<string, SourceIndex[]>();
  for (const row of rows) {
    if (row.index_name === 'PRIMARY') continue;
    let indexes = result.get(row.table_name);
    if (!indexes) result.set(row.table_name, (indexes = []));
    let index = indexes.find((i) => i.name === row.index_name);
    if (!index) indexes.push((index = { name: row.index_name, unique: Number(row.non_unique) === 0, kind: String(row.index_type).toUpperCase(), parts: [] }));
    index.parts.push({ column: row.column_name ?? null, prefix: row.sub_part === null ? null : Number(row.sub_part) });
  }
  return result;
}

/**
 * The key of each table: its primary key, else its first unique index whose columns are all NOT NULL
 * and indexed in full (a NULL or a prefix would not identify a row). Tables with neither get no entry.
 */
function chooseKeys(rows: readonly IndexRow[], nullable: ReadonlySet<string>): Map<string, string[]> {
  const indexes = new Map<string, { table: string; columns: string[]; usable: boolean }>();
  for (const row of rows) {
    const id = `${row.table_name}\u0000${row.index_name}`;
    let index = indexes.get(id);
    if (!index) {
      index = { table: row.table_name, columns: [], usable: true };
      indexes.set(id, index);
    }
    // A functional part (MySQL 8) names no column and cannot be a key either.
    index.columns.push(row.column_name ?? '');
    if (row.column_name === null || nullable.has(`${row.table_name}\u0000${row.column_name}`) || row.sub_part !== null) index.usable = false;
  }
  const keys = new Map<string, string[]>();
  // Rows come primary key first, then unique indexes by name.
  for (const index of indexes.values()) if (index.usable && !keys.has(index.table)) keys.set(index.table, index.columns);
  return keys;
}

/** Each table's unique indexes whose columns are indexed in full, by table. */
function uniqueIndexes(rows: readonly IndexRow[]): Map<string, string[][]> {
  const indexes = new Map<string, { table: string; columns: string[]; full: boolean }>();
  for (const row of rows) {
    const id = `${row.table_name}\u0000${row.index_name}`;
    const index = indexes.get(id) ?? { table: String(row.table_name), columns: [], full: true };
    indexes.set(id, index);
    index.columns.push(String(row.column_name));
    // A prefix or a functional part does not make the columns themselves unique.
    if (row.sub_part !== null || row.column_name === null) index.full = false;
  }
  const byTable = new Map<string, string[][]>();
  for (const index of indexes.values()) if (index.full) byTable.set(index.table, [...(byTable.get(index.table) ?? []), index.columns]);
  return byTable;
}

/** Whether any row of the table shares its key values with another; reads the table once. */
export async function hasDuplicateKeys(handle: SourceHandle, table: string, key: readonly string[]): Promise<boolean> {
  const columns = key.map(quoteMysql).join(', ');
  const rows = await sourceQuery<RowDataPacket>(handle, `checking the declared key of ${table}`, `SELECT 1 AS duplicate FROM ${quoteMysql(table)} GROUP BY ${columns} HAVING COUNT(*) > 1 LIMIT 1`);
  return rows.length > 0;
}

/** Columns whose values mysql2 must hand over as bytes. */
export function binaryColumnNames(columns: readonly SourceColumn[]): Set<string> {
  return new Set(columns.filter(isBinaryColumn).map((c) => c.name));
}

export function isBinaryColumn(column: SourceColumn): boolean {
  if (['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob'].includes(column.dataType)) return true;
  return column.charset === 'binary';
}
