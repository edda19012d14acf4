// Opening a session (REFERENCE 6.6): connect, greeting, EHLO (LHLO for LMTP; HELO when EHLO is
// refused), STARTTLS as the TLS mode says with EHLO again after it, and AUTH PLAIN or LOGIN only
// over TLS. An opportunistic STARTTLS whose handshake fails is retried in plain text on a new
// connection, as OpenSMTPD does. Used by session.ts.
import { parseExtensions, NO_EXTENSIONS } from './ehlo.js';
import { Link, localLine, wireLine } from './link.js';
import { replyClass, replyLine, type Reply } from './reply.js';
import { openTcp, startTls } from './sockets.js';
import type { ClientOptions, ConnectResult } from './types.js';
import { Wire } from './wire.js';

export type Handshake = { link: Link; result: ConnectResult & { ok: true } } | { link: null; result: ConnectResult & { ok: false } };

type Step = { ok: true } | { ok: false; status: 'tempfail' | 'permfail'; reply: string; plainRetry?: boolean };

const OK: Step = { ok: true };
const temp = (reply: string): Step => ({ ok: false, status: 'tempfail', reply });

/** A reply that is not 2xx as a failed step: 5xx permanent only where the caller allows it. */
function refused(r: Reply, allowPerm: boolean): Step {
  const perm = allowPerm && replyClass(r) === 'permfail';
  return { ok: false, status: perm ? 'permfail' : 'tempfail', reply: replyLine(r) };
}

async function hello(link: Link): Promise<Step> {
  const { lmtp, helo } = link.opts;
  const r = await link.command(`${lmtp ? 'LHLO' : 'EHLO'} ${helo}`);
  if (!r.ok) return temp(wireLine(r.reason));
  if (replyClass(r.value) === 'ok') {
    link.ext = parseExtensions(r.value);
    return OK;
  }
  // RFC 5321 4.1.4: a server without ESMTP answers EHLO 5xx (usually 500/502); HELO then.
  if (lmtp || replyClass(r.value) !== 'permfail' || !link.alive) return refused(r.value, false);
  const h = await link.command(`HELO ${helo}`);
  if (!h.ok) return temp(wireLine(h.reason));
  if (replyClass(h.value) !== 'ok') return refused(h.value, false);
  link.ext = NO_EXTENSIONS;
  return OK;
}

async function starttls(link: Link): Promise<Step> {
  const mandatory = link.opts.tls === 'starttls';
  if (!link.ext.startTls) return mandatory ? temp(localLine('4.7.0', 'TLS required but not available')) : OK;
  const r = await link.command('STARTTLS');
  if (!r.ok) return temp(wireLine(r.reason));
  if (replyClass(r.value) !== 'ok') return mandatory ? refused(r.value, false) : OK;
  // Bytes after the 220 came in plain text and could be an attacker's injection (CVE-2011-0411).
  if (link.wire.hasUnread) {
    link.wire.destroy();
    return temp(localLine('4.5.0', 'protocol error: data after the STARTTLS reply'));
  }
  const t = await startTls(link.wire.detach(), link.opts, link.opts.commandTimeoutMs);
  if (!t.ok) return { ok: false, status: 'tempfail', reply: localLine('4.7.0', t.reason), plainRetry: !mandatory };
  link.wire = new Wire(t.socket);
  link.tls = true;
  return hello(link);
}

function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

async function authenticate(link: Link, user: string, pass: string): Promise<Step> {
  // REFERENCE 6.6: credentials never travel in clear text.
  if (!link.tls) return temp(localLine('4.7.0', 'Refuse to AUTH over insecure channel'));
  const mechs = link.ext.auth;
  if (mechs.length === 0) return temp(localLine('4.7.0', 'AUTH not advertised'));
  if (/[\0\r\n]/.test(user + pass)) return temp(localLine('4.7.0', 'AUTH credentials contain NUL, CR or LF'));
  let r;
  if (mechs.includes('PLAIN')) {
    r = await link.command(`AUTH PLAIN ${b64(`\0${user}\0${pass}`)}`, 'AUTH PLAIN');
  } else if (mechs.includes('LOGIN')) {
    r = await link.command('AUTH LOGIN');
    for (const answer of [user, pass]) {
      if (!r.ok || r.value.code !== 334) break;
      r = await link.command(b64(answer), 'AUTH LOGIN');
    }
  } else {
    return temp(localLine('4.7.0', `AUTH PLAIN or LOGIN not advertised (offered: ${mechs.join(' ')})`));
  }
  if (!r.ok) return temp(wireLine(r.reason));
  // A refused login (535 included) keeps the envelopes queued: it is our configuration's fault.
  if (r.value.code !== 235) return refused(r.value, false);
  return OK;
}

async function open(opts: ClientOptions, plainOnly: boolean): Promise<{ link: Link | null; step: Step; greeting: string }> {
  const tcp = await openTcp(opts);
  if (!tcp.ok) return { link: null, step: temp(wireLine(tcp.reason)), greeting: '' };
  let socket = tcp.socket;
  if (opts.tls === 'implicit') {
    const t = await startTls(socket, opts, opts.connectTimeoutMs);
    if (!t.ok) return { link: null, step: temp(localLine('4.7.0', t.reason)), greeting: '' };
    socket = t.socket;
  }
  const link = new Link(opts, new Wire(socket));
  link.tls = opts.tls === 'implicit';
  const g = await link.read('the greeting');
  if (!g.ok) return { link, step: temp(wireLine(g.reason)), greeting: '' };
  const greeting = replyLine(g.value);
  if (replyClass(g.value) !== 'ok') return { link, step: refused(g.value, true), greeting };
  let step = await hello(link);
  const wantTls = opts.tls === 'starttls' || opts.tls === 'opportunistic';
  if (step.ok && wantTls && !plainOnly) step = await starttls(link);
  if (step.ok && opts.auth !== undefined) step = await authenticate(link, opts.auth.user, opts.auth.pass);
  return { link, step, greeting };
}

/** Connect and prepare a session; on failure nothing stays open. */
export async function handshake(opts: ClientOptions): Promise<Handshake> {
  let o = await open(opts, false);
  if (!o.step.ok && o.step.plainRetry === true) {
    o.link?.wire.destroy();
    // "opportunistic TLS failed, downgrading to plain" (REFERENCE 6.6).
    o = await open(opts, true);
  }
  const { link, step } = o;
  if (link === null || !step.ok) {
    link?.wire.destroy();
    const f = step.ok ? { status: 'tempfail' as const, reply: localLine('4.4.2', 'connection failed') } : step;
    return { link: null, result: { ok: false, status: f.status, reply: f.reply } };
  }
  return { link, result: { ok: true, greeting: o.greeting, extensions: link.ext.lines, tls: link.tls } };
}
