/**
 * What a process holds while it syncs: the configuration, one connection pool per source and one for
 * the target, and the units (source, table) with their introspected shapes.
 */
import pLimit from 'p-limit';
import type { TributaryConfig, TableConfig } from '../config';
import { TributaryError } from '../errors';
import type { Logger } from '../log';
import type { SourceTable } from '../model';
import { ConnectionBudget, openSource, type SourceHandle } from '../mysql/connection';
import { checkFilter } from '../mysql/filter';
import { introspectTables } from '../mysql/introspect';
import { type CaptureState, namesOf, readCaptureState } from '../mysql/capture';
import { closeTarget, connectTarget, inTransaction, openTarget, type PoolClient, type TargetHandle, targetQuery } from '../postgres/connection';
import { migrate } from '../postgres/migrate';
import { projectTable } from './projection';
import { canonicalTypes, ensureTargetTable, mergeShapes, type TableChanges, TargetKeyMismatch, type TargetTable, targetTableFor } from '../postgres/schema';
import { planIndexes } from '../postgres/indexes';
import { buildIndexesWhenReady, logIndexNotes } from './target-indexes';

export interface Unit {
  source: SourceHandle;
  tableConfig: TableConfig;
  sourceTable: SourceTable;
  target: TargetTable;
  /** The changelog table as installed (to notice key columns that no longer match), if present. */
  changelogTable?: SourceTable;
  /** Why this table cannot be synced as configured (its target has another key): it stops alone. */
  blocked?: TributaryError;
  /** The target table was created when the units were prepared: an earlier copy of it is gone. */
  targetCreated?: boolean;
}

export interface Runtime {
  config: TributaryConfig;
  logger: Logger;
  sources: Map<string, SourceHandle>;
  /** Every source's connections count against this one budget (see sourceConnectionBudget). */
  budget: ConnectionBudget;
  target: TargetHandle;
  units: Unit[];
  /** Units whose leftover applied changelog rows were cleaned since this process started. */
  cleanedUnits: Set<string>;
  /** Digest of each source's configured tables' columns when the units were prepared. */
  fingerprints: Map<string, string>;
  /** When each unit last pruned its changelog by age (retention). */
  retentionPrunedAt: Map<string, number>;
  /** Capture state read while preparing, handed to the next pass once. */
  preparedStates: Map<string, CaptureState>;
  /**
   * A long-running process (daemon, follow): passes come many times a second, so bookkeeping that only
   * matters to the next process start (pass times, the prune flag) is written less often.
   */
  longRunning: boolean;
  /** When the pass results were last written to the checkpoints. */
  passRecordedAt: number;
}

/**
 * MySQL connections a process may hold open at once, over all its sources: one per unit running
 * (`concurrency`) and one more, so that a unit streaming a snapshot chunk can still run a query.
 */
export const sourceConnectionBudget = (concurrency: number): number => concurrency + 1;

export const unitKey = (sourceId: string, table: string): string => JSON.stringify([sourceId, table]);

export function openRuntime(config: TributaryConfig, logger: Logger): Runtime {
  const sources = new Map<string, SourceHandle>();
  const budget = new ConnectionBudget(sourceConnectionBudget(config.concurrency));
  for (const source of config.sources) sources.set(source.id, openSource(source, budget));
  const target = openTarget(config.target.endpoint, config.target.schema, config.concurrency + 2);
  return { config, logger, sources, budget, target, units: [], cleanedUnits: new Set(), fingerprints: new Map(), retentionPrunedAt: new Map(), preparedStates: new Map(), longRunning: false, passRecordedAt: 0 };
}

/**
 * Introspects every configured table in every source and returns them by source id, as synced: with
 * the key, columns and filter of the table's configuration. Checks each exists and has a key.
 */
export async function introspectSources(runtime: Runtime): Promise<Map<string, Map<string, SourceTable>>> {
  return (await introspectWithChangelogs(runtime)).tables;
}

