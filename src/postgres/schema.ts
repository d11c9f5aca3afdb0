/** The merged target tables: their columns, key and creation. */
import { TributaryError } from '../errors';
import { pgStringLiteral, qualifiedPg, quotePg } from '../ident';
import type { BadValuePolicy, ConflictPolicy, IndexPolicy } from '../config';
import type { SourceColumn, SourceTable } from '../model';
import { type PoolClient, type TargetHandle, targetQuery } from './connection';
import { isGeometryType, pgTypeFor } from '../convert/typemap';
import type { TargetIndex } from './indexes';
import { INTERNAL_COLUMNS, PG_NAME_BYTES, SOURCE_COLUMN } from './internal-columns';

export { SOURCE_COLUMN };

export interface TargetColumn {
  /** Name in the target (after `rename`); the source name is source.name. */
  name: string;
  pgType: string;
  source: SourceColumn;
  /**
   * NOT NULL in the target: NOT NULL in every source, present in every source, and the table's
   * onBadValue cannot store NULL in its place (policy null can).
   */
  notNull: boolean;
  /** The source's column comment (the first source that has one). */
  comment?: string;
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
  /** false: rows of all sources share one key space (the key alone); conflicts resolved per `conflict`. */
  keyIncludesSource: boolean;
  conflict: ConflictPolicy;
  /** conflict newest: target column whose greater value wins. */
  newestBy?: string;
  /** conflict priority: source ids, highest first. */
  priority?: readonly string[];
  /** Secondary and unique indexes Tributary builds on the target table (see indexes.ts). */
  indexes: TargetIndex[];
  /** The source's table comment (the first source that has one). */
  comment?: string;
}

export interface MergeOptions {
  rename?: Readonly<Record<string, string>>;
  keyIncludesSource?: boolean;
  conflict?: ConflictPolicy;
  newestBy?: string;
  priority?: readonly string[];
  onBadValue?: BadValuePolicy;
  indexes?: IndexPolicy;
  /** The target database has PostGIS: spatial columns become geometry. */
  postgis?: boolean;
}

/** The target's primary key columns. */
export function targetKey(table: Pick<TargetTable, 'key' | 'keyIncludesSource'>): string[] {
  return table.keyIncludesSource ? [SOURCE_COLUMN, ...table.key] : [...table.key];
}


export function targetTableFor(schema: string, targetName: string, source: SourceTable, options: MergeOptions = {}): TargetTable {
  const rename = options.rename ?? {};
  const targetNameOf = (column: string): string => rename[column] ?? column;
  const targetNames = source.columns.map((c) => targetNameOf(c.name));
  const clash = targetNames.find((n, i) => targetNames.indexOf(n) !== i);
  if (clash !== undefined) throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `table ${source.name}: two columns would be named ${clash} in the target; adjust rename`);
  for (const name of [targetName, ...targetNames]) {
    if (Buffer.byteLength(name, 'utf8') > PG_NAME_BYTES) {
      throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `name ${JSON.stringify(name)} of table ${source.name} is longer than PostgreSQL's ${PG_NAME_BYTES}-byte limit for identifiers`);
    }
  }
  // Checked at start-up already (projection); again here, where the table's columns are decided.
  for (const reserved of INTERNAL_COLUMNS) {
    if (targetNames.includes(reserved)) {
      throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `table ${source.name} has a column named ${reserved}, a name Tributary reserves for its own use`);
    }
  }
  return {
    schema,
    name: targetName,
    qualified: qualifiedPg(schema, targetName),
    columns: source.columns.map((column) => ({
      name: targetNameOf(column.name),
      pgType: pgTypeFor(column, { postgis: options.postgis ?? false }),
      source: column,
      notNull: source.key.includes(column.name) || (!column.nullable && options.onBadValue !== 'null'),
      ...(column.comment ? { comment: column.comment } : {}),
    })),
    key: source.key.map(targetNameOf),
    sourceKey: [...source.key],
    keyIncludesSource: options.keyIncludesSource ?? true,
    conflict: options.conflict ?? 'error',
    ...(options.newestBy ? { newestBy: newestColumn(source, options.newestBy, targetNameOf) } : {}),
    ...(options.priority ? { priority: options.priority } : {}),
    indexes: [],
    ...(source.comment ? { comment: source.comment } : {}),
  };
}

