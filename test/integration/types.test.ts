/**
 * Type fidelity: one column of every MySQL type, filled with edge values, arrives exactly through the
 * snapshot and through changes, and both paths give identical values.
 */
import mysql from 'mysql2/promise';
import { parseConfig } from '../../src/config';
import { startPrivateMariaDB } from '../helpers/private-servers';
import { createScratch, installTriggers, PG, type Scratch, syncOnce } from '../helpers/scratch';

interface Case {
  column: string;
  definition: string;
  /** SQL literal for MySQL. */
  value: string;
  /** How PostgreSQL renders the stored value (with TimeZone UTC), and the SQL used to render it. */
  expected: string | null;
  render?: (column: string) => string;
}

const text = (c: string): string => `"${c}"::text`;
const hex = (c: string): string => `encode("${c}", 'hex')`;

const MAX_CASES: Case[] = [
  { column: 'ti', definition: 'TINYINT', value: '-128', expected: '-128' },
  { column: 'tiu', definition: 'TINYINT UNSIGNED', value: '255', expected: '255' },
  { column: 't1', definition: 'TINYINT(1)', value: '2', expected: '2' },
  { column: 'si', definition: 'SMALLINT', value: '-32768', expected: '-32768' },
  { column: 'siu', definition: 'SMALLINT UNSIGNED', value: '65535', expected: '65535' },
  { column: 'mi', definition: 'MEDIUMINT', value: '-8388608', expected: '-8388608' },
  { column: 'miu', definition: 'MEDIUMINT UNSIGNED', value: '16777215', expected: '16777215' },
  { column: 'i', definition: 'INT', value: '-2147483648', expected: '-2147483648' },
  { column: 'iu', definition: 'INT UNSIGNED', value: '4294967295', expected: '4294967295' },
  { column: 'bi', definition: 'BIGINT', value: '-9223372036854775808', expected: '-9223372036854775808' },
  { column: 'biu', definition: 'BIGINT UNSIGNED', value: '18446744073709551615', expected: '18446744073709551615' },
  { column: 'b1', definition: 'BIT(1)', value: "b'1'", expected: 'true' },
  { column: 'b12', definition: 'BIT(12)', value: "b'101000000101'", expected: '101000000101' },
  {
    column: 'dec',
    definition: 'DECIMAL(65,30)',
    value: '-99999999999999999999999999999999999.999999999999999999999999999999',
    expected: '-99999999999999999999999999999999999.999999999999999999999999999999',
  },
  { column: 'dec0', definition: 'DECIMAL(10,2)', value: '0.10', expected: '0.10' },
  { column: 'f', definition: 'FLOAT', value: '0.1', expected: '0.1' },
  { column: 'dbl', definition: 'DOUBLE', value: '1.7976931348623157e308', expected: '1.7976931348623157e+308' },
  { column: 'd', definition: 'DATE', value: "'9999-12-31'", expected: '9999-12-31' },
  { column: 'd0', definition: 'DATE', value: "'1000-01-01'", expected: '1000-01-01' },
  { column: 'dt6', definition: 'DATETIME(6)', value: "'9999-12-31 23:59:59.999999'", expected: '9999-12-31 23:59:59.999999' },
  { column: 'dt0', definition: 'DATETIME', value: "'2024-02-29 12:00:00'", expected: '2024-02-29 12:00:00' },
  // Written by a session in +05:00: the instant is 05:00 UTC.
  {
    column: 'ts3',
    definition: 'TIMESTAMP(3) NULL',
    value: "'2024-06-01 10:00:00.123'",
    expected: '2024-06-01 05:00:00.123',
    render: (c) => `("${c}" AT TIME ZONE 'UTC')::text`,
  },
  { column: 'tmn', definition: 'TIME', value: "'-838:59:59'", expected: '-838:59:59' },
  { column: 'tmx', definition: 'TIME(1)', value: "'100:00:00.5'", expected: '100:00:00.5' },
  { column: 'y', definition: 'YEAR', value: '2155', expected: '2155' },
  { column: 'c', definition: 'CHAR(5)', value: "'ab'", expected: 'ab' },
  { column: 'vc', definition: 'VARCHAR(20) CHARACTER SET utf8mb4', value: "'héllo 😀 世界'", expected: 'héllo 😀 世界' },
  { column: 've', definition: 'VARCHAR(20)', value: "''", expected: '' },
  { column: 'tx', definition: 'TEXT', value: "'tab\\there\\nnew line \\\\ back\\\\slash'", expected: 'tab\there\nnew line \\ back\\slash' },
  { column: 'l1', definition: 'VARCHAR(20) CHARACTER SET latin1', value: "'façade €'", expected: 'façade €' },
  { column: 'bn', definition: 'BINARY(4)', value: '0x00FF0001', expected: '00ff0001', render: hex },
  { column: 'vb', definition: 'VARBINARY(10)', value: '0x00', expected: '00', render: hex },
  { column: 'bl', definition: 'BLOB', value: '0x0001025C0A09', expected: '0001025c0a09', render: hex },
  { column: 'e', definition: "ENUM('a','b c','😀')", value: "'b c'", expected: 'b c' },
  { column: 'st', definition: "SET('x','y','z')", value: "'x,z'", expected: '{x,z}' },
  { column: 'js', definition: 'JSON', value: '\'{"a": [1, 2.5, "x\\\\ty"], "b": null, "c": "😀"}\'', expected: '{"a": [1, 2.5, "x\\ty"], "b": null, "c": "😀"}' },
  { column: 'g', definition: 'GEOMETRY', value: "ST_GeomFromText('POINT(1 2)')", expected: '00000000' + '0101000000' + '000000000000f03f' + '0000000000000040', render: hex },
];

