/**
 * Workload 7, catch-up: a table of N rows (3,000,000 at scale 1) falls behind by M updates (1,000,000:
 * every third row updated once), then `sync --once` catches up, once with `catchUp: drain` and once
 * with `catchUp: adaptive` (the default, which re-snapshots when the backlog exceeds catchUpPercent of
 * the rows), alternating, each from a copy of the same synced target and the same changelog.
 *
 * Both end with a row-for-row comparison (count + hash of every row) against each other, and the row
 * count against the source. From the two times the break-even share is estimated: drain costs per
 * pending change, the re-snapshot per row of the table, so they cost the same at a backlog of about
 * (adaptive time / drain time) x (M / N) of the rows; catchUpPercent's default is chosen below that.
 */
import {
  backupChangelog,
  check,
  type Context,
  createMysqlDb,
  createPgDb,
  dropPgDb,
  fillOrders,
  fmt,
  log,
  median,
  mysqlAdmin,
  mysqlScalar,
  pgScalar,
  pgTableDigest,
  restoreChangelog,
  rotate,
  scaled,
  tributary,
  verdict,
  writeConfig,
} from './lib';

const CONTENDERS = ['drain', 'adaptive'] as const;
type Contender = (typeof CONTENDERS)[number];

/** The catch-up report of one `sync --once --json` run: was a re-snapshot taken? */
function catchUpSnapshots(stdout: string): number {
  const report = JSON.parse(stdout) as { units: { catchUpSnapshots: number }[] };
  return report.units.reduce((sum, unit) => sum + unit.catchUpSnapshots, 0);
}

interface Scenario {
  label: string;
  rows: number;
  /** UPDATE rounds over the rows with id % modulo = 0 (1 round, modulo 3: a third of the rows once). */
  rounds: number;
  modulo: number;
  /** catchUpPercent for the adaptive runs (default: the configuration's default). */
  percent?: number;
  describe: string;
}

/** The case, with the adaptive side forced to re-snapshot; and a backlog twice the table. */
const scenarios = (ctx: Context): Scenario[] => [
  { label: 'catchup', rows: scaled(ctx, 3_000_000, 3_000), rounds: 1, modulo: 3, percent: 25, describe: 'every third row updated once' },
  { label: 'catchup2x', rows: scaled(ctx, 1_000_000, 3_000), rounds: 2, modulo: 1, describe: 'every row updated twice' },
];

export async function catchUpBench(ctx: Context): Promise<void> {
  for (const scenario of scenarios(ctx)) await catchUpScenario(ctx, scenario);
}

async function catchUpScenario(ctx: Context, scenario: Scenario): Promise<void> {
  const { label, rows } = scenario;
  log(`${label}: ${fmt(rows)} rows, ${scenario.describe}; generating`);
  const src = await createMysqlDb(label);
  await fillOrders(src, rows);
  const base = await createPgDb(`${label}_base`);
  const baseConfig = writeConfig(label, base, [{ id: 's1', database: src }], ['orders']);
  check(await tributary(baseConfig, ['triggers', 'install'], { timeoutMs: 120_000 }), 'triggers install');
  check(await tributary(baseConfig, ['sync', '--once'], { timeoutMs: 600_000 + rows * 2 }), 'initial sync');

  const conn = await mysqlAdmin(src);
  let pending: number;
  try {
    // In slices, so that no single statement holds the whole backlog's locks.
    const slice = Math.max(1, Math.ceil(rows / 20));
    for (let round = 1; round <= scenario.rounds; round++) {
      for (let lo = 1; lo <= rows; lo += slice) {
        await conn.query(`UPDATE orders SET total = total + 1.25, note = CONCAT(LEFT(note, 80), ' (behind ${round})') WHERE id BETWEEN ? AND ? AND id % ${scenario.modulo} = 0`, [lo, lo + slice - 1]);
      }
    }
    await conn.query('ANALYZE TABLE orders');
    pending = Number(await mysqlScalar(conn, 'SELECT COUNT(*) FROM tributary_log_orders'));
    await backupChangelog(conn);
  } finally {
    await conn.end();
  }
  const finalRows = rows;
  ctx.notes.push(`${label}: ${fmt(pending)} pending changes (${scenario.describe}) on a ${fmt(rows)}-row table`);

  // The default batch (10,000) at full size; proportionally smaller ones in small runs, where a single
  // default batch would hold the whole backlog and leave nothing to decide.
  const batchSize = Math.min(10_000, Math.max(100, Math.round(rows / 300)));
  const times: Record<Contender, number[]> = { drain: [], adaptive: [] };
  const digests = new Set<string>();
  const timeoutMs = 600_000 + pending * 3;
  for (let rep = 0; rep < ctx.reps; rep++) {
    for (const who of rotate(CONTENDERS, rep)) {
      await restoreChangelog(src, pending);
      const pgDb = await createPgDb(`${label}_${who[0]}${rep}`, base);
      try {
        const settings = { catchUp: who, batchSize, ...(who === 'adaptive' && scenario.percent ? { catchUpPercent: scenario.percent } : {}) };
        const config = writeConfig(label, pgDb, [{ id: 's1', database: src }], ['orders'], settings);
        const run = check(await tributary(config, ['sync', '--once', '--json'], { timeoutMs, cpuProfDir: ctx.cpuProfDir }), `tributary sync --once (catch-up, ${who})`);
        const resnapshots = catchUpSnapshots(run.stdout);
        if (resnapshots !== (who === 'adaptive' ? 1 : 0)) throw new Error(`${who}: ${resnapshots} catch-up re-snapshot(s), expected ${who === 'adaptive' ? 1 : 0}`);
        times[who].push(run.ms);
        const count = Number(await pgScalar(pgDb, 'SELECT count(*) FROM public.orders'));
        if (count !== finalRows) throw new Error(`${who}: target holds ${count} rows, source ${finalRows}`);
        digests.add(await pgTableDigest(pgDb, 'public.orders'));
        log(`${label} rep ${rep + 1}/${ctx.reps} ${who}: ${fmt(run.ms)} ms`);
      } finally {
        await dropPgDb(pgDb);
      }
    }
  }
  ctx.notes.push(`${label}: drain's and adaptive catch-up's final tables ${digests.size === 1 ? 'hold identical rows (count + hash of every row)' : 'DIFFER: ' + [...digests].join(' vs ')}`);
  if (digests.size !== 1) throw new Error('catch-up: drain and adaptive ended with different rows');
  const drain = median(times.drain);
  const adaptive = median(times.adaptive);
  const forced = scenario.percent ? ` (adaptive forced: catchUpPercent ${scenario.percent})` : ' (default catchUpPercent)';
  ctx.figures.push({
    workload: '7 catch-up',
    metric: `sync --once after ${fmt(pending)} changes on a ${fmt(rows)}-row table (wall s): adaptive (re-snapshot) vs drain${forced}`,
    tributary: fmt(adaptive / 1000, 1),
    comparison: fmt(drain / 1000, 1),
    ratio: adaptive < drain ? `${fmt(drain / adaptive, 2)}x faster` : `${fmt(adaptive / drain, 2)}x slower`,
    target: scenario.percent ? 'side by side' : 'faster than drain',
    met: scenario.percent ? '' : verdict(adaptive < drain),
  });
  ctx.notes.push(`${label}: wall times ms (each run): drain [${times.drain.map((v) => fmt(v)).join(', ')}]; adaptive [${times.adaptive.map((v) => fmt(v)).join(', ')}]`);
  await dropPgDb(base);
}
