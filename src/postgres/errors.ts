/**
 * node-postgres and PostgreSQL server errors, mapped to TributaryError in this one place. Server
 * errors carry a SQLSTATE as their code.
 */
import { TributaryError } from '../errors';
import { driverError, driverFields, type ErrorSite, GRANTS_HINT, isCertificateFailure, isSocketFailure } from '../driver-errors';

// Worth retrying: serialization failure, deadlock, administrator shutdown, crash shutdown, cannot
// connect now (starting up or recovering), lock not available, too many connections.
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '57P01', '57P02', '57P03', '55P03', '53300']);

// The login or the database is refused (wrong password, no such role, no such database): reachable,
// but trying again fails the same way.
const LOGIN_REFUSED_SQLSTATES = new Set(['28P01', '28000', '3D000']);

// insufficient_privilege: reported as PRIVILEGE_MISSING with what to grant.
const INSUFFICIENT_PRIVILEGE = '42501';

// Class 08: connection exceptions.
const CONNECTION_EXCEPTION_CLASS = '08';

// What node-postgres says when the socket ends under it.
const CONNECTION_LOST_MESSAGE = /Connection terminated|Client has encountered a connection error/i;

// The server will not talk TLS, or insists on it (pg_hba.conf allows only encrypted connections).
const TLS_REFUSED_MESSAGE = /does not support SSL|SSL connection is required|no pg_hba\.conf entry .* no encryption/i;

export function sqlState(error: unknown): string | undefined {
  const code = driverFields(error).code;
  return typeof code === 'string' ? code : undefined;
}

export function isTargetConnectionFailure(error: unknown): boolean {
  if (isSocketFailure(error) || sqlState(error)?.startsWith(CONNECTION_EXCEPTION_CLASS)) return true;
  const message = driverFields(error).message;
  return typeof message === 'string' && CONNECTION_LOST_MESSAGE.test(message);
}

function isTlsFailure(error: unknown): boolean {
  const message = driverFields(error).message;
  return isCertificateFailure(error) || (typeof message === 'string' && TLS_REFUSED_MESSAGE.test(message));
}

/** What to grant for an insufficient_privilege error, or null when the error is something else. */
function privilegeAdvice(error: unknown): string | null {
  if (sqlState(error) !== INSUFFICIENT_PRIVILEGE) return null;
  const message = driverFields(error).message;
  const object = /permission denied for (schema|database|table|relation|sequence) (\S+)/i.exec(typeof message === 'string' ? message : '');
  const grant = !object
    ? 'the missing privilege'
    : object[1]!.toLowerCase() === 'schema'
      ? `USAGE and CREATE on schema ${object[2]} (GRANT USAGE, CREATE ON SCHEMA ${object[2]} TO the sync user)`
      : object[1]!.toLowerCase() === 'database'
        ? `CREATE and TEMPORARY on database ${object[2]}`
        : `SELECT, INSERT, UPDATE and DELETE on ${object[2]}, or its ownership`;
  return `grant the PostgreSQL user ${grant} (${GRANTS_HINT})`;
}

/** The one place where errors from the PostgreSQL side become TributaryErrors. */
export function mapPgError(error: unknown, site: ErrorSite): TributaryError {
  if (error instanceof TributaryError) return error;
  const codes = { unreachable: 'TARGET_UNREACHABLE', query: 'TARGET_QUERY_FAILED' } as const;
  if (isTargetConnectionFailure(error)) return driverError(error, site, { kind: 'unreachable' }, codes);
  if (isTlsFailure(error)) return driverError(error, site, { kind: 'insecure' }, codes);
  const advice = privilegeAdvice(error);
  if (advice !== null) return driverError(error, site, { kind: 'privilege', advice }, codes);
  const state = sqlState(error);
  if (state !== undefined && LOGIN_REFUSED_SQLSTATES.has(state)) return driverError(error, site, { kind: 'refused' }, codes);
  return driverError(error, site, { kind: 'query', transient: state !== undefined && TRANSIENT_SQLSTATES.has(state) }, codes);
}
