// The channel between the privileged process of a root daemon and its unprivileged actor
// process (DESIGN.md section 7): node IPC on the actor process's stdio, these messages only,
// each checked with zod on arrival at either end. The privileged side trusts nothing in a
// request: it re-checks every uid, user name and size against the system's accounts.
import { z } from 'zod';

const reqId = z.number().int().nonnegative().max(2 ** 31);
/** A login name as passwd(5) holds it: no '/', ':', NUL, CR, LF, nothing shell-ish needed. */
export const AccountNameSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/, 'not an account name');
const uid = z.number().int().nonnegative().max(2 ** 32 - 2);

/**
 * A delivery helper's listening socket: the random part of its abstract unix socket name
 * (helperSocketName). The helper accepts one connection, from the actor process only.
 */
export const HelperSocketSchema = z.string().regex(/^[0-9a-f]{32}$/);

/** The abstract unix socket address (Linux: leading NUL, no file) of a helper's socket. */
export function helperSocketName(token: string): string {
  return `\0tsmtpd-helper-${token}`;
}

/** Actor process -> privileged process. */
export const PrivRequestSchema = z.discriminatedUnion('t', [
  /** Start a delivery helper running as uid/gid; the answer names its socket (HelperSocketSchema). */
  z.object({ t: z.literal('helper'), id: reqId, uid, gid: uid }),
  /** End a helper that does not answer (only one the privileged side started). */
  z.object({ t: z.literal('helper-kill'), pid: z.number().int().positive() }),
  /** Read ~user/.forward (null: none). */
  z.object({ t: z.literal('forward'), id: reqId, user: AccountNameSchema }),
  /** Check a system account's password (AUTH against system accounts). */
  z.object({ t: z.literal('password'), id: reqId, user: AccountNameSchema, password: z.string().min(1).max(1024).regex(/^[^\0\r\n]*$/) }),
  /** Make /var/mail/USER exist, owned by the user (mbox deliveries). */
  z.object({ t: z.literal('mbox'), id: reqId, user: AccountNameSchema }),
  /** Every actor runs (the privileged side then replays the offline queue, once). */
  z.object({ t: z.literal('ready') }),
  /** Re-read and check the configuration (`smtpctl reload` reached the actor process). */
  z.object({ t: z.literal('reload'), id: reqId }),
]);
export type PrivRequest = z.infer<typeof PrivRequestSchema>;

/** The listeners' PEM material (init.ts TlsMaterial), read by the privileged side. */
const TlsMaterialSchema = z.object({
  pki: z.record(z.string(), z.object({ cert: z.string(), key: z.string() })),
  ca: z.record(z.string(), z.string()),
});

/** Privileged process -> actor process. `init` first, then answers by request id. */
export const PrivAnswerSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('init'), config: z.unknown(), spool: z.string(), settings: z.record(z.string(), z.unknown()), listenFds: z.array(z.object({ address: z.string(), port: z.number().int(), fd: z.number().int().min(3) })), tls: TlsMaterialSchema }),
  z.object({ t: z.literal('helper'), id: reqId, pid: z.number().int().positive().nullable(), socket: HelperSocketSchema.nullable(), error: z.string().nullable() }),
  z.object({ t: z.literal('forward'), id: reqId, text: z.string().max(65536).nullable(), error: z.string().nullable() }),
  z.object({ t: z.literal('password'), id: reqId, ok: z.boolean() }),
  z.object({ t: z.literal('mbox'), id: reqId, error: z.string().nullable() }),
  /** A newly bound listener of a reload, its socket as the handle; the `reload` answer follows. */
  z.object({ t: z.literal('listen'), address: z.string().max(64), port: z.number().int().min(1).max(65535) }),
  /**
   * A reload's outcome: the checked configuration and TLS material, or the errors (`file:line:`).
   * id 0: the privileged side reloaded on its own (SIGHUP). `warnings`: what needs a restart.
   */
  z.object({ t: z.literal('reload'), id: reqId, errors: z.array(z.string()).max(1000), config: z.unknown().optional(), tls: TlsMaterialSchema.optional(), warnings: z.array(z.string()).max(100) }),
]);
export type PrivAnswer = z.infer<typeof PrivAnswerSchema>;

/** Where a listening socket bound by the privileged side arrives in the actor process. */
export interface ListenFd {
  address: string;
  port: number;
  fd: number;
}
