// Which delivery outcomes become status notifications (REFERENCE 9, RFC 3461 section 4), and the
// report each one carries. Pure functions over an envelope and an outcome: the queue's settle
// step (outbound.ts) calls them inside its transaction and stores the result as a bounce
// envelope under the original message, so the report is as durable as the outcome.
import { DsnNotify, newEvpid, type BounceKind, type BounceReport, type Envelope } from '@tsmtpd/proto';

/** A bounce envelope lives this long (REFERENCE 5.4: 7 days), retried on the 10 s grid. */
export const BOUNCE_TTL = 7 * 86_400;

/** What happened to one envelope, as the settle step knows it. */
export interface Attempt {
  status: 'ok' | 'tempfail' | 'permfail' | 'loop' | 'expired';
  errorline: string;
  remote?: boolean;
  remoteMta?: string;
  relayed?: boolean;
}

/** Why no report is made, for the log; null when one is. */
export type NoReport = 'null-sender' | 'double-bounce' | 'notify' | null;

/** The kind of report an outcome asks for, or why none (RFC 3461 4.1: NOTIFY). */
export function reportKind(env: Envelope, a: Attempt): { kind: BounceKind | null; why: NoReport } {
  const final = a.status === 'permfail' || a.status === 'loop' || a.status === 'expired';
  if (a.status === 'tempfail') return { kind: null, why: null };
  if (env.type === 'bounce' || env.flags.includes('bounce')) return { kind: null, why: final ? 'double-bounce' : null };
  if (env.sender === '') return { kind: null, why: final ? 'null-sender' : null };
  const n = env.dsnNotify;
  if (n & DsnNotify.never) return { kind: null, why: final ? 'notify' : null };
  if (final) return n === 0 || (n & DsnNotify.failure) ? { kind: 'failed', why: null } : { kind: null, why: 'notify' };
  // Delivered: only when asked. A relay to a server that takes the DSN on says nothing more.
  if (!(n & DsnNotify.success)) return { kind: null, why: null };
  if (env.type === 'mda') return { kind: 'delivered', why: null };
  return a.relayed ? { kind: 'relayed', why: null } : { kind: null, why: null };
}

const ENHANCED = /^(?:[245]\d\d[ -])?([245])\.(\d{1,3})\.(\d{1,3})(?:\s|$)/;

/** The enhanced status code of an outcome (RFC 3463), its class made to agree with the kind. */
export function statusOf(kind: BounceKind, a: Attempt): string {
  const cls = kind === 'failed' ? '5' : kind === 'delayed' ? '4' : '2';
  if (a.status === 'expired') return '5.4.7';
  if (a.status === 'loop') return '5.4.6';
  if (cls === '2') return '2.0.0';
  const m = ENHANCED.exec(a.errorline);
  if (m) return `${cls}.${m[2]}.${m[3]}`;
  const basic = /^([245])(\d)\d[ -]/.exec(a.errorline);
  // A basic code alone: its middle digit says the subject (RFC 3463 mapping is coarse).
  if (basic) return `${cls}.${basic[2] === '5' ? '5' : '0'}.0`;
  return `${cls}.0.0`;
}

/** The text reported as Diagnostic-Code: the remote's or the agent's own words. */
function diagnosticOf(env: Envelope, a: Attempt, now: number): string {
  if (a.status !== 'expired') return a.errorline || 'delivery failed';
  const days = Math.max(1, Math.round((now - env.ctime) / 86_400));
  const last = env.errorline ? `; last error: ${env.errorline}` : '';
  return `5.4.7 Delivery time expired: not delivered within ${days === 1 && now - env.ctime < 86_400 ? `${now - env.ctime}s` : `${days}d`}${last}`.slice(0, 1024);
}

function looksLikeReply(text: string): boolean {
  return /^[2-5]\d\d[ -]/.test(text);
}

/** The report a bounce envelope carries about `env`. */
export function reportFor(env: Envelope, kind: BounceKind, a: Attempt, now: number): BounceReport {
  const diagnostic = kind === 'delivered' || kind === 'relayed' ? (a.errorline || 'delivered') : diagnosticOf(env, a, now);
  const remote = a.remote ?? (a.status === 'expired' ? looksLikeReply(env.errorline ?? '') : looksLikeReply(a.errorline));
  return {
    kind,
    status: statusOf(kind, a),
    diagnostic: diagnostic.slice(0, 1024),
    diagnosticType: remote ? 'smtp' : 'x-local',
    ...(a.remoteMta ? { remoteMta: a.remoteMta.slice(0, 255) } : {}),
    lastAttempt: a.status === 'expired' && env.lastTry > 0 ? env.lastTry : now,
    arrival: env.ctime,
    ...(kind === 'delayed' ? { retryUntil: env.ctime + env.ttl } : {}),
  };
}

/**
 * The delay warning due at this temporary failure, if any (REFERENCE 5.4): the largest
 * `bounce warn-interval` already passed and not yet warned of (lastBounce before it). Each
 * interval warns once; none for null senders, bounces, or NOTIFY without DELAY.
 */
export function delayWarningDue(env: Envelope, now: number, intervals: readonly number[]): boolean {
  if (env.type === 'bounce' || env.flags.includes('bounce') || env.sender === '') return false;
  const n = env.dsnNotify;
  if (n & DsnNotify.never || (n !== 0 && !(n & DsnNotify.delay))) return false;
  let due = -1;
  for (const w of intervals) if (env.ctime + w <= now && env.ctime + w > due) due = env.ctime + w;
  return due >= 0 && env.lastBounce < due && now < env.ctime + env.ttl;
}

/** A bounce envelope under the original message, carrying `report` about `env`. */
export function bounceEnvelope(env: Envelope, report: BounceReport, now: number, taken: (evpid: string) => boolean): Envelope {
  let id = newEvpid(env.msgid);
  for (let i = 0; taken(id) && i < 20; i++) id = newEvpid(env.msgid);
  const { errorline: _e, report: _r, ...rest } = env;
  return { ...rest, id, type: 'bounce', ctime: now, lastTry: 0, lastBounce: 0, retry: 0, ttl: BOUNCE_TTL, report };
}
