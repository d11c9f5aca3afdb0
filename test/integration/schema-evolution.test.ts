/**
 * ALTER TABLE on a source while changes flow: the sync neither breaks nor silently loses or corrupts
 * anything; the target is evolved and rows whose new values came from the ALTER are refreshed.
 */
import { runCli } from '../helpers/cli';
import { compareTable, createScratch, installTriggers, type Scratch, syncOnce, unitOf } from '../helpers/scratch';

let s: Scratch;
beforeEach(async () => {
  s = await createScratch(['a', 'b']);
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, "CREATE TABLE accounts (id INT PRIMARY KEY, balance INT NOT NULL, tier ENUM('basic','gold') NOT NULL DEFAULT 'basic', legacy VARCHAR(10))");
    const rows = Array.from({ length: 200 }, (_, i) => `(${i + 1}, ${i * 10}, 'basic', 'x${i}')`).join(',');
    await s.mysqlExec(id, `INSERT INTO accounts VALUES ${rows}`);
  }
});
afterEach(async () => {
  await s.cleanup();
});

/** Writes on one source until stopped: updates of existing rows and inserts of new ones. */
function writer(sourceId: string, firstNewId: number): { stop: () => Promise<number> } {
  let running = true;
  let writes = 0;
  const loop = (async () => {
    let next = firstNewId;
    while (running) {
      await s.mysqlExec(sourceId, `UPDATE accounts SET balance = balance + 1 WHERE id = ${1 + (writes % 200)}`);
      await s.mysqlExec(sourceId, `INSERT INTO accounts (id, balance) VALUES (${next++}, ${writes})`);
      writes += 2;
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return writes;
    },
  };
}

async function columnsOf(table: string): Promise<Record<string, string>> {
  const rows = await s.pgRows("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1", [table]);
  return Object.fromEntries(rows.map((r) => [r.column_name, r.data_type]));
}

test('add a column with a default, widen a type, add an enum value, drop a column: all while writing', async () => {
  const config = s.config('accounts');
  await installTriggers(config);
  await syncOnce(config);

  // ADD COLUMN on source a only (a rolling change across shards), with writes running on both.
  const wa = writer('a', 10_000);
  const wb = writer('b', 10_000);
  await s.mysqlExec('a', "ALTER TABLE accounts ADD COLUMN region VARCHAR(8) NOT NULL DEFAULT 'eu'");
  await syncOnce(config);
  await s.mysqlExec('b', "ALTER TABLE accounts ADD COLUMN region VARCHAR(8) NOT NULL DEFAULT 'us'");
  await s.mysqlExec('a', 'ALTER TABLE accounts MODIFY balance BIGINT NOT NULL');
  await s.mysqlExec('b', 'ALTER TABLE accounts MODIFY balance BIGINT NOT NULL');
  await s.mysqlExec('a', "ALTER TABLE accounts MODIFY tier ENUM('basic','gold','vip') NOT NULL DEFAULT 'basic'");
  await s.mysqlExec('a', 'ALTER TABLE accounts DROP COLUMN legacy');
  await s.mysqlExec('b', 'ALTER TABLE accounts DROP COLUMN legacy');
  expect(await wa.stop()).toBeGreaterThan(0);
  expect(await wb.stop()).toBeGreaterThan(0);

  // Values only the new definitions can hold.
  await s.mysqlExec('a', "INSERT INTO accounts (id, balance, tier, region) VALUES (99999, 5000000000, 'vip', 'apac')");
  const result = await syncOnce(config);
  expect(result.failed).toBe(0);
  await syncOnce(config);

  const { source, target } = await compareTable(s, 'accounts', ['id', 'balance', 'tier', 'region']);
  expect(target).toEqual(source);
  expect(await s.pgRows("SELECT DISTINCT region FROM accounts WHERE _source = 'b' AND id <= 200")).toEqual([{ region: 'us' }]);
  const types = await columnsOf('accounts');
  expect(types.balance).toBe('bigint');
  expect(types.region).toBe('character varying');
  // A dropped column stays in the target (nothing is deleted on a guess), no longer updated.
  expect(types.legacy).toBeDefined();
});

test('a widened key column is reported as drift until triggers install upgrades the changelog', async () => {
  const config = s.config('accounts');
  await installTriggers(config);
  await syncOnce(config);
  await s.mysqlExec('a', 'ALTER TABLE accounts MODIFY id BIGINT NOT NULL');

  const path = s.configFile('accounts');
  const status = await runCli(['--config', path, 'triggers', 'status']);
  expect(status.code).toBe(5);
  expect(status.stdout).toMatch(/changelog-key-changed/);
  const refused = await syncOnce(config);
  expect(unitOf(refused, 'a', 'accounts')).toMatchObject({ status: 'failed', errorCode: 'TRIGGER_DRIFT' });
  expect(unitOf(refused, 'b', 'accounts').status).toBe('ok');

  expect((await runCli(['--config', path, 'triggers', 'install'])).code).toBe(0);
  expect((await runCli(['--config', path, 'triggers', 'status'])).code).toBe(0);
  await s.mysqlExec('a', 'INSERT INTO accounts (id, balance) VALUES (8000000000, 1)');
  await s.mysqlExec('a', 'UPDATE accounts SET balance = 7 WHERE id = 5');
  const result = await syncOnce(config);
  expect(result.failed).toBe(0);
  const { source, target } = await compareTable(s, 'accounts', ['id', 'balance', 'tier']);
  expect(target).toEqual(source);
});
