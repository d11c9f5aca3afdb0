/**
 * Configuration problems: where (a key path into the document) and what. They are all collected, then
 * reported at once, one line each and in the order of the file, so a user can fix a file in one go.
 */
import { ConfigError } from '../errors';

export type KeyPath = readonly PropertyKey[];

export interface Problem {
  /** Where, as a path into the document; or a ready-made label such as "line 3, column 5". */
  path: KeyPath | string;
  message: string;
}

export function renderPath(path: KeyPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const key = String(part);
      out += /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? (out === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
    }
  }
  return out === '' ? '(root)' : out;
}

export function startsWith(path: KeyPath, prefix: KeyPath): boolean {
  return prefix.length <= path.length && prefix.every((part, i) => part === path[i]);
}

export function isPlainMapping(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

export function getAt(root: unknown, path: KeyPath): unknown {
  let current = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

export function setAt(root: unknown, path: KeyPath, value: unknown): void {
  const parent = getAt(root, path.slice(0, -1));
  if (parent !== null && typeof parent === 'object') (parent as Record<PropertyKey, unknown>)[path[path.length - 1] as PropertyKey] = value;
}

/** The ConfigError listing every problem; where names the file (or is undefined for an object). */
export function configError(problems: readonly Problem[], where: string | undefined, document?: unknown): ConfigError {
  const tables = isPlainMapping(document) ? document.tables : undefined;
  const lines = inDocumentOrder(problems, document).map((problem) => {
    const at = typeof problem.path === 'string' ? problem.path : renderPath(tablePathForDisplay(problem.path, tables));
    return `${at}: ${problem.message.replace(/\s*\n\s*/g, ' ')}`;
  });
  return new ConfigError(`invalid configuration${where === undefined ? '' : ` in ${where}`}:\n${lines.join('\n')}`);
}

/** Problems sorted the way their keys appear in the file (keys absent from the file after those present). */
function inDocumentOrder(problems: readonly Problem[], document: unknown): Problem[] {
  if (document === undefined) return [...problems];
  const rank = (parent: unknown, part: PropertyKey): number => {
    if (typeof part === 'number') return part;
    const index = isPlainMapping(parent) ? Object.keys(parent).indexOf(String(part)) : -1;
    return index === -1 ? Number.MAX_SAFE_INTEGER : index;
  };
  const compare = (a: KeyPath, b: KeyPath): number => {
    let parent: unknown = document;
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const difference = rank(parent, a[i] as PropertyKey) - rank(parent, b[i] as PropertyKey);
      if (difference !== 0) return difference;
      parent = getAt(parent, [a[i] as PropertyKey]);
    }
    return a.length - b.length;
  };
  // Array.prototype.sort is stable: problems at the same key keep the order they were found in.
  return [...problems].sort((a, b) => (typeof a.path === 'string' || typeof b.path === 'string' ? 0 : compare(a.path, b.path)));
}

/** A table given as a plain string is reported at tables[i], not at the tables[i].name it was read as. */
function tablePathForDisplay(path: KeyPath, tables: unknown): KeyPath {
  if (path.length === 3 && path[0] === 'tables' && path[2] === 'name' && typeof path[1] === 'number' && Array.isArray(tables) && typeof tables[path[1]] === 'string') {
    return path.slice(0, 2);
  }
  return path;
}
