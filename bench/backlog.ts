/**
 * Workload 2, backlog drain: after an initial sync, bulk SQL leaves N pending changes (60% update, 30%
 * insert, 10% delete) in the changelog; `sync --once` applies them. The ceiling, measured in the same
 * run on a copy of the same target: the final rows of the same keys piped from MariaDB into a psql COPY
 * into a staging table, then the DELETE and INSERT .. ON CONFLICT by hand, in one transaction.
 *
 * Every repetition starts from the same state: the target is a copy (CREATE DATABASE .. TEMPLATE) of
 * the synced base, and the changelog is restored from a copy taken after the changes were generated.
 * Also used with a 5,000,000-change backlog for the memory figure (Tributary only).
 *
 * BENCH_CLI_BEFORE=path/to/dist/cli/main.js also drains with that (older) build, alternating with this
 * one and the ceiling on the same data, for before/after figures (reported in the notes). That build gets
 * no catchUp setting (builds before it always drain).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  backupChangelog,
  bash,
  check,
  type Context,
  createMysqlDb,
  createPgDb,
  dropPgDb,
  fillOrders,
  fmt,
  HOST,
  insertOrders,
  log,
  mariadbClient,
  median,
  mysqlAdmin,
  mysqlScalar,
  MYSQL_PORT,
  ORDERS_COLUMNS,
  pgScalar,
  pgTableDigest,
  restoreChangelog,
  type RunResult,
  PG_PORT,
  rotate,
  scaled,
  TMP,
  tributary,
  verdict,
  writeConfig,
} from './lib';

export interface BacklogOptions {
  label: string;
  baseRows: number;
  changes: number;
  withCeiling: boolean;
  reps: number;
}

/**
 * Leaves `changes` changes in the changelog: 60% updates (rounds over the ids with id % 10 < 6), 30%
 * inserts (new ids), 10% deletes (ids with id % 10 = 6, then inserted ids if more are needed),
 * interleaved in 20 slices so batches mix operations.
 */
async function generateChanges(database: string, baseRows: number, changes: number): Promise<void> {
  const updates = Math.round(changes * 0.6);
  const inserts = Math.round(changes * 0.3);
  const deletes = changes - updates - inserts;
  const updatable = Math.floor(baseRows * 0.6);
  const rounds = Math.max(1, Math.round(updates / Math.max(1, updatable)));
  const baseDeletes = Math.min(deletes, Math.floor(baseRows / 10));
  const extraDeletes = deletes - baseDeletes;
  const slices = 20;
  const conn = await mysqlAdmin(database);
  try {
    await conn.query("SET time_zone = '+00:00'");
    for (let k = 0; k < slices; k++) {
      const lo = Math.floor((baseRows * k) / slices) + 1;
      const hi = Math.floor((baseRows * (k + 1)) / slices);
      const insLo = baseRows + Math.floor((inserts * k) / slices) + 1;
      const insHi = baseRows + Math.floor((inserts * (k + 1)) / slices);
      if (insHi >= insLo) await insertOrders(conn, insLo, insHi);
      for (let r = 0; r < rounds; r++) {
        await conn.query(
          `UPDATE orders SET status = ELT(1 + (id + ${r + 1}) % 5, 'new', 'paid', 'shipped', 'delivered', 'cancelled'), total = total + 1.25,
             note = CONCAT(LEFT(note, 80), ' (changed ${r + 1})'), updated_at = updated_at + INTERVAL 1 HOUR
           WHERE id BETWEEN ? AND ? AND id % 10 < 6`,
          [lo, hi],
        );
      }
      // Deletes among base rows spread over the slices (only as many as asked for).
      const delHi = lo + Math.floor(((hi - lo + 1) * baseDeletes) / Math.max(1, Math.floor(baseRows / 10))) - 1;
      if (baseDeletes > 0) await conn.query('DELETE FROM orders WHERE id BETWEEN ? AND ? AND id % 10 = 6', [lo, Math.min(hi, delHi)]);
      const exLo = baseRows + Math.floor((extraDeletes * k) / slices) + 1;
      const exHi = baseRows + Math.floor((extraDeletes * (k + 1)) / slices);
      if (exHi >= exLo) await conn.query('DELETE FROM orders WHERE id BETWEEN ? AND ?', [exLo, exHi]);
    }
  } finally {
    await conn.end();
  }
}

const STAGE_COLS = `"_tributary_op" "char" NOT NULL, _source text NOT NULL, id bigint, customer_id integer, status varchar(16), total numeric(12,2), note text,
  created_at timestamp(0) without time zone, updated_at timestamptz(0)`;

