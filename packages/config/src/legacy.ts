// The pre-6.4 grammar (REFERENCE 1.11): `accept|reject ... deliver to ...|relay ...` rules and the
// old global statements are translated, statement by statement, into modern smtpd.conf text, which
// the modern parser then reads; load.ts asks for it when the file set is legacy (grammar.ts) or
// `--old-grammar` forces it. Modern statements pass through untouched (so, forced, a mixed file is
// read). Each output line remembers its source line: errors and model positions name the original.
import { isLegacyRule, readFileSet, type FileSet } from './grammar.js';
import { KEYWORDS, type Token } from './lexer.js';

/** Result of `translateLegacyConfig`. */
export interface LegacyTranslation {
  /** True when at least one old-grammar statement was translated. */
  readonly legacy: boolean;
  /** The modern configuration text. */
  readonly text: string;
  /** `lines[i]` = original (1-based) line of output line i + 1. */
  readonly lines: readonly number[];
}

const BARE = /^[A-Za-z0-9_:][A-Za-z0-9_:./@+%*-]*$/;

/** Prints a token so that the modern lexer reads it back the same. */
function fmt(t: Token): string {
  if (t.t !== 'str') return t.v;
  if (BARE.test(t.v) && !KEYWORDS.has(t.v) && !/^-?\d+$/.test(t.v)) return t.v;
  return `"${t.v.replace(/"/g, '\\"')}"`;
}

const q = (name: string): string => `"${name}"`;

/** Words of the old rule grammar that end a free-form operand. */
const OLD_WORDS = new Set(['as', 'expire', 'alias', 'virtual', 'userbase', 'for', 'from', 'sender', 'recipient',
  'tagged', 'authenticated', 'deliver', 'relay', 'forward-only', 'rcpt-to', 'via', 'auth', 'backup', 'source',
  'hostname', 'hostnames', 'pki', 'ca', 'tls', 'verify']);

class Toks {
  i = 0;
  constructor(readonly t: Token[]) {}
  text(k = 0): string | undefined { return this.t[this.i + k]?.v; }
  take(): Token { const tok = this.t[this.i++]; if (!tok) throw new Untranslatable(); return tok; }
  accept(v: string): boolean { if (this.text() === v) { this.i++; return true; } return false; }
  expect(v: string): void { if (!this.accept(v)) throw new Untranslatable(); }
  done(): boolean { return this.i >= this.t.length; }
  /** A `tables` operand: `<name>`, `{ ... }` or one string. */
  tables(): string {
    const first = this.take();
    if (first.t === 'punct' && first.v === '<') { const n = this.take(); this.expect('>'); return `<${fmt(n)}>`; }
    if (first.t === 'punct' && first.v === '{') {
      const parts: string[] = [];
      for (let tok = this.take(); !(tok.t === 'punct' && tok.v === '}'); tok = this.take()) parts.push(fmt(tok));
      return `{ ${parts.join(' ')} }`;
    }
    if (first.t !== 'str') throw new Untranslatable();
    return fmt(first);
  }
  /** An optional free-form operand (maildir path, backup MX name). */
  optional(): string | undefined {
    const tok = this.t[this.i];
    if (tok?.t !== 'str' || OLD_WORDS.has(tok.v)) return undefined;
    this.i++;
    return fmt(tok);
  }
}

class Untranslatable {}

/** Maps old relay URL schemes to new ones (`tls+auth://` -> `smtp+tls://`, ...). */
export function modernRelayUrl(url: string): string {
  const m = /^([a-z+]+):\/\/(.*)$/i.exec(url);
  if (!m?.[1]) return url;
  const scheme = m[1].toLowerCase().replace(/\+auth$/, '');
  const map: Record<string, string> = { smtp: 'smtp', lmtp: 'lmtp', tls: 'smtp+tls', smtps: 'smtps', secure: 'smtps', 'smtp+tls': 'smtp+tls' };
  return `${map[scheme] ?? scheme}://${m[2] ?? ''}`;
}

interface Rule { action?: string; match: string }

