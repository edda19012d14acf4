// Who submits on the local enqueue socket: the kernel's record of the peer (SO_PEERCRED, through
// @tsmtpd/peercred) and the uid's name (getent passwd, never a shell; cached briefly). The client
// claims nothing: the name goes into the Received header and the log, and a sender chosen by an
// ordinary user (sendmail -f, or a From: of someone else) is logged with who chose it.
import { execFile } from 'node:child_process';
import type { Socket } from 'node:net';
import { peerCredentials } from '@tsmtpd/peercred';

export interface LocalUser {
  uid: number;
  gid: number;
  pid: number;
  /** The uid's login name; null when the passwd database has none. */
  name: string | null;
}

const CACHE_MS = 60_000;
const cache = new Map<number, { name: Promise<string | null>; at: number }>();

/** The login name of a uid (`getent passwd UID`), null when unknown or the lookup failed. */
export function userName(uid: number): Promise<string | null> {
  const hit = cache.get(uid);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.name;
  const name = new Promise<string | null>((resolve) => {
    execFile('getent', ['passwd', String(uid)], { timeout: 5000 }, (err, stdout) => {
      const f = err ? [] : String(stdout).split('\n')[0]?.split(':') ?? [];
      resolve(f.length >= 7 && f[2] === String(uid) && f[0] ? f[0] : null);
    });
  });
  if (cache.size > 1000) cache.clear();
  cache.set(uid, { name, at: Date.now() });
  return name;
}

/** The peer of an accepted unix-socket connection, null when the kernel gives none. */
export function socketPeer(socket: Socket): Omit<LocalUser, 'name'> | null {
  try {
    return peerCredentials(socket);
  } catch {
    return null;
  }
}

/**
 * Whether `sender` is not the user's own default address (`name@...`): such a sender set by an
 * ordinary user is allowed, as OpenSMTPD allows `sendmail -f`, but logged with the user.
 */
export function foreignSender(user: LocalUser, sender: string): boolean {
  if (user.uid === 0) return false;
  const at = sender.lastIndexOf('@');
  const local = at < 0 ? sender : sender.slice(0, at);
  return user.name === null || local.toLowerCase() !== user.name.toLowerCase();
}
