// The per-uid delivery helper: a small process started by the mda worker of a root daemon with
// the recipient's uid/gid (it never holds root). It serves file deliveries (maildir, the mbox
// append) over its IPC channel, reused across deliveries, and exits when the channel closes.
import { openFileJob } from '../file-jobs.js';
import type { Sink } from '../sink.js';
import { ToHelperSchema, type FromHelper } from './protocol.js';

const sinks = new Map<number, Sink>();

function reply(m: FromHelper): void {
  if (process.connected) process.send?.(m);
}

async function handle(raw: unknown): Promise<void> {
  const parsed = ToHelperSchema.safeParse(raw);
  if (!parsed.success) {
    process.stderr.write(`tsmtpd delivery helper: invalid message: ${parsed.error.message.slice(0, 300)}\n`);
    // Answer what can be answered, so the worker does not wait for nothing.
    const r = raw as { t?: unknown; id?: unknown };
    if (typeof r?.id !== 'number') return;
    const outcome = { status: 'permfail' as const, errorline: 'helper: invalid delivery request' };
    reply(r.t === 'open' ? { t: 'opened', id: r.id, outcome } : { t: 'done', id: r.id, outcome });
    return;
  }
  const m = parsed.data;
  if (m.t === 'open') {
    const r = await openFileJob(m.job).catch((e: unknown) => ({ ok: false as const, outcome: { status: 'tempfail' as const, errorline: `helper: ${(e as Error).message}` } }));
    if (r.ok) sinks.set(m.id, r.sink);
    reply({ t: 'opened', id: m.id, outcome: r.ok ? null : r.outcome });
    return;
  }
  const sink = sinks.get(m.id);
  if (m.t === 'data') {
    await sink?.write(m.data);
    reply({ t: 'ack', id: m.id });
  } else if (m.t === 'end') {
    sinks.delete(m.id);
    const outcome = sink ? await sink.end() : { status: 'tempfail' as const, errorline: 'helper: unknown delivery' };
    reply({ t: 'done', id: m.id, outcome });
  } else {
    sinks.delete(m.id);
    await sink?.abort('aborted by the mda');
    reply({ t: 'done', id: m.id, outcome: { status: 'tempfail', errorline: 'delivery aborted' } });
  }
}

// Messages of one delivery are handled in order: the worker waits for each answer.
process.on('message', (raw) => {
  handle(raw).catch((e: unknown) => process.stderr.write(`tsmtpd delivery helper: ${(e as Error).message}\n`));
});
process.on('disconnect', () => {
  void Promise.all([...sinks.values()].map((s) => s.abort('mda went away'))).finally(() => process.exit(0));
});
if (!process.connected) process.exit(2);
