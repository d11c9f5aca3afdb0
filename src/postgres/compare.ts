/**
 * SQL for `tributary verify`: comparing rows of a source, COPYed into session temp tables shaped like
 * the target, with the target rows of the same source and the same keys. Everything is compared inside
 * PostgreSQL, so values are compared exactly as PostgreSQL holds them. Rows are matched by equality on
 * _source + key columns (the key alone where sources share one key space) only, never by key ranges:
 * MySQL orders string keys by its collation, which is not PostgreSQL's, so a range in one is not the
 * same set of keys in the other.
 */
import { quotePg } from '../ident';
import { isGeometryType } from '../convert/typemap';
import type { SourceValue } from '../model';
import { SOURCE_COLUMN } from './internal-columns';
import type { TargetColumn, TargetTable } from './schema';

// The target table's columns and their types as PostgreSQL spells them ($1 = schema.table, quoted):
// a column widened for another source is compared after casting this source's values to its type.
export const TARGET_COLUMN_TYPES_SQL = `
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`;

// Run inside one chunk's transaction: the chunk (at most chunkSize rows) is joined to the target by
// primary-key lookups. Without statistics on a freshly loaded target the planner may otherwise hash
// the source's every target row for each chunk, which makes a large table's verify quadratic.
export const KEY_LOOKUPS_ONLY_SQL = 'SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off';

/** Temp tables of one verify session, the names of their bookkeeping columns, and type casts. */
export interface CompareTables {
  /** Source rows (a scan chunk, or the current rows of keys being confirmed); emptied by each commit. */
  rows: string;
  /** Keys being confirmed, as delete markers (key columns set, the rest NULL); emptied by each commit. */
  keys: string;
  /** Every source key seen by the scan of one unit; kept until dropped. */
  seen: string;
  /** Target keys of the unit that the scan did not see: candidates for "extra". */
  extra: string;
  /** Row number column in rows, keys and extra; chosen not to collide with a data column. */
  ord: string;
  /**
   * Boolean column in rows: the source row is kept out of the target by the table's onBadValue
   * policy (only its key is staged), so it is not compared, but its key counts as seen.
   */
  skip: string;
  /**
   * Target columns whose type in PostgreSQL differs from this source's type (widened for another
   * source): source values are cast to it before comparing, as the merge's INSERT casts them.
   */
  casts: ReadonlyMap<string, string>;
}

/**
 * Names and casts for one unit. targetTypes: the target table's column types as PostgreSQL spells them
 * (format_type), by column name.
 */
export function compareTables(table: TargetTable, targetTypes: ReadonlyMap<string, string> = new Map()): CompareTables {
  const taken = new Set([SOURCE_COLUMN, ...table.columns.map((c) => c.name)]);
  const free = (base: string): string => {
    let name = base;
    for (let n = 1; taken.has(name); n++) name = `${base}${n}`;
    taken.add(name);
    return name;
  };
  const casts = new Map<string, string>();
  for (const column of table.columns) {
    const type = targetTypes.get(column.name);
    if (type !== undefined && type !== column.pgType) casts.set(column.name, type);
  }
  return {
    rows: 'tributary_verify_rows',
    keys: 'tributary_verify_keys',
    seen: 'tributary_verify_seen',
    extra: 'tributary_verify_extra',
    ord: free('_tributary_ord'),
    skip: free('_tributary_skip'),
    casts,
  };
}

/** The key columns with the type the target holds them in (seen and extra hold target keys). */
export function targetKeyColumns(table: TargetTable, names: CompareTables): TargetColumn[] {
  return table.key.map((name) => {
    const column = table.columns.find((c) => c.name === name);
    if (!column) throw new Error(`key column ${name} of ${table.name} is not among its columns`);
    const type = names.casts.get(name);
    return type === undefined ? column : { ...column, pgType: type };
  });
}

const list = (names: readonly string[], alias?: string): string => names.map((n) => (alias ? `${alias}.${quotePg(n)}` : quotePg(n))).join(', ');
const keyMatch = (table: TargetTable, a: string, b: string): string => table.key.map((k) => `${a}.${quotePg(k)} = ${b}.${quotePg(k)}`).join(' AND ');
const dataColumns = (table: TargetTable): string[] => table.columns.map((c) => c.name);
const src = quotePg(SOURCE_COLUMN);

/** The target row of the other side's key: of this source ($1), or of any source when they share one key space. */
function targetJoin(table: TargetTable, t: string, other: string): string {
  const owner = table.keyIncludesSource ? `${t}.${src} = $1 AND ` : '';
  return `${table.qualified} AS ${t} ON ${owner}${keyMatch(table, t, other)}`;
}