function newestColumn(source: SourceTable, column: string, targetNameOf: (c: string) => string): string {
  if (!source.columns.some((c) => c.name === column)) {
    throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `table ${source.name}: newestBy names column ${column}, which is not synced from the table`);
  }
  return targetNameOf(column);
}

export function createTableSql(table: TargetTable): string {
  const lines = [
    `  ${quotePg(SOURCE_COLUMN)} text NOT NULL`,
    ...table.columns.map((c) => `  ${quotePg(c.name)} ${c.pgType}${table.key.includes(c.name) || c.notNull ? ' NOT NULL' : ''}`),
    `  PRIMARY KEY (${targetKey(table).map(quotePg).join(', ')})`,
  ];
  return `CREATE TABLE IF NOT EXISTS ${table.qualified} (\n${lines.join(',\n')}\n)`;
}

/**
 * PostgreSQL's own spelling of each type (format_type), so types from different sources and the
 * types of an existing table compare as equal when they are: 'varchar(50)' is 'character varying(50)'.
 */
export async function canonicalTypes(handle: TargetHandle, client: PoolClient, types: readonly string[]): Promise<Map<string, string>> {
  const distinct = [...new Set(types)];
  const result = new Map<string, string>();
  if (distinct.length === 0) return result;
  const name = 'tributary_type_probe';
  const doing = 'resolving column types';
  await targetQuery(client, handle.where, doing, `DROP TABLE IF EXISTS pg_temp.${name}`);
  await targetQuery(client, handle.where, doing, `CREATE TEMP TABLE ${name} (${distinct.map((t, i) => `c${i} ${t}`).join(', ')})`);
  const rows = await targetQuery<{ attname: string; type: string }>(
    client,
    handle.where,
    doing,
    `SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'pg_temp.${name}'::regclass AND attnum > 0`,
  );
  await targetQuery(client, handle.where, doing, `DROP TABLE pg_temp.${name}`);
  for (const row of rows.rows) result.set(distinct[Number(row.attname.slice(1))]!, row.type);
  return result;
}

// Integer types as the decimal digits they hold, so they widen into each other and into numeric.
const INTEGER_DIGITS: Record<string, number> = { smallint: 5, integer: 10, bigint: 19 };
const INTEGER_BY_DIGITS: [number, string][] = [[5, 'smallint'], [10, 'integer'], [19, 'bigint']];

function numericShape(type: string): { digits: number; scale: number } | null {
  if (type in INTEGER_DIGITS) return { digits: INTEGER_DIGITS[type]!, scale: 0 };
  const match = /^numeric\((\d+),(\d+)\)$/.exec(type);
  return match ? { digits: Number(match[1]) - Number(match[2]), scale: Number(match[2]) } : null;
}

/**
 * The narrowest type holding every value of both (PostgreSQL spellings), or null when there is none
 * without changing values (e.g. text and integer, bit(3) and bit(5)).
 */
export function widerType(a: string, b: string): string | null {
  if (a === b) return a;
  const na = numericShape(a);
  const nb = numericShape(b);
  if (na && nb) {
    const digits = Math.max(na.digits, nb.digits);
    const scale = Math.max(na.scale, nb.scale);
    if (scale === 0 && (a in INTEGER_DIGITS || b in INTEGER_DIGITS) && (na.scale === 0 && nb.scale === 0)) {
      const integer = INTEGER_BY_DIGITS.find(([d]) => d >= digits);
      if (integer && a in INTEGER_DIGITS && b in INTEGER_DIGITS) return integer[1];
    }
    return `numeric(${Math.min(1000, digits + scale)},${scale})`;
  }
  const varchar = (t: string): number | null => Number(/^character varying\((\d+)\)$/.exec(t)?.[1] ?? NaN) || null;
  const va = varchar(a);
  const vb = varchar(b);
  if (va && vb) return `character varying(${Math.max(va, vb)})`;
  if ((va && b === 'text') || (vb && a === 'text')) return 'text';
  const precision = /^(timestamp|time)\((\d)\) (with|without) time zone$/;
  const pa = precision.exec(a);
  const pb = precision.exec(b);
  if (pa && pb && pa[1] === pb[1] && pa[3] === pb[3]) return pa[2]! >= pb[2]! ? a : b;
  if ((a === 'real' && b === 'double precision') || (b === 'real' && a === 'double precision')) return 'double precision';
  // Sources declaring different SRIDs (or one none) share a geometry column without an SRID typmod.
  if (isGeometryType(a) && isGeometryType(b)) return 'geometry';
  return null;
}

