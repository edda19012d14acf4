// The control actor: will serve smtpctl on <spool>/smtpd.sock (a later issue). For now it
// answers its mailbox so the daemon's shape is complete, and reports no socket.
import type { ActorContext, ActorImpl } from '@tsmtpd/actor';
import type { ControlMailbox } from '@tsmtpd/proto';

export async function createControl(_ctx: ActorContext<'control'>): Promise<ActorImpl<ControlMailbox>> {
  const mailbox: ControlMailbox = {
    async socketPath() {
      return null;
    },
  };
  return { mailbox };
}
