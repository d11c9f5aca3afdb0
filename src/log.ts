/**
 * Structured logs on stderr (stdout is for command output such as DDL or status tables). JSON lines by
 * default; readable lines on a terminal or with --log-format pretty. Every message and string field
 * passes through redactSecrets, so a credential-bearing URL never reaches a log.
 */
import winston from 'winston';
// By name, so that the shipped declarations need no default import (no esModuleInterop for users).
import type { Logger as WinstonLogger } from 'winston';
import { redactSecrets } from './errors';

export type Logger = WinstonLogger;
export type LogFormat = 'json' | 'pretty';

const redact = winston.format((info) => {
  for (const [key, value] of Object.entries(info)) {
    if (typeof value === 'string') (info as Record<string, unknown>)[key] = redactSecrets(value);
  }
  return info;
});

export function createLogger(options: { level?: string; format?: LogFormat } = {}): Logger {
  const format = options.format ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const body =
    format === 'json'
      ? winston.format.combine(winston.format.timestamp(), redact(), winston.format.json())
      : winston.format.combine(
          winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
          redact(),
          winston.format.printf(({ timestamp, level, message, ...fields }) => {
            const extra = Object.entries(fields)
              .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
              .join(' ');
            return `${timestamp} ${level.padEnd(5)} ${message}${extra ? ' ' + extra : ''}`;
          }),
        );
  return winston.createLogger({
    level: options.level ?? process.env.TRIBUTARY_LOG_LEVEL ?? 'info',
    format: body,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
}

/** A logger that drops everything: for library callers and tests that do not care. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
