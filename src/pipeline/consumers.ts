/**
 * Several targets per source. Each target is a consumer of the changelogs it reads, registered in the
 * source (src/mysql/consumers.ts) with what it has applied. A changelog row is pruned only once every
 * live consumer has applied it, so no consumer finds its sentinel or its rows pruned by another.
 *
 * Ordering that keeps this safe: a consumer registers (holding every row) before its snapshot begins,
 * and a pruner reads the registrations after it has read the rows it deletes. A consumer registering
 * later starts its snapshot after those rows were written, so the snapshot covers them.
 */
import pLimit from 'p-limit';
import { boundedName } from '../ident';
import type { TributaryConfig } from '../config';
import { namesOf } from '../mysql/capture';
import { findApplied, pruneChanges } from '../mysql/changes';
import type { SourceHandle } from '../mysql/connection';
import { isPrivilegeDenied } from '../mysql/errors';
import {
  type ConsumerRow,
  dropStale,
  enterRegistry,
  assertRegistryWritable,
  ensureRegistry,
  heartbeat,
  listConsumers,
  type OtherConsumers,
  otherConsumers,
  publishProgress,
  readRegistryState,
  type Registration,
  registryStateOf,
  rejoinRegistry,
} from '../mysql/consumers';
import type { Checkpoint, StoredGap } from '../postgres/state';
import { inGaps } from './gaps';
import { pruneBatch } from './apply';
import type { Batch } from './poll';
import { type Runtime, type Unit, unitKey, usingSource } from './runtime';

/** This target's consumer name: the `consumer` setting, else host:port/database/schema of the target. */
export function consumerName(config: TributaryConfig): string {
  if (config.consumer) return config.consumer;
  const target = config.target.endpoint;
  return boundedName('', `${target.host}:${target.port}/${target.database}/${config.target.schema}`, '', 191);
}

interface ConsumerMemory {
  /** Per source: whether the registry can be used (created if absent); asked once per process. */
  registries: Map<string, Promise<boolean>>;
  /** Per unit: the progress last published, to write only when it changed. */
  published: Map<string, string>;
  /** Per unit: when this process last entered the registry, and from which watermark. */
  entered: Map<string, { at: number; highWater: number }>;
  /** Per source: when this process last marked its consumer seen. */
  heartbeats: Map<string, number>;
}

const memories = new WeakMap<Runtime, ConsumerMemory>();

function memoryOf(runtime: Runtime): ConsumerMemory {
  let memory = memories.get(runtime);
  if (!memory) {
    memory = { registries: new Map(), published: new Map(), entered: new Map(), heartbeats: new Map() };
    memories.set(runtime, memory);
  }
  return memory;
}

/**
 * Whether the registry of this source can be used: created when absent. A sync user that may not
 * create or write it works as a single consumer, with a warning: it prunes what it has applied.
 */
export function registryReady(runtime: Runtime, source: SourceHandle): Promise<boolean> {
  const memory = memoryOf(runtime);
  let ready = memory.registries.get(source.id);
  if (!ready) {
    const table = runtime.config.consumers.table;
    ready = ensureRegistry(source, table)
      .then(() => assertRegistryWritable(source, table))
      .then(
      () => true,
      (error: unknown) => {
        if (!isPrivilegeDenied(error)) {
          memory.registries.delete(source.id);
          throw error;
        }
        warnRegistryUnusable(runtime, source);
        return false;
      },
    );
    memory.registries.set(source.id, ready);
  }
  return ready;
}

function warnRegistryUnusable(runtime: Runtime, source: SourceHandle): void {
  const table = runtime.config.consumers.table;
  runtime.logger.warn(
    `the consumer registry ${table} is missing or not writable for the sync user; this target prunes changelog rows it has applied without knowing other targets: run \`tributary triggers install\` and grant the sync user SELECT, INSERT, UPDATE on it (see \`triggers print --grants\`)`,
    { source: source.id },
  );
}

const registrationOf = (runtime: Runtime, unit: Unit): Registration => ({
  consumer: consumerName(runtime.config),
  changelog: namesOf(unit.sourceTable).changelog,
  sourceTable: unit.sourceTable.name,
});

// A unit that entered the registry this recently, from the same watermark or below, skips the write:
// follow mode runs many passes a second. Being dropped meanwhile (only by forget-consumer while this
// process runs) is noticed at the next entry, and the snapshot that follows covers what was missed.
const ENTER_EVERY_MS = 60_000;

