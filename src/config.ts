/**
 * Reading and validating the configuration file (YAML). Everything the rest of the tool knows about its
 * settings comes from the TributaryConfig returned here: validated once, defaults applied, deep-frozen.
 *
 * Validation reports every problem at once, one line each ("key.path: what is wrong"), so a user can fix
 * a file in one go. No message ever contains a password: URLs are shown with the password replaced by ***,
 * and values taken from the environment are never echoed.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import * as nodePath from 'node:path';
import { validate as isValidCron } from 'node-cron';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError, TributaryError, redactSecrets } from './errors';

/**
 * TLS for a connection. require: encrypted, certificate not checked; verify-ca: the server's
 * certificate must chain to ca; verify-full: and name the host connected to. Files are read once.
 */
export interface TlsSettings {
  mode: 'require' | 'verify-ca' | 'verify-full';
  /** PEM contents. */
  ca?: string;
  cert?: string;
  key?: string;
}

/** Where and how to connect to a database server, from its URL (and passwordFile, ssl). */
export interface DatabaseEndpoint {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** "host:port/database", never a password */
  display: string;
  params: Record<string, string>;
  tls?: TlsSettings;
}

export type MysqlEndpoint = DatabaseEndpoint;
export type PgEndpoint = DatabaseEndpoint;

export interface SourceConfig {
  id: string;
  url: string;
  endpoint: MysqlEndpoint;
}

export type BadValuePolicy = 'reject' | 'null' | 'fail';

export interface TableConfig {
  name: string;
  target: string;
  /** What to do with a value PostgreSQL cannot hold; default reject. */
  onBadValue: BadValuePolicy;
  /** Columns identifying a row when the table has no primary key (or to override it). */
  key?: readonly string[];
  /** Only these source columns (key columns are always included). */
  includeColumns?: readonly string[];
  /** All source columns but these. */
  excludeColumns?: readonly string[];
  /** Source column name → target column name. */
  rename: Readonly<Record<string, string>>;
  /** A MySQL boolean expression; only rows for which it is true are synced. */
  where?: string;
  /** true (default): target key is _source + key. false: the key alone, one logical table. */
  keyIncludesSource: boolean;
  /** With keyIncludesSource false: who wins when two sources write the same key. */
  conflict: ConflictPolicy;
  /** conflict newest: the column (source name) whose greater value wins. */
  newestBy?: string;
  /** conflict priority: source ids, highest priority first. */
  priority?: readonly string[];
  /** The changelog table's name in the source (default tributary_log_<name>); triggers are then <changelog>_ins|upd|del. */
  changelog?: string;
  /** copy (default): the source's secondary and unique indexes are built on the target; none: not. */
  indexes: IndexPolicy;
}

export type IndexPolicy = 'copy' | 'none';

export type ConflictPolicy = 'error' | 'newest' | 'priority';

export interface TributaryConfig {
  /** Absolute path of the file read. */
  configPath: string;
  target: { url: string; schema: string; endpoint: PgEndpoint };
  sources: readonly SourceConfig[];
  tables: readonly TableConfig[];
  /** node-cron expression; default "*\/5 * * * * *". */
  schedule: string;
  /** Default 10000; integer 1..1000000. */
  batchSize: number;
  /** Default 50000; integer 100..10000000. */
  snapshotChunkSize: number;
  /** Default 4; integer 1..64: how many (source, table) units run at once. */
  concurrency: number;
  /** sync --follow: pause between passes when nothing was pending, in milliseconds; default 250. */
  pollInterval: number;
  gaps: {
    /** Default 900. */
    recheckSeconds: number;
    /** Default 600. */
    alertSeconds: number;
    /** Default 1200; used only when the sync user lacks PROCESS. */
    timeoutSeconds: number;
  };
  /** Prometheus endpoint (daemon, follow) and textfile (every mode). */
  metrics: { port?: number; host: string; textfile?: string };
  /** GET /healthz answers 503 when the lag passes this. Default 300. */
  health: { maxLagSeconds: number };
  /** A unit with more pending changes than this raises a metric and a warning. Default 1000000. */
  alerts: { maxPendingChanges: number };
  /** Applied changelog rows are kept this long before they are deleted. Default 0. */
  retention: { seconds: number };
  /** This target's name among the consumers of a source's changelogs; default derived from the target. */
  consumer?: string;
  consumers: {
    /** A consumer unseen this long stops holding back pruning (and snapshots again if it returns). Default 259200 (3 days). */
    staleAfterSeconds: number;
    /** The consumer registry table in each source. Default tributary_consumers. */
    table: string;
  };
}

const DEFAULT_CONFIG_FILE = 'config/tributary.yml';
const DEFAULT_SCHEDULE = '*/5 * * * * *';
const DEFAULT_SCHEMA = 'public';
const MAX_NAME_CHARS = 64;
const SOURCE_ID_RE = /^[A-Za-z0-9_]{1,32}$/;
/** Upper bound for the gaps.* settings: 30 days. */
const MAX_GAP_SECONDS = 30 * 24 * 3600;

