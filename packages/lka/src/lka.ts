// The lka actor: serves LkaMailbox (rcptResolve for smtp, userLookup for mda, tableUpdate for
// control/parent). Owns the tables, the compiled ruleset and the system-user cache; checks
// every request's shape and addresses before use. No peers are called: lookups are local.
import type { ActorContext, ActorImpl } from '@tsmtpd/actor';
import type { SmtpdConfig } from '@tsmtpd/config';
import { parseReloadOrder } from '@tsmtpd/config/reload-order.js';
import { FilterFactsSchema, parseAddress, replyWith, type ActorInit, type ClientDns, type FilterMatch, type LkaMailbox, type LookupService, type MailAddress, type RcptResolution, type TableLookup, type UserLookup } from '@tsmtpd/proto';
import { z } from 'zod';
import { ClientResolver } from './client-dns.js';
import { Authenticator } from './auth/authenticate.js';
import { CryptPool } from './auth/pool.js';
import { expandRecipient, type ExpandContext } from './expand.js';
import { BuiltinFilters } from './filters.js';
import { localHosts, localNames, machineIdentity, type MachineIdentity } from './localnames.js';
import { directForwardReader, privilegedForwardReader, rememberAbsence, type ForwardReader } from './forward.js';
import { Ruleset } from './ruleset.js';
import { TableSet } from './tables/registry.js';
import { Userbase } from './userbase.js';
import { SystemUsers, type SystemUsersOptions } from './users.js';

const LOOKUP_SERVICES: ReadonlySet<string> = new Set<LookupService>(['credentials', 'relayhost', 'addrname', 'mailaddrmap', 'alias', 'userinfo']);

/** Longest time one recipient may take to resolve before it is a temporary failure. */
export const RESOLVE_DEADLINE_MS = 10_000;

const SessionInfoSchema = z.object({
  id: z.string().max(64),
  socket: z.boolean(),
  remoteAddress: z.string().max(128),
  localAddress: z.string().max(128),
  rdns: z.string().max(255).nullable(),
  helo: z.string().max(1024),
  authUser: z.string().max(1024).nullable(),
  tls: z.boolean(),
  tag: z.string().max(64).nullable(),
  smtpname: z.string().max(255),
});

const RcptRequestSchema = z.object({
  session: SessionInfoSchema,
  sender: z.string().max(1024),
  rcpt: z.string().max(1024),
  gen: z.number().int().positive().optional(),
});

/** Generations kept for sessions that began under them, at most (beyond, the oldest go). */
const MAX_GENERATIONS = 8;

/** What one configuration generation resolves with: its ruleset over its tables. */
interface Generation {
  config: SmtpdConfig;
  tables: TableSet;
  ruleset: Ruleset;
  userbase: Userbase;
  expandCtx: ExpandContext;
  filters: BuiltinFilters;
  auth: Authenticator;
}

type Warn = (event: string, fields: Record<string, unknown>) => void;

export interface LkaOptions {
  identity?: MachineIdentity;
  users?: SystemUsersOptions;
  warn?: Warn;
  deadlineMs?: number;
  /** DNS servers for client rDNS/FCrDNS (settings.dnsServers). */
  dnsServers?: string[];
  /** Privilege separation: system passwords are checked by the privileged process. */
  systemCheck?: (user: string, password: string) => Promise<boolean>;
  /** Reads ~/.forward (privilege separation: through the privileged process). */
  readForward?: ForwardReader;
  /** How long a missing ~/.forward is remembered, ms (FORWARD_ABSENCE_MS; 0: never). */
  forwardAbsenceMs?: number;
}

function forwardReader(opts: LkaOptions): ForwardReader {
  const read = opts.readForward ?? directForwardReader;
  return opts.forwardAbsenceMs === 0 ? read : rememberAbsence(read, opts.forwardAbsenceMs);
}

/** The lka's state and operations, independent of the worker (unit tests use it directly). */
export class Lka {
  private current: Generation;
  private gen = 1;
  /** Earlier generations still used by sessions that began under them (smtp releases them). */
  private readonly older = new Map<number, Generation>();
  private readonly clients: ClientResolver;
  private readonly counters = { resolved: 0, refused: 0, tempfail: 0, recipients: 0 };
  private readonly pool = new CryptPool();
  private readonly users: SystemUsers;
  private readonly identity: MachineIdentity;
  /** ~/.forward reads, a missing file remembered across configurations (forward.ts). */
  private readonly readForward: ForwardReader;

  constructor(config: SmtpdConfig, private readonly opts: LkaOptions = {}) {
    this.identity = opts.identity ?? machineIdentity();
    this.users = new SystemUsers(opts.users);
    this.clients = new ClientResolver(opts.dnsServers);
    this.readForward = forwardReader(opts);
    this.current = this.generation(config);
  }

