/**
 * Snapshot rows read as one row line each (convert/copy-line.ts) give byte for byte the COPY text the
 * per-value path gives, with the same rejects and NULLs, on values chosen to break it: escapes, NUL,
 * 4-byte characters, other character sets, empty strings against NULL, every integer width at its
 * edges, huge decimals, zero, partial and invalid dates, timestamps.
 */
import type { BadValuePolicy } from '../../src/config';
import { addLineRow, copyLinePlan } from '../../src/convert/copy-line';
import { encodeRowText, type Reject } from '../../src/convert/rows';
import { silentLogger } from '../../src/log';
import { snapshotChunkReader, streamSnapshotChunk } from '../../src/mysql/changes';
import { CopyText } from '../../src/postgres/stage';
import { closeRuntime, openRuntime, prepareRuntime, type Unit } from '../../src/pipeline/runtime';
import { createScratch, installTriggers, type Scratch, syncOnce, unitOf } from '../helpers/scratch';

let s: Scratch;

beforeAll(async () => {
  s = await createScratch(['eu']);
  await s.mysqlExec(
    'eu',
    `CREATE TABLE odd (
      id INT PRIMARY KEY,
      ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED,
      ii INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED, one TINYINT(1),
      dbig DECIMAL(65,30), dmoney DECIMAL(12,2) NOT NULL DEFAULT 0,
      t4 TEXT CHARACTER SET utf8mb4, v3 VARCHAR(40) CHARACTER SET utf8mb3, l1 VARCHAR(40) CHARACTER SET latin1,
      a1 VARCHAR(40) CHARACTER SET ascii, c4 CHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
      dd DATE, dt DATETIME, d6 DATETIME(6), ts TIMESTAMP(3) NULL DEFAULT NULL
    ) ENGINE=InnoDB`,
  );
  // Zero, partial-zero and invalid dates and an ascii byte above 127 need a lenient session.
  await s.mysqlExec(
    'eu',
    "SET SESSION sql_mode = 'ALLOW_INVALID_DATES', SESSION time_zone = '+00:00'; " +
      'INSERT INTO odd (id) VALUES (1); ' +
      'INSERT INTO odd VALUES (2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, -128, ' +
      "'-99999999999999999999999999999999999.999999999999999999999999999999', '-0.01', '', '', '', '', '', " +
      "'1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000'); " +
      'INSERT INTO odd VALUES (3, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615, 127, ' +
      "'99999999999999999999999999999999999.999999999999999999999999999999', '9999999999.99', " +
      "'a\\\\b\\tc\\nd\\re\\\\N \\\\\\\\t', 'tab\\there \\\\ ü', 'ÿé€ tab\\tend', 'plain', 'ab   ', " +
      "'9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999'); " +
      "INSERT INTO odd (id, t4, v3, c4, dd, dt, d6, ts) VALUES (4, '😀 four bytes 𝄞', '\\\\N', '\\\\', '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'); " +
      "INSERT INTO odd (id, dd, dt, d6) VALUES (5, '2023-02-30', '2023-04-31 10:00:00', '2023-02-29 00:00:00.5'); " +
      "INSERT INTO odd (id, dd, dt, d6) VALUES (6, '2024-02-29', '2000-02-29 12:00:00', '1900-02-29 00:00:00'); " +
      "INSERT INTO odd (id, dd, dt) VALUES (7, '2023-00-10', '2023-05-00 01:02:03'); " +
      "INSERT INTO odd (id, t4, v3) VALUES (8, CONCAT('nul', CHAR(0), 'inside'), CONCAT(CHAR(0))); " +
      "INSERT INTO odd (id, t4, a1, dd, dt) VALUES (9, '\\r\\n', CONCAT('x', UNHEX('80'), 'y'), '0099-05-05', '0999-12-31 23:59:59'); " +
      "INSERT INTO odd (id, t4, l1, dd, dt, d6, ts) VALUES (10, '\\t', UNHEX('80FF00'), '2023-12-31', '2023-02-28 23:59:59', '2023-01-31 00:00:00.000001', '2024-02-29 12:00:00.5'); " +
      "INSERT INTO odd (id, dd, dt) VALUES (11, '2023-13-01', '2023-06-31 00:00:00'); " +
      "INSERT INTO odd (id, t4, v3, l1, c4, ts) VALUES (12, '😀 four bytes 𝄞', 'ü € 中', 'é', '𝄞', '2024-02-29 12:00:00.5'); " +
      "SET SESSION sql_mode = DEFAULT",
  );
  await s.mysqlExec('eu', 'CREATE TABLE floaty (id INT PRIMARY KEY, f DOUBLE)');
  await s.mysqlExec('eu', 'CREATE TABLE named (`tributary_row_line` INT PRIMARY KEY, n INT)');
});

afterAll(async () => {
  await s.cleanup();
});

interface Copy {
  text: string;
  rejects: Reject[];
  lines: number;
}

