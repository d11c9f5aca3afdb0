/**
 * Apply: one PostgreSQL transaction per batch. Stage the final state of every touched key (its current
 * row in the source, or a delete when the row is gone), merge it, and move the watermark, all or
 * nothing. Then prune the applied changelog rows in the source.
 */
import { faultPoint } from '../faults';
import type { SourceRow, SourceValue } from '../model';
import { fetchRows, pruneChanges } from '../mysql/changes';
import { connectTarget, inTransaction, type PoolClient } from '../postgres/connection';
import { type MergeCounts, mergeStage } from '../postgres/merge';
import { copyLines, CopyText, ensureStage, stageColumns } from '../postgres/stage';
import type { Batch } from './poll';
import { gapChanges } from './gaps';
import { TributaryError } from '../errors';
import { unitState } from '../postgres/state';
import { conflictRejects, describeKey, encodeKeyOnly, encodeRowText, keyString, type Reject, rowKey, stageLine, stageLineText, storedRejects } from '../convert/rows';
import { type Runtime, stateUnit, type Unit } from './runtime';

export interface AppliedCounts extends MergeCounts {
  rejects: Reject[];
}

// Fetched chunks (FETCH_CHUNK rows each, src/mysql/changes.ts) a read may hold unread: a default
// 10,000-row batch is read whole ahead of its transaction, while a larger batchSize keeps memory
// bounded (the read waits for the COPY to take text).
const STAGE_READ_AHEAD_CHUNKS = 16;

/**
 * The final state of a batch's keys, read from the source and encoded as COPY text: each key's
 * current row, or a delete line when it has none. Reading starts at once, before the batch's
 * transaction, so that it can overlap the apply of the batch before it (drainChanges); the COPY takes
 * the text as it arrives, or all at once when the read finished first.
 */
export class StageRead {
  /** The staged keys (keyString), whose earlier rejects a good version supersedes. */
  readonly staged: string[] = [];
  readonly rejects: Reject[] = [];
  /** Resolves (never rejects) once the read has ended, successfully or not. */
  readonly settled: Promise<void>;
  private readonly chunks: Buffer[][] = [];
  private ended = false;
  private dropped = false;
  private failure: unknown = null;
  private wake: (() => void) | null = null;
  private roomMade: (() => void) | null = null;

  constructor(
    private readonly unit: Unit,
    readonly keys: readonly SourceValue[][],
  ) {
    this.settled = this.read().then(
      () => this.end(),
      (error: unknown) => {
        this.failure = error;
        this.end();
      },
    );
  }

