import { boundedName, mysqlStringLiteral, qualifiedPg, quoteMysql, quotePg } from '../../src/ident';

const HOSTILE = ['a`b; DROP TABLE x', 'say "hi"', 'with space', 'semi;colon', "it's", 'ünïcødé_表', '`', '"', '``""'];

/** Reads one quoted identifier starting at text[0]; returns its name and what follows it. */
function readQuoted(text: string, quote: string): { name: string; rest: string } {
  expect(text[0]).toBe(quote);
  let name = '';
  let i = 1;
  for (;;) {
    if (i >= text.length) throw new Error(`unterminated identifier in ${text}`);
    if (text[i] === quote) {
      if (text[i + 1] === quote) {
        name += quote;
        i += 2;
        continue;
      }
      return { name, rest: text.slice(i + 1) };
    }
    name += text[i];
    i++;
  }
}

describe('quoteMysql', () => {
  test.each(HOSTILE)('keeps %j as exactly one backtick-quoted identifier', (name) => {
    expect(readQuoted(quoteMysql(name), '`')).toEqual({ name, rest: '' });
  });

  test('doubles backticks and leaves double quotes alone', () => {
    expect(quoteMysql('a`b"c')).toBe('`a``b"c`');
  });

  test('rejects an empty name and a name with a NUL character', () => {
    expect(() => quoteMysql('')).toThrow();
    expect(() => quoteMysql('a\u0000b')).toThrow();
  });
});

describe('quotePg', () => {
  test.each(HOSTILE)('keeps %j as exactly one double-quoted identifier', (name) => {
    expect(readQuoted(quotePg(name), '"')).toEqual({ name, rest: '' });
  });

  test('doubles double quotes and leaves backticks alone', () => {
    expect(quotePg('a"b`c')).toBe('"a""b`c"');
  });

  test('rejects an empty name and a name with a NUL character', () => {
    expect(() => quotePg('')).toThrow();
    expect(() => quotePg('a\u0000b')).toThrow();
  });

  test('qualifiedPg quotes schema and table separately', () => {
    const first = readQuoted(qualifiedPg('my."schema', 'ta"ble'), '"');
    expect(first.name).toBe('my."schema');
    expect(first.rest[0]).toBe('.');
    expect(readQuoted(first.rest.slice(1), '"')).toEqual({ name: 'ta"ble', rest: '' });
  });
});

describe('boundedName', () => {
  test('leaves a name that fits untouched', () => {
    expect(boundedName('tributary_log_', 'orders')).toBe('tributary_log_orders');
    expect(boundedName('tributary_', 'orders', '_ins')).toBe('tributary_orders_ins');
  });

  test('a name of exactly the limit is not cut', () => {
    const part = 'x'.repeat(64 - 'p_'.length);
    expect(boundedName('p_', part)).toBe('p_' + part);
  });

  test('cuts a long name to the limit, keeping prefix and suffix', () => {
    const name = boundedName('tributary_', 'o'.repeat(64), '_upd');
    expect(name.length).toBeLessThanOrEqual(64);
    expect(name.startsWith('tributary_ooo')).toBe(true);
    expect(name.endsWith('_upd')).toBe(true);
  });

  test('two long names sharing a long prefix stay distinct', () => {
    const a = boundedName('tributary_log_', 'p'.repeat(60) + 'a');
    const b = boundedName('tributary_log_', 'p'.repeat(60) + 'b');
    expect(a).not.toBe(b);
    expect(a.length).toBeLessThanOrEqual(64);
    expect(b.length).toBeLessThanOrEqual(64);
  });

  test('is deterministic', () => {
    const part = 'q'.repeat(100);
    expect(boundedName('tributary_', part, '_del')).toBe(boundedName('tributary_', part, '_del'));
  });

  test('counts bytes, so multi-byte names are bounded in bytes too', () => {
    const name = boundedName('tributary_log_', 'é'.repeat(40));
    expect(Buffer.byteLength(name, 'utf8')).toBeLessThanOrEqual(64);
    expect(name).not.toContain('\uFFFD');
  });

  test('honours a smaller limit such as PostgreSQL\'s 63 bytes', () => {
    expect(Buffer.byteLength(boundedName('stage_', 'z'.repeat(80), '', 63), 'utf8')).toBeLessThanOrEqual(63);
  });
});

describe('mysqlStringLiteral', () => {
  test('escapes quotes and backslashes so the literal cannot be closed early', () => {
    expect(mysqlStringLiteral("it's a \\ test")).toBe("'it''s a \\\\ test'");
  });
});
