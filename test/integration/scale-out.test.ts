/**
 * Several processes on one configuration share the work: each (source, table) is leased through a
 * PostgreSQL advisory lock, so it is applied by one process at a time and taken over when its holder dies.
 */
import { eventually, runCli, startCli } from '../helpers/cli';
import pg from 'pg';
import { compareTable, createScratch, PG, type Scratch } from '../helpers/scratch';

const TABLES = ['t1', 't2', 't3'];
let s: Scratch;
beforeAll(async () => {
  s = await createScratch(['a', 'b']);
  for (const id of s.sourceIds) for (const t of TABLES) await s.mysqlExec(id, `CREATE TABLE ${t} (id INT PRIMARY KEY, v INT NOT NULL)`);
});
afterAll(async () => {
  await s.cleanup();
});

async function inSync(): Promise<boolean> {
  for (const t of TABLES) {
    const { source, target } = await compareTable(s, t, ['id', 'v']);
    if (JSON.stringify(source) !== JSON.stringify(target)) return false;
  }
  return true;
}

test('three followers, one killed mid-run: no unit stalls and the target equals the sources', async () => {
  const config = s.configFile(TABLES, 'pollInterval: 50\nconcurrency: 2');
  expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
  for (const id of s.sourceIds) for (const t of TABLES) await s.mysqlExec(id, `INSERT INTO ${t} VALUES (1000000, 0)`);
  const workers = [0, 1, 2].map(() => startCli(['--config', config, '--log-format', 'json', 'sync', '--follow']));
  let next = 1;
  const write = async (rounds: number): Promise<void> => {
    for (let r = 0; r < rounds; r++) {
      for (const id of s.sourceIds) {
        for (const t of TABLES) {
          await s.mysqlExec(id, `INSERT INTO ${t} VALUES (${next}, 0), (${next + 1}, 0); UPDATE ${t} SET v = v + 1 WHERE id = ${Math.max(1, next - 3)}; DELETE FROM ${t} WHERE id = ${Math.max(1, next - 6)}`);
        }
      }
      next += 2;
    }
  };
  try {
    // The followers' first snapshots done before writing (a seed row visible in the target): on a slow
    // machine, writes made while they still start would all arrive by snapshot and no batch would show
    // the work being shared.
    expect(await eventually(() => inSync().catch(() => false), 150, 200)).toBe(true);
    await write(20);
    workers[0]!.child.kill('SIGKILL');
    await write(20);
    expect(await eventually(inSync, 150, 200)).toBe(true);
    // Every unit kept moving after the kill: its changelog holds nothing beyond the sentinel.
    for (const id of s.sourceIds) {
      for (const t of TABLES) {
        const left = await s.mysqlRows(id, `SELECT COUNT(*) AS n FROM tributary_log_${t}`);
        expect(Number(left[0]!.n)).toBeLessThanOrEqual(1);
      }
    }
  } finally {
    for (const worker of workers.slice(1)) worker.child.kill('SIGTERM');
  }
  const outputs = await Promise.all(workers.map((w) => w.exited));
  for (const output of outputs.slice(1)) {
    if (output.code !== 0) throw new Error(`follower exited ${output.code}:\n${output.stderr.slice(-3000)}`);
  }
  const logs = outputs.map((o) => o.stderr).join('\n');
  // The lease held: no process ever found the watermark moved under it.
  expect(logs).not.toContain('CHECKPOINT_CONFLICT');
  // Work was shared: at least two processes applied batches.
  const applying = outputs.filter((o) => o.stderr.includes('"message":"batch applied"')).length;
  expect(applying).toBeGreaterThanOrEqual(2);
});

test('a follower removes the changelog rows another process applied but died before pruning', async () => {
  const config = s.configFile(['t1'], 'pollInterval: 100');
  expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
  await s.mysqlExec('a', 'INSERT INTO t1 VALUES (5000001, 1)');
  const follower = startCli(['--config', config, '--log-format', 'json', 'sync', '--follow']);
  // Plays the other process: holds the unit's lock, applies one change and moves the checkpoint past
  // it, then "dies" without pruning its changelog row.
  const other = new pg.Client({ ...PG, database: s.pgDb });
  await other.connect();
  try {
    const applied = async (): Promise<boolean> => (await s.pgRows('SELECT v FROM t1 WHERE _source = $1 AND id = 5000001', ['a']))[0]?.v === 1;
    expect(await eventually(applied, 150, 200)).toBe(true);
    const count = async (): Promise<number> => Number((await s.mysqlRows('a', 'SELECT COUNT(*) AS n FROM tributary_log_t1'))[0]!.n);
    // Applied rows are pruned but for the one at the watermark, kept as the sentinel.
    expect(await eventually(async () => (await count()) === 1, 150, 200)).toBe(true);
    const lockKey = JSON.stringify(['tributary', 'a', 't1']);
    await other.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockKey]);
    await s.mysqlExec('a', 'UPDATE t1 SET v = 3 WHERE id = 5000001; UPDATE t1 SET v = 2 WHERE id = 5000001');
    const top = Number((await s.mysqlRows('a', 'SELECT MAX(change_id) AS top FROM tributary_log_t1'))[0]!.top);
    await other.query('BEGIN');
    await other.query("UPDATE t1 SET v = 2 WHERE _source = 'a' AND id = 5000001");
    await other.query("UPDATE tributary.checkpoints SET high_water = $1, prune_pending = true WHERE source_id = 'a' AND source_table = 't1'", [top]);
    await other.query('COMMIT');
    expect(await count()).toBe(3);
    await other.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockKey]);
    // The follower sees the unit moved by someone else and looks for what that process left.
    expect(await eventually(async () => (await count()) === 1, 100, 200)).toBe(true);
    expect(await s.pgRows('SELECT v FROM t1 WHERE _source = $1 AND id = 5000001', ['a'])).toEqual([{ v: 2 }]);
  } finally {
    await other.end();
    follower.child.kill('SIGTERM');
  }
  const output = await follower.exited;
  expect(output.code).toBe(0);
  expect(output.stderr).toContain('removed applied changelog rows another process left');
});
