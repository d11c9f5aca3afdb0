/**
 * Prometheus metrics, fed from pass results (values), served by the daemon and follow modes and
 * written to a textfile (node_exporter's textfile collector) for cron runs.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PassResult } from './pipeline/pass';

export class Metrics {
  readonly registry = new Registry();
  private readonly lag: Gauge;
  private readonly pending: Gauge;
  private readonly pendingAlert: Gauge;
  private readonly openGaps: Gauge;
  private readonly rows: Counter;
  private readonly rejects: Counter;
  private readonly catchUpSnapshots: Counter;
  private readonly errors: Counter;
  private readonly batchSeconds: Histogram;
  private readonly passSeconds: Histogram;
  private readonly lastSuccess: Gauge;
  private readonly lastPass: Gauge;
  private readonly sourceUp: Gauge;
  private readonly sourceLastSuccess: Gauge;
  /** The last pass, for the health check. */
  last: PassResult | null = null;
  /** Why the last pass failed as a whole (the target down, say); cleared by the next pass that finishes. */
  lastPassError: string | null = null;

  constructor(private readonly maxPendingChanges: number) {
    const labelNames = ['source', 'table'] as const;
    const registers = [this.registry];
    this.lag = new Gauge({ name: 'tributary_lag_seconds', help: 'Age of the oldest unapplied change when the last pass found it (0 when caught up).', labelNames, registers });
    this.pending = new Gauge({ name: 'tributary_pending_changes', help: 'Changes that were waiting when the last pass started.', labelNames, registers });
    this.pendingAlert = new Gauge({ name: 'tributary_pending_alert', help: '1 while pending changes exceed alerts.maxPendingChanges.', labelNames, registers });
    this.openGaps = new Gauge({ name: 'tributary_open_gaps', help: 'Change ids skipped over whose transaction may still commit.', labelNames, registers });
    this.rows = new Counter({ name: 'tributary_rows_applied_total', help: 'Rows applied to the target, by operation.', labelNames: ['source', 'table', 'op'], registers });
    this.rejects = new Counter({ name: 'tributary_rejects_total', help: 'Values PostgreSQL could not hold (rows kept out or values set to NULL).', labelNames, registers });
    this.catchUpSnapshots = new Counter({
      name: 'tributary_catch_up_snapshots_total',
      help: 'Re-snapshots taken instead of draining a backlog (catchUp: adaptive).',
      labelNames,
      registers,
    });
    this.errors = new Counter({ name: 'tributary_errors_total', help: 'Failed unit passes, by error code.', labelNames: ['source', 'table', 'kind'], registers });
    this.batchSeconds = new Histogram({
      name: 'tributary_batch_duration_seconds',
      help: 'Time to read, stage, merge and commit one batch.',
      labelNames,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.passSeconds = new Histogram({ name: 'tributary_pass_duration_seconds', help: 'Time of a whole pass over every unit.', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300], registers });
    this.lastSuccess = new Gauge({ name: 'tributary_last_success_timestamp_seconds', help: 'When each unit last finished a pass without error.', labelNames, registers });
    this.lastPass = new Gauge({ name: 'tributary_last_pass_timestamp_seconds', help: 'When the last pass finished.', registers });
    this.sourceUp = new Gauge({ name: 'tributary_source_up', help: '1 while the source is reachable and read, 0 while it is down and retried.', labelNames: ['source'], registers });
    this.sourceLastSuccess = new Gauge({
      name: 'tributary_source_last_success_timestamp_seconds',
      help: 'When every table of the source last finished a pass without error.',
      labelNames: ['source'],
      registers,
    });
  }

  /** A pass that failed as a whole (no results): the health check reports it until a pass finishes. */
  passFailed(error: unknown): void {
    this.lastPassError = error instanceof Error ? error.message : String(error);
  }

  observe(result: PassResult): void {
    this.last = result;
    this.lastPassError = null;
    const now = Date.now() / 1000;
    this.passSeconds.observe(result.ms / 1000);
    this.lastPass.set(now);
    for (const source of result.sources) {
      this.sourceUp.set({ source: source.sourceId }, source.up ? 1 : 0);
      const failed = result.units.some((u) => u.sourceId === source.sourceId && u.status === 'failed');
      if (source.up && !failed) this.sourceLastSuccess.set({ source: source.sourceId }, now);
    }
    for (const unit of result.units) {
      const labels = { source: unit.sourceId, table: unit.table };
      if (unit.status === 'skipped') continue;
      if (unit.status === 'failed') {
        // A down source's tables are not tried on every pass: the failure was counted once, when found.
        if (!unit.sourceDown) this.errors.inc({ ...labels, kind: unit.errorCode ?? 'INTERNAL' });
        continue;
      }
      this.lag.set(labels, unit.lagSeconds);
      this.pending.set(labels, unit.changes);
      this.pendingAlert.set(labels, unit.changes > this.maxPendingChanges ? 1 : 0);
      this.openGaps.set(labels, unit.openGaps);
      this.rows.inc({ ...labels, op: 'insert' }, unit.inserted);
      this.rows.inc({ ...labels, op: 'update' }, unit.updated);
      this.rows.inc({ ...labels, op: 'delete' }, unit.deleted);
      this.rejects.inc(labels, unit.rejects);
      this.catchUpSnapshots.inc(labels, unit.catchUpSnapshots);
      for (const ms of unit.batchMs) this.batchSeconds.observe(labels, ms / 1000);
      this.lastSuccess.set(labels, now);
    }
  }

  /**
   * Healthy while the last pass finished, no table of a reachable source failed and none lags more
   * than maxLagSeconds. Some sources down is not unhealthy: they are listed (sourcesDown) and retried,
   * while the others sync. Every source down, or the target down (the pass failed), is unhealthy.
   */
  health(maxLagSeconds: number): { healthy: boolean; reason: string; sourcesDown: { source: string; reason: string; since: string }[] } {
    const last = this.last;
    const down = (last?.sources ?? []).filter((s) => !s.up).map((s) => ({ source: s.sourceId, reason: s.reason ?? '', since: s.downSince?.toISOString() ?? '' }));
    const unhealthy = (reason: string) => ({ healthy: false, reason, sourcesDown: down });
    if (this.lastPassError !== null) return unhealthy(`the last pass failed: ${this.lastPassError}`);
    if (!last) return unhealthy('no pass finished yet');
    if (last.sources.length > 0 && down.length === last.sources.length) return unhealthy(`every source is down: ${down.map((d) => `${d.source} (${d.reason})`).join('; ')}`);
    const downIds = new Set(down.map((d) => d.source));
    const failed = last.units.filter((u) => u.status === 'failed' && !downIds.has(u.sourceId));
    if (failed.length > 0) return unhealthy(`${failed.length} unit(s) failed: ${failed.map((u) => `${u.sourceId}.${u.table} (${u.errorCode})`).join(', ')}`);
    const lagging = last.units.filter((u) => u.lagSeconds > maxLagSeconds);
    if (lagging.length > 0) return unhealthy(`lag over ${maxLagSeconds}s: ${lagging.map((u) => `${u.sourceId}.${u.table} ${u.lagSeconds.toFixed(1)}s`).join(', ')}`);
    if (down.length > 0) return { healthy: true, reason: `${down.length} source(s) down, retried; the others are in sync: ${down.map((d) => d.source).join(', ')}`, sourcesDown: down };
    return { healthy: true, reason: 'ok', sourcesDown: [] };
  }

  /** Writes the metrics atomically (temp file + rename), as the textfile collector expects. */
  async writeTextfile(path: string): Promise<void> {
    const text = await this.registry.metrics();
    const temporary = `${path}.${process.pid}.tmp`;
    writeFileSync(temporary, text);
    renameSync(temporary, path);
  }
}
