import type { SourceColumn, SourceValue } from '../../src/model';
import { encodeCopyValue, pgTypeFor, type EncodeResult } from '../../src/convert/typemap';

/** A SourceColumn as information_schema would describe it, from a column type like 'int(10) unsigned'. */
function col(columnType: string, extra: Partial<SourceColumn> = {}): SourceColumn {
  const dataType = /^\w+/.exec(columnType)![0];
  const args = (/\(([\d,]+)\)/.exec(columnType)?.[1].split(',') ?? []).map(Number);
  const isString = /char|text|enum|set/.test(dataType);
  const isTime = ['datetime', 'timestamp', 'time'].includes(dataType);
  return {
    name: 'c',
    ordinal: 1,
    dataType,
    columnType,
    nullable: true,
    unsigned: /unsigned/.test(columnType),
    charset: isString ? 'utf8mb4' : null,
    collation: isString ? 'utf8mb4_general_ci' : null,
    charMaxLength: /char/.test(dataType) ? args[0] : null,
    numericPrecision: dataType === 'bit' ? args[0] ?? 1 : /decimal|numeric/.test(dataType) ? args[0] ?? 10 : null,
    numericScale: /decimal|numeric/.test(dataType) ? args[1] ?? 0 : null,
    datetimePrecision: isTime ? args[0] ?? 0 : null,
    isJson: dataType === 'json',
    ...extra,
  };
}

const enc = (columnType: string, value: SourceValue, extra: Partial<SourceColumn> = {}): EncodeResult =>
  encodeCopyValue(col(columnType, extra), value);
const okText = (text: string): EncodeResult => ({ ok: true, text });

describe('pgTypeFor', () => {
  it.each([
    ['tinyint(4)', 'smallint'],
    ['tinyint(1)', 'smallint'],
    ['tinyint(3) unsigned', 'smallint'],
    ['smallint(6)', 'smallint'],
    ['smallint(5) unsigned', 'integer'],
    ['mediumint(9)', 'integer'],
    ['mediumint(8) unsigned', 'integer'],
    ['int(11)', 'integer'],
    ['int(10) unsigned', 'bigint'],
    ['bigint(20)', 'bigint'],
    ['bigint(20) unsigned', 'numeric(20,0)'],
    ['bit(1)', 'boolean'],
    ['bit(12)', 'bit(12)'],
    ['bit(64)', 'bit(64)'],
    ['decimal(10,2)', 'numeric(10,2)'],
    ['decimal(65,30)', 'numeric(65,30)'],
    ['decimal(20,0) unsigned', 'numeric(20,0)'],
    ['numeric(7,3)', 'numeric(7,3)'],
    ['float', 'real'],
    ['double', 'double precision'],
    ['date', 'date'],
    ['datetime', 'timestamp(0) without time zone'],
    ['datetime(6)', 'timestamp(6) without time zone'],
    ['timestamp', 'timestamptz(0)'],
    ['timestamp(3)', 'timestamptz(3)'],
    ['time', 'interval'],
    ['time(6)', 'interval'],
    ['year(4)', 'smallint'],
    ['char(10)', 'varchar(10)'],
    ['char(0)', 'varchar(1)'],
    ['varchar(255)', 'varchar(255)'],
    ['tinytext', 'text'],
    ['text', 'text'],
    ['mediumtext', 'text'],
    ['longtext', 'text'],
    ['json', 'jsonb'],
    ['binary(16)', 'bytea'],
    ['varbinary(200)', 'bytea'],
    ['tinyblob', 'bytea'],
    ['blob', 'bytea'],
    ['mediumblob', 'bytea'],
    ['longblob', 'bytea'],
    ["enum('a','b')", 'text'],
    ["set('a','b','c')", 'text[]'],
    ['geometry', 'bytea'],
    ['point', 'bytea'],
    ['linestring', 'bytea'],
    ['polygon', 'bytea'],
    ['multipoint', 'bytea'],
    ['multilinestring', 'bytea'],
    ['multipolygon', 'bytea'],
    ['geometrycollection', 'bytea'],
    ['geomcollection', 'bytea'],
  ])('%s → %s', (columnType, expected) => {
    expect(pgTypeFor(col(columnType))).toBe(expected);
  });

  it('maps MariaDB JSON (longtext with a JSON_VALID check) to jsonb', () => {
    expect(pgTypeFor(col('longtext', { isJson: true }))).toBe('jsonb');
  });

  it.each(['char(10)', 'varchar(10)', 'text', 'longtext'])('maps %s with charset binary to bytea', (columnType) => {
    expect(pgTypeFor(col(columnType, { charset: 'binary', collation: 'binary' }))).toBe('bytea');
  });

  it('falls back to the column type when information_schema numbers are missing', () => {
    expect(pgTypeFor(col('decimal(12,4)', { numericPrecision: null, numericScale: null }))).toBe('numeric(12,4)');
    expect(pgTypeFor(col('datetime(3)', { datetimePrecision: null }))).toBe('timestamp(3) without time zone');
    expect(pgTypeFor(col('varchar(40)', { charMaxLength: null }))).toBe('varchar(40)');
    expect(pgTypeFor(col('bit(5)', { numericPrecision: null }))).toBe('bit(5)');
  });

  it('throws for an unknown type, naming the column and its type', () => {
    expect(() => pgTypeFor(col('uuid', { name: 'ext_id' }))).toThrow(/"ext_id".*uuid/);
    expect(() => encodeCopyValue(col('inet6', { name: 'addr' }), '::1')).toThrow(/"addr".*inet6/);
  });
});

