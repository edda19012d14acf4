// The mda worker's side of the per-uid delivery helpers (root daemon only): one long-lived
// helper per uid/gid, reused across deliveries, ended after ~30 s idle. A delivery is one
// request: its body is buffered and sent with the job and the END in one write (bodies over
// FLUSH_BYTES go out in pieces, with back-pressure), and one answer comes back. A helper that
// dies or does not answer fails its deliveries in flight as temporary failures.
import type { Logger } from '@tsmtpd/actor';
import type { HelperJob } from './protocol.js';
import { tempfail, type MethodOutcome, type Sink, type SinkOpen } from '../sink.js';
import { FrameReader, FrameType, MAX_PAYLOAD, frameHeader, jsonFrame } from './frame.js';
import { spawnHelper, type HelperLink, type LinkEvents } from './link.js';
import { OutcomeSchema, parseJson } from './protocol.js';

export { HELPER_ENTRY } from './link.js';
export const DEFAULT_IDLE_MS = 30_000;
/**
 * Longest wait for a helper to take a delivery and answer it. A helper that does not answer in
 * time (a hung filesystem) is killed: its deliveries fail temporarily.
 */
export const DEFAULT_REQUEST_MS = 10 * 60_000;
/** Body bytes held before they are sent on (a 1 KiB message goes out whole, in one write). */
const FLUSH_BYTES = 256 * 1024;

/** Makes the link to a helper for uid/gid (spawned here, or handed over by the privileged side). */
export type LinkFactory = (uid: number, gid: number, ev: LinkEvents) => HelperLink;

class RemoteSink implements Sink {
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private openSent = false;
  private finished = false;
  result: MethodOutcome | null = null;
  private settleDone: (o: MethodOutcome) => void = () => {};
  readonly done = new Promise<MethodOutcome>((r) => (this.settleDone = r));

  constructor(
    private readonly conn: HelperConn,
    readonly id: number,
    private readonly job: HelperJob,
  ) {}

  settle(o: MethodOutcome): void {
    if (this.result !== null) return;
    this.result = o;
    this.settleDone(o);
  }

  /** The frames of what is queued, with OPEN first and `last` (END, ABORT) after. */
  private frames(last: typeof FrameType.end | typeof FrameType.abort | null): Buffer[] {
    const out: Buffer[] = [];
    if (!this.openSent) out.push(jsonFrame(FrameType.open, this.id, this.job));
    this.openSent = true;
    // As few DATA frames as fit (the prefix and a small body are one): the helper writes each
    // frame's payload with one write(2).
    let group: Buffer[] = [];
    let groupBytes = 0;
    const close = (): void => {
      if (groupBytes > 0) out.push(frameHeader(FrameType.data, this.id, groupBytes), ...group);
      group = [];
      groupBytes = 0;
    };
    for (const b of this.queued) {
      for (let off = 0; off < b.length; ) {
        const n = Math.min(b.length - off, MAX_PAYLOAD - groupBytes);
        group.push(off === 0 && n === b.length ? b : b.subarray(off, off + n));
        groupBytes += n;
        off += n;
        if (groupBytes === MAX_PAYLOAD) close();
      }
    }
    close();
    this.queued = [];
    this.queuedBytes = 0;
    if (last !== null) out.push(frameHeader(last, this.id, 0));
    return out;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.result !== null || this.finished) return;
    this.queued.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.queuedBytes += chunk.byteLength;
    if (this.queuedBytes >= FLUSH_BYTES) await this.conn.send(this, this.frames(null));
  }

  async end(): Promise<MethodOutcome> {
    if (this.finished) return this.result ?? this.done;
    this.finished = true;
    if (this.result !== null) {
      // Answered early (the open failed): the END still tells the helper to forget the id.
      if (this.openSent) await this.conn.send(this, [frameHeader(FrameType.end, this.id, 0)]);
      return this.result;
    }
    await this.conn.send(this, this.frames(FrameType.end));
    return this.done;
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    if (!this.openSent) return this.settle(tempfail('delivery aborted'));
    await this.conn.send(this, this.frames(FrameType.abort));
    await this.done;
  }
}

class HelperConn {
  private readonly link: HelperLink;
  private readonly reader = new FrameReader();
  private readonly pending = new Map<number, RemoteSink>();
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | null = null;
  private drainWaiters: (() => void)[] = [];
  dead: string | null = null;
  private exited: () => void = () => {};
  readonly gone = new Promise<void>((r) => (this.exited = r));

