/**
 * Workload 3b, follow-mode knee: `sync --follow` while the commit rate rises step by step, until p99
 * commit -> visible passes 1 s or the writer cannot reach the rate any more. Each commit is one
 * multi-row INSERT of ROWS_PER_COMMIT rows, so changes/s = commits/s x ROWS_PER_COMMIT: 4 connections of
 * single-row autocommits top out near 11,000 commits/s on this machine kind with MariaDB alone, below
 * the rates this curve has to reach. Reports rate -> p50/p99, passes/s, and the CPU of the follower and
 * both servers.
 */
import { type Context, check, createMysqlDb, createPgDb, fmt, log, mysqlAdmin, tributary, writeConfig } from './lib';
import { type FollowRun, followRun } from './latency';

const ROWS_PER_COMMIT = 10;
const P99_LIMIT_MS = 1_000;

export async function kneeBench(ctx: Context): Promise<void> {
  const durationMs = ctx.smoke ? 2_000 : Math.max(5_000, Math.round(15_000 * Math.min(1, ctx.scale)));
  // Changes per second; the smoke run checks the machinery on two small steps.
  const steps = ctx.smoke ? [500, 1_000] : [1_000, 2_500, 5_000, 10_000, 20_000, 40_000];
  const src = await createMysqlDb('knee');
  const admin = await mysqlAdmin(src);
  await admin.query('CREATE TABLE events (id BIGINT NOT NULL PRIMARY KEY, writer INT NOT NULL, payload VARCHAR(64) NOT NULL, written_at DATETIME(6) NOT NULL) ENGINE=InnoDB');
  await admin.end();
  const pgDb = await createPgDb('knee');
  const baseConfig = writeConfig('knee', pgDb, [{ id: 's1', database: src }], ['events']);
  check(await tributary(baseConfig, ['triggers', 'install'], { timeoutMs: 60_000 }), 'triggers install');
  check(await tributary(baseConfig, ['sync', '--once'], { timeoutMs: 60_000 }), 'initial sync');

  const curve: { target: number; run: FollowRun }[] = [];
  let firstId = 1;
  let knee: number | null = null;
  let stop = '';
  for (const target of steps) {
    const run = await followRun(ctx, { src, pgDb, pollInterval: 250, rate: target / ROWS_PER_COMMIT, rowsPerCommit: ROWS_PER_COMMIT, connections: 4, durationMs, firstId });
    firstId = run.nextId;
    curve.push({ target, run });
    log(`knee ${fmt(target)} changes/s: achieved ${fmt(run.rowRate)}/s, p50 ${fmt(run.p50, 1)} p99 ${fmt(run.p99, 1)} ms, ${fmt(run.passesPerSecond, 1)} passes/s, CPU follower ${fmt(run.cpu.follower)}% MariaDB ${fmt(run.cpu.mysql)}% PG ${fmt(run.cpu.pg)}%`);
    if (run.missing > 0) throw new Error(`${run.missing} committed rows never became visible at ${fmt(target)} changes/s`);
    if (!(run.p99 < P99_LIMIT_MS)) {
      stop = `p99 ${fmt(run.p99, 0)} ms at ${fmt(run.rowRate)} changes/s`;
      break;
    }
    knee = run.rowRate;
    if (run.rowRate < 0.9 * target) {
      stop = `the writer reached only ${fmt(run.rowRate)} of ${fmt(target)} changes/s (MariaDB's own limit here, not the follower's)`;
      break;
    }
  }
  ctx.figures.push({
    workload: '3 latency',
    metric: `follow knee: highest changes/s with p99 commit -> visible < 1 s (${ROWS_PER_COMMIT}-row commits, 4 connections, ${fmt(durationMs / 1000)} s a step)`,
    tributary: knee === null ? 'none' : fmt(knee),
    comparison: '',
    ratio: '',
    target: '>= 10,000',
    met: ctx.smoke ? 'n/a' : knee !== null && knee >= 10_000 ? 'yes' : 'NO',
  });
  ctx.notes.push(
    `knee: changes/s target -> achieved, p50/p99 ms, passes/s, CPU % of a core follower/MariaDB/PG backends: ` +
      curve
        .map(({ target, run }) => `${fmt(target)} -> ${fmt(run.rowRate)}, ${fmt(run.p50, 1)}/${fmt(run.p99, 1)}, ${fmt(run.passesPerSecond, 1)}, ${fmt(run.cpu.follower)}/${fmt(run.cpu.mysql)}/${fmt(run.cpu.pg)}`)
        .join('; ') +
      (stop ? `; stopped: ${stop}` : '; every step stayed under the limit'),
  );
}
