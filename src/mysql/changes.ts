/**
 * Reading a source: the changelog past the watermark, the current rows of changed keys, the evidence
 * for gap expiry, the snapshot stream, and pruning of applied changelog rows.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { TributaryError } from '../errors';
import { quoteMysql } from '../ident';
import { type IdRange, LINE_ALIAS, LINE_NULL, LINE_SEPARATOR, type LineColumn, type SourceRow, type SourceTable, type SourceValue } from '../model';
import { sqlFile } from '../sqlfiles';
import { type CaptureSubject, keyColumns, namesOf, newKeyColumn, oldKeyColumn } from './capture';
import { exactTypeCast, type SourceConnection, type SourceHandle, sourceExecute, sourceQuery } from './connection';
import { isNoSuchTable, isPrivilegeDenied, mapMysqlError } from './errors';
import { binaryColumnNames } from './introspect';

export interface ChangeRow {
  changeId: number;
  op: 'I' | 'U' | 'D';
  oldKey: SourceValue[] | null;
  newKey: SourceValue[] | null;
}

export interface ChangeRead {
  changes: ChangeRow[];
  /** MySQL NOW(6) at the read; null when nothing came back. */
  readAt: string | null;
  /** Whether the row at the watermark itself (kept as a sentinel) was present. */
  sentinelSeen: boolean;
  /** How long the oldest change read had been waiting, by MySQL's clock; 0 when none. */
  lagSeconds: number;
}

/**
 * The writing transactions InnoDB reports alive, and MySQL's clock (UTC) when it was read: the
 * evidence the gap rule (src/pipeline/gaps.ts) expires gaps by. alive is null when the sync user may
 * not read INNODB_TRX (no PROCESS privilege): then only a timeout can expire gaps.
 */
export interface Evidence {
  readAt: string;
  alive: ReadonlySet<string> | null;
}

function toChangeId(value: unknown): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id)) throw new TributaryError('INTERNAL', `change id ${String(value)} is beyond 2^53`);
  return id;
}

/** `a IN (...)` or `(a = ? AND b = ?) OR ...` for a list of keys, with its parameters. */
export function keyMatchSql(keyNames: readonly string[], keys: readonly SourceValue[][]): { sql: string; params: unknown[] } {
  if (keyNames.length === 1) return { sql: `${quoteMysql(keyNames[0]!)} IN (?)`, params: [keys.map((k) => k[0])] };
  const one = '(' + keyNames.map((n) => `${quoteMysql(n)} = ?`).join(' AND ') + ')';
  return { sql: keys.map(() => one).join(' OR '), params: keys.flat() };
}

/** Keyset condition "key > after" in the form both MySQL and MariaDB turn into an index range. */
export function keyAfterSql(keyNames: readonly string[], after: readonly SourceValue[]): { sql: string; params: unknown[] } {
  const terms: string[] = [];
  const params: unknown[] = [];
  for (let i = 0; i < keyNames.length; i++) {
    const parts = keyNames.slice(0, i).map((n) => `${quoteMysql(n)} = ?`);
    parts.push(`${quoteMysql(keyNames[i]!)} > ?`);
    terms.push('(' + parts.join(' AND ') + ')');
    params.push(...after.slice(0, i + 1));
  }
  return { sql: terms.join(' OR '), params };
}

function keyBinaryNames(table: SourceTable): Set<string> {
  const names = new Set<string>();
  const binary = binaryColumnNames(table.columns);
  keyColumns(table).forEach((column, index) => {
    if (binary.has(column.name)) {
      names.add(oldKeyColumn(index + 1));
      names.add(newKeyColumn(index + 1));
    }
  });
  return names;
}

/** One changelog row as the change readers select it. */
function changeSelect(table: SourceTable): string {
  const keyCols = Array.from({ length: table.key.length }, (_, i) => [oldKeyColumn(i + 1), newKeyColumn(i + 1)]).flat();
  return [
    '`change_id`',
    '`op`',
    ...keyCols.map(quoteMysql),
    'NOW(6) AS `tributary_read_at`',
    'TIMESTAMPDIFF(MICROSECOND, `captured_at`, NOW(6)) AS `tributary_age_us`',
  ].join(', ');
}

