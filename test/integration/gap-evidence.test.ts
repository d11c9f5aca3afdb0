/**
 * Gap evidence that fits MariaDB and MySQL, and gaps that cannot flood (README "How nothing is lost").
 * Readers never hold gaps open; ids pruned before a snapshot began do not become gaps; a writer open
 * when a snapshot begins is still caught; changelog ids in the millions after a repair stay cheap.
 */
import { createScratch, installTriggers, type Scratch, syncOnce, unitOf, compareTable } from '../helpers/scratch';
import { sleep } from '../helpers/topology';

const ORDERS = 'CREATE TABLE orders (id BIGINT PRIMARY KEY, customer VARCHAR(50) NOT NULL, total INT)';
const COLUMNS = ['id', 'customer', 'total'];

let s: Scratch;

beforeEach(async () => {
  s = await createScratch(['eu']);
  await s.mysqlExec('eu', ORDERS);
});

afterEach(async () => {
  await s.cleanup();
});

async function expectInSync(): Promise<void> {
  const { source, target } = await compareTable(s, 'orders', COLUMNS);
  expect(target).toEqual(source);
}

async function gapState(): Promise<{ ranges: number; ids: number; waiting: number; held: number }> {
  const rows = await s.pgRows(
    `SELECT count(*)::int AS ranges, coalesce(sum(last_id - change_id + 1), 0)::bigint::text AS ids,
            coalesce(sum(last_id - change_id + 1) FILTER (WHERE holders IS NULL), 0)::bigint::text AS waiting,
            coalesce(sum(last_id - change_id + 1) FILTER (WHERE holders IS NOT NULL), 0)::bigint::text AS held
     FROM tributary.gaps WHERE expired_at IS NULL`,
  );
  const row = rows[0]!;
  return { ranges: Number(row.ranges), ids: Number(row.ids), waiting: Number(row.waiting), held: Number(row.held) };
}

/** Passes until no gap is open (other test files share the server: their writers may hold one a while). */
async function passUntilNoOpenGap(config: ReturnType<Scratch['config']>, passes = 30): Promise<number> {
  let expired = 0;
  for (let pass = 0; pass < passes; pass++) {
    const unit = unitOf(await syncOnce(config), 'eu', 'orders');
    expect(unit.status).toBe('ok');
    expired += unit.expiredGaps;
    if (unit.openGaps === 0) return expired;
    await sleep(600);
  }
  throw new Error('gaps stayed open');
}

test('readers and an idle session in another database do not hold a rolled-back gap open', async () => {
  const config = s.config('orders');
  await installTriggers(config);
  await syncOnce(config);
  // A reader of the same table and a session idle in another database, both inside a transaction.
  const reader = await s.mysqlConnection('eu');
  await reader.query('START TRANSACTION');
  await reader.query('SELECT COUNT(*) FROM orders');
  const elsewhere = await s.mysqlConnection('eu');
  await elsewhere.query('START TRANSACTION');
  await elsewhere.query('SELECT COUNT(*) FROM mysql.innodb_table_stats'); // an InnoDB table of another database

  const aborted = await s.mysqlConnection('eu');
  await aborted.query('START TRANSACTION');
  await aborted.query("INSERT INTO orders VALUES (1,'never',1)");
  await s.mysqlExec('eu', "INSERT INTO orders VALUES (2,'kept',2)");
  expect(unitOf(await syncOnce(config), 'eu', 'orders').openGaps).toBe(1);
  await aborted.query('ROLLBACK');
  await sleep(1100);

  expect(await passUntilNoOpenGap(config)).toBe(1);
  // Both readers are still inside their transactions: they were never taken for holders.
  const [alive] = (await reader.query('SELECT trx_mysql_thread_id AS thread FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id IN (?, ?)', [
    reader.threadId,
    elsewhere.threadId,
  ])) as unknown as [{ thread: number }[]];
  expect(alive).toHaveLength(2);
  await expectInSync();
  await reader.query('COMMIT');
  await elsewhere.query('COMMIT');
});

test('a fresh target on a changelog already pruned to id 45,462 opens no gap for the pruned ids', async () => {
  const config = s.config('orders');
  await installTriggers(config);
  await s.mysqlExec('eu', 'ALTER TABLE tributary_log_orders AUTO_INCREMENT = 45462');
  await s.mysqlExec('eu', "INSERT INTO orders VALUES (1,'a',1),(2,'b',2),(3,'c',3)"); // ids 45462..45464

  const first = unitOf(await syncOnce(config), 'eu', 'orders');
  expect(first).toMatchObject({ status: 'ok', snapshotRows: 3, changes: 0 });
  // On an idle server nothing at all; on this shared one, writers of other tests alive when the
  // snapshot began may hold one range until they end. Never an id per pruned id, never unexamined.
  const state = await gapState();
  expect(state.ranges).toBeLessThanOrEqual(1);
  expect(state.waiting).toBe(0);
  const checkpoint = await s.pgRows("SELECT high_water::text AS hw FROM tributary.checkpoints WHERE source_id = 'eu'");
  expect(checkpoint[0]!.hw).toBe('45464');

  await s.mysqlExec('eu', "INSERT INTO orders VALUES (4,'d',4); UPDATE orders SET total = 20 WHERE id = 2; DELETE FROM orders WHERE id = 1");
  await passUntilNoOpenGap(config);
  await expectInSync();
  expect((await gapState()).ranges).toBe(0);
});

