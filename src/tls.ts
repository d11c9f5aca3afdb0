/** Node TLS options from a connection's ssl settings, shared by the MySQL and PostgreSQL drivers. */
import type { TlsSettings } from './config';

export function tlsBase(tls: TlsSettings): { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean } {
  return {
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}),
    rejectUnauthorized: tls.mode !== 'require',
  };
}
