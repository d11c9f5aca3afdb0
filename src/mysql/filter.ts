/**
 * A table's `where` setting is put into Tributary's own queries (snapshot, changed rows, verify), so it
 * must be exactly one boolean expression: nothing that ends the statement, comments out the rest of it
 * or closes its parentheses. Checked before anything is written: first by reading it (quotes, comments,
 * parentheses), then by MySQL itself on every source, on a statement that reads no row.
 */
import { ConfigError } from '../errors';
import { quoteMysql } from '../ident';
import type { SourceTable } from '../model';
import type { SourceHandle } from './connection';
import { mapMysqlError } from './errors';

/** Why the text cannot be a single expression inside Tributary's queries, or null when it can. */
export function filterSyntaxProblem(expression: string): string | null {
  let depth = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i]!;
    if (c === "'" || c === '"' || c === '`') {
      const end = closingQuote(expression, i);
      if (end === -1) return `it has an unterminated ${c} quote`;
      i = end;
      continue;
    }
    const next = expression[i + 1] ?? '';
    if (c === ';') return 'it contains ";" (only one expression is allowed, no further statements)';
    if (c === '#' || (c === '/' && next === '*') || (c === '-' && next === '-' && (i + 2 >= expression.length || /\s/.test(expression[i + 2]!)))) {
      return 'it contains a comment, which could hide the rest of the query';
    }
    if (c === '(') depth++;
    if (c === ')' && --depth < 0) return 'it closes a parenthesis it did not open';
  }
  return depth === 0 ? null : 'it leaves a parenthesis open';
}

/** Index of the quote closing the one at `start`: doubled quotes and backslash escapes stay inside. */
function closingQuote(text: string, start: number): number {
  const quote = text[start]!;
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && quote !== '`') {
      i++;
      continue;
    }
    if (c !== quote) continue;
    if (text[i + 1] === quote) {
      i++;
      continue;
    }
    return i;
  }
  return -1;
}

/**
 * Checks a table's `where` on one source: readable as one expression, then accepted by MySQL in a
 * statement that reads no row (LIMIT 0; the pool never allows several statements in one query).
 * A refusal is a configuration error naming the table, the source and MySQL's message.
 */
export async function checkFilter(handle: SourceHandle, table: SourceTable): Promise<void> {
  const expression = table.filter;
  if (expression === undefined) return;
  const context = `table ${table.name}, source ${handle.id}: where ${JSON.stringify(expression)}`;
  const problem = filterSyntaxProblem(expression);
  if (problem !== null) throw new ConfigError(`${context} is not a single condition: ${problem}; write one MySQL boolean expression over the table's columns`);
  try {
    await handle.pool.query(`SELECT 1 FROM ${quoteMysql(table.name)} WHERE (${expression}) LIMIT 0`);
  } catch (error) {
    const mapped = mapMysqlError(error, { where: handle.where, doing: `checking the where setting of ${table.name}` });
    if (mapped.code !== 'SOURCE_QUERY_FAILED' || mapped.transient) throw mapped;
    const message = (error as { sqlMessage?: string }).sqlMessage ?? mapped.message;
    throw new ConfigError(`${context} is refused by MySQL: ${message}; correct the table's where setting (nothing was written)`, { cause: error });
  }
}
