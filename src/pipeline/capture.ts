/** `tributary triggers print|install|status|uninstall`: capture management, returned as values. */
import {
  captureNames,
  captureProblems,
  type CaptureProblem,
  type InstallOutcome,
  installCapture,
  installScript,
  newChangelogToken,
  readCaptureState,
  uninstallCapture,
  uninstallScript,
} from '../mysql/capture';
import type { SourceHandle } from '../mysql/connection';
import { introspectTables } from '../mysql/introspect';
import type { Runtime } from './runtime';
import { introspectSources } from './runtime';
import { projectTable } from './projection';

function selectedSources(runtime: Runtime, sourceId?: string): SourceHandle[] {
  return [...runtime.sources.values()].filter((s) => !sourceId || s.id === sourceId);
}

const tableNames = (runtime: Runtime): string[] => runtime.config.tables.map((t) => t.name);

export interface PrintedScript {
  sourceId: string;
  where: string;
  statements: { table: string; sql: string[] }[];
}

export async function printCapture(runtime: Runtime, sourceId?: string): Promise<PrintedScript[]> {
  const shapes = await introspectSources(runtime);
  return selectedSources(runtime, sourceId).map((source) => ({
    sourceId: source.id,
    where: source.where,
    statements: tableNames(runtime).map((name) => ({ table: name, sql: installScript(shapes.get(source.id)!.get(name)!, newChangelogToken()) })),
  }));
}

export function printUninstall(runtime: Runtime, sourceId?: string): PrintedScript[] {
  return selectedSources(runtime, sourceId).map((source) => ({
    sourceId: source.id,
    where: source.where,
    statements: tableNames(runtime).map((name) => ({ table: name, sql: uninstallScript(name) })),
  }));
}

export interface TableCaptureStatus {
  sourceId: string;
  table: string;
  changelog: string;
  problems: CaptureProblem[];
}

export async function captureStatus(runtime: Runtime, sourceId?: string): Promise<TableCaptureStatus[]> {
  const statuses: TableCaptureStatus[] = [];
  for (const source of selectedSources(runtime, sourceId)) {
    const names = tableNames(runtime);
    const state = await readCaptureState(source, names);
    const tables = await introspectTables(source, names);
    const changelogs = await introspectTables(source, names.map((n) => captureNames(n).changelog));
    for (const tableConfig of runtime.config.tables) {
      const name = tableConfig.name;
      const raw = tables.get(name);
      const table = raw ? projectTable(raw, tableConfig, source.where) : undefined;
      const changelog = captureNames(name).changelog;
      statuses.push({ sourceId: source.id, table: name, changelog, problems: captureProblems(table, name, state, changelogs.get(changelog)) });
    }
  }
  return statuses;
}

export async function installAll(runtime: Runtime, sourceId?: string): Promise<(InstallOutcome & { sourceId: string })[]> {
  const shapes = await introspectSources(runtime);
  const outcomes: (InstallOutcome & { sourceId: string })[] = [];
  for (const source of selectedSources(runtime, sourceId)) {
    for (const name of tableNames(runtime)) {
      outcomes.push({ sourceId: source.id, ...(await installCapture(source, shapes.get(source.id)!.get(name)!)) });
    }
  }
  return outcomes;
}

export interface UninstallOutcome {
  sourceId: string;
  table: string;
  /** The triggers and changelog table that were there and are now dropped (empty: nothing was installed). */
  removed: string[];
}

export async function uninstallAll(runtime: Runtime, sourceId?: string): Promise<UninstallOutcome[]> {
  const outcomes: UninstallOutcome[] = [];
  for (const source of selectedSources(runtime, sourceId)) {
    // Read first, so that a second uninstall says nothing was there rather than "removed" again.
    const state = await readCaptureState(source, tableNames(runtime));
    for (const name of tableNames(runtime)) {
      const names = captureNames(name);
      const present = [...Object.values(names.triggers).filter((t) => state.triggers.has(t)), ...(state.changelogs.has(names.changelog) ? [names.changelog] : [])];
      await uninstallCapture(source, name);
      outcomes.push({ sourceId: source.id, table: name, removed: present });
    }
  }
  return outcomes;
}
