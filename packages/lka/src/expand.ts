// Recipient resolution (REFERENCE 1.6, 8.3; OpenSMTPD lka_session.c): the RCPT becomes an
// address node; every address node goes through the ruleset (expanded ones with a local
// origin), relay actions yield an mta recipient, local actions expand through `virtual` or
// the user name, `alias`, the sub-address delimiter, the userbase and ~/.forward into mda
// recipients; `/file`, `|command` and `:include:` targets as OpenSMTPD's. Breadth first, depth
// limit 10, duplicates collapsed. Talks to nothing: tables and the users' files only.
import type { Action, SmtpdConfig } from '@tsmtpd/config';
import { formatAddress, parseAddress, replyWith, srsDecode, type MailAddress, type RcptResolution, type Reply, type ResolvedRecipient, type SessionInfo, type UserInfo } from '@tsmtpd/proto';
import { parseAliasLines, parseAliasValue, type AliasTarget } from './aliases.js';
import { directForwardReader, readInclude, type ForwardReader } from './forward.js';
import type { Ruleset } from './ruleset.js';
import { LOCALNAMES, type TableSet } from './tables/registry.js';
import type { Userbase } from './userbase.js';

/** Expansion depth limit (OpenSMTPD EXPAND_DEPTH). */
export const MAX_DEPTH = 10;
/** Most nodes one recipient may expand to. */
export const MAX_NODES = 5000;

export interface ExpandContext {
  config: SmtpdConfig;
  tables: TableSet;
  ruleset: Ruleset;
  userbase: Userbase;
  /** How ~/.forward is read (through the privileged process under privilege separation). */
  readForward?: ForwardReader;
  warn?: (event: string, fields: Record<string, unknown>) => void;
}

export interface ExpandRequest {
  session: SessionInfo;
  /** Reverse path, '' for <>. */
  sender: string;
  rcpt: MailAddress;
}

type NodeBody =
  | { kind: 'address'; address: MailAddress }
  | { kind: 'user'; user: string; sameuser: boolean }
  | { kind: 'target'; target: Extract<AliasTarget, { kind: 'error' | 'file' | 'command' | 'include' }> };

/**
 * Whose file or command targets these are: the user whose ~/.forward named them (`system` when
 * that is the action's `user`, a system account), or null for alias targets (they run as the
 * unprivileged account).
 */
type Owner = { username: string; system: boolean; root: boolean } | null;

type Node = NodeBody & {
  id: number;
  parent: Node | null;
  depth: number;
  /** The action and its name decided for the nearest address ancestor (null on the root). */
  action: { name: string; def: Action } | null;
  owner: Owner;
};

/** Accounts alias commands and files run as, first found (OpenSMTPD's SMTPD_USER). */
export const UNPRIVILEGED_ACCOUNTS = ['_smtpd', 'nobody'];

type Lookup = { kind: 'found'; targets: AliasTarget[] } | { kind: 'none' } | { kind: 'error' };

function nearestAddress(n: Node | null): Node | null {
  while (n && n.kind !== 'address') n = n.parent;
  return n;
}

function addressKey(a: MailAddress): string {
  return `${a.local}@${a.domain}`.toLowerCase();
}

/** Resolves one recipient into final deliveries, or the reply refusing it. */
export async function expandRecipient(ctx: ExpandContext, req: ExpandRequest): Promise<RcptResolution> {
  return new Expansion(ctx, req).run();
}

class Expansion {
  private readonly queue: Node[] = [];
  private readonly seen = new Set<string>();
  private readonly out = new Map<string, ResolvedRecipient>();
  private nextId = 0;
  private overflow = false;
  private readonly delim: string;
  private readonly rcptText: string;

  constructor(private readonly ctx: ExpandContext, private readonly req: ExpandRequest) {
    this.delim = ctx.config.smtp.subAddrDelim;
    this.rcptText = formatAddress(req.rcpt);
  }

  async run(): Promise<RcptResolution> {
    this.insert({ kind: 'address', address: this.req.rcpt }, null, null);
    for (let n = this.queue.shift(); n; n = this.queue.shift()) {
      if (n.depth >= MAX_DEPTH) return this.fail(replyWith('expansionFailed'), 'expansion too deep', n);
      const reply = await this.process(n);
      if (reply) return { ok: false, reply };
      if (this.overflow) return this.fail(replyWith('expansionFailed'), 'expansion too large', n);
    }
    if (this.out.size === 0) return this.fail(replyWith('expansionFailed'), 'expanded to nothing', null);
    return { ok: true, recipients: [...this.out.values()] };
  }