/** The configured tables (projected) and their changelog tables (as installed), in one read per source. */
async function introspectWithChangelogs(runtime: Runtime): Promise<{ tables: Map<string, Map<string, SourceTable>>; changelogs: Map<string, Map<string, SourceTable>> }> {
  const changelogNames = runtime.config.tables.map((t) => namesOf(t).changelog);
  const changelogs = new Map<string, Map<string, SourceTable>>();
  const wanted = [...runtime.config.tables.map((t) => t.name), ...changelogNames];
  const bySource = new Map<string, Map<string, SourceTable>>();
  const sources = [...runtime.sources.values()];
  // Bounded like the passes: a process syncing many shards does not open a connection to all at once.
  const limit = pLimit(runtime.config.concurrency);
  const introspectOne = async (source: SourceHandle): Promise<void> => {
    const tables = await introspectTables(source, wanted);
    changelogs.set(source.id, new Map(changelogNames.flatMap((name) => (tables.has(name) ? [[name, tables.get(name)!] as const] : []))));
    const projected = new Map<string, SourceTable>();
    const missing = runtime.config.tables.filter((t) => !tables.has(t.name)).map((t) => `table ${t.name} does not exist in ${source.where}`);
    if (missing.length > 0) throw new TributaryError('SOURCE_TABLE_MISSING', missing.join('; '));
    for (const tableConfig of runtime.config.tables) projected.set(tableConfig.name, projectTable(tables.get(tableConfig.name)!, tableConfig, source.where));
    // A `where` goes into every query that reads the table: MySQL checks it before anything is written.
    for (const table of projected.values()) await checkFilter(source, table);
    bySource.set(source.id, projected);
  };
  const settled = await Promise.allSettled(sources.map((source) => limit(() => usingSource(runtime, source, () => introspectOne(source)))));
  // Every source's problems, in configuration order, so the message is the same on every run.
  const failures = settled.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
  if (failures.length > 0) {
    const first = failures[0];
    const sameKind = failures.every((f) => f instanceof TributaryError && first instanceof TributaryError && f.code === first.code);
    if (failures.length === 1 || !sameKind) throw first;
    throw new TributaryError((first as TributaryError).code, failures.map((f) => (f as Error).message).join('; '), { cause: first, transient: (first as TributaryError).transient });
  }
  return { tables: bySource, changelogs };
}

/**
 * Everything checked before syncing: sources reachable, tables present with keys, the state schema
 * migrated, target tables created or evolved to hold every source's columns. Run again whenever a
 * source's columns change (see shapesChanged).
 */
export async function prepareRuntime(runtime: Runtime): Promise<Unit[]> {
  const { config, logger } = runtime;
  const fingerprints = await readFingerprints(runtime);
  const { tables: shapes, changelogs } = await introspectWithChangelogs(runtime);
  await migrate(runtime.target);
  const units: Unit[] = [];
  const prepared: { table: TargetTable; sourceTable: string }[] = [];
  const client = await connectTarget(runtime.target, 'preparing target tables');
  try {
    // Processes starting together would race on CREATE TABLE IF NOT EXISTS (PostgreSQL then fails on
    // its catalog's unique index): target tables are prepared under one lock, in one transaction.
    await inTransaction(client, runtime.target.where, 'preparing target tables', async () => {
      await targetQuery(client, runtime.target.where, 'locking target preparation', "SELECT pg_advisory_xact_lock(hashtextextended('tributary:prepare', 0))");
      const postgis = await hasPostgis(runtime, client);
      for (const tableConfig of config.tables) {
        const views = config.sources.map((source) => {
          const sourceTable = shapes.get(source.id)!.get(tableConfig.name)!;
          return { sourceId: source.id, sourceTable, table: targetTableFor(config.target.schema, tableConfig.target, sourceTable, { ...tableConfig, postgis }) };
        });
        const canonical = await canonicalTypes(runtime.target, client, views.flatMap((v) => v.table.columns.map((c) => c.pgType)));
        for (const view of views) for (const column of view.table.columns) column.pgType = canonical.get(column.pgType) ?? column.pgType;
        const merged = mergeShapes(views);
        // Every source stages into the target's own types, so snapshot and change paths, and all
        // sources, convert a value the same way (a FLOAT read as text into double precision, say).
        for (const view of views) {
          for (const column of view.table.columns) column.pgType = merged.columns.find((c) => c.name === column.name)!.pgType;
        }
        let changes: TableChanges;
        let blocked: TributaryError | undefined;
        try {
          changes = await ensureTargetTable(runtime.target, client, merged);
        } catch (error) {
          if (!(error instanceof TargetKeyMismatch)) throw error;
          blocked = keyChangeError(error, tableConfig.name);
          logger.error('table stopped: its target table has another key', { table: tableConfig.name, target: `${config.target.schema}.${tableConfig.target}`, error: blocked.message });
          changes = { created: false, addedColumns: [], widenedColumns: [], orphanColumns: [], geometryColumns: [], notNullAdded: [], notNullDropped: [], notNullSkipped: [], commented: 0 };
        }
        logTableChanges(runtime, tableConfig, changes);
        if (tableConfig.indexes === 'copy' && !blocked) {
          const plan = planIndexes(merged, views);
          merged.indexes = plan.indexes;
          logIndexNotes(logger, merged, plan.notes);
        }
        for (const view of views) view.table.indexes = merged.indexes;
        if (!blocked) prepared.push({ table: merged, sourceTable: tableConfig.name });
        for (const view of views) {
          const changelogTable = changelogs.get(view.sourceId)!.get(namesOf(tableConfig).changelog);
          units.push({
            source: runtime.sources.get(view.sourceId)!,
            tableConfig,
            sourceTable: view.sourceTable,
            target: view.table,
            ...(changelogTable ? { changelogTable } : {}),
            ...(blocked ? { blocked } : {}),
            ...(changes.created ? { targetCreated: true } : {}),
          });
        }
      }
    });
  } finally {
    client.release();
  }
  runtime.units = units;
  runtime.fingerprints = fingerprints;
  // Concurrent index builds cannot run in the preparing transaction; they follow it.
  for (const { table, sourceTable } of prepared) await buildIndexesWhenReady(runtime, table, sourceTable);
  return units;
}

