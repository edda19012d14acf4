// Who is on the other end of a control connection: the kernel's peer credentials (SO_PEERCRED)
// through the native @tsmtpd/peercred package, never a claim in the request. When the native
// part cannot be loaded every connection is treated as unprivileged (fail closed).
import type { Socket } from 'node:net';

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

type Reader = (socket: Socket) => PeerCred;
let reader: Reader | null = null;

/** Load the native reader once; false (and every peer unprivileged) when it is unavailable. */
export async function loadPeerCred(): Promise<boolean> {
  if (reader) return true;
  try {
    const name = '@tsmtpd/peercred';
    const m = (await import(name)) as { peerCredentials?: Reader };
    if (typeof m.peerCredentials === 'function') reader = m.peerCredentials;
  } catch {
    reader = null;
  }
  return reader !== null;
}

/** The peer's credentials, null when they cannot be read. */
export function peerCred(socket: Socket): PeerCred | null {
  if (!reader) return null;
  try {
    const c = reader(socket);
    return Number.isInteger(c.uid) && c.uid >= 0 ? c : null;
  } catch {
    return null;
  }
}
