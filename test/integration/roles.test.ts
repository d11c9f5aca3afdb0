/** PostgreSQL roles with few privileges: a monitoring role runs status; a sync role short of one is told which. */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { runCli } from '../helpers/cli';
import { createScratch, PG, type Scratch } from '../helpers/scratch';

let s: Scratch;
const role = 'trb_role_' + randomBytes(4).toString('hex');
beforeAll(async () => {
  s = await createScratch(['a']);
  await s.mysqlExec('a', 'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40))');
  await s.mysqlExec('a', "INSERT INTO items VALUES (1, 'one')");
  await s.pgRows(`CREATE ROLE ${role} LOGIN`);
  await s.pgRows(`GRANT CONNECT ON DATABASE "${s.pgDb}" TO ${role}`);
  expect((await runCli(['--config', s.configFile(['items']), 'triggers', 'install'])).code).toBe(0);
});
afterAll(async () => {
  // Whatever the role came to own or was granted in the scratch database goes with it.
  await s.pgRows(`DROP OWNED BY ${role}`).catch(() => undefined);
  await s.cleanup();
  const { Client } = await import('pg');
  const admin = new Client({ ...PG, database: 'postgres' });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${role}`);
  await admin.end();
});

/** The scratch configuration with the target reached as `role`. */
function asRole(): string {
  const path = s.configFile(['items']);
  const yaml = require('node:fs').readFileSync(path, 'utf8').replace(`postgres://${PG.user}@`, `postgres://${role}@`);
  writeFileSync(path, yaml);
  return path;
}

test('status as a role with only SELECT on tributary.* and USAGE: "not synced yet" before the first sync, then the units', async () => {
  const config = asRole();
  const before = await runCli(['--config', config, 'status']);
  expect(before.stderr).toBe('');
  expect(before.code).toBe(0);
  expect(before.stdout).toMatch(/not synced yet/);
  // status created nothing.
  expect(await s.pgRows("SELECT 1 FROM pg_namespace WHERE nspname = 'tributary'")).toEqual([]);

  const root = s.configFile(['items']);
  expect((await runCli(['--config', root, 'sync', '--once'])).code).toBe(0);
  await s.mysqlExec('a', "INSERT INTO items VALUES (2, 'two')");
  await s.pgRows(`GRANT USAGE ON SCHEMA tributary TO ${role}`);
  await s.pgRows(`GRANT SELECT ON ALL TABLES IN SCHEMA tributary TO ${role}`);

  const after = await runCli(['--config', config, 'status', '--json']);
  expect(after.stderr).toBe('');
  expect(after.code).toBe(0);
  const report = JSON.parse(after.stdout);
  expect(report.synced).toBe(true);
  expect(report.units).toEqual([expect.objectContaining({ sourceId: 'a', table: 'items', snapshot: 'done', pending: 1, unknownReason: null })]);
});

test('a sync role without CREATE on the target schema exits 9, naming the grant', async () => {
  await s.pgRows(`GRANT CREATE ON DATABASE "${s.pgDb}" TO ${role}`);
  const config = s.configFile([{ name: 'items', target: 'items_copy' }]).replace(/$/, '');
  const yaml = require('node:fs').readFileSync(config, 'utf8').replace(`postgres://${PG.user}@`, `postgres://${role}@`);
  writeFileSync(config, yaml);
  const run = await runCli(['--config', config, 'sync', '--once']);
  expect(run.code).toBe(9);
  expect(run.stderr).toMatch(/permission denied for schema (\w+) .*GRANT USAGE, CREATE ON SCHEMA \1 /);
});