async function selectChanges(handle: SourceHandle, table: SourceTable, where: string, params: unknown[], doing: string): Promise<RowDataPacket[]> {
  const names = namesOf(table);
  const sql = `SELECT ${changeSelect(table)} FROM ${quoteMysql(names.changelog)} WHERE ${where} ORDER BY \`change_id\` LIMIT ?`;
  try {
    const [result] = await handle.pool.query<RowDataPacket[]>({ sql, typeCast: exactTypeCast(keyBinaryNames(table)) as never }, params);
    return result;
  } catch (error) {
    if (isNoSuchTable(error)) {
      throw new TributaryError('CHANGELOG_MISSING', `changelog table ${names.changelog} is missing in ${handle.where}; run \`tributary triggers install\``, { cause: error });
    }
    throw mapMysqlError(error, { where: handle.where, doing });
  }
}

/** The changelog's key column names, old and new, in key order. */
interface KeyColumnNames {
  old: string[];
  new: string[];
}

function keyColumnNames(table: SourceTable): KeyColumnNames {
  return { old: table.key.map((_, i) => oldKeyColumn(i + 1)), new: table.key.map((_, i) => newKeyColumn(i + 1)) };
}

// Runs for every change read: one plain loop, no closure or name built per row.
function pick(row: RowDataPacket, names: readonly string[]): SourceValue[] {
  const key = new Array<SourceValue>(names.length);
  for (let i = 0; i < names.length; i++) key[i] = row[names[i]!] as SourceValue;
  return key;
}

function toChange(names: KeyColumnNames, row: RowDataPacket): ChangeRow {
  const op = row.op as ChangeRow['op'];
  return { changeId: toChangeId(row.change_id), op, oldKey: op === 'I' ? null : pick(row, names.old), newKey: op === 'D' ? null : pick(row, names.new) };
}

/**
 * Reads changes at or above the watermark (the row at the watermark is kept as a sentinel that proves
 * the changelog was not emptied or recreated), oldest first, at most limit of them.
 */
export async function readChanges(handle: SourceHandle, table: SourceTable, highWater: number, limit: number): Promise<ChangeRead> {
  const rows = await selectChanges(handle, table, '`change_id` >= ?', [highWater, limit + 1], `reading changes of ${table.name}`);
  let sentinelSeen = false;
  const changes: ChangeRow[] = [];
  let readAt: string | null = null;
  let oldestMicros = 0;
  const names = keyColumnNames(table);
  for (const row of rows) {
    readAt ??= row.tributary_read_at as string;
    const change = toChange(names, row);
    if (change.changeId === highWater && highWater > 0) {
      sentinelSeen = true;
      continue;
    }
    oldestMicros = Math.max(oldestMicros, Number(row.tributary_age_us));
    changes.push(change);
  }
  return { changes, readAt, sentinelSeen, lagSeconds: oldestMicros / 1e6 };
}

// Gap ranges per statement: each costs one `BETWEEN ? AND ?` (a few dozen bytes), so a statement stays
// far below max_allowed_packet (16 MB on MySQL 8, 16 MB on MariaDB 10.11) whatever the number of gaps.
export const GAP_READ_CHUNK = 5_000;

/** The condition matching change ids inside any of the ranges: single ids in one IN list. */
export function gapMatchSql(ranges: readonly IdRange[]): { sql: string; params: unknown[] } {
  const singles = ranges.filter((r) => r.first === r.last).map((r) => r.first);
  const spans = ranges.filter((r) => r.first !== r.last);
  const terms: string[] = [];
  const params: unknown[] = [];
  if (singles.length > 0) {
    terms.push('`change_id` IN (?)');
    params.push(singles);
  }
  for (const span of spans) {
    terms.push('`change_id` BETWEEN ? AND ?');
    params.push(span.first, span.last);
  }
  return { sql: terms.length > 0 ? `(${terms.join(' OR ')})` : 'FALSE', params };
}

export interface GapRead {
  changes: ChangeRow[];
  /** The ranges were read completely up to this id (Infinity: all of them). */
  readThrough: number;
}

/**
 * Reads the changes that arrived inside the given gap ranges (sorted by first id), a bounded number
 * of ranges per statement and at most limit changes in all. When the limit cuts the read short, the
 * gaps above the last id read are left for the next batch.
 */
