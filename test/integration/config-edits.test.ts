/**
 * Settings are checked before anything is written, and an edited table setting takes effect: the
 * target is brought in line on the next pass, or, where that cannot be done in place, that table stops
 * with what to do while the others go on.
 */
import { TributaryError } from '../../src/errors';
import { silentLogger } from '../../src/log';
import { closeRuntime, openRuntime, prepareRuntime } from '../../src/pipeline/runtime';
import type { TributaryConfig } from '../../src/config';
import { runCli } from '../helpers/cli';
import { compareTable, createScratch, installTriggers, type Scratch, syncOnce, unitOf } from '../helpers/scratch';
import { resultOf, verifyOnce } from '../helpers/verify';

let s: Scratch;

beforeAll(async () => {
  s = await createScratch(['eu', 'us']);
});
afterAll(async () => {
  await s.cleanup();
});

async function prepareError(config: TributaryConfig): Promise<TributaryError> {
  const runtime = openRuntime(config, silentLogger());
  try {
    await prepareRuntime(runtime);
    // Tables are prepared one by one: a refused table is reported with its reason, not thrown.
    const refused = runtime.refused.map((r) => r.error);
    if (refused.length > 0) return new TributaryError(refused[0]!.code, refused.map((e) => e.message).join('; '));
  } catch (error) {
    return error as TributaryError;
  } finally {
    await closeRuntime(runtime);
  }
  throw new Error('prepareRuntime accepted the configuration');
}

/** A table with rows 1..n in both sources, synced. */
async function synced(table: string, columns: string, rows: string[], settings: object = {}): Promise<TributaryConfig> {
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, `CREATE TABLE ${table} (${columns})`);
    await s.mysqlExec(id, `INSERT INTO ${table} VALUES ${rows.join(', ')}`);
  }
  const config = s.config([{ name: table, ...settings }]);
  await installTriggers(config);
  expect((await syncOnce(config)).failed).toBe(0);
  return config;
}

async function expectEqual(config: TributaryConfig): Promise<void> {
  for (const result of await verifyOnce(config)) expect({ unit: `${result.sourceId}.${result.table}`, state: result.state }).toEqual({ unit: `${result.sourceId}.${result.table}`, state: 'equal' });
}

const ROWS = ["(1, 'open', 10)", "(2, 'closed', 20)", "(3, 'open', 30)", "(4, 'closed', 40)", "(5, 'open', 50)"];
const COLUMNS = 'id INT PRIMARY KEY, status VARCHAR(10), amount INT';