/** A source-side row as the target would hold it: each column cast to the target's type where that differs. */
function sourceRow(table: TargetTable, names: CompareTables, alias: string): string {
  return `ROW(${table.columns.map((c) => comparable(c, sourceValue(c.name, names, alias))).join(', ')})`;
}

/**
 * A column's value as compared. Geometry is compared as EWKB (its WKB and SRID, exactly): PostGIS's
 * own = would call two geometries with the same coordinates equal whatever their bytes.
 */
function comparable(column: TargetColumn, expr: string): string {
  return isGeometryType(column.pgType) ? `(${expr})::bytea` : expr;
}

function sourceValue(column: string, names: CompareTables, alias: string): string {
  const cast = names.casts.get(column);
  return `${alias}.${quotePg(column)}${cast === undefined ? '' : `::${cast}`}`;
}

const targetRow = (table: TargetTable, alias: string): string => `ROW(${table.columns.map((c) => comparable(c, `${alias}.${quotePg(c.name)}`)).join(', ')})`;

const textLiteral = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/**
 * Where sources share one key space: whether this source's row (s) would replace the row another
 * source holds (t) under the table's conflict policy, as the merge decides (merge.ts).
 */
function takeoverSql(table: TargetTable, names: CompareTables): string {
  if (table.keyIncludesSource) return 'false';
  switch (table.conflict) {
    case 'newest':
      return `${sourceValue(table.newestBy!, names, 's')} > t.${quotePg(table.newestBy!)}`;
    case 'priority': {
      const order = `ARRAY[${(table.priority ?? []).map(textLiteral).join(', ')}]::text[]`;
      const rank = (id: string): string => `COALESCE(array_position(${order}, ${id}), 2147483647)`;
      return `${rank('$1::text')} < ${rank(`t.${src}`)}`;
    }
    default:
      return 'false';
  }
}

/** Drops (if left over) and creates the temp tables for one unit. */
export function createCompareTablesSql(table: TargetTable, names: CompareTables): string[] {
  const typed = table.columns.map((c) => `${quotePg(c.name)} ${c.pgType}`);
  const keyTyped = targetKeyColumns(table, names).map((c) => `${quotePg(c.name)} ${c.pgType}`);
  return [
    ...dropCompareTablesSql(names),
    `CREATE TEMP TABLE ${quotePg(names.rows)} (${[`${quotePg(names.ord)} integer NOT NULL`, `${quotePg(names.skip)} boolean NOT NULL`, ...typed].join(', ')}) ON COMMIT DELETE ROWS`,
    `CREATE TEMP TABLE ${quotePg(names.keys)} (${[`${quotePg(names.ord)} integer NOT NULL`, ...typed].join(', ')}) ON COMMIT DELETE ROWS`,
    `CREATE TEMP TABLE ${quotePg(names.seen)} (${keyTyped.join(', ')})`,
    `CREATE TEMP TABLE ${quotePg(names.extra)} (${[`${quotePg(names.ord)} bigserial PRIMARY KEY`, ...keyTyped].join(', ')})`,
  ];
}

export function dropCompareTablesSql(names: CompareTables): string[] {
  return [names.rows, names.keys, names.seen, names.extra].map((n) => `DROP TABLE IF EXISTS pg_temp.${quotePg(n)}`);
}

/** COPY columns of the rows table: row number, skip flag, then the data columns in target order. */
export function rowsCopyColumns(table: TargetTable, names: CompareTables): string[] {
  return [names.ord, names.skip, ...dataColumns(table)];
}

/** COPY columns of the keys table: row number, then the data columns (delete-marker fields). */
export function keysCopyColumns(table: TargetTable, names: CompareTables): string[] {
  return [names.ord, ...dataColumns(table)];
}

/**
 * Checksums of a chunk ($1 = source id): the staged source rows, and the target rows of this source
 * with the same keys, each as md5 over the per-row md5 of the row text in key order. The chunk is
 * equal when every row has a target row of this source (rows = matched) and the two sums agree.
 */
export function chunkChecksumSql(table: TargetTable, names: CompareTables): string {
  const order = list(table.key, 's');
  return [
    'SELECT count(*)::bigint AS rows,',
    `       count(*) FILTER (WHERE t.${src} = $1)::bigint AS matched,`,
    `       md5(string_agg(md5(${sourceRow(table, names, 's')}::text), '' ORDER BY ${order})) AS source_sum,`,
    `       md5(string_agg(md5(${targetRow(table, 't')}::text), '' ORDER BY ${order}) FILTER (WHERE t.${src} = $1)) AS target_sum`,
    `FROM ${quotePg(names.rows)} AS s`,
    `LEFT JOIN ${targetJoin(table, 't', 's')}`,
    `WHERE NOT s.${quotePg(names.skip)}`,
  ].join('\n');
}

