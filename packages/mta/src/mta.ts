// The mta actor: relaying to other exchangers (REFERENCE 6). Takes batches of due envelopes
// from the queue (MtaMailbox.onRelay), hands them to the engine (relays, routes, sessions,
// limits: engine.ts) and reports outcomes to the queue in batches; `hold` and hold releases
// are the back-pressure towards the scheduler. Talks to queue (bodies, results, hold releases)
// and lka (relay tables). TLS material (`pki`, `ca`) is read once at start.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { KeptBodies, ownArrayBuffer, type ActorContext, type ActorImpl } from '@tsmtpd/actor';
import type { SmtpdConfig } from '@tsmtpd/config';
import { parseReloadOrder } from '@tsmtpd/config/reload-order.js';
import { fail, ok, toErrorLine, type ActorInit, type ActorStats, type DeliveryResult, type Envelope, type MtaMailbox, type ReloadReport, type Result } from '@tsmtpd/proto';
import type { ClientFactory, ClientSession } from './client/types.js';
import { CachingDns, type MtaDns } from './dns.js';
import { Engine, type TlsMaterial } from './engine.js';
import { ResultReporter } from './results.js';


/** Run-time settings the mta reads beyond proto's `Settings` (tests). */
interface MtaSettings {
  dnsServers?: string[];
  mtaConnectTimeoutMs?: number;
  mtaCommandTimeoutMs?: number;
}

/** Options of `createMta` for actor tests: a client and DNS of their own. */
export interface MtaOverrides {
  client?: ClientFactory;
  dns?: MtaDns;
}

/**
 * `pki` and `ca` of the relay actions: from the material the parent read at start (as root,
 * before privilege separation; PEM text), else read here. A missing file is a start failure,
 * not a relay failure.
 */
export function loadTls(config: SmtpdConfig, given?: { pki: Record<string, { cert: string; key: string }>; ca: Record<string, string> }): TlsMaterial {
  const pki = new Map<string, { cert: string; key: string }>();
  const ca = new Map<string, string>();
  const used = Object.values(config.actions).flatMap((a) => (a.method.kind === 'relay' ? [a.method] : []));
  for (const r of used) {
    if (r.pki !== undefined && !pki.has(r.pki)) {
      const p = config.pki[r.pki];
      if (!p) throw new Error(`pki ${r.pki} is not declared`);
      const pair = given?.pki[r.pki];
      pki.set(r.pki, pair && typeof pair.cert === 'string' && typeof pair.key === 'string' ? { cert: pair.cert, key: pair.key } : { cert: readFileSync(p.cert, 'utf8'), key: readFileSync(p.key, 'utf8') });
    }
    if (r.ca !== undefined && !ca.has(r.ca)) {
      const c = config.ca[r.ca];
      if (!c) throw new Error(`ca ${r.ca} is not declared`);
      const bundle = given?.ca[r.ca];
      ca.set(r.ca, typeof bundle === 'string' ? bundle : readFileSync(c.cert, 'utf8'));
    }
  }
  return { pki, ca };
}

let clientModule: Promise<ClientFactory> | null = null;

/**
 * The real client (client/index.ts), loaded at the first connection: a daemon without relay
 * actions never needs it. A session whose client cannot load fails temporarily.
 */
export const lazyClient: ClientFactory = (opts) => {
  clientModule ??= import('./client/index.js').then((m) => m.createClientSession);
  let inner: ClientSession | null = null;
  return {
    get usable() {
      return inner?.usable ?? false;
    },
    async connect() {
      try {
        inner = (await clientModule!)(opts);
      } catch (e) {
        return { ok: false, status: 'tempfail', reply: `4.3.0 relay client unavailable: ${(e as Error).message}` };
      }
      return inner.connect();
    },
    send: (tx) => inner!.send(tx),
    quit: async () => inner?.quit(),
    close: () => inner?.close(),
  };
};

class Mta {
  private readonly reporter: ResultReporter;
  /** Bodies the queue sent along, held until each of their envelopes has its result. */
  private readonly bodies = new KeptBodies();
  readonly engine: Engine;
  private stopping = false;
  private refused = 0;
  private config: SmtpdConfig;

  constructor(private readonly ctx: ActorContext<'mta'>, client: ClientFactory, dns: MtaDns | undefined) {
    const init = ctx.init as ActorInit<SmtpdConfig>;
    const config = init.config;
    this.config = config;
    const settings = (init.settings ?? {}) as MtaSettings;
    this.reporter = new ResultReporter((r) => this.sendResults(r), ctx.log, (env) => void this.bodies.take(env.msgid, 1));
    const names = new Set([config.serverName.toLowerCase(), hostname().toLowerCase()]);
    this.engine = new Engine({
      config,
      dns: dns ?? new CachingDns(settings.dnsServers ? { servers: settings.dnsServers } : {}),
      client,
      lka: () => (ctx.hasPeer('lka') ? ctx.peer('lka') : null),
      bodyRead: (msgid, from) => this.bodyRead(msgid, from),
      reporter: this.reporter,
      holdRelease: (holdq, n) => {
        // Holds still in the batch go first: a release overtaking them would find nothing held.
        this.reporter.flush();
        if (ctx.hasPeer('queue')) void ctx.peer('queue').onHoldRelease(holdq, n);
      },
      log: ctx.log,
      tls: loadTls(config, init.tls),
      ourNames: names,
      connectTimeoutMs: settings.mtaConnectTimeoutMs ?? 30_000,
      commandTimeoutMs: settings.mtaCommandTimeoutMs ?? 300_000,
    });
  }

