/** Process exit codes, documented in the README's exit-code table. Only the CLI chooses them. */
import { TributaryError } from '../errors';
import type { PassResult } from '../pipeline/pass';
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
  /** A second SIGTERM/SIGINT while stopping: exit at once (128 + SIGINT, as shells report Ctrl-C). */
  interrupted: 130,
} as const;

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
    default:
      return ExitCode.unexpected;
  }
}

/** Every unit failed for one reason: that reason's code; some failed: partial failure. */
function failuresExitCode(failedCodes: (string | undefined)[], total: number): number {
  if (failedCodes.length === 0) return ExitCode.ok;
  if (failedCodes.length === total && new Set(failedCodes).size === 1) return exitCodeFor(new TributaryError(failedCodes[0] as never, ''));
  return ExitCode.partialFailure;
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
