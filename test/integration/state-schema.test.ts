/**
 * sql/schema.sql is the state schema exactly as the migrations in sql/migrations build it, so that a
 * reader sees it whole. This test migrates a fresh database, dumps the tributary schema with pg_dump and
 * fails when the dump and the file differ. After changing a migration (or adding one), regenerate the
 * file with `npm run schema:dump` and commit it.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { closeTarget, type TargetHandle } from '../../src/postgres/connection';
import { migrate, migrationFiles } from '../../src/postgres/migrate';
import { PG } from '../helpers/scratch';

const SCHEMA_FILE = join(__dirname, '..', '..', 'sql', 'schema.sql');
const WRITE = process.env.TRIBUTARY_WRITE_SCHEMA === '1';

const HEADER = [
  '-- The state schema `tributary` as the migrations in sql/migrations build it (pg_dump --schema-only,',
  '-- comments and settings removed). Generated: after changing a migration run `npm run schema:dump`.',
  '-- What each table and column is for: see the migrations.',
].join('\n');

/** The dump without what varies between pg_dump versions and runs: comments, SET lines, \restrict keys. */
function normalise(dump: string): string {
  const lines = dump
    .split('\n')
    .filter((line) => !line.startsWith('--') && !line.startsWith('SET ') && !line.startsWith('SELECT pg_catalog.set_config') && !line.startsWith('\\'));
  return HEADER + '\n\n' + lines.join('\n').replace(/\n{3,}/g, '\n\n').trim() + '\n';
}

function dumpStateSchema(database: string): string {
  return execFileSync('pg_dump', ['--schema-only', '--no-owner', '--no-privileges', '--schema=tributary', '-h', PG.host, '-p', String(PG.port), '-U', PG.user, database], {
    encoding: 'utf8',
  });
}

describe('state schema', () => {
  const database = 'trs_' + randomBytes(4).toString('hex');
  const admin = new pg.Client({ ...PG, database: 'postgres' });

  beforeAll(async () => {
    await admin.connect();
    await admin.query(`CREATE DATABASE "${database}"`);
  });

  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  });

  test('sql/schema.sql is what the migrations produce', async () => {
    const target: TargetHandle = { where: `target (${database})`, schema: 'public', pool: new pg.Pool({ ...PG, database, max: 2 }) };
    try {
      expect(await migrate(target)).toEqual(migrationFiles().map((f) => f.name));
      // A second run finds every migration applied and changes nothing.
      expect(await migrate(target)).toEqual([]);
    } finally {
      await closeTarget(target);
    }
    const dumped = normalise(dumpStateSchema(database));
    if (WRITE) writeFileSync(SCHEMA_FILE, dumped);
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    if (committed !== dumped) {
      throw new Error('sql/schema.sql differs from the schema the migrations in sql/migrations produce. Run `npm run schema:dump` to regenerate it, review the difference and commit it.\n\n--- produced by the migrations ---\n' + dumped);
    }
  });
});
