// The shared queue's schema in PostgreSQL: created by the first node that finds it missing (under
// an advisory lock, so nodes starting together do not race), checked by every node against the
// version it knows, as the SQLite spool checks its user_version. Used by PgQueueBackend.
import { ActorError } from '@tsmtpd/proto';
import type { PgSync } from './pg-sync.js';

export const PG_SCHEMA_VERSION = 1;
/** pg_advisory_xact_lock key of the schema set-up ("tsmq"). */
const SCHEMA_LOCK = 0x74736d71;

// Envelope leases: a node holds (lease_node) and renews (lease_until, the server's clock) every
// envelope its scheduler has; one whose lease ran out belongs to whichever node takes it first.
// A message row knows the node receiving it, so a dead node's unfinished messages can be purged.
const DDL = `
CREATE TABLE tsmtpd_schema (version integer NOT NULL);
CREATE TABLE tsmtpd_node (
  id        text PRIMARY KEY,
  hostname  text NOT NULL,
  started   timestamptz NOT NULL DEFAULT now(),
  heartbeat timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE tsmtpd_message (
  msgid   text PRIMARY KEY,
  state   text NOT NULL CHECK (state IN ('incoming', 'committed')),
  ctime   bigint NOT NULL,
  size    bigint NOT NULL DEFAULT 0,
  nchunks integer NOT NULL DEFAULT 0,
  node    text NOT NULL
);
CREATE TABLE tsmtpd_chunk (
  msgid text NOT NULL,
  seq   integer NOT NULL,
  data  bytea NOT NULL,
  enc   smallint NOT NULL DEFAULT 0,
  PRIMARY KEY (msgid, seq)
);
CREATE TABLE tsmtpd_envelope (
  evpid       text PRIMARY KEY,
  msgid       text NOT NULL,
  type        text NOT NULL,
  json        text,
  blob        bytea,
  enc         smallint NOT NULL DEFAULT 0,
  lease_node  text,
  lease_until timestamptz NOT NULL
);
CREATE INDEX tsmtpd_envelope_msgid ON tsmtpd_envelope (msgid);
CREATE INDEX tsmtpd_envelope_lease ON tsmtpd_envelope (lease_until);
CREATE INDEX tsmtpd_envelope_node ON tsmtpd_envelope (lease_node);
`;

/** Create the schema if missing; refuse a database holding another version's. */
export function ensurePgSchema(db: PgSync, where: string): void {
  db.call({ op: 'begin' });
  try {
    db.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
    const t = db.query<{ ok: boolean }>(`SELECT to_regclass('tsmtpd_schema') IS NOT NULL AS ok`);
    if (!t.rows[0]?.ok) {
      db.query(DDL);
      db.query('INSERT INTO tsmtpd_schema (version) VALUES ($1)', [PG_SCHEMA_VERSION]);
    } else {
      const v = db.query<{ version: number }>('SELECT version FROM tsmtpd_schema');
      const version = v.rows[0]?.version;
      if (version !== PG_SCHEMA_VERSION) {
        throw new ActorError('ERR_QUEUE_SCHEMA', 'internal', `${where}: queue schema version ${String(version)}, this tsmtpd knows ${PG_SCHEMA_VERSION}`);
      }
    }
    db.call({ op: 'commit' });
  } catch (e) {
    if (db.txn) db.call({ op: 'rollback' });
    throw e;
  }
}
