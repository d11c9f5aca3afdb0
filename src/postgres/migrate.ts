/**
 * Creates and upgrades Tributary's state schema from the numbered files in sql/migrations
 * (NNN_what.sql). Each file runs once, in the order of its number, all pending ones in one transaction,
 * under a lock so that concurrent processes do not race. sql/schema.sql shows the result.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TributaryError } from '../errors';
import { SQL_ROOT } from '../sqlfiles';
import { type TargetHandle, connectTarget, inTransaction, targetQuery } from './connection';

export const MIGRATIONS_DIR = join(SQL_ROOT, 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migration files in order of their number; two files with one number are refused. */
export function migrationFiles(dir: string = MIGRATIONS_DIR): Migration[] {
  const files = readdirSync(dir)
    .map((name) => ({ name, match: /^(\d+)_.+\.sql$/.exec(name) }))
    .filter((f) => f.match !== null)
    .map((f) => ({ version: Number(f.match![1]), name: f.name }))
    .sort((a, b) => a.version - b.version);
  for (let i = 1; i < files.length; i++) {
    if (files[i]!.version === files[i - 1]!.version) {
      throw new TributaryError('INTERNAL', `migrations ${files[i - 1]!.name} and ${files[i]!.name} in ${dir} share the number ${files[i]!.version}`);
    }
  }
  return files.map((f) => ({ ...f, sql: readFileSync(join(dir, f.name), 'utf8') }));
}

// Serialises migrating processes: the second one waits, then finds every migration applied.
const LOCK_MIGRATIONS = "SELECT pg_advisory_xact_lock(hashtextextended('tributary:migrate', 0))";

// The schema and the record of applied migrations exist before any migration can be looked up.
const CREATE_SCHEMA = 'CREATE SCHEMA IF NOT EXISTS tributary';
const CREATE_MIGRATIONS_TABLE =
  'CREATE TABLE IF NOT EXISTS tributary.schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())';

const APPLIED_MIGRATIONS = 'SELECT version FROM tributary.schema_migrations';
const RECORD_MIGRATION = 'INSERT INTO tributary.schema_migrations (version, name) VALUES ($1, $2)';

/** Applies the pending migrations; returns the names of those it ran. */
export async function migrate(handle: TargetHandle): Promise<string[]> {
  const files = migrationFiles();
  const client = await connectTarget(handle, 'preparing the tributary schema');
  const run = (doing: string, sql: string, params: unknown[] = []) => targetQuery(client, handle.where, doing, sql, params);
  try {
    return await inTransaction(client, handle.where, 'preparing the tributary schema', async () => {
      await run('locking migrations', LOCK_MIGRATIONS);
      await run('creating schema', CREATE_SCHEMA);
      await run('creating migrations table', CREATE_MIGRATIONS_TABLE);
      const applied = new Set((await run('reading migrations', APPLIED_MIGRATIONS)).rows.map((r) => Number(r.version)));
      const ran: string[] = [];
      for (const file of files) {
        if (applied.has(file.version)) continue;
        await run(`applying ${file.name}`, file.sql);
        await run('recording migration', RECORD_MIGRATION, [file.version, file.name]);
        ran.push(file.name);
      }
      return ran;
    });
  } finally {
    client.release();
  }
}
