// The whole cluster's queue read from PostgreSQL for smtpctl (show cluster): every committed
// envelope with the node holding its lease and until when, whatever node runs the command and
// whether or not a daemon runs here. Read-only, one short-lived pool; the URI's password masked
// in every error. Encrypted rows are reported as errors (smtpctl has no queue key).
import pg from 'pg';
import { parseStoredEnvelope } from './backend.js';
import { QueueCodec, ENC_AES } from './codec.js';
import { redactUri } from './pg-sync.js';
import type { Envelope } from '@tsmtpd/proto';

export interface ClusterEnvelope {
  envelope: Envelope;
  /** The node holding the lease; null when none does. */
  node: string | null;
  /** Lease expiry, epoch seconds (in the past: free for any node to take). */
  leaseUntil: number;
}

const PAGE = 1000;

/** Calls `row` per envelope in evpid order, `bad` per unreadable one; throws if the server is unreachable. */
export async function readClusterQueue(uri: string, row: (e: ClusterEnvelope) => void, bad: (evpid: string, message: string) => void): Promise<void> {
  const pool = new pg.Pool({ connectionString: uri, max: 1, connectionTimeoutMillis: 5000, query_timeout: 30_000, application_name: 'smtpctl' });
  pool.on('error', () => {});
  const codec = new QueueCodec({});
  try {
    let after = '';
    for (let pages = 0; pages < 1_000_000; pages++) {
      const r = await pool.query<{ evpid: string; json: string | null; blob: Buffer | null; enc: number; node: string | null; until: string }>(
        `SELECT evpid, json, blob, enc, lease_node AS node, extract(epoch FROM lease_until)::bigint AS until
         FROM tsmtpd_envelope WHERE evpid > $1 ORDER BY evpid LIMIT $2`, [after, PAGE]);
      for (const x of r.rows) {
        try {
          if ((x.enc & ENC_AES) !== 0) throw new Error('encrypted (the queue key is needed)');
          const json = x.json ?? Buffer.from(codec.decode(x.enc, x.blob ?? Buffer.alloc(0), `envelope ${x.evpid}`)).toString('utf8');
          row({ envelope: parseStoredEnvelope(x.evpid, json), node: x.node, leaseUntil: Number(x.until) });
        } catch (e) {
          bad(x.evpid, e instanceof Error ? e.message : String(e));
        }
      }
      if (r.rows.length < PAGE) return;
      after = r.rows[r.rows.length - 1]?.evpid ?? after;
    }
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    throw new Error(`${redactUri(uri)}: ${m}`);
  } finally {
    await pool.end().catch(() => {});
  }
}
