/**
 * Re-snapshots never leave rows missing: while a table is copied again, readers of the target see
 * every row of the source, old or new. Rows the source lost meanwhile are removed, keys compare the way
 * MySQL orders them (composite integer keys, case-insensitive text keys), and the last good version of
 * a row whose new values PostgreSQL cannot hold stays, reported by verify.
 */
import pg from 'pg';
import type { TributaryConfig } from '../../src/config';
import { createScratch, compareTable, installTriggers, PG, type Scratch, syncOnce, unitOf } from '../helpers/scratch';
import { resultOf, verifyOnce } from '../helpers/verify';
import { runCli } from '../helpers/cli';

let s: Scratch;

beforeAll(async () => {
  s = await createScratch(['src']);
});
afterAll(async () => {
  await s.cleanup();
});

async function createDigits(): Promise<void> {
  await s.mysqlExec('src', 'CREATE TABLE IF NOT EXISTS digits (n INT PRIMARY KEY); INSERT IGNORE INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)');
}

/** Chunks smaller than the configuration allows, so that a few rows span many chunks. */
function chunked(config: TributaryConfig, rows: number): TributaryConfig {
  return { ...config, snapshotChunkSize: rows };
}

/** Polls count(*) of a target table until stopped; returns the smallest count seen and how often it looked. */
function pollCount(table: string): { stop: () => Promise<{ min: number; polls: number }> } {
  const client = new pg.Client({ ...PG, database: s.pgDb });
  let running = true;
  let min = Number.POSITIVE_INFINITY;
  let polls = 0;
  const loop = (async () => {
    await client.connect();
    while (running) {
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
      min = Math.min(min, rows[0]!.n);
      polls++;
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    await client.end();
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { min, polls };
    },
  };
}

/** Breaks capture of a table (as a failed online schema change would), lets a pass notice it. */
async function breakCapture(table: string, config: Parameters<typeof syncOnce>[0]): Promise<void> {
  await s.mysqlExec('src', `DROP TRIGGER tributary_${table}_del`);
  const refused = await syncOnce(config);
  expect(unitOf(refused, 'src', table)).toMatchObject({ status: 'failed', errorCode: 'TRIGGER_DRIFT' });
}

test('a reader polling count(*) during a 200k-row re-snapshot never sees fewer rows than before', async () => {
  await s.mysqlExec('src', 'CREATE TABLE big (id INT PRIMARY KEY, label VARCHAR(20) NOT NULL)');
  await createDigits();
  await s.mysqlExec(
    'src',
    `INSERT INTO big SELECT 1 + a.n + 10*b.n + 100*c.n + 1000*d.n + 10000*e.n + 100000*f.n, CONCAT('row ', a.n, b.n, c.n)
       FROM digits a, digits b, digits c, digits d, digits e, (SELECT 0 AS n UNION ALL SELECT 1) f`,
  );
  const before = s.config(['big'], 'snapshotChunkSize: 4000');
  await installTriggers(before);
  expect(unitOf(await syncOnce(before), 'src', 'big')).toMatchObject({ status: 'ok', snapshotRows: 200_000 });

  // An edited setting that keeps every row (id > 0) is copied again, chunk by chunk.
  const edited = s.config([{ name: 'big', where: 'id > 0' }], 'snapshotChunkSize: 4000');
  const reader = pollCount('big');
  const resynced = await syncOnce(edited);
  const { min, polls } = await reader.stop();
  expect(unitOf(resynced, 'src', 'big')).toMatchObject({ status: 'ok', snapshotRows: 200_000 });
  // The reader really looked while the 50 chunks were committed.
  expect(polls).toBeGreaterThan(20);
  expect(min).toBe(200_000);
  expect(resultOf(await verifyOnce(edited), 'src', 'big').state).toBe('equal');
});

test('composite integer key: rows deleted, added and changed while capture was broken are brought in line, chunk ranges included', async () => {
  await s.mysqlExec('src', 'CREATE TABLE parts (region INT NOT NULL, id INT NOT NULL, qty INT, PRIMARY KEY (region, id))');
  const values = [];
  for (let region = 1; region <= 4; region++) for (let id = 1; id <= 25; id++) values.push(`(${region}, ${id}, ${region * 100 + id})`);
  await s.mysqlExec('src', `INSERT INTO parts VALUES ${values.join(', ')}`);
  const config = chunked(s.config(['parts']), 7);
  await installTriggers(config);
  expect((await syncOnce(config)).failed).toBe(0);

  await breakCapture('parts', config);
  // Deleted with no trigger to see it: the first key, keys inside and at the edge of chunks, the last keys.
  await s.mysqlExec('src', 'DELETE FROM parts WHERE (region = 1 AND id = 1) OR (region = 2 AND id IN (3, 7, 8, 14)) OR (region = 4 AND id > 20)');
  await s.mysqlExec('src', 'INSERT INTO parts VALUES (0, 1, 1), (3, 100, 3), (9, 9, 9); UPDATE parts SET qty = -qty WHERE region = 3 AND id < 5');
  await installTriggers(config);

  const repaired = await syncOnce(config);
  expect(unitOf(repaired, 'src', 'parts')).toMatchObject({ status: 'ok', snapshotRows: 93 });
  const { source, target } = await compareTable(s, 'parts', ['region', 'id', 'qty']);
  expect(target).toEqual(source);
  expect(resultOf(await verifyOnce(config), 'src', 'parts').state).toBe('equal');
});

test('case-insensitive, PAD SPACE text keys: no row goes missing, and rows the source lost are removed at the end', async () => {
  await s.mysqlExec('src', 'CREATE TABLE codes (code VARCHAR(20) COLLATE utf8mb4_general_ci PRIMARY KEY, n INT)');
  const codes = ['a', 'B', 'c', 'D', 'e', 'Éclair', 'f', 'G', 'h', 'i', 'J', 'k', 'zeta', 'Zulu', '_x', '0', '9', 'ß', 'Ω'];
  await s.mysqlExec('src', `INSERT INTO codes VALUES ${codes.map((c, i) => `('${c}', ${i})`).join(', ')}`);
  const config = chunked(s.config(['codes']), 3);
  await installTriggers(config);
  expect((await syncOnce(config)).failed).toBe(0);

  await breakCapture('codes', config);
  // A spelling change MySQL treats as the same key, deletes, and an insert sorting first.
  await s.mysqlExec('src', "UPDATE codes SET code = 'A' WHERE code = 'a'; DELETE FROM codes WHERE code IN ('D', 'zeta', 'Ω'); INSERT INTO codes VALUES (' lead', 100)");
  await installTriggers(config);

  const survivors = codes.length - 3;
  const reader = pollCount('codes');
  const repaired = await syncOnce(config);
  const { min } = await reader.stop();
  expect(unitOf(repaired, 'src', 'codes')).toMatchObject({ status: 'ok', snapshotRows: survivors + 1 });
  // Every row the source kept was readable throughout (its old spelling 'a' stood for 'A' until the end).
  expect(min).toBeGreaterThanOrEqual(survivors);
  const { source, target } = await compareTable(s, 'codes', ['code', 'n']);
  expect(target).toEqual(source);
  expect((await s.pgRows("SELECT code FROM codes WHERE lower(code) = 'a'")).map((r) => r.code)).toEqual(['A']);
  expect(resultOf(await verifyOnce(config), 'src', 'codes').state).toBe('equal');
  // The table of seen keys is gone once the snapshot is done.
  expect(await s.pgRows("SELECT tablename FROM pg_tables WHERE schemaname = 'tributary' AND tablename LIKE 'snapshot_seen_%'")).toEqual([]);
});

test('the last good version of a row PostgreSQL cannot hold survives a re-snapshot, and verify reports it as rejected (exit 8)', async () => {
  await s.mysqlExec('src', 'CREATE TABLE events (id INT PRIMARY KEY, happened DATETIME NULL, label VARCHAR(20))');
  await s.mysqlExec('src', "INSERT INTO events VALUES (1, '2024-01-01 00:00:00', 'one'), (5, '2024-05-05 05:05:05', 'five'), (9, '2024-09-09 09:09:09', 'nine')");
  const config = chunked(s.config([{ name: 'events', onBadValue: 'reject' }]), 2);
  await installTriggers(config);
  expect((await syncOnce(config)).failed).toBe(0);

  await breakCapture('events', config);
  // A value with no PostgreSQL equivalent (a zero date, as legacy applications write).
  await s.mysqlExec('src', "SET SESSION sql_mode = ''; UPDATE events SET happened = '0000-00-00 00:00:00', label = 'bad' WHERE id = 5; SET SESSION sql_mode = DEFAULT");
  await s.mysqlExec('src', 'DELETE FROM events WHERE id = 9');
  await installTriggers(config);

  const resynced = await syncOnce(config);
  expect(unitOf(resynced, 'src', 'events')).toMatchObject({ status: 'ok', snapshotRows: 2 });
  // Rejected by the snapshot, and again by the captured update applied after it.
  expect(unitOf(resynced, 'src', 'events').rejects).toBeGreaterThanOrEqual(1);
  expect(await s.pgRows('SELECT id, happened::text, label FROM events ORDER BY id')).toEqual([
    { id: 1, happened: '2024-01-01 00:00:00', label: 'one' },
    { id: 5, happened: '2024-05-05 05:05:05', label: 'five' },
  ]);
  expect(await s.pgRows("SELECT key_text, action FROM tributary.rejects WHERE source_table = 'events'")).toEqual([{ key_text: 'id=5', action: 'rejected' }]);

  const verified = resultOf(await verifyOnce(config), 'src', 'events');
  expect(verified).toMatchObject({ state: 'rejected', comparison: { missing: 0, extra: 0, different: 0, rejected: 1, rejectedWithoutVersion: 0, samples: { rejected: ['id=5'] } } });
  const cli = await runCli(['verify', '--config', s.configFile([{ name: 'events', onBadValue: 'reject' }])]);
  expect(cli.code).toBe(8);
  expect(cli.stdout).toMatch(/REJECTED ROWS.*1 rejected row\(s\) kept out.*id=5/);

  // Once the row is good again, the reject goes and verify is clean.
  await s.mysqlExec('src', "UPDATE events SET happened = '2025-05-05 00:00:00', label = 'fixed' WHERE id = 5");
  expect((await syncOnce(config)).failed).toBe(0);
  expect(resultOf(await verifyOnce(config), 'src', 'events').state).toBe('equal');
});

test('a re-snapshot killed after each chunk resumes where it stopped, never leaving rows missing, and ends equal', async () => {
  await createDigits();
  await s.mysqlExec('src', 'CREATE TABLE crash_int (id INT PRIMARY KEY, v INT)');
  await s.mysqlExec('src', 'CREATE TABLE crash_txt (code VARCHAR(12) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT)');
  await s.mysqlExec('src', 'INSERT INTO crash_int SELECT 1 + a.n + 10 * b.n + 100 * c.n, a.n FROM digits a, digits b, (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) c');
  await s.mysqlExec('src', "INSERT INTO crash_txt SELECT CONCAT(IF(id % 2 = 0, 'K', 'k'), LPAD(id, 4, '0')), v FROM crash_int");
  const tables = ['crash_int', 'crash_txt'];
  const config = s.config(tables, 'snapshotChunkSize: 100');
  await installTriggers(config);
  expect((await syncOnce(config)).failed).toBe(0);
  for (const table of tables) await s.mysqlExec('src', `DROP TRIGGER tributary_${table}_del`);
  expect((await syncOnce(config)).failed).toBe(2);
  await s.mysqlExec('src', "DELETE FROM crash_int WHERE id % 50 = 7 OR id > 480; DELETE FROM crash_txt WHERE v = 3 OR code > 'k0470'");
  await installTriggers(config);
  const survivors: Record<string, number> = {};
  for (const table of tables) survivors[table] = Number((await s.mysqlRows('src', `SELECT COUNT(*) AS n FROM ${table}`))[0]!.n);

  const path = s.configFile(tables, 'snapshotChunkSize: 100');
  let kills = 0;
  for (let run = 0; run < 40; run++) {
    const result = await runCli(['--config', path, 'sync', '--once'], { TRIBUTARY_FAULT: 'after-snapshot-chunk' });
    for (const table of tables) {
      const [{ n }] = (await s.pgRows(`SELECT count(*)::int AS n FROM ${table}`)) as [{ n: number }];
      expect({ table, run, atLeast: n >= survivors[table]! }).toEqual({ table, run, atLeast: true });
    }
    if (result.signal !== 'SIGKILL') {
      expect(result.code).toBe(0);
      break;
    }
    kills++;
  }
  // About 470 rows per table in chunks of 100: four full chunks each, and a run is killed right after
  // the first full chunk it commits (the two tables run side by side, so at most two chunks a run).
  expect(kills).toBeGreaterThanOrEqual(4);
  for (const result of await verifyOnce(config)) expect({ table: result.table, state: result.state }).toEqual({ table: result.table, state: 'equal' });
  for (const table of tables) expect(await s.pgRows(`SELECT count(*)::int AS n FROM ${table}`)).toEqual([{ n: survivors[table] }]);
});