  /** The COPY text, chunk by chunk; throws what the read failed with. */
  async *lines(): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.failure !== null) throw this.failure;
      const next = this.chunks.shift();
      if (next !== undefined) {
        this.makeRoom();
        yield* next;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private async read(): Promise<void> {
    const { unit } = this;
    const sourceId = unit.source.id;
    const table = unit.target;
    const policy = unit.tableConfig.onBadValue;
    const present = new Set<string>();
    // Lines written as bytes into COPY-sized buffers: a COPY write per row would cost a round of
    // stream work per row, and a string built by appending is flattened and encoded again for the socket.
    const text = new CopyText();
    for await (const rows of fetchRows(unit.source, unit.sourceTable, this.keys)) {
      const inChunk = new Set<string>();
      for (const row of rows as SourceRow[]) {
        const values = rowKey(table, row);
        const key = keyString(values);
        if (inChunk.has(key)) {
          throw new TributaryError('SOURCE_SCHEMA_MISMATCH', `table ${unit.sourceTable.name} in ${unit.source.where} has two rows with key ${describeKey(table, values)}; the configured key must be unique`);
        }
        inChunk.add(key);
        // With a case-insensitive key, two requested spellings can return the same row in two chunks.
        if (present.has(key)) continue;
        present.add(key);
        // Fields appended to one string, rejects to the read's list: no array or object per row.
        const fields = encodeRowText(sourceId, table, row, policy, this.rejects);
        if (fields === null) continue;
        this.staged.push(key);
        text.add(stageLineText('U', sourceId, table, values, fields));
      }
      this.push(text.take(false));
      if (!(await this.room())) return;
    }
    for (const key of this.keys) {
      const staged = keyString(key);
      if (present.has(staged)) continue;
      this.staged.push(staged);
      text.add(stageLine('D', sourceId, table, key, encodeKeyOnly(sourceId, table, key)));
    }
    this.push(text.take(true));
  }

  /** Stops a read whose batch will not be applied (it may be waiting for room). */
  drop(): void {
    this.dropped = true;
    this.makeRoom();
  }

  /** Waits while the unread text is at its bound; false once the read was dropped. */
  private async room(): Promise<boolean> {
    while (!this.dropped && this.chunks.length >= STAGE_READ_AHEAD_CHUNKS) await new Promise<void>((resolve) => (this.roomMade = resolve));
    return !this.dropped;
  }

  private makeRoom(): void {
    const made = this.roomMade;
    this.roomMade = null;
    made?.();
  }

  private push(pieces: Buffer[]): void {
    if (pieces.length > 0) this.chunks.push(pieces);
    this.signal();
  }

  private end(): void {
    this.ended = true;
    this.signal();
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

/**
 * Makes the target rows of the read keys equal to the source's current rows: upserts the rows that
 * exist, deletes the keys that no longer do. Runs inside the caller's transaction. rejectsMayExist
 * false (the unit has no recorded rejects) skips clearing the staged keys' rejects: a statement
 * carrying every staged key, for nothing.
 */
export async function mergeStaged(unit: Unit, client: PoolClient, where: string, read: StageRead, rejectsMayExist = true): Promise<AppliedCounts> {
  if (read.keys.length === 0) return { inserted: 0, updated: 0, deleted: 0, rejects: [] };
  const table = unit.target;
  const stage = await ensureStage(client, where, table);
  await copyLines(client, where, stage, stageColumns(table), read.lines());
  faultPoint('after-copy');
  const { conflicts, ...counts } = await mergeStage(client, where, table, stage);
  const rejects = [...read.rejects, ...conflictRejects(conflicts)];
  const state = unitState(client, where, stateUnit(unit));
  if (rejectsMayExist) await state.clearRejectsForKeys(read.staged);
  await state.recordRejects(storedRejects(table, rejects));
  return { ...counts, rejects };
}

/** Reads the keys' rows and merges them (mergeStaged), inside the caller's transaction. */
export async function stageAndMerge(unit: Unit, client: PoolClient, where: string, keys: readonly SourceValue[][]): Promise<AppliedCounts> {
  if (keys.length === 0) return { inserted: 0, updated: 0, deleted: 0, rejects: [] };
  return mergeStaged(unit, client, where, new StageRead(unit, keys));
}

/**
 * Applies a batch whose rows are being read (read: a StageRead of batch.keys) in one transaction,
 * watermark and gap list included.
 */
export async function applyBatch(unit: Unit, client: PoolClient, where: string, batch: Batch, read: StageRead, rejectsMayExist: boolean): Promise<AppliedCounts> {
  const state = unitState(client, where, stateUnit(unit));
  return inTransaction(client, where, `applying changes to ${unit.target.name}`, async () => {
    await state.lockCheckpoint(batch.previousHighWater);
    const counts = await mergeStaged(unit, client, where, read, rejectsMayExist);
    await state.advance(batch.plan.newHighWater, batch.changes.length, gapChanges(batch));
    return counts;
  });
}

/**
 * Deletes the batch's changelog rows from the source. The row at the new watermark stays as the
 * sentinel; the previous sentinel goes once the watermark has moved past it. Rows from `below` on
 * stay: other consumers of the changelog still need them. alone: no other consumer reads (and
 * prunes) this changelog, which lets long runs of ids go as key ranges (pruneChanges).
 */
export async function pruneBatch(unit: Unit, batch: Batch, below = Infinity, alone = false): Promise<number> {
  faultPoint('after-commit');
  const keep = batch.plan.newHighWater;
  const ids = batch.changes.map((c) => c.changeId).filter((id) => id !== keep && id < below);
  if (batch.previousHighWater > 0 && batch.previousHighWater !== keep && batch.previousHighWater < below) ids.push(batch.previousHighWater);
  if (ids.length === 0) return 0;
  return pruneChanges(unit.source, unit.sourceTable, ids, alone);
}

/**
 * Re-copies the given keys from the source (verify --repair). Waits for the unit's lock so it never
 * interleaves with a pass on the same unit, which could otherwise overwrite a newer row with an older.
 */
export async function repairKeys(runtime: Runtime, unit: Unit, keys: readonly SourceValue[][]): Promise<AppliedCounts> {
  const where = runtime.target.where;
  const client = await connectTarget(runtime.target, `repairing ${unit.target.name}`);
  const state = unitState(client, where, stateUnit(unit));
  let broken = false;
  try {
    await state.waitLock();
    try {
      // A repair between a crashed snapshot and its resumption would insert rows the snapshot then
      // copies again; such a unit is left to the snapshot.
      const checkpoint = await state.load();
      if (checkpoint.snapshotState !== 'done') {
        throw new TributaryError('INTERNAL', `${unit.source.id}.${unit.sourceTable.name} has a snapshot in progress; run sync before repairing it`);
      }
      const total: AppliedCounts = { inserted: 0, updated: 0, deleted: 0, rejects: [] };
      // Bounded transactions, as for batches.
      for (let start = 0; start < keys.length; start += runtime.config.batchSize) {
        const slice = keys.slice(start, start + runtime.config.batchSize);
        const counts = await inTransaction(client, where, `repairing ${unit.target.name}`, () => stageAndMerge(unit, client, where, slice));
        total.inserted += counts.inserted;
        total.updated += counts.updated;
        total.deleted += counts.deleted;
        total.rejects.push(...counts.rejects);
      }
      return total;
    } finally {
      await state.unlock().catch(() => (broken = true));
    }
  } catch (error) {
    broken = true;
    throw error;
  } finally {
    client.release(broken ? true : undefined);
  }
}
