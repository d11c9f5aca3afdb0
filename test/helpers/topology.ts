/**
 * Where a fault test's sources and target live (the shared servers via a Scratch, private instances,
 * or either behind a TCP proxy), the Tributary configuration pointing at them, and small helpers the
 * fault suite shares: databases on private servers, catching up, reading CLI log lines.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { parseConfig, type TributaryConfig } from '../../src/config';
import type { PassResult } from '../../src/pipeline/pass';
import { MYSQL, PG, type Scratch, syncOnce } from './scratch';

export interface MysqlAt {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

export interface PgAt {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

export interface Topology {
  sources: { id: string; mysql: MysqlAt }[];
  pg: PgAt;
  /** Target schema; default public. */
  schema?: string;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** TRIBUTARY_SOAK=N multiplies the fault suite's counts (default 1). */
export const SOAK = Math.max(1, Number(process.env.TRIBUTARY_SOAK ?? 1) || 1);

export function scratchTopology(s: Scratch): Topology {
  return {
    sources: s.sourceIds.map((id) => ({ id, mysql: { ...MYSQL, database: s.mysqlDb[id]! } })),
    pg: { ...PG, database: s.pgDb },
  };
}

/** The same topology with every host:port replaced (e.g. by a proxy in front of it). */
export function via(topology: Topology, map: { mysql?: Record<string, number>; pgPort?: number }): Topology {
  return {
    ...topology,
    sources: topology.sources.map((s) => ({ id: s.id, mysql: { ...s.mysql, host: '127.0.0.1', port: map.mysql?.[s.id] ?? s.mysql.port } })),
    pg: { ...topology.pg, host: '127.0.0.1', port: map.pgPort ?? topology.pg.port },
  };
}

const url = (scheme: string, at: MysqlAt | PgAt): string => `${scheme}://${encodeURIComponent(at.user)}${at.password ? ':' + encodeURIComponent(at.password) : ''}@${at.host}:${at.port}/${encodeURIComponent(at.database)}`;

/** Tributary YAML for a topology; extra lines (batchSize, snapshotChunkSize...) are appended. */
export function configYaml(topology: Topology, tables: (string | object)[], extra: string[] = []): string {
  return [
    'target:',
    `  url: ${url('postgres', topology.pg)}`,
    ...(topology.schema ? [`  schema: ${topology.schema}`] : []),
    'sources:',
    ...topology.sources.map((s) => `  - id: ${s.id}\n    url: ${url('mysql', s.mysql)}`),
    `tables: ${JSON.stringify(tables)}`,
    ...extra,
  ].join('\n');
}

let configFolder: string | null = null;
const configDir = (): string => (configFolder ??= mkdtempSync(join(tmpdir(), 'tributary-faults-')));
// Imported at the top of a test file, so the hook belongs to that file: its config files go with it.
if (typeof afterAll === 'function') {
  afterAll(() => {
    if (configFolder !== null) rmSync(configFolder, { recursive: true, force: true });
    configFolder = null;
  });
}

/** Writes the YAML to a temporary file (for the CLI) and parses it (for in-process passes). */
export function writeConfig(yaml: string): { path: string; config: TributaryConfig } {
  const path = join(configDir(), `tributary-${randomBytes(4).toString('hex')}.yml`);
  writeFileSync(path, yaml);
  return { path, config: parseConfig(yaml, process.env, path) };
}

/**
 * Fresh databases on (private) servers: one MySQL database per source id and one PostgreSQL database.
 * Returns the topology and a drop() for afterAll.
 */
export async function createDatabases(mysqlPort: number, pgPort: number, sourceIds: string[]): Promise<{ topology: Topology; drop: () => Promise<void> }> {
  const prefix = 'trf_' + randomBytes(4).toString('hex');
  const admin = await mysql.createConnection({ host: '127.0.0.1', port: mysqlPort, user: 'root' });
  for (const id of sourceIds) await admin.query(`CREATE DATABASE \`${prefix}_${id}\``);
  await admin.end();
  const pgAdmin = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'root', database: 'postgres' });
  await pgAdmin.connect();
  await pgAdmin.query(`CREATE DATABASE "${prefix}"`);
  await pgAdmin.end();
  const topology: Topology = {
    sources: sourceIds.map((id) => ({ id, mysql: { host: '127.0.0.1', port: mysqlPort, user: 'root', database: `${prefix}_${id}` } })),
    pg: { host: '127.0.0.1', port: pgPort, user: 'root', database: prefix },
  };
  return {
    topology,
    drop: async () => {
      const a = await mysql.createConnection({ host: '127.0.0.1', port: mysqlPort, user: 'root' });
      for (const id of sourceIds) await a.query(`DROP DATABASE IF EXISTS \`${prefix}_${id}\``);
      await a.end();
      const c = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'root', database: 'postgres' });
      await c.connect();
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [prefix]);
      await c.query(`DROP DATABASE IF EXISTS "${prefix}"`);
      await c.end();
    },
  };
}

export function mysqlConnect(at: MysqlAt, options: mysql.ConnectionOptions = {}): Promise<mysql.Connection> {
  return mysql.createConnection({ ...at, multipleStatements: true, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, ...options });
}

/** Runs SQL on one source database with a short-lived connection. */
export async function mysqlRun(at: MysqlAt, sql: string, params?: unknown[]): Promise<unknown> {
  const c = await mysqlConnect(at);
  try {
    return (await c.query(sql, params))[0];
  } finally {
    await c.end();
  }
}

export async function pgRun<T = Record<string, unknown>>(at: PgAt, sql: string, params?: unknown[]): Promise<T[]> {
  const c = new pg.Client(at);
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

function summary(result: PassResult): string {
  return result.units
    .map((u) => `${u.sourceId}.${u.table}: ${u.status} changes=${u.changes} gaps=${u.openGaps} expired=${u.expiredGaps}${u.reason ? ' reason=' + u.reason : ''}`)
    .join('; ');
}

/**
 * Runs in-process passes until one finds every unit ok, with no change left and no open gap. Gaps
 * expire only on evidence read at least a second after they were first seen, hence the pause.
 */
export async function catchUp(config: TributaryConfig, options: { maxPasses?: number; pauseMs?: number } = {}): Promise<PassResult[]> {
  const results: PassResult[] = [];
  const maxPasses = options.maxPasses ?? 30;
  for (let i = 0; i < maxPasses; i++) {
    const result = await syncOnce(config);
    results.push(result);
    if (result.failed === 0 && result.skipped === 0 && result.units.every((u) => u.changes === 0 && u.openGaps === 0)) return results;
    await sleep(options.pauseMs ?? 1100);
  }
  throw new Error(`not caught up after ${maxPasses} passes; last: ${summary(results[results.length - 1]!)}`);
}

export interface LogLine {
  level?: string;
  message?: string;
  error?: string;
  source?: string;
  table?: string;
  [key: string]: unknown;
}

/** The JSON log lines of a CLI run's stderr (other lines are kept as { message: line }). */
export function logLines(stderr: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as LogLine;
      } catch {
        return { message: l };
      }
    });
}
