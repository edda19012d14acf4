// Statement parser for `listen on socket ...` and `listen on IF|ADDR|HOST|GROUP ...`. Addresses are
// resolved later (resolve.ts); here the options are read and checked as OpenSMTPD's
// create_if_listener/config_listener do.
import { readFileSync } from 'node:fs';
import type { Cursor, StmtPos } from './cursor.js';
import type { Token } from './lexer.js';
import { socketListener, type Listener } from './model.js';
import { parseFilterRef } from './parse-filter.js';
import { parseTlsProtocols } from './tls-options.js';
import { parseTables, tableCanServe, tableName, type Draft, type Service } from './state.js';

const FALLBACK_SERVICES: Readonly<Record<string, number>> = { smtp: 25, submission: 587, submissions: 465, smtps: 465, lmtp: 24 };
let services: Map<string, number> | undefined;

/** getservbyname(name, "tcp") from /etc/services, with a small built-in fallback. */
export function servicePort(name: string): number | undefined {
  if (!services) {
    services = new Map(Object.entries(FALLBACK_SERVICES));
    try {
      for (const raw of readFileSync('/etc/services', 'utf8').split('\n')) {
        const line = raw.replace(/#.*/, '').trim().split(/\s+/);
        const m = /^(\d+)\/tcp$/.exec(line[1] ?? '');
        if (!m?.[1] || !line[0]) continue;
        for (const n of [line[0], ...line.slice(2)]) services.set(n, Number(m[1]));
      }
    } catch { /* keep the fallback */ }
  }
  return services.get(name);
}

const TAG_MAX = 32;

/** `listen on ...`. */
export function parseListen(cur: Cursor, d: Draft, pos: StmtPos): void {
  cur.expectKw('listen');
  cur.expectKw('on');
  const l = socketListener({ file: pos.file, line: pos.line });
  if (cur.acceptKw('socket')) {
    if (d.socket) cur.fail(pos, 'socket listener already configured');
    parseOptions(cur, d, pos, l, true);
    d.socket = { listener: l, pos };
    return;
  }
  const target = cur.expectString();
  l.kind = 'inet';
  l.target = target.v;
  l.port = 25;
  const seen = parseOptions(cur, d, pos, l, false);
  // OpenSMTPD 6.8 requires tls/smtps for auth and pki, but not a pki for tls/smtps.
  const ssl = l.tls || l.smtps;
  if ((l.auth || l.authOptional) && !ssl) cur.fail(target, 'invalid listen option: auth requires tls/smtps');
  if (l.pki.length > 0 && !ssl) cur.fail(target, 'invalid listen option: pki requires tls/smtps');
  // ciphers/protocols are OpenSMTPD 6.9+ (6.8: syntax error); without TLS they mean nothing.
  if ((l.ciphers !== undefined || l.protocols !== undefined) && !ssl) cur.fail(target, 'invalid listen option: ciphers/protocols require tls/smtps');
  if (!seen.has('port')) l.port = l.smtps ? 465 : 25;
  d.listeners.push({ listener: l, pos });
}

function once(cur: Cursor, seen: Set<string>, key: string, tok: Token, msg = `${key} already specified`): void {
  if (seen.has(key)) cur.fail(tok, msg);
  seen.add(key);
}

function checkedTable(cur: Cursor, d: Draft, pos: StmtPos, service: Service | undefined, param: string): string {
  const item = parseTables(cur, d, pos);
  if (service !== undefined && !tableCanServe(item.info, 'map', service)) {
    cur.fail(item.tok, `invalid use of table "${tableName(item)}" as ${param} parameter`);
  }
  return item.info.def.name;
}

const startsTable = (t: Token): boolean => t.t === 'str' || (t.t === 'punct' && (t.v === '<' || t.v === '{'));

/** Reads listener options; returns the set of options seen. */
function parseOptions(cur: Cursor, d: Draft, pos: StmtPos, l: Listener, socket: boolean): Set<string> {
  const seen = new Set<string>();
  const socketOk = new Set(['filter', 'mask-src']);
  for (;;) {
    const tok = cur.peek();
    if (tok.t !== 'kw') return seen;
    if (socket && !socketOk.has(tok.v)) return seen;
    switch (tok.v) {
      case 'inet4': case 'inet6':
        cur.next(); once(cur, seen, 'family', tok, 'address family already specified');
        l.family = tok.v; break;
      case 'port': {
        cur.next(); once(cur, seen, 'port', tok);
        const p = cur.next();
        let port: number | undefined;
        if (p.t === 'num') port = Number(p.v) > 0 && Number(p.v) <= 65535 ? Number(p.v) : undefined;
        else if (p.t === 'str' || (p.t === 'kw' && (p.v === 'smtp' || p.v === 'smtps'))) port = servicePort(p.v);
        else cur.fail(p);
        if (port === undefined) cur.fail(p, `invalid port: ${p.v}`);
        l.port = port; break;
      }
      case 'filter':
        cur.next(); once(cur, seen, 'filter', tok);
        l.filter = parseFilterRef(cur, d, pos); break;
      case 'smtps': case 'tls': case 'tls-require':
        cur.next(); once(cur, seen, 'ssl', tok, 'TLS mode already specified');
        if (tok.v === 'smtps') l.smtps = true; else l.tls = true;
        if (tok.v === 'tls-require') l.tlsRequire = true;
        if (tok.v !== 'tls' && cur.acceptKw('verify')) l.tlsVerify = true;
        break;
      case 'pki': {
        cur.next();
        const name = cur.expectString();
        if (l.pki.length === 32) cur.fail(name, 'too many pki specified');
        // (the name is looked up once the listener has addresses: load.ts)
        l.pki.push(name.v.toLowerCase()); break;
      }
      case 'ciphers':
        cur.next(); once(cur, seen, 'ciphers', tok);
        l.ciphers = cur.expectString().v; break;
      case 'protocols': {
        cur.next(); once(cur, seen, 'protocols', tok);
        const p = cur.expectString();
        if (parseTlsProtocols(p.v) === null) cur.fail(p, `failed to parse protocols "${p.v}"`);
        l.protocols = p.v; break;
      }
      case 'ca': {
        cur.next(); once(cur, seen, 'ca', tok);
        l.ca = cur.expectString().v.toLowerCase(); break;
      }
      case 'auth': case 'auth-optional':
        cur.next(); once(cur, seen, 'auth', tok);
        if (tok.v === 'auth') l.auth = true; else l.authOptional = true;
        // 6.8 does not check what the table can serve here.
        if (startsTable(cur.peek())) l.authTable = checkedTable(cur, d, pos, undefined, 'AUTH');
        break;
      case 'tag': {
        cur.next(); once(cur, seen, 'tag', tok);
        const tag = cur.expectString();
        if (tag.v.length > TAG_MAX) cur.fail(tag, 'tag name too long');
        l.tag = tag.v; break;
      }
      case 'hostname':
        cur.next(); once(cur, seen, 'hostname', tok);
        l.hostname = cur.expectString().v; break;
      case 'hostnames':
        cur.next(); once(cur, seen, 'hostnames', tok);
        l.hostnamesTable = checkedTable(cur, d, pos, 'addrname', 'HOSTNAMES'); break;
      case 'mask-src':
        cur.next(); once(cur, seen, 'mask-src', tok, 'mask-source already specified');
        l.maskSrc = true; break;
      case 'received-auth':
        cur.next(); once(cur, seen, 'received-auth', tok);
        l.receivedAuth = true; break;
      case 'no-dsn':
        cur.next(); once(cur, seen, 'no-dsn', tok);
        l.noDsn = true; break;
      case 'proxy-v2':
        cur.next(); once(cur, seen, 'proxy-v2', tok);
        l.proxyV2 = true; break;
      case 'senders':
        cur.next(); once(cur, seen, 'senders', tok);
        l.senders = checkedTable(cur, d, pos, 'mailaddrmap', 'SENDERS');
        if (cur.acceptKw('masquerade')) l.masquerade = true;
        break;
      default:
        return seen;
    }
  }
}
