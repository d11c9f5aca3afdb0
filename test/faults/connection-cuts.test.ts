/**
 * Fault suite, scenario 3 (network and non-transient errors), on the shared servers (nothing is
 * stopped): connections cut in the middle of batches by a TCP proxy in front of MariaDB and of
 * PostgreSQL; and a source table dropped during a pass, an error that must end the pass with a failure
 * exit code instead of being retried forever, while the other tables carry on.
 */
import { eventually, runCli, startCli } from '../helpers/cli';
import { expectTargetEqualsSources } from '../helpers/checksum';
import { TcpProxy } from '../helpers/proxy';
import { createScratch, MYSQL, PG, type Scratch } from '../helpers/scratch';
import { catchUp, configYaml, logLines, scratchTopology, sleep, via, writeConfig } from '../helpers/topology';
import { writerTableSql } from '../helpers/writers';

const TABLE = 'items';
const CHANGES = 20_000;

let s: Scratch;
beforeAll(async () => {
  s = await createScratch(['a', 'b']);
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, writerTableSql(TABLE));
    await s.mysqlExec(id, 'CREATE TABLE other (id INT PRIMARY KEY, label VARCHAR(20), qty INT)');
  }
});
afterAll(async () => {
  await s?.cleanup();
});

async function insertMany(from: number): Promise<void> {
  for (const id of s.sourceIds) {
    await s.mysqlExec(
      id,
      `INSERT INTO ${TABLE} (id, grp, name, amount, at) SELECT ${from} + seq, seq % 5, CONCAT('n', seq), seq / 10, '2024-05-01 12:00:00' FROM seq_1_to_${CHANGES}`,
    );
  }
}

test('connections cut mid-batch by a proxy in front of MariaDB and PostgreSQL: retried or failed with the server named, then caught up', async () => {
  const mysqlProxy = new TcpProxy(MYSQL.host, MYSQL.port);
  const pgProxy = new TcpProxy(PG.host, PG.port);
  await mysqlProxy.start();
  await pgProxy.start();
  try {
    const direct = scratchTopology(s);
    const proxied = via(direct, { mysql: { a: mysqlProxy.port, b: mysqlProxy.port }, pgPort: pgProxy.port });
    const { path, config } = writeConfig(configYaml(proxied, [TABLE], ['batchSize: 200', 'concurrency: 2']));
    expect((await runCli(['--config', path, 'triggers', 'install'])).code).toBe(0);
    expect((await runCli(['--config', path, 'sync', '--once'])).code).toBe(0);

    for (const [round, cut] of [
      [1, 'mysql'],
      [2, 'pg'],
      [3, 'both'],
    ] as const) {
      await insertMany(round * 100_000);
      const pass = startCli(['--config', path, 'sync', '--once']);
      expect(await eventually(async () => pass.output().includes('"batch applied"'), 600, 50)).toBe(true);
      // Cut every connection, again and again a little apart, until a cut has hit a statement in
      // flight (a cut between statements only makes the pool open a new connection, silently).
      let dropped = 0;
      let exited = false;
      void pass.exited.then(() => (exited = true));
      for (let i = 0; i < 20 && !exited && !/transient error; retrying|"unit failed"/.test(pass.output()); i++) {
        if (cut !== 'pg') dropped += mysqlProxy.dropAll();
        if (cut !== 'mysql') dropped += pgProxy.dropAll();
        await sleep(200);
      }
      const run = await pass.exited;
      expect(dropped).toBeGreaterThan(0);
      const ports = cut === 'pg' ? [pgProxy.port] : cut === 'mysql' ? [mysqlProxy.port] : [pgProxy.port, mysqlProxy.port];
      const named = logLines(run.stderr)
        .filter((l) => l.level !== 'info')
        .map((l) => JSON.stringify(l))
        .filter((l) => ports.some((port) => l.includes(`127.0.0.1:${port}`)));
      if (process.env.TRIBUTARY_FAULTS_VERBOSE) console.log(`cut ${cut}: exit ${run.code}\n${named.join('\n')}`);
      expect({ round, cut, named: named.length > 0 }).toEqual({ round, cut, named: true });
      expect(run.signal).toBeNull();

      const next = await runCli(['--config', path, 'sync', '--once']);
      expect({ round, code: next.code, stderr: next.code === 0 ? '' : next.stderr }).toEqual({ round, code: 0, stderr: '' });
      // The cut must not have looked like a lost changelog (a fresh snapshot would hide losses).
      expect(run.stderr + next.stderr).not.toContain('snapshotted again');
      await catchUp(config);
      await expectTargetEqualsSources(direct, TABLE);
    }
  } finally {
    await mysqlProxy.close();
    await pgProxy.close();
  }
}, 300_000);