function translateRule(ts: Toks): Rule {
  const accept = ts.take().v === 'accept';
  const crit: string[] = [];
  let from = 'from local';
  let dest = 'for local';
  const local: string[] = [];
  let method: string | undefined;
  const relay: string[] = [];
  let ttl = '';
  let neg = '';
  while (!ts.done()) {
    const w = ts.take().v;
    if (w === '!') { neg = '!'; continue; }
    if (w === 'tagged') { const n = ts.accept('!') ? '!' : neg; crit.push(`${n}tag ${ts.tables()}`); }
    else if (w === 'authenticated') crit.push(`${neg}auth`);
    else if (w === 'from') {
      const n = ts.accept('!') ? '!' : neg;
      if (ts.accept('any')) from = `${n}from any`;
      else if (ts.accept('local')) from = `${n}from local`;
      else { ts.expect('source'); from = `${n}from src ${ts.tables()}`; }
    } else if (w === 'for') {
      const n = ts.accept('!') ? '!' : neg;
      if (ts.accept('any')) dest = `${n}for any`;
      else if (ts.accept('local')) dest = `${n}for local`;
      else { ts.expect('domain'); dest = `${n}for domain ${ts.tables()}`; }
    } else if (w === 'sender') crit.push(`${ts.accept('!') ? '!' : neg}mail-from ${ts.tables()}`);
    else if (w === 'recipient') crit.push(`${ts.accept('!') ? '!' : neg}rcpt-to ${ts.tables()}`);
    else if (w === 'alias' || w === 'virtual' || w === 'userbase') local.push(`${w} ${ts.tables()}`);
    else if (w === 'expire') ttl = ` ttl ${fmt(ts.take())}`;
    else if (w === 'forward-only') method = 'forward-only';
    else if (w === 'deliver') method = deliverMethod(ts, local);
    else if (w === 'relay') { method = 'relay'; relayOptions(ts, relay); }
    else throw new Untranslatable();
    neg = '';
  }
  const criteria = [from, dest, ...crit].join(' ');
  if (!accept) return { match: `match ${criteria} reject` };
  if (!method) throw new Untranslatable();
  const opts = method === 'relay' ? relay : local;
  return { action: `${method}${opts.length ? ` ${opts.join(' ')}` : ''}${ttl}`, match: `match ${criteria}` };
}

function deliverMethod(ts: Toks, local: string[]): string {
  ts.expect('to');
  const kind = ts.take().v;
  let m: string;
  if (kind === 'mbox') m = 'mbox';
  else if (kind === 'maildir') { const p = ts.optional(); m = p ? `maildir ${p}` : 'maildir'; }
  else if (kind === 'mda') m = `mda ${fmt(ts.take())}`;
  else if (kind === 'lmtp') m = `lmtp ${fmt(ts.take())}${ts.accept('rcpt-to') ? ' rcpt-to' : ''}`;
  else throw new Untranslatable();
  if (ts.accept('as')) local.push(`user ${fmt(ts.take())}`);
  return m;
}

function relayOptions(ts: Toks, out: string[]): void {
  for (;;) {
    const w = ts.text();
    if (w === 'via') { ts.i++; const u = ts.take(); out.unshift(`host ${fmt({ ...u, v: modernRelayUrl(u.v) })}`); }
    else if (w === 'auth') { ts.i++; out.push(`auth ${ts.tables()}`); }
    else if (w === 'backup') { ts.i++; const mx = ts.optional(); out.push(mx ? `backup mx ${mx}` : 'backup'); }
    else if (w === 'as') { ts.i++; out.push(`mail-from ${fmt(ts.take())}`); }
    else if (w === 'source') { ts.i++; out.push(`src ${ts.tables()}`); }
    else if (w === 'hostname') { ts.i++; out.push(`helo ${fmt(ts.take())}`); }
    else if (w === 'hostnames') { ts.i++; out.push(`helo-src ${ts.tables()}`); }
    else if (w === 'pki' || w === 'ca') { ts.i++; out.push(`${w} ${fmt(ts.take())}`); }
    else if (w === 'tls') { ts.i++; ts.accept('verify'); out.push('tls'); }
    else return;
  }
}

const LIMIT_MAP: Readonly<Record<string, string>> = { session: 'smtp limit', mta: 'mta limit', scheduler: 'scheduler limit', mda: 'mda limit' };

