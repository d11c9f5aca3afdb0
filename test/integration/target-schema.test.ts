/**
 * Target tables fit to query: the source's indexes rebuilt on the target (and following the source),
 * NOT NULL where every source guarantees it, and comments. Against real MariaDB and PostgreSQL.
 */
import { silentLogger } from '../../src/log';
import { runPass } from '../../src/pipeline/pass';
import { closeRuntime, openRuntime, prepareRuntime } from '../../src/pipeline/runtime';
import { compareTable, createScratch, installTriggers, type Scratch, syncOnce, unitOf } from '../helpers/scratch';

let s: Scratch;
afterEach(async () => {
  await s?.cleanup();
});

const LONG_NAME = 'a_very_long_index_name_that_goes_on_and_on_for_sixty_four_chars';

const ITEMS = `CREATE TABLE items (
  id INT PRIMARY KEY,
  sku VARCHAR(20) NOT NULL COMMENT 'Stock keeping unit',
  name VARCHAR(100) NOT NULL,
  title VARCHAR(200),
  body TEXT,
  blob_col BLOB,
  created DATETIME NOT NULL,
  note VARCHAR(30) NULL,
  secret VARCHAR(10),
  UNIQUE KEY uq_sku (sku),
  KEY idx_name_created (name, created),
  KEY idx_title_prefix (title(10)),
  KEY idx_body_prefix (body(50)),
  KEY idx_blob_prefix (blob_col(8)),
  FULLTEXT KEY ft_text (title, body),
  KEY idx_secret (secret),
  KEY \`${LONG_NAME}\` (created, note)
) COMMENT 'Items for sale'`;

/** Tributary's indexes on a target table, by the source index they copy: definition from pg_indexes. */
async function copiedIndexes(table: string): Promise<Map<string, { name: string; def: string }>> {
  const rows = await s.pgRows(
    `SELECT i.indexname AS name, i.indexdef AS def, obj_description(format('%I.%I', i.schemaname, i.indexname)::regclass, 'pg_class') AS comment
       FROM pg_indexes i WHERE i.tablename = $1`,
    [table],
  );
  const result = new Map<string, { name: string; def: string }>();
  for (const row of rows) {
    const match = /^tributary: copy of source index (.+?): /.exec(String(row.comment ?? ''));
    if (match) result.set(match[1]!, { name: String(row.name), def: String(row.def) });
  }
  return result;
}

async function sourceIndexNames(sourceId: string, table: string): Promise<string[]> {
  const rows = await s.mysqlRows(sourceId, "SELECT DISTINCT INDEX_NAME AS n FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME <> 'PRIMARY'", [table]);
  return rows.map((r) => String(r.n)).sort();
}

async function notNullColumns(table: string): Promise<string[]> {
  const rows = await s.pgRows(
    "SELECT a.attname AS n FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull ORDER BY a.attname",
    [table],
  );
  return rows.map((r) => String(r.n));
}

