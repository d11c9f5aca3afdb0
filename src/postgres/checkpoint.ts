/**
 * Checkpoint: Tributary's progress per (source, table) unit, kept in PostgreSQL next to the data so
 * that a batch and its watermark commit together or not at all.
 */
import { TributaryError } from '../errors';
import type { IdRange, SourceValue } from '../model';
import { sqlFile } from '../sqlfiles';
import { type PoolClient, targetQuery } from './connection';

export interface UnitId {
  sourceId: string;
  table: string;
}

export interface Checkpoint {
  changelogToken: string | null;
  highWater: number;
  snapshotState: 'pending' | 'running' | 'done';
  /** replace: the source's rows are deleted and copied again; refresh: every row is upserted. */
  snapshotMode: 'replace' | 'refresh';
  /** Target columns the unit synced last; null before the first pass. */
  syncedColumns: string[] | null;
  /** Applied changelog rows may still wait in the source (the process died before pruning them). */
  prunePending: boolean;
  /** Since when a pass found capture incomplete (ISO time), or null. */
  captureBrokenAt: string | null;
  /** Since when pt-online-schema-change was seen at work on the table (ISO time), or null. */
  schemaChangeSeenAt: string | null;
  /** Key of the last row a running snapshot copied. */
  snapshotAfter: SourceValue[] | null;
  snapshotRows: number;
  /** How a running snapshot replaces the source's rows (see snapshot-state.ts); null when none runs. */
  snapshotPlan: 'fill' | 'range' | 'sweep' | null;
  /** The table settings the unit was last synced with; null before the first pass. */
  syncedSettings: unknown;
}

/** A range of change ids missing from the changelog, all first seen by the same read. */
export interface StoredGap extends IdRange {
  /** MySQL NOW(6), UTC, of the read that first missed the ids: 'YYYY-MM-DD HH:MM:SS.ffffff'. */
  firstSeenSource: string;
  /** Local clock (epoch seconds) when the gap was recorded. */
  firstSeenEpoch: number;
  holders: string[] | null;
  expired: boolean;
}

const lockKey = (unit: UnitId): string => JSON.stringify(['tributary', unit.sourceId, unit.table]);

export async function tryLockUnit(client: PoolClient, where: string, unit: UnitId): Promise<boolean> {
  const result = await targetQuery<{ locked: boolean }>(client, where, 'locking unit', sqlFile('state/lock_unit.sql'), [lockKey(unit)]);
  return result.rows[0]?.locked === true;
}

/** Waits until the unit is free, then holds it (session-level) until unlockUnit. */
export async function waitLockUnit(client: PoolClient, where: string, unit: UnitId): Promise<void> {
  await targetQuery(client, where, 'waiting for unit lock', sqlFile('state/wait_lock_unit.sql'), [lockKey(unit)]);
}

export async function unlockUnit(client: PoolClient, where: string, unit: UnitId): Promise<void> {
  await targetQuery(client, where, 'unlocking unit', sqlFile('state/unlock_unit.sql'), [lockKey(unit)]);
}

/** Key values survive JSON with Buffers as {"hex": "..."}. */
export function encodeKey(values: readonly SourceValue[]): unknown[] {
  return values.map((v) => (Buffer.isBuffer(v) ? { hex: v.toString('hex') } : v));
}

export function decodeKey(json: unknown): SourceValue[] {
  if (!Array.isArray(json)) throw new Error('stored snapshot key is not an array');
  return json.map((v: unknown) => {
    if (v !== null && typeof v === 'object' && typeof (v as { hex?: unknown }).hex === 'string') return Buffer.from((v as { hex: string }).hex, 'hex');
    if (v === null || typeof v === 'string') return v;
    throw new Error('stored snapshot key holds an unexpected value');
  });
}

