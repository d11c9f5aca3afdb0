/**
 * Tributary alters, replaces or drops only what it created. A name already taken by a user's table or
 * trigger makes install refuse and leaves the user's objects, data and application writes as they
 * were; capture left behind by a table removed from the configuration is listed and removable.
 */
import { runCli } from '../helpers/cli';
import { compareTable, createScratch, type Scratch } from '../helpers/scratch';

let s: Scratch;
beforeEach(async () => {
  s = await createScratch(['a']);
  await s.mysqlExec('a', 'CREATE TABLE foo (id INT PRIMARY KEY, v VARCHAR(20))');
  await s.mysqlExec('a', "INSERT INTO foo VALUES (1, 'one'), (2, 'two')");
});
afterEach(async () => {
  await s.cleanup();
});

/** The user's table as MySQL describes it, and its rows: what must not change. */
async function userTable(name: string): Promise<{ ddl: string; rows: unknown[] }> {
  const ddl = String((await s.mysqlRows('a', `SHOW CREATE TABLE \`${name}\``))[0]!['Create Table']);
  const rows = await s.mysqlRows('a', `SELECT * FROM \`${name}\` ORDER BY 1`);
  return { ddl, rows };
}

async function triggersOn(table: string): Promise<string[]> {
  const rows = await s.mysqlRows('a', 'SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ? ORDER BY 1', [table]);
  return rows.map((r) => String(r.name));
}

async function tableExists(name: string): Promise<boolean> {
  return (await s.mysqlRows('a', 'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?', [name])).length > 0;
}

async function expectInSync(): Promise<void> {
  const { source, target } = await compareTable(s, 'foo', ['id', 'v']);
  expect(target).toEqual(source);
}

test('a user table under the changelog name: install, print and sync refuse naming it and the setting; uninstall leaves it; a configured changelog name works', async () => {
  await s.mysqlExec('a', "CREATE TABLE tributary_log_foo (id INT PRIMARY KEY, note VARCHAR(40)) COMMENT 'our own audit table'");
  await s.mysqlExec('a', "INSERT INTO tributary_log_foo VALUES (7, 'keep me'), (8, 'me too')");
  const before = await userTable('tributary_log_foo');
  const config = s.configFile(['foo']);

  const install = await runCli(['--config', config, 'triggers', 'install']);
  expect(install.code).toBe(2);
  expect(install.stderr).toContain('tributary_log_foo');
  expect(install.stderr).toContain('changelog:');
  expect(install.stderr).toMatch(/not created by Tributary/);

  const print = await runCli(['--config', config, 'triggers', 'print']);
  expect(print.code).toBe(2);
  expect(print.stdout).not.toContain('CREATE');
  expect(print.stderr).toContain('tributary_log_foo');

  const status = await runCli(['--config', config, 'triggers', 'status']);
  expect(status.code).toBe(5);
  expect(status.stdout).toContain('name-taken');

  const sync = await runCli(['--config', config, 'sync', '--once']);
  expect(sync.code).toBe(2);

  // Nothing of the user's changed, and the application still writes.
  expect(await userTable('tributary_log_foo')).toEqual(before);
  expect(await triggersOn('foo')).toEqual([]);
  await s.mysqlExec('a', "INSERT INTO foo VALUES (3, 'three')");

  const uninstall = await runCli(['--config', config, 'triggers', 'uninstall']);
  expect(uninstall.code).toBe(0);
  expect(uninstall.stdout).toContain('not created by Tributary');
  expect(await userTable('tributary_log_foo')).toEqual(before);
  const printedRemoval = await runCli(['--config', config, 'triggers', 'print', '--uninstall']);
  expect(printedRemoval.stdout).not.toMatch(/DROP TABLE/);

  // The way out the message names: the table's own changelog name.
  const renamed = s.configFile([{ name: 'foo', changelog: 'my_log_foo' }]);
  expect((await runCli(['--config', renamed, 'triggers', 'install'])).code).toBe(0);
  expect(await triggersOn('foo')).toEqual(['my_log_foo_del', 'my_log_foo_ins', 'my_log_foo_upd']);
  expect((await runCli(['--config', renamed, 'triggers', 'status'])).code).toBe(0);
  expect((await runCli(['--config', renamed, 'sync', '--once'])).code).toBe(0);
  await expectInSync();
  await s.mysqlExec('a', "INSERT INTO foo VALUES (4, 'four'); UPDATE foo SET v = 'ONE' WHERE id = 1; DELETE FROM foo WHERE id = 2");
  expect((await runCli(['--config', renamed, 'sync', '--once'])).code).toBe(0);
  await expectInSync();
  expect(await userTable('tributary_log_foo')).toEqual(before);

  expect((await runCli(['--config', renamed, 'triggers', 'uninstall'])).code).toBe(0);
  expect(await tableExists('my_log_foo')).toBe(false);
  expect(await triggersOn('foo')).toEqual([]);
  expect(await userTable('tributary_log_foo')).toEqual(before);
});

