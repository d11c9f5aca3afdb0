/**
 * Snapshot rows as one value per row: MySQL joins a row's columns into a single binary value (the row
 * line, see snapshotQuery in mysql/changes.ts), and this module turns it into the row's COPY text line
 * by escaping bytes, instead of mysql2 decoding every value into a string and the encoders
 * (typemap.ts) writing it back. Per row that saves most of the driver's parsing and the encoding.
 *
 * Only columns whose text MySQL writes into the line is exactly the field the encoders would write
 * take part: integers and decimals (the text MySQL sends for them, unchanged), text in UTF-8 or in a
 * character set MySQL converts to it (escaped here as escapeCopy does), and dates, datetimes and
 * timestamps (the encoder's own check, by bytes; timestamps read in UTC, '+00' appended). A table
 * with any other column keeps the per-value path. A row whose line holds anything the encoders would
 * treat otherwise (a date they refuse, NUL in text, bytes that are not UTF-8) is decoded back into the
 * values mysql2 would have returned and takes the per-value path, so rejects and NULLs stay the same.
 */
import { isUtf8 } from 'node:buffer';
import { TributaryError } from '../errors';
import { LINE_ALIAS, LINE_NULL, LINE_SEPARATOR, type LineColumn, type SourceColumn, type SourceRow, type SourceTable, type SourceValue } from '../model';
import type { TargetTable } from '../postgres/schema';
import type { CopyText } from '../postgres/stage';

// How a field of the line becomes its COPY field.
const PLAIN = 0; // copied: digits, sign and point need no escaping
const TEXT = 1; // escaped as COPY text
const DATE = 2; // checked as encodeDate checks, then copied (DATE and above are checked)
const TIMESTAMP = 3; // as DATE, then '+00' (the session reads TIMESTAMP in UTC)

const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'bigint']);
const TEXT_TYPES = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext']);
// Stored as UTF-8 already (MySQL checks text on the way in): the bytes go into the line as they are.
const UTF8_CHARSETS = new Set(['utf8mb4', 'utf8mb3', 'utf8']);
// MySQL converts these to utf8mb4 in the line as it does for the client (an ascii column can hold
// bytes above 127, which both turn into '?').
const CONVERTED_CHARSETS = new Set(['latin1', 'ascii']);

export interface CopyLinePlan {
  /** The line's columns, in the target table's column order. */
  columns: LineColumn[];
  kinds: Uint8Array;
  /** Bytes a line's COPY text may need beyond twice its own length. */
  extra: number;
  /** transcodeLine for this plan, made once (the per-row call would otherwise make a closure). */
  write: (out: Buffer, at: number, line: Buffer) => number;
}

function kindOf(column: SourceColumn): number | null {
  if (column.isJson || /\bzerofill\b/i.test(column.columnType)) return null;
  const type = column.dataType.toLowerCase();
  if (INTEGER_TYPES.has(type) || type === 'decimal' || type === 'numeric') return PLAIN;
  if (TEXT_TYPES.has(type)) {
    const charset = column.charset?.toLowerCase() ?? '';
    if (UTF8_CHARSETS.has(charset) || CONVERTED_CHARSETS.has(charset)) return TEXT;
    return null;
  }
  if (type === 'date' || type === 'datetime') return DATE;
  if (type === 'timestamp') return TIMESTAMP;
  return null;
}

/**
 * The row line for a snapshot of the table, or null when any column (or the key) rules it out. The
 * source's own column description decides what MySQL writes; the target's (possibly another
 * source's, in a shared table) what the encoders would write: both must agree.
 */
export function copyLinePlan(table: TargetTable, source: SourceTable): CopyLinePlan | null {
  if (source.key.includes(LINE_ALIAS) || table.columns.length === 0) return null;
  const columns: LineColumn[] = [];
  const kinds = new Uint8Array(table.columns.length);
  for (let i = 0; i < table.columns.length; i++) {
    const target = table.columns[i]!;
    const own = source.columns.find((c) => c.name === target.source.name);
    if (!own) return null;
    const kind = kindOf(own);
    if (kind === null || kind !== kindOf(target.source)) return null;
    kinds[i] = kind;
    columns.push({ name: own.name, toUtf8: kind === TEXT && CONVERTED_CHARSETS.has(own.charset!.toLowerCase()) });
  }
  // Per field at most: NULL one byte → two, a timestamp's '+00'; then the newline.
  const plan: CopyLinePlan = { columns, kinds, extra: 3 * kinds.length + 1, write: (out, at, line) => transcodeLine(plan, out, at, line) };
  return plan;
}

/**
 * Adds the COPY line of a row read with its row line (head, then the fields). Returns null when done,
 * or the row with every column's value for the per-value path (encodeRowText) when it must take it.
 */
