import type { ErrorSite } from '../../src/driver-errors';
import { ExitCode, exitCodeFor } from '../../src/cli/exit-codes';
import { ConfigError, redactSecrets, TributaryError, type ErrorCode } from '../../src/errors';
import { isNoSuchTable, isPrivilegeDenied, mapMysqlError } from '../../src/mysql/errors';
import { isTargetConnectionFailure, mapPgError } from '../../src/postgres/errors';

const SOURCE: ErrorSite = { where: 'source eu (127.0.0.1:3306)', doing: 'reading changes of orders' };
const TARGET: ErrorSite = { where: 'target (127.0.0.1:5432/warehouse)' };

/** Each side maps its own driver's errors. */
function mapOnItsSide(error: unknown, site: ErrorSite): TributaryError {
  return site === SOURCE ? mapMysqlError(error, site) : mapPgError(error, site);
}

/** An error shaped like the ones mysql2, pg and node sockets throw. */
function driverError(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

const refused = () => driverError('connect ECONNREFUSED 127.0.0.1:3306', { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' });

describe('mapMysqlError / mapPgError: unreachable servers', () => {
  test('ECONNREFUSED on the source is SOURCE_UNREACHABLE and transient', () => {
    const error = mapOnItsSide(refused(), SOURCE);
    expect(error).toBeInstanceOf(TributaryError);
    expect(error.code).toBe('SOURCE_UNREACHABLE');
    expect(error.transient).toBe(true);
  });

  test('the message names where it happened and what was being done', () => {
    const error = mapOnItsSide(refused(), SOURCE);
    expect(error.message).toContain('source eu (127.0.0.1:3306)');
    expect(error.message).toContain('reading changes of orders');
    expect(error.message).toContain('ECONNREFUSED');
  });

  test('the message holds no password even when the driver message has a URL with one', () => {
    const error = mapOnItsSide(driverError('connect ECONNREFUSED for mysql://app:s3cr3t-pw@db.internal:3306/shop', { code: 'ECONNREFUSED' }), SOURCE);
    expect(error.code).toBe('SOURCE_UNREACHABLE');
    expect(error.message).toContain('source eu (127.0.0.1:3306)');
    expect(error.message).not.toContain('s3cr3t-pw');
  });

  test('query failures are redacted too', () => {
    const error = mapOnItsSide(driverError('bad option in postgres://u:hunter2@h/db password=hunter3', { code: '42601' }), TARGET);
    expect(error.message).not.toMatch(/hunter[23]/);
  });

  test('the same failure on the target is TARGET_UNREACHABLE', () => {
    const error = mapOnItsSide(driverError('connect ECONNREFUSED 127.0.0.1:5432', { code: 'ECONNREFUSED' }), TARGET);
    expect(error).toMatchObject({ code: 'TARGET_UNREACHABLE', transient: true });
  });

  test.each(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'PROTOCOL_CONNECTION_LOST'])('%s is a transient connection failure', (code) => {
    expect(mapOnItsSide(driverError(`boom ${code}`, { code }), SOURCE)).toMatchObject({ code: 'SOURCE_UNREACHABLE', transient: true });
  });

  test('PostgreSQL connection exceptions (class 08) are TARGET_UNREACHABLE', () => {
    expect(mapOnItsSide(driverError('connection failure', { code: '08006' }), TARGET)).toMatchObject({ code: 'TARGET_UNREACHABLE', transient: true });
  });

  test('pg\'s "Connection terminated unexpectedly" is a connection failure', () => {
    expect(isTargetConnectionFailure(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(mapOnItsSide(new Error('Connection terminated unexpectedly'), TARGET).code).toBe('TARGET_UNREACHABLE');
  });

  test('wrong credentials or unknown database: unreachable, but not worth retrying', () => {
    const denied = driverError("Access denied for user 'app'@'10.0.0.1' (using password: YES)", { code: 'ER_ACCESS_DENIED_ERROR', errno: 1045 });
    expect(mapOnItsSide(denied, SOURCE)).toMatchObject({ code: 'SOURCE_UNREACHABLE', transient: false });
    expect(mapOnItsSide(driverError('password authentication failed for user "app"', { code: '28P01' }), TARGET)).toMatchObject({
      code: 'TARGET_UNREACHABLE',
      transient: false,
    });
    expect(mapOnItsSide(driverError('database "warehouse" does not exist', { code: '3D000' }), TARGET).code).toBe('TARGET_UNREACHABLE');
  });
});

describe('mapMysqlError / mapPgError: retryable query failures', () => {
  test.each([
    [1213, 'ER_LOCK_DEADLOCK', 'Deadlock found when trying to get lock; try restarting transaction'],
    [1205, 'ER_LOCK_WAIT_TIMEOUT', 'Lock wait timeout exceeded; try restarting transaction'],
  ])('MySQL errno %d is a transient source query failure', (errno, code, message) => {
    expect(mapOnItsSide(driverError(message, { errno, code, sqlState: '40001' }), SOURCE)).toMatchObject({ code: 'SOURCE_QUERY_FAILED', transient: true });
  });

  test.each([
    ['40P01', 'deadlock detected'],
    ['57P01', 'terminating connection due to administrator command'],
    ['40001', 'could not serialize access due to concurrent update'],
  ])('PostgreSQL %s is transient', (code, message) => {
    expect(mapOnItsSide(driverError(message, { code }), TARGET).transient).toBe(true);
  });

  test('PostgreSQL 23505 (unique violation) is not transient', () => {
    const error = mapOnItsSide(driverError('duplicate key value violates unique constraint "orders_pkey"', { code: '23505' }), TARGET);
    expect(error).toMatchObject({ code: 'TARGET_QUERY_FAILED', transient: false });
  });

  test('a MySQL syntax error is not transient', () => {
    expect(mapOnItsSide(driverError('You have an error in your SQL syntax', { errno: 1064, code: 'ER_PARSE_ERROR' }), SOURCE)).toMatchObject({
      code: 'SOURCE_QUERY_FAILED',
      transient: false,
    });
  });

  test('the driver error is kept as the cause', () => {
    const original = refused();
    expect(mapOnItsSide(original, SOURCE).cause).toBe(original);
  });

  test('a TributaryError passes through unchanged', () => {
    const error = new TributaryError('CHANGELOG_MISSING', 'gone');
    expect(mapOnItsSide(error, SOURCE)).toBe(error);
  });

  test('a thrown string becomes a query failure carrying the text', () => {
    expect(mapOnItsSide('something odd', TARGET)).toMatchObject({ code: 'TARGET_QUERY_FAILED', message: expect.stringContaining('something odd') });
  });

  test('a thrown null or undefined becomes a query failure instead of crashing', () => {
    expect(mapOnItsSide(null, SOURCE)).toBeInstanceOf(TributaryError);
    expect(mapOnItsSide(undefined, TARGET)).toBeInstanceOf(TributaryError);
  });
});

describe('mapMysqlError / mapPgError: missing privileges', () => {
  test.each([
    [1142, 'ER_TABLEACCESS_DENIED_ERROR', "SELECT command denied to user 'app'@'localhost' for table `shop`.`orders`", 'SELECT'],
    [1143, 'ER_COLUMNACCESS_DENIED_ERROR', "SELECT command denied to user 'app'@'localhost' for column 'id' in table 'orders'", 'SELECT'],
    [1227, 'ER_SPECIFIC_ACCESS_DENIED_ERROR', 'Access denied; you need (at least one of) the PROCESS privilege(s) for this operation', 'PROCESS'],
    [1044, 'ER_DBACCESS_DENIED_ERROR', "Access denied for user 'app'@'%' to database 'shop'", 'missing privilege'],
  ])('MySQL errno %d is PRIVILEGE_MISSING, exit 9, naming what to grant', (errno, code, message, privilege) => {
    const error = mapOnItsSide(driverError(message, { errno, code }), SOURCE);
    expect(error).toMatchObject({ code: 'PRIVILEGE_MISSING', transient: false });
    expect(error.message).toContain(privilege);
    expect(error.message).toContain('triggers print --grants');
    expect(exitCodeFor(error)).toBe(9);
  });

  test('CREATE TRIGGER with binary logging on and no SUPER names log_bin_trust_function_creators', () => {
    const message = 'You do not have the SUPER privilege and binary logging is enabled (you *might* want to use the less safe log_bin_trust_function_creators variable)';
    const error = mapOnItsSide(driverError(message, { errno: 1419, code: 'ER_BINLOG_CREATE_ROUTINE_NEED_SUPER' }), SOURCE);
    expect(error.code).toBe('PRIVILEGE_MISSING');
    expect(error.message).toMatch(/SET GLOBAL log_bin_trust_function_creators = 1/);
    expect(error.message).toMatch(/parameter group/);
  });

  test('PostgreSQL 42501 on a schema names USAGE and CREATE on it', () => {
    const error = mapOnItsSide(driverError('permission denied for schema public', { code: '42501' }), TARGET);
    expect(error.code).toBe('PRIVILEGE_MISSING');
    expect(error.message).toContain('GRANT USAGE, CREATE ON SCHEMA public');
    expect(exitCodeFor(error)).toBe(9);
  });
});

describe('each side reads only its own driver\'s codes', () => {
  test('a TLS handshake failure of mysql2 is SOURCE_UNREACHABLE, not worth retrying', () => {
    const error = driverError('Server does not support secure connection', { code: 'HANDSHAKE_NO_SSL_SUPPORT' });
    expect(mapMysqlError(error, SOURCE)).toMatchObject({ code: 'SOURCE_UNREACHABLE', transient: false, message: expect.stringContaining('securely') });
  });

  test('a certificate Node refuses is an insecure connection on either side', () => {
    const error = () => driverError('self-signed certificate', { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(mapMysqlError(error(), SOURCE)).toMatchObject({ code: 'SOURCE_UNREACHABLE', transient: false });
    expect(mapPgError(error(), TARGET)).toMatchObject({ code: 'TARGET_UNREACHABLE', transient: false });
  });

  test('a PostgreSQL server that refuses unencrypted connections is TARGET_UNREACHABLE, not worth retrying', () => {
    const error = driverError('no pg_hba.conf entry for host "10.0.0.1", user "app", database "w", no encryption', { code: '28000' });
    expect(mapPgError(error, TARGET)).toMatchObject({ code: 'TARGET_UNREACHABLE', transient: false, message: expect.stringContaining('securely') });
  });

  test('mysql2 losing its connection is transient; the same code means nothing to the PostgreSQL side', () => {
    const lost = () => driverError('Connection lost: The server closed the connection.', { code: 'PROTOCOL_CONNECTION_LOST' });
    expect(mapMysqlError(lost(), SOURCE)).toMatchObject({ code: 'SOURCE_UNREACHABLE', transient: true });
    expect(mapPgError(lost(), TARGET)).toMatchObject({ code: 'TARGET_QUERY_FAILED', transient: false });
  });

  test('a SQLSTATE is read only by the PostgreSQL side, an errno only by the MySQL side', () => {
    expect(mapMysqlError(driverError('deadlock detected', { code: '40P01' }), SOURCE).transient).toBe(false);
    expect(mapPgError(driverError('Deadlock found', { errno: 1213 }), TARGET).transient).toBe(false);
  });

  test('the MySQL side recognises a missing table and a missing privilege', () => {
    expect(isNoSuchTable(driverError("Table 'shop.orders__tributary_changes' doesn't exist", { errno: 1146, code: 'ER_NO_SUCH_TABLE' }))).toBe(true);
    expect(isNoSuchTable(driverError('Access denied', { errno: 1227 }))).toBe(false);
    for (const errno of [1227, 1142, 1044]) expect(isPrivilegeDenied(driverError('denied', { errno }))).toBe(true);
    expect(isPrivilegeDenied(driverError('syntax', { errno: 1064 }))).toBe(false);
    expect(isPrivilegeDenied(null)).toBe(false);
  });
});

describe('exitCodeFor', () => {
  const exit = (code: ErrorCode): number => exitCodeFor(new TributaryError(code, 'x'));

  test('configuration errors exit 2', () => {
    expect(exitCodeFor(new ConfigError('bad'))).toBe(2);
    for (const code of ['CONFIG_INVALID', 'CONFIG_NOT_FOUND', 'SOURCE_TABLE_MISSING', 'SOURCE_TABLE_NO_KEY', 'SOURCE_SCHEMA_MISMATCH', 'TARGET_SCHEMA_MISMATCH'] as const) {
      expect([code, exit(code)]).toEqual([code, 2]);
    }
  });

  test('an unreachable source exits 3, an unreachable target 4', () => {
    expect(exit('SOURCE_UNREACHABLE')).toBe(3);
    expect(exit('TARGET_UNREACHABLE')).toBe(4);
    expect(exitCodeFor(mapOnItsSide(refused(), SOURCE))).toBe(3);
  });

  test('trigger drift and changelog trouble exit 5', () => {
    expect(exit('TRIGGER_DRIFT')).toBe(5);
    expect(exit('CHANGELOG_MISSING')).toBe(5);
    expect(exit('CHANGELOG_RESET')).toBe(5);
  });

  test('anything that is not a Tributary error is unexpected (1)', () => {
    expect(exitCodeFor(new Error('plain'))).toBe(1);
    expect(exitCodeFor('string')).toBe(1);
    expect(exit('INTERNAL')).toBe(1);
  });

  test('a server that refused a query is an operational failure (6), not a bug', () => {
    expect(exit('TARGET_QUERY_FAILED')).toBe(6);
    expect(exit('SOURCE_QUERY_FAILED')).toBe(6);
  });

  test('the documented codes', () => {
    expect(ExitCode).toMatchObject({ ok: 0, unexpected: 1, config: 2, sourceUnreachable: 3, targetUnreachable: 4, drift: 5, partialFailure: 6, rejected: 8, privilegeMissing: 9 });
  });
});

describe('redactSecrets', () => {
  test('hides the password of a mysql:// URL and keeps the rest', () => {
    expect(redactSecrets('mysql://u:p@h/db')).toBe('mysql://u:***@h/db');
  });

  test('hides the password of postgres:// and postgresql:// URLs', () => {
    expect(redactSecrets('postgres://u:p@h/db')).toBe('postgres://u:***@h/db');
    expect(redactSecrets('see postgresql://app:Sup3r%40Secret@db:5432/w?sslmode=require now')).toBe('see postgresql://app:***@db:5432/w?sslmode=require now');
  });

  test('hides every URL in a text', () => {
    const text = redactSecrets('from mysql://a:one@h1/x to postgres://b:two@h2/y');
    expect(text).not.toMatch(/one|two/);
  });

  test('hides password=xyz pairs, quoted or not', () => {
    expect(redactSecrets('host=h password=xyz dbname=w')).toBe('host=h password=*** dbname=w');
    expect(redactSecrets("password='x y z'")).toBe('password=***');
    expect(redactSecrets('PASSWORD: xyz')).not.toContain('xyz');
  });

  test('leaves text without secrets alone', () => {
    for (const text of ['mysql://u@h/db', 'postgres://h:5432/db', 'connect ECONNREFUSED 127.0.0.1:3306']) expect(redactSecrets(text)).toBe(text);
  });

  test.each([
    ['a raw "@"', 'mysql://app:p@ssw0rd@db/shop', 'ssw0rd'],
    ['a raw "/"', 'mysql://app:pa/ssw0rd@db/shop', 'ssw0rd'],
  ])('hides a password containing %s', (_what, text, secretPart) => {
    expect(redactSecrets(text)).not.toContain(secretPart);
  });
});
