// The actor roles and which mailbox each serves, so a Remote handle is typed by role.
import type { LkaMailbox } from './mailbox/lka.js';
import type { QueueMailbox } from './mailbox/queue.js';
import type { SchedulerMailbox } from './mailbox/scheduler.js';
import type { MdaMailbox, MtaMailbox } from './mailbox/delivery.js';
import type { SmtpMailbox } from './mailbox/smtp.js';
import type { ControlMailbox } from './mailbox/control.js';

export const ROLES = ['smtp', 'lka', 'queue', 'scheduler', 'mta', 'mda', 'control'] as const;
export type Role = (typeof ROLES)[number];

export interface MailboxOf {
  smtp: SmtpMailbox;
  lka: LkaMailbox;
  queue: QueueMailbox;
  scheduler: SchedulerMailbox;
  mta: MtaMailbox;
  mda: MdaMailbox;
  control: ControlMailbox;
}
