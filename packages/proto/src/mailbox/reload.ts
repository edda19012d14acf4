// reload: the order the parent sends to lka, smtp, mta and mda when the configuration is
// reloaded (SIGHUP, `smtpctl reload`), checked with zod by each actor on arrival; the config
// itself is then parsed with the config package's schema by the actor (proto does not know it).
import { z } from 'zod';

const ListenFdSchema = z.object({ address: z.string().max(64), port: z.number().int().min(0).max(65535), fd: z.number().int().min(3) });

export const ReloadOrderSchema = z.object({
  /** Generation of the new configuration: 1 at start, +1 per reload. */
  gen: z.number().int().positive(),
  /** The checked configuration (SmtpdConfig). */
  config: z.unknown(),
  /** TLS material of the listeners and relay actions, re-read by the (privileged) parent. */
  tls: z.object({ pki: z.record(z.string(), z.object({ cert: z.string(), key: z.string() })), ca: z.record(z.string(), z.string()) }).optional(),
  /** smtp: descriptors of newly bound listeners (privilege separation). */
  listenFds: z.array(ListenFdSchema).max(1024).optional(),
});
export type ReloadOrder = z.infer<typeof ReloadOrderSchema>;

/** What an actor changed: short phrases for the reload's log line ("listeners +1 -1"). */
export type ReloadReport = { ok: true; notes: string[] } | { ok: false; error: string };

/** What the parent answers control for `smtpctl reload`. */
export type ReloadOutcome = { ok: true; summary: string } | { ok: false; errors: string[] };