/** Minimum and empty values for the same columns (each case: column, MySQL literal, PostgreSQL text). */
const MIN_VALUES: Record<string, [string, string | null]> = {
  ti: ['127', '127'],
  tiu: ['0', '0'],
  t1: ['-128', '-128'],
  si: ['32767', '32767'],
  siu: ['0', '0'],
  mi: ['8388607', '8388607'],
  miu: ['0', '0'],
  i: ['2147483647', '2147483647'],
  iu: ['0', '0'],
  bi: ['9223372036854775807', '9223372036854775807'],
  biu: ['0', '0'],
  b1: ["b'0'", 'false'],
  b12: ["b'0'", '000000000000'],
  dec: ['0.000000000000000000000000000001', '0.000000000000000000000000000001'],
  dec0: ['-99999999.99', '-99999999.99'],
  f: ['-3.40282e38', '-3.40282e+38'],
  dbl: ['-2.2250738585072014e-308', '-2.2250738585072014e-308'],
  d: ["'1000-01-01'", '1000-01-01'],
  d0: ["'2024-02-29'", '2024-02-29'],
  dt6: ["'1000-01-01 00:00:00.000001'", '1000-01-01 00:00:00.000001'],
  dt0: ["'1000-01-01 00:00:00'", '1000-01-01 00:00:00'],
  ts3: ["'1970-01-01 05:00:01.000'", '1970-01-01 00:00:01'],
  tmn: ["'838:59:59'", '838:59:59'],
  tmx: ["'-0:00:00.1'", '-00:00:00.1'],
  y: ['1901', '1901'],
  c: ["''", ''],
  vc: ["''", ''],
  ve: ["'x'", 'x'],
  tx: ["''", ''],
  l1: ["''", ''],
  bn: ["''", '00000000'],
  vb: ["''", ''],
  bl: ["''", ''],
  e: ["'😀'", '😀'],
  st: ["''", '{}'],
  js: ["'[]'", '[]'],
  g: ["ST_GeomFromText('LINESTRING(0 0,1 1)')", null],
};

let s: Scratch;
beforeAll(async () => {
  s = await createScratch(['one']);
  const columns = MAX_CASES.map((c) => `\`${c.column}\` ${c.definition}`).join(',\n  ');
  await s.mysqlExec('one', `CREATE TABLE everything (\n  id INT PRIMARY KEY,\n  ${columns}\n) DEFAULT CHARSET = utf8mb4`);
});
afterAll(async () => {
  await s.cleanup();
});

async function insertRow(id: number, minimum = false): Promise<void> {
  const names = MAX_CASES.map((c) => `\`${c.column}\``).join(', ');
  const values = MAX_CASES.map((c) => (minimum ? MIN_VALUES[c.column]![0] : c.value)).join(', ');
  await s.mysqlExec('one', `SET time_zone = '+05:00'; INSERT INTO everything (id, ${names}) VALUES (${id}, ${values}); SET time_zone = '+00:00'`);
}

