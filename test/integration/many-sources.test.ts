/**
 * Many shards on one server: more source databases than the server accepts connections. Every
 * command must keep its MySQL connections within `concurrency` + 1 (one budget per process, over all
 * sources), so each succeeds where holding a connection per source would fail with "Too many
 * connections". A private MariaDB with a small max_connections makes the bound bite; its
 * Max_used_connections (reset by FLUSH STATUS before each command) says how many were open at once.
 */
import mysql from 'mysql2/promise';
import { expectTargetEqualsSources } from '../helpers/checksum';
import { eventually, runCli, startCli } from '../helpers/cli';
import { type PrivateServer, startPrivateMariaDB } from '../helpers/private-servers';
import { sqlFile } from '../../src/sqlfiles';
import { configYaml, createDatabases, pgRun, writeConfig } from '../helpers/topology';

const SOURCES = 30;
const MAX_CONNECTIONS = 10;
const CONCURRENCY = 3;
// The process's budget (concurrency + 1, see sourceConnectionBudget) plus this test's own connection.
const ALLOWED = CONCURRENCY + 1 + 1;
const TABLES = ['orders', 'items'];

let server: PrivateServer;
let dbs: Awaited<ReturnType<typeof createDatabases>>;
let admin: mysql.Connection;
let configPath: string;

beforeAll(async () => {
  server = await startPrivateMariaDB([`--max-connections=${MAX_CONNECTIONS}`]);
  const ids = Array.from({ length: SOURCES }, (_, i) => `s${String(i + 1).padStart(2, '0')}`);
  dbs = await createDatabases(server.port, Number(process.env.TEST_PG_PORT ?? 5432), ids);
  admin = await mysql.createConnection({ host: '127.0.0.1', port: server.port, user: 'root', multipleStatements: true });
  for (const [index, source] of dbs.topology.sources.entries()) {
    const db = `\`${source.mysql.database}\``;
    await admin.query(
      TABLES.map((t) => `CREATE TABLE ${db}.${t} (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL); INSERT INTO ${db}.${t} VALUES (1, 'a${index}'), (2, 'b${index}')`).join(';'),
    );
  }
  configPath = writeConfig(configYaml(dbs.topology, TABLES, [`concurrency: ${CONCURRENCY}`, 'pollInterval: 100'])).path;
}, 120_000);

afterAll(async () => {
  await admin?.end().catch(() => undefined);
  await dbs?.drop().catch(() => undefined);
  await server?.destroy();
});

const statusValue = async (name: string): Promise<number> => {
  const [rows] = await admin.query('SHOW GLOBAL STATUS LIKE ?', [name]);
  return Number((rows as { Value: string }[])[0]!.Value);
};

/** Runs a CLI command and returns it with the most MySQL connections open at once meanwhile. */
async function measured(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; peak: number }> {
  // Connections of the previous command close asynchronously on the server: wait until only ours is left.
  expect(await eventually(async () => (await statusValue('Threads_connected')) === 1, 100, 50)).toBe(true);
  await admin.query('FLUSH STATUS');
  const run = await runCli(['--config', configPath, ...args]);
  return { ...run, peak: await statusValue('Max_used_connections') };
}

async function expectSucceeds(args: string[]): Promise<string> {
  const run = await measured(args);
  if (run.code !== 0) throw new Error(`${args.join(' ')} exited ${run.code}:\n${run.stderr.slice(-3000)}`);
  if (run.peak > ALLOWED) throw new Error(`${args.join(' ')} had ${run.peak} connections open at once (this test's own included); allowed ${ALLOWED}`);
  return run.stdout;
}

/** Writes to every source through this test's one connection (so the server's count stays exact). */
async function writeEverywhere(round: number): Promise<void> {
  for (const source of dbs.topology.sources) {
    const db = `\`${source.mysql.database}\``;
    await admin.query(
      `INSERT INTO ${db}.orders VALUES (${10 + round}, 'new'); UPDATE ${db}.items SET v = 'changed ${round}' WHERE id = 1; DELETE FROM ${db}.orders WHERE id = 2 AND ${round} = 1`,
    );
  }
}

async function targetEqualsSources(): Promise<void> {
  for (const table of TABLES) await expectTargetEqualsSources(dbs.topology, table);
}

