/**
 * The gap rule: when may a missing change id be given up?
 *
 * Change ids are taken when a trigger fires but become visible only when the writer commits, so a
 * read can see id 11 while id 10 is still uncommitted. Every id skipped over by the watermark becomes a
 * gap and is read again on every pass until it arrives or is proven dead.
 *
 * Gaps are kept as ranges of consecutive ids (first, last) that were first seen missing by the same
 * read: a million ids skipped at once are one range, not a million rows, and an id that arrives
 * inside a range splits it. Memory and statement sizes follow the number of ranges, never the number
 * of ids.
 *
 * Proof, not a timer: the transaction holding a missing id took it before the read that first missed
 * it. At a later pass we read information_schema.INNODB_TRX *before* the changelog. The first time,
 * the gap's possible holders are the writing transactions alive then; afterwards, those of them still
 * alive. When none is alive and the changelog read that follows still lacks the id, its holder rolled
 * back (had it committed, the read would have found the row), and the gap expires. Expired gaps are
 * still re-read for a while and applied if they ever appear; the merge is idempotent, so that is safe.
 *
 * Why only writers count as holders (see open_transactions.sql for the exact rule): a change id is
 * taken by the trigger's INSERT into the changelog, which runs after the triggering row was written
 * (AFTER triggers), so a transaction is a writer before it holds any id. A transaction that has not
 * written holds no id now; if it writes later, the id it takes then is above every id already read,
 * so it can never be one of the gaps already recorded (those lie below an id that was visible when
 * they were first seen, and auto-increment ids are handed out in increasing order).
 */
import type { Evidence } from '../mysql/changes';
import type { IdRange } from '../model';
import type { GapChanges, StoredGap } from '../postgres/state';

// INNODB_TRX is served from a cache refreshed at most every 0.1 s, and a holder may take its id just
// before the read that first misses it. Evidence is trusted only when read well after that read.
export const EVIDENCE_MARGIN_MICROS = 1_000_000;

export interface GapInput {
  previousHighWater: number;
  /** Gaps included in this read (open ones and expired ones still re-checked). */
  stored: readonly StoredGap[];
  /** Change ids this read returned: new ones above the watermark and arrivals inside stored gaps. */
  readIds: readonly number[];
  /**
   * Stored gaps were read up to this id (a bounded read may stop early): a gap reaching above it was
   * not fully examined, so nothing is decided about it in this pass. Infinity when all were read.
   */
  gapsReadThrough: number;
  /** MySQL NOW(6) of this read; null when it returned nothing. */
  readAt: string | null;
  /** INNODB_TRX read before this changelog read, or null when not read. */
  evidence: Evidence | null;
  /** Without the PROCESS privilege there is no evidence: gaps expire after this many seconds. */
  timeoutSeconds: number;
}

export interface GapPlan {
  newHighWater: number;
  /** Runs of ids above the old watermark that this read skipped over. */
  added: IdRange[];
  /** Ids of stored gaps whose change arrived. */
  filled: number[];
  /** Of those, the ones that had already expired: worth a warning. */
  late: number[];
  /** Stored gaps in which changes arrived, by first id, and what is left of each (decisions applied). */
  split: { first: number; rest: StoredGap[] }[];
  /** First ids of stored gaps that expire whole. */
  expired: number[];
  /** How many ids were given up by this read (whole gaps and the rest of split ones). */
  expiredIds: number;
  /** Stored gaps (by first id) whose holder set is narrowed or fixed, grouped by identical set. */
  holders: { firsts: number[]; holders: string[] }[];
}

export function mysqlTimeToMicros(text: string): number {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?$/.exec(text);
  if (!match) throw new Error(`unexpected MySQL time ${JSON.stringify(text)}`);
  return Date.parse(`${match[1]}T${match[2]}Z`) * 1000 + Number((match[3] ?? '').padEnd(6, '0'));
}

export const rangeSize = (range: IdRange): number => range.last - range.first + 1;

/** Total number of ids in the given ranges. */
export function countIds(ranges: readonly IdRange[]): number {
  let total = 0;
  for (const range of ranges) total += rangeSize(range);
  return total;
}

/** The runs of ids in (after, before) that are absent from the sorted id list. */
export function missingRuns(after: number, before: number, sortedIds: readonly number[]): IdRange[] {
  const runs: IdRange[] = [];
  let previous = after;
  for (const id of sortedIds) {
    if (id <= previous) continue;
    if (id >= before) break;
    if (id > previous + 1) runs.push({ first: previous + 1, last: id - 1 });
    previous = id;
  }
  if (before > previous + 1) runs.push({ first: previous + 1, last: before - 1 });
  return runs;
}

/** Index of the first element of the sorted list that is >= value. */
function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

type Decision = { kind: 'none' } | { kind: 'expire' } | { kind: 'holders'; holders: string[] };

