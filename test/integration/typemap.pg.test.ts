/**
 * Proves against a real PostgreSQL 15 that every type from pgTypeFor can be created, that the COPY text
 * fields from encodeCopyValue are accepted, and that the stored values read back exactly as sent.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { quotePg } from '../../src/ident';
import type { SourceColumn, SourceValue } from '../../src/model';
import { encodeCopyValue, pgTypeFor } from '../../src/convert/typemap';

const SERVER = 'postgres://root@127.0.0.1:5432';
const DATABASE = 'typemap_' + randomBytes(6).toString('hex');

function col(name: string, columnType: string, extra: Partial<SourceColumn> = {}): SourceColumn {
  const dataType = /^\w+/.exec(columnType)![0];
  const args = (/\(([\d,]+)\)/.exec(columnType)?.[1].split(',') ?? []).map(Number);
  const isString = /char|text|enum|set/.test(dataType);
  return {
    name,
    ordinal: 0,
    dataType,
    columnType,
    nullable: true,
    unsigned: /unsigned/.test(columnType),
    charset: isString ? 'utf8mb4' : null,
    collation: isString ? 'utf8mb4_general_ci' : null,
    charMaxLength: /char/.test(dataType) ? args[0] : null,
    numericPrecision: dataType === 'bit' ? args[0] ?? 1 : /decimal/.test(dataType) ? args[0] ?? 10 : null,
    numericScale: /decimal/.test(dataType) ? args[1] ?? 0 : null,
    datetimePrecision: ['datetime', 'timestamp', 'time'].includes(dataType) ? args[0] ?? 0 : null,
    isJson: dataType === 'json',
    ...extra,
  };
}

interface Case {
  column: SourceColumn;
  value: SourceValue;
  /** SQL reading the column back as text; {c} is the quoted column. Default {c}::text. */
  read?: string;
  /** What that SQL returns, when PostgreSQL prints the value differently from MySQL. Default: value. */
  expected?: string;
}

const DEC_MAX = '99999999999999999999999999999999999.999999999999999999999999999999';
const POINT = Buffer.from('e6100000' + '0101000000' + '000000000000f03f' + '0000000000000040', 'hex');
const hex = "encode({c}, 'hex')";

const cases: Case[] = [
  { column: col('tinyint1', 'tinyint(1)'), value: '-128' },
  { column: col('tinyint unsigned', 'tinyint(3) unsigned'), value: '255' },
  { column: col('smallint unsigned', 'smallint(5) unsigned'), value: '65535' },
  { column: col('mediumint unsigned', 'mediumint(8) unsigned'), value: '16777215' },
  { column: col('int unsigned', 'int(10) unsigned'), value: '4294967295' },
  { column: col('bigint', 'bigint(20)'), value: '-9223372036854775808' },
  { column: col('bigint unsigned max', 'bigint(20) unsigned'), value: '18446744073709551615' },
  { column: col('decimal max', 'decimal(65,30)'), value: DEC_MAX },
  { column: col('decimal min', 'decimal(65,30)'), value: '-' + DEC_MAX },
  { column: col('decimal tiny', 'decimal(65,30)'), value: '0.000000000000000000000000000001' },
  // PostgreSQL prints floats with an explicit exponent sign; the value is the same.
  { column: col('float', 'float'), value: '3.40282e38', expected: '3.40282e+38' },
  { column: col('double', 'double'), value: '-1.7976931348623157e308', expected: '-1.7976931348623157e+308' },
  { column: col('double small', 'double'), value: '0.1' },
  { column: col('year', 'year(4)'), value: '2155' },
  { column: col('bit1 on', 'bit(1)'), value: Buffer.from([1]), expected: 'true' },
  { column: col('bit1 off', 'bit(1)'), value: Buffer.from([0]), expected: 'false' },
  { column: col('bit12', 'bit(12)'), value: Buffer.from([0x00, 0x05]), expected: '000000000101' },
  { column: col('bit64', 'bit(64)'), value: Buffer.alloc(8, 0xff), expected: '1'.repeat(64) },
  { column: col('date', 'date'), value: '1000-01-01' },
  { column: col('date leap', 'date'), value: '2024-02-29' },
  { column: col('datetime6 max', 'datetime(6)'), value: '9999-12-31 23:59:59.999999' },
  // PostgreSQL drops trailing fractional zeros when printing; to_char shows all six digits.
  { column: col('datetime6 zeros', 'datetime(6)'), value: '2024-01-15 10:00:00.120000', read: "to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')" },
  { column: col('datetime0', 'datetime'), value: '2024-01-15 10:00:00' },
  { column: col('timestamp', 'timestamp'), value: '2038-01-19 03:14:07', expected: '2038-01-19 03:14:07+00' },
  { column: col('timestamp6', 'timestamp(6)'), value: '1970-01-01 00:00:01.000001', expected: '1970-01-01 00:00:01.000001+00' },
  { column: col('time max', 'time'), value: '838:59:59' },
  { column: col('time min', 'time'), value: '-838:59:59' },
  { column: col('time frac', 'time(1)'), value: '12:00:00.5' },
  { column: col('time neg frac', 'time(6)'), value: '-00:00:00.000001' },
  { column: col('varchar emoji', 'varchar(3)'), value: '😀👍🇩' },
  { column: col('char', 'char(10)'), value: 'it\'s "x"' },
  { column: col('text escapes', 'text'), value: 'tab\there\nnew\rline back\\slash \\N \\. end' },
  { column: col('longtext', 'longtext'), value: 'x'.repeat(100000) },
  { column: col('enum', "enum('a\tb','c')"), value: 'a\tb' },
  { column: col('set', "set('a','b c','NULL','q\"','s\\\\')"), value: 'a,b c,NULL,q",s\\', read: 'array_to_json({c})::text', expected: JSON.stringify(['a', 'b c', 'NULL', 'q"', 's\\']) },
  { column: col('set empty', "set('a','b')"), value: '', read: 'array_to_json({c})::text', expected: '[]' },
  // Written the way MySQL prints JSON, which is also how jsonb prints it (keys by length, then bytes).
  { column: col('json', 'json'), value: '{"a": [1, "x\\ny\\\\u0000", "😀"], "bb": {"c": null, "dd": 2.50}}' },
  { column: col('mariadb json', 'longtext', { isJson: true }), value: '[true, false, null]' },
  { column: col('varbinary', 'varbinary(10)'), value: Buffer.from([0x00, 0xff, 0x00, 0x5c, 0x09, 0x0a, 0x00]), read: hex },
  { column: col('binary char', 'char(4)', { charset: 'binary', collation: 'binary' }), value: Buffer.from('a\0\0\0'), read: hex },
  { column: col('blob empty', 'blob'), value: Buffer.alloc(0), read: hex },
  { column: col('longblob', 'longblob'), value: randomBytes(70000), read: hex },
  { column: col('point', 'point'), value: POINT, read: hex },
  { column: col('geometry', 'geometry'), value: POINT, read: hex },
];