test(`every command over ${SOURCES} sources on a server allowing ${MAX_CONNECTIONS} connections stays within concurrency + 1`, async () => {
  await expectSucceeds(['triggers', 'install']);
  const status = await expectSucceeds(['triggers', 'status']);
  expect(status).not.toMatch(/missing|differs/);
  expect(await expectSucceeds(['triggers', 'print'])).toContain('installed and complete');
  expect(await expectSucceeds(['triggers', 'print', '--grants'])).toContain('GRANT');
  await expectSucceeds(['sync', '--once']);
  await writeEverywhere(1);
  await expectSucceeds(['sync', '--once']);
  await targetEqualsSources();
  await expectSucceeds(['verify']);
  await expectSucceeds(['status']);

  // A follower over every source, while changes arrive: it catches up without exceeding the budget.
  expect(await eventually(async () => (await statusValue('Threads_connected')) === 1, 100, 50)).toBe(true);
  await admin.query('FLUSH STATUS');
  const follower = startCli(['--config', configPath, 'sync', '--follow']);
  try {
    await writeEverywhere(2);
    // Known from the writes (and read from PostgreSQL only, to leave the MySQL count to the follower):
    // orders 1, 11 and 12, and items 1 changed in round 2, in every source.
    const caughtUp = async (): Promise<boolean> => {
      const [orders] = await pgRun<{ n: string }>(dbs.topology.pg, 'SELECT count(*) AS n FROM orders');
      const [items] = await pgRun<{ n: string }>(dbs.topology.pg, "SELECT count(*) AS n FROM items WHERE v = 'changed 2'");
      return Number(orders!.n) === 3 * SOURCES && Number(items!.n) === SOURCES;
    };
    expect(await eventually(caughtUp, 150, 200)).toBe(true);
  } finally {
    follower.child.kill('SIGTERM');
  }
  const followed = await follower.exited;
  if (followed.code !== 0) throw new Error(`sync --follow exited ${followed.code}:\n${followed.stderr.slice(-3000)}`);
  expect(await statusValue('Max_used_connections')).toBeLessThanOrEqual(ALLOWED);

  await targetEqualsSources();
  await expectSucceeds(['triggers', 'uninstall']);
  const [left] = await admin.query("SELECT COUNT(*) AS n FROM information_schema.TRIGGERS WHERE TRIGGER_NAME LIKE 'tributary\\_%'");
  expect(Number((left as { n: string }[])[0]!.n)).toBe(0);
}, 600_000);

test('init over every source on that server opens one connection at a time', async () => {
  const args = ['init', '--target', `postgres://root@127.0.0.1:${dbs.topology.pg.port}/${dbs.topology.pg.database}`];
  for (const source of dbs.topology.sources) args.push('--source', `${source.id}=mysql://root@127.0.0.1:${server.port}/${source.mysql.database}`);
  expect(await eventually(async () => (await statusValue('Threads_connected')) === 1, 100, 50)).toBe(true);
  await admin.query('FLUSH STATUS');
  const run = await runCli(args);
  if (run.code !== 0) throw new Error(`init exited ${run.code}:\n${run.stderr.slice(-3000)}`);
  expect(run.stdout).toContain('name: "orders"');
  expect(await statusValue('Max_used_connections')).toBeLessThanOrEqual(2);
}, 120_000);

test("information_schema reads of one source open only that source's database", async () => {
  // MariaDB's EXPLAIN tells how many databases an information_schema read opens; reading every
  // database made the per-source check grow with the number of shards on the server.
  const database = dbs.topology.sources[0]!.mysql.database;
  const connection = await mysql.createConnection({ host: '127.0.0.1', port: server.port, user: 'root', database });
  try {
    const names = ['orders', 'items', 'tributary_log_orders'];
    const reads: Record<string, unknown[]> = {
      'mysql/pass_check.sql': [database, database, ['tributary_orders_ins'], database, names, database, names, database, names],
      'mysql/capture_inventory.sql': [],
      'mysql/columns.sql': [names],
      'mysql/indexes.sql': [database, names],
      'mysql/table_comments.sql': [database, names],
      'mysql/mariadb_json_checks.sql': [names],
      'mysql/mariadb_check_digest.sql': [database, names],
      'mysql/estimate_rows.sql': ['orders'],
      'mysql/base_tables.sql': [],
    };
    for (const [file, params] of Object.entries(reads)) {
      const [plan] = await connection.query(`EXPLAIN ${sqlFile(file)}`, params);
      const scans = (plan as { table: string | null; Extra: string | null }[]).filter((row) => /Scanned/.test(row.Extra ?? ''));
      expect({ file, scans: scans.length > 0 }).toEqual({ file, scans: true });
      for (const row of scans) expect({ file, extra: row.Extra }).toEqual({ file, extra: expect.stringMatching(/Scanned [01] databases?/) });
    }
  } finally {
    await connection.end();
  }
});
