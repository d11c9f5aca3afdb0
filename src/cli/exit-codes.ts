/** Process exit codes, documented in the README's exit-code table. Only the CLI chooses them. */
import { type ErrorCode, TributaryError } from '../errors';
import type { PassResult } from '../pipeline/pass';
import type { UnitStatus } from '../pipeline/status';
import type { VerifyResult } from '../pipeline/verify';

export const ExitCode = {
  ok: 0,
  unexpected: 1,
  config: 2,
  sourceUnreachable: 3,
  targetUnreachable: 4,
  drift: 5,
  partialFailure: 6,
  locked: 7,
  /** verify: no difference, but rows whose values PostgreSQL cannot hold are kept out (onBadValue). */
  rejected: 8,
  /** A privilege is missing on a source or the target; the message names it (PRIVILEGE_MISSING). */
  privilegeMissing: 9,
  /** A second SIGTERM/SIGINT while stopping: exit at once (128 + SIGINT, as shells report Ctrl-C). */
  interrupted: 130,
} as const;

/**
 * The exit code of a failure. 1 is kept for bugs (a non-Tributary error, or INTERNAL): a server that
 * refused a query, a bad value or a shape that changed is an operational failure, exit 6.
 */
export function exitCodeFor(error: unknown): number {
  if (!(error instanceof TributaryError)) return ExitCode.unexpected;
  switch (error.code) {
    case 'CONFIG_INVALID':
    case 'CONFIG_NOT_FOUND':
    case 'SOURCE_TABLE_MISSING':
    case 'SOURCE_TABLE_NO_KEY':
    case 'SOURCE_SCHEMA_MISMATCH':
    case 'TARGET_SCHEMA_MISMATCH':
    case 'NAME_TAKEN':
      return ExitCode.config;
    case 'SOURCE_UNREACHABLE':
      return ExitCode.sourceUnreachable;
    case 'TARGET_UNREACHABLE':
      return ExitCode.targetUnreachable;
    case 'TRIGGER_DRIFT':
    case 'CHANGELOG_MISSING':
    case 'CHANGELOG_RESET':
      return ExitCode.drift;
    case 'PRIVILEGE_MISSING':
      return ExitCode.privilegeMissing;
    case 'INTERNAL':
      return ExitCode.unexpected;
    default:
      return ExitCode.partialFailure;
  }
}

/**
 * The exit code of a command that works unit by unit: 0 when none failed. When every unit failed:
 * the code of their common kind of failure (3 when every source is unreachable, 5 when capture is
 * missing everywhere...), or 2 when a configuration error is among them (it needs fixing first).
 * Otherwise 6: partial failure.
 */
function failuresExitCode(failedCodes: readonly (string | null | undefined)[], total: number): number {
  if (failedCodes.length === 0) return ExitCode.ok;
  if (failedCodes.length < total) return ExitCode.partialFailure;
  const exits = new Set(failedCodes.map((code) => exitCodeFor(new TributaryError((code ?? 'INTERNAL') as ErrorCode, ''))));
  if (exits.size === 1) return [...exits][0]!;
  return exits.has(ExitCode.config) ? ExitCode.config : ExitCode.partialFailure;
}

/** `status`: 0 when every unit's pending work could be read; otherwise as for a sync pass. */
export function statusExitCode(units: readonly UnitStatus[]): number {
  return failuresExitCode(
    units.filter((u) => u.unknownCode !== null).map((u) => u.unknownCode),
    units.length,
  );
}

export function passExitCode(result: PassResult): number {
  const failed = result.units.filter((u) => u.status === 'failed');
  return failuresExitCode(failed.map((u) => u.errorCode), result.units.length);
}

export function verifyExitCode(results: VerifyResult[]): number {
  const failed = results.filter((r) => r.state === 'failed');
  if (failed.length > 0) return failuresExitCode(failed.map((r) => r.errorCode), results.length);
  if (results.some((r) => r.state === 'different')) return ExitCode.drift;
  return results.some((r) => r.state === 'rejected') ? ExitCode.rejected : ExitCode.ok;
}