// ---------------------------------------------------------------------------------------------------------
// Locating and reading the file
// ---------------------------------------------------------------------------------------------------------

/** --config, else env TRIBUTARY_CONFIG, else config/tributary.yml; relative paths are taken from cwd. */
export function resolveConfigPath(cliPath: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string {
  const chosen = nonEmpty(cliPath) ?? nonEmpty(env.TRIBUTARY_CONFIG) ?? DEFAULT_CONFIG_FILE;
  return nodePath.resolve(cwd, chosen);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Reads the file at path and validates it with parseConfig. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): TributaryConfig {
  const absolute = nodePath.resolve(path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new TributaryError('CONFIG_NOT_FOUND', `configuration file not found: ${absolute} (set --config or TRIBUTARY_CONFIG)`, { cause: error });
    }
    if (code === 'EISDIR') {
      throw new ConfigError(`configuration path is a directory, not a file: ${absolute} (set --config or TRIBUTARY_CONFIG)`, { cause: error });
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`cannot read configuration file ${absolute}: ${reason}`, { cause: error });
  }
  return parseConfig(text, env, absolute);
}

// ---------------------------------------------------------------------------------------------------------
// Database URLs
// ---------------------------------------------------------------------------------------------------------

interface UrlKind {
  label: string;
  schemes: readonly string[];
  defaultPort: number;
  example: string;
}

const MYSQL_URL: UrlKind = { label: 'MySQL', schemes: ['mysql', 'mariadb'], defaultPort: 3306, example: 'mysql://user:password@host:3306/database' };
const PG_URL: UrlKind = { label: 'PostgreSQL', schemes: ['postgres', 'postgresql'], defaultPort: 5432, example: 'postgres://user:password@host:5432/database' };

/** Parses mysql://user:password@host:port/database?param=value (also mariadb://). Throws ConfigError. */
export function parseMysqlUrl(url: string): MysqlEndpoint {
  return parseDatabaseUrl(url, MYSQL_URL);
}

/** Parses postgres://user:password@host:port/database?param=value (also postgresql://). Throws ConfigError. */
export function parsePgUrl(url: string): PgEndpoint {
  return parseDatabaseUrl(url, PG_URL);
}

const ENCODE_HINT = 'percent-encode special characters (@ : / ? # % and spaces) in the user name and password';

function parseDatabaseUrl(url: string, kind: UrlKind): DatabaseEndpoint {
  const bad = (problem: string): ConfigError => new ConfigError(`invalid ${kind.label} URL ${JSON.stringify(redactUrl(url))}: ${problem}`);
  const schemeList = kind.schemes.map((s) => `${s}://`).join(' or ');

  if (typeof url !== 'string' || url.trim() === '') throw new ConfigError(`invalid ${kind.label} URL: it is empty (expected ${kind.example})`);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1];
  if (scheme === undefined) throw bad(`not a URL; expected ${kind.example}`);
  if (!kind.schemes.includes(scheme.toLowerCase())) throw bad(`the scheme must be ${schemeList}, not ${scheme}://`);

  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad(diagnoseUnparsable(url, scheme.length + 3));
  }

  if (parsed.hash !== '') throw bad(`unexpected "#" fragment; ${ENCODE_HINT} (# is %23)`);
  const rawHost = parsed.hostname;
  if (rawHost === '') throw bad('missing host');
  let port = kind.defaultPort;
  if (parsed.port !== '') {
    port = Number(parsed.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('the port must be a number from 1 to 65535');
  }
  const rawPath = parsed.pathname;
  if (rawPath === '' || rawPath === '/') throw bad('missing database name (add /<database> after the host)');
  const rawDatabase = rawPath.slice(1);
  if (rawDatabase.includes('/')) throw bad('the path must be just /<database> (percent-encode "/" in a database name as %2F)');

  const host = decodePart(rawHost, 'host', bad).replace(/^\[(.*)\]$/, '$1');
  const user = decodePart(parsed.username, 'user name', bad);
  const passwordText = decodePart(parsed.password, 'password', bad);
  const database = decodePart(rawDatabase, 'database name', bad);
  if (database === '') throw bad('missing database name (add /<database> after the host)');

  const params: Record<string, string> = {};
  for (const [key, value] of parsed.searchParams) params[key] = value;

  const hostForDisplay = host.includes(':') ? `[${host}]` : host;
  return {
    host,
    port,
    user,
    password: passwordText === '' ? undefined : passwordText,
    database,
    display: `${hostForDisplay}:${port}/${database}`,
    params,
  };
}

function decodePart(raw: string, what: string, bad: (problem: string) => ConfigError): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    // Never echo the part: it may be the password.
    throw bad(`invalid percent-encoding in the ${what} (a literal % must be written %25)`);
  }
}

