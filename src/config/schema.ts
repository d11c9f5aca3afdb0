/**
 * The one description of every setting: its type, default, limits and why. The configuration types
 * are what this schema produces; types.ts spells them out as plain interfaces for the shipped
 * declarations, and the compiler checks (OUTPUT_MATCHES_TYPES below) that they are exactly that.
 *
 * Messages are worded here, one line per problem ("key.path: what is wrong"). None shows a password:
 * URL problems come from url.ts, which hides them.
 */
import { validate as isValidCron } from 'node-cron';
import { z } from 'zod';
import type { CatchUpMode, IndexPolicy, Settings, SourceSettings, TableSettings, TargetSettings } from './types';
import { parseMysqlUrl, parsePgUrl, TLS_MODES, type DatabaseEndpoint } from './url';

export const DEFAULT_SCHEDULE = '*/5 * * * * *';
// Pending changes, in percent of a table's rows, above which adaptive catch-up re-snapshots (see catchUpPercent).
export const CATCH_UP_PERCENT_DEFAULT = 60;
/** A MySQL identifier is at most 64 characters; the PostgreSQL limit (63 bytes) is checked at start-up. */
const MAX_NAME_CHARS = 64;
const PG_NAME_BYTES = 63;
/** Letters, digits, underscore: the id is stored in every target row and used in generated names. */
const SOURCE_ID_RE = /^[A-Za-z0-9_]{1,32}$/;
/** Upper bound for durations in seconds: 30 days. */
const MAX_SECONDS = 30 * 24 * 3600;

// ---------------------------------------------------------------------------------------------------------
// Wording
// ---------------------------------------------------------------------------------------------------------

export function describeValue(value: unknown): string {
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

/** Wording for zod's own issues (type mismatches); the schema words everything else itself. */
export const errorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.code !== 'invalid_type') return undefined;
  if (issue.input === undefined) return 'missing required key';
  const expected = EXPECTED_NAMES[issue.expected] ?? issue.expected;
  const hint = issue.expected === 'string' && (typeof issue.input === 'number' || typeof issue.input === 'boolean') ? ' (put the value in quotes)' : '';
  return `expected ${expected}, got ${describeValue(issue.input)}${hint}`;
};

// ---------------------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------------------

/** A mapping that rejects unknown keys (a misspelt key must never be ignored), naming the keys allowed. */
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

/** The range of every integer setting, for the tests that try each one (see scalarSettings). */
const integerRanges = new WeakMap<z.ZodType, { min: number; max: number }>();

function integerIn(min: number, max: number) {
  const schema = z.number().superRefine((value, ctx) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      ctx.addIssue({ code: 'custom', message: `must be an integer from ${min} to ${max}, got ${value}` });
    }
  });
  integerRanges.set(schema, { min, max });
  return schema;
}

const flag = () => z.boolean({ error: 'must be true or false' });

/** A MySQL table or column name, or a PostgreSQL target name: any characters, 1 to 64 of them. */
const tableName = z.string().superRefine((name, ctx) => {
  const length = [...name].length;
  if (length === 0) ctx.addIssue({ code: 'custom', message: 'must not be empty' });
  else if (length > MAX_NAME_CHARS) ctx.addIssue({ code: 'custom', message: `is ${length} characters long; at most ${MAX_NAME_CHARS} are allowed` });
  if (name.includes('\u0000')) ctx.addIssue({ code: 'custom', message: 'must not contain a NUL character' });
});

const schemaName = z.string().superRefine((name, ctx) => {
  if (name.length === 0) ctx.addIssue({ code: 'custom', message: 'must not be empty (leave the key out to use "public")' });
  else if (Buffer.byteLength(name, 'utf8') > PG_NAME_BYTES) ctx.addIssue({ code: 'custom', message: `is longer than ${PG_NAME_BYTES} bytes, the PostgreSQL limit for names` });
  if (name.includes('\u0000')) ctx.addIssue({ code: 'custom', message: 'must not contain a NUL character' });
});

export function isValidSourceId(id: string): boolean {
  return SOURCE_ID_RE.test(id);
}

const SOURCE_ID_RULE = 'use 1 to 32 letters (A-Z, a-z), digits or underscores, because the id is stored in every target row and used in generated names';

const sourceId = z.string().superRefine((id, ctx) => {
  if (!isValidSourceId(id)) {
    const shown = id.length > 40 ? `${JSON.stringify(id.slice(0, 40))}...` : JSON.stringify(id);
    ctx.addIssue({ code: 'custom', message: `${shown} is not a valid source id: ${SOURCE_ID_RULE}` });
  }
});

/** Why a source id given outside the file (init --source ID=URL) is refused; the id is not echoed. */
export const SOURCE_ID_PROBLEM = `not a valid source id: ${SOURCE_ID_RULE}`;

