// Connection accounting for the mta limits (REFERENCE 6.2, 6.4): how many sessions per host
// (IP), route (source, IP), source, connector (relay, source) and domain, when each last
// connected, and route penalties: a failed connection disables its route for 15 s * penalty^2
// (at most an hour); a good one lowers the penalty again. Pure state, no I/O.
import type { MtaLimits } from './limits.js';

export interface Slot {
  ip: string;
  src: string | null;
  relayKey: string;
  domain: string;
}

export type Admission = { ok: true } | { ok: false; until: number | null };

const PENALTY_BASE_MS = 15_000;
const PENALTY_MAX_MS = 3_600_000;

interface Penalty {
  penalty: number;
  disabledUntil: number;
}

function keys(s: Slot): { host: string; route: string; source: string; connector: string; domain: string } {
  const src = s.src ?? '*';
  return { host: s.ip, route: `${src}>${s.ip}`, source: src, connector: `${s.relayKey}|${src}`, domain: s.domain };
}

export class ConnPool {
  private readonly counts = new Map<string, number>();
  private readonly lastConnect = new Map<string, number>();
  private readonly lastClose = new Map<string, number>();
  private readonly penalties = new Map<string, Penalty>();

  private count(k: string): number {
    return this.counts.get(k) ?? 0;
  }

  private bump(k: string, by: number): void {
    const n = this.count(k) + by;
    if (n <= 0) this.counts.delete(k);
    else this.counts.set(k, n);
  }

  /** May a new session start on this slot now? If only a delay forbids it, until when. */
  admit(s: Slot, l: MtaLimits, now: number): Admission {
    const k = keys(s);
    const caps: [string, number][] = [
      [`h:${k.host}`, l.maxConnPerHost], [`r:${k.route}`, l.maxConnPerRoute], [`s:${k.source}`, l.maxConnPerSource],
      [`c:${k.connector}`, l.maxConnPerConnector], [`d:${k.domain}`, l.maxConnPerDomain],
    ];
    for (const [key, max] of caps) if (max > 0 && this.count(key) >= max) return { ok: false, until: null };
    const delays: [string, number][] = [
      [`h:${k.host}`, l.connDelayHost], [`r:${k.route}`, l.connDelayRoute], [`s:${k.source}`, l.connDelaySource],
      [`c:${k.connector}`, l.connDelayConnector], [`d:${k.domain}`, l.connDelayDomain],
    ];
    let until = 0;
    for (const [key, sec] of delays) {
      const last = this.lastConnect.get(key);
      if (sec > 0 && last !== undefined) until = Math.max(until, last + sec * 1000);
    }
    const closed = this.lastClose.get(`r:${k.route}`);
    if (l.reconnDelayRoute > 0 && closed !== undefined && this.count(`r:${k.route}`) === 0) until = Math.max(until, closed + l.reconnDelayRoute * 1000);
    return until > now ? { ok: false, until } : { ok: true };
  }

  /** A session starts on this slot. */
  opened(s: Slot, now: number): void {
    const k = keys(s);
    for (const key of [`h:${k.host}`, `r:${k.route}`, `s:${k.source}`, `c:${k.connector}`, `d:${k.domain}`]) {
      this.bump(key, 1);
      this.lastConnect.set(key, now);
    }
  }

  /** A session on this slot ended (after a failed connect too). */
  closed(s: Slot, now: number): void {
    const k = keys(s);
    for (const key of [`h:${k.host}`, `r:${k.route}`, `s:${k.source}`, `c:${k.connector}`, `d:${k.domain}`]) this.bump(key, -1);
    this.lastClose.set(`r:${k.route}`, now);
    this.trim();
  }

  /** Sessions on the route (source, ip). */
  onRoute(src: string | null, ip: string): number {
    return this.count(`r:${src ?? '*'}>${ip}`);
  }

  routeFailed(src: string | null, ip: string, now: number): void {
    const key = `${src ?? '*'}>${ip}`;
    const p = this.penalties.get(key) ?? { penalty: 0, disabledUntil: 0 };
    p.penalty++;
    p.disabledUntil = now + Math.min(PENALTY_MAX_MS, PENALTY_BASE_MS * p.penalty * p.penalty);
    this.penalties.set(key, p);
  }

  routeOk(src: string | null, ip: string): void {
    const key = `${src ?? '*'}>${ip}`;
    const p = this.penalties.get(key);
    if (!p) return;
    p.penalty--;
    if (p.penalty <= 0) this.penalties.delete(key);
  }

  /** Until when the route is disabled, or 0. */
  disabledUntil(src: string | null, ip: string, now: number): number {
    const p = this.penalties.get(`${src ?? '*'}>${ip}`);
    return p && p.disabledUntil > now ? p.disabledUntil : 0;
  }

  /** Hosts, routes, sources, connectors and domains with sessions open (REFERENCE 12 mta.* keys). */
  levels(): Record<'mta.host' | 'mta.route' | 'mta.source' | 'mta.connector' | 'mta.domain', number> {
    const n = { 'mta.host': 0, 'mta.route': 0, 'mta.source': 0, 'mta.connector': 0, 'mta.domain': 0 };
    const key = { h: 'mta.host', r: 'mta.route', s: 'mta.source', c: 'mta.connector', d: 'mta.domain' } as const;
    for (const k of this.counts.keys()) n[key[k[0] as keyof typeof key]]++;
    return n;
  }

  /** Control (show hosts): sessions open to a host and when it was last connected (ms, 0 never). */
  hostInfo(ip: string): { nconn: number; lastConnect: number } {
    return { nconn: this.count(`h:${ip}`), lastConnect: this.lastConnect.get(`h:${ip}`) ?? 0 };
  }

  /** Control (show routes): every route with sessions or a penalty. */
  routes(now: number): { route: string; nconn: number; penalty: number; disabledFor: number }[] {
    const keys = new Set<string>();
    for (const k of this.counts.keys()) if (k.startsWith('r:')) keys.add(k.slice(2));
    for (const k of this.penalties.keys()) keys.add(k);
    return [...keys].sort().map((route) => {
      const p = this.penalties.get(route);
      return { route, nconn: this.count(`r:${route}`), penalty: p?.penalty ?? 0, disabledFor: p && p.disabledUntil > now ? p.disabledUntil - now : 0 };
    });
  }

  /** Forget delay stamps older than an hour, so the maps stay small. */
  private trim(): void {
    if (this.lastConnect.size + this.lastClose.size < 20_000) return;
    const old = Date.now() - 3_600_000;
    for (const m of [this.lastConnect, this.lastClose]) for (const [k, t] of m) if (t < old) m.delete(k);
  }
}
