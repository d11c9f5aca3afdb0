/**
 * Merge: applies a staged batch to its target table. Deletes first, then one INSERT .. ON CONFLICT
 * DO UPDATE. The stage holds one final state per key, so ON CONFLICT never meets a key twice, and
 * applying the same batch again leaves the table as it was.
 *
 * Tables whose sources share one key space (keyIncludesSource: false) resolve collisions here: a
 * source only deletes or updates rows it owns (_source), and takes over another source's row only as
 * its conflict policy allows.
 */
import { TributaryError } from '../errors';
import { quotePg } from '../ident';
import { type PoolClient, targetQuery } from './connection';
import { builtUniqueIndexes, elementSql, type TargetIndex } from './indexes';
import { KEY_COLUMN, OP_COLUMN, SOURCE_COLUMN } from './internal-columns';
import { type TargetTable, targetKey } from './schema';

export function buildDeleteSql(table: TargetTable, stage: string): string {
  // A source deletes only its own rows, also where sources share one key space.
  const keys = [SOURCE_COLUMN, ...table.key];
  const match = keys.map((k) => `t.${quotePg(k)} = s.${quotePg(k)}`).join(' AND ');
  return `DELETE FROM ${table.qualified} AS t USING ${quotePg(stage)} AS s WHERE s.${quotePg(OP_COLUMN)} = 'D' AND ${match}`;
}

const sqlText = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/** When a staged row from another source may replace the existing row (shared key space only). */
function takeoverCondition(table: TargetTable): string {
  switch (table.conflict) {
    case 'newest': {
      const column = quotePg(table.newestBy!);
      return `EXCLUDED.${column} > t.${column}`;
    }
    case 'priority': {
      const order = `ARRAY[${(table.priority ?? []).map(sqlText).join(', ')}]::text[]`;
      // Sources missing from the list rank below every listed one.
      const rank = (side: string) => `COALESCE(array_position(${order}, ${side}.${quotePg(SOURCE_COLUMN)}), 2147483647)`;
      return `${rank('EXCLUDED')} < ${rank('t')}`;
    }
    default:
      return 'false';
  }
}

export function buildUpsertSql(table: TargetTable, stage: string): string {
  const keys = targetKey(table);
  const all = [SOURCE_COLUMN, ...table.columns.map((c) => c.name)];
  const rest = all.filter((c) => !keys.includes(c));
  const columnList = all.map(quotePg).join(', ');
  let conflict: string;
  if (rest.length === 0) {
    conflict = 'DO NOTHING';
  } else {
    const set = rest.map((c) => `${quotePg(c)} = EXCLUDED.${quotePg(c)}`).join(', ');
    // Rewriting an unchanged row would only cost WAL and bloat.
    const changed = `(${rest.map((c) => `t.${quotePg(c)}`).join(', ')}) IS DISTINCT FROM (${rest.map((c) => `EXCLUDED.${quotePg(c)}`).join(', ')})`;
    const guard = table.keyIncludesSource
      ? changed
      : `(t.${quotePg(SOURCE_COLUMN)} = EXCLUDED.${quotePg(SOURCE_COLUMN)} AND ${changed}) OR (t.${quotePg(SOURCE_COLUMN)} <> EXCLUDED.${quotePg(SOURCE_COLUMN)} AND ${takeoverCondition(table)})`;
    conflict = `DO UPDATE SET ${set} WHERE ${guard}`;
  }
  return [
    'WITH applied AS (',
    `  INSERT INTO ${table.qualified} AS t (${columnList})`,
    `  SELECT ${columnList} FROM ${quotePg(stage)} WHERE ${quotePg(OP_COLUMN)} = 'U'`,
    `  ON CONFLICT (${keys.map(quotePg).join(', ')}) ${conflict}`,
    '  RETURNING (xmax = 0) AS inserted',
    ')',
    'SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated FROM applied',
  ].join('\n');
}

/** Staged rows whose key another source holds, under conflict: error (they are refused). */
export function buildConflictSql(table: TargetTable, stage: string): string {
  const match = table.key.map((k) => `t.${quotePg(k)} = s.${quotePg(k)}`).join(' AND ');
  return `SELECT s.${quotePg(KEY_COLUMN)} AS key, t.${quotePg(SOURCE_COLUMN)} AS holder FROM ${quotePg(stage)} AS s JOIN ${table.qualified} AS t ON ${match} WHERE s.${quotePg(OP_COLUMN)} = 'U' AND t.${quotePg(SOURCE_COLUMN)} <> s.${quotePg(SOURCE_COLUMN)}`;
}

