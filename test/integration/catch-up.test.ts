/**
 * Adaptive catch-up: a unit whose backlog exceeds catchUpPercent of its rows re-snapshots instead of
 * draining, ends equal to the source, prunes the changelog rows the snapshot covered, and loses nothing
 * written while it runs. catchUp: drain (per table or for all) always drains; a backlog under the
 * threshold drains; a dry run only says what it would do.
 */
import { Writable } from 'node:stream';
import pg from 'pg';
import winston from 'winston';
import { parseConfig } from '../../src/config';
import { runPass } from '../../src/pipeline/pass';
import { closeRuntime, openRuntime, prepareRuntime } from '../../src/pipeline/runtime';
import { createScratch, compareTable, installTriggers, PG, type Scratch, syncOnce, unitOf } from '../helpers/scratch';
import { startWorkload, writerTableSql } from '../helpers/writers';
import { runCli } from '../helpers/cli';

let s: Scratch;
const COLUMNS = ['id', 'grp', 'name', 'amount', 'at'];
// Small batches and chunks: a few thousand rows behave as a big table does.
const SETTINGS = 'batchSize: 100\nsnapshotChunkSize: 500\ncatchUpPercent: 25';

beforeEach(async () => {
  s = await createScratch(['src']);
});
afterEach(async () => {
  await s.cleanup();
});

/** A table of `rows` rows, its capture installed, its first snapshot taken. */
async function syncedTable(table: string, rows: number, config: ReturnType<Scratch['config']>): Promise<void> {
  await s.mysqlExec('src', writerTableSql(table));
  await s.mysqlExec('src', 'CREATE TABLE IF NOT EXISTS digits (d INT PRIMARY KEY); INSERT IGNORE INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)');
  await s.mysqlExec(
    'src',
    `INSERT INTO \`${table}\` (id, grp, name, amount, at)
       SELECT n, n % 7, CONCAT('row ', n), n / 100, '2024-01-01 00:00:00' + INTERVAL n SECOND
       FROM (SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d AS n FROM digits a, digits b, digits c, digits e) seq
       WHERE n <= ${rows}`,
  );
  // InnoDB's row estimate is what the threshold is computed from: make it current.
  await s.mysqlExec('src', `ANALYZE TABLE \`${table}\``);
  await installTriggers(config);
  expect(unitOf(await syncOnce(config), 'src', table)).toMatchObject({ status: 'ok', snapshotRows: rows });
}

/** Every row changed, some deleted, some added: a backlog larger than the table. */
async function bigBacklog(table: string, round = 1): Promise<void> {
  const t = `\`${table}\``;
  await s.mysqlExec('src', `UPDATE ${t} SET name = CONCAT(name, ' v${round}'), amount = amount + 1`);
  await s.mysqlExec('src', `DELETE FROM ${t} WHERE id % 10 = 3 AND id < 100000`);
  await s.mysqlExec('src', `INSERT INTO ${t} (id, grp, name, amount, at) SELECT id + ${round}00000, grp, CONCAT(name, ' new'), amount, at FROM ${t} WHERE id % 10 = 5 AND id < 100000`);
  await s.mysqlExec('src', `UPDATE ${t} SET id = id + ${round}0000 WHERE id % 10 = 7 AND id < 100000`);
}

async function expectEqual(table: string): Promise<void> {
  const { source, target } = await compareTable(s, table, COLUMNS);
  expect(target).toEqual(source);
}

async function changelogRows(table: string): Promise<number> {
  const rows = await s.mysqlRows('src', `SELECT COUNT(*) AS n FROM \`tributary_log_${table}\``);
  return Number(rows[0]!.n);
}

