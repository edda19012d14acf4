// What each control request does: ask the actor that owns the state (DESIGN 2: scheduler for
// schedules, queue for stored envelopes and bodies, mta for hosts/relays/routes, smtp for
// sessions, lka for tables), and shape the answer. Actors are reached through their mailboxes
// only; every call has the runtime's deadline.
import { isIPv6 } from 'node:net';
import { broadcastLogLevel, type Remote } from '@tsmtpd/actor';
import { QUEUE_PAGE, type ReloadOutcome, type ControlReply, type ControlRequest, type Envelope, type MailboxOf, type QueueRow, type Role, type ScheduleState } from '@tsmtpd/proto';
import type { StatsBook } from './stats.js';

export interface CommandEnv {
  peer<P extends Role>(name: P): Remote<MailboxOf[P]>;
  book: StatsBook;
  status: { mda: boolean; mta: boolean; smtp: boolean };
  log: { info(e: string, f?: Record<string, unknown>): void };
  /** `smtpctl reload`: the parent re-reads, checks and applies the configuration. */
  reload(): Promise<ReloadOutcome>;
}

/** Roles whose debug lines a trace subsystem turns on (OpenSMTPD's subsystem names). */
const TRACE_ROLES: Record<string, Role[]> = {
  smtp: ['smtp'], filters: ['smtp'], io: ['smtp', 'mta'], mta: ['mta'], bounce: ['queue'], scheduler: ['scheduler'],
  expand: ['lka'], lookup: ['lka'], rules: ['lka'], stat: ['control'],
  imsg: ['smtp', 'lka', 'queue', 'scheduler', 'mta', 'mda', 'control'], mproc: ['smtp', 'lka', 'queue', 'scheduler', 'mta', 'mda', 'control'],
  all: ['smtp', 'lka', 'queue', 'scheduler', 'mta', 'mda', 'control'],
};

const ok = (extra: Omit<Extract<ControlReply, { ok: true }>, 'ok'> = {}): ControlReply => ({ ok: true, ...extra });

export async function runCommand(env: CommandEnv, req: ControlRequest): Promise<ControlReply> {
  switch (req.cmd) {
    case 'show.queue': return showQueue(env, req.msgid, req.after ?? req.msgid ?? '');
    case 'show.envelope': {
      const [e] = await env.peer('queue').ctlEnvelopes([req.evpid]);
      return e ? ok({ lines: envelopeLines(e) }) : { ok: false, code: 'unknown', error: `no such envelope: ${req.evpid}` };
    }
    case 'show.message': {
      const r = await env.peer('queue').bodyRead(req.id.slice(0, 8), req.from);
      if (!r.ok) return { ok: false, code: 'unknown', error: r.message };
      const data = Buffer.concat(r.value.chunks.map((c) => Buffer.from(c))).toString('base64');
      return ok({ data, next: r.value.next });
    }
    case 'show.stats': return ok({ stats: env.book.all(), uptime: Math.floor((Date.now() - env.book.startedAt) / 1000) });
    case 'show.status': return ok({ status: { ...env.status } });
    case 'show.mta': return ok({ lines: await env.peer('mta').ctlShow(req.kind) });
    case 'digest': return ok({ digest: env.book.digest() });
    case 'envelopes': return ok({ count: await envelopes(env, req.op, req.target) });
    case 'agent': {
      if (req.agent === 'smtp') await (req.paused ? env.peer('smtp').pause() : env.peer('smtp').resume());
      else await env.peer('scheduler').ctlPauseAgent(req.agent, req.paused);
      env.status[req.agent] = req.paused;
      env.log.info(req.paused ? 'paused' : 'resumed', { agent: req.agent });
      return ok();
    }
    case 'trace': {
      const roles = TRACE_ROLES[req.subsystem] ?? [];
      broadcastLogLevel(req.on ? { trace: roles } : { untrace: roles });
      return ok();
    }
    case 'log':
      broadcastLogLevel({ verbose: req.verbose });
      env.log.info('log level', { verbose: req.verbose });
      return ok();
    case 'update.table':
      return (await env.peer('lka').tableUpdate(req.name)) ? ok() : { ok: false, code: 'failed', error: `cannot update table ${req.name}` };
    case 'reload': {
      const r = await env.reload();
      return r.ok ? ok({ lines: [r.summary] }) : { ok: false, code: 'failed', error: r.errors.join('\n') };
    }
  }
}

