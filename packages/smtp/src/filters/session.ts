// The filters of one SMTP session: its protocol session id, the facts builtin conditions are
// matched on, the walk of a phase through the chain (builtin decisions applied here, process
// answers awaited with a deadline), and the report events sent to the chain's processes.
// A process that is down, restarted since the session began, or silent past the deadline
// ends the phase with a temporary failure: never an acceptance, never a hang.
import type { FilterFacts } from '@tsmtpd/proto';
import { errorInfo } from '@tsmtpd/actor';
import { latin1ToUtf8, type ChainEntry, type FilterEngine } from './engine.js';
import type { FilterProc } from './proc.js';
import { filterLine, hexId, reportLine, validRejectReply, type FilterResult, type ProtoPhase, type ReportEvent } from './protocol.js';
import { DataLineRun } from './dataline.js';

export type PhaseOutcome =
  | { kind: 'proceed'; param: string; rewritten: boolean }
  | { kind: 'reply'; reply: string; disconnect: boolean };

export const FILTER_TEMPFAIL = '421 4.7.0 Temporary failure: a filter is unavailable';

/** The phase names of filter-response reports (OpenSMTPD's own spelling). */
const RESPONSE_PHASE: Partial<Record<ProtoPhase, string>> = { connect: 'connected', starttls: 'tls' };

interface Waiter {
  proc: FilterProc;
  token: string;
  resolve(r: FilterResult | { kind: 'failed'; why: string }): void;
}

export class FilterSession {
  readonly sid = hexId();
  readonly facts: FilterFacts;
  /** Junk for the whole session (decided before MAIL) and for the open transaction. */
  junk = false;
  txJunk = false;
  private readonly entries: ChainEntry[];
  /** Each process as it was when the session began: its generation and its registered phases. */
  private readonly generations = new Map<FilterProc, { generation: number; phases: ReadonlySet<ProtoPhase> }>();
  private waiter: Waiter | null = null;
  dataRun: DataLineRun | null = null;
  closed = false;

  constructor(readonly engine: FilterEngine, filterName: string, src: string) {
    this.entries = engine.chain(filterName);
    for (const e of this.entries) if (e.kind === 'proc') this.generations.set(e.proc, { generation: e.proc.generation, phases: new Set(e.proc.phases) });
    this.facts = { src, rdns: null, fcrdns: 'error', helo: '', authUser: null, mailFrom: null, rcptTo: null };
    engine.sessions.set(this.sid, this);
  }

  uses(proc: FilterProc): boolean {
    return this.generations.has(proc);
  }

  get isJunk(): boolean {
    return this.junk || this.txJunk;
  }

  /** A process of this session is usable: up, and the same one that saw the session begin. */
  private usable(proc: FilterProc): boolean {
    return proc.alive && this.generations.get(proc)?.generation === proc.generation;
  }

  /** A process of the chain that cannot serve this session (down, restarting), if any. */
  unavailable(): FilterProc | undefined {
    return [...this.generations.keys()].find((p) => !this.usable(p));
  }

  /**
   * Entries hooked on `phase`, in chain order, by the registrations seen when the session began:
   * a process restarting meanwhile (its registrations not in yet) must fail the phase, not skip it.
   */
  hooked(phase: ProtoPhase): ChainEntry[] {
    return this.entries.filter((e) => (e.kind === 'builtin' ? e.filter.phase === phase : this.generations.get(e.proc)?.phases.has(phase)));
  }

  /** Send a report event to every process of the chain registered for it. */
  report(event: ReportEvent, params: readonly string[]): void {
    if (this.closed && event !== 'link-disconnect') return;
    let line: string | undefined;
    for (const proc of this.generations.keys()) {
      if (!proc.reports.has(event) || !this.usable(proc)) continue;
      line ??= reportLine(event, this.sid, params);
      proc.write(line);
    }
  }

  /** Walk `phase` through the chain with `param`; the outcome says what the session does. */
  async phase(phase: ProtoPhase, param: string, connectRdns?: string): Promise<PhaseOutcome> {
    const out = await this.walk(phase, param, connectRdns);
    const name = RESPONSE_PHASE[phase] ?? phase;
    if (out.kind === 'reply') this.report('filter-response', [name, out.disconnect ? 'disconnect' : 'reject', out.reply]);
    else this.report('filter-response', out.rewritten ? [name, 'rewrite', out.param] : [name, 'proceed']);
    return out;
  }