export async function readGapChanges(handle: SourceHandle, table: SourceTable, ranges: readonly IdRange[], limit: number): Promise<GapRead> {
  const changes: ChangeRow[] = [];
  for (let start = 0; start < ranges.length; start += GAP_READ_CHUNK) {
    const chunk = ranges.slice(start, start + GAP_READ_CHUNK);
    const match = gapMatchSql(chunk);
    const budget = limit - changes.length;
    const rows = await selectChanges(handle, table, match.sql, [...match.params, budget + 1], `reading gaps of ${table.name}`);
    const names = keyColumnNames(table);
    for (const row of rows.slice(0, budget)) changes.push(toChange(names, row));
    if (rows.length > budget) return { changes, readThrough: changes.length > 0 ? changes[changes.length - 1]!.changeId : chunk[0]!.first - 1 };
  }
  return { changes, readThrough: Infinity };
}

/** The highest change id committed in the changelog (null when empty) and MySQL's clock when read. */
export async function readChangelogTop(handle: SourceHandle, table: CaptureSubject): Promise<{ maxId: number | null; readAt: string }> {
  const sql = `SELECT MAX(\`change_id\`) AS max_id, NOW(6) AS read_at FROM ${quoteMysql(namesOf(table).changelog)}`;
  const rows = await sourceQuery<RowDataPacket>(handle, `reading the changelog of ${table.name}`, sql);
  return { maxId: rows[0]!.max_id === null ? null : toChangeId(rows[0]!.max_id), readAt: String(rows[0]!.read_at) };
}

/**
 * How many changes wait past the watermark, counted no further than limit: an index range read that
 * stops there, so a huge backlog costs no more than the count that decides about it.
 */
export async function countChangesAfter(handle: SourceHandle, table: CaptureSubject, after: number, limit: number): Promise<number> {
  const sql = `SELECT COUNT(*) AS pending FROM (SELECT 1 FROM ${quoteMysql(namesOf(table).changelog)} WHERE \`change_id\` > ? LIMIT ?) AS waiting`;
  const rows = await sourceQuery<RowDataPacket>(handle, `counting pending changes of ${table.name}`, sql, [after, limit]);
  return Number(rows[0]!.pending);
}

// Ids listed per statement when looking for holes: one index range read of this many ids.
export const ID_SCAN_CHUNK = 10_000;

/** The committed change ids in (after, before), in bounded, ascending chunks. */
export async function* scanChangeIds(handle: SourceHandle, table: CaptureSubject, after: number, before: number): AsyncGenerator<number[]> {
  const sql = `SELECT \`change_id\` FROM ${quoteMysql(namesOf(table).changelog)} WHERE \`change_id\` > ? AND \`change_id\` < ? ORDER BY \`change_id\` LIMIT ${ID_SCAN_CHUNK}`;
  let from = after;
  for (;;) {
    const rows = await sourceQuery<RowDataPacket>(handle, `listing change ids of ${table.name}`, sql, [from, before]);
    if (rows.length === 0) return;
    const ids = rows.map((r) => toChangeId(r.change_id));
    yield ids;
    if (ids.length < ID_SCAN_CHUNK) return;
    from = ids[ids.length - 1]!;
  }
}

// Rows looked up per query: large enough to amortise round trips, small enough for the range optimiser.
const FETCH_CHUNK = 1000;

/** The current rows of the given keys, chunk by chunk; a key without a row has been deleted. */
export async function* fetchRows(handle: SourceHandle, table: SourceTable, keys: readonly SourceValue[][]): AsyncGenerator<SourceRow[]> {
  const columns = table.columns.map((c) => quoteMysql(c.name)).join(', ');
  const binary = binaryColumnNames(table.columns);
  for (let start = 0; start < keys.length; start += FETCH_CHUNK) {
    const match = keyMatchSql(table.key, keys.slice(start, start + FETCH_CHUNK));
    // A row outside the table's filter counts as absent: it is deleted from the target.
    const condition = table.filter ? `(${table.filter}) AND (${match.sql})` : match.sql;
    const sql = `SELECT ${columns} FROM ${quoteMysql(table.name)} WHERE ${condition}`;
    yield await sourceQuery<RowDataPacket>(handle, `reading changed rows of ${table.name}`, sql, match.params, binary);
  }
}

// Ids deleted per statement: a bounded statement keeps its row locks short.
const PRUNE_CHUNK = 1000;
// Consecutive ids from which a run is deleted as a key range rather than id by id (a range costs
// MySQL a third of the lookups), and the most ids one range statement covers.
const PRUNE_RANGE_MIN = 64;
const PRUNE_RANGE_MAX = 10_000;

