/**
 * Stored source shapes (tributary.source_shapes): a start reuses them only while the capture check's
 * digest is unchanged, and every change introspection would see changes the digest: a column, a
 * column comment, an index, a check constraint (MariaDB's JSON), so the next start reads the source again.
 */
import { silentLogger } from '../../src/log';
import { readCaptureState } from '../../src/mysql/capture';
import { closeRuntime, openRuntime } from '../../src/pipeline/runtime';
import { shapeDigest } from '../../src/pipeline/shape-cache';
import { createScratch, installTriggers, type Scratch, syncOnce, unitOf } from '../helpers/scratch';

let s: Scratch;
beforeAll(async () => {
  s = await createScratch(['a']);
  await s.mysqlExec('a', 'CREATE TABLE docs (id INT PRIMARY KEY, body LONGTEXT, n INT)');
  await s.mysqlExec('a', `INSERT INTO docs VALUES (1, '{"x": 1}', 1), (2, '[]', 2)`);
});
afterAll(async () => {
  await s.cleanup();
});

interface StoredColumn {
  name: string;
  isJson: boolean;
  comment?: string;
}
interface StoredTable {
  name: string;
  columns: StoredColumn[];
  indexes?: { name: string }[];
}

async function stored(): Promise<{ digest: string; docs: StoredTable }> {
  const rows = await s.pgRows("SELECT digest, tables FROM tributary.source_shapes WHERE source_id = 'a'");
  expect(rows).toHaveLength(1);
  const tables = rows[0]!.tables as StoredTable[];
  return { digest: String(rows[0]!.digest), docs: tables.find((t) => t.name === 'docs')! };
}

async function syncedOk(): Promise<void> {
  const result = await syncOnce(s.config('docs'));
  expect(unitOf(result, 'a', 'docs').status).toBe('ok');
}

test('each change introspection would see gives a new digest and new stored shapes; an unchanged source keeps them', async () => {
  await installTriggers(s.config('docs'));
  await syncedOk();
  const first = await stored();
  expect(first.docs.columns.map((c) => c.name)).toEqual(['id', 'body', 'n']);

  await syncedOk();
  expect((await stored()).digest).toBe(first.digest);

  const steps: [string, (docs: StoredTable) => void][] = [
    ['ALTER TABLE docs ADD COLUMN extra INT', (docs) => expect(docs.columns.map((c) => c.name)).toContain('extra')],
    ["ALTER TABLE docs MODIFY n INT COMMENT 'a count'", (docs) => expect(docs.columns.find((c) => c.name === 'n')!.comment).toBe('a count')],
    ['CREATE INDEX docs_n ON docs (n)', (docs) => expect((docs.indexes ?? []).map((i) => i.name)).toContain('docs_n')],
  ];
  let digest = first.digest;
  for (const [ddl, check] of steps) {
    await s.mysqlExec('a', ddl);
    await syncedOk();
    const now = await stored();
    expect({ ddl, changed: now.digest !== digest }).toEqual({ ddl, changed: true });
    check(now.docs);
    digest = now.digest;
  }

  // A JSON_VALID check makes MariaDB's LONGTEXT a JSON column (a target column of type text then stops
  // the table, as on any start): the digest alone is checked here.
  await s.mysqlExec('a', 'ALTER TABLE docs ADD CONSTRAINT body_json CHECK (JSON_VALID(body))');
  const runtime = openRuntime(s.config('docs'), silentLogger());
  try {
    const state = await readCaptureState(runtime.sources.get('a')!, runtime.config.tables);
    expect(shapeDigest(state)).not.toBe(digest);
  } finally {
    await closeRuntime(runtime);
  }
}, 120_000);
