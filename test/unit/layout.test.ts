/**
 * The layout's lines, read from the code: every import (import, export-from, require, import()) of
 * every file under src/, and every call of process.exit / process.on.
 *
 * - src/mysql and src/postgres never import each other, nor the core (src/pipeline), the CLI or the
 *   library entry (src/index.ts).
 * - src/convert (knows both sides' types) never imports the core or the CLI.
 * - Only src/cli imports src/cli.
 * - Only src/cli, which owns the process, exits it or listens to its signals.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(__dirname, '..', '..');
const SRC = join(ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Project-relative path ('src/mysql/changes.ts') of a relative import, or null for a package. */
function resolveImport(from: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  const base = resolve(dirname(from), specifier);
  for (const candidate of [base + '.ts', join(base, 'index.ts'), base]) {
    try {
      readFileSync(candidate);
      return relative(ROOT, candidate).split('\\').join('/');
    } catch {
      // try the next form
    }
  }
  return relative(ROOT, base).split('\\').join('/');
}

interface FileFacts {
  path: string;
  imports: string[];
  /** 'process.exit' / 'process.on' calls, as "line: text". */
  processCalls: string[];
}

/** The module named by an import, export-from, import = require(), require(), import() or import('x').T. */
function moduleSpecifier(node: ts.Node): string | null {
  if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) return node.moduleSpecifier.text;
  if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
    return node.moduleReference.expression.text;
  }
  if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteralLike(node.arguments[0]!)) {
    const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
    if (isRequire || node.expression.kind === ts.SyntaxKind.ImportKeyword) return (node.arguments[0] as ts.StringLiteralLike).text;
  }
  if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) return node.argument.literal.text;
  return null;
}

/** "line: text" of a call of process.exit or process.on. */
function processCall(node: ts.Node, source: ts.SourceFile): string | null {
  if (!ts.isCallExpression(node) || !ts.isPropertyAccessExpression(node.expression)) return null;
  const callee = node.expression;
  if (!ts.isIdentifier(callee.expression) || callee.expression.text !== 'process' || !['exit', 'on'].includes(callee.name.text)) return null;
  return `${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${node.getText().split('\n')[0]}`;
}

function readFacts(file: string): FileFacts {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const imports: string[] = [];
  const processCalls: string[] = [];
  const visit = (node: ts.Node): void => {
    const specifier = moduleSpecifier(node);
    const resolved = specifier === null ? null : resolveImport(file, specifier);
    if (resolved !== null) imports.push(resolved);
    const call = processCall(node, source);
    if (call !== null) processCalls.push(call);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { path: relative(ROOT, file).split('\\').join('/'), imports, processCalls };
}

const files = sourceFiles(SRC).map(readFacts);
const under = (dir: string) => (path: string) => path.startsWith(dir + '/');
const isIndex = (path: string) => path === 'src/index.ts';

/** "file -> import" for every import of files matching `from` that matches `forbidden`. */
function crossings(from: (path: string) => boolean, forbidden: (path: string) => boolean): string[] {
  return files.filter((f) => from(f.path)).flatMap((f) => f.imports.filter(forbidden).map((target) => `${f.path} -> ${target}`));
}

describe('layout', () => {
  test('the reader sees every source file (guards the checks below against reading nothing)', () => {
    const paths = files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['src/mysql/changes.ts', 'src/postgres/state.ts', 'src/pipeline/unit.ts', 'src/cli/main.ts']));
    // The MySQL side imports its own connection module: imports are resolved.
    expect(files.find((f) => f.path === 'src/mysql/changes.ts')!.imports).toContain('src/mysql/connection.ts');
  });

  test('src/mysql imports neither src/postgres nor the core, the CLI or the library entry', () => {
    expect(crossings(under('src/mysql'), (p) => under('src/postgres')(p) || under('src/pipeline')(p) || under('src/cli')(p) || isIndex(p))).toEqual([]);
  });

  test('src/postgres imports neither src/mysql nor the core, the CLI or the library entry', () => {
    expect(crossings(under('src/postgres'), (p) => under('src/mysql')(p) || under('src/pipeline')(p) || under('src/cli')(p) || isIndex(p))).toEqual([]);
  });

  test('src/convert imports neither the core nor the CLI', () => {
    expect(crossings(under('src/convert'), (p) => under('src/pipeline')(p) || under('src/cli')(p))).toEqual([]);
  });

  test('only src/cli imports src/cli', () => {
    expect(crossings((p) => !under('src/cli')(p), under('src/cli'))).toEqual([]);
  });

  test('only src/cli exits the process or listens to its signals', () => {
    expect(files.filter((f) => !under('src/cli')(f.path)).flatMap((f) => f.processCalls.map((call) => `${f.path}:${call}`))).toEqual([]);
  });

  test('the process check finds calls where they are (guards it against finding nothing)', () => {
    expect(files.find((f) => f.path === 'src/cli/main.ts')!.processCalls.length).toBeGreaterThan(0);
  });
});
