// mda and mta: the two delivery actors. Both take batches of due envelopes from the
// queue and report outcomes back with QueueMailbox.onDeliveryResults.
import type { Envelope } from '../envelope.js';
import type { ReloadReport } from './reload.js';

export interface MdaMailbox {
  /**
   * Deliver these envelopes locally; results come back to the queue. `bodies`: the committed
   * bodies of small messages the queue still holds in memory, by msgid, so that the mda need not
   * ask for them (QueueMailbox.bodyRead serves the others, and any body the mda let go).
   */
  onDeliver(envelopes: Envelope[], bodies?: Record<string, ArrayBuffer[]>): void;
  /** A reloaded configuration (ReloadOrder): actions by name for the deliveries started from now. */
  reload(order: unknown): Promise<ReloadReport>;
}

/** What `smtpctl show hosts|relays|routes` asks the mta for. */
export type MtaShowKind = 'hosts' | 'relays' | 'routes';

export interface MtaMailbox {
  /**
   * Relay these envelopes; results come back to the queue. `bodies`: as for MdaMailbox.onDeliver,
   * the small committed bodies the queue still holds, by msgid (no bodyRead round trip for them).
   */
  onRelay(envelopes: Envelope[], bodies?: Record<string, ArrayBuffer[]>): void;
  /** Control: one display line per known host, relay or route (OpenSMTPD's shapes). */
  ctlShow(kind: MtaShowKind): Promise<string[]>;
  /** A reloaded configuration (ReloadOrder): relay actions and their TLS material. */
  reload(order: unknown): Promise<ReloadReport>;
}
