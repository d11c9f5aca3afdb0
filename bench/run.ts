/**
 * Tributary benchmark suite. `npm run bench` (full sizes) or `npm run bench:smoke` (tiny sizes, for CI).
 *
 *   node dist-bench/run.js [--scale X] [--smoke] [--reps N] [--only a,b] [--big-backlog] [--cpu-prof DIR]
 *
 * Workloads: snapshot, backlog, latency, knee, triggers, shards, catchup (memory is gathered from snapshot and backlog,
 * plus a 5,000,000-change backlog with --big-backlog or BENCH_BIG_BACKLOG=1).
 * Environment: BENCH_SCALE (like --scale), BENCH_MYSQL_PORT, BENCH_PG_PORT.
 *
 * Prints a table of figures and ratios. A full run (scale 1, every workload) writes BENCHMARKS.md at
 * the repository root; any other run writes dist-bench/BENCHMARKS.<kind>.md so the recorded figures
 * are never replaced by a partial or tiny run. bench/analysis.md is appended verbatim.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { backlogBench, backlogSizes } from './backlog';
import { catchUpBench } from './catchup';
import { latencyBench } from './latency';
import {
  BUILT_CLI,
  cleanupAll,
  freezeBuild,
  type Context,
  fmt,
  log,
  mysqlAdmin,
  pgAdmin,
  PREFIX,
  ROOT,
  runProcess,
  type Figure,
} from './lib';
import { kneeBench } from './knee';
import { shardsBench } from './shards';
import { snapshotBench } from './snapshot';
import { triggerCostBench } from './triggercost';

const WORKLOADS = ['snapshot', 'backlog', 'latency', 'knee', 'triggers', 'shards', 'catchup'] as const;
type Workload = (typeof WORKLOADS)[number];

interface Args {
  scale: number;
  smoke: boolean;
  reps: number;
  only: Workload[];
  bigBacklog: boolean;
  cpuProfDir?: string;
}

function parseArgs(argv: string[]): Args {
  let scale = Number(process.env.BENCH_SCALE ?? 1);
  let smoke = false;
  let reps: number | null = null;
  let only: Workload[] = [...WORKLOADS];
  let bigBacklog = process.env.BENCH_BIG_BACKLOG === '1';
  let cpuProfDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--scale') scale = Number(value());
    else if (arg === '--smoke') smoke = true;
    else if (arg === '--reps') reps = Number(value());
    else if (arg === '--only') {
      only = value().split(',').map((w) => w.trim()) as Workload[];
      for (const w of only) if (!WORKLOADS.includes(w)) throw new Error(`--only: unknown workload ${w} (known: ${WORKLOADS.join(', ')})`);
    } else if (arg === '--big-backlog') bigBacklog = true;
    else if (arg === '--cpu-prof') cpuProfDir = value();
    else throw new Error(`unknown argument ${arg}`);
  }
  if (smoke && !argv.includes('--scale') && process.env.BENCH_SCALE === undefined) scale = 0.01;
  if (!(scale > 0 && scale <= 10)) throw new Error(`scale must be in (0, 10], got ${scale}`);
  return { scale, smoke, reps: reps ?? (smoke ? 1 : 3), only, bigBacklog, cpuProfDir };
}

async function settings(): Promise<string[]> {
  const lines: string[] = [];
  const my = await mysqlAdmin();
  try {
    const [rows] = await my.query(
      `SHOW GLOBAL VARIABLES WHERE Variable_name IN ('version', 'innodb_buffer_pool_size', 'innodb_flush_log_at_trx_commit', 'innodb_log_file_size',
        'innodb_flush_method', 'innodb_autoinc_lock_mode', 'sync_binlog', 'log_bin', 'max_connections', 'performance_schema', 'transaction_isolation', 'tx_isolation')`,
    );
    lines.push('MariaDB/MySQL: ' + (rows as { Variable_name: string; Value: string }[]).map((r) => `${r.Variable_name}=${r.Variable_name === 'innodb_buffer_pool_size' || r.Variable_name === 'innodb_log_file_size' ? fmt(Number(r.Value) / 2 ** 20) + 'MiB' : r.Value}`).join(', '));
  } finally {
    await my.end();
  }
  const pg = await pgAdmin();
  try {
    const names = ['server_version', 'shared_buffers', 'synchronous_commit', 'fsync', 'full_page_writes', 'wal_level', 'max_wal_size', 'checkpoint_timeout', 'work_mem', 'maintenance_work_mem', 'max_connections'];
    const result = await pg.query('SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1) ORDER BY name', [names]);
    const show = async (n: string): Promise<string> => String((await pg.query(`SHOW ${n}`)).rows[0][n]);
    const values: string[] = [];
    for (const row of result.rows as { name: string }[]) values.push(`${row.name}=${await show(row.name)}`);
    lines.push('PostgreSQL: ' + values.join(', '));
  } finally {
    await pg.end();
  }
  const head = await runProcess(['/bin/sh', '-c', 'git log -1 --format="%h %s" 2>/dev/null; git status --porcelain -- src sql 2>/dev/null | wc -l'], { timeoutMs: 20_000, label: 'git' });
  const [commit, dirty] = head.stdout.trim().split('\n');
  if (commit) lines.push(`Code measured: commit ${commit}${Number(dirty) > 0 ? ` plus ${dirty} uncommitted change(s) under src/ and sql/ (working tree as built)` : ''}`);
  const pgloader = await runProcess(['/bin/sh', '-c', 'pgloader --version 2>/dev/null | head -1'], { timeoutMs: 20_000, label: 'pgloader --version' });
  lines.push(
    `Machine: ${cpus().length} CPU (${cpus()[0]?.model ?? '?'}), ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM, load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ` +
      `Node ${process.version}; ${pgloader.stdout.trim() || 'pgloader not installed'}`,
  );
  return lines;
}

function renderTable(figures: Figure[]): string {
  const head = ['workload', 'metric', 'Tributary', 'comparison', 'ratio', 'target', 'met'];
  const rows = figures.map((f) => [f.workload, f.metric, f.tributary, f.comparison, f.ratio, f.target, f.met]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

function memoryFigures(ctx: Context): void {
  for (const m of ctx.memory) {
    const kb = m.kb.filter((v) => v > 0);
    if (kb.length === 0) continue;
    const peak = Math.max(...kb) / 1024;
    ctx.figures.push({ workload: '5 memory', metric: `peak RSS, ${m.label}`, tributary: `${fmt(peak)} MiB`, comparison: '', ratio: '', target: '< 256 MiB', met: peak < 256 ? 'yes' : 'NO' });
  }
}

interface Saved {
  command: string;
  startedAt: string;
  minutes: number;
  scale: number;
  reps: number;
  figures: Figure[];
  env: string[];
  notes: string[];
  failures: string[];
  /** Report path relative to the repository root. */
  target: string;
}