/** Why WHATWG URL refused the text, as far as can be told without echoing any part of it. */
function diagnoseUnparsable(url: string, authorityStart: number): string {
  const afterScheme = url.slice(authorityStart);
  const authorityEnd = afterScheme.search(/[/?#]/);
  const authority = authorityEnd === -1 ? afterScheme : afterScheme.slice(0, authorityEnd);
  const rest = authorityEnd === -1 ? '' : afterScheme.slice(authorityEnd);
  // An "@" after the host part means the user name or password holds a raw / ? or #, which cut the
  // authority short: what looks like host and port would then be pieces of the password.
  if (rest.includes('@')) return `it cannot be parsed; ${ENCODE_HINT}`;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  const unparsable = `it cannot be parsed; check the host name and ${ENCODE_HINT}`;
  const match = /^(\[[^\]]*\]|[^:[\]]*)(?::(.*))?$/.exec(hostPort);
  if (!match) return unparsable;
  const host = match[1] ?? '';
  const port = match[2];
  if (host === '') return 'missing host';
  if (port !== undefined && port !== '') {
    return /^\d+$/.test(port) ? 'the port must be a number from 1 to 65535' : 'the port is not a number';
  }
  return unparsable;
}

/**
 * The URL as it may be shown in a message: the password replaced by ***. Works on any text, valid URL or
 * not: everything between the first ":" after the user name and the last "@" is hidden. (A raw "#", "/" or
 * "@" in a password makes the URL parser see a different password, so the parser is not asked.)
 */
function redactUrl(url: string): string {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([\s\S]*)$/.exec(url);
  if (match) {
    const prefix = match[1] ?? '';
    const rest = match[2] ?? '';
    const at = rest.lastIndexOf('@');
    if (at >= 0) {
      const userinfo = rest.slice(0, at);
      const colon = userinfo.indexOf(':');
      if (colon >= 0) return redactSecrets(prefix + userinfo.slice(0, colon) + ':***' + rest.slice(at));
    }
  }
  return redactSecrets(url);
}

// ---------------------------------------------------------------------------------------------------------
// Problems and key paths
// ---------------------------------------------------------------------------------------------------------

type KeyPath = readonly PropertyKey[];

interface Problem {
  /** Where, as a path into the document; or a ready-made label such as "line 3, column 5". */
  path: KeyPath | string;
  message: string;
}

function renderPath(path: KeyPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const key = String(part);
      out += /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? (out === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
    }
  }
  return out === '' ? '(root)' : out;
}

function startsWith(path: KeyPath, prefix: KeyPath): boolean {
  return prefix.length <= path.length && prefix.every((part, i) => part === path[i]);
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return Number.isFinite(value) ? 'a number' : String(value);
  if (typeof value === 'boolean') return `a boolean (${value})`;
  if (value instanceof Date) return 'a date';
  if (value instanceof Uint8Array) return 'binary data';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

const EXPECTED_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  object: 'a mapping',
  array: 'a list',
  boolean: 'true or false',
};

/** Wording for zod's own issues (type mismatches); the schemas below word everything else themselves. */
const errorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.code !== 'invalid_type') return undefined;
  if (issue.input === undefined) return 'missing required key';
  const expected = EXPECTED_NAMES[issue.expected] ?? issue.expected;
  const hint = issue.expected === 'string' && (typeof issue.input === 'number' || typeof issue.input === 'boolean') ? ' (put the value in quotes)' : '';
  return `expected ${expected}, got ${describeValue(issue.input)}${hint}`;
};

// ---------------------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------------------

/** A mapping that rejects unknown keys, naming the keys allowed at that level. */
function strictMapping<T extends z.ZodRawShape>(shape: T, expected: string) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code === 'unrecognized_keys') return `allowed keys: ${allowed}`;
      if (issue.code === 'invalid_type') {
        return issue.input === undefined ? 'missing required key' : `expected ${expected}, got ${describeValue(issue.input)}`;
      }
      return undefined;
    },
  });
}

function list<T extends z.ZodType>(item: T, what: string) {
  return z
    .array(item, {
      error: (issue) => {
        if (issue.code !== 'invalid_type') return undefined;
        if (issue.input === undefined) return `missing required key: at least one ${what} is required`;
        if (issue.input === null) return `no ${what}s listed: at least one ${what} is required`;
        return `expected a list of ${what}s, got ${describeValue(issue.input)}`;
      },
    })
    .min(1, { error: `no ${what}s listed: at least one ${what} is required` });
}

function integerIn(min: number, max: number) {
  return z.number().superRefine((value, ctx) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      ctx.addIssue({ code: 'custom', message: `must be an integer from ${min} to ${max}, got ${value}` });
    }
  });
}

/** A MySQL table name or a PostgreSQL target table name: any characters, 1 to 64 of them. */
const tableName = z.string().superRefine((name, ctx) => {
  const length = [...name].length;
  if (length === 0) ctx.addIssue({ code: 'custom', message: 'must not be empty' });
  else if (length > MAX_NAME_CHARS) ctx.addIssue({ code: 'custom', message: `is ${length} characters long; at most ${MAX_NAME_CHARS} are allowed` });
  if (name.includes('\u0000')) ctx.addIssue({ code: 'custom', message: 'must not contain a NUL character' });
});

