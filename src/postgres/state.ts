/**
 * Tributary's own state in PostgreSQL, schema `tributary` (sql/schema.sql shows it whole; the
 * migrations in sql/migrations build it). This module is the one place that reads or writes it.
 *
 * Progress is kept per (source, table) unit next to the data, so that a batch and its watermark commit
 * together or not at all. unitState() binds the queries of one unit to a client; the free functions at
 * the end are the few queries that span every unit.
 */
import type { Pool, QueryResultRow } from 'pg';
import { TributaryError } from '../errors';
import type { IdRange, SourceValue } from '../model';
import { type PoolClient, targetQuery } from './connection';

type Db = Pool | PoolClient;

export interface UnitId {
  sourceId: string;
  /** The table's name in the sources. */
  table: string;
}

export interface StateUnit extends UnitId {
  /** The target table's name: stored with the checkpoint and each reject, for people reading them. */
  target: string;
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
  /** How a running snapshot replaces the source's rows (see SnapshotPlan); null when none runs. */
  snapshotPlan: SnapshotPlan | null;
  /** The table settings the unit was last synced with; null before the first pass. */
  syncedSettings: unknown;
}

/**
 * How a snapshot replaces the source's rows (migration 006): fill (the target held none: rows are
 * only added), range (each chunk replaces its key range), sweep (chunks upsert and record their keys;
 * rows no chunk saw are deleted with the last one).
 */
export type SnapshotPlan = 'fill' | 'range' | 'sweep';

