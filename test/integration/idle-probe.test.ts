/**
 * The idle probe of a pass in one statement per source: the capture check also reads each changelog's
 * lowest and highest change id and the consumer registry's marker, and the consumer heartbeat then
 * needs no registry checks of its own. Each shortcut gives way when its premise fails: a changelog
 * that cannot be read leaves the edges to the old separate probe, a recreated changelog is still
 * found by the same pass, and a registry the sync user may not write still gets the warning.
 */
import { Writable } from 'node:stream';
import winston from 'winston';
import { parseConfig } from '../../src/config';
import type { Logger } from '../../src/log';
import { silentLogger } from '../../src/log';
import { readCaptureState } from '../../src/mysql/capture';
import { runPass } from '../../src/pipeline/pass';
import { closeRuntime, openRuntime, prepareRuntime } from '../../src/pipeline/runtime';
import { consumerName } from '../../src/pipeline/consumers';
import { createScratch, installTriggers, type Scratch, syncOnce, unitOf } from '../helpers/scratch';

let s: Scratch;
beforeEach(async () => {
  s = await createScratch(['a']);
  await s.mysqlExec('a', 'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40)); CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)');
  await s.mysqlExec('a', "INSERT INTO items VALUES (1, 'one'), (2, 'two'); INSERT INTO notes VALUES (1, 'x')");
  await installTriggers(s.config(['items', 'notes']));
});
afterEach(async () => {
  await s.cleanup();
});

function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }) };
}

test('the capture check reads the changelog edges and the registry marker in its statement; a changelog it cannot read leaves the edges out', async () => {
  const config = s.config(['items', 'notes']);
  expect(unitOf(await syncOnce(config), 'a', 'items').status).toBe('ok');
  await s.mysqlExec('a', "INSERT INTO items VALUES (3, 'three')");
  const runtime = openRuntime(config, silentLogger());
  try {
    const source = runtime.sources.get('a')!;
    const plain = await readCaptureState(source, config.tables);
    const full = await readCaptureState(source, config.tables, { edges: true, registry: config.consumers.table });
    // The digest the stored shapes are keyed by does not depend on what else is read.
    expect(full.shape).toBe(plain.shape);
    expect(plain.edges).toBeUndefined();
    for (const changelog of ['tributary_log_items', 'tributary_log_notes']) {
      const [edge] = await s.mysqlRows('a', `SELECT MIN(change_id) AS lo, MAX(change_id) AS hi FROM ${changelog}`);
      const number = (v: unknown): number | null => (v === null ? null : Number(v));
      expect({ changelog, edge: full.edges?.get(changelog) }).toEqual({ changelog, edge: { lo: number(edge!.lo), hi: number(edge!.hi) } });
    }
    expect(full.registryComment).toMatch(/^tributary:consumers:v1/);

    // Without a changelog the statement fails: the check alone is read, and says what is missing.
    await s.mysqlExec('a', 'DROP TABLE tributary_log_notes');
    const broken = await readCaptureState(source, config.tables, { edges: true, registry: config.consumers.table });
    expect(broken.edges).toBeUndefined();
    expect(broken.changelogs.has('tributary_log_notes')).toBe(false);
    expect(broken.changelogs.has('tributary_log_items')).toBe(true);
    expect(broken.registryComment).toMatch(/^tributary:consumers:v1/);
  } finally {
    await closeRuntime(runtime);
  }
  // The pass finds the missing changelog and still applies the other table's change.
  const result = await syncOnce(config);
  expect(unitOf(result, 'a', 'notes').status).toBe('failed');
  expect(unitOf(result, 'a', 'items')).toMatchObject({ status: 'ok', inserted: 1 });
  expect((await s.pgRows('SELECT id FROM items ORDER BY id')).map((r) => Number(r.id))).toEqual([1, 2, 3]);
}, 120_000);