function databaseUrl(parse: (url: string) => DatabaseEndpoint) {
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

/** A file holding the password (one line): keeps it out of the URL, the file and the environment. */
const passwordFile = z.string().min(1, { error: 'must not be empty' });

/** TLS to the server. Files are paths relative to the configuration file, read once at start-up. */
const sslSchema = strictMapping(
  {
    // verify-full by default: encryption without checking who answers protects against nothing active.
    mode: z.enum(TLS_MODES, { error: 'must be require, verify-ca or verify-full' }).default('verify-full'),
    ca: z.string().min(1).optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
  },
  'a mapping with mode, ca, cert, key',
).superRefine((ssl, ctx) => {
  if (ssl.mode !== 'require' && !ssl.ca) ctx.addIssue({ code: 'custom', path: ['ca'], message: `missing: mode ${ssl.mode} checks the server's certificate against this CA file` });
  if (Boolean(ssl.cert) !== Boolean(ssl.key)) ctx.addIssue({ code: 'custom', message: 'a client certificate needs both cert and key' });
});


// ---------------------------------------------------------------------------------------------------------
// Sources, target, tables
// ---------------------------------------------------------------------------------------------------------

const sourceMapping = strictMapping(
  {
    // Stored in every target row (_source) and used in generated names: never change it once synced.
    id: sourceId,
    url: databaseUrl(parseMysqlUrl),
    passwordFile: passwordFile.optional(),
    ssl: sslSchema.optional(),
  },
  'a mapping with id and url (and optional passwordFile, ssl)',
);
// The URL parsed once here; passwordFile and ssl files are read into the endpoint when loading.
const sourceSchema = sourceMapping.transform((source): SourceSettings => ({ ...source, endpoint: parseMysqlUrl(source.url) }));

const targetMapping = strictMapping(
  {
    url: databaseUrl(parsePgUrl),
    // Where the merged tables live; created if missing.
    schema: schemaName.default('public'),
    passwordFile: passwordFile.optional(),
    ssl: sslSchema.optional(),
  },
  'a mapping with url and schema',
);
const targetSchema = targetMapping.transform((target): TargetSettings => ({ ...target, endpoint: parsePgUrl(target.url) }));

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

const renameSchema = z
  .record(tableName, tableName, { error: (issue) => (issue.code === 'invalid_type' ? `expected a mapping of source column to target column, got ${describeValue(issue.input)}` : undefined) })
  .superRefine((value, ctx) => {
    const targets = new Map<string, string>();
    for (const [from, to] of Object.entries(value)) {
      const other = targets.get(to);
      if (other !== undefined) ctx.addIssue({ code: 'custom', message: `columns ${JSON.stringify(other)} and ${JSON.stringify(from)} are both renamed to ${JSON.stringify(to)}` });
      targets.set(to, from);
    }
  });

const BAD_VALUE_POLICIES = ['reject', 'null', 'fail'] as const;

/**
 * What to do with a value PostgreSQL cannot hold. `onBadValue: null` written unquoted is YAML's null,
 * not the string: it means the policy null, as the README writes it.
 */
const badValuePolicy = z.preprocess((value) => (value === null ? 'null' : value), z.enum(BAD_VALUE_POLICIES, { error: 'must be reject, null or fail' }));

/** copy: the source's secondary and unique indexes are built on the target too; none: they are not. */
const indexPolicy = z.enum(['copy', 'none'], { error: 'must be copy or none' });

/**
 * adaptive: a unit far behind (pending changes above catchUpPercent of its rows) catches up by a
 * re-snapshot that opens no holes, which is faster than draining from there on; drain: always drain
 * (e.g. a table too big, or a source too busy, to be read whole in working hours).
 */
const catchUpMode = z.enum(['adaptive', 'drain'], { error: 'must be adaptive or drain' });

const tableMapping = strictMapping(
  {
    // The table in every source database.
    name: tableName,
    // The table in the target schema; default: name.
    target: tableName.optional(),
    // reject (default): keep the row out and record it; null: store NULL and record it; fail: stop.
    onBadValue: badValuePolicy.default('reject'),
    // The columns identifying a row, for a table without primary key (or to override it).
    key: columnList.optional(),
    // Which columns to sync; key columns always are.
    columns: columnsSchema.optional(),
    // Source column name -> target column name.
    rename: renameSchema.optional(),
    // A MySQL boolean expression: only rows for which it is true are synced.
    where: z.string().trim().min(1, { error: 'must not be empty' }).optional(),
    // true: target key is _source + key (shards may reuse ids); false: the key alone, one logical table.
    keyIncludesSource: flag().default(true),
    // With keyIncludesSource false, who wins when two sources write the same key.
    conflict: z.enum(['error', 'newest', 'priority'], { error: 'must be error, newest or priority' }).default('error'),
    // conflict newest: the column (source name) whose greater value wins.
    newestBy: tableName.optional(),
    // conflict priority: source ids, highest priority first.
    priority: z.array(sourceId, { error: 'expected a list of source ids' }).min(1, { error: 'must list at least one source id' }).optional(),
    // The changelog table's name in the source (default tributary_log_<name>); triggers are <changelog>_ins|upd|del.
    changelog: tableName.optional(),
    // Default: the top-level indexes setting.
    indexes: indexPolicy.optional(),
    // Default: the top-level catchUp setting.
    catchUp: catchUpMode.optional(),
  },
  'a table name or a mapping with name (and optional target, onBadValue, key, columns, rename, where, keyIncludesSource, conflict, newestBy, priority, changelog, indexes, catchUp)',
);

/** A table's settings before the top-level defaults (indexes, catchUp) are applied to it. */
type TableSettingsOwn = Omit<TableSettings, 'indexes' | 'catchUp'> & { indexes?: IndexPolicy | undefined; catchUp?: CatchUpMode | undefined };

const tableSchema = z.preprocess(
  // A plain string is short for { name: ... }.
  (value) => (typeof value === 'string' ? { name: value } : value),
  tableMapping
    .superRefine((table, ctx) => {
      const problem = (path: string, message: string): void => void ctx.addIssue({ code: 'custom', path: [path], message });
      if (table.keyIncludesSource && table.conflict !== 'error') problem('conflict', 'only applies with keyIncludesSource: false (with the source in the key, sources never collide)');
      if (table.conflict === 'newest' && !table.newestBy) problem('newestBy', 'missing: conflict newest needs the column whose greater value wins (e.g. updated_at)');
      if (table.conflict !== 'newest' && table.newestBy) problem('newestBy', 'only applies with conflict: newest');
      if (table.conflict === 'priority' && !table.priority) problem('priority', 'missing: conflict priority needs the source ids in order, highest first');
      if (table.conflict !== 'priority' && table.priority) problem('priority', 'only applies with conflict: priority');
    })
    // The shape the pipeline reads: target and rename filled in, columns split by kind.
    .transform(({ columns, rename, target, ...table }): TableSettingsOwn => ({
      ...table,
      target: target ?? table.name,
      rename: rename ?? {},
      ...(columns?.include ? { includeColumns: columns.include } : {}),
      ...(columns?.exclude ? { excludeColumns: columns.exclude } : {}),
    })),
);

// ---------------------------------------------------------------------------------------------------------
// The whole file
// ---------------------------------------------------------------------------------------------------------

const configMapping = strictMapping(
  {
    target: targetSchema,
    sources: list(sourceSchema, 'source'),
    tables: list(tableSchema, 'table'),
    // When the daemon runs a pass (node-cron, optional leading seconds field).
    schedule: cronExpression.default(DEFAULT_SCHEDULE),
    // Changes read and applied per PostgreSQL transaction: bounds memory and the size of a retry.
    batchSize: integerIn(1, 1_000_000).default(10_000),
    // Rows per snapshot chunk (one COPY and commit each): a restart resumes at a chunk boundary.
    snapshotChunkSize: integerIn(100, 10_000_000).default(50_000),
    // (source, table) units synced at once; PostgreSQL connections are bounded by it.
    concurrency: integerIn(1, 64).default(4),
    // sync --follow: milliseconds between passes when nothing was pending.
    pollInterval: integerIn(10, 3_600_000).default(250),
    // Change ids skipped by a read because their transaction had not committed yet (field notes §1).
    gaps: strictMapping(
      {
        // How long an expired gap is still re-read, and applied if it ever appears.
        recheckSeconds: integerIn(1, MAX_SECONDS).default(900),
        // A gap open longer than this is reported.
        alertSeconds: integerIn(1, MAX_SECONDS).default(600),
        // Only without the PROCESS privilege (open transactions cannot be seen): a gap expires after this.
        timeoutSeconds: integerIn(1, MAX_SECONDS).default(1200),
      },
      'a mapping',
    ).prefault({}),
    // Prometheus: port serves /metrics and /healthz (daemon, follow); textfile is written after every pass.
    metrics: strictMapping(
      {
        port: integerIn(1, 65535).optional(),
        // Loopback by default: metrics are not for the whole network unless asked.
        host: z.string().min(1).default('127.0.0.1'),
        // Relative to the configuration file.
        textfile: z.string().min(1).optional(),
      },
      'a mapping with port, host or textfile',
    ).prefault({}),
    // GET /healthz answers 503 when a table lags more than this.
    health: strictMapping({ maxLagSeconds: integerIn(1, MAX_SECONDS).default(300) }, 'a mapping with maxLagSeconds').prefault({}),
    // A unit with more pending changes than this raises a metric and a warning.
    alerts: strictMapping({ maxPendingChanges: integerIn(1, 1_000_000_000).default(1_000_000) }, 'a mapping with maxPendingChanges').prefault({}),
    // Applied changelog rows are kept this long before they are deleted (0: at once).
    retention: strictMapping({ seconds: integerIn(0, MAX_SECONDS).default(0) }, 'a mapping with seconds').prefault({}),
    // This target's name among the consumers of a source's changelogs; default derived from the target.
    consumer: z.string().trim().min(1, { error: 'must not be empty' }).max(191, { error: 'must be at most 191 characters' }).optional(),
    consumers: strictMapping(
      {
        // A consumer unseen this long stops holding back pruning (and snapshots again if it returns).
        staleAfterSeconds: integerIn(3600, 366 * 24 * 3600).default(3 * 24 * 3600),
        // The consumer registry table in each source.
        table: tableName.default('tributary_consumers'),
      },
      'a mapping with staleAfterSeconds or table',
    ).prefault({}),
    // For every table that does not set its own.
    indexes: indexPolicy.default('copy'),
    // For every table that does not set its own.
    catchUp: catchUpMode.default('adaptive'),
    // adaptive catch-up: re-snapshot when pending changes exceed this percentage of the table's rows
    // (InnoDB's estimate). The default comes from the benchmark (BENCHMARKS.md, workload 7): drain and
    // replacing re-snapshot cost the same somewhere between 46% and 86% of the rows, as changes spread.
    catchUpPercent: integerIn(1, 100_000).default(CATCH_UP_PERCENT_DEFAULT),
  },
  'a mapping of settings',
);

/** The settings with the top-level defaults applied to each table. */
export const configSchema = configMapping.transform(
  (settings): Settings => ({
    ...settings,
    tables: settings.tables.map(({ indexes, catchUp, ...table }) => ({ ...table, indexes: indexes ?? settings.indexes, catchUp: catchUp ?? settings.catchUp })),
  }),
);

/** Exactly the same type, optional and readonly markers included. */
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/**
 * The plain interfaces of types.ts (what the shipped declarations show) are what the schema produces:
 * a setting added on one side only does not compile.
 */
export const OUTPUT_MATCHES_TYPES: [
  Equals<Omit<z.output<typeof configMapping>, 'tables'>, Omit<Settings, 'tables'>>,
  // The mappings that a transform reshapes (its result is typed by the interface): every key written
  // is one the interface carries.
  Equals<keyof z.output<typeof sourceMapping>, Exclude<keyof SourceSettings, 'endpoint'>>,
  Equals<keyof z.output<typeof targetMapping>, Exclude<keyof TargetSettings, 'endpoint'>>,
  Equals<keyof z.output<typeof tableMapping>, Exclude<keyof TableSettings, 'includeColumns' | 'excludeColumns'> | 'columns'>,
] = [true, true, true, true];

// ---------------------------------------------------------------------------------------------------------
// Typed keys (for ${VAR} substitution)
// ---------------------------------------------------------------------------------------------------------

/** A key path with "*" for any list index. */
export type KeyPattern = readonly (string | '*')[];

export interface ScalarSetting {
  path: KeyPattern;
  kind: 'integer' | 'boolean';
  /** Integers: the range allowed. */
  min?: number;
  max?: number;
}

/**
 * Every setting that takes a number or a boolean, read from the schema itself: a `${VAR}` there yields
 * a string, which is converted when it spells one. A new setting is covered without listing it anywhere.
 */
export function scalarSettings(schema: z.ZodType = configSchema): ScalarSetting[] {
  const found: ScalarSetting[] = [];
  const walk = (node: z.ZodType, path: KeyPattern): void => {
    const def = (node as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
    switch (def.type) {
      case 'number': {
        const range = integerRanges.get(node);
        found.push({ path, kind: 'integer', ...(range ?? {}) });
        return;
      }
      case 'boolean':
        found.push({ path, kind: 'boolean' });
        return;
      case 'object':
        for (const [key, child] of Object.entries(def.shape as Record<string, z.ZodType>)) walk(child, [...path, key]);
        return;
      case 'array':
        walk(def.element as z.ZodType, [...path, '*']);
        return;
      case 'optional':
      case 'default':
      case 'prefault':
      case 'nullable':
      case 'readonly':
        walk(def.innerType as z.ZodType, path);
        return;
      case 'pipe': {
        // .transform() is pipe(schema, transform); z.preprocess() is pipe(transform, schema).
        const input = def.in as z.ZodType;
        const isTransform = (input as unknown as { _zod: { def: { type: string } } })._zod.def.type === 'transform';
        walk(isTransform ? (def.out as z.ZodType) : input, path);
        return;
      }
      default:
        return;
    }
  };
  walk(schema, []);
  return found;
}
