/**
 * Names PostgreSQL or Tributary cannot take as they are: a source column named like one of Tributary's
 * own columns, a column or a target table name over PostgreSQL's 63 bytes. Start-up refuses them with
 * exit 2, naming table and column and the setting that fixes it, before anything is installed or
 * created; with that setting the table syncs and its rows are equal.
 */
import { randomBytes } from 'node:crypto';
import { runCli } from '../helpers/cli';
import { createScratch, type Scratch } from '../helpers/scratch';

const LONG_COLUMN = 'c'.repeat(64);
const LONG_TABLE = 't'.repeat(56) + randomBytes(4).toString('hex');

let s: Scratch;
beforeAll(async () => {
  s = await createScratch(['eu']);
  await s.mysqlExec(
    'eu',
    [
      'CREATE TABLE shared_keys (id INT PRIMARY KEY, _tributary_key VARCHAR(20))',
      'CREATE TABLE has_source (id INT PRIMARY KEY, _source VARCHAR(20))',
      `CREATE TABLE long_column (id INT PRIMARY KEY, ${LONG_COLUMN} INT)`,
      `CREATE TABLE ${LONG_TABLE} (id INT PRIMARY KEY, v INT)`,
      "INSERT INTO shared_keys VALUES (1, 'k1'), (2, NULL)",
      "INSERT INTO has_source VALUES (1, 'from-app'), (2, 'other')",
      'INSERT INTO long_column VALUES (1, 10), (2, 20)',
      `INSERT INTO ${LONG_TABLE} VALUES (1, 100)`,
    ].join(';'),
  );
});
afterAll(async () => {
  await s.cleanup();
});

async function triggersIn(database: string): Promise<string[]> {
  const rows = await s.mysqlRows('eu', 'SELECT trigger_name AS name FROM information_schema.triggers WHERE trigger_schema = ?', [database]);
  return rows.map((r) => String(r.name));
}

async function targetTables(): Promise<string[]> {
  return (await s.pgRows("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")).map((r) => String(r.table_name));
}

/** MySQL rows of table (id and one column) equal PostgreSQL rows of target (id and the renamed column). */
async function expectRowsEqual(table: string, column: string, target: string, targetColumn: string): Promise<void> {
  const source = await s.mysqlRows('eu', `SELECT id, CAST(\`${column}\` AS CHAR) AS v FROM \`${table}\` ORDER BY id`);
  const synced = await s.pgRows(`SELECT id, "${targetColumn}"::text AS v FROM "${target}" ORDER BY id`);
  expect(synced.map((r) => [Number(r.id), r.v])).toEqual(source.map((r) => [Number(r.id), r.v]));
  expect(synced.length).toBeGreaterThan(0);
}

const cases = [
  {
    what: 'a column named _tributary_key on a keyIncludesSource: false table',
    table: 'shared_keys',
    refused: { name: 'shared_keys', keyIncludesSource: false },
    fixed: { name: 'shared_keys', keyIncludesSource: false, rename: { _tributary_key: 'tributary_key' } },
    column: '_tributary_key',
    targetColumn: 'tributary_key',
    target: 'shared_keys',
    expected: [/shared_keys/, /column "_tributary_key"/, /rename: \{ _tributary_key: tributary_key \}/],
  },
  {
    what: 'a column named _source',
    table: 'has_source',
    refused: 'has_source',
    fixed: { name: 'has_source', rename: { _source: 'app_source' } },
    column: '_source',
    targetColumn: 'app_source',
    target: 'has_source',
    expected: [/has_source/, /column "_source"/, /rename: \{ _source: source \}/],
  },
  {
    what: 'a 64-character column name',
    table: 'long_column',
    refused: 'long_column',
    fixed: { name: 'long_column', rename: { [LONG_COLUMN]: 'c_short' } },
    column: LONG_COLUMN,
    targetColumn: 'c_short',
    target: 'long_column',
    expected: [/long_column/, new RegExp(`column "${LONG_COLUMN}" is 64 bytes long`), /63 bytes/, new RegExp(`rename: \\{ ${LONG_COLUMN}: c+ \\}`)],
  },
  {
    what: 'a 64-character table name (the target name defaults to it)',
    table: LONG_TABLE,
    refused: LONG_TABLE,
    fixed: { name: LONG_TABLE, target: 'long_table' },
    column: 'v',
    targetColumn: 'v',
    target: 'long_table',
    expected: [new RegExp(`target table name "${LONG_TABLE}" is 64 bytes long`), /63 bytes/, /target: t+/],
  },
];

describe.each(cases)('$what', ({ table, refused, fixed, column, targetColumn, target, expected }) => {
  test('is refused at start-up with exit 2 and the setting that fixes it; nothing is installed or created', async () => {
    const config = s.configFile([refused]);
    for (const command of [['triggers', 'install'], ['sync', '--once']]) {
      const run = await runCli(['--config', config, ...command]);
      expect(run.code).toBe(2);
      // install stops with the message; sync refuses the table and reports it in its table of results.
      for (const pattern of expected) expect(run.stdout + run.stderr).toMatch(pattern);
    }
    expect(await triggersIn(s.mysqlDb.eu!)).toEqual([]);
    expect(await targetTables()).not.toContain(table);
  });

  test('with the suggested setting it syncs, and rows are equal', async () => {
    const config = s.configFile([fixed]);
    const install = await runCli(['--config', config, 'triggers', 'install']);
    expect(install.code).toBe(0);
    await s.mysqlExec('eu', `INSERT INTO \`${table}\` (id, \`${column}\`) VALUES (3, 7)`);
    await s.mysqlExec('eu', `UPDATE \`${table}\` SET \`${column}\` = 8 WHERE id = 1`);
    const sync = await runCli(['--config', config, 'sync', '--once']);
    expect(sync.code).toBe(0);
    await expectRowsEqual(table, column, target, targetColumn);
    // Changes after the snapshot arrive through the triggers as well.
    await s.mysqlExec('eu', `DELETE FROM \`${table}\` WHERE id = 2`);
    expect((await runCli(['--config', config, 'sync', '--once'])).code).toBe(0);
    await expectRowsEqual(table, column, target, targetColumn);
    await runCli(['--config', config, 'triggers', 'uninstall']);
  });
});

test('init leaves these tables out, saying which setting makes them syncable', async () => {
  // One table init can list: with none, it writes nothing (exit 2).
  await s.mysqlExec('eu', 'CREATE TABLE IF NOT EXISTS plain (id INT PRIMARY KEY)');
  const run = await runCli(['--log-format', 'pretty', 'init', '--source', `eu=mysql://root@127.0.0.1:3306/${s.mysqlDb.eu}`, '--target', `postgres://root@127.0.0.1:5432/${s.pgDb}`]);
  expect(run.code).toBe(0);
  const leftOut = (table: string): string => run.stdout.split('\n').find((line) => line.includes(`"${table}"`)) ?? '';
  expect(leftOut('shared_keys')).toMatch(/^\s*# .*left out: column "_tributary_key" .*rename: \{ _tributary_key: tributary_key \}/);
  expect(leftOut('has_source')).toMatch(/left out: column "_source" .*rename:/);
  expect(leftOut('long_column')).toMatch(/left out: column "c{64}" is 64 bytes long.*rename:/);
  expect(leftOut(LONG_TABLE)).toMatch(/left out: the target table name .* is 64 bytes long.*target:/);
  expect(run.stderr).toMatch(/table has_source: column "_source"/);
});
