/**
 * Workload 6, many shards: 50 source databases x 20 tables (1,000 units) on the local MariaDB. One
 * `sync --once` pass with every unit idle, and one with 1% of the units changed, alternating. Counted:
 * wall time of the pass, statements it sends to MariaDB (per idle unit), connections it opens and holds.
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

export async function shardsBench(ctx: Context): Promise<void> {
  const sourceCount = ctx.smoke ? 2 : Math.max(2, Math.round(50 * Math.min(1, ctx.scale)));
  const tableCount = ctx.smoke ? 3 : 20;
  const units = sourceCount * tableCount;
  const tables = Array.from({ length: tableCount }, (_, i) => `t${String(i + 1).padStart(2, '0')}`);
  const rowsPerTable = 10;
  log(`shards: creating ${sourceCount} databases x ${tableCount} tables`);
  const sources: SourceSpec[] = [];
  for (let s = 0; s < sourceCount; s++) {
    const id = `s${String(s + 1).padStart(2, '0')}`;
    const database = await createMysqlDb(`shard${id}`);
    const conn = await mysqlAdmin(database);
    const ddl = tables
      .map(
        (t) =>
          `CREATE TABLE ${t} (id INT NOT NULL PRIMARY KEY, name VARCHAR(32) NOT NULL, qty INT NOT NULL, updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB;` +
          `INSERT INTO ${t} (id, name, qty) VALUES ${Array.from({ length: rowsPerTable }, (_, i) => `(${i + 1}, 'item ${i + 1}', ${i})`).join(', ')};`,
      )
      .join('\n');
    await conn.query(ddl);
    await conn.end();
    sources.push({ id, database });
  }
  const pattern = `${PREFIX.replace(/_/g, '\\_')}\\_shard%`;
  const login = await createMysqlUser('sync', pattern);
  const pgDb = await createPgDb('shards');
  const rootConfig = writeConfig('shards-root', pgDb, sources, tables);
  const syncConfig = writeConfig('shards', pgDb, sources.map((s) => ({ ...s, ...login })), tables);
  const installStarted = Date.now();
  check(await tributary(rootConfig, ['triggers', 'install'], { timeoutMs: 900_000 }), 'triggers install (shards)');
  const installMs = Date.now() - installStarted;
  const initial = check(await tributary(syncConfig, ['sync', '--once'], { timeoutMs: 900_000 }), 'initial sync (shards)');
  ctx.notes.push(`shards: ${sourceCount} databases x ${tableCount} tables = ${units} units, ${rowsPerTable} rows each; triggers install took ${fmt(installMs / 1000, 1)} s, the first sync (${units} snapshots) ${fmt(initial.ms / 1000, 1)} s`);

  const admin = await mysqlAdmin();
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

  const measure = async (label: string): Promise<PassFigures> => {
    const before = await readCounters(admin, login.user, userstat);
    let peakMysql = 0;
    let peakPg = 0;
    let sampling = true;
    const sampler = (async () => {
      for (let i = 0; sampling && i < 100_000; i++) {
        const m = Number(await mysqlScalar(admin, 'SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?', [login.user]));
        const p = Number((await pgClient.query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'tributary'", [pgDb])).rows[0].n);
        peakMysql = Math.max(peakMysql, m);
        peakPg = Math.max(peakPg, p);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    let run;
    try {
      run = check(await tributary(syncConfig, ['sync', '--once'], { timeoutMs: 600_000, cpuProfDir: ctx.cpuProfDir }), `sync --once (${label})`);
    } finally {
      sampling = false;
      await sampler;
    }
    await new Promise((r) => setTimeout(r, 300));
    const after = await readCounters(admin, login.user, userstat);
    const d = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a - b);
    // The counters read themselves: one statement each for the root connection (global status only).
    return {
      ms: run.ms,
      statements: d(after.statements, before.statements),
      selects: d(after.selects, before.selects),
      connections: d(after.connections, before.connections),
      questions: after.questions - before.questions,
      comSelect: after.comSelect - before.comSelect,
      globalConnections: after.globalConnections - before.globalConnections,
      peakMysql,
      peakPg,
      rssKb: run.maxRssKb,
    };
  };

  const idle: PassFigures[] = [];
  const active: PassFigures[] = [];
  const changedUnits = Math.max(1, Math.round(units / 100));
  let nextId = rowsPerTable + 1;
  try {
    for (let rep = 0; rep < ctx.reps; rep++) {
      idle.push(await measure('idle'));
      log(`shards rep ${rep + 1}/${ctx.reps} idle pass: ${fmt(idle[idle.length - 1]!.ms)} ms, ${idle[idle.length - 1]!.statements} statements`);
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

  const med = (list: PassFigures[], pick: (p: PassFigures) => number | null): number => median(list.map(pick).filter((v): v is number => v !== null));
  const idleMs = med(idle, (p) => p.ms);
  const perUnit = userstat ? med(idle, (p) => p.statements) / units : med(idle, (p) => p.questions) / units;
  const selectsPerUnit = userstat ? med(idle, (p) => p.selects) / units : med(idle, (p) => p.comSelect) / units;
  ctx.figures.push({ workload: '6 many shards', metric: `idle sync --once over ${units} units (wall ms)`, tributary: fmt(idleMs), comparison: '', ratio: '', target: '< 2,000 ms', met: verdict(idleMs < 2000) });
  ctx.figures.push({ workload: '6 many shards', metric: `1% of units changed (${changedUnits} units), sync --once (wall ms)`, tributary: fmt(med(active, (p) => p.ms)), comparison: '', ratio: '', target: '', met: '' });
  ctx.figures.push({
    workload: '6 many shards',
    metric: `MariaDB statements per idle unit (${userstat ? 'USER_STATISTICS' : 'global Questions'}; SELECTs ${fmt(selectsPerUnit, 2)})`,
    tributary: fmt(perUnit, 2),
    comparison: '',
    ratio: '',
    target: '<= 1',
    met: verdict(perUnit <= 1),
  });
  const concurrency = 4;
  const peakMysql = Math.max(...idle.map((p) => p.peakMysql), ...active.map((p) => p.peakMysql));
  const peakPg = Math.max(...idle.map((p) => p.peakPg), ...active.map((p) => p.peakPg));
  const opened = med(idle, (p) => p.connections ?? p.globalConnections);
  ctx.figures.push({
    workload: '6 many shards',
    metric: `MariaDB connections per idle pass: opened / peak open (sources ${sourceCount}, concurrency ${concurrency})`,
    tributary: `${fmt(opened)} / ${fmt(peakMysql)}`,
    comparison: '',
    ratio: '',
    target: `<= concurrency + 2 (${concurrency + 2})`,
    met: verdict(peakMysql <= concurrency + 2 && opened <= concurrency + 2),
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
  ctx.notes.push(`shards: 1% active passes: ${active.map(show).join(' | ')}`);
}
