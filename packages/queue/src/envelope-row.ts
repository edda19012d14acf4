// An envelope's stored form, shared by the SQLite and PostgreSQL backends: JSON text when the
// queue is not encoded (spools stay readable), else the codec's bytes with their flags; read
// back decoded and validated, any inconsistency an ERR_QUEUE_CORRUPT.
import { ActorError, type Envelope } from '@tsmtpd/proto';
import { parseStoredEnvelope } from './backend.js';
import type { QueueCodec } from './codec.js';

export function envelopeStoredForm(codec: QueueCodec, e: Envelope): { value: string | Uint8Array; flags: number } {
  const json = JSON.stringify(e);
  if (codec.flags === 0) return { value: json, flags: 0 };
  const row = codec.encode(Buffer.from(json, 'utf8'));
  return { value: row.data, flags: row.flags };
}

/** `stored`: the text or the bytes of the row (null when the row has neither). */
export function envelopeFromStored(codec: QueueCodec, evpid: string, stored: string | Uint8Array | null, enc: number): Envelope {
  const what = `envelope ${evpid}`;
  if (stored === null) throw new ActorError('ERR_QUEUE_CORRUPT', 'internal', `${what}: no stored form`);
  if (typeof stored === 'string') {
    if (enc !== 0) throw new ActorError('ERR_QUEUE_CORRUPT', 'internal', `${what}: text row with encoding flags ${enc}`);
    return parseStoredEnvelope(evpid, stored);
  }
  return parseStoredEnvelope(evpid, Buffer.from(codec.decode(enc, stored, what)).toString('utf8'));
}
