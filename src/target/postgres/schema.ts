/** The merged target tables: their columns, key and creation. */
import { TributaryError } from '../../errors';
import { qualifiedPg, quotePg } from '../../ident';
import type { SourceColumn, SourceTable } from '../../model';
import { type PoolClient, type TargetHandle, targetQuery } from './connection';
import { pgTypeFor } from './typemap';

/** Column stored in every target row: the id of the source the row came from. */
export const SOURCE_COLUMN = '_source';

export interface TargetColumn {
  /** Name in the target (after `rename`); the source name is source.name. */
  name: string;
  pgType: string;
  source: SourceColumn;
}

export interface TargetTable {
  schema: string;
  name: string;
  /** schema.table, quoted. */
  qualified: string;
  /** Data columns in source order (without _source). */
  columns: TargetColumn[];
  /** Key columns in key order, target names (the target key is _source + these). */
  key: string[];
  /** The same key columns, source names. */
  sourceKey: string[];
}

const PG_NAME_BYTES = 63;
// _source is stored in target rows; _tributary_op exists only in staging tables.
const RESERVED_COLUMNS = [SOURCE_COLUMN, '_tributary_op'];

export function targetTableFor(schema: string, targetName: string, source: SourceTable, rename: Readonly<Record<string, string>> = {}): TargetTable {
  const targetNameOf = (column: string): string => rename[column] ?? column;
  const targetNames = source.columns.map((c) => targetNameOf(c.name));
  const clash = targetNames.find((n, i) => targetNames.indexOf(n) !== i);
  if (clash !== undefined) throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `table ${source.name}: two columns would be named ${clash} in the target; adjust rename`);
  for (const name of [targetName, ...targetNames]) {
    if (Buffer.byteLength(name, 'utf8') > PG_NAME_BYTES) {
      throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `name ${JSON.stringify(name)} of table ${source.name} is longer than PostgreSQL's ${PG_NAME_BYTES}-byte limit for identifiers`);
    }
  }
  for (const reserved of RESERVED_COLUMNS) {
    if (targetNames.includes(reserved)) {
      throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `table ${source.name} has a column named ${reserved}, a name Tributary reserves for its own use`);
    }
  }
  return {
    schema,
    name: targetName,
    qualified: qualifiedPg(schema, targetName),
    columns: source.columns.map((column) => ({ name: targetNameOf(column.name), pgType: pgTypeFor(column), source: column })),
    key: source.key.map(targetNameOf),
    sourceKey: [...source.key],
  };
}

export function createTableSql(table: TargetTable): string {
  const lines = [
    `  ${quotePg(SOURCE_COLUMN)} text NOT NULL`,
    ...table.columns.map((c) => `  ${quotePg(c.name)} ${c.pgType}${table.key.includes(c.name) ? ' NOT NULL' : ''}`),
    `  PRIMARY KEY (${[SOURCE_COLUMN, ...table.key].map(quotePg).join(', ')})`,
  ];
  return `CREATE TABLE IF NOT EXISTS ${table.qualified} (\n${lines.join(',\n')}\n)`;
}

/** Checks that the same table in two sources can merge into one target table. */
export function assertSameShape(first: { sourceId: string; table: TargetTable }, other: { sourceId: string; table: TargetTable }): void {
  const a = first.table;
  const b = other.table;
  const where = `table ${a.name}: sources ${first.sourceId} and ${other.sourceId}`;
  if (a.key.join('\u0000') !== b.key.join('\u0000')) {
    throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `${where} have different primary keys (${a.key.join(', ')} vs ${b.key.join(', ')})`);
  }
  const names = (t: TargetTable) => t.columns.map((c) => c.name);
  const missing = names(a).filter((n) => !names(b).includes(n));
  const extra = names(b).filter((n) => !names(a).includes(n));
  if (missing.length || extra.length) {
    const parts = [missing.length ? `only in ${first.sourceId}: ${missing.join(', ')}` : '', extra.length ? `only in ${other.sourceId}: ${extra.join(', ')}` : ''].filter(Boolean);
    throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `${where} have different columns (${parts.join('; ')})`);
  }
  for (const column of a.columns) {
    const twin = b.columns.find((c) => c.name === column.name)!;
    if (twin.pgType !== column.pgType) {
      throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `${where} disagree on column ${column.name}: ${column.source.columnType} maps to ${column.pgType}, ${twin.source.columnType} maps to ${twin.pgType}`);
    }
  }
}

/** Creates the target table if missing; checks an existing one has every column and the right key. */
export async function ensureTargetTable(handle: TargetHandle, client: PoolClient, table: TargetTable): Promise<'created' | 'exists'> {
  const doing = `preparing target table ${table.schema}.${table.name}`;
  await targetQuery(client, handle.where, doing, `CREATE SCHEMA IF NOT EXISTS ${quotePg(table.schema)}`);
  const existing = await targetQuery<{ column_name: string }>(
    client,
    handle.where,
    doing,
    'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
    [table.schema, table.name],
  );
  if (existing.rows.length === 0) {
    await targetQuery(client, handle.where, doing, createTableSql(table));
    return 'created';
  }
  const present = new Set(existing.rows.map((r) => r.column_name));
  const missing = [SOURCE_COLUMN, ...table.columns.map((c) => c.name)].filter((n) => !present.has(n));
  if (missing.length > 0) {
    throw new TributaryError('TARGET_SCHEMA_MISMATCH', `target table ${table.schema}.${table.name} exists but lacks column(s) ${missing.join(', ')}`);
  }
  const keyRows = await targetQuery<{ column_name: string }>(
    client,
    handle.where,
    doing,
    `SELECT a.attname AS column_name
       FROM pg_index i
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = $1::regclass AND i.indisprimary
      ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [table.qualified],
  );
  const actualKey = keyRows.rows.map((r) => r.column_name);
  const expectedKey = [SOURCE_COLUMN, ...table.key];
  if (actualKey.join('\u0000') !== expectedKey.join('\u0000')) {
    throw new TributaryError(
      'TARGET_SCHEMA_MISMATCH',
      `target table ${table.schema}.${table.name} has primary key (${actualKey.join(', ') || 'none'}), expected (${expectedKey.join(', ')})`,
    );
  }
  return 'exists';
}
