/**
 * Two targets (two warehouses) reading one source: each registers as a consumer, and the changelog is
 * pruned only below what both have applied. Neither prunes the other's rows, so neither snapshots
 * again; a consumer that is forgotten or unseen too long stops holding rows back and, when it
 * returns, snapshots again instead of reading past what it lost.
 */
import pg from 'pg';
import { parseConfig, type TributaryConfig } from '../../src/config';
import { silentLogger } from '../../src/log';
import { captureStatus, forgetConsumerEverywhere } from '../../src/pipeline/capture';
import { consumerName } from '../../src/pipeline/consumers';
import { closeRuntime, openRuntime } from '../../src/pipeline/runtime';
import { unitStatuses } from '../../src/pipeline/status';
import { createScratch, installTriggers, PG, type Scratch, syncOnce, unitOf } from '../helpers/scratch';

let s: Scratch;
let secondDb: string;
let second: pg.Pool;
let configA: TributaryConfig;
let configB: TributaryConfig;

function configFor(database: string, extra = ''): TributaryConfig {
  const yaml = s.configYaml(['items'], extra).replace(`/${s.pgDb}\n`, `/${database}\n`);
  return parseConfig(yaml, process.env, '/tmp/tributary-consumers.yml');
}

beforeEach(async () => {
  s = await createScratch(['a']);
  secondDb = `${s.pgDb}_b`;
  const admin = new pg.Client({ ...PG, database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${secondDb}"`);
  await admin.end();
  second = new pg.Pool({ ...PG, database: secondDb, max: 2 });
  await s.mysqlExec('a', 'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), qty INT)');
  await s.mysqlExec('a', "INSERT INTO items VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3)");
  configA = configFor(s.pgDb);
  configB = configFor(secondDb);
  await installTriggers(configA);
});

afterEach(async () => {
  await second.end();
  await s.cleanup();
  const admin = new pg.Client({ ...PG, database: 'postgres' });
  await admin.connect();
  await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [secondDb]);
  await admin.query(`DROP DATABASE IF EXISTS "${secondDb}"`);
  await admin.end();
});

const render = (rows: Record<string, unknown>[]): string[] => rows.map((r) => `${r.id}|${r.name}|${r.qty}`).sort();

async function sourceRows(): Promise<string[]> {
  return render(await s.mysqlRows('a', 'SELECT id, name, qty FROM items'));
}

async function expectBothEqual(): Promise<void> {
  const expected = await sourceRows();
  expect(render(await s.pgRows('SELECT id, name, qty FROM items'))).toEqual(expected);
  expect(render((await second.query('SELECT id, name, qty FROM items')).rows)).toEqual(expected);
}

async function changelogRows(): Promise<number> {
  return Number((await s.mysqlRows('a', 'SELECT COUNT(*) AS n FROM tributary_log_items'))[0]!.n);
}

/** One pass of one target; returns how many rows it snapshotted. */
async function pass(config: TributaryConfig): Promise<number> {
  const result = await syncOnce(config);
  expect(result.failed).toBe(0);
  return unitOf(result, 'a', 'items').snapshotRows;
}

let nextId = 100;
async function someChanges(round: number): Promise<void> {
  const id = nextId++;
  await s.mysqlExec('a', `INSERT INTO items VALUES (${id}, 'r${round}', ${round}), (${id + 1000}, 'x${round}', 0)`);
  await s.mysqlExec('a', `UPDATE items SET qty = qty + 1, name = CONCAT(name, '+') WHERE id IN (1, ${id})`);
  await s.mysqlExec('a', `DELETE FROM items WHERE id = ${id + 1000}`);
}

test('five rounds of changes with alternating passes: both targets equal MySQL, no second snapshot, and the changelog is still pruned', async () => {
  expect(consumerName(configA)).not.toBe(consumerName(configB));
  expect(await pass(configA)).toBe(3);
  expect(await pass(configB)).toBe(3);
  for (let round = 1; round <= 5; round++) {
    await someChanges(round);
    const [first, then] = round % 2 === 1 ? [configA, configB] : [configB, configA];
    expect(await pass(first)).toBe(0);
    // Changes between the two targets' passes: one target has them, the other not yet.
    await s.mysqlExec('a', `UPDATE items SET qty = qty + 10 WHERE id = 2`);
    expect(await pass(then)).toBe(0);
    expect(await pass(first)).toBe(0);
    await expectBothEqual();
  }
  // Rows both have applied are gone; what is left is at most each consumer's sentinel.
  expect(await changelogRows()).toBeLessThanOrEqual(2);

  // Both are listed as consumers, by `status` and by `triggers status`, with their watermarks.
  const runtime = openRuntime(configA, silentLogger());
  try {
    const [unit] = (await unitStatuses(runtime)).units;
    expect(unit!.consumers.map((c) => [c.name, c.self, c.state]).sort()).toEqual(
      [
        [consumerName(configA), true, 'live'],
        [consumerName(configB), false, 'live'],
      ].sort(),
    );
    expect(unit!.consumers.find((c) => c.self)!.watermark).toBe(unit!.appliedThrough);
    const [capture] = await captureStatus(runtime);
    expect(capture!.problems).toEqual([]);
    expect(capture!.consumers).toHaveLength(2);
  } finally {
    await closeRuntime(runtime);
  }
});

test('a forgotten consumer stops holding rows back; when it returns it snapshots again and is equal', async () => {
  expect(await pass(configA)).toBe(3);
  expect(await pass(configB)).toBe(3);
  await someChanges(1);
  expect(await pass(configA)).toBe(0);
  // A kept the rows B has not applied.
  expect(await changelogRows()).toBeGreaterThan(2);

  const runtime = openRuntime(configA, silentLogger());
  try {
    expect(await forgetConsumerEverywhere(runtime, consumerName(configB))).toEqual([{ sourceId: 'a', registrations: 1 }]);
  } finally {
    await closeRuntime(runtime);
  }
  await someChanges(2);
  expect(await pass(configA)).toBe(0);
  // Nothing is held back for B any more.
  expect(await changelogRows()).toBeLessThanOrEqual(1);

  expect(await pass(configB)).toBeGreaterThan(0);
  await expectBothEqual();
  await someChanges(3);
  expect(await pass(configB)).toBe(0);
  expect(await pass(configA)).toBe(0);
  await expectBothEqual();
});

test('a consumer unseen for longer than staleAfterSeconds is dropped by the other and snapshots again when it returns', async () => {
  expect(await pass(configA)).toBe(3);
  expect(await pass(configB)).toBe(3);
  await someChanges(1);
  // B has been away for ten days.
  await s.mysqlExec('a', 'UPDATE tributary_consumers SET last_seen = NOW(6) - INTERVAL 10 DAY WHERE consumer = ?', [consumerName(configB)]);
  expect(await pass(configA)).toBe(0);
  const [row] = await s.mysqlRows('a', 'SELECT dropped_at IS NOT NULL AS dropped FROM tributary_consumers WHERE consumer = ?', [consumerName(configB)]);
  expect(Number(row!.dropped)).toBe(1);
  await someChanges(2);
  expect(await pass(configA)).toBe(0);

  expect(await pass(configB)).toBeGreaterThan(0);
  await expectBothEqual();
  await someChanges(3);
  expect(await pass(configA)).toBe(0);
  expect(await pass(configB)).toBe(0);
  await expectBothEqual();
});

test("retention is kept per consumer: one target's retention keeps rows the other has applied", async () => {
  configB = configFor(secondDb, 'retention: { seconds: 3600 }');
  expect(await pass(configA)).toBe(3);
  expect(await pass(configB)).toBe(3);
  await someChanges(1);
  expect(await pass(configB)).toBe(0);
  expect(await pass(configA)).toBe(0);
  // Both have applied the round's rows; B asks to keep them for an hour.
  expect(await changelogRows()).toBeGreaterThanOrEqual(5);
  await expectBothEqual();
});
