/**
 * One error hierarchy for the whole tool. Driver errors (mysql2, pg, sockets) are turned into these in
 * exactly one place, mapDriverError, which keeps the original as `cause` for logs.
 */

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_NOT_FOUND'
  | 'SOURCE_UNREACHABLE'
  | 'TARGET_UNREACHABLE'
  | 'SOURCE_TABLE_MISSING'
  | 'SOURCE_TABLE_NO_KEY'
  | 'SOURCE_SCHEMA_MISMATCH'
  | 'SOURCE_SHAPE_CHANGED'
  | 'TARGET_SCHEMA_MISMATCH'
  | 'TRIGGER_DRIFT'
  /** A name capture needs is taken by an object Tributary did not create. */
  | 'NAME_TAKEN'
  | 'CHANGELOG_MISSING'
  | 'CHANGELOG_RESET'
  | 'CHECKPOINT_CONFLICT'
  | 'BAD_VALUE'
  | 'SOURCE_QUERY_FAILED'
  | 'TARGET_QUERY_FAILED'
  | 'PRIVILEGE_MISSING'
  | 'INTERNAL';

export class TributaryError extends Error {
  readonly code: ErrorCode;
  /** True when the same operation may succeed if simply tried again (deadlock, dropped connection...). */
  readonly transient: boolean;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; transient?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TributaryError';
    this.code = code;
    this.transient = options.transient ?? false;
  }
}

export class ConfigError extends TributaryError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CONFIG_INVALID', message, options);
    this.name = 'ConfigError';
  }
}

/** Where a driver error happened, for the message. Never holds a password. */
export interface ErrorSite {
  side: 'source' | 'target';
  /** e.g. "source eu (127.0.0.1:3306)" */
  where: string;
  /** What was being done, e.g. "reading changes of orders". */
  doing?: string;
}

// Connection-level failures: the server is down, restarting or the network dropped us.
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT']);

// MySQL server error numbers worth retrying: deadlock, lock wait timeout, server shutting down,
// connection killed, too many connections, read-only during failover.
const MYSQL_TRANSIENT = new Set([1213, 1205, 1053, 1927, 2006, 2013, 1040, 1290, 1836]);

// PostgreSQL SQLSTATE classes/codes worth retrying: serialization/deadlock, admin shutdown,
// crash recovery, cannot connect now, connection exceptions (class 08).
const PG_TRANSIENT = new Set(['40001', '40P01', '57P01', '57P02', '57P03', '55P03', '53300']);

interface DriverErrorShape {
  code?: unknown;
  errno?: unknown;
  sqlState?: unknown;
  message?: unknown;
}

export function isConnectionFailure(error: unknown): boolean {
  const e = error as DriverErrorShape | undefined;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && (CONNECTION_ERRNOS.has(e.code) || e.code.startsWith('08'))) return true;
  const msg = typeof e.message === 'string' ? e.message : '';
  return /Connection terminated|connection closed|Client has encountered a connection error|read ECONNRESET/i.test(msg);
}

function isTransientDriverError(error: unknown): boolean {
  const e = (error ?? {}) as DriverErrorShape;
  if (isConnectionFailure(error)) return true;
  if (typeof e.errno === 'number' && MYSQL_TRANSIENT.has(e.errno)) return true;
  if (typeof e.code === 'string' && PG_TRANSIENT.has(e.code)) return true;
  return false;
}

