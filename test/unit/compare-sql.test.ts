/** SQL of `tributary verify` (src/postgres/compare.ts) and the key values read back from PostgreSQL. */
import type { SourceColumn, SourceTable } from '../../src/model';
import {
  chunkChecksumSql,
  chunkDiffSql,
  collectExtrasSql,
  compareTables,
  confirmSql,
  countTargetSql,
  createCompareTablesSql,
  extraPageSql,
  keyFromText,
  keysCopyColumns,
  keyTextSql,
  rememberKeysSql,
  rowsCopyColumns,
} from '../../src/postgres/compare';
import { type TargetColumn, targetTableFor } from '../../src/postgres/schema';
import { encodeCopyValue } from '../../src/convert/typemap';

function column(name: string, columnType: string, ordinal: number, extra: Partial<SourceColumn> = {}): SourceColumn {
  const dataType = /^\w+/.exec(columnType)![0];
  const isString = /char|text|enum|set/.test(dataType);
  const args = (/\(([\d,\s]+)\)/.exec(columnType)?.[1] ?? '').split(',').filter(Boolean).map(Number);
  const isTime = /^(datetime|timestamp|time)$/.test(dataType);
  return {
    name,
    ordinal,
    dataType,
    columnType,
    nullable: true,
    unsigned: false,
    charset: isString ? 'utf8mb4' : null,
    collation: isString ? 'utf8mb4_general_ci' : null,
    charMaxLength: isString && args[0] ? args[0] : null,
    numericPrecision: dataType === 'bit' ? args[0] ?? 1 : null,
    numericScale: null,
    datetimePrecision: isTime ? args[0] ?? 0 : null,
    isJson: false,
    ...extra,
  };
}

function source(name: string, columns: [string, string][], key: string[]): SourceTable {
  return { database: 'shop', name, columns: columns.map(([n, t], i) => column(n, t, i + 1)), key };
}

/** Hostile names, a composite key declared out of column order, a renamed key column. */
const hostile = targetTableFor(
  'an"alytics',
  'odd "table',
  source('odd', [['id', 'int(11)'], ['reg"ion', 'varchar(10)'], ['the value', 'text'], ['_tributary_ord', 'int(11)']], ['reg"ion', 'id']),
  { rename: { id: 'user id' } },
);

/** The SQL with every quoted identifier replaced by "I" and every string literal by 'S'. */
function bare(sql: string): string {
  return sql.replace(/"((?:[^"]|"")*)"|'(?:[^']|'')*'/g, (_whole, ident: string | undefined) => (ident === undefined ? "'S'" : '"I"'));
}

function identifiers(sql: string): string[] {
  return [...sql.matchAll(/"((?:[^"]|"")*)"/g)].map((m) => m[1]!.replace(/""/g, '"'));
}

