/** Shards whose keys are meant to be disjoint, merged into one key space, and what happens when they collide. */
import { createScratch, installTriggers, type Scratch, syncOnce, unitOf } from '../helpers/scratch';

let s: Scratch;
beforeEach(async () => {
  s = await createScratch(['a', 'b']);
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, 'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), updated_at DATETIME(3) NOT NULL)');
  }
});
afterEach(async () => {
  await s.cleanup();
});

const rows = () => s.pgRows('SELECT id, _source, name FROM items ORDER BY id');

test('keyIncludesSource false: one row per key; conflict error keeps the first and reports the later one', async () => {
  const config = s.config([{ name: 'items', keyIncludesSource: false }], 'concurrency: 1');
  await installTriggers(config);
  await s.mysqlExec('a', "INSERT INTO items VALUES (1, 'from a', NOW(3)), (2, 'only a', NOW(3))");
  await s.mysqlExec('b', "INSERT INTO items VALUES (3, 'only b', NOW(3))");
  await syncOnce(config);
  await s.mysqlExec('b', "INSERT INTO items VALUES (1, 'from b', NOW(3))");
  const result = await syncOnce(config);
  expect(unitOf(result, 'b', 'items').rejects).toBe(1);
  expect(await rows()).toEqual([
    { id: 1, _source: 'a', name: 'from a' },
    { id: 2, _source: 'a', name: 'only a' },
    { id: 3, _source: 'b', name: 'only b' },
  ]);
  expect(await s.pgRows('SELECT source_id, key_text, column_name, reason FROM tributary.rejects')).toEqual([
    { source_id: 'b', key_text: 'id=1', column_name: '_source', reason: expect.stringContaining('held by source a') },
  ]);
  // b's delete of its own copy does not touch a's row; a's own update still applies.
  await s.mysqlExec('b', 'DELETE FROM items WHERE id = 1');
  await s.mysqlExec('a', "UPDATE items SET name = 'a again' WHERE id = 1");
  await syncOnce(config);
  expect((await rows())[0]).toEqual({ id: 1, _source: 'a', name: 'a again' });
  expect(await s.pgRows('SELECT count(*)::int AS n FROM tributary.rejects')).toEqual([{ n: 0 }]);
});

test('conflict newest: the row with the greater newestBy value wins, whatever the order of arrival', async () => {
  const config = s.config([{ name: 'items', keyIncludesSource: false, conflict: 'newest', newestBy: 'updated_at' }], 'concurrency: 1');
  await installTriggers(config);
  await s.mysqlExec('b', "INSERT INTO items VALUES (1, 'b newer', '2024-01-01 11:00:00')");
  await syncOnce(config);
  await s.mysqlExec('a', "INSERT INTO items VALUES (1, 'a older', '2024-01-01 10:00:00')");
  await syncOnce(config);
  expect(await rows()).toEqual([{ id: 1, _source: 'b', name: 'b newer' }]);
  await s.mysqlExec('a', "UPDATE items SET name = 'a newest', updated_at = '2024-01-01 12:00:00' WHERE id = 1");
  const result = await syncOnce(config);
  expect(result.failed).toBe(0);
  expect(await rows()).toEqual([{ id: 1, _source: 'a', name: 'a newest' }]);
});

test('conflict priority: the higher-priority source wins and keeps the key', async () => {
  const config = s.config([{ name: 'items', keyIncludesSource: false, conflict: 'priority', priority: ['b', 'a'] }], 'concurrency: 1');
  await installTriggers(config);
  await s.mysqlExec('a', "INSERT INTO items VALUES (1, 'a', NOW(3))");
  await syncOnce(config);
  expect(await rows()).toEqual([{ id: 1, _source: 'a', name: 'a' }]);
  await s.mysqlExec('b', "INSERT INTO items VALUES (1, 'b wins', NOW(3))");
  await syncOnce(config);
  await s.mysqlExec('a', "UPDATE items SET name = 'a loses' WHERE id = 1");
  await syncOnce(config);
  expect(await rows()).toEqual([{ id: 1, _source: 'b', name: 'b wins' }]);
});

test('the snapshot of a shared key space resolves collisions the same way', async () => {
  await s.mysqlExec('a', "INSERT INTO items VALUES (1, 'a', '2024-01-01 10:00:00'), (2, 'a2', '2024-01-01 10:00:00')");
  await s.mysqlExec('b', "INSERT INTO items VALUES (1, 'b', '2024-01-01 09:00:00'), (3, 'b3', '2024-01-01 10:00:00')");
  const config = s.config([{ name: 'items', keyIncludesSource: false, conflict: 'newest', newestBy: 'updated_at' }]);
  await installTriggers(config);
  const result = await syncOnce(config);
  expect(result.failed).toBe(0);
  expect(await rows()).toEqual([
    { id: 1, _source: 'a', name: 'a' },
    { id: 2, _source: 'a', name: 'a2' },
    { id: 3, _source: 'b', name: 'b3' },
  ]);
});
