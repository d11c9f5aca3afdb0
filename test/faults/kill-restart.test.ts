/**
 * Fault suite, scenario 2: the sync process is killed with SIGKILL 50 times in a row (random moments
 * of a running daemon, and the named fault points during-snapshot, after-copy and after-commit via
 * TRIBUTARY_FAULT) and restarted each time, while writers keep changing rows. Then a clean run, and
 * the target must equal the sources: nothing duplicated, nothing skipped.
 */
import { runCli, startCli } from '../helpers/cli';
import { expectTargetEqualsSources } from '../helpers/checksum';
import { createScratch, type Scratch } from '../helpers/scratch';
import { catchUp, configYaml, mysqlConnect, SOAK, scratchTopology, sleep, writeConfig } from '../helpers/topology';
import { rng, startWorkload, writerTableSql } from '../helpers/writers';

const TABLE = 'items';
const ROWS = 50_000;
const KILLS = 50 * SOAK;
// Kills spent on the snapshot at most; a clean run then finishes it, and the rest go to the change path.
const SNAPSHOT_KILLS = 16 * SOAK;

let s: Scratch;

beforeAll(async () => {
  s = await createScratch(['a', 'b']);
  for (const id of s.sourceIds) {
    await s.mysqlExec(id, writerTableSql(TABLE));
    await s.mysqlExec(id, `INSERT INTO ${TABLE} (id, grp, name, amount, at) SELECT seq, seq % 7, CONCAT('row', seq), seq / 100, '2024-01-01 00:00:00.5' FROM seq_1_to_${ROWS}`);
  }
});

afterAll(async () => {
  await s?.cleanup();
});

async function snapshotsDone(): Promise<boolean> {
  try {
    const rows = await s.pgRows("SELECT count(*)::int AS n FROM tributary.checkpoints WHERE snapshot_state = 'done'");
    return rows[0]!.n === s.sourceIds.length;
  } catch {
    return false; // the state schema does not exist before the first run
  }
}

test(`${KILLS} SIGKILLs at random moments and at every fault point, with writers running: nothing lost, nothing duplicated`, async () => {
  const seed = Number(process.env.TRIBUTARY_SEED ?? Date.now() % 100000);
  const random = rng(seed);
  const topology = scratchTopology(s);
  // Small chunks and batches: the snapshot spans 500 chunks per source and a pass many batches, so
  // kills land inside them.
  const { path, config } = writeConfig(configYaml(topology, [TABLE], ['batchSize: 40', 'snapshotChunkSize: 100', 'concurrency: 2', 'schedule: "* * * * * *"']));
  expect((await runCli(['--config', path, 'triggers', 'install'])).code).toBe(0);

  const writers = topology.sources.map((source, i) =>
    startWorkload({
      table: TABLE,
      connect: () => mysqlConnect(source.mysql),
      connections: 2,
      operations: Infinity,
      seed: seed + i,
      keySpace: ROWS,
      rollbackRate: 0.1,
      maxOpsPerTx: 5,
      holdRate: 0.05,
      holdMs: [200, 1500],
      pauseMs: [5, 30],
    }),
  );

  const history: string[] = [];
  const problems: string[] = [];
  let kills = 0;
  let attempts = 0;
  const seen = new Set<string>();
  try {
    while (kills < KILLS && attempts < KILLS * 3) {
      attempts++;
      let snapshotting = !(await snapshotsDone());
      if (snapshotting && kills >= SNAPSHOT_KILLS) {
        const finish = await runCli(['--config', path, 'sync', '--once']);
        history.push(`clean run to finish the snapshot, exit ${finish.code}`);
        if (finish.code !== 0) problems.push(`sync --once exited ${finish.code}: ${finish.stderr.slice(-800)}`);
        snapshotting = !(await snapshotsDone());
        if (snapshotting) problems.push('the snapshot did not finish in a clean run');
      }
      const mode = snapshotting ? (attempts % 2 === 1 ? 'during-snapshot' : 'random') : (['after-copy', 'after-commit', 'random'] as const)[kills % 3]!;
      if (mode === 'random') {
        // The daemon never ends on its own: kill it at a random moment (start-up, snapshot, a batch, idle).
        const daemon = startCli(['--config', path, 'sync']);
        // While snapshotting, short delays: each run copies some chunks and dies in the middle of one.
        const delay = Math.round(snapshotting ? 400 + random() * 1000 : 300 + random() * 2200);
        await sleep(delay);
        daemon.child.kill('SIGKILL');
        const run = await daemon.exited;
        if (run.stderr.includes('snapshotted again')) problems.push(`a crash made a table be snapshotted again: ${run.stderr.slice(-800)}`);
        if (run.signal === 'SIGKILL') kills++;
        else problems.push(`daemon ended by itself (code ${run.code}): ${run.stderr.slice(-500)}`);
        history.push(`random ${delay}ms${snapshotting ? ' (snapshot)' : ''}`);
      } else {
        const run = await runCli(['--config', path, 'sync', '--once'], { TRIBUTARY_FAULT: mode });
        // A crash must never look like a lost changelog (which would force a fresh snapshot).
        if (run.stderr.includes('snapshotted again')) problems.push(`a crash made a table be snapshotted again: ${run.stderr.slice(-800)}`);
        if (run.signal === 'SIGKILL') {
          kills++;
          seen.add(mode);
          history.push(mode);
        } else {
          // The fault point was not reached (nothing to apply): a normal pass, which must succeed.
          history.push(`${mode} not reached, exit ${run.code}`);
          if (run.code !== 0) problems.push(`sync --once exited ${run.code}: ${run.stderr.slice(-800)}`);
        }
      }
    }
  } finally {
    for (const w of writers) w.stop();
  }
  const stats = await Promise.all(writers.map((w) => w.done));

  // A clean run after all the crashes, then passes until caught up (gaps expire on evidence).
  const clean = await runCli(['--config', path, 'sync', '--once']);
  const context = `seed ${seed}; ${attempts} runs: ${history.join(', ')}; writers ${JSON.stringify(stats)}`;
  if (process.env.TRIBUTARY_FAULTS_VERBOSE) console.log(context);
  expect({ context, problems, clean: clean.code }).toEqual({ context, problems: [], clean: 0 });
  expect(kills).toBe(KILLS);
  expect([...seen].sort()).toEqual(['after-commit', 'after-copy', 'during-snapshot']);
  await catchUp(config);

  await expectTargetEqualsSources(topology, TABLE);
  expect(await s.pgRows(`SELECT _source, id FROM ${TABLE} GROUP BY 1, 2 HAVING count(*) > 1`)).toEqual([]);
  expect(await s.pgRows('SELECT source_id, change_id FROM tributary.gaps WHERE expired_at IS NULL')).toEqual([]);
  // Rows applied before a crash and left in the changelog are pruned by a later run: only the
  // sentinel (the row at the watermark) is left.
  for (const id of s.sourceIds) {
    const left = await s.mysqlRows(id, `SELECT COUNT(*) AS n FROM tributary_log_${TABLE}`);
    expect(Number(left[0]!.n)).toBeLessThanOrEqual(1);
  }
}, 600_000 * SOAK);