export interface MergeCounts {
  inserted: number;
  updated: number;
  deleted: number;
}

export interface MergeResult extends MergeCounts {
  /**
   * Staged keys refused because another source holds them (conflict: error), or holds their value of
   * a unique index (index: its name; every conflict policy, see README "Target tables").
   */
  conflicts: { key: string; holder: string; index?: string }[];
}

const sameValues = (index: TargetIndex, a: string, b: string): string => index.elements.map((e) => `${elementSql(e, a)} = ${elementSql(e, b)}`).join(' AND ');
const sameKey = (table: TargetTable, a: string, b: string): string => table.key.map((k) => `${a}.${quotePg(k)} = ${b}.${quotePg(k)}`).join(' AND ');

/**
 * Rows of the staging source holding a staged row's unique value under another key. The source's own
 * unique index says they are out of date: their new state is further on in the changelog. They are
 * removed so that the batch can apply; their own change brings them back.
 */
export function buildStaleUniqueDeleteSql(table: TargetTable, stage: string, index: TargetIndex): string {
  return [
    `DELETE FROM ${table.qualified} AS t USING ${quotePg(stage)} AS s`,
    `WHERE s.${quotePg(OP_COLUMN)} = 'U' AND t.${quotePg(SOURCE_COLUMN)} = s.${quotePg(SOURCE_COLUMN)}`,
    `  AND ${sameValues(index, 't', 's')} AND NOT (${sameKey(table, 't', 's')})`,
  ].join('\n');
}

/**
 * Sources sharing one key space: staged rows whose unique value another source's row already holds
 * are taken out of the stage and reported as conflicts (the row that was there first stays).
 */
export function buildUniqueConflictSql(table: TargetTable, stage: string, index: TargetIndex): string {
  return [
    `DELETE FROM ${quotePg(stage)} AS s USING ${table.qualified} AS t`,
    `WHERE s.${quotePg(OP_COLUMN)} = 'U' AND t.${quotePg(SOURCE_COLUMN)} <> s.${quotePg(SOURCE_COLUMN)}`,
    `  AND ${sameValues(index, 't', 's')} AND NOT (${sameKey(table, 't', 's')})`,
    `RETURNING s.${quotePg(KEY_COLUMN)} AS key, t.${quotePg(SOURCE_COLUMN)} AS holder`,
  ].join('\n');
}

async function guardUniqueIndexes(client: PoolClient, where: string, table: TargetTable, stage: string): Promise<MergeResult['conflicts']> {
  if (!table.indexes.some((i) => i.unique)) return [];
  const conflicts: MergeResult['conflicts'] = [];
  for (const index of await builtUniqueIndexes(client, where, table)) {
    await targetQuery(client, where, `removing out-of-date rows from ${table.name}`, buildStaleUniqueDeleteSql(table, stage, index));
    if (table.keyIncludesSource) continue;
    const refused = await targetQuery<{ key: string; holder: string }>(client, where, `checking ${table.name} for unique conflicts`, buildUniqueConflictSql(table, stage, index));
    conflicts.push(...refused.rows.map((r) => ({ ...r, index: index.sourceName })));
  }
  return conflicts;
}

export async function mergeStage(client: PoolClient, where: string, table: TargetTable, stage: string): Promise<MergeResult> {
  const conflicts =
    !table.keyIncludesSource && table.conflict === 'error'
      ? (await targetQuery<{ key: string; holder: string }>(client, where, `checking ${table.name} for conflicts`, buildConflictSql(table, stage))).rows
      : [];
  const deleted = await targetQuery(client, where, `deleting rows from ${table.name}`, buildDeleteSql(table, stage));
  conflicts.push(...(await guardUniqueIndexes(client, where, table, stage)));
  let upserted;
  try {
    upserted = await targetQuery<{ inserted: string; updated: string }>(client, where, `upserting rows into ${table.name}`, buildUpsertSql(table, stage));
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code !== '23505') throw error;
    // Rows of one batch are read from MySQL in several queries: a row changed in between can carry
    // a unique value another row of the same batch still holds. Reading again resolves it.
    throw new TributaryError(
      'TARGET_QUERY_FAILED',
      `${(error as Error).message} (a unique index Tributary copied from the source refused two rows of one batch holding the same value, read at different moments; the next pass reads them again. If it persists, set indexes: none on table ${table.name} and report it)`,
      { cause: error, transient: true },
    );
  }
  const row = upserted.rows[0];
  return { inserted: Number(row?.inserted ?? 0), updated: Number(row?.updated ?? 0), deleted: deleted.rowCount ?? 0, conflicts };
}
