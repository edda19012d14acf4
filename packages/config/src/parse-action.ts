// Statement parser for `action NAME METHOD [options]` (OpenSMTPD's dispatchers): local methods
// with alias/virtual/userbase/user/wrapper, `relay` with its options, `ttl` for both.
import { isIP } from 'node:net';
import { parseAddress } from '@tsmtpd/proto';
import type { Cursor, StmtPos } from './cursor.js';
import type { Action, ActionMethod, RelayHost, RelayMethod } from './model.js';
import { parseFilterRef } from './parse-filter.js';
import { parseTables, tableCanServe, tableName, type Draft, type Service } from './state.js';
import { parseDuration } from './units.js';

/**
 * `mail-from` is `@domain`, `local` or `local@domain`; each part must pass the one address
 * validator, so the mta's rewritten sender is always a valid address (REFERENCE 14.2).
 */
function validMailFrom(v: string): boolean {
  if (v.startsWith('@')) return parseAddress(`x${v}`, { utf8: true }).ok;
  if (!v.includes('@')) return parseAddress(`${v}@example.org`, { utf8: true }).ok;
  return parseAddress(v, { utf8: true }).ok;
}

const PROTOS = ['smtp', 'smtp+tls', 'smtp+notls', 'smtps', 'lmtp'] as const;

/** Parses a relay URL `[proto://][label@]host[:port]`; undefined when invalid. */
export function parseRelayUrl(url: string): RelayHost | undefined {
  let rest = url;
  let proto: RelayHost['proto'] = 'smtp';
  const sep = rest.indexOf('://');
  if (sep >= 0) {
    const p = PROTOS.find((x) => x === rest.slice(0, sep).toLowerCase());
    if (!p) return undefined;
    proto = p;
    rest = rest.slice(sep + 3);
  }
  let label: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) { label = rest.slice(0, at); rest = rest.slice(at + 1); if (label === '') return undefined; }
  let hostname: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) return undefined;
    hostname = rest.slice(1, close);
    if (isIP(hostname) !== 6) return undefined;
    const tail = rest.slice(close + 1);
    if (tail !== '' && !tail.startsWith(':')) return undefined;
    portText = tail === '' ? undefined : tail.slice(1);
  } else {
    const colon = rest.indexOf(':');
    hostname = colon < 0 ? rest : rest.slice(0, colon);
    portText = colon < 0 ? undefined : rest.slice(colon + 1);
    if (!/^[A-Za-z0-9_.-]+$/.test(hostname)) return undefined;
  }
  if (hostname === '') return undefined;
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) return undefined;
    port = Number(portText);
  }
  if (proto === 'lmtp' && port === undefined) return undefined;
  const host: RelayHost = { url, proto, hostname };
  if (label !== undefined) host.label = label;
  if (port !== undefined) host.port = port;
  return host;
}

/** `action NAME METHOD [options]`. */
export function parseAction(cur: Cursor, d: Draft, pos: StmtPos): void {
  cur.expectKw('action');
  const name = cur.expectString();
  if (d.actions.has(name.v)) cur.fail(name, `dispatcher already declared with that name: ${name.v}`);
  const action: Action = { name: name.v, method: { kind: 'mbox' }, file: pos.file, line: pos.line };
  const m = cur.next();
  if (m.t !== 'kw') cur.fail(m);
  switch (m.v) {
    case 'mbox': case 'forward-only': case 'expand-only': action.method = { kind: m.v }; break;
    case 'maildir': {
      const method: ActionMethod = { kind: 'maildir', junk: false };
      if (cur.peek().t === 'str') method.path = cur.next().v;
      if (cur.acceptKw('junk')) method.junk = true;
      action.method = method; break;
    }
    case 'lmtp': {
      const dest = cur.expectString().v;
      action.method = { kind: 'lmtp', destination: dest, rcptTo: cur.acceptKw('rcpt-to') };
      break;
    }
    case 'mda': action.method = { kind: 'mda', command: cur.expectString().v }; break;
    case 'relay': action.method = { kind: 'relay', backup: false, srs: false }; break;
    default: cur.fail(m);
  }
  const method = action.method;
  for (;;) {
    const ok = method.kind === 'relay' ? relayOption(cur, d, pos, method) : localOption(cur, d, pos, action);
    if (!ok) break;
  }
  // OpenSMTPD 6.8: `ttl` comes after the method's options.
  while (cur.isKw('ttl')) parseTtl(cur, action);
  d.actions.set(name.v, action);
}

function parseTtl(cur: Cursor, action: Action): void {
  const kw = cur.next();
  const v = cur.expectString();
  if (action.ttl !== undefined) cur.fail(kw, 'ttl already specified for this dispatcher');
  const ttl = parseDuration(v.v);
  if (ttl === undefined) cur.fail(v, `ttl delay "${v.v}" is invalid`);
  action.ttl = ttl;
}

/** A `tables` operand that must be able to serve `service` with the given shape. */
function usableTable(cur: Cursor, d: Draft, pos: StmtPos, shape: 'list' | 'map', service: Service, what: string) {
  const item = parseTables(cur, d, pos);
  if (!tableCanServe(item.info, shape, service)) cur.fail(item.tok, `table "${tableName(item)}" may not be used for ${what} lookups`);
  return item;
}

