import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseDocument as parseYamlDocument } from 'yaml';
import { loadConfig, parseConfig, parseMysqlUrl, parsePgUrl, resolveConfigPath, type TributaryConfig } from '../../src/config';
import { CATCH_UP_PERCENT_DEFAULT, scalarSettings } from '../../src/config/schema';
import { ConfigError, redactSecrets, TributaryError } from '../../src/errors';

const parseDocumentOf = (yaml: string): unknown => parseYamlDocument(yaml).toJS();

const CONFIG_PATH = '/etc/tributary/test.yml';

const VALID = `
target:
  url: postgres://root@127.0.0.1:5432/warehouse
sources:
  - id: eu
    url: mysql://root@127.0.0.1:3306/shop_eu
  - id: us
    url: mysql://root:\${US_PASSWORD}@127.0.0.1:3306/shop_us
tables:
  - name: orders
    target: orders_all
  - customers
`;

const ENV = { US_PASSWORD: 'pw-us' };

function parse(yaml: string, env: NodeJS.ProcessEnv = ENV): TributaryConfig {
  return parseConfig(yaml, env, CONFIG_PATH);
}

/** The ConfigError thrown for yaml, checked for the common frame; returns its problem lines. */
function problems(yaml: string, env: NodeJS.ProcessEnv = ENV): string[] {
  let caught: unknown;
  try {
    parse(yaml, env);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const error = caught as ConfigError;
  expect(error.code).toBe('CONFIG_INVALID');
  const [header, ...lines] = error.message.split('\n');
  expect(header).toBe(`invalid configuration in ${CONFIG_PATH}:`);
  expect(lines.length).toBeGreaterThan(0);
  return lines;
}

/** Asserts exactly one problem, at keyPath, whose text matches every pattern. */
function expectOnly(yaml: string, keyPath: string, ...patterns: RegExp[]): string {
  const lines = problems(yaml);
  expect(lines).toHaveLength(1);
  const line = lines[0] as string;
  expect(line.startsWith(`${keyPath}: `)).toBe(true);
  for (const pattern of patterns) expect(line).toMatch(pattern);
  return line;
}

/** VALID with one top-level line appended. */
const withLine = (line: string): string => `${VALID}${line}\n`;

/** A valid document with the given sources block. */
const withSources = (sources: string): string => `
target:
  url: postgres://root@127.0.0.1/warehouse
sources:
${sources}
tables: [orders]
`;

/** A valid document with the given tables block. */
const withTables = (tables: string): string => `
target:
  url: postgres://root@127.0.0.1/warehouse
sources:
  - { id: eu, url: "mysql://root@127.0.0.1/shop_eu" }
tables:
${tables}
`;

/** A valid document with the given target url. */
const withTargetUrl = (url: string): string => `
target:
  url: "${url}"
sources:
  - { id: eu, url: "mysql://root@127.0.0.1/shop_eu" }
tables: [orders]
`;

describe('parseConfig: a valid file', () => {
  test('parses sources, tables (both forms), endpoints and the substituted password', () => {
    const config = parse(VALID);
    expect(config.configPath).toBe(CONFIG_PATH);
    expect(config.target.url).toBe('postgres://root@127.0.0.1:5432/warehouse');
    expect(config.target.endpoint).toMatchObject({ host: '127.0.0.1', port: 5432, user: 'root', password: undefined, database: 'warehouse', display: '127.0.0.1:5432/warehouse' });
    expect(config.sources.map((s) => s.id)).toEqual(['eu', 'us']);
    expect(config.sources[1]?.url).toBe('mysql://root:pw-us@127.0.0.1:3306/shop_us');
    expect(config.sources[1]?.endpoint).toMatchObject({ host: '127.0.0.1', port: 3306, user: 'root', password: 'pw-us', database: 'shop_us', display: '127.0.0.1:3306/shop_us' });
    expect(config.tables).toMatchObject([
      { name: 'orders', target: 'orders_all' },
      { name: 'customers', target: 'customers' },
    ]);
  });

  test('applies defaults', () => {
    const config = parse(VALID);
    expect(config.target.schema).toBe('public');
    expect(config.schedule).toBe('*/5 * * * * *');
    expect(config.batchSize).toBe(10000);
    expect(config.snapshotChunkSize).toBe(50000);
    expect(config.concurrency).toBe(4);
    expect(config.gaps).toEqual({ recheckSeconds: 900, alertSeconds: 600, timeoutSeconds: 1200 });
  });

  test('takes explicit values, and fills in missing gaps keys', () => {
    const config = parse(`${VALID}schedule: "0 * * * *"\nbatchSize: 1\nsnapshotChunkSize: 100\nconcurrency: 64\ngaps: { alertSeconds: 30 }\n`);
    expect(config).toMatchObject({ schedule: '0 * * * *', batchSize: 1, snapshotChunkSize: 100, concurrency: 64 });
    expect(config.gaps).toEqual({ recheckSeconds: 900, alertSeconds: 30, timeoutSeconds: 1200 });
  });

  test('the result is deep-frozen', () => {
    const config = parse(VALID);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.target)).toBe(true);
    expect(Object.isFrozen(config.target.endpoint)).toBe(true);
    expect(Object.isFrozen(config.target.endpoint.params)).toBe(true);
    expect(Object.isFrozen(config.sources)).toBe(true);
    expect(Object.isFrozen(config.sources[0])).toBe(true);
    expect(Object.isFrozen(config.sources[0]?.endpoint)).toBe(true);
    expect(Object.isFrozen(config.tables)).toBe(true);
    expect(Object.isFrozen(config.tables[0])).toBe(true);
    expect(Object.isFrozen(config.gaps)).toBe(true);
    expect(() => {
      (config as { batchSize: number }).batchSize = 1;
    }).toThrow(TypeError);
  });

  test('table and target names may hold quotes, backticks and spaces, up to 64 characters', () => {
    const long = 'é'.repeat(64);
    const config = parse(withTables(`  - name: "we\`ird \\"name'"\n    target: "${long}"`));
    expect(config.tables).toMatchObject([{ name: 'we`ird "name\'', target: long }]);
  });

  test('mariadb:// and postgresql:// are accepted, with query parameters', () => {
    const config = parse(`
target: { url: "postgresql://u@db.example:6432/wh?sslmode=require", schema: sync }
sources: [{ id: A_1, url: "mariadb://u@maria:3307/shop?ssl=true" }]
tables: [t]
`);
    expect(config.target.schema).toBe('sync');
    expect(config.target.endpoint.params).toEqual({ sslmode: 'require' });
    expect(config.sources[0]?.endpoint).toMatchObject({ host: 'maria', port: 3307, params: { ssl: 'true' } });
  });
});