/**
 * The one target table for a configured table, from each source's view of it: every column any source
 * has (a source without one leaves it NULL in its rows), each with a type that holds all sources'
 * values. Keys must agree. Types must already be in PostgreSQL's spelling (canonicalTypes).
 */
export function mergeShapes(views: readonly { sourceId: string; table: TargetTable }[]): TargetTable {
  const first = views[0]!;
  const columns: TargetColumn[] = first.table.columns.map((c) => ({ ...c }));
  const owner = new Map(columns.map((c) => [c.name, first.sourceId]));
  for (const view of views.slice(1)) {
    const where = `table ${first.table.name}: sources ${first.sourceId} and ${view.sourceId}`;
    if (view.table.key.join('\u0000') !== first.table.key.join('\u0000')) {
      throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `${where} have different keys (${first.table.key.join(', ')} vs ${view.table.key.join(', ')})`);
    }
    for (const column of view.table.columns) {
      const existing = columns.find((c) => c.name === column.name);
      if (!existing) {
        columns.push({ ...column });
        owner.set(column.name, view.sourceId);
        continue;
      }
      const wider = widerType(existing.pgType, column.pgType);
      if (wider === null) {
        throw new TributaryError(
          'SOURCE_SCHEMA_MISMATCH',
          `table ${first.table.name}: column ${column.name} is ${existing.source.columnType} in source ${owner.get(column.name)} but ${column.source.columnType} in source ${view.sourceId}, and no PostgreSQL type holds both (${existing.pgType}, ${column.pgType})`,
        );
      }
      existing.pgType = wider;
      existing.notNull &&= column.notNull;
      if (!existing.comment && column.comment) existing.comment = column.comment;
    }
  }
  // A column some source lacks is NULL in that source's rows.
  for (const column of columns) {
    if (!views.every((v) => v.table.columns.some((c) => c.name === column.name))) column.notNull = false;
  }
  const comment = views.map((v) => v.table.comment).find((c) => c);
  return { ...first.table, columns, ...(comment ? { comment } : {}) };
}

/** An existing target table whose primary key is not the one the table's settings need. */
export class TargetKeyMismatch extends TributaryError {
  constructor(
    readonly table: TargetTable,
    readonly actualKey: string[],
    readonly expectedKey: string[],
  ) {
    super('TARGET_SCHEMA_MISMATCH', `target table ${table.schema}.${table.name} has primary key (${actualKey.join(', ') || 'none'}), expected (${expectedKey.join(', ')})`);
    this.name = 'TargetKeyMismatch';
  }
}

export interface TableChanges {
  created: boolean;
  addedColumns: string[];
  widenedColumns: string[];
  /** Columns in the target that no source has any more: kept, no longer updated. */
  orphanColumns: string[];
  /** bytea columns holding MySQL spatial bytes, converted to PostGIS geometry. */
  geometryColumns: string[];
  notNullAdded: string[];
  notNullDropped: string[];
  /** Columns that should be NOT NULL but hold NULLs already (left nullable, tried again next prepare). */
  notNullSkipped: string[];
  commented: number;
}

interface PresentColumn {
  column_name: string;
  type: string;
  not_null: boolean;
  comment: string | null;
}

