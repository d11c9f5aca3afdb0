/**
 * Workload 6, many shards: 500 source databases x 20 tables (10,000 units; scaled by --scale, or
 * BENCH_SHARDS_SOURCES) on one MariaDB. Timed: `triggers install` over every source at once, the first
 * `sync --once` (every snapshot), then one `sync --once` pass with every unit idle and one with 1% of
 * the units changed, alternating, and `triggers status`. Counted for each: wall time, peak RSS, the most
 * MariaDB connections open at once (sampled), statements per idle unit, connections opened.
 * BENCH_CLI_BEFORE=path/to/dist/cli/main.js also runs the idle pass with that (older) build, alternating
 * with this one on the same data, for before/after figures.
 *
 * The sync runs under a MariaDB login of its own, so its statements and connections are counted exactly
 * (information_schema.USER_STATISTICS, MariaDB's userstat) apart from other clients of the shared
 * server; global status deltas (Questions, Com_select, Connections) are reported beside them.
 */
import type mysql from 'mysql2/promise';
import {
  check,
  type Context,
  createMysqlDb,
  createMysqlUser,
  createPgDb,
  fmt,
  log,
  median,
  mysqlAdmin,
  mysqlScalar,
  onCleanup,
  pgAdmin,
  pgScalar,
  PREFIX,
  type SourceSpec,
  tributary,
  verdict,
  writeConfig,
} from './lib';

interface Counters {
  statements: number | null;
  selects: number | null;
  connections: number | null;
  questions: number;
  comSelect: number;
  globalConnections: number;
}

async function readCounters(conn: mysql.Connection, user: string, userstat: boolean): Promise<Counters> {
  let statements: number | null = null;
  let selects: number | null = null;
  let connections: number | null = null;
  if (userstat) {
    const [rows] = await conn.query('SELECT TOTAL_CONNECTIONS, SELECT_COMMANDS, UPDATE_COMMANDS, OTHER_COMMANDS FROM information_schema.USER_STATISTICS WHERE USER = ?', [user]);
    const row = (rows as Record<string, string>[])[0];
    statements = row ? Number(row.SELECT_COMMANDS) + Number(row.UPDATE_COMMANDS) + Number(row.OTHER_COMMANDS) : 0;
    selects = row ? Number(row.SELECT_COMMANDS) : 0;
    connections = row ? Number(row.TOTAL_CONNECTIONS) : 0;
  }
  const [status] = await conn.query("SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Com_select', 'Connections')");
  const get = (name: string): number => Number((status as { Variable_name: string; Value: string }[]).find((r) => r.Variable_name === name)?.Value ?? NaN);
  return { statements, selects, connections, questions: get('Questions'), comSelect: get('Com_select'), globalConnections: get('Connections') };
}

interface PassFigures {
  ms: number;
  statements: number | null;
  selects: number | null;
  connections: number | null;
  questions: number;
  comSelect: number;
  globalConnections: number;
  peakMysql: number;
  peakPg: number;
  rssKb: number;
}

