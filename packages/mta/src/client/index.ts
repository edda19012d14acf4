// Public face of the mta's SMTP/LMTP client: the session factory and the contract types. The mta
// actor (mta.ts) creates one session per connection; nothing here knows about routes or queues.
import { SmtpClientSession } from './session.js';
import type { ClientFactory } from './types.js';

export type * from './types.js';

/** A session for one connection; nothing happens until connect(). */
export const createClientSession: ClientFactory = (opts) => new SmtpClientSession(opts);
