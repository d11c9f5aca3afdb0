/**
 * Connections to a MySQL/MariaDB source. Every value is read as the exact text MySQL sends (or as
 * bytes for binary data): no JavaScript number, Date or JSON parsing ever touches a value, so a
 * bigint unsigned, a decimal(65,30) or a datetime(6) arrives unchanged.
 */
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { SourceConfig } from '../config';
import { mapDriverError } from '../errors';
import { tlsBase } from '../tls';

export type { Pool, PoolConnection };

interface CastField {
  type: string;
  name: string;
  string: (encoding?: string) => string | null;
  buffer: () => Buffer | null;
}

/**
 * A typeCast that returns strings for everything except the named binary columns, BIT and spatial
 * values, which come back as Buffers. The caller names the binary columns because mysql2 does not
 * expose a field's character set to typeCast.
 */
export function exactTypeCast(binaryColumns: ReadonlySet<string> = new Set()) {
  return (field: CastField, _next: () => unknown): unknown => {
    if (field.type === 'BIT' || field.type === 'GEOMETRY' || binaryColumns.has(field.name)) return field.buffer();
    // MySQL sends JSON with the binary charset; its text is UTF-8.
    if (field.type === 'JSON') return field.string('utf8');
    return field.string();
  };
}

/**
 * One source server. Its connection pool is opened on first use and can be closed while idle, so a
 * process syncing many shards keeps connections to only a few of them at a time.
 */
export class SourceHandle {
  readonly id: string;
  /** "source eu (127.0.0.1:3306/shop_eu)", safe to log. */
  readonly where: string;
  readonly database: string;
  /** Units of this source running now; the pool is only closed at zero. */
  active = 0;
  lastUsed = 0;
  private current: Pool | null = null;

  constructor(
    private readonly source: SourceConfig,
    private readonly connectionLimit: number,
  ) {
    this.id = source.id;
    this.where = `source ${source.id} (${source.endpoint.display})`;
    this.database = source.endpoint.database;
  }

  get pool(): Pool {
    this.lastUsed = Date.now();
    this.current ??= createSourcePool(this.source, this.connectionLimit);
    return this.current;
  }

  get isOpen(): boolean {
    return this.current !== null;
  }

  /** Closes the pool's connections; the next use opens a new pool. */
  async close(): Promise<void> {
    const pool = this.current;
    this.current = null;
    await pool?.end().catch(() => undefined);
  }
}

function createSourcePool(source: SourceConfig, connectionLimit: number): Pool {
  const e = source.endpoint;
  const pool = mysql.createPool({
    host: e.host,
    port: e.port,
    user: e.user,
    password: e.password,
    database: e.database,
    connectionLimit,
    maxIdle: connectionLimit,
    idleTimeout: 60_000,
    charset: 'utf8mb4',
    // Values are never converted to JS types (see exactTypeCast); these keep the same promise for
    // anything read without a typeCast.
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    decimalNumbers: false,
    typeCast: exactTypeCast() as never,
    multipleStatements: false,
    connectTimeout: 10_000,
    enableKeepAlive: true,
    ...(e.tls ? { ssl: { ...tlsBase(e.tls), verifyIdentity: e.tls.mode === 'verify-full' } } : {}),
  });
  // Every connection reads TIMESTAMP values in UTC, so they map to timestamptz without shifting.
  // READ COMMITTED: Tributary's reads need no repeatable snapshot, and its deletes then take no gap
  // locks that could make an application's insert into a changelog wait.
  pool.on('connection', (conn) => {
    const raw = conn as unknown as { query: (sql: string) => void };
    // Shape digests concatenate every column of a table; the 1 KiB default would cut them short.
    raw.query("SET SESSION time_zone = '+00:00', SESSION group_concat_max_len = 1048576");
    raw.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
  });
  return pool;
}

export function openSource(source: SourceConfig, connectionLimit: number): SourceHandle {
  return new SourceHandle(source, connectionLimit);
}

export async function sourceQuery<T extends RowDataPacket>(
  handle: SourceHandle,
  doing: string,
  sql: string,
  params: unknown[] = [],
  binaryColumns?: ReadonlySet<string>,
): Promise<T[]> {
  try {
    const options = binaryColumns ? { sql, typeCast: exactTypeCast(binaryColumns) as never } : { sql };
    const [rows] = await handle.pool.query<T[]>(options, params);
    return rows;
  } catch (error) {
    throw mapDriverError(error, { side: 'source', where: handle.where, doing });
  }
}

export async function sourceExecute(handle: SourceHandle, doing: string, sql: string, params: unknown[] = []): Promise<number> {
  try {
    const [result] = await handle.pool.query(sql, params);
    return (result as { affectedRows?: number }).affectedRows ?? 0;
  } catch (error) {
    throw mapDriverError(error, { side: 'source', where: handle.where, doing });
  }
}

export async function closeSource(handle: SourceHandle): Promise<void> {
  await handle.close();
}
