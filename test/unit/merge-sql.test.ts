import { TributaryError } from '../../src/errors';
import type { SourceColumn, SourceTable } from '../../src/model';
import { buildDeleteSql, buildUpsertSql } from '../../src/postgres/merge';
import { createTableSql, mergeShapes, targetTableFor, type TargetTable, widerType } from '../../src/postgres/schema';
import { createStageSql, OP_COLUMN, stageColumns, stageName } from '../../src/postgres/stage';

// ---------------------------------------------------------------- fixtures

function column(name: string, columnType: string, ordinal: number): SourceColumn {
  const dataType = /^\w+/.exec(columnType)![0];
  const isString = /char|text/.test(dataType);
  const length = /\((\d+)\)/.exec(columnType)?.[1];
  return {
    name,
    ordinal,
    dataType,
    columnType,
    nullable: true,
    unsigned: false,
    charset: isString ? 'utf8mb4' : null,
    collation: isString ? 'utf8mb4_general_ci' : null,
    charMaxLength: isString && length ? Number(length) : null,
    numericPrecision: null,
    numericScale: null,
    datetimePrecision: null,
    isJson: false,
  };
}

function source(name: string, columns: [string, string][], key: string[]): SourceTable {
  return { database: 'shop', name, columns: columns.map(([n, t], i) => column(n, t, i + 1)), key };
}

/** Composite key (region, id) declared in a different order than the columns. */
const orders = targetTableFor(
  'analytics',
  'orders_all',
  source('orders', [['id', 'int(11)'], ['region', 'varchar(10)'], ['name', 'varchar(50)'], ['note', 'text']], ['region', 'id']),
);
const STAGE = 'tributary_stage_0123456789abcdef';

// ---------------------------------------------------------------- a small PostgreSQL lexer

/** The SQL with every quoted identifier replaced by "I" and every string literal by 'S'. */
function barePg(sql: string): { bare: string; identifiers: string[] } {
  const identifiers: string[] = [];
  const bare = sql.replace(/"((?:[^"]|"")*)"|'(?:[^']|'')*'/g, (whole, ident: string | undefined) => {
    if (ident === undefined) return "'S'";
    identifiers.push(ident.replace(/""/g, '"'));
    return '"I"';
  });
  return { bare, identifiers };
}

/** Names in a parenthesised list of quoted identifiers such as ("a", "b""c"). */
function nameList(list: string): string[] {
  const names = [...list.matchAll(/"((?:[^"]|"")*)"/g)].map((m) => m[1]!.replace(/""/g, '"'));
  expect(list.replace(/"((?:[^"]|"")*)"/g, '').replace(/[\s,.]/g, '').replace(/EXCLUDED|t/g, '')).toBe('');
  return names;
}

