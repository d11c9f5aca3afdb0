/**
 * `tributary verify`: the source tables compared with PostgreSQL, including what triggers cannot see
 * (cascade deletes, TRUNCATE, hand edits in PostgreSQL), and `--repair`.
 */
import { runCli } from '../helpers/cli';
import { compareTable, createScratch, installTriggers, type Scratch, syncOnce } from '../helpers/scratch';
import { comparisonOf, resultOf, verifyOnce } from '../helpers/verify';

const ORDERS = `CREATE TABLE orders (
  id BIGINT PRIMARY KEY,
  customer VARCHAR(50) NOT NULL,
  total DECIMAL(12,2),
  placed DATETIME(6),
  note TEXT
)`;
const COLUMNS = ['id', 'customer', 'total', 'placed', 'note'];

let s: Scratch;

beforeEach(async () => {
  s = await createScratch(['eu', 'us']);
  for (const id of s.sourceIds) await s.mysqlExec(id, ORDERS);
});

afterEach(async () => {
  await s.cleanup();
});

/** n orders in a source: ids 1..n. */
async function fillOrders(sourceId: string, n: number): Promise<void> {
  const values = Array.from({ length: n }, (_, i) => `(${i + 1}, 'customer ${i + 1}', ${(i + 1) * 1.5}, '2024-01-01 10:00:00.${String(i).padStart(6, '0')}', ${i % 3 === 0 ? 'NULL' : `'note\\t${i}'`})`);
  await s.mysqlExec(sourceId, `INSERT INTO orders VALUES ${values.join(', ')}`);
}

async function syncedOrders(rows = 5): Promise<ReturnType<Scratch['config']>> {
  const config = s.config('orders');
  await installTriggers(config);
  for (const id of s.sourceIds) await fillOrders(id, rows);
  const result = await syncOnce(config);
  expect(result.failed).toBe(0);
  return config;
}

test('after a normal sync, every unit of two sources is equal', async () => {
  const config = await syncedOrders(7);
  await s.mysqlExec('us', "UPDATE orders SET note = 'changed' WHERE id = 2; DELETE FROM orders WHERE id = 3; INSERT INTO orders VALUES (50, 'late', NULL, NULL, NULL)");
  expect((await syncOnce(config)).failed).toBe(0);
  const results = await verifyOnce(config);
  expect(results.map((r) => [r.sourceId, r.table, r.state])).toEqual([
    ['eu', 'orders', 'equal'],
    ['us', 'orders', 'equal'],
  ]);
  expect(comparisonOf(results, 'eu', 'orders')).toMatchObject({ sourceRows: 7, targetRows: 7, missing: 0, extra: 0, different: 0 });
  expect(comparisonOf(results, 'us', 'orders')).toMatchObject({ sourceRows: 7, targetRows: 7, missing: 0, extra: 0, different: 0 });
});

test('a row changed directly in PostgreSQL is different, with its key; only that source is affected', async () => {
  const config = await syncedOrders();
  await s.pgRows("UPDATE orders SET note = 'edited by hand' WHERE _source = 'eu' AND id = 4");
  const results = await verifyOnce(config);
  expect(resultOf(results, 'eu', 'orders').state).toBe('different');
  expect(comparisonOf(results, 'eu', 'orders')).toMatchObject({ missing: 0, extra: 0, different: 1, samples: { different: ['id=4'] } });
  expect(resultOf(results, 'us', 'orders').state).toBe('equal');
});

test('a row deleted from PostgreSQL is missing', async () => {
  const config = await syncedOrders();
  await s.pgRows("DELETE FROM orders WHERE _source = 'us' AND id = 2");
  const results = await verifyOnce(config);
  expect(comparisonOf(results, 'us', 'orders')).toMatchObject({ sourceRows: 5, targetRows: 4, missing: 1, extra: 0, different: 0, samples: { missing: ['id=2'] } });
  expect(resultOf(results, 'eu', 'orders').state).toBe('equal');
});

