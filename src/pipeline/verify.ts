/**
 * `tributary verify`: compares every source table with its rows in PostgreSQL and, with repair,
 * re-copies exactly the keys that differ. Finds what triggers cannot see: rows removed by a foreign-key
 * cascade, a TRUNCATE, rows changed or deleted by hand in PostgreSQL.
 *
 * Per unit (source, table): the source table is read in key order, chunk by chunk (keyset pagination,
 * as the snapshot does). Each chunk is COPYed, encoded exactly as the sync encodes it, into a session
 * temp table shaped like the target and compared inside PostgreSQL with the target rows of the same
 * source and keys: a checksum of both sides first, and only when it differs a join that lists the keys
 * missing in the target or whose row differs. The chunk's keys are also added to a temp table of seen
 * keys; after the scan, the target rows of the source whose key was not seen are the candidates for
 * "extra". Every candidate is confirmed by reading its current source row again and comparing once
 * more, so a change the sync applied while the scan ran is not reported. Node holds at most one chunk
 * of keys; whole tables and key sets stay in MySQL and PostgreSQL.
 *
 * Results are values; printing and exit codes are the CLI's business.
 */
import { TributaryError } from '../errors';
import type { SourceRow, SourceValue } from '../model';
import { type AppliedCounts, repairKeys } from './apply';
import { describeKey, encodeKeyOnly, encodeRow, keyString, rowKey } from '../convert/rows';
import { prepareRuntime, type Runtime, type Unit } from './runtime';
import { fetchRows, streamSnapshotChunk } from '../mysql/changes';
import {
  analyzeSeenSql,
  chunkChecksumSql,
  chunkDiffSql,
  chunkRejectedSql,
  collectExtrasSql,
  compareTables,
  type CompareTables,
  confirmSql,
  countTargetSql,
  createCompareTablesSql,
  dropCompareTablesSql,
  extraPageSql,
  keyFromText,
  KEY_LOOKUPS_ONLY_SQL,
  keysCopyColumns,
  rememberKeysSql,
  rowsCopyColumns,
  TARGET_COLUMN_TYPES_SQL,
  targetKeyColumns,
} from '../postgres/compare';
import { connectTarget, inTransaction, type PoolClient, targetQuery } from '../postgres/connection';
import { isSnapshotDone } from '../postgres/state';
import type { MergeCounts } from '../postgres/merge';
import { copyLines } from '../postgres/stage';
import { quotePg } from '../ident';

export interface VerifyOptions {
  /** Only this source. */
  sourceId?: string;
  /** Only these tables (their names in the sources, as configured); one name or several. */
  table?: string | readonly string[];
  /** Re-copy the differing keys from the source, then verify the unit again. */
  repair?: boolean;
  /** Source rows per chunk (one COPY and comparison each); default 10,000. */
  chunkSize?: number;
}

export type DifferenceKind = 'missing' | 'extra' | 'different';

/** What one comparison of a unit found. */
export interface Comparison {
  /** Rows read from the source table. */
  sourceRows: number;
  /** Rows of this source in the target table, counted after the scan. */
  targetRows: number;
  /** Keys with a source row but no target row. */
  missing: number;
  /** Keys with a target row but no source row. */
  extra: number;
  /** Keys whose target row differs from the source row. */
  different: number;
  /**
   * Source rows the table's onBadValue policy keeps out of the target (recorded in tributary.rejects):
   * the target cannot hold their current values, so they are never equal; reported as their own state.
   */
  rejected: number;
  /** Of the rejected rows, those of which the target holds no earlier (last good) version at all. */
  rejectedWithoutVersion: number;
  /** Up to 10 keys of each kind, as `col=value, ...` (rejected: with "no version in target" where so). */
  samples: Record<DifferenceKind | 'rejected', string[]>;
}

export interface VerifyResult {
  sourceId: string;
  table: string;
  target: string;
  /**
   * equal: no difference and no rejected row. different: differences remain (after repair too, if
   * repairing). rejected: no other difference, but source rows whose values PostgreSQL cannot hold are
   * kept out (onBadValue: reject; the target keeps their last good version, if any).
   * repaired: differences were found, repaired, and a second comparison found none.
   * not-synced: the table's snapshot for this source has not finished, so there is nothing to compare yet.
   * failed: the comparison stopped on an error (reason, errorCode).
   */
  state: 'equal' | 'different' | 'rejected' | 'repaired' | 'not-synced' | 'failed';
  /** The final comparison (after the repair when repairing); null when not synced or failed. */
  comparison: Comparison | null;
  /** With repair, when something was found: the first comparison and what the repair changed. */
  repair?: { found: Comparison } & MergeCounts;
  reason?: string;
  errorCode?: string;
  ms: number;
}