/** Translates an old global statement; undefined when the statement is not old grammar. */
function translateGlobal(toks: Token[]): string | undefined {
  const w = toks.map((t) => t.v);
  const rest = (from: number): string => toks.slice(from).map(fmt).join(' ');
  const tail = (from: number): string => (toks.length > from ? ` ${rest(from)}` : '');
  switch (w[0]) {
    case 'expire': return `queue ttl${tail(1)}`;
    case 'bounce-warn': return `bounce warn-interval${tail(1)}`;
    case 'max-message-size': return `smtp max-message-size${tail(1)}`;
    case 'subaddressing-delimiter': return `smtp sub-addr-delim${tail(1)}`;
    case 'ciphers': return `smtp ciphers${tail(1)}`;
    case 'limit': return w[1] && LIMIT_MAP[w[1]] ? `${LIMIT_MAP[w[1]]}${tail(2)}` : undefined;
    case 'pki': case 'ca':
      return w.includes('certificate') ? toks.map((t) => (t.v === 'certificate' ? 'cert' : fmt(t))).join(' ') : undefined;
    case 'queue': return w[1] === 'encryption' && w[2] === 'key' ? `queue encryption${tail(3)}` : undefined;
    case 'listen': {
      const old: Record<string, string> = { 'mask-source': 'mask-src', certificate: 'pki', secure: 'smtps' };
      return w.some((x) => Object.hasOwn(old, x)) ? toks.map((t) => old[t.v] ?? fmt(t)).join(' ') : undefined;
    }
    default: return undefined;
  }
}

/**
 * Translates old-grammar statements of `text` into modern ones. Statements it cannot read are
 * left as they are (the modern parser then reports them). Included files are not read.
 */
export function translateLegacyConfig(text: string, cmdMacros: Readonly<Record<string, string>> = {}): LegacyTranslation {
  const file = '';
  return translateFileSet(readFileSet(text, file, cmdMacros, false)).get(file) ?? { legacy: false, text, lines: [] };
}

interface Output { out: string[]; lines: number[]; legacy: boolean }

/**
 * Translates the old-grammar statements of every file of `set` (files in reading order). Action
 * names are shared by the whole set: an action is written once, in the file and at the place of
 * the first rule that uses it, and never takes a name an `action` statement of the set has.
 */
export function translateFileSet(set: FileSet): Map<string, LegacyTranslation> {
  const outs = new Map<string, Output>();
  const taken = new Set<string>();
  const actions = new Map<string, string>();
  for (const { toks } of set.stmts) if (toks?.[0]?.v === 'action' && toks[1]) taken.add(toks[1].v);
  for (const s of set.stmts) {
    let o = outs.get(s.file);
    if (!o) { o = { out: [], lines: [], legacy: false }; outs.set(s.file, o); }
    const { out, lines } = o;
    const emit = (text: string): void => { out.push(text); lines.push(s.start); };
    const translated = translateStatement(s.toks, (action) => {
      let name = actions.get(action);
      if (name !== undefined) return name;
      const base = action.split(' ')[0] ?? 'action';
      name = base;
      for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
      taken.add(name);
      actions.set(action, name);
      emit(`action ${q(name)} ${action}`);
      return name;
    });
    if (translated === undefined) s.lines.forEach((l, k) => { out.push(l); lines.push(s.start + k); });
    else { emit(translated); o.legacy = true; }
  }
  return new Map([...outs].map(([f, o]) => [f, { legacy: o.legacy, text: o.out.join('\n'), lines: o.lines }]));
}

/** The modern form of one old statement (`name(action)` names an action), or undefined. */
function translateStatement(toks: readonly Token[] | undefined, name: (action: string) => string): string | undefined {
  if (!toks || toks.length === 0) return undefined;
  if (isLegacyRule(toks)) {
    let rule: Rule;
    try { rule = translateRule(new Toks([...toks])); } catch (e) {
      if (!(e instanceof Untranslatable)) throw e;
      return undefined;
    }
    return rule.action === undefined ? rule.match : `${rule.match} action ${q(name(rule.action))}`;
  }
  return translateGlobal([...toks]);
}

/** Rewrites `line` fields of objects from `file` through the translation's line map (in place). */
export function remapLines(value: unknown, file: string, lines: readonly number[]): void {
  if (Array.isArray(value)) { for (const v of value) remapLines(v, file, lines); return; }
  if (value === null || typeof value !== 'object') return;
  const o = value as Record<string, unknown>;
  if (o['file'] === file && typeof o['line'] === 'number' && o['line'] > 0) o['line'] = lines[o['line'] - 1] ?? o['line'];
  for (const v of Object.values(o)) remapLines(v, file, lines);
}
