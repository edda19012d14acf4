// smtpctl: the command tree (OpenSMTPD's names and shapes, REFERENCE 2.1) and what each command
// prints. Everything but `encrypt` talks to the daemon over the control socket (client.ts);
// `show queue` falls back to reading the spool when the daemon is not running.
import { TRACE_SUBSYSTEMS, type ControlReply } from '@tsmtpd/proto';
import { CommandTree, type Param } from './parser.js';
import { ControlClient, NotRunning, type RequestBody } from './client.js';
import { socketPath, spoolFrom } from './spool.js';
import { queueLine } from './show-queue.js';
import { showQueueOffline } from './offline.js';
import { showCluster } from './cluster.js';
import { doEncrypt } from './encrypt.js';
import { monitor } from './monitor.js';

export interface Io {
  out(s: string): void;
  err(s: string): void;
}

const TREE = new CommandTree();
for (const [p, c] of [
  ['log brief', 'log-brief'], ['log verbose', 'log-verbose'], ['monitor', 'monitor'],
  ['pause envelope <evpid>', 'pause-envelope'], ['pause envelope <msgid>', 'pause-envelope'], ['pause envelope all', 'pause-envelope'],
  ['pause mda', 'pause-mda'], ['pause mta', 'pause-mta'], ['pause smtp', 'pause-smtp'],
  ['remove <evpid>', 'remove'], ['remove <msgid>', 'remove'], ['remove all', 'remove'],
  ['resume envelope <evpid>', 'resume-envelope'], ['resume envelope <msgid>', 'resume-envelope'], ['resume envelope all', 'resume-envelope'],
  ['resume mda', 'resume-mda'], ['resume mta', 'resume-mta'], ['resume smtp', 'resume-smtp'],
  ['schedule <msgid>', 'schedule'], ['schedule <evpid>', 'schedule'], ['schedule all', 'schedule'],
  ['show envelope <evpid>', 'show-envelope'], ['show message <msgid>', 'show-message'], ['show message <evpid>', 'show-message'],
  ['show queue', 'show-queue'], ['show queue <msgid>', 'show-queue'], ['show cluster', 'show-cluster'], ['show cluster <str>', 'show-cluster'], ['show hosts', 'show-hosts'], ['show relays', 'show-relays'],
  ['show routes', 'show-routes'], ['show stats', 'show-stats'], ['show status', 'show-status'],
  ['trace <str>', 'trace'], ['untrace <str>', 'untrace'], ['update table <str>', 'update-table'], ['reload', 'reload'],
  ['encrypt', 'encrypt'], ['encrypt <str>', 'encrypt'],
] as const) TREE.install(p, c);

/** The word a parameter list ends with, or 'all' (pause envelope all, remove all). */
function target(params: Param[]): string {
  return params[0]?.value ?? 'all';
}

