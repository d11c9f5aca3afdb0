/**
 * Gaps that cannot flood: tens of thousands of gap ranges, at change ids in the millions, are read and
 * written in bounded statements. The source is a PRIVATE MariaDB started with a small
 * max_allowed_packet (128 KB), so that a statement that grows with the number of gaps fails loudly
 * (ER_NET_PACKET_TOO_LARGE), as the one IN list of every gap id did. The target is the shared
 * PostgreSQL.
 */
import { type PrivateServer, startPrivateMariaDB } from '../helpers/private-servers';
import { PG } from '../helpers/scratch';
import { catchUp, configYaml, createDatabases, mysqlRun, pgRun, sleep, writeConfig } from '../helpers/topology';
import { expectTargetEqualsSources } from '../helpers/checksum';
import { syncOnce, unitOf } from '../helpers/scratch';

const ROWS = 60_000;
const PACKET = 128 * 1024;

let mariadb: PrivateServer;
let drop: (() => Promise<void>) | null = null;

beforeAll(async () => {
  mariadb = await startPrivateMariaDB([`--max-allowed-packet=${PACKET}`]);
}, 120_000);

afterAll(async () => {
  await drop?.().catch(() => undefined);
  await mariadb?.destroy();
}, 120_000);

test('30,000 gap ranges at ids in the millions: read and written in chunks below max_allowed_packet, late rows applied', async () => {
  const created = await createDatabases(mariadb.port, PG.port, ['a']);
  drop = created.drop;
  const { topology } = created;
  const source = topology.sources[0]!.mysql;
  await mysqlRun(source, 'CREATE TABLE items (id BIGINT PRIMARY KEY, v INT NOT NULL)');
  // The drain's gap handling is under test: a backlog this size on a small table would otherwise be
  // caught up by re-snapshot, which opens no gaps.
  const { config } = writeConfig(configYaml(topology, ['items'], ['catchUp: drain']));
  const { installTriggers } = await import('../helpers/scratch');
  await installTriggers(config);
  await mysqlRun(source, 'ALTER TABLE tributary_log_items AUTO_INCREMENT = 3000000');
  await mysqlRun(source, 'INSERT INTO items VALUES (0, 0)'); // change id 3,000,000
  // The snapshot starts reading the changelog at its floor: no gap for the ids below 3,000,000.
  expect(unitOf(await syncOnce(config), 'a', 'items')).toMatchObject({ status: 'ok', snapshotRows: 1, openGaps: 0 });
  await mysqlRun(source, `INSERT INTO items (id, v) SELECT seq, seq % 97 FROM seq_1_to_${ROWS}`);
  // Every other changelog row disappears before Tributary reads it, as if its writer had not committed
  // yet: 30,000 separate gaps. The rows are kept aside and come back later, as late commits would.
  await mysqlRun(source, 'CREATE TABLE aside AS SELECT * FROM tributary_log_items WHERE change_id % 2 = 1');
  await mysqlRun(source, 'DELETE FROM tributary_log_items WHERE change_id % 2 = 1');

  // The passes that read the changelog record the gaps; a second later the evidence (no transaction
  // alive on this private server) expires them all. Every pass reads all of them back.
  let expired = 0;
  for (let pass = 0; pass < 10 && expired < ROWS / 2; pass++) {
    const unit = unitOf(await syncOnce(config), 'a', 'items');
    expect(unit.status).toBe('ok');
    expired += unit.expiredGaps;
    await sleep(1100);
  }
  expect(expired).toBe(ROWS / 2);
  const stored = await pgRun<{ ranges: number }>(topology.pg, 'SELECT count(*)::int AS ranges FROM tributary.gaps');
  expect(stored[0]!.ranges).toBe(ROWS / 2);
  const again = unitOf(await syncOnce(config), 'a', 'items');
  expect(again).toMatchObject({ status: 'ok', changes: 0 });

  // The late rows arrive inside expired gaps: still re-read, so applied.
  await mysqlRun(source, 'INSERT INTO tributary_log_items SELECT * FROM aside');
  await mysqlRun(source, 'DROP TABLE aside');
  const results = await catchUp(config);
  const late = results.reduce((n, r) => n + unitOf(r, 'a', 'items').lateChanges, 0);
  expect(late).toBe(ROWS / 2);
  await expectTargetEqualsSources(topology, 'items');
}, 300_000);
