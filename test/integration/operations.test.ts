/** Running it unattended: dry runs, JSON reports, metrics, health. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, runCli, startCli } from '../helpers/cli';
import { createScratch, type Scratch } from '../helpers/scratch';

let s: Scratch;
beforeEach(async () => {
  s = await createScratch(['a']);
  await s.mysqlExec('a', 'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40))');
  await s.mysqlExec('a', "INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')");
});
afterEach(async () => {
  await s.cleanup();
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

test('sync --dry-run --json reports what would be applied and writes nothing; --once --json then applies it', async () => {
  const config = s.configFile(['items']);
  expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
  const firstDry = JSON.parse((await runCli(['--config', config, 'sync', '--dry-run', '--json'])).stdout);
  expect(firstDry.units[0]).toMatchObject({ source: 'a', table: 'items', snapshotRows: 3, reason: expect.stringMatching(/snapshot pending/) });
  expect((await runCli(['--config', config, 'sync', '--once'])).code).toBe(0);

  await s.mysqlExec('a', "INSERT INTO items VALUES (4, 'four'), (5, 'five'); UPDATE items SET name = 'ONE' WHERE id = 1; DELETE FROM items WHERE id = 2");
  const dry = await runCli(['--config', config, 'sync', '--dry-run', '--json']);
  expect(dry.code).toBe(0);
  const report = JSON.parse(dry.stdout);
  expect(report.dryRun).toBe(true);
  expect(report.units[0]).toMatchObject({ status: 'ok', changes: 4, inserted: 2, updated: 1, deleted: 1 });
  expect(await s.pgRows('SELECT id, name FROM items ORDER BY id')).toEqual([
    { id: 1, name: 'one' },
    { id: 2, name: 'two' },
    { id: 3, name: 'three' },
  ]);
  expect(Number((await s.mysqlRows('a', 'SELECT COUNT(*) AS n FROM tributary_log_items'))[0]!.n)).toBeGreaterThanOrEqual(4);

  const real = JSON.parse((await runCli(['--config', config, 'sync', '--once', '--json'])).stdout);
  expect(real.units[0]).toMatchObject({ status: 'ok', changes: 4, inserted: 2, updated: 1, deleted: 1 });
  expect((await s.pgRows('SELECT id FROM items ORDER BY id')).map((r) => r.id)).toEqual([1, 3, 4, 5]);
});

test('a cron run writes the Prometheus textfile', async () => {
  const textfile = join(mkdtempSync(join(tmpdir(), 'tributary-metrics-')), 'tributary.prom');
  const config = s.configFile(['items'], `metrics: { textfile: ${JSON.stringify(textfile)} }`);
  expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
  expect((await runCli(['--config', config, 'sync', '--once'])).code).toBe(0);
  await s.mysqlExec('a', "INSERT INTO items VALUES (9, 'nine'), (10, 'ten')");
  expect((await runCli(['--config', config, 'sync', '--once'])).code).toBe(0);
  const text = readFileSync(textfile, 'utf8');
  expect(text).toContain('tributary_rows_applied_total{source="a",table="items",op="insert"} 2');
  expect(text).toMatch(/tributary_last_success_timestamp_seconds\{source="a",table="items"\} \d+/);
});

test('follow mode serves /metrics and /healthz; health turns 503 when a unit fails', async () => {
  const port = await freePort();
  const config = s.configFile(['items'], `pollInterval: 50\nmetrics: { port: ${port} }`);
  expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
  const follower = startCli(['--config', config, 'sync', '--follow']);
  try {
    const url = `http://127.0.0.1:${port}`;
    expect(await eventually(async () => (await fetch(`${url}/healthz`)).status === 200)).toBe(true);
    await s.mysqlExec('a', "INSERT INTO items VALUES (20, 'twenty')");
    expect(await eventually(async () => (await fetch(`${url}/metrics`).then((r) => r.text())).includes('tributary_rows_applied_total{source="a",table="items",op="insert"} 1'))).toBe(true);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    for (const name of ['tributary_lag_seconds', 'tributary_pending_changes', 'tributary_batch_duration_seconds_bucket', 'tributary_rejects_total', 'tributary_open_gaps', 'tributary_last_success_timestamp_seconds']) {
      expect(metrics).toContain(name);
    }
    await s.mysqlExec('a', 'DROP TRIGGER tributary_items_del');
    expect(await eventually(async () => (await fetch(`${url}/healthz`)).status === 503)).toBe(true);
    const body = (await (await fetch(`${url}/healthz`)).json()) as { reason: string };
    expect(body.reason).toMatch(/a\.items \(TRIGGER_DRIFT\)/);
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/tributary_errors_total\{source="a",table="items",kind="TRIGGER_DRIFT"\} [1-9]/);
  } finally {
    follower.child.kill('SIGTERM');
  }
  expect((await follower.exited).code).toBe(0);
});

test('retention keeps applied changelog rows for a while, then prunes them; nothing is applied twice', async () => {
  const config = s.configFile(['items'], 'retention: { seconds: 2 }');
  expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
  expect((await runCli(['--config', config, 'sync', '--once'])).code).toBe(0);
  await s.mysqlExec('a', "INSERT INTO items VALUES (30, 'x'), (31, 'y'); UPDATE items SET name = 'z' WHERE id = 30");
  const first = JSON.parse((await runCli(['--config', config, 'sync', '--once', '--json'])).stdout);
  expect(first.units[0]).toMatchObject({ changes: 3 });
  const kept = async () => Number((await s.mysqlRows('a', 'SELECT COUNT(*) AS n FROM tributary_log_items'))[0]!.n);
  expect(await kept()).toBe(3);
  const again = JSON.parse((await runCli(['--config', config, 'sync', '--once', '--json'])).stdout);
  expect(again.units[0]).toMatchObject({ changes: 0 });
  await new Promise((r) => setTimeout(r, 2500));
  expect((await runCli(['--config', config, 'sync', '--once'])).code).toBe(0);
  // Only the row at the watermark stays: it proves the changelog was not emptied behind Tributary's back.
  expect(await kept()).toBe(1);
  expect(await s.pgRows('SELECT id, name FROM items WHERE id >= 30 ORDER BY id')).toEqual([
    { id: 30, name: 'z' },
    { id: 31, name: 'y' },
  ]);
});
