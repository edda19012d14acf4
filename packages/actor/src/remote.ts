// Typed handles on another actor's mailbox. Comlink alone leaves a call pending forever
// when the peer dies (STACK.md section 2, pitfall 1); here every call has a deadline and
// every pending call is rejected at once when the peer is known to be gone.
import * as Comlink from 'comlink';
import { ActorError, RuntimeCodes } from '@tsmtpd/proto';
import type { Endpoint } from 'comlink';
import './errors.js';

/** The caller's view of a mailbox: every method answers asynchronously. */
export type Remote<M> = {
  [K in keyof M]: M[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

export interface RemoteOptions {
  /** Name of the peer, for error messages. */
  peer: string;
  /** Deadline of a call in ms (default 30 s). */
  deadlineMs?: number;
  /** Per-method deadlines overriding the default. */
  deadlines?: Record<string, number>;
  /** Called when a one-way (`on…`) notification fails, since nobody awaits it. */
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
}

export function linkRemote<M>(ep: Endpoint, opts: RemoteOptions): RemoteLink<M> {
  const raw = Comlink.wrap<Record<string, (...a: unknown[]) => Promise<unknown>>>(ep);
  const pending = new Set<(e: Error) => void>();
  let deadReason: string | null = null;
  const methods = new Map<string, (...args: unknown[]) => Promise<unknown>>();

  function call(method: string, args: unknown[]): Promise<unknown> {
    if (deadReason !== null) {
      return Promise.reject(new ActorError(RuntimeCodes.dead, 'temp', `${opts.peer} is dead: ${deadReason}`));
    }
    const ms = opts.deadlines?.[method] ?? opts.deadlineMs ?? DEFAULT_DEADLINE_MS;
    return new Promise((resolve, reject) => {
      const rejecter = (e: Error): void => {
        clearTimeout(timer);
        reject(e);
      };
      const timer = setTimeout(() => {
        pending.delete(rejecter);
        reject(new ActorError(RuntimeCodes.timeout, 'temp', `${opts.peer}.${method} timed out after ${ms} ms`));
      }, ms);
      pending.add(rejecter);
      (raw[method] as (...a: unknown[]) => Promise<unknown>)(...args).then(
        (v) => {
          clearTimeout(timer);
          pending.delete(rejecter);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          pending.delete(rejecter);
          reject(e);
        },
      );
    });
  }

  const remote = new Proxy({} as Remote<M>, {
    get(_t, prop) {
      if (typeof prop !== 'string' || prop === 'then') return undefined;
      let fn = methods.get(prop);
      if (!fn) {
        const notify = /^on[A-Z]/.test(prop);
        fn = notify
          ? (...args: unknown[]) => {
              const p = call(prop, args);
              p.catch((e: unknown) => opts.onNotifyError?.(prop, e));
              return p;
            }
          : (...args: unknown[]) => call(prop, args);
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
      const err = new ActorError(RuntimeCodes.dead, 'temp', `${opts.peer} is dead: ${reason}`);
      for (const r of [...pending]) r(err);
      pending.clear();
    },
    get pending() {
      return pending.size;
    },
    get alive() {
      return deadReason === null;
    },
  };
}

/** Mark a value's buffers for transfer instead of copy (bodies cross threads this way). */
export function transfer<T>(value: T, buffers: ArrayBuffer[]): T {
  return Comlink.transfer(value, buffers);
}
