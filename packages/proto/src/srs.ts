// The Sender Rewriting Scheme codec (`srs key`, action option `srs`): the mta rewrites the
// sender of forwarded mail, the lka decodes bounces sent back to SRS0/SRS1 addresses. The
// address format, hash and timestamp are OpenSMTPD's (srs.c), so bounces to addresses made
// before a migration still decode: HHHH = first 4 base64 chars of SHA-1(key || rest), TT = days
// since the epoch mod 1024 in two base32 chars.
import { createHash } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const DAY = 86_400;

export interface SrsKeys {
  key: string;
  /** An older key still accepted when decoding (`srs key backup`). */
  backup?: string;
  /** How old an SRS0 address may be, seconds (`srs ttl`, default 4 days). */
  ttl: number;
}

function hash4(key: string, value: string): string {
  return createHash('sha1').update(key).update(value).digest('base64').slice(0, 4);
}

function splitAt(address: string): { local: string; domain: string } | null {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return null;
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
}

function timestamp(nowMs: number): number {
  return Math.floor(nowMs / 1000 / DAY) % 1024;
}

/**
 * The SRS form of `sender` for mail forwarded from `rcptDomain` (the domain the original
 * recipient belonged to, where bounces come back). `SRS0=` for a plain sender, `SRS1=` for an
 * already rewritten one. Returns `sender` unchanged when it cannot be rewritten (no domain).
 */
export function srsEncode(sender: string, rcptDomain: string, key: string, nowMs = Date.now()): string {
  const a = splitAt(sender);
  if (!a) return sender;
  const prefix = a.local.slice(0, 5).toUpperCase();
  if (prefix === 'SRS0=') {
    // <last domain>==<SRS0 local part without its prefix>@<us>
    const rest = `${a.domain}==${a.local.slice(5)}@${rcptDomain}`;
    return `SRS1=${hash4(key, rest)}=${rest}`;
  }
  if (prefix === 'SRS1=') {
    // Keep the first forwarder's part; only the hash of this hop changes.
    const tail = `${a.local.slice(5)}@${rcptDomain}`;
    if (tail.length < 5 || !'=+-'.includes(tail[4] ?? '')) return sender;
    const rest = tail.slice(5);
    return `SRS1=${hash4(key, rest)}=${rest}`;
  }
  const t = timestamp(nowMs);
  const rest = `${BASE32[(t >> 5) & 31]}${BASE32[t & 31]}=${a.domain}=${a.local}@${rcptDomain}`;
  return `SRS0=${hash4(key, rest)}=${rest}`;
}

/** `body` = "HHHH=rest": the rest when its hash matches the key or the backup key. */
function checked(body: string, keys: SrsKeys): string | null {
  if (body.length < 5 || !'=+-'.includes(body[4] ?? '')) return null;
  const rest = body.slice(5);
  const given = body.slice(0, 4);
  if (hash4(keys.key, rest) === given) return rest;
  if (keys.backup !== undefined && hash4(keys.backup, rest) === given) return rest;
  return null;
}

/** True when a 10-bit day stamp is within `ttlDays` before today (or one day ahead: clock skew). */
function fresh(stamp: string, ttlDays: number, nowMs: number): boolean {
  const hi = BASE32.indexOf(stamp[0]?.toUpperCase() ?? '');
  const lo = BASE32.indexOf(stamp[1]?.toUpperCase() ?? '');
  if (hi < 0 || lo < 0) return false;
  const t = (hi << 5) | lo;
  const today = timestamp(nowMs);
  const age = (today - t + 1024) % 1024;
  return age <= ttlDays || age === 1023;
}

/**
 * The address an SRS0/SRS1 recipient stands for: the original sender for SRS0 (if fresh),
 * the previous forwarder's SRS0 address for SRS1. Null when it is not ours, forged or expired.
 */
export function srsDecode(rcpt: string, keys: SrsKeys, nowMs = Date.now()): string | null {
  const prefix = rcpt.slice(0, 5).toUpperCase();
  if (prefix !== 'SRS0=' && prefix !== 'SRS1=') return null;
  const rest = checked(rcpt.slice(5), keys);
  if (rest === null) return null;
  const a = splitAt(rest);
  if (!a) return null;
  const ttlDays = Math.max(1, Math.floor(keys.ttl / DAY));
  if (prefix === 'SRS0=') {
    // TT=<orig domain>=<orig local>
    const m = /^(..)=([^=]+)=(.+)$/.exec(a.local);
    if (!m || !fresh(m[1]!, ttlDays, nowMs)) return null;
    return `${m[3]}@${m[2]}`;
  }
  // <first forwarder domain>==<HHHH=TT=domain=local>: back to that forwarder as SRS0.
  const cut = a.local.indexOf('==');
  if (cut <= 0) return null;
  const domain = a.local.slice(0, cut);
  const srs0 = a.local.slice(cut + 2);
  // Its hash is the first forwarder's to check; its day stamp is checked here too.
  if (srs0.length < 8 || !fresh(srs0.slice(5, 7), ttlDays, nowMs)) return null;
  return `SRS0=${srs0}@${domain}`;
}
