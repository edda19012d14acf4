// Message and envelope identifiers, shaped as OpenSMTPD's (REFERENCE 4.2):
// msgid = random non-zero 32-bit (8 hex), evpid = msgid << 32 | random non-zero 32-bit (16 hex).
import { randomFillSync } from 'node:crypto';

/** 8 lowercase hex digits. */
export type Msgid = string;
/** 16 lowercase hex digits; the first 8 are the msgid. */
export type Evpid = string;

const MSGID_RE = /^[0-9a-f]{8}$/;
const EVPID_RE = /^[0-9a-f]{16}$/;

/**
 * Random words drawn from one buffer refilled from the CSPRNG when used up (randomBytes(4) per
 * id was a buffer and a system call each: ~3% of the smtp thread's time per message).
 */
const pool = new Uint32Array(256);
let poolNext = pool.length;

function random32(): number {
  if (poolNext >= pool.length) {
    randomFillSync(pool);
    poolNext = 0;
  }
  return pool[poolNext++]!;
}

function random32Hex(): string {
  for (;;) {
    const n = random32();
    if (n !== 0) return n.toString(16).padStart(8, '0');
  }
}

/** A fresh random msgid. Uniqueness is enforced by the queue's primary key. */
export function newMsgid(): Msgid {
  return random32Hex();
}

/** A fresh evpid under `msgid`. */
export function newEvpid(msgid: Msgid): Evpid {
  return msgid + random32Hex();
}

export function isMsgid(s: string): boolean {
  return MSGID_RE.test(s);
}

export function isEvpid(s: string): boolean {
  return EVPID_RE.test(s);
}

/** The msgid part of an evpid. */
export function evpidMsgid(evpid: Evpid): Msgid {
  return evpid.slice(0, 8);
}

/** A 64-bit random id in hex, for sessions and Message-ID headers. */
export function newSessionId(): string {
  return random32Hex() + random32Hex();
}