/**
 * Row numbers of the chunk's rows that have no target row of this source, or whose target row differs
 * ($1 = source id). Candidates only: confirmSql decides.
 */
export function chunkDiffSql(table: TargetTable, names: CompareTables): string {
  return [
    `SELECT s.${quotePg(names.ord)} AS ord`,
    `FROM ${quotePg(names.rows)} AS s`,
    `LEFT JOIN ${targetJoin(table, 't', 's')}`,
    `WHERE NOT s.${quotePg(names.skip)}`,
    `  AND (t.${src} IS DISTINCT FROM $1::text OR ${sourceRow(table, names, 's')} IS DISTINCT FROM ${targetRow(table, 't')})`,
    `ORDER BY s.${quotePg(names.ord)}`,
  ].join('\n');
}

/**
 * The chunk's rows that the onBadValue policy keeps out (skip), each with whether the target still
 * holds a version of it from this source ($1): the last good one, kept on purpose.
 */
export function chunkRejectedSql(table: TargetTable, names: CompareTables): string {
  return [
    `SELECT s.${quotePg(names.ord)} AS ord, (t.${src} IS NOT DISTINCT FROM $1::text) AS kept`,
    `FROM ${quotePg(names.rows)} AS s`,
    `LEFT JOIN ${targetJoin(table, 't', 's')}`,
    `WHERE s.${quotePg(names.skip)}`,
    `ORDER BY s.${quotePg(names.ord)}`,
  ].join('\n');
}

/** Adds the keys of the chunk in the rows table to the keys seen by the scan. */
export function rememberKeysSql(table: TargetTable, names: CompareTables): string {
  return `INSERT INTO ${quotePg(names.seen)} (${list(table.key)}) SELECT ${list(table.key)} FROM ${quotePg(names.rows)}`;
}

/**
 * Classifies each requested key (keys table) against the current source rows of those keys (rows table)
 * and the target ($1 = source id): missing (source row, no target row), extra (target row of this
 * source, no source row), different (both, not the same row; or, where sources share one key space,
 * another source holds the key although this source's row would win under the conflict policy).
 * Keys equal on both sides, absent from both, or held by another source that keeps them, are left out.
 * A source row whose key is not one of the requested keys (a case-insensitive MySQL key can return 'A'
 * for 'a') is ignored: only the requested keys are answered for. A key whose source row the table's
 * onBadValue policy keeps out is not answered for either: the sync knowingly leaves it (tributary.rejects).
 */
export function confirmSql(table: TargetTable, names: CompareTables): string {
  const ord = quotePg(names.ord);
  const has = `s.${ord} IS NOT NULL`;
  const own = `t.${src} = $1::text`;
  return [
    `SELECT k.${ord} AS ord,`,
    `       CASE WHEN t.${src} IS NULL THEN 'missing' WHEN s.${ord} IS NULL THEN 'extra' ELSE 'different' END AS kind`,
    `FROM ${quotePg(names.keys)} AS k`,
    `LEFT JOIN ${quotePg(names.rows)} AS s ON ${keyMatch(table, 's', 'k')}`,
    `LEFT JOIN ${targetJoin(table, 't', 'k')}`,
    `WHERE (s.${ord} IS NULL OR NOT s.${quotePg(names.skip)})`,
    `  AND ((${has} AND t.${src} IS NULL)`,
    `    OR (s.${ord} IS NULL AND ${own})`,
    `    OR (${has} AND ${own} AND ${sourceRow(table, names, 's')} IS DISTINCT FROM ${targetRow(table, 't')})`,
    `    OR (${has} AND t.${src} <> $1::text AND ${takeoverSql(table, names)}))`,
    `ORDER BY k.${ord}`,
  ].join('\n');
}

/** Collects the target keys of the source ($1) that the scan did not see (run ANALYZE on seen first). */
export function collectExtrasSql(table: TargetTable, names: CompareTables): string {
  return [
    `INSERT INTO ${quotePg(names.extra)} (${list(table.key)})`,
    `SELECT ${list(table.key, 't')} FROM ${table.qualified} AS t`,
    `WHERE t.${src} = $1`,
    `  AND NOT EXISTS (SELECT 1 FROM ${quotePg(names.seen)} AS v WHERE ${keyMatch(table, 'v', 't')})`,
    // Row numbers in key order, so samples are the first extra keys.
    `ORDER BY ${list(table.key, 't')}`,
  ].join('\n');
}

