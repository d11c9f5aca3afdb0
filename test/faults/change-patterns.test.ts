/**
 * Fault suite, scenario 5: change patterns that a naive apply gets wrong, each applied in one batch,
 * one change per batch (batchSize 1), and with a pass after every statement; plus bulk changes
 * (LOAD DATA LOCAL INFILE of 100k rows, a 100k-row UPDATE) crossing many batch boundaries.
 */
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectTargetEqualsSources } from '../helpers/checksum';
import { createScratch, installTriggers, type Scratch, syncOnce } from '../helpers/scratch';
import { catchUp, mysqlConnect, scratchTopology } from '../helpers/topology';
import { writerTableSql } from '../helpers/writers';

const PEOPLE = `CREATE TABLE people (
  id BIGINT NOT NULL PRIMARY KEY,
  email VARCHAR(60) NOT NULL,
  name VARCHAR(40),
  score INT,
  UNIQUE KEY email (email)
)`;

let s: Scratch;
beforeEach(async () => {
  s = await createScratch(['a', 'b']);
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, writerTableSql('items'));
    await s.mysqlExec(id, PEOPLE);
  }
});
afterEach(async () => {
  await s?.cleanup();
});

async function expectInSync(): Promise<void> {
  await expectTargetEqualsSources(scratchTopology(s), 'items');
  await expectTargetEqualsSources(scratchTopology(s), 'people');
}

/** Each entry is one statement (or one transaction) on source a; b gets a few plain changes. */
const STEPS: string[] = [
  // Seed rows the later steps conflict with.
  "INSERT INTO items VALUES (10, 1, 'ten', 10.00, '2024-01-01 00:00:00'), (11, 1, 'eleven', 11.00, NULL), (12, 1, 'twelve', 12.00, NULL), (13, 1, 'thirteen', 13, NULL)",
  "INSERT INTO people VALUES (1, 'ann@x', 'Ann', 1), (2, 'bob@x', 'Bob', 2), (3, 'cid@x', 'Cid', 3)",
  // Insert, update and delete of one key.
  "INSERT INTO items VALUES (1, 1, 'one', 1.00, '2024-02-02 02:02:02.020202')",
  "UPDATE items SET name = 'one updated', amount = 1.5 WHERE id = 1",
  'DELETE FROM items WHERE id = 1',
  // Delete then re-insert with other values.
  'DELETE FROM items WHERE id = 10',
  "INSERT INTO items VALUES (10, 2, 'ten again', 100.10, '2024-03-03 03:03:03.5')",
  // Primary-key changes: away, back, and away again; a swap of two keys inside one transaction.
  'UPDATE items SET id = 110 WHERE id = 11',
  'UPDATE items SET id = 11, name = \'eleven back\' WHERE id = 110',
  'UPDATE items SET id = 111 WHERE id = 11',
  'START TRANSACTION; UPDATE items SET id = 1012 WHERE id = 12; UPDATE items SET id = 12 WHERE id = 13; UPDATE items SET id = 13 WHERE id = 1012; COMMIT',
  // REPLACE of a row that conflicts with two existing rows: id 1 (primary key) and email bob@x (unique).
  "REPLACE INTO people VALUES (1, 'bob@x', 'Ann now Bob', 10)",
  // REPLACE without conflict, and with a conflict on the primary key only.
  "REPLACE INTO people VALUES (4, 'dan@x', 'Dan', 4)",
  "REPLACE INTO people VALUES (4, 'dan@y', 'Dan moved', 40)",
  // INSERT .. ON DUPLICATE KEY UPDATE: new row, changed row, row left unchanged.
  "INSERT INTO people VALUES (5, 'eve@x', 'Eve', 5) ON DUPLICATE KEY UPDATE score = score + 1",
  "INSERT INTO people VALUES (3, 'cid@x', 'ignored', 0) ON DUPLICATE KEY UPDATE score = score + 100",
  "INSERT INTO people VALUES (3, 'cid@x', 'ignored', 0) ON DUPLICATE KEY UPDATE score = score",
  // ... and one whose conflict is on the unique key, changing the primary key of the existing row.
  "INSERT INTO people VALUES (50, 'eve@x', 'x', 0) ON DUPLICATE KEY UPDATE id = VALUES(id), name = 'Eve moved'",
  // A rolled-back transaction leaves nothing behind.
  "START TRANSACTION; INSERT INTO items VALUES (99, 9, 'rolled back', 9, NULL); UPDATE items SET name = 'rolled back' WHERE id = 10; ROLLBACK",
  // A multi-row update that changes some rows and leaves others as they were.
  'UPDATE items SET grp = 7 WHERE id IN (10, 12, 13, 111)',
];