/**
 * Before a unit does anything: marks this consumer seen and holding rows from its watermark on (every
 * row, when new or starting over). A consumer that others dropped (unseen too long, or forgotten)
 * cannot trust the changelog any more: it starts over with a fresh snapshot, registered again first.
 */
export async function enterConsumer(runtime: Runtime, unit: Unit, checkpoint: Checkpoint, dryRun: boolean, startOver: (why: string) => Promise<Checkpoint>): Promise<Checkpoint> {
  if (dryRun || !(await registryReady(runtime, unit.source))) return checkpoint;
  const key = unitKey(unit.source.id, unit.sourceTable.name);
  const memory = memoryOf(runtime);
  const last = memory.entered.get(key);
  const recent = last !== undefined && Date.now() - last.at < ENTER_EVERY_MS && checkpoint.highWater >= last.highWater && checkpoint.snapshotState === 'done';
  if (recent) return checkpoint;
  const table = runtime.config.consumers.table;
  const who = registrationOf(runtime, unit);
  const entered = await enterRegistry(unit.source, table, who, checkpoint.highWater, runtime.config.retention.seconds);
  const fields = { source: unit.source.id, table: unit.sourceTable.name, consumer: who.consumer };
  if (entered === 'registered') runtime.logger.info('registered as a consumer of the changelog', fields);
  if (entered !== 'dropped') {
    memory.entered.set(key, { at: Date.now(), highWater: checkpoint.highWater });
    return checkpoint;
  }
  const fresh = await startOver(
    `this target (consumer ${who.consumer}) was dropped from the readers of ${who.changelog} (unseen too long, or forgotten), so other targets may have pruned changes it had not applied`,
  );
  await rejoinRegistry(unit.source, table, who);
  memory.published.delete(key);
  memory.entered.set(key, { at: Date.now(), highWater: fresh.highWater });
  return fresh;
}

async function othersOf(runtime: Runtime, unit: Unit): Promise<OtherConsumers | null> {
  if (!(await registryReady(runtime, unit.source))) return null;
  return otherConsumers(unit.source, runtime.config.consumers.table, registrationOf(runtime, unit));
}

/**
 * Prunes a committed batch's rows, except those another consumer still needs. With retention (this
 * consumer's or another's) rows are pruned by age in sweepApplied instead.
 */
export async function pruneApplied(runtime: Runtime, unit: Unit, batch: Batch): Promise<number> {
  if (runtime.config.retention.seconds > 0) return 0;
  const others = await othersOf(runtime, unit);
  // Without a readable registry other targets may prune the same rows unseen: ids only.
  if (!others || others.count === 0) return pruneBatch(unit, batch, Infinity, others !== null);
  if (others.retentionSeconds > 0) return 0;
  return pruneBatch(unit, batch, others.floor);
}

// Ids looked at per sweep query.
const SWEEP_CHUNK = 10_000;

/**
 * Deletes changelog rows below highWater (but the ids `keep` says, those of watched gaps) that every live consumer has
 * applied and that are past the longest retention asked for. The candidates are read before the
 * registrations, so a consumer registering meanwhile is covered by its own snapshot.
 */
export async function sweepApplied(runtime: Runtime, unit: Unit, highWater: number, keep: (changeId: number) => boolean): Promise<number> {
  const own = runtime.config.retention.seconds;
  const before = await othersOf(runtime, unit);
  const olderThan = Math.max(own, before?.retentionSeconds ?? 0);
  let total = 0;
  let after = 0;
  for (;;) {
    const ids = await findApplied(unit.source, unit.sourceTable, after, highWater, olderThan, SWEEP_CHUNK);
    if (ids.length === 0) return total;
    const floor = (await othersOf(runtime, unit))?.floor ?? Infinity;
    total += await pruneChanges(unit.source, unit.sourceTable, ids.filter((id) => id < floor && !keep(id)));
    after = ids[ids.length - 1]!;
    if (after >= floor) return total;
  }
}

// Sweeping and dropping stale consumers cost queries; once a minute per unit is plenty.
const SWEEP_EVERY_MS = 60_000;

/**
 * After a unit's pass: publishes what it has applied (when that changed), and now and then drops
 * stale consumers and sweeps rows every consumer has applied (leftovers of two consumers pruning at
 * once, rows kept for a consumer that has since moved on, rows past retention).
 */
