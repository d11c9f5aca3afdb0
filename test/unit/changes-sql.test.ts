import type { SourceColumn, SourceTable } from '../../src/model';
import { GAP_READ_CHUNK, gapMatchSql, idRuns, keyAfterSql, keyMatchSql, pruneSteps, snapshotQuery } from '../../src/mysql/changes';

function column(name: string, ordinal: number): SourceColumn {
  return {
    name,
    ordinal,
    dataType: 'int',
    columnType: 'int(11)',
    nullable: false,
    unsigned: false,
    charset: null,
    collation: null,
    charMaxLength: null,
    numericPrecision: 10,
    numericScale: 0,
    datetimePrecision: null,
    isJson: false,
  };
}

const placeholders = (sql: string): number => (sql.match(/\?/g) ?? []).length;

describe('keyMatchSql', () => {
  test('a one-column key is one IN list with all values as a single array parameter', () => {
    const { sql, params } = keyMatchSql(['id'], [['1'], ['2'], ['3']]);
    expect(sql).toBe('`id` IN (?)');
    expect(params).toEqual([['1', '2', '3']]);
  });

  test('a two-column key is one AND group per key, parameters key by key in column order', () => {
    const { sql, params } = keyMatchSql(['a', 'b'], [['a1', 'b1'], ['a2', 'b2']]);
    expect(sql).toBe('(`a` = ? AND `b` = ?) OR (`a` = ? AND `b` = ?)');
    expect(params).toEqual(['a1', 'b1', 'a2', 'b2']);
  });

  test('a three-column key binds every part of every key in order', () => {
    const keys = [['1', 'x', '10'], ['2', 'y', '20'], ['3', 'z', '30']];
    const { sql, params } = keyMatchSql(['a', 'b', 'c'], keys);
    expect(sql.split(' OR ')).toEqual(Array(3).fill('(`a` = ? AND `b` = ? AND `c` = ?)'));
    expect(params).toEqual(['1', 'x', '10', '2', 'y', '20', '3', 'z', '30']);
    expect(placeholders(sql)).toBe(params.length);
  });

  test('key values, binary ones included, are bound as parameters, never inlined', () => {
    const key = Buffer.from([0x27, 0x60, 0x00]);
    const { sql, params } = keyMatchSql(['a', 'b'], [[key, "o'brien"]]);
    expect(sql).not.toContain("o'brien");
    expect(params).toEqual([key, "o'brien"]);
  });

  test('hostile key column names are quoted', () => {
    expect(keyMatchSql(['x`; DROP TABLE t; --'], [['1']]).sql).toBe('`x``; DROP TABLE t; --` IN (?)');
  });
});

describe('keyAfterSql', () => {
  test('one column: key > after', () => {
    expect(keyAfterSql(['id'], ['5'])).toEqual({ sql: '(`id` > ?)', params: ['5'] });
  });

  test('two columns: (a > ?) OR (a = ? AND b > ?) with parameters a, a, b', () => {
    expect(keyAfterSql(['a', 'b'], ['A', 'B'])).toEqual({ sql: '(`a` > ?) OR (`a` = ? AND `b` > ?)', params: ['A', 'A', 'B'] });
  });

  test('three columns: parameters a, a, b, a, b, c', () => {
    const { sql, params } = keyAfterSql(['a', 'b', 'c'], ['A', 'B', 'C']);
    expect(sql).toBe('(`a` > ?) OR (`a` = ? AND `b` > ?) OR (`a` = ? AND `b` = ? AND `c` > ?)');
    expect(params).toEqual(['A', 'A', 'B', 'A', 'B', 'C']);
    expect(placeholders(sql)).toBe(params.length);
  });

  test('the condition selects exactly the keys after the given one in key order', () => {
    // Evaluate the generated condition on every key of a 3x3x3 grid and compare with lexicographic order.
    const { sql, params } = keyAfterSql(['a', 'b', 'c'], [1, 1, 1] as never);
    const after = (row: number[]): boolean => {
      let i = 0;
      const js = sql
        .replace(/`(\w)` ([=>]) \?/g, (_m, name: string, op: string) => `row[${'abc'.indexOf(name)}] ${op === '=' ? '===' : '>'} ${params[i++]}`)
        .replace(/ AND /g, ' && ')
        .replace(/ OR /g, ' || ');
      return new Function('row', `return ${js};`)(row) as boolean;
    };
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        for (let c = 0; c < 3; c++) {
          const expected = a > 1 || (a === 1 && (b > 1 || (b === 1 && c > 1)));
          expect([a, b, c, after([a, b, c])]).toEqual([a, b, c, expected]);
        }
      }
    }
  });
});

