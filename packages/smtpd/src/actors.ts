// Where each actor's worker lives. Importing an actor package's index loads only its
// workerUrl (no heavy dependencies in the parent).
import type { Role } from '@tsmtpd/proto';
import { workerUrl as smtp } from '@tsmtpd/smtp';
import { workerUrl as lka } from '@tsmtpd/lka';
import { workerUrl as queue } from '@tsmtpd/queue';
import { workerUrl as scheduler } from '@tsmtpd/scheduler';
import { workerUrl as mta } from '@tsmtpd/mta';
import { workerUrl as mda } from '@tsmtpd/mda';
import { workerUrl as control } from '@tsmtpd/control';

export const WORKER_URLS: Record<Role, URL> = { smtp, lka, queue, scheduler, mta, mda, control };
