/**
 * Merge: applies a staged batch to its target table. Deletes first, then one INSERT .. ON CONFLICT
 * DO UPDATE. The stage holds one final state per key, so ON CONFLICT never meets a key twice, and
 * applying the same batch again leaves the table as it was.
 */
import { quotePg } from '../../ident';
import { type PoolClient, targetQuery } from './connection';
import { SOURCE_COLUMN, type TargetTable } from './schema';
import { OP_COLUMN } from './stage';

export function buildDeleteSql(table: TargetTable, stage: string): string {
  const keys = [SOURCE_COLUMN, ...table.key];
  const match = keys.map((k) => `t.${quotePg(k)} = s.${quotePg(k)}`).join(' AND ');
  return `DELETE FROM ${table.qualified} AS t USING ${quotePg(stage)} AS s WHERE s.${quotePg(OP_COLUMN)} = 'D' AND ${match}`;
}

export function buildUpsertSql(table: TargetTable, stage: string): string {
  const keys = [SOURCE_COLUMN, ...table.key];
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
    conflict = `DO UPDATE SET ${set} WHERE ${changed}`;
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

export interface MergeCounts {
  inserted: number;
  updated: number;
  deleted: number;
}

export async function mergeStage(client: PoolClient, where: string, table: TargetTable, stage: string): Promise<MergeCounts> {
  const deleted = await targetQuery(client, where, `deleting rows from ${table.name}`, buildDeleteSql(table, stage));
  const upserted = await targetQuery<{ inserted: string; updated: string }>(client, where, `upserting rows into ${table.name}`, buildUpsertSql(table, stage));
  const row = upserted.rows[0];
  return { inserted: Number(row?.inserted ?? 0), updated: Number(row?.updated ?? 0), deleted: deleted.rowCount ?? 0 };
}