  constructor(
    readonly uid: number,
    makeLink: LinkFactory,
    private readonly idleMs: number,
    private readonly requestMs: number,
    private readonly log: Logger,
    private readonly onGone: (c: HelperConn) => void,
  ) {
    this.link = makeLink(uid, -1, { data: (b) => this.receive(b), gone: (why) => this.fail(why) });
  }

  get pid(): number | undefined {
    return this.link.pid;
  }

  private receive(chunk: Buffer): void {
    let frames;
    try {
      frames = this.reader.push(chunk);
    } catch (e) {
      this.log.warn('delivery helper sent garbage: killed', { uid: this.uid, error: (e as Error).message });
      this.link.kill();
      return this.fail('helper protocol error');
    }
    for (const f of frames) {
      const s = this.pending.get(f.id);
      if (f.type !== FrameType.done || s === undefined) continue;
      this.settled(s, parseJson(OutcomeSchema, f.payload) ?? tempfail('helper: invalid answer'));
    }
  }

  private settled(s: RemoteSink, o: MethodOutcome): void {
    this.pending.delete(s.id);
    s.settle(o);
    if (this.pending.size === 0 && this.dead === null) {
      this.idleTimer = setTimeout(() => this.stop('idle'), this.idleMs);
      this.idleTimer.unref();
    }
  }

  private fail(reason: string): void {
    if (this.dead !== null) return;
    this.dead = reason;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.onGone(this);
    const o = tempfail(`delivery helper for uid ${this.uid}: ${reason}`);
    for (const s of this.pending.values()) s.settle(o);
    this.pending.clear();
    for (const w of this.drainWaiters.splice(0)) w();
    this.exited();
  }

  open(job: HelperJob): SinkOpen {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const s = new RemoteSink(this, this.nextId++, job);
    this.pending.set(s.id, s);
    return { ok: true, sink: s };
  }

  /** Send frames of a delivery; resolves when the link takes more (back-pressure). */
  async send(s: RemoteSink, frames: Buffer[]): Promise<void> {
    if (this.dead !== null) return s.settle(tempfail(`delivery helper for uid ${this.uid}: ${this.dead}`));
    const timer = setTimeout(() => {
      this.log.warn('delivery helper does not answer: killed', { uid: this.uid, pid: this.pid });
      this.link.kill();
      this.fail(`no answer within ${Math.round(this.requestMs / 1000)} s`);
    }, this.requestMs);
    void s.done.then(() => clearTimeout(timer));
    if (!this.link.write(frames)) {
      await new Promise<void>((r) => {
        this.drainWaiters.push(r);
        this.link.onDrain(() => this.drainWaiters.splice(0).forEach((w) => w()));
      });
    }
  }

  /** Close the link (the helper exits when it reads the end); it is killed if it lingers. */
  stop(reason: string): void {
    if (this.dead !== null) return;
    this.log.debug('delivery helper stopping', { uid: this.uid, reason });
    this.onGone(this);
    this.link.close();
  }
}

/** One helper per uid/gid, created on first use. */
export class HelperPool {
  private readonly helpers = new Map<string, HelperConn>();
  private readonly makeLink: (uid: number, gid: number) => LinkFactory;

  constructor(
    private readonly log: Logger,
    private readonly idleMs = DEFAULT_IDLE_MS,
    private readonly requestMs = DEFAULT_REQUEST_MS,
    makeLink?: LinkFactory,
  ) {
    const make = makeLink ?? ((uid: number, gid: number, ev: LinkEvents) => spawnHelper(uid, gid, log, ev));
    this.makeLink = (uid, gid) => (_u, _g, ev) => make(uid, gid, ev);
  }

  get size(): number {
    return this.helpers.size;
  }

  /** Pids of the running helpers (tests check reuse and idle exit). */
  pids(): number[] {
    return [...this.helpers.values()].map((h) => h.pid).filter((p): p is number => p !== undefined);
  }

  /** A delivery through uid's helper; it answers at `end` (a failed open included). */
  async open(uid: number, gid: number, job: HelperJob): Promise<SinkOpen> {
    const key = `${uid}:${gid}`;
    let h = this.helpers.get(key);
    if (!h || h.dead !== null) {
      h = new HelperConn(uid, this.makeLink(uid, gid), this.idleMs, this.requestMs, this.log, (gone) => {
        if (this.helpers.get(key) === gone) this.helpers.delete(key);
      });
      this.helpers.set(key, h);
    }
    return h.open(job);
  }

  async close(): Promise<void> {
    const all = [...this.helpers.values()];
    for (const h of all) h.stop('shutdown');
    await Promise.all(all.map((h) => Promise.race([h.gone, new Promise((r) => setTimeout(r, 3000))])));
  }
}
