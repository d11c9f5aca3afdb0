/**
 * Workload 4, trigger cost: the same writes against two identical databases, one with Tributary's
 * capture installed (`triggers install`) and one without, alternating: single-row autocommit INSERTs
 * and UPDATEs from 4 connections, and 1,000-row multi-row INSERTs from one connection.
 *
 * Then bulk statements (BENCH_TRIGGER_BULK_ROWS rows, default 1,000,000 x scale): one UPDATE of every
 * row, one INSERT ... SELECT and one DELETE, against three identical tables: without capture, with the
 * floor (triggers whose body is a single INSERT into a table holding only an AUTO_INCREMENT key: the
 * least any row trigger can cost) and with Tributary's capture, alternating.
 */
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import {
  check,
  type Context,
  createMysqlDb,
  createPgDb,
  dropPgDb,
  fillOrders,
  fmt,
  log,
  median,
  MYSQL,
  ORDERS_COLUMNS,
  rotate,
  scaled,
  tributary,
  verdict,
  writeConfig,
} from './lib';

type Kind = 'insert1' | 'update1' | 'insert1000';
const KINDS: Kind[] = ['insert1', 'update1', 'insert1000'];
const LABEL: Record<Kind, string> = {
  insert1: 'single-row autocommit INSERT, 4 connections (rows/s)',
  update1: 'single-row autocommit UPDATE, 4 connections (rows/s)',
  insert1000: '1,000-row multi-row INSERT, 1 connection (rows/s)',
};

function orderRow(id: number): unknown[] {
  return [id, 1 + ((id * 7919) % 50000), 'new', ((id * 37) % 100000) / 100 + 1, `order ${id} written by the trigger-cost benchmark`, '2024-05-01 12:00:00', '2024-05-01 12:00:00'];
}

