/**
 * State queries of hole-free re-snapshots and of settings tracking (tributary.checkpoints columns
 * snapshot_plan and synced_settings, migration 006). Kept together so they can move with the rest of
 * the state queries.
 */
import type { UnitId } from './checkpoint';
import { type PoolClient, targetQuery } from './connection';

export type SnapshotPlan = 'fill' | 'range' | 'sweep';

/** Remembers how the snapshot that starts now replaces rows, so a resumed one goes on the same way. */
export async function setSnapshotPlan(client: PoolClient, where: string, unit: UnitId, plan: SnapshotPlan): Promise<void> {
  await targetQuery(client, where, 'recording the snapshot plan', 'UPDATE tributary.checkpoints SET snapshot_plan = $3 WHERE source_id = $1 AND source_table = $2', [
    unit.sourceId,
    unit.table,
    plan,
  ]);
}

/**
 * At the end of a snapshot: rejects the snapshot did not record again are of rows that are gone or now
 * hold good values (every chunk records its rejects afresh, which sets rejected_at to its transaction's
 * time, later than the snapshot's start). Must run in the last chunk's transaction.
 */
export async function finishSnapshotState(client: PoolClient, where: string, unit: UnitId): Promise<void> {
  await targetQuery(
    client,
    where,
    'removing superseded rejects',
    `DELETE FROM tributary.rejects r USING tributary.checkpoints c
      WHERE r.source_id = $1 AND r.source_table = $2 AND c.source_id = r.source_id AND c.source_table = r.source_table
        AND r.rejected_at < c.snapshot_started_at`,
    [unit.sourceId, unit.table],
  );
  await targetQuery(client, where, 'finishing snapshot', 'UPDATE tributary.checkpoints SET snapshot_plan = NULL WHERE source_id = $1 AND source_table = $2', [
    unit.sourceId,
    unit.table,
  ]);
}

/** Records the settings the unit is synced with from now on, and the target table they name. */
export async function setSyncedSettings(client: PoolClient, where: string, unit: UnitId, targetTable: string, settings: object): Promise<void> {
  await targetQuery(
    client,
    where,
    'recording synced settings',
    'UPDATE tributary.checkpoints SET synced_settings = $3::jsonb, target_table = $4 WHERE source_id = $1 AND source_table = $2',
    [unit.sourceId, unit.table, JSON.stringify(settings), targetTable],
  );
}