const DEFAULT_CHUNK_SIZE = 10_000;
// Keys confirmed (re-read from the source and compared again) per transaction.
const CONFIRM_SLICE = 1_000;
const SAMPLE_LIMIT = 10;

export async function verify(runtime: Runtime, options: VerifyOptions = {}): Promise<VerifyResult[]> {
  if (options.sourceId !== undefined && !runtime.sources.has(options.sourceId)) {
    throw new TributaryError('CONFIG_INVALID', `--source ${options.sourceId}: no such source in the configuration (sources: ${[...runtime.sources.keys()].join(', ')})`);
  }
  const tables = options.table === undefined ? undefined : typeof options.table === 'string' ? [options.table] : [...options.table];
  for (const table of tables ?? []) {
    if (!runtime.config.tables.some((t) => t.name === table)) {
      throw new TributaryError('CONFIG_INVALID', `--table ${table}: no such table in the configuration (tables: ${runtime.config.tables.map((t) => t.name).join(', ')})`);
    }
  }
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new TributaryError('CONFIG_INVALID', `verify chunk size must be a positive integer, got ${chunkSize}`);
  const units = runtime.units.length > 0 ? runtime.units : await prepareRuntime(runtime, { captureOptional: true });
  const wanted = (sourceId: string, table: string): boolean => (options.sourceId === undefined || sourceId === options.sourceId) && (tables === undefined || tables.includes(table));
  const selected = units.filter((u) => wanted(u.source.id, u.sourceTable.name));
  // One unit at a time: each holds a target connection for its temp tables, and a repair takes a second.
  const results: VerifyResult[] = [];
  for (const unit of selected) results.push(await verifyUnit(runtime, unit, chunkSize, options.repair === true));
  // Tables of sources that could not be read, and tables that cannot be synced, are failures with their reason.
  const unavailable = [
    ...[...runtime.outages].flatMap(([sourceId, outage]) => runtime.config.tables.map((t) => ({ sourceId, table: t.name, target: t.target, error: outage.error }))),
    ...runtime.refused.filter((r) => !runtime.outages.has(r.sourceId)),
  ];
  for (const u of unavailable.filter((x) => wanted(x.sourceId, x.table))) {
    results.push({ sourceId: u.sourceId, table: u.table, target: u.target, state: 'failed', comparison: null, reason: u.error.message, errorCode: u.error.code, ms: 0 });
  }
  return results;
}

export function hasDifferences(c: Comparison): boolean {
  return c.missing + c.extra + c.different > 0;
}