export async function loadCheckpoint(client: PoolClient, where: string, unit: UnitId, targetTable: string): Promise<Checkpoint> {
  const read = () => targetQuery(client, where, 'reading checkpoint', sqlFile('state/read_checkpoint.sql'), [unit.sourceId, unit.table, targetTable]);
  let result = await read();
  if (result.rows.length === 0) result = await read();
  const row = result.rows[0];
  if (!row) throw new TributaryError('INTERNAL', `checkpoint for ${unit.sourceId}.${unit.table} vanished`);
  return {
    changelogToken: row.changelog_token,
    highWater: Number(row.high_water),
    snapshotState: row.snapshot_state,
    snapshotMode: row.snapshot_mode,
    syncedColumns: row.synced_columns,
    prunePending: row.prune_pending,
    captureBrokenAt: row.capture_broken_at,
    schemaChangeSeenAt: row.schema_change_seen_at,
    snapshotAfter: row.snapshot_after === null ? null : decodeKey(row.snapshot_after),
    snapshotRows: Number(row.snapshot_rows),
    snapshotPlan: row.snapshot_plan,
    syncedSettings: row.synced_settings,
  };
}

export async function setChangelogToken(client: PoolClient, where: string, unit: UnitId, token: string | null): Promise<void> {
  await targetQuery(client, where, 'recording changelog token', sqlFile('state/set_token.sql'), [unit.sourceId, unit.table, token]);
}

/** Forgets all progress of a unit: the next pass snapshots it again. */
export async function resetCheckpoint(client: PoolClient, where: string, unit: UnitId, token: string | null): Promise<void> {
  await targetQuery(client, where, 'resetting checkpoint', sqlFile('state/clear_gaps.sql'), [unit.sourceId, unit.table]);
  await targetQuery(client, where, 'resetting checkpoint', sqlFile('state/reset_checkpoint.sql'), [unit.sourceId, unit.table, token]);
}

/** Must run inside the batch transaction: the batch applies only if the watermark is still expected. */
export async function lockCheckpoint(client: PoolClient, where: string, unit: UnitId, expectedHighWater: number): Promise<void> {
  const result = await targetQuery<{ high_water: string }>(client, where, 'locking checkpoint', sqlFile('state/lock_checkpoint.sql'), [unit.sourceId, unit.table]);
  const actual = Number(result.rows[0]?.high_water ?? NaN);
  if (actual !== expectedHighWater) {
    throw new TributaryError('CHECKPOINT_CONFLICT', `checkpoint of ${unit.sourceId}.${unit.table} moved from ${expectedHighWater} to ${actual} during the batch; another process is applying it`);
  }
}

export async function advanceCheckpoint(client: PoolClient, where: string, unit: UnitId, highWater: number, appliedChanges: number, gaps: GapChanges): Promise<void> {
  await targetQuery(client, where, 'advancing checkpoint', sqlFile('state/advance_checkpoint.sql'), [unit.sourceId, unit.table, highWater, appliedChanges]);
  await recordGapChanges(client, where, unit, gaps);
}

export async function beginSnapshot(client: PoolClient, where: string, unit: UnitId): Promise<void> {
  await targetQuery(client, where, 'starting snapshot', sqlFile('state/snapshot_begin.sql'), [unit.sourceId, unit.table]);
}

export async function recordSnapshotProgress(client: PoolClient, where: string, unit: UnitId, after: readonly SourceValue[], rows: number): Promise<void> {
  await targetQuery(client, where, 'recording snapshot progress', sqlFile('state/snapshot_progress.sql'), [unit.sourceId, unit.table, JSON.stringify(encodeKey(after)), rows]);
}

export async function finishSnapshot(client: PoolClient, where: string, unit: UnitId): Promise<void> {
  await targetQuery(client, where, 'finishing snapshot', sqlFile('state/snapshot_done.sql'), [unit.sourceId, unit.table]);
}

/** Re-reads every row of the unit (upserting) on its next pass, e.g. after columns were added. */
export async function requestRefresh(client: PoolClient, where: string, unit: UnitId): Promise<void> {
  await targetQuery(client, where, 'requesting a refresh', sqlFile('state/request_refresh.sql'), [unit.sourceId, unit.table]);
}