const schemaName = z.string().superRefine((name, ctx) => {
  if (name.length === 0) ctx.addIssue({ code: 'custom', message: 'must not be empty (leave the key out to use "public")' });
  else if (Buffer.byteLength(name, 'utf8') > 63) ctx.addIssue({ code: 'custom', message: 'is longer than 63 bytes, the PostgreSQL limit for names' });
  if (name.includes('\u0000')) ctx.addIssue({ code: 'custom', message: 'must not contain a NUL character' });
});

const sourceId = z.string().superRefine((id, ctx) => {
  if (!SOURCE_ID_RE.test(id)) {
    const shown = id.length > 40 ? `${JSON.stringify(id.slice(0, 40))}...` : JSON.stringify(id);
    ctx.addIssue({
      code: 'custom',
      message: `${shown} is not a valid source id: use 1 to 32 letters (A-Z, a-z), digits or underscores, because the id is stored in every target row and used in generated names`,
    });
  }
});

function databaseUrl(parse: (url: string) => unknown) {
  return z.string().superRefine((url, ctx) => {
    try {
      parse(url);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
    }
  });
}

const cronExpression = z.string().superRefine((expression, ctx) => {
  let valid: boolean;
  try {
    valid = expression.trim() !== '' && isValidCron(expression);
  } catch {
    valid = false;
  }
  if (!valid) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(expression)} is not a valid cron expression (5 or 6 fields: [second] minute hour day-of-month month day-of-week, e.g. "${DEFAULT_SCHEDULE}")`,
    });
  }
});

const passwordFile = z.string().min(1, { error: 'must not be empty' });

const sslSchema = strictMapping(
  {
    mode: z.enum(['require', 'verify-ca', 'verify-full'], { error: 'must be require, verify-ca or verify-full' }).default('verify-full'),
    ca: z.string().min(1).optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
  },
  'a mapping with mode, ca, cert, key',
).superRefine((ssl, ctx) => {
  if (ssl.mode !== 'require' && !ssl.ca) ctx.addIssue({ code: 'custom', path: ['ca'], message: `missing: mode ${ssl.mode} checks the server's certificate against this CA file` });
  if (Boolean(ssl.cert) !== Boolean(ssl.key)) ctx.addIssue({ code: 'custom', message: 'a client certificate needs both cert and key' });
});

const sourceSchema = strictMapping(
  { id: sourceId, url: databaseUrl(parseMysqlUrl), passwordFile: passwordFile.optional(), ssl: sslSchema.optional() },
  'a mapping with id and url (and optional passwordFile, ssl)',
);

const columnList = z
  .array(tableName, { error: (issue) => (issue.code === 'invalid_type' ? `expected a list of column names, got ${describeValue(issue.input)}` : undefined) })
  .min(1, { error: 'must list at least one column' })
  .superRefine((names, ctx) => {
    const seen = new Set<string>();
    for (const name of names) {
      if (seen.has(name)) ctx.addIssue({ code: 'custom', message: `lists column ${JSON.stringify(name)} twice` });
      seen.add(name);
    }
  });

const columnsSchema = strictMapping({ include: columnList.optional(), exclude: columnList.optional() }, 'a mapping with include or exclude').superRefine((value, ctx) => {
  if (value.include && value.exclude) ctx.addIssue({ code: 'custom', message: 'give either include or exclude, not both' });
  if (!value.include && !value.exclude) ctx.addIssue({ code: 'custom', message: 'give include or exclude' });
});

const renameSchema = z.record(tableName, tableName, { error: (issue) => (issue.code === 'invalid_type' ? `expected a mapping of source column to target column, got ${describeValue(issue.input)}` : undefined) }).superRefine((value, ctx) => {
  const targets = new Map<string, string>();
  for (const [from, to] of Object.entries(value)) {
    const other = targets.get(to);
    if (other !== undefined) ctx.addIssue({ code: 'custom', message: `columns ${JSON.stringify(other)} and ${JSON.stringify(from)} are both renamed to ${JSON.stringify(to)}` });
    targets.set(to, from);
  }
});

const indexPolicy = z.enum(['copy', 'none'], { error: 'must be copy or none' });

