// The actor process's end of the privileged channel (root daemon): receives its start-up data
// (configuration, spool, settings, the inherited listening descriptors), and serves the actors'
// privileged requests (ParentMailbox) by asking the privileged process, once per helper for
// deliveries: the answer names the helper's socket, which the mda worker connects to itself
// (no frame passes through this thread).
import type { Socket } from 'node:net';
import type { PrivilegedServices } from '@tsmtpd/actor';
import { fail, ok, PrivAnswerSchema, type ListenFd, type PrivAnswer, type PrivRequest } from '@tsmtpd/proto';
import { setCloexec } from '@tsmtpd/peercred';

const REQUEST_MS = 30_000;
type Init = Extract<PrivAnswer, { t: 'init' }>;
type ReloadAnswer = Extract<PrivAnswer, { t: 'reload' }>;
/** A reload's answer with the listening sockets that came before it (their descriptors here). */
export type PrivReload = ReloadAnswer & { listenFds: ListenFd[] };
/** Longest wait for a reload (the privileged side reads the file and binds new listeners). */
const RELOAD_MS = 60_000;
type Waiter = (m: PrivAnswer | null, handle?: Socket) => void;

/** Omit that distributes over a union (each request kind keeps its own fields). */
type NoId<T> = T extends unknown ? Omit<T, 'id'> : never;

export class PrivChannel {
  private nextId = 1;
  private readonly waiters = new Map<number, Waiter>();
  private initWaiter: ((m: Init) => void) | null = null;
  private bad: (why: string) => void = () => {};
  /** Resolves when the privileged process is gone (the channel closed). */
  readonly lost: Promise<string>;
  /** A reload the privileged side did on its own (SIGHUP): apply it. */
  onReload: (r: PrivReload) => void = () => {};
  /** Sockets of a reload's new listeners, until its answer comes. */
  private listens: ListenFd[] = [];
  /**
   * Their handles, held for good: the smtp actor listens on the same descriptor, and closing this
   * copy would close it under the actor (or, later, a reused number).
   */
  private readonly held: unknown[] = [];

  constructor() {
    this.lost = new Promise((r) => (this.bad = r));
    process.on('message', (raw, handle) => this.receive(raw, handle as Socket | undefined));
    process.on('disconnect', () => {
      for (const w of this.waiters.values()) w(null);
      this.waiters.clear();
      this.bad('the privileged process is gone');
    });
  }

  /** The start-up message (the privileged side sends it first). */
  init(timeoutMs = REQUEST_MS): Promise<Init> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no start-up data from the privileged process')), timeoutMs);
      this.initWaiter = (m) => {
        clearTimeout(t);
        resolve(m);
      };
    });
  }

  private receive(raw: unknown, handle?: Socket): void {
    const p = PrivAnswerSchema.safeParse(raw);
    if (!p.success) {
      handle?.destroy();
      return;
    }
    const m = p.data;
    if (m.t === 'init') return this.initWaiter?.(m);
    if (m.t === 'listen') return this.listenHandle(m.address, m.port, handle);
    if (m.t === 'reload') {
      const r: PrivReload = { ...m, listenFds: this.listens };
      this.listens = [];
      if (m.id === 0) return this.onReload(r);
      const w = this.waiters.get(m.id);
      this.waiters.delete(m.id);
      return w?.(r);
    }
    const w = this.waiters.get(m.id);
    this.waiters.delete(m.id);
    if (w) w(m, handle);
    else handle?.destroy();
  }

  /** A listening socket of a reload: a raw handle (not listening here), its descriptor noted. */
  private listenHandle(address: string, port: number, handle: unknown): void {
    const fd = (handle as { fd?: unknown } | undefined)?.fd;
    if (typeof fd !== 'number' || fd < 3) return;
    // As the start-up ones: no child of ours (filter, table program) may inherit a listener.
    setCloexec(fd, true);
    this.held.push(handle);
    this.listens.push({ address, port, fd });
  }

  /** `smtpctl reload`: the privileged side re-reads the file; its answer, or null. */
  async reload(): Promise<PrivReload | null> {
    const { m } = await this.request({ t: 'reload' }, RELOAD_MS);
    return m !== null && m.t === 'reload' ? (m as PrivReload) : null;
  }

  private request(r: NoId<PrivRequest>, ms = REQUEST_MS): Promise<{ m: PrivAnswer | null; handle?: Socket | undefined }> {
    if (!process.connected) return Promise.resolve({ m: null });
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        resolve({ m: null });
      }, ms);
      this.waiters.set(id, (m, handle) => {
        clearTimeout(timer);
        resolve({ m, handle });
      });
      process.send?.({ ...r, id });
    });
  }

  /** Tell the privileged side that every actor runs (it then replays the offline queue). */
  ready(): void {
    if (process.connected) process.send?.({ t: 'ready' });
  }

  services(): PrivilegedServices {
    return {
      deliveryHelper: async (uid, gid) => {
        const { m, handle } = await this.request({ t: 'helper', uid, gid });
        handle?.destroy(); // none is sent with this answer
        if (m === null || m.t !== 'helper' || m.pid === null || m.socket === null) {
          return fail('helper-refused', 'temp', m && m.t === 'helper' && m.error ? m.error : 'no answer from the privileged process');
        }
        return ok({ pid: m.pid, socket: m.socket });
      },
      onDeliveryHelperKill: (pid) => {
        if (process.connected) process.send?.({ t: 'helper-kill', pid });
      },
      forwardRead: async (user) => {
        const { m } = await this.request({ t: 'forward', user });
        if (m === null || m.t !== 'forward') return fail('no-answer', 'temp', 'no answer from the privileged process');
        return m.error !== null ? fail('forward-refused', 'temp', m.error) : ok(m.text);
      },
      systemPasswordCheck: async (user, password) => {
        const { m } = await this.request({ t: 'password', user, password });
        return m !== null && m.t === 'password' && m.ok;
      },
      mboxPrepare: async (user) => {
        const { m } = await this.request({ t: 'mbox', user });
        if (m === null || m.t !== 'mbox') return fail('no-answer', 'temp', 'no answer from the privileged process');
        return m.error !== null ? fail('mbox-refused', 'temp', m.error) : ok(null);
      },
    };
  }
}
