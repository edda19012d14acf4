// The trace header we prepend to every message (REFERENCE 7.4), and the RFC 5322 date and
// Message-ID we add to local submissions that lack them. Pure functions, LF line ends.
import { isIPv6 } from 'node:net';
import { newSessionId } from '@tsmtpd/proto';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * RFC 5322 3.3 date in local time: "Tue, 26 Mar 2026 18:38:28 +0000". With `comment`,
 * " (UTC)" follows when the offset is zero, as OpenSMTPD's Received lines show.
 */
export function rfc5322Date(d: Date, comment = false): string {
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const zone = `${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`;
  const day = DAYS[d.getDay()] ?? 'Sun';
  const month = MONTHS[d.getMonth()] ?? 'Jan';
  const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  const base = `${day}, ${d.getDate()} ${month} ${d.getFullYear()} ${time} ${zone}`;
  return comment && off === 0 ? `${base} (UTC)` : base;
}

/** A fresh Message-ID value: "<16 hex digits@host>". */
export function newMessageId(host: string): string {
  return `<${newSessionId()}@${host}>`;
}

/** What the Received header says about the session and the message. */
export interface ReceivedInfo {
  /** HELO/EHLO argument. */
  helo: string;
  /** Client reverse DNS name, null when unknown. */
  rdns: string | null;
  /** Client IP, or 'local' for the enqueue socket. */
  remote: string;
  /** On the enqueue socket: the submitting user, as the kernel tells it. */
  localUser?: { name: string | null; uid: number };
  /** Listener option mask-src: omit the from clause. */
  maskSrc: boolean;
  /** Our name. */
  name: string;
  /** The session began with EHLO. */
  esmtp: boolean;
  msgid: string;
  /** The recipient, only when the message has exactly one. */
  rcpt: string | null;
  date: Date;
  /** The session's TLS, null in clear. */
  tls: { version: string; cipher: string; bits: number; verified: boolean } | null;
  /** Authenticated user, null when none. */
  authUser: string | null;
  /** Listener option received-auth: say who authenticated (TLS sessions only, as OpenSMTPD). */
  receivedAuth: boolean;
}

/** Address literal as in a Received line: "[192.0.2.1]", "[IPv6:2001:db8::1]", "[local]". */
function addressLiteral(remote: string): string {
  return isIPv6(remote) ? `[IPv6:${remote}]` : `[${remote}]`;
}

/** A user name as header text: printable ASCII only (it came from a client), others as "?". */
function headerSafe(s: string): string {
  return s.replace(/[^\x21-\x7e]/g, '?');
}

/** The Received header, folded one clause a line with tab continuations, ending in LF. */
export function receivedHeader(i: ReceivedInfo): string {
  const lines: string[] = [];
  const host = i.remote === 'local' ? 'localhost' : (i.rdns ?? 'unknown');
  const proto = `${i.esmtp ? 'ESMTP' : 'SMTP'}${i.tls ? 'S' : ''}${i.authUser !== null ? 'A' : ''}`;
  let by = `by ${i.name} (tsmtpd) with ${proto} id ${i.msgid}`;
  if (i.tls) {
    // OpenSMTPD's tuple: version:cipher:bits:client-certificate-verified.
    by += ` (${i.tls.version}:${i.tls.cipher}:${i.tls.bits}:${i.tls.verified ? 'YES' : 'NO'})`;
    if (i.receivedAuth) by += i.authUser !== null ? ` auth=yes user=${headerSafe(i.authUser)}` : ' auth=no';
  }
  if (i.maskSrc) {
    lines.push(`Received: ${by}`);
  } else {
    const who = i.localUser ? `; from local user ${i.localUser.name ?? '#'}${i.localUser.name === null ? i.localUser.uid : ` uid ${i.localUser.uid}`}` : '';
    lines.push(`Received: from ${i.helo} (${host} ${addressLiteral(i.remote)}${who})`, `\t${by}`);
  }
  if (i.rcpt !== null) lines.push(`\tfor <${i.rcpt}>;`);
  else lines[lines.length - 1] += ';';
  lines.push(`\t${rfc5322Date(i.date, true)}`);
  return lines.join('\n') + '\n';
}
