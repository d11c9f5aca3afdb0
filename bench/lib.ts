/**
 * Shared pieces of the benchmark suite: throwaway databases (random names, always dropped), running
 * the Tributary CLI as a subprocess with wall time and peak RSS, running shell pipelines, statistics.
 *
 * Everything talks to 127.0.0.1 only. Every subprocess has a time limit; every loop is bounded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';

export const ROOT = resolve(__dirname, '..');
/** The CLI as built in the work tree; runs use the private copy made by freezeBuild(). */
export const BUILT_CLI = join(ROOT, 'dist', 'cli', 'main.js');
export let CLI = BUILT_CLI;
/** Directory of the helper process script (child.js); moved into the private copy by freezeBuild(). */
export let HELPERS = __dirname;

/**
 * Copies the built CLI (dist/, sql/, package.json) and the compiled suite into the run's temporary
 * directory and runs everything from there. The work tree is shared: another engineer's `npm run build`
 * (e.g. through `make test`) rewrites dist/ while a long run is going, which would mix two versions
 * of Tributary in one report.
 */
export function freezeBuild(): string {
  const dir = join(TMP, 'build');
  mkdirSync(dir, { recursive: true });
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'sql'), join(dir, 'sql'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  cpSync(__dirname, join(dir, 'dist-bench'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  CLI = join(dir, 'dist', 'cli', 'main.js');
  HELPERS = join(dir, 'dist-bench');
  return dir;
}
export const HOST = '127.0.0.1';
export const MYSQL_PORT = Number(process.env.BENCH_MYSQL_PORT ?? 3306);
export const PG_PORT = Number(process.env.BENCH_PG_PORT ?? 5432);
export const MYSQL = { host: HOST, port: MYSQL_PORT, user: 'root' };
export const PG = { host: HOST, port: PG_PORT, user: 'root' };

/** Random per-run prefix: every database and user the run creates starts with it. */
export const PREFIX = 'trbench_' + randomBytes(3).toString('hex');
export const TMP = mkdtempSync(join(tmpdir(), 'tributary-bench-'));

export const log = (message: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

// ---------------------------------------------------------------------------------------------------
// Resources and cleanup

const mysqlDbs = new Set<string>();
const pgDbs = new Set<string>();
const mysqlUsers = new Set<string>();
const children = new Set<ChildProcess>();
const restores: (() => Promise<void>)[] = [];

export function onCleanup(fn: () => Promise<void>): void {
  restores.push(fn);
}

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

let cleaning: Promise<void> | null = null;
export function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    for (const child of children) {
      // Subprocesses are started in their own process group, so their children go too.
      killGroup(child, 'SIGKILL');
    }
    for (const fn of restores.splice(0).reverse()) await fn().catch((e) => log(`cleanup step failed: ${String(e)}`));
    if (mysqlDbs.size + mysqlUsers.size > 0) {
      const admin = await mysql.createConnection(MYSQL).catch(() => null);
      if (admin) {
        for (const db of mysqlDbs) await admin.query(`DROP DATABASE IF EXISTS \`${db}\``).catch((e) => log(`could not drop ${db}: ${String(e)}`));
        for (const user of mysqlUsers) await admin.query(`DROP USER IF EXISTS '${user}'@'${HOST}'`).catch(() => undefined);
        await admin.end().catch(() => undefined);
      }
      mysqlDbs.clear();
      mysqlUsers.clear();
    }
    for (const db of [...pgDbs]) await dropPgDb(db).catch((e) => log(`could not drop ${db}: ${String(e)}`));
    rmSync(TMP, { recursive: true, force: true });
  })();
  return cleaning;
}

// ---------------------------------------------------------------------------------------------------
// MySQL / MariaDB

export async function mysqlAdmin(database?: string): Promise<mysql.Connection> {
  return mysql.createConnection({ ...MYSQL, database, multipleStatements: true, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true });
}