test('a writer open when the snapshot begins, holding an id below the highest, is applied when it commits', async () => {
  const config = s.config('orders');
  await installTriggers(config);
  await s.mysqlExec('eu', "INSERT INTO orders VALUES (1,'first',1)"); // change id 1
  const slow = await s.mysqlConnection('eu');
  await slow.query('START TRANSACTION');
  await slow.query("INSERT INTO orders VALUES (100,'slow writer',1)"); // change id 2, uncommitted
  await s.mysqlExec('eu', "INSERT INTO orders VALUES (101,'fast writer',2)"); // change id 3, committed

  const first = unitOf(await syncOnce(config), 'eu', 'orders');
  expect(first.status).toBe('ok');
  expect(first.openGaps).toBeGreaterThanOrEqual(1); // id 2, held by the slow writer
  const state = await gapState();
  expect(state.waiting).toBe(0);
  expect(state.held).toBeGreaterThanOrEqual(1);
  expect(await s.pgRows('SELECT id FROM orders WHERE id = 100')).toEqual([]);

  await sleep(1100);
  expect(unitOf(await syncOnce(config), 'eu', 'orders').openGaps).toBeGreaterThanOrEqual(1); // still held
  await slow.query('COMMIT');
  await passUntilNoOpenGap(config);
  await expectInSync();
  expect(await s.pgRows('SELECT customer FROM orders WHERE id = 100')).toEqual([{ customer: 'slow writer' }]);
});

test('repair on a changelog with ids in the millions: re-snapshot, no gap flood, the table keeps syncing', async () => {
  await s.mysqlExec(
    'eu',
    `INSERT INTO orders (id, customer, total)
     SELECT a.n * 100 + b.n * 10 + c.n + 1, 'seed', 0
     FROM (SELECT 0 n UNION SELECT 1 UNION SELECT 2 UNION SELECT 3 UNION SELECT 4 UNION SELECT 5 UNION SELECT 6 UNION SELECT 7 UNION SELECT 8 UNION SELECT 9) a,
          (SELECT 0 n UNION SELECT 1 UNION SELECT 2 UNION SELECT 3 UNION SELECT 4 UNION SELECT 5 UNION SELECT 6 UNION SELECT 7 UNION SELECT 8 UNION SELECT 9) b,
          (SELECT 0 n UNION SELECT 1 UNION SELECT 2 UNION SELECT 3 UNION SELECT 4 UNION SELECT 5 UNION SELECT 6 UNION SELECT 7 UNION SELECT 8 UNION SELECT 9) c`,
  );
  const config = s.config('orders');
  await installTriggers(config);
  // As if two million changes had gone through already.
  await s.mysqlExec('eu', 'ALTER TABLE tributary_log_orders AUTO_INCREMENT = 3000000');
  await syncOnce(config);
  await s.mysqlExec('eu', 'UPDATE orders SET total = total + 1 WHERE id <= 500');
  expect(unitOf(await syncOnce(config), 'eu', 'orders')).toMatchObject({ status: 'ok', changes: 500 });

  // What a failed pt-online-schema-change leaves: one of Tributary's triggers gone.
  await s.mysqlExec('eu', 'DROP TRIGGER tributary_orders_del');
  expect(unitOf(await syncOnce(config), 'eu', 'orders').errorCode).toBe('TRIGGER_DRIFT');
  await s.mysqlExec('eu', 'DELETE FROM orders WHERE id > 990'); // no trigger sees these
  await s.mysqlExec('eu', 'UPDATE orders SET total = 7 WHERE id BETWEEN 600 AND 650');
  await installTriggers(config); // the README's repair

  const repaired = unitOf(await syncOnce(config), 'eu', 'orders');
  expect(repaired).toMatchObject({ status: 'ok', snapshotRows: 990 });
  const state = await gapState();
  expect(state.ranges).toBeLessThanOrEqual(1);
  expect(state.waiting).toBe(0);
  await expectInSync();

  for (let round = 0; round < 3; round++) {
    await s.mysqlExec('eu', `UPDATE orders SET total = total + 1 WHERE id % 7 = ${round}; DELETE FROM orders WHERE id = ${10 + round}; INSERT INTO orders VALUES (${5000 + round}, 'new', ${round})`);
    expect(unitOf(await syncOnce(config), 'eu', 'orders').status).toBe('ok');
  }
  await passUntilNoOpenGap(config);
  await expectInSync();
  const hw = await s.pgRows("SELECT high_water::bigint > 3000000 AS beyond FROM tributary.checkpoints WHERE source_id = 'eu'");
  expect(hw[0]!.beyond).toBe(true);
  expect((await gapState()).ranges).toBe(0);
});
