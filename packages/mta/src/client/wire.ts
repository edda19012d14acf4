// One socket of a client session (plain or TLS): writes with back-pressure and a deadline, and
// replies read through the strict parser (reply.ts) with a deadline. Every failure here is a
// connection-level failure, returned as a value; after one the wire is dead. Used by session.ts.
import type { Socket } from 'node:net';
import { ReplyParser, type Reply } from './reply.js';

export type WireResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Replies the server may send ahead of us before it is treated as talking out of turn. */
const MAX_QUEUED_REPLIES = 512;

export class Wire {
  private readonly parser = new ReplyParser();
  private readonly replies: Reply[] = [];
  private dead: string | null = null;
  private wake: (() => void) | null = null;
  /** A writer waiting for 'drain' is woken only when the wire dies, not by incoming data. */
  private wakeWriter: (() => void) | null = null;

  private readonly onData = (b: Buffer): void => {
    const out = this.parser.push(b);
    this.replies.push(...out.replies);
    if (out.error !== null) this.kill(`protocol error: ${out.error}`);
    else if (this.replies.length > MAX_QUEUED_REPLIES) this.kill('protocol error: too many unsolicited replies');
    this.notify();
  };
  private readonly onClose = (): void => {
    this.dead ??= 'connection closed by server';
    this.notify();
  };
  private readonly onError = (e: Error): void => {
    this.dead ??= `connection error: ${(e as NodeJS.ErrnoException).code ?? e.message}`;
    this.notify();
  };

  constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    if (socket.destroyed) this.onClose();
  }

  /** Why the wire is dead, or null while it can carry commands. */
  get failure(): string | null {
    return this.dead;
  }

  /** The server sent something we did not ask for yet (a reply or part of a line). */
  get hasUnread(): boolean {
    return this.replies.length > 0 || this.parser.pending;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
    if (this.dead !== null) {
      const ww = this.wakeWriter;
      this.wakeWriter = null;
      ww?.();
    }
  }

  private kill(reason: string): void {
    this.dead ??= reason;
    this.socket.destroy();
    this.notify();
  }

  /** The next reply; replies already received are returned even after the server closed. */
  async read(timeoutMs: number, what: string): Promise<WireResult<Reply>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.replies.shift();
      if (r !== undefined) return { ok: true, value: r };
      if (this.dead !== null) return { ok: false, reason: this.dead };
      const left = deadline - Date.now();
      if (left <= 0) {
        this.kill(`timeout waiting for the reply to ${what}`);
        return { ok: false, reason: this.dead ?? 'timeout' };
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Write; waits for 'drain' (bounded) when the socket's buffer is full. */
  async write(data: string | Uint8Array, timeoutMs: number): Promise<WireResult<void>> {
    if (this.dead !== null) return { ok: false, reason: this.dead };
    if (this.socket.write(data)) return { ok: true, value: undefined };
    const drained = await new Promise<boolean>((resolve) => {
      const done = (v: boolean): void => {
        clearTimeout(t);
        this.socket.off('drain', onDrain);
        this.wakeWriter = null;
        resolve(v);
      };
      const onDrain = (): void => done(true);
      const t = setTimeout(() => done(false), timeoutMs);
      this.socket.once('drain', onDrain);
      // Closing or failing sockets never drain: the close/error handlers wake us.
      this.wakeWriter = () => done(false);
    });
    if (drained && this.dead === null) return { ok: true, value: undefined };
    if (this.dead === null) this.kill('timeout writing to the server');
    return { ok: false, reason: this.dead ?? 'write failed' };
  }

  /** Stop listening and hand the socket over (STARTTLS wraps it). */
  detach(): Socket {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.off('error', this.onError);
    // An error between now and the TLS layer taking over must not crash the process.
    this.socket.on('error', () => {});
    this.dead ??= 'detached';
    return this.socket;
  }

  /** Close at once. */
  destroy(reason = 'closed'): void {
    this.dead ??= reason;
    this.socket.destroy();
    this.notify();
  }
}