export async function createMysqlDb(suffix: string): Promise<string> {
  const name = `${PREFIX}_${suffix}`;
  const admin = await mysqlAdmin();
  try {
    mysqlDbs.add(name);
    await admin.query(`CREATE DATABASE \`${name}\``);
  } finally {
    await admin.end();
  }
  return name;
}

export async function dropMysqlDb(name: string): Promise<void> {
  const admin = await mysqlAdmin();
  try {
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
    mysqlDbs.delete(name);
  } finally {
    await admin.end();
  }
}

/** A login of its own, so its statements and connections can be counted apart from everyone else's. */
export async function createMysqlUser(suffix: string, databasePattern: string): Promise<{ user: string; password: string }> {
  const user = `${PREFIX}_${suffix}`.slice(0, 80);
  const password = randomBytes(8).toString('hex');
  const admin = await mysqlAdmin();
  try {
    mysqlUsers.add(user);
    await admin.query(`CREATE USER '${user}'@'${HOST}' IDENTIFIED BY '${password}'`);
    // TRIGGER as well: without it MariaDB shows trigger bodies as NULL in information_schema.TRIGGERS
    // and sync fails (see BENCHMARKS.md); the README lists only SELECT, DELETE and PROCESS.
    await admin.query(`GRANT SELECT, DELETE, TRIGGER ON \`${databasePattern}\`.* TO '${user}'@'${HOST}'`);
    await admin.query(`GRANT PROCESS ON *.* TO '${user}'@'${HOST}'`);
  } finally {
    await admin.end();
  }
  return { user, password };
}

export async function mysqlScalar(conn: mysql.Connection, sql: string, params: unknown[] = []): Promise<string | null> {
  const [rows] = await conn.query(sql, params);
  const row = (rows as Record<string, unknown>[])[0];
  if (!row) return null;
  const value = Object.values(row)[0];
  return value === null || value === undefined ? null : String(value);
}

// ---------------------------------------------------------------------------------------------------
// PostgreSQL

export async function pgAdmin(database = 'postgres'): Promise<pg.Client> {
  const client = new pg.Client({ ...PG, database });
  await client.connect();
  return client;
}

export async function createPgDb(suffix: string, template?: string): Promise<string> {
  const name = `${PREFIX}_${suffix}`;
  const admin = await pgAdmin();
  try {
    pgDbs.add(name);
    if (template) {
      // FILE_COPY (PostgreSQL 15+) copies the files instead of WAL-logging every block: much faster for a large template.
      await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}" STRATEGY = FILE_COPY`).catch(async () => {
        await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
      });
    } else {
      await admin.query(`CREATE DATABASE "${name}"`);
    }
  } finally {
    await admin.end();
  }
  return name;
}

export async function dropPgDb(name: string): Promise<void> {
  const admin = await pgAdmin();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    pgDbs.delete(name);
  } finally {
    await admin.end();
  }
}

export async function pgScalar(database: string, sql: string, params: unknown[] = []): Promise<string | null> {
  const client = await pgAdmin(database);
  try {
    const result = await client.query(sql, params);
    const row = result.rows[0] as Record<string, unknown> | undefined;
    if (!row) return null;
    const value = Object.values(row)[0];
    return value === null || value === undefined ? null : String(value);
  } finally {
    await client.end();
  }
}

/** count and a hash over every row's text: equal for two tables holding the same rows. */
export async function pgTableDigest(database: string, qualified: string): Promise<string> {
  return (await pgScalar(database, `SELECT count(*)::text || ':' || coalesce(sum(hashtext(t::text)::bigint), 0)::text FROM ${qualified} AS t`))!;
}

// ---------------------------------------------------------------------------------------------------
// Tributary configuration and runs

export interface SourceSpec {
  id: string;
  database: string;
  user?: string;
  password?: string;
}

/**
 * Writes a Tributary configuration. BENCH_CONFIG_EXTRA (a JSON object, e.g. '{"batchSize": 50000}')
 * adds or overrides top-level settings in every configuration, for experiments.
 */
