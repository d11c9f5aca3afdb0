/**
 * Helper processes for the latency workload, started with fork() and driven over IPC:
 *
 *   writer  — N connections to MariaDB commit single-row autocommit inserts at a fixed total rate; for
 *             each id it records the monotonic clock right after COMMIT returned.
 *   watcher — polls PostgreSQL every few milliseconds for ids it has not seen and records the monotonic
 *             clock at which each first became visible.
 *
 * Both use process.hrtime (CLOCK_MONOTONIC), one clock for every process on the machine. Times are
 * sent back as microseconds. Every loop is bounded by count and time.
 */
import mysql from 'mysql2/promise';
import pg from 'pg';

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const send = (message: unknown): Promise<void> =>
  new Promise((resolve) => {
    // Resolves once the message is handed to the IPC channel: exiting earlier can lose a large message.
    process.send!(message, undefined, undefined, () => resolve());
  });

interface WriterArgs {
  mode: 'writer';
  host: string;
  port: number;
  database: string;
  connections: number;
  rate: number;
  /** Rows per committed INSERT (default 1): ids firstId + op x rowsPerCommit onwards. */
  rowsPerCommit?: number;
  durationMs: number;
  firstId: number;
}

interface WatcherArgs {
  mode: 'watcher';
  host: string;
  port: number;
  database: string;
  pollMs: number;
  firstId: number;
  maxMs: number;
}

async function writer(args: WriterArgs): Promise<void> {
  const conns = await Promise.all(
    Array.from({ length: args.connections }, () => mysql.createConnection({ host: args.host, port: args.port, user: 'root', database: args.database })),
  );
  await send({ type: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  const total = Math.round((args.rate * args.durationMs) / 1000);
  const perCommit = args.rowsPerCommit ?? 1;
  const commits: [number, number][] = [];
  const started = nowUs();
  const intervalUs = 1e6 / args.rate;
  let next = 0;
  const deadline = started + args.durationMs * 1000 + 30_000_000;
  // Each connection takes the next op whose scheduled time has come (open loop: a late op goes at once).
  await Promise.all(
    conns.map(async (conn, w) => {
      for (;;) {
        const op = next++;
        if (op >= total) return;
        const due = started + op * intervalUs;
        const wait = due - nowUs();
        if (wait > 1500) await sleep(Math.floor(wait / 1000));
        if (nowUs() > deadline) return;
        const first = args.firstId + op * perCommit;
        const ids = Array.from({ length: perCommit }, (_, i) => first + i);
        await conn.query(`INSERT INTO events (id, writer, payload, written_at) VALUES ${ids.map(() => '(?, ?, ?, NOW(6))').join(', ')}`, ids.flatMap((id) => [id, w, `event ${id} from writer ${w}`]));
        const at = nowUs();
        for (const id of ids) commits.push([id, at]);
      }
    }),
  );
  const elapsedUs = nowUs() - started;
  await Promise.all(conns.map((c) => c.end()));
  await send({ type: 'done', commits, elapsedUs });
}

async function watcher(args: WatcherArgs): Promise<void> {
  const client = new pg.Client({ host: args.host, port: args.port, user: 'root', database: args.database, application_name: 'tributary-bench-watcher' });
  await client.connect();
  const seen = new Map<number, number>();
  let low = args.firstId - 1; // every id <= low has been seen
  let expected: number | null = null;
  process.on('message', (m: { expected: number }) => {
    expected = m.expected;
  });
  await send({ type: 'ready' });
  const started = Date.now();
  let polls = 0;
  while (Date.now() - started < args.maxMs) {
    const result = await client.query<{ id: string }>("SELECT id::text AS id FROM public.events WHERE _source = 's1' AND id > $1 ORDER BY id LIMIT 200000", [low]);
    const at = nowUs();
    polls++;
    for (const row of result.rows) {
      const id = Number(row.id);
      if (!seen.has(id)) seen.set(id, at);
    }
    while (seen.has(low + 1)) low++;
    if (expected !== null && seen.size >= expected) break;
    await sleep(args.pollMs);
  }
  await client.end();
  await send({ type: 'done', seen: [...seen.entries()], polls });
}

process.once('message', (args: WriterArgs | WatcherArgs) => {
  const run = args.mode === 'writer' ? writer(args) : watcher(args);
  run.then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`bench helper (${args.mode}) failed: ${String(error)}\n`);
      send({ type: 'error', error: String(error) }).finally(() => process.exit(1));
    },
  );
});
