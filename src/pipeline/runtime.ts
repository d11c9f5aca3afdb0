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
import { type CaptureReadOptions, type CaptureState, namesOf, readCaptureState } from '../mysql/capture';
import { closeTarget, connectTarget, inTransaction, openTarget, type PoolClient, type TargetHandle, targetQuery } from '../postgres/connection';
import { migrate } from '../postgres/migrate';
import type { StateUnit, StoredShapes } from '../postgres/state';
import { type KnownShapes, loadStoredShapes, rememberShapes, restoreTables, shapeDigest, storePendingShapes } from './shape-cache';
import { checkDeclaredKey, projectTable } from './projection';
import { asTributaryError, markSourceDown, type RefusedRecheck, type SourceOutage } from './outages';
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

/** What one source's last successful introspection found: the tables it can sync and why others not. */
export interface SourceShapes {
  /** Configured tables present as base tables, projected per their configuration (key, columns, filter). */
  tables: Map<string, SourceTable>;
  /** The changelog tables as installed, by changelog name. */
  changelogs: Map<string, SourceTable>;
  /** Configured tables this source cannot sync as they are (missing, a view, no key...), with the reason. */
  refused: Map<string, TributaryError>;
  /** What is installed, read in the same preparation; its `shape` is the source's fingerprint. */
  state: CaptureState;
}

/** A (source, table) that is not synced, with the reason; reported as a failed unit by every pass. */
export interface RefusedUnit {
  sourceId: string;
  table: string;
  target: string;
  error: TributaryError;
}

export interface Runtime {
  config: TributaryConfig;
  logger: Logger;
  sources: Map<string, SourceHandle>;
  /** Every source's connections count against this one budget (see sourceConnectionBudget). */
  budget: ConnectionBudget;
  target: TargetHandle;
  units: Unit[];
  /** Tables of reachable sources that are not synced, and why (found while preparing). */
  refused: RefusedUnit[];
  /** The last successful introspection of each source. */
  shapes: Map<string, SourceShapes>;
  /** Sources that could not be reached or introspected, retried on their own schedule (see outages.ts). */
  outages: Map<string, SourceOutage>;
  /** Sources with no unit, read again now and then to notice that a refused table was fixed. */
  rechecks: Map<string, RefusedRecheck>;
  /** Set when a source came back: the units are built again before the next pass. */
  unitsStale: boolean;
  /**
   * The watermark each unit was at when this process last knew its changelog pruned up to it. A
   * checkpoint found elsewhere means another process applied in between (and may have died between a
   * commit and its prune), so leftovers are looked for again.
   */
  prunedUpTo: Map<string, number>;
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
  /** Shapes introspected since they were last stored, by source (see shape-cache.ts). */
  shapesToStore: Map<string, StoredShapes>;
}

/**
 * MySQL connections a process may hold open at once, over all its sources: one per unit running
 * (`concurrency`) and one more, so that a unit streaming a snapshot chunk can still run a query.
 */
export const sourceConnectionBudget = (concurrency: number): number => concurrency + 1;

export const unitKey = (sourceId: string, table: string): string => JSON.stringify([sourceId, table]);

/** How the state schema names a unit: its source, its table in the sources, its target table. */
export const stateUnit = (unit: Unit): StateUnit => ({ sourceId: unit.source.id, table: unit.sourceTable.name, target: unit.target.name });

export function openRuntime(config: TributaryConfig, logger: Logger): Runtime {
  const sources = new Map<string, SourceHandle>();
  const budget = new ConnectionBudget(sourceConnectionBudget(config.concurrency));
  for (const source of config.sources) sources.set(source.id, openSource(source, budget));
  const target = openTarget(config.target.endpoint, config.target.schema, config.concurrency + 2);
  return {
    config,
    logger,
    sources,
    budget,
    target,
    units: [],
    refused: [],
    shapes: new Map(),
    outages: new Map(),
    rechecks: new Map(),
    unitsStale: false,
    prunedUpTo: new Map(),
    fingerprints: new Map(),
    retentionPrunedAt: new Map(),
    preparedStates: new Map(),
    longRunning: false,
    passRecordedAt: 0,
    shapesToStore: new Map(),
  };
}

/**
 * Introspects every configured table in every source and returns them by source id, as synced: with
 * the key, columns and filter of the table's configuration. Throws when any source cannot be read or
 * any table cannot be synced (for the commands that act on all or nothing, like `triggers install`).
 */
