// Reporting relay outcomes (OutcomeReporter: OpenSMTPD's log line, results batched per tick),
// with the mta's fields: `rcpt=<...> source=... relay="host [ip]"`, and holds (back-pressure).
import { OutcomeReporter, type Logger } from '@tsmtpd/actor';
import type { DeliveryResult, DeliveryStatus, Envelope } from '@tsmtpd/proto';
import type { Outcome } from './transfer.js';

export interface Where {
  /** Source address bound, when one was chosen. */
  source?: string | null;
  /** `host [ip]` of the server that answered, when one did. */
  relay?: string | null;
  /** The MX or smarthost name that answered (Remote-MTA). */
  remoteMta?: string | null;
}

export class ResultReporter {
  private readonly out: OutcomeReporter;

  constructor(
    send: (results: DeliveryResult[]) => void,
    log: Logger,
    /** Called once per envelope reported (its attempt is over: the mta lets go of its body). */
    done: (env: Envelope) => void = () => {},
  ) {
    this.out = new OutcomeReporter(send, log, done);
  }

  get counts(): Readonly<Record<DeliveryStatus, number>> {
    return this.out.counts;
  }

  report(env: Envelope, o: Outcome, where: Where = {}): void {
    const extra: Partial<DeliveryResult> = {};
    if (o.remote) extra.remote = true;
    if (where.remoteMta && o.remote) extra.remoteMta = where.remoteMta;
    if (o.relayed) extra.relayed = true;
    this.out.report(env, o.status, o.errorline, { rcpt: `<${env.rcpt}>`, source: where.source ?? '-', relay: where.relay ?? '-' }, extra);
  }

  /** Back-pressure: the scheduler parks the envelope in hold queue `holdq`. */
  hold(env: Envelope, holdq: string): void {
    this.out.push(env, { evpid: env.id, status: 'hold', errorline: 'relay has enough work', holdq });
  }

  flush(): void {
    this.out.flush();
  }
}