  private sendResults(results: DeliveryResult[]): void {
    if (!this.ctx.hasPeer('queue')) {
      this.ctx.log.warn('no queue to report delivery results to', { count: results.length });
      return;
    }
    // One-way; the actor runtime drains it at stop, after stop() returns.
    this.ctx.peer('queue').onDeliveryResults(results);
  }

  private refuse(evpid: string, errorline: string): void {
    this.refused++;
    this.ctx.log.warn('relay refused', { evpid, stat: errorline });
    this.sendResults([{ evpid, status: 'permfail', errorline: toErrorLine(errorline) }]);
  }

  /** A body the queue sent along, else the queue's (QueueMailbox.bodyRead). */
  private async bodyRead(msgid: string, from: number): Promise<Result<{ chunks: ArrayBuffer[]; next: number | null }>> {
    const kept = from === 0 ? this.bodies.peek(msgid) : null;
    // Only read, never moved: the held chunks stay whole for a retry.
    if (kept) return ok({ chunks: kept.map(ownArrayBuffer), next: null });
    if (!this.ctx.hasPeer('queue')) return fail('ERR_MTA_NO_QUEUE', 'temp', 'no queue to read the body from');
    return this.ctx.peer('queue').bodyRead(msgid, from);
  }

  /** MtaMailbox.onRelay: check, then hand to the engine. */
  relay(envelopes: Envelope[], bodies?: Record<string, ArrayBuffer[]>): void {
    if (this.stopping || !Array.isArray(envelopes)) return;
    const sent = bodies !== null && typeof bodies === 'object' ? bodies : {};
    const accepted: Envelope[] = [];
    // No schema parse per envelope (as in the mda): the queue parsed each one from its row on
    // disk or from smtp's parse of the client's input; a thread of this process is no trust
    // boundary. What the mta relies on below is checked.
    for (const env of envelopes) {
      if (typeof env?.id !== 'string' || !/^[0-9a-f]{16}$/.test(env.id)) {
        this.ctx.log.warn('invalid envelope without an id dropped');
        continue;
      }
      const action = typeof env.dispatcher === 'string' ? this.config.actions[env.dispatcher] : undefined;
      if (env.type !== 'mta') this.refuse(env.id, `5.3.0 not a relay delivery (type ${env.type})`);
      else if (typeof env.msgid !== 'string' || typeof env.dest !== 'string' || typeof env.sender !== 'string') this.refuse(env.id, '5.3.0 internal error: invalid envelope');
      else if (!action) {
        // A reload removed its action: a bounce that names it (never a silent wait).
        this.refuse(env.id, `5.3.0 action "${env.dispatcher}" no longer exists in the configuration (removed by a reload)`);
      } else if (action.method.kind !== 'relay') this.refuse(env.id, `5.3.0 action ${env.dispatcher} does not relay`);
      else if (!env.dest.includes('@')) this.refuse(env.id, '5.1.3 destination has no domain');
      else {
        this.bodies.add(env.msgid, Object.hasOwn(sent, env.msgid) ? sent[env.msgid] : undefined);
        accepted.push(env);
      }
    }
    if (accepted.length > 0) this.engine.submit(accepted);
  }

  stats(): ActorStats {
    const c = this.reporter.counts;
    return {
      ...this.engine.stats(),
      'mta.delivery.ok': c.ok,
      'mta.delivery.tempfail': c.tempfail,
      'mta.delivery.permfail': c.permfail,
      'mta.delivery.hold': c.hold,
      'mta.refused': this.refused,
    };
  }

  /**
   * A reloaded configuration: relay actions and their TLS material for the envelopes placed from
   * now on; relays already built keep theirs until they go idle. Limits need a restart.
   */
  reload(raw: unknown): ReloadReport {
    const p = parseReloadOrder(raw);
    if (!p.ok) return p;
    let tls: TlsMaterial;
    try {
      tls = loadTls(p.config, p.order.tls);
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
    const gone = Object.keys(this.config.actions).filter((n) => !(n in p.config.actions));
    this.config = p.config;
    this.engine.reconfigure(p.config, tls);
    return { ok: true, notes: gone.length > 0 ? [`mta actions removed: ${gone.join(',')}`] : [] };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.engine.stop();
    this.reporter.flush();
    this.bodies.clear();
  }
}

export async function createMta(ctx: ActorContext<'mta'>, overrides: MtaOverrides = {}): Promise<ActorImpl<MtaMailbox>> {
  const mta = new Mta(ctx, overrides.client ?? lazyClient, overrides.dns);
  return {
    mailbox: {
      onRelay: (envelopes, bodies) => mta.relay(envelopes, bodies),
      ctlShow: async (kind) => (kind === 'hosts' || kind === 'relays' || kind === 'routes' ? mta.engine.show(kind) : []),
      reload: async (order) => mta.reload(order),
    },
    stats: () => mta.stats(),
    stop: () => mta.stop(),
  };
}
