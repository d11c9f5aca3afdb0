/** Turning source rows into COPY lines, the same way for snapshot and changes. */
import { TributaryError } from '../errors';
import type { SourceRow, SourceValue } from '../model';
import type { TargetTable } from '../target/postgres/schema';
import { encodeCopyValue } from '../target/postgres/typemap';

/** A map key for a primary-key value list; Buffers by their bytes. */
export function keyString(values: readonly SourceValue[]): string {
  return JSON.stringify(values.map((v) => (Buffer.isBuffer(v) ? { x: v.toString('hex') } : v)));
}

export function rowKey(table: TargetTable, row: SourceRow): SourceValue[] {
  return table.key.map((k) => row[k] ?? null);
}

export function describeKey(table: TargetTable, key: readonly SourceValue[]): string {
  return table.key.map((k, i) => `${k}=${Buffer.isBuffer(key[i]) ? '0x' + (key[i] as Buffer).toString('hex') : String(key[i])}`).join(', ');
}

/** COPY text fields for the data columns of a row, in target column order. */
export function encodeFields(sourceId: string, table: TargetTable, row: SourceRow): string[] {
  return table.columns.map((column) => {
    const result = encodeCopyValue(column.source, row[column.name] ?? null);
    if (!result.ok) {
      throw new TributaryError(
        'BAD_VALUE',
        `source ${sourceId}, table ${table.name}, row ${describeKey(table, rowKey(table, row))}: column ${column.name}: ${result.reason}`,
      );
    }
    return result.text;
  });
}

/** Fields of a delete marker: the key columns set, every other column NULL. */
export function encodeKeyOnly(sourceId: string, table: TargetTable, key: readonly SourceValue[]): string[] {
  const row: SourceRow = {};
  table.key.forEach((k, i) => (row[k] = key[i] ?? null));
  return table.columns.map((column) => {
    if (!table.key.includes(column.name)) return '\\N';
    const result = encodeCopyValue(column.source, row[column.name] ?? null);
    if (!result.ok) throw new TributaryError('BAD_VALUE', `source ${sourceId}, table ${table.name}: key column ${column.name}: ${result.reason}`);
    return result.text;
  });
}
