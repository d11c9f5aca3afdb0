/** Turning source rows into COPY lines, the same way for snapshot and changes. */
import type { BadValuePolicy } from '../config';
import { TributaryError } from '../errors';
import type { SourceRow, SourceValue } from '../model';
import type { TargetColumn, TargetTable } from '../postgres/schema';
import { BadValue, encodeCopyField, escapeCopy } from './typemap';

/** A map key for a primary-key value list; Buffers by their bytes. */
export function keyString(values: readonly SourceValue[]): string {
  // The common one-column key without an array per call (a batch builds several per change); same text.
  if (values.length === 1 && (typeof values[0] === 'string' || typeof values[0] === 'number')) return '[' + JSON.stringify(values[0]) + ']';
  return JSON.stringify(values.map((v) => (Buffer.isBuffer(v) ? { x: v.toString('hex') } : v)));
}

export function rowKey(table: TargetTable, row: SourceRow): SourceValue[] {
  return table.sourceKey.map((k) => row[k] ?? null);
}

export function describeKey(table: TargetTable, key: readonly SourceValue[]): string {
  return table.sourceKey.map((k, i) => `${k}=${Buffer.isBuffer(key[i]) ? '0x' + (key[i] as Buffer).toString('hex') : String(key[i])}`).join(', ');
}

/** A value PostgreSQL could not take, and what was done about it. */
export interface Reject {
  key: SourceValue[];
  column: string;
  raw: SourceValue;
  reason: string;
  action: 'rejected' | 'nulled';
}

/** Rejects as tributary.rejects stores them: the row's key as a map key and as people read it. */
export function storedRejects(table: TargetTable, rejects: readonly Reject[]): { rowKey: string; keyText: string; column: string; raw: SourceValue; reason: string; action: Reject['action'] }[] {
  return rejects.map((r) => ({ rowKey: keyString(r.key), keyText: describeKey(table, r.key), column: r.column, raw: r.raw, reason: r.reason, action: r.action }));
}

export type EncodedRow = { fields: string[]; rejects: Reject[] } | { fields: null; rejects: Reject[] };

/**
 * COPY text fields for the data columns of a row, in target column order. A value PostgreSQL cannot
 * hold is handled by the table's policy: 'fail' stops the batch, 'null' stores NULL in its place,
 * 'reject' keeps the whole row out. Both of the latter are reported, never silent.
 */
export function encodeRow(sourceId: string, table: TargetTable, row: SourceRow, policy: BadValuePolicy): EncodedRow {
  const fields: string[] = [];
  const rejects: Reject[] = [];
  let keep = true;
  for (const column of table.columns) {
    const field = encodeCopyField(column.source, row[column.source.name] ?? null, column.pgType);
    if (typeof field === 'string') fields.push(field);
    else if (refuse(sourceId, table, row, column, field, policy, rejects)) fields.push('\\N');
    else keep = false;
  }
  return keep ? { fields, rejects } : { fields: null, rejects };
}

/**
 * encodeRow for the snapshot's hot path: the row's fields joined by tabs (no array per row, no
 * result object), or null when the row is kept out. Rejects are appended to the given list.
 */
export function encodeRowText(sourceId: string, table: TargetTable, row: SourceRow, policy: BadValuePolicy, rejects: Reject[]): string | null {
  let text = '';
  let keep = true;
  const columns = table.columns;
  for (let i = 0; i < columns.length; i++) {
    const column = columns[i]!;
    let field = encodeCopyField(column.source, row[column.source.name] ?? null, column.pgType);
    if (typeof field !== 'string') {
      if (!refuse(sourceId, table, row, column, field, policy, rejects)) keep = false;
      field = '\\N';
    }
    text += i === 0 ? field : '\t' + field;
  }
  return keep ? text : null;
}

/**
 * A value PostgreSQL cannot hold, by the table's policy: throws for 'fail'; otherwise records the
 * reject and says whether NULL may stand in for the value (true) or the row is kept out (false).
 */
function refuse(sourceId: string, table: TargetTable, row: SourceRow, column: TargetColumn, bad: BadValue, policy: BadValuePolicy, rejects: Reject[]): boolean {
  const key = rowKey(table, row);
  if (policy === 'fail') {
    throw new TributaryError('BAD_VALUE', `source ${sourceId}, table ${table.name}, row ${describeKey(table, key)}: ${bad.reason} (onBadValue: fail)`);
  }
  // A key value cannot be replaced by NULL: the row is kept out whatever the policy.
  const nullable = policy === 'null' && !table.sourceKey.includes(column.source.name);
  rejects.push({ key, column: column.name, raw: row[column.source.name] ?? null, reason: bad.reason, action: nullable ? 'nulled' : 'rejected' });
  return nullable;
}

/** Fields of a delete marker: the key columns set, every other column NULL. */
export function encodeKeyOnly(sourceId: string, table: TargetTable, key: readonly SourceValue[]): string[] {
  return table.columns.map((column) => {
    const index = table.sourceKey.indexOf(column.source.name);
    if (index === -1) return '\\N';
    const field = encodeCopyField(column.source, key[index] ?? null, column.pgType);
    if (field instanceof BadValue) throw new TributaryError('BAD_VALUE', `source ${sourceId}, table ${table.name}: key column ${column.name}: ${field.reason}`);
    return field;
  });
}

/** One staging line (see stageColumns): operation (K: key of a row kept out, see postgres/replace.ts), source, the key for shared-key tables, fields. */
export function stageLine(op: 'U' | 'D' | 'K', sourceId: string, table: TargetTable, key: readonly SourceValue[], fields: readonly string[]): string {
  return stageLineText(op, sourceId, table, key, fields.join('\t'));
}

/** stageLine with the fields already joined by tabs (see encodeRowText). */
export function stageLineText(op: 'U' | 'D' | 'K', sourceId: string, table: TargetTable, key: readonly SourceValue[], fieldsText: string): string {
  return stageHead(op, sourceId, table, key) + fieldsText + '\n';
}

/** A staging line up to its first data field, tab included. */
export function stageHead(op: 'U' | 'D' | 'K', sourceId: string, table: TargetTable, key: readonly SourceValue[]): string {
  return table.keyIncludesSource ? op + '\t' + sourceId + '\t' : op + '\t' + sourceId + '\t' + escapeCopy(keyString(key)) + '\t';
}

/** Rows refused because another source holds their key (shared key space, conflict: error). */
export function conflictRejects(conflicts: readonly { key: string; holder: string; index?: string }[]): Reject[] {
  return conflicts.map(({ key, holder, index }) => ({
    key: (JSON.parse(key) as unknown[]).map((v) => (v !== null && typeof v === 'object' ? Buffer.from((v as { x: string }).x, 'hex') : (v as string | null))),
    column: '_source',
    raw: holder,
    reason: index
      ? `source ${holder} already holds this row's value of unique index ${index}; the row is kept out`
      : `key already held by source ${holder} (conflict: error); the row is kept out`,
    action: 'rejected' as const,
  }));
}
