/**
 * `tributary triggers print|install|status|uninstall|forget-consumer`: capture management, returned
 * as values. Tributary touches only objects carrying its marker (see src/mysql/capture.ts): a name
 * taken by anything else makes install and print refuse, and uninstall leave it alone.
 */
import type { TableConfig } from '../config';
import { TributaryError } from '../errors';
import {
  type CapturePlan,
  type CaptureProblem,
  captureProblems,
  executeCapturePlan,
  executeRemoval,
  type InstallOutcome,
  namesOf,
  planCapture,
  planRemoval,
  planRemovalOf,
  planStatements,
  readCaptureInventory,
  readCaptureState,
  type RemovalPlan,
} from '../mysql/capture';
import type { SourceHandle } from '../mysql/connection';
import { type ConsumerRow, consumersDdl, deleteRegistrations, ensureRegistry, forgetConsumer, readRegistryState, registryTaken } from '../mysql/consumers';
import { introspectTables } from '../mysql/introspect';
import { consumerName, readConsumers } from './consumers';
import type { Runtime } from './runtime';
import { eachSource, introspectSources } from './runtime';
import { projectTable } from './projection';

function selectedSources(runtime: Runtime, sourceId?: string): SourceHandle[] {
  return [...runtime.sources.values()].filter((s) => !sourceId || s.id === sourceId);
}

/** Two configured tables whose capture would share a changelog or trigger name: refused up front. */
function checkDistinctNames(tables: readonly TableConfig[]): void {
  const owners = new Map<string, string>();
  for (const table of tables) {
    const names = namesOf(table);
    for (const name of [names.changelog, ...Object.values(names.triggers)]) {
      const other = owners.get(name);
      if (other !== undefined && other !== table.name) {
        throw new TributaryError('CONFIG_INVALID', `tables ${other} and ${table.name} would both use the capture name ${name}; give one of them its own \`changelog:\` name`);
      }
      owners.set(name, table.name);
    }
  }
}

interface SourcePlans {
  source: SourceHandle;
  plans: CapturePlan[];
  registry: 'absent' | 'ours' | 'taken';
}

/** What install would do in each source, read from what is there now; nothing is written. */
async function planSources(runtime: Runtime, sourceId?: string): Promise<SourcePlans[]> {
  checkDistinctNames(runtime.config.tables);
  const shapes = await introspectSources(runtime, sourceId);
  // Sources in parallel within concurrency (and its connection budget).
  return eachSource(runtime, selectedSources(runtime, sourceId), async (source): Promise<SourcePlans> => {
    const tables = runtime.config.tables.map((t) => shapes.get(source.id)!.get(t.name)!);
    const state = await readCaptureState(source, tables);
    const changelogNames = tables.map((t) => namesOf(t).changelog).filter((name) => state.changelogs.get(name)?.marker);
    const changelogTables = await introspectTables(source, changelogNames);
    const plans = tables.map((table) => planCapture(table, state, changelogTables.get(namesOf(table).changelog)));
    return { source, plans, registry: await readRegistryState(source, runtime.config.consumers.table) };
  });
}

/** Every taken name across the planned sources, as one error naming each object and the way out. */
function refuseTakenNames(runtime: Runtime, planned: readonly SourcePlans[]): void {
  const messages = planned.flatMap(({ source, plans, registry }) => [
    ...plans.flatMap((plan) => plan.collisions.map((c) => `${source.where}: ${c.message}`)),
    ...(registry === 'taken' ? [registryTaken(source, runtime.config.consumers.table).message] : []),
  ]);
  if (messages.length > 0) throw new TributaryError('NAME_TAKEN', `refusing to install capture, nothing was changed: ${messages.join('; ')}`);
}

export interface PrintedScript {
  sourceId: string;
  where: string;
  statements: { table: string; sql: string[] }[];
}

/**
 * The DDL a DBA runs to install or complete capture: only what is missing or must change, plain
 * CREATE statements (they fail rather than reuse an object someone else created meanwhile).
 * Refuses, like install, when a name is taken now.
 */
export async function printCapture(runtime: Runtime, sourceId?: string): Promise<PrintedScript[]> {
  const planned = await planSources(runtime, sourceId);
  refuseTakenNames(runtime, planned);
  return planned.map(({ source, plans, registry }) => ({
    sourceId: source.id,
    where: source.where,
    statements: [
      ...(registry === 'absent' ? [{ table: `(consumer registry ${runtime.config.consumers.table})`, sql: [consumersDdl(runtime.config.consumers.table)] }] : []),
      ...plans.map((plan) => ({ table: plan.table.name, sql: planStatements(plan) })),
    ],
  }));
}

