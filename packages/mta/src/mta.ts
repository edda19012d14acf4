// The mta actor: relaying to other exchangers. Not built yet: the parent refuses any
// configuration with a `relay` action, so envelopes reach this actor only through a bug;
// they are answered as temporary failures so nothing is lost.
import type { ActorContext, ActorImpl } from '@tsmtpd/actor';
import type { Envelope, MtaMailbox } from '@tsmtpd/proto';

export async function createMta(ctx: ActorContext<'mta'>): Promise<ActorImpl<MtaMailbox>> {
  let refused = 0;
  const mailbox: MtaMailbox = {
    onRelay(envelopes: Envelope[]) {
      refused += envelopes.length;
      ctx.log.warn('relay not implemented', { envelopes: envelopes.length });
      void ctx.peer('queue').onDeliveryResults(
        envelopes.map((e) => ({ evpid: e.id, status: 'tempfail' as const, errorline: '451 4.3.0 relaying is not implemented yet' })),
      );
    },
  };
  return { mailbox, stats: () => ({ 'mta.refused': refused }) };
}
