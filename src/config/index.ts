/**
 * The configuration: one schema (schema.ts) describes every setting, load.ts turns a file or an object
 * into the validated TributaryConfig, url.ts parses database URLs (also for `init`). Nothing exported
 * here exposes zod: the shipped declarations must compile for any TypeScript user.
 */
export { loadConfig, parseConfig, resolveConfigPath, type ParseConfigOptions } from './load';
export type { BadValuePolicy, CatchUpMode, ConflictPolicy, IndexPolicy, Settings, SourceConfig, SslSettings, TableConfig, TargetConfig, TributaryConfig } from './types';
export { parseMysqlUrl, parsePgUrl, redactUrl, type DatabaseEndpoint, type MysqlEndpoint, type PgEndpoint, type TlsSettings, type TlsMode } from './url';
