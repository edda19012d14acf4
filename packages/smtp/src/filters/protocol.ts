// The filter line protocol 0.7 (smtpd-filters(7), REFERENCE 10): what smtpd writes to a filter
// (config handshake, report and filter lines) and how a filter's lines are parsed and checked.
// Fields are `|`-separated and only the last may hold a `|`; no field we write may hold a CR,
// LF or NUL (they would end or split the line), so every untrusted value passes `field()`.
// OpenSMTPD escapes nothing; we replace control characters instead of passing them through.

export const PROTOCOL_VERSION = '0.7';
export const SMTPD_VERSION = '7.6.0';
export const SESSION_TIMEOUT_S = 300;
/** Longest line accepted from a filter (a data line may be long; anything beyond is a fault). */
export const MAX_FILTER_LINE = 1024 * 1024;

export const FILTER_PHASES = [
  'connect', 'helo', 'ehlo', 'starttls', 'auth', 'mail-from', 'rcpt-to', 'data', 'data-line', 'commit',
  'rset', 'quit', 'noop', 'help', 'wiz',
] as const;
export type ProtoPhase = (typeof FILTER_PHASES)[number];

export const REPORT_EVENTS = [
  'link-connect', 'link-disconnect', 'link-greeting', 'link-identify', 'link-tls', 'link-auth',
  'tx-reset', 'tx-begin', 'tx-mail', 'tx-rcpt', 'tx-envelope', 'tx-data', 'tx-commit', 'tx-rollback',
  'protocol-client', 'protocol-server', 'filter-report', 'filter-response', 'timeout',
] as const;
export type ReportEvent = (typeof REPORT_EVENTS)[number];

/** Control characters (and DEL) in a protocol field become '?': no CR/LF/NUL ever reaches a filter. */
export function field(v: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x1f\x7f]/.test(v) ? v.replace(/[\x00-\x1f\x7f]/g, '?') : v;
}

/** A data line for a filter: bare CR and NUL removed (a reader splitting on CR would see a new line). */
export function dataField(v: string): string {
  return v.includes('\r') || v.includes('\0') ? v.replace(/[\r\0]/g, '') : v;
}

/** `<sec>.<usec>` as the protocol writes time. */
export function timestamp(now = Date.now()): string {
  const sec = Math.floor(now / 1000);
  const usec = (now % 1000) * 1000;
  return `${sec}.${usec.toString().padStart(6, '0')}`;
}

export function configLines(subsystem: string, admd: string): string[] {
  return [
    `config|smtpd-version|${SMTPD_VERSION}`,
    `config|protocol|${PROTOCOL_VERSION}`,
    `config|smtp-session-timeout|${SESSION_TIMEOUT_S}`,
    `config|subsystem|${subsystem}`,
    `config|admd|${field(admd)}`,
    'config|ready',
  ];
}

/** `report|0.7|time|smtp-in|event|sid[|params...]` (params already joined, last may hold `|`). */
export function reportLine(event: ReportEvent, sid: string, params: readonly string[]): string {
  const p = params.map(field);
  return `report|${PROTOCOL_VERSION}|${timestamp()}|smtp-in|${event}|${sid}${p.length ? '|' + p.join('|') : ''}`;
}

export function filterLine(phase: ProtoPhase, sid: string, token: string, params: readonly string[]): string {
  const p = phase === 'data-line' ? params.map(dataField) : params.map(field);
  return `filter|${PROTOCOL_VERSION}|${timestamp()}|smtp-in|${phase}|${sid}|${token}|${p.join('|')}`;
}

/** A 16-hex-digit id (session ids and tokens are parsed as hex uint64 by libopensmtpd). */
export function hexId(): string {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  if (b[0] === 0) b[0] = 1;
  return Buffer.from(b).toString('hex');
}

export type FilterResult =
  | { kind: 'proceed' }
  | { kind: 'junk' }
  | { kind: 'reject' | 'disconnect'; reply: string }
  | { kind: 'rewrite' | 'report'; param: string };

