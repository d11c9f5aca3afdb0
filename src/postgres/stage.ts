/**
 * Stage: a session-private table per target table that a batch is COPYed into before the merge.
 * It is created once per connection and emptied by every commit or rollback (ON COMMIT DELETE ROWS).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { from as copyFrom } from 'pg-copy-streams';
import { mapPgError } from './errors';
import { quotePg } from '../ident';
import type { PoolClient } from './connection';
import { KEY_COLUMN, OP_COLUMN, SOURCE_COLUMN } from './internal-columns';
import type { TargetTable } from './schema';

export { KEY_COLUMN, OP_COLUMN };

const extraColumns = (table: TargetTable): string[] => (table.keyIncludesSource ? [] : [KEY_COLUMN]);

const createdStages = new WeakMap<PoolClient, Set<string>>();

export function stageName(table: TargetTable): string {
  const signature = [table.schema, table.name, ...extraColumns(table), ...table.columns.map((c) => `${c.name}:${c.pgType}`)].join('\u0000');
  return 'tributary_stage_' + createHash('sha1').update(signature).digest('hex').slice(0, 16);
}

export function createStageSql(table: TargetTable): string {
  const columns = [
    `${quotePg(OP_COLUMN)} "char" NOT NULL`,
    `${quotePg(SOURCE_COLUMN)} text NOT NULL`,
    ...extraColumns(table).map((c) => `${quotePg(c)} text`),
    ...table.columns.map((c) => `${quotePg(c.name)} ${c.pgType}`),
  ];
  return `CREATE TEMP TABLE IF NOT EXISTS ${quotePg(stageName(table))} (${columns.join(', ')}) ON COMMIT DELETE ROWS`;
}

/** Stage columns in COPY order. */
export function stageColumns(table: TargetTable): string[] {
  return [OP_COLUMN, SOURCE_COLUMN, ...extraColumns(table), ...table.columns.map((c) => c.name)];
}

export async function ensureStage(client: PoolClient, where: string, table: TargetTable): Promise<string> {
  const name = stageName(table);
  let known = createdStages.get(client);
  if (!known) {
    known = new Set();
    createdStages.set(client, known);
  }
  if (!known.has(name)) {
    try {
      await client.query(createStageSql(table));
    } catch (error) {
      throw mapPgError(error, { where, doing: `creating staging table for ${table.name}` });
    }
    known.add(name);
  }
  return name;
}

/** Forgets staging tables of a client whose session is gone (after a connection error). */
export function forgetStages(client: PoolClient): void {
  createdStages.delete(client);
}

// COPY is fastest when fed chunks of many rows; one write per row is tens of times slower.
const CHUNK_BYTES = 256 * 1024;
const FIRST_BYTES = 16 * 1024;

/**
 * COPY text gathered as bytes: each line is written into a Buffer as it comes. A chunk built by
 * appending strings is a rope of a node or two per field, and turning that rope into bytes for the
 * socket (flattening it, then encoding it) took a fifth of a snapshot's CPU in the profile; writing
 * each line's short string into the buffer costs a quarter of that.
 */
export class CopyText {
  // The first buffer is small and each next one twice the size, up to CHUNK_BYTES: thousands of small
  // tables (a first sync of many shards) then do not each hold a whole chunk's memory for a few rows.
  private size = FIRST_BYTES;
  private buffer = Buffer.allocUnsafe(FIRST_BYTES);
  private used = 0;
  private full: Buffer[] = [];
  private headText = '';
  private headBytes = Buffer.alloc(0);

  add(line: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; a long line is measured rather than given 3 times its size.
    const room = line.length * 3 <= CHUNK_BYTES ? line.length * 3 : Buffer.byteLength(line);
    if (this.used + room > this.buffer.length) {
      this.cut();
      if (room > this.buffer.length) this.buffer = Buffer.allocUnsafe(Math.max(room, this.size));
    }
    this.used += this.buffer.write(line, this.used);
  }

  /**
   * Writes head and then what write puts after it: write gets the buffer and the offset after head,
   * with room for at least room bytes, and returns where it stopped, or -1 to keep nothing of either.
   */
  addWritten<T>(head: string, room: number, input: T, write: (out: Buffer, at: number, input: T) => number): boolean {
    // Rows of one table mostly share their head: its bytes are made once and copied, which for a few
    // bytes is cheaper than a call into the string encoder per row.
    if (head !== this.headText) {
      this.headText = head;
      this.headBytes = Buffer.from(head);
    }
    const bytes = this.headBytes;
    const need = bytes.length + room;
    if (this.used + need > this.buffer.length) {
      this.cut();
      if (need > this.buffer.length) this.buffer = Buffer.allocUnsafe(Math.max(need, this.size));
    }
    const out = this.buffer;
    let at = this.used;
    for (let i = 0; i < bytes.length; i++) out[at++] = bytes[i]!;
    const end = write(out, at, input);
    if (end < 0) return false;
    this.used = end;
    return true;
  }

  /** The filled pieces so far; with all, also the one being filled. */
  take(all: boolean): Buffer[] {
    if (all) this.cut();
    const pieces = this.full;
    this.full = [];
    return pieces;
  }

  private cut(): void {
    if (this.used === 0) return;
    this.full.push(this.buffer.subarray(0, this.used));
    this.size = Math.min(CHUNK_BYTES, this.size * 2);
    this.buffer = Buffer.allocUnsafe(this.size);
    this.used = 0;
  }
}

async function* chunked(lines: AsyncIterable<string | Buffer> | Iterable<string | Buffer>): AsyncGenerator<string | Buffer> {
  let buffer = '';
  for await (const line of lines) {
    // Bytes come in pieces already sized for COPY (see CopyText).
    if (typeof line !== 'string') {
      if (buffer.length > 0) yield buffer;
      buffer = '';
      yield line;
      continue;
    }
    buffer += line;
    if (buffer.length >= CHUNK_BYTES) {
      yield buffer;
      buffer = '';
    }
  }
  if (buffer.length > 0) yield buffer;
}

/**
 * COPYs text-format lines (each ending in \n) into a table, given as strings or as Buffers of whole
 * lines (CopyText). Streams: at most one chunk is held in memory besides what the source iterator holds.
 */
export async function copyLines(
  client: PoolClient,
  where: string,
  qualifiedTable: string,
  columns: readonly string[],
  lines: AsyncIterable<string | Buffer> | Iterable<string | Buffer>,
): Promise<void> {
  const sql = `COPY ${qualifiedTable} (${columns.map(quotePg).join(', ')}) FROM STDIN`;
  try {
    await pipeline(Readable.from(chunked(lines)), client.query(copyFrom(sql)));
  } catch (error) {
    throw mapPgError(error, { where, doing: `copying rows into ${qualifiedTable}` });
  }
}