const tableSchema = z.preprocess(
  (value) => (typeof value === 'string' ? { name: value } : value),
  strictMapping(
    {
      name: tableName,
      target: tableName.optional(),
      onBadValue: z.enum(['reject', 'null', 'fail'], { error: 'must be reject, null or fail' }).default('reject'),
      key: columnList.optional(),
      columns: columnsSchema.optional(),
      rename: renameSchema.optional(),
      where: z.string().trim().min(1, { error: 'must not be empty' }).optional(),
      keyIncludesSource: z.boolean({ error: 'must be true or false' }).default(true),
      conflict: z.enum(['error', 'newest', 'priority'], { error: 'must be error, newest or priority' }).default('error'),
      newestBy: tableName.optional(),
      priority: z.array(sourceId, { error: 'expected a list of source ids' }).min(1, { error: 'must list at least one source id' }).optional(),
      changelog: tableName.optional(),
      indexes: indexPolicy.optional(),
    },
    'a table name or a mapping with name (and optional target, onBadValue, key, columns, rename, where, keyIncludesSource, conflict, newestBy, priority, changelog, indexes)',
  ).superRefine((table, ctx) => {
    const problem = (path: string, message: string): void => void ctx.addIssue({ code: 'custom', path: [path], message });
    if (table.keyIncludesSource && table.conflict !== 'error') problem('conflict', 'only applies with keyIncludesSource: false (with the source in the key, sources never collide)');
    if (table.conflict === 'newest' && !table.newestBy) problem('newestBy', 'missing: conflict newest needs the column whose greater value wins (e.g. updated_at)');
    if (table.conflict !== 'newest' && table.newestBy) problem('newestBy', 'only applies with conflict: newest');
    if (table.conflict === 'priority' && !table.priority) problem('priority', 'missing: conflict priority needs the source ids in order, highest first');
    if (table.conflict !== 'priority' && table.priority) problem('priority', 'only applies with conflict: priority');
  }),
);

const gapsSchema = strictMapping(
  {
    recheckSeconds: integerIn(1, MAX_GAP_SECONDS).default(900),
    alertSeconds: integerIn(1, MAX_GAP_SECONDS).default(600),
    timeoutSeconds: integerIn(1, MAX_GAP_SECONDS).default(1200),
  },
  'a mapping',
).prefault({});

const configSchema = strictMapping(
  {
    target: strictMapping(
      { url: databaseUrl(parsePgUrl), schema: schemaName.default(DEFAULT_SCHEMA), passwordFile: passwordFile.optional(), ssl: sslSchema.optional() },
      'a mapping with url and schema',
    ),
    sources: list(sourceSchema, 'source'),
    tables: list(tableSchema, 'table'),
    schedule: cronExpression.default(DEFAULT_SCHEDULE),
    batchSize: integerIn(1, 1_000_000).default(10_000),
    snapshotChunkSize: integerIn(100, 10_000_000).default(50_000),
    concurrency: integerIn(1, 64).default(4),
    pollInterval: integerIn(10, 3_600_000).default(250),
    gaps: gapsSchema,
    metrics: strictMapping(
      { port: integerIn(1, 65535).optional(), host: z.string().min(1).default('127.0.0.1'), textfile: z.string().min(1).optional() },
      'a mapping with port, host or textfile',
    ).prefault({}),
    health: strictMapping({ maxLagSeconds: integerIn(1, MAX_GAP_SECONDS).default(300) }, 'a mapping with maxLagSeconds').prefault({}),
    alerts: strictMapping({ maxPendingChanges: integerIn(1, 1_000_000_000).default(1_000_000) }, 'a mapping with maxPendingChanges').prefault({}),
    retention: strictMapping({ seconds: integerIn(0, MAX_GAP_SECONDS).default(0) }, 'a mapping with seconds').prefault({}),
    consumer: z.string().trim().min(1, { error: 'must not be empty' }).max(191, { error: 'must be at most 191 characters' }).optional(),
    consumers: strictMapping(
      { staleAfterSeconds: integerIn(3600, 366 * 24 * 3600).default(3 * 24 * 3600), table: tableName.default('tributary_consumers') },
      'a mapping with staleAfterSeconds or table',
    ).prefault({}),
    indexes: indexPolicy.default('copy'),
  },
  'a mapping of settings',
);

/** Settings that take a number; a `${VAR}` there yields a string, which is converted when it is numeric. */
const NUMERIC_KEYS: readonly KeyPath[] = [
  ['batchSize'],
  ['pollInterval'],
  ['snapshotChunkSize'],
  ['concurrency'],
  ['gaps', 'recheckSeconds'],
  ['gaps', 'alertSeconds'],
  ['gaps', 'timeoutSeconds'],
];

// ---------------------------------------------------------------------------------------------------------
// Environment substitution
// ---------------------------------------------------------------------------------------------------------

interface Substitution {
  value: unknown;
  problems: Problem[];
  /** Paths of strings whose references could not be resolved; no further problem is reported there. */
  unresolved: KeyPath[];
  /** Paths of strings that had at least one `${VAR}` replaced. */
  substituted: KeyPath[];
}

const VAR_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

