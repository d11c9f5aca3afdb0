/**
 * One source down is not an outage: the other sources are synced, the down source is reported with
 * its reason, and a follower retries it on its own schedule and takes it back when it returns.
 */
import { writeFileSync } from 'node:fs';
import { freePort } from '../helpers/private-servers';
import { TcpProxy } from '../helpers/proxy';
import { eventually, runCli, startCli } from '../helpers/cli';
import { compareTable, createScratch, MYSQL, type Scratch } from '../helpers/scratch';

let s: Scratch;
afterEach(async () => {
  await s.cleanup();
});

const ITEMS = 'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40))';

/** The same configuration with source `id` reached on another port (a closed one, or a proxy). */
function withSourcePort(yaml: string, id: string, port: number, database = s.mysqlDb[id]): string {
  return yaml.replace(`mysql://root@${MYSQL.host}:${MYSQL.port}/${s.mysqlDb[id]}`, `mysql://root@${MYSQL.host}:${port}/${database}`);
}

function writeYaml(yaml: string): string {
  const path = s.configFile(['items']).replace(/\.yml$/, '-edited.yml');
  writeFileSync(path, yaml);
  return path;
}

test('sync --once with one source on a closed port syncs the other, exits 6 and reports the reason in --json', async () => {
  s = await createScratch(['b']);
  await s.mysqlExec('b', ITEMS);
  await s.mysqlExec('b', "INSERT INTO items VALUES (1, 'one'), (2, 'two')");
  const closed = await freePort();
  const yaml = s.configYaml(['items']).replace('sources:\n', `sources:\n  - id: a\n    url: mysql://root@${MYSQL.host}:${closed}/nowhere\n`);
  const config = writeYaml(yaml);
  expect((await runCli(['--config', config, 'triggers', 'install', '--source', 'b'])).code).toBe(0);

  const run = await runCli(['--config', config, 'sync', '--once', '--json']);
  expect(run.code).toBe(6);
  const report = JSON.parse(run.stdout);
  expect(report.units).toEqual([
    expect.objectContaining({ source: 'a', table: 'items', status: 'failed', errorCode: 'SOURCE_UNREACHABLE', reason: expect.stringContaining(`127.0.0.1:${closed}`) }),
    expect.objectContaining({ source: 'b', table: 'items', status: 'ok', snapshotRows: 2 }),
  ]);
  expect(report.sources).toEqual([
    expect.objectContaining({ source: 'a', up: false, errorCode: 'SOURCE_UNREACHABLE' }),
    { source: 'b', up: true },
  ]);
  const { source, target } = await compareTable(s, 'items', ['id', 'name']);
  expect(target).toEqual(source);

  // status says why a's pending work is unknown, and exits 6 (some sources could not be read).
  const status = await runCli(['--config', config, 'status', '--json']);
  expect(status.code).toBe(6);
  const units = JSON.parse(status.stdout).units;
  expect(units.find((u: { sourceId: string }) => u.sourceId === 'a')).toMatchObject({ pending: null, unknownCode: 'SOURCE_UNREACHABLE', unknownReason: expect.stringContaining(`127.0.0.1:${closed}`) });
  expect(units.find((u: { sourceId: string }) => u.sourceId === 'b')).toMatchObject({ pending: 0, unknownReason: null });
});

test('every source unreachable: exit 3, and the report is still printed', async () => {
  s = await createScratch(['a']);
  const closed = await freePort();
  const config = writeYaml(withSourcePort(s.configYaml(['items']), 'a', closed));
  const run = await runCli(['--config', config, 'sync', '--once', '--json']);
  expect(run.code).toBe(3);
  expect(JSON.parse(run.stdout).units).toEqual([expect.objectContaining({ source: 'a', status: 'failed', errorCode: 'SOURCE_UNREACHABLE' })]);
});