test('a row inserted only into PostgreSQL is extra', async () => {
  const config = await syncedOrders();
  await s.pgRows("INSERT INTO orders (_source, id, customer) VALUES ('eu', 99, 'ghost')");
  const results = await verifyOnce(config);
  expect(comparisonOf(results, 'eu', 'orders')).toMatchObject({ sourceRows: 5, targetRows: 6, missing: 0, extra: 1, different: 0, samples: { extra: ['id=99'] } });
  expect(resultOf(results, 'us', 'orders').state).toBe('equal');
});

test('tiny chunks: differences in several chunks are all found, and repaired chunk by chunk', async () => {
  const config = await syncedOrders(20);
  await s.pgRows("UPDATE orders SET total = total + 1 WHERE _source = 'eu' AND id IN (2, 8, 15)");
  await s.pgRows("UPDATE orders SET placed = NULL WHERE _source = 'eu' AND id = 20");
  await s.pgRows("DELETE FROM orders WHERE _source = 'eu' AND id IN (1, 11)");
  await s.pgRows("INSERT INTO orders (_source, id, customer) SELECT 'eu', g, 'ghost' FROM generate_series(100, 104) g");
  // A row the same in the target but under the other source's id must not hide anything.
  await s.pgRows("DELETE FROM orders WHERE _source = 'us' AND id = 5");

  const found = await verifyOnce(config, { chunkSize: 3 });
  expect(comparisonOf(found, 'eu', 'orders')).toEqual({
    sourceRows: 20,
    targetRows: 23,
    missing: 2,
    extra: 5,
    different: 4,
    rejected: 0,
    rejectedWithoutVersion: 0,
    samples: { missing: ['id=1', 'id=11'], extra: ['id=100', 'id=101', 'id=102', 'id=103', 'id=104'], different: ['id=2', 'id=8', 'id=15', 'id=20'], rejected: [] },
  });
  expect(comparisonOf(found, 'us', 'orders')).toMatchObject({ missing: 1, extra: 0, different: 0, samples: { missing: ['id=5'] } });

  const repaired = await verifyOnce(config, { chunkSize: 3, repair: true });
  const eu = resultOf(repaired, 'eu', 'orders');
  expect(eu.state).toBe('repaired');
  expect(eu.repair).toMatchObject({ found: { missing: 2, extra: 5, different: 4 }, inserted: 2, updated: 4, deleted: 5 });
  expect(eu.comparison).toMatchObject({ sourceRows: 20, targetRows: 20, missing: 0, extra: 0, different: 0 });
  expect(resultOf(repaired, 'us', 'orders')).toMatchObject({ state: 'repaired', repair: { inserted: 1, updated: 0, deleted: 0 } });
  const { source, target } = await compareTable(s, 'orders', COLUMNS);
  expect(target).toEqual(source);
  expect((await verifyOnce(config, { chunkSize: 3 })).every((r) => r.state === 'equal')).toBe(true);
});

