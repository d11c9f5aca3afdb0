/**
 * Workload 3, latency: `sync --follow` runs while a writer commits 1,000 single-row inserts/s (4
 * connections) for 60 s; a watcher polls PostgreSQL every 5 ms and records when each id first became
 * visible. Latency = first seen in PostgreSQL - COMMIT returned to the writer, on one monotonic clock.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  check,
  type Context,
  createMysqlDb,
  createPgDb,
  fmt,
  HELPERS,
  HOST,
  killGroup,
  log,
  median,
  mysqlAdmin,
  pgAdmin,
  MYSQL_PORT,
  percentile,
  PG_PORT,
  sleep,
  startProcess,
  track,
  tributary,
  tributaryArgv,
  verdict,
  writeConfig,
} from './lib';

interface ChildMessage {
  type: 'ready' | 'done' | 'error';
  error?: string;
  commits?: [number, number][];
  seen?: [number, number][];
  elapsedUs?: number;
  polls?: number;
}

function startChild(args: object, timeoutMs: number): { send: (m: object) => void; next: () => Promise<ChildMessage>; stop: () => void } {
  const child = track(fork(join(HELPERS, 'child.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true }));
  const queue: ChildMessage[] = [];
  let waiter: ((m: ChildMessage) => void) | null = null;
  child.on('message', (m: ChildMessage) => {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(m);
    } else queue.push(m);
  });
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), timeoutMs);
  child.once('exit', () => clearTimeout(timer));
  child.send(args);
  return {
    send: (m) => child.send(m),
    next: () =>
      new Promise<ChildMessage>((resolve, reject) => {
        const m = queue.shift();
        if (m) return m.type === 'error' ? reject(new Error(m.error)) : resolve(m);
        const onExit = (): void => reject(new Error('helper process exited early'));
        child.once('exit', onExit);
        waiter = (msg) => {
          child.off('exit', onExit);
          if (msg.type === 'error') reject(new Error(msg.error));
          else resolve(msg);
        };
      }),
    stop: () => killGroup(child, 'SIGKILL'),
  };
}

interface LatencyRun {
  pollInterval: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  missing: number;
  commits: number;
  rate: number;
  rssKb: number;
  passes: number;
  passP50: number;
  passP95: number;
}

export async function latencyBench(ctx: Context): Promise<void> {
  const durationMs = ctx.smoke ? 2_000 : Math.max(5_000, Math.round(60_000 * Math.min(1, ctx.scale)));
  const rate = 1_000;
  const connections = 4;
  const intervals = ctx.smoke ? [250] : [250, 50];
  const src = await createMysqlDb('lat');
  const admin = await mysqlAdmin(src);
  await admin.query('CREATE TABLE events (id BIGINT NOT NULL PRIMARY KEY, writer INT NOT NULL, payload VARCHAR(64) NOT NULL, written_at DATETIME(6) NOT NULL) ENGINE=InnoDB');
  await admin.end();
  const pgDb = await createPgDb('lat');
  const baseConfig = writeConfig('lat', pgDb, [{ id: 's1', database: src }], ['events']);
  check(await tributary(baseConfig, ['triggers', 'install'], { timeoutMs: 60_000 }), 'triggers install');
  check(await tributary(baseConfig, ['sync', '--once'], { timeoutMs: 60_000 }), 'initial sync');

  const runs: LatencyRun[] = [];
  let firstId = 1;
  for (let rep = 0; rep < ctx.reps; rep++) {
    for (const pollInterval of rep % 2 ? [...intervals].reverse() : intervals) {
      const run = await followRun(ctx, { src, pgDb, pollInterval, rate, rowsPerCommit: 1, connections, durationMs, firstId });
      firstId = run.nextId;
      runs.push(run);
      log(
        `latency rep ${rep + 1}/${ctx.reps} pollInterval ${pollInterval} ms: p50 ${fmt(run.p50, 1)} p95 ${fmt(run.p95, 1)} p99 ${fmt(run.p99, 1)} ms, ` +
          `${fmt(run.commits)} commits at ${fmt(run.rate)}/s, ${run.missing} never seen; ${run.passes} passes applied changes, pass p50 ${fmt(run.passP50)} ms p95 ${fmt(run.passP95)} ms`,
      );
    }
  }
  for (const pollInterval of intervals) {
    const mine = runs.filter((r) => r.pollInterval === pollInterval);
    const p50 = median(mine.map((r) => r.p50));
    const p95 = median(mine.map((r) => r.p95));
    const p99 = median(mine.map((r) => r.p99));
    const missing = mine.reduce((s, r) => s + r.missing, 0);
    const achieved = median(mine.map((r) => r.rate));
    const label = `commit -> visible in PG, ${fmt(achieved)} commits/s x ${fmt(durationMs / 1000)} s, pollInterval ${pollInterval} ms${pollInterval === 250 ? ' (default)' : ''}`;
    const isDefault = pollInterval === 250;
    ctx.figures.push({ workload: '3 latency', metric: `p50 ${label}`, tributary: `${fmt(p50, 1)} ms`, comparison: '', ratio: '', target: isDefault ? '< 150 ms' : '', met: isDefault ? verdict(p50 < 150) : '' });
    ctx.figures.push({ workload: '3 latency', metric: `p95 ${label}`, tributary: `${fmt(p95, 1)} ms`, comparison: '', ratio: '', target: '', met: '' });
    ctx.figures.push({ workload: '3 latency', metric: `p99 ${label}`, tributary: `${fmt(p99, 1)} ms`, comparison: '', ratio: '', target: isDefault ? '< 500 ms' : '', met: isDefault ? verdict(p99 < 500) : '' });
    ctx.notes.push(
      `latency: pollInterval ${pollInterval} ms, per run p50/p95/p99/max ms: ` +
        mine.map((r) => `${fmt(r.p50, 1)}/${fmt(r.p95, 1)}/${fmt(r.p99, 1)}/${fmt(r.max, 1)}`).join('; ') +
        `; passes that applied changes: ${mine.map((r) => r.passes).join(', ')}, their duration p50/p95 ms: ${mine.map((r) => `${fmt(r.passP50)}/${fmt(r.passP95)}`).join('; ')}` +
        `; commits never seen: ${missing}; follower peak RSS ${mine.map((r) => fmt(r.rssKb / 1024, 0)).join(', ')} MiB`,
    );
  }
  ctx.notes.push(`latency: writer = ${connections} connections, single-row autocommit INSERTs paced to ${rate}/s in total; watcher polls every 5 ms (adds up to ~5 ms to each figure)`);
}

export interface FollowSpec {
  src: string;
  pgDb: string;
  pollInterval: number;
  /** Commits per second, all connections together. */
  rate: number;
  /** Rows per committed multi-row INSERT: changes/s = rate x rowsPerCommit. */
  rowsPerCommit: number;
  connections: number;
  durationMs: number;
  firstId: number;
}