export function analyzeSeenSql(names: CompareTables): string {
  return `ANALYZE ${quotePg(names.seen)}`;
}

/**
 * One page of extra candidates after row number $1, at most $2 rows: ord, then k0..kn as text (decode
 * with keyFromText and targetKeyColumns).
 */
export function extraPageSql(table: TargetTable, names: CompareTables): string {
  const keys = targetKeyColumns(table, names).map((c, i) => `${keyTextSql(c, quotePg(c.name))} AS k${i}`);
  return `SELECT ${quotePg(names.ord)} AS ord, ${keys.join(', ')} FROM ${quotePg(names.extra)} WHERE ${quotePg(names.ord)} > $1 ORDER BY ${quotePg(names.ord)} LIMIT $2`;
}

/** Rows of one source ($1) in the target. */
export function countTargetSql(table: TargetTable): string {
  return `SELECT count(*)::bigint AS n FROM ${table.qualified} WHERE ${src} = $1`;
}

// Key values read back from PostgreSQL must become the values MySQL sent (see model.ts SourceValue),
// so that the sync's encoders turn them into exactly the stored value again and MySQL finds the row.

// Both Tributary's spelling of a type (typemap.ts) and PostgreSQL's own (format_type) are recognised.
const TIMESTAMP = /^timestamp(?:\(\d+\))?(?: without time zone)?$/;
const TIMESTAMPTZ = /^(?:timestamptz(?:\(\d+\))?|timestamp(?:\(\d+\))? with time zone)$/;
const BITS = /^bit(?:\(\d+\))?$/;
const INTERVAL = /^interval(?:\(\d+\))?$/;
const TEXT_ARRAY = /^(?:text|character varying(?:\(\d+\))?|varchar(?:\(\d+\))?)\[\]$/;

/** A text expression for a key column that keyFromText turns back into the source's value. */
export function keyTextSql(column: TargetColumn, expr: string): string {
  const type = column.pgType.toLowerCase();
  if (type === 'bytea') return `encode(${expr}, 'hex')`;
  if (type === 'boolean') return `CASE WHEN ${expr} THEN '01' ELSE '00' END`;
  if (type === 'date') return `to_char(${expr}, 'YYYY-MM-DD')`;
  if (TIMESTAMPTZ.test(type)) return `to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')`;
  if (TIMESTAMP.test(type)) return `to_char(${expr}, 'YYYY-MM-DD HH24:MI:SS.US')`;
  if (INTERVAL.test(type)) return `extract(epoch FROM ${expr})::text`;
  if (TEXT_ARRAY.test(type)) return `array_to_string(${expr}, ',')`;
  return `${expr}::text`;
}

/** The source value of a key column from the text keyTextSql produced. */
export function keyFromText(column: TargetColumn, text: string | null): SourceValue {
  if (text === null) return null;
  const type = column.pgType.toLowerCase();
  if (type === 'bytea' || type === 'boolean') return Buffer.from(text, 'hex');
  if (BITS.test(type)) {
    const bits = text.padStart(Math.ceil(text.length / 8) * 8, '0');
    const bytes: number[] = [];
    for (let i = 0; i < bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
    return Buffer.from(bytes);
  }
  // MySQL prints as many fraction digits as the column declares.
  const digits = column.source.datetimePrecision ?? Number(/\((\d+)\)/.exec(type)?.[1] ?? 0);
  if (TIMESTAMPTZ.test(type) || TIMESTAMP.test(type)) return trimFraction(text, digits);
  if (INTERVAL.test(type)) return timeFromSeconds(text, digits);
  return text;
}

/** 'YYYY-MM-DD HH:MM:SS.ffffff' with the fraction cut to the column's digits, as MySQL prints it. */
function trimFraction(text: string, digits: number): string {
  const dot = text.indexOf('.');
  if (dot < 0) return text;
  return digits === 0 ? text.slice(0, dot) : text.slice(0, dot + 1 + digits);
}

/** Seconds (exact decimal text) → MySQL TIME text '[-]H:MM:SS[.ffffff]'. */
function timeFromSeconds(text: string, digits: number): string {
  const negative = text.startsWith('-');
  const [whole, fraction = ''] = (negative ? text.slice(1) : text).split('.');
  const total = BigInt(whole || '0');
  const hours = total / 3600n;
  const minutes = (total % 3600n) / 60n;
  const seconds = total % 60n;
  const pad = (n: bigint): string => n.toString().padStart(2, '0');
  const frac = digits > 0 ? '.' + fraction.padEnd(digits, '0').slice(0, digits) : '';
  return `${negative ? '-' : ''}${pad(hours)}:${pad(minutes)}:${pad(seconds)}${frac}`;
}
