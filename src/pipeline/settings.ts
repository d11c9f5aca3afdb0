/**
 * Config edits take effect: each unit remembers the table settings its target rows were synced with.
 * An edited setting is noticed on the next pass and brought into the target, logged once:
 * - a new `target`: the new table is filled by a snapshot (the old one is left as it was);
 * - `where`, `columns`, `rename`, `onBadValue`, the conflict settings, and a `key` or
 *   `keyIncludesSource` the target table already has: a re-snapshot that never leaves rows missing
 *   (see snapshot.ts), which also removes rows that no longer belong.
 * A key the target table does not have cannot be changed in place; preparing the table refuses it and
 * stops that table with what to do (see keyChangeProblem).
 */
import type { TableConfig } from '../config';
import { boundedMemo } from '../memo';
import { inTransaction, type PoolClient } from '../postgres/connection';
import { type Checkpoint, unitState } from '../postgres/state';
import { type Runtime, stateUnit, type Unit } from './runtime';

/** What a unit's target rows depend on, besides the source's data. Stored as JSON with the checkpoint. */
export interface SyncedSettings {
  target: string;
  where: string | null;
  columns: { include: string[] | null; exclude: string[] | null };
  rename: [string, string][];
  key: string[];
  keyIncludesSource: boolean;
  onBadValue: string;
  conflict: { policy: string; newestBy: string | null; priority: string[] | null };
}

const sorted = (list: readonly string[] | undefined): string[] | null => (list ? [...list].sort() : null);

export function unitSettings(unit: Unit, schema: string): SyncedSettings {
  const t: TableConfig = unit.tableConfig;
  return {
    target: `${schema}.${t.target}`,
    where: t.where ?? null,
    columns: { include: sorted(t.includeColumns), exclude: sorted(t.excludeColumns) },
    rename: Object.entries(t.rename).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    key: [...unit.sourceTable.key],
    keyIncludesSource: t.keyIncludesSource,
    onBadValue: t.onBadValue,
    conflict: { policy: t.conflict, newestBy: t.newestBy ?? null, priority: t.priority ? [...t.priority] : null },
  };
}

/** Names of the settings that differ from the stored ones (all of them if what is stored is unreadable). */
export function changedSettings(stored: unknown, current: SyncedSettings): (keyof SyncedSettings)[] {
  const names = Object.keys(current) as (keyof SyncedSettings)[];
  if (stored === null || typeof stored !== 'object') return names;
  const before = stored as Record<string, unknown>;
  return names.filter((name) => canonical(before[name] ?? null) !== canonical(current[name]));
}

/** JSON with object keys sorted: jsonb hands stored objects back with its own key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

// Every idle unit asks on every pass, and units of one table share their settings (and, across shards,
// their stored settings too): each canonical text is made once per distinct value. Keyed by the
// plain JSON text, which differs whenever the value does. Bounded: dropped whole past this size.
const canonicalOnce = boundedMemo(10_000, (value: unknown) => JSON.stringify(value), canonical);

/** Whether the stored settings are the current ones (for telling idle units apart cheaply). */
export function settingsUnchanged(stored: unknown, unit: Unit, schema: string): boolean {
  if (stored === null || stored === undefined) return false;
  const current = unitSettings(unit, schema);
  // One comparison of the whole instead of one per setting (every idle unit asks, every pass); only
  // stored settings that differ, or carry more than the current ones, are compared setting by setting.
  return canonicalOnce(stored) === canonicalOnce(current) || changedSettings(stored, current).length === 0;
}

/**
 * Compares the unit's settings with those its rows were synced with and, when they differ, asks for
 * the snapshot that brings the target in line. The first pass (or the first after an upgrade) has
 * nothing to compare with: it only records them.
 */
export async function noticeSettingChanges(client: PoolClient, runtime: Runtime, unit: Unit, checkpoint: Checkpoint): Promise<Checkpoint> {
  const where = runtime.target.where;
  const id = { sourceId: unit.source.id, table: unit.sourceTable.name };
  const state = unitState(client, where, stateUnit(unit));
  const current = unitSettings(unit, runtime.config.target.schema);
  const stored = checkpoint.syncedSettings;
  if (stored === null || stored === undefined) {
    unit.targetCreated = false;
    await state.setSyncedSettings(current);
    return checkpoint;
  }
  const changed = changedSettings(stored, current);
  const recreated = unit.targetCreated === true && checkpoint.snapshotState === 'done';
  unit.targetCreated = false;
  if (recreated && changed.length === 0) {
    // Dropped in PostgreSQL (or never there) while the unit counted it as synced: copied again.
    runtime.logger.warn('target table was created afresh although the table was synced before: its rows are copied again', { source: id.sourceId, table: id.table, target: current.target });
    await state.requestResnapshot();
    return state.load();
  }
  if (changed.length === 0) return checkpoint;
  const before = stored as Partial<SyncedSettings>;
  await inTransaction(client, where, 'applying changed settings', async () => {
    await state.requestResnapshot();
    await state.setSyncedSettings(current);
  });
  const fields = { source: id.sourceId, table: id.table, changed, ...Object.fromEntries(changed.map((name) => [name, { from: before[name] ?? null, to: current[name] }])) };
  if (changed.includes('target')) {
    runtime.logger.warn('target table changed in the settings: the new table is filled by a snapshot; the old table is left as it was', fields);
  } else {
    runtime.logger.warn('table settings changed since the last sync: the rows are copied again, without leaving any missing meanwhile', fields);
  }
  return state.load();
}
