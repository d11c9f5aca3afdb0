/**
 * Named points where the fault-injection tests kill the process (SIGKILL, as a crash would). Inert
 * unless TRIBUTARY_FAULT names the point; the suite uses it to prove a crash there loses nothing.
 */
export type FaultPoint = 'after-copy' | 'after-commit' | 'during-snapshot' | 'after-snapshot-chunk';

export function faultPoint(name: FaultPoint): void {
  const wanted = process.env.TRIBUTARY_FAULT;
  if (wanted === undefined || wanted !== name) return;
  process.kill(process.pid, 'SIGKILL');
}
