// The mta's engine: envelopes become tasks of relays (one task per message and relay), relays
// are resolved (routing.ts) and fed to sessions (session.ts) under the limits (pool.ts): the
// best MX level with a usable route first, the route with the fewest sessions in it, the next
// level only when every route of the better one is disabled. Idle sessions are shared by every
// relay of the same action that may use the same server. Back-pressure: a relay with
// `task-hiwat` waiting tasks answers `hold` until it is down to `task-lowat` (REFERENCE 5.6).
import type { SmtpdConfig } from '@tsmtpd/config';
import type { Envelope, LkaMailbox, MtaShowKind, SrsKeys } from '@tsmtpd/proto';
import type { ClientFactory, ClientOptions } from './client/types.js';
import type { MtaDns } from './dns.js';
import { LimitTable } from './limits.js';
import { ConnPool, type Slot } from './pool.js';
import { destinationOf, Relay, relayProfile, type Task } from './relay.js';
import type { ResultReporter, Where } from './results.js';
import { hostRouting, mxRouting, type Candidate } from './routing.js';
import { Session, withCode, type SessionHost } from './session.js';
import type { BodyReadFn, Outcome } from './transfer.js';
import { resolveRelay } from './resolve.js';
import { showLines } from './show.js';

export interface TlsMaterial {
  pki: Map<string, { cert: string; key: string }>;
  ca: Map<string, string>;
}

export interface EngineDeps {
  config: SmtpdConfig;
  dns: MtaDns;
  client: ClientFactory;
  lka: () => LkaMailbox | null;
  bodyRead: BodyReadFn;
  reporter: ResultReporter;
  holdRelease: (holdq: string, count: number) => void;
  log: SessionHost['log'] & { warn(event: string, fields?: Record<string, unknown>): void };
  tls: TlsMaterial;
  ourNames: ReadonlySet<string>;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
}

/** How long resolved candidates are used before the relay asks DNS again. */
const REFRESH_MS = 300_000;

export class Engine implements SessionHost {
  private readonly relays = new Map<string, Relay>();
  private readonly sessions = new Set<Session>();
  private readonly idleSessions = new Set<Session>();
  private readonly pool = new ConnPool();
  private readonly limits: LimitTable;
  readonly srs: SrsKeys | null;
  readonly prepare: BodyReadFn;
  readonly log: EngineDeps['log'];
  private pumpScheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private stopping = false;
  readonly counters = { tasks: 0, connects: 0, connectFailures: 0, holdReleases: 0 };

  constructor(private readonly d: EngineDeps) {
    this.limits = new LimitTable(d.config.mta);
    const s = d.config.srs;
    this.srs = s.key !== undefined ? { key: s.key, ttl: s.ttl, ...(s.keyBackup !== undefined ? { backup: s.keyBackup } : {}) } : null;
    this.prepare = d.bodyRead;
    this.log = d.log;
  }

  /** A reload: actions and TLS material for relays built from now on (existing ones keep theirs). */
  reconfigure(config: SmtpdConfig, tls: TlsMaterial): void {
    Object.assign(this.d, { config, tls });
  }

  /** Envelopes of relay actions, validated by the caller. */
  submit(envs: Envelope[]): void {
    const groups = new Map<string, Envelope[]>();
    for (const e of envs) {
      const k = `${e.dispatcher}|${e.dest.slice(e.dest.lastIndexOf('@') + 1).toLowerCase()}`;
      const g = groups.get(k);
      if (g) g.push(e);
      else groups.set(k, [e]);
    }
    for (const g of groups.values()) void this.place(g);
  }