async function verifyUnit(runtime: Runtime, unit: Unit, chunkSize: number, repair: boolean): Promise<VerifyResult> {
  const started = Date.now();
  const base = { sourceId: unit.source.id, table: unit.sourceTable.name, target: unit.target.name };
  const log = runtime.logger.child({ source: unit.source.id, table: unit.sourceTable.name });
  try {
    if (unit.blocked) throw unit.blocked;
    if (!(await isSynced(runtime, unit))) {
      log.info('verify: table not synced yet (snapshot not finished); skipped');
      return { ...base, state: 'not-synced', comparison: null, ms: Date.now() - started };
    }
    const first = await compareUnit(runtime, unit, chunkSize, repair);
    log.info('verify: compared', { ...summary(first.comparison), ...(repair ? first.repaired : {}) });
    if (!hasDifferences(first.comparison)) return { ...base, state: cleanState(first.comparison, 'equal'), comparison: first.comparison, ms: Date.now() - started };
    if (!repair) return { ...base, state: 'different', comparison: first.comparison, ms: Date.now() - started };
    const final = await compareUnit(runtime, unit, chunkSize, false);
    log.info('verify: compared again after repair', summary(final.comparison));
    return {
      ...base,
      state: hasDifferences(final.comparison) ? 'different' : cleanState(final.comparison, 'repaired'),
      comparison: final.comparison,
      repair: { found: first.comparison, ...first.repaired },
      ms: Date.now() - started,
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error('verify failed', { error: message });
    return {
      ...base,
      state: 'failed',
      comparison: null,
      reason: message,
      errorCode: error instanceof TributaryError ? error.code : 'INTERNAL',
      ms: Date.now() - started,
    };
  }
}

/** A comparison without differences is still not clean while rows are kept out as rejected. */
function cleanState(c: Comparison, clean: 'equal' | 'repaired'): VerifyResult['state'] {
  return c.rejected > 0 ? 'rejected' : clean;
}

function summary(c: Comparison): Record<string, number> {
  return { sourceRows: c.sourceRows, targetRows: c.targetRows, missing: c.missing, extra: c.extra, different: c.different, rejected: c.rejected };
}

/** A unit is comparable once its snapshot has finished; before that its target rows are incomplete by design. */
async function isSynced(runtime: Runtime, unit: Unit): Promise<boolean> {
  return isSnapshotDone(runtime.target.pool, runtime.target.where, { sourceId: unit.source.id, table: unit.sourceTable.name });
}

/** Counts and samples of the differences found in one comparison. */
class Tally {
  readonly comparison: Comparison = {
    sourceRows: 0,
    targetRows: 0,
    missing: 0,
    extra: 0,
    different: 0,
    rejected: 0,
    rejectedWithoutVersion: 0,
    samples: { missing: [], extra: [], different: [], rejected: [] },
  };
  readonly repaired: MergeCounts = { inserted: 0, updated: 0, deleted: 0 };

  constructor(private readonly unit: Unit) {}

  add(kind: DifferenceKind, key: readonly SourceValue[]): void {
    this.comparison[kind]++;
    const samples = this.comparison.samples[kind];
    if (samples.length < SAMPLE_LIMIT) samples.push(describeKey(this.unit.target, key));
  }

  addRejected(key: readonly SourceValue[], kept: boolean): void {
    this.comparison.rejected++;
    if (!kept) this.comparison.rejectedWithoutVersion++;
    const samples = this.comparison.samples.rejected;
    if (samples.length < SAMPLE_LIMIT) samples.push(describeKey(this.unit.target, key) + (kept ? '' : ' (no version in target)'));
  }

  addRepair(counts: AppliedCounts): void {
    this.repaired.inserted += counts.inserted;
    this.repaired.updated += counts.updated;
    this.repaired.deleted += counts.deleted;
  }
}

interface UnitComparison {
  comparison: Comparison;
  repaired: MergeCounts;
}

/** What the steps of one comparison share: one target session holding the comparison's temp tables. */
interface CompareRun {
  runtime: Runtime;
  unit: Unit;
  client: PoolClient;
  where: string;
  doing: string;
  names: CompareTables;
  tally: Tally;
  chunkSize: number;
  repair: boolean;
}

/** Compares one unit: the scan of every source row, then the target rows the scan did not see. */
async function compareUnit(runtime: Runtime, unit: Unit, chunkSize: number, repair: boolean): Promise<UnitComparison> {
  const where = runtime.target.where;
  const table = unit.target;
  const doing = `verifying ${table.name} of source ${unit.source.id}`;
  const client = await connectTarget(runtime.target, doing);
  let broken = false;
  try {
    const columns = await targetQuery<{ name: string; type: string }>(client, where, doing, TARGET_COLUMN_TYPES_SQL, [table.qualified]);
    const names = compareTables(table, new Map(columns.rows.map((c) => [c.name, c.type])));
    for (const sql of createCompareTablesSql(table, names)) await targetQuery(client, where, doing, sql);
    const run: CompareRun = { runtime, unit, client, where, doing, names, tally: new Tally(unit), chunkSize, repair };
    await scanSource(run);
    await settleExtras(run);
    const counted = await targetQuery<{ n: string }>(client, where, doing, countTargetSql(table), [unit.source.id]);
    run.tally.comparison.targetRows = Number(counted.rows[0]!.n);
    for (const sql of dropCompareTablesSql(names)) await targetQuery(client, where, doing, sql);
    return { comparison: run.tally.comparison, repaired: run.tally.repaired };
  } catch (error) {
    // The session's temp tables go with the connection.
    broken = true;
    throw error;
  } finally {
    client.release(broken ? true : undefined);
  }
}

/** The scan: every source row, chunk by chunk in key order; differing keys are settled per chunk. */
async function scanSource(run: CompareRun): Promise<void> {
  let after: SourceValue[] | null = null;
  for (;;) {
    const { keys, differing } = await compareChunk(run, after);
    run.tally.comparison.sourceRows += keys.length;
    await settle(run, differing);
    if (keys.length < run.chunkSize) break;
    after = keys[keys.length - 1]!;
  }
}

/**
 * One chunk of source rows after the given key, COPYed and compared with the target in one
 * transaction: a checksum of both sides first, the differing keys only when it differs. The chunk's
 * keys are remembered as seen.
 */
async function compareChunk(run: CompareRun, from: SourceValue[] | null): Promise<{ keys: SourceValue[][]; differing: SourceValue[][] }> {
  const { unit, client, where, doing, names } = run;
  const table = unit.target;
  const sourceId = unit.source.id;
  const keys: SourceValue[][] = [];
  // Rows kept out whose key is staged: whether the target holds an earlier version of them is asked below.
  const skipped = { count: 0 };
  const differing = await inTransaction(client, where, doing, async () => {
    await targetQuery(client, where, doing, KEY_LOOKUPS_ONLY_SQL);
    await copyLines(client, where, quotePg(names.rows), rowsCopyColumns(table, names), chunkLines(run, from, keys, skipped));
    const sums = (await targetQuery<{ rows: string; matched: string; source_sum: string | null; target_sum: string | null }>(client, where, doing, chunkChecksumSql(table, names), [sourceId])).rows[0]!;
    let found: SourceValue[][] = [];
    if (sums.rows !== sums.matched || sums.source_sum !== sums.target_sum) {
      const diff = await targetQuery<{ ord: number }>(client, where, doing, chunkDiffSql(table, names), [sourceId]);
      found = diff.rows.map((r) => keys[Number(r.ord)]!);
    }
    if (skipped.count > 0) {
      const rejected = await targetQuery<{ ord: number; kept: boolean }>(client, where, doing, chunkRejectedSql(table, names), [sourceId]);
      for (const r of rejected.rows) run.tally.addRejected(keys[Number(r.ord)]!, r.kept);
    }
    await targetQuery(client, where, doing, rememberKeysSql(table, names));
    return found;
  });
  return { keys, differing };
}

/**
 * The rows-table COPY text of a source chunk, one string per fetched batch; collects the chunk's keys
 * and counts rows kept out (a row whose key cannot be staged either is tallied as rejected at once).
 */
async function* chunkLines(run: CompareRun, from: SourceValue[] | null, keys: SourceValue[][], skipped: { count: number }): AsyncGenerator<string> {
  const { unit } = run;
  for await (const batch of streamSnapshotChunk(unit.source, unit.sourceTable, from, run.chunkSize)) {
    let text = '';
    for (const row of batch) {
      const ord = keys.length;
      keys.push(rowKey(unit.target, row));
      const line = rowLine(unit, ord, row);
      if (line.skipped && line.text === null) run.tally.addRejected(keys[ord]!, false);
      if (line.skipped && line.text !== null) skipped.count++;
      if (line.text !== null) text += line.text;
    }
    yield text;
  }
}

/** Extra: target rows of this source whose key the scan did not see, read back and settled page by page. */
async function settleExtras(run: CompareRun): Promise<void> {
  const { unit, client, where, doing, names } = run;
  const table = unit.target;
  await targetQuery(client, where, doing, analyzeSeenSql(names));
  await targetQuery(client, where, doing, collectExtrasSql(table, names), [unit.source.id]);
  const keyColumns = targetKeyColumns(table, names);
  let lastOrd = '0';
  for (;;) {
    const page = await targetQuery<Record<string, string | null>>(client, where, doing, extraPageSql(table, names), [lastOrd, CONFIRM_SLICE]);
    if (page.rows.length === 0) break;
    lastOrd = String(page.rows[page.rows.length - 1]!.ord);
    await settle(run, page.rows.map((r) => keyColumns.map((c, i) => keyFromText(c, r[`k${i}`] ?? null))));
  }
}

/** Confirms candidate keys slice by slice, counts what is still different, and repairs it when asked. */
async function settle(run: CompareRun, candidates: readonly SourceValue[][]): Promise<void> {
  const { runtime, unit, client, where, names, tally } = run;
  for (let start = 0; start < candidates.length; start += CONFIRM_SLICE) {
    const found = await confirmKeys(unit, client, where, names, candidates.slice(start, start + CONFIRM_SLICE));
    for (const { kind, key } of found) tally.add(kind, key);
    if (!run.repair || found.length === 0) continue;
    // A snapshot restarted meanwhile COPYs rows straight into the target; a repaired row ahead of it
    // would collide with its COPY. (repairKeys holds the unit lock, so no snapshot runs during it.)
    if (!(await isSynced(runtime, unit))) {
      throw new TributaryError('CHECKPOINT_CONFLICT', `the snapshot of ${unit.sourceTable.name} for source ${unit.source.id} restarted during verify; nothing more is repaired, verify again once it has finished`);
    }
    const counts = await repairKeys(runtime, unit, found.map((f) => f.key));
    tally.addRepair(counts);
    runtime.logger.info('verify: repaired keys', {
      source: unit.source.id,
      table: unit.sourceTable.name,
      keys: found.length,
      inserted: counts.inserted,
      updated: counts.updated,
      deleted: counts.deleted,
      rejects: counts.rejects.length,
    });
  }
}

/**
 * Reads the current source rows of the given keys and compares them with the target once more, in one
 * transaction. Returns the keys that still differ, with how.
 */
async function confirmKeys(
  unit: Unit,
  client: PoolClient,
  where: string,
  names: CompareTables,
  requested: readonly SourceValue[][],
): Promise<{ kind: DifferenceKind; key: SourceValue[] }[]> {
  const table = unit.target;
  const sourceId = unit.source.id;
  const doing = `confirming differences in ${table.name} of source ${sourceId}`;
  const unique = new Map<string, SourceValue[]>();
  for (const key of requested) unique.set(keyString(key), key);
  const keys = [...unique.values()];
  if (keys.length === 0) return [];
  return inTransaction(client, where, doing, async () => {
    await targetQuery(client, where, doing, KEY_LOOKUPS_ONLY_SQL);
    await copyLines(client, where, quotePg(names.keys), keysCopyColumns(table, names), keys.map((key, i) => i + '\t' + encodeKeyOnly(sourceId, table, key).join('\t') + '\n'));
    async function* rows(): AsyncGenerator<string> {
      const present = new Set<string>();
      let ord = 0;
      for await (const batch of fetchRows(unit.source, unit.sourceTable, keys)) {
        for (const row of batch as SourceRow[]) {
          // With a case-insensitive key, two requested spellings can return the same row twice.
          const key = keyString(rowKey(table, row));
          if (present.has(key)) continue;
          present.add(key);
          const line = rowLine(unit, ord++, row);
          if (line.text !== null) yield line.text;
        }
      }
    }
    await copyLines(client, where, quotePg(names.rows), rowsCopyColumns(table, names), rows());
    const result = await targetQuery<{ ord: number; kind: DifferenceKind }>(client, where, doing, confirmSql(table, names), [sourceId]);
    return result.rows.map((r) => ({ kind: r.kind, key: keys[Number(r.ord)]! }));
  });
}

/**
 * The rows-table COPY line of a source row, encoded exactly as the sync encodes it (the table's
 * onBadValue policy included). A row the policy keeps out is staged as its key only, flagged skip: it
 * is not compared, but its key is seen. text is null when not even the key can be encoded (no target
 * row can have such a key).
 */
function rowLine(unit: Unit, ord: number, row: SourceRow): { text: string | null; skipped: boolean } {
  const table = unit.target;
  const sourceId = unit.source.id;
  const encoded = encodeRow(sourceId, table, row, unit.tableConfig.onBadValue);
  if (encoded.fields !== null) return { text: `${ord}\tf\t${encoded.fields.join('\t')}\n`, skipped: false };
  try {
    return { text: `${ord}\tt\t${encodeKeyOnly(sourceId, table, rowKey(table, row)).join('\t')}\n`, skipped: true };
  } catch {
    return { text: null, skipped: true };
  }
}