export function writeConfig(name: string, pgDb: string, sources: SourceSpec[], tables: string[], settings: Record<string, unknown> = {}): string {
  const extra = { ...settings, ...(process.env.BENCH_CONFIG_EXTRA ? (JSON.parse(process.env.BENCH_CONFIG_EXTRA) as Record<string, unknown>) : {}) };
  const lines = [
    'target:',
    `  url: postgres://${PG.user}@${HOST}:${PG_PORT}/${pgDb}`,
    'sources:',
    ...sources.map((s) => `  - id: ${s.id}\n    url: mysql://${s.user ?? MYSQL.user}${s.password ? ':' + s.password : ''}@${HOST}:${MYSQL_PORT}/${s.database}`),
    `tables: ${JSON.stringify(tables)}`,
    ...Object.entries(extra).map(([k, v]) => `${k}: ${JSON.stringify(v)}`),
  ];
  const path = join(TMP, `${name}-${randomBytes(3).toString('hex')}.yml`);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

export interface RunResult {
  code: number | null;
  ms: number;
  /** Peak resident set size (VmHWM) in KiB, 0 when unknown. */
  maxRssKb: number;
  /** CPU time of the process (user + sys, from GNU time), when measured. */
  cpuMs?: number;
  stdout: string;
  stderrTail: string;
}

const TIME = '/usr/bin/time';

/** Environment for subprocesses: PostgreSQL and MariaDB client tools read UTC timestamps. */
const childEnv = (): NodeJS.ProcessEnv => ({ ...process.env, PGTZ: 'UTC', TZ: process.env.TZ ?? 'UTC' });

/**
 * Runs one Tributary command to completion (e.g. ['sync', '--once']) with a time limit. Peak RSS is
 * taken from GNU time when installed (exact), else from /proc/<pid>/status VmHWM polled every 50 ms.
 */
export async function tributary(configPath: string, args: string[], options: { timeoutMs: number; cpuProfDir?: string; label?: string; cli?: string }): Promise<RunResult> {
  const command = tributaryArgv(configPath, args, options.cpuProfDir, options.cli);
  const timeFile = join(TMP, `time-${randomBytes(4).toString('hex')}`);
  const useTime = existsSync(TIME);
  const argv = useTime ? [TIME, '-f', '%U %S %M', '-o', timeFile, ...command] : command;
  const result = await runProcess(argv, { timeoutMs: options.timeoutMs, pollRss: !useTime, label: options.label ?? args.join(' ') });
  if (useTime && existsSync(timeFile)) {
    const text = readFileSync(timeFile, 'utf8').trim().split('\n');
    const [user, sys, kb] = (text[text.length - 1] ?? '').split(' ').map(Number);
    if (Number.isFinite(kb)) result.maxRssKb = kb!;
    if (Number.isFinite(user) && Number.isFinite(sys)) result.cpuMs = Math.round((user! + sys!) * 1000);
    rmSync(timeFile, { force: true });
  }
  return result;
}

export interface Running {
  child: ChildProcess;
  /** stderr received so far (tail). */
  stderr: () => string;
  /** Highest VmHWM seen so far (KiB), when polling. */
  rss: () => number;
  done: Promise<RunResult>;
}

/** Starts argv (no shell) in its own process group, with a time limit; stdout kept, stderr tail kept. */
export function startProcess(argv: string[], options: { timeoutMs: number; pollRss?: boolean; label: string; stdin?: string; env?: NodeJS.ProcessEnv }): Running {
  const started = process.hrtime.bigint();
  const child = track(spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env: { ...childEnv(), ...(options.env ?? {}) }, stdio: ['pipe', 'pipe', 'pipe'], detached: true }));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    if (stdout.length < 1_000_000) stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  child.stdin!.on('error', () => undefined);
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  else child.stdin!.end();
  let maxRssKb = 0;
  const poll = options.pollRss
    ? setInterval(() => {
        maxRssKb = Math.max(maxRssKb, readHwm(child.pid));
      }, 50)
    : null;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child, 'SIGKILL');
  }, options.timeoutMs);
  const done = new Promise<number | null>((resolvePromise) => {
    child.once('error', () => resolvePromise(-1));
    child.once('close', (c) => resolvePromise(c));
  }).then((code) => {
    clearTimeout(timer);
    if (poll) clearInterval(poll);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (timedOut) stderr += `\n[bench] ${options.label}: killed after ${options.timeoutMs} ms time limit`;
    return { code: timedOut ? -2 : code, ms, maxRssKb, stdout, stderrTail: stderr.slice(-4000) };
  });
  return { child, stderr: () => stderr, rss: () => maxRssKb, done };
}

