// The reply bridge: every line smtp-server writes passes through `bridgeReply`, so the
// enhanced status code on the wire is always ours (proto's `Replies`), never the library's
// guess from the basic code (STACK.md 5, pitfall 1). Our own replies travel through the
// library as tagged text (`replyText`); the library's fixed replies are mapped by pattern.
import { Replies, replyWith, type Reply, type ReplyName } from '@tsmtpd/proto';

/**
 * Marks text built from one of our replies. A private-use character never sent by a
 * client nor by the library; it is removed before the line is written.
 */
const MARK = '\u{E000}';

/** Replies proto's table lacks; kept here until they move there (see the package report). */
export const LocalReplies = {
  help: { code: 214, enhanced: '2.0.0', text: 'This is tsmtpd, see RFC 5321' },
  tooManyErrors: { code: 421, enhanced: '4.7.0', text: 'Too many errors, closing connection' },
  httpRefused: { code: 421, enhanced: '4.7.0', text: 'HTTP requests not allowed' },
  earlyTalker: { code: 421, enhanced: '4.7.0', text: 'You talk too soon' },
  lineTimeout: { code: 421, enhanced: '4.4.2', text: 'Line timeout: a line took too long to arrive, closing connection' },
  dataLineTooLong: { code: 554, enhanced: '5.6.0', text: 'Message refused: a line is longer than 65535 octets' },
  headerTooBig: { code: 552, enhanced: '5.3.4', text: 'Message header section too big' },
  // TLS and AUTH (RFC 3207, RFC 4954; texts as OpenSMTPD's where it has one)
  needStarttls: { code: 530, enhanced: '5.5.1', text: 'Invalid command: Must issue a STARTTLS command first' },
  needAuth: { code: 530, enhanced: '5.5.1', text: 'Invalid command: Must issue an AUTH command first' },
  authNeedsTls: { code: 530, enhanced: '5.7.0', text: 'Must issue a STARTTLS command first' },
  authOk: { code: 235, enhanced: '2.0.0', text: 'Authentication succeeded' },
  authFailed: { code: 535, enhanced: '5.7.8', text: 'Authentication failed' },
  authTooMany: { code: 421, enhanced: '4.7.0', text: 'Too many authentication failures, closing connection' },
  authTemp: { code: 454, enhanced: '4.7.0', text: 'Temporary authentication failure' },
  authSyntax: { code: 501, enhanced: '5.5.2', text: 'Syntax error' },
  authMechanism: { code: 504, enhanced: '5.5.4', text: 'Unrecognized authentication type' },
  alreadyAuth: { code: 503, enhanced: '5.5.1', text: 'Invalid command: Already authenticated' },
  senderRejected: { code: 530, enhanced: '5.7.1', text: 'Sender rejected' },
  tlsActive: { code: 503, enhanced: '5.5.1', text: 'Invalid command: Channel already secured' },
} as const satisfies Record<string, Reply>;

/** The text smtp-server carries after the basic code; `bridgeReply` turns it back into `reply`. */
export function replyText(reply: Reply): string {
  return `${MARK}${reply.enhanced}${MARK}${reply.text}`;
}

/** An error for a smtp-server callback that makes it answer exactly `reply`. */
export function replyError(reply: Reply): Error & { responseCode: number } {
  return Object.assign(new Error(replyText(reply)), { responseCode: reply.code });
}

/** What the bridge knows about the session when a reply is written. */
export interface BridgeSession {
  /** Our name for the listener. */
  name: string;
  /** HELO/EHLO argument. */
  helo: string;
  /** Client address as shown in the EHLO greeting ('local' for the socket). */
  remote: string;
  /** A MAIL FROM was accepted and the transaction is open. */
  transaction: boolean;
  /** EHLO may list AUTH: the listener has auth, the session is under TLS and not authenticated. */
  offerAuth: boolean;
}

/** A reply as written: code, then one or more texts (each already carrying the enhanced code). */
export interface WireReply {
  code: number;
  lines: string[];
}