export function addLineRow(plan: CopyLinePlan, text: CopyText, head: string, row: SourceRow): SourceRow | null {
  const line = row[LINE_ALIAS] as Buffer;
  if (text.addWritten(head, 2 * line.length + plan.extra, line, plan.write)) return null;
  const values = decodeLine(plan, line);
  const full: SourceRow = { ...row };
  delete full[LINE_ALIAS];
  for (let i = 0; i < plan.columns.length; i++) full[plan.columns[i]!.name] = values[i]!;
  return full;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digit(line: Buffer, at: number): number {
  const c = line[at]! - 48;
  return c >= 0 && c <= 9 ? c : -1000;
}

/** encodeDate's test, by bytes: YYYY-MM-DD at the field's start, no zero part, a day the month has. */
function validDate(line: Buffer, at: number): boolean {
  if (line[at + 4] !== 45 || line[at + 7] !== 45) return false;
  const year = digit(line, at) * 1000 + digit(line, at + 1) * 100 + digit(line, at + 2) * 10 + digit(line, at + 3);
  const month = digit(line, at + 5) * 10 + digit(line, at + 6);
  const day = digit(line, at + 8) * 10 + digit(line, at + 9);
  if (year <= 0 || month < 1 || month > 12 || day < 1) return false;
  if (day <= 28) return true;
  if (day > DAYS_IN_MONTH[month - 1]!) return false;
  return month !== 2 || (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0));
}

/**
 * Writes the COPY text of a row line (its fields, then a newline) into out at the given offset, which
 * must have room for twice the line's length plus plan.extra. Returns the end offset, or -1 when the
 * row must take the per-value path (nothing that was written counts then).
 */
export function transcodeLine(plan: CopyLinePlan, out: Buffer, at: number, line: Buffer): number {
  const kinds = plan.kinds;
  const last = kinds.length - 1;
  const length = line.length;
  let o = at;
  let i = 0;
  let field = 0;
  let high = false;
  for (;;) {
    // A field starts at i.
    const kind = kinds[field]!;
    let stamp = false;
    if (line[i] === LINE_NULL && (i + 1 === length || line[i + 1] === LINE_SEPARATOR)) {
      out[o++] = 92; // \N
      out[o++] = 78;
      i++;
    } else if (kind >= DATE) {
      if (!validDate(line, i)) return -1;
      stamp = kind === TIMESTAMP;
    }
    // Numbers and dates hold only printable ASCII, so whatever needs escaping is text: escapeCopy's
    // escapes, NUL refused as encodeText refuses it. These bytes never occur inside a multi-byte UTF-8
    // sequence, so bytes stand for characters here.
    for (; i < length; i++) {
      const c = line[i]!;
      if (c >= 32 && c < 128 && c !== 92) {
        out[o++] = c;
        continue;
      }
      if (c === LINE_SEPARATOR) break;
      if (c === 92) {
        out[o++] = 92;
        out[o++] = 92;
      } else if (c === 9) {
        out[o++] = 92;
        out[o++] = 116;
      } else if (c === 10) {
        out[o++] = 92;
        out[o++] = 110;
      } else if (c === 13) {
        out[o++] = 92;
        out[o++] = 114;
      } else if (c === 0) {
        return -1;
      } else {
        if (c >= 128) high = true;
        out[o++] = c;
      }
    }
    if (stamp) {
      out[o++] = 43; // +00
      out[o++] = 48;
      out[o++] = 48;
    }
    if (i >= length) break;
    if (field === last) return -1;
    out[o++] = 9;
    i++;
    field++;
  }
  if (field !== last) return -1;
  // mysql2 would have decoded bytes that are not UTF-8 into replacement characters.
  if (high && !isUtf8(out.subarray(at, o))) return -1;
  out[o++] = 10;
  return o;
}

/**
 * The values of a row line as mysql2 returns them (see exactTypeCast): text decoded from UTF-8,
 * numbers and dates as their ASCII text, null for NULL.
 */
export function decodeLine(plan: CopyLinePlan, line: Buffer): SourceValue[] {
  const count = plan.kinds.length;
  const values = new Array<SourceValue>(count);
  let start = 0;
  for (let f = 0; f < count; f++) {
    let end = line.indexOf(LINE_SEPARATOR, start);
    if (end === -1) end = line.length;
    if ((end === line.length) !== (f === count - 1)) {
      // Only bytes that are not UTF-8 inside UTF-8 text could do this, and MySQL refuses to store them.
      throw new TributaryError('INTERNAL', `a snapshot row line has ${line.length === end && f < count - 1 ? 'fewer' : 'more'} fields than the table's ${count} columns`);
    }
    if (end === start + 1 && line[start] === LINE_NULL) values[f] = null;
    else values[f] = line.toString(plan.kinds[f] === TEXT ? 'utf8' : 'latin1', start, end);
    start = end + 1;
  }
  return values;
}
