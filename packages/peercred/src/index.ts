// Who is on the other end of a unix socket, by the kernel's SO_PEERCRED (a small native addon in
// native/peercred.c, built by node-gyp at install). The control socket and the local enqueue socket
// decide what a client may do by this, never by a claim in the request. The same addon answers
// for bare socket descriptors (sockfd.ts: systemd's listeners, close-on-exec, sd_notify).
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

interface Addon {
  peerCredentials(fd: number): PeerCredentials;
}

const addon = createRequire(import.meta.url)('../build/Release/peercred.node') as Addon;

/** The file descriptor under a connected net.Socket (a unix socket accepted by a net.Server). */
function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw Object.assign(new Error('peerCredentials: the socket has no file descriptor (closed, or not a unix socket)'), { code: 'EBADF' });
  return fd;
}

/**
 * The credentials the kernel recorded for the peer of a connected unix socket when it connected.
 * Throws (code EBADF or ERR_PEERCRED) for a closed socket or one that is not a unix socket.
 */
export function peerCredentials(socket: Socket): PeerCredentials {
  return addon.peerCredentials(socketFd(socket));
}

/** The same for a raw file descriptor. */
export function peerCredentialsOfFd(fd: number): PeerCredentials {
  return addon.peerCredentials(fd);
}

export { notifyDatagram, socketInfo, setCloexec, type SocketInfo } from './sockfd.js';
