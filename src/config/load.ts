/**
 * From a file (or an object) to the TributaryConfig the tool runs on: find the file, parse the YAML,
 * replace `${VAR}`s, validate against the schema, read passwordFile and ssl files, freeze.
 *
 * Every problem is reported at once, one line each ("key.path: what is wrong"). No message contains a
 * password: URLs are shown with the password replaced by ***, values from the environment and from
 * files are never echoed.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import * as nodePath from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError, TributaryError, redactSecrets } from '../errors';
import { crossChecks } from './checks';
import { coerceSubstituted, substituteEnv } from './env';
import { configError, isPlainMapping, type KeyPath, type Problem, startsWith } from './problems';
import { configSchema, describeValue, errorMap, scalarSettings } from './schema';
import type { Settings, SslSettings, TributaryConfig } from './types';
import type { DatabaseEndpoint, TlsSettings } from './url';

const DEFAULT_CONFIG_FILE = 'config/tributary.yml';

/** --config, else env TRIBUTARY_CONFIG, else config/tributary.yml; relative paths are taken from cwd. */
export function resolveConfigPath(cliPath: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string {
  const chosen = nonEmpty(cliPath) ?? nonEmpty(env.TRIBUTARY_CONFIG) ?? DEFAULT_CONFIG_FILE;
  return nodePath.resolve(cwd, chosen);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Reads the YAML file at path and validates it. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): TributaryConfig {
  const absolute = nodePath.resolve(path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new TributaryError('CONFIG_NOT_FOUND', `configuration file not found: ${absolute} (set --config or TRIBUTARY_CONFIG)`, { cause: error });
    }
    if (code === 'EISDIR') {
      throw new ConfigError(`configuration path is a directory, not a file: ${absolute} (set --config or TRIBUTARY_CONFIG)`, { cause: error });
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`cannot read configuration file ${absolute}: ${reason}`, { cause: error });
  }
  return parseConfig(text, { env, configPath: absolute });
}

export interface ParseConfigOptions {
  /** Where `${VAR}` values come from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /**
   * The file the configuration was read from: named in messages, and relative paths (passwordFile,
   * ssl files, metrics.textfile) are taken from its folder. Without it, from the current directory.
   */
  configPath?: string;
  /** Without configPath: the folder relative paths are taken from; default the current directory. */
  baseDir?: string;
}

/**
 * Validates a configuration: an object shaped like the YAML file (for library users), or YAML text.
 * Throws a ConfigError listing every problem. The form (yamlText, env, configPath) is kept for callers
 * written before the options object.
 */
export function parseConfig(input: unknown, options?: ParseConfigOptions): TributaryConfig;
export function parseConfig(yamlText: string, env: NodeJS.ProcessEnv, configPath: string): TributaryConfig;
export function parseConfig(input: unknown, optionsOrEnv: ParseConfigOptions | NodeJS.ProcessEnv = {}, legacyPath?: string): TributaryConfig {
  const options: ParseConfigOptions = legacyPath === undefined ? (optionsOrEnv as ParseConfigOptions) : { env: optionsOrEnv as NodeJS.ProcessEnv, configPath: legacyPath };
  const configPath = options.configPath === undefined ? undefined : nodePath.resolve(options.configPath);
  const env = options.env ?? process.env;
  const document = typeof input === 'string' ? parseYaml(input, configPath) : input;
  if (document === null || document === undefined) throw configError([{ path: '(file)', message: 'the configuration file is empty (it holds no settings)' }], configPath);
  if (!isPlainMapping(document)) {
    throw configError([{ path: '(root)', message: `expected a mapping of settings (target, sources, tables, ...), got ${describeValue(document)}` }], configPath);
  }
  const settings = validate(document, env, configPath);
  const baseDir = configPath === undefined ? nodePath.resolve(options.baseDir ?? '.') : nodePath.dirname(configPath);
  return deepFreeze(withFiles(settings, configPath, baseDir));
}

function parseYaml(yamlText: string, configPath: string | undefined): unknown {
  const text = yamlText.replace(/^\uFEFF/, '');
  if (text.trim() === '') throw configError([{ path: '(file)', message: 'the configuration file is empty' }], configPath);
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) {
    throw configError(
      document.errors.map((error) => {
        const position = error.linePos?.[0];
        const firstLine = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?\s*$/, '');
        const hint = /alias/i.test(firstLine) ? ' (a value that starts with *, such as a cron expression, must be quoted)' : '';
        return {
          path: position ? `line ${position.line}, column ${position.col}` : '(yaml)',
          message: `YAML syntax error: ${redactSecrets(firstLine)}${hint}`,
        };
      }),
      configPath,
    );
  }
  try {
    return document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw configError([{ path: '(yaml)', message: `YAML error: ${redactSecrets(error instanceof Error ? error.message : String(error))}` }], configPath);
  }
}

