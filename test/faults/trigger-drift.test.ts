/**
 * Fault suite, scenario 6: capture broken by hand. A trigger dropped, or recreated with a different
 * body: `sync --once` refuses that table with an error naming the trigger and exits non-zero (5 when
 * it is the only unit, 6 when others were applied), `triggers status` exits 5 and names it, the other
 * tables carry on; and once `triggers install` repairs capture, the target must equal the source
 * again, including the changes made while capture was broken.
 */
import { runCli } from '../helpers/cli';
import { expectTargetEqualsSources } from '../helpers/checksum';
import { createScratch, type Scratch } from '../helpers/scratch';
import { catchUp, configYaml, logLines, scratchTopology, type Topology, writeConfig } from '../helpers/topology';
import { writerTableSql } from '../helpers/writers';

const TABLE = 'items';

let s: Scratch;
let all: ReturnType<typeof writeConfig>;
let onlyA: ReturnType<typeof writeConfig>;
let topology: Topology;

beforeEach(async () => {
  s = await createScratch(['a', 'b']);
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, writerTableSql(TABLE));
    await s.mysqlExec(id, 'CREATE TABLE other (id INT PRIMARY KEY, label VARCHAR(20))');
    await s.mysqlExec(id, `INSERT INTO ${TABLE} (id, grp, name) SELECT seq, 1, CONCAT('r', seq) FROM seq_1_to_20`);
  }
  topology = scratchTopology(s);
  all = writeConfig(configYaml(topology, [TABLE, 'other']));
  onlyA = writeConfig(configYaml({ ...topology, sources: topology.sources.filter((x) => x.id === 'a') }, [TABLE]));
  expect((await runCli(['--config', all.path, 'triggers', 'install'])).code).toBe(0);
  expect((await runCli(['--config', all.path, 'sync', '--once'])).code).toBe(0);
});
afterEach(async () => {
  await s?.cleanup();
});

const BREAKS: [string, string, string][] = [
  ['dropped', 'tributary_items_del', 'DROP TRIGGER tributary_items_del'],
  [
    'recreated with a different body',
    'tributary_items_upd',
    // Records the old key as the new one: a primary-key change would be lost.
    "DROP TRIGGER tributary_items_upd; CREATE TRIGGER tributary_items_upd AFTER UPDATE ON items FOR EACH ROW INSERT INTO tributary_log_items (op, old_k1, new_k1) VALUES ('U', OLD.id, OLD.id)",
  ],
];

describe.each(BREAKS)('a trigger %s by hand', (_how, trigger, sql) => {
  test('sync refuses that table naming the trigger and exits non-zero; triggers status exits 5; other tables carry on', async () => {
    await s.mysqlExec('a', sql);
    await s.mysqlExec('a', `UPDATE ${TABLE} SET id = 100 WHERE id = 1; DELETE FROM ${TABLE} WHERE id = 2; INSERT INTO other VALUES (1, 'a1')`);
    await s.mysqlExec('b', `UPDATE ${TABLE} SET name = 'b changed' WHERE id = 3; INSERT INTO other VALUES (1, 'b1')`);

    const run = await runCli(['--config', all.path, 'sync', '--once']);
    expect(run.code).toBe(6); // some units failed, others were applied
    const failed = logLines(run.stderr).filter((l) => l.message === 'unit failed');
    expect(failed.map((l) => [l.source, l.table, l.code])).toEqual([['a', TABLE, 'TRIGGER_DRIFT']]);
    expect(String(failed[0]!.error)).toContain(trigger);
    expect(run.stdout).toMatch(new RegExp(`^a\\s+${TABLE}\\s+failed.*${trigger}`, 'm'));
    await expectTargetEqualsSources(topology, 'other');
    await expectTargetEqualsSources({ ...topology, sources: topology.sources.filter((x) => x.id === 'b') }, TABLE, { allowOtherSources: true });

    // The only unit of a configuration fails on drift: exit 5.
    const alone = await runCli(['--config', onlyA.path, 'sync', '--once']);
    expect(alone.code).toBe(5);
    expect(alone.stderr + alone.stdout).toContain(trigger);

    const status = await runCli(['--config', all.path, 'triggers', 'status']);
    expect(status.code).toBe(5);
    expect(status.stdout).toMatch(new RegExp(`^a\\s+${TABLE}\\s+trigger-(missing|changed)\\s+.*${trigger}`, 'm'));
    expect(status.stdout).not.toMatch(/^b\s+items\s+trigger/m);
  }, 120_000);

  /*
   * DEFECT (changes made while capture was broken are lost after the repair): `triggers install`
   * (src/mysql/capture.ts installCapture, ~lines 254-280) recreates a missing or changed
   * trigger but keeps the changelog and its token, so the next pass neither re-snapshots the table
   * nor learns of the writes it did not capture: a delete made while the delete trigger was missing
   * stays in the target for ever, and a key change recorded by the altered trigger as (old, old)
   * deletes the row and never copies its new key. `sync` already sees the drift (TRIGGER_DRIFT), so
   * the information to recover is there.
   */
  test('after `triggers install` repairs capture, the changes made while it was broken arrive too', async () => {
    await s.mysqlExec('a', sql);
    await s.mysqlExec('a', `UPDATE ${TABLE} SET id = 100 WHERE id = 1; DELETE FROM ${TABLE} WHERE id = 2; UPDATE ${TABLE} SET name = 'while broken' WHERE id = 3`);
    expect((await runCli(['--config', all.path, 'sync', '--once'])).code).toBe(6);
    expect((await runCli(['--config', all.path, 'triggers', 'install'])).code).toBe(0);
    expect((await runCli(['--config', all.path, 'triggers', 'status'])).code).toBe(0);
    await s.mysqlExec('a', `UPDATE ${TABLE} SET name = 'after repair' WHERE id = 4`);
    const repaired = await runCli(['--config', all.path, 'sync', '--once']);
    expect(repaired.code).toBe(0);
    await catchUp(all.config);
    await expectTargetEqualsSources(topology, TABLE);
  }, 120_000);
});