  /** The ruleset, tables and checks of one configuration; `previous` lends it unchanged tables. */
  private generation(config: SmtpdConfig, previous?: TableSet): Generation {
    const opts = this.opts;
    const tables = new TableSet(config, {
      users: this.users, delim: config.smtp.subAddrDelim, localNames: localNames(config.serverName, this.identity), localHosts: localHosts(this.identity),
      ...(opts.warn ? { warn: opts.warn } : {}),
    }, previous);
    const ruleset = new Ruleset(config.matches, tables);
    const userbase = new Userbase(tables);
    const filters = new BuiltinFilters(config, tables);
    const auth = new Authenticator({ tables, pool: this.pool, delim: config.smtp.subAddrDelim, warn: opts.warn ?? (() => {}), ...(opts.systemCheck ? { systemCheck: opts.systemCheck } : {}) });
    const expandCtx: ExpandContext = { config, tables, ruleset, userbase, readForward: this.readForward, ...(opts.warn ? { warn: opts.warn } : {}) };
    return { config, tables, ruleset, userbase, expandCtx, filters, auth };
  }

  get tables(): TableSet {
    return this.current.tables;
  }

  get auth(): Authenticator {
    return this.current.auth;
  }

  private get config(): SmtpdConfig {
    return this.current.config;
  }

  /** Loads file tables the config loader did not read. */
  async start(): Promise<void> {
    for (const f of await this.tables.loadFiles()) this.opts.warn?.('table load failed', { table: f.name, error: f.error });
  }

  /**
   * A reloaded configuration as generation `gen`: tables declared as before are kept open, the
   * others opened; the running generation stays for the sessions that began under it.
   */
  async reload(config: SmtpdConfig, gen: number): Promise<{ reopened: string[] }> {
    const next = this.generation(config, this.current.tables);
    for (const f of await next.tables.loadFiles()) this.opts.warn?.('table load failed', { table: f.name, error: f.error });
    this.older.set(this.gen, this.current);
    this.current = next;
    this.gen = gen;
    for (const old of [...this.older.keys()].sort((a, b) => a - b).slice(0, Math.max(0, this.older.size - MAX_GENERATIONS))) this.releaseGeneration(old);
    return { reopened: next.tables.reopened };
  }

  /** No session of generation `gen` is left: close the tables no later generation uses. */
  releaseGeneration(gen: unknown): void {
    if (typeof gen !== 'number') return;
    const g = this.older.get(gen);
    if (!g) return;
    this.older.delete(gen);
    // Tables are shared forward: close only what neither the current nor a kept one holds.
    const keep = [this.current, ...this.older.values()];
    const kept = new Set(keep.flatMap((k) => k.tables.names().map((n) => k.tables.get(n)!)));
    g.tables.closeWhere((t) => !kept.has(t));
  }

  /** The generations held for older sessions (tests). */
  get olderGenerations(): number[] {
    return [...this.older.keys()];
  }

  /** Lets the crypt pool's thread go (the actor stops). */
  async stop(): Promise<void> {
    await this.pool.close();
  }

