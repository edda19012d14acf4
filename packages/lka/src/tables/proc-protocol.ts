// The text of the table protocol 0.1 (smtpd-tables(7), REFERENCE 11): the handshake lines we
// send, the request lines, and a strict parser for the program's answers. Every field we send is
// checked for CR, LF and NUL first (OpenSMTPD 7.8.0p1's fix: a key with a newline would inject a
// second request); an answer that does not parse is a protocol error, never a guess.

export const TABLE_PROTOCOL = '0.1';
/** Longest answer line accepted from a table program. */
export const MAX_ANSWER_LINE = 64 * 1024;

export type RequestKind = 'lookup' | 'check' | 'fetch' | 'update';

/** Services a table program may register (and we may ask for). */
export const TABLE_SERVICES = ['alias', 'domain', 'credentials', 'netaddr', 'userinfo', 'source', 'mailaddr', 'addrname', 'mailaddrmap', 'relayhost'] as const;
export type TableProtocolService = (typeof TABLE_SERVICES)[number];

const UNSAFE = /[\r\n\0]/;

/** True when `s` may travel as a protocol field. */
export function safeField(s: string): boolean {
  return !UNSAFE.test(s);
}

/** The handshake: what tsmtpd says before `config|ready`. */
export function handshakeLines(tableName: string, version: string): string[] {
  return [`config|smtpd-version|${version}`, `config|protocol|${TABLE_PROTOCOL}`, `config|tablename|${tableName}`, 'config|ready'];
}

/** One request line (without the newline); null when a field is unsafe. */
export function requestLine(o: { table: string; kind: RequestKind; id: string; service?: string; key?: string; now: number }): string | null {
  const fields = ['table', TABLE_PROTOCOL, o.now.toFixed(6), o.table, o.kind];
  if (o.kind !== 'update') fields.push(o.service ?? '');
  fields.push(o.id);
  if (o.kind === 'lookup' || o.kind === 'check') fields.push(o.key ?? '');
  return fields.every(safeField) ? fields.join('|') : null;
}

export type Answer =
  | { kind: 'register'; service: string }
  | { kind: 'register-ready' }
  | { kind: 'result'; type: RequestKind; id: string; status: 'found' | 'not-found' | 'ok' | 'error'; value?: string };

/** Parses one answer line; null when it is not a line of the protocol. */
export function parseAnswer(line: string): Answer | null {
  if (line.length > MAX_ANSWER_LINE || line.includes('\0')) return null;
  if (line === 'register|ready') return { kind: 'register-ready' };
  if (line.startsWith('register|')) {
    const service = line.slice(9);
    return /^[a-z]+$/.test(service) ? { kind: 'register', service } : null;
  }
  const m = /^(lookup|check|fetch|update)-result\|([^|]{1,64})\|(found|not-found|ok|error)(?:\|(.*))?$/.exec(line);
  if (!m) return null;
  const type = m[1] as RequestKind;
  const status = m[3] as 'found' | 'not-found' | 'ok' | 'error';
  const value = m[4];
  if (type === 'update' && status !== 'ok' && status !== 'error') return null;
  if (type !== 'update' && status === 'ok') return null;
  if ((type === 'lookup' || type === 'fetch') && status === 'found' && value === undefined) return null;
  if (status === 'not-found' && value !== undefined) return null;
  return { kind: 'result', type, id: m[2] ?? '', status, ...(value !== undefined ? { value } : {}) };
}
