/**
 * Workload 1, snapshot: a 1,000,000-row orders table copied into a fresh PostgreSQL database by
 * Tributary (`triggers install`, then timed `sync --once`), by pgloader (Debian's package), and by the
 * raw pipe `mariadb --batch --quick | psql \copy` into the same target table definition. Alternating,
 * reps times, median.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  bash,
  check,
  type Context,
  createMysqlDb,
  createPgDb,
  dropPgDb,
  fillOrders,
  fmt,
  HOST,
  log,
  mariadbClient,
  median,
  MYSQL_PORT,
  ORDERS_COLUMNS,
  ORDERS_PG_DDL,
  pgAdmin,
  pgScalar,
  pgTableDigest,
  PG_PORT,
  rotate,
  runProcess,
  scaled,
  TMP,
  tributary,
  verdict,
  writeConfig,
} from './lib';

type Contender = 'tributary' | 'tributary before' | 'pgloader' | 'raw pipe';

async function pgloaderAvailable(ctx: Context): Promise<string | null> {
  const which = await runProcess(['/bin/sh', '-c', 'command -v pgloader'], { timeoutMs: 10_000, label: 'which pgloader' });
  if (which.code === 0) return null;
  if (ctx.smoke) return 'pgloader is not installed (the smoke run does not install it; `apt-get install -y pgloader`)';
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) return 'pgloader is not installed and cannot be installed here (needs root and apt-get)';
  log('pgloader missing: apt-get install -y pgloader');
  const install = await runProcess(['/bin/sh', '-c', 'apt-get install -y pgloader || (apt-get update && apt-get install -y pgloader)'], {
    timeoutMs: 600_000,
    label: 'apt-get install pgloader',
    env: { DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (install.code !== 0) return `pgloader could not be installed (apt-get exit ${install.code}): ${install.stderrTail.split('\n').slice(-3).join(' ')}`;
  return null;
}

async function columnTypes(database: string, schema: string): Promise<string> {
  const client = await pgAdmin(database);
  try {
    const result = await client.query(
      `SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY a.attnum) AS cols
       FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
      [`${schema}.orders`],
    );
    return String(result.rows[0].cols);
  } finally {
    await client.end();
  }
}

export async function snapshotBench(ctx: Context): Promise<void> {
  const rows = scaled(ctx, 1_000_000, 2_000);
  log(`snapshot: generating ${fmt(rows)} orders`);
  const src = await createMysqlDb('snap');
  const genStarted = Date.now();
  await fillOrders(src, rows);
  ctx.notes.push(`snapshot: ${fmt(rows)} source rows generated in ${fmt((Date.now() - genStarted) / 1000, 1)} s (not timed)`);

  // Capture is installed once; the changelog stays empty, so every sync --once is a pure snapshot.
  const installDb = await createPgDb('snap_install');
  check(await tributary(writeConfig('snap-install', installDb, [{ id: 's1', database: src }], ['orders']), ['triggers', 'install'], { timeoutMs: 120_000 }), 'triggers install');
  await dropPgDb(installDb);

  const skipPgloader = await pgloaderAvailable(ctx);
  if (skipPgloader) ctx.notes.push(`snapshot: pgloader skipped: ${skipPgloader}`);
  // BENCH_CLI_BEFORE=path/to/dist/cli/main.js: an older build runs too, alternating, for before/after in one run.
  const before = process.env.BENCH_CLI_BEFORE;
  const contenders: Contender[] = [...(before ? (['tributary before'] as const) : []), 'tributary', ...(skipPgloader ? [] : (['pgloader'] as const)), 'raw pipe'];
  const times: Record<Contender, number[]> = { tributary: [], 'tributary before': [], pgloader: [], 'raw pipe': [] };
  const cpuMs: Record<'tributary' | 'tributary before', number[]> = { tributary: [], 'tributary before': [] };
  const rss: number[] = [];
  const digests = new Map<Contender, Set<string>>([
    ['tributary', new Set()],
    ['tributary before', new Set()],
    ['raw pipe', new Set()],
  ]);
  const timeoutMs = 300_000 + rows * 2;
  let typesChecked = false;
  let tributaryTypes: string | null = null;
  let rawTypes: string | null = null;

  const selectCols = ["'s1'", ...ORDERS_COLUMNS].join(', ');
  const rawCommand = (pgDb: string): string =>
    `${mariadbClient()} -h ${HOST} -P ${MYSQL_PORT} -u root --batch --quick --skip-column-names -D ${src} ` +
    `-e "SET time_zone = '+00:00'; SELECT ${selectCols} FROM orders" | ` +
    `psql -X -q -h ${HOST} -p ${PG_PORT} -d ${pgDb} -v ON_ERROR_STOP=1 -c "\\copy public.orders (_source, ${ORDERS_COLUMNS.join(', ')}) FROM STDIN"`;

  for (let rep = 0; rep < ctx.reps; rep++) {
    for (const who of rotate(contenders, rep)) {
      const tag = who === 'tributary' ? 't' : who === 'tributary before' ? 'b' : who === 'pgloader' ? 'p' : 'r';
      const pgDb = await createPgDb(`snap_${tag}${rep}`);
      try {
        if (who === 'tributary' || who === 'tributary before') {
          const config = writeConfig('snap', pgDb, [{ id: 's1', database: src }], ['orders']);
          const cli = who === 'tributary before' ? before : undefined;
          const run = check(await tributary(config, ['sync', '--once'], { timeoutMs, cpuProfDir: ctx.cpuProfDir, cli }), `${who} sync --once (snapshot)`);
          times[who].push(run.ms);
          if (run.cpuMs !== undefined) cpuMs[who].push(run.cpuMs);
          if (who === 'tributary') rss.push(run.maxRssKb);
          const count = Number(await pgScalar(pgDb, 'SELECT count(*) FROM public.orders'));
          if (count !== rows) throw new Error(`${who} snapshot holds ${count} rows, expected ${rows}`);
          digests.get(who)!.add(await pgTableDigest(pgDb, 'public.orders'));
          tributaryTypes ??= await columnTypes(pgDb, 'public');
        } else if (who === 'pgloader') {
          const dir = join(TMP, `pgloader-${rep}`);
          // Only the orders table (the source also holds Tributary's changelog and a helper table).
          const load = join(TMP, `pgloader-${rep}.load`);
          writeFileSync(
            load,
            `LOAD DATABASE\n  FROM mysql://root@${HOST}:${MYSQL_PORT}/${src}\n  INTO postgresql://root@${HOST}:${PG_PORT}/${pgDb}\n  INCLUDING ONLY TABLE NAMES MATCHING 'orders';\n`,
          );
          const run = await runProcess(['pgloader', '--root-dir', dir, load], { timeoutMs, label: 'pgloader' });
          check(run, 'pgloader');
          const schema = await pgScalar(pgDb, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'orders' LIMIT 1");
          const count = schema ? Number(await pgScalar(pgDb, `SELECT count(*) FROM "${schema}".orders`)) : 0;
          if (count !== rows) throw new Error(`pgloader loaded ${count} rows, expected ${rows}:\n${run.stdout.slice(-3000)}`);
          times.pgloader.push(run.ms);
        } else {
          const client = await pgAdmin(pgDb);
          await client.query(ORDERS_PG_DDL);
          await client.end();
          const run = check(await bash(rawCommand(pgDb), { timeoutMs, label: 'raw pipe' }), 'raw pipe');
          times['raw pipe'].push(run.ms);
          const count = Number(await pgScalar(pgDb, 'SELECT count(*) FROM public.orders'));
          if (count !== rows) throw new Error(`raw pipe loaded ${count} rows, expected ${rows}`);
          digests.get('raw pipe')!.add(await pgTableDigest(pgDb, 'public.orders'));
          rawTypes ??= await columnTypes(pgDb, 'public');
        }
        log(`snapshot rep ${rep + 1}/${ctx.reps} ${who}: ${fmt(times[who][times[who].length - 1]!)} ms`);
      } finally {
        await dropPgDb(pgDb);
      }
    }
    if (!typesChecked && tributaryTypes && rawTypes) {
      typesChecked = true;
      if (tributaryTypes !== rawTypes) ctx.notes.push(`snapshot: WARNING the raw pipe's table differs from Tributary's: ${rawTypes} vs ${tributaryTypes}`);
      else ctx.notes.push(`snapshot: the raw pipe loads the table definition Tributary creates (${tributaryTypes})`);
    }
  }
  const same = [...digests.get('tributary')!].join() === [...digests.get('raw pipe')!].join() && digests.get('tributary')!.size === 1;
  ctx.notes.push(`snapshot: Tributary's and the raw pipe's tables ${same ? 'hold identical rows (count + hash of every row)' : 'DIFFER (count/hash of rows): ' + [...digests.get('tributary')!].join() + ' vs ' + [...digests.get('raw pipe')!].join()}`);

  if (before) {
    const sameBefore = [...digests.get('tributary before')!].join() === [...digests.get('raw pipe')!].join();
    ctx.notes.push(`snapshot: the build before (${before}) ${sameBefore ? 'holds the same rows as the raw pipe' : 'DIFFERS from the raw pipe'}; sync --once CPU ms (user + sys) before [${cpuMs['tributary before'].map((v) => fmt(v)).join(', ')}], after [${cpuMs.tributary.map((v) => fmt(v)).join(', ')}]`);
  }
  const rate = (who: Contender): number => rows / (median(times[who]) / 1000);
  const t = rate('tributary');
  ctx.figures.push({ workload: '1 snapshot', metric: `rows/s, ${fmt(rows)} rows (sync --once)`, tributary: fmt(t), comparison: '', ratio: '', target: '', met: '' });
  if (!skipPgloader) {
    const p = rate('pgloader');
    ctx.figures.push({ workload: '1 snapshot', metric: 'vs pgloader (rows/s)', tributary: fmt(t), comparison: fmt(p), ratio: fmt(t / p, 2) + 'x', target: '>= 2.5x', met: verdict(t / p >= 2.5) });
  } else {
    ctx.figures.push({ workload: '1 snapshot', metric: 'vs pgloader', tributary: fmt(t), comparison: 'skipped', ratio: 'n/a', target: '>= 2.5x', met: 'skipped' });
  }
  const r = rate('raw pipe');
  if (before) {
    const b = rate('tributary before');
    ctx.figures.push({ workload: '1 snapshot', metric: 'vs the build before (rows/s)', tributary: fmt(t), comparison: fmt(b), ratio: fmt(t / b, 2) + 'x', target: '', met: '' });
  }
  ctx.figures.push({ workload: '1 snapshot', metric: 'vs raw mariadb | psql \\copy (rows/s)', tributary: fmt(t), comparison: fmt(r), ratio: fmt(t / r, 2), target: '>= 1.0', met: verdict(t / r >= 1.0) });
  ctx.notes.push(
    `snapshot: wall times ms (each run): ` +
      contenders.map((c) => `${c} [${times[c].map((v) => fmt(v)).join(', ')}]`).join('; '),
  );
  ctx.memory.push({ label: `snapshot of ${fmt(rows)} rows (sync --once)`, kb: rss });
}
