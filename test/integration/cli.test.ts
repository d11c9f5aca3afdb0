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
  test('install, then status is clean (exit 0); a dropped trigger makes status exit 5 and print shows the DDL that restores it', async () => {
    const config = s.configFile(['items']);
    expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
    expect((await runCli(['--config', config, 'triggers', 'status'])).code).toBe(0);
    await s.mysqlExec('b', 'DROP TRIGGER tributary_items_del');
    const drift = await runCli(['--config', config, 'triggers', 'status']);
    expect(drift.code).toBe(5);
    expect(drift.stdout).toMatch(/tributary_items_del/);
    // print shows what is missing, nothing more: here the one trigger, and the token renewal that
    // makes every sync snapshot again (changes made meanwhile never reached the changelog).
    const printed = await runCli(['--config', config, 'triggers', 'print', '--source', 'b']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain('CREATE TRIGGER `tributary_items_del` AFTER DELETE ON `items`');
    expect(printed.stdout).not.toContain('CREATE TABLE');
    expect(printed.stdout).not.toContain('tributary_items_upd');
    expect(printed.stdout).toMatch(/ALTER TABLE `tributary_log_items` COMMENT = 'tributary:changelog:v1 token=/);
    expect((await runCli(['--config', config, 'triggers', 'print', '--source', 'a'])).stdout).toContain('nothing to do');
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

describe('command line details', () => {
  test('--version prints the package version', async () => {
    const run = await runCli(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(require('../../package.json').version);
  });

  test('--log-level bogus is refused with exit 2, naming the allowed levels', async () => {
    const run = await runCli(['--log-level', 'bogus', '--config', s.configFile(['items']), 'status']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/'bogus' is invalid.*error, warn, info, debug/);
  });

  test('--log-level debug adds debug lines (batch reads, idle units); the default level does not', async () => {
    const config = s.configFile(['items']);
    expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
    await s.mysqlExec('a', "INSERT INTO items VALUES (9101, 'debug', 1)");
    const debug = await runCli(['--log-level', 'debug', '--config', config, 'sync', '--once']);
    expect(debug.code).toBe(0);
    expect(debug.stderr).toMatch(/"level":"debug".*"message":"batch read"|"message":"batch read".*"level":"debug"/);
    await s.mysqlExec('a', "INSERT INTO items VALUES (9102, 'info', 1)");
    const info = await runCli(['--config', config, 'sync', '--once']);
    expect(info.code).toBe(0);
    expect(info.stderr).not.toContain('"level":"debug"');
    const idle = await runCli(['--log-level', 'debug', '--config', config, 'sync', '--once']);
    expect(idle.stderr).toContain('unit idle: nothing to apply');
  });

  test('sync --json without --once is refused before connecting (exit 2)', async () => {
    const run = await runCli(['--config', s.configFile(['items']), 'sync', '--json']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--json prints the report of one pass: use it with --once or --dry-run');
  });

  test('sync --dry-run says "batch would apply", never "batch applied"', async () => {
    const config = s.configFile(['items']);
    expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
    expect((await runCli(['--config', config, 'sync', '--once'])).code).toBe(0);
    await s.mysqlExec('b', "INSERT INTO items VALUES (9201, 'dry', 1)");
    const dry = await runCli(['--config', config, 'sync', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stderr).toContain('batch would apply');
    expect(dry.stderr).not.toContain('batch applied');
    expect(await s.pgRows('SELECT 1 FROM items WHERE id = 9201')).toEqual([]);
  });

  test('verify --table a --table b checks both tables', async () => {
    for (const id of s.sourceIds) await s.mysqlExec(id, 'CREATE TABLE others (id INT PRIMARY KEY, v INT)');
    await s.mysqlExec('a', 'INSERT INTO others VALUES (1, 1)');
    const config = s.configFile(['items', 'others']);
    expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
    expect((await runCli(['--config', config, 'sync', '--once'])).code).toBe(0);
    const run = await runCli(['--config', config, 'verify', '--table', 'items', '--table', 'others', '--json']);
    expect(run.code).toBe(0);
    const checked = (JSON.parse(run.stdout) as { sourceId: string; table: string }[]).map((r) => `${r.sourceId}.${r.table}`).sort();
    expect(checked).toEqual(['a.items', 'a.others', 'b.items', 'b.others']);
  });

  test('a second triggers uninstall reports "not installed", not "removed" again', async () => {
    for (const id of s.sourceIds) await s.mysqlExec(id, 'CREATE TABLE gone (id INT PRIMARY KEY)');
    const config = s.configFile(['gone']);
    expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
    const first = await runCli(['--config', config, 'triggers', 'uninstall']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^a\s+gone\s+removed\s+.*tributary_log_gone/m);
    const second = await runCli(['--config', config, 'triggers', 'uninstall']);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^a\s+gone\s+not installed/m);
    expect(second.stdout).toMatch(/^b\s+gone\s+not installed/m);
    expect(second.stdout).not.toContain('removed');
  });
});

describe('prompt stop', () => {
  // Enough rows for hundreds of 100-row chunks: a stop must not wait for the rest.
  const ROWS = 50_000;
  const digits = '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';

  test('SIGTERM mid-snapshot stops at a chunk boundary with exit 0; SIGTERM+SIGINT exits 130; the next run finishes and matches', async () => {
    for (const id of s.sourceIds) await s.mysqlExec(id, 'CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(40))');
    await s.mysqlExec(
      'a',
      `INSERT INTO big SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d, CONCAT('row ', a.d, b.d, c.d)
       FROM ${digits} a, ${digits} b, ${digits} c, ${digits} e, ${digits} f WHERE a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d < ${ROWS}`,
    );
    const config = s.configFile(['big'], 'snapshotChunkSize: 100');
    expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
    const snapshotted = async (): Promise<number> => Number((await s.pgRows("SELECT count(*) AS n FROM big WHERE _source = 'a'"))[0]!.n);

    // Two different signals (same ones could merge into one delivery): the second exits at once.
    const hurried = startCli(['--config', config, 'sync', '--once']);
    expect(await eventually(async () => hurried.output().includes('snapshot progress'), 300, 50)).toBe(true);
    hurried.child.kill('SIGTERM');
    hurried.child.kill('SIGINT');
    const killed = await hurried.exited;
    expect(killed.code).toBe(130);
    expect(killed.stderr).toContain('second signal; exiting now');
    expect(await snapshotted()).toBeLessThan(ROWS);

    // A change while the snapshot is half done: the resumed snapshot and the changelog carry it.
    await s.mysqlExec('a', "UPDATE big SET pad = 'changed mid-snapshot' WHERE id IN (5, 49000)");
    await s.mysqlExec('a', 'DELETE FROM big WHERE id IN (7, 48000)');

    const stopped = startCli(['--config', config, 'sync', '--once']);
    expect(await eventually(async () => (stopped.output().match(/snapshot progress/g) ?? []).length >= 1, 300, 50)).toBe(true);
    stopped.child.kill('SIGTERM');
    const run = await stopped.exited;
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('snapshot stopped; the next run resumes it from here');
    // Source b's table is empty and may finish; a's 50,000 rows must not.
    const doneSources = run.stderr.split('\n').filter((line) => line.includes('"message":"snapshot done"')).map((line) => JSON.parse(line).source);
    expect(doneSources).not.toContain('a');
    expect(await snapshotted()).toBeLessThan(ROWS);

    const rest = await runCli(['--config', config, 'sync', '--once']);
    expect(rest.code).toBe(0);
    const { source, target } = await compareTable(s, 'big', ['id', 'pad']);
    expect(target).toEqual(source);
    expect(target).toHaveLength(ROWS - 2);
  });
});
