// The envelope: one recipient of one message, as stored by the queue and moved between
// actors. Plain data (it crosses threads); stored as JSON, never as a line format
// (REFERENCE 4.3: CVE-2020-8794 injected fields through a newline in a line format).
import { z } from 'zod';

const singleLine = z.string().regex(/^[^\r\n\0]*$/, 'must be a single line');

export const EnvelopeTypeSchema = z.enum(['mda', 'mta', 'bounce']);
export type EnvelopeType = z.infer<typeof EnvelopeTypeSchema>;

/** DSN NOTIFY bits (RFC 3461 4.1), as OpenSMTPD stores them. */
export const DsnNotify = { success: 1, failure: 2, delay: 4, never: 8 } as const;

export const EnvelopeSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{16}$/),
  msgid: z.string().regex(/^[0-9a-f]{8}$/),
  type: EnvelopeTypeSchema,
  /** Name of the action (dispatcher) chosen by the ruleset. */
  dispatcher: singleLine,
  tag: singleLine.optional(),
  /** Our host name as the listener presents it. */
  smtpname: singleLine,
  helo: singleLine,
  /** Client reverse DNS name, '' when unknown. */
  hostname: singleLine,
  /** 'local' for the enqueue socket, else the client IP. */
  sockaddr: singleLine,
  /** Authenticated user name, if any. */
  username: singleLine.optional(),
  /** Reverse path; '' is the null sender <>. */
  sender: singleLine,
  /** Recipient as given in RCPT TO. */
  rcpt: singleLine,
  /** Final destination address after expansion. */
  dest: singleLine,
  /** Local user a mda envelope is delivered to (after alias/virtual expansion). */
  mdaUser: singleLine.optional(),
  /** Sub-address (the part after the delimiter), if any. */
  mdaSubaddress: singleLine.optional(),
  /** Epoch seconds. */
  ctime: z.number().int(),
  lastTry: z.number().int(),
  lastBounce: z.number().int(),
  /** Lifetime in seconds from ctime. */
  ttl: z.number().int().positive(),
  retry: z.number().int().nonnegative(),
  flags: z.array(z.enum(['authenticated', 'bounce', 'internal'])),
  dsnNotify: z.number().int().min(0).max(15),
  dsnRet: z.enum(['FULL', 'HDRS']).optional(),
  dsnEnvid: singleLine.max(100).optional(),
  dsnOrcpt: singleLine.max(500).optional(),
  /** Last error, one line. */
  errorline: singleLine.optional(),
});
export type Envelope = z.infer<typeof EnvelopeSchema>;

/** Make any text safe to store as a one-line error (REFERENCE 14: errorline injection). */
export function toErrorLine(text: string, max = 512): string {
  return text.replace(/[\r\n\0]+/g, ' ').replace(/[\x00-\x1f\x7f]/g, '?').slice(0, max);
}

/** The scheduler's compact view of an envelope. */
export const ScheduleEntrySchema = z.object({
  evpid: z.string(),
  type: EnvelopeTypeSchema,
  ctime: z.number().int(),
  ttl: z.number().int(),
  retry: z.number().int(),
  lastTry: z.number().int(),
});
export type ScheduleEntry = z.infer<typeof ScheduleEntrySchema>;

export type DeliveryStatus = 'ok' | 'tempfail' | 'permfail' | 'loop';

/** What mda/mta report for one envelope after an attempt. */
export interface DeliveryResult {
  evpid: string;
  status: DeliveryStatus;
  /** One line: the reason, with its SMTP/enhanced code when there is one. */
  errorline: string;
}