export async function setSyncedColumns(client: PoolClient, where: string, unit: UnitId, columns: readonly string[]): Promise<void> {
  await targetQuery(client, where, 'recording synced columns', sqlFile('state/set_synced_columns.sql'), [unit.sourceId, unit.table, JSON.stringify(columns)]);
}

/** The changelog rows up to highWater are pruned; skipped if the watermark has moved on since. */
export async function clearPrunePending(client: PoolClient, where: string, unit: UnitId, highWater: number): Promise<void> {
  await targetQuery(client, where, 'recording the prune', sqlFile('state/clear_prune_pending.sql'), [unit.sourceId, unit.table, highWater]);
}

export async function markCaptureBroken(client: PoolClient, where: string, unit: UnitId): Promise<void> {
  await targetQuery(client, where, 'recording incomplete capture', sqlFile('state/mark_capture_broken.sql'), [unit.sourceId, unit.table]);
}

/** Remembers that pt-online-schema-change is at work on the table (see 007_gap_ranges.sql). */
export async function markSchemaChangeSeen(client: PoolClient, where: string, unit: UnitId): Promise<void> {
  await targetQuery(
    client,
    where,
    'recording an online schema change',
    'UPDATE tributary.checkpoints SET schema_change_seen_at = coalesce(schema_change_seen_at, now()) WHERE source_id = $1 AND source_table = $2',
    [unit.sourceId, unit.table],
  );
}

/**
 * pt-online-schema-change is done: the rows are re-read once (a refresh: upsert, nothing deleted),
 * unless a snapshot is due anyway.
 */
export async function refreshAfterSchemaChange(client: PoolClient, where: string, unit: UnitId): Promise<void> {
  await targetQuery(
    client,
    where,
    'requesting a refresh after an online schema change',
    `UPDATE tributary.checkpoints
     SET schema_change_seen_at = NULL,
         snapshot_state = CASE WHEN snapshot_state = 'done' THEN 'pending' ELSE snapshot_state END,
         snapshot_mode = CASE WHEN snapshot_state = 'done' THEN 'refresh' ELSE snapshot_mode END,
         snapshot_after = CASE WHEN snapshot_state = 'done' THEN NULL ELSE snapshot_after END
     WHERE source_id = $1 AND source_table = $2`,
    [unit.sourceId, unit.table],
  );
}

export async function requestResnapshot(client: PoolClient, where: string, unit: UnitId): Promise<void> {
  await targetQuery(client, where, 'requesting a snapshot', sqlFile('state/request_resnapshot.sql'), [unit.sourceId, unit.table]);
}

/** How many of the given sources have finished the snapshot of a table. */
export async function countSnapshotsDone(client: PoolClient, where: string, table: string, sourceIds: readonly string[]): Promise<number> {
  const result = await targetQuery<{ done: number }>(client, where, 'reading snapshot states', sqlFile('state/snapshots_done.sql'), [table, sourceIds]);
  return result.rows[0]?.done ?? 0;
}

// ---------------------------------------------------------------- gap state
// Every query on tributary.gaps is here, together. Each row is a range of change ids (change_id is
// its first id, last_id its last). Writes go in statements of at most GAP_WRITE_CHUNK rows, so that
// neither a statement nor its parameters grow with the number of gaps.

const GAP_WRITE_CHUNK = 10_000;

const READ_GAPS = sqlFile('state/read_gaps.sql');

// The rows to insert travel as one JSON array: a range carries its own first-seen time, holders and
// expiry (the rest of a split range keeps those of the range it came from).
const INSERT_GAPS = `
INSERT INTO tributary.gaps (source_id, source_table, change_id, last_id, first_seen_source, first_seen_at, holders, expired_at)
SELECT $1, $2, g.first_id, g.last_id, g.seen::timestamp, to_timestamp(g.seen_epoch), g.holders, CASE WHEN g.expired THEN now() END
FROM jsonb_to_recordset($3::jsonb) AS g(first_id bigint, last_id bigint, seen text, seen_epoch double precision, holders text[], expired boolean)
ON CONFLICT DO NOTHING`;

