import type { SourceColumn, SourceTable } from '../../src/model';
import { filterSyntaxProblem } from '../../src/mysql/filter';
import { changedSettings, type SyncedSettings } from '../../src/pipeline/settings';
import { buildRangeDeleteSql, buildRememberSeenSql, buildSweepUnseenSql, keyOrderIsExact, seenTable } from '../../src/postgres/replace';
import { targetTableFor } from '../../src/postgres/schema';

function column(name: string, dataType: string, extra: Partial<SourceColumn> = {}): SourceColumn {
  return {
    name,
    ordinal: 1,
    dataType,
    columnType: dataType,
    nullable: false,
    unsigned: false,
    charset: null,
    collation: null,
    charMaxLength: dataType.includes('char') || dataType.includes('binary') ? 20 : null,
    numericPrecision: dataType === 'decimal' ? 10 : null,
    numericScale: dataType === 'decimal' ? 2 : null,
    datetimePrecision: null,
    isJson: false,
    ...extra,
  };
}

function table(columns: SourceColumn[], key: string[]): ReturnType<typeof targetTableFor> {
  const source: SourceTable = { database: 'shop', name: 'orders', columns, key };
  return targetTableFor('public', 'orders', source);
}

const STAGE = 'tributary_stage_0123456789abcdef';

test('key ranges are compared in PostgreSQL only for keys it orders as MySQL does', () => {
  expect(keyOrderIsExact(table([column('region', 'int'), column('id', 'bigint', { unsigned: true }), column('note', 'text', { nullable: true })], ['region', 'id']))).toBe(true);
  expect(keyOrderIsExact(table([column('amount', 'decimal')], ['amount']))).toBe(true);
  expect(keyOrderIsExact(table([column('hash', 'varbinary', { charset: 'binary' })], ['hash']))).toBe(true);
  // Collation order (case, accents, trailing spaces) is MySQL's own.
  expect(keyOrderIsExact(table([column('code', 'varchar', { charset: 'utf8mb4', collation: 'utf8mb4_bin' })], ['code']))).toBe(false);
  expect(keyOrderIsExact(table([column('id', 'int'), column('code', 'char', { charset: 'utf8mb4', collation: 'utf8mb4_general_ci' })], ['id', 'code']))).toBe(false);
  // NULL sorts first in MySQL, last in PostgreSQL.
  expect(keyOrderIsExact(table([column('id', 'int', { nullable: true })], ['id']))).toBe(false);
  // ENUM sorts by its index in MySQL.
  expect(keyOrderIsExact(table([column('kind', 'enum', { columnType: "enum('b','a')", charset: 'utf8mb4' })], ['kind']))).toBe(false);
});

test('a chunk deletes only rows of its source, inside its range, that it does not hold', () => {
  const t = table([column('region', 'int'), column('id', 'bigint', { unsigned: true })], ['region', 'id']);
  expect(buildRangeDeleteSql(t, STAGE, { lower: true, upper: true })).toBe(
    'DELETE FROM "public"."orders" AS t WHERE t."_source" = $1 AND (t."region", t."id") > ($2::integer, $3::numeric(20,0)) AND (t."region", t."id") <= ($4::integer, $5::numeric(20,0)) AND NOT EXISTS (SELECT 1 FROM "tributary_stage_0123456789abcdef" AS s WHERE s."region" = t."region" AND s."id" = t."id")',
  );
  // First chunk: no lower bound; last chunk: no upper bound (everything beyond the previous chunk).
  expect(buildRangeDeleteSql(t, STAGE, { lower: false, upper: true })).toContain('WHERE t."_source" = $1 AND (t."region", t."id") <= ($2::integer, $3::numeric(20,0)) AND NOT EXISTS');
  expect(buildRangeDeleteSql(t, STAGE, { lower: true, upper: false })).toContain('> ($2::integer, $3::numeric(20,0)) AND NOT EXISTS');
});

test('a sweep remembers written and kept keys and deletes the unseen rows of its source', () => {
  const t = table([column('code', 'varchar', { charset: 'utf8mb4', collation: 'utf8mb4_general_ci' })], ['code']);
  const seen = seenTable('eu', 'orders');
  expect(seen).toMatch(/^"tributary"\."snapshot_seen_[0-9a-f]{16}"$/);
  expect(seenTable('us', 'orders')).not.toBe(seen);
  expect(buildRememberSeenSql(t, seen, STAGE)).toBe(`INSERT INTO ${seen} ("code") SELECT "code" FROM "${STAGE}" WHERE "_tributary_op" IN ('U', 'K') ON CONFLICT DO NOTHING`);
  expect(buildSweepUnseenSql(t, seen)).toBe(`DELETE FROM "public"."orders" AS t WHERE t."_source" = $1 AND NOT EXISTS (SELECT 1 FROM ${seen} AS s WHERE s."code" = t."code")`);
});

test('a where setting must be one expression', () => {
  expect(filterSyntaxProblem("status = 'open'")).toBeNull();
  expect(filterSyntaxProblem("note <> 'a;b -- c /* d */ #e' AND `we;ird` > 1")).toBeNull();
  expect(filterSyntaxProblem("name = 'O''Brien' OR name = 'x\\'y'")).toBeNull();
  expect(filterSyntaxProblem('id IN (SELECT id FROM other WHERE (a) > 1)')).toBeNull();
  expect(filterSyntaxProblem('a - -1 > 0')).toBeNull();
  expect(filterSyntaxProblem('1=1; DROP TABLE x')).toMatch(/;/);
  expect(filterSyntaxProblem('1=1 -- rest')).toMatch(/comment/);
  expect(filterSyntaxProblem('1=1 --')).toMatch(/comment/);
  expect(filterSyntaxProblem('1=1 # rest')).toMatch(/comment/);
  expect(filterSyntaxProblem('1=1 /*! UNION */')).toMatch(/comment/);
  expect(filterSyntaxProblem('1) OR (1')).toMatch(/closes/);
  expect(filterSyntaxProblem('(1')).toMatch(/open/);
  expect(filterSyntaxProblem("a = 'x")).toMatch(/unterminated/);
});

test('settings compare regardless of key order; each changed one is named', () => {
  const current: SyncedSettings = {
    target: 'public.orders',
    where: null,
    columns: { include: null, exclude: ['secret'] },
    rename: [],
    key: ['id'],
    keyIncludesSource: true,
    onBadValue: 'reject',
    conflict: { policy: 'error', newestBy: null, priority: null },
  };
  // As jsonb hands it back: keys reordered.
  const stored = JSON.parse(JSON.stringify({ ...current, columns: { exclude: ['secret'], include: null }, conflict: { priority: null, policy: 'error', newestBy: null } }));
  expect(changedSettings(stored, current)).toEqual([]);
  expect(changedSettings({ ...stored, where: "a = 'b'", onBadValue: 'null' }, current)).toEqual(['where', 'onBadValue']);
});