function substituteEnv(root: unknown, env: NodeJS.ProcessEnv): Substitution {
  const result: Substitution = { value: undefined, problems: [], unresolved: [], substituted: [] };

  const substituteString = (text: string, path: KeyPath): string => {
    let out = '';
    let replaced = false;
    let failed = false;
    let i = 0;
    while (i < text.length) {
      if (text.startsWith('$${', i)) {
        out += '${';
        i += 3;
      } else if (text.startsWith('${', i)) {
        const close = text.indexOf('}', i + 2);
        const name = close === -1 ? undefined : text.slice(i + 2, close);
        if (name === undefined || !VAR_NAME_RE.test(name)) {
          result.problems.push({
            path,
            message:
              close === -1
                ? 'unterminated ${ (write $${ for a literal ${)'
                : 'invalid ${...} reference: a variable name is letters, digits and underscores, not starting with a digit (write $${ for a literal ${)',
          });
          failed = true;
          i = close === -1 ? text.length : close + 1;
          continue;
        }
        const value = env[name];
        if (value === undefined) {
          result.problems.push({ path, message: `environment variable ${name} is not set` });
          failed = true;
        } else {
          out += value;
          replaced = true;
        }
        i = close + 1;
      } else {
        out += text[i];
        i += 1;
      }
    }
    if (failed) result.unresolved.push(path);
    else if (replaced) result.substituted.push(path);
    return out;
  };

  const walk = (value: unknown, path: KeyPath): unknown => {
    if (typeof value === 'string') return substituteString(value, path);
    if (Array.isArray(value)) return value.map((item, index) => walk(item, [...path, index]));
    if (isPlainMapping(value)) {
      const copy: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) copy[key] = walk(item, [...path, key]);
      return copy;
    }
    return value;
  };

  result.value = walk(root, []);
  return result;
}