export interface FollowRun extends LatencyRun {
  /** The first id free for the next run. */
  nextId: number;
  /** Rows committed per second, as achieved. */
  rowRate: number;
  /** Passes that applied changes, per second of the run. */
  passesPerSecond: number;
  /** CPU used during the writing, as % of one core: the follower, MariaDB (whole server), the follower's PostgreSQL backends. */
  cpu: { follower: number; mysql: number; pg: number };
}

/** CPU time (ms) a process has used so far, or NaN when it cannot be read. */
export function processCpuMs(pid: number | null | undefined): number {
  if (!pid) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 per second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

async function mariadbPid(): Promise<number | null> {
  const conn = await mysqlAdmin();
  try {
    const [rows] = await conn.query('SELECT @@pid_file AS f');
    const pid = Number(readFileSync(String((rows as { f: string }[])[0]!.f), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  } finally {
    await conn.end();
  }
}

/** PostgreSQL backends of the database other than the watcher (the follower's connections). */
async function followerBackends(pgDb: string): Promise<number[]> {
  const client = await pgAdmin();
  try {
    const result = await client.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name <> 'tributary-bench-watcher'",
      [pgDb],
    );
    return result.rows.map((r) => r.pid);
  } finally {
    await client.end();
  }
}

/**
 * One `sync --follow` run while the writer commits at the given rate: commit -> visible latency of
 * every row, the passes that applied changes, and the CPU the follower and both servers used.
 */
export async function followRun(ctx: Context, spec: FollowSpec): Promise<FollowRun> {
  const { src, pgDb, pollInterval, rate, rowsPerCommit, connections, durationMs, firstId } = spec;
  const config = writeConfig('lat', pgDb, [{ id: 's1', database: src }], ['events'], { pollInterval });
  const follow = startProcess(tributaryArgv(config, ['sync', '--follow'], ctx.cpuProfDir), { timeoutMs: durationMs + 180_000, pollRss: true, label: 'sync --follow' });
  // The follower logs "pass finished" with the pass duration for every pass that applied changes.
  const passMs: number[] = [];
  let partial = '';
  follow.child.stderr!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.includes('"pass finished"') || passMs.length >= 1_000_000) continue;
      try {
        const ms = (JSON.parse(line) as { ms?: number }).ms;
        if (typeof ms === 'number') passMs.push(ms);
      } catch {
        // not a JSON line
      }
    }
  });
  let writer: ReturnType<typeof startChild> | null = null;
  let watcher: ReturnType<typeof startChild> | null = null;
  try {
    // Wait until the follower announces itself, then a little for its first passes.
    for (let i = 0; i < 400 && !follow.stderr().includes('following changes'); i++) {
      if (follow.child.exitCode !== null) break;
      await sleep(50);
    }
    if (!follow.stderr().includes('following changes')) throw new Error(`sync --follow did not start:\n${follow.stderr().slice(-2000)}`);
    await sleep(1_000);
    watcher = startChild({ mode: 'watcher', host: HOST, port: PG_PORT, database: pgDb, pollMs: 5, firstId, maxMs: durationMs + 60_000 }, durationMs + 90_000);
    await watcher.next();
    writer = startChild({ mode: 'writer', host: HOST, port: MYSQL_PORT, database: src, connections, rate, rowsPerCommit, durationMs, firstId }, durationMs + 90_000);
    await writer.next();
    const mysqlPid = await mariadbPid();
    const backends = await followerBackends(pgDb);
    const passesBefore = passMs.length;
    const cpuNow = (): [number, number, number] => [processCpuMs(follow.child.pid), processCpuMs(mysqlPid), backends.reduce((sum, pid) => sum + processCpuMs(pid), 0)];
    const cpuBefore = cpuNow();
    writer.send({ go: true });
    const written = await writer.next();
    const cpuAfter = cpuNow();
    const passes = passMs.length - passesBefore;
    const commits = written.commits!;
    watcher.send({ expected: commits.length });
    const watched = await watcher.next();
    const seen = new Map(watched.seen!);
    const latencies: number[] = [];
    let missing = 0;
    for (const [id, committedUs] of commits) {
      const at = seen.get(id);
      if (at === undefined) missing++;
      else latencies.push((at - committedUs) / 1000);
    }
    latencies.sort((a, b) => a - b);
    killGroup(follow.child, 'SIGTERM');
    const stopped = await follow.done;
    const seconds = written.elapsedUs! / 1e6;
    const share = (i: number): number => ((cpuAfter[i]! - cpuBefore[i]!) / 1000 / seconds) * 100;
    const sortedPasses = [...passMs].sort((a, b) => a - b);
    return {
      pollInterval,
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? NaN,
      missing,
      commits: commits.length,
      rate: commits.length / rowsPerCommit / seconds,
      rowRate: commits.length / seconds,
      rssKb: stopped.maxRssKb,
      passes: passMs.length,
      passesPerSecond: passes / seconds,
      passP50: percentile(sortedPasses, 50),
      passP95: percentile(sortedPasses, 95),
      nextId: firstId + Math.round((rate * rowsPerCommit * durationMs) / 1000) + rowsPerCommit * 10,
      cpu: { follower: share(0), mysql: share(1), pg: share(2) },
    };
  } finally {
    writer?.stop();
    watcher?.stop();
    killGroup(follow.child, 'SIGTERM');
    const end = await Promise.race([follow.done, sleep(20_000).then(() => null)]);
    if (end === null) killGroup(follow.child, 'SIGKILL');
  }
}