test('ON DELETE CASCADE removes child rows without triggers: verify finds them extra, --repair deletes them', async () => {
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, 'CREATE TABLE parents (id INT PRIMARY KEY, name VARCHAR(20)) ENGINE=InnoDB');
    await s.mysqlExec(
      id,
      'CREATE TABLE children (id INT PRIMARY KEY, parent_id INT NOT NULL, name VARCHAR(20), FOREIGN KEY (parent_id) REFERENCES parents (id) ON DELETE CASCADE) ENGINE=InnoDB',
    );
    await s.mysqlExec(id, "INSERT INTO parents VALUES (1, 'p1'), (2, 'p2'); INSERT INTO children VALUES (10, 1, 'c10'), (11, 1, 'c11'), (20, 2, 'c20')");
  }
  const config = s.config(['parents', 'children']);
  await installTriggers(config);
  expect((await syncOnce(config)).failed).toBe(0);

  await s.mysqlExec('eu', 'DELETE FROM parents WHERE id = 1');
  expect(await s.mysqlRows('eu', 'SELECT id FROM children ORDER BY id')).toEqual([{ id: 20 }]);
  expect((await syncOnce(config)).failed).toBe(0);
  // The parent's delete arrived through its trigger; the cascaded child deletes did not.
  expect(await s.pgRows("SELECT id FROM parents WHERE _source = 'eu' ORDER BY id")).toEqual([{ id: 2 }]);
  expect(await s.pgRows("SELECT id FROM children WHERE _source = 'eu' ORDER BY id")).toEqual([{ id: 10 }, { id: 11 }, { id: 20 }]);

  const found = await verifyOnce(config);
  expect(resultOf(found, 'eu', 'parents').state).toBe('equal');
  expect(resultOf(found, 'eu', 'children')).toMatchObject({ state: 'different', comparison: { sourceRows: 1, targetRows: 3, extra: 2, missing: 0, different: 0, samples: { extra: ['id=10', 'id=11'] } } });
  expect(resultOf(found, 'us', 'children').state).toBe('equal');

  const repaired = await verifyOnce(config, { repair: true });
  expect(resultOf(repaired, 'eu', 'children')).toMatchObject({ state: 'repaired', repair: { deleted: 2, inserted: 0, updated: 0 }, comparison: { sourceRows: 1, targetRows: 1, extra: 0 } });
  expect(await s.pgRows("SELECT id FROM children WHERE _source = 'eu' ORDER BY id")).toEqual([{ id: 20 }]);
  expect((await verifyOnce(config)).every((r) => r.state === 'equal')).toBe(true);
});

test('TRUNCATE on a source: verify reports the extras, --repair deletes them, the other source is untouched', async () => {
  const config = await syncedOrders(6);
  await s.mysqlExec('eu', 'TRUNCATE TABLE orders');
  await syncOnce(config);
  expect(await s.pgRows("SELECT count(*)::int AS n FROM orders WHERE _source = 'eu'")).toEqual([{ n: 6 }]);

  const found = await verifyOnce(config, { chunkSize: 4 });
  expect(resultOf(found, 'eu', 'orders')).toMatchObject({ state: 'different', comparison: { sourceRows: 0, targetRows: 6, extra: 6, missing: 0, different: 0 } });
  expect(resultOf(found, 'us', 'orders').state).toBe('equal');

  const repaired = await verifyOnce(config, { repair: true, chunkSize: 4 });
  expect(resultOf(repaired, 'eu', 'orders')).toMatchObject({ state: 'repaired', repair: { deleted: 6 }, comparison: { sourceRows: 0, targetRows: 0 } });
  expect(resultOf(repaired, 'us', 'orders')).toMatchObject({ state: 'equal', comparison: { targetRows: 6 } });
  expect(resultOf(repaired, 'us', 'orders').repair).toBeUndefined();
  expect(await s.pgRows("SELECT count(*)::int AS n FROM orders WHERE _source = 'us'")).toEqual([{ n: 6 }]);
});