/** A key that looks like it holds a password: it is refused without naming it in a key path. */
const PASSWORD_KEY_RE = /^(password|passwd|pwd)$/i;

/** ${VAR}s replaced, numbers and booleans from variables converted, then the schema and cross-entry checks. */
function validate(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, configPath: string | undefined): Settings {
  const substitution = substituteEnv(raw, env);
  const data = substitution.value as Record<string, unknown>; // a mapping, as raw is
  const isUnresolved = (path: KeyPath): boolean => substitution.unresolved.some((bad) => startsWith(path, bad));
  const isSubstituted = (path: KeyPath): boolean => substitution.substituted.some((p) => p.length === path.length && startsWith(p, path));
  coerceSubstituted(data, substitution.substituted, scalarSettings());

  const problems: Problem[] = [...substitution.problems];
  const parsed = configSchema.safeParse(data, { error: errorMap });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (isUnresolved(issue.path)) continue;
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          problems.push(
            PASSWORD_KEY_RE.test(key)
              ? { path: issue.path, message: `unknown key ${JSON.stringify(key)} (put the password in the url, or in a file named by passwordFile; ${issue.message})` }
              : { path: [...issue.path, key], message: `unknown key ${JSON.stringify(key)} (${issue.message})` },
          );
        }
      } else if (issue.code === 'invalid_type' && isSubstituted(issue.path)) {
        problems.push({ path: issue.path, message: `expected ${issue.expected === 'boolean' ? 'true or false' : `a ${issue.expected}`}, but the environment variable's value is not one` });
      } else {
        problems.push({ path: issue.path, message: issue.message });
      }
    }
  }
  problems.push(...crossChecks(data, isUnresolved));
  if (parsed.success) problems.push(...tlsHostProblems(parsed.data));
  if (!parsed.success || problems.length > 0) throw configError(problems, configPath, data);
  return parsed.data;
}

/**
 * mysql2 checks an IP address host against the name "localhost", not against the certificate's IP
 * entries, so verify-full cannot be honoured for an IP: say so rather than check the wrong name.
 */
function tlsHostProblems(settings: Settings): Problem[] {
  return settings.sources.flatMap((source, index) =>
    source.ssl?.mode === 'verify-full' && isIP(source.endpoint.host) !== 0
      ? [{ path: ['sources', index, 'ssl', 'mode'], message: 'verify-full needs a host name in the source URL, not an IP address; use the name the certificate carries, or mode verify-ca' }]
      : [],
  );
}

/** passwordFile and ssl files read into the endpoints, metrics.textfile made absolute. */
function withFiles(settings: Settings, configPath: string | undefined, baseDir: string): TributaryConfig {
  const where = configPath ?? 'the configuration';
  const read = (file: string, key: string): string => readSecretFile(nodePath.resolve(baseDir, file), file, key, where);
  const endpoint = (value: DatabaseEndpoint, settingsOf: { passwordFile?: string | undefined; ssl?: SslSettings | undefined }, key: string): DatabaseEndpoint => ({
    ...value,
    // One line; a trailing newline is ignored.
    ...(settingsOf.passwordFile !== undefined ? { password: read(settingsOf.passwordFile, `${key}.passwordFile`).replace(/\r?\n$/, '') } : {}),
    ...(settingsOf.ssl ? { tls: tlsSettings(settingsOf.ssl, (file, part) => read(file, `${key}.ssl.${part}`)) } : {}),
  });
  const { textfile } = settings.metrics;
  return {
    ...settings,
    ...(configPath !== undefined ? { configPath } : {}),
    target: { ...settings.target, endpoint: endpoint(settings.target.endpoint, settings.target, 'target') },
    sources: settings.sources.map((source, index) => ({ ...source, endpoint: endpoint(source.endpoint, source, `sources[${index}]`) })),
    metrics: { ...settings.metrics, ...(textfile !== undefined ? { textfile: nodePath.resolve(baseDir, textfile) } : {}) },
  };
}

function tlsSettings(ssl: SslSettings, read: (file: string, part: 'ca' | 'cert' | 'key') => string): TlsSettings {
  return {
    mode: ssl.mode,
    ...(ssl.ca ? { ca: read(ssl.ca, 'ca') } : {}),
    ...(ssl.cert ? { cert: read(ssl.cert, 'cert') } : {}),
    ...(ssl.key ? { key: read(ssl.key, 'key') } : {}),
  };
}

/** The file's content; it never appears in a message. */
function readSecretFile(absolute: string, asWritten: string, key: string, where: string): string {
  try {
    return readFileSync(absolute, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`invalid configuration in ${where}:\n${key}: cannot read ${asWritten} (${reason})`);
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}
