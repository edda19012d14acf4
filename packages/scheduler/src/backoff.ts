// Retry grid of the scheduler (REFERENCE 5.3): next attempt at ctime + base * k^2, k starting at
// the envelope's retry count and increased until the time is in the future, so the grid stays
// anchored at creation time and missed slots are skipped. Pure functions, no clock of their own.
import type { EnvelopeType } from '@tsmtpd/proto';

/** Envelope types as small integers, so a schedule record holds numbers only. */
export const TYPE_CODES: Readonly<Record<EnvelopeType, number>> = { mda: 0, mta: 1, bounce: 2 };
export const TYPE_NAMES: readonly EnvelopeType[] = ['mda', 'mta', 'bounce'];

/** Retry base in seconds by type code: 10 s local and bounce, 400 s relay. */
export const RETRY_BASE: readonly number[] = [10, 400, 10];

/** Grid base in seconds after a hold-queue overflow (REFERENCE 5.3), retry count unchanged. */
export const OVERFLOW_BASE = 3;

export function typeCode(type: EnvelopeType): number {
  return TYPE_CODES[type];
}

export function typeName(code: number): EnvelopeType {
  return TYPE_NAMES[code] ?? 'mda';
}

/**
 * The first grid point `ctime + base * k^2` strictly after `after`, with k >= `retry`.
 * Integer seconds in, integer seconds out.
 */
export function nextAttempt(ctime: number, base: number, retry: number, after: number): number {
  let k = Math.max(0, Math.floor(retry));
  // Jump close to the answer first: a stale ctime must not cost a long loop.
  const age = after - ctime;
  if (age > 0) k = Math.max(k, Math.floor(Math.sqrt(age / base)) - 1);
  let t = ctime + base * k * k;
  for (let i = 0; t <= after && i < 64; i++) {
    k += 1;
    t = ctime + base * k * k;
  }
  return t;
}