/** Writes the Markdown report: the figures of a run plus bench/analysis.md (read now, so it can be edited later). */
function writeReport(saved: Saved): void {
  const analysisPath = join(ROOT, 'bench', 'analysis.md');
  const analysis = existsSync(analysisPath) ? readFileSync(analysisPath, 'utf8') : '';
  const md = [
    '# Tributary benchmarks',
    '',
    `Latest figures, produced by \`${saved.command}\` on ${saved.startedAt.slice(0, 16).replace('T', ' ')} UTC (${fmt(saved.minutes, 1)} min; scale ${saved.scale}, median of ${saved.reps} alternating run(s) per contender).`,
    'The machine is shared with other test runs, so every comparison is measured side by side in the same run; read ratios rather than absolute rates.',
    '',
    renderTable(saved.figures),
    '',
    '## Servers and settings',
    '',
    ...saved.env.map((l) => `- ${l}`),
    '',
    '## Notes from this run',
    '',
    ...saved.notes.map((n) => `- ${n}`),
    ...(saved.failures.length ? ['', '## Failures', '', '```', ...saved.failures, '```'] : []),
    '',
    analysis.trim(),
    '',
  ].join('\n');
  const path = join(ROOT, saved.target);
  writeFileSync(path, md);
  log(`wrote ${path}`);
}

