// The filter engine of the smtp actor: the filter processes (one per `proc`/`proc-exec`, shared
// by every session: requests are multiplexed by session id and token), the chain of each
// filter name flattened into entries, and the routing of the processes' lines to sessions.
// Builtin conditions are evaluated by lka (tables, DNS); their decisions are applied here.
import type { Filter, SmtpdConfig } from '@tsmtpd/config';
import type { LkaMailbox } from '@tsmtpd/proto';
import type { Logger, Remote } from '@tsmtpd/actor';
import { FilterProc, type ProcSink } from './proc.js';
import { hexId, type ProcLine } from './protocol.js';
import type { FilterSession } from './session.js';

export type BuiltinFilter = Extract<Filter, { kind: 'builtin' }>;

/** One step of a chain: a builtin rule or a filter process, with its protocol token. */
export type ChainEntry =
  | { kind: 'builtin'; name: string; token: string; filter: BuiltinFilter }
  | { kind: 'proc'; name: string; token: string; proc: FilterProc };

export interface EngineOptions {
  config: SmtpdConfig;
  log: Logger;
  lka(): Remote<LkaMailbox>;
  /** Longest wait for one filter answer (a phase, a builtin lookup, a data-line step). */
  timeoutMs: number;
}

export class FilterEngine implements ProcSink {
  readonly procs = new Map<string, FilterProc>();
  readonly sessions = new Map<string, FilterSession>();
  private readonly chains = new Map<string, ChainEntry[]>();

  constructor(readonly opts: EngineOptions) {
    const { config } = opts;
    const admd = config.admd ?? config.serverName;
    for (const p of Object.values(config.procs)) {
      this.procs.set(p.name, new FilterProc({ name: p.name, command: p.command, user: p.user, group: p.group }, admd, opts.log, this));
    }
    for (const f of Object.values(config.filters)) {
      if (f.kind === 'proc-exec') {
        this.procs.set(f.name, new FilterProc({ name: f.name, command: f.command, user: f.user, group: f.group }, admd, opts.log, this));
      }
    }
    for (const f of Object.values(config.filters)) this.chains.set(f.name, this.flatten(f));
  }

  private flatten(f: Filter): ChainEntry[] {
    switch (f.kind) {
      case 'builtin':
        return [{ kind: 'builtin', name: f.name, token: hexId(), filter: f }];
      case 'proc':
      case 'proc-exec': {
        const proc = this.procs.get(f.kind === 'proc' ? f.proc : f.name);
        if (!proc) throw new Error(`${f.file}:${f.line}: filter "${f.name}": no such proc`);
        return [{ kind: 'proc', name: f.name, token: hexId(), proc }];
      }
      case 'chain':
        return f.filters.flatMap((n) => {
          const sub = this.opts.config.filters[n];
          if (!sub || sub.kind === 'chain') throw new Error(`${f.file}:${f.line}: chain "${f.name}": bad member ${n}`);
          return this.flatten(sub);
        });
    }
  }

  /** The entries of a filter name (chains flattened, in order). */
  chain(name: string): ChainEntry[] {
    const c = this.chains.get(name);
    if (!c) throw new Error(`no filter named ${name}`);
    return c;
  }

  /** Start every filter process and wait for its handshake (as OpenSMTPD waits before listening). */
  async start(): Promise<void> {
    await Promise.all([...this.procs.values()].map((p) => p.start()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.procs.values()].map((p) => p.stop()));
  }

  line(proc: FilterProc, l: ProcLine): void {
    if (l.kind !== 'result' && l.kind !== 'dataline' && l.kind !== 'report') return;
    // A session can legitimately be gone (the client left while the filter thought).
    const s = this.sessions.get(l.sid);
    if (!s) return;
    if (l.kind === 'result') s.onResult(proc, l.token, l.result);
    else if (l.kind === 'dataline') s.onDataline(proc, l.token, l.line);
    else s.report('filter-report', ['proc', proc.spec.name, latin1ToUtf8(l.text)]);
  }

  down(proc: FilterProc, why: string): void {
    for (const s of [...this.sessions.values()]) if (s.uses(proc)) s.procDown(proc, why);
  }
}

/** Text a filter wrote (read as latin1 bytes) as the UTF-8 it is. */
export function latin1ToUtf8(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}
