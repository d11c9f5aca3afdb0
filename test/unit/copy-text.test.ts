import { CopyText } from '../../src/postgres/stage';

const joined = (pieces: Buffer[]): string => Buffer.concat(pieces).toString('utf8');

describe('CopyText', () => {
  test('gives back exactly the UTF-8 bytes of the lines added, in order, across pieces', () => {
    const text = new CopyText();
    const lines: string[] = [];
    const pieces: Buffer[] = [];
    // Multi-byte characters (2, 3 and 4 bytes) and enough lines to fill several pieces.
    for (let i = 0; i < 40_000; i++) {
      const line = `s1\t${i}\tcafé ☕ 𝄞 ${'x'.repeat(i % 50)}\n`;
      lines.push(line);
      text.add(line);
      if (i % 1000 === 0) pieces.push(...text.take(false));
    }
    pieces.push(...text.take(true));
    expect(pieces.length).toBeGreaterThan(3);
    expect(joined(pieces)).toBe(lines.join(''));
    // Every piece ends at a line end: COPY may get them as separate writes.
    for (const piece of pieces) expect(piece[piece.length - 1]).toBe(10);
  });

  test('a line longer than a piece gets a piece of its own', () => {
    const text = new CopyText();
    const long = 'y'.repeat(1_000_000) + '\n';
    text.add('a\n');
    text.add(long);
    text.add('b\n');
    const pieces = text.take(true);
    expect(joined(pieces)).toBe('a\n' + long + 'b\n');
  });

  test('take(false) keeps the piece being filled; nothing is given twice', () => {
    const text = new CopyText();
    text.add('one\n');
    expect(text.take(false)).toEqual([]);
    expect(joined(text.take(true))).toBe('one\n');
    expect(text.take(true)).toEqual([]);
  });
});