test('a zoo of source indexes becomes the union of their PostgreSQL counterparts, one per definition', async () => {
  s = await createScratch(['a', 'b']);
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, ITEMS);
    await s.mysqlExec(id, 'CREATE TABLE others (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, created DATETIME NOT NULL, KEY idx_name_created (name, created))');
    await s.mysqlExec(id, "INSERT INTO items (id, sku, name, created, body) VALUES (1, CONCAT('sku-', DATABASE()), 'one', '2024-01-01 00:00:00', REPEAT('x', 5000))");
  }
  // The sources differ: b has an index a lacks; a unique index that only a has is no constraint in b.
  await s.mysqlExec('b', 'ALTER TABLE items ADD KEY idx_only_b (note, title)');
  await s.mysqlExec('a', 'ALTER TABLE items ADD UNIQUE KEY uq_note (note)');
  await s.mysqlExec('b', 'ALTER TABLE items ADD KEY uq_note (note)');
  const config = s.config([{ name: 'items', columns: { exclude: ['secret'] } }, 'others']);
  await installTriggers(config);
  const result = await syncOnce(config);
  expect(result.failed).toBe(0);

  const copied = await copiedIndexes('items');
  const def = (index: string): string => copied.get(index)?.def ?? `(no copy of ${index})`;
  expect(def('uq_sku')).toMatch(/^CREATE UNIQUE INDEX .* USING btree \(_source, sku\)$/);
  expect(def('idx_name_created')).toMatch(/USING btree \(name, created\)$/);
  // A prefix of a short column: the whole column (never stricter, serves the same lookups).
  expect(def('idx_title_prefix')).toMatch(/USING btree \(title\)$/);
  // A prefix of a column btree cannot hold in full: the prefix itself.
  expect(def('idx_body_prefix')).toMatch(/USING btree \("left"\(body, 50\)\)$/);
  expect(def('idx_blob_prefix')).toMatch(/USING btree \(SUBSTRING\(blob_col FROM 1 FOR 8\)\)$/);
  expect(def('ft_text')).toMatch(/USING gin \(to_tsvector\('simple'::regconfig,.*title.*body/);
  expect(def(LONG_NAME)).toMatch(/USING btree \(created, note\)$/);
  expect(def('idx_only_b')).toMatch(/USING btree \(note, title\)$/);
  // Unique in a, plain in b: plain (a unique index would refuse b's duplicates).
  expect(def('uq_note')).toMatch(/^CREATE INDEX .* USING btree \(note\)$/);
  // Every source index has its copy, except the one on a column that is not synced.
  const expected = [...new Set([...(await sourceIndexNames('a', 'items')), ...(await sourceIndexNames('b', 'items'))])].filter((n) => n !== 'idx_secret').sort();
  expect([...copied.keys()].sort()).toEqual(expected);

  // Same source index name on two tables: two indexes, names within 63 bytes and all distinct.
  const others = await copiedIndexes('others');
  expect(others.get('idx_name_created')?.def).toMatch(/ON public\.others USING btree \(name, created\)$/);
  const names = [...copied.values(), ...others.values()].map((i) => i.name);
  expect(new Set(names).size).toBe(names.length);
  for (const name of names) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
  expect(copied.get(LONG_NAME)!.name).toMatch(/^items_a_very_long.*_[0-9a-f]{8}$/);

  // Comments came along; the index markers are comments of their own.
  const [comment] = await s.pgRows("SELECT obj_description('items'::regclass, 'pg_class') AS t, col_description('items'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'sku')) AS c");
  expect(comment).toEqual({ t: 'Items for sale', c: 'Stock keeping unit' });
  // The rows arrived (the indexes did not get in the way).
  const { source, target } = await compareTable(s, 'items', ['id', 'sku', 'name', 'body']);
  expect(target).toEqual(source);
});

