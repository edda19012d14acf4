// `mta limit` values (REFERENCE 6.2): OpenSMTPD's defaults, the global `mta limit` lines over
// them, and `mta limit for domain D` lines over those for mail to D. Delays are seconds.
import type { MtaOptions } from '@tsmtpd/config';

export interface MtaLimits {
  maxConnPerHost: number;
  maxConnPerRoute: number;
  maxConnPerSource: number;
  maxConnPerConnector: number;
  maxConnPerRelay: number;
  maxConnPerDomain: number;
  connDelayHost: number;
  connDelayRoute: number;
  connDelaySource: number;
  connDelayConnector: number;
  connDelayRelay: number;
  connDelayDomain: number;
  reconnDelayRoute: number;
  sessionMailMax: number;
  sessionTransactionDelay: number;
  sessionKeepalive: number;
  maxFailuresPerSession: number;
  taskHiwat: number;
  taskLowat: number;
  taskRelease: number;
  family: 'any' | 'inet4' | 'inet6';
}

export const DEFAULT_LIMITS: Readonly<MtaLimits> = {
  maxConnPerHost: 10,
  maxConnPerRoute: 5,
  maxConnPerSource: 100,
  maxConnPerConnector: 20,
  maxConnPerRelay: 100,
  maxConnPerDomain: 100,
  connDelayHost: 0,
  connDelayRoute: 5,
  connDelaySource: 0,
  connDelayConnector: 0,
  connDelayRelay: 2,
  connDelayDomain: 0,
  reconnDelayRoute: 3,
  sessionMailMax: 100,
  sessionTransactionDelay: 0,
  sessionKeepalive: 10,
  maxFailuresPerSession: 25,
  taskHiwat: 50,
  taskLowat: 30,
  taskRelease: 10,
  family: 'any',
};

/** `max-conn-per-host` -> `maxConnPerHost`. */
function fieldOf(key: string): keyof MtaLimits | null {
  const f = key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  return f in DEFAULT_LIMITS && f !== 'family' ? (f as keyof MtaLimits) : null;
}

function apply(into: MtaLimits, entry: MtaOptions['limits'][number]): void {
  for (const [k, v] of Object.entries(entry.values)) {
    const f = fieldOf(k);
    if (f !== null) (into as unknown as Record<string, number>)[f] = v;
  }
  if (entry.family) into.family = entry.family;
}

/** Limits by destination domain, computed once per domain. */
export class LimitTable {
  private readonly global: MtaLimits;
  private readonly byDomain = new Map<string, MtaLimits>();

  constructor(private readonly opts: MtaOptions) {
    this.global = { ...DEFAULT_LIMITS };
    for (const e of opts.limits) if (e.domain === undefined) apply(this.global, e);
  }

  /** The limits for mail to `domain` (null: a smarthost relay, the global limits). */
  for(domain: string | null): MtaLimits {
    if (domain === null) return this.global;
    const d = domain.toLowerCase();
    let l = this.byDomain.get(d);
    if (!l) {
      l = { ...this.global };
      for (const e of this.opts.limits) if (e.domain !== undefined && e.domain.toLowerCase() === d) apply(l, e);
      if (this.byDomain.size < 10_000) this.byDomain.set(d, l);
    }
    return l;
  }
}
