/**
 * `tributary status`: progress per unit from the checkpoints, pending work from the changelogs. It only
 * reads: a monitoring role with SELECT on tributary.* and USAGE on the schema can run it, and it
 * creates nothing (before the first sync there is no state schema: every unit is "not synced yet").
 */
import { TributaryError } from '../errors';
import { namesOf } from '../mysql/capture';
import { countPending } from '../mysql/changes';
import type { ConsumerRow } from '../mysql/consumers';
import { isNoSuchTable } from '../mysql/errors';
import { stateSchemaPresent, statusRows } from '../postgres/state';
import { consumerName, readConsumers } from './consumers';
import { asTributaryError } from './outages';
import { eachSource, type Runtime } from './runtime';

export interface UnitStatus {
  sourceId: string;
  table: string;
  target: string;
  snapshot: string;
  appliedThrough: number;
  pending: number | null;
  lagSeconds: number | null;
  /** Why pending and lag are unknown (the source's error), when they are. */
  unknownReason: string | null;
  unknownCode: string | null;
  /** Missing change ids still watched: heldGaps + waitingGaps. */
  openGaps: number;
  /** Of those, ids a writing transaction alive at the last look may still commit. */
  heldGaps: number;
  /** Ids not examined yet: evidence comes a second after a gap is first seen (or the timeout, without PROCESS). */
  waitingGaps: number;
  lastPassAt: Date | null;
  lastAppliedAt: Date | null;
  lastError: string | null;
  /** The targets reading this changelog (this one included once it has run), from the source's registry. */
  consumers: { name: string; self: boolean; watermark: number; lastSeen: string; state: ConsumerRow['state'] }[];
}

export interface StatusReport {
  /** False while the target holds no tributary state schema: nothing was synced yet. */
  synced: boolean;
  units: UnitStatus[];
}

/** The changelog was never created here (the MySQL side says no such table). */
function changelogMissing(error: unknown, table: string, where: string): TributaryError | null {
  if (!isNoSuchTable(error)) return null;
  return new TributaryError('CHANGELOG_MISSING', `capture of ${table} is not installed in ${where}: run \`tributary triggers install\``);
}

export async function unitStatuses(runtime: Runtime): Promise<StatusReport> {
  const present = await stateSchemaPresent(runtime.target.pool, runtime.target.where);
  const rows = present ? await statusRows(runtime.target.pool, runtime.target.where) : [];
  const byKey = new Map(rows.map((r) => [JSON.stringify([r.sourceId, r.table]), r]));
  const me = consumerName(runtime.config);
  // Sources in parallel within concurrency; the statuses come back in configuration order.
  const perSource = await eachSource(runtime, [...runtime.sources.values()], async (source) => {
    const statuses: UnitStatus[] = [];
    // A source that cannot be reached is asked once, not once per table.
    let unreachable: TributaryError | null = null;
    // No registry: no consumers shown; `triggers status` says why.
    const registrations = await readConsumers(runtime, source).catch((error: unknown) => {
      const mapped = asTributaryError(error);
      if (mapped.code === 'SOURCE_UNREACHABLE') unreachable = mapped;
      return [] as ConsumerRow[];
    });
    for (const table of runtime.config.tables) {
      const row = byKey.get(JSON.stringify([source.id, table.name]));
      const appliedThrough = row?.highWater ?? 0;
      let pending: number | null = null;
      let lagSeconds: number | null = null;
      let unknown: TributaryError | null = unreachable;
      if (!unknown) {
        try {
          ({ pending, lagSeconds } = await countPending(source, table, appliedThrough));
        } catch (error) {
          unknown = changelogMissing(error, table.name, source.where) ?? asTributaryError(error);
          if (unknown.code === 'SOURCE_UNREACHABLE') unreachable = unknown;
        }
      }
      statuses.push({
        sourceId: source.id,
        table: table.name,
        target: table.target,
        snapshot: row?.snapshotState ?? (present ? 'never run' : 'not synced yet'),
        appliedThrough,
        pending,
        lagSeconds,
        unknownReason: unknown?.message ?? null,
        unknownCode: unknown?.code ?? null,
        openGaps: row ? row.heldGaps + row.waitingGaps : 0,
        heldGaps: row?.heldGaps ?? 0,
        waitingGaps: row?.waitingGaps ?? 0,
        lastPassAt: row?.lastPassAt ?? null,
        lastAppliedAt: row?.lastAppliedAt ?? null,
        lastError: row?.lastError ?? null,
        consumers: registrations
          .filter((r) => r.changelog === namesOf(table).changelog)
          .map((r) => ({ name: r.consumer, self: r.consumer === me, watermark: r.watermark, lastSeen: r.lastSeen, state: r.state })),
      });
    }
    return statuses;
  });
  return { synced: present, units: perSource.flat() };
}