test('indexes follow the source on the schema-evolution path; a user index on the target survives', async () => {
  s = await createScratch(['a']);
  await s.mysqlExec('a', 'CREATE TABLE orders (id INT PRIMARY KEY, customer INT NOT NULL, placed DATE NOT NULL, status VARCHAR(10), KEY idx_customer (customer), KEY idx_placed (placed))');
  await s.mysqlExec('a', "INSERT INTO orders VALUES (1, 10, '2024-01-01', 'new'), (2, 11, '2024-01-02', 'new')");
  const config = s.config('orders');
  await installTriggers(config);
  const runtime = openRuntime(config, silentLogger());
  try {
    await prepareRuntime(runtime);
    expect((await runPass(runtime)).failed).toBe(0);
    expect([...(await copiedIndexes('orders')).keys()].sort()).toEqual(['idx_customer', 'idx_placed']);
    await s.pgRows('CREATE INDEX my_own_status_idx ON orders (status)');

    // The same process notices the new shape on its next pass and evolves the target.
    await s.mysqlExec('a', 'ALTER TABLE orders DROP INDEX idx_placed, ADD INDEX idx_status_placed (status, placed)');
    await s.mysqlExec('a', "INSERT INTO orders VALUES (3, 12, '2024-01-03', 'paid')");
    expect((await runPass(runtime)).failed).toBe(0);
    const copied = await copiedIndexes('orders');
    expect([...copied.keys()].sort()).toEqual(['idx_customer', 'idx_status_placed']);
    expect(copied.get('idx_status_placed')!.def).toMatch(/USING btree \(status, placed\)$/);
    const all = (await s.pgRows("SELECT indexname AS n FROM pg_indexes WHERE tablename = 'orders'")).map((r) => r.n);
    expect(all).toContain('my_own_status_idx');
    expect(await s.pgRows('SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 3 }]);
  } finally {
    await closeRuntime(runtime);
  }

  // indexes: none removes Tributary's indexes, still not the user's.
  await syncOnce(s.config([{ name: 'orders', indexes: 'none' }]));
  expect((await copiedIndexes('orders')).size).toBe(0);
  expect((await s.pgRows("SELECT indexname AS n FROM pg_indexes WHERE tablename = 'orders'")).map((r) => r.n).sort()).toEqual(['my_own_status_idx', 'orders_pkey']);
});

test('an invalid index left by a crashed build is dropped and built again', async () => {
  s = await createScratch(['a']);
  await s.mysqlExec('a', 'CREATE TABLE tags (id INT PRIMARY KEY, label VARCHAR(20) NOT NULL, KEY idx_label (label))');
  await s.mysqlExec('a', "INSERT INTO tags VALUES (1, 'x'), (2, 'x'), (3, 'y')");
  const config = s.config('tags');
  await installTriggers(config);
  await syncOnce(config);
  const { name } = (await copiedIndexes('tags')).get('idx_label')!;
  // What a crash during CREATE INDEX CONCURRENTLY leaves: an invalid index under the same name.
  await s.pgRows(`DROP INDEX "${name}"`);
  await expect(s.pgRows(`CREATE UNIQUE INDEX CONCURRENTLY "${name}" ON tags (label)`)).rejects.toThrow(/could not create unique index/);
  expect(await s.pgRows('SELECT i.indisvalid AS valid FROM pg_index i WHERE i.indexrelid = $1::regclass', [name])).toEqual([{ valid: false }]);

  await syncOnce(config);
  const rows = await s.pgRows('SELECT i.indisvalid AS valid, i.indisunique AS unique, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i WHERE i.indexrelid = $1::regclass', [name]);
  expect(rows).toEqual([{ valid: true, unique: false, def: expect.stringMatching(/USING btree \(label\)$/) }]);
});

test('a lookup by an indexed column on a 100k-row target uses the copied index', async () => {
  s = await createScratch(['a']);
  await s.mysqlExec('a', 'CREATE TABLE payments (id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(8,2) NOT NULL, KEY idx_customer (customer_id))');
  await s.mysqlExec('a', 'CREATE TABLE digits (d INT); INSERT INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)');
  await s.mysqlExec(
    'a',
    `INSERT INTO payments SELECT n, n % 5000, n / 100 FROM
       (SELECT 1 + a.d + b.d * 10 + c.d * 100 + e.d * 1000 + f.d * 10000 AS n FROM digits a, digits b, digits c, digits e, digits f) AS numbers`,
  );
  const config = s.config('payments');
  await installTriggers(config);
  const result = await syncOnce(config);
  expect(unitOf(result, 'a', 'payments').snapshotRows).toBe(100_000);
  const { name } = (await copiedIndexes('payments')).get('idx_customer')!;
  await s.pgRows('ANALYZE payments');
  const plan = (await s.pgRows('EXPLAIN SELECT * FROM payments WHERE customer_id = 42')).map((r) => String(r['QUERY PLAN'])).join('\n');
  expect(plan).toMatch(new RegExp(`Index Scan using ${name}|Bitmap Index Scan on ${name}`));
});

test('NOT NULL appears where every source guarantees it and goes when that stops', async () => {
  s = await createScratch(['a', 'b']);
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, 'CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, email VARCHAR(80) NOT NULL, nick VARCHAR(20) NULL)');
    await s.mysqlExec(id, "INSERT INTO people VALUES (1, 'Ann', 'ann@x', NULL)");
  }
  await s.mysqlExec('a', "ALTER TABLE people ADD COLUMN city VARCHAR(20) NOT NULL DEFAULT 'Oslo'");
  const config = s.config('people');
  await installTriggers(config);
  expect((await syncOnce(config)).failed).toBe(0);
  // city is NOT NULL in a but missing in b; nick is nullable.
  expect(await notNullColumns('people')).toEqual(['_source', 'email', 'id', 'name']);

  // A source relaxes a column: the target follows on the next prepare, and takes its NULLs.
  await s.mysqlExec('b', 'ALTER TABLE people MODIFY email VARCHAR(80) NULL');
  await s.mysqlExec('b', "INSERT INTO people VALUES (2, 'Bob', NULL, NULL)");
  expect((await syncOnce(config)).failed).toBe(0);
  expect(await notNullColumns('people')).toEqual(['_source', 'id', 'name']);
  expect(await s.pgRows("SELECT email FROM people WHERE _source = 'b' AND id = 2")).toEqual([{ email: null }]);

  // Back to NOT NULL in the source; the target still holds the NULL until the pass after the prepare:
  // the constraint is skipped (not a failure), then added on the next prepare.
  await s.mysqlExec('b', "UPDATE people SET email = 'bob@x' WHERE id = 2");
  await s.mysqlExec('b', 'ALTER TABLE people MODIFY email VARCHAR(80) NOT NULL');
  expect((await syncOnce(config)).failed).toBe(0);
  expect(await notNullColumns('people')).toEqual(['_source', 'id', 'name']);
  expect((await syncOnce(config)).failed).toBe(0);
  expect(await notNullColumns('people')).toEqual(['_source', 'email', 'id', 'name']);

  // onBadValue: null can store NULL where a value does not fit: no NOT NULL then.
  expect((await syncOnce(s.config([{ name: 'people', onBadValue: 'null' }]))).failed).toBe(0);
  expect(await notNullColumns('people')).toEqual(['_source', 'id']);
});

