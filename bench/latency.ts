/**
 * Workload 3, latency: `sync --follow` runs while a writer commits 1,000 single-row inserts/s (4
 * connections) for 60 s; a watcher polls PostgreSQL every 5 ms and records when each id first became
 * visible. Latency = first seen in PostgreSQL - COMMIT returned to the writer, on one monotonic clock.
 */
import { fork } from 'node:child_process';
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
      const config = writeConfig('lat', pgDb, [{ id: 's1', database: src }], ['events'], { pollInterval });
      const follow = startProcess(tributaryArgv(config, ['sync', '--follow'], ctx.cpuProfDir), { timeoutMs: durationMs + 180_000, pollRss: true, label: 'sync --follow' });
      // The follower logs "pass finished" with the pass duration for every pass that applied changes.
      const passMs: number[] = [];
      let partial = '';
      follow.child.stderr!.on('data', (d: Buffer) => {
        const lines = (partial + d.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.includes('"pass finished"') || passMs.length >= 100_000) continue;
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
        writer = startChild({ mode: 'writer', host: HOST, port: MYSQL_PORT, database: src, connections, rate, durationMs, firstId }, durationMs + 90_000);
        await writer.next();
        writer.send({ go: true });
        const written = await writer.next();
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
        firstId += Math.round((rate * durationMs) / 1000) + 10;
        killGroup(follow.child, 'SIGTERM');
        const stopped = await follow.done;
        const run: LatencyRun = {
          pollInterval,
          p50: percentile(latencies, 50),
          p95: percentile(latencies, 95),
          p99: percentile(latencies, 99),
          max: latencies[latencies.length - 1] ?? NaN,
          missing,
          commits: commits.length,
          rate: commits.length / (written.elapsedUs! / 1e6),
          rssKb: stopped.maxRssKb,
          passes: passMs.length,
          passP50: percentile([...passMs].sort((a, b) => a - b), 50),
          passP95: percentile([...passMs].sort((a, b) => a - b), 95),
        };
        runs.push(run);
        log(
          `latency rep ${rep + 1}/${ctx.reps} pollInterval ${pollInterval} ms: p50 ${fmt(run.p50, 1)} p95 ${fmt(run.p95, 1)} p99 ${fmt(run.p99, 1)} ms, ` +
            `${fmt(run.commits)} commits at ${fmt(run.rate)}/s, ${missing} never seen, ${watched.polls} watcher polls; ${run.passes} passes applied changes, pass p50 ${fmt(run.passP50)} ms p95 ${fmt(run.passP95)} ms`,
        );
      } finally {
        writer?.stop();
        watcher?.stop();
        killGroup(follow.child, 'SIGTERM');
        const end = await Promise.race([follow.done, sleep(20_000).then(() => null)]);
        if (end === null) killGroup(follow.child, 'SIGKILL');
      }
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