/** The sorted ids as runs of consecutive values, [first, last] each. */
export function idRuns(sorted: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const id of sorted) {
    const last = runs[runs.length - 1];
    if (last && id === last[1] + 1) last[1] = id;
    else if (!last || id !== last[1]) runs.push([id, id]);
  }
  return runs;
}

/**
 * The statements that delete the sorted ids, lowest first: long runs as key ranges that end one
 * below the run's last id, every other id (each run's last among them) by id. A range scan reads the
 * row after its end to know it is done, and waits if that row is an open writer's uncommitted
 * change; ending on an id of the same run means it reads a committed row this prune is about to
 * delete itself. Only safe while nothing else deletes these rows, so only for a changelog's sole consumer.
 */
export function pruneSteps(sorted: readonly number[], ranges: boolean): ({ range: [number, number] } | { ids: number[] })[] {
  const steps: ({ range: [number, number] } | { ids: number[] })[] = [];
  let ids: number[] = [];
  const flush = (): void => {
    for (let start = 0; start < ids.length; start += PRUNE_CHUNK) steps.push({ ids: ids.slice(start, start + PRUNE_CHUNK) });
    ids = [];
  };
  for (const [first, last] of idRuns(sorted)) {
    if (!ranges || last - first + 1 < PRUNE_RANGE_MIN) {
      for (let id = first; id <= last; id++) ids.push(id);
      continue;
    }
    flush();
    for (let from = first; from < last; from += PRUNE_RANGE_MAX) steps.push({ range: [from, Math.min(from + PRUNE_RANGE_MAX, last) - 1] });
    ids.push(last);
  }
  flush();
  return steps;
}

/**
 * Deletes applied changelog rows by id (never TRUNCATE: that would let ids be reused). The ids come
 * as a JSON array joined in first (STRAIGHT_JOIN), so every row is reached by a primary-key lookup
 * and locked alone. With a plain `IN (...)` the optimiser may scan a small changelog instead, and the
 * scan waits on the uncommitted row of every open writer transaction. alone: this target is the
 * changelog's only consumer, so long runs of ids may go as key ranges (pruneSteps).
 */
export async function pruneChanges(handle: SourceHandle, table: SourceTable, ids: readonly number[], alone = false): Promise<number> {
  const names = namesOf(table);
  const log = quoteMysql(names.changelog);
  // Lowest ids first: a consumer whose rows are pruned past it loses its sentinel (the lowest of its
  // rows) before anything above it, so an interrupted prune is noticed rather than read past.
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const byIds =
    `DELETE l FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS ids ` +
    `STRAIGHT_JOIN ${log} AS l ON l.\`change_id\` = ids.id`;
  const byRange = `DELETE FROM ${log} WHERE \`change_id\` BETWEEN ? AND ?`;
  const doing = `pruning applied changes of ${table.name}`;
  let deleted = 0;
  for (const step of pruneSteps(sorted, alone)) {
    deleted += 'range' in step ? await sourceExecute(handle, doing, byRange, step.range) : await sourceExecute(handle, doing, byIds, [JSON.stringify(step.ids)]);
  }
  return deleted;
}

/**
 * Ids of changelog rows in (after, below), older than olderThanSeconds when that is positive, lowest
 * first: candidates for pruning, read without locking. The caller decides which of them every
 * consumer has applied.
 */
export async function findApplied(handle: SourceHandle, table: SourceTable, after: number, below: number, olderThanSeconds: number, limit: number): Promise<number[]> {
  const age = olderThanSeconds > 0 ? ' AND `captured_at` < NOW(6) - INTERVAL ? SECOND' : '';
  const rows = await sourceQuery<RowDataPacket>(
    handle,
    `finding applied changes of ${table.name}`,
    `SELECT \`change_id\` FROM ${quoteMysql(namesOf(table).changelog)} WHERE \`change_id\` > ? AND \`change_id\` < ?${age} ORDER BY \`change_id\` LIMIT ?`,
    olderThanSeconds > 0 ? [after, below, olderThanSeconds, limit] : [after, below, limit],
  );
  return rows.map((r) => toChangeId(r.change_id));
}

