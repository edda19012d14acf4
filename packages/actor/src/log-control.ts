// The running log level across threads: control broadcasts a change (smtpctl log verbose|brief,
// trace/untrace) on one BroadcastChannel and every thread that listens applies it to its own
// loggers (log.ts setLogLevel). Messages are validated: anything else on the channel is ignored.
import { BroadcastChannel } from 'node:worker_threads';
import { z } from 'zod';
import { setLogLevel } from './log.js';

const CHANNEL = 'tsmtpd.log-level';

const RoleList = z.array(z.string().regex(/^[a-z]{2,12}$/)).max(16);
export const LogLevelChangeSchema = z.object({
  verbose: z.boolean().optional(),
  trace: RoleList.optional(),
  untrace: RoleList.optional(),
}).strict();
export type LogLevelChange = z.infer<typeof LogLevelChangeSchema>;

/** Apply changes broadcast by control to this thread's loggers; never keeps the thread alive. */
export function listenLogLevel(): () => void {
  const ch = new BroadcastChannel(CHANNEL);
  ch.onmessage = (ev: unknown) => {
    const r = LogLevelChangeSchema.safeParse((ev as { data?: unknown }).data);
    if (r.success) setLogLevel(r.data);
  };
  ch.unref();
  return () => ch.close();
}

/** Change the log level of every listening thread, this one included. */
export function broadcastLogLevel(change: LogLevelChange): void {
  setLogLevel(change);
  const ch = new BroadcastChannel(CHANNEL);
  ch.postMessage(change);
  ch.close();
}