describe('temp tables', () => {
  const names = compareTables(hostile);

  test('row-number and skip columns never collide with a data column', () => {
    expect(names.ord).toBe('_tributary_ord1');
    expect(names.skip).toBe('_tributary_skip');
    expect(hostile.columns.map((c) => c.name)).toContain('_tributary_ord');
  });

  test('created shaped like the target, per-chunk tables emptied by each commit', () => {
    const sql = createCompareTablesSql(hostile, names);
    expect(sql.slice(0, 4).every((s) => s.startsWith('DROP TABLE IF EXISTS pg_temp.'))).toBe(true);
    const rows = sql.find((s) => s.includes('tributary_verify_rows') && s.startsWith('CREATE'))!;
    expect(rows).toContain('"_tributary_ord1" integer NOT NULL, "_tributary_skip" boolean NOT NULL, "user id" integer, "reg""ion" varchar(10), "the value" text, "_tributary_ord" integer');
    expect(rows).toMatch(/ON COMMIT DELETE ROWS$/);
    const seen = sql.find((s) => s.includes('tributary_verify_seen') && s.startsWith('CREATE'))!;
    expect(seen).toBe('CREATE TEMP TABLE "tributary_verify_seen" ("reg""ion" varchar(10), "user id" integer)');
    expect(rowsCopyColumns(hostile, names)).toEqual(['_tributary_ord1', '_tributary_skip', 'user id', 'reg"ion', 'the value', '_tributary_ord']);
    expect(keysCopyColumns(hostile, names)).toEqual(['_tributary_ord1', 'user id', 'reg"ion', 'the value', '_tributary_ord']);
  });

  test('every statement quotes every identifier; the source is always a parameter', () => {
    const all = [
      chunkChecksumSql(hostile, names),
      chunkDiffSql(hostile, names),
      rememberKeysSql(hostile, names),
      confirmSql(hostile, names),
      collectExtrasSql(hostile, names),
      extraPageSql(hostile, names),
      countTargetSql(hostile),
    ];
    for (const sql of all) {
      // No unquoted name: after removing quoted identifiers and literals only keywords and aliases remain.
      expect(bare(sql)).not.toMatch(/odd|region|value|user|analytics/i);
      expect(identifiers(sql).every((n) => ['an"alytics', 'odd "table', 'user id', 'reg"ion', 'the value', '_tributary_ord', '_source', ...Object.values(names)].includes(n))).toBe(true);
    }
    for (const sql of [chunkChecksumSql, chunkDiffSql, confirmSql, collectExtrasSql].map((f) => f(hostile, names))) {
      expect(sql).toContain('"_source" = $1');
      expect(sql).toContain('"an""alytics"."odd ""table"');
    }
  });

  test('target rows are matched by key equality only, never by key ranges (MySQL and PostgreSQL order strings differently)', () => {
    for (const sql of [chunkChecksumSql, chunkDiffSql, confirmSql, collectExtrasSql].map((f) => f(hostile, names))) {
      expect(bare(sql).replace(/<>/g, '')).not.toMatch(/[<>]|BETWEEN/i);
      expect(sql).toMatch(/t\."reg""ion" = |= t\."reg""ion"/);
      expect(sql).toMatch(/t\."user id" = |= t\."user id"/);
    }
  });

  test('rows kept out by onBadValue are not compared', () => {
    expect(chunkChecksumSql(hostile, names)).toContain('WHERE NOT s."_tributary_skip"');
    expect(chunkDiffSql(hostile, names)).toContain('WHERE NOT s."_tributary_skip"');
    expect(confirmSql(hostile, names)).toContain('NOT s."_tributary_skip"');
    expect(rememberKeysSql(hostile, names)).not.toContain('skip');
  });

  test('rows are compared whole, with IS DISTINCT FROM', () => {
    expect(chunkDiffSql(hostile, names)).toContain(
      'ROW(s."user id", s."reg""ion", s."the value", s."_tributary_ord") IS DISTINCT FROM ROW(t."user id", t."reg""ion", t."the value", t."_tributary_ord")',
    );
  });
});

describe('key values read back from PostgreSQL', () => {
  const col = (columnType: string, extra: Partial<SourceColumn> = {}): TargetColumn => {
    const table = targetTableFor('public', 't', { database: 'd', name: 't', columns: [column('k', columnType, 1, extra)], key: ['k'] });
    return table.columns[0]!;
  };
  /** The COPY field the sync would write for the value decoded from PostgreSQL's text. */
  const copyField = (c: TargetColumn, text: string): string => {
    const result = encodeCopyValue(c.source, keyFromText(c, text));
    if (!result.ok) throw new Error(result.reason);
    return result.text;
  };

  test('plain types are read as text', () => {
    for (const type of ['int(11)', 'bigint(20) unsigned', 'decimal(10,2)', 'varchar(20)', 'year', "enum('a','b')"]) {
      expect(keyTextSql(col(type), '"k"')).toBe('"k"::text');
    }
    expect(keyFromText(col('decimal(10,2)'), '10.50')).toBe('10.50');
    expect(keyFromText(col('varchar(20)'), 'Ab\tc')).toBe('Ab\tc');
    expect(keyFromText(col('int(11)'), null)).toBeNull();
  });

  test('binary and bit keys become bytes again', () => {
    expect(keyTextSql(col('varbinary(8)'), '"k"')).toBe(`encode("k", 'hex')`);
    expect(keyFromText(col('varbinary(8)'), '00ff')).toEqual(Buffer.from([0, 255]));
    expect(copyField(col('varbinary(8)'), '00ff')).toBe('\\\\x00ff');
    expect(keyFromText(col('bit(1)'), '01')).toEqual(Buffer.from([1]));
    expect(copyField(col('bit(1)'), '01')).toBe('t');
    expect(copyField(col('bit(1)'), '00')).toBe('f');
    expect(keyFromText(col('bit(12)'), '101000000001')).toEqual(Buffer.from([0b1010, 0b00000001]));
    expect(copyField(col('bit(12)'), '101000000001')).toBe('101000000001');
  });

  test('date and time keys come back as MySQL prints them', () => {
    expect(keyTextSql(col('datetime(3)'), '"k"')).toBe(`to_char("k", 'YYYY-MM-DD HH24:MI:SS.US')`);
    expect(keyTextSql(col('timestamp(6)'), '"k"')).toBe(`to_char("k" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')`);
    expect(keyFromText(col('datetime(3)'), '2024-02-29 23:59:59.123000')).toBe('2024-02-29 23:59:59.123');
    expect(keyFromText(col('datetime'), '2024-02-29 23:59:59.000000')).toBe('2024-02-29 23:59:59');
    expect(keyFromText(col('timestamp(6)'), '2024-01-01 00:00:00.500000')).toBe('2024-01-01 00:00:00.500000');
    expect(copyField(col('timestamp(2)'), '2024-01-01 00:00:00.500000')).toBe('2024-01-01 00:00:00.50+00');
    expect(keyTextSql(col('date'), '"k"')).toBe(`to_char("k", 'YYYY-MM-DD')`);
    expect(keyFromText(col('date'), '0001-01-01')).toBe('0001-01-01');
    expect(keyTextSql(col('time'), '"k"')).toBe('extract(epoch FROM "k")::text');
    expect(keyFromText(col('time'), '3020399.000000')).toBe('838:59:59');
    expect(keyFromText(col('time'), '-5400.000000')).toBe('-01:30:00');
    expect(keyFromText(col('time(3)'), '61.5')).toBe('00:01:01.500');
    expect(keyFromText(col('time'), '0')).toBe('00:00:00');
  });

  test("PostgreSQL's own type spellings are recognised too", () => {
    const spelled = (pgType: string, columnType: string): TargetColumn => ({ ...col(columnType), pgType });
    expect(keyTextSql(spelled('timestamp(3) with time zone', 'timestamp(3)'), '"k"')).toContain("AT TIME ZONE 'UTC'");
    expect(keyTextSql(spelled('timestamp(3) without time zone', 'datetime(3)'), '"k"')).not.toContain('AT TIME ZONE');
    expect(keyTextSql(spelled('character varying(20)', 'varchar(20)'), '"k"')).toBe('"k"::text');
  });

  test("SET keys: the array's elements joined by commas, as MySQL prints a SET", () => {
    expect(keyTextSql(col("set('a','b')"), '"k"')).toBe(`array_to_string("k", ',')`);
    expect(copyField(col("set('a','b')"), 'a,b')).toBe('{"a","b"}');
  });
});