export async function printUninstall(runtime: Runtime, sourceId?: string, table?: string): Promise<PrintedScript[]> {
  const out: PrintedScript[] = [];
  for (const source of selectedSources(runtime, sourceId)) {
    const removals = (await planRemovals(runtime, source, table)).filter((r) => r.statements.length > 0 || r.leftAlone.length > 0);
    out.push({
      sourceId: source.id,
      where: source.where,
      statements: removals.map((r) => ({
        table: r.table,
        sql: [...r.leftAlone.map((name) => `-- ${name} was not created by Tributary: left alone`), ...r.statements],
      })),
    });
  }
  return out;
}

export interface ConsumerStatus {
  name: string;
  /** This process's own consumer name. */
  self: boolean;
  watermark: number;
  lastSeen: string;
  secondsSinceSeen: number;
  state: ConsumerRow['state'];
  droppedWhy: string | null;
}

const asStatus = (runtime: Runtime) => {
  const me = consumerName(runtime.config);
  return (row: ConsumerRow): ConsumerStatus => ({
    name: row.consumer,
    self: row.consumer === me,
    watermark: row.watermark,
    lastSeen: row.lastSeen,
    secondsSinceSeen: row.secondsSinceSeen,
    state: row.state,
    droppedWhy: row.droppedWhy,
  });
};

export interface TableCaptureStatus {
  sourceId: string;
  table: string;
  changelog: string;
  /** False for capture found in the source (by its marker) for a table not in the configuration. */
  configured: boolean;
  problems: CaptureProblem[];
  /** Triggers feeding the changelog (orphans only). */
  triggers?: string[];
  consumers: ConsumerStatus[];
}

/**
 * Per configured table: what is wrong with its capture (a taken name included). Then capture found for
 * tables not in the configuration, with the consumers still reading it: an orphan no live consumer
 * reads is a problem (its changelog grows forever); `triggers uninstall --table` removes it.
 */
export async function captureStatus(runtime: Runtime, sourceId?: string): Promise<TableCaptureStatus[]> {
  const toStatus = asStatus(runtime);
  const perSource = await eachSource(runtime, selectedSources(runtime, sourceId), async (source) => {
    const statuses: TableCaptureStatus[] = [];
    const state = await readCaptureState(source, runtime.config.tables);
    const tables = await introspectTables(source, runtime.config.tables.map((t) => t.name));
    const changelogs = await introspectTables(
      source,
      runtime.config.tables.map((t) => namesOf(t).changelog).filter((name) => state.changelogs.get(name)?.marker),
    );
    const consumers = await readConsumers(runtime, source);
    const readersOf = (changelog: string): ConsumerStatus[] => consumers.filter((c) => c.changelog === changelog).map(toStatus);
    const configured = new Set<string>();
    for (const tableConfig of runtime.config.tables) {
      const raw = tables.get(tableConfig.name);
      const table = raw ? projectTable(raw, tableConfig, source.where) : undefined;
      const changelog = namesOf(tableConfig).changelog;
      configured.add(changelog);
      statuses.push({
        sourceId: source.id,
        table: tableConfig.name,
        changelog,
        configured: true,
        problems: captureProblems(table, tableConfig, state, changelogs.get(changelog)),
        consumers: readersOf(changelog),
      });
    }
    for (const entry of await readCaptureInventory(source)) {
      if (configured.has(entry.changelog)) continue;
      const readers = readersOf(entry.changelog);
      const live = readers.filter((r) => r.state === 'live' && !r.self);
      const problems: CaptureProblem[] =
        live.length > 0
          ? []
          : [
              {
                kind: 'orphan',
                object: entry.changelog,
                message: `capture of ${entry.marker.table} is installed (${[entry.changelog, ...entry.triggers.map((t) => t.name)].join(', ')}) but the table is not in the configuration and no other live consumer reads it, so its changelog only grows: remove it with \`tributary triggers uninstall --table ${entry.marker.table}\``,
              },
            ];
      statuses.push({
        sourceId: source.id,
        table: entry.marker.table,
        changelog: entry.changelog,
        configured: false,
        problems,
        triggers: entry.triggers.map((t) => t.name),
        consumers: readers,
      });
    }
    return statuses;
  });
  return perSource.flat();
}