test('a unique index across sources sharing one key space: a colliding row is a conflict, kept out and recorded', async () => {
  s = await createScratch(['a', 'b']);
  for (const id of s.sourceIds) await s.mysqlExec(id, 'CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(80) NOT NULL, UNIQUE KEY uq_email (email))');
  await s.mysqlExec('a', "INSERT INTO users VALUES (1, 'one@x'), (2, 'two@x')");
  const config = s.config([{ name: 'users', keyIncludesSource: false }]);
  await installTriggers(config);
  expect((await syncOnce(config)).failed).toBe(0);
  expect((await copiedIndexes('users')).get('uq_email')?.def).toMatch(/^CREATE UNIQUE INDEX .* USING btree \(email\)$/);

  await s.mysqlExec('b', "INSERT INTO users VALUES (3, 'one@x'), (4, 'four@x')");
  const result = await syncOnce(config);
  expect(result.failed).toBe(0);
  expect(unitOf(result, 'b', 'users').rejects).toBe(1);
  expect(await s.pgRows('SELECT _source, id, email FROM users ORDER BY id')).toEqual([
    { _source: 'a', id: 1, email: 'one@x' },
    { _source: 'a', id: 2, email: 'two@x' },
    { _source: 'b', id: 4, email: 'four@x' },
  ]);
  const rejects = await s.pgRows("SELECT reason FROM tributary.rejects WHERE source_id = 'b'");
  expect(rejects.map((r) => r.reason)).toEqual([expect.stringMatching(/source a already holds this row's value of unique index uq_email/)]);
});

test('unique values swapped between rows arrive in batches of one without failing the sync', async () => {
  s = await createScratch(['a']);
  await s.mysqlExec('a', 'CREATE TABLE seats (id INT PRIMARY KEY, holder VARCHAR(10) NOT NULL, UNIQUE KEY uq_holder (holder))');
  await s.mysqlExec('a', "INSERT INTO seats VALUES (1, 'x'), (2, 'y'), (3, 'z')");
  const config = s.config('seats', 'batchSize: 1');
  await installTriggers(config);
  await syncOnce(config);
  expect((await copiedIndexes('seats')).get('uq_holder')?.def).toMatch(/UNIQUE INDEX .* \(_source, holder\)$/);
  await s.mysqlExec('a', "START TRANSACTION; UPDATE seats SET holder = 'tmp' WHERE id = 1; UPDATE seats SET holder = 'x' WHERE id = 2; UPDATE seats SET holder = 'y' WHERE id = 1; COMMIT");
  await s.mysqlExec('a', "UPDATE seats SET holder = 'w' WHERE id = 3");
  const result = await syncOnce(config);
  expect(result.failed).toBe(0);
  const { source, target } = await compareTable(s, 'seats', ['id', 'holder']);
  expect(target).toEqual(source);
});

test('comments are kept current on prepare', async () => {
  s = await createScratch(['a']);
  await s.mysqlExec('a', "CREATE TABLE notes (id INT PRIMARY KEY COMMENT 'Note id', body TEXT COMMENT 'What it says', KEY idx_body (body(20))) COMMENT 'Notes'");
  const config = s.config('notes');
  await installTriggers(config);
  await syncOnce(config);
  const read = () => s.pgRows("SELECT obj_description('notes'::regclass, 'pg_class') AS t, col_description('notes'::regclass, 2) AS id, col_description('notes'::regclass, 3) AS body");
  expect(await read()).toEqual([{ t: 'Notes', id: 'Note id', body: 'What it says' }]);
  await s.mysqlExec('a', "ALTER TABLE notes COMMENT 'Short notes', MODIFY body TEXT COMMENT 'Its text'");
  await syncOnce(config);
  expect(await read()).toEqual([{ t: 'Short notes', id: 'Note id', body: 'Its text' }]);
  expect((await copiedIndexes('notes')).has('idx_body')).toBe(true);
});
