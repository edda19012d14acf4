// SMTP AUTH (RFC 4954) for the smtp actor: PLAIN and LOGIN under TLS only, the password checked
// by lka (credentials table or system accounts), CR/LF/NUL refused. A failure is answered after
// a random 0-1 s (OpenSMTPD's timing-attack pause) plus a delay that doubles with each recent
// failure from the same address (capped), and a session that fails three times is closed.
import { setTimeout as sleep } from 'node:timers/promises';
import { errorInfo } from '@tsmtpd/actor';
import type { AuthVerdict, Reply } from '@tsmtpd/proto';
import type { SMTPServerAuthentication } from 'smtp-server';
import { LocalReplies } from './replies.js';
import { count, type Session } from './session.js';

/** Failed attempts in one session before it is closed with 421. */
export const MAX_SESSION_AUTH_FAILURES = 3;
/** Longest extra delay for an address that keeps failing. */
export const MAX_AUTH_PENALTY_MS = 30_000;
/** Failures older than this no longer count against an address. */
export const AUTH_FAILURE_WINDOW_MS = 15 * 60_000;
/** Addresses remembered at most (the oldest are forgotten first). */
const MAX_TRACKED = 10_000;

/** Recent AUTH failures per client address, shared by every listener of the actor. */
export class AuthThrottle {
  private readonly failures = new Map<string, { n: number; last: number }>();

  constructor(private readonly random: () => number = Math.random) {}

  /** Record a failure; returns how long to wait before answering it, ms. */
  fail(address: string, now = Date.now()): number {
    const prev = this.failures.get(address);
    const n = prev && now - prev.last < AUTH_FAILURE_WINDOW_MS ? prev.n + 1 : 1;
    this.failures.delete(address); // re-insert: the map's order is the age order
    this.failures.set(address, { n, last: now });
    if (this.failures.size > MAX_TRACKED) this.failures.delete(this.failures.keys().next().value as string);
    const penalty = n < 2 ? 0 : Math.min(MAX_AUTH_PENALTY_MS, 1000 * 2 ** (n - 2));
    return Math.floor(this.random() * 1000) + penalty;
  }

  succeed(address: string): void {
    this.failures.delete(address);
  }

  /** Failures counted now against `address`. */
  recent(address: string, now = Date.now()): number {
    const e = this.failures.get(address);
    return e && now - e.last < AUTH_FAILURE_WINDOW_MS ? e.n : 0;
  }
}

/** A user name or password carrying CR, LF or NUL (they could split a line-based protocol). */
export function hasForbiddenChars(s: string): boolean {
  return /[\r\n\0]/.test(s);
}

export type AuthAnswer = { ok: true; user: string } | { ok: false; reply: Reply };

/** Check one AUTH attempt of session `s`; resolves when the answer may be sent. */
export async function authAttempt(s: Session, auth: SMTPServerAuthentication): Promise<AuthAnswer> {
  const env = s.env;
  const user = auth.username ?? '';
  const password = auth.password ?? '';
  const address = s.info.remoteAddress;
  if (user === '' || hasForbiddenChars(user) || hasForbiddenChars(password)) {
    env.authThrottle.fail(address);
    return { ok: false, reply: LocalReplies.authSyntax };
  }
  let verdict: AuthVerdict;
  try {
    verdict = await env.lka().authenticate({ table: s.profile.listener.authTable ?? null, user, password });
  } catch (e) {
    env.log.warn('authentication failed', { session: s.info.id, user, error: errorInfo(e).message });
    verdict = 'temp';
  }
  env.log.info('authentication', { session: s.info.id, user, result: verdict });
  if (verdict === 'ok') {
    env.authThrottle.succeed(address);
    count(env, 'smtp.auth.ok');
    return { ok: true, user };
  }
  if (verdict === 'temp') return { ok: false, reply: LocalReplies.authTemp };
  count(env, 'smtp.auth.fail');
  s.authFailures++;
  await sleep(env.authThrottle.fail(address));
  return { ok: false, reply: s.authFailures >= MAX_SESSION_AUTH_FAILURES ? LocalReplies.authTooMany : LocalReplies.authFailed };
}