describe('snapshotQuery', () => {
  const t: SourceTable = { database: 'shop', name: 'line items', columns: [column('v', 1), column('order', 2), column('line', 3)], key: ['order', 'line'] };

  test('the first chunk has no condition and only the limit as parameter', () => {
    expect(snapshotQuery(t, null, 500)).toEqual({
      sql: 'SELECT `v`, `order`, `line` FROM `line items` ORDER BY `order`, `line` LIMIT ?',
      params: [500],
    });
  });

  test('later chunks continue after the key, with key parameters before the limit', () => {
    const { sql, params } = snapshotQuery(t, ['7', '3'], 500);
    expect(sql).toBe('SELECT `v`, `order`, `line` FROM `line items` WHERE ((`order` > ?) OR (`order` = ? AND `line` > ?)) ORDER BY `order`, `line` LIMIT ?');
    expect(params).toEqual(['7', '7', '3', 500]);
  });

  test('a table filter applies to every chunk, in parentheses so its ORs cannot escape', () => {
    const { sql, params } = snapshotQuery({ ...t, filter: "kind = 'a' OR kind = 'b'" }, ['7', '3'], 500);
    expect(sql).toBe("SELECT `v`, `order`, `line` FROM `line items` WHERE (kind = 'a' OR kind = 'b') AND ((`order` > ?) OR (`order` = ? AND `line` > ?)) ORDER BY `order`, `line` LIMIT ?");
    expect(params).toEqual(['7', '7', '3', 500]);
  });

  test('orders by key in key order, not column order', () => {
    const reversed = { ...t, key: ['line', 'order'] };
    expect(snapshotQuery(reversed, null, 1).sql).toContain('ORDER BY `line`, `order` LIMIT ?');
  });
});

describe('gapMatchSql', () => {
  test('single ids go in one IN list, spans one BETWEEN each', () => {
    const { sql, params } = gapMatchSql([
      { first: 3, last: 3 },
      { first: 5, last: 9 },
      { first: 12, last: 12 },
    ]);
    expect(sql).toBe('(`change_id` IN (?) OR `change_id` BETWEEN ? AND ?)');
    expect(params).toEqual([[3, 12], 5, 9]);
  });

  test('no ranges match nothing', () => {
    expect(gapMatchSql([]).sql).toBe('FALSE');
  });

  test('a full chunk of spans stays far below max_allowed_packet whatever ids it covers', () => {
    const ranges = Array.from({ length: GAP_READ_CHUNK }, (_, i) => ({ first: 9_000_000_000 + i * 10, last: 9_000_000_000 + i * 10 + 5 }));
    const { sql, params } = gapMatchSql(ranges);
    expect(placeholders(sql)).toBe(params.length);
    const bytes = sql.length + params.reduce<number>((n, p) => n + String(p).length + 2, 0);
    expect(bytes).toBeLessThan(1024 * 1024);
  });
});

describe('pruneSteps', () => {
  const range = (first: number, last: number): number[] => Array.from({ length: last - first + 1 }, (_, i) => first + i);
  const covered = (steps: ReturnType<typeof pruneSteps>): number[] => steps.flatMap((s) => ('range' in s ? range(s.range[0], s.range[1]) : s.ids));

  test('runs of consecutive ids', () => {
    expect(idRuns([1, 2, 3, 5, 7, 8])).toEqual([[1, 3], [5, 5], [7, 8]]);
    expect(idRuns([])).toEqual([]);
  });

  test('a long run is a range ending one below its last id, which goes by id after it', () => {
    const ids = range(101, 300);
    const steps = pruneSteps(ids, true);
    expect(steps).toEqual([{ range: [101, 299] }, { ids: [300] }]);
    expect(covered(steps)).toEqual(ids);
  });

  test('every range ends below an id of its own run, so no range reads past the ids being pruned', () => {
    // Two long runs around a gap (id 20,001 held by an open writer), short runs, ranges split at 10,000.
    const ids = [...range(1, 20_000), ...range(20_002, 20_010), ...range(20_012, 45_000)];
    const steps = pruneSteps(ids, true);
    expect(covered(steps)).toEqual(ids);
    for (const step of steps) if ('range' in step) expect(ids).toContain(step.range[1] + 1);
    // Lowest first, as the sentinel rule needs.
    const lows = steps.map((s) => ('range' in s ? s.range[0] : s.ids[0]!));
    expect([...lows].sort((a, b) => a - b)).toEqual(lows);
    expect(steps.filter((s) => 'range' in s).length).toBeGreaterThanOrEqual(4);
  });

  test('without ranges, every id goes by id in bounded statements', () => {
    const ids = range(1, 2500);
    const steps = pruneSteps(ids, false);
    expect(steps.every((s) => 'ids' in s && s.ids.length <= 1000)).toBe(true);
    expect(covered(steps)).toEqual(ids);
  });
});