export async function introspectSources(runtime: Runtime, sourceId?: string): Promise<Map<string, Map<string, SourceTable>>> {
  const sources = [...runtime.sources.values()].filter((s) => sourceId === undefined || s.id === sourceId);
  const limit = pLimit(runtime.config.concurrency);
  const settled = await Promise.allSettled(sources.map((source) => limit(() => usingSource(runtime, source, () => introspectSource(runtime, source)))));
  // Every source's problems, in configuration order, so the message is the same on every run.
  const failures = settled.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : [...outcome.value.refused.values()]));
  if (failures.length > 0) {
    const first = failures[0];
    const sameKind = failures.every((f) => f instanceof TributaryError && first instanceof TributaryError && f.code === first.code);
    if (failures.length === 1 || !sameKind) throw first;
    throw new TributaryError((first as TributaryError).code, failures.map((f) => (f as Error).message).join('; '), { cause: first, transient: (first as TributaryError).transient });
  }
  const bySource = new Map<string, Map<string, SourceTable>>();
  settled.forEach((outcome, index) => bySource.set(sources[index]!.id, (outcome as PromiseFulfilledResult<SourceShapes>).value.tables));
  return bySource;
}

/**
 * One source's configured tables (projected) and changelog tables (as installed), and what is
 * installed. A table that cannot be synced is refused with the reason; a source that cannot be read
 * at all throws.
 */
export async function introspectSource(runtime: Runtime, source: SourceHandle, known?: KnownShapes, readOptions: CaptureReadOptions = {}): Promise<SourceShapes> {
  const names = runtime.config.tables.map((t) => t.name);
  const changelogNames = runtime.config.tables.map((t) => namesOf(t).changelog);
  const state = await readCaptureState(source, runtime.config.tables, readOptions);
  const digest = shapeDigest(state);
  let found = restoreTables(known, digest, source, state);
  if (!found) found = rememberShapes(runtime, source, digest, await introspectTables(source, [...names, ...changelogNames]), state);
  const changelogs = new Map(changelogNames.flatMap((name) => (found.has(name) ? [[name, found.get(name)!] as const] : [])));
  const tables = new Map<string, SourceTable>();
  const refused = new Map<string, TributaryError>();
  for (const tableConfig of runtime.config.tables) {
    try {
      tables.set(tableConfig.name, await syncableTable(source, tableConfig, found.get(tableConfig.name), state));
    } catch (error) {
      if (!(error instanceof TributaryError)) throw error;
      refused.set(tableConfig.name, error);
    }
  }
  return { tables, changelogs, refused, state };
}

/** The table as synced, or an error saying why it cannot be and what to do. */
async function syncableTable(source: SourceHandle, tableConfig: TableConfig, raw: SourceTable | undefined, state: CaptureState): Promise<SourceTable> {
  const name = tableConfig.name;
  if (!raw) throw new TributaryError('SOURCE_TABLE_MISSING', `table ${name} does not exist in ${source.where}`);
  // information_schema.COLUMNS lists views too; the capture check lists base tables only.
  if (!state.tables.has(name)) {
    throw new TributaryError(
      'SOURCE_SCHEMA_MISMATCH',
      `${name} is a view in ${source.where}; Tributary captures base tables only (MySQL fires no trigger on a view): list the underlying table instead`,
    );
  }
  const table = projectTable(raw, tableConfig, source.where);
  // A `where` goes into every query that reads the table: MySQL checks it before anything is written.
  await checkFilter(source, table);
  if (tableConfig.key) await checkDeclaredKey(source, table);
  return table;
}

/**
 * Everything checked before syncing: sources reachable, tables present with keys and capture
 * installed, the state schema migrated, target tables created or evolved to hold every reachable
 * source's columns. A source that cannot be reached or read is put aside (see outages.ts) and the
 * others are prepared; a table that cannot be synced is refused with its reason. Run again for the
 * sources whose columns change (see SOURCE_SHAPE_CHANGED) or that come back.
 */
export async function prepareRuntime(runtime: Runtime, options: { sources?: readonly string[]; captureOptional?: boolean } = {}): Promise<Unit[]> {
  const ids = options.sources ?? [...runtime.sources.keys()];
  // The target first: without it nothing can be synced, whatever the sources say (exit 4, not a
  // list of per-table failures).
  if (!options.sources) await targetQuery(runtime.target.pool, runtime.target.where, 'connecting', 'SELECT 1');
  const stored = await loadStoredShapes(runtime, ids);
  // The first pass's idle probe and the consumer heartbeat use what this read finds (changelog edges,
  // the registry's marker): one visit per source instead of three. Without capture (verify before
  // install) the edges cannot be read.
  const readOptions: CaptureReadOptions = options.captureOptional ? {} : { edges: true, registry: runtime.config.consumers.table };
  const limit = pLimit(runtime.config.concurrency);
  await Promise.all(
    ids.map((id) =>
      limit(async () => {
        const source = runtime.sources.get(id)!;
        try {
          acceptShapes(runtime, id, await usingSource(runtime, source, () => introspectSource(runtime, source, stored.get(id), readOptions)));
        } catch (error) {
          markSourceDown(runtime, id, asTributaryError(error));
        }
      }),
    ),
  );
  return buildUnits(runtime, options.captureOptional === true);
}

