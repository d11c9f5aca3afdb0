/**
 * The configuration's types as plain interfaces, for the shipped declarations: a library user's
 * compiler must not need zod's own declarations (they do not compile without esModuleInterop). They
 * add nothing: schema.ts checks at compile time that they are exactly what the schema produces, so a
 * setting added to the schema and not here (or the other way round) does not build. What each setting
 * means, its default and its limits are in schema.ts.
 */
import type { DatabaseEndpoint, TlsMode } from './url';

export type BadValuePolicy = 'reject' | 'null' | 'fail';
export type ConflictPolicy = 'error' | 'newest' | 'priority';
export type IndexPolicy = 'copy' | 'none';
export type CatchUpMode = 'adaptive' | 'drain';

/** The ssl setting as written: file paths (the endpoint's tls holds their contents). */
export interface SslSettings {
  mode: TlsMode;
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

export interface SourceSettings {
  id: string;
  url: string;
  passwordFile?: string | undefined;
  ssl?: SslSettings | undefined;
  endpoint: DatabaseEndpoint;
}

export interface TargetSettings {
  url: string;
  schema: string;
  passwordFile?: string | undefined;
  ssl?: SslSettings | undefined;
  endpoint: DatabaseEndpoint;
}

export interface TableSettings {
  name: string;
  target: string;
  onBadValue: BadValuePolicy;
  key?: string[] | undefined;
  includeColumns?: string[] | undefined;
  excludeColumns?: string[] | undefined;
  rename: Record<string, string>;
  where?: string | undefined;
  keyIncludesSource: boolean;
  conflict: ConflictPolicy;
  newestBy?: string | undefined;
  priority?: string[] | undefined;
  changelog?: string | undefined;
  indexes: IndexPolicy;
  catchUp: CatchUpMode;
}

export interface Settings {
  target: TargetSettings;
  sources: SourceSettings[];
  tables: TableSettings[];
  schedule: string;
  batchSize: number;
  snapshotChunkSize: number;
  concurrency: number;
  pollInterval: number;
  gaps: { recheckSeconds: number; alertSeconds: number; timeoutSeconds: number };
  metrics: { port?: number | undefined; host: string; textfile?: string | undefined };
  health: { maxLagSeconds: number };
  alerts: { maxPendingChanges: number };
  retention: { seconds: number };
  consumer?: string | undefined;
  consumers: { staleAfterSeconds: number; table: string };
  indexes: IndexPolicy;
  catchUp: CatchUpMode;
  catchUpPercent: number;
}

type DeepReadonly<T> = T extends (infer U)[] ? readonly DeepReadonly<U>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** The configuration the tool runs on: validated once, files read, deep-frozen. */
export type TributaryConfig = DeepReadonly<Settings> & {
  /** Absolute path of the file read; absent for a configuration given as an object without one. */
  readonly configPath?: string;
};
export type SourceConfig = TributaryConfig['sources'][number];
export type TableConfig = TributaryConfig['tables'][number];
export type TargetConfig = TributaryConfig['target'];
