import { table, TERMINAL_WIDTH } from '../../src/cli/format';

const LONG = 'created tributary_log_orders tributary_orders_ins tributary_orders_upd tributary_orders_del '.repeat(4);

test('without a width, cells are printed whole (piped output, for scripts)', () => {
  const text = table(['source', 'table', 'note'], [['eu', 'orders', LONG]]);
  expect(text).toContain(LONG.trimEnd());
});

test('with a terminal width, every line fits and a long cell is cut with an ellipsis', () => {
  const rows = [
    ['eu', 'orders', 12345, LONG],
    ['us', 'customers_with_a_rather_long_name', 7, 'short'],
  ];
  const text = table(['source', 'table', 'rows', 'note'], rows, { maxWidth: TERMINAL_WIDTH });
  for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(TERMINAL_WIDTH);
  expect(text).toContain('…');
  expect(text).toMatch(/^us\s+customers_with_a_rather_long_name\s+7\s+short$/m);
  expect(text).toMatch(/^eu\s+orders\s+12345\s+created tributary_log_orders/m);
});

test('a table that already fits is unchanged by the width', () => {
  const rows = [['eu', 'orders', 1]];
  expect(table(['source', 'table', 'n'], rows, { maxWidth: TERMINAL_WIDTH })).toBe(table(['source', 'table', 'n'], rows));
});

test('columns never shrink below their header (nor 8 characters), even when the line cannot fit', () => {
  const headers = Array.from({ length: 20 }, (_, i) => `column_${i}`);
  const text = table(headers, [headers.map(() => 'x'.repeat(30))], { maxWidth: 40 });
  expect(text.split('\n')[0]).toBe(headers.map((h) => h.padEnd(8)).join('  '));
  expect(text.split('\n')[2]).toContain('xxxxxxx…');
});
