/** From two URLs to a running sync, and the sync running as the least-privileged user. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli';
import { compareTable, createScratch, MYSQL, PG, type Scratch } from '../helpers/scratch';

let s: Scratch;
beforeAll(async () => {
  s = await createScratch(['eu', 'us']);
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, 'CREATE TABLE orders (id INT PRIMARY KEY, total DECIMAL(10,2))');
    await s.mysqlExec(id, 'CREATE TABLE notes (body TEXT)');
    await s.mysqlExec(id, `CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(${id === 'eu' ? 20 : 40}))`);
  }
  await s.mysqlExec('eu', 'CREATE TABLE eu_only (id INT PRIMARY KEY)');
  await s.mysqlExec('eu', 'INSERT INTO orders VALUES (1, 9.99)');
  await s.mysqlExec('us', 'INSERT INTO orders VALUES (1, 5.00), (2, 6.00)');
});
afterAll(async () => {
  await s.cleanup();
});

const mysqlUrl = (id: string, user = 'root', password = ''): string => `mysql://${user}${password ? ':' + password : ''}@${MYSQL.host}:${MYSQL.port}/${s.mysqlDb[id]}`;

test('init, triggers install, sync --once: three commands from URLs to synced tables', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'tributary-init-')), 'tributary.yml');
  const init = await runCli(['init', '--source', `eu=${mysqlUrl('eu')}`, '--source', `us=${mysqlUrl('us')}`, '--target', `postgres://${PG.user}@${PG.host}:${PG.port}/${s.pgDb}`, '--out', out]);
  expect(init.code).toBe(0);
  expect(init.stderr).toMatch(/table notes: no primary key/);
  expect(init.stderr).toMatch(/table eu_only: missing in source\(s\) us/);
  expect(init.stderr).toMatch(/table people: columns differ/);
  const yaml = readFileSync(out, 'utf8');
  expect(yaml).toMatch(/^ {2}- name: "orders"$/m);
  expect(yaml).toMatch(/^ {2}# - name: "notes" {4}# left out: no primary key/m);

  expect((await runCli(['--config', out, 'triggers', 'install'])).code).toBe(0);
  const sync = await runCli(['--config', out, 'sync', '--once']);
  expect(sync.code).toBe(0);
  const { source, target } = await compareTable(s, 'orders', ['id', 'total']);
  expect(target).toEqual(source);
  expect(await s.pgRows("SELECT character_maximum_length AS n FROM information_schema.columns WHERE table_name = 'people' AND column_name = 'name'")).toEqual([{ n: 40 }]);
});

test('init keeps passwords out of the file it writes', async () => {
  const user = 'trb_' + randomBytes(3).toString('hex');
  await s.mysqlExec('eu', `CREATE USER '${user}'@'%' IDENTIFIED BY 'topsecret'`);
  try {
    await s.mysqlExec('eu', `GRANT SELECT ON \`${s.mysqlDb.eu}\`.* TO '${user}'@'%'`);
    // PostgreSQL here trusts local connections, so any target password is accepted.
    const init = await runCli(['init', '--source', `eu=${mysqlUrl('eu', user, 'topsecret')}`, '--target', `postgres://root:alsosecret@${PG.host}:${PG.port}/${s.pgDb}`]);
    expect(init.code).toBe(0);
    expect(init.stdout + init.stderr).not.toMatch(/topsecret|alsosecret/);
    expect(init.stdout).toContain('${EU_PASSWORD}');
    expect(init.stdout).toContain('${TARGET_PASSWORD}');
  } finally {
    await s.mysqlExec('eu', `DROP USER '${user}'@'%'`);
  }
});

test('the sync runs as a user holding only the printed grants', async () => {
  const config = s.configFile(['orders']);
  expect((await runCli(['--config', config, 'triggers', 'install'])).code).toBe(0);
  const user = 'trb_' + randomBytes(3).toString('hex');
  const password = randomBytes(8).toString('hex');
  const grants = await runCli(['--config', config, 'triggers', 'print', '--grants', '--source', 'eu']);
  expect(grants.code).toBe(0);
  const statements = grants.stdout
    .split('\n')
    .filter((line) => /^GRANT .* ON (`|\*\.\*)/.test(line) && !line.includes("'tributary_dba'"))
    .map((line) => line.replace(/TO 'root'@'%'/, `TO '${user}'@'%'`));
  expect(statements.length).toBeGreaterThanOrEqual(3);
  await s.mysqlExec('eu', `CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
  try {
    for (const statement of statements) await s.mysqlExec('eu', statement);
    const limitedYaml = s
      .configYaml(['orders'])
      .replace(`mysql://root@${MYSQL.host}:${MYSQL.port}/${s.mysqlDb.eu}`, mysqlUrl('eu', user, password))
      .replace(/ {2}- id: us\n.*\n/, '');
    const path = join(mkdtempSync(join(tmpdir(), 'tributary-limited-')), 'tributary.yml');
    require('node:fs').writeFileSync(path, limitedYaml);
    await s.mysqlExec('eu', 'INSERT INTO orders VALUES (7, 7.00); UPDATE orders SET total = 1 WHERE id = 1');
    const first = await runCli(['--config', path, 'sync', '--once']);
    expect(first.stderr).not.toMatch(/denied/i);
    expect(first.code).toBe(0);
    await s.mysqlExec('eu', 'DELETE FROM orders WHERE id = 7');
    expect((await runCli(['--config', path, 'sync', '--once'])).code).toBe(0);
    const eu = await s.pgRows("SELECT id, total::text FROM orders WHERE _source = 'eu' ORDER BY id");
    expect(eu).toEqual([{ id: 1, total: '1.00' }]);
    // Its changelog was pruned by the limited user, down to the sentinel row.
    expect(Number((await s.mysqlRows('eu', 'SELECT COUNT(*) AS n FROM tributary_log_orders'))[0]!.n)).toBe(1);
  } finally {
    await s.mysqlExec('eu', `DROP USER '${user}'@'%'`);
  }
});