function localOption(cur: Cursor, d: Draft, pos: StmtPos, a: Action): boolean {
  const tok = cur.peek();
  if (tok.t !== 'kw') return false;
  const kind = a.method.kind;
  switch (tok.v) {
    case 'user': {
      cur.next();
      const u = cur.expectString();
      if (kind === 'mbox') cur.fail(u, 'user may not be specified for this dispatcher');
      if (kind === 'forward-only' || kind === 'expand-only') cur.fail(u, `user may not be specified for ${kind}`);
      if (a.user !== undefined) cur.fail(u, 'user already specified for this dispatcher');
      a.user = u.v; return true;
    }
    case 'alias': case 'virtual': {
      cur.next();
      if (a.alias !== undefined) cur.fail(tok, 'alias mapping already specified for this dispatcher');
      if (a.virtual !== undefined) cur.fail(tok, 'virtual mapping already specified for this dispatcher');
      a[tok.v] = usableTable(cur, d, pos, 'map', 'alias', tok.v).info.def.name;
      return true;
    }
    case 'userbase':
      cur.next();
      if (a.userbase !== undefined) cur.fail(tok, 'userbase mapping already specified for this dispatcher');
      a.userbase = usableTable(cur, d, pos, 'map', 'userinfo', 'userbase').info.def.name;
      return true;
    case 'wrapper': {
      cur.next();
      const w = cur.expectString();
      if (!Object.hasOwn(d.mda.wrappers, w.v)) cur.fail(w, `no mda wrapper with that name: ${w.v}`);
      a.wrapper = w.v; return true;
    }
    default: return false;
  }
}

function relayOption(cur: Cursor, d: Draft, pos: StmtPos, r: RelayMethod): boolean {
  const tok = cur.peek();
  if (tok.t !== 'kw') return false;
  const already = (set: boolean, what: string): void => { if (set) cur.fail(tok, `${what} already specified for this dispatcher`); };
  switch (tok.v) {
    case 'helo': cur.next(); already(r.helo !== undefined, 'helo'); r.helo = cur.expectString().v; return true;
    case 'helo-src':
      cur.next(); already(r.heloSrc !== undefined, 'helo-source mapping');
      r.heloSrc = usableTable(cur, d, pos, 'map', 'addrname', 'helo-source').info.def.name; return true;
    case 'pki': case 'ca': {
      // 6.8 checks neither name here (nor later, for `-n`).
      cur.next(); already(r[tok.v] !== undefined, tok.v);
      r[tok.v] = cur.expectString().v.toLowerCase(); return true;
    }
    case 'src': {
      cur.next(); already(r.src !== undefined, 'source mapping');
      r.src = usableTable(cur, d, pos, 'list', 'source', 'source').value; return true;
    }
    case 'mail-from': {
      cur.next(); already(r.mailFrom !== undefined, 'mail-from');
      const v = cur.expectString();
      // 6.8 takes "" (and then rewrites nothing): so do we.
      if (v.v !== '' && !validMailFrom(v.v)) cur.fail(v, `invalid mail-from address: ${v.v}`);
      if (v.v !== '') r.mailFrom = v.v;
      return true;
    }
    case 'backup':
      cur.next(); already(r.backup, 'backup');
      if (r.host || r.hostTable || r.domain) cur.fail(tok, 'backup and host are mutually exclusive');
      r.backup = true;
      if (cur.acceptKw('mx')) r.backupMx = cur.expectString().v;
      return true;
    case 'host': case 'domain': return relayHost(cur, d, pos, r, tok.v);
    case 'tls':
      cur.next(); already(r.tls !== undefined, 'tls');
      r.tls = cur.acceptKw('no-verify') ? 'no-verify' : 'required'; return true;
    case 'auth':
      cur.next();
      if (!r.host && !r.hostTable) cur.fail(tok, 'auth may not be specified without host on a dispatcher');
      already(r.auth !== undefined, 'auth mapping');
      r.auth = usableTable(cur, d, pos, 'map', 'credentials', 'auth').info.def.name; return true;
    case 'filter': cur.next(); already(r.filter !== undefined, 'filter'); r.filter = parseFilterRef(cur, d, pos); return true;
    case 'srs':
      cur.next();
      if (d.srs.key === undefined) cur.fail(tok, 'an srs key is required for srs to be specified in an action');
      already(r.srs, 'srs'); r.srs = true; return true;
    default: return false;
  }
}

function relayHost(cur: Cursor, d: Draft, pos: StmtPos, r: RelayMethod, kw: 'host' | 'domain'): boolean {
  const tok = cur.next();
  if (r.host || r.hostTable || r.domain) cur.fail(tok, 'host mapping already specified for this dispatcher');
  if (r.backup) cur.fail(tok, `backup and ${kw} are mutually exclusive`);
  const item = usableTable(cur, d, pos, kw === 'host' ? 'list' : 'map', 'relayhost', 'host');
  if (kw === 'domain') { r.domain = item.info.def.name; return true; }
  const host = typeof item.value === 'string' ? parseRelayUrl(item.value) : undefined;
  if (host) { r.host = host; return true; }
  // 6.8 takes any string here (it is parsed when relaying): keep it as a one-entry host table.
  d.tables.set(item.info.def.name, item.info);
  r.hostTable = item.info.def.name;
  return true;
}