export async function afterPass(runtime: Runtime, unit: Unit, highWater: number, gaps: readonly StoredGap[]): Promise<void> {
  const memory = memoryOf(runtime);
  const key = unitKey(unit.source.id, unit.sourceTable.name);
  const ready = await registryReady(runtime, unit.source);
  const table = runtime.config.consumers.table;
  const who = registrationOf(runtime, unit);
  if (ready) {
    // Rows from the lowest watched gap on are still needed: a gap's row may yet appear.
    const keepFrom = gaps.reduce((lowest, g) => Math.min(lowest, g.first), highWater);
    const progress = `${highWater}:${keepFrom}`;
    if (memory.published.get(key) !== progress) {
      if (await publishProgress(unit.source, table, who, highWater, keepFrom)) {
        memory.published.set(key, progress);
      } else {
        memory.entered.delete(key);
        runtime.logger.warn('this target was dropped from the readers of the changelog during the pass; its next pass snapshots the table again', { source: unit.source.id, table: unit.sourceTable.name });
      }
    }
  }
  if (Date.now() - (runtime.retentionPrunedAt.get(key) ?? 0) < SWEEP_EVERY_MS) return;
  runtime.retentionPrunedAt.set(key, Date.now());
  if (ready) {
    const dropped = await dropStale(unit.source, table, who, runtime.config.consumers.staleAfterSeconds);
    if (dropped.length > 0) {
      runtime.logger.warn('consumers unseen for longer than consumers.staleAfterSeconds no longer hold changelog rows back; they snapshot again if they return', {
        source: unit.source.id,
        table: unit.sourceTable.name,
        consumers: dropped,
      });
    }
  }
  // One index range read when there is nothing to sweep.
  const pruned = await sweepApplied(runtime, unit, highWater, (changeId) => inGaps(gaps, changeId));
  if (pruned > 0) runtime.logger.info('pruned changelog rows every consumer has applied', { source: unit.source.id, table: unit.sourceTable.name, rows: pruned });
}

// Marking a consumer seen: often enough that no staleness setting (at least an hour) comes near it.
const HEARTBEAT_EVERY_MS = 60_000;

/** Marks this consumer seen on every source at most once a minute, idle units included. */
export async function heartbeatConsumers(runtime: Runtime): Promise<void> {
  const memory = memoryOf(runtime);
  const consumer = consumerName(runtime.config);
  const changelogs = runtime.config.tables.map((t) => namesOf(t).changelog);
  // Up to `concurrency` sources at a time, as the pass itself: one after the other, hundreds of
  // sources made this the longest step of an idle pass.
  const limit = pLimit(runtime.config.concurrency);
  const due = [...runtime.sources.values()].filter(
    // A down source is tried on its own schedule (outages.ts), not by the heartbeat.
    (source) => !runtime.outages.has(source.id) && Date.now() - (memory.heartbeats.get(source.id) ?? 0) >= HEARTBEAT_EVERY_MS,
  );
  await Promise.all(
    due.map((source) =>
      limit(async () => {
        memory.heartbeats.set(source.id, Date.now());
        try {
          await usingSource(runtime, source, async () => {
            const table = runtime.config.consumers.table;
            if (!memory.registries.has(source.id) && registryOursByCheck(runtime, source)) {
              // The capture check saw the registry, with its marker: the heartbeat is the one statement
              // needed (registryReady's existence and write checks cost three). Refused, it says what the
              // UPDATE check of registryReady would: the registry is not writable for this user. An
              // INSERT it may not make is found by registryReady when a unit next needs the registry.
              try {
                await heartbeat(source, table, consumer, changelogs);
              } catch (error) {
                if (!isPrivilegeDenied(error)) throw error;
                memory.registries.set(source.id, Promise.resolve(false));
                warnRegistryUnusable(runtime, source);
              }
              return;
            }
            if (await registryReady(runtime, source)) await heartbeat(source, table, consumer, changelogs);
          });
        } catch (error) {
          runtime.logger.warn('could not mark this consumer seen', { source: source.id, error: error instanceof Error ? error.message : String(error) });
        }
      }),
    ),
  );
}

/** Whether the source's last capture check (read with the registry) found the registry, Tributary's. */
function registryOursByCheck(runtime: Runtime, source: SourceHandle): boolean {
  const comment = runtime.shapes.get(source.id)?.state.registryComment;
  return typeof comment === 'string' && registryStateOf(comment) === 'ours';
}

/** The registrations in one source, or none when it has no registry (read-only: nothing is created). */
export async function readConsumers(runtime: Runtime, source: SourceHandle): Promise<ConsumerRow[]> {
  const table = runtime.config.consumers.table;
  if ((await readRegistryState(source, table)) !== 'ours') return [];
  return listConsumers(source, table, runtime.config.consumers.staleAfterSeconds);
}
