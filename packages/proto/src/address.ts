// The one address validator (REFERENCE 14: CVE-2020-7247 came from a second, laxer path).
// Every address that enters the house — SMTP MAIL/RCPT, sendmail arguments, alias and
// virtual expansions, table values — passes parseAddress before it is stored or used.
// RFC 5321 4.1.2 (Mailbox syntax), 4.5.3.1 (size limits); RFC 6531 for UTF-8.

export interface MailAddress {
  /** Local part exactly as given (case preserved, RFC 5321 2.4), quotes removed if redundant. */
  local: string;
  /** Domain in lowercase; '' only for an unqualified address when allowed. */
  domain: string;
}

export interface AddressOptions {
  /** Accept UTF-8 in local part and domain (the session negotiated SMTPUTF8). */
  utf8?: boolean;
  /** Accept an address without '@domain' (local submissions, alias values). */
  allowUnqualified?: boolean;
}

export type AddressError = 'empty' | 'too-long' | 'bad-local' | 'bad-domain' | 'control-char';

const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+$/;
const ATEXT_UTF8 = /^(?:[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]|[^\x00-\x7f])+$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const LABEL_UTF8 = /^(?:[a-z0-9]|[^\x00-\x7f])(?:(?:[a-z0-9-]|[^\x00-\x7f]){0,61}(?:[a-z0-9]|[^\x00-\x7f]))?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_CHARS = /^[0-9a-fA-F:.]+$/;

function validDotString(s: string, utf8: boolean): boolean {
  if (s === '') return false;
  const re = utf8 ? ATEXT_UTF8 : ATEXT;
  return s.split('.').every((atom) => re.test(atom));
}

/** RFC 5321 Quoted-string contents: qtextSMTP or quoted-pairSMTP (printable ASCII). */
function unquoteLocal(s: string, utf8: boolean): string | null {
  let out = '';
  for (let i = 1; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) {
      const n = s.charCodeAt(i + 1);
      if (i + 1 >= s.length - 1 || n < 0x20 || n > 0x7e) return null;
      out += s[i + 1];
      i++;
    } else if (c === 0x22) {
      return null;
    } else if ((c >= 0x20 && c <= 0x7e) || (utf8 && c > 0x7f)) {
      out += s[i];
    } else {
      return null;
    }
  }
  return out;
}

function validDomain(d: string, utf8: boolean): boolean {
  if (d.startsWith('[') && d.endsWith(']')) {
    const lit = d.slice(1, -1);
    if (IPV4.test(lit)) return true;
    if (lit.toLowerCase().startsWith('ipv6:')) return IPV6_CHARS.test(lit.slice(5)) && lit.includes(':', 5);
    return false;
  }
  if (d.length === 0 || d.length > 255) return false;
  const labels = d.endsWith('.') ? d.slice(0, -1).split('.') : d.split('.');
  const re = utf8 ? LABEL_UTF8 : LABEL;
  return labels.every((l) => re.test(l));
}

/**
 * Parse and validate a mailbox ("local@domain", no angle brackets).
 * Returns the parts, or the reason it is invalid. The empty reverse-path "<>" is not a
 * mailbox: callers handle it before calling this.
 */
export function parseAddress(input: string, opts: AddressOptions = {}): { ok: true; address: MailAddress } | { ok: false; error: AddressError } {
  const utf8 = opts.utf8 === true;
  if (input === '') return { ok: false, error: 'empty' };
  if (/[\x00-\x1f\x7f]/.test(input)) return { ok: false, error: 'control-char' };
  if (!utf8 && /[^\x00-\x7f]/.test(input)) return { ok: false, error: 'bad-local' };
  const at = input.lastIndexOf('@');
  let localRaw: string;
  let domain: string;
  if (at < 0) {
    if (!opts.allowUnqualified) return { ok: false, error: 'bad-domain' };
    localRaw = input;
    domain = '';
  } else {
    localRaw = input.slice(0, at);
    domain = input.slice(at + 1).toLowerCase();
    if (!validDomain(domain, utf8)) return { ok: false, error: 'bad-domain' };
    if (domain.endsWith('.') && !domain.startsWith('[')) domain = domain.slice(0, -1);
  }
  let local: string;
  if (localRaw.length >= 2 && localRaw.startsWith('"') && localRaw.endsWith('"')) {
    const unq = unquoteLocal(localRaw, utf8);
    if (unq === null || unq === '') return { ok: false, error: 'bad-local' };
    local = unq;
  } else {
    if (!validDotString(localRaw, utf8)) return { ok: false, error: 'bad-local' };
    local = localRaw;
  }
  if (Buffer.byteLength(localRaw) > 64) return { ok: false, error: 'too-long' };
  if (Buffer.byteLength(input) > 254) return { ok: false, error: 'too-long' };
  return { ok: true, address: { local, domain } };
}

/** The canonical text form: quotes the local part when it is not a valid dot-string. */
export function formatAddress(a: MailAddress): string {
  const local = validDotString(a.local, true) ? a.local : `"${a.local.replace(/(["\\])/g, '\\$1')}"`;
  return a.domain ? `${local}@${a.domain}` : local;
}

/** Validate then return the canonical form, or null when invalid. */
export function normalizeAddress(input: string, opts: AddressOptions = {}): string | null {
  const r = parseAddress(input, opts);
  return r.ok ? formatAddress(r.address) : null;
}
