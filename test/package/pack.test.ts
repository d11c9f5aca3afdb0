/**
 * The package as a user gets it: `npm pack`, installed into a throwaway project, used from plain
 * JavaScript (`require('tributary')`) and from a strict TypeScript file compiled against the shipped
 * declarations, each running real passes against the real servers.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareTable, createScratch, type Scratch } from '../helpers/scratch';

const ROOT = join(__dirname, '..', '..');
const TSC = require.resolve('typescript/bin/tsc');

let s: Scratch;
let work: string;
let app: string;

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    return execFileSync(command, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${e.stdout ?? ''}\n${e.stderr ?? ''}\n${e.message}`);
  }
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` (make test does) before the package test');
  s = await createScratch(['a', 'b']);
  for (const id of s.sourceIds) await s.mysqlExec(id, 'CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), qty INT)');
  await s.mysqlExec('a', "INSERT INTO items VALUES (1, 'one', 1), (2, 'two', 2)");
  await s.mysqlExec('b', "INSERT INTO items VALUES (1, 'uno', 10)");

  work = mkdtempSync(join(tmpdir(), 'tributary-pack-'));
  // dist/ is built already (make test builds first); packing must not rebuild it under running tests.
  run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], ROOT);
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))!;
  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'throwaway-app', version: '1.0.0', private: true }));
  // Dependencies come from the npm cache that `npm ci` filled, else from the registry.
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, tarball)], app);
});

afterAll(async () => {
  await s?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the build, its declarations and the SQL files, not the sources or tests', () => {
  const installed = join(app, 'node_modules', 'tributary');
  expect(existsSync(join(installed, 'dist', 'index.js'))).toBe(true);
  expect(existsSync(join(installed, 'dist', 'index.d.ts'))).toBe(true);
  expect(existsSync(join(installed, 'dist', 'cli', 'main.js'))).toBe(true);
  expect(readdirSync(join(installed, 'sql')).length).toBeGreaterThan(0);
  expect(existsSync(join(installed, 'src'))).toBe(false);
  expect(existsSync(join(installed, 'test'))).toBe(false);
  // The command is installed too.
  expect(run(join(app, 'node_modules', '.bin', 'tributary'), ['--version'], app).trim()).toBe(require('../../package.json').version);
});

test('from JavaScript: require("tributary"), install capture and run a pass from a config object', async () => {
  writeFileSync(
    join(app, 'sync.js'),
    `const tributary = require('tributary');
(async () => {
  const config = tributary.configFromObject(JSON.parse(process.env.SETTINGS));
  const runtime = tributary.openRuntime(config);
  try {
    await tributary.installCapture(runtime);
    const result = await tributary.runPass(runtime);
    console.log(JSON.stringify(result.units.map((u) => [u.sourceId, u.table, u.status, u.snapshotRows])));
  } finally {
    await tributary.closeRuntime(runtime);
  }
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`,
  );
  const settings = {
    target: { url: `postgres://root@127.0.0.1:5432/${s.pgDb}` },
    sources: s.sourceIds.map((id) => ({ id, url: `mysql://root@127.0.0.1:3306/${s.mysqlDb[id]}` })),
    tables: ['items'],
  };
  const output = run('node', ['sync.js'], app, { SETTINGS: JSON.stringify(settings) });
  expect(JSON.parse(output)).toEqual([
    ['a', 'items', 'ok', 2],
    ['b', 'items', 'ok', 1],
  ]);
  const { source, target } = await compareTable(s, 'items', ['id', 'name', 'qty']);
  expect(target).toEqual(source);
});

test('from TypeScript: strict code compiles against the shipped declarations, then follows changes until aborted', async () => {
  await s.mysqlExec('a', "INSERT INTO items VALUES (3, 'three', 3)");
  await s.mysqlExec('b', "UPDATE items SET qty = 11 WHERE id = 1");
  await s.mysqlExec('a', 'DELETE FROM items WHERE id = 2');
  writeFileSync(
    join(app, 'follow.ts'),
    `import { loadConfig, openRuntime, closeRuntime, runFollow, verify, status, configFromObject, TributaryError, type ErrorCode, type PassResult, type VerifyResult } from 'tributary';

async function main(configPath: string): Promise<void> {
  let refused: ErrorCode | null = null;
  try {
    configFromObject({ tables: [] });
  } catch (error) {
    if (error instanceof TributaryError) refused = error.code;
  }
  const runtime = openRuntime(loadConfig(configPath));
  const stop = new AbortController();
  const passes: PassResult[] = [];
  try {
    await runFollow(runtime, {
      signal: stop.signal,
      onPass: (result) => {
        passes.push(result);
        stop.abort();
      },
    });
    const checked: VerifyResult[] = await verify(runtime);
    const states = checked.map((r) => \`\${r.sourceId}.\${r.table}:\${r.state}\`);
    const snapshots = (await status(runtime)).units.map((u) => u.snapshot);
    const applied = passes[0]!.units.reduce((sum, u) => sum + u.inserted + u.updated + u.deleted, 0);
    console.log(JSON.stringify({ refused, passes: passes.length, applied, states, snapshots }));
  } finally {
    await closeRuntime(runtime);
  }
}

main(process.argv[2]!).catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
`,
  );
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, target: 'ES2022', module: 'commonjs', moduleResolution: 'node', skipLibCheck: false, outDir: 'out', types: ['node'] },
      files: ['follow.ts'],
    }),
  );
  run('node', [TSC, '-p', 'tsconfig.json'], app);
  const output = JSON.parse(run('node', [join('out', 'follow.js'), s.configFile(['items'])], app));
  expect(output).toEqual({ refused: 'CONFIG_INVALID', passes: 1, applied: 3, states: ['a.items:equal', 'b.items:equal'], snapshots: ['done', 'done'] });
  const { source, target } = await compareTable(s, 'items', ['id', 'name', 'qty']);
  expect(target).toEqual(source);
});
