// The messages between the mda worker and a per-uid delivery helper process (IPC channel,
// advanced serialisation so body chunks travel as bytes). Data only: the helper is told what
// to write where, never handed a command to run. The helper validates every message with zod.
import { z } from 'zod';
import type { MethodOutcome } from '../sink.js';

const absolutePath = z.string().min(2).max(4096).regex(/^\/[^\0]*$/, 'must be an absolute path');
const id = z.number().int().nonnegative();

export const FileJobSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('maildir'),
    root: absolutePath,
    junk: z.boolean(),
    extension: z.string().max(255).regex(/^[^\0/]*$/).nullable(),
    hostname: z.string().min(1).max(255).regex(/^[^\0/]*$/),
    envelope: z.object({ ctime: z.number().int().nonnegative(), id: z.string().regex(/^[0-9a-f]{16}$/) }).optional(),
  }),
  z.object({
    kind: z.literal('mbox'),
    path: absolutePath,
    fromLine: z.string().max(2048).regex(/^From [^\r\n\0]*\n$/),
    uid: z.number().int().nonnegative().nullable(),
  }),
]);

export const ToHelperSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('open'), id, job: FileJobSchema }),
  z.object({ t: z.literal('data'), id, data: z.instanceof(Uint8Array) }),
  z.object({ t: z.literal('end'), id }),
  z.object({ t: z.literal('abort'), id }),
]);
/** What the worker sends (body bytes are any Uint8Array; the schema checks what arrives). */
export type ToHelper = Exclude<z.infer<typeof ToHelperSchema>, { t: 'data' }> | { t: 'data'; id: number; data: Uint8Array };

export type FromHelper =
  /** `outcome` null: the delivery is open; else why it could not be opened. */
  | { t: 'opened'; id: number; outcome: MethodOutcome | null }
  | { t: 'ack'; id: number }
  | { t: 'done'; id: number; outcome: MethodOutcome };

const outcomeSchema = z.object({ status: z.enum(['ok', 'tempfail', 'permfail']), errorline: z.string() });
export const FromHelperSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('opened'), id, outcome: outcomeSchema.nullable() }),
  z.object({ t: z.literal('ack'), id }),
  z.object({ t: z.literal('done'), id, outcome: outcomeSchema }),
]);