test('composite and case-insensitive string keys: MySQL key order is not PostgreSQL order, and all is equal', async () => {
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, 'CREATE TABLE codes (code VARCHAR(10) COLLATE utf8mb4_general_ci PRIMARY KEY, label VARCHAR(20)) DEFAULT CHARSET utf8mb4');
    await s.mysqlExec(
      id,
      'CREATE TABLE order_lines (region VARCHAR(10) COLLATE utf8mb4_general_ci, line INT, part VARCHAR(10) COLLATE utf8mb4_general_ci, qty INT, PRIMARY KEY (region, line, part)) DEFAULT CHARSET utf8mb4',
    );
    await s.mysqlExec(id, "INSERT INTO codes VALUES ('a', 'lower a'), ('B', 'upper b'), ('c', 'lower c'), ('_x', 'underscore'), ('Z', 'upper z'), ('é', 'accent')");
    await s.mysqlExec(
      id,
      "INSERT INTO order_lines VALUES ('a',1,'x',1),('a',1,'Y',2),('a',2,'x',3),('B',1,'x',4),('B',1,'y',5),('c',10,'Z',6),('c',2,'a',7),('D',1,'b',8)",
    );
  }
  const config = s.config(['codes', 'order_lines']);
  await installTriggers(config);
  expect((await syncOnce(config)).failed).toBe(0);
  for (const chunkSize of [1, 2, 3, 10_000]) {
    const results = await verifyOnce(config, { chunkSize });
    expect(results.map((r) => `${r.sourceId}.${r.table}:${r.state}`)).toEqual(['eu.codes:equal', 'us.codes:equal', 'eu.order_lines:equal', 'us.order_lines:equal']);
    expect(comparisonOf(results, 'eu', 'order_lines')).toMatchObject({ sourceRows: 8, targetRows: 8 });
  }

  // A difference under a string key is named by its key, and repaired.
  await s.pgRows("UPDATE order_lines SET qty = 0 WHERE _source = 'us' AND region = 'B' AND line = 1 AND part = 'y'");
  await s.pgRows("DELETE FROM codes WHERE _source = 'eu' AND code = 'B'");
  await s.pgRows("INSERT INTO codes VALUES ('eu', 'b', 'wrong case')");
  const found = await verifyOnce(config, { chunkSize: 2 });
  expect(comparisonOf(found, 'us', 'order_lines')).toMatchObject({ different: 1, samples: { different: ['region=B, line=1, part=y'] } });
  expect(comparisonOf(found, 'eu', 'codes')).toMatchObject({ missing: 1, extra: 1, samples: { missing: ['code=B'], extra: ['code=b'] } });
  const repaired = await verifyOnce(config, { chunkSize: 2, repair: true });
  expect(repaired.map((r) => r.state)).toEqual(['repaired', 'equal', 'equal', 'repaired']);
  expect(await s.pgRows("SELECT code FROM codes WHERE _source = 'eu' AND lower(code) = 'b'")).toEqual([{ code: 'B' }]);
});

test('keys of binary, date-time, decimal and time types are found extra and deleted by repair', async () => {
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, 'CREATE TABLE blobs (k VARBINARY(8) PRIMARY KEY, v INT)');
    await s.mysqlExec(id, 'CREATE TABLE events (at DATETIME(3), amount DECIMAL(10,2), dur TIME, seen TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), PRIMARY KEY (at, amount, dur, seen))');
    await s.mysqlExec(id, "INSERT INTO blobs VALUES (X'00ff', 1), (X'41', 2)");
    await s.mysqlExec(id, "INSERT INTO events VALUES ('2024-02-29 23:59:59.123', 10.50, '-01:30:00', '2024-01-01 00:00:00.5'), ('2024-03-01 00:00:00.000', 0.01, '838:59:59', '2024-06-30 12:00:00')");
  }
  const config = s.config(['blobs', 'events']);
  await installTriggers(config);
  expect((await syncOnce(config)).failed).toBe(0);
  expect((await verifyOnce(config)).map((r) => r.state)).toEqual(['equal', 'equal', 'equal', 'equal']);

  // Rows deleted in MySQL without any trigger seeing it: exactly the rows PostgreSQL still holds.
  await s.mysqlExec('eu', 'DROP TRIGGER tributary_blobs_del; DROP TRIGGER tributary_events_del');
  await s.mysqlExec('eu', "DELETE FROM blobs WHERE k = X'00ff'; DELETE FROM events");
  const found = await verifyOnce(config);
  expect(comparisonOf(found, 'eu', 'blobs')).toMatchObject({ extra: 1, samples: { extra: ['k=0x00ff'] } });
  expect(comparisonOf(found, 'eu', 'events')).toMatchObject({
    extra: 2,
    samples: { extra: expect.arrayContaining(['at=2024-02-29 23:59:59.123, amount=10.50, dur=-01:30:00, seen=2024-01-01 00:00:00.500000']) },
  });
  const repaired = await verifyOnce(config, { repair: true });
  expect(resultOf(repaired, 'eu', 'blobs')).toMatchObject({ state: 'repaired', repair: { deleted: 1 } });
  expect(resultOf(repaired, 'eu', 'events')).toMatchObject({ state: 'repaired', repair: { deleted: 2 } });
  expect(await s.pgRows("SELECT count(*)::int AS n FROM events WHERE _source = 'eu'")).toEqual([{ n: 0 }]);
  expect(await s.pgRows("SELECT count(*)::int AS n FROM events WHERE _source = 'us'")).toEqual([{ n: 2 }]);
});

