// mda and mta: the two delivery actors. Both take batches of due envelopes from the
// queue and report outcomes back with QueueMailbox.onDeliveryResults.
import type { Envelope } from '../envelope.js';

export interface MdaMailbox {
  /** Deliver these envelopes locally; results come back to the queue. */
  onDeliver(envelopes: Envelope[]): void;
}

export interface MtaMailbox {
  /** Relay these envelopes; results come back to the queue. */
  onRelay(envelopes: Envelope[]): void;
}
