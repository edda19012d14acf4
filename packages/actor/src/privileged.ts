// The privileged operations the parent serves to actors (ParentMailbox beyond onFatal). A root
// daemon's actor process passes them to its privileged process (packages/smtpd privsep); these
// defaults are what a daemon run by an ordinary user (and the test kit) answers: nothing more
// than that user may do.
import { fail, type ParentMailbox } from '@tsmtpd/proto';

export type PrivilegedServices = Omit<ParentMailbox, 'onFatal' | 'reloadConfig'>;

export const UNPRIVILEGED: PrivilegedServices = {
  deliveryHelper: async () => fail('no-privileges', 'temp', 'no privileged process: deliveries run in the mda'),
  onDeliveryHelperKill: () => {},
  forwardRead: async () => fail('no-privileges', 'temp', 'no privileged process to read ~/.forward'),
  systemPasswordCheck: async () => false,
  mboxPrepare: async () => fail('no-privileges', 'temp', 'no privileged process'),
};
