/**
 * Connections to a MySQL/MariaDB source. Every value is read as the exact text MySQL sends (or as
 * bytes for binary data): no JavaScript number, Date or JSON parsing ever touches a value, so a
 * bigint unsigned, a decimal(65,30) or a datetime(6) arrives unchanged.
 */
import mysql from 'mysql2/promise';
import type { Connection, ConnectionOptions, FieldPacket, QueryOptions, QueryResult, RowDataPacket } from 'mysql2/promise';
import type { SourceConfig } from '../config';
import { quoteMysql } from '../ident';
import { mapMysqlError } from './errors';
import { tlsBase } from '../tls';


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
 * The MySQL connections one process may hold open, counted over every source (and so over every
 * server): shards usually share a few servers, and each connection counts against the server's
 * max_connections whatever database it uses. A connection is opened on demand, goes back to an idle
 * list after use, and when the budget is spent the least recently used idle connection of another
 * source is closed to make room; with none idle the caller waits. This is the one place that bounds
 * connections, so every command gets the bound.
 */
export class ConnectionBudget {
  /** Connections open, being opened or being closed: what the server may count at this moment. */
  private held = 0;
  private readonly idle: IdleConnection[] = [];
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  constructor(
    readonly size: number,
    private readonly idleTimeoutMs = 60_000,
  ) {
    if (!Number.isSafeInteger(size) || size < 1) throw new Error(`connection budget must be a positive integer, got ${size}`);
  }

  /** Open connections now (in use and idle), for tests and figures. */
  get open(): number {
    return this.held;
  }

