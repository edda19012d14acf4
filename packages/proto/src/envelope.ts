// The envelope: one recipient of one message, as stored by the queue and moved between
// actors. Plain data (it crosses threads); stored as JSON, never as a line format
// (REFERENCE 4.3: CVE-2020-8794 injected fields through a newline in a line format).
import { z } from 'zod';

const singleLine = z.string().regex(/^[^\r\n\0]*$/, 'must be a single line');

export const EnvelopeTypeSchema = z.enum(['mda', 'mta', 'bounce']);
export type EnvelopeType = z.infer<typeof EnvelopeTypeSchema>;

/** What a delivery status notification reports (RFC 3464 Action). */
export const BounceKindSchema = z.enum(['failed', 'delayed', 'delivered', 'relayed']);
export type BounceKind = z.infer<typeof BounceKindSchema>;

/**
 * A bounce envelope's report on one recipient of the original message (RFC 3464 section 2.3).
 * Carried by an envelope of type `bounce` under the original msgid, so the original body stays
 * until the report is sent. Every text is one line of data.
 */
export const BounceReportSchema = z.object({
  kind: BounceKindSchema,
  /** Enhanced status code X.Y.Z (RFC 3463). */
  status: z.string().regex(/^[245]\.\d{1,3}\.\d{1,3}$/),
  /** The remote's or the delivery agent's own words. */
  diagnostic: singleLine.max(1024),
  /** 'smtp' when `diagnostic` is a remote SMTP reply, else 'x-local'. */
  diagnosticType: z.enum(['smtp', 'x-local']),
  /** The remote MTA's name (Remote-MTA: dns; NAME), when one answered. */
  remoteMta: singleLine.max(255).optional(),
  /** Epoch seconds of the last delivery attempt. */
  lastAttempt: z.number().int(),
  /** Epoch seconds the original message arrived (Arrival-Date). */
  arrival: z.number().int(),
  /** For delays: epoch seconds until which delivery is still tried (Will-Retry-Until). */
  retryUntil: z.number().int().optional(),
});
export type BounceReport = z.infer<typeof BounceReportSchema>;

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
  /**
   * An alias or ~/.forward target delivered instead of the action's method: append to a file, or
   * pipe to a command (text from the table or the user's own file, never from the SMTP session),
   * as `mdaUser` — a system account when `system` (alias targets run as the unprivileged one).
   */
  mdaTarget: z.object({ kind: z.enum(['file', 'command']), value: singleLine.min(1).max(4096), system: z.boolean() }).optional(),
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
  /** The message was submitted with SMTPUTF8 (RFC 6531): relaying it needs a server offering it. */
  smtputf8: z.boolean().optional(),
  /** Last error, one line. */
  errorline: singleLine.optional(),
  /** For bounce envelopes: what is reported about the original recipient. */
  report: z.lazy(() => BounceReportSchema).optional(),
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

/**
 * Outcome of one attempt. `hold`: the mta has enough work for this envelope's relay; the
 * scheduler parks it in the hold queue `holdq` until the mta releases it (REFERENCE 5.6).
 */
export type DeliveryStatus = 'ok' | 'tempfail' | 'permfail' | 'loop' | 'hold';

/** What mda/mta report for one envelope after an attempt. */
export interface DeliveryResult {
  evpid: string;
  status: DeliveryStatus;
  /** One line: the reason, with its SMTP/enhanced code when there is one. */
  errorline: string;
  /** True when `errorline` is a remote server's reply (Diagnostic-Code: smtp; ...). */
  remote?: boolean;
  /** Name of the remote MTA that answered (Remote-MTA), when one did. */
  remoteMta?: string;
  /**
   * `ok` only: relayed to a server that does not offer DSN while the sender asked NOTIFY=SUCCESS,
   * so this server reports "relayed" itself (RFC 3461 section 4.1).
   */
  relayed?: boolean;
  /** `hold` only: the hold queue (the mta's relay key). */
  holdq?: string;
}