test('a changelog recreated since the last pass is noticed by the idle probe: the table is read again', async () => {
  const config = s.config(['items']);
  expect(unitOf(await syncOnce(config), 'a', 'items').status).toBe('ok');
  expect(unitOf(await syncOnce(config), 'a', 'items')).toMatchObject({ status: 'ok', snapshotRows: 0 });
  // Recreated with only the sentinel-like state of an empty changelog, and a row changed meanwhile
  // without capture: only a snapshot brings it over.
  await s.mysqlExec('a', 'DROP TRIGGER tributary_items_upd; DROP TRIGGER tributary_items_ins; DROP TRIGGER tributary_items_del; DROP TABLE tributary_log_items');
  await s.mysqlExec('a', "UPDATE items SET name = 'changed' WHERE id = 1");
  await installTriggers(config);
  const result = await syncOnce(config);
  expect(unitOf(result, 'a', 'items').status).toBe('ok');
  expect(unitOf(result, 'a', 'items').snapshotRows).toBeGreaterThan(0);
  expect((await s.pgRows('SELECT name FROM items WHERE id = 1'))[0]!.name).toBe('changed');
}, 120_000);

test('an idle pass marks the consumer seen; a sync user that may not write the registry is warned and still syncs', async () => {
  const config = s.config(['items']);
  expect(unitOf(await syncOnce(config), 'a', 'items').status).toBe('ok');
  const consumer = consumerName(config);
  await s.mysqlExec('a', 'UPDATE tributary_consumers SET last_seen = NOW(6) - INTERVAL 10 DAY WHERE consumer = ?', [consumer]);
  const idle = await syncOnce(config);
  expect(unitOf(idle, 'a', 'items')).toMatchObject({ status: 'ok', snapshotRows: 0, changes: 0 });
  const [seen] = await s.mysqlRows('a', 'SELECT TIMESTAMPDIFF(SECOND, MIN(last_seen), NOW(6)) AS ago FROM tributary_consumers WHERE consumer = ?', [consumer]);
  expect(Number(seen!.ago)).toBeLessThan(60);

  // A sync user with the grants of an older README: the registry is readable but not writable.
  const user = `${s.prefix}_ro`.slice(0, 32);
  const db = s.mysqlDb.a!;
  await s.mysqlExec('a', `CREATE USER '${user}'@'%' IDENTIFIED BY 'pw-ro-1'; GRANT SELECT, DELETE, TRIGGER ON \`${db}\`.* TO '${user}'@'%'`);
  try {
    await s.mysqlExec('a', 'UPDATE tributary_consumers SET last_seen = NOW(6) - INTERVAL 10 DAY WHERE consumer = ?', [consumer]);
    const yaml = s.configYaml(['items']).replace('mysql://root@', `mysql://${user}:pw-ro-1@`);
    const limited = parseConfig(yaml, process.env, '/tmp/tributary-idle-probe.yml');
    const { logger, lines } = recordingLogger();
    const runtime = openRuntime(limited, logger);
    try {
      await prepareRuntime(runtime);
      const result = await runPass(runtime);
      expect(unitOf(result, 'a', 'items').status).toBe('ok');
      // Once, however many passes: the answer is remembered for the process.
      await runPass(runtime);
    } finally {
      await closeRuntime(runtime);
    }
    const warnings = lines.filter((l) => l.level === 'warn' && /consumer registry .* not writable/.test(String(l.message)));
    expect(warnings).toHaveLength(1);
    const [after] = await s.mysqlRows('a', 'SELECT TIMESTAMPDIFF(SECOND, MIN(last_seen), NOW(6)) AS ago FROM tributary_consumers WHERE consumer = ?', [consumer]);
    expect(Number(after!.ago)).toBeGreaterThan(3600);
  } finally {
    await s.mysqlExec('a', `DROP USER IF EXISTS '${user}'@'%'`);
  }
}, 120_000);

test("a source whose database is gone is reported with the server's error, though the check runs on another source's connection", async () => {
  const two = await createScratch(['a', 'b']);
  try {
    for (const id of two.sourceIds) await two.mysqlExec(id, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40)); INSERT INTO items VALUES (1, 'one')");
    // One source at a time: b's check is sent on the connection a's check left in a's database.
    const config = two.config(['items'], 'concurrency: 1');
    await installTriggers(config);
    expect(unitOf(await syncOnce(config), 'b', 'items').status).toBe('ok');
    await two.mysqlExec('a', `DROP DATABASE \`${two.mysqlDb.b}\``);
    const result = await syncOnce(config);
    expect(unitOf(result, 'a', 'items').status).toBe('ok');
    expect(unitOf(result, 'b', 'items')).toMatchObject({ status: 'failed', sourceDown: true });
    // From the check itself, asked again in the database (not from a later read that happens to fail).
    expect(unitOf(result, 'b', 'items').reason).toMatch(/checking capture: Unknown database/);
  } finally {
    await two.cleanup();
  }
}, 120_000);
