// One MessagePort (or a Worker / parentPort) carrying several Comlink endpoints ("lanes"),
// with per-tick batching: every message posted on any lane during one turn of the event
// loop leaves as a single postMessage (one Comlink hop costs ~27 µs of CPU; a batch of a
// hundred costs little more than one — STACK.md section 2).
import type { Endpoint } from 'comlink';

/** The raw side of a channel: a MessagePort, a Worker, or a worker's parentPort. */
export interface RawPort {
  postMessage(value: unknown, transferList?: readonly Transferable[]): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
  off(event: 'message', listener: (value: unknown) => void): unknown;
}

type Listener = (ev: { data: unknown }) => void;
type Item = [lane: string, data: unknown];

interface SingleFrame {
  l: string;
  d: unknown;
}
interface BatchFrame {
  b: Item[];
}

export interface MuxStats {
  /** postMessage calls made on the raw port. */
  frames: number;
  /** Lane messages carried by those frames. */
  messages: number;
  /** Frames received from the raw port. */
  received: number;
}

export class PortMux {
  readonly stats: MuxStats = { frames: 0, messages: 0, received: 0 };
  private readonly lanes = new Map<string, Set<Listener>>();
  private outbox: Item[] = [];
  private transfers: Transferable[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly onRaw = (frame: unknown): void => this.receive(frame);

  constructor(private readonly port: RawPort) {
    port.on('message', this.onRaw);
  }

  /** A Comlink endpoint for one lane. Requests and responses of a lane share its name. */
  lane(name: string): Endpoint {
    const listeners = this.listenersOf(name);
    return {
      postMessage: (message: unknown, transfer?: Transferable[]) => this.post(name, message, transfer),
      addEventListener: (_type: string, l: EventListenerOrEventListenerObject) => {
        listeners.add(toListener(l));
      },
      removeEventListener: (_type: string, l: EventListenerOrEventListenerObject) => {
        listeners.delete(toListener(l));
      },
    };
  }

  /** Stop listening; pending output is dropped. */
  close(): void {
    this.closed = true;
    this.outbox = [];
    this.transfers = [];
    this.port.off('message', this.onRaw);
  }

  private listenersOf(name: string): Set<Listener> {
    let set = this.lanes.get(name);
    if (!set) {
      set = new Set();
      this.lanes.set(name, set);
    }
    return set;
  }

  private post(lane: string, data: unknown, transfer?: Transferable[]): void {
    if (this.closed) return;
    this.outbox.push([lane, data]);
    if (transfer && transfer.length > 0) this.transfers.push(...transfer);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.outbox.length === 0) return;
    const items = this.outbox;
    const transfers = this.transfers;
    this.outbox = [];
    this.transfers = [];
    const frame: SingleFrame | BatchFrame = items.length === 1 ? { l: items[0]![0], d: items[0]![1] } : { b: items };
    this.stats.frames++;
    this.stats.messages += items.length;
    this.port.postMessage(frame, transfers);
  }

  private receive(frame: unknown): void {
    if (!frame || typeof frame !== 'object') return;
    this.stats.received++;
    if ('b' in frame && Array.isArray((frame as BatchFrame).b)) {
      for (const [lane, data] of (frame as BatchFrame).b) this.deliver(lane, data);
    } else if ('l' in frame) {
      const f = frame as SingleFrame;
      this.deliver(f.l, f.d);
    }
  }

  private deliver(lane: string, data: unknown): void {
    const set = this.lanes.get(lane);
    if (!set) return;
    for (const l of [...set]) l({ data });
  }
}

const wrapped = new WeakMap<object, Listener>();

function toListener(l: EventListenerOrEventListenerObject): Listener {
  if (typeof l === 'function') return l as Listener;
  let fn = wrapped.get(l);
  if (!fn) {
    fn = (ev) => l.handleEvent(ev);
    wrapped.set(l, fn);
  }
  return fn;
}