  private fail(reply: Reply, why: string, n: Node | null): RcptResolution {
    this.ctx.warn?.('expand refused', { rcpt: this.rcptText, reason: why, depth: n?.depth });
    return { ok: false, reply };
  }

  /** Adds a node unless an equal one exists in the same address context (OpenSMTPD expand_cmp). */
  private insert(body: NodeBody, parent: Node | null, action: Node['action'], owner: Owner = null): void {
    if (this.nextId >= MAX_NODES) {
      this.overflow = true;
      return;
    }
    const ctxNode = nearestAddress(parent);
    const value = body.kind === 'address' ? addressKey(body.address)
      : body.kind === 'user' ? `${body.user}|${body.sameuser ? 1 : 0}`
      : `${body.target.kind}|${targetText(body.target)}|${owner?.username ?? ''}`;
    const key = `${body.kind}|${value}|${ctxNode?.id ?? -1}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.queue.push({ ...body, id: this.nextId++, parent, depth: parent ? parent.depth + 1 : 0, action, owner });
  }

  /** Adds alias/virtual/.forward/include targets as children of `parent`. */
  private insertTargets(targets: AliasTarget[], parent: Node, action: NonNullable<Node['action']>, owner: Owner = null): void {
    for (const t of targets) {
      if (t.kind === 'address') this.insert({ kind: 'address', address: t.address }, parent, action);
      else if (t.kind === 'user') {
        const sameuser = parent.kind === 'user' && parent.user === t.user;
        this.insert({ kind: 'user', user: t.user, sameuser }, parent, action);
      } else this.insert({ kind: 'target', target: t }, parent, action, owner);
    }
  }

  private async process(n: Node): Promise<Reply | undefined> {
    switch (n.kind) {
      case 'address':
        return this.processAddress(n);
      case 'user':
        return this.processUser(n);
      case 'target':
        return this.processTarget(n as Node & { kind: 'target' });
    }
  }

  /**
   * A bounce (null sender) to one of our SRS0/SRS1 addresses goes to the address it stands for,
   * as an internal (forwarded) recipient; one that does not decode is left as it is.
   */
  private srsDecoded(n: Node & { kind: 'address' }): boolean {
    const srs = this.ctx.config.srs;
    if (srs.key === undefined || this.req.sender !== '' || !/^srs[01]=/i.test(n.address.local)) return false;
    const keys = { key: srs.key, ttl: srs.ttl, ...(srs.keyBackup !== undefined ? { backup: srs.keyBackup } : {}) };
    const decoded = srsDecode(formatAddress(n.address), keys);
    const parsed = decoded === null ? null : parseAddress(decoded, { utf8: true });
    if (!parsed?.ok) {
      this.ctx.warn?.('SRS failed to decode', { rcpt: formatAddress(n.address) });
      return false;
    }
    n.address = parsed.address;
    return true;
  }

  private async processAddress(n: Node & { kind: 'address' }): Promise<Reply | undefined> {
    const internal = this.srsDecoded(n) || n.parent !== null;
    const d = await this.ctx.ruleset.match({ session: this.req.session, internal, sender: this.req.sender, dest: n.address });
    if (d.kind === 'error') return replyWith('tempLookup');
    if (d.kind === 'none' || d.rule.reject || d.rule.action === undefined) return this.refuse(n, d.kind === 'match');
    const def = this.ctx.config.actions[d.rule.action];
    if (!def) {
      this.ctx.warn?.('rule names an unknown action', { action: d.rule.action });
      return replyWith('tempFailure');
    }
    const action = { name: d.rule.action, def };
    if (def.method.kind === 'relay') {
      this.submit({ dispatcher: action.name, type: 'mta', dest: formatAddress(n.address), ttl: this.ttl(def) });
      return undefined;
    }
    if (def.virtual !== undefined) {
      const r = await this.virtualLookup(def.virtual, n.address);
      if (r.kind === 'error') return replyWith('expansionTemp');
      if (r.kind === 'none' || r.targets.length === 0) return this.unknownUser();
      this.insertTargets(r.targets, n, action);
      return undefined;
    }
    this.insert({ kind: 'user', user: n.address.local.toLowerCase(), sameuser: false }, n, action);
    return undefined;
  }

  /** No rule, or a reject rule. The RCPT itself gets a precise reply; an expanded address, 524. */
  private async refuse(n: Node & { kind: 'address' }, rejected: boolean): Promise<Reply> {
    if (n.parent !== null) {
      this.ctx.warn?.('expanded address refused by the ruleset', { rcpt: this.rcptText, dest: formatAddress(n.address), rejected });
      return replyWith('expansionFailed');
    }
    if (rejected) return this.withRcpt('rejected');
    const local = (await this.ctx.tables.get(LOCALNAMES)?.match('domain', n.address.domain)) ?? false;
    if (local === 'error') return replyWith('tempLookup');
    return this.withRcpt(local ? 'unknownUser' : 'relayDenied');
  }

  private async processUser(n: Node & { kind: 'user' }): Promise<Reply | undefined> {
    const action = n.action;
    if (!action) return replyWith('tempFailure');
    const def = action.def;
    if (!n.sameuser && (def.alias !== undefined || def.virtual !== undefined)) {
      const r = def.alias !== undefined
        ? await this.aliasLookup(def.alias, n.user)
        : await this.virtualLookup(def.virtual ?? '', { local: n.user, domain: '' });
      if (r.kind === 'error') return replyWith('expansionTemp');
      if (r.kind === 'found' && r.targets.length > 0) {
        this.insertTargets(r.targets, n, action);
        return undefined;
      }
    }
    const cut = n.user.indexOf(this.delim);
    const user = cut >= 0 ? n.user.slice(0, cut) : n.user;
    const subaddress = cut >= 0 ? n.user.slice(cut + 1) : '';
    const found = await this.ctx.userbase.lookup(user, def.userbase ?? null);
    if (!found.ok) {
      if (found.kind === 'temp') this.ctx.warn?.('userbase lookup failed', { user, error: found.message });
      return found.kind === 'temp' ? replyWith('tempLookup') : this.unknownUser();
    }
    if (!n.sameuser) {
      const fwd = await this.forward(n, action, found.user);
      if (fwd !== 'none') return fwd === 'done' ? undefined : fwd;
    }
    // Nothing forwarded: a forward-only action has nothing to forward to (temporary, as
    // OpenSMTPD does without a .forward), an expand-only action nothing to deliver.
    if (def.method.kind === 'forward-only') return replyWith('expansionTemp');
    if (def.method.kind === 'expand-only') return replyWith('expansionFailed');
    const dest = nearestAddress(n);
    this.submit({
      dispatcher: action.name, type: 'mda', dest: dest && dest.kind === 'address' ? formatAddress(dest.address) : this.rcptText,
      mdaUser: user, ...(subaddress !== '' ? { mdaSubaddress: subaddress } : {}), ttl: this.ttl(def),
    });
    return undefined;
  }

  /**
   * The user's ~/.forward (the action's `user`'s when it has one): its targets replace the
   * delivery unless they name the user; 'none' when there is none, or it is ignored or empty.
   */
  private async forward(n: Node & { kind: 'user' }, action: NonNullable<Node['action']>, user: UserInfo): Promise<Reply | 'done' | 'none'> {
    const def = action.def;
    let owner = user;
    if (def.user !== undefined) {
      const u = await this.ctx.userbase.lookup(def.user, null);
      if (!u.ok) return u.kind === 'temp' ? replyWith('expansionTemp') : 'none';
      owner = u.user;
    }
    const r = await (this.ctx.readForward ?? directForwardReader)(owner);
    if (r.kind === 'none') return 'none';
    if (r.kind === 'temp') {
      this.ctx.warn?.('forward lookup failed', { user: owner.username, error: r.why });
      return replyWith('expansionTemp');
    }
    if (r.kind === 'ignored') {
      this.ctx.warn?.('forward file ignored', { user: owner.username, reason: r.why });
      return 'none';
    }
    const parsed = parseAliasLines(r.text);
    if (!parsed.ok) {
      this.ctx.warn?.('malformed forward file', { user: owner.username, path: r.path, error: parsed.error });
      return replyWith('expansionTemp');
    }
    // root's .forward may forward, never run commands nor read or write files (REFERENCE 8.3).
    const targets = owner.uid === 0 ? parsed.targets.filter((t) => t.kind === 'address' || t.kind === 'user' || t.kind === 'error') : parsed.targets;
    if (targets.length < parsed.targets.length) this.ctx.warn?.('forward entries refused for root', { path: r.path, refused: parsed.targets.length - targets.length });
    if (targets.length === 0) return 'none';
    this.insertTargets(targets, n, action, { username: owner.username, system: def.user !== undefined, root: owner.uid === 0 });
    return 'done';
  }

  private async processTarget(n: Node & { kind: 'target' }): Promise<Reply | undefined> {
    const t = n.target;
    if (n.action?.def.method.kind === 'forward-only') return replyWith('expansionTemp');
    if (t.kind === 'error') return { code: t.code, enhanced: t.enhanced, text: t.text };
    const action = n.action;
    if (!action) return replyWith('tempFailure');
    if (t.kind === 'include') {
      const r = await readInclude(t.path);
      const parsed = r.ok ? parseAliasLines(r.text) : { ok: false as const, error: r.why };
      if (!parsed.ok) {
        this.ctx.warn?.('include failed', { path: t.path, error: parsed.error });
        return replyWith('expansionTemp');
      }
      this.insertTargets(parsed.targets, n, action, n.owner);
      return undefined;
    }
    let user = n.owner?.username;
    if (user === undefined) {
      const found = await this.unprivilegedAccount();
      if (!found) return replyWith('expansionTemp');
      user = found;
    }
    const dest = nearestAddress(n);
    this.submit({
      dispatcher: action.name, type: 'mda', dest: dest && dest.kind === 'address' ? formatAddress(dest.address) : this.rcptText,
      mdaUser: user, mdaTarget: { kind: t.kind, value: t.kind === 'file' ? t.path : t.command, system: n.owner?.system ?? true }, ttl: this.ttl(action.def),
    });
    return undefined;
  }

  /** The account alias commands and files run as. */
  private async unprivilegedAccount(): Promise<string | undefined> {
    for (const name of UNPRIVILEGED_ACCOUNTS) {
      const r = await this.ctx.userbase.lookup(name, null);
      if (r.ok && r.user.uid !== 0) return name;
      if (!r.ok && r.kind === 'temp') break;
    }
    this.ctx.warn?.('no unprivileged account for alias targets', { tried: UNPRIVILEGED_ACCOUNTS.join(',') });
    return undefined;
  }

  /** The RCPT as given is named (never the internal name it expanded to). */
  private unknownUser(): Reply {
    return this.withRcpt('unknownUser');
  }

  private withRcpt(name: 'unknownUser' | 'relayDenied' | 'rejected'): Reply {
    return replyWith(name, `<${this.rcptText}>: ${replyWith(name).text}`);
  }

  private ttl(def: Action): number {
    return def.ttl ?? this.ctx.config.queue.ttl;
  }

  private submit(r: ResolvedRecipient): void {
    const key = `${r.dispatcher}|${r.type}|${r.dest.toLowerCase()}|${r.mdaUser ?? ''}|${r.mdaSubaddress ?? ''}|${r.mdaTarget ? `${r.mdaTarget.kind}:${r.mdaTarget.value}` : ''}`;
    if (!this.out.has(key)) this.out.set(key, r);
  }

  /** Looks `keys` up in order; the first found value is parsed as an alias list. */
  private async lookupFirst(tableName: string, keys: string[]): Promise<Lookup> {
    const table = this.ctx.tables.get(tableName);
    if (!table) {
      this.ctx.warn?.('table not declared', { table: tableName });
      return { kind: 'error' };
    }
    for (const key of keys) {
      const r = await table.lookup(key, 'alias');
      if ('error' in r) {
        this.ctx.warn?.('table lookup failed', { table: tableName, key, error: r.error });
        return { kind: 'error' };
      }
      if (!r.found) continue;
      const parsed = parseAliasValue(r.value);
      if (!parsed.ok) {
        this.ctx.warn?.('malformed alias value', { table: tableName, key, error: parsed.error });
        return { kind: 'error' };
      }
      return { kind: 'found', targets: parsed.targets };
    }
    return { kind: 'none' };
  }

  /** `alias <t>`: keyed by the lowercased user name, `user+ext` before `user`. */
  private aliasLookup(tableName: string, user: string): Promise<Lookup> {
    const u = user.toLowerCase();
    const cut = u.indexOf(this.delim);
    return this.lookupFirst(tableName, cut >= 0 ? [u, u.slice(0, cut)] : [u]);
  }

  /** `virtual <t>`: `user+tag@dom`, `user@dom`, `user+tag`, `user`, `@dom`, `@` (domain-less: no catch-alls). */
  private virtualLookup(tableName: string, addr: MailAddress): Promise<Lookup> {
    const local = addr.local.toLowerCase();
    const domain = addr.domain.toLowerCase();
    const cut = local.indexOf(this.delim);
    const user = cut >= 0 ? local.slice(0, cut) : local;
    const tagged = cut >= 0 ? local : undefined;
    const keys: string[] = [];
    if (domain !== '') {
      if (tagged) keys.push(`${tagged}@${domain}`);
      keys.push(`${user}@${domain}`);
    }
    if (tagged) keys.push(tagged);
    keys.push(user);
    if (domain !== '') keys.push(`@${domain}`, '@');
    return this.lookupFirst(tableName, keys);
  }
}

function targetText(t: NodeBody & { kind: 'target' } extends { target: infer T } ? T : never): string {
  switch (t.kind) {
    case 'error':
      return t.text;
    case 'file':
    case 'include':
      return t.path;
    case 'command':
      return t.command;
  }
}
