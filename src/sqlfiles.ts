/** Fixed SQL of the MySQL side lives in .sql files under sql/mysql; this reads them once and caches them. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// src/ and dist/ both sit one level below the project root, next to sql/.
export const SQL_ROOT = resolve(__dirname, '..', 'sql');

const cache = new Map<string, string>();

export function sqlFile(relativePath: string): string {
  let text = cache.get(relativePath);
  if (text === undefined) {
    text = readFileSync(join(SQL_ROOT, relativePath), 'utf8').trim().replace(/;\s*$/, '');
    cache.set(relativePath, text);
  }
  return text;
}
