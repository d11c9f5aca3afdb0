/**
 * Errors that lead somewhere: each names what is wrong and what to do, and following the advice works.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { eventually, runCli, startCli } from '../helpers/cli';
import { startPrivateMariaDB, type PrivateServer } from '../helpers/private-servers';
import { compareTable, createScratch, MYSQL, PG, type Scratch } from '../helpers/scratch';

let s: Scratch;
beforeEach(async () => {
  s = await createScratch(['a']);
  await s.mysqlExec('a', 'CREATE TABLE items (id INT PRIMARY KEY, code VARCHAR(10) NOT NULL, name VARCHAR(40))');
  await s.mysqlExec('a', "INSERT INTO items VALUES (1, 'x1', 'one'), (2, 'x2', 'two')");
});
afterEach(async () => {
  await s.cleanup();
});

const stateSchemaExists = async (): Promise<boolean> => (await s.pgRows("SELECT 1 FROM pg_namespace WHERE nspname = 'tributary'")).length > 0;
const targetTables = async (): Promise<string[]> => (await s.pgRows("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).map((r) => String(r.tablename));

test('sync before triggers install names the command to run and creates nothing', async () => {
  const run = await runCli(['--config', s.configFile(['items']), 'sync', '--once']);
  expect(run.code).toBe(5);
  expect(run.stdout + run.stderr).toContain('run `tributary triggers install`');
  expect(await targetTables()).toEqual([]);
  expect(await stateSchemaExists()).toBe(false);
});

test('sync --follow started before triggers install waits, creating nothing, and syncs once capture is installed', async () => {
  const config = s.configFile(['items'], 'pollInterval: 50');
  const follower = startCli(['--config', config, 'sync', '--follow']);
  try {
    expect(await eventually(async () => follower.output().includes('run `tributary triggers install`'))).toBe(true);
    expect(await targetTables()).toEqual([]);
    expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
    expect(await eventually(async () => (await s.pgRows('SELECT count(*)::int AS n FROM items'))[0]!.n === 2)).toBe(true);
    await s.mysqlExec('a', "INSERT INTO items VALUES (3, 'x3', 'three')");
    expect(await eventually(async () => (await s.pgRows('SELECT count(*)::int AS n FROM items'))[0]!.n === 3)).toBe(true);
  } finally {
    follower.child.kill('SIGTERM');
  }
  expect((await follower.exited).code).toBe(0);
  const { source, target } = await compareTable(s, 'items', ['id', 'code', 'name']);
  expect(target).toEqual(source);
});

test('a view is named as a view by triggers install and sync, with or without a declared key', async () => {
  await s.mysqlExec('a', 'CREATE VIEW items_view AS SELECT id, name FROM items');
  for (const table of ['items_view', { name: 'items_view', key: ['id'] }]) {
    const config = s.configFile([table]);
    for (const command of [['triggers', 'install'], ['sync', '--once']]) {
      const run = await runCli(['--config', config, ...command]);
      expect([command.join(' '), run.code]).toEqual([command.join(' '), 2]);
      expect(run.stdout + run.stderr).toMatch(/items_view is a view in source a .*captures base tables only.*list the underlying table/);
    }
  }
  expect(await s.mysqlRows('a', "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()")).toEqual([]);
});

test('a declared key with a nullable column, or with duplicates, is refused at start-up with what to do', async () => {
  await s.mysqlExec('a', 'CREATE TABLE loose (a INT NULL, b INT NOT NULL, c INT)');
  await s.mysqlExec('a', 'INSERT INTO loose VALUES (1, 1, 1), (2, 1, 2)');
  const nullable = await runCli(['--config', s.configFile([{ name: 'loose', key: ['a'] }]), 'triggers', 'install']);
  expect(nullable.code).toBe(2);
  expect(nullable.stderr).toMatch(/key column\(s\) a allow NULL.*NOT NULL/);

  const duplicates = s.configFile([{ name: 'loose', key: ['b'] }]);
  for (const command of [['triggers', 'install'], ['sync', '--once']]) {
    const run = await runCli(['--config', duplicates, ...command]);
    expect([command.join(' '), run.code]).toEqual([command.join(' '), 2]);
    expect(run.stdout + run.stderr).toMatch(/declared key \(b\) is not unique/);
    expect(run.stdout + run.stderr).not.toMatch(/23505|23502/);
  }
  // Nothing half-copied: the table was refused before its snapshot began.
  expect(await targetTables()).toEqual([]);
});

test('a changed key on a synced table says how to proceed, and the advice works', async () => {
  const before = s.configFile(['items']);
  expect((await runCli(['--config', before, 'triggers', 'install'])).code).toBe(0);
  expect((await runCli(['--config', before, 'sync', '--once'])).code).toBe(0);
  const after = s.configFile([{ name: 'items', key: ['code'] }]);
  expect((await runCli(['--config', after, 'triggers', 'install'])).code).toBe(0);
  const run = await runCli(['--config', after, 'sync', '--once']);
  expect(run.code).toBe(2);
  expect(run.stdout + run.stderr).toMatch(/restore the earlier setting/);
  expect(run.stdout + run.stderr).toMatch(/drop public\.items in PostgreSQL \(it is created again and filled on the next run\)/);
  await s.pgRows('DROP TABLE public.items');
  expect((await runCli(['--config', after, 'sync', '--once'])).code).toBe(0);
  const { source, target } = await compareTable(s, 'items', ['id', 'code', 'name']);
  expect(target).toEqual(source);
  expect((await s.pgRows("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) WHERE i.indrelid = 'items'::regclass AND i.indisprimary ORDER BY 1")).map((r) => r.attname)).toEqual(['_source', 'code']);
});

test('init skips views and unsyncable tables, saying which and why; with no table left it writes nothing and exits 2', async () => {
  await s.mysqlExec('a', 'CREATE VIEW items_view AS SELECT id FROM items');
  await s.mysqlExec('a', 'CREATE TABLE nokey (x INT)');
  const target = `postgres://${PG.user}@${PG.host}:${PG.port}/${s.pgDb}`;
  const source = `a=mysql://root@${MYSQL.host}:${MYSQL.port}/${s.mysqlDb.a}`;
  const init = await runCli(['init', '--source', source, '--target', target]);
  expect(init.code).toBe(0);
  expect(init.stderr).toMatch(/table items_view: left out: a view/);
  expect(init.stderr).toMatch(/table nokey: no primary key/);
  expect(init.stderr).toMatch(/left out 2 table\(s\).*items_view, nokey/);
  expect(init.stdout).toMatch(/^ {2}- name: "items"$/m);
  expect(init.stdout).toMatch(/^ {2}# - name: "items_view" {4}# left out: a view/m);

  const out = join(mkdtempSync(join(tmpdir(), 'tributary-init-')), 'tributary.yml');
  const none = await runCli(['init', '--source', source, '--target', target, '--tables', 'items_view,nokey', '--out', out]);
  expect(none.code).toBe(2);
  expect(none.stderr).toMatch(/no table that can be synced.*items_view \(a view\).*nokey \(no primary key/);
  expect(require('node:fs').existsSync(out)).toBe(false);
});

describe('binary logging on', () => {
  let server: PrivateServer;
  beforeAll(async () => {
    server = await startPrivateMariaDB(['--log-bin', '--server-id=1']);
  }, 120_000);
  afterAll(async () => {
    await server?.destroy();
  });

  test('triggers install without SUPER names log_bin_trust_function_creators (exit 9); once it is set, install and sync work', async () => {
    const root = await mysql.createConnection({ host: server.host, port: server.port, user: 'root', multipleStatements: true });
    const db = 'trt_binlog_' + randomBytes(3).toString('hex');
    const dba = 'trb_dba_' + randomBytes(3).toString('hex');
    const password = randomBytes(8).toString('hex');
    try {
      await root.query(`CREATE DATABASE ${db}; CREATE TABLE ${db}.items (id INT PRIMARY KEY, name VARCHAR(40)); INSERT INTO ${db}.items VALUES (1, 'one'), (2, 'two')`);
      const yaml = (user: string, pw = ''): string =>
        [`target: { url: "postgres://${PG.user}@${PG.host}:${PG.port}/${s.pgDb}" }`, 'sources:', `  - { id: a, url: "mysql://${user}${pw ? ':' + pw : ''}@${server.host}:${server.port}/${db}" }`, 'tables: [items]'].join('\n');
      const dir = mkdtempSync(join(tmpdir(), 'tributary-binlog-'));
      const asDba = join(dir, 'dba.yml');
      const asRoot = join(dir, 'root.yml');
      writeFileSync(asDba, yaml(dba, password));
      writeFileSync(asRoot, yaml('root'));

      // The DBA gets exactly what --grants prints for it, and nothing else (no SUPER).
      const grants = await runCli(['--config', asRoot, 'triggers', 'print', '--grants']);
      expect(grants.stdout).toMatch(/log_bin_trust_function_creators = 1 in the DB parameter group/);
      expect(grants.stdout.match(/^GRANT PROCESS/gm)).toHaveLength(1);
      const dbaGrant = grants.stdout.split('\n').find((line) => line.includes("'tributary_dba'"))!;
      // A fresh MariaDB has anonymous users, which would take the DBA's connections from localhost.
      const [anonymous] = await root.query("SELECT Host AS host FROM mysql.user WHERE User = ''");
      for (const { host } of anonymous as { host: string }[]) await root.query("DROP USER ''@?", [host]);
      await root.query(`CREATE USER '${dba}'@'%' IDENTIFIED BY '${password}'`);
      await root.query(dbaGrant.replace("'tributary_dba'", `'${dba}'`));

      const refused = await runCli(['--config', asDba, 'triggers', 'install']);
      expect(refused.code).toBe(9);
      expect(refused.stderr).toMatch(/log_bin_trust_function_creators/);
      expect(refused.stderr).toMatch(/SUPER/);

      await root.query('SET GLOBAL log_bin_trust_function_creators = 1');
      const installed = await runCli(['--config', asDba, 'triggers', 'install']);
      expect(installed.stderr).toBe('');
      expect(installed.code).toBe(0);
      expect((await runCli(['--config', asRoot, 'triggers', 'status'])).code).toBe(0);
      await root.query(`INSERT INTO ${db}.items VALUES (3, 'three'); UPDATE ${db}.items SET name = 'ONE' WHERE id = 1`);
      expect((await runCli(['--config', asRoot, 'sync', '--once'])).code).toBe(0);
      const [rows] = await root.query(`SELECT id, name FROM ${db}.items ORDER BY id`);
      expect(await s.pgRows('SELECT id, name FROM items ORDER BY id')).toEqual(rows);
    } finally {
      await root.query(`DROP DATABASE IF EXISTS ${db}`).catch(() => undefined);
      await root.end();
    }
  }, 120_000);
});
