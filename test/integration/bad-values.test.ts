/**
 * Values PostgreSQL cannot hold (zero dates, NUL characters) are never changed or dropped silently:
 * per table they reject the row, become NULL, or fail the table, and every case is recorded.
 */
import { createScratch, installTriggers, type Scratch, syncOnce, unitOf } from '../helpers/scratch';

let s: Scratch;
const TABLES = ['ev_reject', 'ev_null', 'ev_fail'];

beforeAll(async () => {
  s = await createScratch(['src']);
  for (const table of TABLES) {
    await s.mysqlExec('src', `CREATE TABLE ${table} (id INT PRIMARY KEY, happened DATETIME NULL, label VARCHAR(20))`);
  }
});
afterAll(async () => {
  await s.cleanup();
});

// Zero dates need a permissive sql_mode, as legacy applications have.
const loose = (sql: string): string => `SET SESSION sql_mode = ''; ${sql}; SET SESSION sql_mode = DEFAULT`;

test('reject keeps the row out, null stores NULL, fail stops only that table; all recorded; a good version replaces the reject', async () => {
  for (const table of TABLES) {
    await s.mysqlExec('src', loose(`INSERT INTO ${table} VALUES (1, '2024-01-01 00:00:00', 'fine'), (2, '0000-00-00 00:00:00', 'zero date')`));
  }
  const config = s.config([
    { name: 'ev_reject', onBadValue: 'reject' },
    { name: 'ev_null', onBadValue: 'null' },
    { name: 'ev_fail', onBadValue: 'fail' },
  ]);
  await installTriggers(config);

  // Snapshot path.
  const first = await syncOnce(config);
  expect(unitOf(first, 'src', 'ev_reject')).toMatchObject({ status: 'ok', rejects: 1 });
  expect(unitOf(first, 'src', 'ev_null')).toMatchObject({ status: 'ok', rejects: 1 });
  const failed = unitOf(first, 'src', 'ev_fail');
  expect(failed.status).toBe('failed');
  expect(failed.errorCode).toBe('BAD_VALUE');
  expect(failed.reason).toMatch(/ev_fail.*id=2.*happened/);

  expect(await s.pgRows('SELECT id, happened::text, label FROM ev_reject ORDER BY id')).toEqual([{ id: 1, happened: '2024-01-01 00:00:00', label: 'fine' }]);
  expect(await s.pgRows('SELECT id, happened::text, label FROM ev_null ORDER BY id')).toEqual([
    { id: 1, happened: '2024-01-01 00:00:00', label: 'fine' },
    { id: 2, happened: null, label: 'zero date' },
  ]);
  const rejects = await s.pgRows('SELECT source_table, key_text, column_name, convert_from(raw_value, \'UTF8\') AS raw, action, reason FROM tributary.rejects ORDER BY source_table');
  expect(rejects).toMatchObject([
    { source_table: 'ev_null', key_text: 'id=2', column_name: 'happened', raw: '0000-00-00 00:00:00', action: 'nulled' },
    { source_table: 'ev_reject', key_text: 'id=2', column_name: 'happened', raw: '0000-00-00 00:00:00', action: 'rejected' },
  ]);
  expect(String(rejects[0]!.reason)).toMatch(/zero/i);

  // Change path: a NUL character in text, on a new row; the rest of the batch still applies.
  await s.mysqlExec('src', "INSERT INTO ev_reject VALUES (3, NULL, CONCAT('a', CHAR(0), 'b')), (4, NULL, 'ok')");
  const second = await syncOnce(config);
  expect(unitOf(second, 'src', 'ev_reject')).toMatchObject({ status: 'ok', rejects: 1 });
  expect((await s.pgRows('SELECT id FROM ev_reject ORDER BY id')).map((r) => r.id)).toEqual([1, 4]);
  expect(await s.pgRows("SELECT key_text, column_name FROM tributary.rejects WHERE source_table = 'ev_reject' ORDER BY key_text")).toEqual([
    { key_text: 'id=2', column_name: 'happened' },
    { key_text: 'id=3', column_name: 'label' },
  ]);

  // Good versions replace the rejects.
  await s.mysqlExec('src', "UPDATE ev_reject SET happened = '2024-05-05 05:05:05' WHERE id = 2; UPDATE ev_reject SET label = 'clean' WHERE id = 3");
  await s.mysqlExec('src', "UPDATE ev_null SET happened = '2024-06-06 06:06:06' WHERE id = 2");
  await syncOnce(config);
  expect((await s.pgRows('SELECT id FROM ev_reject ORDER BY id')).map((r) => r.id)).toEqual([1, 2, 3, 4]);
  expect(await s.pgRows("SELECT happened::text FROM ev_null WHERE id = 2")).toEqual([{ happened: '2024-06-06 06:06:06' }]);
  expect(await s.pgRows("SELECT source_table FROM tributary.rejects WHERE source_table <> 'ev_fail'")).toEqual([]);
});
