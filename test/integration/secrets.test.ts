/**
 * No password is echoed, whatever shape a URL is mistyped in: in a configuration file (sync --once)
 * and on init's command line, for the sources and for the target. The command runs as a user runs it,
 * with debug logs, and neither its output nor its log may hold the password.
 *
 * Databases named here do not exist: a URL that happens to be valid fails to connect, and nothing is
 * created anywhere.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliRun } from '../helpers/cli';

const SECRET = 'S3cr3t';
const DB = 'tributary_no_such_db';

/** Mistyped URLs, each holding SECRET in its password; "SCHEME" is mysql or postgres. */
const SHAPES = [
  'root:S3cr3t@127.0.0.1:PORT/DB',
  'SCHEME:/root:S3cr3t@127.0.0.1:PORT/DB',
  'SCHEME:root:S3cr3t@127.0.0.1:PORT/DB',
  'SCHEME:///root:S3cr3t@127.0.0.1:PORT/DB',
  'SCHEME://root:S3cr3t@/DB',
  'SCHEME://root:S3cr3t@127.0.0.1:99999/DB',
  'SCHEME://root:S3cr3t@127.0.0.1:port/DB',
  'SCHEME://root:S3cr3t',
  'SCHEME://root:S3cr3t/DB',
  'SCHEME://root:S3cr3t%zz@127.0.0.1/DB',
  'SCHEME://root:S3cr3t%40x@127.0.0.1:1/DB',
  'SCHEME://root:S3cr3t with spaces@127.0.0.1:1/DB',
  'SCHEME://root:S3cr3t@x@127.0.0.1:1/DB',
  'SCHEME://root:S3cr3t/x@127.0.0.1/DB',
  'SCHEME://root:S3cr3t#x@127.0.0.1/DB',
  'SCHEME://root:S3cr3t?x@127.0.0.1/DB',
  'SCHEME://root:S3cr3t@127.0.0.1:PORT',
  'SCHEME://root:S3cr3t@127.0.0.1:PORT/DB/extra',
  'SCHEME://root:S3cr3t@[::1/DB',
  'SCHEME://:S3cr3t@127.0.0.1:1/DB',
  'SCHEME://127.0.0.1:1/DB?password=S3cr3t',
  'SCHEME://root@127.0.0.1:1/DB?ssl=true&password=S3cr3t&x=1',
  'http://root:S3cr3t@127.0.0.1/DB',
  '  SCHEME://root:S3cr3t@127.0.0.1/DB  ',
  'root:S3cr3t',
];

const shape = (template: string, side: 'mysql' | 'postgres'): string =>
  template
    .replace('SCHEME', side)
    .replace('PORT', side === 'mysql' ? '3306' : '5432')
    .replace('DB', DB);

const GOOD_SOURCE = `mysql://root@127.0.0.1:3306/${DB}`;
const GOOD_TARGET = `postgres://root@127.0.0.1:5432/${DB}`;
const LOGS = ['--log-level', 'debug', '--log-format', 'json'];

const dir = mkdtempSync(join(tmpdir(), 'tributary-secrets-'));
let files = 0;
function configFile(source: string, target: string): string {
  const path = join(dir, `c${files++}.yml`);
  writeFileSync(path, [`target: { url: ${JSON.stringify(target)} }`, 'sources:', `  - { id: eu, url: ${JSON.stringify(source)} }`, 'tables: [orders]', ''].join('\n'));
  return path;
}

function expectNoSecret(run: CliRun, what: string): void {
  const output = run.stdout + run.stderr;
  // A run that ends with 0 would mean a mistyped URL was taken: none of these may.
  expect({ what, code: run.code === 0 ? 0 : 'failed' }).toEqual({ what, code: 'failed' });
  for (const piece of [SECRET, SECRET.toLowerCase(), 'cr3t']) {
    if (output.toLowerCase().includes(piece.toLowerCase())) throw new Error(`${what}: the output holds the password:\n${output}`);
  }
}

/** Runs jobs a few at a time: each is a process start, and the machine is shared. */
async function inBatches<T>(items: readonly T[], size: number, run: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

describe.each(['mysql', 'postgres'] as const)('a mistyped %s URL', (side) => {
  const urls = SHAPES.map((template) => shape(template, side));

  test('in the configuration file: sync --once shows no password', async () => {
    await inBatches(urls, 6, async (url) => {
      const file = side === 'mysql' ? configFile(url, GOOD_TARGET) : configFile(GOOD_SOURCE, url);
      expectNoSecret(await runCli([...LOGS, '--config', file, 'sync', '--once']), `sync with ${JSON.stringify(url)}`);
    });
  });

  test('on the command line: init shows no password', async () => {
    await inBatches(urls, 6, async (url) => {
      const args = side === 'mysql' ? ['--source', `a=${url}`, '--target', GOOD_TARGET] : ['--source', `a=${GOOD_SOURCE}`, '--target', url];
      expectNoSecret(await runCli([...LOGS, 'init', ...args]), `init with ${JSON.stringify(url)}`);
    });
  });

  if (side === 'mysql') {
    test('init --source without "ID=" in front shows no password', async () => {
      await inBatches(urls, 6, async (url) => {
        expectNoSecret(await runCli([...LOGS, 'init', '--source', url, '--target', GOOD_TARGET]), `init --source ${JSON.stringify(url)}`);
      });
    });
  }
});

test('the configuration error for a URL without "//" says what shape is expected', async () => {
  const run = await runCli(['--config', configFile(`root:${SECRET}@127.0.0.1:3306/${DB}`, GOOD_TARGET), 'sync', '--once']);
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('sources[0].url: invalid MySQL URL: not a URL: it has no mysql:// in front (expected mysql://<user>:<password>@<host>:3306/<database>)');
});

test('an unknown password key is refused by name, without its value', async () => {
  const path = join(dir, 'password-key.yml');
  writeFileSync(path, [`target: { url: "${GOOD_TARGET}" }`, 'sources:', `  - { id: eu, url: "${GOOD_SOURCE}", password: "${SECRET}" }`, 'tables: [orders]', ''].join('\n'));
  const run = await runCli(['--config', path, 'sync', '--once']);
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(/sources\[0\]: unknown key "password" \(put the password in the url, or in a file named by passwordFile/);
  expect(run.stdout + run.stderr).not.toContain(SECRET);
});