function ceilingScripts(label: string): { select: string; merge: string } {
  const select = join(TMP, `${label}-ceiling-select.sql`);
  const merge = join(TMP, `${label}-ceiling-merge.sql`);
  const data = ORDERS_COLUMNS.filter((c) => c !== 'id');
  writeFileSync(
    select,
    [
      "SET time_zone = '+00:00';",
      // The final state of every key the changelog touched: its row, or a delete when it is gone.
      `SELECT IF(o.id IS NULL, 'D', 'U'), 's1', k.k, ${data.map((c) => `IFNULL(o.${c}, '\\\\N')`).join(', ')}`,
      'FROM (SELECT new_k1 AS k FROM bench_log_backup WHERE new_k1 IS NOT NULL',
      '      UNION SELECT old_k1 FROM bench_log_backup WHERE old_k1 IS NOT NULL) AS k',
      'LEFT JOIN orders AS o ON o.id = k.k;',
      '',
    ].join('\n'),
  );
  const rest = data;
  writeFileSync(
    merge,
    [
      '\\set ON_ERROR_STOP 1',
      "SET TimeZone = 'UTC';",
      'BEGIN;',
      `CREATE TEMP TABLE bench_stage (${STAGE_COLS}) ON COMMIT DROP;`,
      '\\copy bench_stage FROM pstdin',
      `DELETE FROM public.orders AS t USING bench_stage AS s WHERE s."_tributary_op" = 'D' AND t._source = s._source AND t.id = s.id;`,
      `INSERT INTO public.orders AS t (_source, ${ORDERS_COLUMNS.join(', ')})`,
      `  SELECT _source, ${ORDERS_COLUMNS.join(', ')} FROM bench_stage WHERE "_tributary_op" = 'U'`,
      `  ON CONFLICT (_source, id) DO UPDATE SET ${rest.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`,
      `  WHERE (${rest.map((c) => `t.${c}`).join(', ')}) IS DISTINCT FROM (${rest.map((c) => `EXCLUDED.${c}`).join(', ')});`,
      'COMMIT;',
      '',
    ].join('\n'),
  );
  return { select, merge };
}

