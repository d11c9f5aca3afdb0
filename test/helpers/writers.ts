/**
 * Random writers for the fault suite: connections that insert, update (also the primary key) and
 * delete rows of one table in transactions of random length, roll back some of them, and hold some
 * open for a while (across sync passes). Seeded, so a failing run can be replayed with the same seed.
 */
import type mysql from 'mysql2/promise';
import { sleep } from './topology';

/** The table the writers use: simple types whose MySQL and PostgreSQL renderings agree. */
export function writerTableSql(name: string): string {
  return `CREATE TABLE \`${name}\` (
  id BIGINT NOT NULL PRIMARY KEY,
  grp INT NOT NULL,
  name VARCHAR(40),
  amount DECIMAL(12,2),
  at DATETIME(6)
)`;
}

/** mulberry32: small, fast, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface WorkloadOptions {
  table: string;
  /** Opens one writer connection. */
  connect: () => Promise<mysql.Connection>;
  connections: number;
  /** Statements across all connections; Infinity runs until stop(). */
  operations: number;
  seed: number;
  /** Ids are drawn from 1..keySpace (primary-key changes may move a row up to 2×keySpace). */
  keySpace: number;
  /** Share of transactions that end in ROLLBACK. Default 0.1. */
  rollbackRate?: number;
  /** Statements per transaction: 1..maxOpsPerTx. Default 6. */
  maxOpsPerTx?: number;
  /** Share of transactions held open for holdMs before they end. Default 0. */
  holdRate?: number;
  holdMs?: [number, number];
  /** Pause between transactions of one connection. Default none. */
  pauseMs?: [number, number];
  /** Keep going through connection errors (server restarts, cuts): reconnect after a pause. */
  survive?: boolean;
}

export interface WorkloadStats {
  transactions: number;
  commits: number;
  rollbacks: number;
  held: number;
  statements: number;
  /** Statements refused (duplicate key on insert or key change): the transaction goes on. */
  refused: number;
  /** Transactions ended by a deadlock or lock wait timeout (rolled back by InnoDB). */
  deadlocks: number;
  /** Connection errors survived. */
  reconnects: number;
}

export interface Workload {
  stop(): void;
  done: Promise<WorkloadStats>;
  stats: WorkloadStats;
}

const DEADLOCK = new Set([1213, 1205]);
const REFUSED = new Set([1062]);

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function statement(random: () => number, table: string, keySpace: number): { sql: string; params: unknown[] } {
  const t = '`' + table + '`';
  const id = 1 + Math.floor(random() * keySpace);
  const name = 'w' + Math.floor(random() * 1e9).toString(36);
  const amount = (Math.floor(random() * 10_000_000) / 100).toFixed(2);
  const at = `2024-${pad(1 + Math.floor(random() * 12))}-${pad(1 + Math.floor(random() * 28))} ${pad(Math.floor(random() * 24))}:${pad(Math.floor(random() * 60))}:${pad(Math.floor(random() * 60))}.${pad(Math.floor(random() * 1e6), 6)}`;
  const r = random();
  if (r < 0.25) return { sql: `INSERT INTO ${t} (id, grp, name, amount, at) VALUES (?, ?, ?, ?, ?)`, params: [id, id % 7, name, amount, at] };
  if (r < 0.4) {
    return {
      sql: `INSERT INTO ${t} (id, grp, name, amount, at) VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE name = VALUES(name), amount = amount + 1`,
      params: [id, id % 7, name, amount, at],
    };
  }
  if (r < 0.65) return { sql: `UPDATE ${t} SET name = ?, amount = ?, at = ? WHERE id = ?`, params: [name, amount, random() < 0.2 ? null : at, id] };
  if (r < 0.72) return { sql: `UPDATE ${t} SET grp = grp + 1 WHERE id BETWEEN ? AND ?`, params: [id, id + 4] };
  if (r < 0.8) return { sql: `UPDATE ${t} SET id = ? WHERE id = ?`, params: [1 + Math.floor(random() * keySpace * 2), id] };
  if (r < 0.97) return { sql: `DELETE FROM ${t} WHERE id = ?`, params: [id] };
  return { sql: `DELETE FROM ${t} WHERE id BETWEEN ? AND ?`, params: [id, id + 2] };
}

export function startWorkload(options: WorkloadOptions): Workload {
  const stats: WorkloadStats = { transactions: 0, commits: 0, rollbacks: 0, held: 0, statements: 0, refused: 0, deadlocks: 0, reconnects: 0 };
  let stopped = false;
  let budget = options.operations;
  const rollbackRate = options.rollbackRate ?? 0.1;
  const maxOps = options.maxOpsPerTx ?? 6;
  const holdRate = options.holdRate ?? 0;
  const [holdMin, holdMax] = options.holdMs ?? [500, 2500];

  async function writer(index: number): Promise<void> {
    const random = rng(options.seed * 1000 + index);
    let conn: mysql.Connection | null = null;
    try {
      while (!stopped && budget > 0) {
        if (!conn) {
          try {
            conn = await options.connect();
            // A connection that dies while idle emits 'error'; unheard, that would crash the test.
            conn.on('error', () => undefined);
          } catch (error) {
            if (!options.survive) throw error;
            await sleep(200);
            continue;
          }
        }
        const ops = 1 + Math.floor(random() * maxOps);
        const hold = random() < holdRate;
        const rollback = random() < rollbackRate;
        try {
          await conn.query('START TRANSACTION');
          stats.transactions++;
          let aborted = false;
          for (let i = 0; i < ops && budget > 0 && !aborted; i++) {
            budget--;
            stats.statements++;
            const { sql, params } = statement(random, options.table, options.keySpace);
            try {
              await conn.query(sql, params);
            } catch (error) {
              const errno = (error as { errno?: number }).errno ?? 0;
              if (REFUSED.has(errno)) {
                stats.refused++;
              } else if (DEADLOCK.has(errno)) {
                stats.deadlocks++;
                aborted = true;
              } else {
                throw error;
              }
            }
          }
          if (aborted) {
            await conn.query('ROLLBACK');
            continue;
          }
          if (hold) {
            stats.held++;
            await sleep(holdMin + random() * (holdMax - holdMin));
          }
          if (rollback) {
            await conn.query('ROLLBACK');
            stats.rollbacks++;
          } else {
            await conn.query('COMMIT');
            stats.commits++;
          }
        } catch (error) {
          if (!options.survive) throw error;
          // The server went away or the connection was cut: whatever was open is lost (rolled back).
          stats.reconnects++;
          await conn.end().catch(() => undefined);
          conn = null;
          await sleep(200);
          continue;
        }
        if (options.pauseMs) await sleep(options.pauseMs[0] + random() * (options.pauseMs[1] - options.pauseMs[0]));
      }
    } finally {
      if (conn) await conn.end().catch(() => undefined);
    }
  }

  const done = Promise.all(Array.from({ length: options.connections }, (_, i) => writer(i))).then(() => stats);
  return {
    stop: () => {
      stopped = true;
    },
    done,
    stats,
  };
}
