/**
 * The built-in demo behind `make demo`: two shard databases on the local MariaDB/MySQL, one target
 * database on the local PostgreSQL, some rows and some changes. Steps are separate so the Makefile can
 * run the real `tributary` command between them.
 *
 *   node dist/cli/demo.js setup    drop and create the demo databases with rows
 *   node dist/cli/demo.js changes  write inserts, updates, deletes and a key change on both shards
 *   node dist/cli/demo.js check    compare every source row with PostgreSQL; exit 1 on a difference
 */
import mysql from 'mysql2/promise';
import pg from 'pg';

const MYSQL = { host: process.env.DEMO_MYSQL_HOST ?? '127.0.0.1', port: Number(process.env.DEMO_MYSQL_PORT ?? 3306), user: process.env.DEMO_MYSQL_USER ?? 'root' };
const PG = { host: process.env.DEMO_PG_HOST ?? '127.0.0.1', port: Number(process.env.DEMO_PG_PORT ?? 5432), user: process.env.DEMO_PG_USER ?? 'root' };
const SHARDS = ['eu', 'us'];
const TARGET_DB = 'tributary_demo';
const shardDb = (id: string): string => `tributary_demo_${id}`;

const SCHEMA = [
  `CREATE TABLE customers (
     id INT UNSIGNED PRIMARY KEY,
     email VARCHAR(120) NOT NULL,
     name VARCHAR(80) NOT NULL,
     created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
   ) DEFAULT CHARSET = utf8mb4`,
  `CREATE TABLE orders (
     id BIGINT PRIMARY KEY,
     customer_id INT UNSIGNED NOT NULL,
     status ENUM('new','paid','shipped','cancelled') NOT NULL DEFAULT 'new',
     total DECIMAL(12,2) NOT NULL,
     note TEXT,
     placed_at DATETIME(6) NOT NULL
   ) DEFAULT CHARSET = utf8mb4`,
];

async function shard(id: string): Promise<mysql.Connection> {
  return mysql.createConnection({ ...MYSQL, database: shardDb(id), multipleStatements: true });
}

async function setup(): Promise<void> {
  const admin = await mysql.createConnection({ ...MYSQL, multipleStatements: true });
  for (const id of SHARDS) {
    await admin.query(`DROP DATABASE IF EXISTS ${shardDb(id)}; CREATE DATABASE ${shardDb(id)}`);
    const db = await shard(id);
    for (const ddl of SCHEMA) await db.query(ddl);
    // Both shards use ids 1..N: the target keeps them apart by source.
    const customers = Array.from({ length: 20 }, (_, i) => [i + 1, `user${i + 1}@${id}.example`, `Customer ${i + 1} (${id})`]);
    await db.query('INSERT INTO customers (id, email, name) VALUES ?', [customers]);
    const orders = Array.from({ length: 200 }, (_, i) => [i + 1, (i % 20) + 1, ['new', 'paid', 'shipped'][i % 3], ((i * 37) % 1000) + 0.99, i % 7 === 0 ? 'gift wrap 🎁' : null, `2026-11-${String((i % 28) + 1).padStart(2, '0')} 12:00:00.${String(i).padStart(6, '0')}`]);
    await db.query('INSERT INTO orders (id, customer_id, status, total, note, placed_at) VALUES ?', [orders]);
    await db.end();
  }
  await admin.end();
  const pgAdmin = new pg.Client({ ...PG, database: 'postgres' });
  await pgAdmin.connect();
  await pgAdmin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [TARGET_DB]);
  await pgAdmin.query(`DROP DATABASE IF EXISTS ${TARGET_DB}`);
  await pgAdmin.query(`CREATE DATABASE ${TARGET_DB}`);
  await pgAdmin.end();
  console.log(`demo: created ${SHARDS.map(shardDb).join(', ')} (20 customers, 200 orders each) and PostgreSQL database ${TARGET_DB}`);
}

async function changes(): Promise<void> {
  for (const id of SHARDS) {
    const db = await shard(id);
    const [rows] = await db.query<mysql.RowDataPacket[]>('SELECT COALESCE(MAX(id), 0) AS max_id FROM orders');
    const next = Number(rows[0]!.max_id) + 1;
    await db.query("INSERT INTO orders (id, customer_id, total, placed_at) VALUES (?, 1, 19.99, NOW(6)), (?, 2, 5.00, NOW(6))", [next, next + 1]);
    await db.query("UPDATE orders SET status = 'paid', total = total + 1 WHERE id % 10 = 3");
    await db.query('DELETE FROM orders WHERE id % 25 = 0');
    await db.query("UPDATE customers SET name = CONCAT(name, ' ✓') WHERE id = 3");
    // A primary-key change: old key deleted, new key inserted in PostgreSQL.
    await db.query('UPDATE customers SET id = id + 1000 WHERE id = 20');
    await db.end();
  }
  console.log('demo: wrote inserts, updates, deletes and a primary-key change on both shards');
}

const CHECK_QUERIES: Record<string, { mysql: string; pg: string }> = {
  customers: {
    mysql: "SELECT CONCAT_WS('|', id, email, name, DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f')) AS r FROM customers",
    pg: "SELECT concat_ws('|', id, email, name, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')) AS r FROM customers WHERE _source = $1",
  },
  orders: {
    mysql: "SELECT CONCAT_WS('|', id, customer_id, status, total, COALESCE(note, '<null>'), DATE_FORMAT(placed_at, '%Y-%m-%d %H:%i:%s.%f')) AS r FROM orders",
    pg: "SELECT concat_ws('|', id, customer_id, status, total, COALESCE(note, '<null>'), to_char(placed_at, 'YYYY-MM-DD HH24:MI:SS.US')) AS r FROM orders WHERE _source = $1",
  },
};

async function check(): Promise<number> {
  const target = new pg.Client({ ...PG, database: TARGET_DB });
  await target.connect();
  let differences = 0;
  for (const id of SHARDS) {
    const db = await shard(id);
    await db.query("SET time_zone = '+00:00'");
    for (const [table, q] of Object.entries(CHECK_QUERIES)) {
      const [mine] = await db.query<mysql.RowDataPacket[]>(q.mysql);
      const theirs = (await target.query(q.pg, [id])).rows;
      const a = new Set(mine.map((r) => String(r.r)));
      const b = new Set(theirs.map((r) => String(r.r)));
      const missing = [...a].filter((r) => !b.has(r));
      const extra = [...b].filter((r) => !a.has(r));
      differences += missing.length + extra.length;
      const verdict = missing.length + extra.length === 0 ? 'equal' : `DIFFERENT (missing ${missing.length}, extra ${extra.length})`;
      console.log(`demo: ${id}.${table}: MySQL ${a.size} rows, PostgreSQL ${b.size} rows: ${verdict}`);
    }
    await db.end();
  }
  await target.end();
  console.log(differences === 0 ? 'demo: PostgreSQL holds exactly the rows of both shards' : `demo: ${differences} differing rows`);
  return differences === 0 ? 0 : 1;
}

async function main(step: string | undefined): Promise<number> {
  if (step === 'setup') await setup();
  else if (step === 'changes') await changes();
  else if (step === 'check') return check();
  else {
    console.error('usage: demo.js setup|changes|check');
    return 2;
  }
  return 0;
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
