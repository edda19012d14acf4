// Reporting relay outcomes: one log line per envelope in OpenSMTPD's form (`delivery evpid=...
// from=<...> to=<...> rcpt=<...> source=... relay="host [ip]" delay=Ns result=Ok stat=...`) and
// the results batched into one QueueMailbox.onDeliveryResults call per tick.
import { TickBatch, type Logger } from '@tsmtpd/actor';
import { toErrorLine, type DeliveryResult, type DeliveryStatus, type Envelope } from '@tsmtpd/proto';
import type { Outcome } from './transfer.js';

const RESULT_NAME: Record<DeliveryStatus, string> = { ok: 'Ok', tempfail: 'TempFail', permfail: 'PermFail', loop: 'PermFail', hold: 'Hold' };
const MAX_BATCH = 256;

export interface Where {
  /** Source address bound, when one was chosen. */
  source?: string | null;
  /** `host [ip]` of the server that answered, when one did. */
  relay?: string | null;
  /** The MX or smarthost name that answered (Remote-MTA). */
  remoteMta?: string | null;
}

export class ResultReporter {
  private readonly batch: TickBatch<DeliveryResult>;
  readonly counts: Record<DeliveryStatus, number> = { ok: 0, tempfail: 0, permfail: 0, loop: 0, hold: 0 };

  constructor(
    send: (results: DeliveryResult[]) => void,
    private readonly log: Logger,
    /** Called once per envelope reported (its attempt is over: the mta lets go of its body). */
    private readonly done: (env: Envelope) => void = () => {},
  ) {
    this.batch = new TickBatch(send, MAX_BATCH);
  }

  report(env: Envelope, o: Outcome, where: Where = {}): void {
    const errorline = toErrorLine(o.errorline);
    this.counts[o.status]++;
    this.done(env);
    this.log.info('delivery', {
      evpid: env.id,
      from: `<${env.sender}>`,
      to: `<${env.dest}>`,
      rcpt: `<${env.rcpt}>`,
      source: where.source ?? '-',
      relay: where.relay ?? '-',
      delay: `${Math.max(0, Math.floor(Date.now() / 1000) - env.ctime)}s`,
      result: RESULT_NAME[o.status],
      stat: errorline,
    });
    const r: DeliveryResult = { evpid: env.id, status: o.status, errorline };
    if (o.remote) r.remote = true;
    if (where.remoteMta && o.remote) r.remoteMta = where.remoteMta;
    if (o.relayed) r.relayed = true;
    this.push(r);
  }

  /** Back-pressure: the scheduler parks the envelope in hold queue `holdq`. */
  hold(env: Envelope, holdq: string): void {
    this.counts.hold++;
    this.done(env);
    this.push({ evpid: env.id, status: 'hold', errorline: 'relay has enough work', holdq });
  }

  private push(r: DeliveryResult): void {
    this.batch.push(r);
  }

  flush(): void {
    this.batch.flush();
  }
}