  private async walk(phase: ProtoPhase, param: string, connectRdns?: string): Promise<PhaseOutcome> {
    for (const e of this.hooked(phase)) {
      const r = e.kind === 'builtin' ? await this.builtin(e) : await this.ask(e.proc, e.token, phase, connectRdns === undefined ? [param] : [connectRdns, param]);
      switch (r.kind) {
        case 'proceed':
          continue;
        case 'report':
          this.report('filter-report', [e.kind, e.name, r.param]);
          continue;
        case 'junk':
          if (phase === 'commit') continue; // the header is written: OpenSMTPD refuses junk here
          if (this.dataRun || phase === 'mail-from' || phase === 'rcpt-to' || phase === 'data') this.txJunk = true;
          else this.junk = true;
          return { kind: 'proceed', param, rewritten: false };
        case 'bypass':
          return { kind: 'proceed', param, rewritten: false };
        case 'rewrite':
          return { kind: 'proceed', param: r.param, rewritten: true };
        case 'reject':
        case 'disconnect': {
          const reply = validRejectReply(r.reply) ? r.reply : '421 Internal server error';
          return { kind: 'reply', reply, disconnect: r.kind === 'disconnect' || reply.startsWith('421') };
        }
        case 'failed':
          this.engine.opts.log.warn('filter failed', { session: this.sid, filter: e.name, phase, why: r.why });
          return { kind: 'reply', reply: FILTER_TEMPFAIL, disconnect: true };
      }
    }
    return { kind: 'proceed', param, rewritten: false };
  }

  private async builtin(e: Extract<ChainEntry, { kind: 'builtin' }>): Promise<FilterResult | { kind: 'bypass' } | { kind: 'failed'; why: string }> {
    let m;
    try {
      m = await withDeadline(this.engine.opts.lka().filterMatch(e.name, { ...this.facts }), this.engine.opts.timeoutMs);
    } catch (err) {
      return { kind: 'failed', why: errorInfo(err).message };
    }
    if (m === null) return { kind: 'failed', why: 'builtin filter check timed out' };
    if (!m.ok) return { kind: 'failed', why: m.message };
    if (!m.matched) return { kind: 'proceed' };
    const f = e.filter;
    const msg = f.message ?? '';
    switch (f.decision) {
      case 'bypass':
        return { kind: 'bypass' };
      case 'junk':
        return { kind: 'junk' };
      case 'reject':
      case 'disconnect':
        return { kind: f.decision, reply: msg };
      case 'rewrite':
      case 'report':
        return { kind: f.decision, param: msg };
    }
  }

  /** One filter request to a process; resolves with its answer, or failed (down, silent). */
  private ask(proc: FilterProc, token: string, phase: ProtoPhase, params: string[]): Promise<FilterResult | { kind: 'failed'; why: string }> {
    if (!this.usable(proc)) return Promise.resolve({ kind: 'failed', why: `filter process ${proc.spec.name} is not running` });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.waiter?.proc !== proc) return;
        this.waiter = null;
        // A filter that does not answer stalls every session it serves: restart it.
        proc.stalled(`no answer to ${phase} within ${this.engine.opts.timeoutMs} ms`);
        resolve({ kind: 'failed', why: 'timeout' });
      }, this.engine.opts.timeoutMs);
      this.waiter = {
        proc, token,
        resolve: (r) => {
          clearTimeout(timer);
          this.waiter = null;
          resolve(r);
        },
      };
      proc.write(filterLine(phase, this.sid, token, params));
    });
  }

  onResult(proc: FilterProc, token: string, result: FilterResult): void {
    const w = this.waiter;
    if (!w || w.proc !== proc || w.token !== token) {
      this.engine.opts.log.warn('unexpected filter result', { session: this.sid, filter: proc.spec.name });
      return;
    }
    if (result.kind === 'reject' || result.kind === 'disconnect') w.resolve({ ...result, reply: latin1ToUtf8(result.reply) });
    else if (result.kind === 'rewrite' || result.kind === 'report') w.resolve({ ...result, param: latin1ToUtf8(result.param) });
    else w.resolve(result);
  }

  onDataline(proc: FilterProc, token: string, line: string): void {
    if (!this.dataRun || !this.dataRun.take(proc, token, line)) {
      this.engine.opts.log.warn('filter-dataline out of the data-line phase', { session: this.sid, filter: proc.spec.name });
    }
  }

  procDown(proc: FilterProc, why: string): void {
    if (this.waiter?.proc === proc) this.waiter.resolve({ kind: 'failed', why });
    this.dataRun?.fail(`filter process ${proc.spec.name} failed: ${why}`);
  }

  /** Start the data-line phase (null when no process of the chain filters data lines). */
  openDataLines(sink: (line: Buffer) => void): DataLineRun | null {
    const procs = this.hooked('data-line').flatMap((e) => (e.kind === 'proc' ? [{ proc: e.proc, token: e.token }] : []));
    if (procs.length === 0) return null;
    const bad = procs.find((p) => !this.usable(p.proc));
    this.dataRun = new DataLineRun(this.sid, procs, sink, this.engine.opts.timeoutMs, () => (this.dataRun = null));
    if (bad) this.dataRun.fail(`filter process ${bad.proc.spec.name} is not running`);
    return this.dataRun;
  }

  /** The session is over: the chain's processes hear link-disconnect, the engine forgets it. */
  close(): void {
    if (this.closed) return;
    this.report('link-disconnect', []);
    this.closed = true;
    this.waiter?.resolve({ kind: 'failed', why: 'session closed' });
    this.dataRun?.fail('session closed');
    this.engine.sessions.delete(this.sid);
  }
}

async function withDeadline<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
