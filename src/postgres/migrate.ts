/**
 * Creates and upgrades Tributary's state schema from the numbered files in sql/postgres. Each file
 * runs once, in order, in one transaction, under a lock so that concurrent processes do not race.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SQL_ROOT } from '../sqlfiles';
import { type TargetHandle, connectTarget, inTransaction, targetQuery } from './connection';

const MIGRATIONS_DIR = join(SQL_ROOT, 'postgres');

export function migrationFiles(): { version: number; name: string; sql: string }[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{3}_.+\.sql$/.test(f))
    .sort()
    .map((name) => ({ version: Number(name.slice(0, 3)), name, sql: readFileSync(join(MIGRATIONS_DIR, name), 'utf8') }));
}

export async function migrate(handle: TargetHandle): Promise<string[]> {
  const client = await connectTarget(handle, 'preparing the tributary schema');
  try {
    return await inTransaction(client, handle.where, 'preparing the tributary schema', async () => {
      await targetQuery(client, handle.where, 'locking migrations', "SELECT pg_advisory_xact_lock(hashtextextended('tributary:migrate', 0))");
      await targetQuery(client, handle.where, 'creating schema', 'CREATE SCHEMA IF NOT EXISTS tributary');
      await targetQuery(
        client,
        handle.where,
        'creating migrations table',
        'CREATE TABLE IF NOT EXISTS tributary.schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
      );
      const applied = new Set(
        (await targetQuery<{ version: number }>(client, handle.where, 'reading migrations', 'SELECT version FROM tributary.schema_migrations')).rows.map((r) => r.version),
      );
      const ran: string[] = [];
      for (const file of migrationFiles()) {
        if (applied.has(file.version)) continue;
        await targetQuery(client, handle.where, `applying ${file.name}`, file.sql);
        await targetQuery(client, handle.where, 'recording migration', 'INSERT INTO tributary.schema_migrations (version, name) VALUES ($1, $2)', [file.version, file.name]);
        ran.push(file.name);
      }
      return ran;
    });
  } finally {
    client.release();
  }
}
