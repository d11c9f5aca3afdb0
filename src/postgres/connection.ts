/** Connections to the PostgreSQL target. */
import pg from 'pg';
// Types by name, so that the shipped declarations need no default import (no esModuleInterop for users).
import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import type { PgEndpoint } from '../config';
import { mapPgError } from './errors';
import { tlsBase } from '../tls';

export type { PoolClient };

export interface TargetHandle {
  /** "target (127.0.0.1:5432/warehouse)", safe to log. */
  where: string;
  schema: string;
  pool: Pool;
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
    ...(endpoint.tls
      ? {
          ssl: {
            ...tlsBase(endpoint.tls),
            // verify-ca: the chain must be trusted, the name need not match.
            ...(endpoint.tls.mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
          },
        }
      : {}),
  });
  // An idle client that loses its server (restart, network cut) emits here; without a listener the
  // process would crash. The next checkout simply gets a fresh connection.
  pool.on('error', () => undefined);
  return { where: `target (${endpoint.display})`, schema, pool };
}

// Pooled clients come back many times; each gets its error listener once.
const listening = new WeakSet<PoolClient>();

export async function connectTarget(handle: TargetHandle, doing: string): Promise<PoolClient> {
  try {
    const client = await handle.pool.connect();
    if (!listening.has(client)) {
      client.on('error', () => undefined);
      listening.add(client);
    }
    return client;
  } catch (error) {
    throw mapPgError(error, { where: handle.where, doing });
  }
}

export async function targetQuery<T extends QueryResultRow = QueryResultRow>(
  db: Pool | PoolClient,
  where: string,
  doing: string,
  sql: string,
  params: unknown[] = [],
): Promise<QueryResult<T>> {
  try {
    return await db.query<T>(sql, params);
  } catch (error) {
    throw mapPgError(error, { where, doing });
  }
}

// Clients inside an enclosing transaction (a dry run): their transactions become savepoints, and the
// enclosing one is rolled back at the end, so nothing a dry run does is kept.
const enclosed = new WeakSet<PoolClient>();

export async function beginEnclosing(client: PoolClient, where: string): Promise<void> {
  await targetQuery(client, where, 'starting a dry run', 'BEGIN');
  enclosed.add(client);
}

export async function rollbackEnclosing(client: PoolClient): Promise<void> {
  enclosed.delete(client);
  await client.query('ROLLBACK').catch(() => undefined);
}

/** Runs fn in a transaction on client; rolls back on any error. */
export async function inTransaction<T>(client: PoolClient, where: string, doing: string, fn: () => Promise<T>): Promise<T> {
  // Inside an enclosing transaction (a dry run), a savepoint stands for the transaction.
  const [begin, commit, rollback] = enclosed.has(client)
    ? ['SAVEPOINT tributary_step', 'RELEASE SAVEPOINT tributary_step', 'ROLLBACK TO SAVEPOINT tributary_step']
    : ['BEGIN', 'COMMIT', 'ROLLBACK'];
  await targetQuery(client, where, doing, begin);
  try {
    const result = await fn();
    await targetQuery(client, where, doing, commit);
    return result;
  } catch (error) {
    await client.query(rollback).catch(() => undefined);
    throw mapPgError(error, { where, doing });
  }
}

export async function closeTarget(handle: TargetHandle): Promise<void> {
  await handle.pool.end().catch(() => undefined);
}