  /**
   * A connection for this source: in its database, or, with anyDatabase (statements that name every
   * table with its database), in whichever database of the same server it was last used, which spares
   * the `USE` of switching.
   */
  async acquire(handle: SourceHandle, anyDatabase = false): Promise<Connection> {
    for (;;) {
      const mine = this.takeIdle((entry) => entry.handle.server === handle.server && databaseOf(entry.connection) === handle.database, true);
      if (mine) return mine;
      if (anyDatabase) {
        const sameServer = this.takeIdle((entry) => entry.handle.server === handle.server, true);
        if (sameServer) return sameServer;
      }
      if (this.held < this.size) {
        this.held++;
        try {
          return await handle.connect((connection) => this.forget(connection));
        } catch (error) {
          this.held--;
          this.wakeOne();
          throw error;
        }
      }
      // Budget spent: take over the connection idle longest, preferably of a source no unit is using
      // now. On the same server it just switches database (no new connection, nothing for the server
      // to count twice while the old one winds down); on another server it is closed to make room.
      const idleFirst = (match: (entry: IdleConnection) => boolean): Connection | null =>
        this.takeIdle((entry) => match(entry) && entry.handle.active === 0, false) ?? this.takeIdle(match, false);
      const sameServer = idleFirst((entry) => entry.handle.server === handle.server);
      if (sameServer) {
        try {
          await sameServer.query(`USE ${quoteMysql(handle.database)}`);
          currentDatabases.set(sameServer, handle.database);
        } catch (error) {
          this.release(handle, sameServer);
          throw error;
        }
        return sameServer;
      }
      const other = idleFirst(() => true);
      if (other) {
        await closeQuietly(other);
        this.held--;
        continue;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** Takes back a connection after use; a broken one is closed and frees its place. */
  release(handle: SourceHandle, connection: Connection): void {
    if (this.closed || isBroken(connection)) {
      void closeQuietly(connection);
      this.held--;
      this.wakeOne();
      return;
    }
    const entry: IdleConnection = { handle, connection, timer: setTimeout(() => void this.expire(entry), this.idleTimeoutMs) };
    entry.timer.unref();
    this.idle.push(entry);
    this.wakeOne();
  }

  /** Closes the idle connections of one source (all sources when none is named). */
  async closeIdle(handle?: SourceHandle): Promise<void> {
    const closing: Connection[] = [];
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const entry = this.idle[i]!;
      if (handle && entry.handle !== handle) continue;
      this.idle.splice(i, 1);
      clearTimeout(entry.timer);
      closing.push(entry.connection);
    }
    await Promise.all(closing.map(closeQuietly));
    this.held -= closing.length;
    for (let i = 0; i < closing.length; i++) this.wakeOne();
  }

  /** Closes every idle connection; connections in use are closed as they come back. */
  async close(): Promise<void> {
    this.closed = true;
    await this.closeIdle();
  }

  private takeIdle(match: (entry: IdleConnection) => boolean, newest: boolean): Connection | null {
    const order = newest ? [...this.idle.keys()].reverse() : [...this.idle.keys()];
    for (const index of order) {
      const entry = this.idle[index]!;
      if (!match(entry)) continue;
      this.idle.splice(index, 1);
      clearTimeout(entry.timer);
      if (isBroken(entry.connection)) {
        // Died while idle (server restart, wait_timeout): its place is free again.
        this.held--;
        entry.connection.destroy();
        return this.takeIdle(match, newest);
      }
      return entry.connection;
    }
    return null;
  }

  /**
   * A connection that failed while idle leaves the list and frees its place. One in use is left to
   * its holder: release sees it broken.
   */
  private forget(connection: Connection): void {
    const index = this.idle.findIndex((e) => e.connection === connection);
    if (index < 0) return;
    clearTimeout(this.idle[index]!.timer);
    this.idle.splice(index, 1);
    this.held--;
    this.wakeOne();
  }

  private async expire(entry: IdleConnection): Promise<void> {
    const index = this.idle.indexOf(entry);
    if (index < 0) return;
    this.idle.splice(index, 1);
    await closeQuietly(entry.connection);
    this.held--;
    this.wakeOne();
  }

  private wakeOne(): void {
    this.waiting.shift()?.();
  }
}

// The database each open connection is in: lent without `USE` (acquire's anyDatabase), a connection
// stays in the database it was last switched to, whichever source released it.
const currentDatabases = new WeakMap<Connection, string>();
const databaseOf = (connection: Connection): string | undefined => currentDatabases.get(connection);

interface IdleConnection {
  handle: SourceHandle;
  connection: Connection;
  timer: NodeJS.Timeout;
}

/** The driver's callback-style connection under a promise one (what results are streamed from). */
export const coreConnection = (connection: Connection): unknown => (connection as unknown as { connection: unknown }).connection;

function isBroken(connection: Connection): boolean {
  const core = coreConnection(connection) as { _fatalError?: unknown; _protocolError?: unknown; _closing?: boolean };
  return Boolean(core._fatalError || core._protocolError || core._closing);
}

async function closeQuietly(connection: Connection): Promise<void> {
  if (isBroken(connection)) {
    connection.destroy();
    return;
  }
  await connection.end().catch(() => connection.destroy());
}

/** A connection lent by the budget: query on it, then release it (exactly once). */
export class SourceConnection {
  private done = false;

  constructor(
    private readonly handle: SourceHandle,
    private readonly budget: ConnectionBudget,
    readonly raw: Connection,
  ) {}

  query<T extends QueryResult>(sql: string | QueryOptions, params?: unknown): Promise<[T, FieldPacket[]]> {
    return this.raw.query<T>(sql as QueryOptions, params as never);
  }

  /** The driver's own connection (for streaming a result). */
  get connection(): unknown {
    return coreConnection(this.raw);
  }

  release(): void {
    if (this.done) return;
    this.done = true;
    this.handle.lastUsed = Date.now();
    this.budget.release(this.handle, this.raw);
  }
}

/**
 * What the rest of the code queries a source through: borrows a connection from the budget for each
 * statement (or hands one out for a sequence that needs the same session), never more than allowed.
 */
export class SourcePool {
  constructor(
    private readonly handle: SourceHandle,
    private readonly budget: ConnectionBudget,
  ) {}

  async query<T extends QueryResult>(sql: string | QueryOptions, params?: unknown): Promise<[T, FieldPacket[]]> {
    const lease = await this.getConnection();
    try {
      return await lease.query<T>(sql, params);
    } finally {
      lease.release();
    }
  }

  async getConnection(): Promise<SourceConnection> {
    return new SourceConnection(this.handle, this.budget, await this.budget.acquire(this.handle));
  }

  /** One statement that names its tables with their database, on any connection to the same server. */
  async queryQualified<T extends QueryResult>(sql: string | QueryOptions, params?: unknown): Promise<[T, FieldPacket[]]> {
    const lease = new SourceConnection(this.handle, this.budget, await this.budget.acquire(this.handle, true));
    try {
      return await lease.query<T>(sql, params);
    } finally {
      lease.release();
    }
  }
}

/**
 * One source database. Its connections come from the process's budget (see ConnectionBudget), so a
 * process syncing many shards keeps only a few connections open, whatever the number of sources.
 */
export class SourceHandle {
  readonly id: string;
  /** "source eu (127.0.0.1:3306/shop_eu)", safe to log. */
  readonly where: string;
  readonly database: string;
  /** Which server and login this source uses: connections with the same one can switch database. */
  readonly server: string;
  /** Units of this source running now: its idle connections are the last to be closed for others. */
  active = 0;
  lastUsed = 0;
  readonly pool: SourcePool;

  constructor(
    private readonly source: SourceConfig,
    private readonly budget: ConnectionBudget,
  ) {
    this.id = source.id;
    this.where = `source ${source.id} (${source.endpoint.display})`;
    this.database = source.endpoint.database;
    const e = source.endpoint;
    this.server = JSON.stringify([e.host, e.port, e.user, e.password, e.tls ?? null]);
    this.pool = new SourcePool(this, budget);
  }

  /** Opens a connection with the session settings every read relies on. Called by the budget only. */
  async connect(onBroken: (connection: Connection) => void): Promise<Connection> {
    const connection = await mysql.createConnection(connectionOptions(this.source));
    // An idle connection the server closes (restart, wait_timeout) reports here instead of crashing
    // the process; the budget drops it.
    connection.on('error', () => onBroken(connection));
    connection.on('end', () => onBroken(connection));
    try {
      // Every connection reads TIMESTAMP values in UTC, so they map to timestamptz without shifting.
      // READ COMMITTED: Tributary's reads need no repeatable snapshot, and its deletes then take no gap
      // locks that could make an application's insert into a changelog wait. Shape digests concatenate
      // every column of a table; the 1 KiB group_concat default would cut them short.
      await Promise.all([
        connection.query("SET SESSION time_zone = '+00:00', SESSION group_concat_max_len = 1048576"),
        connection.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED'),
      ]);
    } catch (error) {
      connection.destroy();
      throw error;
    }
    currentDatabases.set(connection, this.database);
    return connection;
  }

  /** Closes this source's idle connections (those in use go back to the budget when released). */
  async close(): Promise<void> {
    await this.budget.closeIdle(this);
  }
}

function connectionOptions(source: SourceConfig): ConnectionOptions {
  const e = source.endpoint;
  return {
    host: e.host,
    port: e.port,
    user: e.user,
    password: e.password,
    database: e.database,
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
  };
}

/** A source whose connections count against the given budget (one budget per process). */
export function openSource(source: SourceConfig, budget: ConnectionBudget): SourceHandle {
  return new SourceHandle(source, budget);
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
    throw mapMysqlError(error, { where: handle.where, doing });
  }
}

/**
 * sourceQuery for a statement that names every table with its database (and DATABASE() nowhere): run
 * on any connection to the source's server, so that visiting many databases of one server costs no
 * `USE` each.
 */
export async function sourceQueryQualified<T extends RowDataPacket>(handle: SourceHandle, doing: string, sql: string, params: unknown[] = []): Promise<T[]> {
  try {
    const [rows] = await handle.pool.queryQualified<T[]>({ sql }, params);
    return rows;
  } catch (error) {
    throw mapMysqlError(error, { where: handle.where, doing });
  }
}

/** sourceExecute for a statement that names every table with its database (see sourceQueryQualified). */
export async function sourceExecuteQualified(handle: SourceHandle, doing: string, sql: string, params: unknown[] = []): Promise<number> {
  try {
    const [result] = await handle.pool.queryQualified(sql, params);
    return (result as { affectedRows?: number }).affectedRows ?? 0;
  } catch (error) {
    throw mapMysqlError(error, { where: handle.where, doing });
  }
}

export async function sourceExecute(handle: SourceHandle, doing: string, sql: string, params: unknown[] = []): Promise<number> {
  try {
    const [result] = await handle.pool.query(sql, params);
    return (result as { affectedRows?: number }).affectedRows ?? 0;
  } catch (error) {
    throw mapMysqlError(error, { where: handle.where, doing });
  }
}