/** Takes a source's fresh introspection as the one its units are built from. */
export function acceptShapes(runtime: Runtime, sourceId: string, shapes: SourceShapes): void {
  runtime.shapes.set(sourceId, shapes);
  runtime.fingerprints.set(sourceId, shapes.state.shape);
  // The first pass after preparing uses this read instead of asking again.
  runtime.preparedStates.set(sourceId, shapes.state);
  runtime.unitsStale = true;
}

/** True when nothing of a table's capture is installed in a source: `triggers install` was not run. */
function captureNotInstalled(table: TableConfig, state: CaptureState): boolean {
  const names = namesOf(table);
  return !state.changelogs.has(names.changelog) && Object.values(names.triggers).every((trigger) => !state.triggers.has(trigger));
}

/**
 * The units of every available source, with their target tables created or evolved to hold every
 * available source's columns. A source that is down contributes nothing until it comes back, when its
 * shape is merged in. Nothing is created while no table is ready to sync.
 */
export async function buildUnits(runtime: Runtime, captureOptional = false): Promise<Unit[]> {
  const { config, logger } = runtime;
  const available = config.sources.filter((s) => runtime.shapes.has(s.id) && !runtime.outages.has(s.id));
  const refused: RefusedUnit[] = [];
  const ready = new Map<string, { sourceId: string; sourceTable: SourceTable }[]>();
  for (const tableConfig of config.tables) {
    const views: { sourceId: string; sourceTable: SourceTable }[] = [];
    for (const source of available) {
      const shapes = runtime.shapes.get(source.id)!;
      const problem = shapes.refused.get(tableConfig.name);
      const refuse = (error: TributaryError): void => void refused.push({ sourceId: source.id, table: tableConfig.name, target: tableConfig.target, error });
      if (problem) refuse(problem);
      else if (!captureOptional && captureNotInstalled(tableConfig, shapes.state)) {
        refuse(
          new TributaryError(
            'CHANGELOG_MISSING',
            `capture of ${tableConfig.name} is not installed in ${runtime.sources.get(source.id)!.where}: run \`tributary triggers install\` (or have a DBA run what \`tributary triggers print\` shows), then sync`,
          ),
        );
      } else views.push({ sourceId: source.id, sourceTable: shapes.tables.get(tableConfig.name)! });
    }
    if (views.length > 0) ready.set(tableConfig.name, views);
  }
  runtime.refused = refused;
  for (const r of refused) logger.warn('table not synced', { source: r.sourceId, table: r.table, code: r.error.code, reason: r.error.message });
  const units: Unit[] = [];
  const prepared: { table: TargetTable; sourceTable: string }[] = [];
  if (ready.size > 0) {
    await migrate(runtime.target);
    await storePendingShapes(runtime);
    const client = await connectTarget(runtime.target, 'preparing target tables');
    try {
      // Processes starting together would race on CREATE TABLE IF NOT EXISTS (PostgreSQL then fails on
      // its catalog's unique index): target tables are prepared under one lock, in one transaction.
      await inTransaction(client, runtime.target.where, 'preparing target tables', async () => {
        await targetQuery(client, runtime.target.where, 'locking target preparation', "SELECT pg_advisory_xact_lock(hashtextextended('tributary:prepare', 0))");
        const postgis = await hasPostgis(runtime, client);
        for (const tableConfig of config.tables) {
          const ready1 = ready.get(tableConfig.name);
          if (!ready1) continue;
          const views = ready1.map(({ sourceId, sourceTable }) => ({
            sourceId,
            sourceTable,
            table: targetTableFor(config.target.schema, tableConfig.target, sourceTable, { ...tableConfig, postgis }),
          }));
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
            const changelogTable = runtime.shapes.get(view.sourceId)!.changelogs.get(namesOf(tableConfig).changelog);
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
  }
  runtime.units = units;
  runtime.unitsStale = false;
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