export async function installAll(runtime: Runtime, sourceId?: string): Promise<(InstallOutcome & { sourceId: string })[]> {
  const planned = await planSources(runtime, sourceId);
  refuseTakenNames(runtime, planned);
  // Sources in parallel within concurrency, a source's tables one after the other.
  const perSource = await eachSource(runtime, planned.map((p) => p.source), async (source) => {
    const { plans } = planned.find((p) => p.source === source)!;
    await ensureRegistry(source, runtime.config.consumers.table);
    const outcomes: (InstallOutcome & { sourceId: string })[] = [];
    for (const plan of plans) outcomes.push({ sourceId: source.id, ...(await executeCapturePlan(source, plan)) });
    return outcomes;
  });
  return perSource.flat();
}

/**
 * What uninstall removes in one source: the configured tables' capture (only objects carrying the
 * marker), or with `table`, the capture of that one table, configured or found by its marker.
 */
async function planRemovals(runtime: Runtime, source: SourceHandle, table?: string): Promise<RemovalPlan[]> {
  const configured = runtime.config.tables.filter((t) => table === undefined || t.name === table);
  const state = await readCaptureState(source, configured.length > 0 ? configured : [{ name: table! }]);
  const plans = configured.map((t) => planRemoval(t, state));
  if (table !== undefined && configured.length === 0) {
    const found = (await readCaptureInventory(source)).filter((entry) => entry.marker.table === table);
    plans.push(...found.map(planRemovalOf));
  }
  return plans;
}

export interface UninstallOutcome {
  sourceId: string;
  table: string;
  /** The triggers and changelog table that were there and are now dropped (empty: nothing was installed). */
  removed: string[];
  /** Objects under capture names that Tributary did not create: not dropped. */
  leftAlone: string[];
}

/**
 * Removes capture. A changelog still read by another live consumer is kept unless `force`: removing
 * it would make that target snapshot again.
 */
export async function uninstallAll(runtime: Runtime, options: { sourceId?: string; table?: string; force?: boolean } = {}): Promise<UninstallOutcome[]> {
  const me = consumerName(runtime.config);
  const registry = runtime.config.consumers.table;
  const perSource = await eachSource(runtime, selectedSources(runtime, options.sourceId), async (source) => {
    const removals = await planRemovals(runtime, source, options.table);
    const readers = await readConsumers(runtime, source);
    const blocked: string[] = [];
    for (const removal of removals) {
      const others = readers.filter((r) => removal.changelogs.includes(r.changelog) && r.consumer !== me && r.state === 'live');
      if (others.length > 0) blocked.push(`${source.where}: ${removal.changelogs.join(', ')} is read by ${others.map((o) => o.consumer).join(', ')}`);
    }
    return { source, removals, blocked };
  });
  const blocked = perSource.flatMap((p) => p.blocked);
  if (blocked.length > 0 && !options.force) {
    throw new TributaryError(
      'CONFIG_INVALID',
      `refusing to remove capture other targets still read, nothing was changed: ${blocked.join('; ')}; run \`tributary triggers forget-consumer NAME\` for a target that is gone, or add --force`,
    );
  }
  const configured = runtime.config.tables.some((t) => t.name === options.table);
  if (options.table !== undefined && !configured && perSource.every((p) => p.removals.length === 0)) {
    throw new TributaryError('CONFIG_INVALID', `--table ${options.table}: no capture of that table was found${options.sourceId ? '' : ' in any source'}`);
  }
  const removed = await eachSource(runtime, perSource.map((p) => p.source), async (source) => {
    const { removals } = perSource.find((p) => p.source === source)!;
    const registryIsOurs = (await readRegistryState(source, registry)) === 'ours';
    const outcomes: UninstallOutcome[] = [];
    for (const removal of removals) {
      await executeRemoval(source, removal);
      if (registryIsOurs) for (const changelog of removal.changelogs) await deleteRegistrations(source, registry, changelog);
      outcomes.push({ sourceId: source.id, table: removal.table, removed: removal.dropped, leftAlone: removal.leftAlone });
    }
    return outcomes;
  });
  return removed.flat();
}

/** `triggers forget-consumer NAME`: that target stops holding changelog rows back in every source. */
export async function forgetConsumerEverywhere(runtime: Runtime, name: string, sourceId?: string): Promise<{ sourceId: string; registrations: number }[]> {
  const out: { sourceId: string; registrations: number }[] = [];
  for (const source of selectedSources(runtime, sourceId)) {
    const registry = runtime.config.consumers.table;
    const state = await readRegistryState(source, registry);
    if (state === 'taken') throw registryTaken(source, registry);
    out.push({ sourceId: source.id, registrations: state === 'ours' ? await forgetConsumer(source, registry, name) : 0 });
  }
  return out;
}
