/**
 * The gap rule: when may a missing change id be given up?
 *
 * Change ids are taken when a trigger fires but become visible only when the writer commits, so a
 * read can see id 11 while id 10 is still uncommitted. Every id skipped over by the watermark becomes a
 * gap and is read again on every pass until it arrives or is proven dead.
 *
 * Proof, not a timer: the transaction holding a missing id took it before the read that first missed
 * it. At a later pass we read information_schema.INNODB_TRX *before* the changelog. The first time,
 * the gap's possible holders are the transactions alive then; afterwards, those of them still alive.
 * When none is alive and the changelog read that follows still lacks the id, its holder rolled back
 * (had it committed, the read would have found the row), and the gap expires. Expired gaps are still
 * re-read for a while and applied if they ever appear; the merge is idempotent, so that is safe.
 */
import type { StoredGap } from '../postgres/checkpoint';

/**
 * The transactions InnoDB reports alive, and MySQL's clock (UTC) when it was read. alive is null when
 * the sync user may not read INNODB_TRX (no PROCESS privilege): then only a timeout can expire gaps.
 */
export interface Evidence {
  readAt: string;
  alive: ReadonlySet<string> | null;
}

// INNODB_TRX is served from a cache refreshed at most every 0.1 s, and a holder may take its id just
// before the read that first misses it. Evidence is trusted only when read well after that read.
export const EVIDENCE_MARGIN_MICROS = 1_000_000;

export interface GapInput {
  previousHighWater: number;
  /** Gaps whose ids were included in this read (open ones and expired ones still re-checked). */
  stored: readonly StoredGap[];
  /** Change ids this read returned. */
  readIds: readonly number[];
  /** MySQL NOW(6) of this read; null when it returned nothing. */
  readAt: string | null;
  /** INNODB_TRX read before this changelog read, or null when not read. */
  evidence: Evidence | null;
  /** Without the PROCESS privilege there is no evidence: gaps expire after this many seconds. */
  timeoutSeconds: number;
}

export interface GapPlan {
  newHighWater: number;
  /** Ids above the old watermark that this read skipped over. */
  added: number[];
  /** Stored gaps whose change arrived. */
  filled: number[];
  /** Of those, the ones that had already expired: worth a warning. */
  late: number[];
  expired: number[];
  holders: { changeIds: number[]; holders: string[] }[];
}

export function mysqlTimeToMicros(text: string): number {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?$/.exec(text);
  if (!match) throw new Error(`unexpected MySQL time ${JSON.stringify(text)}`);
  return Date.parse(`${match[1]}T${match[2]}Z`) * 1000 + Number((match[3] ?? '').padEnd(6, '0'));
}

export function planGaps(input: GapInput): GapPlan {
  const read = new Set(input.readIds);
  let newHighWater = input.previousHighWater;
  for (const id of input.readIds) if (id > newHighWater) newHighWater = id;

  const added: number[] = [];
  for (let id = input.previousHighWater + 1; id < newHighWater; id++) if (!read.has(id)) added.push(id);

  const filled: number[] = [];
  const late: number[] = [];
  const expired: number[] = [];
  const holderGroups = new Map<string, { changeIds: number[]; holders: string[] }>();
  const evidenceAt = input.evidence ? mysqlTimeToMicros(input.evidence.readAt) : null;

  for (const gap of input.stored) {
    if (read.has(gap.changeId)) {
      filled.push(gap.changeId);
      if (gap.expired) late.push(gap.changeId);
      continue;
    }
    if (gap.expired || !input.evidence || evidenceAt === null) continue;
    const age = evidenceAt - mysqlTimeToMicros(gap.firstSeenSource);
    const alive = input.evidence.alive;
    if (alive === null) {
      if (age >= input.timeoutSeconds * 1_000_000) expired.push(gap.changeId);
      continue;
    }
    if (age < EVIDENCE_MARGIN_MICROS) continue;
    const candidates = gap.holders === null ? [...alive] : gap.holders.filter((h) => alive.has(h));
    if (candidates.length === 0) {
      expired.push(gap.changeId);
    } else if (gap.holders === null || candidates.length !== gap.holders.length) {
      const sorted = candidates.sort();
      const key = sorted.join(',');
      const group = holderGroups.get(key) ?? { changeIds: [], holders: sorted };
      group.changeIds.push(gap.changeId);
      holderGroups.set(key, group);
    }
  }
  return { newHighWater, added, filled, late, expired, holders: [...holderGroups.values()] };
}

/** Evidence is read only when there is an open gap to decide: an idle, gap-free unit costs nothing. */
export function needsEvidence(stored: readonly StoredGap[]): boolean {
  return stored.some((g) => !g.expired);
}