function driverDetail(error: unknown): string {
  const e = error as DriverErrorShape;
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const code = typeof e?.code === 'string' ? e.code : undefined;
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

// TLS failures: the server is reachable but the secure connection cannot be made. Not transient:
// trying again fails the same way until a certificate or setting changes.
const TLS_CODES = new Set([
  'HANDSHAKE_SSL_ERROR',
  'HANDSHAKE_NO_SSL_SUPPORT',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

function isTlsFailure(error: unknown): boolean {
  const e = (error ?? {}) as DriverErrorShape;
  if (typeof e.code === 'string' && TLS_CODES.has(e.code)) return true;
  return typeof e.message === 'string' && /does not support SSL|SSL connection is required|no pg_hba\.conf entry .* no encryption/i.test(e.message);
}

/** The one place where driver errors become TributaryErrors. */
export function mapDriverError(error: unknown, site: ErrorSite): TributaryError {
  if (error instanceof TributaryError) return error;
  const doing = site.doing ? ` while ${site.doing}` : '';
  const detail = redactSecrets(driverDetail(error));
  if (isConnectionFailure(error)) {
    const code: ErrorCode = site.side === 'source' ? 'SOURCE_UNREACHABLE' : 'TARGET_UNREACHABLE';
    return new TributaryError(code, `cannot reach ${site.where}${doing}: ${detail}`, { cause: error, transient: true });
  }
  if (isTlsFailure(error)) {
    const code: ErrorCode = site.side === 'source' ? 'SOURCE_UNREACHABLE' : 'TARGET_UNREACHABLE';
    return new TributaryError(code, `cannot connect securely to ${site.where}${doing}: ${detail}`, { cause: error });
  }
  const privilege = site.side === 'source' ? mysqlPrivilegeAdvice(error) : pgPrivilegeAdvice(error);
  if (privilege !== null) {
    return new TributaryError('PRIVILEGE_MISSING', `${site.where}${doing}: ${detail}; ${privilege}`, { cause: error });
  }
  const e = (error ?? {}) as DriverErrorShape;
  if (site.side === 'source' && (e.errno === 1045 || e.errno === 1049)) {
    return new TributaryError('SOURCE_UNREACHABLE', `cannot connect to ${site.where}${doing}: ${detail}`, { cause: error });
  }
  if (site.side === 'target' && (e.code === '28P01' || e.code === '28000' || e.code === '3D000')) {
    return new TributaryError('TARGET_UNREACHABLE', `cannot connect to ${site.where}${doing}: ${detail}`, { cause: error });
  }
  const code: ErrorCode = site.side === 'source' ? 'SOURCE_QUERY_FAILED' : 'TARGET_QUERY_FAILED';
  return new TributaryError(code, `${site.where}${doing}: ${detail}`, { cause: error, transient: isTransientDriverError(error) });
}

// MySQL/MariaDB errors that mean the user lacks a privilege: table or column access denied (1142,
// 1143), a global privilege needed (1227, e.g. PROCESS or SUPER), no access to the database (1044),
// and CREATE TRIGGER with binary logging on without SUPER (1419).
const MYSQL_PRIVILEGE_ERRNOS = new Set([1142, 1143, 1227, 1044, 1419]);
const GRANTS_HINT = '`tributary triggers print --grants` prints every grant Tributary needs';

/** What to grant or set for a MySQL privilege error, or null when the error is something else. */
function mysqlPrivilegeAdvice(error: unknown): string | null {
  const e = (error ?? {}) as DriverErrorShape;
  if (typeof e.errno !== 'number' || !MYSQL_PRIVILEGE_ERRNOS.has(e.errno)) return null;
  if (e.errno === 1419) {
    return (
      'binary logging is on, so creating triggers needs SUPER or log_bin_trust_function_creators = 1: ' +
      'run SET GLOBAL log_bin_trust_function_creators = 1 (MySQL 8: SET PERSIST ...; RDS and Aurora: set it to 1 in the parameter group), ' +
      'or grant SUPER to the installing user'
    );
  }
  const message = typeof e.message === 'string' ? e.message : '';
  const command = /^(\w+(?: \w+)?) command denied/i.exec(message)?.[1];
  const needed = /need \(at least one of\) the (.+?) privilege/i.exec(message)?.[1];
  const what = command ?? needed;
  return `grant the user ${what ? `the ${what.toUpperCase()} privilege` : 'the missing privilege'} (${GRANTS_HINT})`;
}

/** What to grant for a PostgreSQL insufficient_privilege (42501) error, or null. */
function pgPrivilegeAdvice(error: unknown): string | null {
  const e = (error ?? {}) as DriverErrorShape;
  if (e.code !== '42501') return null;
  const message = typeof e.message === 'string' ? e.message : '';
  const object = /permission denied for (schema|database|table|relation|sequence) (\S+)/i.exec(message);
  const grant = !object
    ? 'the missing privilege'
    : object[1]!.toLowerCase() === 'schema'
      ? `USAGE and CREATE on schema ${object[2]} (GRANT USAGE, CREATE ON SCHEMA ${object[2]} TO the sync user)`
      : object[1]!.toLowerCase() === 'database'
        ? `CREATE and TEMPORARY on database ${object[2]}`
        : `SELECT, INSERT, UPDATE and DELETE on ${object[2]}, or its ownership`;
  return `grant the PostgreSQL user ${grant} (${GRANTS_HINT})`;
}

/**
 * Removes credentials from any text: the password of anything shaped like user:password@host, with or
 * without a scheme and with any number of slashes (mysql://u:p@h, mysql:/u:p@h, u:p@h), and the value
 * of password=... / password: ... pairs. After a scheme the password runs to the last "@" on the line
 * that is followed by a host, so a raw "@", "/" or space inside it is hidden too; without a scheme it
 * runs to the next space. Over-hiding is preferred to showing a secret.
 */
export function redactSecrets(text: string): string {
  return (
    text
      .replace(/([a-z][a-z0-9+.-]*:\/*)([^:@/\s"'`]*):([^\n]*)@(?=[\w[%.-])/gi, '$1$2:***@')
      .replace(/(^|[\s"'`=(,<[])([^:@/\s"'`=(,<[]+):(?!\/\/)(?!\S*\*\*\*@)(\S*)@(?=[\w[%.-])/g, '$1$2:***@')
      // MySQL's "(using password: YES)" says whether one was sent, not what it was.
      .replace(/(password|passwd|pwd)("?\s*[=:]\s*)(?!(?:YES|NO)\))(?!\*\*\*)("[^"]*"|'[^']*'|[^\s&]+)/gi, '$1$2***')
  );
}
