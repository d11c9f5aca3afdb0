/**
 * What a process holds while it syncs: the configuration, one connection pool per source and one for
 * the target, and the units (source, table) with their introspected shapes.
 */
import type { TributaryConfig, TableConfig } from '../config';
import { TributaryError } from '../errors';
import type { Logger } from '../log';
import type { SourceTable } from '../model';
import { closeSource, openSource, type SourceHandle } from '../source/mysql/connection';
import { introspectTables } from '../source/mysql/introspect';
import { closeTarget, connectTarget, openTarget, type TargetHandle } from '../target/postgres/connection';
import { migrate } from '../target/postgres/migrate';
import { projectTable } from './projection';
import { assertSameShape, ensureTargetTable, type TargetTable, targetTableFor } from '../target/postgres/schema';

export interface Unit {
  source: SourceHandle;
  tableConfig: TableConfig;
  sourceTable: SourceTable;
  target: TargetTable;
}

export interface Runtime {
  config: TributaryConfig;
  logger: Logger;
  sources: Map<string, SourceHandle>;
  target: TargetHandle;
  units: Unit[];
  /** Units whose leftover applied changelog rows were cleaned since this process started. */
  cleanedUnits: Set<string>;
}

export const unitKey = (sourceId: string, table: string): string => JSON.stringify([sourceId, table]);

export function openRuntime(config: TributaryConfig, logger: Logger): Runtime {
  const sources = new Map<string, SourceHandle>();
  // A source serves one unit per table at most, and snapshot streaming takes one more connection.
  const perSource = Math.max(2, Math.min(config.concurrency, config.tables.length) + 1);
  for (const source of config.sources) sources.set(source.id, openSource(source, perSource));
  const target = openTarget(config.target.endpoint, config.target.schema, config.concurrency + 2);
  return { config, logger, sources, target, units: [], cleanedUnits: new Set() };
}

/**
 * Introspects every configured table in every source and returns them by source id, as synced: with
 * the key, columns and filter of the table's configuration. Checks each exists and has a key.
 */
export async function introspectSources(runtime: Runtime): Promise<Map<string, Map<string, SourceTable>>> {
  const wanted = runtime.config.tables.map((t) => t.name);
  const bySource = new Map<string, Map<string, SourceTable>>();
  await Promise.all(
    [...runtime.sources.values()].map(async (source) => {
      const tables = await introspectTables(source, wanted);
      const projected = new Map<string, SourceTable>();
      for (const tableConfig of runtime.config.tables) {
        const table = tables.get(tableConfig.name);
        if (!table) throw new TributaryError('SOURCE_TABLE_MISSING', `table ${tableConfig.name} does not exist in ${source.where}`);
        projected.set(tableConfig.name, projectTable(table, tableConfig, source.where));
      }
      bySource.set(source.id, projected);
    }),
  );
  return bySource;
}

/**
 * Everything checked once before syncing: sources reachable, tables present with keys and the same
 * shape in every source, the state schema migrated, target tables created or compatible.
 */
export async function prepareRuntime(runtime: Runtime): Promise<Unit[]> {
  const { config } = runtime;
  const shapes = await introspectSources(runtime);
  await migrate(runtime.target);
  const units: Unit[] = [];
  const client = await connectTarget(runtime.target, 'preparing target tables');
  try {
    for (const tableConfig of config.tables) {
      let first: { sourceId: string; table: TargetTable } | undefined;
      for (const source of config.sources) {
        const sourceTable = shapes.get(source.id)!.get(tableConfig.name)!;
        const target = targetTableFor(config.target.schema, tableConfig.target, sourceTable, tableConfig.rename);
        if (first) assertSameShape(first, { sourceId: source.id, table: target });
        else first = { sourceId: source.id, table: target };
        units.push({ source: runtime.sources.get(source.id)!, tableConfig, sourceTable, target });
      }
      const created = await ensureTargetTable(runtime.target, client, first!.table);
      if (created === 'created') runtime.logger.info('created target table', { table: tableConfig.name, target: `${config.target.schema}.${tableConfig.target}` });
    }
  } finally {
    client.release();
  }
  runtime.units = units;
  return units;
}

export async function closeRuntime(runtime: Runtime): Promise<void> {
  await Promise.all([...runtime.sources.values()].map(closeSource));
  await closeTarget(runtime.target);
}
