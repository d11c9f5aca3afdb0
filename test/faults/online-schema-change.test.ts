/**
 * Online schema changes with Percona's pt-online-schema-change (README "Online schema changes"), run
 * for real (`percona-toolkit`, installed by .ci/run) on a captured table under writes, with
 * `sync --follow` running as a subprocess. pt-osc copies the table into `_<table>_new`, keeps it in
 * step with its own triggers, moves the table's triggers onto the copy (--preserve-triggers) and
 * swaps the two with RENAME TABLE. Expected: the target equals the source, every write the writers
 * committed is there, an added index costs no snapshot, an added column a refresh (never a delete),
 * and nothing is reported as drift.
 */
import { spawn } from 'node:child_process';
import { eventually, startCli } from '../helpers/cli';
import { compareByChecksum, expectTargetEqualsSources } from '../helpers/checksum';
import { createScratch, installTriggers, type Scratch, syncOnce, unitOf } from '../helpers/scratch';
import { configYaml, logLines, mysqlConnect, scratchTopology, sleep, writeConfig } from '../helpers/topology';
import { startWorkload, writerTableSql } from '../helpers/writers';
import { MYSQL } from '../helpers/scratch';

const TABLE = 'orders';
const SEED_ROWS = 3000;
// Ledger rows: ids far above the random writers' key space, inserted one by one, each remembered
// once its INSERT (autocommit) has returned: committed.
const LEDGER_FROM = 1_000_000;

let s: Scratch;

beforeEach(async () => {
  s = await createScratch(['eu']);
  await s.mysqlExec('eu', writerTableSql(TABLE));
  await s.mysqlExec('eu', `INSERT INTO ${TABLE} (id, grp, name, amount, at) SELECT seq, seq % 7, CONCAT('seed', seq), seq / 100, '2024-01-01 00:00:00' FROM seq_1_to_${SEED_ROWS}`);
});

afterEach(async () => {
  await s.cleanup();
});

