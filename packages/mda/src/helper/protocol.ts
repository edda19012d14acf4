// What travels between the mda worker and a per-uid delivery helper, inside the frames of
// frame.ts: one delivery is OPEN (the job, JSON) + DATA* (the body) + END, answered by one DONE
// (the outcome, JSON). Data only: the helper is told what to write where, never handed a
// command line built from envelope data. Both ends validate the JSON with zod.
import { z } from 'zod';
import type { MethodOutcome } from '../sink.js';
import type { FileJob } from '../file-jobs.js';

const absolutePath = z.string().min(2).max(4096).regex(/^\/[^\0]*$/, 'must be an absolute path');

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
    /** A `/file` alias or .forward target: created 0600 by the helper (as the user) when missing. */
    create: z.boolean().optional(),
  }),
]);

/** An mda command run as the recipient by the helper (privilege separation: the mda cannot). */
export const CommandJobSchema = z.object({
  kind: z.literal('command'),
  command: z.string().min(1).max(8192),
  env: z.record(z.string(), z.string().max(4096)),
  cwd: absolutePath.or(z.literal('/')),
  timeoutMs: z.number().int().positive().max(24 * 3600_000),
});
export type CommandHelperJob = z.infer<typeof CommandJobSchema>;

export const HelperJobSchema = z.union([FileJobSchema, CommandJobSchema]);
export type HelperJob = FileJob | CommandHelperJob;

export const OutcomeSchema = z.object({ status: z.enum(['ok', 'tempfail', 'permfail']), errorline: z.string().max(4096) });

/** Parse a JSON payload with a schema; null when it is not JSON or does not fit. */
export function parseJson<T>(schema: z.ZodType<T>, payload: Buffer): T | null {
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch {
    return null;
  }
  const r = schema.safeParse(raw);
  return r.success ? r.data : null;
}

export type { MethodOutcome };
