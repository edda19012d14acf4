// Where the session layer meets the filters: opening a session's filters at connect (rDNS and
// FCrDNS from lka, link-connect, the connect phase), the phases run before a command reaches
// its handler (HELO/EHLO/STARTTLS/AUTH/DATA) or our MAIL/RCPT code, and the tx-* reports.
// A session on a listener without `filter` has no FilterSession and pays nothing here.
import { Replies, type Reply } from '@tsmtpd/proto';
import { errorInfo } from '@tsmtpd/actor';
import type { SMTPServerAddress } from 'smtp-server';
import type { Session } from '../session.js';
import type { Verdict } from '../transaction.js';
import { FilterSession, FILTER_TEMPFAIL, type PhaseOutcome } from './session.js';
import type { ProtoPhase } from './protocol.js';

/** What to do with a command line after its filter phase. */
export type CommandVerdict = { run: true; line: string } | { run: false; reply: Reply; close: boolean };

/** A filter's reply text ("550 5.7.1 go away") as one of ours. */
export function filterReply(text: string): Reply {
  const m = /^(\d{3})(?:[ -](\d\.\d{1,3}\.\d{1,3})(?= |$))?[ -]?(.*)$/.exec(text);
  if (!m) return { code: 421, enhanced: '4.7.0', text: 'Internal server error' };
  return { code: Number(m[1]), enhanced: m[2] ?? '', text: m[3] || 'Refused' };
}

function srcText(s: Session): string {
  return s.info.socket ? 'local' : s.info.remoteAddress;
}

/** Open the filters of a session on a filtered listener; resolves with a refusal or null. */
export async function filterConnect(s: Session): Promise<Reply | null> {
  const engine = s.env.filters;
  const name = s.profile.listener.filter;
  if (!engine || name === undefined) return null;
  const fs = new FilterSession(engine, name, srcText(s));
  s.filters = fs;
  const down = fs.unavailable();
  if (down) {
    s.env.log.warn('filter unavailable', { session: s.info.id, filter: down.spec.name });
    return refusal(s, { kind: 'reply', reply: FILTER_TEMPFAIL, disconnect: true });
  }
  try {
    const dns = await s.env.lka().clientDns(srcText(s));
    fs.facts.rdns = dns.rdns;
    fs.facts.fcrdns = dns.fcrdns;
    if (dns.rdns !== null) s.info.rdns = dns.rdns;
  } catch (e) {
    s.env.log.warn('client dns failed', { session: s.info.id, error: errorInfo(e).message });
  }
  if (s.closed) return null;
  const src = s.info.socket ? 'unix:/var/run/smtpd.sock' : `${s.info.remoteAddress}:${s.remotePort}`;
  const dest = s.info.socket ? src : `${s.info.localAddress}:${s.localPort}`;
  fs.report('link-connect', [fs.facts.rdns ?? '<unknown>', fs.facts.fcrdns, src, dest]);
  const out = await fs.phase('connect', srcText(s), fs.facts.rdns ?? '<unknown>');
  return out.kind === 'reply' ? refusal(s, out) : null;
}

function refusal(s: Session, out: Extract<PhaseOutcome, { kind: 'reply' }>): Reply {
  if (out.disconnect) s.closeAfterReply = true;
  s.env.log.info('filter refused', { session: s.info.id, reply: out.reply });
  return filterReply(out.reply);
}

/** Auth exchange lines and AUTH arguments are secrets: reported masked. */
function reportedCommand(line: string, continuation: boolean): string {
  if (continuation) return '***';
  const m = /^(AUTH\s+\S+)\s/i.exec(line);
  return m ? `${m[1]} ***` : line;
}

/** Commands with a filter phase of their own (MAIL and RCPT run theirs in our handlers). */
const PHASED: Record<string, ProtoPhase> = {
  HELO: 'helo', EHLO: 'ehlo', STARTTLS: 'starttls', AUTH: 'auth', DATA: 'data',
  RSET: 'rset', QUIT: 'quit', NOOP: 'noop', HELP: 'help', WIZ: 'wiz',
};

