/**
 * Database URLs: mysql://, mariadb://, postgres://, postgresql://user:password@host:port/database?param=value.
 * Used by the configuration and by `init`, which takes URLs on the command line.
 *
 * An error never shows the user name's password, whatever shape the text has: a URL with "//" is shown
 * with everything between the user name's ":" and the last "@" replaced by ***; text without "//" is
 * not shown at all (there is no telling where a password starts in it), only the shape expected.
 */
import { ConfigError, redactSecrets } from '../errors';

/** TLS modes, weakest first. require: encrypted, certificate not checked; verify-ca: the certificate must chain to ca; verify-full: and name the host. */
export const TLS_MODES = ['require', 'verify-ca', 'verify-full'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

/** TLS for a connection, with the files of the `ssl` setting read (PEM contents, read once at start-up). */
export interface TlsSettings {
  mode: TlsMode;
  ca?: string;
  cert?: string;
  key?: string;
}

/** Where and how to connect to a database server, from its URL (and the passwordFile and ssl settings). */
export interface DatabaseEndpoint {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** "host:port/database", never a password */
  display: string;
  params: Record<string, string>;
  tls?: TlsSettings;
}

export type MysqlEndpoint = DatabaseEndpoint;
export type PgEndpoint = DatabaseEndpoint;

interface UrlKind {
  label: string;
  schemes: readonly string[];
  defaultPort: number;
  example: string;
}

const MYSQL_URL: UrlKind = { label: 'MySQL', schemes: ['mysql', 'mariadb'], defaultPort: 3306, example: 'mysql://<user>:<password>@<host>:3306/<database>' };
const PG_URL: UrlKind = { label: 'PostgreSQL', schemes: ['postgres', 'postgresql'], defaultPort: 5432, example: 'postgres://<user>:<password>@<host>:5432/<database>' };

/** Parses mysql://user:password@host:port/database?param=value (also mariadb://). Throws ConfigError. */
export function parseMysqlUrl(url: string): MysqlEndpoint {
  return parseDatabaseUrl(url, MYSQL_URL);
}

/** Parses postgres://user:password@host:port/database?param=value (also postgresql://). Throws ConfigError. */
export function parsePgUrl(url: string): PgEndpoint {
  return parseDatabaseUrl(url, PG_URL);
}

const ENCODE_HINT = 'percent-encode special characters (@ : / ? # % and spaces) in the user name and password';
const SCHEME_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

function parseDatabaseUrl(url: string, kind: UrlKind): DatabaseEndpoint {
  if (typeof url !== 'string' || url.trim() === '') throw new ConfigError(`invalid ${kind.label} URL: it is empty (expected ${kind.example})`);
  const scheme = SCHEME_RE.exec(url)?.[1];
  if (scheme === undefined) throw new ConfigError(`invalid ${kind.label} URL: ${withoutSlashesProblem(url, kind)}`);
  const bad = (problem: string): ConfigError => new ConfigError(`invalid ${kind.label} URL ${JSON.stringify(redactUrl(url))}: ${problem}`);
  const schemeList = kind.schemes.map((s) => `${s}://`).join(' or ');
  if (!kind.schemes.includes(scheme.toLowerCase())) throw bad(`the scheme must be ${schemeList}, not ${scheme}://`);

  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad(diagnoseUnparsable(url, scheme.length + 3));
  }

  if (parsed.hash !== '') throw bad(`unexpected "#" fragment; ${ENCODE_HINT} (# is %23)`);
  const rawHost = parsed.hostname;
  if (rawHost === '') throw bad(`missing host; expected ${kind.example}`);
  let port = kind.defaultPort;
  if (parsed.port !== '') {
    port = Number(parsed.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('the port must be a number from 1 to 65535');
  }
  const rawPath = parsed.pathname;
  if (rawPath === '' || rawPath === '/') throw bad('missing database name (add /<database> after the host)');
  const rawDatabase = rawPath.slice(1);
  if (rawDatabase.includes('/')) throw bad('the path must be just /<database> (percent-encode "/" in a database name as %2F)');

  const host = decodePart(rawHost, 'host', bad).replace(/^\[(.*)\]$/, '$1');
  const user = decodePart(parsed.username, 'user name', bad);
  const passwordText = decodePart(parsed.password, 'password', bad);
  const database = decodePart(rawDatabase, 'database name', bad);
  if (database === '') throw bad('missing database name (add /<database> after the host)');

  const params: Record<string, string> = {};
  for (const [key, value] of parsed.searchParams) params[key] = value;

  const hostForDisplay = host.includes(':') ? `[${host}]` : host;
  return {
    host,
    port,
    user,
    password: passwordText === '' ? undefined : passwordText,
    database,
    display: `${hostForDisplay}:${port}/${database}`,
    params,
  };
}

/**
 * What is wrong with text that has no "scheme://", said without showing any of it: without the "//"
 * nothing tells a host from a password (root:s3cr3t@host looks like scheme "root").
 */
function withoutSlashesProblem(url: string, kind: UrlKind): string {
  const known = kind.schemes.find((s) => url.toLowerCase().startsWith(`${s}:`));
  if (known !== undefined) return `"${known}:" must be followed by "//" (expected ${kind.example})`;
  if (url.includes('@')) return `not a URL: it has no ${kind.schemes[0]}:// in front (expected ${kind.example})`;
  return `not a URL; expected ${kind.example}`;
}

function decodePart(raw: string, what: string, bad: (problem: string) => ConfigError): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    // Never echo the part: it may be the password.
    throw bad(`invalid percent-encoding in the ${what} (a literal % must be written %25)`);
  }
}

