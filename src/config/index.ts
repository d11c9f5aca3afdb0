/**
 * The configuration: one schema (schema.ts) describes every setting, load.ts turns a file or an object
 * into the validated TributaryConfig, url.ts parses database URLs (also for `init`).
 */
export { loadConfig, parseConfig, resolveConfigPath, type ParseConfigOptions } from './load';
export {
  configSchema,
  scalarSettings,
  isValidSourceId,
  SOURCE_ID_PROBLEM,
  type BadValuePolicy,
  type ConflictPolicy,
  type IndexPolicy,
  type ScalarSetting,
  type Settings,
  type SourceConfig,
  type TableConfig,
  type TargetConfig,
  type TributaryConfig,
} from './schema';
export { parseMysqlUrl, parsePgUrl, redactUrl, type DatabaseEndpoint, type MysqlEndpoint, type PgEndpoint, type TlsSettings, type TlsMode } from './url';
