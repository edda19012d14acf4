// Reporting delivery outcomes: one log line per envelope in OpenSMTPD's form
// (`delivery evpid=... from=<...> to=<...> user=... method=... result=Ok stat=...`) and the
// results batched into one QueueMailbox.onDeliveryResults call per tick.
import { TickBatch, type Logger } from '@tsmtpd/actor';
import { toErrorLine, type DeliveryResult, type DeliveryStatus, type Envelope } from '@tsmtpd/proto';
import type { DeliveryOutcome } from './deliver.js';

const RESULT_NAME: Record<DeliveryStatus, string> = { ok: 'Ok', tempfail: 'TempFail', permfail: 'PermFail', loop: 'PermFail', hold: 'Hold' };
const MAX_BATCH = 256;

export class ResultReporter {
  private readonly batch: TickBatch<DeliveryResult>;
  readonly counts: Record<DeliveryStatus, number> = { ok: 0, tempfail: 0, permfail: 0, loop: 0, hold: 0 };

  constructor(
    send: (results: DeliveryResult[]) => void,
    private readonly log: Logger,
  ) {
    this.batch = new TickBatch(send, MAX_BATCH);
  }

  report(env: Envelope, o: DeliveryOutcome): void {
    const errorline = toErrorLine(o.errorline);
    this.counts[o.status]++;
    this.log.info('delivery', {
      evpid: env.id,
      from: `<${env.sender}>`,
      to: `<${env.dest}>`,
      ...(env.rcpt !== env.dest ? { rcpt: `<${env.rcpt}>` } : {}),
      user: o.user ?? env.mdaUser ?? '-',
      method: o.method ?? '-',
      delay: `${Math.max(0, Math.floor(Date.now() / 1000) - env.ctime)}s`,
      result: RESULT_NAME[o.status],
      stat: errorline,
    });
    this.batch.push({ evpid: env.id, status: o.status, errorline });
  }

  flush(): void {
    this.batch.flush();
  }
}
