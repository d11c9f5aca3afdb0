/** Connections to the PostgreSQL target. */
import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';
import type { PgEndpoint } from '../../config';
import { mapDriverError } from '../../errors';

export type { PoolClient };

export interface TargetHandle {
  /** "target (127.0.0.1:5432/warehouse)", safe to log. */
  where: string;
  schema: string;
  pool: pg.Pool;
}

export function openTarget(endpoint: PgEndpoint, schema: string, max: number): TargetHandle {
  const pool = new pg.Pool({
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    password: endpoint.password,
    database: endpoint.database,
    max,
    application_name: 'tributary',
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
  });
  // An idle client that loses its server (restart, network cut) emits here; without a listener the
  // process would crash. The next checkout simply gets a fresh connection.
  pool.on('error', () => undefined);
  return { where: `target (${endpoint.display})`, schema, pool };
}

export async function connectTarget(handle: TargetHandle, doing: string): Promise<PoolClient> {
  try {
    const client = await handle.pool.connect();
    client.on('error', () => undefined);
    return client;
  } catch (error) {
    throw mapDriverError(error, { side: 'target', where: handle.where, doing });
  }
}

export async function targetQuery<T extends QueryResultRow = QueryResultRow>(
  db: pg.Pool | PoolClient,
  where: string,
  doing: string,
  sql: string,
  params: unknown[] = [],
): Promise<pg.QueryResult<T>> {
  try {
    return await db.query<T>(sql, params);
  } catch (error) {
    throw mapDriverError(error, { side: 'target', where, doing });
  }
}

/** Runs fn in a transaction on client; rolls back on any error. */
export async function inTransaction<T>(client: PoolClient, where: string, doing: string, fn: () => Promise<T>): Promise<T> {
  await targetQuery(client, where, doing, 'BEGIN');
  try {
    const result = await fn();
    await targetQuery(client, where, doing, 'COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw mapDriverError(error, { side: 'target', where, doing });
  }
}

export async function closeTarget(handle: TargetHandle): Promise<void> {
  await handle.pool.end().catch(() => undefined);
}