test('a backlog over catchUpPercent of the rows is caught up by re-snapshot, equal, its changelog rows pruned', async () => {
  const config = s.config(['orders'], SETTINGS);
  await syncedTable('orders', 2000, config);
  await bigBacklog('orders');
  expect(await changelogRows('orders')).toBeGreaterThan(2000);

  const caughtUp = unitOf(await syncOnce(config), 'src', 'orders');
  expect(caughtUp).toMatchObject({ status: 'ok', catchUpSnapshots: 1 });
  // One batch before deciding (batchSize 100), then the table's rows, not the backlog's changes.
  expect(caughtUp.changes).toBeLessThan(200);
  expect(caughtUp.snapshotRows).toBeGreaterThan(1500);
  await expectEqual('orders');
  // What the snapshot covered is pruned; the row at the watermark stays as its sentinel.
  expect(await changelogRows('orders')).toBeLessThanOrEqual(1);

  await s.mysqlExec('src', "UPDATE orders SET name = 'after' WHERE id = 1");
  const next = unitOf(await syncOnce(config), 'src', 'orders');
  expect(next).toMatchObject({ status: 'ok', catchUpSnapshots: 0, snapshotRows: 0, changes: 1 });
  await expectEqual('orders');
});

test('catchUp: drain, for one table or for all, drains the same backlog', async () => {
  const perTable = s.config([{ name: 'orders', catchUp: 'drain' }, 'items'], SETTINGS);
  await s.mysqlExec('src', writerTableSql('items'));
  await syncedTable('orders', 1000, perTable);
  await bigBacklog('orders');
  const drained = unitOf(await syncOnce(perTable), 'src', 'orders');
  expect(drained).toMatchObject({ status: 'ok', catchUpSnapshots: 0, snapshotRows: 0 });
  expect(drained.changes).toBeGreaterThan(1000);
  await expectEqual('orders');

  const everywhere = s.config(['orders', 'items'], `${SETTINGS}\ncatchUp: drain`);
  await bigBacklog('orders', 2);
  expect(unitOf(await syncOnce(everywhere), 'src', 'orders')).toMatchObject({ status: 'ok', catchUpSnapshots: 0, snapshotRows: 0 });
  await expectEqual('orders');
});

test('a backlog under the threshold drains', async () => {
  const config = s.config(['orders'], SETTINGS);
  await syncedTable('orders', 2000, config);
  // 300 changes: more than a batch, fewer than 25% of 2,000 rows.
  await s.mysqlExec('src', "UPDATE orders SET name = 'changed' WHERE id <= 300");
  const drained = unitOf(await syncOnce(config), 'src', 'orders');
  expect(drained).toMatchObject({ status: 'ok', catchUpSnapshots: 0, snapshotRows: 0, changes: 300 });
  await expectEqual('orders');
});

test('writes made while the catch-up re-snapshot runs are not lost', async () => {
  const config = s.config(['orders'], SETTINGS);
  await syncedTable('orders', 3000, config);
  await bigBacklog('orders');
  const workload = startWorkload({
    table: 'orders',
    connect: () => s.mysqlConnection('src'),
    connections: 3,
    operations: Infinity,
    seed: 7,
    keySpace: 3000,
    pauseMs: [0, 5],
  });
  let caughtUp;
  try {
    caughtUp = unitOf(await syncOnce(config), 'src', 'orders');
  } finally {
    workload.stop();
    await workload.done;
  }
  expect(caughtUp).toMatchObject({ status: 'ok', catchUpSnapshots: 1 });
  expect(workload.stats.commits).toBeGreaterThan(0);
  // What the writers committed during and after the snapshot is drained by the next passes.
  for (let pass = 0; pass < 5; pass++) {
    const result = unitOf(await syncOnce(config), 'src', 'orders');
    expect(result.status).toBe('ok');
    if (result.openGaps === 0 && result.fullBatches === 0) break;
  }
  await expectEqual('orders');
});

test('a dry run says it would catch up by re-snapshot and changes nothing', async () => {
  const file = s.configFile(['orders'], SETTINGS);
  const config = s.config(['orders'], SETTINGS);
  await syncedTable('orders', 2000, config);
  const before = await s.pgRows('SELECT id, name FROM orders ORDER BY id');
  await bigBacklog('orders');
  const run = await runCli(['--config', file, 'sync', '--dry-run', '--json']);
  expect(run.stderr).toMatch(/would catch up by re-snapshot/);
  expect(run.code).toBe(0);
  const unit = JSON.parse(run.stdout).units[0];
  expect(unit.reason).toMatch(/catch-up by re-snapshot pending/);
  expect(await s.pgRows('SELECT id, name FROM orders ORDER BY id')).toEqual(before);
  expect(await changelogRows('orders')).toBeGreaterThan(2000);
});