test('a where MySQL refuses, or that is more than one expression, stops start-up with exit 2 before anything is written', async () => {
  const config = await synced('guarded', COLUMNS, ROWS);
  await s.mysqlExec('eu', 'CREATE TABLE keepme (id INT)');
  const cases: [string, RegExp][] = [
    ['nosuchcol > 1', /table guarded, source eu: where "nosuchcol > 1" is refused by MySQL: Unknown column 'nosuchcol'/],
    ['1=1; DROP TABLE keepme', /contains ";"/],
    ["status = 'open' -- ", /comment/],
    ["status = 'open' /* x */", /comment/],
    ['1) OR (1', /closes a parenthesis/],
    ["status = 'open", /unterminated ' quote/],
  ];
  for (const [where, message] of cases) {
    const error = await prepareError(s.config([{ name: 'guarded', where }]));
    expect(error).toBeInstanceOf(TributaryError);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toMatch(message);
  }
  // Both sources are named when both refuse.
  expect((await prepareError(s.config([{ name: 'guarded', where: 'nosuchcol > 1' }]))).message).toMatch(/source eu.*source us/s);
  // A string holding ';' or '--' is fine, and so is a subquery MySQL accepts as an expression.
  for (const where of ["status <> 'a;b -- c'", 'id IN (SELECT id FROM guarded WHERE amount > 10)']) {
    expect((await syncOnce(s.config([{ name: 'guarded', where }]))).failed).toBe(0);
  }
  expect(await s.mysqlRows('eu', "SHOW TABLES LIKE 'keepme'")).toHaveLength(1);

  const cli = await runCli(['sync', '--once', '--config', s.configFile([{ name: 'guarded', where: 'nosuchcol > 1' }])]);
  expect(cli.code).toBe(2);
  expect(cli.stderr).toMatch(/guarded.*nosuchcol/);
  // Nothing was deleted on the strength of the bad setting.
  expect(await s.pgRows("SELECT count(*)::int AS n FROM guarded WHERE _source = 'eu'")).toEqual([{ n: 4 }]);
  void config;
});

test('a new target: the new table is filled by a snapshot, the old one is left as it was', async () => {
  await synced('moved', COLUMNS, ROWS);
  const edited = s.config([{ name: 'moved', target: 'moved_v2' }]);
  const result = await syncOnce(edited);
  expect(unitOf(result, 'eu', 'moved')).toMatchObject({ status: 'ok', snapshotRows: 5 });
  expect(await s.pgRows('SELECT count(*)::int AS n FROM moved_v2')).toEqual([{ n: 10 }]);
  expect(await s.pgRows('SELECT count(*)::int AS n FROM moved')).toEqual([{ n: 10 }]);
  await s.mysqlExec('eu', "INSERT INTO moved VALUES (6, 'open', 60)");
  expect((await syncOnce(edited)).failed).toBe(0);
  await expectEqual(edited);
  // Applied once: the next pass has nothing to copy again.
  expect(unitOf(await syncOnce(edited), 'eu', 'moved').snapshotRows).toBe(0);
});

test('where added: rows that no longer match are removed; where widened: rows that match again return', async () => {
  await synced('filtered', COLUMNS, ROWS);
  const narrow = s.config([{ name: 'filtered', where: "status = 'open'" }]);
  expect(unitOf(await syncOnce(narrow), 'us', 'filtered')).toMatchObject({ status: 'ok', snapshotRows: 3 });
  expect((await s.pgRows("SELECT id FROM filtered WHERE _source = 'us' ORDER BY id")).map((r) => r.id)).toEqual([1, 3, 5]);
  await expectEqual(narrow);
  const wide = s.config([{ name: 'filtered', where: 'amount >= 20' }]);
  expect((await syncOnce(wide)).failed).toBe(0);
  expect((await s.pgRows("SELECT id FROM filtered WHERE _source = 'us' ORDER BY id")).map((r) => r.id)).toEqual([2, 3, 4, 5]);
  await expectEqual(wide);
});

test('columns and rename changed: the target columns are filled for every row', async () => {
  const config = await synced('shaped', COLUMNS, ROWS, { columns: { exclude: ['amount'] } });
  expect(await s.pgRows('SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = $1 AND column_name = $2', ['shaped', 'amount'])).toEqual([{ n: 0 }]);
  const included = s.config([{ name: 'shaped' }]);
  expect((await syncOnce(included)).failed).toBe(0);
  expect((await s.pgRows('SELECT amount FROM shaped ORDER BY _source, id')).map((r) => r.amount)).toEqual([10, 20, 30, 40, 50, 10, 20, 30, 40, 50]);
  await expectEqual(included);

  const renamed = s.config([{ name: 'shaped', rename: { status: 'state' } }]);
  expect((await syncOnce(renamed)).failed).toBe(0);
  expect((await s.pgRows("SELECT state FROM shaped WHERE _source = 'eu' ORDER BY id")).map((r) => r.state)).toEqual(['open', 'closed', 'open', 'closed', 'open']);
  await expectEqual(renamed);
  void config;
});

test('onBadValue changed from reject to null: the rows kept out arrive, with the value as NULL', async () => {
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, 'CREATE TABLE dated (id INT PRIMARY KEY, happened DATETIME NULL)');
    await s.mysqlExec(id, "SET SESSION sql_mode = ''; INSERT INTO dated VALUES (1, '2024-01-01 00:00:00'), (2, '0000-00-00 00:00:00'); SET SESSION sql_mode = DEFAULT");
  }
  const rejecting = s.config([{ name: 'dated', onBadValue: 'reject' }]);
  await installTriggers(rejecting);
  expect((await syncOnce(rejecting)).failed).toBe(0);
  expect((await s.pgRows("SELECT id FROM dated WHERE _source = 'eu' ORDER BY id")).map((r) => r.id)).toEqual([1]);
  expect(resultOf(await verifyOnce(rejecting), 'eu', 'dated').state).toBe('rejected');

  const nulling = s.config([{ name: 'dated', onBadValue: 'null' }]);
  expect((await syncOnce(nulling)).failed).toBe(0);
  expect(await s.pgRows("SELECT id, happened::text FROM dated WHERE _source = 'eu' ORDER BY id")).toEqual([
    { id: 1, happened: '2024-01-01 00:00:00' },
    { id: 2, happened: null },
  ]);
  expect(await s.pgRows("SELECT action FROM tributary.rejects WHERE source_table = 'dated' AND source_id = 'eu'")).toEqual([{ action: 'nulled' }]);
  await expectEqual(nulling);
});

