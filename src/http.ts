/** The daemon's and follow mode's HTTP endpoint: GET /metrics (Prometheus) and GET /healthz. */
import { createServer, type Server } from 'node:http';
import type { Metrics } from './metrics';

export function startHttp(metrics: Metrics, options: { host: string; port: number; maxLagSeconds: number }): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET') {
      response.writeHead(405).end();
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => response.writeHead(500).end(),
      );
    } else if (path === '/healthz') {
      const health = metrics.health(options.maxLagSeconds);
      response.writeHead(health.healthy ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(health) + '\n');
    } else {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve(server));
  });
}
