/** Running `verify` in-process, as the CLI would, and picking one unit's result. */
import type { TributaryConfig } from '../../src/config';
import { verify, type VerifyOptions, type VerifyResult } from '../../src/pipeline/verify';
import { silentLogger } from '../../src/log';
import { closeRuntime, openRuntime } from '../../src/pipeline/runtime';

export async function verifyOnce(config: TributaryConfig, options: VerifyOptions = {}): Promise<VerifyResult[]> {
  const runtime = openRuntime(config, silentLogger());
  try {
    return await verify(runtime, options);
  } finally {
    await closeRuntime(runtime);
  }
}

export function resultOf(results: VerifyResult[], sourceId: string, table: string): VerifyResult {
  const result = results.find((r) => r.sourceId === sourceId && r.table === table);
  if (!result) throw new Error(`no verify result for ${sourceId}.${table}`);
  return result;
}

/** The final comparison of a unit, failing the test with the reason when there is none. */
export function comparisonOf(results: VerifyResult[], sourceId: string, table: string) {
  const result = resultOf(results, sourceId, table);
  if (!result.comparison) throw new Error(`verify of ${sourceId}.${table} has no comparison: ${result.state} ${result.reason ?? ''}`);
  return result.comparison;
}
