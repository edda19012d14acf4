// Typed handles on another actor's mailbox. Comlink alone leaves a call pending forever
// when the peer dies (STACK.md section 2, pitfall 1); here every call has a deadline and
// every pending call is rejected at once when the peer is known to be gone. Notifications
// (`on…`) bypass Comlink: one frame, no answer (notify.ts); drain() waits them out.
import * as Comlink from 'comlink';
import { ActorError, RuntimeCodes } from '@tsmtpd/proto';
import type { Endpoint } from 'comlink';
import './errors.js';
import { NOTIFY_NAME, isDrainAnswer, transfersOf, type NotifyFrame } from './notify.js';

/** Whether a method name is a notification's: `on` then a capital letter. */
type IsNotify<K> = K extends `on${infer C}${string}` ? (C extends Uppercase<C> ? (C extends Lowercase<C> ? false : true) : false) : false;

/** The caller's view of a mailbox: requests answer asynchronously, notifications not at all. */
export type Remote<M> = {
  [K in keyof M]: M[K] extends (...args: infer A) => infer R ? (IsNotify<K> extends true ? (...args: A) => void : (...args: A) => Promise<Awaited<R>>) : never;
};

export interface RemoteOptions {
  /** Name of the peer, for error messages. */
  peer: string;
  /** Deadline of a call in ms (default 30 s). */
  deadlineMs?: number;
  /** Per-method deadlines overriding the default. */
  deadlines?: Record<string, number>;
  /** Called when a one-way (`on…`) notification cannot be sent (the peer is dead). */
  onNotifyError?: (method: string, error: unknown) => void;
}

export const DEFAULT_DEADLINE_MS = 30_000;

/** A remote plus the means to fail it: `kill` rejects every pending and future call. */
export interface RemoteLink<M> {
  remote: Remote<M>;
  kill(reason: string): void;
  readonly pending: number;
  /** False once the peer is known dead (its channel closed). */
  readonly alive: boolean;
  /**
   * Resolves once every notification sent before it on this lane was dispatched and its
   * handler settled (rejects on the deadline, `ms` or the link's default, or death).
   */
  drain(ms?: number): Promise<void>;
}

export function linkRemote<M>(ep: Endpoint, opts: RemoteOptions): RemoteLink<M> {
  const raw = Comlink.wrap<Record<string, (...a: unknown[]) => Promise<unknown>>>(ep);
  const pending = new Set<(e: Error) => void>();
  let deadReason: string | null = null;
  const methods = new Map<string, (...args: unknown[]) => unknown>();
  const drains = new Map<number, () => void>();
  let drainSeq = 0;
  ep.addEventListener('message', ((ev: { data: unknown }) => {
    if (!isDrainAnswer(ev.data)) return;
    drains.get(ev.data.dr)?.();
  }) as EventListenerOrEventListenerObject);

  function deadError(): ActorError {
    return new ActorError(RuntimeCodes.dead, 'temp', `${opts.peer} is dead: ${deadReason}`);
  }

  /** With a deadline and rejected on death, like a call; `send` starts it. */
  function guarded<T>(method: string, ms: number, send: (settle: (v: T) => void, fail: (e: unknown) => void) => void): Promise<T> {
    if (deadReason !== null) return Promise.reject(deadError());
    return new Promise<T>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        pending.delete(rejecter);
      };
      const rejecter = (e: Error): void => {
        clearTimeout(timer);
        reject(e);
      };
      const timer = setTimeout(() => {
        pending.delete(rejecter);
        reject(new ActorError(RuntimeCodes.timeout, 'temp', `${opts.peer}.${method} timed out after ${ms} ms`));
      }, ms);
      pending.add(rejecter);
      send(
        (v) => {
          done();
          resolve(v);
        },
        (e) => {
          done();
          reject(e);
        },
      );
    });
  }

  function notify(method: string, args: unknown[]): void {
    if (deadReason !== null) {
      const err = deadError();
      queueMicrotask(() => opts.onNotifyError?.(method, err));
      return;
    }
    const frame: NotifyFrame = { ow: method, a: args };
    ep.postMessage(frame, transfersOf(args));
  }

  function drain(ms?: number): Promise<void> {
    const n = ++drainSeq;
    return guarded<void>('drain', ms ?? opts.deadlineMs ?? DEFAULT_DEADLINE_MS, (settle) => {
      drains.set(n, settle);
      ep.postMessage({ dq: n });
    }).finally(() => drains.delete(n));
  }

  function call(method: string, args: unknown[]): Promise<unknown> {
    const ms = opts.deadlines?.[method] ?? opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
    return guarded<unknown>(method, ms, (settle, fail) => {
      (raw[method] as (...a: unknown[]) => Promise<unknown>)(...args).then(settle, fail);
    });
  }

  const remote = new Proxy({} as Remote<M>, {
    get(_t, prop) {
      if (typeof prop !== 'string' || prop === 'then') return undefined;
      let fn = methods.get(prop);
      if (!fn) {
        fn = NOTIFY_NAME.test(prop) ? (...args: unknown[]) => notify(prop, args) : (...args: unknown[]) => call(prop, args);
        methods.set(prop, fn);
      }
      return fn;
    },
  });

  return {
    remote,
    kill(reason: string) {
      if (deadReason !== null) return;
      deadReason = reason;
      const err = deadError();
      for (const r of [...pending]) r(err);
      pending.clear();
    },
    get pending() {
      return pending.size;
    },
    get alive() {
      return deadReason === null;
    },
    drain,
  };
}

export { transfer } from './notify.js';