/** The library's replies, recognised by code, context and text, and what we answer instead. */
const LIBRARY_MAP: { code: number; context?: string; text?: RegExp; transaction?: boolean; reply: ReplyName | keyof typeof LocalReplies; keepText?: boolean }[] = [
  { code: 250, context: 'MAIL_FROM_OK', reply: 'senderOk' },
  { code: 250, context: 'RCPT_TO_OK', reply: 'rcptOk' },
  { code: 250, text: /^OK$/, reply: 'noop' },
  { code: 250, text: /^Flushed$/, reply: 'reset' },
  { code: 221, reply: 'bye' },
  { code: 354, reply: 'dataStart' },
  { code: 214, reply: 'help' },
  { code: 421, text: /^Timeout/, reply: 'timeout' },
  { code: 421, text: /shutting down/, reply: 'shuttingDown' },
  { code: 421, text: /talk too soon/, reply: 'earlyTalker' },
  { code: 421, text: /HTTP requests/, reply: 'httpRefused' },
  { code: 421, text: /too many/i, reply: 'tooManyErrors' },
  { code: 421, text: /line too long/i, reply: 'lineTooLong' },
  { code: 500, text: /not recognized/, reply: 'unknownCommand' },
  { code: 503, text: /HELO\/EHLO first/, reply: 'needHelo' },
  { code: 503, text: /identity changes/, reply: 'alreadyAuth' },
  { code: 503, text: /TLS already active/, reply: 'tlsActive' },
  { code: 538, reply: 'authNeedsTls' },
  { code: 235, reply: 'authOk' },
  { code: 504, reply: 'authMechanism' },
  { code: 503, text: /need RCPT/, transaction: true, reply: 'noRecipients' },
  { code: 503, reply: 'badSequence' },
  { code: 501, text: /Bad sender address/, reply: 'senderSyntax' },
  { code: 501, text: /Bad recipient address/, reply: 'rcptSyntax' },
  { code: 501, reply: 'syntaxParam', keepText: true },
  { code: 530, text: /REQUIRETLS/, reply: 'unsupportedParam', keepText: true },
  { code: 552, context: 'MESSAGE_TOO_BIG', reply: 'sizeTooBigAtMail' },
  { code: 452, reply: 'tooManyRcpt' },
  { code: 451, reply: 'tempFailure' },
];

function table(name: ReplyName | keyof typeof LocalReplies): Reply {
  return name in LocalReplies ? LocalReplies[name as keyof typeof LocalReplies] : Replies[name as ReplyName];
}

function withEnhanced(r: Reply): string {
  return r.enhanced ? `${r.enhanced} ${r.text}` : r.text;
}

/** The library's wording without its "Error: " prefix, for the few replies that keep it. */
function cleanText(text: string): string {
  return text.replace(/^Error:\s*/i, '');
}

/** First line of the HELO/EHLO answer, as OpenSMTPD words it (REFERENCE 7.1). */
function heloLine(s: BridgeSession): string {
  return `${s.name} Hello ${s.helo} [${s.remote}], pleased to meet you`;
}

/**
 * Translate one reply smtp-server is about to write. `context` is the library's own
 * argument: `false` for replies that carry no enhanced code (greeting, HELO/EHLO).
 */
export function bridgeReply(code: number, data: string | string[] | null | undefined, context: string | false | undefined, s: BridgeSession): WireReply {
  if (Array.isArray(data)) {
    // Only EHLO answers with several lines: our greeting line, then the extensions.
    const ext = data.slice(1).filter((l) => s.offerAuth || !/^AUTH\b/i.test(l));
    return { code, lines: [heloLine(s), ...ext] };
  }
  const text = data ?? '';
  if (text.startsWith(MARK)) {
    const [, enhanced = '', rest = ''] = text.split(MARK);
    return { code, lines: [enhanced ? `${enhanced} ${rest}` : rest] };
  }
  if (context === false) {
    if (code === 250) return { code, lines: [heloLine(s)] };
    if (code === 220) return { code, lines: [text] };
    if (code === 501) return { code: Replies.syntaxParam.code, lines: [withEnhanced(Replies.syntaxParam)] };
  }
  for (const m of LIBRARY_MAP) {
    if (m.code !== code) continue;
    if (m.context !== undefined && m.context !== context) continue;
    if (m.text && !m.text.test(text)) continue;
    if (m.transaction !== undefined && m.transaction !== s.transaction) continue;
    const r = table(m.reply);
    const out = m.keepText && text ? { ...r, text: cleanText(text) } : r;
    return { code: out.code, lines: [withEnhanced(out)] };
  }
  // Not one we know: keep the library's words, with the undefined-detail code of its class.
  const cls = Math.floor(code / 100);
  const enhanced = cls === 2 || cls === 4 || cls === 5 ? `${cls}.0.0 ` : '';
  return { code, lines: [enhanced + cleanText(text)] };
}

/** The reply accepting a message (REFERENCE 7.3). */
export function acceptedReply(msgid: string): Reply {
  return replyWith('ok', `${msgid} Message accepted for delivery`);
}
