// Test support for the engine's unit tests: an in-memory DNS, a fake client session per
// address that records connections and transactions, a queue body store and an engine wired to
// them. The end-to-end tests (test/relay*.test.ts) use the real client against real servers.
import { defaultConfig, type Action, type RelayMethod, type SmtpdConfig } from '@tsmtpd/config';
import { ok, type DeliveryResult, type Envelope } from '@tsmtpd/proto';
import type { ClientOptions, ClientSession, ConnectResult, Transaction, TxResult } from './client/types.js';
import type { AddressAnswer, MtaDns, MxAnswer } from './dns.js';
import { Engine } from './engine.js';
import { ResultReporter } from './results.js';

export class FakeDns implements MtaDns {
  mxs = new Map<string, MxAnswer>();
  hosts = new Map<string, string[]>();
  queries = 0;
  async mx(domain: string): Promise<MxAnswer> {
    this.queries++;
    return this.mxs.get(domain) ?? { ok: false, kind: 'perm', message: 'Domain does not exist' };
  }
  async addresses(host: string): Promise<AddressAnswer> {
    return { ok: true, addresses: this.hosts.get(host) ?? [] };
  }
}

export interface ServerBehaviour {
  /** Connect fails with this reply. */
  refuse?: string;
  /** Reply per recipient (default 250). */
  rcpt?: (addr: string) => { status: 'ok' | 'tempfail' | 'permfail'; reply: string };
  extensions?: string[];
  /** Delay of a transaction, ms. */
  delayMs?: number;
}

export interface SentTx {
  ip: string;
  conn: number;
  mailFrom: string;
  rcpts: string[];
  body: string;
  opts: ClientOptions;
}

export class FakeNet {
  servers = new Map<string, ServerBehaviour>();
  connects: { ip: string; opts: ClientOptions; ok: boolean }[] = [];
  sent: SentTx[] = [];
  quits = 0;

  factory = (opts: ClientOptions): ClientSession => {
    const net = this;
    const conn = this.connects.length;
    let open = false;
    return {
      get usable() {
        return open;
      },
      async connect(): Promise<ConnectResult> {
        const b = net.servers.get(opts.address);
        const refuse = b === undefined ? '421 4.4.1 Connection refused' : b.refuse;
        net.connects.push({ ip: opts.address, opts, ok: refuse === undefined });
        if (refuse !== undefined) return { ok: false, status: 'tempfail', reply: refuse };
        open = true;
        return { ok: true, greeting: '220 fake', extensions: b?.extensions ?? ['SIZE 1000000', 'SMTPUTF8', '8BITMIME'], tls: false };
      },
      async send(tx: Transaction): Promise<TxResult> {
        const b = net.servers.get(opts.address) ?? {};
        let body = '';
        for await (const c of tx.body()) body += Buffer.from(c).toString('utf8');
        if (b.delayMs) await new Promise((r) => setTimeout(r, b.delayMs));
        net.sent.push({ ip: opts.address, conn, mailFrom: tx.mailFrom, rcpts: tx.recipients.map((r) => r.address), body, opts });
        const recipients = tx.recipients.map((r) => b.rcpt?.(r.address) ?? { status: 'ok' as const, reply: '250 2.0.0 Ok' });
        return { ok: true, recipients, relayedWithoutDsn: false };
      },
      async quit() {
        open = false;
        net.quits++;
      },
      close() {
        open = false;
      },
    };
  };
}

export function relayAction(name: string, method: Partial<RelayMethod> = {}): Action {
  return { file: 'test', line: 0, name, method: { kind: 'relay', backup: false, srs: false, ...method } };
}

export function envelope(id: string, dest: string, extra: Partial<Envelope> = {}): Envelope {
  return {
    id, msgid: id.slice(0, 8), type: 'mta', dispatcher: 'out', smtpname: 'mx.us.test', helo: 'client', hostname: '', sockaddr: 'local',
    sender: 'bob@x.test', rcpt: dest, dest, ctime: Math.floor(Date.now() / 1000), lastTry: 0, lastBounce: 0, ttl: 3600, retry: 0,
    flags: [], dsnNotify: 0, ...extra,
  };
}

export interface Rig {
  engine: Engine;
  results: DeliveryResult[];
  releases: { holdq: string; n: number }[];
  lines: string[];
  wait(n: number, ms?: number): Promise<DeliveryResult[]>;
}

export function rig(net: FakeNet, dns: FakeDns, config: SmtpdConfig, bodies: Map<string, string> = new Map()): Rig {
  const results: DeliveryResult[] = [];
  const releases: { holdq: string; n: number }[] = [];
  const lines: string[] = [];
  const log = {
    info: (e: string, f?: Record<string, unknown>) => void lines.push(`${e} ${JSON.stringify(f ?? {})}`),
    warn: (e: string, f?: Record<string, unknown>) => void lines.push(`${e} ${JSON.stringify(f ?? {})}`),
    debug: () => {},
    flush: () => {},
  };
  const engine = new Engine({
    config,
    dns,
    client: net.factory,
    lka: () => null,
    bodyRead: async (msgid) => ok({ chunks: [new Uint8Array(Buffer.from(bodies.get(msgid) ?? 'Subject: t\n\nhi\n')).buffer], next: null }),
    reporter: new ResultReporter((r) => void results.push(...r), log),
    holdRelease: (holdq, n) => void releases.push({ holdq, n }),
    log,
    tls: { pki: new Map(), ca: new Map() },
    ourNames: new Set(['mx.us.test']),
    connectTimeoutMs: 1000,
    commandTimeoutMs: 1000,
  });
  return {
    engine, results, releases, lines,
    async wait(n, ms = 5000) {
      const until = Date.now() + ms;
      while (results.filter((r) => r.status !== 'hold').length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      return results;
    },
  };
}

/** A config with one relay action "out" and no connection delays (tests need no waiting). */
export function relayConfig(method: Partial<RelayMethod> = {}, limits: Record<string, number> = {}): SmtpdConfig {
  const c = defaultConfig('mx.us.test');
  c.actions = { out: relayAction('out', method) };
  c.mta.limits = [{ values: { 'conn-delay-route': 0, 'conn-delay-relay': 0, 'reconn-delay-route': 0, ...limits } }];
  return c;
}
