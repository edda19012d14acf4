// Helpers shared by the queue's tests: envelopes, temporary spools, bytes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type SmtpdConfig } from '@tsmtpd/config';
import { DEFAULT_SETTINGS, fail, newEvpid, ok, type ActorInit, type Envelope, type Result } from '@tsmtpd/proto';

export function makeEnvelope(msgid: string, over: Partial<Envelope> = {}): Envelope {
  return {
    id: newEvpid(msgid),
    msgid,
    type: 'mda',
    dispatcher: 'local',
    smtpname: 'mx.example.org',
    helo: 'client.example.net',
    hostname: '',
    sockaddr: '192.0.2.10',
    sender: 'alice@example.net',
    rcpt: 'bob@example.org',
    dest: 'bob@example.org',
    ctime: Math.floor(Date.now() / 1000),
    lastTry: 0,
    lastBounce: 0,
    ttl: 345_600,
    retry: 0,
    flags: [],
    dsnNotify: 0,
    ...over,
  };
}

/** A fresh spool directory path (not created: the queue creates it) and its cleanup. */
export function tempSpool(): { spool: string; cleanup: () => void } {
  const base = mkdtempSync(join(tmpdir(), 'tsmtpd-queue-'));
  return { spool: join(base, 'spool'), cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

export function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** The queue actor's init for tests: default configuration on `spool`. */
export function queueInit(spool: string): ActorInit<SmtpdConfig> {
  return { config: defaultConfig(), spool, settings: DEFAULT_SETTINGS };
}

/** One msgid reserved by the queue, as smtp's stock gets them (the first call naming it opens it). */
export async function reserveMsgid(q: { msgidsReserve(n: number): Promise<Result<string[]>> }): Promise<Result<string>> {
  const r = await q.msgidsReserve(1);
  if (!r.ok) return r;
  const msgid = r.value[0];
  return msgid === undefined ? fail('ERR_TEST', 'internal', 'no msgid reserved') : ok(msgid);
}