/** CPU time (ms) the MariaDB server process has used so far, or NaN when it cannot be read. */
function serverCpuMs(pid: number | null): number {
  if (pid === null) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 per second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

async function serverPid(): Promise<number | null> {
  const conn = await mysql.createConnection(MYSQL);
  try {
    const [rows] = await conn.query('SELECT @@pid_file AS f');
    const file = String((rows as { f: string }[])[0]!.f);
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  } finally {
    await conn.end();
  }
}

/** Runs one kind of write for durationMs (bounded also by an op count) and returns rows/s. */
async function load(database: string, kind: Kind, durationMs: number, nextId: () => number, existing: number, pid: number | null): Promise<{ rate: number; cpuUsPerRow: number }> {
  const connections = kind === 'insert1000' ? 1 : 4;
  const conns = await Promise.all(Array.from({ length: connections }, () => mysql.createConnection({ ...MYSQL, database })));
  try {
    const insert = `INSERT INTO orders (${ORDERS_COLUMNS.join(', ')}) VALUES ?`;
    let rows = 0;
    const cpuBefore = serverCpuMs(pid);
    const started = process.hrtime.bigint();
    const deadline = started + BigInt(durationMs) * 1_000_000n;
    const maxOps = 2_000_000;
    let ops = 0;
    await Promise.all(
      conns.map(async (conn) => {
        while (process.hrtime.bigint() < deadline && ops < maxOps) {
          ops++;
          if (kind === 'insert1') {
            await conn.query(insert, [[orderRow(nextId())]]);
            rows++;
          } else if (kind === 'update1') {
            const id = 1 + Math.floor(Math.random() * existing);
            await conn.query("UPDATE orders SET total = total + 1, status = 'paid', updated_at = NOW() WHERE id = ?", [id]);
            rows++;
          } else {
            const batch = Array.from({ length: 1000 }, () => orderRow(nextId()));
            await conn.query(insert, [batch]);
            rows += 1000;
          }
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { rate: rows / seconds, cpuUsPerRow: ((serverCpuMs(pid) - cpuBefore) * 1000) / rows };
  } finally {
    await Promise.all(conns.map((c) => c.end().catch(() => undefined)));
  }
}

export async function triggerCostBench(ctx: Context): Promise<void> {
  const existing = scaled(ctx, 200_000, 2_000);
  const durationMs = ctx.smoke ? 500 : Math.max(2_000, Math.round(10_000 * Math.min(1, ctx.scale)));
  const withDb = await createMysqlDb('trig_with');
  const withoutDb = await createMysqlDb('trig_without');
  await fillOrders(withDb, existing);
  await fillOrders(withoutDb, existing);
  const pgDb = await createPgDb('trig');
  check(await tributary(writeConfig('trig', pgDb, [{ id: 's1', database: withDb }], ['orders']), ['triggers', 'install'], { timeoutMs: 60_000 }), 'triggers install');
  await dropPgDb(pgDb);

  // Both databases receive the same ids in the same order.
  const counters = new Map<string, number>([
    [withDb, existing + 1],
    [withoutDb, existing + 1],
  ]);
  const results: Record<Kind, { with: number[]; without: number[] }> = {
    insert1: { with: [], without: [] },
    update1: { with: [], without: [] },
    insert1000: { with: [], without: [] },
  };
  const cpu: Record<Kind, { with: number[]; without: number[] }> = {
    insert1: { with: [], without: [] },
    update1: { with: [], without: [] },
    insert1000: { with: [], without: [] },
  };
  const pid = await serverPid();
  for (let rep = 0; rep < ctx.reps; rep++) {
    for (const [k, kind] of KINDS.entries()) {
      for (const side of rotate(['with', 'without'] as const, rep + k)) {
        const db = side === 'with' ? withDb : withoutDb;
        const { rate, cpuUsPerRow } = await load(db, kind, durationMs, () => {
          const id = counters.get(db)!;
          counters.set(db, id + 1);
          return id;
        }, existing, pid);
        results[kind][side].push(rate);
        cpu[kind][side].push(cpuUsPerRow);
        log(`trigger cost rep ${rep + 1}/${ctx.reps} ${kind} ${side} triggers: ${fmt(rate)} rows/s, MariaDB CPU ${fmt(cpuUsPerRow, 1)} us/row`);
      }
    }
  }
  for (const kind of KINDS) {
    const w = median(results[kind].with);
    const wo = median(results[kind].without);
    const ratio = w / wo;
    const single = kind !== 'insert1000';
    ctx.figures.push({
      workload: '4 trigger cost',
      metric: LABEL[kind],
      tributary: fmt(w),
      comparison: fmt(wo),
      ratio: fmt(ratio, 2),
      target: single ? '>= 0.9' : '',
      met: single ? verdict(ratio >= 0.9) : '',
    });
    ctx.notes.push(
      `trigger cost: ${kind} rows/s per run, with triggers [${results[kind].with.map((v) => fmt(v)).join(', ')}], without [${results[kind].without.map((v) => fmt(v)).join(', ')}]; ` +
        `MariaDB server CPU per row (median): ${fmt(median(cpu[kind].with), 1)} us with triggers, ${fmt(median(cpu[kind].without), 1)} us without`,
    );
  }
  ctx.notes.push(`trigger cost: ${fmt(durationMs / 1000, 1)} s per run; tables start with ${fmt(existing)} rows; "Tributary" column = with triggers, comparison = without`);
  await bulkTriggerCost(ctx);
}

type BulkSide = 'none' | 'floor' | 'tributary';
type BulkKind = 'update' | 'insertSelect' | 'delete';
const BULK_KINDS: BulkKind[] = ['update', 'insertSelect', 'delete'];
// Ids of the rows INSERT ... SELECT adds (and DELETE removes again), above every existing id.
const BULK_OFFSET = 100_000_000;

/** The floor: one trigger per event, each a single INSERT of nothing but a new AUTO_INCREMENT id. */
const FLOOR_DDL = [
  'CREATE TABLE floor_log (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB',
  ...['INSERT', 'UPDATE', 'DELETE'].map((e) => `CREATE TRIGGER floor_${e.toLowerCase()} AFTER ${e} ON orders FOR EACH ROW INSERT INTO floor_log () VALUES ()`),
];

function bulkSql(kind: BulkKind, rows: number): string {
  if (kind === 'update') return `UPDATE orders SET total = total + 1 WHERE id <= ${rows}`;
  if (kind === 'insertSelect') return `INSERT INTO orders (${ORDERS_COLUMNS.join(', ')}) SELECT id + ${BULK_OFFSET}, ${ORDERS_COLUMNS.slice(1).join(', ')} FROM orders_source`;
  return `DELETE FROM orders WHERE id > ${BULK_OFFSET}`;
}

async function bulkTriggerCost(ctx: Context): Promise<void> {
  const rows = Number(process.env.BENCH_TRIGGER_BULK_ROWS ?? scaled(ctx, 1_000_000, 2_000));
  const dbs: Record<BulkSide, string> = { none: await createMysqlDb('bulk_none'), floor: await createMysqlDb('bulk_floor'), tributary: await createMysqlDb('bulk_trib') };
  for (const db of Object.values(dbs)) {
    await fillOrders(db, rows);
    const conn = await mysql.createConnection({ ...MYSQL, database: db });
    await conn.query('CREATE TABLE orders_source LIKE orders');
    await conn.query('INSERT INTO orders_source SELECT * FROM orders');
    await conn.end();
  }
  {
    const conn = await mysql.createConnection({ ...MYSQL, database: dbs.floor });
    for (const statement of FLOOR_DDL) await conn.query(statement);
    await conn.end();
  }
  const pgDb = await createPgDb('bulk');
  check(await tributary(writeConfig('bulk', pgDb, [{ id: 's1', database: dbs.tributary }], ['orders']), ['triggers', 'install'], { timeoutMs: 60_000 }), 'triggers install (bulk)');
  await dropPgDb(pgDb);
  const seconds: Record<BulkKind, Record<BulkSide, number[]>> = {
    update: { none: [], floor: [], tributary: [] },
    insertSelect: { none: [], floor: [], tributary: [] },
    delete: { none: [], floor: [], tributary: [] },
  };
  const sides: BulkSide[] = ['none', 'floor', 'tributary'];
  for (let rep = 0; rep < ctx.reps; rep++) {
    for (const side of rotate(sides, rep)) {
      const conn = await mysql.createConnection({ ...MYSQL, database: dbs[side] });
      try {
        // Logs emptied between runs (not timed), so every run writes into the same state.
        if (side === 'floor') await conn.query('TRUNCATE floor_log');
        if (side === 'tributary') await conn.query('TRUNCATE tributary_log_orders');
        for (const kind of BULK_KINDS) {
          const started = process.hrtime.bigint();
          await conn.query(bulkSql(kind, rows));
          seconds[kind][side].push(Number(process.hrtime.bigint() - started) / 1e9);
        }
      } finally {
        await conn.end();
      }
      log(`trigger cost rep ${rep + 1}/${ctx.reps} bulk ${side}: ${BULK_KINDS.map((k) => `${k} ${fmt(seconds[k][side].at(-1)!, 2)} s`).join(', ')}`);
    }
  }
  const label: Record<BulkKind, string> = { update: 'UPDATE of every row', insertSelect: 'INSERT ... SELECT', delete: 'DELETE' };
  for (const kind of BULK_KINDS) {
    const none = median(seconds[kind].none);
    const floor = median(seconds[kind].floor);
    const trib = median(seconds[kind].tributary);
    ctx.figures.push({
      workload: '4 trigger cost',
      metric: `${fmt(rows)}-row ${label[kind]} (s); comparison: no capture / floor trigger`,
      tributary: fmt(trib, 2),
      comparison: `${fmt(none, 2)} / ${fmt(floor, 2)}`,
      ratio: `${fmt(none / trib, 2)} / ${fmt(floor / trib, 2)}`,
      target: '>= 0.5 of no capture, or within 10% of the floor',
      met: verdict(none / trib >= 0.5 || trib <= floor * 1.1),
    });
    ctx.notes.push(`trigger cost: ${fmt(rows)}-row ${label[kind]} seconds per run: no capture [${seconds[kind].none.map((v) => fmt(v, 2)).join(', ')}], floor [${seconds[kind].floor.map((v) => fmt(v, 2)).join(', ')}], Tributary [${seconds[kind].tributary.map((v) => fmt(v, 2)).join(', ')}]`);
  }
}