async function withUnit<T>(table: string, policy: BadValuePolicy, fn: (unit: Unit) => Promise<T>): Promise<T> {
  const runtime = openRuntime(s.config([{ name: table, onBadValue: policy }]), silentLogger());
  try {
    await prepareRuntime(runtime, { captureOptional: true });
    return await fn(runtime.units.find((u) => u.sourceTable.name === table)!);
  } finally {
    await closeRuntime(runtime);
  }
}

/** The snapshot's COPY text of the whole table, read value by value or, when line is set, as row lines. */
async function copyText(unit: Unit, policy: BadValuePolicy, line: boolean): Promise<Copy> {
  const plan = line ? copyLinePlan(unit.target, unit.sourceTable) : null;
  if (line) expect(plan).not.toBeNull();
  const text = new CopyText();
  const rejects: Reject[] = [];
  let lines = 0;
  const batches = plan ? snapshotChunkReader(unit.source, unit.sourceTable, 1000, plan.columns).read(null) : streamSnapshotChunk(unit.source, unit.sourceTable, null, 1000);
  for await (const batch of batches) {
    for (let row of batch) {
      if (plan) {
        const full = addLineRow(plan, text, 'eu\t', row);
        if (full === null) {
          lines++;
          continue;
        }
        row = full;
      }
      const fields = encodeRowText('eu', unit.target, row, policy, rejects);
      if (fields !== null) text.add('eu\t' + fields + '\n');
    }
  }
  return { text: Buffer.concat(text.take(true)).toString('utf8'), rejects, lines };
}

test.each(['null', 'reject'] as const)('row lines give the per-value path COPY text, rejects and NULLs exactly (onBadValue %s)', async (policy) => {
  await withUnit('odd', policy, async (unit) => {
    const values = await copyText(unit, policy, false);
    const lines = await copyText(unit, policy, true);
    expect(lines.text).toEqual(values.text);
    expect(lines.rejects).toEqual(values.rejects);
    // Rows 1-3, 9 (its ascii byte is '?' either way) and 12 take the line path; the rest hold
    // values the encoders refuse or NUL and go value by value.
    expect(lines.lines).toBe(5);
    expect(values.rejects.map((r) => `${String(r.key[0])}:${r.column}`).sort()).toEqual(
      ['4:dd', '4:dt', '4:d6', '4:ts', '5:dd', '5:dt', '5:d6', '6:d6', '7:dd', '7:dt', '8:t4', '8:v3', '10:l1', '11:dd', '11:dt'].sort(),
    );
    // Spot checks of what both wrote.
    expect(values.text).toContain('\ta\\\\b\\tc\\nd\\re\\\\N \\\\\\\\t\t');
    expect(values.text).toContain('\tÿé€ tab\\tend\t');
    expect(values.text).toContain('\t😀 four bytes 𝄞\t');
    expect(values.text).toContain('\t2038-01-19 03:14:07.999+00\n');
    expect(values.text).toContain('\tü € 中\té\t\\N\t𝄞\t');
  });
});

test('a table with a column outside the line types, or a key named like the line, keeps the per-value path', async () => {
  await withUnit('floaty', 'fail', async (unit) => expect(copyLinePlan(unit.target, unit.sourceTable)).toBeNull());
  await withUnit('named', 'fail', async (unit) => expect(copyLinePlan(unit.target, unit.sourceTable)).toBeNull());
});

test('sync --once of the table through row lines stores every value PostgreSQL can hold', async () => {
  const config = s.config([{ name: 'odd', onBadValue: 'null' }]);
  await installTriggers(config);
  const result = await syncOnce(config);
  expect(result.failed).toBe(0);
  expect(unitOf(result, 'eu', 'odd').snapshotRows).toBe(12);
  const rows = await s.pgRows('SELECT id, bu::text, dbig::text, t4, v3, l1, a1, c4, dd::text, ts::text FROM odd ORDER BY id');
  expect(rows).toHaveLength(12);
  expect(rows[2]).toEqual({
    id: 3,
    bu: '18446744073709551615',
    dbig: '99999999999999999999999999999999999.999999999999999999999999999999',
    t4: 'a\\b\tc\nd\re\\N \\\\t',
    v3: 'tab\there \\ ü',
    l1: 'ÿé€ tab\tend',
    a1: 'plain',
    c4: 'ab',
    dd: '9999-12-31',
    ts: '2038-01-19 03:14:07.999+00',
  });
  expect(rows[0]).toMatchObject({ t4: null, c4: null, dd: null });
  expect(rows[1]).toMatchObject({ t4: '', v3: '', c4: '', dbig: '-99999999999999999999999999999999999.999999999999999999999999999999' });
  expect(rows[3]).toMatchObject({ t4: '😀 four bytes 𝄞', v3: '\\N', c4: '\\', dd: null, ts: null });
  expect(rows[8]).toMatchObject({ t4: '\r\n', a1: 'x?y', dd: '0099-05-05' });
  expect(rows[11]).toMatchObject({ t4: '😀 four bytes 𝄞', v3: 'ü € 中', l1: 'é', c4: '𝄞', ts: '2024-02-29 12:00:00.5+00' });
});
