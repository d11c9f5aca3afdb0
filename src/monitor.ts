/**
 * What a long-running sync reports besides its logs: pass results fed to the Prometheus metrics, the
 * pending-changes alert, the node_exporter textfile, and the /metrics and /healthz endpoint. A library
 * caller may use it as the CLI does: record each pass, serve while the loop runs, stop.
 */
import type { Server } from 'node:http';
import type { TributaryConfig } from './config';
import { startHttp } from './http';
import type { Logger } from './log';
import { Metrics } from './metrics';
import type { PassResult } from './pipeline/pass';

export class Monitor {
  readonly metrics: Metrics;
  private server: Server | null = null;

  constructor(
    private readonly config: TributaryConfig,
    private readonly logger: Logger,
  ) {
    this.metrics = new Metrics(config.alerts.maxPendingChanges);
  }

  /** Feeds a finished pass to the metrics, warns about pending changes over the alert, writes the textfile. */
  async record(result: PassResult): Promise<void> {
    const { config, logger } = this;
    this.metrics.observe(result);
    for (const unit of result.units) {
      if (unit.changes > config.alerts.maxPendingChanges) {
        logger.warn('pending changes exceed alerts.maxPendingChanges', { source: unit.sourceId, table: unit.table, rows: unit.changes });
      }
    }
    if (config.metrics.textfile) {
      await this.metrics.writeTextfile(config.metrics.textfile).catch((error: unknown) => logger.warn('could not write the metrics textfile', { error: String(error) }));
    }
  }

  /** Serves /metrics and /healthz when metrics.port is configured; a no-op otherwise. */
  async serve(): Promise<void> {
    const { host, port } = this.config.metrics;
    if (!port || this.server) return;
    this.server = await startHttp(this.metrics, { host, port, maxLagSeconds: this.config.health.maxLagSeconds });
    this.logger.info('serving /metrics and /healthz', { host, port });
  }

  /** Stops serving; resolves once the listening socket is closed. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A scraper's keep-alive connection would otherwise hold the process open.
    server.closeAllConnections();
    await closed;
  }
}
