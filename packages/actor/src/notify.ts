// One-way notifications (`on…` mailbox methods, DESIGN.md section 3) on a mux lane: the
// caller posts one frame and the callee answers nothing. `serve` exposes a mailbox with
// Comlink for requests and takes notification and drain frames before Comlink sees them.
import * as Comlink from 'comlink';
import type { Endpoint } from 'comlink';
import { errorInfo } from './errors.js';

/** A notification: method name and arguments, structured-cloned. */
export interface NotifyFrame {
  ow: string;
  a: unknown[];
}
/** A drain request (`dq`) and its answer (`dr`), matched by number. */
export interface DrainRequest {
  dq: number;
}
export interface DrainAnswer {
  dr: number;
}

export function isNotifyFrame(d: unknown): d is NotifyFrame {
  return typeof d === 'object' && d !== null && typeof (d as NotifyFrame).ow === 'string' && Array.isArray((d as NotifyFrame).a);
}
export function isDrainRequest(d: unknown): d is DrainRequest {
  return typeof d === 'object' && d !== null && typeof (d as DrainRequest).dq === 'number';
}
export function isDrainAnswer(d: unknown): d is DrainAnswer {
  return typeof d === 'object' && d !== null && typeof (d as DrainAnswer).dr === 'number';
}

/** Method names that are notifications: `on` then a capital letter. */
export const NOTIFY_NAME = /^on[A-Z]/;

// Buffers marked by transfer(): Comlink keeps its own marks private, so notifications
// (which bypass Comlink) find theirs here.
const marks = new WeakMap<object, ArrayBuffer[]>();

/** Mark a value's buffers for transfer instead of copy (bodies cross threads this way). */
export function transfer<T>(value: T, buffers: ArrayBuffer[]): T {
  if (typeof value === 'object' && value !== null) marks.set(value, buffers);
  return Comlink.transfer(value, buffers);
}

/** A standalone ArrayBuffer holding exactly these bytes (safe to transfer: never a shared pool). */
export function ownArrayBuffer(b: Uint8Array): ArrayBuffer {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer) return b.buffer;
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return copy.buffer;
}

export function transfersOf(args: unknown[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const a of args) if (typeof a === 'object' && a !== null) out.push(...(marks.get(a) ?? []));
  return out;
}

/** Called when a notification handler throws or rejects: nobody else will hear of it. */
export type NotifyFailure = (method: string, error: unknown) => void;

const stderrFailure: NotifyFailure = (method, e) => {
  process.stderr.write(`notification ${method} failed: ${errorInfo(e).message}\n`);
};

type Listener = (ev: { data: unknown }) => void;

/**
 * Expose `obj` on `ep`: requests go to Comlink, notifications are dispatched here in
 * arrival order, and a drain is answered once every earlier notification's handler settled.
 */
export function serve(obj: object, ep: Endpoint, onFailure: NotifyFailure = stderrFailure): void {
  const running = new Set<Promise<void>>();
  const dispatch = (f: NotifyFrame): void => {
    let p: Promise<void>;
    try {
      const fn = NOTIFY_NAME.test(f.ow) ? (obj as Record<string, unknown>)[f.ow] : undefined;
      if (typeof fn !== 'function') throw new TypeError(`no notification ${f.ow}`);
      p = Promise.resolve(fn.apply(obj, f.a)).then(
        () => undefined,
        (e: unknown) => onFailure(f.ow, e),
      );
    } catch (e) {
      onFailure(f.ow, e);
      return;
    }
    running.add(p);
    void p.finally(() => running.delete(p));
  };
  const filtered = new WeakMap<object, Listener>();
  const wrap = (l: EventListenerOrEventListenerObject): Listener => {
    let fn = filtered.get(l);
    if (!fn) {
      const inner: Listener = typeof l === 'function' ? (l as Listener) : (ev) => l.handleEvent(ev as unknown as Event);
      fn = (ev) => {
        const d = ev.data;
        if (isNotifyFrame(d)) dispatch(d);
        else if (isDrainRequest(d)) {
          const n = d.dq;
          void Promise.allSettled([...running]).then(() => ep.postMessage({ dr: n } satisfies DrainAnswer));
        } else inner(ev);
      };
      filtered.set(l, fn);
    }
    return fn;
  };
  const guarded: Endpoint = {
    postMessage: (m: unknown, t?: Transferable[]) => ep.postMessage(m, t),
    addEventListener: (type: string, l: EventListenerOrEventListenerObject) => ep.addEventListener(type, wrap(l) as unknown as EventListenerOrEventListenerObject),
    removeEventListener: (type: string, l: EventListenerOrEventListenerObject) => ep.removeEventListener(type, wrap(l) as unknown as EventListenerOrEventListenerObject),
  };
  Comlink.expose(obj, guarded);
}
