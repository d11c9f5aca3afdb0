/**
 * One error hierarchy for the whole tool. Driver errors are turned into these by the side that knows
 * the driver, once: src/mysql/errors.ts (mysql2) and src/postgres/errors.ts (pg), keeping the original
 * as `cause` for logs.
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