test('rename, column subset, row filter and a rejected row: compared as the sync stores them', async () => {
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, "CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(50), secret VARCHAR(10), born DATETIME NULL, kind ENUM('real','test') NOT NULL)");
  }
  const config = s.config([{ name: 'users', target: 'people', columns: { exclude: ['secret'] }, rename: { email: 'contact', id: 'user_id' }, where: "kind = 'real'" }]);
  await installTriggers(config);
  await s.mysqlExec(
    'eu',
    "SET SESSION sql_mode = ''; INSERT INTO users VALUES (1,'a@x','s','2000-01-01','real'), (2,'b@x','s',NULL,'test'), (3,'c@x','s','0000-00-00','real'), (4,'d@x','s',NULL,'real'); SET SESSION sql_mode = DEFAULT",
  );
  expect((await syncOnce(config)).failed).toBe(0);
  const results = await verifyOnce(config);
  // A rejected row is never "equal": its own state, with the key, and whether a last good version is kept.
  expect(resultOf(results, 'eu', 'users')).toMatchObject({
    state: 'rejected',
    comparison: { sourceRows: 3, targetRows: 2, missing: 0, extra: 0, different: 0, rejected: 1, rejectedWithoutVersion: 1, samples: { rejected: ['id=3 (no version in target)'] } },
  });
  expect(resultOf(results, 'us', 'users').state).toBe('equal');

  // Outside the filter but present in the target: extra.
  await s.pgRows("INSERT INTO people (_source, user_id, contact, kind) VALUES ('eu', 2, 'b@x', 'test')");
  await s.pgRows("UPDATE people SET contact = 'edited' WHERE user_id = 4");
  const found = await verifyOnce(config);
  expect(comparisonOf(found, 'eu', 'users')).toMatchObject({ extra: 1, different: 1, samples: { extra: ['id=2'], different: ['id=4'] } });
});