test("a user trigger under Tributary's trigger name: install refuses naming it; uninstall leaves it", async () => {
  await s.mysqlExec('a', 'CREATE TABLE foo_audit (id INT)');
  await s.mysqlExec('a', 'CREATE TRIGGER tributary_foo_ins AFTER INSERT ON foo FOR EACH ROW INSERT INTO foo_audit VALUES (NEW.id)');
  const config = s.configFile(['foo']);
  const install = await runCli(['--config', config, 'triggers', 'install']);
  expect(install.code).toBe(2);
  expect(install.stderr).toContain('tributary_foo_ins');
  expect(install.stderr).toContain('changelog:');
  // Refused before anything was written: no changelog, no other trigger.
  expect(await tableExists('tributary_log_foo')).toBe(false);
  expect(await triggersOn('foo')).toEqual(['tributary_foo_ins']);

  expect((await runCli(['--config', config, 'triggers', 'uninstall'])).code).toBe(0);
  expect(await triggersOn('foo')).toEqual(['tributary_foo_ins']);
  await s.mysqlExec('a', "INSERT INTO foo VALUES (5, 'five')");
  expect(await s.mysqlRows('a', 'SELECT id FROM foo_audit')).toEqual([{ id: 5 }]);
});

test('capture installed by a version before the marker is recognised: sync goes on without a snapshot, install writes the marker keeping the token', async () => {
  const config = s.configFile(['foo']);
  expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
  expect((await runCli(['--config', config, 'sync', '--once'])).code).toBe(0);
  const comment = async (): Promise<string> =>
    String((await s.mysqlRows('a', "SELECT TABLE_COMMENT AS c FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'tributary_log_foo'"))[0]!.c);
  const token = /token=([0-9a-f]{16})/.exec(await comment())![1]!;
  // Exactly the comment older versions wrote.
  await s.mysqlExec('a', `ALTER TABLE tributary_log_foo COMMENT = 'tributary changelog token ${token}; changes of foo; rows are deleted once applied, never truncate'`);

  expect((await runCli(['--config', config, 'triggers', 'status'])).code).toBe(0);
  await s.mysqlExec('a', "INSERT INTO foo VALUES (6, 'six')");
  const pass = JSON.parse((await runCli(['--config', config, 'sync', '--once', '--json'])).stdout);
  expect(pass.units[0]).toMatchObject({ status: 'ok', snapshotRows: 0, inserted: 1 });

  const upgrade = await runCli(['--config', config, 'triggers', 'install']);
  expect(upgrade.code).toBe(0);
  expect(await comment()).toMatch(new RegExp(`^tributary:changelog:v1 token=${token} table="foo"`));
  await s.mysqlExec('a', "INSERT INTO foo VALUES (9, 'nine')");
  const after = JSON.parse((await runCli(['--config', config, 'sync', '--once', '--json'])).stdout);
  expect(after.units[0]).toMatchObject({ status: 'ok', snapshotRows: 0, inserted: 1 });
  await expectInSync();
});

test('capture of a table removed from the configuration is listed with its consumers and removed by uninstall --table, only that', async () => {
  await s.mysqlExec('a', 'CREATE TABLE bar (id INT PRIMARY KEY, v VARCHAR(20))');
  const both = s.configFile(['foo', 'bar']);
  expect((await runCli(['--config', both, 'triggers', 'install'])).code).toBe(0);
  expect((await runCli(['--config', both, 'sync', '--once'])).code).toBe(0);

  const onlyFoo = s.configFile(['foo']);
  const status = await runCli(['--config', onlyFoo, 'triggers', 'status']);
  expect(status.code).toBe(5);
  expect(status.stdout).toMatch(/bar .*orphan/);
  expect(status.stdout).toContain('tributary_log_bar');
  expect(status.stdout).toContain('uninstall --table bar');
  // The consumer that read it (this same target) is listed with it.
  expect(status.stdout).toMatch(new RegExp(`${s.pgDb}/public \\(this target\\)`));

  const removed = await runCli(['--config', onlyFoo, 'triggers', 'uninstall', '--table', 'bar']);
  expect(removed.code).toBe(0);
  expect(await tableExists('tributary_log_bar')).toBe(false);
  expect(await triggersOn('bar')).toEqual([]);
  expect(await triggersOn('foo')).toEqual(['tributary_foo_del', 'tributary_foo_ins', 'tributary_foo_upd']);
  expect(await tableExists('tributary_log_foo')).toBe(true);
  await s.mysqlExec('a', "INSERT INTO bar VALUES (1, 'still writable')");

  expect((await runCli(['--config', onlyFoo, 'triggers', 'status'])).code).toBe(0);
  expect((await runCli(['--config', onlyFoo, 'triggers', 'uninstall', '--table', 'bar'])).code).toBe(2);
});
