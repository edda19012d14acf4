// What control asks of the scheduler (smtpctl show queue, schedule, pause/resume envelope,
// pause/resume mda|mta): paged listings and operations on ids. Arguments cross a thread, so they
// are validated here; a bad one is refused, never applied.
import { z } from 'zod';
import { ActorError, type ScheduleOp, type ScheduleState, type SchedulerMailbox } from '@tsmtpd/proto';
import type { SchedulerBackend } from './backend.js';
import { typeCode } from './backoff.js';

const Cursor = z.string().max(16);
const Limit = z.number().int().min(1).max(10_000);
const Ids = z.array(z.string().regex(/^([0-9a-f]{8}|[0-9a-f]{16}|all)$/)).max(10_000);
const Op = z.enum(['schedule', 'suspend', 'resume']);

function check<T>(schema: z.ZodType<T>, v: unknown, what: string): T {
  const r = schema.safeParse(v);
  if (!r.success) throw new ActorError('ERR_SCHEDULER_BAD_REQUEST', 'internal', `bad ${what}`);
  return r.data;
}

type CtlMethods = Pick<SchedulerMailbox, 'ctlMessages' | 'ctlEnvelopes' | 'ctlApply' | 'ctlPauseAgent'>;

export function controlMethods(backend: SchedulerBackend, wake: () => void, log: (event: string, fields: Record<string, unknown>) => void): CtlMethods {
  const apply = (op: ScheduleOp, id: string): number => {
    if (op === 'schedule') return backend.scheduleNow(id);
    if (op === 'suspend') return backend.suspend(id);
    return backend.resume(id);
  };
  return {
    async ctlMessages(after, limit) {
      return backend.messages(check(Cursor, after, 'cursor'), check(Limit, limit, 'limit'));
    },
    async ctlEnvelopes(after, limit) {
      const rows = backend.envelopes(check(Cursor, after, 'cursor'), check(Limit, limit, 'limit'));
      return rows.filter((r): r is ScheduleState => r.state !== 'incoming') as ScheduleState[];
    },
    async ctlApply(op, ids) {
      const o = check(Op, op, 'operation');
      let n = 0;
      for (const id of check(Ids, ids, 'ids')) {
        if (id === 'all') for (const msgid of allMessages(backend)) n += apply(o, msgid);
        else n += apply(o, id);
      }
      if (n > 0) wake();
      return n;
    },
    async ctlPauseAgent(agent, paused) {
      const a = check(z.enum(['mda', 'mta']), agent, 'agent');
      backend.pauseType(typeCode(a), check(z.boolean(), paused, 'flag'));
      log(paused ? 'paused' : 'resumed', { agent: a });
      if (!paused) wake();
    },
  };
}

/** Every committed msgid, a page at a time (the listing is bounded per call). */
function* allMessages(backend: SchedulerBackend): Iterable<string> {
  let after = '';
  for (;;) {
    const page = backend.messages(after, 1000);
    if (page.length === 0) return;
    yield* page;
    after = page[page.length - 1]!;
  }
}