  private async place(envs: Envelope[]): Promise<void> {
    const first = envs[0]!;
    const action = this.d.config.actions[first.dispatcher];
    if (!action || action.method.kind !== 'relay') return void envs.forEach((e) => this.d.reporter.report(e, { status: 'permfail', errorline: `5.3.0 action "${first.dispatcher}" is no relay action in the configuration`, remote: false }));
    const def = action.method;
    const r = await destinationOf(first.dispatcher, def, first, this.d.lka);
    if (this.stopping) return;
    if (!r.ok) {
      for (const e of envs) this.d.reporter.report(e, { status: 'tempfail', errorline: withCode(r.message, '4.3.0'), remote: false });
      return;
    }
    let relay = this.relays.get(r.dest.key);
    if (!relay) {
      // A smarthost relay's domain is the smarthost's host name: `mta limit for domain NAME`
      // applies to it as in OpenSMTPD (mta_relay keys its limits by relay->domain).
      const limits = this.limits.for(r.dest.domain);
      relay = new Relay(r.dest.key, first.dispatcher, def, r.dest.domain, r.dest.smarthost, relayProfile(def, r.dest.smarthost), limits, first.smtpname);
      this.relays.set(relay.key, relay);
    }
    for (const e of envs) this.addEnvelope(relay, e);
    this.schedulePump();
  }

  private addEnvelope(relay: Relay, env: Envelope): void {
    if (relay.tasks.length >= relay.limits.taskHiwat && !relay.onHold) {
      relay.onHold = true;
      this.log.info('hiwat reached, holding envelopes', { relay: relay.name });
    }
    if (relay.onHold) {
      relay.held++;
      this.d.reporter.hold(env, relay.key);
      return;
    }
    const task = relay.tasks.find((t) => t.msgid === env.msgid);
    if (task) task.envelopes.push(env);
    else {
      relay.tasks.push({ msgid: env.msgid, envelopes: [env], relay, since: Date.now() });
      this.counters.tasks++;
    }
  }

  /** Take a relay's first task; at `task-lowat` the relay takes envelopes again and held ones come back. */
  private takeTask(relay: Relay): Task | null {
    const task = relay.tasks.shift() ?? null;
    if (task && relay.tasks.length <= relay.limits.taskLowat) this.release(relay);
    return task;
  }

  private release(relay: Relay): void {
    if (relay.onHold) this.log.info('back to lowat, releasing', { relay: relay.name });
    relay.onHold = false;
    if (relay.held <= 0) return;
    const n = Math.min(relay.held, Math.max(1, relay.limits.taskRelease));
    relay.held -= n;
    this.counters.holdReleases++;
    this.d.holdRelease(relay.key, n);
  }

  private failAll(relay: Relay, o: Outcome, where: Where = {}): void {
    const tasks = relay.tasks.splice(0);
    for (const t of tasks) for (const e of t.envelopes) this.d.reporter.report(e, o, where);
    this.release(relay);
  }