/** Before smtp-server handles a command: protocol-client, and the command's phase if it has one. */
export function beforeCommand(s: Session, line: string, continuation: boolean): Promise<CommandVerdict> | null {
  const fs = s.filters;
  if (!fs) return null;
  fs.report('protocol-client', [reportedCommand(line, continuation)]);
  if (continuation) return null;
  const words = line.trim().split(/\s+/);
  const verb = (words[0] ?? '').toUpperCase();
  const phase = PHASED[verb];
  if (phase === undefined) return null;
  if ((phase === 'helo' || phase === 'ehlo') && words.length !== 2) return null; // the handler's 501
  const param = phase === 'helo' || phase === 'ehlo' ? (words[1] as string) : phase === 'auth' ? words.slice(1).join(' ') : '';
  // As OpenSMTPD's filter_protocol: the HELO name is a fact before its own phase is matched.
  if (phase === 'helo' || phase === 'ehlo') fs.facts.helo = param;
  if (fs.hooked(phase).length === 0) {
    if (phase === 'helo' || phase === 'ehlo') identify(s, verb, param);
    return null;
  }
  return fs.phase(phase, param).then((out): CommandVerdict => {
    if (out.kind === 'reply') {
      const reply = refusal(s, out);
      return { run: false, reply, close: out.disconnect };
    }
    if (phase === 'helo' || phase === 'ehlo') identify(s, verb, out.param);
    return { run: true, line: out.rewritten && param !== '' ? `${verb} ${out.param}` : line };
  });
}

function identify(s: Session, verb: string, helo: string): void {
  const fs = s.filters;
  if (!fs) return;
  fs.facts.helo = helo;
  fs.report('link-identify', [verb.toLowerCase() === 'ehlo' ? 'EHLO' : 'HELO', helo]);
}

/** MAIL FROM through the mail-from phase, then our own checks (`next`), then tx-begin/tx-mail. */
export async function filteredMail(s: Session, addr: SMTPServerAddress, next: () => Promise<Verdict>): Promise<Verdict> {
  const fs = s.filters;
  if (!fs) return next();
  fs.txJunk = false;
  const v = await addressPhase(s, 'mail-from', addr);
  if (v) return v;
  const verdict = await next();
  const msgid = s.tx?.msgid ?? '00000000';
  if (!verdict) fs.report('tx-begin', [msgid]);
  fs.report('tx-mail', [msgid, result(verdict), addr.address]);
  return verdict;
}

export async function filteredRcpt(s: Session, addr: SMTPServerAddress, next: () => Promise<Verdict>): Promise<Verdict> {
  const fs = s.filters;
  if (!fs) return next();
  const v = await addressPhase(s, 'rcpt-to', addr);
  if (v) return v;
  const verdict = await next();
  const msgid = s.tx?.msgid ?? '00000000';
  fs.report('tx-rcpt', [msgid, result(verdict), addr.address]);
  if (!verdict) for (const evpid of s.tx?.rcpts.get(addr.address.toLowerCase())?.evpids ?? []) fs.report('tx-envelope', [msgid, evpid]);
  return verdict;
}

async function addressPhase(s: Session, phase: 'mail-from' | 'rcpt-to', addr: SMTPServerAddress): Promise<Verdict> {
  const fs = s.filters as FilterSession;
  if (phase === 'rcpt-to') fs.facts.rcptTo = addr.address;
  else fs.facts.mailFrom = addr.address;
  if (fs.hooked(phase).length === 0) return null;
  const out = await fs.phase(phase, addr.address);
  if (out.kind === 'reply') return refusal(s, out);
  if (out.rewritten) {
    // OpenSMTPD checks a rewritten address like the client's own: ours is checked by next().
    const a = out.param.trim().replace(/^<(.*)>$/, '$1');
    addr.address = a;
    if (phase === 'rcpt-to') fs.facts.rcptTo = a;
    else fs.facts.mailFrom = a;
  }
  return s.closed ? Replies.tempFailure : null;
}

function result(v: Verdict): 'ok' | 'permfail' | 'tempfail' {
  return v === null ? 'ok' : v.code >= 500 ? 'permfail' : 'tempfail';
}

/** The commit phase, after the body is stored and before the queue commit. */
export async function filterCommit(s: Session): Promise<Reply | null> {
  const fs = s.filters;
  if (!fs || fs.hooked('commit').length === 0) return null;
  const out = await fs.phase('commit', '');
  return out.kind === 'reply' ? refusal(s, out) : null;
}

export { FILTER_TEMPFAIL };