function isPlainMapping(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function getAt(root: unknown, path: KeyPath): unknown {
  let current = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

function setAt(root: unknown, path: KeyPath, value: unknown): void {
  const parent = getAt(root, path.slice(0, -1));
  if (parent !== null && typeof parent === 'object') (parent as Record<PropertyKey, unknown>)[path[path.length - 1] as PropertyKey] = value;
}

// ---------------------------------------------------------------------------------------------------------
// Checks across entries (duplicates); run on the raw document so they are reported with everything else
// ---------------------------------------------------------------------------------------------------------

function crossChecks(document: Record<string, unknown>, isUnresolved: (path: KeyPath) => boolean): Problem[] {
  const problems: Problem[] = [];

  const sources = document.sources;
  if (Array.isArray(sources)) {
    const seen = new Map<string, { index: number; id: string }>();
    sources.forEach((source, index) => {
      const id = isPlainMapping(source) ? source.id : undefined;
      if (typeof id !== 'string' || id === '' || isUnresolved(['sources', index, 'id'])) return;
      const first = seen.get(id.toLowerCase());
      if (first === undefined) {
        seen.set(id.toLowerCase(), { index, id });
        return;
      }
      const caseNote = first.id === id ? '' : ` as ${JSON.stringify(first.id)} (ids are compared ignoring case)`;
      problems.push({
        path: ['sources', index, 'id'],
        message: `duplicate source id ${JSON.stringify(id)}: sources[${first.index}] already uses it${caseNote}; every source needs its own id`,
      });
    });
  }

  const tables = document.tables;
  if (Array.isArray(tables) && Array.isArray(sources)) {
    const ids = new Set(sources.map((source) => (isPlainMapping(source) ? source.id : undefined)).filter((id): id is string => typeof id === 'string'));
    tables.forEach((table, index) => {
      if (!isPlainMapping(table) || !Array.isArray(table.priority)) return;
      const unknown = table.priority.filter((id: unknown) => typeof id === 'string' && !ids.has(id));
      if (unknown.length > 0) problems.push({ path: ['tables', index, 'priority'], message: `names unknown source id(s) ${unknown.map((id) => JSON.stringify(id)).join(', ')}` });
    });
  }
  if (Array.isArray(tables)) {
    interface Entry {
      index: number;
      name: string;
      target: string;
      explicitTarget: boolean;
    }
    const entries: Entry[] = [];
    tables.forEach((table, index) => {
      const name = typeof table === 'string' ? table : isPlainMapping(table) ? table.name : undefined;
      if (typeof name !== 'string' || name === '') return;
      if (isUnresolved(typeof table === 'string' ? ['tables', index] : ['tables', index, 'name'])) return;
      const explicit = isPlainMapping(table) && table.target !== undefined;
      const target = explicit ? (table as Record<string, unknown>).target : name;
      if (typeof target !== 'string' || target === '' || (explicit && isUnresolved(['tables', index, 'target']))) return;
      entries.push({ index, name, target, explicitTarget: explicit });
    });

    const byName = new Map<string, Entry>();
    const duplicateNames = new Set<number>();
    for (const entry of entries) {
      const first = byName.get(entry.name);
      if (first === undefined) {
        byName.set(entry.name, entry);
        continue;
      }
      duplicateNames.add(entry.index);
      problems.push({
        path: typeof tables[entry.index] === 'string' ? ['tables', entry.index] : ['tables', entry.index, 'name'],
        message: `duplicate table ${JSON.stringify(entry.name)}: already listed as tables[${first.index}]`,
      });
    }

    const byTarget = new Map<string, Entry>();
    for (const entry of entries) {
      if (duplicateNames.has(entry.index)) continue;
      const first = byTarget.get(entry.target);
      if (first === undefined) {
        byTarget.set(entry.target, entry);
        continue;
      }
      const how = entry.explicitTarget ? '' : ' (the target defaults to the table name)';
      problems.push({
        path: entry.explicitTarget ? ['tables', entry.index, 'target'] : typeof tables[entry.index] === 'string' ? ['tables', entry.index] : ['tables', entry.index, 'name'],
        message: `tables ${JSON.stringify(first.name)} (tables[${first.index}]) and ${JSON.stringify(entry.name)} both map to target table ${JSON.stringify(entry.target)}${how}; each table needs its own target`,
      });
    }
  }

  return problems;
}

// ---------------------------------------------------------------------------------------------------------
// parseConfig
// ---------------------------------------------------------------------------------------------------------

/** Validates YAML text; configPath is only used in messages and stored (made absolute) in the result. */
export function parseConfig(yamlText: string, env: NodeJS.ProcessEnv, configPath: string): TributaryConfig {
  const absolutePath = nodePath.resolve(configPath);
  function fail(problems: readonly Problem[], tables?: unknown): never {
    const lines = problems.map((problem) => {
      const where = typeof problem.path === 'string' ? problem.path : renderPath(tablePathForDisplay(problem.path, tables));
      return `${where}: ${problem.message.replace(/\s*\n\s*/g, ' ')}`;
    });
    throw new ConfigError(`invalid configuration in ${absolutePath}:\n${lines.join('\n')}`);
  }

  const text = yamlText.replace(/^\uFEFF/, '');
  if (text.trim() === '') fail([{ path: '(file)', message: 'the configuration file is empty' }]);

  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) {
    fail(
      document.errors.map((error) => {
        const position = error.linePos?.[0];
        const firstLine = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?\s*$/, '');
        const hint = /alias/i.test(firstLine) ? ' (a value that starts with *, such as a cron expression, must be quoted)' : '';
        return {
          path: position ? `line ${position.line}, column ${position.col}` : '(yaml)',
          message: `YAML syntax error: ${redactSecrets(firstLine)}${hint}`,
        };
      }),
    );
  }

  let raw: unknown;
  try {
    raw = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    fail([{ path: '(yaml)', message: `YAML error: ${redactSecrets(error instanceof Error ? error.message : String(error))}` }]);
  }
  if (raw === null || raw === undefined) fail([{ path: '(file)', message: 'the configuration file is empty (it holds no settings)' }]);
  if (!isPlainMapping(raw)) {
    fail([{ path: '(root)', message: `expected a mapping of settings (target, sources, tables, ...), got ${describeValue(raw)}` }]);
  }

  const substitution = substituteEnv(raw, env);
  const data = substitution.value as Record<string, unknown>; // a mapping, as raw is
  const isUnresolved = (path: KeyPath): boolean => substitution.unresolved.some((bad) => startsWith(path, bad));

  for (const path of NUMERIC_KEYS) {
    const value = getAt(data, path);
    const wasSubstituted = substitution.substituted.some((p) => p.length === path.length && startsWith(p, path));
    if (wasSubstituted && typeof value === 'string' && /^\s*[+-]?\d+(\.\d+)?\s*$/.test(value)) setAt(data, path, Number(value));
  }

  const problems: Problem[] = [...substitution.problems];
  const parsed = configSchema.safeParse(data, { error: errorMap });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (isUnresolved(issue.path)) continue;
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          problems.push({ path: [...issue.path, key], message: `unknown key ${JSON.stringify(key)} (${issue.message})` });
        }
      } else {
        problems.push({ path: issue.path, message: issue.message });
      }
    }
  }
  problems.push(...crossChecks(data, isUnresolved));
  if (parsed.success) {
    parsed.data.sources.forEach((source, index) => {
      // mysql2 checks an IP address host against the name "localhost", not against the certificate's
      // IP entries, so verify-full cannot be honoured for an IP: say so rather than check the wrong name.
      if (source.ssl?.mode === 'verify-full' && isIP(parseMysqlUrl(source.url).host) !== 0) {
        problems.push({ path: ['sources', index, 'ssl', 'mode'], message: 'verify-full needs a host name in the source URL, not an IP address; use the name the certificate carries, or mode verify-ca' });
      }
    });
  }

  if (!parsed.success || problems.length > 0) return fail(inDocumentOrder(problems, data), data.tables);
  const settings = parsed.data;

  const config: TributaryConfig = {
    configPath: absolutePath,
    target: {
      url: settings.target.url,
      schema: settings.target.schema,
      endpoint: withTls(withPasswordFile(parsePgUrl(settings.target.url), settings.target.passwordFile, 'target.passwordFile', absolutePath), settings.target.ssl, 'target.ssl', absolutePath),
    },
    sources: settings.sources.map((source, index) => ({
      id: source.id,
      url: source.url,
      endpoint: withTls(
        withPasswordFile(parseMysqlUrl(source.url), source.passwordFile, `sources[${index}].passwordFile`, absolutePath),
        source.ssl,
        `sources[${index}].ssl`,
        absolutePath,
      ),
    })),
    tables: settings.tables.map((table) => ({
      name: table.name,
      target: table.target ?? table.name,
      onBadValue: table.onBadValue,
      ...(table.key ? { key: table.key } : {}),
      ...(table.columns?.include ? { includeColumns: table.columns.include } : {}),
      ...(table.columns?.exclude ? { excludeColumns: table.columns.exclude } : {}),
      rename: table.rename ?? {},
      ...(table.where ? { where: table.where } : {}),
      keyIncludesSource: table.keyIncludesSource,
      conflict: table.conflict,
      ...(table.newestBy ? { newestBy: table.newestBy } : {}),
      ...(table.priority ? { priority: table.priority } : {}),
      ...(table.changelog ? { changelog: table.changelog } : {}),
      indexes: table.indexes ?? settings.indexes,
    })),
    schedule: settings.schedule,
    batchSize: settings.batchSize,
    snapshotChunkSize: settings.snapshotChunkSize,
    concurrency: settings.concurrency,
    pollInterval: settings.pollInterval,
    gaps: { recheckSeconds: settings.gaps.recheckSeconds, alertSeconds: settings.gaps.alertSeconds, timeoutSeconds: settings.gaps.timeoutSeconds },
    metrics: {
      host: settings.metrics.host,
      ...(settings.metrics.port !== undefined ? { port: settings.metrics.port } : {}),
      ...(settings.metrics.textfile !== undefined ? { textfile: nodePath.resolve(nodePath.dirname(absolutePath), settings.metrics.textfile) } : {}),
    },
    health: { maxLagSeconds: settings.health.maxLagSeconds },
    alerts: { maxPendingChanges: settings.alerts.maxPendingChanges },
    retention: { seconds: settings.retention.seconds },
    ...(settings.consumer ? { consumer: settings.consumer } : {}),
    consumers: { staleAfterSeconds: settings.consumers.staleAfterSeconds, table: settings.consumers.table },
  };
  return deepFreeze(config);
}