/** Splits at commas outside quotes and parentheses. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    current += c;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(current.slice(0, -1).trim());
      current = '';
    }
  }
  parts.push(current.trim());
  return parts;
}

function upsertParts(sql: string): { insertColumns: string[]; conflict: string[]; set: string[]; guard: [string[], string[]] | null; action: string } {
  const insert = /INSERT INTO .* AS t \((.*)\)\n/.exec(sql)!;
  const conflict = /ON CONFLICT \((.*?)\) (DO NOTHING|DO UPDATE SET (.*) WHERE \((.*)\) IS DISTINCT FROM \((.*)\))\n/.exec(sql);
  expect(conflict).not.toBeNull();
  const [, keys, action, set, left, right] = conflict!;
  return {
    insertColumns: nameList(insert[1]!),
    conflict: nameList(keys!),
    action: action!.startsWith('DO NOTHING') ? 'DO NOTHING' : 'DO UPDATE',
    set: set ? splitTop(set).map((a) => {
      const [lhs, rhs] = a.split(' = EXCLUDED.');
      expect(lhs).toBe(rhs);
      return nameList(lhs!)[0]!;
    }) : [],
    guard: left ? [nameList(left), nameList(right!)] : null,
  };
}

// ---------------------------------------------------------------- merge

describe('buildDeleteSql', () => {
  const sql = buildDeleteSql(orders, STAGE);

  test('deletes from the target using the stage, only rows staged as deletes', () => {
    expect(sql.startsWith('DELETE FROM "analytics"."orders_all" AS t USING "tributary_stage_0123456789abcdef" AS s WHERE ')).toBe(true);
    expect(sql).toContain(`s."${OP_COLUMN}" = 'D'`);
  });

  test('matches on _source and every key column, and nothing else', () => {
    const matched = [...sql.matchAll(/t\."([^"]+)" = s\."([^"]+)"/g)].map((m) => {
      expect(m[1]).toBe(m[2]);
      return m[1];
    });
    expect(matched).toEqual(['_source', 'region', 'id']);
    expect(barePg(sql).bare.split(' AND ')).toHaveLength(4);
  });
});

describe('buildUpsertSql', () => {
  test('inserts _source and every column, from the rows staged as upserts', () => {
    const sql = buildUpsertSql(orders, STAGE);
    expect(upsertParts(sql).insertColumns).toEqual(['_source', 'id', 'region', 'name', 'note']);
    expect(sql).toContain(`FROM "${STAGE}" WHERE "${OP_COLUMN}" = 'U'`);
  });

  test('the conflict target is (_source, key columns in key order)', () => {
    expect(upsertParts(buildUpsertSql(orders, STAGE)).conflict).toEqual(['_source', 'region', 'id']);
  });

  test('updates only the non-key columns', () => {
    const parts = upsertParts(buildUpsertSql(orders, STAGE));
    expect(parts.action).toBe('DO UPDATE');
    expect(parts.set).toEqual(['name', 'note']);
  });

  test('skips rows whose non-key columns are unchanged (IS DISTINCT FROM guard)', () => {
    expect(upsertParts(buildUpsertSql(orders, STAGE)).guard).toEqual([
      ['name', 'note'],
      ['name', 'note'],
    ]);
    expect(buildUpsertSql(orders, STAGE)).toContain('(t."name", t."note") IS DISTINCT FROM (EXCLUDED."name", EXCLUDED."note")');
  });

  test('a table with only key columns does nothing on conflict', () => {
    const keysOnly = targetTableFor('analytics', 'tags', source('tags', [['post', 'int(11)'], ['tag', 'varchar(20)']], ['post', 'tag']));
    const sql = buildUpsertSql(keysOnly, STAGE);
    const parts = upsertParts(sql);
    expect(parts.action).toBe('DO NOTHING');
    expect(parts.conflict).toEqual(['_source', 'post', 'tag']);
    expect(sql).not.toContain('DO UPDATE');
    expect(sql).not.toContain('IS DISTINCT FROM');
  });

  test('reports inserted and updated counts', () => {
    const sql = buildUpsertSql(orders, STAGE);
    expect(sql).toContain('RETURNING (xmax = 0) AS inserted');
    expect(sql).toMatch(/AS inserted, .* AS updated FROM applied$/);
  });

  test('hostile column names stay single identifiers in both statements', () => {
    const evil = targetTableFor(
      'my "schema"',
      'a"b; DROP TABLE x',
      source('evil', [['k"; --', 'int(11)'], ["v'); DROP TABLE y; --", 'text']], ['k"; --']),
    );
    for (const sql of [buildDeleteSql(evil, STAGE), buildUpsertSql(evil, STAGE)]) {
      const { bare, identifiers } = barePg(sql);
      expect(bare).not.toContain('DROP');
      expect(bare).not.toContain('--');
      expect(identifiers).toEqual(expect.arrayContaining(['my "schema"', 'a"b; DROP TABLE x', 'k"; --']));
    }
    const parts = upsertParts(buildUpsertSql(evil, STAGE));
    expect(parts.conflict).toEqual(['_source', 'k"; --']);
    expect(parts.set).toEqual(["v'); DROP TABLE y; --"]);
  });
});

// ---------------------------------------------------------------- stage

describe('stage', () => {
  test('is a temporary table emptied at every commit', () => {
    const sql = createStageSql(orders);
    expect(sql).toMatch(/^CREATE TEMP TABLE IF NOT EXISTS "tributary_stage_[0-9a-f]{16}" \(/);
    expect(sql).toMatch(/\) ON COMMIT DELETE ROWS$/);
  });

  test('its columns, in COPY order, are op, _source and the data columns with their target types', () => {
    const sql = createStageSql(orders);
    const body = sql.slice(sql.indexOf('(') + 1, sql.lastIndexOf(') ON COMMIT'));
    const defs = splitTop(body);
    expect(defs.map((d) => barePg(d).identifiers[0])).toEqual(stageColumns(orders));
    expect(stageColumns(orders)).toEqual([OP_COLUMN, '_source', 'id', 'region', 'name', 'note']);
    expect(defs.slice(2)).toEqual(orders.columns.map((c) => `"${c.name}" ${c.pgType}`));
  });

  test('its name is stable, short, and changes when a column type changes', () => {
    expect(stageName(orders)).toBe(stageName({ ...orders }));
    expect(Buffer.byteLength(stageName(orders))).toBeLessThanOrEqual(63);
    const widened: TargetTable = { ...orders, columns: orders.columns.map((c) => (c.name === 'name' ? { ...c, pgType: 'varchar(100)' } : c)) };
    expect(stageName(widened)).not.toBe(stageName(orders));
  });

  test('two target tables of the same shape in different schemas get different stages', () => {
    expect(stageName({ ...orders, schema: 'other' })).not.toBe(stageName(orders));
  });

  test('a source column named like the stage op column does not clash with it', () => {
    let table: TargetTable;
    try {
      table = targetTableFor('analytics', 'odd', source('odd', [['id', 'int(11)'], [OP_COLUMN, 'varchar(1)']], ['id']));
    } catch (error) {
      expect((error as TributaryError).code).toBe('SOURCE_SCHEMA_MISMATCH');
      return;
    }
    const names = stageColumns(table);
    expect(new Set(names).size).toBe(names.length);
  });
});

// ---------------------------------------------------------------- target tables

describe('target tables', () => {
  test('the primary key is (_source, key columns in key order) and key columns are NOT NULL', () => {
    const sql = createTableSql(orders);
    expect(sql).toMatch(/^CREATE TABLE IF NOT EXISTS "analytics"."orders_all" \(/);
    expect(sql).toContain('PRIMARY KEY ("_source", "region", "id")');
    expect(sql).toContain('"_source" text NOT NULL');
    expect(sql).toContain('"id" integer NOT NULL');
    expect(sql).toContain('"region" varchar(10) NOT NULL');
    expect(sql).toMatch(/"note" text,?\n/);
  });

  test('a source column named _source is refused', () => {
    const t = source('bad', [['id', 'int(11)'], ['_source', 'text']], ['id']);
    expect(() => targetTableFor('s', 'bad', t)).toThrow(expect.objectContaining({ code: 'SOURCE_SCHEMA_MISMATCH' }));
  });

  test('names longer than 63 bytes are refused, 63 bytes are fine', () => {
    const t = source('t', [['id', 'int(11)']], ['id']);
    expect(() => targetTableFor('s', 'x'.repeat(63), t)).not.toThrow();
    expect(() => targetTableFor('s', 'x'.repeat(64), t)).toThrow(expect.objectContaining({ code: 'SOURCE_SCHEMA_MISMATCH' }));
    expect(() => targetTableFor('s', 'é'.repeat(32), t)).toThrow(TributaryError);
    const longColumn = source('t', [['id', 'int(11)'], ['c'.repeat(64), 'text']], ['id']);
    expect(() => targetTableFor('s', 't', longColumn)).toThrow(TributaryError);
  });

  test('the same table in two sources merges into every column any source has', () => {
    const fewer = { ...orders, columns: orders.columns.filter((c) => c.name !== 'note') };
    const merged = mergeShapes([
      { sourceId: 'eu', table: fewer },
      { sourceId: 'us', table: orders },
    ]);
    expect(merged.columns.map((c) => c.name)).toEqual(['id', 'region', 'name', 'note']);
  });

  test('column types widen to hold every source\'s values', () => {
    const typed = (name: string, pgType: string) => ({ ...orders, columns: orders.columns.map((c) => (c.name === name ? { ...c, pgType } : c)) });
    const merged = mergeShapes([
      { sourceId: 'eu', table: typed('name', 'character varying(50)') },
      { sourceId: 'us', table: typed('name', 'character varying(80)') },
    ]);
    expect(merged.columns.find((c) => c.name === 'name')!.pgType).toBe('character varying(80)');
  });

  test('different keys, or types no PostgreSQL type holds both of, cannot merge', () => {
    const reKeyed = { ...orders, key: ['id', 'region'] };
    const retyped = { ...orders, columns: orders.columns.map((c) => (c.name === 'note' ? { ...c, pgType: 'integer' } : c)) };
    for (const other of [reKeyed, retyped]) {
      expect(() => mergeShapes([{ sourceId: 'eu', table: orders }, { sourceId: 'us', table: other }])).toThrow(
        expect.objectContaining({ code: 'SOURCE_SCHEMA_MISMATCH' }),
      );
    }
  });
});

describe('widerType', () => {
  test.each([
    ['smallint', 'integer', 'integer'],
    ['integer', 'bigint', 'bigint'],
    ['bigint', 'numeric(20,0)', 'numeric(20,0)'],
    ['numeric(10,2)', 'numeric(12,4)', 'numeric(12,4)'],
    ['numeric(10,2)', 'integer', 'numeric(12,2)'],
    ['character varying(10)', 'character varying(20)', 'character varying(20)'],
    ['character varying(10)', 'text', 'text'],
    ['timestamp(0) without time zone', 'timestamp(6) without time zone', 'timestamp(6) without time zone'],
    ['real', 'double precision', 'double precision'],
  ])('%s and %s → %s', (a, b, wider) => {
    expect(widerType(a, b)).toBe(wider);
    expect(widerType(b, a)).toBe(wider);
  });

  test.each([
    ['text', 'integer'],
    ['bit(3)', 'bit(5)'],
    ['timestamp(6) without time zone', 'timestamp(6) with time zone'],
  ])('%s and %s have no common type', (a, b) => {
    expect(widerType(a, b)).toBeNull();
  });
});

describe('shared key space (keyIncludesSource: false)', () => {
  const shared = (options: Partial<TargetTable>): TargetTable => ({ ...orders, keyIncludesSource: false, ...options });

  test('the key is the source key alone, and a source deletes only its own rows', () => {
    const table = shared({});
    expect(createTableSql(table)).toMatch(/PRIMARY KEY \("region", "id"\)/);
    expect(buildDeleteSql(table, STAGE)).toContain('t."_source" = s."_source"');
  });

  test('conflict error never lets another source take a row over', () => {
    const sql = buildUpsertSql(shared({ conflict: 'error' }), STAGE);
    expect(sql).toContain('ON CONFLICT ("region", "id")');
    expect(sql).toContain('t."_source" <> EXCLUDED."_source" AND false');
  });

  test('conflict newest compares the newestBy column; priority ranks sources by the list', () => {
    expect(buildUpsertSql(shared({ conflict: 'newest', newestBy: 'name' }), STAGE)).toContain('EXCLUDED."name" > t."name"');
    const priority = buildUpsertSql(shared({ conflict: 'priority', priority: ['us', "o'k"] }), STAGE);
    expect(priority).toContain("ARRAY['us', 'o''k']::text[]");
  });
});