/** Samples how many connections a login holds on MariaDB until stopped; returns the highest seen. */
function sampleConnections(admin: mysql.Connection, user: string, pgClient?: { client: { query: (sql: string, params: unknown[]) => Promise<{ rows: { n: string }[] }> }; db: string }): { stop: () => Promise<{ mysql: number; pg: number }> } {
  let peakMysql = 0;
  let peakPg = 0;
  let sampling = true;
  const loop = (async () => {
    for (let i = 0; sampling && i < 1_000_000; i++) {
      peakMysql = Math.max(peakMysql, Number(await mysqlScalar(admin, 'SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?', [user])));
      if (pgClient) {
        const result = await pgClient.client.query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tributary'", [pgClient.db]);
        peakPg = Math.max(peakPg, Number(result.rows[0]!.n));
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    stop: async () => {
      sampling = false;
      await loop;
      return { mysql: peakMysql, pg: peakPg };
    },
  };
}

export async function shardsBench(ctx: Context): Promise<void> {
  const sourceCount = ctx.smoke ? 2 : Number(process.env.BENCH_SHARDS_SOURCES ?? Math.max(2, Math.round(500 * Math.min(1, ctx.scale))));
  const tableCount = ctx.smoke ? 3 : 20;
  const units = sourceCount * tableCount;
  const concurrency = 4;
  const tables = Array.from({ length: tableCount }, (_, i) => `t${String(i + 1).padStart(2, '0')}`);
  const rowsPerTable = 10;
  const before = process.env.BENCH_CLI_BEFORE;
  log(`shards: creating ${sourceCount} databases x ${tableCount} tables`);
  const sources: SourceSpec[] = Array.from({ length: sourceCount }, (_, s) => ({ id: `s${String(s + 1).padStart(3, '0')}`, database: '' }));
  const ddl = tables
    .map(
      (t) =>
        `CREATE TABLE ${t} (id INT NOT NULL PRIMARY KEY, name VARCHAR(32) NOT NULL, qty INT NOT NULL, updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB;` +
        `INSERT INTO ${t} (id, name, qty) VALUES ${Array.from({ length: rowsPerTable }, (_, i) => `(${i + 1}, 'item ${i + 1}', ${i})`).join(', ')};`,
    )
    .join('\n');
  // One more source, set up before the others exist: its idle pass, timed now and again once the server
  // holds every other source, shows whether a source's cost depends on how many databases share its server.
  const probe = await setUpProbe(ddl, tables, concurrency);
  const probeAlone = await probe.idleMs(Math.max(3, ctx.reps));
  log(`shards: one source's idle pass before the other databases exist: ${fmt(probeAlone)} ms`);
  // Four at a time: creating 10,000 tables one by one takes long enough as it is.
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < sources.length) {
        const source = sources[next++]!;
        source.database = await createMysqlDb(`shard${source.id}`);
        const conn = await mysqlAdmin(source.database);
        await conn.query(ddl);
        await conn.end();
      }
    }),
  );
  const pattern = `${PREFIX.replace(/_/g, '\\_')}\\_shard%`;
  const login = await createMysqlUser('sync', pattern);
  const pgDb = await createPgDb('shards');
  const settings = { concurrency };
  // The DBA login installs capture; a login of its own, so that its connections can be counted too.
  const dba = await createMysqlUser('dba', pattern);
  {
    const root = await mysqlAdmin();
    await root.query(`GRANT SELECT, INSERT, CREATE, DROP, ALTER, INDEX, TRIGGER, LOCK TABLES ON \`${pattern}\`.* TO '${dba.user}'@'127.0.0.1'`);
    await root.end();
  }
  const dbaConfig = writeConfig('shards-dba', pgDb, sources.map((s) => ({ ...s, ...dba })), tables, settings);
  const syncConfig = writeConfig('shards', pgDb, sources.map((s) => ({ ...s, ...login })), tables, settings);
  const admin = await mysqlAdmin();
  const timed = async (config: string, args: string[], user: string, label: string): Promise<{ ms: number; rssKb: number; peak: number }> => {
    const sampler = sampleConnections(admin, user);
    let run;
    let peaks: { mysql: number };
    try {
      run = check(await tributary(config, args, { timeoutMs: 3_600_000 }), label);
    } finally {
      peaks = await sampler.stop();
    }
    return { ms: run.ms, rssKb: run.maxRssKb, peak: peaks.mysql };
  };
  const install = await timed(dbaConfig, ['triggers', 'install'], dba.user, 'triggers install (shards)');
  log(`shards: triggers install ${fmt(install.ms / 1000, 1)} s, peak ${install.peak} connections`);
  const initial = await timed(syncConfig, ['sync', '--once'], login.user, 'initial sync (shards)');
  log(`shards: first sync ${fmt(initial.ms / 1000, 1)} s, RSS ${fmt(initial.rssKb / 1024)} MiB, peak ${initial.peak} connections`);
  ctx.notes.push(
    `shards: ${sourceCount} databases x ${tableCount} tables = ${units} units on one server, ${rowsPerTable} rows each, concurrency ${concurrency}; ` +
      `triggers install (all sources, one command) ${fmt(install.ms / 1000, 1)} s with at most ${install.peak} connections; ` +
      `the first sync (${units} snapshots) ${fmt(initial.ms / 1000, 1)} s, peak RSS ${fmt(initial.rssKb / 1024)} MiB, at most ${initial.peak} connections`,
  );

  let userstat = false;
  try {
    const was = await mysqlScalar(admin, "SELECT @@GLOBAL.userstat").catch(() => null);
    if (was === '1' || was === 'ON') userstat = true;
    else if (was !== null) {
      await admin.query('SET GLOBAL userstat = 1');
      userstat = true;
      onCleanup(async () => {
        const c = await mysqlAdmin();
        await c.query('SET GLOBAL userstat = 0');
        await c.end();
      });
    }
  } catch {
    userstat = false;
  }
  if (!userstat) ctx.notes.push('shards: USER_STATISTICS unavailable; statement counts are global status deltas and may include other clients');
  const pgClient = await pgAdmin();

  const measure = async (label: string, cli?: string): Promise<PassFigures> => {
    const counted = await readCounters(admin, login.user, userstat);
    const sampler = sampleConnections(admin, login.user, { client: pgClient, db: pgDb });
    let run;
    let peaks: { mysql: number; pg: number };
    try {
      run = check(await tributary(syncConfig, ['sync', '--once'], { timeoutMs: 1_800_000, cpuProfDir: cli ? undefined : ctx.cpuProfDir, ...(cli ? { cli } : {}) }), `sync --once (${label})`);
    } finally {
      peaks = await sampler.stop();
    }
    await new Promise((r) => setTimeout(r, 300));
    const after = await readCounters(admin, login.user, userstat);
    const d = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a - b);
    // The counters read themselves: one statement each for the root connection (global status only).
    return {
      ms: run.ms,
      statements: d(after.statements, counted.statements),
      selects: d(after.selects, counted.selects),
      connections: d(after.connections, counted.connections),
      questions: after.questions - counted.questions,
      comSelect: after.comSelect - counted.comSelect,
      globalConnections: after.globalConnections - counted.globalConnections,
      peakMysql: peaks.mysql,
      peakPg: peaks.pg,
      rssKb: run.maxRssKb,
    };
  };

  const idle: PassFigures[] = [];
  const idleBefore: PassFigures[] = [];
  const active: PassFigures[] = [];
  const status: { ms: number; rssKb: number; peak: number }[] = [];
  const changedUnits = Math.max(1, Math.round(units / 100));
  let nextId = rowsPerTable + 1;
  try {
    for (let rep = 0; rep < ctx.reps; rep++) {
      // Alternating with the older build (when given), starting with each in turn.
      const order = before ? (rep % 2 === 0 ? ['before', 'after'] : ['after', 'before']) : ['after'];
      for (const which of order) {
        if (which === 'before') {
          idleBefore.push(await measure('idle, before', before));
          log(`shards rep ${rep + 1}/${ctx.reps} idle pass (before): ${fmt(idleBefore[idleBefore.length - 1]!.ms)} ms`);
        } else {
          idle.push(await measure('idle'));
          log(`shards rep ${rep + 1}/${ctx.reps} idle pass: ${fmt(idle[idle.length - 1]!.ms)} ms, ${idle[idle.length - 1]!.statements} statements, RSS ${fmt(idle[idle.length - 1]!.rssKb / 1024)} MiB`);
        }
      }
      status.push(await timed(syncConfig, ['triggers', 'status'], login.user, 'triggers status (shards)'));
      log(`shards rep ${rep + 1}/${ctx.reps} triggers status: ${fmt(status[status.length - 1]!.ms)} ms`);
      for (let j = 0; j < changedUnits; j++) {
        const source = sources[j % sourceCount]!;
        const table = tables[(j * 7) % tableCount]!;
        const conn = await mysqlAdmin(source.database);
        await conn.query(`UPDATE ${table} SET qty = qty + 1 WHERE id <= 5`);
        await conn.query(`INSERT INTO ${table} (id, name, qty) VALUES (${nextId}, 'new', 1), (${nextId + 1}, 'new', 2)`);
        await conn.query(`DELETE FROM ${table} WHERE id = ${nextId + 1}`);
        await conn.end();
      }
      nextId += 2;
      active.push(await measure('1% active'));
      log(`shards rep ${rep + 1}/${ctx.reps} 1% active pass: ${fmt(active[active.length - 1]!.ms)} ms`);
    }
  } finally {
    await admin.end();
    await pgClient.end();
  }
  const probeBeside = await probe.idleMs(Math.max(3, ctx.reps));
  log(`shards: the same source's idle pass beside ${sourceCount} more databases: ${fmt(probeBeside)} ms`);
  ctx.figures.push({
    workload: '6 many shards',
    metric: `one source's idle sync --once (${tableCount} units): beside ${fmt(sourceCount)} more databases (${fmt(units * 3)} more triggers) vs before they existed (wall ms)`,
    tributary: fmt(probeBeside),
    comparison: fmt(probeAlone),
    ratio: fmt(probeBeside / probeAlone, 2),
    target: 'independent of the server (<= 1.2)',
    met: verdict(probeBeside <= probeAlone * 1.2),
  });
  // Correctness: every unit's rows in PostgreSQL equal the source's (counts and a digest of qty).
  {
    const root = await mysqlAdmin();
    let sourceRows = 0;
    let sourceQty = 0;
    for (const source of sources) {
      const [rows] = await root.query(tables.map((t) => `SELECT COUNT(*) AS n, COALESCE(SUM(qty), 0) AS q FROM \`${source.database}\`.${t}`).join(' UNION ALL '));
      for (const row of rows as { n: string; q: string }[]) {
        sourceRows += Number(row.n);
        sourceQty += Number(row.q);
      }
    }
    await root.end();
    let targetRows = 0;
    let targetQty = 0;
    for (const t of tables) {
      targetRows += Number(await pgScalar(pgDb, `SELECT count(*) FROM public.${t}`));
      targetQty += Number(await pgScalar(pgDb, `SELECT COALESCE(sum(qty), 0) FROM public.${t}`));
    }
    if (sourceRows !== targetRows || sourceQty !== targetQty) throw new Error(`shards: target differs from the sources: rows ${targetRows} vs ${sourceRows}, sum(qty) ${targetQty} vs ${sourceQty}`);
    ctx.notes.push(`shards: target equals the sources at the end (${fmt(sourceRows)} rows, sum(qty) ${fmt(sourceQty)})`);
  }

  const med = (list: PassFigures[], pick: (p: PassFigures) => number | null): number => median(list.map(pick).filter((v): v is number => v !== null));
  const idleMs = med(idle, (p) => p.ms);
  const perUnit = userstat ? med(idle, (p) => p.statements) / units : med(idle, (p) => p.questions) / units;
  const selectsPerUnit = userstat ? med(idle, (p) => p.selects) / units : med(idle, (p) => p.comSelect) / units;
  const beforeMs = idleBefore.length ? med(idleBefore, (p) => p.ms) : NaN;
  ctx.figures.push({
    workload: '6 many shards',
    metric: `idle sync --once over ${fmt(units)} units (wall ms)${before ? '; comparison: the build before' : ''}`,
    tributary: fmt(idleMs),
    comparison: before ? fmt(beforeMs) : '',
    ratio: before ? fmt(beforeMs / idleMs, 1) + 'x faster' : '',
    target: '< 5,000 ms',
    met: verdict(idleMs < 5000),
  });
  ctx.figures.push({ workload: '6 many shards', metric: `1% of units changed (${changedUnits} units), sync --once (wall ms)`, tributary: fmt(med(active, (p) => p.ms)), comparison: '', ratio: '', target: '', met: '' });
  const idleRss = Math.max(...idle.map((p) => p.rssKb)) / 1024;
  ctx.figures.push({
    workload: '6 many shards',
    metric: `peak RSS: idle sync --once / first sync --once (${fmt(units)} units)`,
    tributary: `${fmt(idleRss)} / ${fmt(initial.rssKb / 1024)} MiB`,
    comparison: before ? `${fmt(Math.max(...idleBefore.map((p) => p.rssKb)) / 1024)} MiB` : '',
    ratio: '',
    target: '<= 256 MiB',
    met: verdict(idleRss <= 256 && initial.rssKb / 1024 <= 256),
  });
  ctx.figures.push({ workload: '6 many shards', metric: `first sync --once, ${fmt(units)} snapshots (wall s)`, tributary: fmt(initial.ms / 1000, 1), comparison: '', ratio: '', target: '', met: '' });
  ctx.figures.push({ workload: '6 many shards', metric: `triggers install over ${fmt(sourceCount)} sources x ${tableCount} tables, one command (wall s)`, tributary: fmt(install.ms / 1000, 1), comparison: '', ratio: '', target: 'succeeds', met: 'yes' });
  ctx.figures.push({ workload: '6 many shards', metric: `triggers status over ${fmt(units)} units (wall ms)`, tributary: fmt(median(status.map((x) => x.ms))), comparison: '', ratio: '', target: 'succeeds', met: 'yes' });
  ctx.figures.push({
    workload: '6 many shards',
    metric: `MariaDB statements per idle unit (${userstat ? 'USER_STATISTICS' : 'global Questions'}; SELECTs ${fmt(selectsPerUnit, 2)})`,
    tributary: fmt(perUnit, 2),
    comparison: '',
    ratio: '',
    target: '<= 1',
    met: verdict(perUnit <= 1),
  });
  const peakMysql = Math.max(...idle.map((p) => p.peakMysql), ...active.map((p) => p.peakMysql), ...status.map((x) => x.peak), install.peak, initial.peak);
  const peakPg = Math.max(...idle.map((p) => p.peakPg), ...active.map((p) => p.peakPg));
  const opened = med(idle, (p) => p.connections ?? p.globalConnections);
  ctx.figures.push({
    workload: '6 many shards',
    metric: `MariaDB connections: peak open in any command (install, syncs, status) / opened per idle pass (concurrency ${concurrency})`,
    tributary: `${fmt(peakMysql)} / ${fmt(opened)}`,
    comparison: before ? `${fmt(Math.max(...idleBefore.map((p) => p.peakMysql)))} / ${fmt(med(idleBefore, (p) => p.connections ?? p.globalConnections))} (idle pass)` : '',
    ratio: '',
    target: `<= concurrency + 2 (${concurrency + 2})`,
    met: verdict(peakMysql <= concurrency + 2),
  });
  ctx.figures.push({
    workload: '6 many shards',
    metric: 'PostgreSQL connections, peak open',
    tributary: fmt(peakPg),
    comparison: '',
    ratio: '',
    target: `<= concurrency + 2 (${concurrency + 2})`,
    met: verdict(peakPg <= concurrency + 2),
  });
  const show = (p: PassFigures): string =>
    `${fmt(p.ms)} ms, statements ${p.statements ?? 'n/a'} (SELECT ${p.selects ?? 'n/a'}), connections ${p.connections ?? 'n/a'}, peak open ${p.peakMysql} MariaDB / ${p.peakPg} PG; ` +
    `global: Questions +${p.questions}, Com_select +${p.comSelect}, Connections +${p.globalConnections}; RSS ${fmt(p.rssKb / 1024)} MiB`;
  ctx.notes.push(`shards: idle passes: ${idle.map(show).join(' | ')}`);
  if (before) ctx.notes.push(`shards: idle passes of the build before (${before}): ${idleBefore.map(show).join(' | ')}`);
  ctx.notes.push(`shards: 1% active passes: ${active.map(show).join(' | ')}`);
  ctx.notes.push(`shards: triggers status: ${status.map((x) => `${fmt(x.ms)} ms, RSS ${fmt(x.rssKb / 1024)} MiB, peak ${x.peak} connections`).join(' | ')}`);
}

/** A source of its own (root login, its own target database), installed and synced; idleMs times its idle pass. */
async function setUpProbe(ddl: string, tables: string[], concurrency: number): Promise<{ idleMs: (runs: number) => Promise<number> }> {
  const database = await createMysqlDb('shardprobe');
  const conn = await mysqlAdmin(database);
  await conn.query(ddl);
  await conn.end();
  const config = writeConfig('shards-probe', await createPgDb('shardprobe'), [{ id: 'probe', database }], tables, { concurrency });
  check(await tributary(config, ['triggers', 'install'], { timeoutMs: 600_000 }), 'triggers install (shards probe)');
  check(await tributary(config, ['sync', '--once'], { timeoutMs: 600_000 }), 'first sync (shards probe)');
  return {
    idleMs: async (runs) => {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push(check(await tributary(config, ['sync', '--once'], { timeoutMs: 600_000 }), 'idle sync (shards probe)').ms);
      return median(times);
    },
  };
}
