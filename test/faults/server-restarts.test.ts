/**
 * Fault suite, scenario 3 (servers): PostgreSQL restarted during a pass; MariaDB restarted during a
 * pass while one writer's transaction holds a change id (and dies with the restart) and another's
 * commits just before it. Both servers are PRIVATE instances on their own ports and data folders: the
 * shared servers are never stopped. Expected: the pass retries or fails with a log line naming the
 * server's host:port, and the next pass catches up to equality.
 */
import { eventually, runCli, startCli } from '../helpers/cli';
import { expectTargetEqualsSources } from '../helpers/checksum';
import { type PrivateServer, startPrivateMariaDB, startPrivatePostgres } from '../helpers/private-servers';
import { catchUp, configYaml, createDatabases, logLines, mysqlConnect, mysqlRun, pgRun, type Topology, writeConfig } from '../helpers/topology';
import { writerTableSql } from '../helpers/writers';

const TABLE = 'items';
const CHANGES = 20_000;

let mariadb: PrivateServer;
let postgres: PrivateServer;
const drops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [mariadb, postgres] = await Promise.all([startPrivateMariaDB(), startPrivatePostgres()]);
}, 120_000);

afterAll(async () => {
  for (const drop of drops) await drop().catch(() => undefined);
  await Promise.all([mariadb?.destroy(), postgres?.destroy()]);
}, 120_000);

/** Fresh databases with the table, capture installed and a first (empty) pass done. */
async function prepare(): Promise<{ topology: Topology; path: string; config: ReturnType<typeof writeConfig>['config'] }> {
  const { topology, drop } = await createDatabases(mariadb.port, postgres.port, ['a', 'b']);
  drops.push(drop);
  for (const source of topology.sources) await mysqlRun(source.mysql, writerTableSql(TABLE));
  // Small batches: the pass below runs 100 batches per source, so the restart lands inside it.
  const { path, config } = writeConfig(configYaml(topology, [TABLE], ['batchSize: 200', 'concurrency: 2']));
  expect((await runCli(['--config', path, 'triggers', 'install'])).code).toBe(0);
  expect((await runCli(['--config', path, 'sync', '--once'])).code).toBe(0);
  return { topology, path, config };
}

async function insertMany(topology: Topology, from: number): Promise<void> {
  for (const source of topology.sources) {
    await mysqlRun(
      source.mysql,
      `INSERT INTO ${TABLE} (id, grp, name, amount, at) SELECT ${from} + seq, seq % 5, CONCAT('n', seq), seq / 10, '2024-05-01 12:00:00.25' FROM seq_1_to_${CHANGES}`,
    );
  }
}

/** Warn/error lines (and the CLI's final error line) that name host:port. */
function linesNaming(stderr: string, port: number): string[] {
  return logLines(stderr)
    .filter((l) => l.level !== 'info')
    .map((l) => JSON.stringify(l))
    .filter((l) => l.includes(`127.0.0.1:${port}`));
}

test.each(['restarted', 'crashed'] as const)('PostgreSQL %s during a pass: the pass retries or fails naming the target, the next pass catches up', async (how) => {
  const { topology, path, config } = await prepare();
  await insertMany(topology, 0);
  const pass = startCli(['--config', path, 'sync', '--once']);
  expect(await eventually(async () => pass.output().includes('"batch applied"'), 600, 50)).toBe(true);
  if (how === 'restarted') await postgres.restart(1500);
  else await postgres.crash(1500);
  const run = await pass.exited;

  const named = linesNaming(run.stderr, postgres.port);
  if (process.env.TRIBUTARY_FAULTS_VERBOSE) console.log(`exit ${run.code}\n${named.join('\n')}`);
  expect({ code: run.code, named: named.length > 0 }).toEqual({ code: run.code, named: true });
  if (run.code !== 0) expect(run.code).toBeGreaterThan(0);

  const next = await runCli(['--config', path, 'sync', '--once']);
  expect(next.code).toBe(0);
  // The fault must not have looked like a lost changelog (a fresh snapshot would hide losses).
  expect(run.stderr + next.stderr).not.toContain('snapshotted again');
  await catchUp(config);
  await expectTargetEqualsSources(topology, TABLE);
}, 180_000);