test('the MySQL connection cut while a snapshot streams rows: the pass fails or retries with the server named, never waits forever', async () => {
  const mysqlProxy = new TcpProxy(MYSQL.host, MYSQL.port);
  await mysqlProxy.start();
  try {
    for (const id of s.sourceIds) {
      await s.mysqlExec(id, 'CREATE TABLE streamed (id INT PRIMARY KEY, label VARCHAR(40) NOT NULL)');
      await s.mysqlExec(id, `INSERT INTO streamed SELECT seq, CONCAT('row ', seq) FROM seq_1_to_${id === 'a' ? 300_000 : 10}`);
    }
    const direct = scratchTopology(s);
    const proxied = via(direct, { mysql: { a: mysqlProxy.port, b: mysqlProxy.port } });
    // One chunk for the whole table: the cut lands inside a streamed result, not between queries.
    const { path, config } = writeConfig(configYaml(proxied, ['streamed'], ['snapshotChunkSize: 1000000']));
    expect((await runCli(['--config', path, 'triggers', 'install'])).code).toBe(0);
    const pass = startCli(['--config', path, '--log-format', 'json', 'sync', '--once']);
    expect(await eventually(async () => /"snapshot started"[^\n]*"source":"a"|"source":"a"[^\n]*"snapshot started"/.test(pass.output()), 600, 20)).toBe(true);
    expect(mysqlProxy.dropAll()).toBeGreaterThan(0);
    // Before the fix, the chunk waited for rows from a connection that was gone and the pass never ended.
    const run = await pass.exited;
    expect(run.signal).toBeNull();
    const complaints = logLines(run.stderr).filter((l) => l.level !== 'info').map((l) => JSON.stringify(l));
    expect(complaints.some((l) => l.includes(`127.0.0.1:${mysqlProxy.port}`))).toBe(true);
    await catchUp(config);
    await expectTargetEqualsSources(direct, 'streamed');
  } finally {
    await mysqlProxy.close();
  }
}, 300_000);

test('a source table dropped during a pass: that unit fails without endless retries, the pass exits 6, the other units are applied', async () => {
  const topology = scratchTopology(s);
  const { path, config } = writeConfig(configYaml(topology, [TABLE, 'other'], ['batchSize: 200', 'concurrency: 4']));
  expect((await runCli(['--config', path, 'triggers', 'install'])).code).toBe(0);
  await catchUp(config);
  await insertMany(900_000);
  for (const id of s.sourceIds) await s.mysqlExec(id, "INSERT INTO other VALUES (1, 'one', 1), (2, 'two', 2); UPDATE other SET qty = 20 WHERE id = 2");

  const pass = startCli(['--config', path, 'sync', '--once']);
  expect(await eventually(async () => pass.output().includes('"batch applied"'), 600, 50)).toBe(true);
  await s.mysqlExec('a', `DROP TABLE ${TABLE}`);
  const run = await pass.exited;

  expect(run.code).toBe(6);
  const failures = logLines(run.stderr).filter((l) => l.message === 'unit failed');
  expect(failures.map((l) => [l.source, l.table])).toEqual([['a', TABLE]]);
  expect(String(failures[0]!.error)).toContain(s.mysqlDb.a);
  // A dropped table is not transient: at most the retries a transient error would get, none expected.
  const retries = logLines(run.stderr).filter((l) => l.message === 'unit failed with a transient error; retrying' && l.source === 'a' && l.table === TABLE);
  expect(retries).toEqual([]);
  expect(run.stdout).toMatch(/^a\s+items\s+failed/m);

  // Everything else is in sync: other from both sources, items from b.
  await expectTargetEqualsSources(topology, 'other');
  await expectTargetEqualsSources({ ...topology, sources: topology.sources.filter((x) => x.id === 'b') }, TABLE, { allowOtherSources: true });
  // And the next run refuses that table only (it is gone from a source), not a hang: the others are
  // synced, so the run is a partial failure (6) naming the table and source.
  const again = await runCli(['--config', path, 'sync', '--once']);
  expect(again.code).toBe(6);
  expect(again.stderr).toMatch(/table items does not exist in source a/);
  expect(again.stdout).toMatch(/^a\s+items\s+failed/m);
  expect(again.stdout).toMatch(/^b\s+items\s+ok/m);
}, 180_000);
