/**
 * mysql2 and MySQL/MariaDB server errors, mapped to TributaryError in this one place. Server errors
 * carry a number (errno); mysql2's own failures a code string.
 */
import { TributaryError } from '../errors';
import { driverError, driverFields, type ErrorSite, GRANTS_HINT, isCertificateFailure, isSocketFailure } from '../driver-errors';

// Server error numbers this tool treats specially.
export const ER_DBACCESS_DENIED = 1044;
export const ER_ACCESS_DENIED = 1045;
export const ER_BAD_DB = 1049;
export const ER_TABLEACCESS_DENIED = 1142;
export const ER_COLUMNACCESS_DENIED = 1143;
export const ER_NO_SUCH_TABLE = 1146;
export const ER_SPECIFIC_ACCESS_DENIED = 1227;
export const ER_BINLOG_CREATE_ROUTINE_NEED_SUPER = 1419;

// Worth retrying: deadlock, lock wait timeout, server shutting down, connection killed, server gone
// away or lost mid-query, too many connections, read-only (--read-only) during a failover.
const TRANSIENT_ERRNOS = new Set([1213, 1205, 1053, 1927, 2006, 2013, 1040, 1290, 1836]);

// The login or the database is refused: reachable, but trying again fails the same way.
const LOGIN_REFUSED_ERRNOS = new Set([ER_ACCESS_DENIED, ER_BAD_DB]);

// The user lacks a privilege, reported as PRIVILEGE_MISSING with what to grant: table or column access
// denied, a global privilege needed (PROCESS, SUPER...), no access to the database, and CREATE
// TRIGGER with binary logging on without SUPER.
const PRIVILEGE_MISSING_ERRNOS = new Set([ER_TABLEACCESS_DENIED, ER_COLUMNACCESS_DENIED, ER_SPECIFIC_ACCESS_DENIED, ER_DBACCESS_DENIED, ER_BINLOG_CREATE_ROUTINE_NEED_SUPER]);

// A statement needs a privilege the user lacks (PROCESS for INNODB_TRX, a table grant, a database grant).
const PRIVILEGE_ERRNOS = new Set([ER_SPECIFIC_ACCESS_DENIED, ER_TABLEACCESS_DENIED, ER_DBACCESS_DENIED]);

// mysql2 lost the connection (the socket closed or the server stopped answering mid-packet).
const CONNECTION_CODES = new Set(['PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT']);

// mysql2 could not set up TLS: the handshake failed or the server offers none.
const TLS_CODES = new Set(['HANDSHAKE_SSL_ERROR', 'HANDSHAKE_NO_SSL_SUPPORT']);

/** The server's error number of a driver error, or of the driver error a TributaryError was mapped from. */
export function mysqlErrno(error: unknown): number | undefined {
  const errno = driverFields(error instanceof TributaryError ? error.cause : error).errno;
  return typeof errno === 'number' ? errno : undefined;
}

export function isNoSuchTable(error: unknown): boolean {
  return mysqlErrno(error) === ER_NO_SUCH_TABLE;
}

/** A statement needed a privilege the sync user lacks (the driver error, or the TributaryError made of it). */
export function isPrivilegeDenied(error: unknown): boolean {
  return PRIVILEGE_ERRNOS.has(mysqlErrno(error) ?? 0);
}

export function isSourceConnectionFailure(error: unknown): boolean {
  const code = driverFields(error).code;
  return isSocketFailure(error) || (typeof code === 'string' && CONNECTION_CODES.has(code));
}

/** What to grant or set for a privilege error, or null when the error is something else. */
function privilegeAdvice(error: unknown): string | null {
  const errno = mysqlErrno(error);
  if (errno === undefined || !PRIVILEGE_MISSING_ERRNOS.has(errno)) return null;
  if (errno === ER_BINLOG_CREATE_ROUTINE_NEED_SUPER) {
    return (
      'binary logging is on, so creating triggers needs SUPER or log_bin_trust_function_creators = 1: ' +
      'run SET GLOBAL log_bin_trust_function_creators = 1 (MySQL 8: SET PERSIST ...; RDS and Aurora: set it to 1 in the parameter group), ' +
      'or grant SUPER to the installing user'
    );
  }
  const message = driverFields(error).message;
  const text = typeof message === 'string' ? message : '';
  const command = /^(\w+(?: \w+)?) command denied/i.exec(text)?.[1];
  const needed = /need \(at least one of\) the (.+?) privilege/i.exec(text)?.[1];
  const what = command ?? needed;
  return `grant the user ${what ? `the ${what.toUpperCase()} privilege` : 'the missing privilege'} (${GRANTS_HINT})`;
}

/** The one place where errors from the MySQL side become TributaryErrors. */
export function mapMysqlError(error: unknown, site: ErrorSite): TributaryError {
  if (error instanceof TributaryError) return error;
  const codes = { unreachable: 'SOURCE_UNREACHABLE', query: 'SOURCE_QUERY_FAILED' } as const;
  if (isSourceConnectionFailure(error)) return driverError(error, site, { kind: 'unreachable' }, codes);
  const code = driverFields(error).code;
  if (isCertificateFailure(error) || (typeof code === 'string' && TLS_CODES.has(code))) return driverError(error, site, { kind: 'insecure' }, codes);
  const advice = privilegeAdvice(error);
  if (advice !== null) return driverError(error, site, { kind: 'privilege', advice }, codes);
  const errno = mysqlErrno(error);
  if (errno !== undefined && LOGIN_REFUSED_ERRNOS.has(errno)) return driverError(error, site, { kind: 'refused' }, codes);
  return driverError(error, site, { kind: 'query', transient: errno !== undefined && TRANSIENT_ERRNOS.has(errno) }, codes);
}
