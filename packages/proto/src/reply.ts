// The one table of SMTP replies: basic code + enhanced status code (RFC 3463) + text.
// Every reply the smtp actor sends is built here, so the enhanced code is always ours,
// never a library's guess from the basic code.

export interface Reply {
  code: number;
  /** e.g. "5.7.1"; empty for replies that carry none (greeting, 354). */
  enhanced: string;
  text: string;
}

function r(code: number, enhanced: string, text: string): Reply {
  return { code, enhanced, text };
}

export const Replies = {
  ok: r(250, '2.0.0', 'Ok'),
  senderOk: r(250, '2.1.0', 'Ok'),
  rcptOk: r(250, '2.1.5', 'Destination address valid: Recipient ok'),
  reset: r(250, '2.0.0', 'Reset state'),
  noop: r(250, '2.0.0', 'Ok'),
  dataStart: r(354, '', 'Enter mail, end with "." on a line by itself'),
  bye: r(221, '2.0.0', 'Bye'),

  badSequence: r(503, '5.5.1', 'Invalid command: Command not allowed at this point.'),
  needHelo: r(503, '5.5.1', 'Invalid command: Send HELO/EHLO first'),
  noRecipients: r(503, '5.5.1', 'Invalid command: No recipient specified'),
  syntaxParam: r(501, '5.5.4', 'Syntax error in parameters or arguments'),
  unsupportedParam: r(555, '5.5.4', 'Unsupported option'),
  lineTooLong: r(500, '5.5.2', 'Line too long'),
  unknownCommand: r(500, '5.5.1', 'Invalid command: Command unrecognized'),

  senderSyntax: r(553, '5.1.7', 'Sender address syntax error'),
  rcptSyntax: r(501, '5.1.3', 'Recipient address syntax error'),
  unknownUser: r(550, '5.1.1', 'Invalid recipient: user unknown'),
  relayDenied: r(550, '5.7.1', 'Relaying denied'),
  rejected: r(550, '5.7.1', 'Delivery not authorized, recipient refused'),
  expansionFailed: r(524, '5.2.4', 'Mailing list expansion problem'),
  expansionTemp: r(451, '4.2.4', 'Temporary mailing list expansion problem'),
  notCapable: r(550, '5.3.3', 'Delivery target not supported by this server yet'),

  tooManyRcpt: r(452, '4.5.3', 'Too many recipients'),
  tooManyMails: r(452, '4.5.3', 'Too many messages sent in this session'),
  sizeTooBigAtMail: r(552, '5.3.4', 'Message size exceeds fixed maximum message size'),
  sizeTooBig: r(552, '5.3.4', 'Message too big for system'),
  loop: r(554, '5.4.6', 'Routing loop detected: Loop detected'),
  badHeaders: r(550, '5.6.0', 'Message is not RFC 5322 compliant'),

  tempFailure: r(451, '4.3.0', 'Temporary failure'),
  tempLookup: r(451, '4.3.0', 'Temporary lookup failure'),
  queueFailure: r(421, '4.3.0', 'Temporary Error'),
  /** The spool's file system is (nearly) full (RFC 5321 452, RFC 3463 X.3.1 mail system full). */
  storageFull: r(452, '4.3.1', 'Insufficient system storage'),
  shuttingDown: r(421, '4.3.2', 'Service shutting down'),
  paused: r(421, '4.3.2', 'Service temporarily unavailable'),
  timeout: r(421, '4.4.2', 'Timeout'),
  tooBusy: r(421, '4.7.0', 'Too many connections'),
} as const satisfies Record<string, Reply>;

export type ReplyName = keyof typeof Replies;

/** A reply from the table with its text replaced or extended (e.g. with the address). */
export function replyWith(name: ReplyName, text?: string): Reply {
  const base = Replies[name];
  return text === undefined ? { ...base } : { ...base, text };
}

/** The wire form of a single-line reply, without CRLF: "550 5.7.1 Relaying denied". */
export function formatReply(reply: Reply): string {
  return reply.enhanced ? `${reply.code} ${reply.enhanced} ${reply.text}` : `${reply.code} ${reply.text}`;
}

export function isTempReply(reply: Reply): boolean {
  return reply.code >= 400 && reply.code < 500;
}