function decide(gap: StoredGap, evidence: Evidence | null, evidenceAt: number | null, timeoutSeconds: number): Decision {
  if (gap.expired || !evidence || evidenceAt === null) return { kind: 'none' };
  const age = evidenceAt - mysqlTimeToMicros(gap.firstSeenSource);
  const alive = evidence.alive;
  if (alive === null) return age >= timeoutSeconds * 1_000_000 ? { kind: 'expire' } : { kind: 'none' };
  if (age < EVIDENCE_MARGIN_MICROS) return { kind: 'none' };
  const candidates = gap.holders === null ? [...alive] : gap.holders.filter((h) => alive.has(h));
  if (candidates.length === 0) return { kind: 'expire' };
  if (gap.holders === null || candidates.length !== gap.holders.length) return { kind: 'holders', holders: candidates.sort() };
  return { kind: 'none' };
}

export function planGaps(input: GapInput): GapPlan {
  const sortedIds = [...input.readIds].sort((a, b) => a - b);
  let newHighWater = input.previousHighWater;
  if (sortedIds.length > 0) newHighWater = Math.max(newHighWater, sortedIds[sortedIds.length - 1]!);
  const added = newHighWater > input.previousHighWater ? missingRuns(input.previousHighWater, newHighWater, sortedIds) : [];

  const plan: GapPlan = { newHighWater, added, filled: [], late: [], split: [], expired: [], expiredIds: 0, holders: [] };
  const holderGroups = new Map<string, { firsts: number[]; holders: string[] }>();
  const evidenceAt = input.evidence ? mysqlTimeToMicros(input.evidence.readAt) : null;

  for (const gap of input.stored) {
    const from = lowerBound(sortedIds, gap.first);
    const to = lowerBound(sortedIds, gap.last + 1);
    const arrived = sortedIds.slice(from, to);
    // Only a gap the read fully covered may be decided: the rest of it was not looked at.
    const decision = gap.last <= input.gapsReadThrough ? decide(gap, input.evidence, evidenceAt, input.timeoutSeconds) : { kind: 'none' as const };
    if (arrived.length > 0) {
      plan.filled.push(...arrived);
      if (gap.expired) plan.late.push(...arrived);
      const rest = missingRuns(gap.first - 1, gap.last + 1, arrived).map((run) => ({
        ...gap,
        ...run,
        expired: gap.expired || decision.kind === 'expire',
        holders: decision.kind === 'holders' ? decision.holders : gap.holders,
      }));
      if (decision.kind === 'expire') plan.expiredIds += countIds(rest);
      plan.split.push({ first: gap.first, rest });
      continue;
    }
    if (decision.kind === 'expire') {
      plan.expired.push(gap.first);
      plan.expiredIds += rangeSize(gap);
    } else if (decision.kind === 'holders') {
      const key = decision.holders.join(',');
      const group = holderGroups.get(key) ?? { firsts: [], holders: decision.holders };
      group.firsts.push(gap.first);
      holderGroups.set(key, group);
    }
  }
  plan.holders = [...holderGroups.values()];
  return plan;
}

/** The gap list after a committed batch, without reading it back from PostgreSQL. */
export function gapsAfter(gaps: readonly StoredGap[], plan: GapPlan, readAt: string | null, nowEpoch = Date.now() / 1000): StoredGap[] {
  const split = new Map(plan.split.map((s) => [s.first, s.rest]));
  const expired = new Set(plan.expired);
  const holders = new Map<number, string[]>();
  for (const group of plan.holders) for (const first of group.firsts) holders.set(first, group.holders);
  const next: StoredGap[] = [];
  for (const gap of gaps) {
    const rest = split.get(gap.first);
    if (rest) next.push(...rest);
    else next.push({ ...gap, expired: gap.expired || expired.has(gap.first), holders: holders.get(gap.first) ?? gap.holders });
  }
  for (const run of plan.added) next.push({ ...run, firstSeenSource: readAt!, firstSeenEpoch: nowEpoch, holders: null, expired: false });
  return next.sort((a, b) => a.first - b.first);
}

/** What a batch's plan writes to the gap state: rows replaced, rows added, expiries, holder sets. */
export function gapChanges(batch: { plan: GapPlan; readAt: string | null }, nowEpoch = Date.now() / 1000): GapChanges {
  const { plan, readAt } = batch;
  const fresh = plan.added.map((run) => ({ ...run, firstSeenSource: readAt!, firstSeenEpoch: nowEpoch, holders: null, expired: false }));
  return {
    removed: plan.split.map((s) => s.first),
    inserted: [...plan.split.flatMap((s) => s.rest), ...fresh],
    expired: plan.expired,
    holders: plan.holders,
  };
}

/** Evidence is read only when there is an open gap to decide: an idle, gap-free unit costs nothing. */
export function needsEvidence(stored: readonly StoredGap[]): boolean {
  return stored.some((g) => !g.expired);
}

/** Ids in open (not expired) gaps. */
export function openGapIds(stored: readonly StoredGap[]): number {
  return countIds(stored.filter((g) => !g.expired));
}

/** True when the id lies in one of the sorted, non-overlapping gaps. */
export function inGaps(sortedGaps: readonly IdRange[], id: number): boolean {
  let lo = 0;
  let hi = sortedGaps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const gap = sortedGaps[mid]!;
    if (id < gap.first) hi = mid - 1;
    else if (id > gap.last) lo = mid + 1;
    else return true;
  }
  return false;
}