test('a second target behind keeps its changelog rows when the first catches up by re-snapshot', async () => {
  const config = s.config(['orders'], SETTINGS);
  const secondDb = `${s.pgDb}_b`;
  const admin = new pg.Client({ ...PG, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${secondDb}"`);
    const second = parseConfig(s.configYaml(['orders'], SETTINGS).replace(`/${s.pgDb}\n`, `/${secondDb}\n`), process.env, '/tmp/tributary-catch-up-b.yml');
    await syncedTable('orders', 2000, config);
    expect(unitOf(await syncOnce(second), 'src', 'orders')).toMatchObject({ status: 'ok', snapshotRows: 2000 });
    await bigBacklog('orders');
    // The first target is far behind: it re-snapshots and prunes only what the second has applied too.
    expect(unitOf(await syncOnce(config), 'src', 'orders')).toMatchObject({ status: 'ok', catchUpSnapshots: 1 });
    expect(await changelogRows('orders')).toBeGreaterThan(2000);
    // The second drains the whole backlog (catchUp: drain) and finds every change still there.
    const drainSecond = parseConfig(
      s.configYaml(['orders'], `${SETTINGS}\ncatchUp: drain`).replace(`/${s.pgDb}\n`, `/${secondDb}\n`),
      process.env,
      '/tmp/tributary-catch-up-b.yml',
    );
    expect(unitOf(await syncOnce(drainSecond), 'src', 'orders')).toMatchObject({ status: 'ok', catchUpSnapshots: 0, snapshotRows: 0 });
    const pool = new pg.Pool({ ...PG, database: secondDb, max: 1 });
    try {
      const rows = await pool.query(`SELECT _source || '|' || id || '|' || name || '|' || amount AS r FROM orders`);
      const expected = await s.mysqlRows('src', "SELECT CONCAT('src|', id, '|', name, '|', amount) AS r FROM orders");
      expect(rows.rows.map((r) => String(r.r)).sort()).toEqual(expected.map((r) => String(r.r)).sort());
    } finally {
      await pool.end();
    }
  } finally {
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [secondDb]);
    await admin.query(`DROP DATABASE IF EXISTS "${secondDb}"`);
    await admin.end();
  }
});

/** A logger that aborts the controller at the first log entry whose message matches. */
function abortingLogger(controller: AbortController, message: RegExp): winston.Logger {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      if (message.test(String((JSON.parse(String(chunk)) as { message: string }).message))) controller.abort();
      done();
    },
  });
  return winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
}

test('a stop during the catch-up re-snapshot is resumed by the next pass, which then prunes what it covered', async () => {
  const config = s.config(['orders'], SETTINGS);
  await syncedTable('orders', 3000, config);
  await bigBacklog('orders');
  const controller = new AbortController();
  const runtime = openRuntime(config, abortingLogger(controller, /^snapshot progress$/));
  let stopped;
  try {
    await prepareRuntime(runtime);
    stopped = unitOf(await runPass(runtime, { signal: controller.signal }), 'src', 'orders');
  } finally {
    await closeRuntime(runtime);
  }
  expect(stopped).toMatchObject({ status: 'ok', catchUpSnapshots: 1, reason: 'stopped; the next run resumes here' });
  expect(stopped.snapshotRows).toBeLessThan(3000);
  expect(await s.pgRows("SELECT snapshot_state FROM tributary.checkpoints WHERE source_table = 'orders'")).toEqual([{ snapshot_state: 'running' }]);
  expect(await changelogRows('orders')).toBeGreaterThan(3000);

  const resumed = unitOf(await syncOnce(config), 'src', 'orders');
  expect(resumed).toMatchObject({ status: 'ok', catchUpSnapshots: 0 });
  expect(resumed.snapshotRows).toBeGreaterThan(0);
  await expectEqual('orders');
  expect(await changelogRows('orders')).toBeLessThanOrEqual(1);
});