export async function readEvidence(handle: SourceHandle): Promise<Evidence> {
  try {
    const [rows] = await handle.pool.query<RowDataPacket[]>(sqlFile('mysql/open_transactions.sql'));
    const alive = new Set<string>();
    for (const row of rows) if (row.trx_id !== null) alive.add(String(row.trx_id));
    return { readAt: String(rows[0]!.read_at), alive };
  } catch (error) {
    if (isPrivilegeDenied(error)) {
      const rows = await sourceQuery<RowDataPacket>(handle, 'reading the clock', 'SELECT NOW(6) AS read_at');
      return { readAt: String(rows[0]!.read_at), alive: null };
    }
    throw mapMysqlError(error, { where: handle.where, doing: 'reading open transactions' });
  }
}

/**
 * One row line (see LineColumn): the columns' text joined by LINE_SEPARATOR, NULL as LINE_NULL. Binary,
 * so that MySQL neither converts nor checks the separator bytes; the text protocol writes numbers and
 * dates into it as it would send them alone. Text in another character set is converted to utf8mb4
 * first, as MySQL converts it for the client.
 */
export function rowLineSql(columns: readonly LineColumn[]): string {
  const fields = columns.map((c) => {
    const value = `CAST(${c.toUtf8 ? `CONVERT(${quoteMysql(c.name)} USING utf8mb4)` : quoteMysql(c.name)} AS BINARY)`;
    // Every column, NOT NULL ones too: CONCAT_WS leaves a NULL out, which would shift the fields after
    // it if a column's definition changed since it was read (IFNULL costs MariaDB ≈5% of the query).
    return `IFNULL(${value}, _binary 0x${LINE_NULL.toString(16)})`;
  });
  return `CONCAT_WS(_binary 0x${LINE_SEPARATOR.toString(16)}, ${fields.join(', ')})`;
}

/**
 * Streams the rows of one snapshot chunk: key order, after the given key, at most limit rows. With a
 * line, each row holds the key columns and the row line (LINE_ALIAS) instead of every column.
 */
