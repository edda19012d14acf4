// The values of `smtp limit KEY VALUE ...`: OpenSMTPD's max-rcpt and max-mails, and our hardening
// keys (README "Limits"): max-sessions, max-conn-per-ip, max-conn-rate N/s|min|h, idle-timeout and
// line-timeout as durations. Called by parse-globals.ts; errors carry the token's file:line.
import type { Cursor } from './cursor.js';
import type { Token } from './lexer.js';
import type { Draft } from './state.js';
import { parseDuration } from './units.js';

const RATE_UNITS: Readonly<Record<string, number>> = { s: 1, sec: 1, m: 60, min: 60, h: 3600, hour: 3600 };
/** Upper bound of the counted keys: larger values are typos, not intent. */
const MAX_COUNT = 1_000_000;

/** `N/UNIT` (60/min, 5/s, 1000/h) to {count, perSeconds}, or undefined when invalid. */
export function parseRate(text: string): { count: number; perSeconds: number } | undefined {
  const m = /^(\d{1,7})\/(s|sec|m|min|h|hour)$/.exec(text);
  if (!m?.[1] || !m[2]) return undefined;
  const count = Number(m[1]);
  const perSeconds = RATE_UNITS[m[2]];
  if (count < 1 || count > MAX_COUNT || perSeconds === undefined) return undefined;
  return { count, perSeconds };
}

/** A duration token: `30s`/`5m`/`1h`, or a bare number of seconds. */
function durationOf(cur: Cursor, key: Token): number {
  const t = cur.peek();
  if (t.t !== 'str' && t.t !== 'num') cur.fail(t, `${key.v} needs a duration`);
  cur.next();
  const s = t.t === 'num' ? (Number(t.v) >= 1 ? Number(t.v) : undefined) : parseDuration(t.v);
  if (s === undefined || s > 86_400) cur.fail(t, `invalid ${key.v}: ${t.v} (a duration from 1s to 1d)`);
  return s;
}

function countOf(cur: Cursor, key: Token, min: number): number {
  const { tok, n } = cur.expectNumber();
  if (!Number.isSafeInteger(n) || n < min || n > MAX_COUNT) cur.fail(tok, `invalid ${key.v}: ${tok.v} (${min} to ${MAX_COUNT})`);
  return n;
}

/** One of our keys at the cursor: consumed with its value (true), or not ours (false). */
function hardeningKey(cur: Cursor, d: Draft): boolean {
  const key = cur.peek();
  if (key.t !== 'str') return false;
  const l = d.smtp.limits;
  switch (key.v) {
    case 'max-sessions': cur.next(); l.maxSessions = countOf(cur, key, 1); return true;
    case 'max-conn-per-ip': cur.next(); l.maxConnPerIp = countOf(cur, key, 1); return true;
    case 'idle-timeout': cur.next(); l.idleTimeout = durationOf(cur, key); return true;
    case 'line-timeout': cur.next(); l.lineTimeout = durationOf(cur, key); return true;
    case 'max-conn-rate': {
      cur.next();
      const t = cur.peek();
      if (t.t !== 'str' && t.t !== 'num') cur.fail(t, 'max-conn-rate needs N/s, N/min or N/h');
      cur.next();
      // Unquoted, the lexer cuts `60/min` into a number, a '/' and a word (as OpenSMTPD's does).
      let text = t.v;
      if (t.t === 'num') {
        if (!cur.isPunct('/')) cur.fail(t, 'max-conn-rate needs N/s, N/min or N/h');
        cur.next();
        const u = cur.peek();
        if (u.t !== 'str') cur.fail(u, 'max-conn-rate needs N/s, N/min or N/h');
        cur.next();
        text = `${t.v}/${u.v}`;
      }
      const r = parseRate(text);
      if (!r) cur.fail(t, `invalid max-conn-rate: ${text} (N/s, N/min or N/h)`);
      l.maxConnRate = r;
      return true;
    }
    default: return false;
  }
}

/** After `smtp limit`: KEY VALUE pairs to the end of the statement. */
export function parseSmtpLimits(cur: Cursor, d: Draft): void {
  for (;;) {
    if (hardeningKey(cur, d)) continue;
    if (cur.peek().t !== 'str') return;
    const key = cur.next();
    const { n } = cur.expectNumber();
    if (key.v === 'max-rcpt') d.smtp.maxRcpt = n;
    else if (key.v === 'max-mails') d.smtp.maxMails = n;
    else cur.fail(key, `invalid session limit keyword: ${key.v}`);
  }
}
