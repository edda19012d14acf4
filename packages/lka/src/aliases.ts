// Alias and virtual values (aliases(5), REFERENCE 8.3): a comma-separated list whose entries
// are a user name, a mail address, `/file`, `|command`, `:include:/path`, or
// `error:CODE text`. Every address goes through proto's parseAddress; file, command and include
// targets are checked for the bytes that could change their meaning (CR, LF, NUL).
import { parseAddress, type MailAddress } from '@tsmtpd/proto';

export type AliasTarget =
  | { kind: 'address'; address: MailAddress }
  | { kind: 'user'; user: string }
  | { kind: 'error'; code: number; enhanced: string; text: string }
  | { kind: 'file'; path: string }
  | { kind: 'command'; command: string }
  | { kind: 'include'; path: string };

const UNSAFE = /[\r\n\0]/;

export type AliasParse = { ok: true; targets: AliasTarget[] } | { ok: false; error: string };

/**
 * Splits a value at commas outside double or single quotes; a backslash escapes the next
 * character. Null when a quote or an escape is left open.
 */
export function splitAliasValue(value: string): string[] | null {
  const out: string[] = [];
  let cur = '';
  let dq = false;
  let sq = false;
  let esc = false;
  for (const ch of value) {
    if (esc) {
      cur += ch;
      esc = false;
    } else if (ch === '\\') {
      esc = true;
    } else if (ch === ',' && !dq && !sq) {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
      if (ch === '"' && !sq) dq = !dq;
      if (ch === "'" && !dq) sq = !sq;
    }
  }
  if (esc || dq || sq) return null;
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

/** `error:CODE text` / `:error:CODE text`: a 4xx or 5xx reply, optionally with an enhanced code. */
export function parseAliasError(entry: string): AliasTarget | null {
  const m = /^:?error:(.*)$/is.exec(entry);
  if (!m) return null;
  const body = (m[1] ?? '').trim();
  const r = /^([45])(\d\d) ([A-Za-z0-9].*)$/.exec(body);
  if (!r) return null;
  const cls = r[1] ?? '5';
  let text = r[3] ?? '';
  let enhanced = `${cls}.0.0`;
  const enh = /^([245])\.(\d{1,3})\.(\d{1,3}) +(\S.*)$/.exec(text);
  if (enh && enh[1] === cls) {
    enhanced = `${enh[1]}.${enh[2]}.${enh[3]}`;
    text = enh[4] ?? '';
  }
  return { kind: 'error', code: Number(`${cls}${r[2] ?? '50'}`), enhanced, text: text.slice(0, 400) };
}

/** Classifies one entry; null when it is none of the known forms or not a valid address. */
export function parseAliasEntry(raw: string): AliasTarget | null {
  let entry = raw.trim();
  const quoted = /^"([^"]*)"$/.exec(entry);
  if (quoted) entry = (quoted[1] ?? '').trim();
  if (entry === '') return null;
  if (/^:?error:/i.test(entry)) return parseAliasError(entry);
  if (UNSAFE.test(entry)) return null;
  if (entry.toLowerCase().startsWith(':include:')) {
    const path = entry.slice(9).trim();
    return path.startsWith('/') && path.length < 4096 ? { kind: 'include', path } : null;
  }
  if (entry.startsWith('|')) {
    const command = entry.slice(1).trim();
    return command !== '' && command.length < 4096 ? { kind: 'command', command } : null;
  }
  if (entry.startsWith('/')) return entry.length < 4096 && !entry.split('/').includes('..') ? { kind: 'file', path: entry } : null;
  if (entry.includes('@')) {
    const a = parseAddress(entry, { utf8: true });
    return a.ok && a.address.domain !== '' ? { kind: 'address', address: a.address } : null;
  }
  const u = parseAddress(entry, { allowUnqualified: true, utf8: true });
  if (!u.ok || u.address.domain !== '' || /\s/.test(u.address.local)) return null;
  return { kind: 'user', user: u.address.local.toLowerCase() };
}

/**
 * The text of a `~/.forward` or `:include:` file: one or more comma-separated entries a line,
 * `#` comment lines, blank lines ignored (REFERENCE 8.3).
 */
export function parseAliasLines(text: string): AliasParse {
  const targets: AliasTarget[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const r = parseAliasValue(line);
    if (!r.ok) return r;
    targets.push(...r.targets);
  }
  return { ok: true, targets };
}

/** Parses a whole alias/virtual value. */
export function parseAliasValue(value: string): AliasParse {
  const parts = splitAliasValue(value);
  if (parts === null) return { ok: false, error: 'unbalanced quote or escape' };
  const targets: AliasTarget[] = [];
  for (const p of parts) {
    const t = parseAliasEntry(p);
    if (!t) return { ok: false, error: `invalid alias entry ${JSON.stringify(p)}` };
    targets.push(t);
  }
  return { ok: true, targets };
}
