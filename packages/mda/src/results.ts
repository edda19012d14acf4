// Reporting local delivery outcomes (OutcomeReporter: OpenSMTPD's log line, results batched per
// tick), with the mda's fields: `user=... method=...`, and `rcpt=<...>` when it differs from `to`.
import { OutcomeReporter, type Logger } from '@tsmtpd/actor';
import type { DeliveryResult, DeliveryStatus, Envelope } from '@tsmtpd/proto';
import type { DeliveryOutcome } from './deliver.js';

export class ResultReporter {
  private readonly out: OutcomeReporter;

  constructor(send: (results: DeliveryResult[]) => void, log: Logger) {
    this.out = new OutcomeReporter(send, log);
  }

  get counts(): Readonly<Record<DeliveryStatus, number>> {
    return this.out.counts;
  }

  report(env: Envelope, o: DeliveryOutcome): void {
    this.out.report(env, o.status, o.errorline, {
      ...(env.rcpt !== env.dest ? { rcpt: `<${env.rcpt}>` } : {}),
      user: o.user ?? env.mdaUser ?? '-',
      method: o.method ?? '-',
    });
  }

  flush(): void {
    this.out.flush();
  }
}
