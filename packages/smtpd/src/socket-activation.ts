// systemd socket activation (sd_listen_fds(3)): the listening sockets a .socket unit hands us as
// fds 3.. (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES), read once, matched to `listen on` lines by the
// address and port each socket is bound to (getsockname, never by position), marked close-on-exec
// so no child (delivery helper, mda command, filter, table program) inherits one. Used by the
// privileged process (bindListeners) and by a single-process daemon (listenFds for the smtp actor).
import { closeSync } from 'node:fs';
import { SocketAddress } from 'node:net';
import { setCloexec, socketInfo } from '@tsmtpd/peercred';
import type { SmtpdConfig } from '@tsmtpd/config';
import type { ListenFd } from '@tsmtpd/proto';
import type { Logger } from '@tsmtpd/actor';

/** sd_listen_fds(3): the first passed descriptor. */
export const SD_LISTEN_FDS_START = 3;
/** More than this many passed descriptors is a misconfiguration, not a listener list. */
const MAX_FDS = 1024;
const ENV_KEYS = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const;

export interface InheritedSocket {
  fd: number;
  /** FileDescriptorName= of the socket unit ("unknown" without one). */
  name: string;
  family: 4 | 6;
  address: string;
  port: number;
}

/** What was handed over, and what could not be used (already closed; for the log). */
export interface Inherited {
  sockets: InheritedSocket[];
  refused: { fd: number; name: string; reason: string }[];
}

/** `::FFFF:1.2.3.4%eth0` and `::ffff:1.2.3.4%eth0` are one address: compare canonical forms. */
export function canonicalAddress(address: string, family: 4 | 6): string {
  if (family === 4) return address;
  const pct = address.indexOf('%');
  const bare = pct < 0 ? address : address.slice(0, pct);
  let canon = bare.toLowerCase();
  try {
    canon = new SocketAddress({ address: bare, family: 'ipv6' }).address;
  } catch {
    // not an address Node parses: compared as written
  }
  return pct < 0 ? canon : `${canon}${address.slice(pct)}`;
}

/**
 * Reads the LISTEN_* variables (always removed from the environment, as sd_listen_fds(1) does,
 * so that no child sees them) and returns the inet stream listening sockets among fds 3..;
 * anything else passed is closed and reported in `refused`. Nothing when LISTEN_PID is not us.
 */
export function readInherited(env: NodeJS.ProcessEnv = process.env, pid = process.pid): Inherited {
  const [lpid, lfds, lnames] = ENV_KEYS.map((k) => env[k]);
  for (const k of ENV_KEYS) delete env[k];
  const out: Inherited = { sockets: [], refused: [] };
  const n = Number(lfds);
  if (lpid === undefined || !/^\d+$/.test(lpid) || Number(lpid) !== pid || !/^\d+$/.test(lfds ?? '') || n < 1) return out;
  const names = (lnames ?? '').split(':');
  for (let i = 0; i < Math.min(n, MAX_FDS); i++) {
    const fd = SD_LISTEN_FDS_START + i;
    const name = names[i] || 'unknown';
    const why = adopt(fd);
    if (typeof why === 'string') {
      out.refused.push({ fd, name, reason: why });
      continue;
    }
    out.sockets.push({ fd, name, ...why });
  }
  return out;
}

/** Close-on-exec first (whatever it is), then what it is; a socket we cannot listen on is closed. */
function adopt(fd: number): { family: 4 | 6; address: string; port: number } | string {
  try {
    setCloexec(fd, true);
    const s = socketInfo(fd);
    if (s.family === 0) return 'not an inet socket';
    if (!s.stream || !s.listening) return 'not a listening stream socket';
    return { family: s.family, address: canonicalAddress(s.address, s.family), port: s.port };
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  }
}

/**
 * The inherited sockets of this process, read once: `take()` hands out the one bound to an
 * address and port (each once), `closeUnused()` closes the rest. Later calls (a reload binding a
 * new listener) find nothing left and bind as usual.
 */
export class InheritedListeners {
  private readonly free: InheritedSocket[];
  private readonly taken: InheritedSocket[] = [];

  constructor(private readonly found: Inherited) {
    this.free = [...found.sockets];
    for (const r of found.refused) closeQuietly(r.fd);
  }

  get refused(): Inherited['refused'] {
    return this.found.refused;
  }

  /** The inherited socket bound to `address`:`port`, removed from the free list; else undefined. */
  take(address: string, port: number, family: 4 | 6): InheritedSocket | undefined {
    const want = canonicalAddress(address, family);
    const i = this.free.findIndex((s) => s.port === port && s.family === family && s.address === want);
    if (i < 0) return undefined;
    const [s] = this.free.splice(i, 1);
    this.taken.push(s!);
    return s;
  }

  /** Closes every socket no `listen on` line took; returns them (for a warning each). */
  closeUnused(): InheritedSocket[] {
    const left = this.free.splice(0);
    for (const s of left) closeQuietly(s.fd);
    return left;
  }

  /** The descriptors handed out by take() (the privileged process closes its copies). */
  takenFds(): number[] {
    return this.taken.map((s) => s.fd);
  }

  /** After the listeners are set up: log what was used and refused, close the unused ones. */
  finish(log: Logger): void {
    for (const s of this.taken) log.info('inherited socket', { fd: s.fd, name: s.name, address: formatAddress(s) });
    for (const r of this.refused) log.warn('inherited socket refused, closed', { fd: r.fd, name: r.name, reason: r.reason });
    for (const s of this.closeUnused()) log.warn('inherited socket matches no listen on line, closed', { fd: s.fd, name: s.name, address: formatAddress(s) });
  }
}

function formatAddress(s: InheritedSocket): string {
  return s.family === 6 ? `[${s.address}]:${s.port}` : `${s.address}:${s.port}`;
}

let current: InheritedListeners | undefined;

/** This process's inherited listeners (LISTEN_* parsed and removed on the first call). */
export function inheritedListeners(): InheritedListeners {
  current ??= new InheritedListeners(readInherited());
  return current;
}

/**
 * A single-process daemon: every `listen on` address that has an inherited socket gets it as a
 * listenFd for the smtp actor (same address text as the configuration, which it matches on).
 */
export function adoptForListeners(config: SmtpdConfig, inh: InheritedListeners): ListenFd[] {
  const out: ListenFd[] = [];
  for (const l of config.listeners) {
    if (l.kind === 'socket') continue;
    for (const a of l.addresses) {
      const s = inh.take(a.address, l.port, a.family);
      if (s) out.push({ address: a.address, port: l.port, fd: s.fd });
    }
  }
  return out;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
