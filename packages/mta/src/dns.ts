// DNS for relaying (REFERENCE 6.3, 6.5): MX lists and host addresses through node's c-ares
// Resolver, pointed at `settings.dnsServers` when given (tests: dnsmasq on loopback), with
// bounded timeouts (5 s x 2 tries). Answers are cached: addresses for their TTL (5 s to 1 h),
// MX lists for a fixed 5 minutes (node's resolveMx gives no TTL), concurrent lookups shared.
// Temporary failures are never cached.
import { Resolver } from 'node:dns/promises';

export interface Mx {
  preference: number;
  /** Lowercased, without the trailing dot; '' for the null MX "." (RFC 7505). */
  host: string;
}

export type MxAnswer =
  | { ok: true; mxs: Mx[]; implicit: boolean }
  | { ok: false; kind: 'temp' | 'perm'; message: string };

export type AddressAnswer = { ok: true; addresses: string[] } | { ok: false; kind: 'temp'; message: string };

/** What the mta needs of DNS: tests of the actor may give their own. */
export interface MtaDns {
  mx(domain: string): Promise<MxAnswer>;
  addresses(host: string, family: 'any' | 'inet4' | 'inet6'): Promise<AddressAnswer>;
}

export interface DnsOptions {
  servers?: string[];
  timeoutMs?: number;
  tries?: number;
  mxCacheSeconds?: number;
}

const MX_CACHE_S = 300;
const MIN_TTL_S = 5;
const MAX_TTL_S = 3600;
const MAX_ENTRIES = 50_000;

interface Cached<T> {
  value: T;
  until: number;
}

function code(e: unknown): string {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : 'EUNKNOWN';
}

/** No such name or no record of this type: an answer, not a failure. */
function isAbsent(c: string): boolean {
  return c === 'ENOTFOUND' || c === 'ENODATA';
}

export class CachingDns implements MtaDns {
  private readonly resolver: Resolver;
  private readonly mxCache = new Map<string, Cached<MxAnswer>>();
  private readonly addrCache = new Map<string, Cached<string[]>>();
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly mxCacheMs: number;

  constructor(opts: DnsOptions = {}) {
    this.resolver = new Resolver({ timeout: opts.timeoutMs ?? 5000, tries: opts.tries ?? 2 });
    if (opts.servers && opts.servers.length > 0) this.resolver.setServers(opts.servers);
    this.mxCacheMs = (opts.mxCacheSeconds ?? MX_CACHE_S) * 1000;
  }

  private shared<T>(key: string, work: () => Promise<T>): Promise<T> {
    const p = this.inflight.get(key) as Promise<T> | undefined;
    if (p) return p;
    const q = work().finally(() => this.inflight.delete(key));
    this.inflight.set(key, q);
    return q;
  }

  private remember<T>(map: Map<string, Cached<T>>, key: string, value: T, ms: number): void {
    if (map.size >= MAX_ENTRIES) map.clear();
    map.set(key, { value, until: Date.now() + ms });
  }

  async mx(domain: string): Promise<MxAnswer> {
    const d = domain.toLowerCase();
    const hit = this.mxCache.get(d);
    if (hit && hit.until > Date.now()) return hit.value;
    return this.shared(`mx:${d}`, async () => {
      const a = await this.queryMx(d);
      if (a.ok || a.kind === 'perm') this.remember(this.mxCache, d, a, this.mxCacheMs);
      return a;
    });
  }

  private async queryMx(d: string): Promise<MxAnswer> {
    try {
      const records = await this.resolver.resolveMx(d);
      if (records.length === 0) return { ok: true, mxs: [{ preference: 0, host: d }], implicit: true };
      const mxs = records
        .map((r) => ({ preference: r.priority, host: r.exchange.toLowerCase().replace(/\.$/, '') }))
        .sort((a, b) => a.preference - b.preference);
      return { ok: true, mxs, implicit: false };
    } catch (e) {
      const c = code(e);
      // RFC 5321 5.1: no MX records, the domain itself is the implicit MX.
      if (c === 'ENODATA') return { ok: true, mxs: [{ preference: 0, host: d }], implicit: true };
      if (c === 'ENOTFOUND') return { ok: false, kind: 'perm', message: 'Domain does not exist' };
      if (c === 'EBADNAME' || c === 'EBADQUERY' || c === 'EBADSTR') return { ok: false, kind: 'perm', message: 'Invalid domain name' };
      return { ok: false, kind: 'temp', message: `Temporary failure in MX lookup (${c})` };
    }
  }

  async addresses(host: string, family: 'any' | 'inet4' | 'inet6'): Promise<AddressAnswer> {
    const h = host.toLowerCase();
    const want: ('4' | '6')[] = family === 'inet4' ? ['4'] : family === 'inet6' ? ['6'] : ['4', '6'];
    const out: string[] = [];
    let temp: string | null = null;
    for (const r of await Promise.all(want.map((f) => this.family(h, f)))) {
      if (Array.isArray(r)) out.push(...r);
      else temp = r.message;
    }
    if (out.length === 0 && temp !== null) return { ok: false, kind: 'temp', message: temp };
    return { ok: true, addresses: out };
  }

  private async family(h: string, f: '4' | '6'): Promise<string[] | { message: string }> {
    const key = `${f}:${h}`;
    const hit = this.addrCache.get(key);
    if (hit && hit.until > Date.now()) return hit.value;
    return this.shared(key, async () => {
      try {
        const rs = f === '4' ? await this.resolver.resolve4(h, { ttl: true }) : await this.resolver.resolve6(h, { ttl: true });
        const ttl = Math.min(MAX_TTL_S, Math.max(MIN_TTL_S, Math.min(...rs.map((r) => r.ttl))));
        const addrs = rs.map((r) => r.address);
        this.remember(this.addrCache, key, addrs, ttl * 1000);
        return addrs;
      } catch (e) {
        const c = code(e);
        if (isAbsent(c)) {
          this.remember(this.addrCache, key, [], MIN_TTL_S * 1000 * 12);
          return [];
        }
        return { message: `Temporary failure in host lookup (${c})` };
      }
    });
  }
}