export type ProcLine =
  | { kind: 'register'; what: 'ready' }
  | { kind: 'register'; what: 'filter'; phase: ProtoPhase }
  | { kind: 'register'; what: 'report'; event: ReportEvent | '*' }
  | { kind: 'register'; what: 'smtp-out' }
  | { kind: 'result'; sid: string; token: string; result: FilterResult }
  | { kind: 'dataline'; sid: string; token: string; line: string }
  | { kind: 'report'; sid: string; text: string }
  | { kind: 'bad'; why: string };

const HEX = /^[0-9a-f]{1,16}$/i;

/** Parse one line a filter wrote; anything malformed is `bad` (the filter is then restarted). */
export function parseProcLine(line: string): ProcLine {
  const f = line.split('|');
  switch (f[0]) {
    case 'register':
      return parseRegister(f, line);
    case 'filter-result':
    case 'filter-dataline': {
      const [, sid, token] = f;
      if (sid === undefined || token === undefined || !HEX.test(sid) || !HEX.test(token) || f.length < 4) return { kind: 'bad', why: `malformed: ${line.slice(0, 200)}` };
      const rest = f.slice(3).join('|');
      const id = { sid: sid.toLowerCase().padStart(16, '0'), token: token.toLowerCase().padStart(16, '0') };
      if (f[0] === 'filter-dataline') return { kind: 'dataline', ...id, line: rest };
      const result = parseResult(f.slice(3));
      return result ? { kind: 'result', ...id, result } : { kind: 'bad', why: `invalid filter-result: ${line.slice(0, 200)}` };
    }
    case 'report': {
      // report|<time>|smtp-in|<sid>|<text> (the filter's own filter-report)
      if (f.length < 5 || f[2] !== 'smtp-in' || !HEX.test(f[3] ?? '')) return { kind: 'bad', why: `malformed report: ${line.slice(0, 200)}` };
      return { kind: 'report', sid: (f[3] as string).toLowerCase().padStart(16, '0'), text: f.slice(4).join('|') };
    }
    default:
      return { kind: 'bad', why: `invalid filter message type: ${line.slice(0, 200)}` };
  }
}

function parseRegister(f: string[], line: string): ProcLine {
  if (f[1] === 'ready' && f.length === 2) return { kind: 'register', what: 'ready' };
  if ((f[1] === 'filter' || f[1] === 'report') && f[2] === 'smtp-in' && f.length === 4) {
    const name = f[3] as string;
    if (f[1] === 'filter' && (FILTER_PHASES as readonly string[]).includes(name)) return { kind: 'register', what: 'filter', phase: name as ProtoPhase };
    if (f[1] === 'report' && (name === '*' || (REPORT_EVENTS as readonly string[]).includes(name))) return { kind: 'register', what: 'report', event: name as ReportEvent | '*' };
  }
  // smtp-out registrations concern relaying filters, which tsmtpd does not run: accepted, unused.
  if ((f[1] === 'filter' || f[1] === 'report') && f[2] === 'smtp-out' && f.length === 4) return { kind: 'register', what: 'smtp-out' };
  return { kind: 'bad', why: `invalid register line: ${line.slice(0, 200)}` };
}

function parseResult(f: string[]): FilterResult | null {
  const [verb, ...rest] = f;
  const param = rest.join('|');
  switch (verb) {
    case 'proceed':
      return rest.length === 0 ? { kind: 'proceed' } : null;
    case 'junk':
      return rest.length === 0 ? { kind: 'junk' } : null;
    case 'reject':
    case 'disconnect':
      return rest.length ? { kind: verb, reply: param } : null;
    case 'rewrite':
    case 'report':
      return rest.length ? { kind: verb, param } : null;
    default:
      return null;
  }
}

/** OpenSMTPD's valid_smtp_response, limited to 4xx/5xx: anything else becomes 421. */
export function validRejectReply(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /^[45][0-9][0-9]([ -].*)?$/.test(text) && !/[\x00-\x1f\x7f]/.test(text) && text.length <= 512;
}