export function snapshotQuery(table: SourceTable, after: readonly SourceValue[] | null, limit: number, line?: readonly LineColumn[]): { sql: string; params: unknown[] } {
  const columns = line ? [...table.key.map(quoteMysql), `${rowLineSql(line)} AS ${quoteMysql(LINE_ALIAS)}`].join(', ') : table.columns.map((c) => quoteMysql(c.name)).join(', ');
  const order = table.key.map(quoteMysql).join(', ');
  const condition = after ? keyAfterSql(table.key, after) : null;
  const parts = [table.filter ? `(${table.filter})` : null, condition ? `(${condition.sql})` : null].filter((p) => p !== null);
  const sql = `SELECT ${columns} FROM ${quoteMysql(table.name)}${parts.length ? ` WHERE ${parts.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ?`;
  return { sql, params: [...(condition?.params ?? []), limit] };
}

// Rows handed over per step: iterating row by row costs an await per row, which dominated the CPU
// profile of large snapshots.
const SNAPSHOT_BATCH = 2000;
// Batches a chunk read ahead may hold before its MySQL stream is paused: enough to cover the commit
// of the chunk before it, bounded so memory does not grow with the chunk size.
const READ_AHEAD_BATCHES = 8;

/** The part of mysql2's query command this reader uses: one 'result' event per row. */
interface RowEvents {
  on(event: 'result', fn: (row: SourceRow) => void): RowEvents;
  on(event: 'end', fn: () => void): RowEvents;
  on(event: 'error', fn: (error: unknown) => void): RowEvents;
}
interface RawConnection {
  query(options: object, params: unknown[]): RowEvents;
  pause(): void;
  resume(): void;
  once(event: 'error', listener: (error: unknown) => void): void;
  removeListener(event: 'error', listener: (error: unknown) => void): void;
}

/**
 * One snapshot chunk's query, running from the moment it is created: rows are collected in batches
 * whether or not anyone reads them yet, and the connection is paused (TCP backpressure) while
 * READ_AHEAD_BATCHES wait unread. Rows arrive through mysql2's per-row events rather than an
 * object-mode stream, whose bookkeeping per row showed in profiles.
 */
class ChunkRead {
  private readonly ready: SourceRow[][] = [];
  private batch: SourceRow[] = [];
  private ended = false;
  private failure: unknown = null;
  private paused = false;
  private wake: (() => void) | null = null;
  private connection: SourceConnection | null = null;
  private closed = false;
  /** Rows received so far, and the last of them. */
  count = 0;
  lastRow: SourceRow | null = null;

  constructor(
    private readonly handle: SourceHandle,
    private readonly table: SourceTable,
    readonly after: readonly SourceValue[] | null,
    readonly limit: number,
    private readonly line?: readonly LineColumn[],
  ) {
    void this.start();
  }

  private onEnd: ((read: ChunkRead) => void) | null = null;
  private completed = false;

  /** Calls fn once the whole chunk has arrived without error (at once if it already has). */
  whenComplete(fn: (read: ChunkRead) => void): void {
    if (this.completed) fn(this);
    else this.onEnd = fn;
  }

  private binaryNames(): Set<string> {
    const names = binaryColumnNames(this.table.columns);
    if (this.line) names.add(LINE_ALIAS);
    return names;
  }

  private get doing(): string {
    return `snapshotting ${this.table.name}`;
  }

  private async start(): Promise<void> {
    const { sql, params } = snapshotQuery(this.table, this.after, this.limit, this.line);
    try {
      this.connection = await this.handle.pool.getConnection();
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.closed) {
      this.connection!.release();
      this.connection = null;
      return;
    }
    const core = this.connection!.connection as RawConnection;
    // A streamed query has no callback, and the driver reports a connection that dies under it (reset,
    // server gone) only on the connection: without this the chunk would wait for rows forever.
    const lost = (error: unknown): void => this.fail(error);
    core.once('error', lost);
    this.forgetLost = () => core.removeListener('error', lost);
    core
      .query({ sql, typeCast: exactTypeCast(this.binaryNames()) }, params)
      .on('result', (row) => {
        this.count++;
        this.lastRow = row;
        this.batch.push(row);
        if (this.batch.length >= SNAPSHOT_BATCH) {
          this.ready.push(this.batch);
          this.batch = [];
          if (this.ready.length >= READ_AHEAD_BATCHES && !this.paused) {
            this.paused = true;
            core.pause();
          }
          this.signal();
        }
      })
      .on('end', () => {
        this.stopWatching();
        if (this.batch.length > 0) this.ready.push(this.batch);
        this.batch = [];
        this.ended = true;
        // The connection goes back before the next chunk asks for one: one connection per reader.
        this.connection?.release();
        this.connection = null;
        if (!this.closed && this.failure === null) {
          this.completed = true;
          this.onEnd?.(this);
        }
        this.signal();
      })
      .on('error', (error) => this.fail(error));
  }

  private forgetLost: (() => void) | null = null;

  private stopWatching(): void {
    this.forgetLost?.();
    this.forgetLost = null;
  }

  private fail(error: unknown): void {
    this.stopWatching();
    this.failure ??= error;
    this.ended = true;
    this.discardConnection();
    this.signal();
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  async *batches(): AsyncGenerator<SourceRow[]> {
    try {
      for (;;) {
        if (this.failure !== null) throw mapMysqlError(this.failure, { where: this.handle.where, doing: this.doing });
        const next = this.ready.shift();
        if (next) {
          if (this.paused && this.ready.length < READ_AHEAD_BATCHES / 2) {
            this.paused = false;
            (this.connection?.connection as RawConnection | undefined)?.resume();
          }
          yield next;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      if (!this.ended) this.close();
    }
  }

  /** Stops reading; a query still streaming takes its connection with it (it cannot be reused mid-result). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.ended) this.discardConnection();
    this.ready.length = 0;
  }

  /** A connection in the middle of a result cannot be reused: it is closed, and its place freed. */
  private discardConnection(): void {
    this.stopWatching();
    const connection = this.connection;
    this.connection = null;
    if (!connection) return;
    connection.raw.destroy();
    connection.release();
  }
}

/**
 * Streams the rows of one snapshot chunk (key order, after the given key, at most limit rows) in
 * batches, pausing the MySQL stream while batches wait unread.
 */
export function streamSnapshotChunk(handle: SourceHandle, table: SourceTable, after: readonly SourceValue[] | null, limit: number): AsyncGenerator<SourceRow[]> {
  return new ChunkRead(handle, table, after, limit).batches();
}

/** Reads consecutive snapshot chunks; see snapshotChunkReader. */
export interface SnapshotChunkReader {
  /** The rows of the chunk after the given key, at most limit of them, in batches. */
  read(after: readonly SourceValue[] | null): AsyncGenerator<SourceRow[]>;
  /** Ends a chunk read ahead and not used. */
  close(): void;
}

/**
 * Reads snapshot chunks one after another, each starting as soon as the one before it has been read
 * to its end: the next chunk's query and first rows overlap the copy, merge and commit of the current
 * one, where a chunk boundary otherwise left the process idle (21% of a profiled snapshot). Only rows
 * are read ahead; nothing is written or recorded before its chunk commits, so a crash resumes exactly
 * as without it. One MySQL connection at a time: a chunk's connection is released before the next
 * one's query starts.
 */
export function snapshotChunkReader(handle: SourceHandle, table: SourceTable, limit: number, line?: readonly LineColumn[]): SnapshotChunkReader {
  let ahead: ChunkRead | null = null;
  // Only the chunk being read starts the next one: one chunk ahead, never a chain of them.
  const readAhead = (done: ChunkRead): void => {
    // A short chunk is the last one; a full one is followed by the next, after its last key.
    if (done.count < done.limit || done.lastRow === null) return;
    const row = done.lastRow;
    ahead = new ChunkRead(handle, table, table.key.map((k) => row[k] ?? null), limit, line);
  };
  return {
    read(after) {
      let chunk: ChunkRead;
      if (ahead !== null && sameKey(ahead.after, after)) chunk = ahead;
      else {
        (ahead as ChunkRead | null)?.close();
        chunk = new ChunkRead(handle, table, after, limit, line);
      }
      ahead = null;
      chunk.whenComplete(readAhead);
      return chunk.batches();
    },
    close() {
      (ahead as ChunkRead | null)?.close();
      ahead = null;
    },
  };
}

function sameKey(a: readonly SourceValue[] | null, b: readonly SourceValue[] | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  return a.every((value, i) => {
    const other = b[i];
    if (Buffer.isBuffer(value) || Buffer.isBuffer(other)) return Buffer.isBuffer(value) && Buffer.isBuffer(other) && value.equals(other);
    return value === other;
  });
}

/** InnoDB's estimate of a table's rows (information_schema; cheap, approximate). */
export async function estimateRows(handle: SourceHandle, table: string): Promise<number> {
  const rows = await sourceQuery<RowDataPacket>(handle, `estimating rows of ${table}`, sqlFile('mysql/estimate_rows.sql'), [table]);
  return Number(rows[0]?.table_rows ?? 0);
}

/**
 * The lowest and highest change id of each changelog, in one statement: index edges, no scan, no lock.
 * A changelog whose only row is the one at the watermark holds nothing to apply.
 */
export async function readChangelogEdges(handle: SourceHandle, changelogs: readonly string[]): Promise<Map<string, { lo: number | null; hi: number | null }>> {
  const edges = new Map<string, { lo: number | null; hi: number | null }>();
  if (changelogs.length === 0) return edges;
  const sql = changelogs.map((name) => `SELECT ? AS name, MIN(\`change_id\`) AS lo, MAX(\`change_id\`) AS hi FROM ${quoteMysql(name)}`).join(' UNION ALL ');
  const rows = await sourceQuery<RowDataPacket>(handle, 'probing changelogs', sql, [...changelogs]);
  for (const row of rows) edges.set(String(row.name), { lo: row.lo === null ? null : toChangeId(row.lo), hi: row.hi === null ? null : toChangeId(row.hi) });
  return edges;
}

/** Changes waiting above the watermark, and how long the oldest has waited (for `status`). */
export async function countPending(handle: SourceHandle, table: CaptureSubject, highWater: number): Promise<{ pending: number; lagSeconds: number }> {
  const sql = `SELECT COUNT(*) AS pending, TIMESTAMPDIFF(MICROSECOND, MIN(\`captured_at\`), NOW(6)) AS age_us FROM ${quoteMysql(namesOf(table).changelog)} WHERE \`change_id\` > ?`;
  const rows = await sourceQuery<RowDataPacket>(handle, `counting pending changes of ${table.name}`, sql, [highWater]);
  return { pending: Number(rows[0]?.pending ?? 0), lagSeconds: Math.max(0, Number(rows[0]?.age_us ?? 0) / 1e6) };
}