const DELETE_GAPS = 'DELETE FROM tributary.gaps WHERE source_id = $1 AND source_table = $2 AND change_id = ANY ($3::bigint[])';

const EXPIRE_GAPS = `UPDATE tributary.gaps SET expired_at = now()
WHERE source_id = $1 AND source_table = $2 AND change_id = ANY ($3::bigint[]) AND expired_at IS NULL`;

const SET_GAP_HOLDERS = `UPDATE tributary.gaps SET holders = $4::text[]
WHERE source_id = $1 AND source_table = $2 AND change_id = ANY ($3::bigint[])`;

const RAISE_WATERMARK = `UPDATE tributary.checkpoints SET high_water = $3, prune_pending = true
WHERE source_id = $1 AND source_table = $2 AND high_water < $3`;

export async function loadGaps(client: PoolClient, where: string, unit: UnitId, recheckSeconds: number): Promise<StoredGap[]> {
  const result = await targetQuery(client, where, 'reading gaps', READ_GAPS, [unit.sourceId, unit.table, recheckSeconds]);
  return result.rows.map((row) => ({
    first: Number(row.first_id),
    last: Number(row.last_id),
    firstSeenSource: row.first_seen_source,
    firstSeenEpoch: Number(row.first_seen_epoch),
    holders: row.holders,
    expired: row.expired,
  }));
}

export interface GapChanges {
  /** Stored gaps replaced, by first id (filled whole, or split by arrivals). */
  removed: number[];
  /** Gaps to store: new ones and what is left of split ones. */
  inserted: StoredGap[];
  /** Stored gaps that expire whole, by first id. */
  expired: number[];
  /** Holder sets to store, by identical set. */
  holders: { firsts: number[]; holders: string[] }[];
}

async function inChunks<T>(items: readonly T[], run: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < items.length; start += GAP_WRITE_CHUNK) await run(items.slice(start, start + GAP_WRITE_CHUNK));
}

export async function recordGapChanges(client: PoolClient, where: string, unit: UnitId, gaps: GapChanges): Promise<void> {
  const base = [unit.sourceId, unit.table];
  await inChunks(gaps.removed, (chunk) => targetQuery(client, where, 'closing gaps', DELETE_GAPS, [...base, chunk]));
  await inChunks(gaps.inserted, (chunk) => {
    const rows = chunk.map((g) => ({ first_id: g.first, last_id: g.last, seen: g.firstSeenSource, seen_epoch: g.firstSeenEpoch, holders: g.holders, expired: g.expired }));
    return targetQuery(client, where, 'recording gaps', INSERT_GAPS, [...base, JSON.stringify(rows)]);
  });
  await inChunks(gaps.expired, (chunk) => targetQuery(client, where, 'expiring gaps', EXPIRE_GAPS, [...base, chunk]));
  for (const group of gaps.holders) {
    await inChunks(group.firsts, (chunk) => targetQuery(client, where, 'recording gap holders', SET_GAP_HOLDERS, [...base, chunk, group.holders]));
  }
}

/**
 * Moves the watermark up to a snapshot's floor (see pipeline/floor.ts), with the gaps below it that a
 * live writer may still fill. Runs in the transaction that starts the snapshot.
 */
export async function raiseWatermark(client: PoolClient, where: string, unit: UnitId, highWater: number, gaps: readonly StoredGap[]): Promise<void> {
  await targetQuery(client, where, 'raising the watermark to the snapshot floor', RAISE_WATERMARK, [unit.sourceId, unit.table, highWater]);
  await recordGapChanges(client, where, unit, { removed: [], inserted: [...gaps], expired: [], holders: [] });
}
