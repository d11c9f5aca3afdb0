/**
 * Re-snapshots without holes: the SQL that lets each snapshot chunk replace this source's rows in its
 * key range, so that a reader of the target sees every row of the source, old or new, throughout.
 *
 * A chunk read from MySQL covers the key range (previous chunk's last key, this chunk's last key] in
 * MySQL's ORDER BY order; the last chunk's range is open-ended. Deleting the target rows of that range
 * that the chunk lacks needs PostgreSQL to place every target key in the same range as MySQL would:
 *
 * - range: integers, decimals and binary strings compare the same in both (numerically, bytewise with
 *   the shorter prefix first), and so do tuples of them (lexicographically). The range is tested in
 *   PostgreSQL with a row comparison against the chunk's bounds.
 * - sweep: text keys are ordered by MySQL's collation (`_ci`, accent folding, PAD SPACE: 'a' = 'A' =
 *   'a '), which PostgreSQL cannot reproduce; a row placed in the wrong range would be deleted before
 *   the chunk that holds it is copied (a hole) or not at all. For these the chunk only upserts and
 *   records its keys in a table of seen keys; once the last chunk is copied, rows of the source whose
 *   key was not seen are deleted, in the same transaction. Rows removed from the source linger until
 *   then, but no row of the source is ever missing.
 *
 * Either way a key whose row the chunk read but could not write (onBadValue: reject) counts as present,
 * so the last good version of that row is kept.
 */
import { createHash } from 'node:crypto';
import { qualifiedPg, quotePg } from '../ident';
import { OP_COLUMN, SOURCE_COLUMN } from './internal-columns';
import type { TargetColumn, TargetTable } from './schema';

/** Staged key of a row the chunk read but keeps out: its target row, if any, stays. Ignored by the merge. */
export const KEEP_OP = 'K';

// Types whose PostgreSQL order equals MySQL's ORDER BY order for every value they can hold.
const ORDER_EXACT_TYPES = /^(smallint|integer|bigint|numeric\(\d+,\d+\))$/;
const ORDER_EXACT_BINARY_SOURCES = new Set(['binary', 'varbinary']);

function keyColumns(table: TargetTable): TargetColumn[] {
  return table.key.map((name) => table.columns.find((c) => c.name === name)!);
}

/** Whether PostgreSQL orders this table's keys exactly as MySQL's ORDER BY on the key does. */
export function keyOrderIsExact(table: TargetTable): boolean {
  return keyColumns(table).every(
    (c) =>
      !c.source.nullable &&
      (ORDER_EXACT_TYPES.test(c.pgType) || (c.pgType === 'bytea' && ORDER_EXACT_BINARY_SOURCES.has(c.source.dataType.toLowerCase()))),
  );
}

const keyTuple = (alias: string, table: TargetTable): string => `(${table.key.map((k) => `${alias}.${quotePg(k)}`).join(', ')})`;

function boundTuple(table: TargetTable, firstParam: number): string {
  return `(${keyColumns(table).map((c, i) => `$${firstParam + i}::${c.pgType}`).join(', ')})`;
}

/**
 * Deletes the target rows of source $1 inside the chunk's key range that the staged chunk lacks.
 * Parameters: $1 source id, then the lower bound's key values (exclusive) when `lower`, then the upper
 * bound's (inclusive) when `upper`.
 */
export function buildRangeDeleteSql(table: TargetTable, stage: string, bounds: { lower: boolean; upper: boolean }): string {
  const conditions = [`t.${quotePg(SOURCE_COLUMN)} = $1`];
  let next = 2;
  if (bounds.lower) {
    conditions.push(`${keyTuple('t', table)} > ${boundTuple(table, next)}`);
    next += table.key.length;
  }
  if (bounds.upper) conditions.push(`${keyTuple('t', table)} <= ${boundTuple(table, next)}`);
  const match = table.key.map((k) => `s.${quotePg(k)} = t.${quotePg(k)}`).join(' AND ');
  conditions.push(`NOT EXISTS (SELECT 1 FROM ${quotePg(stage)} AS s WHERE ${match})`);
  return `DELETE FROM ${table.qualified} AS t WHERE ${conditions.join(' AND ')}`;
}

/** Whether the target holds any row of source $1 (if not, a snapshot only adds rows). */
export function buildHasSourceRowsSql(table: TargetTable): string {
  return `SELECT EXISTS (SELECT 1 FROM ${table.qualified} WHERE ${quotePg(SOURCE_COLUMN)} = $1) AS present`;
}

/** The table of keys seen by a sweep snapshot of one unit, in the tributary schema. */
export function seenTable(sourceId: string, sourceTable: string): string {
  const digest = createHash('sha1').update(`${sourceId}\u0000${sourceTable}`).digest('hex').slice(0, 16);
  return qualifiedPg('tributary', `snapshot_seen_${digest}`);
}

/** A fresh table of seen keys, typed like the target's key so keys compare as in the target. */
export function buildCreateSeenSql(table: TargetTable, seen: string): string[] {
  const columns = keyColumns(table).map((c) => `${quotePg(c.name)} ${c.pgType} NOT NULL`);
  return [`DROP TABLE IF EXISTS ${seen}`, `CREATE TABLE ${seen} (${columns.join(', ')}, PRIMARY KEY (${table.key.map(quotePg).join(', ')}))`];
}

/** Records the staged chunk's keys (written or kept) as seen. */
export function buildRememberSeenSql(table: TargetTable, seen: string, stage: string): string {
  const keys = table.key.map(quotePg).join(', ');
  return `INSERT INTO ${seen} (${keys}) SELECT ${keys} FROM ${quotePg(stage)} WHERE ${quotePg(OP_COLUMN)} IN ('U', '${KEEP_OP}') ON CONFLICT DO NOTHING`;
}

/** Deletes the target rows of source $1 whose key no chunk of the snapshot saw. */
export function buildSweepUnseenSql(table: TargetTable, seen: string): string {
  const match = table.key.map((k) => `s.${quotePg(k)} = t.${quotePg(k)}`).join(' AND ');
  return `DELETE FROM ${table.qualified} AS t WHERE t.${quotePg(SOURCE_COLUMN)} = $1 AND NOT EXISTS (SELECT 1 FROM ${seen} AS s WHERE ${match})`;
}

export function buildDropSeenSql(seen: string): string {
  return `DROP TABLE IF EXISTS ${seen}`;
}