function ptOsc(alter: string, extra: string[] = []): Promise<{ code: number | null; output: string }> {
  const dsn = `h=${MYSQL.host},P=${MYSQL.port},u=${MYSQL.user},D=${s.mysqlDb.eu},t=${TABLE}`;
  // Small chunks with a pause between them: the copy lasts a couple of seconds, as on a real table (where
  // it lasts minutes), so that the follower's passes see pt-osc at work (README "Online schema changes").
  const args = ['--preserve-triggers', '--alter', alter, '--execute', '--no-check-replication-filters', '--recursion-method=none', '--chunk-size=200', '--sleep=0.15', ...extra, dsn];
  return new Promise((resolve, reject) => {
    const child = spawn('pt-online-schema-change', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

interface Ledger {
  stop(): Promise<{ committed: number[]; failed: string[] }>;
}

function startLedger(): Ledger {
  const committed: number[] = [];
  const failed: string[] = [];
  let stopped = false;
  const run = (async () => {
    const conn = await mysqlConnect({ ...MYSQL, database: s.mysqlDb.eu! });
    conn.on('error', () => undefined);
    try {
      for (let id = LEDGER_FROM; !stopped; id++) {
        try {
          await conn.query(`INSERT INTO ${TABLE} (id, grp, name, amount, at) VALUES (?, 0, 'ledger', 1, '2024-05-01 00:00:00')`, [id]);
          committed.push(id);
          if (id % 3 === 0) await conn.query(`UPDATE ${TABLE} SET amount = amount + 1 WHERE id = ?`, [id - 1]);
        } catch (error) {
          // README "Online schema changes": on MariaDB a few writes may fail during the trigger move.
          failed.push((error as Error).message);
        }
        await sleep(5);
      }
    } finally {
      await conn.end().catch(() => undefined);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await run;
      return { committed, failed };
    },
  };
}

async function runUnderWrites(alter: string): Promise<{ stderr: string; committed: number[]; failed: string[]; ptOutput: string }> {
  const { path, config } = writeConfig(configYaml(scratchTopology(s), [TABLE], ['pollInterval: 50', 'batchSize: 200']));
  await installTriggers(config);
  expect(unitOf(await syncOnce(config), 'eu', TABLE)).toMatchObject({ status: 'ok', snapshotRows: SEED_ROWS });

  const follower = startCli(['--config', path, 'sync', '--follow']);
  const workload = startWorkload({
    table: TABLE,
    connect: () => mysqlConnect({ ...MYSQL, database: s.mysqlDb.eu! }),
    connections: 3,
    operations: Infinity,
    seed: 7,
    keySpace: SEED_ROWS,
    rollbackRate: 0.1,
    maxOpsPerTx: 4,
    pauseMs: [5, 20],
    survive: true,
  });
  const ledger = startLedger();
  try {
    await sleep(1000);
    const pt = await ptOsc(alter);
    expect({ code: pt.code, output: pt.code === 0 ? '' : pt.output }).toEqual({ code: 0, output: '' });
    await sleep(1000);
    workload.stop();
    await workload.done;
    const { committed, failed } = await ledger.stop();
    // The follower catches up by itself.
    const caughtUp = await eventually(async () => (await compareByChecksum(scratchTopology(s), TABLE)).equal, 150, 200);
    follower.child.kill('SIGTERM');
    const run = await follower.exited;
    if (!caughtUp) {
      const comparison = await compareByChecksum(scratchTopology(s), TABLE);
      const noisy = logLines(run.stderr).filter((l) => l.level !== 'info' || /skipped|snapshot|refresh/.test(String(l.message)));
      throw new Error(`follower did not catch up: ${JSON.stringify(comparison.sources.map((c) => c.differences))}\n${noisy.slice(0, 30).map((l) => JSON.stringify(l)).join('\n')}`);
    }
    return { stderr: run.stderr, committed, failed, ptOutput: pt.output };
  } finally {
    workload.stop();
    await ledger.stop();
    if (follower.child.exitCode === null) follower.child.kill('SIGKILL');
  }
}

async function expectLedgerPresent(committed: number[]): Promise<void> {
  expect(committed.length).toBeGreaterThan(20);
  const rows = await s.pgRows('SELECT id::bigint::text AS id FROM orders WHERE id >= $1', [LEDGER_FROM]);
  const present = new Set(rows.map((r) => Number(r.id)));
  expect(committed.filter((id) => !present.has(id))).toEqual([]);
}

function messages(stderr: string): string[] {
  return logLines(stderr).map((l) => `${l.level ?? ''} ${l.message ?? ''} ${l.error ?? ''}`);
}

test('pt-osc --preserve-triggers ADD INDEX under writes, follower running: no snapshot, at most one refresh, no drift, every committed write present', async () => {
  const { stderr, committed } = await runUnderWrites('ADD INDEX by_grp (grp)');
  const lines = messages(stderr);
  expect(lines.filter((l) => /snapshot started|snapshotted again|TRIGGER_DRIFT|incomplete/.test(l))).toEqual([]);
  // pt-osc moves the DELETE, then the UPDATE, then the INSERT trigger: in between, an update that
  // changes a key reaches the changelog with its old key only. The rows are re-read once afterwards
  // (when a pass saw pt-osc at work, which a follower nearly always does).
  expect(lines.filter((l) => /refresh started/.test(l)).length).toBeLessThanOrEqual(1);
  await expectTargetEqualsSources(scratchTopology(s), TABLE);
  await expectLedgerPresent(committed);
  const indexes = await s.mysqlRows('eu', `SHOW INDEX FROM ${TABLE} WHERE Key_name = 'by_grp'`);
  expect(indexes.length).toBe(1);
}, 240_000);

test('pt-osc --preserve-triggers ADD COLUMN under writes, follower running: refreshed, no drift, every committed write present', async () => {
  const { stderr, committed } = await runUnderWrites("ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT 'none'");
  const lines = messages(stderr);
  expect(lines.filter((l) => /snapshot started|snapshotted again|TRIGGER_DRIFT|incomplete/.test(l))).toEqual([]);
  expect(lines.some((l) => /refresh started/.test(l))).toBe(true);
  await expectTargetEqualsSources(scratchTopology(s), TABLE);
  await expectLedgerPresent(committed);
  expect(await s.pgRows("SELECT count(*)::int AS n FROM orders WHERE note = 'none'")).toEqual([{ n: Number((await s.mysqlRows('eu', `SELECT COUNT(*) AS n FROM ${TABLE}`))[0]!.n) }]);
}, 240_000);

test("the moment pt-osc has moved a trigger onto its shadow table: the pass skips the table, not drift; writes meanwhile arrive", async () => {
  const config = s.config(TABLE);
  await installTriggers(config);
  await syncOnce(config);
  // pt-osc's state halfway through moving triggers, made by hand with its own statements: the shadow
  // table, its three triggers copying writes into it, and Tributary's delete trigger already moved.
  const definition = String((await s.mysqlRows('eu', "SELECT ACTION_STATEMENT AS body FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = 'tributary_orders_del'"))[0]!.body);
  const db = s.mysqlDb.eu!;
  await s.mysqlExec('eu', `CREATE TABLE _orders_new LIKE ${TABLE}; INSERT INTO _orders_new SELECT * FROM ${TABLE}`);
  await s.mysqlExec(
    'eu',
    `CREATE TRIGGER pt_osc_${db}_orders_del AFTER DELETE ON ${TABLE} FOR EACH ROW DELETE IGNORE FROM _orders_new WHERE _orders_new.id <=> OLD.id;
     CREATE TRIGGER pt_osc_${db}_orders_upd AFTER UPDATE ON ${TABLE} FOR EACH ROW BEGIN DELETE IGNORE FROM _orders_new WHERE !(OLD.id <=> NEW.id) AND _orders_new.id <=> OLD.id; REPLACE INTO _orders_new (id, grp, name, amount, at) VALUES (NEW.id, NEW.grp, NEW.name, NEW.amount, NEW.at); END;
     CREATE TRIGGER pt_osc_${db}_orders_ins AFTER INSERT ON ${TABLE} FOR EACH ROW REPLACE INTO _orders_new (id, grp, name, amount, at) VALUES (NEW.id, NEW.grp, NEW.name, NEW.amount, NEW.at);`,
  );
  await s.mysqlExec('eu', `DROP TRIGGER tributary_orders_del; CREATE TRIGGER tributary_orders_del AFTER DELETE ON _orders_new FOR EACH ROW ${definition}`);

  await s.mysqlExec('eu', `DELETE FROM ${TABLE} WHERE id <= 10; UPDATE ${TABLE} SET name = 'moved' WHERE id BETWEEN 11 AND 20; INSERT INTO ${TABLE} (id, grp, name) VALUES (9000, 1, 'new')`);
  const during = unitOf(await syncOnce(config), 'eu', TABLE);
  expect(during).toMatchObject({ status: 'skipped', reason: 'online schema change in progress' });

  // pt-osc finishes: the other two triggers move, swap, drop the old table (its triggers go with it).
  for (const name of ['tributary_orders_ins', 'tributary_orders_upd']) {
    const row = (await s.mysqlRows('eu', 'SELECT ACTION_STATEMENT AS body, EVENT_MANIPULATION AS event FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = ?', [name]))[0]!;
    await s.mysqlExec('eu', `DROP TRIGGER ${name}; CREATE TRIGGER ${name} AFTER ${String(row.event)} ON _orders_new FOR EACH ROW ${String(row.body)}`);
  }
  expect(unitOf(await syncOnce(config), 'eu', TABLE).status).toBe('skipped');
  await s.mysqlExec('eu', `RENAME TABLE ${TABLE} TO _orders_old, _orders_new TO ${TABLE}; DROP TABLE _orders_old`);
  await s.mysqlExec('eu', `DELETE FROM ${TABLE} WHERE id = 50`);
  // pt-osc was seen at work: its rows are re-read once (a refresh, nothing deleted).
  const after = unitOf(await syncOnce(config), 'eu', TABLE);
  expect(after).toMatchObject({ status: 'ok', snapshotRows: SEED_ROWS - 10 + 1 - 1 });
  await expectTargetEqualsSources(scratchTopology(s), TABLE);
  expect(await s.pgRows('SELECT count(*)::int AS n FROM orders WHERE id <= 10 OR id = 50')).toEqual([{ n: 0 }]);
  const checkpoint = await s.pgRows('SELECT capture_broken_at FROM tributary.checkpoints');
  expect(checkpoint).toEqual([{ capture_broken_at: null }]);
});

test('a failed pt-osc leaving our trigger on _orders_new is drift naming _orders_new; the README recovery re-snapshots and syncs again', async () => {
  const config = s.config(TABLE);
  await installTriggers(config);
  await syncOnce(config);
  const definition = String((await s.mysqlRows('eu', "SELECT ACTION_STATEMENT AS body FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = 'tributary_orders_del'"))[0]!.body);
  await s.mysqlExec('eu', `CREATE TABLE _orders_new LIKE ${TABLE}`);
  await s.mysqlExec('eu', `DROP TRIGGER tributary_orders_del; CREATE TRIGGER tributary_orders_del AFTER DELETE ON _orders_new FOR EACH ROW ${definition}`);
  await s.mysqlExec('eu', `DELETE FROM ${TABLE} WHERE id <= 5`); // not captured
  const refused = unitOf(await syncOnce(config), 'eu', TABLE);
  expect(refused.errorCode).toBe('TRIGGER_DRIFT');
  expect(refused.reason).toContain('tributary_orders_del is on _orders_new, not on orders');

  // Recovery: drop pt-osc's leftover table (its triggers go with it), reinstall, let it re-snapshot.
  await s.mysqlExec('eu', 'DROP TABLE _orders_new');
  await installTriggers(config);
  const repaired = unitOf(await syncOnce(config), 'eu', TABLE);
  expect(repaired.status).toBe('ok');
  expect(repaired.snapshotRows).toBe(SEED_ROWS - 5);
  await s.mysqlExec('eu', `DELETE FROM ${TABLE} WHERE id = 100`);
  expect(unitOf(await syncOnce(config), 'eu', TABLE).status).toBe('ok');
  await expectTargetEqualsSources(scratchTopology(s), TABLE);
});