/** A range of change ids missing from the changelog, all first seen by the same read. */
export interface StoredGap extends IdRange {
  /** MySQL NOW(6), UTC, of the read that first missed the ids: 'YYYY-MM-DD HH:MM:SS.ffffff'. */
  firstSeenSource: string;
  /** Local clock (epoch seconds) when the gap was recorded. */
  firstSeenEpoch: number;
  holders: string[] | null;
  expired: boolean;
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

/** One value PostgreSQL could not hold, as tributary.rejects stores it. */
export interface StoredReject {
  /** The row's key as a map key (JSON), unique per row. */
  rowKey: string;
  /** The key as people read it: "id=5". */
  keyText: string;
  column: string;
  raw: SourceValue;
  reason: string;
  action: 'rejected' | 'nulled';
}

// ---------------------------------------------------------------------------------------------
// Unit lock

// Fences a (source, table) unit: one process at a time applies it. Session-level, so it is held across
// the unit's transactions and released when the connection ends, also when the process dies.
const TRY_LOCK_UNIT = 'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked';

// Like TRY_LOCK_UNIT, but waits: used by repairs, which must not interleave with a pass on the same unit.
const WAIT_LOCK_UNIT = 'SELECT pg_advisory_lock(hashtextextended($1, 0))';

// Releases the session lock taken by either of the above.
const UNLOCK_UNIT = 'SELECT pg_advisory_unlock(hashtextextended($1, 0)) AS unlocked';

// ---------------------------------------------------------------------------------------------
// Checkpoint

// Creates the unit's checkpoint on first use and reads it. A row created by this statement is not
// visible to its own SELECT; the caller reads again then (once per unit, ever).
const READ_CHECKPOINT = `
WITH created AS (
  INSERT INTO tributary.checkpoints (source_id, source_table, target_table)
  VALUES ($1, $2, $3)
  ON CONFLICT (source_id, source_table) DO NOTHING
)
SELECT source_id, source_table, target_table, changelog_token, high_water::text AS high_water,
       snapshot_state, snapshot_mode, snapshot_after, snapshot_rows::text AS snapshot_rows, synced_columns, prune_pending, snapshot_plan, synced_settings,
       to_char(capture_broken_at, 'YYYY-MM-DD"T"HH24:MI:SSOF') AS capture_broken_at,
       to_char(schema_change_seen_at, 'YYYY-MM-DD"T"HH24:MI:SSOF') AS schema_change_seen_at
FROM tributary.checkpoints
WHERE source_id = $1 AND source_table = $2`;

// Taken at the start of every batch transaction: the batch commits only if nobody moved the
// watermark since it was read.
const LOCK_CHECKPOINT = `
SELECT high_water::text AS high_water FROM tributary.checkpoints
WHERE source_id = $1 AND source_table = $2
FOR UPDATE`;

// Moves the watermark with the batch it covers; prune_pending says its changelog rows still wait in
// the source until the prune after the commit clears it.
const ADVANCE_CHECKPOINT = `
UPDATE tributary.checkpoints
SET high_water = $3, applied_changes = applied_changes + $4, last_applied_at = now(), prune_pending = true
WHERE source_id = $1 AND source_table = $2`;

// The changelog rows up to the watermark are pruned; a watermark moved on since keeps the flag.
const CLEAR_PRUNE_PENDING = `
UPDATE tributary.checkpoints SET prune_pending = false
WHERE source_id = $1 AND source_table = $2 AND high_water = $3`;

// The changelog's install token, first seen: a different token later means it was recreated.
const SET_TOKEN = 'UPDATE tributary.checkpoints SET changelog_token = $3 WHERE source_id = $1 AND source_table = $2';

// The changelog was recreated or emptied: nothing below its new ids is known, so start over with a
// fresh snapshot. Gaps go with it (DELETE_UNIT_GAPS first, in the same transaction).
const RESET_CHECKPOINT = `
UPDATE tributary.checkpoints
SET changelog_token = $3, high_water = 0, snapshot_state = 'pending', snapshot_mode = 'replace', snapshot_after = NULL,
    snapshot_rows = 0, snapshot_started_at = NULL, snapshot_done_at = NULL
WHERE source_id = $1 AND source_table = $2`;

// Target columns the unit synced: a column added later means rows were filled without any trigger.
const SET_SYNCED_COLUMNS = 'UPDATE tributary.checkpoints SET synced_columns = $3::jsonb WHERE source_id = $1 AND source_table = $2';

// A pass found a trigger missing or altered: kept (the first time only) until a new snapshot clears it.
const MARK_CAPTURE_BROKEN = `
UPDATE tributary.checkpoints SET capture_broken_at = COALESCE(capture_broken_at, now())
WHERE source_id = $1 AND source_table = $2`;

// pt-online-schema-change is at work on the table (its triggers are on it); kept from the first time.
const MARK_SCHEMA_CHANGE_SEEN = `
UPDATE tributary.checkpoints SET schema_change_seen_at = coalesce(schema_change_seen_at, now())
WHERE source_id = $1 AND source_table = $2`;

// pt-online-schema-change is done: its trigger move can have let a key change reach the changelog with
// its old key only, so the rows are re-read once (a refresh: upsert, nothing deleted), unless a
// snapshot is due anyway.
const REFRESH_AFTER_SCHEMA_CHANGE = `
UPDATE tributary.checkpoints
SET schema_change_seen_at = NULL,
    snapshot_state = CASE WHEN snapshot_state = 'done' THEN 'pending' ELSE snapshot_state END,
    snapshot_mode = CASE WHEN snapshot_state = 'done' THEN 'refresh' ELSE snapshot_mode END,
    snapshot_after = CASE WHEN snapshot_state = 'done' THEN NULL ELSE snapshot_after END
WHERE source_id = $1 AND source_table = $2`;

// A replacing snapshot moves the watermark up to its floor (src/pipeline/floor.ts), never down.
const RAISE_WATERMARK = `
UPDATE tributary.checkpoints SET high_water = $3, prune_pending = true
WHERE source_id = $1 AND source_table = $2 AND high_water < $3`;

// ---------------------------------------------------------------------------------------------
// Snapshot

// Re-reads every row of the unit, upserting (columns were added): nothing is deleted first.
const REQUEST_REFRESH = `
UPDATE tributary.checkpoints
SET snapshot_state = 'pending', snapshot_mode = 'refresh', snapshot_after = NULL
WHERE source_id = $1 AND source_table = $2`;

// A full snapshot (this source's rows replaced); the watermark stays, so changes captured meanwhile
// are still applied after it.
const REQUEST_RESNAPSHOT = `
UPDATE tributary.checkpoints
SET snapshot_state = 'pending', snapshot_mode = 'replace', snapshot_after = NULL, capture_broken_at = NULL
WHERE source_id = $1 AND source_table = $2`;

// Committed with the snapshot's first step: a crash from here on resumes instead of starting over.
const SNAPSHOT_BEGIN = `
UPDATE tributary.checkpoints
SET snapshot_state = 'running', snapshot_after = NULL, snapshot_rows = 0, snapshot_started_at = now()
WHERE source_id = $1 AND source_table = $2`;

// Committed with each chunk: the key of its last row is where a resumed snapshot continues.
const SNAPSHOT_PROGRESS = `
UPDATE tributary.checkpoints
SET snapshot_after = $3::jsonb, snapshot_rows = snapshot_rows + $4
WHERE source_id = $1 AND source_table = $2`;

// Committed with the last chunk; the mode returns to replace for any later snapshot.
const SNAPSHOT_DONE = `
UPDATE tributary.checkpoints
SET snapshot_state = 'done', snapshot_mode = 'replace', snapshot_after = NULL, snapshot_done_at = now()
WHERE source_id = $1 AND source_table = $2`;

// Remembers how the snapshot that starts now replaces rows, so that a resumed one goes on the same way.
const SET_SNAPSHOT_PLAN = 'UPDATE tributary.checkpoints SET snapshot_plan = $3 WHERE source_id = $1 AND source_table = $2';

// At the end of a snapshot: rejects it did not record again are of rows that are gone or now hold good
// values (every chunk records its rejects afresh, which sets rejected_at to its transaction's time,
// later than the snapshot's start).
const DELETE_SUPERSEDED_REJECTS = `
DELETE FROM tributary.rejects r USING tributary.checkpoints c
WHERE r.source_id = $1 AND r.source_table = $2 AND c.source_id = r.source_id AND c.source_table = r.source_table
  AND r.rejected_at < c.snapshot_started_at`;

// No snapshot runs any more: no plan to resume by.
const CLEAR_SNAPSHOT_PLAN = 'UPDATE tributary.checkpoints SET snapshot_plan = NULL WHERE source_id = $1 AND source_table = $2';

// The table settings the unit is synced with from now on, and the target table they name: an edited
// setting is noticed on a later pass and brought into the target (src/pipeline/settings.ts).
const SET_SYNCED_SETTINGS = 'UPDATE tributary.checkpoints SET synced_settings = $3::jsonb, target_table = $4 WHERE source_id = $1 AND source_table = $2';

// Whether the unit's snapshot has finished (no row: never synced); verify compares only such units.
const SNAPSHOT_STATE = 'SELECT snapshot_state FROM tributary.checkpoints WHERE source_id = $1 AND source_table = $2';

// ---------------------------------------------------------------------------------------------
// Gaps (see src/pipeline/gaps.ts for the rule). Each row is a range of change ids: change_id is its
// first id, last_id its last. Writes go in statements of at most GAP_WRITE_CHUNK rows, so that neither
// a statement nor its parameters grow with the number of gaps.

const GAP_WRITE_CHUNK = 10_000;

// Open gaps, and expired ones still within the re-check window ($3 seconds); expired ones past it
// are dropped in the same round trip (the SELECT leaves them out by the same condition).
const READ_GAPS = `
WITH dropped AS (
  DELETE FROM tributary.gaps
  WHERE source_id = $1 AND source_table = $2 AND expired_at <= now() - make_interval(secs => $3)
)
SELECT change_id::text AS first_id, last_id::text AS last_id,
       to_char(first_seen_source, 'YYYY-MM-DD HH24:MI:SS.US') AS first_seen_source,
       extract(epoch FROM first_seen_at) AS first_seen_epoch,
       holders, expired_at IS NOT NULL AS expired
FROM tributary.gaps
WHERE source_id = $1 AND source_table = $2
  AND (expired_at IS NULL OR expired_at > now() - make_interval(secs => $3))
ORDER BY change_id`;

// The rows to insert travel as one JSON array: a range carries its own first-seen time, holders and
// expiry (the rest of a split range keeps those of the range it came from).
const INSERT_GAPS = `
INSERT INTO tributary.gaps (source_id, source_table, change_id, last_id, first_seen_source, first_seen_at, holders, expired_at)
SELECT $1, $2, g.first_id, g.last_id, g.seen::timestamp, to_timestamp(g.seen_epoch), g.holders, CASE WHEN g.expired THEN now() END
FROM jsonb_to_recordset($3::jsonb) AS g(first_id bigint, last_id bigint, seen text, seen_epoch double precision, holders text[], expired boolean)
ON CONFLICT DO NOTHING`;

// Ranges filled whole, or split by arrivals (what is left of them is inserted anew), by first id.
const DELETE_GAPS = 'DELETE FROM tributary.gaps WHERE source_id = $1 AND source_table = $2 AND change_id = ANY ($3::bigint[])';

// Ranges proven dead (their holders ended): still re-read for the re-check window, then dropped.
const EXPIRE_GAPS = `
UPDATE tributary.gaps SET expired_at = now()
WHERE source_id = $1 AND source_table = $2 AND change_id = ANY ($3::bigint[]) AND expired_at IS NULL`;

// The writing transactions that could still commit these ranges' ids, as first examined.
const SET_GAP_HOLDERS = `
UPDATE tributary.gaps SET holders = $4::text[]
WHERE source_id = $1 AND source_table = $2 AND change_id = ANY ($3::bigint[])`;

// Every gap of the unit, when its checkpoint is reset.
const DELETE_UNIT_GAPS = 'DELETE FROM tributary.gaps WHERE source_id = $1 AND source_table = $2';

// ---------------------------------------------------------------------------------------------
// Rejects: values PostgreSQL could not hold, per row and column

// A later reject of the same row and column replaces the earlier one: the table holds the latest word.
const INSERT_REJECTS = `
INSERT INTO tributary.rejects (source_id, source_table, target_table, row_key, key_text, column_name, raw_value, reason, action)
SELECT $1, $2, $3, r.row_key, r.key_text, r.column_name, decode(r.raw_hex, 'hex'), r.reason, r.action
FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
     AS r(row_key, key_text, column_name, raw_hex, reason, action)
ON CONFLICT (source_id, source_table, row_key, column_name)
DO UPDATE SET raw_value = EXCLUDED.raw_value, reason = EXCLUDED.reason, action = EXCLUDED.action,
              rejected_at = now()`;

// A good version of a row (or its deletion) supersedes its earlier rejects.
const CLEAR_REJECTS_FOR_KEYS = 'DELETE FROM tributary.rejects WHERE source_id = $1 AND source_table = $2 AND row_key = ANY ($3::text[])';

// Whether the unit has any rejects at all: most never have one, and their batches then skip clearing
// rejects key by key (one index probe here instead of a statement carrying every key of every batch).
const HAS_REJECTS = 'SELECT EXISTS (SELECT 1 FROM tributary.rejects WHERE source_id = $1 AND source_table = $2) AS present';

// A replacing snapshot starts the unit's rows, and so its rejects, over.
const CLEAR_REJECTS = 'DELETE FROM tributary.rejects WHERE source_id = $1 AND source_table = $2';

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

function rawHex(value: SourceValue): string | null {
  if (value === null) return null;
  return (Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8')).toString('hex');
}

function toCheckpoint(row: QueryResultRow): Checkpoint {
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

function toStoredGap(row: QueryResultRow): StoredGap {
  return {
    first: Number(row.first_id),
    last: Number(row.last_id),
    firstSeenSource: row.first_seen_source,
    firstSeenEpoch: Number(row.first_seen_epoch),
    holders: row.holders,
    expired: row.expired,
  };
}

async function inChunks<T>(items: readonly T[], run: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < items.length; start += GAP_WRITE_CHUNK) await run(items.slice(start, start + GAP_WRITE_CHUNK));
}

const gapRow = (g: StoredGap) => ({ first_id: g.first, last_id: g.last, seen: g.firstSeenSource, seen_epoch: g.firstSeenEpoch, holders: g.holders, expired: g.expired });

export type UnitState = ReturnType<typeof unitState>;

/**
 * The state of one unit, bound to a client. Locks are session-level: use a dedicated client, not a
 * pool. Methods that must commit with other work run in the caller's transaction.
 */
export function unitState(client: PoolClient, where: string, unit: StateUnit) {
  const key = [unit.sourceId, unit.table];
  const run = (doing: string, sql: string, params: unknown[] = []) => targetQuery(client, where, doing, sql, [...key, ...params]);
  const lockKey = [JSON.stringify(['tributary', unit.sourceId, unit.table])];
  const name = `${unit.sourceId}.${unit.table}`;

  /** Writes what a batch or a snapshot floor did to the gap list, in bounded statements. */
  const recordGapChanges = async (gaps: GapChanges): Promise<void> => {
    await inChunks(gaps.removed, (chunk) => run('closing gaps', DELETE_GAPS, [chunk]));
    await inChunks(gaps.inserted, (chunk) => run('recording gaps', INSERT_GAPS, [JSON.stringify(chunk.map(gapRow))]));
    await inChunks(gaps.expired, (chunk) => run('expiring gaps', EXPIRE_GAPS, [chunk]));
    for (const group of gaps.holders) await inChunks(group.firsts, (chunk) => run('recording gap holders', SET_GAP_HOLDERS, [chunk, group.holders]));
  };

  return {
    /** Takes the unit's lock if free; false when another process holds it. */
    async tryLock(): Promise<boolean> {
      const result = await targetQuery<{ locked: boolean }>(client, where, 'locking unit', TRY_LOCK_UNIT, lockKey);
      return result.rows[0]?.locked === true;
    },

    /** Waits until the unit is free, then holds it until unlock. */
    async waitLock(): Promise<void> {
      await targetQuery(client, where, 'waiting for unit lock', WAIT_LOCK_UNIT, lockKey);
    },

    async unlock(): Promise<void> {
      await targetQuery(client, where, 'unlocking unit', UNLOCK_UNIT, lockKey);
    },

    /** The unit's checkpoint, created on first use. */
    async load(): Promise<Checkpoint> {
      const read = () => run('reading checkpoint', READ_CHECKPOINT, [unit.target]);
      let result = await read();
      if (result.rows.length === 0) result = await read();
      const row = result.rows[0];
      if (!row) throw new TributaryError('INTERNAL', `checkpoint for ${name} vanished`);
      return toCheckpoint(row);
    },

    /** Must run inside the batch transaction: the batch applies only if the watermark is still expected. */
    async lockCheckpoint(expectedHighWater: number): Promise<void> {
      const result = await run('locking checkpoint', LOCK_CHECKPOINT);
      const actual = Number(result.rows[0]?.high_water ?? NaN);
      if (actual !== expectedHighWater) {
        throw new TributaryError('CHECKPOINT_CONFLICT', `checkpoint of ${name} moved from ${expectedHighWater} to ${actual} during the batch; another process is applying it`);
      }
    },

    /** Moves the watermark and updates the gap list, inside the batch transaction. */
    async advance(highWater: number, appliedChanges: number, gaps: GapChanges): Promise<void> {
      await run('advancing checkpoint', ADVANCE_CHECKPOINT, [highWater, appliedChanges]);
      await recordGapChanges(gaps);
    },

    recordGapChanges,

    /**
     * Moves the watermark up to a snapshot's floor (src/pipeline/floor.ts), with the gaps below it that
     * a live writer may still fill. Runs in the transaction that starts the snapshot.
     */
    async raiseWatermark(highWater: number, gaps: readonly StoredGap[]): Promise<void> {
      await run('raising the watermark to the snapshot floor', RAISE_WATERMARK, [highWater]);
      await recordGapChanges({ removed: [], inserted: [...gaps], expired: [], holders: [] });
    },

    /** The changelog rows up to highWater are pruned; skipped if the watermark has moved on since. */
    async clearPrunePending(highWater: number): Promise<void> {
      await run('recording the prune', CLEAR_PRUNE_PENDING, [highWater]);
    },

    async setChangelogToken(token: string | null): Promise<void> {
      await run('recording changelog token', SET_TOKEN, [token]);
    },

    /** Forgets all progress of the unit: the next pass snapshots it again. Two statements: wrap in a transaction. */
    async reset(token: string | null): Promise<void> {
      await run('resetting checkpoint', DELETE_UNIT_GAPS);
      await run('resetting checkpoint', RESET_CHECKPOINT, [token]);
    },

    async setSyncedColumns(columns: readonly string[]): Promise<void> {
      await run('recording synced columns', SET_SYNCED_COLUMNS, [JSON.stringify(columns)]);
    },

    async markCaptureBroken(): Promise<void> {
      await run('recording incomplete capture', MARK_CAPTURE_BROKEN);
    },

    /** Remembers that pt-online-schema-change is at work on the table (see 007_gap_ranges.sql). */
    async markSchemaChangeSeen(): Promise<void> {
      await run('recording an online schema change', MARK_SCHEMA_CHANGE_SEEN);
    },

    /** pt-online-schema-change is done: the rows are re-read once, unless a snapshot is due anyway. */
    async refreshAfterSchemaChange(): Promise<void> {
      await run('requesting a refresh after an online schema change', REFRESH_AFTER_SCHEMA_CHANGE);
    },

    /** Re-reads every row of the unit (upserting) on its next pass, e.g. after columns were added. */
    async requestRefresh(): Promise<void> {
      await run('requesting a refresh', REQUEST_REFRESH);
    },

    async requestResnapshot(): Promise<void> {
      await run('requesting a snapshot', REQUEST_RESNAPSHOT);
    },

    async beginSnapshot(): Promise<void> {
      await run('starting snapshot', SNAPSHOT_BEGIN);
    },

    async recordSnapshotProgress(after: readonly SourceValue[], rows: number): Promise<void> {
      await run('recording snapshot progress', SNAPSHOT_PROGRESS, [JSON.stringify(encodeKey(after)), rows]);
    },

    async setSnapshotPlan(plan: SnapshotPlan): Promise<void> {
      await run('recording the snapshot plan', SET_SNAPSHOT_PLAN, [plan]);
    },

    /** Must run in the last chunk's transaction: superseded rejects go, the plan is cleared. */
    async finishSnapshot(): Promise<void> {
      await run('finishing snapshot', SNAPSHOT_DONE);
      await run('removing superseded rejects', DELETE_SUPERSEDED_REJECTS);
      await run('finishing snapshot', CLEAR_SNAPSHOT_PLAN);
    },

    /** Records the settings the unit is synced with from now on (and the target table they name). */
    async setSyncedSettings(settings: object): Promise<void> {
      await run('recording synced settings', SET_SYNCED_SETTINGS, [JSON.stringify(settings), unit.target]);
    },

    async gaps(recheckSeconds: number): Promise<StoredGap[]> {
      return (await run('reading gaps', READ_GAPS, [recheckSeconds])).rows.map(toStoredGap);
    },

    async recordRejects(rejects: readonly StoredReject[]): Promise<void> {
      if (rejects.length === 0) return;
      await run('recording rejected values', INSERT_REJECTS, [
        unit.target,
        rejects.map((r) => r.rowKey),
        rejects.map((r) => r.keyText),
        rejects.map((r) => r.column),
        rejects.map((r) => rawHex(r.raw)),
        rejects.map((r) => r.reason),
        rejects.map((r) => r.action),
      ]);
    },

    /** A good version of a row (or its deletion) supersedes its earlier rejects; keys as in StoredReject.rowKey. */
    async clearRejectsForKeys(rowKeys: readonly string[]): Promise<void> {
      if (rowKeys.length === 0) return;
      await run('clearing superseded rejects', CLEAR_REJECTS_FOR_KEYS, [rowKeys]);
    },

    /** Whether any reject of the unit is recorded (only a holder of the unit's lock writes them). */
    async hasRejects(): Promise<boolean> {
      return (await run('looking for rejects', HAS_REJECTS)).rows[0]?.present === true;
    },

    async clearRejects(): Promise<void> {
      await run('clearing rejects', CLEAR_REJECTS);
    },
  };
}

/** Whether a unit's snapshot has finished; before that its target rows are incomplete by design. */
export async function isSnapshotDone(db: Db, where: string, unit: UnitId): Promise<boolean> {
  const result = await targetQuery<{ snapshot_state: string }>(db, where, 'reading checkpoint', SNAPSHOT_STATE, [unit.sourceId, unit.table]);
  return result.rows[0]?.snapshot_state === 'done';
}

// ---------------------------------------------------------------------------------------------
// Queries over every unit

// How many of a table's sources have finished their snapshot: its indexes are built once all have.
const SNAPSHOTS_DONE = `
SELECT count(*) FILTER (WHERE snapshot_state = 'done')::int AS done
FROM tributary.checkpoints
WHERE source_table = $1 AND source_id = ANY ($2::text[])`;

/** How many of the given sources have finished the snapshot of a table (its name in the sources). */
export async function countSnapshotsDone(db: Db, where: string, table: string, sourceIds: readonly string[]): Promise<number> {
  const result = await targetQuery<{ done: number }>(db, where, 'reading snapshot states', SNAPSHOTS_DONE, [table, sourceIds]);
  return result.rows[0]?.done ?? 0;
}

// Every unit's progress in one round trip, to tell idle units apart before locking any of them.
const PROBE_UNITS = `
SELECT c.source_id, c.source_table, c.high_water::text AS high_water, c.snapshot_state,
       c.changelog_token, c.synced_columns, c.synced_settings, c.capture_broken_at IS NOT NULL AS capture_broken, c.schema_change_seen_at IS NOT NULL AS schema_change_seen,
       EXISTS (SELECT 1 FROM tributary.gaps g WHERE g.source_id = c.source_id AND g.source_table = c.source_table) AS has_gaps
FROM tributary.checkpoints c`;

export interface UnitProbe extends UnitId {
  highWater: number;
  snapshotState: Checkpoint['snapshotState'];
  changelogToken: string | null;
  syncedColumns: string[] | null;
  syncedSettings: unknown;
  captureBroken: boolean;
  schemaChangeSeen: boolean;
  hasGaps: boolean;
}

export async function probeUnits(db: Db, where: string): Promise<UnitProbe[]> {
  const result = await targetQuery(db, where, 'probing units', PROBE_UNITS);
  return result.rows.map((row) => ({
    sourceId: row.source_id,
    table: row.source_table,
    highWater: Number(row.high_water),
    snapshotState: row.snapshot_state,
    changelogToken: row.changelog_token,
    syncedColumns: row.synced_columns,
    syncedSettings: row.synced_settings,
    captureBroken: row.capture_broken,
    schemaChangeSeen: row.schema_change_seen,
    hasGaps: row.has_gaps,
  }));
}

// One statement per pass for all units, so an idle unit costs the target nothing extra.
const RECORD_PASS = `
UPDATE tributary.checkpoints AS c
SET last_pass_at = now(),
    last_error = u.error,
    last_error_at = CASE WHEN u.error IS NULL THEN c.last_error_at ELSE now() END
FROM unnest($1::text[], $2::text[], $3::text[]) AS u(source_id, source_table, error)
WHERE c.source_id = u.source_id AND c.source_table = u.source_table`;

export interface PassOutcome extends UnitId {
  /** The failure's message, or null when the unit's pass went well (an earlier error is then cleared). */
  error: string | null;
}

export async function recordPass(db: Db, where: string, outcomes: readonly PassOutcome[]): Promise<void> {
  await targetQuery(db, where, 'recording the pass', RECORD_PASS, [outcomes.map((o) => o.sourceId), outcomes.map((o) => o.table), outcomes.map((o) => o.error)]);
}

// The shapes introspection read per source (migration 008), keyed by a hash of the capture check's
// digest: read once at start, for every source at once. Before the migration made the table (a first
// run, or an older schema) there are none: to_regclass needs no privilege and tells.
const SOURCE_SHAPES_PRESENT = "SELECT to_regclass('tributary.source_shapes') IS NOT NULL AS present";
// As text: sources with identical tables store identical text, which the caller parses once.
const READ_SOURCE_SHAPES = 'SELECT source_id, digest, tables::text AS tables FROM tributary.source_shapes WHERE source_id = ANY ($1::text[])';

// Written after a start had to introspect a source. Stored and read a few sources per statement, so
// that neither the statement nor the result is large (tens of kilobytes a source).
const STORE_SOURCE_SHAPES = `
INSERT INTO tributary.source_shapes (source_id, digest, tables)
SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])
ON CONFLICT (source_id) DO UPDATE SET digest = excluded.digest, tables = excluded.tables, stored_at = now()`;
const SHAPES_PER_STATEMENT = 20;

export interface StoredShapes {
  sourceId: string;
  digest: string;
  /** The tables as introspection returned them, as JSON text, for the caller to check and restore. */
  tables: string;
}

export async function readSourceShapes(db: Db, where: string, sourceIds: readonly string[]): Promise<StoredShapes[]> {
  const present = await targetQuery<{ present: boolean }>(db, where, 'looking for stored source shapes', SOURCE_SHAPES_PRESENT);
  if (present.rows[0]?.present !== true) return [];
  const stored: StoredShapes[] = [];
  for (let i = 0; i < sourceIds.length; i += SHAPES_PER_STATEMENT) {
    const result = await targetQuery(db, where, 'reading stored source shapes', READ_SOURCE_SHAPES, [sourceIds.slice(i, i + SHAPES_PER_STATEMENT)]);
    for (const row of result.rows) stored.push({ sourceId: row.source_id, digest: row.digest, tables: row.tables });
  }
  return stored;
}

export async function storeSourceShapes(db: Db, where: string, shapes: readonly StoredShapes[]): Promise<void> {
  for (let i = 0; i < shapes.length; i += SHAPES_PER_STATEMENT) {
    const chunk = shapes.slice(i, i + SHAPES_PER_STATEMENT);
    await targetQuery(db, where, 'storing source shapes', STORE_SOURCE_SHAPES, [chunk.map((s) => s.sourceId), chunk.map((s) => s.digest), chunk.map((s) => s.tables)]);
  }
}

// Whether the state schema exists at all: to_regclass needs no privilege on the schema or table it
// names, so this works for any role and tells "never synced" from "not allowed to read" (the latter
// fails on the status query itself). `status` only reads: it migrates nothing.
const STATE_PRESENT = "SELECT to_regclass('tributary.checkpoints') IS NOT NULL AS present";

export async function stateSchemaPresent(db: Db, where: string): Promise<boolean> {
  const result = await targetQuery<{ present: boolean }>(db, where, 'looking for the state schema', STATE_PRESENT);
  return result.rows[0]?.present === true;
}

// `tributary status`: the progress of every unit. Open gaps are counted in ids, split in two: held (a
// writing transaction that may still commit them was alive at the last look) and waiting (not
// examined yet: evidence is read a second after a gap is first seen, or, without the PROCESS
// privilege, they wait for the timeout). Expired ones are only re-checked: not counted.
const STATUS = `
SELECT c.source_id, c.source_table, c.target_table, c.high_water::text AS high_water,
       c.snapshot_state, c.snapshot_rows::text AS snapshot_rows, c.applied_changes::text AS applied_changes,
       c.last_applied_at, c.last_pass_at, c.last_error, c.last_error_at,
       g.held_gaps::text AS held_gaps, g.waiting_gaps::text AS waiting_gaps
FROM tributary.checkpoints c
CROSS JOIN LATERAL (
  SELECT coalesce(sum(last_id - change_id + 1) FILTER (WHERE holders IS NOT NULL), 0) AS held_gaps,
         coalesce(sum(last_id - change_id + 1) FILTER (WHERE holders IS NULL), 0) AS waiting_gaps
  FROM tributary.gaps
  WHERE source_id = c.source_id AND source_table = c.source_table AND expired_at IS NULL
) g
ORDER BY c.source_id, c.source_table`;

export interface UnitProgress extends UnitId {
  targetTable: string;
  highWater: number;
  snapshotState: Checkpoint['snapshotState'];
  snapshotRows: number;
  appliedChanges: number;
  lastAppliedAt: Date | null;
  lastPassAt: Date | null;
  lastError: string | null;
  lastErrorAt: Date | null;
  /** Open gap ids a writing transaction alive at the last look may still commit. */
  heldGaps: number;
  /** Open gap ids not examined yet. */
  waitingGaps: number;
}

export async function statusRows(db: Db, where: string): Promise<UnitProgress[]> {
  const result = await targetQuery(db, where, 'reading status', STATUS);
  return result.rows.map((row) => ({
    sourceId: row.source_id,
    table: row.source_table,
    targetTable: row.target_table,
    highWater: Number(row.high_water),
    snapshotState: row.snapshot_state,
    snapshotRows: Number(row.snapshot_rows),
    appliedChanges: Number(row.applied_changes),
    lastAppliedAt: row.last_applied_at,
    lastPassAt: row.last_pass_at,
    lastError: row.last_error,
    lastErrorAt: row.last_error_at,
    heldGaps: Number(row.held_gaps),
    waitingGaps: Number(row.waiting_gaps),
  }));
}
