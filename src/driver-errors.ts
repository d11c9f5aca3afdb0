/**
 * The part of turning a driver error into a TributaryError that does not depend on the driver: what
 * Node's sockets and TLS raise under either driver, and how the resulting message reads. Each adapter
 * (src/mysql/errors.ts, src/postgres/errors.ts) maps its own driver's codes and uses this for the rest.
 */
import { type ErrorCode, redactSecrets, TributaryError } from './errors';

/** Where a driver error happened, for the message. Never holds a password. */
export interface ErrorSite {
  /** e.g. "source eu (127.0.0.1:3306)" */
  where: string;
  /** What was being done, e.g. "reading changes of orders". */
  doing?: string;
}

/** The fields drivers and sockets put on their errors. */
export interface DriverErrorShape {
  code?: unknown;
  errno?: unknown;
  message?: unknown;
}

export function driverFields(error: unknown): DriverErrorShape {
  return error !== null && typeof error === 'object' ? (error as DriverErrorShape) : {};
}

// The server is down, restarting, or the network dropped the socket: what Node's net module says.
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

export function isSocketFailure(error: unknown): boolean {
  const e = driverFields(error);
  if (typeof e.code === 'string' && SOCKET_CODES.has(e.code)) return true;
  return typeof e.message === 'string' && /connection closed|read ECONNRESET/i.test(e.message);
}

// The server is reachable but its certificate is refused: what Node's tls module says. Not transient:
// trying again fails the same way until a certificate or setting changes.
const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

export function isCertificateFailure(error: unknown): boolean {
  const code = driverFields(error).code;
  return typeof code === 'string' && CERTIFICATE_CODES.has(code);
}

/**
 * How an adapter classified a driver error: the server cannot be reached (transient), cannot be
 * reached securely (TLS), refuses the login or the database (not transient), the user lacks a
 * privilege (with what to grant), or a query failed.
 */
export type DriverFailure =
  | { kind: 'unreachable' }
  | { kind: 'insecure' }
  | { kind: 'refused' }
  | { kind: 'privilege'; advice: string }
  | { kind: 'query'; transient: boolean };

/** Where every privilege message points: the command that prints the grants Tributary needs. */
export const GRANTS_HINT = '`tributary triggers print --grants` prints every grant Tributary needs';

/** The TributaryError for a classified driver error, with the original as cause and no secret in the message. */
export function driverError(error: unknown, site: ErrorSite, failure: DriverFailure, codes: { unreachable: ErrorCode; query: ErrorCode }): TributaryError {
  const doing = site.doing ? ` while ${site.doing}` : '';
  const detail = redactSecrets(driverDetail(error));
  switch (failure.kind) {
    case 'unreachable':
      return new TributaryError(codes.unreachable, `cannot reach ${site.where}${doing}: ${detail}`, { cause: error, transient: true });
    case 'insecure':
      return new TributaryError(codes.unreachable, `cannot connect securely to ${site.where}${doing}: ${detail}`, { cause: error });
    case 'refused':
      return new TributaryError(codes.unreachable, `cannot connect to ${site.where}${doing}: ${detail}`, { cause: error });
    case 'privilege':
      return new TributaryError('PRIVILEGE_MISSING', `${site.where}${doing}: ${detail}; ${failure.advice}`, { cause: error });
    case 'query':
      return new TributaryError(codes.query, `${site.where}${doing}: ${detail}`, { cause: error, transient: failure.transient });
  }
}

function driverDetail(error: unknown): string {
  const e = driverFields(error);
  const message = typeof e.message === 'string' ? e.message : String(error);
  const code = typeof e.code === 'string' ? e.code : undefined;
  return code && !message.includes(code) ? `${message} (${code})` : message;
}
