// Format specifiers of maildir paths and mda commands (REFERENCE 1.8): %{sender},
// %{rcpt.user}, %{dest.domain:lowercase}, %{user.username[0:2]}, ... Values that come from the
// envelope are sanitised: every character outside a small safe set becomes ':' (REFERENCE 14,
// CVE-2020-7247). Used by the runner (prepare) before a method is opened; pure functions.

export interface FormatVars {
  /** Reverse path, '' for <>. */
  sender: string;
  /** Recipient as given in RCPT TO. */
  rcpt: string;
  /** Final destination after expansion. */
  dest: string;
  username: string;
  directory: string;
  /** The expanded mda command, for `mda wrapper` strings only. */
  mda?: string;
  /** Sub-address delimiter for `:strip` (config smtp.subAddrDelim, '+'). */
  subAddrDelim: string;
}

/**
 * 'command': the result goes to /bin/sh, `:raw` is ignored (values are always sanitised).
 * 'path': the result names a directory; `:raw` keeps a value as is except '/' and NUL.
 */
export type FormatContext = 'command' | 'path';

export type FormatResult = { ok: true; value: string } | { ok: false; error: string };

/** Longest expansion accepted (OpenSMTPD expands into a PATH_MAX buffer). */
export const MAX_EXPANSION = 4096;

/**
 * The safe set: ASCII letters and digits, `.` `_` `+` `=` `@` `-`, and non-ASCII letters and
 * digits (UTF-8 addresses). Nothing here is special to /bin/sh or separates a path.
 */
const SAFE_CHAR = /^[A-Za-z0-9._+=@\-\p{L}\p{N}]$/u;

/**
 * Replace every character outside the safe set by ':'. A leading '-' is replaced too, so a
 * value can never be taken for an option by the command it is passed to.
 */
export function sanitize(value: string): string {
  let out = '';
  for (const ch of value) out += SAFE_CHAR.test(ch) ? ch : ':';
  return out.startsWith('-') ? ':' + out.slice(1) : out;
}

function splitAddress(addr: string): { user: string; domain: string } {
  const at = addr.lastIndexOf('@');
  return at < 0 ? { user: addr, domain: '' } : { user: addr.slice(0, at), domain: addr.slice(at + 1) };
}

/** Token name -> [value, comes from the envelope (so is sanitised)], or null if unknown. */
function tokenValue(name: string, v: FormatVars): [string, boolean] | null {
  const [base, part, extra] = name.split('.');
  if (extra !== undefined) return null;
  const addressPart = (a: string): [string, boolean] | null => {
    if (part === undefined) return [a, true];
    if (part === 'user') return [splitAddress(a).user, true];
    if (part === 'domain') return [splitAddress(a).domain, true];
    return null;
  };
  if (base === 'sender') return addressPart(v.sender);
  if (base === 'rcpt') return addressPart(v.rcpt);
  if (base === 'dest') return addressPart(v.dest);
  if (base === 'mbox' && part === 'from') return [v.sender === '' ? 'MAILER-DAEMON' : v.sender, true];
  if (base === 'user' && part === 'username') return [v.username, true];
  // A home directory comes from the system or the admin's userbase, and is a path.
  if (base === 'user' && part === 'directory') return [v.directory, false];
  if (base === 'mda' && part === undefined && v.mda !== undefined) return [v.mda, false];
  return null;
}

/** `[b]`, `[b:]`, `[b:e]`: offsets may be negative (from the end); the end is inclusive. */
function substring(s: string, begin: number, end: number | null): string | null {
  const n = s.length;
  if (n === 0) return '';
  let b = begin;
  let e = end ?? n - 1;
  if (b >= n) return null;
  if (e >= n) e = n - 1;
  if (b < 0) b += n;
  if (e < 0) e += n - 1;
  if (b < 0 || e < 0 || e < b) return null;
  return s.slice(b, e + 1);
}

function stripTag(s: string, delim: string): string {
  const { user, domain } = splitAddress(s);
  const i = user.indexOf(delim);
  if (i <= 0) return s;
  return s.includes('@') ? `${user.slice(0, i)}@${domain}` : user.slice(0, i);
}

const TOKEN = /^([a-z]+(?:\.[a-z]+)?)(?:\[(-?\d{1,4})(?:(:)(-?\d{1,4})?)?\])?(?::([a-z|]+))?$/;

function expandToken(body: string, vars: FormatVars, ctx: FormatContext): FormatResult {
  const m = TOKEN.exec(body);
  if (!m) return { ok: false, error: `bad format specifier %{${body}}` };
  const tv = tokenValue(m[1]!, vars);
  if (!tv) return { ok: false, error: `unknown format specifier %{${m[1]}}` };
  let [value, fromEnvelope] = tv;
  if (m[2] !== undefined) {
    const begin = Number(m[2]);
    const end = m[3] === undefined ? begin : m[4] === undefined ? null : Number(m[4]);
    const sub = substring(value, begin, end);
    if (sub === null) return { ok: false, error: `substring out of range in %{${body}}` };
    value = sub;
  }
  let raw = false;
  for (const mod of m[5]?.split('|') ?? []) {
    if (mod === 'lowercase') value = value.toLowerCase();
    else if (mod === 'uppercase') value = value.toUpperCase();
    else if (mod === 'strip') value = stripTag(value, vars.subAddrDelim);
    else if (mod === 'raw') raw = true;
    else return { ok: false, error: `unknown modifier ${mod} in %{${body}}` };
  }
  if (fromEnvelope) {
    if (ctx === 'command' || !raw) value = sanitize(value);
    else value = value.replace(/[/\0]/g, ':');
  }
  return { ok: true, value };
}

/** Expand every `%{...}` of a format string; `%%` is a literal '%'. */
export function expandFormat(format: string, vars: FormatVars, ctx: FormatContext): FormatResult {
  let out = '';
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf('%', i);
    if (pct < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, pct);
    const next = format[pct + 1];
    if (next === '%') {
      out += '%';
      i = pct + 2;
    } else if (next === '{') {
      const close = format.indexOf('}', pct + 2);
      if (close < 0) return { ok: false, error: 'unterminated format specifier' };
      const r = expandToken(format.slice(pct + 2, close), vars, ctx);
      if (!r.ok) return r;
      out += r.value;
      i = close + 1;
    } else {
      out += '%';
      i = pct + 1;
    }
    if (out.length > MAX_EXPANSION) return { ok: false, error: 'expansion too long' };
  }
  if (out.length > MAX_EXPANSION) return { ok: false, error: 'expansion too long' };
  return { ok: true, value: out };
}
