// One outgoing connection and its life (REFERENCE 6.2, 6.4): connect (a failure penalises the
// route), then take tasks — its own relay's first, then any relay that may use the same
// server — up to `session-mail-max`, wait `session-keepalive` for more, and QUIT. A session
// that gets nothing accepted for 10 messages, or `max-failures-per-session` refused recipients
// in a row, gives up. The engine (engine.ts) owns the choice of tasks and routes.
import type { ClientOptions, ClientSession } from './client/types.js';
import type { Slot } from './pool.js';
import type { Relay, Task } from './relay.js';
import type { Candidate } from './routing.js';
import { buildTransaction, BodyFailure, checkExtensions, outcomes, prepareBody, taskSender, type Outcome } from './transfer.js';
import type { Where } from './results.js';

/** OpenSMTPD's fixed limit: messages tried in a row without any success. */
const MAX_FAILED_MAILS = 10;

/** What a session needs from the engine. */
export interface SessionHost {
  nextTask(s: Session): Task | null;
  /** The session is idle (waits for work); `closed` when it ended. */
  idle(s: Session): void;
  closed(s: Session, connectError: string | null): void;
  connected(s: Session): void;
  report(task: Task, outs: Outcome[], where: Where): void;
  prepare: Parameters<typeof prepareBody>[0];
  srs: Parameters<typeof taskSender>[2];
  log: { info(event: string, fields?: Record<string, unknown>): void };
}

export type SessionState = 'connecting' | 'busy' | 'idle' | 'closing';

let nextId = 1;

/** Text with a code, so a bounce can name a status (`4.4.1 Connection refused`). */
export function withCode(text: string, enhanced: string): string {
  return /^[245]\d\d[ -]|^[245]\.\d{1,3}\.\d{1,3}\b/.test(text) ? text : `${enhanced} ${text}`;
}

export class Session {
  readonly id = nextId++;
  state: SessionState = 'connecting';
  extensions: string[] = [];
  mails = 0;
  private failedMails = 0;
  private failedRcpts = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private client: ClientSession | null = null;

  constructor(
    private readonly host: SessionHost,
    readonly relay: Relay,
    readonly cand: Candidate,
    readonly src: string | null,
    /** Relays whose tasks this session may take share this key. */
    readonly key: string,
    readonly slot: Slot,
  ) {}

  get where(): Where {
    return { source: this.src, relay: `${this.cand.host} [${this.cand.ip}]`, remoteMta: this.cand.host };
  }

  /** Connect with these options; then work until there is none. */
  async start(factory: (o: ClientOptions) => ClientSession, opts: ClientOptions): Promise<void> {
    const ip = opts.address.includes(':') ? `[${opts.address}]` : opts.address;
    this.host.log.info('connecting', { address: `${this.relay.profile.scheme}://${ip}:${opts.port}`, host: this.cand.host });
    let error: string | null = null;
    try {
      this.client = factory(opts);
      const r = await this.client.connect();
      if (r.ok) this.extensions = r.extensions;
      else error = r.reply;
    } catch (e) {
      error = `session failed: ${(e as Error).message}`;
    }
    if (error !== null) {
      this.client?.close();
      this.state = 'closing';
      this.host.closed(this, withCode(error, '4.4.1'));
      return;
    }
    this.host.connected(this);
    this.feed();
  }

  /** Take the next task, or wait for one. */
  feed(): void {
    if (this.state === 'closing') return;
    const limits = this.relay.limits;
    if (this.mails >= limits.sessionMailMax || !this.client?.usable) return void this.quit();
    const task = this.host.nextTask(this);
    if (task) return void this.run(task);
    this.state = 'idle';
    this.idleTimer = setTimeout(() => void this.quit(), limits.sessionKeepalive * 1000);
    this.host.idle(this);
  }

  /** An idle session is given a task by the engine. */
  take(task: Task): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    void this.run(task);
  }

  private async run(task: Task): Promise<void> {
    this.state = 'busy';
    this.mails++;
    const outs = await this.transfer(task);
    this.host.report(task, outs, this.where);
    const accepted = outs.filter((o) => o.status === 'ok').length;
    this.failedMails = accepted > 0 ? 0 : this.failedMails + 1;
    this.failedRcpts = accepted > 0 ? 0 : this.failedRcpts + outs.length;
    const l = this.relay.limits;
    if (this.failedMails >= MAX_FAILED_MAILS || this.failedRcpts >= l.maxFailuresPerSession) {
      this.host.log.info('session gives up', { host: this.cand.host, reason: 'host rejects all mails' });
      return void this.quit();
    }
    if (l.sessionTransactionDelay > 0) setTimeout(() => this.feed(), l.sessionTransactionDelay * 1000);
    else this.feed();
  }

  private async transfer(task: Task): Promise<Outcome[]> {
    const envs = task.envelopes;
    const all = (o: Outcome): Outcome[] => envs.map(() => o);
    let tx;
    try {
      const body = await prepareBody(this.host.prepare, task.msgid);
      tx = buildTransaction(envs, taskSender(envs[0]!, task.relay.def, this.host.srs), body);
    } catch (e) {
      const kind = e instanceof BodyFailure ? e.kind : 'temp';
      return all({ status: kind === 'perm' ? 'permfail' : 'tempfail', errorline: `${kind === 'perm' ? '5' : '4'}.3.0 ${(e as Error).message}`, remote: false });
    }
    const refused = checkExtensions(tx, this.extensions);
    if (refused) return all(refused);
    try {
      return outcomes(envs, await this.client!.send(tx));
    } catch (e) {
      this.client?.close();
      return all({ status: 'tempfail', errorline: `4.4.2 session failed: ${(e as Error).message}`, remote: false });
    }
  }

  /** QUIT (bounded by the client) and tell the engine. */
  async quit(): Promise<void> {
    if (this.state === 'closing') return;
    this.state = 'closing';
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    try {
      await this.client?.quit();
    } catch {
      this.client?.close();
    }
    this.host.closed(this, null);
  }

  /** Close at once (stop). */
  abort(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.client?.close();
  }
}
