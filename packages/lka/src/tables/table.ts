// The table abstraction (REFERENCE 11): one small backend interface (content for the matching
// services, get for value lookups, update to reload) with an implementation per table type,
// and the Table class that applies the services on top of any backend. Used by the ruleset
// (matching) and the expansion (alias, virtual, userinfo lookups).
import type { LookupService } from '@tsmtpd/proto';
import { compileNetaddrs, compileRegex, domainMatch, mailaddrMatch, MAX_KEY_LENGTH, netaddrMatch, regexMatch, splitMailaddr, type AddrParts, type NetMatcher } from './matchers.js';

/** Table content: a list of values or a key -> value mapping (keys lowercased). */
export type TableContent =
  | { kind: 'list'; values: string[] }
  | { kind: 'map'; entries: Record<string, string> };

/** Services that test whether a key matches any entry. */
export type CheckService = 'domain' | 'netaddr' | 'mailaddr' | 'string' | 'regex';

/** A value lookup: found with the raw value, not found, or a (temporary) backend error. */
export type LookupResult = { found: true; value: string } | { found: false } | { error: string };

/** A match: true/false, or 'error' (a temporary failure: the caller must not decide on it). */
export type MatchOutcome = boolean | 'error';

/** Every service a table may be asked for (REFERENCE 11): value lookups and matching checks. */
export type TableService = LookupService | CheckService | 'source';

/** What every table type implements. */
export interface TableBackend {
  /** Backend kind, for logs. */
  readonly kind: string;
  /** The entries for the matching services; undefined when this backend cannot list them. */
  content(): TableContent | undefined;
  /**
   * The value for one key (already lowercased). Backends that answer per service (sqlite, proc)
   * need `service`; the in-memory ones ignore it.
   */
  get(key: string, service?: LookupService): Promise<LookupResult>;
  /** Reload from the source; rejects on failure (the previous content stays). */
  update(): Promise<void>;
  /**
   * For backends without listable content (sqlite, proc): does `key` match under `service`?
   * The backend decides (a query, a table program's answer).
   */
  check?(service: CheckService, key: string): MatchOutcome | Promise<MatchOutcome>;
  /** For backends without listable content: the values of a fetch (`source`, `relay src`). */
  fetch?(): Promise<{ values: string[] } | { error: string }>;
  /** Release files and processes (the lka stopping). */
  close?(): void;
}

/** Compiled form of a content version for the check services. */
interface Compiled {
  content: TableContent;
  keys: string[];
  strings?: Set<string>;
  domainsExact?: Set<string>;
  domainsGlob?: string[];
  mailaddrs?: AddrParts[];
  nets?: NetMatcher;
  regexes?: RegExp[];
}

export interface TableOptions {
  /** Sub-address delimiter for the mailaddr service. */
  delim?: string;
  /** Called once per bad regex pattern / warning. */
  warn?: (event: string, fields: Record<string, unknown>) => void;
}

/** A named table: services over a backend. Matching is synchronous (content is in memory). */
export class Table {
  private compiled: Compiled | undefined;
  private readonly delim: string;
  private readonly warn: NonNullable<TableOptions['warn']>;

  constructor(readonly name: string, readonly backend: TableBackend, opts: TableOptions = {}) {
    this.delim = opts.delim ?? '+';
    this.warn = opts.warn ?? (() => {});
  }

  /**
   * Does `key` match an entry under `service`? Keys are lowercased, as OpenSMTPD does. In-memory
   * content answers at once; a backend that must ask (sqlite, proc) may answer with a promise.
   */
  match(service: CheckService, key: string): MatchOutcome | Promise<MatchOutcome> {
    if (key.length > MAX_KEY_LENGTH) return 'error';
    const c = this.compile();
    if (!c) return this.backend.check ? this.backend.check(service, key.toLowerCase()) : 'error';
    const k = key.toLowerCase();
    switch (service) {
      case 'string':
        c.strings ??= new Set(c.keys.map((e) => e.toLowerCase()));
        return c.strings.has(k);
      case 'domain':
        return this.matchDomain(c, k);
      case 'mailaddr': {
        if (k === '') return false;
        c.mailaddrs ??= c.keys.map(splitMailaddr);
        const addr = splitMailaddr(k);
        return c.mailaddrs.some((p) => mailaddrMatch(addr, p, this.delim));
      }
      case 'netaddr':
        c.nets ??= compileNetaddrs(c.keys);
        return netaddrMatch(c.nets, k);
      case 'regex':
        c.regexes ??= this.compileRegexes(c.keys);
        return regexMatch(c.regexes, k);
    }
  }

  /** The raw value of `key` under `service` (mapping tables; lowercased key). */
  async lookup(key: string, service?: LookupService): Promise<LookupResult> {
    if (key.length > MAX_KEY_LENGTH) return { error: 'lookup key too long' };
    try {
      return await this.backend.get(key.toLowerCase(), service);
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    }
  }

  /** Reload the backend; the compiled matchers follow the new content. */
  async update(): Promise<void> {
    await this.backend.update();
    this.compiled = undefined;
  }

  private compile(): Compiled | undefined {
    const content = this.backend.content();
    if (!content) return undefined;
    if (this.compiled?.content === content) return this.compiled;
    const keys = content.kind === 'list' ? content.values : Object.keys(content.entries);
    this.compiled = { content, keys };
    return this.compiled;
  }

  private matchDomain(c: Compiled, k: string): boolean {
    if (!c.domainsExact) {
      c.domainsExact = new Set();
      c.domainsGlob = [];
      for (const e of c.keys) {
        if (e.includes('*')) c.domainsGlob.push(e.toLowerCase());
        else c.domainsExact.add(e.toLowerCase());
      }
    }
    const name = k.endsWith('.') ? k.slice(0, -1) : k;
    return c.domainsExact.has(name) || (c.domainsGlob ?? []).some((p) => domainMatch(name, p));
  }

  private compileRegexes(patterns: readonly string[]): RegExp[] {
    const out: RegExp[] = [];
    for (const p of patterns) {
      const r = compileRegex(p);
      if (r.ok) {
        out.push(r.re);
        if (r.warning) this.warn('table regex', { table: this.name, pattern: p, warning: r.warning });
      } else {
        this.warn('table regex invalid', { table: this.name, pattern: p, error: r.error });
      }
    }
    return out;
  }
}

/** Looks up `key` in a content object (shared by in-memory backends). */
export function contentGet(content: TableContent, key: string): LookupResult {
  if (content.kind === 'list') return { found: false };
  const v = Object.prototype.hasOwnProperty.call(content.entries, key) ? content.entries[key] : undefined;
  return v === undefined ? { found: false } : { found: true, value: v };
}