describe('parseConfig: environment variables', () => {
  test('${VAR} is replaced anywhere inside a string, $${ is a literal ${', () => {
    const config = parse(withTables(`  - name: "\${PREFIX}_orders"\n    target: "cost$\${x}"`), { PREFIX: 'shop' });
    expect(config.tables).toMatchObject([{ name: 'shop_orders', target: 'cost${x}' }]);
  });

  test('an unset variable is an error naming it and the key path, and nothing else is reported there', () => {
    const lines = problems(VALID, {});
    expect(lines).toEqual(['sources[1].url: environment variable US_PASSWORD is not set']);
  });

  test('a numeric setting may come from a variable', () => {
    expect(parse(withLine('concurrency: ${CONC}'), { ...ENV, CONC: '8' }).concurrency).toBe(8);
  });

  test('a malformed reference is an error', () => {
    expectOnly(withLine('schedule: "${not closed"'), 'schedule', /unterminated \$\{/);
    expectOnly(withLine('schedule: "${1BAD}"'), 'schedule', /invalid \$\{\.\.\.\} reference/);
  });

  test('a password from ${VAR} never appears in any error message', () => {
    const secrets = ['Sup3r-s3cret', 'Qk7/Wz9#Vx2@Jm4', 'Pq8%zz', 'Xv3:Yw5?Zu7'];
    for (const secret of secrets) {
      const env = { US_PASSWORD: secret, TARGET_PASSWORD: secret };
      // The password's own URL is fine or broken, and another key is invalid too.
      const yaml = `
target:
  url: postgres://root:\${TARGET_PASSWORD}@127.0.0.1:99999/warehouse
sources:
  - id: eu
    url: mysql://root:\${US_PASSWORD}@127.0.0.1:3306/shop_eu
  - id: bad-id
    url: http://root:\${US_PASSWORD}@127.0.0.1/shop_us
  - id: us
    url: mysql://root:\${US_PASSWORD}@127.0.0.1:3306
tables: [orders]
batchSize: 0
`;
      let message = '';
      try {
        parseConfig(yaml, env, CONFIG_PATH);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/batchSize: must be an integer/);
      expect(message).toMatch(/sources\[1\]\.id: /);
      expect(message).not.toContain(secret);
      expect(message).not.toContain(encodeURIComponent(secret));
      for (const piece of secret.split(/[/#@:?%]/).filter((p) => p.length >= 3)) expect(message).not.toContain(piece);
      expect(message).toContain('***');
    }
  });
});

describe('parseConfig: file-level problems', () => {
  test('YAML syntax error, with line and column', () => {
    const lines = problems('target:\n  url: x\nsources: [1, 2\n');
    expect(lines[0]).toMatch(/^line \d+, column \d+: YAML syntax error: /);
  });

  test('duplicate YAML keys are a syntax error', () => {
    expect(problems(`${VALID}batchSize: 1\nbatchSize: 2\n`)[0]).toMatch(/^line 14, column 1: YAML syntax error: .*unique/);
  });

  test('an unquoted cron expression gets a hint', () => {
    expect(problems(`${VALID}schedule: */5 * * * *\n`)[0]).toMatch(/must be quoted/);
  });

  test('empty file', () => {
    expect(problems('')).toEqual(['(file): the configuration file is empty']);
    expect(problems('  \n\n')).toEqual(['(file): the configuration file is empty']);
    expect(problems('# just a comment\n')[0]).toMatch(/^\(file\): the configuration file is empty/);
  });

  test('a document that is not a mapping', () => {
    expect(problems('- a\n- b\n')[0]).toMatch(/^\(root\): expected a mapping of settings .*got a list/);
  });
});

describe('parseConfig: keys and types', () => {
  test('unknown key at the top level names it and the allowed keys', () => {
    expectOnly(withLine('batchsize: 5'), 'batchsize', /unknown key "batchsize"/, /allowed keys: target, sources, tables, schedule, batchSize, snapshotChunkSize, concurrency, pollInterval, gaps, metrics, health, alerts, retention/);
  });

  test('unknown key in a nested mapping', () => {
    expectOnly(withLine('gaps: { recheck: 5 }'), 'gaps.recheck', /unknown key "recheck"/, /allowed keys: recheckSeconds, alertSeconds, timeoutSeconds/);
    expectOnly(withSources('  - { id: eu, url: "mysql://h/db", pass: x }'), 'sources[0].pass', /unknown key "pass"/, /allowed keys: id, url/);
    expectOnly(withTables('  - { name: a, targt: b }'), 'tables[0].targt', /unknown key "targt"/, /allowed keys: name, target/);
  });

  test('missing required keys', () => {
    expectOnly('sources: [{ id: eu, url: "mysql://h/db" }]\ntables: [a]\n', 'target', /missing required key/);
    expectOnly('target: { schema: x }\nsources: [{ id: eu, url: "mysql://h/db" }]\ntables: [a]\n', 'target.url', /missing required key/);
    expectOnly(withSources('  - { url: "mysql://h/db" }'), 'sources[0].id', /missing required key/);
    expectOnly(withSources('  - { id: eu }'), 'sources[0].url', /missing required key/);
    expectOnly(withTables('  - { target: b }'), 'tables[0].name', /missing required key/);
  });

  test('wrong types', () => {
    expectOnly(withLine('batchSize: "100"'), 'batchSize', /expected a number, got a string/);
    expectOnly(withLine('schedule: 5'), 'schedule', /expected a string, got a number/);
    expectOnly(withLine('gaps: 5'), 'gaps', /expected a mapping, got a number/);
    expectOnly(withSources('  - { id: 12, url: "mysql://h/db" }'), 'sources[0].id', /expected a string, got a number \(put the value in quotes\)/);
    expectOnly(withSources('  - eu'), 'sources[0]', /expected a mapping with id and url.*, got a string/);
    expectOnly(withTables('  - 5'), 'tables[0]', /expected a table name or a mapping/);
    expectOnly(withTables('  - { name: [a] }'), 'tables[0].name', /expected a string, got a list/);
  });

  test('every problem is reported, one per line, in file order', () => {
    const lines = problems(`
target:
  url: postgres://root@127.0.0.1/warehouse
  extra: 1
sources:
  - id: eu
    url: mysql://root@127.0.0.1/shop_eu
  - id: eu
    url: mysql://root@127.0.0.1
tables: [orders]
batchSize: 0
concurrency: 65
`);
    expect(lines.map((line) => line.slice(0, line.indexOf(': ')))).toEqual(['target.extra', 'sources[1].id', 'sources[1].url', 'batchSize', 'concurrency']);
  });
});

describe('parseConfig: sources', () => {
  test('no sources', () => {
    expectOnly(withSources('  []').replace('sources:\n  []', 'sources: []'), 'sources', /at least one source is required/);
    expectOnly(withSources(''), 'sources', /at least one source is required/);
  });

  test('duplicate source id names both positions', () => {
    expectOnly(
      withSources('  - { id: eu, url: "mysql://h/a" }\n  - { id: us, url: "mysql://h/b" }\n  - { id: eu, url: "mysql://h/c" }'),
      'sources[2].id',
      /duplicate source id "eu"/,
      /sources\[0\]/,
    );
  });

  test('source ids differing only in case are duplicates', () => {
    expectOnly(withSources('  - { id: eu, url: "mysql://h/a" }\n  - { id: EU, url: "mysql://h/b" }'), 'sources[1].id', /duplicate source id "EU"/, /sources\[0\]/, /ignoring case/);
  });

  test.each(['eu-west', 'a b', '', 'x'.repeat(33), 'é'])('source id %j is rejected with the reason', (id) => {
    expectOnly(withSources(`  - { id: "${id}", url: "mysql://h/a" }`), 'sources[0].id', /is not a valid source id/, /1 to 32 letters .*digits or underscores/, /stored in every target row and used in generated names/);
  });

  test('a 32-character id is fine', () => {
    expect(parse(withSources(`  - { id: "${'A_1'.repeat(10)}xy", url: "mysql://h/a" }`)).sources[0]?.id).toHaveLength(32);
  });

  test('source URL with the wrong scheme', () => {
    expectOnly(withSources('  - { id: eu, url: "postgres://u:pw@h/db" }'), 'sources[0].url', /invalid MySQL URL "postgres:\/\/u:\*\*\*@h\/db"/, /must be mysql:\/\/ or mariadb:\/\//);
  });

  test('source URL without a scheme', () => {
    expectOnly(withSources('  - { id: eu, url: "127.0.0.1:3306/db" }'), 'sources[0].url', /not a URL/);
  });

  test('source URL without database', () => {
    expectOnly(withSources('  - { id: eu, url: "mysql://u:pw@h:3306" }'), 'sources[0].url', /missing database/, /mysql:\/\/u:\*\*\*@h:3306/);
    expectOnly(withSources('  - { id: eu, url: "mysql://h/" }'), 'sources[0].url', /missing database/);
  });

  test('source URL without host', () => {
    expectOnly(withSources('  - { id: eu, url: "mysql:///db" }'), 'sources[0].url', /missing host/);
  });

  test('source URL with a non-numeric or out-of-range port', () => {
    expectOnly(withSources('  - { id: eu, url: "mysql://u:pw@h:abc/db" }'), 'sources[0].url', /port is not a number/, /u:\*\*\*@h:abc/);
    expectOnly(withSources('  - { id: eu, url: "mysql://h:70000/db" }'), 'sources[0].url', /port must be a number from 1 to 65535/);
    expectOnly(withSources('  - { id: eu, url: "mysql://h:0/db" }'), 'sources[0].url', /port must be a number from 1 to 65535/);
  });
});

describe('parseConfig: target', () => {
  test('target URL with the wrong scheme', () => {
    expectOnly(withTargetUrl('mysql://u:pw@h/db'), 'target.url', /invalid PostgreSQL URL "mysql:\/\/u:\*\*\*@h\/db"/, /must be postgres:\/\/ or postgresql:\/\//);
  });

  test('target URL without host or database', () => {
    expectOnly(withTargetUrl('postgres://h'), 'target.url', /missing database/);
    expectOnly(withTargetUrl('postgres:///db'), 'target.url', /missing host/);
  });

  test('target URL with a bad port', () => {
    expectOnly(withTargetUrl('postgres://h:99999/db'), 'target.url', /port must be a number from 1 to 65535/);
  });

  test('empty schema name', () => {
    expectOnly(withTargetUrl('postgres://h/db').replace('target:\n', 'target:\n  schema: ""\n'), 'target.schema', /must not be empty/);
  });
});

describe('parseConfig: tables', () => {
  test('no tables', () => {
    expectOnly(withTables('  []').replace('tables:\n  []', 'tables: []'), 'tables', /at least one table is required/);
    expectOnly(withTables(''), 'tables', /at least one table is required/);
  });

  test('duplicate table name', () => {
    expectOnly(withTables('  - orders\n  - name: orders\n    target: orders2'), 'tables[1].name', /duplicate table "orders"/, /tables\[0\]/);
    expectOnly(withTables('  - orders\n  - orders'), 'tables[1]', /duplicate table "orders"/);
  });

  test('two tables mapped to the same target', () => {
    expectOnly(withTables('  - orders\n  - name: orders_v2\n    target: orders'), 'tables[1].target', /both map to target table "orders"/, /tables\[0\]/);
    expectOnly(withTables('  - { name: a, target: b }\n  - b'), 'tables[1]', /both map to target table "b"/, /defaults to the table name/);
  });

  test('empty table and target names', () => {
    expectOnly(withTables('  - ""'), 'tables[0]', /must not be empty/);
    expectOnly(withTables('  - { name: a, target: "" }'), 'tables[0].target', /must not be empty/);
  });

  test('table and target names longer than 64 characters', () => {
    expectOnly(withTables(`  - { name: "${'n'.repeat(65)}" }`), 'tables[0].name', /65 characters long; at most 64/);
    expectOnly(withTables(`  - { name: a, target: "${'t'.repeat(65)}" }`), 'tables[0].target', /65 characters long; at most 64/);
  });
});

describe('parseConfig: numbers and schedule', () => {
  test.each([
    ['batchSize', 0, /from 1 to 1000000, got 0/],
    ['batchSize', 1000001, /from 1 to 1000000/],
    ['batchSize', 1.5, /must be an integer/],
    ['snapshotChunkSize', 99, /from 100 to 10000000, got 99/],
    ['snapshotChunkSize', 10000001, /from 100 to 10000000/],
    ['concurrency', 0, /from 1 to 64/],
    ['concurrency', 65, /from 1 to 64, got 65/],
  ])('%s: %p is out of range', (key, value, pattern) => {
    expectOnly(withLine(`${key}: ${value}`), key, pattern);
  });

  test('gaps values out of range', () => {
    expectOnly(withLine('gaps: { recheckSeconds: 0 }'), 'gaps.recheckSeconds', /must be an integer from 1 to/);
    expectOnly(withLine('gaps: { alertSeconds: -5 }'), 'gaps.alertSeconds', /must be an integer from 1 to/);
    expectOnly(withLine('gaps: { timeoutSeconds: 2.5 }'), 'gaps.timeoutSeconds', /must be an integer from 1 to/);
  });

  test('invalid cron expression', () => {
    expectOnly(withLine('schedule: "every 5 seconds"'), 'schedule', /"every 5 seconds" is not a valid cron expression/);
    expectOnly(withLine('schedule: "61 * * * *"'), 'schedule', /not a valid cron expression/);
    expectOnly(withLine('schedule: ""'), 'schedule', /not a valid cron expression/);
  });
});

describe('parseMysqlUrl / parsePgUrl', () => {
  test('percent-encoded user, password and database are decoded', () => {
    const endpoint = parseMysqlUrl('mysql://sync%40eu:p%40ss%2Fw%3Ard%25@db.internal:3307/shop%20eu?ssl=true&charset=utf8mb4');
    expect(endpoint).toEqual({
      host: 'db.internal',
      port: 3307,
      user: 'sync@eu',
      password: 'p@ss/w:rd%',
      database: 'shop eu',
      display: 'db.internal:3307/shop eu',
      params: { ssl: 'true', charset: 'utf8mb4' },
    });
  });

  test('default ports', () => {
    expect(parseMysqlUrl('mysql://root@h/db').port).toBe(3306);
    expect(parseMysqlUrl('mariadb://root@h/db').port).toBe(3306);
    expect(parsePgUrl('postgres://root@h/db').port).toBe(5432);
    expect(parsePgUrl('postgresql://root@h/db').port).toBe(5432);
  });

  test('no password means undefined; display never holds it', () => {
    expect(parsePgUrl('postgres://root@h/db').password).toBeUndefined();
    expect(parsePgUrl('postgres://root:@h/db').password).toBeUndefined();
    expect(parsePgUrl('postgres://h/db').user).toBe('');
    const endpoint = parsePgUrl('postgres://root:secret@h/db');
    expect(endpoint.password).toBe('secret');
    expect(endpoint.display).toBe('h:5432/db');
  });

  test('IPv6 host', () => {
    const endpoint = parseMysqlUrl('mysql://root@[::1]:3306/db');
    expect(endpoint.host).toBe('::1');
    expect(endpoint.display).toBe('[::1]:3306/db');
  });

  test('errors are ConfigErrors and show the URL with the password as ***', () => {
    const attempt = (fn: () => unknown): ConfigError => {
      try {
        fn();
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return error as ConfigError;
      }
      throw new Error('expected a ConfigError');
    };
    const wrongScheme = attempt(() => parseMysqlUrl('http://root:hunter2@h/db'));
    expect(wrongScheme.message).toBe('invalid MySQL URL "http://root:***@h/db": the scheme must be mysql:// or mariadb://, not http://');
    const noDb = attempt(() => parsePgUrl('postgres://root:hunter2@h:5432'));
    expect(noDb.message).toMatch(/^invalid PostgreSQL URL "postgres:\/\/root:\*\*\*@h:5432": missing database/);
    // A raw "/" and "#" in the password make the URL unparsable; still nothing of it is shown.
    const unencoded = attempt(() => parseMysqlUrl('mysql://root:Qk7/Wz9#Vx2@h/db'));
    expect(unencoded.message).toMatch(/percent-encode/);
    expect(unencoded.message).not.toMatch(/Qk7|Wz9|Vx2/);
    const badEscape = attempt(() => parseMysqlUrl('mysql://root:hunter%zz@h/db'));
    expect(badEscape.message).toMatch(/invalid percent-encoding in the password/);
    expect(badEscape.message).not.toContain('hunter');
    expect(attempt(() => parseMysqlUrl('')).message).toMatch(/empty/);
  });
});

describe('resolveConfigPath', () => {
  const cwd = '/srv/app';
  test('--config wins, then TRIBUTARY_CONFIG, then config/tributary.yml; relative to cwd', () => {
    expect(resolveConfigPath('my.yml', { TRIBUTARY_CONFIG: '/etc/t.yml' }, cwd)).toBe(path.resolve(cwd, 'my.yml'));
    expect(resolveConfigPath('/abs/c.yml', {}, cwd)).toBe('/abs/c.yml');
    expect(resolveConfigPath(undefined, { TRIBUTARY_CONFIG: 'env.yml' }, cwd)).toBe(path.resolve(cwd, 'env.yml'));
    expect(resolveConfigPath(undefined, {}, cwd)).toBe(path.resolve(cwd, 'config/tributary.yml'));
    expect(resolveConfigPath('', { TRIBUTARY_CONFIG: '' }, cwd)).toBe(path.resolve(cwd, 'config/tributary.yml'));
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tributary-config-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('reads the file; configPath is absolute', () => {
    const file = path.join(dir, 'tributary.yml');
    writeFileSync(file, VALID);
    const config = loadConfig(file, ENV);
    expect(config.configPath).toBe(file);
    expect(config.sources).toHaveLength(2);
  });

  test('a missing file is CONFIG_NOT_FOUND', () => {
    const file = path.join(dir, 'absent.yml');
    let caught: unknown;
    try {
      loadConfig(file, ENV);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TributaryError);
    expect(caught).not.toBeInstanceOf(ConfigError);
    expect((caught as TributaryError).code).toBe('CONFIG_NOT_FOUND');
    expect((caught as Error).message).toBe(`configuration file not found: ${file} (set --config or TRIBUTARY_CONFIG)`);
  });

  test('an invalid file names its path', () => {
    const file = path.join(dir, 'bad.yml');
    writeFileSync(file, withLine('concurrency: 0'));
    expect(() => loadConfig(file, ENV)).toThrow(`invalid configuration in ${file}:\nconcurrency: must be an integer from 1 to 64, got 0`);
  });
});

describe('config/example.yml', () => {
  test('is valid and sets every key', () => {
    const file = path.join(__dirname, '..', '..', 'config', 'example.yml');
    const env = { TARGET_PASSWORD: 'tp', EU_PASSWORD: 'ep', US_PASSWORD: 'up' };
    const config = loadConfig(file, env);
    expect(config.sources.map((s) => s.endpoint.password)).toEqual(['ep', 'up']);
    expect(config.target.endpoint.password).toBe('tp');
    const text = readFileSync(file, 'utf8');
    for (const key of ['target:', 'url:', 'schema:', 'sources:', 'id:', 'tables:', 'name:', 'target:', 'schedule:', 'batchSize:', 'snapshotChunkSize:', 'concurrency:', 'gaps:', 'recheckSeconds:', 'alertSeconds:', 'timeoutSeconds:']) {
      expect(text).toMatch(new RegExp(`^\\s*(- )?${key}`, 'm'));
    }
    // Settings that name files are shown commented out: the example must load without them.
    for (const key of ['passwordFile:', 'ssl:', 'mode:', 'ca:', 'cert:', 'key:']) expect(text).toMatch(new RegExp(`^\\s*#\\s*${key}`, 'm'));
  });

  test('without the variables, each unset one is reported', () => {
    const file = path.join(__dirname, '..', '..', 'config', 'example.yml');
    expect(() => loadConfig(file, {})).toThrow(/target\.url: environment variable TARGET_PASSWORD is not set\nsources\[0\]\.url: environment variable EU_PASSWORD is not set\nsources\[1\]\.url: environment variable US_PASSWORD is not set/);
  });
});

describe('per-table settings', () => {
  const withTable = (table: string): string => VALID.replace('  - customers\n', `  - customers\n${table}\n`);

  test('every table setting is read, with defaults for the rest', () => {
    const config = parse(
      withTable(
        [
          '  - name: products',
          '    onBadValue: "null"',
          '    key: [sku]',
          '    columns: { exclude: [secret] }',
          '    rename: { sku: product_code }',
          '    where: "active = 1"',
          '    keyIncludesSource: false',
          '    conflict: priority',
          '    priority: [us, eu]',
          '    indexes: none',
          '    catchUp: drain',
        ].join('\n'),
      ),
    );
    expect(config.tables[2]).toEqual({
      name: 'products',
      target: 'products',
      onBadValue: 'null',
      key: ['sku'],
      excludeColumns: ['secret'],
      rename: { sku: 'product_code' },
      where: 'active = 1',
      keyIncludesSource: false,
      conflict: 'priority',
      priority: ['us', 'eu'],
      indexes: 'none',
      catchUp: 'drain',
    });
    expect(config.tables[1]).toMatchObject({ onBadValue: 'reject', keyIncludesSource: true, conflict: 'error', rename: {}, indexes: 'copy', catchUp: 'adaptive' });
  });

  test('indexes: copy or none, per table or for all tables', () => {
    expectOnly(withTable('  - name: p\n    indexes: some'), 'tables[2].indexes', /copy or none/);
    const config = parse(withTable('  - name: p\n    indexes: copy') + '\nindexes: none\n');
    expect(config.tables.map((t) => t.indexes)).toEqual(['none', 'none', 'copy']);
  });

  test('catchUp: adaptive or drain, per table or for all tables; catchUpPercent a whole percentage', () => {
    expectOnly(withTable('  - name: p\n    catchUp: sometimes'), 'tables[2].catchUp', /adaptive or drain/);
    const config = parse(withTable('  - name: p\n    catchUp: adaptive') + '\ncatchUp: drain\n');
    expect(config.tables.map((t) => t.catchUp)).toEqual(['drain', 'drain', 'adaptive']);
    expect(parse(VALID).catchUpPercent).toBe(CATCH_UP_PERCENT_DEFAULT);
    expectOnly(VALID + '\ncatchUpPercent: 0.5\n', 'catchUpPercent', /integer from 1/);
  });

  test('onBadValue must be reject, null or fail', () => {
    expectOnly(withTable('  - name: p\n    onBadValue: skip'), 'tables[2].onBadValue', /reject, null or fail/);
  });

  test('columns takes include or exclude, not both', () => {
    expectOnly(withTable('  - name: p\n    columns: { include: [a], exclude: [b] }'), 'tables[2].columns', /not both/);
  });

  test('two columns renamed to one name are refused', () => {
    expectOnly(withTable('  - name: p\n    rename: { a: x, b: x }'), 'tables[2].rename', /both renamed to "x"/);
  });

  test('a conflict policy needs keyIncludesSource false, and its own settings', () => {
    expectOnly(withTable('  - name: p\n    conflict: newest\n    newestBy: updated_at'), 'tables[2].conflict', /keyIncludesSource: false/);
    expectOnly(withTable('  - name: p\n    keyIncludesSource: false\n    conflict: newest'), 'tables[2].newestBy', /missing/);
    expectOnly(withTable('  - name: p\n    keyIncludesSource: false\n    conflict: priority'), 'tables[2].priority', /missing/);
  });

  test('priority may only name configured sources', () => {
    expectOnly(withTable('  - name: p\n    keyIncludesSource: false\n    conflict: priority\n    priority: [us, asia]'), 'tables[2].priority', /unknown source id\(s\) "asia"/);
  });
});

describe('secrets from files', () => {
  test('passwordFile replaces the URL password; its content never shows in an error', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tributary-pw-'));
    try {
      const file = path.join(dir, 'pw');
      writeFileSync(file, 's3cret-from-file\n');
      const config = parse(VALID.replace('    url: mysql://root@127.0.0.1:3306/shop_eu', `    url: mysql://root@127.0.0.1:3306/shop_eu\n    passwordFile: ${file}`));
      expect(config.sources[0]!.endpoint.password).toBe('s3cret-from-file');
      const missing = problems(VALID.replace('  url: postgres://root@127.0.0.1:5432/warehouse', `  url: postgres://root@127.0.0.1:5432/warehouse\n  passwordFile: ${path.join(dir, 'nope')}`));
      expect(missing[0]).toMatch(/^target\.passwordFile: cannot read .*nope \(ENOENT\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('${VAR} in every number and boolean setting', () => {
  const settings = scalarSettings();

  test('the schema lists the numeric and boolean settings', () => {
    const paths = settings.map((s) => s.path.join('.'));
    for (const key of ['batchSize', 'snapshotChunkSize', 'concurrency', 'pollInterval', 'gaps.recheckSeconds', 'metrics.port', 'health.maxLagSeconds', 'alerts.maxPendingChanges', 'retention.seconds', 'tables.*.keyIncludesSource']) {
      expect(paths).toContain(key);
    }
    for (const setting of settings.filter((s) => s.kind === 'integer')) {
      expect(typeof setting.min).toBe('number');
      expect(typeof setting.max).toBe('number');
    }
  });

  /** VALID as an object, with value set at the setting's path ("*" = the first table, as a mapping). */
  const documentWith = (path: readonly string[], value: unknown): Record<string, unknown> => {
    const document = { ...(parseDocumentOf(VALID) as Record<string, unknown>) };
    document.tables = [{ name: 'orders', target: 'orders_all' }, 'customers'];
    let parent: Record<string, unknown> = document;
    path.forEach((part, i) => {
      const key: string | number = part === '*' ? 0 : part;
      if (i === path.length - 1) {
        (parent as Record<string | number, unknown>)[key] = value;
        return;
      }
      const next = (parent as Record<string | number, unknown>)[key];
      const copy: Record<string, unknown> = Array.isArray(next) ? ([...next] as unknown as Record<string, unknown>) : { ...((next as Record<string, unknown> | undefined) ?? {}) };
      (parent as Record<string | number, unknown>)[key] = copy;
      parent = copy;
    });
    return document;
  };

  const valueAt = (config: unknown, path: readonly string[]): unknown => path.reduce<unknown>((node, part) => (node as Record<string | number, unknown>)[part === '*' ? 0 : part], config);

  test.each(settings.filter((s) => s.kind === 'integer').map((s) => [s.path.join('.'), s] as const))('%s: "${VAR}" gives a number; out of range and non-numeric are refused', (key, setting) => {
    const value = Math.min(setting.max!, setting.min! + 1);
    const config = parseConfig(documentWith(setting.path, '${V}'), { env: { ...ENV, V: String(value) } });
    expect(valueAt(config, setting.path)).toBe(value);
    expect(() => parseConfig(documentWith(setting.path, '${V}'), { env: { ...ENV, V: String(setting.max! + 1) } })).toThrow(`${key.replace('.*', '[0]')}: must be an integer from ${setting.min} to ${setting.max}`);
    expect(() => parseConfig(documentWith(setting.path, '${V}'), { env: { ...ENV, V: 'many' } })).toThrow(/expected a number, but the environment variable's value is not one/);
  });

  test.each(settings.filter((s) => s.kind === 'boolean').map((s) => [s.path.join('.'), s] as const))('%s: "${VAR}" gives a boolean', (_key, setting) => {
    for (const [text, expected] of [['false', false], ['TRUE', true], [' true ', true]] as const) {
      expect(valueAt(parseConfig(documentWith(setting.path, '${V}'), { env: { ...ENV, V: text } }), setting.path)).toBe(expected);
    }
    expect(() => parseConfig(documentWith(setting.path, '${V}'), { env: { ...ENV, V: 'yes please' } })).toThrow(/expected true or false, but the environment variable's value is not one/);
  });

  test('in YAML, as a user writes it: retention, metrics port and keyIncludesSource', () => {
    const yaml = withTables('  - { name: orders, keyIncludesSource: "${SHARED}" }') + 'retention: { seconds: "${R}" }\nmetrics: { port: "${P}" }\n';
    const config = parse(yaml, { R: '3600', P: '9187', SHARED: 'false' });
    expect(config.retention.seconds).toBe(3600);
    expect(config.metrics.port).toBe(9187);
    expect(config.tables[0]?.keyIncludesSource).toBe(false);
  });

  test('a quoted number written in the file is still a string, not a number', () => {
    expectOnly(withLine('retention: { seconds: "60" }'), 'retention.seconds', /expected a number, got a string/);
  });
});

describe('onBadValue: null', () => {
  test('unquoted (YAML null), as the README writes it, is the null policy', () => {
    const config = parse(withTables('  - name: orders\n    onBadValue: null'));
    expect(config.tables[0]?.onBadValue).toBe('null');
    expect(parse(withTables('  - name: orders\n    onBadValue: ~')).tables[0]?.onBadValue).toBe('null');
    expect(parse(withTables('  - name: orders\n    onBadValue: "null"')).tables[0]?.onBadValue).toBe('null');
  });
});

describe('parseConfig with an object (library use)', () => {
  test('validates a plain object, with ${VAR} from the given env; relative files from the current directory', () => {
    const config = parseConfig(
      {
        target: { url: 'postgres://root@127.0.0.1/warehouse' },
        sources: [{ id: 'eu', url: 'mysql://root:${PW}@127.0.0.1/shop' }],
        tables: ['orders', { name: 'customers', rename: { id: 'customer_id' } }],
        batchSize: 500,
        metrics: { textfile: 'metrics.prom' },
      },
      { env: { PW: 'pw' } },
    );
    expect(config.configPath).toBeUndefined();
    expect(config.sources[0]?.endpoint.password).toBe('pw');
    expect(config.batchSize).toBe(500);
    expect(config.tables[1]).toMatchObject({ name: 'customers', target: 'customers', rename: { id: 'customer_id' } });
    expect(config.metrics.textfile).toBe(path.resolve('metrics.prom'));
  });

  test('baseDir is where relative files are found', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tributary-base-'));
    try {
      writeFileSync(path.join(dir, 'pw'), 'from-file\n');
      const config = parseConfig({ target: { url: 'postgres://root@h/db', passwordFile: 'pw' }, sources: [{ id: 'eu', url: 'mysql://root@h/db' }], tables: ['t'] }, { env: {}, baseDir: dir });
      expect(config.target.endpoint.password).toBe('from-file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('problems are listed as for a file, without a file name', () => {
    expect(() => parseConfig({ target: { url: 'postgres://h/db' }, sources: [], tables: ['t'], batchSize: 0 })).toThrow(
      'invalid configuration:\nsources: no sources listed: at least one source is required\nbatchSize: must be an integer from 1 to 1000000, got 0',
    );
    expect(() => parseConfig(['not', 'a', 'mapping'])).toThrow(/expected a mapping of settings/);
  });
});

describe('no password in a message', () => {
  test('an unknown password key is refused cleanly, without the value', () => {
    const line = expectOnly(withSources('  - { id: eu, url: "mysql://root@h/db", password: "s3cr3t-value" }'), 'sources[0]', /unknown key "password"/, /passwordFile/);
    expect(line).not.toContain('s3cr3t');
    expect(redactSecrets(line)).toBe(line);
  });

  test.each([
    'root:s3cr3t@127.0.0.1:3306/db',
    'mysql:/root:s3cr3t@127.0.0.1:3306/db',
    'mysql:root:s3cr3t@127.0.0.1:3306/db',
    'postgres:/root:s3cr3t@127.0.0.1:5432/db',
    'mysql:///root:s3cr3t@127.0.0.1/db',
    'mysql://root:s3cr3t@/db',
    'mysql://root:s3cr3t@127.0.0.1:99999/db',
    'mysql://root:s3cr3t@127.0.0.1:port/db',
    'mysql://root:s3cr3t',
    'mysql://root:s3cr3t/db',
    'mysql://root:s3cr3t%zz@127.0.0.1/db',
    'mysql://root:s3 cr3t@127.0.0.1/db',
    'mysql://root:s3@cr3t@127.0.0.1/db',
    'mysql://root:s3/cr3t@127.0.0.1/db',
    'mysql://root:s3#cr3t@127.0.0.1/db',
    'mysql://root:s3cr3t@127.0.0.1',
    'mysql://127.0.0.1/db?password=s3cr3t',
    'mysql://root@127.0.0.1/db?ssl=1&password=s3cr3t#x',
    'http://root:s3cr3t@127.0.0.1/db',
    ' root : s3cr3t @ host',
  ])('%j: a parser error does not hold the password', (url) => {
    for (const parse of [parseMysqlUrl, parsePgUrl]) {
      let message = '';
      try {
        parse(url);
      } catch (error) {
        message = (error as Error).message;
      }
      // A few of these are valid URLs (WHATWG takes the last "@"; a query may hold anything).
      for (const piece of ['s3cr3t', 's3 cr3t', 'cr3t']) expect(message).not.toContain(piece);
    }
  });

  test.each([
    ['root:s3cr3t@127.0.0.1:3306/db', 'root:***@127.0.0.1:3306/db'],
    ['mysql:/root:s3cr3t@h/db', 'mysql:/root:***@h/db'],
    ['mysql:///root:s3cr3t@h/db', 'mysql:///root:***@h/db'],
    ['url "mysql://root:s3 cr3t@h/db" refused', 'url "mysql://root:***@h/db" refused'],
    ['mysql://root:s3@cr3t@h/db', 'mysql://root:***@h/db'],
    ['--source a=root:s3cr3t@h/db', '--source a=root:***@h/db'],
    ['mysql://h/db?ssl=1&password=s3cr3t&x=1', 'mysql://h/db?ssl=1&password=***&x=1'],
    ["Access denied for user 'root'@'localhost' (using password: YES)", "Access denied for user 'root'@'localhost' (using password: YES)"],
  ])('redactSecrets(%j)', (text, expected) => {
    expect(redactSecrets(text)).toBe(expected);
  });
});
