// The deliveries that write files as the recipient (maildir, the mbox append): plain-data jobs
// that run either in the mda worker (unprivileged daemon, or a root recipient) or in the
// per-uid helper process (root daemon). One entry point for both, so both share the code.
import { openMaildir, type MaildirJob } from './methods/maildir.js';
import { openMbox, type MboxJob } from './methods/mbox.js';
import type { SinkOpen } from './sink.js';

export type FileJob = MaildirJob | MboxJob;

export function openFileJob(job: FileJob): Promise<SinkOpen> {
  return job.kind === 'maildir' ? openMaildir(job) : openMbox(job);
}
