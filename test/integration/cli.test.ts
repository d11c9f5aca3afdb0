/** The command as a DBA or cron runs it: exit codes, messages, and crash recovery. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, runCli, startCli } from '../helpers/cli';
import { compareTable, createScratch, type Scratch } from '../helpers/scratch';

const TABLE = 'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), qty INT)';

let s: Scratch;
beforeAll(async () => {
  s = await createScratch(['a', 'b']);
  for (const id of s.sourceIds) await s.mysqlExec(id, TABLE);
});
afterAll(async () => {
  await s.cleanup();
});

function writeConfig(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tributary-cli-')), 'tributary.yml');
  writeFileSync(path, text);
  return path;
}

describe('bad configuration', () => {
  test('an unknown key and a duplicate source id: exit 2, one line each naming the key', async () => {
    const path = writeConfig(
      [
        'target: { url: "postgres://root@127.0.0.1:5432/x" }',
        'sources:',
        '  - { id: a, url: "mysql://root@127.0.0.1:3306/x" }',
        '  - { id: a, url: "mysql://root@127.0.0.1:3306/y" }',
        'tables: [items]',
        'batchsize: 10',
      ].join('\n'),
    );
    const run = await runCli(['--config', path, 'sync', '--once']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/sources\[1\]\.id: .*duplicate/);
    expect(run.stderr).toMatch(/batchsize: unknown key/);
  });

  test('a missing file: exit 2 and the path', async () => {
    const run = await runCli(['--config', '/nonexistent/tributary.yml', 'status']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('/nonexistent/tributary.yml');
  });

  test('a table missing in one source: exit 2 naming table and source', async () => {
    const run = await runCli(['--config', s.configFile(['items', 'nosuchtable']), 'sync', '--once']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/table nosuchtable does not exist in source a/);
  });

  test('a table without a primary key: exit 2', async () => {
    await s.mysqlExec('a', 'CREATE TABLE nokey (x INT)');
    await s.mysqlExec('b', 'CREATE TABLE nokey (x INT)');
    const run = await runCli(['--config', s.configFile(['nokey']), 'triggers', 'print']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/nokey .* has no primary key/);
  });

  test('an unreachable source: exit 3 with host and port, never the password', async () => {
    const path = writeConfig(
      [
        `target: { url: "postgres://root@127.0.0.1:5432/${s.pgDb}" }`,
        'sources:',
        '  - { id: a, url: "mysql://root:${SECRET_PW}@127.0.0.1:1/x" }',
        'tables: [items]',
      ].join('\n'),
    );
    const run = await runCli(['--config', path, 'sync', '--once'], { SECRET_PW: 'hunter2-secret' });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('127.0.0.1:1');
    expect(run.stdout + run.stderr).not.toContain('hunter2-secret');
  });

  test('an unreachable target: exit 4 with host and port', async () => {
    const path = writeConfig(
      [
        'target: { url: "postgres://root:pw-never-shown@127.0.0.1:1/x" }',
        'sources:',
        `  - { id: a, url: "mysql://root@127.0.0.1:3306/${s.mysqlDb.a}" }`,
        'tables: [items]',
      ].join('\n'),
    );
    const run = await runCli(['--config', path, 'sync', '--once']);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain('127.0.0.1:1');
    expect(run.stdout + run.stderr).not.toContain('pw-never-shown');
  });
});

describe('daemon', () => {
  test('sync runs passes on the schedule and stops cleanly on SIGTERM', async () => {
    const config = s.configFile(['items'], 'schedule: "* * * * * *"');
    expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
    await s.mysqlExec('b', "INSERT INTO items VALUES (7001, 'daemon', 1)");
    const daemon = startCli(['--config', config, 'sync']);
    try {
      const arrived = await eventually(async () => (await s.pgRows("SELECT 1 FROM items WHERE _source = 'b' AND id = 7001")).length === 1);
      expect(arrived).toBe(true);
      await s.mysqlExec('b', "UPDATE items SET name = 'updated while running' WHERE id = 7001");
      const updated = await eventually(async () => (await s.pgRows("SELECT 1 FROM items WHERE id = 7001 AND name = 'updated while running'")).length === 1);
      expect(updated).toBe(true);
    } finally {
      daemon.child.kill('SIGTERM');
    }
    const stopped = await daemon.exited;
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).toContain('stopping after the current chunk or batch');
  });
});

describe('follow', () => {
  test('sync --follow applies changes as they come and stops cleanly on SIGTERM', async () => {
    const config = s.configFile(['items'], 'pollInterval: 50');
    expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
    const follower = startCli(['--config', config, 'sync', '--follow']);
    try {
      for (let round = 0; round < 3; round++) {
        await s.mysqlExec('a', `INSERT INTO items VALUES (${8000 + round}, 'follow', ${round})`);
        const seen = await eventually(async () => (await s.pgRows('SELECT 1 FROM items WHERE id = $1', [8000 + round])).length === 1);
        expect(seen).toBe(true);
      }
    } finally {
      follower.child.kill('SIGTERM');
    }
    const stopped = await follower.exited;
    expect(stopped.code).toBe(0);
  });
});

describe('triggers', () => {
  test('print shows the DDL; install, then status is clean (exit 0); a dropped trigger makes status exit 5', async () => {
    const config = s.configFile(['items']);
    const printed = await runCli(['--config', config, 'triggers', 'print', '--source', 'a']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain('CREATE TRIGGER `tributary_items_upd` AFTER UPDATE ON `items`');
    expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
    expect((await runCli(['--config', config, 'triggers', 'status'])).code).toBe(0);
    await s.mysqlExec('b', 'DROP TRIGGER tributary_items_del');
    const drift = await runCli(['--config', config, 'triggers', 'status']);
    expect(drift.code).toBe(5);
    expect(drift.stdout).toMatch(/tributary_items_del/);
    expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
    expect((await runCli(['--config', config, 'triggers', 'status'])).code).toBe(0);
  });
});

describe('crash recovery', () => {
  test.each(['after-copy', 'after-commit'])('a process killed %s: the rerun neither loses nor duplicates', async (point) => {
    const config = s.configFile(['items']);
    expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
    expect((await runCli(['--config', config, 'sync', '--once'])).code).toBe(0);
    const base = point === 'after-copy' ? 1000 : 2000;
    const values = Array.from({ length: 50 }, (_, i) => `(${base + i}, 'n${i}', ${i})`).join(',');
    await s.mysqlExec('a', `INSERT INTO items VALUES ${values}`);
    await s.mysqlExec('a', `UPDATE items SET qty = qty + 100 WHERE id % 3 = 0 AND id >= ${base}`);
    await s.mysqlExec('a', `DELETE FROM items WHERE id % 5 = 0 AND id >= ${base}`);

    const crashed = await runCli(['--config', config, 'sync', '--once'], { TRIBUTARY_FAULT: point });
    expect(crashed.signal).toBe('SIGKILL');
    const rerun = await runCli(['--config', config, 'sync', '--once']);
    expect(rerun.code).toBe(0);
    const { source, target } = await compareTable(s, 'items', ['id', 'name', 'qty']);
    expect(target).toEqual(source);
    const duplicates = await s.pgRows('SELECT _source, id, count(*) FROM items GROUP BY 1, 2 HAVING count(*) > 1');
    expect(duplicates).toEqual([]);
    // Applied rows a crash left in the changelog are cleaned up: only the sentinel remains.
    expect(Number((await s.mysqlRows('a', 'SELECT COUNT(*) AS n FROM tributary_log_items'))[0]!.n)).toBe(1);
  });
});

test('status prints one line per source and table', async () => {
  const config = s.configFile(['items']);
  expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
  expect((await runCli(['--config', config, 'sync', '--once'])).code).toBe(0);
  const run = await runCli(['--config', config, 'status']);
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/^a\s+items\s+items\s+done/m);
  expect(run.stdout).toMatch(/^b\s+items\s+items\s+done/m);
});
