/**
 * `${VAR}` in any string value is replaced from the environment before validation, so a number or a
 * boolean may come from a variable as well as a password. `$${` is a literal `${`. A value taken from
 * the environment is never echoed in a message.
 */
import { getAt, type KeyPath, type Problem, isPlainMapping, setAt } from './problems';
import type { KeyPattern, ScalarSetting } from './schema';

export interface Substitution {
  value: unknown;
  problems: Problem[];
  /** Paths of strings whose references could not be resolved; no further problem is reported there. */
  unresolved: KeyPath[];
  /** Paths of strings that had at least one `${VAR}` replaced. */
  substituted: KeyPath[];
}

const VAR_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function substituteEnv(root: unknown, env: NodeJS.ProcessEnv): Substitution {
  const result: Substitution = { value: undefined, problems: [], unresolved: [], substituted: [] };

  const substituteString = (text: string, path: KeyPath): string => {
    let out = '';
    let replaced = false;
    let failed = false;
    let i = 0;
    while (i < text.length) {
      if (text.startsWith('$${', i)) {
        out += '${';
        i += 3;
      } else if (text.startsWith('${', i)) {
        const close = text.indexOf('}', i + 2);
        const name = close === -1 ? undefined : text.slice(i + 2, close);
        if (name === undefined || !VAR_NAME_RE.test(name)) {
          result.problems.push({
            path,
            message:
              close === -1
                ? 'unterminated ${ (write $${ for a literal ${)'
                : 'invalid ${...} reference: a variable name is letters, digits and underscores, not starting with a digit (write $${ for a literal ${)',
          });
          failed = true;
          i = close === -1 ? text.length : close + 1;
          continue;
        }
        const value = env[name];
        if (value === undefined) {
          result.problems.push({ path, message: `environment variable ${name} is not set` });
          failed = true;
        } else {
          out += value;
          replaced = true;
        }
        i = close + 1;
      } else {
        out += text[i];
        i += 1;
      }
    }
    if (failed) result.unresolved.push(path);
    else if (replaced) result.substituted.push(path);
    return out;
  };

  const walk = (value: unknown, path: KeyPath): unknown => {
    if (typeof value === 'string') return substituteString(value, path);
    if (Array.isArray(value)) return value.map((item, index) => walk(item, [...path, index]));
    if (isPlainMapping(value)) {
      const copy: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) copy[key] = walk(item, [...path, key]);
      return copy;
    }
    return value;
  };

  result.value = walk(root, []);
  return result;
}

function matches(path: KeyPath, pattern: KeyPattern): boolean {
  return path.length === pattern.length && pattern.every((part, i) => part === path[i] || (part === '*' && typeof path[i] === 'number'));
}

const NUMBER_RE = /^\s*[+-]?\d+(\.\d+)?\s*$/;
const BOOLEAN_RE = /^\s*(true|false)\s*$/i;

/**
 * Where the schema expects a number or a boolean and the whole value came from `${VAR}`, the string
 * the variable gave is converted when it spells one; otherwise it stays a string and validation says
 * what was expected. A string written in the file ("100" in quotes) is left as it is: quoting says
 * the writer meant a string.
 */
export function coerceSubstituted(document: unknown, substituted: readonly KeyPath[], settings: readonly ScalarSetting[]): void {
  for (const path of substituted) {
    const setting = settings.find((s) => matches(path, s.path));
    if (setting === undefined) continue;
    const value = getAt(document, path);
    if (typeof value !== 'string') continue;
    if (setting.kind === 'integer' && NUMBER_RE.test(value)) setAt(document, path, Number(value));
    if (setting.kind === 'boolean' && BOOLEAN_RE.test(value)) setAt(document, path, value.trim().toLowerCase() === 'true');
  }
}