test('conflict policy changed: rows held against the new policy are taken over', async () => {
  for (const id of s.sourceIds) await s.mysqlExec(id, 'CREATE TABLE shared (id INT PRIMARY KEY, who VARCHAR(10))');
  await s.mysqlExec('eu', "INSERT INTO shared VALUES (1, 'eu'), (2, 'eu')");
  await s.mysqlExec('us', "INSERT INTO shared VALUES (2, 'us'), (3, 'us')");
  const first = s.config([{ name: 'shared', keyIncludesSource: false, conflict: 'priority', priority: ['eu', 'us'] }]);
  await installTriggers(first);
  expect((await syncOnce(first)).failed).toBe(0);
  expect(await s.pgRows('SELECT id, who FROM shared ORDER BY id')).toEqual([
    { id: 1, who: 'eu' },
    { id: 2, who: 'eu' },
    { id: 3, who: 'us' },
  ]);
  const swapped = s.config([{ name: 'shared', keyIncludesSource: false, conflict: 'priority', priority: ['us', 'eu'] }]);
  expect((await syncOnce(swapped)).failed).toBe(0);
  expect(await s.pgRows('SELECT id, who, _source FROM shared ORDER BY id')).toEqual([
    { id: 1, who: 'eu', _source: 'eu' },
    { id: 2, who: 'us', _source: 'us' },
    { id: 3, who: 'us', _source: 'us' },
  ]);
});

test('key or keyIncludesSource changed on a synced table: that table stops with what to do, the others go on; a new table is then filled', async () => {
  for (const id of s.sourceIds) await s.mysqlExec(id, 'CREATE TABLE keyed (id INT NOT NULL, code VARCHAR(10) NOT NULL, n INT, PRIMARY KEY (id), UNIQUE KEY (code))');
  for (const id of s.sourceIds) await s.mysqlExec(id, "INSERT INTO keyed VALUES (1, 'a', 1), (2, 'b', 2)");
  await synced('bystander', COLUMNS, ROWS);
  const before = s.config(['keyed', 'bystander']);
  await installTriggers(before);
  expect((await syncOnce(before)).failed).toBe(0);

  for (const edited of [s.config([{ name: 'keyed', key: ['code'] }, 'bystander']), s.config([{ name: 'keyed', keyIncludesSource: false }, 'bystander'])]) {
    await s.mysqlExec('eu', "INSERT INTO bystander VALUES (100 + (SELECT COUNT(*) FROM keyed), 'new', 1) ON DUPLICATE KEY UPDATE amount = amount + 1");
    const result = await syncOnce(edited);
    const stopped = unitOf(result, 'eu', 'keyed');
    expect(stopped).toMatchObject({ status: 'failed', errorCode: 'TARGET_SCHEMA_MISMATCH' });
    expect(stopped.reason).toMatch(/target table public\.keyed has primary key \(_source, id\).*restore the earlier setting.*new `target:`.*drop public\.keyed.*triggers install/);
    expect(unitOf(result, 'eu', 'bystander').status).toBe('ok');
    const { source, target } = await compareTable(s, 'bystander', ['id', 'status', 'amount']);
    expect(target).toEqual(source);
  }
  // The way out the message names: drop the target table; it is created again with the new key and filled.
  const byCode = s.config([{ name: 'keyed', key: ['code'] }, 'bystander']);
  await s.pgRows('DROP TABLE keyed');
  await installTriggers(byCode);
  const refilled = await syncOnce(byCode);
  expect(unitOf(refilled, 'eu', 'keyed')).toMatchObject({ status: 'ok', snapshotRows: 2 });
  expect(await s.pgRows("SELECT code, id FROM keyed WHERE _source = 'us' ORDER BY code")).toEqual([
    { code: 'a', id: 1 },
    { code: 'b', id: 2 },
  ]);
  await expectEqual(byCode);
});

test('a target table dropped by hand is created again and filled', async () => {
  const config = await synced('dropped', COLUMNS, ROWS);
  await s.pgRows('DROP TABLE dropped');
  expect(unitOf(await syncOnce(config), 'us', 'dropped')).toMatchObject({ status: 'ok', snapshotRows: 5 });
  await expectEqual(config);
});