describe.each([
  // The drain's batch boundaries are what these variants test: catch-up by re-snapshot is kept out.
  ['in one batch', 'batchSize: 10000\ncatchUp: drain', false],
  ['one change per batch', 'batchSize: 1\ncatchUp: drain', false],
  ['with a pass after every statement', 'batchSize: 3\ncatchUp: drain', true],
  // A backlog of many one-change batches on tables of a few rows: caught up by re-snapshot.
  ['caught up by re-snapshot', 'batchSize: 1\ncatchUp: adaptive', false],
])('change patterns %s', (name, extra, passEveryStep) => {
  test('insert+update+delete of a key, delete then reinsert, key changes and swaps, REPLACE of two rows, upserts', async () => {
    const config = s.config(['items', 'people'], `${extra}\nconcurrency: 4`);
    await installTriggers(config);
    await syncOnce(config);
    for (const sql of STEPS) {
      await s.mysqlExec('a', sql);
      if (passEveryStep) {
        const result = await syncOnce(config);
        expect({ sql, failed: result.units.filter((u) => u.status !== 'ok').map((u) => u.reason) }).toEqual({ sql, failed: [] });
        await expectInSync();
      }
    }
    await s.mysqlExec('b', "INSERT INTO items VALUES (10, 0, 'b ten', 0, NULL); INSERT INTO people VALUES (1, 'ann@x', 'b Ann', 0)");
    const results = await catchUp(config);
    expect(results.flatMap((r) => r.units).filter((u) => u.status !== 'ok')).toEqual([]);
    const resnapshots = results.flatMap((r) => r.units).reduce((sum, u) => sum + u.catchUpSnapshots, 0);
    if (name === 'caught up by re-snapshot') expect(resnapshots).toBeGreaterThan(0);
    else expect(resnapshots).toBe(0);
    await expectInSync();
    // Spot checks of what the patterns must leave.
    expect(await s.pgRows("SELECT id::text, email, name, score FROM people WHERE _source = 'a' ORDER BY people.id")).toEqual([
      { id: '1', email: 'bob@x', name: 'Ann now Bob', score: 10 },
      { id: '3', email: 'cid@x', name: 'Cid', score: 103 },
      { id: '4', email: 'dan@y', name: 'Dan moved', score: 40 },
      { id: '50', email: 'eve@x', name: 'Eve moved', score: 5 },
    ]);
    expect(await s.pgRows("SELECT id::text, name FROM items WHERE _source = 'a' ORDER BY items.id")).toEqual([
      { id: '10', name: 'ten again' },
      { id: '12', name: 'thirteen' },
      { id: '13', name: 'twelve' },
      { id: '111', name: 'eleven back' },
    ]);
  }, 120_000);
});

test('LOAD DATA LOCAL INFILE of 100k rows, then a 100k-row UPDATE and a 50k-row DELETE, across many batches', async () => {
  const rows = 100_000;
  const config = s.config(['items'], 'batchSize: 7000\nconcurrency: 2\ncatchUp: drain');
  await installTriggers(config);
  await syncOnce(config);
  const dir = mkdtempSync(join(tmpdir(), 'tributary-infile-'));
  const file = join(dir, 'items.tsv');
  try {
    const lines: string[] = [];
    for (let i = 1; i <= rows; i++) lines.push(`${i}\t${i % 13}\tloaded ${i}\t${(i / 7).toFixed(2)}\t${i % 10 === 0 ? '\\N' : `2024-06-${String(1 + (i % 28)).padStart(2, '0')} 10:00:00.${String(i % 1000000).padStart(6, '0')}`}\n`);
    writeFileSync(file, lines.join(''));
    const conn = await mysqlConnect(scratchTopology(s).sources.find((x) => x.id === 'a')!.mysql, {
      // LOCAL INFILE needs the client to hand over the file itself.
      infileStreamFactory: () => createReadStream(file),
    });
    try {
      const [result] = await conn.query(`LOAD DATA LOCAL INFILE '${file}' INTO TABLE items (id, grp, name, amount, at)`);
      expect((result as { affectedRows: number }).affectedRows).toBe(rows);
    } finally {
      await conn.end();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const loaded = await syncOnce(config);
  expect(loaded.failed).toBe(0);
  expect(loaded.units.find((u) => u.sourceId === 'a')!.batches).toBeGreaterThan(10);
  await expectTargetEqualsSources(scratchTopology(s), 'items');

  await s.mysqlExec('a', "UPDATE items SET amount = amount + 1, name = CONCAT('u', name), at = IF(at IS NULL, '2024-12-31 23:59:59.999999', NULL)");
  await s.mysqlExec('a', 'DELETE FROM items WHERE id % 2 = 0');
  await s.mysqlExec('b', "INSERT INTO items (id, grp) VALUES (1, 1)");
  const results = await catchUp(config);
  expect(results.flatMap((r) => r.units).filter((u) => u.status !== 'ok')).toEqual([]);
  await expectTargetEqualsSources(scratchTopology(s), 'items');
  expect((await s.pgRows("SELECT count(*)::int AS n FROM items WHERE _source = 'a'"))[0]!.n).toBe(rows / 2);
}, 240_000);
