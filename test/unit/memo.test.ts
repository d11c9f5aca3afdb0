import { boundedMemo } from '../../src/memo';

test('a value is made once per key, and made again after the store was dropped at its bound', () => {
  const made: string[] = [];
  const upper = boundedMemo(2, (s: string) => s, (s: string) => {
    made.push(s);
    return s.toUpperCase();
  });
  expect([upper('a'), upper('a'), upper('b'), upper('a')]).toEqual(['A', 'A', 'B', 'A']);
  expect(made).toEqual(['a', 'b']);
  // A third key drops the store: a later 'a' is made again, with the same result.
  expect(upper('c')).toBe('C');
  expect(upper('a')).toBe('A');
  expect(made).toEqual(['a', 'b', 'c', 'a']);
});