async function pgRow(id: number): Promise<Record<string, unknown>> {
  const rows = await s.pgRows(`SELECT ${MAX_CASES.map((c) => `${(c.render ?? text)(c.column)} AS "${c.column}"`).join(', ')} FROM everything WHERE id = $1`, [id]);
  return rows[0] ?? {};
}

test('every type round-trips exactly through the snapshot and through changes, identically', async () => {
  await insertRow(1); // copied by the snapshot
  await insertRow(11, true);
  const config = s.config('everything');
  await installTriggers(config);
  const first = await syncOnce(config);
  expect(first.units[0]!.reason).toBeUndefined();
  expect(first.units[0]!.snapshotRows).toBe(2);

  await insertRow(2); // arrives as a change
  await insertRow(12, true);
  await s.mysqlExec('one', `INSERT INTO everything (id) VALUES (3)`); // all NULL
  const second = await syncOnce(config);
  expect(second.units[0]!.reason).toBeUndefined();
  expect(second.units[0]!.changes).toBe(3);

  const expected = Object.fromEntries(MAX_CASES.map((c) => [c.column, c.expected]));
  expect(await pgRow(1)).toEqual(expected);
  expect(await pgRow(2)).toEqual(expected);
  expect(await pgRow(3)).toEqual(Object.fromEntries(MAX_CASES.map((c) => [c.column, null])));
  const minimum = await pgRow(11);
  const geometryHex = (await s.mysqlRows('one', 'SELECT LOWER(HEX(g)) AS g FROM everything WHERE id = 11'))[0]!.g;
  expect(minimum).toEqual(Object.fromEntries(MAX_CASES.map((c) => [c.column, c.column === 'g' ? geometryHex : MIN_VALUES[c.column]![1]])));
  expect(await pgRow(12)).toEqual(minimum);

  // The two paths store identical values, compared by PostgreSQL itself.
  const row = (alias: string): string => `(${MAX_CASES.map((c) => `${alias}."${c.column}"`).join(', ')})`;
  const same = await s.pgRows(`SELECT ${row('a')} IS NOT DISTINCT FROM ${row('b')} AS same FROM everything a, everything b WHERE a.id = 1 AND b.id = 2`);
  expect(same[0]!.same).toBe(true);
});

test('a server whose default time zone is not UTC: TIMESTAMP keeps its instant, DATETIME its digits', async () => {
  const server = await startPrivateMariaDB(['--default-time-zone=+03:00']);
  try {
    const admin = await mysql.createConnection({ host: server.host, port: server.port, user: 'root', multipleStatements: true });
    await admin.query('CREATE DATABASE zoned; USE zoned; CREATE TABLE t (id INT PRIMARY KEY, ts TIMESTAMP(6) NULL, dt DATETIME(6))');
    // Written in the server's default zone, as an application that never sets time_zone does.
    await admin.query("INSERT INTO zoned.t VALUES (1, '2024-03-31 02:30:00.5', '2024-03-31 02:30:00.5')");
    const yaml = [
      'target:',
      `  url: postgres://${PG.user}@${PG.host}:${PG.port}/${s.pgDb}`,
      'sources:',
      `  - id: zoned`,
      `    url: mysql://root@127.0.0.1:${server.port}/zoned`,
      'tables: [t]',
    ].join('\n');
    const config = parseConfig(yaml, process.env, '/tmp/zoned.yml');
    await installTriggers(config);
    await syncOnce(config);
    await admin.query("INSERT INTO zoned.t VALUES (2, '2024-10-27 01:00:00', '2024-10-27 01:00:00')");
    const result = await syncOnce(config);
    expect(result.failed).toBe(0);
    await admin.end();
    const rows = await s.pgRows(`SELECT id, (ts AT TIME ZONE 'UTC')::text AS ts_utc, dt::text AS dt FROM t WHERE _source = 'zoned' ORDER BY id`);
    expect(rows).toEqual([
      { id: 1, ts_utc: '2024-03-30 23:30:00.5', dt: '2024-03-31 02:30:00.5' },
      { id: 2, ts_utc: '2024-10-26 22:00:00', dt: '2024-10-27 01:00:00' },
    ]);
  } finally {
    await server.destroy();
  }
});
