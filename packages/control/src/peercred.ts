// Who is on the other end of a control connection: the kernel's peer credentials (SO_PEERCRED,
// @tsmtpd/peercred), never a claim in the request. Null when they cannot be read: the caller then
// treats the peer as unprivileged (fail closed).
import type { Socket } from 'node:net';
import { peerCredentials, type PeerCredentials } from '@tsmtpd/peercred';

export type PeerCred = PeerCredentials;

/** The peer's credentials, null when they cannot be read. */
export function peerCred(socket: Socket): PeerCred | null {
  try {
    const c = peerCredentials(socket);
    return Number.isInteger(c.uid) && c.uid >= 0 ? c : null;
  } catch {
    return null;
  }
}
