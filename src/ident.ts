/**
 * The one place identifiers are quoted. Every table, column, trigger and schema name that reaches SQL
 * goes through these, so hostile names (quotes, backticks, spaces) cannot change a statement.
 */
import { createHash } from 'node:crypto';

export function quoteMysql(name: string): string {
  assertUsableName(name);
  return '`' + name.replace(/`/g, '``') + '`';
}

export function quotePg(name: string): string {
  assertUsableName(name);
  return '"' + name.replace(/"/g, '""') + '"';
}

/** schema.table for PostgreSQL. */
export function qualifiedPg(schema: string, table: string): string {
  return `${quotePg(schema)}.${quotePg(table)}`;
}

function assertUsableName(name: string): void {
  if (name.length === 0) throw new Error('empty identifier');
  if (name.includes('\u0000')) throw new Error('identifier contains a NUL character');
}

/**
 * A name of at most maxLength characters built from a prefix and a user-chosen part. When it would be
 * too long, the user part is cut and a short hash of the whole added, so two long names stay distinct.
 * MySQL names are limited to 64 characters, PostgreSQL's to 63 bytes.
 */
export function boundedName(prefix: string, part: string, suffix = '', maxLength = 64): string {
  const whole = prefix + part + suffix;
  if (Buffer.byteLength(whole, 'utf8') <= maxLength) return whole;
  const hash = createHash('sha1').update(whole).digest('hex').slice(0, 8);
  let cut = part;
  while (Buffer.byteLength(prefix + cut + '_' + hash + suffix, 'utf8') > maxLength) cut = cut.slice(0, -1);
  return prefix + cut + '_' + hash + suffix;
}

/** SQL string literal for MySQL (used only in DDL printed for DBAs, e.g. table comments). */
export function mysqlStringLiteral(value: string): string {
  return "'" + value.replace(/\\/g, '\\\\').replace(/'/g, "''") + "'";
}

/** SQL string literal for PostgreSQL (standard_conforming_strings on, its default since 9.1). */
export function pgStringLiteral(value: string): string {
  if (value.includes('\u0000')) throw new Error('string contains a NUL character');
  return "'" + value.replace(/'/g, "''") + "'";
}
