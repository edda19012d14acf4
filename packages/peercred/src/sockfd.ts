// Bare socket descriptors, by the same addon (native/sockfd.c): what an inherited listening socket
// is bound to, read without listening on it (systemd socket activation matches its sockets to
// `listen on` lines this way), its close-on-exec flag, which Node cannot set (no fcntl), and the
// datagram of sd_notify (Node has no unix datagram sockets).
import { createRequire } from 'node:module';

export interface SocketInfo {
  /** 4 or 6 for an inet socket, 0 for any other kind (unix, netlink). */
  family: 0 | 4 | 6;
  /** The bound address as inet_ntop writes it ("127.0.0.1", "::1", "fe80::1%eth0"); "" for family 0. */
  address: string;
  port: number;
  /** SOCK_STREAM. */
  stream: boolean;
  /** listen() was called on it (SO_ACCEPTCONN). */
  listening: boolean;
}

interface Addon {
  socketInfo(fd: number): SocketInfo;
  setCloexec(fd: number, on: boolean): boolean;
  notifyDatagram(path: string, message: string): void;
}

const loaded = createRequire(import.meta.url)('../build/Release/peercred.node') as Partial<Addon>;

/** A build from before these functions (a checkout updated without `npm install`) says so. */
function addonFn<K extends keyof Addon>(name: K): Addon[K] {
  const fn = loaded[name];
  if (typeof fn !== 'function') throw new Error(`the peercred addon has no ${name}: it predates this checkout; rebuild it (npm rebuild @tsmtpd/peercred)`);
  return fn as Addon[K];
}

/** What the socket `fd` is; throws (code ENOTSOCK, EBADF) for a descriptor that is not a socket. */
export function socketInfo(fd: number): SocketInfo {
  return addonFn('socketInfo')(fd);
}

/** Sets (or clears) FD_CLOEXEC on `fd`; returns whether it was set before. Throws EBADF. */
export function setCloexec(fd: number, on = true): boolean {
  return addonFn('setCloexec')(fd, on);
}

/**
 * Sends `message` as one datagram to the unix socket `path` ("@name" for the abstract namespace),
 * as sd_notify(3) does to $NOTIFY_SOCKET. Throws (ENOENT, ECONNREFUSED, ...) when it cannot.
 */
export function notifyDatagram(path: string, message: string): void {
  addonFn('notifyDatagram')(path, message);
}