function readSecretFile(file: string, key: string, configPath: string): string {
  try {
    return readFileSync(nodePath.resolve(nodePath.dirname(configPath), file), 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`invalid configuration in ${configPath}:\n${key}: cannot read ${file} (${reason})`);
  }
}

function withTls<T extends { tls?: TlsSettings }>(endpoint: T, ssl: { mode: TlsSettings['mode']; ca?: string; cert?: string; key?: string } | undefined, key: string, configPath: string): T {
  if (!ssl) return endpoint;
  const tls: TlsSettings = { mode: ssl.mode };
  if (ssl.ca) tls.ca = readSecretFile(ssl.ca, `${key}.ca`, configPath);
  if (ssl.cert) tls.cert = readSecretFile(ssl.cert, `${key}.cert`, configPath);
  if (ssl.key) tls.key = readSecretFile(ssl.key, `${key}.key`, configPath);
  return { ...endpoint, tls };
}

/**
 * A password kept in a file (one line; a trailing newline is ignored) replaces the URL's. The file is
 * read once, here; its content never appears in a message.
 */
function withPasswordFile<T extends { password: string | undefined }>(endpoint: T, file: string | undefined, key: string, configPath: string): T {
  if (file === undefined) return endpoint;
  return { ...endpoint, password: readSecretFile(file, key, configPath).replace(/\r?\n$/, '') };
}

/** Problems sorted the way their keys appear in the file (keys absent from the file after those present). */
function inDocumentOrder(problems: readonly Problem[], document: unknown): Problem[] {
  const rank = (parent: unknown, part: PropertyKey): number => {
    if (typeof part === 'number') return part;
    const index = isPlainMapping(parent) ? Object.keys(parent).indexOf(String(part)) : -1;
    return index === -1 ? Number.MAX_SAFE_INTEGER : index;
  };
  const compare = (a: KeyPath, b: KeyPath): number => {
    let parent: unknown = document;
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const difference = rank(parent, a[i] as PropertyKey) - rank(parent, b[i] as PropertyKey);
      if (difference !== 0) return difference;
      parent = getAt(parent, [a[i] as PropertyKey]);
    }
    return a.length - b.length;
  };
  // Array.prototype.sort is stable: problems at the same key keep the order they were found in.
  return [...problems].sort((a, b) => (typeof a.path === 'string' || typeof b.path === 'string' ? 0 : compare(a.path, b.path)));
}

/** A table given as a plain string is reported at tables[i], not at the tables[i].name it was read as. */
function tablePathForDisplay(path: KeyPath, tables: unknown): KeyPath {
  if (path.length === 3 && path[0] === 'tables' && path[2] === 'name' && typeof path[1] === 'number' && Array.isArray(tables) && typeof tables[path[1]] === 'string') {
    return path.slice(0, 2);
  }
  return path;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}