test('a source cut mid-follow: the other keeps syncing, down and back are logged once each, and its changes arrive after', async () => {
  s = await createScratch(['a', 'b']);
  for (const id of s.sourceIds) await s.mysqlExec(id, ITEMS);
  await s.mysqlExec('a', "INSERT INTO items VALUES (1, 'a1')");
  await s.mysqlExec('b', "INSERT INTO items VALUES (1, 'b1')");
  expect((await runCli(['--config', s.configFile(['items']), 'triggers', 'install'])).code).toBe(0);
  const proxy = new TcpProxy(MYSQL.host, MYSQL.port);
  const proxyPort = await proxy.start();
  const metricsPort = await freePort();
  const config = writeYaml(withSourcePort(s.configYaml(['items'], `pollInterval: 50\nmetrics: { port: ${metricsPort} }`), 'a', proxyPort));
  const follower = startCli(['--config', config, '--log-format', 'json', 'sync', '--follow']);
  const url = `http://127.0.0.1:${metricsPort}`;
  const targetIds = async (source: string): Promise<number[]> => (await s.pgRows('SELECT id FROM items WHERE _source = $1 ORDER BY id', [source])).map((r) => Number(r.id));
  const logged = (message: string): number => follower.output().split('\n').filter((line) => line.includes(`"message":"${message}"`)).length;
  try {
    expect(await eventually(async () => (await targetIds('a')).length === 1 && (await targetIds('b')).length === 1)).toBe(true);

    proxy.block(true);
    // While a is down its table gains a column: merged into the target when a comes back.
    await s.mysqlExec('a', 'ALTER TABLE items ADD COLUMN note VARCHAR(20)');
    await s.mysqlExec('a', "INSERT INTO items VALUES (2, 'a2 while down', 'new column')");
    await s.mysqlExec('b', "INSERT INTO items VALUES (2, 'b2 while a is down')");
    expect(await eventually(async () => (await targetIds('b')).includes(2))).toBe(true);
    expect(await eventually(async () => logged('source down') === 1)).toBe(true);
    // Many passes later (b's next change needs passes of its own), a is still logged down once.
    await s.mysqlExec('b', "INSERT INTO items VALUES (3, 'b3')");
    expect(await eventually(async () => (await targetIds('b')).includes(3))).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    expect(logged('source down')).toBe(1);
    expect(logged('pass failed')).toBe(0);
    expect(await targetIds('a')).toEqual([1]);
    // Some sources down is not unhealthy: /healthz answers 200 and lists them; the metric says which.
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { sourcesDown: { source: string }[] }).sourcesDown.map((d) => d.source)).toEqual(['a']);
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/tributary_source_up\{source="a"\} 0/);

    proxy.block(false);
    expect(await eventually(async () => (await targetIds('a')).includes(2), 200)).toBe(true);
    expect(logged('source back')).toBe(1);
    expect(logged('source down')).toBe(1);
    // The pass that applied it reports a up once it has finished.
    expect(await eventually(async () => /tributary_source_up\{source="a"\} 1/.test(await (await fetch(`${url}/metrics`)).text()))).toBe(true);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/tributary_source_last_success_timestamp_seconds\{source="b"\} \d+/);
    await s.mysqlExec('a', "UPDATE items SET name = 'a1 after' WHERE id = 1");
    expect(await eventually(async () => (await s.pgRows("SELECT name FROM items WHERE _source = 'a' AND id = 1"))[0]?.name === 'a1 after')).toBe(true);
    const { source, target } = await compareTable(s, 'items', ['id', 'name']);
    expect(target).toEqual(source);
    expect(await s.pgRows("SELECT id, note FROM items WHERE _source = 'a' ORDER BY id")).toEqual([
      { id: 1, note: null },
      { id: 2, note: 'new column' },
    ]);
  } finally {
    follower.child.kill('SIGTERM');
    await follower.exited;
    if (process.env.SHOW_LOG) console.log(follower.output().split('\n').filter((l) => !l.includes('batch applied')).join('\n'));
    await proxy.close();
  }
  expect((await follower.exited).code).toBe(0);
});