describe('sources sharing one key space', () => {
  const shared = (options: Parameters<typeof targetTableFor>[3]) =>
    targetTableFor('public', 'items', source('items', [['id', 'int(11)'], ['name', 'varchar(20)'], ['updated_at', 'datetime(3)']], ['id']), { keyIncludesSource: false, ...options });

  test('target rows are found by the key alone, and counted as this source only when it owns them', () => {
    const table = shared({});
    const names = compareTables(table);
    expect(chunkChecksumSql(table, names)).toContain('LEFT JOIN "public"."items" AS t ON t."id" = s."id"');
    expect(chunkChecksumSql(table, names)).toContain('count(*) FILTER (WHERE t."_source" = $1)');
    expect(chunkDiffSql(table, names)).toContain('t."_source" IS DISTINCT FROM $1::text');
    expect(collectExtrasSql(table, names)).toContain('WHERE t."_source" = $1');
  });

  test("another source's row is a difference only when this source would take the key over", () => {
    expect(confirmSql(shared({ conflict: 'error' }), compareTables(shared({})))).toContain('t."_source" <> $1::text AND false');
    const newest = shared({ conflict: 'newest', newestBy: 'updated_at' });
    expect(confirmSql(newest, compareTables(newest))).toContain('t."_source" <> $1::text AND s."updated_at" > t."updated_at"');
    const priority = shared({ conflict: 'priority', priority: ["e'u", 'us'] });
    expect(confirmSql(priority, compareTables(priority))).toContain(
      `COALESCE(array_position(ARRAY['e''u', 'us']::text[], $1::text), 2147483647) < COALESCE(array_position(ARRAY['e''u', 'us']::text[], t."_source"), 2147483647)`,
    );
  });

  test('a type widened for another source is compared after the cast the merge applies', () => {
    const table = shared({});
    const names = compareTables(table, new Map([['id', 'bigint'], ['name', 'character varying(80)'], ['updated_at', 'timestamp(3) without time zone']]));
    expect([...names.casts]).toEqual([['id', 'bigint'], ['name', 'character varying(80)']]);
    expect(chunkDiffSql(table, names)).toContain('ROW(s."id"::bigint, s."name"::character varying(80), s."updated_at")');
    expect(createCompareTablesSql(table, names).find((s) => s.includes('verify_seen') && s.startsWith('CREATE'))).toBe('CREATE TEMP TABLE "tributary_verify_seen" ("id" bigint)');
  });
});
