import { addLineRow, copyLinePlan, decodeLine } from '../../src/convert/copy-line';
import { encodeRowText, type Reject } from '../../src/convert/rows';
import type { SourceColumn, SourceRow, SourceTable } from '../../src/model';
import { targetTableFor } from '../../src/postgres/schema';
import { CopyText } from '../../src/postgres/stage';

function column(name: string, dataType: string, extra: Partial<SourceColumn> = {}): SourceColumn {
  return {
    name,
    ordinal: 0,
    dataType,
    columnType: dataType,
    nullable: true,
    unsigned: false,
    charset: null,
    collation: null,
    charMaxLength: null,
    numericPrecision: null,
    numericScale: null,
    datetimePrecision: null,
    isJson: false,
    ...extra,
  };
}

const source: SourceTable = {
  database: 'db',
  name: 't',
  key: ['id'],
  columns: [
    column('id', 'bigint', { nullable: false }),
    column('label', 'text', { charset: 'utf8mb4' }),
    column('day', 'date'),
    column('at', 'timestamp'),
  ],
};
const table = targetTableFor('public', 't', source);
const plan = copyLinePlan(table, source)!;

/** A row line as MySQL writes it: fields joined by 0xff, NULL as 0xfe. */
const line = (...fields: (string | Buffer | null)[]): Buffer =>
  Buffer.concat(fields.flatMap((f, i) => [...(i > 0 ? [Buffer.from([0xff])] : []), f === null ? Buffer.from([0xfe]) : Buffer.isBuffer(f) ? f : Buffer.from(f, 'utf8')]));

/** The COPY text of a row line, and that of the per-value path for the same values. */
function both(bytes: Buffer): { viaLine: boolean; text: string; perValue: string; rejects: Reject[] } {
  const text = new CopyText();
  const row: SourceRow = { id: '1', tributary_row_line: bytes };
  const full = addLineRow(plan, text, 's\t', row);
  const rejects: Reject[] = [];
  if (full !== null) {
    const fields = encodeRowText('s', table, full, 'null', rejects);
    text.add('s\t' + fields + '\n');
  }
  const values = decodeLine(plan, bytes);
  const perValue = encodeRowText('s', table, { id: values[0]!, label: values[1]!, day: values[2]!, at: values[3]! }, 'null', []);
  return { viaLine: full === null, text: Buffer.concat(text.take(true)).toString('utf8'), perValue: 's\t' + perValue + '\n', rejects };
}

describe('row lines', () => {
  test('text is escaped as COPY text; NULL, the empty string and a literal \\N stay apart', () => {
    for (const label of ['a\\b\tc\nd\re', '', '\\N', 'ü € 𝄞', '\\']) {
      const r = both(line('1', label, '2024-02-29', '2024-01-01 00:00:00'));
      expect(r.viaLine).toBe(true);
      expect(r.text).toBe(r.perValue);
    }
    const nulls = both(line('1', null, null, null));
    expect(nulls.viaLine).toBe(true);
    expect(nulls.text).toBe('s\t1\t\\N\t\\N\t\\N\n');
    expect(both(line('1', '', '2023-01-01', '2023-01-01 00:00:00')).text).toBe('s\t1\t\t2023-01-01\t2023-01-01 00:00:00+00\n');
  });

  test('dates the encoders refuse, NUL and bytes that are not UTF-8 take the per-value path with the same result', () => {
    for (const bytes of [
      line('1', 'x', '0000-00-00', null),
      line('1', 'x', '2023-02-29', null),
      line('1', 'x', '2023-04-31', null),
      line('1', 'x', '2023-00-10', null),
      line('1', 'x', null, '0000-00-00 00:00:00'),
      line('1', 'nul\u0000inside', null, null),
      line('1', Buffer.from([0x61, 0xc3, 0x28]), null, null),
    ]) {
      const r = both(bytes);
      expect(r.viaLine).toBe(false);
      expect(r.text).toBe(r.perValue);
      expect(r.rejects).toHaveLength(r.text.includes('\uFFFD') ? 0 : 1);
    }
    // Valid edge dates stay on the line path.
    for (const day of ['2000-02-29', '2024-02-29', '0001-01-01', '9999-12-31', '2023-12-31']) expect(both(line('1', 'x', day, null)).viaLine).toBe(true);
  });

  test('a line with more or fewer fields than columns is an error, never a shifted row', () => {
    expect(() => decodeLine(plan, line('1', 'x', null))).toThrow(/fewer fields/);
    expect(() => decodeLine(plan, line('1', 'x', null, null, 'extra'))).toThrow(/more fields/);
    const text = new CopyText();
    expect(() => addLineRow(plan, text, 's\t', { id: '1', tributary_row_line: line('1', 'x', null) })).toThrow(/fewer fields/);
    expect(text.take(true)).toEqual([]);
  });

  test('tables with a column outside the line types have no plan', () => {
    for (const other of [
      column('f', 'double'),
      column('j', 'json', { isJson: true }),
      column('b', 'varbinary', { charset: 'binary' }),
      column('e', 'enum', { columnType: "enum('a')", charset: 'utf8mb4' }),
      column('z', 'int', { columnType: 'int(5) unsigned zerofill' }),
      column('s', 'varchar', { charset: 'sjis' }),
      column('y', 'year'),
      column('t', 'time'),
    ]) {
      const withOther = { ...source, columns: [...source.columns, other] };
      expect(copyLinePlan(targetTableFor('public', 't', withOther), withOther)).toBeNull();
    }
  });
});
