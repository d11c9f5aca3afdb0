/**
 * TLS to both servers, with a CA made here: private MariaDB and PostgreSQL instances that accept only
 * encrypted connections, and the certificate checks of each ssl mode.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { runCli } from '../helpers/cli';
import { freePort, type PrivateServer, startPrivateMariaDB } from '../helpers/private-servers';

const PG_BIN = '/usr/lib/postgresql/15/bin';
let dir: string;
let mariadb: PrivateServer;
let pgDir: string;
let pgPort: number;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A CA, a server certificate for the name "tributary-test" and 127.0.0.1, a client certificate for root. */
function makeCertificates(): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=tributary test CA', '-keyout', 'ca.key', '-out', 'ca.pem']);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:tributary-test,IP:127.0.0.1\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=tributary-test', '-keyout', 'server.key', '-out', 'server.csr']);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'server.ext', '-out', 'server.pem']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=root', '-keyout', 'client.key', '-out', 'client.csr']);
  openssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', 'client.pem']);
  // A second CA that signed nothing here: trusting it must fail.
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=other CA', '-keyout', 'other.key', '-out', 'other.pem']);
}

async function startTlsPostgres(): Promise<void> {
  pgDir = mkdtempSync(join(tmpdir(), 'tributary-pg-tls-'));
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
  chownSync(pgDir, uid, gid);
  execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'initdb'), '-D', pgDir, '-A', 'trust', '-U', 'root', '--no-sync'], { stdio: 'ignore' });
  for (const [from, to] of [['server.pem', 'server.crt'], ['server.key', 'server.key'], ['ca.pem', 'root.crt']]) {
    writeFileSync(join(pgDir, to), readFileSync(join(dir, from!)));
    chownSync(join(pgDir, to), uid, gid);
    chmodSync(join(pgDir, to), 0o600);
  }
  // Only TLS connections over TCP; local socket for nobody but the server's own tools.
  writeFileSync(join(pgDir, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n');
  pgPort = await freePort();
  const options = `-p ${pgPort} -k ${pgDir} -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on -c ssl_ca_file=root.crt`;
  execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), '-D', pgDir, '-l', join(pgDir, 'log'), '-o', options, '-w', 'start'], { stdio: 'ignore' });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tributary-tls-'));
  makeCertificates();
  mariadb = await startPrivateMariaDB([`--ssl-ca=${join(dir, 'ca.pem')}`, `--ssl-cert=${join(dir, 'server.pem')}`, `--ssl-key=${join(dir, 'server.key')}`]);
  await startTlsPostgres();
  const admin = await mysql.createConnection({ host: '127.0.0.1', port: mariadb.port, user: 'root', ssl: { rejectUnauthorized: false }, multipleStatements: true });
  await admin.query("CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(20)); INSERT INTO shop.orders VALUES (1, 'over tls')");
  // From now on only encrypted connections (set after start: the helper's readiness probe is plain).
  await admin.query('SET GLOBAL require_secure_transport = ON');
  await admin.end();
  const target = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'root', database: 'postgres', ssl: { rejectUnauthorized: false } });
  await target.connect();
  await target.query('CREATE DATABASE warehouse');
  await target.end();
}, 120_000);

afterAll(async () => {
  await mariadb?.destroy();
  if (pgDir) {
    try {
      execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), '-D', pgDir, '-m', 'immediate', '-w', 'stop'], { stdio: 'ignore' });
    } catch {
      // already stopped
    }
    rmSync(pgDir, { recursive: true, force: true });
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function config(sourceSsl: string, targetSsl: string): string {
  const path = join(dir, `tributary-${Math.random().toString(16).slice(2)}.yml`);
  writeFileSync(
    path,
    [
      'target:',
      `  url: postgres://root@127.0.0.1:${pgPort}/warehouse`,
      targetSsl ? `  ssl: ${targetSsl}` : '',
      'sources:',
      '  - id: shop',
      `    url: mysql://root@127.0.0.1:${mariadb.port}/shop`,
      sourceSsl ? `    ssl: ${sourceSsl}` : '',
      'tables: [orders]',
    ].join('\n'),
  );
  return path;
}

test('verified TLS to both servers, with a client certificate for PostgreSQL: the sync runs', async () => {
  const ca = join(dir, 'ca.pem');
  // The certificate names 127.0.0.1, so PostgreSQL's verify-full holds when connecting to it; MySQL's
  // verify-full needs a host name (see the last test), so the source checks the chain: verify-ca.
  const path = config(`{ mode: verify-ca, ca: ${ca} }`, `{ mode: verify-full, ca: ${ca}, cert: ${join(dir, 'client.pem')}, key: ${join(dir, 'client.key')} }`);
  const install = await runCli(['--config', path, 'triggers', 'install']);
  expect({ code: install.code, stderr: install.stderr }).toEqual({ code: 0, stderr: '' });
  const sync = await runCli(['--config', path, 'sync', '--once']);
  expect({ code: sync.code, stderr: sync.stderr }).toMatchObject({ code: 0 });
  const target = new pg.Client({ host: '127.0.0.1', port: pgPort, user: 'root', database: 'warehouse', ssl: { ca: readFileSync(ca, 'utf8') } });
  await target.connect();
  try {
    expect((await target.query('SELECT _source, id, note FROM orders')).rows).toEqual([{ _source: 'shop', id: 1, note: 'over tls' }]);
    // Tributary's own sessions are encrypted too.
    const sessions = await target.query("SELECT bool_and(s.ssl) AS all_ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'warehouse'");
    expect(sessions.rows[0].all_ssl).toBe(true);
  } finally {
    await target.end();
  }
});

test('without ssl the servers refuse; an untrusted CA is refused; require encrypts without checking', async () => {
  const plain = await runCli(['--config', config('', '{ mode: require }'), 'sync', '--once']);
  expect(plain.code).toBe(3);
  expect(plain.stderr).toContain(`127.0.0.1:${mariadb.port}`);

  const untrusted = await runCli(['--config', config(`{ mode: verify-ca, ca: ${join(dir, 'other.pem')} }`, '{ mode: require }'), 'sync', '--once']);
  expect(untrusted.code).toBe(3);
  expect(untrusted.stderr).toMatch(/certificate/i);

  const noTargetTls = await runCli(['--config', config('{ mode: require }', ''), 'sync', '--once']);
  expect(noTargetTls.code).toBe(4);

  const pgByIp = await runCli(['--config', config('{ mode: require }', `{ mode: verify-full, ca: ${join(dir, 'ca.pem')} }`), 'sync', '--once']);
  expect(pgByIp.code).toBe(0); // 127.0.0.1 is in the certificate

  expect((await runCli(['--config', config('{ mode: require }', '{ mode: require }'), 'sync', '--once'])).code).toBe(0);
});

test('verify-full on a MySQL source given by IP address is refused at start-up with the reason', async () => {
  const run = await runCli(['--config', config(`{ mode: verify-full, ca: ${join(dir, 'ca.pem')} }`, '{ mode: require }'), 'sync', '--once']);
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(/sources\[0\]\.ssl\.mode: verify-full needs a host name/);
});