export async function backlogBench(ctx: Context, options: BacklogOptions): Promise<void> {
  const { label, baseRows, changes } = options;
  log(`${label}: ${fmt(baseRows)} base rows, generating`);
  const src = await createMysqlDb(label);
  await fillOrders(src, baseRows);
  const base = await createPgDb(`${label}_base`);
  const baseConfig = writeConfig(label, base, [{ id: 's1', database: src }], ['orders']);
  check(await tributary(baseConfig, ['triggers', 'install'], { timeoutMs: 120_000 }), 'triggers install');
  check(await tributary(baseConfig, ['sync', '--once'], { timeoutMs: 600_000 + baseRows * 2 }), 'initial sync');
  log(`${label}: initial sync done; generating ${fmt(changes)} changes`);
  const genStarted = Date.now();
  await generateChanges(src, baseRows, changes);
  const conn = await mysqlAdmin(src);
  let pending: number;
  let finalRows: number;
  try {
    pending = Number(await mysqlScalar(conn, 'SELECT COUNT(*) FROM tributary_log_orders'));
    finalRows = Number(await mysqlScalar(conn, 'SELECT COUNT(*) FROM orders'));
    const mix = (await conn.query('SELECT op, COUNT(*) AS n FROM tributary_log_orders GROUP BY op ORDER BY op'))[0] as { op: string; n: string }[];
    ctx.notes.push(
      `${label}: ${fmt(pending)} pending changes (${mix.map((m) => `${m.op}=${fmt(Number(m.n))}`).join(' ')}) on a ${fmt(baseRows)}-row table, ` +
        `generated with bulk SQL through the triggers in ${fmt((Date.now() - genStarted) / 1000, 1)} s (not timed); ${fmt(finalRows)} rows afterwards`,
    );
    await backupChangelog(conn);
  } finally {
    await conn.end();
  }

  const scripts = ceilingScripts(label);
  const before = options.withCeiling ? process.env.BENCH_CLI_BEFORE : undefined;
  // A build before the catchUp setting existed always drains and refuses the unknown key.
  const beforeSchema = before ? join(dirname(before), '..', 'config', 'schema.js') : '';
  const beforeDrains = before && existsSync(beforeSchema) && readFileSync(beforeSchema, 'utf8').includes('catchUp') ? { catchUp: 'drain' } : {};
  const contenders = [...(options.withCeiling ? ['tributary', 'ceiling'] : ['tributary']), ...(before ? ['before'] : [])];
  const times: Record<string, number[]> = { tributary: [], ceiling: [], before: [] };
  const rss: number[] = [];
  const digests: Record<string, Set<string>> = { tributary: new Set(), ceiling: new Set(), before: new Set() };
  const timeoutMs = 600_000 + pending * 3;
  for (let rep = 0; rep < options.reps; rep++) {
    for (const who of rotate(contenders, rep)) {
      if (who !== 'ceiling') await restoreChangelog(src, pending);
      const pgDb = await createPgDb(`${label}_${who[0]}${rep}`, base);
      try {
        if (who !== 'ceiling') {
          // This workload measures the drain: a backlog this size would otherwise be caught up by a
          // re-snapshot (catchUp: adaptive).
          const config = writeConfig(label, pgDb, [{ id: 's1', database: src }], ['orders'], who === 'before' ? beforeDrains : { catchUp: 'drain' });
          const cli = who === 'before' ? { cli: before! } : { cpuProfDir: ctx.cpuProfDir };
          const run = check(await tributary(config, ['sync', '--once'], { timeoutMs, ...cli }), `tributary sync --once (backlog${who === 'before' ? ', build before' : ''})`);
          times[who]!.push(run.ms);
          if (who === 'tributary') rss.push(run.maxRssKb);
          const applied = Number(await pgScalar(pgDb, 'SELECT applied_changes FROM tributary.checkpoints'));
          if (applied !== pending) throw new Error(`${who}: applied ${applied} changes, expected ${pending}`);
        } else {
          const pipe = (): Promise<RunResult> =>
            bash(
              `${mariadbClient()} -h ${HOST} -P ${MYSQL_PORT} -u root --batch --raw --quick --skip-column-names -D ${src} < ${scripts.select} | ` +
                `psql -X -q -h ${HOST} -p ${PG_PORT} -d ${pgDb} -f ${scripts.merge}`,
              { timeoutMs, label: 'ceiling' },
            );
          let run = await pipe();
          if (run.code !== 0) {
            // A failed reader may have fed psql part of the rows: start again from a fresh copy of the base.
            ctx.notes.push(`${label}: a ceiling run failed and was repeated on a fresh copy: ${run.stderrTail.trim().split('\n').slice(-1)[0]}`);
            await dropPgDb(pgDb);
            await createPgDb(`${label}_${who[0]}${rep}`, base);
            run = await pipe();
          }
          check(run, 'ceiling (mariadb | psql COPY + merge)');
          times.ceiling!.push(run.ms);
        }
        const count = Number(await pgScalar(pgDb, 'SELECT count(*) FROM public.orders'));
        if (count !== finalRows) throw new Error(`${who}: target holds ${count} rows, source ${finalRows}`);
        if (options.withCeiling) digests[who]!.add(await pgTableDigest(pgDb, 'public.orders'));
        log(`${label} rep ${rep + 1}/${options.reps} ${who}: ${fmt(times[who]![times[who]!.length - 1]!)} ms`);
      } finally {
        await dropPgDb(pgDb);
      }
    }
  }
  const t = pending / (median(times.tributary!) / 1000);
  if (options.withCeiling) {
    const same =
      digests.tributary!.size === 1 && [...digests.tributary!].join() === [...digests.ceiling!].join() && (!before || [...digests.before!].join() === [...digests.ceiling!].join());
    ctx.notes.push(`${label}: Tributary's and the ceiling's final tables ${same ? 'hold identical rows (count + hash of every row)' : 'DIFFER: ' + [...digests.tributary!].join() + ' vs ' + [...digests.ceiling!].join()}`);
    const c = pending / (median(times.ceiling!) / 1000);
    ctx.figures.push({
      workload: '2 backlog drain',
      metric: `changes/s, ${fmt(pending)} pending (sync --once) vs merge ceiling`,
      tributary: fmt(t),
      comparison: fmt(c),
      ratio: fmt(t / c, 2),
      target: '>= 0.9',
      met: verdict(t / c >= 0.9),
    });
    ctx.notes.push(`${label}: wall times ms (each run): tributary [${times.tributary!.map((v) => fmt(v)).join(', ')}]; ceiling [${times.ceiling!.map((v) => fmt(v)).join(', ')}]`);
    if (before) {
      const b = pending / (median(times.before!) / 1000);
      ctx.notes.push(
        `${label}: the build before (${before}), alternating in the same run: ${fmt(b)} changes/s, ${fmt(b / c, 2)} of the ceiling (this build ${fmt(t / c, 2)}); wall times ms [${times.before!.map((v) => fmt(v)).join(', ')}]`,
      );
    }
  } else {
    ctx.figures.push({ workload: '5 memory', metric: `drain rate, ${fmt(pending)}-change backlog (changes/s)`, tributary: fmt(t), comparison: '', ratio: '', target: '', met: '' });
    ctx.notes.push(`${label}: wall times ms: tributary [${times.tributary!.map((v) => fmt(v)).join(', ')}]`);
  }
  ctx.memory.push({ label: `backlog of ${fmt(pending)} changes (sync --once)`, kb: rss });
  await dropPgDb(base);
}

export const backlogSizes = (ctx: Context, big: boolean): BacklogOptions =>
  big
    ? { label: 'backlog5m', baseRows: scaled(ctx, 1_000_000, 2_000), changes: scaled(ctx, 5_000_000, 10_000), withCeiling: false, reps: 1 }
    : { label: 'backlog', baseRows: scaled(ctx, 1_000_000, 2_000), changes: scaled(ctx, 1_000_000, 2_000), withCeiling: true, reps: ctx.reps };
