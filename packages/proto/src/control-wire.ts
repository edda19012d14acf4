// The control socket's wire protocol (smtpctl <-> control, <spool>/smtpd.sock): one JSON object
// per line each way, a request at most MAX_REQUEST_BYTES, one reply per request, in order. Both
// sides validate what they read with these schemas; a request of another version is answered
// `version` ("incompatible smtpctl and smtpd"), never guessed at.
import { z } from 'zod';
import { EnvelopeTypeSchema } from './envelope.js';

export const CONTROL_VERSION = 1;
/** Longest request line (bytes, newline excluded): a request names a command and an id. */
export const MAX_REQUEST_BYTES = 4096;
/** Longest reply line smtpctl accepts (a page of queue rows or of a message body, base64). */
export const MAX_REPLY_BYTES = 8 * 1024 * 1024;
/**
 * Rows per `show queue` page (~1.5 MB of JSON): each page is one pass over the scheduler's
 * records, so a large page keeps listing a big queue from being quadratic in practice.
 */
export const QUEUE_PAGE = 5000;
/** Socket file name in the spool. */
export const CONTROL_SOCKET = 'smtpd.sock';

const Msgid = z.string().regex(/^[0-9a-f]{8}$/);
const Evpid = z.string().regex(/^[0-9a-f]{16}$/);
/** An envelope, every envelope of a message, or every envelope. */
export const TargetSchema = z.union([Evpid, Msgid, z.literal('all')]);

/** Subsystems of `smtpctl trace` (OpenSMTPD's names). */
export const TRACE_SUBSYSTEMS = ['imsg', 'io', 'smtp', 'filters', 'mta', 'bounce', 'scheduler', 'expand', 'lookup', 'stat', 'rules', 'mproc', 'all'] as const;

const cmd = <C extends string, S extends z.ZodRawShape>(name: C, shape: S) => z.object({ v: z.number(), cmd: z.literal(name), ...shape }).strict();

export const ControlRequestSchema = z.discriminatedUnion('cmd', [
  cmd('show.queue', { msgid: Msgid.optional(), after: z.union([Evpid, z.literal('')]).optional() }),
  cmd('show.envelope', { evpid: Evpid }),
  cmd('show.message', { id: z.union([Evpid, Msgid]), from: z.number().int().nonnegative().max(1e9) }),
  cmd('show.stats', {}),
  cmd('show.status', {}),
  cmd('show.mta', { kind: z.enum(['hosts', 'relays', 'routes']) }),
  cmd('digest', {}),
  cmd('envelopes', { op: z.enum(['schedule', 'remove', 'pause', 'resume']), target: TargetSchema }),
  cmd('agent', { agent: z.enum(['mda', 'mta', 'smtp']), paused: z.boolean() }),
  cmd('trace', { subsystem: z.enum(TRACE_SUBSYSTEMS), on: z.boolean() }),
  cmd('log', { verbose: z.boolean() }),
  cmd('update.table', { name: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/) }),
  cmd('reload', {}),
]);
export type ControlRequest = z.infer<typeof ControlRequestSchema>;

/** One `show queue` line's fields (REFERENCE 2.1); smtpctl formats it. */
export const QueueRowSchema = z.object({
  evpid: Evpid,
  family: z.enum(['local', 'inet4', 'inet6']),
  type: EnvelopeTypeSchema,
  flags: z.array(z.enum(['bounce', 'auth', 'internal', 'suspend', 'hold'])),
  sender: z.string(),
  rcpt: z.string(),
  dest: z.string(),
  ctime: z.number().int(),
  expiry: z.number().int(),
  lasttry: z.number().int(),
  retry: z.number().int(),
  runstate: z.enum(['pending', 'inflight', 'offline']),
  /** Seconds until the next try (pending) or since the attempt began (inflight); null offline. */
  delay: z.number().int().nullable(),
  errorline: z.string(),
});
export type QueueRow = z.infer<typeof QueueRowSchema>;

/** The monitor digest (OpenSMTPD's stat_digest): counts since the daemon started. */
export const DigestSchema = z.object({
  clt_connect: z.number(), clt_disconnect: z.number(),
  evp_enqueued: z.number(), evp_dequeued: z.number(), evp_expired: z.number(), evp_removed: z.number(), evp_bounce: z.number(),
  dlv_ok: z.number(), dlv_tempfail: z.number(), dlv_permfail: z.number(), dlv_loop: z.number(),
});
export type Digest = z.infer<typeof DigestSchema>;

export const ControlErrorCodeSchema = z.enum(['version', 'denied', 'invalid', 'too-long', 'busy', 'timeout', 'failed', 'unknown']);

export const ControlReplySchema = z.union([
  z.object({
    ok: z.literal(true),
    /** Display lines (show envelope, hosts, relays, routes). */
    lines: z.array(z.string()).optional(),
    rows: z.array(QueueRowSchema).optional(),
    /** Paging cursor for the next request, null after the last page. */
    next: z.union([z.string(), z.number(), z.null()]).optional(),
    count: z.number().int().optional(),
    /** base64 bytes (show message). */
    data: z.string().optional(),
    stats: z.array(z.tuple([z.string(), z.number()])).optional(),
    uptime: z.number().optional(),
    status: z.object({ mda: z.boolean(), mta: z.boolean(), smtp: z.boolean() }).optional(),
    digest: DigestSchema.optional(),
  }).strict(),
  z.object({ ok: z.literal(false), code: ControlErrorCodeSchema, error: z.string() }).strict(),
]);
export type ControlReply = z.infer<typeof ControlReplySchema>;
