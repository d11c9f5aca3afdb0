/** tributary.rejects: values PostgreSQL could not take, per row and column. */
import type { Reject } from '../convert/rows';
import { keyString } from '../convert/rows';
import { sqlFile } from '../sqlfiles';
import type { UnitId } from './checkpoint';
import { type PoolClient, targetQuery } from './connection';

function rawHex(value: Reject['raw']): string | null {
  if (value === null) return null;
  return (Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8')).toString('hex');
}

export async function recordRejects(client: PoolClient, where: string, unit: UnitId, targetTable: string, rejects: readonly Reject[], describe: (key: Reject['key']) => string): Promise<void> {
  if (rejects.length === 0) return;
  await targetQuery(client, where, 'recording rejected values', sqlFile('state/insert_rejects.sql'), [
    unit.sourceId,
    unit.table,
    targetTable,
    rejects.map((r) => keyString(r.key)),
    rejects.map((r) => describe(r.key)),
    rejects.map((r) => r.column),
    rejects.map((r) => rawHex(r.raw)),
    rejects.map((r) => r.reason),
    rejects.map((r) => r.action),
  ]);
}

/** A good version of a row (or its deletion) supersedes its earlier rejects. */
export async function clearRejectsForKeys(client: PoolClient, where: string, unit: UnitId, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  await targetQuery(client, where, 'clearing superseded rejects', sqlFile('state/clear_rejects_for_keys.sql'), [unit.sourceId, unit.table, keys]);
}

export async function clearRejects(client: PoolClient, where: string, unit: UnitId): Promise<void> {
  await targetQuery(client, where, 'clearing rejects', sqlFile('state/clear_rejects.sql'), [unit.sourceId, unit.table]);
}
