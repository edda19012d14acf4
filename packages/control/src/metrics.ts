// The Prometheus text endpoint (`metrics listen on ADDR [port N]`, off unless configured): GET
// /metrics answers every statistics key as tsmtpd_<key> (dots and dashes as underscores; counters
// that only grow as `_total` counters, the rest as gauges) and two histograms fed by the actors'
// timing samples: end-of-DATA latency and delivery delay. prom-client formats; node:http serves,
// with bounded connections and timeouts (a slow scraper cannot hold it).
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TimingPush } from '@tsmtpd/proto';
import { isCounter, type StatsBook } from './stats.js';

const BUCKETS = {
  'smtp.data.latency': [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  'delivery.delay': [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14_400, 86_400, 345_600],
} as const;

export function metricName(key: string): string {
  return `tsmtpd_${key.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly known = new Map<string, Counter | Gauge>();
  private readonly exposed = new Map<string, number>();
  private readonly histograms: Record<keyof typeof BUCKETS, Histogram>;
  private server: Server | null = null;

  constructor(private readonly book: StatsBook) {
    this.histograms = {
      'smtp.data.latency': new Histogram({ name: 'tsmtpd_smtp_data_latency_seconds', help: 'End of DATA to the reply (queue commit included), seconds', buckets: [...BUCKETS['smtp.data.latency']], registers: [this.registry] }),
      'delivery.delay': new Histogram({ name: 'tsmtpd_delivery_delay_seconds', help: 'Arrival to successful delivery of an envelope, seconds', buckets: [...BUCKETS['delivery.delay']], registers: [this.registry] }),
    };
    new Gauge({ name: 'tsmtpd_uptime_seconds', help: 'Seconds since the daemon started', registers: [this.registry], collect() {
      this.set(Math.floor((Date.now() - book.startedAt) / 1000));
    } });
  }

  observe(push: TimingPush): void {
    for (const [name, samples] of Object.entries(push) as [keyof typeof BUCKETS, number[]][]) {
      const h = this.histograms[name];
      if (h) for (const v of samples) h.observe(v);
    }
  }

  /** Bring the registry up to date with the statistics book (at each scrape). */
  private sync(): void {
    for (const [key, value] of this.book.all()) {
      let m = this.known.get(key);
      if (!m) {
        const name = metricName(key);
        const help = `tsmtpd statistics key ${key}`;
        try {
          m = isCounter(key) ? new Counter({ name: `${name}_total`, help, registers: [this.registry] }) : new Gauge({ name, help, registers: [this.registry] });
        } catch {
          continue; // two keys mapping to one name: the first one wins
        }
        this.known.set(key, m);
      }
      if (m instanceof Counter) {
        const delta = value - (this.exposed.get(key) ?? 0);
        if (delta > 0) m.inc(delta);
      } else m.set(value);
      this.exposed.set(key, value);
    }
  }

  listen(address: string, port: number): Promise<void> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
        return;
      }
      this.sync();
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`),
      );
    });
    server.maxConnections = 16;
    server.headersTimeout = 5000;
    server.requestTimeout = 10_000;
    server.keepAliveTimeout = 5000;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return Promise.resolve();
    s.closeAllConnections();
    return new Promise((resolve) => s.close(() => resolve()));
  }
}