describe('encodeCopyValue', () => {
  it('writes NULL as \\N for every type, and a text "\\N" as an escaped string', () => {
    expect(enc('int(11)', null)).toEqual(okText('\\N'));
    expect(enc('blob', null)).toEqual(okText('\\N'));
    expect(enc('varchar(5)', '\\N')).toEqual(okText('\\\\N'));
  });

  it('passes integers through, tinyint(1) included', () => {
    expect(enc('bigint(20) unsigned', '18446744073709551615')).toEqual(okText('18446744073709551615'));
    expect(enc('bigint(20)', '-9223372036854775808')).toEqual(okText('-9223372036854775808'));
    expect(enc('tinyint(1)', '-128')).toEqual(okText('-128'));
    expect(enc('tinyint(1)', '1')).toEqual(okText('1'));
    expect(enc('year(4)', '2155')).toEqual(okText('2155'));
  });

  it('passes decimals through digit for digit', () => {
    const max = '99999999999999999999999999999999999.999999999999999999999999999999';
    expect(enc('decimal(65,30)', max)).toEqual(okText(max));
    expect(enc('decimal(65,30)', '-' + max)).toEqual(okText('-' + max));
    expect(enc('decimal(65,30)', '0.000000000000000000000000000001')).toEqual(okText('0.000000000000000000000000000001'));
  });

  it('passes floats through', () => {
    expect(enc('float', '3.40282e38')).toEqual(okText('3.40282e38'));
    expect(enc('double', '-1.7976931348623157e308')).toEqual(okText('-1.7976931348623157e308'));
  });

  it('passes TIME beyond a day and negative TIME through as interval text', () => {
    expect(enc('time', '838:59:59')).toEqual(okText('838:59:59'));
    expect(enc('time', '-838:59:59')).toEqual(okText('-838:59:59'));
    expect(enc('time(1)', '12:00:00.5')).toEqual(okText('12:00:00.5'));
    expect(enc('time(6)', '-00:00:00.000001')).toEqual(okText('-00:00:00.000001'));
  });

  it('passes dates and datetimes through, and marks timestamps as UTC', () => {
    expect(enc('date', '2024-02-29')).toEqual(okText('2024-02-29'));
    expect(enc('datetime(6)', '9999-12-31 23:59:59.999999')).toEqual(okText('9999-12-31 23:59:59.999999'));
    expect(enc('timestamp', '2038-01-19 03:14:07')).toEqual(okText('2038-01-19 03:14:07+00'));
    expect(enc('timestamp(6)', '1970-01-01 00:00:01.000001')).toEqual(okText('1970-01-01 00:00:01.000001+00'));
  });

  it.each([
    ['date', '0000-00-00'],
    ['date', '2024-00-15'],
    ['date', '2024-01-00'],
    ['date', '0000-01-01'],
    ['datetime', '0000-00-00 00:00:00'],
    ['datetime(6)', '2024-05-00 10:00:00.000000'],
    ['timestamp', '0000-00-00 00:00:00'],
  ])('refuses the zero or partial-zero %s %s', (columnType, value) => {
    const result = enc(columnType, value);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/zero/);
  });

  it.each([
    ['date', '2024-02-30'],
    ['date', '2023-02-29'],
    ['datetime', '2024-04-31 00:00:00'],
  ])('refuses the invalid calendar %s %s (ALLOW_INVALID_DATES)', (columnType, value) => {
    const result = enc(columnType, value);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/invalid calendar date/);
  });

  it('escapes backslash, tab, newline and carriage return in text, and leaves emoji alone', () => {
    expect(enc('text', 'a\\b\tc\nd\re')).toEqual(okText('a\\\\b\\tc\\nd\\re'));
    expect(enc('varchar(10)', '😀👍🏽')).toEqual(okText('😀👍🏽'));
    expect(enc('char(3)', "'\"x")).toEqual(okText("'\"x"));
    expect(enc('text', '\\.')).toEqual(okText('\\\\.'));
    expect(enc("enum('a\tb','c')", 'a\tb')).toEqual(okText('a\\tb'));
  });

  it.each(['text', 'varchar(10)', 'char(10)', "enum('a')", "set('a')"])('refuses a NUL character in %s', (columnType) => {
    const result = enc(columnType, 'a\u0000b');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/NUL/);
  });

  it('writes bytea as \\\\x + hex, keeping 0x00 bytes', () => {
    expect(enc('varbinary(10)', Buffer.from([0x00, 0xff, 0x00, 0x5c, 0x09]))).toEqual(okText('\\\\x00ff005c09'));
    expect(enc('blob', Buffer.alloc(0))).toEqual(okText('\\\\x'));
    expect(enc('varchar(10)', Buffer.from('ab'), { charset: 'binary' })).toEqual(okText('\\\\x6162'));
  });

  it('writes geometry as MySQL stores it: SRID then WKB', () => {
    const point = Buffer.from('000000000101000000000000000000f03f0000000000000040', 'hex');
    expect(enc('point', point)).toEqual(okText('\\\\x' + point.toString('hex')));
  });

  it('writes bit(1) as a boolean and bit(n) as exactly n digits', () => {
    expect(enc('bit(1)', Buffer.from([0x01]))).toEqual(okText('t'));
    expect(enc('bit(1)', Buffer.from([0x00]))).toEqual(okText('f'));
    expect(enc('bit(12)', Buffer.from([0x00, 0x05]))).toEqual(okText('000000000101'));
    expect(enc('bit(12)', Buffer.from([0x0f, 0xff]))).toEqual(okText('111111111111'));
    expect(enc('bit(64)', Buffer.alloc(8, 0xff))).toEqual(okText('1'.repeat(64)));
    expect(enc('bit(12)', Buffer.from([0x05]))).toEqual(okText('000000000101'));
    expect(enc('bit(12)', Buffer.from([0x10, 0x00])).ok).toBe(false);
  });

  it('writes SET as a quoted array literal, and the empty set as {}', () => {
    expect(enc("set('a','b','c')", 'a,c')).toEqual(okText('{"a","c"}'));
    expect(enc("set('a','b')", '')).toEqual(okText('{}'));
    expect(enc("set('NULL','x y')", 'NULL,x y')).toEqual(okText('{"NULL","x y"}'));
    // array syntax escapes " and \ with a backslash; COPY then doubles every backslash
    expect(enc("set('q\"','b\\\\s')", 'q",b\\s')).toEqual(okText('{"q\\\\"","b\\\\\\\\s"}'));
  });

  it('passes JSON through, refusing the \\u0000 escape that jsonb rejects', () => {
    expect(enc('json', '{"a": [1, "x\\ny"]}')).toEqual(okText('{"a": [1, "x\\\\ny"]}'));
    expect(enc('json', '"\\\\u0000"')).toEqual(okText('"\\\\\\\\u0000"'));
    for (const bad of ['"\\u0000"', '{"a\\u0000": 1}', '"x\\\\\\u0000"', '[1,"\u0000"]']) {
      const result = enc('json', bad);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).toMatch(/\\u0000/);
    }
    expect(enc('longtext', '"\\u0000"', { isJson: true }).ok).toBe(false);
  });

  it('throws when a value has the wrong shape for its column', () => {
    expect(() => enc('blob', 'abc')).toThrow(/binary/);
    expect(() => enc('int(11)', Buffer.from('1'))).toThrow(/text/);
  });
});