function logTableChanges(runtime: Runtime, tableConfig: TableConfig, changes: TableChanges): void {
  const { logger, config } = runtime;
  const fields = { table: tableConfig.name, target: `${config.target.schema}.${tableConfig.target}` };
  if (changes.created) logger.info('created target table', fields);
  if (changes.addedColumns.length) logger.info('added target columns', { ...fields, columns: changes.addedColumns });
  if (changes.widenedColumns.length) logger.info('widened target columns', { ...fields, columns: changes.widenedColumns });
  if (changes.geometryColumns.length) logger.info('converted target columns to PostGIS geometry', { ...fields, columns: changes.geometryColumns });
  if (changes.notNullAdded.length) logger.info('target columns made NOT NULL', { ...fields, columns: changes.notNullAdded });
  if (changes.notNullDropped.length) logger.info('target columns no longer NOT NULL', { ...fields, columns: changes.notNullDropped });
  if (changes.notNullSkipped.length) {
    logger.warn('target columns left nullable: NOT NULL in every source, but the target holds NULLs in them (tried again on the next prepare)', { ...fields, columns: changes.notNullSkipped });
  }
  if (changes.orphanColumns.length) {
    logger.warn('target columns no source has any more are kept but no longer updated', { ...fields, columns: changes.orphanColumns });
  }
}

/** Whether the target database has PostGIS: spatial columns become geometry rather than bytea. */
async function hasPostgis(runtime: Runtime, client: PoolClient): Promise<boolean> {
  // Asked once per prepare: the extension can be installed between runs.
  const result = await targetQuery(client, runtime.target.where, 'looking for PostGIS', "SELECT 1 FROM pg_extension WHERE extname = 'postgis'");
  return (result.rowCount ?? 0) > 0;
}

/**
 * The target's rows are keyed by their old key: they cannot be moved to another one in place, and
 * replacing the table is the user's decision.
 */
function keyChangeError(mismatch: TargetKeyMismatch, table: string): TributaryError {
  const target = `${mismatch.table.schema}.${mismatch.table.name}`;
  return new TributaryError(
    'TARGET_SCHEMA_MISMATCH',
    `table ${table}: target table ${target} has primary key (${mismatch.actualKey.join(', ') || 'none'}) but the table's settings now need (${mismatch.expectedKey.join(', ')}); ` +
      `its key or keyIncludesSource setting (or a rename of a key column) changed after it was synced, and rows cannot be moved to another key in place. ` +
      `Either restore the earlier setting; or give the table a new \`target:\` (the new table is filled by a snapshot, ${target} is left as it is); ` +
      `or drop ${target} in PostgreSQL (it is created again and filled on the next run). A changed key also needs \`tributary triggers install\` (the changelog records key values). Other tables keep syncing.`,
  );
}

/** Each source's column digest (tables and changelogs), to notice an ALTER TABLE on later passes. */
async function readFingerprints(runtime: Runtime): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  const limit = pLimit(runtime.config.concurrency);
  await Promise.all(
    [...runtime.sources.values()].map((source) =>
      limit(() =>
        usingSource(runtime, source, async () => {
          const state = await readCaptureState(source, runtime.config.tables);
          result.set(source.id, state.shape);
          // The first pass after preparing uses this read instead of asking again.
          runtime.preparedStates.set(source.id, state);
        }),
      ),
    ),
  );
  return result;
}

/**
 * Runs work for each source, at most `concurrency` sources at a time, and returns the results in the
 * sources' order. Every source is tried; the first failure in that order is thrown after all ended.
 */
export async function eachSource<T>(runtime: Runtime, sources: readonly SourceHandle[], work: (source: SourceHandle) => Promise<T>): Promise<T[]> {
  const limit = pLimit(runtime.config.concurrency);
  const settled = await Promise.allSettled(sources.map((source) => limit(() => usingSource(runtime, source, () => work(source)))));
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/**
 * Runs work on a source. Connections are bounded by the runtime's budget whatever happens here; a
 * source marked in use keeps its idle connections longest when others need room.
 */
export async function usingSource<T>(_runtime: Runtime, source: SourceHandle, work: () => Promise<T>): Promise<T> {
  source.active++;
  try {
    return await work();
  } finally {
    source.active--;
  }
}

export async function closeRuntime(runtime: Runtime): Promise<void> {
  await runtime.budget.close();
  await closeTarget(runtime.target);
}
