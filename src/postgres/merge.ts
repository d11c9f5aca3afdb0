/**
 * Merge: applies a staged batch to its target table. Deletes first, then one INSERT .. ON CONFLICT
 * DO UPDATE. The stage holds one final state per key, so ON CONFLICT never meets a key twice, and
 * applying the same batch again leaves the table as it was.
 *
 * Tables whose sources share one key space (keyIncludesSource: false) resolve collisions here: a
 * source only deletes or updates rows it owns (_source), and takes over another source's row only as
 * its conflict policy allows.
 */
import { quotePg } from '../ident';
import { type PoolClient, targetQuery } from './connection';
import { SOURCE_COLUMN, type TargetTable, targetKey } from './schema';
import { KEY_COLUMN, OP_COLUMN } from './stage';

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
  /** Under conflict: error, the staged keys refused because another source holds them. */
  conflicts: { key: string; holder: string }[];
}

export async function mergeStage(client: PoolClient, where: string, table: TargetTable, stage: string): Promise<MergeResult> {
  const conflicts =
    !table.keyIncludesSource && table.conflict === 'error'
      ? (await targetQuery<{ key: string; holder: string }>(client, where, `checking ${table.name} for conflicts`, buildConflictSql(table, stage))).rows
      : [];
  const deleted = await targetQuery(client, where, `deleting rows from ${table.name}`, buildDeleteSql(table, stage));
  const upserted = await targetQuery<{ inserted: string; updated: string }>(client, where, `upserting rows into ${table.name}`, buildUpsertSql(table, stage));
  const row = upserted.rows[0];
  return { inserted: Number(row?.inserted ?? 0), updated: Number(row?.updated ?? 0), deleted: deleted.rowCount ?? 0, conflicts };
}