async function main(): Promise<number> {
  if (process.argv[2] === '--render') {
    // Re-renders a saved run (e.g. after editing bench/analysis.md) without measuring anything again.
    const which = process.argv[3] ?? 'full';
    writeReport(JSON.parse(readFileSync(join(ROOT, 'dist-bench', `last-${which}.json`), 'utf8')) as Saved);
    return 0;
  }
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run npm run build first`);
  // Measure one fixed build, whatever happens to the shared work tree meanwhile.
  freezeBuild();
  const ctx: Context = { scale: args.scale, smoke: args.smoke, reps: args.reps, cpuProfDir: args.cpuProfDir, figures: [], notes: [], memory: [] };
  if (args.cpuProfDir) mkdirSync(args.cpuProfDir, { recursive: true });
  const started = new Date();
  log(`run ${PREFIX}: scale ${args.scale}, ${args.reps} repetition(s), workloads ${args.only.join(', ')}${args.bigBacklog ? ' + 5M backlog' : ''}`);
  const env = await settings();
  const knobs = Object.entries(process.env).filter(([k]) => k === 'BENCH_CONFIG_EXTRA' || k.startsWith('TRB_EXP_'));
  if (knobs.length) ctx.notes.push(`experiment settings: ${knobs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const failures: string[] = [];
  const runWorkload = async (name: string, fn: () => Promise<void>): Promise<void> => {
    const t0 = Date.now();
    try {
      await fn();
      log(`${name} done in ${fmt((Date.now() - t0) / 1000, 1)} s`);
    } catch (error) {
      const message = error instanceof Error ? error.stack ?? error.message : String(error);
      failures.push(`${name}: ${message.split('\n').slice(0, 12).join('\n')}`);
      ctx.figures.push({ workload: name, metric: 'FAILED (see notes)', tributary: '', comparison: '', ratio: '', target: '', met: 'NO' });
      log(`${name} FAILED: ${message}`);
    }
  };
  for (const w of args.only) {
    if (w === 'snapshot') await runWorkload('1 snapshot', () => snapshotBench(ctx));
    if (w === 'backlog') await runWorkload('2 backlog drain', () => backlogBench(ctx, backlogSizes(ctx, false)));
    if (w === 'latency') await runWorkload('3 latency', () => latencyBench(ctx));
    if (w === 'knee') await runWorkload('3 follow knee', () => kneeBench(ctx));
    if (w === 'triggers') await runWorkload('4 trigger cost', () => triggerCostBench(ctx));
    if (w === 'shards') await runWorkload('6 many shards', () => shardsBench(ctx));
    if (w === 'catchup') await runWorkload('7 catch-up', () => catchUpBench(ctx));
  }
  if (args.bigBacklog) await runWorkload('5 memory (5M backlog)', () => backlogBench(ctx, backlogSizes(ctx, true)));
  memoryFigures(ctx);
  const order = ['1', '2', '3', '4', '5', '6', '7'];
  ctx.figures.sort((a, b) => order.indexOf(a.workload[0]!) - order.indexOf(b.workload[0]!));

  const event = process.env.npm_lifecycle_event;
  const extra = process.argv.slice(2).join(' ');
  const command = event ? `npm run ${event}${extra && event === 'bench' ? ` -- ${extra}` : ''}` : `node dist-bench/run.js ${extra}`.trim();
  const full = !args.smoke && args.scale === 1 && args.only.length === WORKLOADS.length;
  const saved: Saved = {
    command,
    startedAt: started.toISOString(),
    minutes: (Date.now() - started.getTime()) / 60_000,
    scale: args.scale,
    reps: args.reps,
    figures: ctx.figures,
    env,
    notes: ctx.notes,
    failures,
    target: full ? 'BENCHMARKS.md' : `dist-bench/BENCHMARKS.${args.smoke ? 'smoke' : 'partial'}.md`,
  };
  mkdirSync(join(ROOT, 'dist-bench'), { recursive: true });
  writeFileSync(join(ROOT, 'dist-bench', `last-${args.smoke ? 'smoke' : full ? 'full' : 'partial'}.json`), JSON.stringify(saved, null, 2));
  process.stdout.write(`\n${renderTable(ctx.figures)}\n\n${env.join('\n')}\n\n${ctx.notes.map((n) => '- ' + n).join('\n')}\n`);
  if (failures.length) process.stdout.write(`\nFailures:\n${failures.join('\n\n')}\n`);
  writeReport(saved);
  return failures.length ? 1 : 0;
}

let exiting = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (exiting) process.exit(130);
    exiting = true;
    log(`${signal}: cleaning up`);
    cleanupAll().finally(() => process.exit(130));
  });
}

main()
  .catch((error: unknown) => {
    log(`failed: ${error instanceof Error ? error.stack : String(error)}`);
    return 1;
  })
  .then(async (code) => {
    await cleanupAll();
    process.exit(code);
  });