  async rcptResolve(input: unknown): Promise<RcptResolution> {
    const req = RcptRequestSchema.safeParse(input);
    if (!req.success) return this.count({ ok: false, reply: replyWith('syntaxParam') });
    const rcpt = this.parseRcpt(req.data.rcpt);
    if (!rcpt) return this.count({ ok: false, reply: replyWith('rcptSyntax') });
    const sender = req.data.sender;
    if (sender !== '' && !parseAddress(sender, { utf8: true }).ok) return this.count({ ok: false, reply: replyWith('senderSyntax') });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<RcptResolution>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, reply: replyWith('tempLookup') }), this.opts.deadlineMs ?? RESOLVE_DEADLINE_MS);
    });
    try {
      const g = (req.data.gen !== undefined ? this.older.get(req.data.gen) : undefined) ?? this.current;
      const work = expandRecipient(g.expandCtx, { session: req.data.session, sender, rcpt });
      return this.count(await Promise.race([work, deadline]));
    } catch (e) {
      this.opts.warn?.('rcpt resolution failed', { error: e instanceof Error ? e.message : String(e) });
      return this.count({ ok: false, reply: replyWith('tempFailure') });
    } finally {
      clearTimeout(timer);
    }
  }

  /** rDNS and FCrDNS of a client address (never rejects; bounded in time). */
  async clientDns(address: unknown): Promise<ClientDns> {
    if (typeof address !== 'string' || address.length > 128) return { rdns: null, fcrdns: 'error' };
    return this.clients.lookup(address);
  }

  /** A builtin filter's condition on a session's facts. */
  async filterMatch(name: unknown, facts: unknown): Promise<FilterMatch> {
    const f = FilterFactsSchema.safeParse(facts);
    if (typeof name !== 'string' || !f.success) return { ok: false, message: 'invalid request' };
    const r = await this.current.filters.match(name, f.data);
    if (r === undefined) return { ok: false, message: `no builtin filter named ${name}` };
    if (r === 'error') return { ok: false, message: `filter ${name}: table lookup failed` };
    return { ok: true, matched: r };
  }

  async userLookup(name: unknown, userbase: unknown): Promise<UserLookup> {
    if (typeof name !== 'string' || name.length > 256 || (userbase !== null && typeof userbase !== 'string')) {
      return { ok: false, kind: 'perm', message: 'invalid request' };
    }
    return this.current.userbase.lookup(name, userbase);
  }

  /** A value lookup for the mta (credentials, relayhost, addrname): the raw value or null. */
  async tableLookup(table: unknown, service: unknown, key: unknown): Promise<TableLookup> {
    if (typeof table !== 'string' || typeof key !== 'string' || typeof service !== 'string' || !LOOKUP_SERVICES.has(service) || key.length > 1024) {
      return { ok: false, message: 'invalid request' };
    }
    const t = this.tables.get(table);
    if (!t) return { ok: false, message: `no table named ${table}` };
    const r = await t.lookup(key, service as LookupService);
    if ('error' in r) return { ok: false, message: r.error };
    return { ok: true, value: r.found ? r.value : null };
  }

  /** Every entry of a table: a list's values, a mapping's keys, in file order. */
  async tableFetch(table: unknown): Promise<{ ok: true; values: string[] } | { ok: false; message: string }> {
    if (typeof table !== 'string') return { ok: false, message: 'invalid request' };
    const t = this.tables.get(table);
    const content = t?.backend.content();
    if (!t) return { ok: false, message: `no table named ${table}` };
    if (!content && t.backend.fetch) {
      const f = await t.backend.fetch();
      return 'error' in f ? { ok: false, message: f.error } : { ok: true, values: f.values };
    }
    if (!content) return { ok: false, message: `table ${table} cannot be listed` };
    return { ok: true, values: content.kind === 'list' ? [...content.values] : Object.keys(content.entries) };
  }

  async tableUpdate(name: unknown): Promise<boolean> {
    if (typeof name !== 'string') return false;
    const r = await this.tables.update(name);
    if (!r.ok) this.opts.warn?.('table update failed', { table: name, error: r.error });
    return r.ok;
  }

  stats(): Record<string, number> {
    return { ...this.counters };
  }

  /** The RCPT as a mailbox; an unqualified one (local submission) gets the server name. */
  private parseRcpt(text: string): MailAddress | null {
    const r = parseAddress(text, { utf8: true, allowUnqualified: true });
    if (!r.ok) return null;
    return r.address.domain === '' ? { local: r.address.local, domain: this.config.serverName.toLowerCase() } : r.address;
  }

  private count(r: RcptResolution): RcptResolution {
    if (r.ok) {
      this.counters.resolved++;
      this.counters.recipients += r.recipients.length;
    } else if (r.reply.code >= 500) this.counters.refused++;
    else this.counters.tempfail++;
    return r;
  }
}

/** The actor factory: the worker entry calls this through runActor. */
export async function createLka(ctx: ActorContext<'lka'>): Promise<ActorImpl<LkaMailbox>> {
  const init = ctx.init as ActorInit<SmtpdConfig>;
  const lka = new Lka(init.config, {
    warn: (event, fields) => ctx.log.warn(event, fields),
    ...(init.settings.dnsServers ? { dnsServers: init.settings.dnsServers } : {}),
    // Under privilege separation /etc/shadow is not ours to read: the privileged side checks.
    ...(init.settings.privsep ? { systemCheck: (user: string, password: string) => ctx.parent.systemPasswordCheck(user, password) } : {}),
    // ~/.forward likewise: read as root by the privileged side, the home checked here.
    ...(init.settings.privsep ? { readForward: privilegedForwardReader((user) => ctx.parent.forwardRead(user).then((r) => (r.ok ? { ok: true as const, value: r.value } : { ok: false as const, message: r.message }))) } : {}),
  });
  const mailbox: LkaMailbox = {
    rcptResolve: (req) => lka.rcptResolve(req),
    userLookup: (name, userbase) => lka.userLookup(name, userbase),
    tableUpdate: (name) => lka.tableUpdate(name),
    tableLookup: (table, service, key) => lka.tableLookup(table, service, key),
    tableFetch: (table) => lka.tableFetch(table),
    clientDns: (address) => lka.clientDns(address),
    filterMatch: (name, facts) => lka.filterMatch(name, facts),
    authenticate: (req) => lka.auth.authenticate(req),
    senderCheck: (table, user, sender) => lka.auth.senderCheck(table, user, sender),
    reload: async (raw) => {
      const p = parseReloadOrder(raw);
      if (!p.ok) return p;
      const r = await lka.reload(p.config, p.order.gen);
      return { ok: true, notes: r.reopened.length > 0 ? [`tables opened: ${r.reopened.join(',')}`] : [] };
    },
    releaseGeneration: (gen) => lka.releaseGeneration(gen),
  };
  return { mailbox, start: () => lka.start(), stop: () => lka.stop(), stats: () => lka.stats() };
}