/** Why WHATWG URL refused the text, as far as can be told without echoing any part of it. */
function diagnoseUnparsable(url: string, authorityStart: number): string {
  const afterScheme = url.slice(authorityStart);
  const authorityEnd = afterScheme.search(/[/?#]/);
  const authority = authorityEnd === -1 ? afterScheme : afterScheme.slice(0, authorityEnd);
  const rest = authorityEnd === -1 ? '' : afterScheme.slice(authorityEnd);
  // An "@" after the host part means the user name or password holds a raw / ? or #, which cut the
  // authority short: what looks like host and port would then be pieces of the password.
  if (rest.includes('@')) return `it cannot be parsed; ${ENCODE_HINT}`;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  const unparsable = `it cannot be parsed; check the host name and ${ENCODE_HINT}`;
  const match = /^(\[[^\]]*\]|[^:[\]]*)(?::(.*))?$/.exec(hostPort);
  if (!match) return unparsable;
  const host = match[1] ?? '';
  const port = match[2];
  if (host === '') return 'missing host';
  if (port !== undefined && port !== '') {
    if (/^\d+$/.test(port)) return 'the port must be a number from 1 to 65535';
    return authority.includes('@') ? 'the port is not a number' : 'the port is not a number (for user:password, add @host after it)';
  }
  return unparsable;
}

/** Query parameters whose value is a secret (?password=..., ?sslkey=...): shown as ***. */
const SECRET_PARAM_RE = /pass|pwd|secret|token|key/i;

/**
 * The URL as it may be shown in a message (the caller has checked it starts with "scheme://"): the
 * password replaced by ***. Everything between the first ":" after the user name and the last "@" is
 * hidden, since a raw "#", "/", "@" or space in a password makes any parser see a different password.
 * Without an "@" there is no user name, but "user:password" with the "@host" left out looks like
 * host:port: anything after a ":" that is not a port number is hidden too.
 */
export function redactUrl(url: string): string {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([\s\S]*)$/.exec(url);
  if (!match) return '***';
  const prefix = match[1] ?? '';
  let rest = match[2] ?? '';
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    if (colon >= 0) rest = `${userinfo.slice(0, colon)}:***${rest.slice(at)}`;
  } else {
    const authorityEnd = rest.search(/[/?#]/);
    const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
    const colon = authority.startsWith('[') ? authority.indexOf(':', authority.indexOf(']')) : authority.indexOf(':');
    if (colon >= 0 && !/^\d{0,5}$/.test(authority.slice(colon + 1))) rest = `${authority.slice(0, colon)}:***${authorityEnd === -1 ? '' : rest.slice(authorityEnd)}`;
  }
  const query = rest.indexOf('?');
  if (query >= 0) {
    const pairs = rest.slice(query + 1).split('&').map((pair) => {
      const eq = pair.indexOf('=');
      return eq >= 0 && SECRET_PARAM_RE.test(pair.slice(0, eq)) ? `${pair.slice(0, eq)}=***` : pair;
    });
    rest = `${rest.slice(0, query)}?${pairs.join('&')}`;
  }
  return redactSecrets(prefix + rest);
}