function expectedText(c: Case): string {
  if (c.expected !== undefined) return c.expected;
  return Buffer.isBuffer(c.value) ? c.value.toString('hex') : (c.value as string);
}

function copyLine(values: SourceValue[]): string {
  return (
    cases
      .map((c, i) => {
        const result = encodeCopyValue(c.column, values[i]);
        if (!result.ok) throw new Error(`${c.column.name}: ${result.reason}`);
        return result.text;
      })
      .join('\t') + '\n'
  );
}

let admin: Client;
let db: Client;

beforeAll(async () => {
  admin = new Client({ connectionString: `${SERVER}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${quotePg(DATABASE)}`);
  db = new Client({ connectionString: `${SERVER}/${DATABASE}` });
  await db.connect();
  // Fixed output settings, so ::text reads are comparable whatever the server defaults are.
  await db.query(`SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'`);
});

afterAll(async () => {
  await db?.end();
  if (!admin) return;
  await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [DATABASE]);
  await admin.query(`DROP DATABASE IF EXISTS ${quotePg(DATABASE)}`);
  await admin.end();
});

describe('typemap against PostgreSQL', () => {
  it('creates every mapped type, COPYs edge values and a row of NULLs, and reads them back exactly', async () => {
    const table = quotePg('edge values');
    const columns = cases.map((c) => `${quotePg(c.column.name)} ${pgTypeFor(c.column)}`);
    await db.query(`CREATE TABLE ${table} (row_no integer, ${columns.join(', ')})`);

    const lines = ['1\t' + copyLine(cases.map((c) => c.value)), '2\t' + copyLine(cases.map(() => null))];
    const names = cases.map((c) => quotePg(c.column.name)).join(', ');
    await pipeline(Readable.from(lines), db.query(copyFrom(`COPY ${table} (row_no, ${names}) FROM STDIN`)));

    const reads = cases.map((c, i) => `${(c.read ?? '{c}::text').replace(/\{c\}/g, quotePg(c.column.name))} AS v${i}`);
    const { rows } = await db.query<Record<string, string | null>>(`SELECT ${reads.join(', ')} FROM ${table} ORDER BY row_no`);
    expect(rows).toHaveLength(2);

    const got = Object.fromEntries(cases.map((c, i) => [c.column.name, rows[0][`v${i}`]]));
    const want = Object.fromEntries(cases.map((c) => [c.column.name, expectedText(c)]));
    expect(got).toEqual(want);
    expect(Object.values(rows[1]).every((v) => v === null)).toBe(true);
  });

  it('stores the declared types', async () => {
    const { rows } = await db.query<{ attname: string; type: string }>(
      `SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute
        WHERE attrelid = $1::regclass AND attnum > 1 ORDER BY attnum`,
      [quotePg('edge values')],
    );
    const byName = Object.fromEntries(rows.map((r) => [r.attname, r.type]));
    expect(byName['bigint unsigned max']).toBe('numeric(20,0)');
    expect(byName['timestamp6']).toBe('timestamp(6) with time zone');
    expect(byName['datetime0']).toBe('timestamp(0) without time zone');
    expect(byName['set']).toBe('text[]');
    expect(byName['varchar emoji']).toBe('character varying(3)');
  });

  // Each value encodeCopyValue refuses is one PostgreSQL would reject: refusing it loses nothing.
  it.each<[string, string, string]>([
    ['zero date', 'date', '0000-00-00'],
    ['partial-zero date', 'date', '2024-00-15'],
    ['year zero', 'date', '0000-01-01'],
    ['invalid calendar date', 'date', '2024-02-30'],
    ['zero datetime', 'timestamp(0) without time zone', '0000-00-00 00:00:00'],
    ['NUL in text', 'text', 'a\u0000b'],
    ['\\u0000 in JSON', 'jsonb', '"\\u0000"'],
  ])('PostgreSQL itself rejects the refused %s', async (_label, type, value) => {
    await expect(db.query(`SELECT $1::${type}`, [value])).rejects.toThrow();
  });
});
