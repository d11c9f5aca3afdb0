/** `tributary status`: progress per unit from the checkpoints, pending work from the changelogs. */
import { namesOf } from '../mysql/capture';
import { countPending } from '../mysql/changes';
import type { ConsumerRow } from '../mysql/consumers';
import { consumerName, readConsumers } from './consumers';
import { migrate } from '../postgres/migrate';
import { targetQuery } from '../postgres/connection';
import { sqlFile } from '../sqlfiles';
import { eachSource, type Runtime } from './runtime';

export interface UnitStatus {
  sourceId: string;
  table: string;
  target: string;
  snapshot: string;
  appliedThrough: number;
  pending: number | null;
  lagSeconds: number | null;
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

export async function unitStatuses(runtime: Runtime): Promise<UnitStatus[]> {
  await migrate(runtime.target);
  const rows = (await targetQuery(runtime.target.pool, runtime.target.where, 'reading status', sqlFile('state/status.sql'))).rows;
  const byKey = new Map(rows.map((r) => [JSON.stringify([r.source_id, r.source_table]), r]));
  const me = consumerName(runtime.config);
  // Sources in parallel within concurrency; the statuses come back in configuration order.
  const perSource = await eachSource(runtime, [...runtime.sources.values()], async (source) => {
    const statuses: UnitStatus[] = [];
    // Unreachable source or no registry: no consumers shown; `triggers status` says why.
    const registrations = await readConsumers(runtime, source).catch(() => [] as ConsumerRow[]);
    for (const table of runtime.config.tables) {
      const row = byKey.get(JSON.stringify([source.id, table.name]));
      const appliedThrough = row ? Number(row.high_water) : 0;
      let pending: number | null = null;
      let lagSeconds: number | null = null;
      try {
        ({ pending, lagSeconds } = await countPending(source, table, appliedThrough));
      } catch {
        // Unreachable source or missing changelog: shown as unknown; `triggers status` says why.
      }
      statuses.push({
        sourceId: source.id,
        table: table.name,
        target: table.target,
        snapshot: row?.snapshot_state ?? 'never run',
        appliedThrough,
        pending,
        lagSeconds,
        openGaps: row ? Number(row.held_gaps) + Number(row.waiting_gaps) : 0,
        heldGaps: row ? Number(row.held_gaps) : 0,
        waitingGaps: row ? Number(row.waiting_gaps) : 0,
        lastPassAt: row?.last_pass_at ?? null,
        lastAppliedAt: row?.last_applied_at ?? null,
        lastError: row?.last_error ?? null,
        consumers: registrations
          .filter((r) => r.changelog === namesOf(table).changelog)
          .map((r) => ({ name: r.consumer, self: r.consumer === me, watermark: r.watermark, lastSeen: r.lastSeen, state: r.state })),
      });
    }
    return statuses;
  });
  return perSource.flat();
}