export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/** Runs argv (no shell) to completion, with a time limit. */
export function runProcess(argv: string[], options: { timeoutMs: number; pollRss?: boolean; label: string; stdin?: string; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  return startProcess(argv, options).done;
}

/** The argv that runs a Tributary command (node, optional --cpu-prof, the CLI, config, JSON logs). */
export function tributaryArgv(configPath: string, args: string[], cpuProfDir?: string, cli = CLI): string[] {
  const nodeArgs = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [];
  return [process.execPath, ...nodeArgs, cli, '--config', configPath, '--log-format', 'json', ...args];
}

export function bash(script: string, options: { timeoutMs: number; label: string }): Promise<RunResult> {
  return runProcess(['/bin/bash', '-o', 'pipefail', '-c', script], options);
}

export function readHwm(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

export function check(result: RunResult, what: string): RunResult {
  if (result.code !== 0) throw new Error(`${what} failed (exit ${result.code}):\n${result.stdout.slice(-2000)}\n${result.stderrTail}`);
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Statistics and formatting

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function fmt(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Alternation order for repetition i: rotate so no contender always goes first. */
export function rotate<T>(items: readonly T[], i: number): T[] {
  const k = i % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

// ---------------------------------------------------------------------------------------------------
// The orders table used by the snapshot and backlog workloads

export const ORDERS_DDL = `CREATE TABLE orders (
  id          BIGINT        NOT NULL,
  customer_id INT           NOT NULL,
  status      VARCHAR(16)   NOT NULL,
  total       DECIMAL(12,2) NOT NULL,
  note        TEXT          NOT NULL,
  created_at  DATETIME      NOT NULL,
  updated_at  TIMESTAMP     NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY customer (customer_id)
) ENGINE=InnoDB`;

export const ORDERS_COLUMNS = ['id', 'customer_id', 'status', 'total', 'note', 'created_at', 'updated_at'];

/** The target table as Tributary creates it (checked against Tributary's own in the snapshot run). */
// Columns NOT NULL where the source's are: Tributary's target carries that guarantee (see a60ab09).
export const ORDERS_PG_DDL = `CREATE TABLE public.orders (
  _source text NOT NULL,
  id bigint NOT NULL,
  customer_id integer NOT NULL,
  status varchar(16) NOT NULL,
  total numeric(12,2) NOT NULL,
  note text NOT NULL,
  created_at timestamp(0) without time zone NOT NULL,
  updated_at timestamptz(0) NOT NULL,
  PRIMARY KEY (_source, id)
)`;

/**
 * Row values for order n, as a MySQL expression list. Text holds no tab, newline, backslash or NULL, so
 * `mariadb --batch` output is valid COPY text as it is.
 */
export function orderValuesSql(n: string): string {
  return [
    n,
    `1 + (${n} * 7919) % 50000`,
    `ELT(1 + ${n} % 5, 'new', 'paid', 'shipped', 'delivered', 'cancelled')`,
    `ROUND(((${n} * 37) % 100000) / 100 + 1, 2)`,
    `CONCAT('order ', ${n}, ' for customer ', 1 + (${n} * 7919) % 50000, ': ', LEFT('express delivery, gift wrapped, leave at the front door if nobody answers the bell, call ahead', 10 + ${n} % 90))`,
    `TIMESTAMP('2023-01-01 00:00:00') + INTERVAL (${n} * 13) % 31536000 SECOND`,
    `FROM_UNIXTIME(1700000000 + (${n} * 17) % 20000000)`,
  ].join(', ');
}

/**
 * n = from..to via a cross join of as many digit tables as the count needs (works on MySQL 8 and
 * MariaDB without recursion limits).
 */
export function numbersSql(from: number, to: number): string {
  const count = to - from + 1;
  const width = Math.max(1, Math.ceil(Math.log10(count)));
  const aliases = Array.from({ length: width }, (_, i) => `d${i}`);
  const expr = aliases.map((a, i) => (i === 0 ? `${a}.i` : `${a}.i * ${10 ** i}`)).join(' + ');
  return `SELECT ${expr} + ${from} AS n FROM ${aliases.map((a) => `bench_digits ${a}`).join(', ')} WHERE ${expr} < ${count}`;
}

const DIGITS_DDL = 'CREATE TABLE IF NOT EXISTS bench_digits (i TINYINT NOT NULL PRIMARY KEY) ENGINE=InnoDB; INSERT IGNORE INTO bench_digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)';

/** Creates `orders` in the database and fills ids 1..rows in chunks. */
export async function fillOrders(database: string, rows: number): Promise<void> {
  const conn = await mysqlAdmin(database);
  try {
    await conn.query("SET time_zone = '+00:00'");
    await conn.query(DIGITS_DDL);
    await conn.query(ORDERS_DDL);
    await insertOrders(conn, 1, rows);
  } finally {
    await conn.end();
  }
}

/** Inserts orders from..to (inclusive) in chunks of 100,000 rows. The connection must hold bench_digits. */
export async function insertOrders(conn: mysql.Connection, from: number, to: number, chunk = 100_000): Promise<void> {
  for (let start = from; start <= to; start += chunk) {
    const end = Math.min(to, start + chunk - 1);
    await conn.query(`INSERT INTO orders (${ORDERS_COLUMNS.join(', ')}) SELECT ${orderValuesSql('x.n')} FROM (${numbersSql(start, end)}) AS x`);
  }
}

/**
 * Keeps a copy of the orders changelog as it is now (bench_log_backup), so that every contender of a
 * workload starts from the same pending changes.
 */
export async function backupChangelog(conn: mysql.Connection): Promise<void> {
  await conn.query('CREATE TABLE bench_log_backup LIKE tributary_log_orders');
  await conn.query('INSERT INTO bench_log_backup SELECT * FROM tributary_log_orders');
}

/** Puts the backed-up changelog back, unless it still holds the `pending` rows it was left with. */
export async function restoreChangelog(database: string, pending: number): Promise<void> {
  const conn = await mysqlAdmin(database);
  try {
    const have = Number(await mysqlScalar(conn, 'SELECT COUNT(*) FROM tributary_log_orders'));
    if (have === pending) return;
    await conn.query('TRUNCATE TABLE tributary_log_orders');
    await conn.query('INSERT INTO tributary_log_orders SELECT * FROM bench_log_backup');
  } finally {
    await conn.end();
  }
}

export async function ensureDigits(conn: mysql.Connection): Promise<void> {
  await conn.query(DIGITS_DDL);
}

// ---------------------------------------------------------------------------------------------------
// Results

export interface Figure {
  workload: string;
  metric: string;
  tributary: string;
  comparison: string;
  ratio: string;
  target: string;
  /** yes / no / n/a / skipped */
  met: string;
}

export interface Context {
  scale: number;
  smoke: boolean;
  reps: number;
  cpuProfDir?: string;
  figures: Figure[];
  /** Lines for the notes section (per workload facts, skips, sanity checks). */
  notes: string[];
  /** Peak RSS figures gathered by the workloads for the memory section: label -> KiB per run. */
  memory: { label: string; kb: number[] }[];
}

export const scaled = (ctx: Context, full: number, min: number): number => Math.max(min, Math.round(full * ctx.scale));

export const verdict = (ok: boolean | null): string => (ok === null ? 'n/a' : ok ? 'yes' : 'NO');

export function mariadbClient(): string {
  return existsSync('/usr/bin/mariadb') ? 'mariadb' : 'mysql';
}