test.each(['restarted', 'crashed'] as const)('MariaDB %s during a pass while a writer holds a change id: the held change never appears, a committed one does', async (how) => {
  const { topology, path, config } = await prepare();
  const a = topology.sources.find((x) => x.id === 'a')!.mysql;
  // Writer A takes a change id and never commits: the restart ends its transaction (rolled back).
  const doomed = await mysqlConnect(a);
  doomed.on('error', () => undefined);
  await doomed.query('START TRANSACTION');
  await doomed.query(`INSERT INTO ${TABLE} (id, grp, name) VALUES (900001, 1, 'never committed')`);
  // Writer B takes the next id and commits during the pass, before the restart.
  const late = await mysqlConnect(a);
  await late.query('START TRANSACTION');
  await late.query(`INSERT INTO ${TABLE} (id, grp, name) VALUES (900002, 1, 'committed late')`);
  await insertMany(topology, 0);

  const pass = startCli(['--config', path, 'sync', '--once']);
  expect(await eventually(async () => pass.output().includes('"batch applied"'), 600, 50)).toBe(true);
  await late.query('COMMIT');
  await late.end();
  // Crashed: InnoDB recovery rolls the held transaction back, in the background after start-up.
  if (how === 'restarted') await mariadb.restart(1500);
  else await mariadb.crash(1500);
  const run = await pass.exited;
  await doomed.end().catch(() => undefined);

  const named = linesNaming(run.stderr, mariadb.port);
  if (process.env.TRIBUTARY_FAULTS_VERBOSE) console.log(`exit ${run.code}\n${named.join('\n')}`);
  expect({ code: run.code, named: named.length > 0 }).toEqual({ code: run.code, named: true });

  const next = await runCli(['--config', path, 'sync', '--once']);
  expect(next.code).toBe(0);
  // The fault must not have looked like a lost changelog (a fresh snapshot would hide losses).
  expect(run.stderr + next.stderr).not.toContain('snapshotted again');
  await catchUp(config);
  await expectTargetEqualsSources(topology, TABLE);
  const target = await pgRun<{ id: string }>(topology.pg, `SELECT id::text AS id FROM ${TABLE} WHERE id > 900000 ORDER BY id`);
  expect(target).toEqual([{ id: '900002' }]);
  const open = await pgRun(topology.pg, 'SELECT * FROM tributary.gaps WHERE expired_at IS NULL');
  expect(open).toEqual([]);
}, 180_000);

test('PostgreSQL down for longer than the retries: the pass ends with a failure exit code naming the target; after it is back the next pass catches up', async () => {
  const { topology, path, config } = await prepare();
  await insertMany(topology, 0);
  const pass = startCli(['--config', path, 'sync', '--once']);
  expect(await eventually(async () => pass.output().includes('"batch applied"'), 600, 50)).toBe(true);
  await postgres.stop();
  // Retries wait 0.5 + 2 + 5 s; the target stays away longer, so the pass gives up.
  const run = await pass.exited;
  await postgres.start();
  if (process.env.TRIBUTARY_FAULTS_VERBOSE) console.log(`exit ${run.code}\n${run.stderr.split('\n').filter((l) => !l.includes('"level":"info"')).join('\n')}`);
  expect(run.code).not.toBe(0);
  expect(run.signal).toBeNull();
  expect(linesNaming(run.stderr, postgres.port).length).toBeGreaterThan(0);
  expect(logLines(run.stderr).filter((l) => l.message === 'unit failed').length).toBe(2);

  const next = await runCli(['--config', path, 'sync', '--once']);
  expect(next.code).toBe(0);
  // The fault must not have looked like a lost changelog (a fresh snapshot would hide losses).
  expect(run.stderr + next.stderr).not.toContain('snapshotted again');
  await catchUp(config);
  await expectTargetEqualsSources(topology, TABLE);
}, 180_000);
