/** Per-table settings and keys: what a user configures is what arrives. */
import { compareTable, createScratch, installTriggers, type Scratch, syncOnce, unitOf } from '../helpers/scratch';

let s: Scratch;
beforeEach(async () => {
  s = await createScratch(['a', 'b']);
});
afterEach(async () => {
  await s.cleanup();
});

test('a table without a primary key is keyed by its unique index on NOT NULL columns', async () => {
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, 'CREATE TABLE tags (code VARCHAR(10) NOT NULL, label VARCHAR(20), UNIQUE KEY by_code (code), UNIQUE KEY by_label (label))');
  }
  const config = s.config('tags');
  await installTriggers(config);
  await s.mysqlExec('a', "INSERT INTO tags VALUES ('x', 'X'), ('y', 'Y')");
  await syncOnce(config);
  await s.mysqlExec('a', "UPDATE tags SET code = 'z' WHERE code = 'y'; DELETE FROM tags WHERE code = 'x'; INSERT INTO tags VALUES ('w', NULL)");
  expect((await syncOnce(config)).failed).toBe(0);
  const { source, target } = await compareTable(s, 'tags', ['code', 'label']);
  expect(target).toEqual(source);
  const key = await s.pgRows("SELECT string_agg(a.attname, ',' ORDER BY array_position(i.indkey::int2[], a.attnum)) AS cols FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) WHERE i.indrelid = 'tags'::regclass AND i.indisprimary");
  expect(key[0]!.cols).toBe('_source,code');
});

test('a table without any usable key needs a configured key, else start-up names the fix', async () => {
  for (const id of s.sourceIds) await s.mysqlExec(id, 'CREATE TABLE readings (sensor INT NOT NULL, at DATETIME NOT NULL, value DOUBLE)');
  const refused = await syncOnce(s.config('readings'));
  expect(refused.units.map((u) => [u.sourceId, u.status, u.errorCode])).toEqual(s.sourceIds.map((id) => [id, 'failed', 'SOURCE_TABLE_NO_KEY']));
  expect(refused.units[0]!.reason).toMatch(/readings .*key: \[column/);

  const config = s.config([{ name: 'readings', key: ['sensor', 'at'] }]);
  await installTriggers(config);
  await s.mysqlExec('b', "INSERT INTO readings VALUES (1, '2024-01-01 00:00:00', 1.5), (1, '2024-01-01 00:01:00', 2.5)");
  await syncOnce(config);
  await s.mysqlExec('b', "UPDATE readings SET value = 9 WHERE sensor = 1 AND at = '2024-01-01 00:00:00'");
  await syncOnce(config);
  const { source, target } = await compareTable(s, 'readings', ['sensor', 'at', 'value']);
  expect(target).toEqual(source);
});

test('columns, rename, target and where shape what arrives, for snapshot and changes alike', async () => {
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, "CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(50), password_hash VARCHAR(60), kind ENUM('real','test') NOT NULL DEFAULT 'real')");
  }
  const config = s.config([{ name: 'users', target: 'people', columns: { exclude: ['password_hash'] }, rename: { email: 'contact' }, where: "kind = 'real'" }]);
  await installTriggers(config);
  await s.mysqlExec('a', "INSERT INTO users VALUES (1,'a@x','h1','real'), (2,'b@x','h2','test')");
  await syncOnce(config);
  expect(await s.pgRows('SELECT _source, id, contact, kind FROM people ORDER BY id')).toEqual([{ _source: 'a', id: 1, contact: 'a@x', kind: 'real' }]);
  const columns = await s.pgRows("SELECT column_name FROM information_schema.columns WHERE table_name = 'people' ORDER BY ordinal_position");
  expect(columns.map((c) => c.column_name)).toEqual(['_source', 'id', 'contact', 'kind']);

  // A row entering the filter appears; a row leaving it is deleted from the target.
  await s.mysqlExec('a', "UPDATE users SET kind = 'real' WHERE id = 2; UPDATE users SET kind = 'test', email = 'gone@x' WHERE id = 1");
  await s.mysqlExec('a', "INSERT INTO users VALUES (3,'c@x','h3','real')");
  await syncOnce(config);
  expect(await s.pgRows('SELECT id, contact FROM people ORDER BY id')).toEqual([
    { id: 2, contact: 'b@x' },
    { id: 3, contact: 'c@x' },
  ]);
});

test('a case-insensitive, PAD SPACE key never becomes two rows: the target keeps MySQL\'s current spelling', async () => {
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, 'CREATE TABLE words (w VARCHAR(20) COLLATE utf8mb4_general_ci PRIMARY KEY, n INT)');
  }
  const config = s.config('words');
  await installTriggers(config);
  await s.mysqlExec('a', "INSERT INTO words VALUES ('apple', 1), ('Pear', 2)");
  await syncOnce(config);
  // Same key for MySQL, different spelling: an update that changes the key's bytes.
  await s.mysqlExec('a', "UPDATE words SET w = 'APPLE' WHERE w = 'apple'");
  await s.mysqlExec('a', "UPDATE words SET w = 'pear ' WHERE w = 'pear'");
  // Delete and re-insert with another spelling inside one batch.
  await s.mysqlExec('a', "INSERT INTO words VALUES ('kiwi', 3); DELETE FROM words WHERE w = 'KIWI'; INSERT INTO words VALUES ('Kiwi', 4)");
  // INSERT .. ON DUPLICATE KEY UPDATE that matches case-insensitively.
  await s.mysqlExec('a', "INSERT INTO words VALUES ('APPLE', 10) ON DUPLICATE KEY UPDATE n = VALUES(n)");
  const result = await syncOnce(config);
  expect(unitOf(result, 'a', 'words').status).toBe('ok');
  const rows = await s.pgRows("SELECT w, n FROM words WHERE _source = 'a' ORDER BY lower(w)");
  expect(rows).toEqual([
    { w: 'APPLE', n: 10 },
    { w: 'Kiwi', n: 4 },
    { w: 'pear ', n: 2 },
  ]);
  const { source, target } = await compareTable(s, 'words', ['w', 'n']);
  expect(target).toEqual(source);
});