export async function smtpctl(argv: string[], io: Io): Promise<number> {
  const { spool, rest } = spoolFrom(argv);
  if (rest.length === 0) {
    io.err('usage: smtpctl command [argument ...]\n');
    return 1;
  }
  const parsed = TREE.parse(rest);
  if (!parsed.ok) {
    io.err(parsed.message + '\n');
    return 1;
  }
  const { cmd, params } = parsed;
  if (cmd === 'encrypt') return doEncrypt(params[0]?.value === undefined ? undefined : rest[rest.length - 1], io.out);
  if ((cmd === 'trace' || cmd === 'untrace') && !(TRACE_SUBSYSTEMS as readonly string[]).includes(params[0]!.value)) {
    io.err(`smtpctl: invalid trace keyword: ${params[0]!.value}\n`);
    return 1;
  }
  // The shared queue is read from PostgreSQL, not from this node's daemon.
  if (cmd === 'show-cluster') return showCluster(params[0]?.value === undefined ? undefined : rest[rest.length - 1], io.out, io.err);
  let client: ControlClient;
  try {
    client = await ControlClient.connect(socketPath(spool));
  } catch (e) {
    if (!(e instanceof NotRunning)) throw e;
    if (cmd === 'show-queue') return showQueueOffline(spool, params[0]?.value, io.out, io.err);
    io.err("smtpctl: smtpd doesn't seem to be running\n");
    return 1;
  }
  try {
    if (cmd === 'monitor') return await monitor(client, io);
    return await run(client, cmd, params, io, rest);
  } catch (e) {
    io.err(`smtpctl: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    client.close();
  }
}

/** Send a request; a refusal is printed the OpenSMTPD way (the caller exits 1). */
async function ask(client: ControlClient, body: RequestBody, io: Io): Promise<Extract<ControlReply, { ok: true }> | null> {
  const r = await client.request(body);
  if (r.ok) return r;
  refusal(r, io);
  return null;
}

function refusal(r: Extract<ControlReply, { ok: false }>, io: Io): void {
  if (r.code === 'version') io.err('smtpctl: incompatible smtpctl and smtpd\n');
  else if (r.code === 'denied') io.err('smtpctl: need root privileges (permission denied)\n');
  else io.err(`smtpctl: ${r.error}\n`);
}

/** Commands answered "command succeeded" / "command failed: ...". */
async function simple(client: ControlClient, body: RequestBody, io: Io): Promise<number> {
  const r = await client.request(body);
  if (r.ok) {
    io.out('command succeeded\n');
    return 0;
  }
  if (r.code === 'denied' || r.code === 'version') {
    refusal(r, io);
    return 1;
  }
  io.out(`command failed: ${r.error}\n`);
  return 1;
}

async function counted(client: ControlClient, op: 'schedule' | 'remove' | 'pause' | 'resume', params: Param[], io: Io): Promise<number> {
  const r = await ask(client, { cmd: 'envelopes', op, target: target(params) }, io);
  if (!r) return 1;
  const n = r.count ?? 0;
  const word = { schedule: 'scheduled', remove: 'removed', pause: 'paused', resume: 'resumed' }[op];
  io.out(`${n} envelope${n > 1 ? 's' : ''} ${word}\n`);
  return 0;
}

async function run(client: ControlClient, cmd: string, params: Param[], io: Io, rest: string[]): Promise<number> {
  switch (cmd) {
    case 'show-queue': return showQueue(client, params[0]?.value, io);
    case 'show-envelope': {
      const r = await ask(client, { cmd: 'show.envelope', evpid: params[0]!.value }, io);
      if (r) for (const l of r.lines ?? []) io.out(l + '\n');
      return r ? 0 : 1;
    }
    case 'show-message': return showMessage(client, params[0]!.value, io);
    case 'show-stats': {
      const r = await ask(client, { cmd: 'show.stats' }, io);
      if (!r) return 1;
      const up = r.uptime ?? 0;
      io.out(`uptime=${up}\nuptime.human=${durationText(up)}\n`);
      for (const [k, v] of r.stats ?? []) io.out(`${k}=${v}\n`);
      return 0;
    }
    case 'show-status': {
      const r = await ask(client, { cmd: 'show.status' }, io);
      if (!r?.status) return 1;
      const w = (p: boolean) => (p ? 'paused' : 'running');
      io.out(`MDA ${w(r.status.mda)}\nMTA ${w(r.status.mta)}\nSMTP ${w(r.status.smtp)}\n`);
      return 0;
    }
    case 'show-hosts': case 'show-relays': case 'show-routes': {
      const r = await ask(client, { cmd: 'show.mta', kind: cmd.slice(5) as 'hosts' | 'relays' | 'routes' }, io);
      if (r) for (const l of r.lines ?? []) io.out(l + '\n');
      return r ? 0 : 1;
    }
    case 'schedule': return counted(client, 'schedule', params, io);
    case 'remove': return counted(client, 'remove', params, io);
    case 'pause-envelope': return counted(client, 'pause', params, io);
    case 'resume-envelope': return counted(client, 'resume', params, io);
    case 'pause-mda': case 'pause-mta': case 'pause-smtp': case 'resume-mda': case 'resume-mta': case 'resume-smtp': {
      const [verb, agent] = cmd.split('-') as ['pause' | 'resume', 'mda' | 'mta' | 'smtp'];
      return simple(client, { cmd: 'agent', agent, paused: verb === 'pause' }, io);
    }
    case 'trace': case 'untrace':
      return simple(client, { cmd: 'trace', subsystem: params[0]!.value as (typeof TRACE_SUBSYSTEMS)[number], on: cmd === 'trace' }, io);
    case 'log-verbose': case 'log-brief': return simple(client, { cmd: 'log', verbose: cmd === 'log-verbose' }, io);
    case 'update-table': return simple(client, { cmd: 'update.table', name: rest[rest.length - 1]! }, io);
    case 'reload': return reload(client, io);
  }
  io.err('invalid command\n');
  return 1;
}

/** `reload`: what changed on success; each error (`file:line: ...`) on stderr and exit 1. */
async function reload(client: ControlClient, io: Io): Promise<number> {
  const r = await client.request({ cmd: 'reload' });
  if (r.ok) {
    io.out('command succeeded\n');
    for (const l of r.lines ?? []) io.out(l + '\n');
    return 0;
  }
  if (r.code === 'denied' || r.code === 'version') {
    refusal(r, io);
    return 1;
  }
  io.err('smtpctl: reload failed, the running configuration stays:\n');
  for (const l of r.error.split('\n')) io.err(l + '\n');
  return 1;
}

async function showQueue(client: ControlClient, msgid: string | undefined, io: Io): Promise<number> {
  let after = '';
  for (let pages = 0; pages < 1_000_000; pages++) {
    const r = await ask(client, msgid !== undefined ? { cmd: 'show.queue', msgid, ...(after ? { after } : {}) } : { cmd: 'show.queue', after }, io);
    if (!r) return 1;
    for (const row of r.rows ?? []) io.out(queueLine(row) + '\n');
    if (typeof r.next !== 'string') return 0;
    after = r.next;
  }
  return 0;
}

async function showMessage(client: ControlClient, id: string, io: Io): Promise<number> {
  let from = 0;
  for (;;) {
    const r = await ask(client, { cmd: 'show.message', id, from }, io);
    if (!r) return 1;
    if (r.data) process.stdout.write(Buffer.from(r.data, 'base64'));
    if (typeof r.next !== 'number') return 0;
    from = r.next;
  }
}

/** OpenSMTPD's duration_to_text: 1d2h3m4s, zero parts left out. */
export function durationText(sec: number): string {
  if (sec <= 0) return '0s';
  const d = Math.floor(sec / 86400), h = Math.floor(sec / 3600) % 24, m = Math.floor(sec / 60) % 60, s = sec % 60;
  return `${d ? `${d}d` : ''}${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}