/**
 * Creates the target table if missing; otherwise evolves it: adds columns the sources gained, widens
 * types the sources widened, and checks the key. Narrowing or incompatible changes are refused with an
 * error rather than applied. NOT NULL and comments follow the sources either way.
 */
export async function ensureTargetTable(handle: TargetHandle, client: PoolClient, table: TargetTable): Promise<TableChanges> {
  const doing = `preparing target table ${table.schema}.${table.name}`;
  const changes: TableChanges = { created: false, addedColumns: [], widenedColumns: [], orphanColumns: [], geometryColumns: [], notNullAdded: [], notNullDropped: [], notNullSkipped: [], commented: 0 };
  await targetQuery(client, handle.where, doing, `CREATE SCHEMA IF NOT EXISTS ${quotePg(table.schema)}`);
  const existing = await targetQuery<PresentColumn>(
    client,
    handle.where,
    doing,
    `SELECT a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
            col_description(c.oid, a.attnum) AS comment
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [table.schema, table.name],
  );
  if (existing.rows.length === 0) {
    await targetQuery(client, handle.where, doing, createTableSql(table));
    changes.commented = await syncComments(handle, client, table, new Map(), null);
    return { ...changes, created: true };
  }
  const present = new Map(existing.rows.map((r) => [r.column_name, r]));
  if (!present.has(SOURCE_COLUMN)) {
    throw new TributaryError('TARGET_SCHEMA_MISMATCH', `target table ${table.schema}.${table.name} exists but has no ${SOURCE_COLUMN} column; it was not created by Tributary`);
  }
  const alterations: string[] = [];
  for (const column of table.columns) {
    const current = present.get(column.name)?.type;
    if (current === undefined) {
      alterations.push(`ADD COLUMN ${quotePg(column.name)} ${column.pgType}`);
      changes.addedColumns.push(column.name);
    } else if (current === 'bytea' && isGeometryType(column.pgType)) {
      // PostGIS was installed after the table was made: the stored MySQL bytes become geometry.
      alterations.push(`ALTER COLUMN ${quotePg(column.name)} TYPE ${column.pgType} USING ${geometryFromMysqlBytes(quotePg(column.name))}`);
      changes.geometryColumns.push(column.name);
    } else if (current !== column.pgType) {
      const wider = widerType(current, column.pgType);
      if (wider !== column.pgType) {
        throw new TributaryError(
          'TARGET_SCHEMA_MISMATCH',
          `target column ${table.name}.${column.name} is ${current}; the source now needs ${column.pgType}, which ${wider === current ? 'is narrower (values would not change, so the target is left as it is: alter it by hand if wanted)' : 'it cannot be changed into without altering values'}`,
        );
      }
      alterations.push(`ALTER COLUMN ${quotePg(column.name)} TYPE ${column.pgType}`);
      changes.widenedColumns.push(column.name);
    }
  }
  const wanted = new Set([SOURCE_COLUMN, ...table.columns.map((c) => c.name)]);
  changes.orphanColumns = [...present.keys()].filter((n) => !wanted.has(n));
  // A column may only stay NOT NULL while every row written can fill it: orphans and columns that
  // lost the guarantee give it up (key columns keep it: the primary key needs it).
  const keyColumns = new Set(targetKey(table));
  for (const [name, column] of present) {
    if (!column.not_null || keyColumns.has(name) || name === SOURCE_COLUMN) continue;
    if (table.columns.find((c) => c.name === name)?.notNull) continue;
    alterations.push(`ALTER COLUMN ${quotePg(name)} DROP NOT NULL`);
    changes.notNullDropped.push(name);
  }
  if (alterations.length > 0) {
    await targetQuery(client, handle.where, doing, `ALTER TABLE ${table.qualified} ${alterations.join(', ')}`);
  }
  const candidates = table.columns.filter((c) => c.notNull && !keyColumns.has(c.name) && !present.get(c.name)?.not_null).map((c) => c.name);
  const notNull = await addNotNull(handle, client, table, candidates);
  changes.notNullAdded = notNull.added;
  changes.notNullSkipped = notNull.skipped;
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
  const expectedKey = targetKey(table);
  if (actualKey.join('\u0000') !== expectedKey.join('\u0000')) throw new TargetKeyMismatch(table, actualKey, expectedKey);
  const tableComment = await targetQuery<{ comment: string | null }>(client, handle.where, doing, `SELECT obj_description($1::regclass, 'pg_class') AS comment`, [table.qualified]);
  changes.commented = await syncComments(handle, client, table, new Map([...present].map(([n, c]) => [n, c.comment])), tableComment.rows[0]?.comment ?? null);
  return changes;
}

/** MySQL's spatial bytes (4-byte little-endian SRID, then WKB) as a PostGIS geometry, in SQL. */
export function geometryFromMysqlBytes(column: string): string {
  // | and << share one precedence in PostgreSQL: every shift in parentheses.
  const srid = `(get_byte(${column}, 0) | (get_byte(${column}, 1) << 8) | (get_byte(${column}, 2) << 16) | (get_byte(${column}, 3) << 24))`;
  return `CASE WHEN ${column} IS NULL THEN NULL ELSE ST_SetSRID(ST_GeomFromWKB(substring(${column} FROM 5)), ${srid}) END`;
}

/**
 * SET NOT NULL on the columns that hold no NULL yet. One scan finds the columns with NULLs (left
 * nullable, with a note: a column added to a populated table is NULL in its old rows until a refresh
 * fills it); then one ALTER for the rest, in a savepoint so that a NULL written meanwhile fails only it.
 */
async function addNotNull(handle: TargetHandle, client: PoolClient, table: TargetTable, columns: readonly string[]): Promise<{ added: string[]; skipped: string[] }> {
  if (columns.length === 0) return { added: [], skipped: [] };
  const doing = `checking ${table.name} for NULLs before NOT NULL`;
  const probe = await targetQuery<Record<string, boolean | null>>(
    client,
    handle.where,
    doing,
    `SELECT ${columns.map((c, i) => `bool_or(${quotePg(c)} IS NULL) AS n${i}`).join(', ')} FROM ${table.qualified}`,
  );
  const row = probe.rows[0] ?? {};
  const clean = columns.filter((_, i) => row[`n${i}`] !== true);
  const skipped = columns.filter((_, i) => row[`n${i}`] === true);
  if (clean.length === 0) return { added: [], skipped };
  await targetQuery(client, handle.where, doing, 'SAVEPOINT tributary_not_null');
  try {
    await targetQuery(client, handle.where, `adding NOT NULL to ${table.name}`, `ALTER TABLE ${table.qualified} ${clean.map((c) => `ALTER COLUMN ${quotePg(c)} SET NOT NULL`).join(', ')}`);
    await targetQuery(client, handle.where, doing, 'RELEASE SAVEPOINT tributary_not_null');
    return { added: clean, skipped };
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code !== '23502') throw error;
    await targetQuery(client, handle.where, doing, 'ROLLBACK TO SAVEPOINT tributary_not_null');
    return { added: [], skipped: [...columns] };
  }
}

/**
 * Comments from the source on the table and its columns, where the source has one and the target's
 * differs. A source without a comment leaves the target's as it is (it may be the user's own).
 */
async function syncComments(handle: TargetHandle, client: PoolClient, table: TargetTable, current: ReadonlyMap<string, string | null>, tableComment: string | null): Promise<number> {
  const statements: string[] = [];
  if (table.comment && table.comment !== tableComment) statements.push(`COMMENT ON TABLE ${table.qualified} IS ${pgStringLiteral(table.comment)}`);
  for (const column of table.columns) {
    if (column.comment && column.comment !== (current.get(column.name) ?? null)) {
      statements.push(`COMMENT ON COLUMN ${table.qualified}.${quotePg(column.name)} IS ${pgStringLiteral(column.comment)}`);
    }
  }
  for (const sql of statements) await targetQuery(client, handle.where, `commenting ${table.name}`, sql);
  return statements.length;
}
