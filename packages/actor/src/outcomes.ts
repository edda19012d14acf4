// Delivery outcomes as both delivery actors (mda, mta) report them: one log line per envelope in
// OpenSMTPD's form (`delivery evpid=... from=<...> to=<...> ... delay=Ns result=Ok stat=...`)
// and the results batched into one QueueMailbox.onDeliveryResults call per tick.
import { toErrorLine, type DeliveryResult, type DeliveryStatus, type Envelope } from '@tsmtpd/proto';
import { TickBatch } from './batch.js';
import type { Logger } from './log.js';

const RESULT_NAME: Record<DeliveryStatus, string> = { ok: 'Ok', tempfail: 'TempFail', permfail: 'PermFail', loop: 'PermFail', hold: 'Hold' };
const MAX_BATCH = 256;

export class OutcomeReporter {
  private readonly batch: TickBatch<DeliveryResult>;
  readonly counts: Record<DeliveryStatus, number> = { ok: 0, tempfail: 0, permfail: 0, loop: 0, hold: 0 };

  constructor(
    send: (results: DeliveryResult[]) => void,
    private readonly log: Logger,
    /** Called once per envelope reported: its attempt is over (the mta lets go of its body). */
    private readonly done: (env: Envelope) => void = () => {},
  ) {
    this.batch = new TickBatch(send, MAX_BATCH);
  }

  /**
   * Log the delivery line and queue the result. `fields`: the actor's own, logged between `to`
   * and `delay` (mda: user, method; mta: rcpt, source, relay); `extra`: result fields beyond
   * the status and the one-line errorline.
   */
  report(env: Envelope, status: DeliveryStatus, errorline: string, fields: Record<string, unknown>, extra: Partial<DeliveryResult> = {}): void {
    const stat = toErrorLine(errorline);
    this.log.info('delivery', {
      evpid: env.id,
      from: `<${env.sender}>`,
      to: `<${env.dest}>`,
      ...fields,
      delay: `${Math.max(0, Math.floor(Date.now() / 1000) - env.ctime)}s`,
      result: RESULT_NAME[status],
      stat,
    });
    this.push(env, { ...extra, evpid: env.id, status, errorline: stat });
  }

  /** Queue a result without a log line (the mta's hold: no attempt was made). */
  push(env: Envelope, r: DeliveryResult): void {
    this.counts[r.status]++;
    this.done(env);
    this.batch.push(r);
  }

  flush(): void {
    this.batch.flush();
  }
}