test('a table whose snapshot has not run is reported as not synced yet', async () => {
  const config = await syncedOrders(3);
  await s.mysqlExec('eu', 'CREATE TABLE later (id INT PRIMARY KEY)');
  await s.mysqlExec('us', 'CREATE TABLE later (id INT PRIMARY KEY)');
  await s.mysqlExec('eu', 'INSERT INTO later VALUES (1), (2)');
  const wider = s.config(['orders', 'later']);
  const results = await verifyOnce(wider, { table: 'later' });
  expect(results.map((r) => [r.sourceId, r.table, r.state, r.comparison])).toEqual([
    ['eu', 'later', 'not-synced', null],
    ['us', 'later', 'not-synced', null],
  ]);
  expect((await verifyOnce(config, { sourceId: 'us' })).map((r) => [r.sourceId, r.state])).toEqual([['us', 'equal']]);
  await expect(verifyOnce(config, { table: 'nosuch' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
});

test('CLI: exit 0 when equal, 5 on differences, --repair then 0, --json', async () => {
  const config = await syncedOrders(4);
  const path = s.configFile('orders');
  const equal = await runCli(['--config', path, '--log-level', 'error', 'verify']);
  expect(equal.code).toBe(0);
  expect(equal.stdout).toMatch(/source\s+table\s+state\s+source rows\s+target rows\s+missing\s+extra\s+different/);
  expect(equal.stdout).toMatch(/eu\s+orders\s+equal\s+4\s+4\s+0\s+0\s+0/);

  await s.pgRows("DELETE FROM orders WHERE _source = 'us' AND id = 3");
  await s.pgRows("UPDATE orders SET customer = 'x' WHERE _source = 'us' AND id = 1");
  const different = await runCli(['--config', path, '--log-level', 'error', 'verify']);
  expect(different.code).toBe(5);
  expect(different.stdout).toMatch(/us\s+orders\s+DIFFERENT\s+4\s+3\s+1\s+0\s+1\s+-\s+missing: id=3 \| different: id=1/);

  const json = await runCli(['--config', path, '--log-level', 'error', 'verify', '--source', 'us', '--json']);
  expect(json.code).toBe(5);
  expect(JSON.parse(json.stdout)).toMatchObject([{ sourceId: 'us', table: 'orders', state: 'different', comparison: { missing: 1, different: 1 } }]);

  const repair = await runCli(['--config', path, '--log-level', 'error', 'verify', '--repair']);
  expect(repair.code).toBe(0);
  expect(repair.stdout).toMatch(/us\s+orders\s+repaired\s+4\s+4\s+1->0\s+0->0\s+1->0\s+\+1 ~1 -0/);
  expect((await runCli(['--config', path, '--log-level', 'error', 'verify'])).code).toBe(0);

  const unknown = await runCli(['--config', path, 'verify', '--source', 'nope']);
  expect(unknown.code).toBe(2);
  expect(config.sources.length).toBe(2);
});

test('sources sharing one key space: a key another source keeps is no difference; a freed key is missing until repaired', async () => {
  for (const id of s.sourceIds) await s.mysqlExec(id, 'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), updated_at DATETIME(3) NOT NULL)');
  const config = s.config([{ name: 'items', keyIncludesSource: false }], 'concurrency: 1');
  await installTriggers(config);
  await s.mysqlExec('eu', "INSERT INTO items VALUES (1, 'from eu', NOW(3)), (2, 'only eu', NOW(3))");
  await s.mysqlExec('us', "INSERT INTO items VALUES (3, 'only us', NOW(3))");
  await syncOnce(config);
  await s.mysqlExec('us', "INSERT INTO items VALUES (1, 'from us', NOW(3))");
  await syncOnce(config);
  // us's copy of key 1 was refused (conflict: error, recorded in tributary.rejects): not a difference.
  expect((await verifyOnce(config)).map((r) => `${r.sourceId}:${r.state}`)).toEqual(['eu:equal', 'us:equal']);

  // The owner deletes key 1: us's row is not brought in by the sync, verify finds it missing.
  await s.mysqlExec('eu', 'DELETE FROM items WHERE id = 1');
  await syncOnce(config);
  const found = await verifyOnce(config);
  expect(resultOf(found, 'eu', 'items').state).toBe('equal');
  expect(comparisonOf(found, 'us', 'items')).toMatchObject({ sourceRows: 2, targetRows: 1, missing: 1, samples: { missing: ['id=1'] } });
  const repaired = await verifyOnce(config, { repair: true });
  expect(resultOf(repaired, 'us', 'items')).toMatchObject({ state: 'repaired', repair: { inserted: 1 } });
  expect(await s.pgRows('SELECT id, _source, name FROM items ORDER BY id')).toEqual([
    { id: 1, _source: 'us', name: 'from us' },
    { id: 2, _source: 'eu', name: 'only eu' },
    { id: 3, _source: 'us', name: 'only us' },
  ]);
});

test('sources sharing one key space with conflict priority: a key the lower-priority source holds is different for the winner', async () => {
  for (const id of s.sourceIds) await s.mysqlExec(id, 'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))');
  const config = s.config([{ name: 'items', keyIncludesSource: false, conflict: 'priority', priority: ['us', 'eu'] }], 'concurrency: 1');
  await installTriggers(config);
  await s.mysqlExec('eu', "INSERT INTO items VALUES (1, 'eu'), (2, 'eu two')");
  await s.mysqlExec('us', "INSERT INTO items VALUES (1, 'us wins')");
  await syncOnce(config);
  expect(await s.pgRows('SELECT id, _source FROM items ORDER BY id')).toEqual([{ id: 1, _source: 'us' }, { id: 2, _source: 'eu' }]);
  expect((await verifyOnce(config)).map((r) => `${r.sourceId}:${r.state}`)).toEqual(['eu:equal', 'us:equal']);

  // By hand, the loser's row replaces the winner's: wrong for us, no difference for eu.
  await s.pgRows("UPDATE items SET _source = 'eu', name = 'eu' WHERE id = 1");
  const found = await verifyOnce(config);
  expect(resultOf(found, 'eu', 'items').state).toBe('equal');
  expect(comparisonOf(found, 'us', 'items')).toMatchObject({ different: 1, samples: { different: ['id=1'] } });
  await verifyOnce(config, { repair: true });
  expect(await s.pgRows('SELECT id, _source, name FROM items ORDER BY id')).toEqual([
    { id: 1, _source: 'us', name: 'us wins' },
    { id: 2, _source: 'eu', name: 'eu two' },
  ]);
});

test('a column widened for another source compares as the merge stores it', async () => {
  await s.mysqlExec('eu', 'CREATE TABLE prices (id INT PRIMARY KEY, label VARCHAR(10), amount DECIMAL(10,2), qty SMALLINT)');
  await s.mysqlExec('us', 'CREATE TABLE prices (id BIGINT PRIMARY KEY, label VARCHAR(40), amount DECIMAL(14,4), qty INT)');
  await s.mysqlExec('eu', "INSERT INTO prices VALUES (1, 'short', 1.50, 7), (2, NULL, NULL, NULL)");
  await s.mysqlExec('us', "INSERT INTO prices VALUES (1, 'a longer label here', 2.1234, 100000)");
  const config = s.config('prices');
  await installTriggers(config);
  expect((await syncOnce(config)).failed).toBe(0);
  expect(await s.pgRows("SELECT amount::text AS amount FROM prices WHERE _source = 'eu' AND id = 1")).toEqual([{ amount: '1.5000' }]);
  // Rows arriving by the change path too (staged in eu's types, cast by the merge).
  await s.mysqlExec('eu', "INSERT INTO prices VALUES (3, 'change', 3.25, 3)");
  expect((await syncOnce(config)).failed).toBe(0);
  const widened = await verifyOnce(config, { chunkSize: 1 });
  expect(widened.map((r) => `${r.sourceId}:${r.state}`)).toEqual(['eu:equal', 'us:equal']);
  await s.pgRows("UPDATE prices SET amount = 1.5001 WHERE _source = 'eu' AND id = 1");
  expect(comparisonOf(await verifyOnce(config), 'eu', 'prices')).toMatchObject({ different: 1, samples: { different: ['id=1'] } });
});

test('verify --repair while writers and sync passes run: nothing stale is written, and all ends equal', async () => {
  const config = await syncedOrders(200);
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      const id = 1 + ((i * 37) % 230);
      await s.mysqlExec('eu', `INSERT INTO orders VALUES (${id}, 'w${i}', ${i}, NULL, NULL) ON DUPLICATE KEY UPDATE customer = 'w${i}', total = ${i}`);
      if (i % 7 === 0) await s.mysqlExec('eu', `DELETE FROM orders WHERE id = ${1 + ((i * 13) % 230)}`);
    }
  })();
  const syncing = (async () => {
    while (writing) await syncOnce(config);
  })();
  // Drift the writers cannot cause, to be repaired meanwhile.
  await s.pgRows("DELETE FROM orders WHERE _source = 'us' AND id BETWEEN 10 AND 19");
  await s.pgRows("UPDATE orders SET note = 'drift' WHERE _source = 'us' AND id BETWEEN 100 AND 104");
  const during = await verifyOnce(config, { chunkSize: 7, repair: true });
  writing = false;
  await Promise.all([writer, syncing]);
  expect(during.every((r) => r.state !== 'failed')).toBe(true);
  expect(resultOf(during, 'us', 'orders')).toMatchObject({ state: 'repaired', repair: { found: { missing: 10, different: 5, extra: 0 } } });

  expect((await syncOnce(config)).failed).toBe(0);
  const { source, target } = await compareTable(s, 'orders', COLUMNS);
  expect(target).toEqual(source);
  expect((await verifyOnce(config, { chunkSize: 7 })).map((r) => r.state)).toEqual(['equal', 'equal']);
});
