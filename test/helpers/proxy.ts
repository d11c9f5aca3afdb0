/**
 * A small TCP proxy for cutting connections on demand: listens on 127.0.0.1 on a random port and
 * forwards every connection to the real server. dropAll() resets every open connection at once, as a
 * network failure or a firewall would; while blocked, new connections are reset as soon as they open.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private server: Server | null = null;
  private readonly pairs = new Set<[Socket, Socket]>();
  private blocked = false;
  /** Connections accepted since start. */
  accepted = 0;
  /** Connections reset by dropAll() or while blocked. */
  dropped = 0;
  port = 0;

  constructor(
    readonly targetHost: string,
    readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (!address || typeof address !== 'object') throw new Error('proxy has no address');
    this.port = address.port;
    return this.port;
  }

  private accept(client: Socket): void {
    this.accepted++;
    if (this.blocked) {
      this.dropped++;
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const close = (): void => {
      this.pairs.delete(pair);
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Open connections right now. */
  get open(): number {
    return this.pairs.size;
  }

  /** Resets every open connection (the client sees ECONNRESET); returns how many. */
  dropAll(): number {
    const pairs = [...this.pairs];
    for (const [client, upstream] of pairs) {
      this.dropped++;
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.pairs.clear();
    return pairs.length;
  }

  /** While blocked, every new connection is reset at once. */
  block(on: boolean): void {
    this.blocked = on;
    if (on) this.dropAll();
  }

  async close(): Promise<void> {
    this.dropAll();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