/** A page of `show queue` rows after `after` (of one message when `msgid` is given). */
async function showQueue(env: CommandEnv, msgid: string | undefined, after: string): Promise<ControlReply> {
  let states = await env.peer('scheduler').ctlEnvelopes(after, QUEUE_PAGE);
  const full = states.length === QUEUE_PAGE;
  let done = !full;
  if (msgid !== undefined) {
    const mine = states.filter((s) => s.evpid.startsWith(msgid));
    if (mine.length < states.length) done = true;
    states = mine;
  }
  const stored = await env.peer('queue').ctlEnvelopes(states.map((s) => s.evpid));
  const byId = new Map(stored.map((e) => [e.id, e]));
  const now = Math.floor(Date.now() / 1000);
  const rows: QueueRow[] = [];
  for (const s of states) {
    const e = byId.get(s.evpid);
    if (e) rows.push(queueRow(e, s, now));
  }
  return ok({ rows, next: done || states.length === 0 ? null : states[states.length - 1]!.evpid });
}

export function queueRow(e: Envelope, s: ScheduleState | null, now: number): QueueRow {
  const flags: QueueRow['flags'] = [];
  if (e.type === 'bounce' || e.flags.includes('bounce')) flags.push('bounce');
  if (e.flags.includes('authenticated')) flags.push('auth');
  if (e.flags.includes('internal')) flags.push('internal');
  if (s?.state === 'suspended') flags.push('suspend');
  if (s?.state === 'held') flags.push('hold');
  const runstate = s === null ? 'offline' : s.state === 'inflight' ? 'inflight' : 'pending';
  const delay = s === null ? null : s.state === 'inflight' ? Math.max(0, now - e.lastTry) : Math.round(s.at - now);
  return {
    evpid: e.id,
    family: e.sockaddr === 'local' ? 'local' : isIPv6(e.sockaddr) ? 'inet6' : 'inet4',
    type: e.type,
    flags,
    sender: e.sender === '' ? '@' : e.sender,
    rcpt: e.rcpt,
    dest: e.dest,
    ctime: e.ctime,
    expiry: e.ctime + e.ttl,
    lasttry: e.lastTry,
    retry: e.retry,
    runstate,
    delay,
    errorline: e.errorline ?? '',
  };
}

/** schedule / remove / pause / resume an envelope, a message's envelopes, or all. */
async function envelopes(env: CommandEnv, op: 'schedule' | 'remove' | 'pause' | 'resume', target: string): Promise<number> {
  if (op !== 'remove') return env.peer('scheduler').ctlApply(op === 'pause' ? 'suspend' : op, [target]);
  if (target.length === 16) return env.peer('queue').ctlRemove([target]);
  // A message or all: the scheduler knows which envelopes exist; remove them a page at a time.
  let n = 0;
  let after = target === 'all' ? '' : target;
  for (;;) {
    const page = await env.peer('scheduler').ctlEnvelopes(after, 1000);
    const ids = page.map((s) => s.evpid).filter((id) => target === 'all' || id.startsWith(target));
    if (ids.length > 0) n += await env.peer('queue').ctlRemove(ids);
    if (page.length < 1000 || ids.length < page.length) return n;
    after = page[page.length - 1]!.evpid;
  }
}

/** The envelope as `key: value` lines (OpenSMTPD's envelope file fields; values are one line each). */
export function envelopeLines(e: Envelope): string[] {
  const fields: [string, unknown][] = [
    ['version', 3], ['evpid', e.id], ['dispatcher', e.dispatcher], ['tag', e.tag], ['type', e.type],
    ['smtpname', e.smtpname], ['helo', e.helo], ['hostname', e.hostname], ['sockaddr', e.sockaddr],
    ['username', e.username], ['sender', e.sender], ['rcpt', e.rcpt], ['dest', e.dest],
    ['mda-user', e.mdaUser], ['mda-subaddress', e.mdaSubaddress], ['ctime', e.ctime], ['last-try', e.lastTry],
    ['last-bounce', e.lastBounce], ['ttl', e.ttl], ['retry', e.retry], ['flags', e.flags.join(',')],
    ['dsn-notify', e.dsnNotify], ['dsn-ret', e.dsnRet], ['dsn-envid', e.dsnEnvid], ['dsn-orcpt', e.dsnOrcpt],
    ['smtputf8', e.smtputf8], ['errorline', e.errorline],
    ['bounce-kind', e.report?.kind], ['bounce-status', e.report?.status], ['bounce-diagnostic', e.report?.diagnostic],
  ];
  return fields.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}: ${String(v)}`);
}
