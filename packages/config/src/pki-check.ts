// The checks OpenSMTPD 6.8 makes after a configuration parsed without error, before it says
// "configuration OK": the queue encryption key, every pki's certificate and key files, every
// ca's file. Called by load.ts only when the parse found no error (as smtpd stops before them).
import { createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Cursor } from './cursor.js';
import type { Draft } from './state.js';

/** Permission bits a private key file may not have (OpenSMTPD: "at most rwxr-----"). */
const KEY_FORBIDDEN_MODE = 0o037;

/** Length OpenSMTPD requires of a queue encryption key. */
const QUEUE_KEY_LENGTH = 32;

/** Why a file cannot be read, or undefined. */
function unreadable(path: string): string | undefined {
  try { readFileSync(path); return undefined; } catch (e) { return (e as NodeJS.ErrnoException).code ?? String(e); }
}

/**
 * Why `path` cannot serve as a pki private key, or undefined: it must be readable, owned by
 * root, not writable by its group nor accessible to others, and hold a PEM private key that
 * needs no passphrase.
 */
export function keyFileProblem(path: string): string | undefined {
  let data: Buffer;
  let st: ReturnType<typeof statSync>;
  try { st = statSync(path); data = readFileSync(path); } catch (e) { return (e as NodeJS.ErrnoException).code ?? String(e); }
  if (st.uid !== 0) return 'not owned by uid 0';
  if ((Number(st.mode) & KEY_FORBIDDEN_MODE) !== 0) return 'insecure permissions: must be at most rwxr-----';
  try { createPrivateKey({ key: data, format: 'pem' }); } catch { return 'no usable private key'; }
  return undefined;
}

/**
 * The post-parse checks. Unless `readsStdinKey` (a daemon start), a `stdin` queue key is taken
 * as the key itself (5 characters: invalid), as `smtpd -n` does: it reads no key.
 */
export function checkLoadedFiles(cur: Cursor, d: Draft, readsStdinKey: boolean): void {
  const enc = d.queue.encryption;
  if (enc) {
    const key = enc.keySource === 'inline' ? enc.key : enc.keySource === 'stdin' && !readsStdinKey ? 'stdin' : undefined;
    if (key !== undefined && key.length !== QUEUE_KEY_LENGTH && d.queueAt) cur.error(d.queueAt, 'invalid key for queue encryption', d.queueAt.ord);
  }
  const pkis = [...d.pki.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const p of pkis) {
    if (!p.cert) cur.error(p.pos, `pki ${p.name}: missing certificate file`, p.pos.ord);
    else {
      const why = unreadable(p.cert.path);
      if (why) cur.error(p.cert.at, `pki ${p.name}: failed to load certificate file ${p.cert.path}`, p.pos.ord);
    }
    if (!p.key) cur.error(p.pos, `pki ${p.name}: missing key file`, p.pos.ord);
  }
  for (const c of d.ca.values()) {
    const why = c.cert ? unreadable(c.cert.path) : 'missing';
    if (why && c.cert) cur.error(c.cert.at, `ca ${c.name}: failed to load CA file ${c.cert.path}`, c.pos.ord);
  }
  for (const p of pkis) {
    const why = p.key ? keyFileProblem(p.key.path) : undefined;
    if (why && p.key) cur.error(p.key.at, `pki ${p.name}: failed to load key file ${p.key.path}: ${why}`, p.pos.ord);
  }
}