  schedulePump(): void {
    if (this.pumpScheduled || this.stopping) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      try {
        this.pump();
      } catch (e) {
        this.log.warn('mta scheduling failed', { error: (e as Error).message });
      }
    });
  }

  private wakeAt(t: number): void {
    if (this.timer && this.timerAt <= t) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = t;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.schedulePump();
    }, Math.max(10, t - Date.now()));
  }

  private pump(): void {
    if (this.stopping) return;
    const now = Date.now();
    for (const relay of [...this.relays.values()]) {
      if (relay.idle()) {
        this.relays.delete(relay.key);
        continue;
      }
      if (relay.tasks.length === 0) {
        if (relay.sessions === 0 && relay.held > 0) this.release(relay);
        continue;
      }
      if (relay.candidates === null || now - relay.resolvedAt > REFRESH_MS) {
        if (!relay.resolving) void this.resolve(relay);
        if (relay.candidates === null) continue;
      }
      this.feedIdle(relay);
      this.openFor(relay, now);
    }
  }

  private async resolve(relay: Relay): Promise<void> {
    relay.resolving = true;
    const r = await resolveRelay(relay, {
      dns: this.d.dns, lka: this.d.lka, ourNames: this.d.ourNames, mx: mxRouting, host: hostRouting,
    }).catch((e: unknown) => ({ ok: false as const, kind: 'temp' as const, message: `4.3.0 routing failed: ${(e as Error).message}` }));
    relay.resolving = false;
    if (this.stopping) return;
    if (r.ok) {
      relay.candidates = r.candidates;
      relay.resolvedAt = Date.now();
    } else if (relay.candidates === null) {
      this.log.info('relay failed', { relay: relay.name, error: r.message });
      this.failAll(relay, { status: r.kind === 'perm' ? 'permfail' : 'tempfail', errorline: r.message, remote: false });
    }
    this.schedulePump();
  }

  /** Candidates of the best level that has a route not disabled, with the sources to use. */
  private usable(relay: Relay, now: number): { cand: Candidate; src: string | null }[] {
    const cands = relay.candidates ?? [];
    const levels = [...new Set(cands.map((c) => c.level))].sort((a, b) => a - b);
    for (const level of levels) {
      const out: { cand: Candidate; src: string | null }[] = [];
      for (const cand of cands) {
        if (cand.level !== level) continue;
        for (const src of relay.srcs) if (this.pool.disabledUntil(src, cand.ip, now) === 0) out.push({ cand, src });
      }
      if (out.length > 0) return out;
    }
    return [];
  }

  shareKey(relay: Relay, cand: Candidate): string {
    const p = relay.profile;
    return `${relay.action}|${p.scheme}|${p.port}|${p.authLabel ?? ''}|${cand.host}|${cand.ip}`;
  }

  private feedIdle(relay: Relay): void {
    if (this.idleSessions.size === 0) return;
    const keys = new Set(this.usable(relay, Date.now()).map((u) => this.shareKey(relay, u.cand)));
    for (const s of [...this.idleSessions]) {
      if (relay.tasks.length === 0) return;
      if (!keys.has(s.key)) continue;
      const task = this.takeTask(relay);
      if (!task) return;
      this.idleSessions.delete(s);
      s.take(task);
    }
  }

  private openFor(relay: Relay, now: number): void {
    const l = relay.limits;
    while (relay.tasks.length > relay.connecting && (l.maxConnPerRelay <= 0 || relay.sessions < l.maxConnPerRelay)) {
      const relayReady = relay.lastConnect + l.connDelayRelay * 1000;
      if (relay.lastConnect > 0 && relayReady > now) return this.wakeAt(relayReady);
      const options = this.usable(relay, now);
      if (options.length === 0) {
        if (relay.sessions === 0) {
          const why = relay.lastError ?? '4.4.4 No valid route to destination';
          this.failAll(relay, { status: 'tempfail', errorline: why, remote: false });
        } else this.wakeAt(now + 1000);
        return;
      }
      // Rotate the start so sources and equal MXs take turns, then prefer the emptiest route.
      const turn = relay.turn++ % options.length;
      const ordered = [...options.slice(turn), ...options.slice(0, turn)].sort((a, b) => this.pool.onRoute(a.src, a.cand.ip) - this.pool.onRoute(b.src, b.cand.ip));
      let until: number | null = null;
      const pick = ordered.find((o) => {
        const a = this.pool.admit(this.slot(relay, o.cand, o.src), l, now);
        if (!a.ok && a.until !== null) until = until === null ? a.until : Math.min(until, a.until);
        return a.ok;
      });
      if (!pick) {
        if (until !== null) this.wakeAt(until);
        return;
      }
      this.open(relay, pick.cand, pick.src, now);
    }
  }

  private slot(relay: Relay, cand: Candidate, src: string | null): Slot {
    return { ip: cand.ip, src, relayKey: relay.key, domain: relay.domain };
  }

  private open(relay: Relay, cand: Candidate, src: string | null, now: number): void {
    const slot = this.slot(relay, cand, src);
    const s = new Session(this, relay, cand, src, this.shareKey(relay, cand), slot);
    this.pool.opened(slot, now);
    this.sessions.add(s);
    relay.sessions++;
    relay.connecting++;
    relay.lastConnect = now;
    this.counters.connects++;
    void this.options(relay, cand, src).then((opts) => s.start(this.d.client, opts));
  }

  private async options(relay: Relay, cand: Candidate, src: string | null): Promise<ClientOptions> {
    const def = relay.def;
    const pki = def.pki !== undefined ? this.d.tls.pki.get(def.pki) : undefined;
    const ca = def.ca !== undefined ? this.d.tls.ca.get(def.ca) : undefined;
    return {
      address: cand.ip,
      port: relay.profile.port,
      servername: cand.host,
      tls: relay.profile.tls,
      verify: relay.profile.verify,
      ...(ca !== undefined ? { ca } : {}),
      ...(pki ? { cert: pki.cert, key: pki.key } : {}),
      helo: await this.helo(relay, src),
      ...(src !== null ? { localAddress: src } : {}),
      ...(relay.auth ? { auth: relay.auth } : {}),
      lmtp: relay.profile.lmtp,
      connectTimeoutMs: this.d.connectTimeoutMs,
      commandTimeoutMs: this.d.commandTimeoutMs,
    };
  }

  /** `helo NAME`, else `helo-src <t>` by source address, else our server name. */
  private async helo(relay: Relay, src: string | null): Promise<string> {
    if (relay.def.helo !== undefined) return relay.def.helo;
    const lka = this.d.lka();
    if (relay.def.heloSrc !== undefined && src !== null && lka) {
      const r = await lka.tableLookup(relay.def.heloSrc, 'addrname', src).catch(() => null);
      if (r?.ok && r.value) return r.value.trim();
    }
    return this.d.config.serverName;
  }

  // --- SessionHost

  connected(s: Session): void {
    s.relay.connecting--;
    this.pool.routeOk(s.src, s.cand.ip);
  }

  nextTask(s: Session): Task | null {
    if (this.stopping) return null;
    const own = s.relay;
    if (own.tasks.length > 0 && this.usable(own, Date.now()).some((u) => this.shareKey(own, u.cand) === s.key)) return this.takeTask(own);
    for (const relay of this.relays.values()) {
      if (relay === own || relay.tasks.length === 0 || relay.action !== own.action) continue;
      if (this.usable(relay, Date.now()).some((u) => this.shareKey(relay, u.cand) === s.key)) return this.takeTask(relay);
    }
    return null;
  }

  idle(s: Session): void {
    this.idleSessions.add(s);
    this.schedulePump();
  }

  closed(s: Session, connectError: string | null): void {
    const now = Date.now();
    const relay = s.relay;
    if (connectError !== null) {
      relay.connecting--;
      relay.lastError = connectError;
      this.counters.connectFailures++;
      this.pool.routeFailed(s.src, s.cand.ip, now);
      this.log.info('connection failed', { host: s.cand.host, address: s.cand.ip, error: connectError });
    }
    this.idleSessions.delete(s);
    this.sessions.delete(s);
    relay.sessions--;
    this.pool.closed(s.slot, now);
    this.schedulePump();
  }

  report(task: Task, outs: Outcome[], where: Where): void {
    task.envelopes.forEach((e, i) => this.d.reporter.report(e, outs[i]!, where));
  }

  show(kind: MtaShowKind): string[] {
    return showLines(kind, this.relays.values(), this.pool);
  }

  stats(): Record<string, number> {
    let tasks = 0;
    let envelopes = 0;
    let held = 0;
    for (const r of this.relays.values()) {
      tasks += r.tasks.length;
      held += r.held;
      for (const t of r.tasks) envelopes += t.envelopes.length;
    }
    let busy = 0;
    for (const s of this.sessions) if (s.state === 'busy') busy++;
    return {
      ...this.pool.levels(),
      'mta.relay': this.relays.size,
      'mta.task': tasks,
      'mta.task.running': busy,
      'mta.envelope': envelopes,
      'mta.session': this.sessions.size,
      'mta.session.idle': this.idleSessions.size,
      'mta.held': held,
      'mta.connect': this.counters.connects,
      'mta.connect.fail': this.counters.connectFailures,
      'mta.holdq.release': this.counters.holdReleases,
    };
  }

  /** Close every session now; waiting tasks are left to the queue, which reloads them at start. */
  stop(): void {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    for (const s of this.sessions) s.abort();
  }
}
