/** Plain-text tables for stdout. On a terminal they fit TERMINAL_WIDTH; long cells are cut with "…". */

type Cell = string | number | null | undefined;

// Wide enough for the status and verify tables' numbers, narrow enough for a split terminal.
export const TERMINAL_WIDTH = 100;
// A column is never cut below this (or its header's length): "127.0.0.1" still reads.
const MIN_COLUMN = 8;
const GAP = '  ';

export function table(headers: string[], rows: Cell[][], options: { maxWidth?: number } = {}): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c).replace(/\s*\n\s*/g, ' '))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  if (options.maxWidth !== undefined) fitWidths(widths, headers, options.maxWidth);
  const cut = (text: string, width: number): string => (text.length <= width ? text : text.slice(0, Math.max(0, width - 1)) + '…');
  const line = (r: string[]) => r.map((c, i) => cut(c, widths[i]!).padEnd(widths[i]!)).join(GAP).trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** Narrows the widest columns, one character at a time, until the line fits or none can shrink. */
function fitWidths(widths: number[], headers: string[], maxWidth: number): void {
  const floor = headers.map((h) => Math.max(h.length, MIN_COLUMN));
  const total = (): number => widths.reduce((sum, w) => sum + w, 0) + GAP.length * (widths.length - 1);
  while (total() > maxWidth) {
    let widest = -1;
    for (let i = 0; i < widths.length; i++) if (widths[i]! > floor[i]! && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
    if (widest < 0) return;
    widths[widest] = widths[widest]! - 1;
  }
}

/** A table for stdout: fitted to the terminal when stdout is one, full cells when piped (use --json for full text). */
export function outputTable(headers: string[], rows: Cell[][]): string {
  return table(headers, rows, process.stdout.isTTY ? { maxWidth: TERMINAL_WIDTH } : {});
}

export function ago(date: Date | null): string {
  if (!date) return 'never';
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  return date.toISOString();
}
