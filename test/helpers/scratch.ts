/**
 * Throwaway databases for one test file: N MySQL source databases and one PostgreSQL target database,
 * all with random names, dropped again by cleanup().
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { parseConfig, type TributaryConfig } from '../../src/config';
import { silentLogger } from '../../src/log';
import { runPass, type PassResult } from '../../src/pipeline/pass';
import { closeRuntime, openRuntime, prepareRuntime } from '../../src/pipeline/runtime';

export const MYSQL = { host: '127.0.0.1', port: Number(process.env.TEST_MYSQL_PORT ?? 3306), user: 'root' };
export const PG = { host: '127.0.0.1', port: Number(process.env.TEST_PG_PORT ?? 5432), user: 'root' };

export interface Scratch {
  prefix: string;
  sourceIds: string[];
  /** Database name of each source, by id. */
  mysqlDb: Record<string, string>;
  pgDb: string;
  /** Runs SQL against one source database (multiple statements allowed). */
  mysqlExec(sourceId: string, sql: string, params?: unknown[]): Promise<unknown>;
  mysqlRows(sourceId: string, sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** A separate connection to a source database, for holding transactions open. */
  mysqlConnection(sourceId: string): Promise<mysql.Connection>;
  pgRows(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  configYaml(tables: string | (string | object)[], extra?: string): string;
  config(tables: string | (string | object)[], extra?: string): TributaryConfig;
  /** Writes the config to a temporary file and returns its path (for CLI subprocess tests). */
  configFile(tables: string | (string | object)[], extra?: string): string;
  cleanup(): Promise<void>;
}

export async function createScratch(sourceIds: string[] = ['eu', 'us']): Promise<Scratch> {
  const prefix = 'trt_' + randomBytes(4).toString('hex');
  const admin = await mysql.createConnection({ ...MYSQL, multipleStatements: true });
  const mysqlDb: Record<string, string> = {};
  for (const id of sourceIds) {
    mysqlDb[id] = `${prefix}_${id}`;
    await admin.query(`CREATE DATABASE \`${mysqlDb[id]}\``);
  }
  const pgDb = prefix;
  const pgAdmin = new pg.Client({ ...PG, database: 'postgres' });
  await pgAdmin.connect();
  await pgAdmin.query(`CREATE DATABASE "${pgDb}"`);
  await pgAdmin.end();
  const pgPool = new pg.Pool({ ...PG, database: pgDb, max: 2 });
  const pools = new Map<string, mysql.Pool>();
  const poolFor = (id: string): mysql.Pool => {
    let pool = pools.get(id);
    if (!pool) {
      pool = mysql.createPool({ ...MYSQL, database: mysqlDb[id], multipleStatements: true, connectionLimit: 4, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true });
      pools.set(id, pool);
    }
    return pool;
  };
  const extraConnections: mysql.Connection[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'tributary-test-'));

  const configYaml = (tables: string | (string | object)[], extra = ''): string => {
    const tableList = typeof tables === 'string' ? [tables] : tables;
    return [
      'target:',
      `  url: postgres://${PG.user}@${PG.host}:${PG.port}/${pgDb}`,
      'sources:',
      ...sourceIds.map((id) => `  - id: ${id}\n    url: mysql://${MYSQL.user}@${MYSQL.host}:${MYSQL.port}/${mysqlDb[id]}`),
      `tables: ${JSON.stringify(tableList)}`,
      extra,
    ].join('\n');
  };

  return {
    prefix,
    sourceIds,
    mysqlDb,
    pgDb,
    mysqlExec: async (id, sql, params) => (await poolFor(id).query(sql, params))[0],
    mysqlRows: async (id, sql, params) => (await poolFor(id).query(sql, params))[0] as Record<string, unknown>[],
    mysqlConnection: async (id) => {
      const connection = await mysql.createConnection({ ...MYSQL, database: mysqlDb[id] });
      extraConnections.push(connection);
      return connection;
    },
    pgRows: async (sql, params) => (await pgPool.query(sql, params)).rows,
    configYaml,
    config: (tables, extra) => parseConfig(configYaml(tables, extra), process.env, join(tmp, 'tributary.yml')),
    configFile: (tables, extra) => {
      const path = join(tmp, `config-${randomBytes(3).toString('hex')}.yml`);
      writeFileSync(path, configYaml(tables, extra));
      return path;
    },
    cleanup: async () => {
      for (const connection of extraConnections) await connection.end().catch(() => undefined);
      for (const pool of pools.values()) await pool.end().catch(() => undefined);
      await pgPool.end().catch(() => undefined);
      for (const id of sourceIds) await admin.query(`DROP DATABASE IF EXISTS \`${mysqlDb[id]}\``);
      await admin.end();
      const cleaner = new pg.Client({ ...PG, database: 'postgres' });
      await cleaner.connect();
      await cleaner.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [pgDb]);
      await cleaner.query(`DROP DATABASE IF EXISTS "${pgDb}"`);
      await cleaner.end();
    },
  };
}

/** One `sync --once` pass in-process, with its own runtime, as the CLI would run it. */
export async function syncOnce(config: TributaryConfig): Promise<PassResult> {
  const runtime = openRuntime(config, silentLogger());
  try {
    await prepareRuntime(runtime);
    return await runPass(runtime);
  } finally {
    await closeRuntime(runtime);
  }
}

export async function installTriggers(config: TributaryConfig): Promise<void> {
  const { installAll } = await import('../../src/pipeline/capture');
  const runtime = openRuntime(config, silentLogger());
  try {
    await installAll(runtime);
  } finally {
    await closeRuntime(runtime);
  }
}

/**
 * The rows of one source table and of that source's rows in the target, as sorted lists of
 * "col=value" strings, with values rendered as text by each server.
 */
export async function compareTable(s: Scratch, table: string, columns: string[], targetTable = table): Promise<{ source: string[]; target: string[] }> {
  const source: string[] = [];
  for (const id of s.sourceIds) {
    const rows = await s.mysqlRows(id, `SELECT ${columns.map((c, i) => `CAST(${my(c)} AS CHAR) AS c${i}`).join(', ')} FROM ${my(table)}`);
    for (const row of rows) source.push(id + '|' + columns.map((c, i) => `${c}=${normalise(row[`c${i}`])}`).join('|'));
  }
  const targetRows = await s.pgRows(`SELECT _source, ${columns.map((c, i) => `${pq(c)}::text AS c${i}`).join(', ')} FROM ${pq(targetTable)}`);
  const target = targetRows.map((row) => row._source + '|' + columns.map((c, i) => `${c}=${normalise(row[`c${i}`])}`).join('|'));
  return { source: source.sort(), target: target.sort() };
}

const my = (name: string): string => '`' + name.replace(/`/g, '``') + '`';
const pq = (name: string): string => '"' + name.replace(/"/g, '""') + '"';

/** PostgreSQL prints timestamps without trailing fractional zeros; MySQL pads to the precision. */
function normalise(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  const text = String(value);
  return /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+$/.test(text) ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

export function unitOf(result: PassResult, sourceId: string, table: string) {
  const unit = result.units.find((u) => u.sourceId === sourceId && u.table === table);
  if (!unit) throw new Error(`no result for ${sourceId}.${table}`);
  return unit;
}
