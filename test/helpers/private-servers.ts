/**
 * Private MariaDB and PostgreSQL instances for tests that stop, kill or restart a server. Each has its
 * own data folder under os.tmpdir() and its own free port on 127.0.0.1; the shared servers on 3306
 * and 5432 are never touched. Call destroy() in afterAll/finally: it stops the server and removes the
 * data folder. A process exit hook kills what a crashed test run left behind.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';

const run = promisify(execFile);
const PG_BIN = process.env.TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A port nobody listens on right now (bound to 0 and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export interface PrivateServer {
  readonly kind: 'mariadb' | 'postgres';
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly dir: string;
  /** Starts the server (after stop()) and waits until it accepts connections. */
  start(): Promise<void>;
  /** Clean, fast shutdown (active transactions are rolled back / aborted). */
  stop(): Promise<void>;
  /** Stop, stay down for downMs, start again. */
  restart(downMs?: number): Promise<void>;
  /** Crash (MariaDB: SIGKILL; PostgreSQL: immediate shutdown, which is crash recovery on start), stay down for downMs, start again. */
  crash(downMs?: number): Promise<void>;
  /** Stops the server and deletes its data folder. Safe to call twice. */
  destroy(): Promise<void>;
  /** The server's own log, for failure messages. */
  log(): string;
}

// Everything alive at exit gets killed, so a crashed jest worker leaves no server behind.
const cleanupAtExit = new Set<() => void>();
let hooked = false;
function onExit(fn: () => void): () => void {
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const f of cleanupAtExit) {
        try {
          f();
        } catch {
          // best effort
        }
      }
    });
  }
  cleanupAtExit.add(fn);
  return () => cleanupAtExit.delete(fn);
}

/** extraArgs are appended to mariadbd's command line, e.g. ['--innodb-lock-wait-timeout=3']. */
export async function startPrivateMariaDB(extraArgs: string[] = []): Promise<PrivateServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-mariadb-'));
  const port = await freePort();
  const logPath = join(dir, 'server.log');
  const data = join(dir, 'data');
  // Its own tmpdir: at start-up mariadbd deletes every #sql* file in its tmpdir, which in /tmp would
  // include the shared server's temporary tables in use at that moment.
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  // --no-defaults: the machine's my.cnf names another user and log folder.
  await run('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=root', '--auth-root-authentication-method=normal', `--tmpdir=${tmp}`]);
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let destroyed = false;

  const start = async (): Promise<void> => {
    const out = openSync(logPath, 'a');
    child = spawn(
      'mariadbd',
      [
        '--no-defaults',
        '--user=root',
        `--datadir=${data}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${join(dir, 'sock')}`,
        `--pid-file=${join(dir, 'pid')}`,
        `--tmpdir=${tmp}`,
        '--innodb-buffer-pool-size=64M',
        '--local-infile=1',
        ...extraArgs,
      ],
      { detached: true, stdio: ['ignore', out, out] },
    );
    closeSync(out);
    const current = child;
    exited = new Promise((resolve) => current.once('exit', () => resolve()));
    child.unref();
    await waitUntil(`private MariaDB on port ${port}`, async () => {
      if (current.exitCode !== null) throw new Error(`mariadbd exited: ${readFileSync(logPath, 'utf8').slice(-2000)}`);
      const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 1000 });
      await c.end();
      return true;
    });
  };
  const stop = async (): Promise<void> => {
    if (!child || child.exitCode !== null) return;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 60_000)))]);
    clearTimeout(timer);
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  const forget = onExit(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  await start();
  return {
    kind: 'mariadb',
    host: '127.0.0.1',
    port,
    dir,
    start,
    stop,
    restart: async (downMs = 0) => {
      await stop();
      if (downMs > 0) await sleep(downMs);
      await start();
    },
    crash: async (downMs = 0) => {
      if (child && child.exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      if (downMs > 0) await sleep(downMs);
      await start();
    },
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      await stop();
      forget();
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => readFileSync(logPath, 'utf8'),
  };
}

function postgresUid(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

export async function startPrivatePostgres(): Promise<PrivateServer> {
  // initdb and pg_ctl refuse to run as root: they run as postgres, which must own the folder.
  const dir = mkdtempSync(join(tmpdir(), 'tributary-postgres-'));
  const { uid, gid } = postgresUid();
  chownSync(dir, uid, gid);
  const port = await freePort();
  const logPath = join(dir, 'server.log');
  const pgCtl = (args: string[]): Promise<unknown> => run('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), '-D', dir, '-l', logPath, ...args]);
  await run('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'initdb'), '-D', dir, '-A', 'trust', '-U', 'root', '--no-sync']);
  let running = false;
  let destroyed = false;
  const ready = (): Promise<void> =>
    waitUntil(`private PostgreSQL on port ${port}`, async () => {
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'root', database: 'postgres', connectionTimeoutMillis: 1000 });
      await c.connect();
      await c.end();
      return true;
    });
  const start = async (): Promise<void> => {
    await pgCtl(['-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, '-w', 'start']);
    running = true;
    await ready();
  };
  const stop = async (): Promise<void> => {
    if (!running) return;
    await pgCtl(['-w', '-m', 'fast', 'stop']);
    running = false;
  };
  const forget = onExit(() => {
    try {
      execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), '-D', dir, '-m', 'immediate', '-w', 'stop'], { stdio: 'ignore' });
    } catch {
      // not running
    }
    rmSync(dir, { recursive: true, force: true });
  });
  await start();
  return {
    kind: 'postgres',
    host: '127.0.0.1',
    port,
    dir,
    start,
    stop,
    restart: async (downMs = 0) => {
      await stop();
      if (downMs > 0) await sleep(downMs);
      await start();
    },
    crash: async (downMs = 0) => {
      if (running) await pgCtl(['-w', '-m', 'immediate', 'stop']);
      running = false;
      if (downMs > 0) await sleep(downMs);
      await start();
    },
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      await stop().catch(() => undefined);
      forget();
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => {
      try {
        return readFileSync(logPath, 'utf8');
      } catch {
        return '';
      }
    },
  };
}
