// Where each actor's worker lives. Importing an actor package's index loads only its
// workerUrl (no heavy dependencies in the parent).
import type { ResourceLimits } from 'node:worker_threads';
import type { Role } from '@tsmtpd/proto';
import { workerUrl as smtp } from '@tsmtpd/smtp';
import { workerUrl as lka } from '@tsmtpd/lka';
import { workerUrl as queue } from '@tsmtpd/queue';
import { workerUrl as scheduler } from '@tsmtpd/scheduler';
import { workerUrl as mta } from '@tsmtpd/mta';
import { workerUrl as mda } from '@tsmtpd/mda';
import { workerUrl as control } from '@tsmtpd/control';

export const WORKER_URLS: Record<Role, URL> = { smtp, lka, queue, scheduler, mta, mda, control };

/**
 * Each worker's young generation (V8's resourceLimits.maxYoungGenerationSizeMb; the semi-space
 * is about a third of it). V8's default lets a busy isolate's new space grow to 32 MB and keep
 * it while idle (smtp 32, lka and mda 16 each after 1,000 messages). Busy actors keep a few MB
 * (their scavenges stay cheap: almost everything a message allocates dies young); idle ones 1-2.
 */
const YOUNG_MB: Record<Role, number> = { smtp: 12, lka: 6, queue: 6, scheduler: 3, mta: 6, mda: 6, control: 3 };

export function workerLimits(role: Role): ResourceLimits {
  return { maxYoungGenerationSizeMb: YOUNG_MB[role] };
}
