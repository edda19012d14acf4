// Admission of new connections, shared by every listener of the actor: per-address concurrency
// (`smtp limit max-conn-per-ip`), per-address connection rate (`max-conn-rate N/min`) and the
// session limit (`max-sessions`): at the limit a connection waits, unread and ungreeted, as it
// would in the kernel's backlog, and is taken up when a session ends (REFERENCE 7.2: OpenSMTPD
// pauses its listeners instead of refusing). Pure bookkeeping; connection.ts applies verdicts.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

export interface GuardLimits {
  maxSessions: number;
  maxConnPerIp: number;
  maxConnRate: { count: number; perSeconds: number } | null;
}

export type Admission = 'admit' | 'wait' | 'per-ip' | 'rate' | 'full';

/** Connections waiting for a session slot, at most (the listen backlog's size). */
export const MAX_WAITING = 511;
/** Addresses whose rate window is kept, at most: beyond, the oldest are forgotten. */
const MAX_TRACKED = 100_000;

/**
 * OpenSMTPD's default: (free descriptors)/2 - 5, from the soft RLIMIT_NOFILE (a session holds a
 * socket and the queue may open a file for it). Read from /proc; 1024 when unreadable.
 */
export function defaultMaxSessions(): number {
  let fds = 1024;
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m?.[1]) fds = Number(m[1]);
  } catch {
    // not Linux: keep the common default
  }
  return Math.max(16, Math.floor(fds / 2) - 5);
}

export class ConnectionGuard {
  private active = 0;
  private readonly perIp = new Map<string, number>();
  /** Accept times within the rate window, per address (oldest first). */
  private readonly recent = new Map<string, number[]>();
  private readonly waiting: { socket: Socket; go: () => void; timer: NodeJS.Timeout }[] = [];
  maxSessions: number;

  constructor(private limits: GuardLimits) {
    this.maxSessions = limits.maxSessions > 0 ? limits.maxSessions : defaultMaxSessions();
  }

  /** Reloaded limits: they apply to the next connection; a higher session limit frees waiters now. */
  setLimits(limits: GuardLimits): void {
    this.limits = limits;
    this.maxSessions = limits.maxSessions > 0 ? limits.maxSessions : defaultMaxSessions();
    this.next();
  }

  /** Sessions running now, and connections waiting for a slot. */
  get counts(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }

  /** The verdict for a new connection from `ip` ('' for the local socket: never limited per address). */
  check(ip: string, now = Date.now()): Admission {
    if (ip !== '') {
      if (this.limits.maxConnPerIp > 0 && (this.perIp.get(ip) ?? 0) >= this.limits.maxConnPerIp) return 'per-ip';
      if (this.limits.maxConnRate && !this.takeRate(ip, now)) return 'rate';
    }
    if (this.active < this.maxSessions && this.waiting.length === 0) return 'admit';
    return this.waiting.length < MAX_WAITING ? 'wait' : 'full';
  }

  /** A sliding window per address; true when this connection fits in it (and is counted). */
  private takeRate(ip: string, now: number): boolean {
    const r = this.limits.maxConnRate!;
    const since = now - r.perSeconds * 1000;
    let times = this.recent.get(ip);
    if (!times) {
      if (this.recent.size >= MAX_TRACKED) this.recent.delete(this.recent.keys().next().value!);
      times = [];
      this.recent.set(ip, times);
    }
    while (times.length > 0 && times[0]! <= since) times.shift();
    if (times.length >= r.count) return false;
    times.push(now);
    return true;
  }

  /** A connection from `ip` is in (waiting or running): it counts for its address until it closes. */
  enter(ip: string, socket: Socket): void {
    if (ip === '') return;
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    socket.once('close', () => {
      const n = (this.perIp.get(ip) ?? 1) - 1;
      if (n <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, n);
    });
  }

  /** A session starts on `socket`: it holds a slot until the socket closes. */
  occupy(socket: Socket): void {
    this.active++;
    socket.once('close', () => {
      this.active--;
      this.next();
    });
  }

  /** Park a connection until a slot frees; it leaves the line if it closes meanwhile. */
  park(socket: Socket, go: () => void, timeoutMs: number): void {
    socket.pause();
    // A connection that waits longer than a session may idle is given up (RFC 5321 4.5.3.2.1
    // has the client wait 5 minutes for the greeting).
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    const entry = { socket, go, timer };
    this.waiting.push(entry);
    socket.once('close', () => {
      clearTimeout(timer);
      const i = this.waiting.indexOf(entry);
      if (i >= 0) this.waiting.splice(i, 1);
    });
  }

  private next(): void {
    while (this.active < this.maxSessions && this.waiting.length > 0) {
      const e = this.waiting.shift()!;
      if (e.socket.destroyed) continue;
      clearTimeout(e.timer);
      e.go();
    }
  }
}
