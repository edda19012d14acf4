// Pure matching primitives behind the table services (REFERENCE 11): domain globs, mail
// address patterns, network addresses/CIDR, and regex compilation. No I/O, no state; the
// Table class compiles a table's entries with these once per content version.
import { BlockList, isIP } from 'node:net';

/** Longest key any lookup accepts (OpenSMTPD refuses longer keys as a lookup error). */
export const MAX_KEY_LENGTH = 1024;
/** Longest subject a regex is run against: bounds the cost of a badly backtracking pattern. */
export const MAX_REGEX_SUBJECT = 320;

/**
 * Glob match of a host/domain name against a pattern where `*` matches any run of characters
 * (dots included: `*.example.org` matches `a.example.org` and `a.b.example.org`, not
 * `example.org`). Case-insensitive. Iterative with one backtrack point: linear time.
 */
export function domainMatch(name: string, pattern: string): boolean {
  const s = name.toLowerCase();
  const p = pattern.toLowerCase();
  let si = 0;
  let pi = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    if (pi < p.length && p[pi] === '*') {
      star = pi++;
      mark = si;
    } else if (pi < p.length && p[pi] === s[si]) {
      pi++;
      si++;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p[pi] === '*') pi++;
  return pi === p.length;
}

/** A mail address split for mailaddr matching: either part may be empty. */
export interface AddrParts {
  user: string;
  domain: string;
}

/** Splits `user@domain`, `@domain`, `user` (at the last `@`), lowercased. */
export function splitMailaddr(text: string): AddrParts {
  const s = text.toLowerCase();
  const at = s.lastIndexOf('@');
  if (at < 0) return { user: s, domain: '' };
  return { user: s.slice(0, at), domain: s.slice(at + 1) };
}

/**
 * mailaddr service: does address `key` match table entry `pattern`? Entry forms: `user`
 * (any domain), `@domain` (any user), `user@domain`, `user@*.domain`, `@` (everything).
 * When the entry has no sub-address delimiter, the key's `+tag` is ignored.
 */
export function mailaddrMatch(key: AddrParts, pattern: AddrParts, delim: string): boolean {
  if (pattern.user === '' && pattern.domain === '') return true;
  if (pattern.domain !== '' && !domainMatch(key.domain, pattern.domain)) return false;
  if (pattern.user !== '') {
    let user = key.user;
    if (!pattern.user.includes(delim)) {
      const i = user.indexOf(delim);
      if (i >= 0) user = user.slice(0, i);
    }
    if (user !== pattern.user) return false;
  }
  return true;
}

/** Strips `[...]` around an address and an IPv6 zone; maps `::ffff:a.b.c.d` to IPv4. */
export function normalizeIp(text: string): string {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (s.toLowerCase().startsWith('ipv6:')) s = s.slice(5);
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  return mapped?.[1] ?? s.toLowerCase();
}

/** A parsed netaddr entry: an address with a prefix length. */
export interface NetEntry {
  address: string;
  family: 'ipv4' | 'ipv6';
  prefix: number;
}

/** Parses `1.2.3.4`, `10.0.0.0/8`, `::1`, `[::1]`, `[2001:db8::]/32`, `2001:db8::/32`. */
export function parseNetaddr(entry: string): NetEntry | null {
  let s = entry.trim();
  let prefixText: string | undefined;
  const bracket = /^\[([^\]]+)\](?:\/(\d+))?$/.exec(s);
  if (bracket) {
    s = bracket[1] ?? '';
    prefixText = bracket[2];
  }
  const slash = s.indexOf('/');
  if (slash >= 0) {
    if (prefixText !== undefined) return null;
    prefixText = s.slice(slash + 1);
    s = s.slice(0, slash);
  }
  const address = normalizeIp(s);
  const v = isIP(address);
  if (v === 0) return null;
  const family = v === 4 ? 'ipv4' : 'ipv6';
  const max = v === 4 ? 32 : 128;
  if (prefixText === undefined) return { address, family, prefix: max };
  if (!/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  return prefix <= max ? { address, family, prefix } : null;
}

/** Compiled netaddr entries: CIDRs in a BlockList, non-address entries (e.g. `local`) as strings. */
export interface NetMatcher {
  nets: BlockList;
  names: Set<string>;
}

export function compileNetaddrs(entries: readonly string[]): NetMatcher {
  const nets = new BlockList();
  const names = new Set<string>();
  for (const e of entries) {
    const n = parseNetaddr(e);
    if (n) nets.addSubnet(n.address, n.prefix, n.family);
    else names.add(e.toLowerCase());
  }
  return { nets, names };
}

export function netaddrMatch(m: NetMatcher, key: string): boolean {
  if (m.names.has(key.toLowerCase())) return true;
  const ip = normalizeIp(key);
  const v = isIP(ip);
  if (v === 0) return false;
  return m.nets.check(ip, v === 4 ? 'ipv4' : 'ipv6');
}

const POSIX_CLASSES: Record<string, string> = {
  alpha: 'a-zA-Z', digit: '0-9', alnum: 'a-zA-Z0-9', upper: 'A-Z', lower: 'a-z',
  space: ' \\t\\r\\n\\v\\f', blank: ' \\t', xdigit: '0-9A-Fa-f', punct: '!-\\/:-@\\[-`{-~',
  cntrl: '\\x00-\\x1f\\x7f', print: ' -~', graph: '!-~',
};

/** Result of compiling a table regex: the RegExp, or why it was refused. */
export type CompiledRegex = { ok: true; re: RegExp; warning?: string } | { ok: false; error: string };

/**
 * Compiles an OpenSMTPD table regex (POSIX extended syntax) to a JS RegExp. Matching is
 * case-sensitive unless the pattern starts with `(?i)`, as in OpenSMTPD; keys are lowercased
 * before matching, so a pattern with upper-case letters usually wants `(?i)` (a warning says so).
 * POSIX bracket classes (`[[:alpha:]]`) are translated.
 */
export function compileRegex(pattern: string): CompiledRegex {
  let src = pattern;
  let flags = '';
  if (src.startsWith('(?i)')) {
    src = src.slice(4);
    flags = 'i';
  }
  src = src.replace(/\[:([a-z]+):\]/g, (all, name: string) => POSIX_CLASSES[name] ?? all);
  try {
    const re = new RegExp(src, flags);
    const upper = flags === '' && /[A-Z]/.test(src.replace(/\\./g, ''));
    return upper ? { ok: true, re, warning: 'pattern has upper-case letters but keys are lowercased; prefix it with (?i)' } : { ok: true, re };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/** Runs compiled patterns against a subject; 'error' when the subject is too long to test safely. */
export function regexMatch(patterns: readonly RegExp[], subject: string): boolean | 'error' {
  if (subject.length > MAX_REGEX_SUBJECT) return 'error';
  return patterns.some((re) => re.test(subject));
}
