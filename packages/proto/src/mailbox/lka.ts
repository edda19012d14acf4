// lka: lookups and the ruleset. Served to smtp (per RCPT), mda (user info) and the parent.
import type { Reply } from '../reply.js';
import type { EnvelopeType } from '../envelope.js';
import { z } from 'zod';
import type { ReloadReport } from './reload.js';

/** What the ruleset knows about the SMTP session a recipient arrives in. */
export interface SessionInfo {
  id: string;
  /** True for the local enqueue socket. */
  socket: boolean;
  /** Client address ('local' for the socket). */
  remoteAddress: string;
  /** Address the client connected to. */
  localAddress: string;
  /** Reverse DNS of the client; null when unknown or not looked up. */
  rdns: string | null;
  helo: string;
  /** Authenticated user, null when not authenticated. */
  authUser: string | null;
  tls: boolean;
  /** Listener tag, if any. */
  tag: string | null;
  /** Our name for this listener (hostname option or server name). */
  smtpname: string;
}

export interface RcptRequest {
  session: SessionInfo;
  /** Reverse path, '' for <>. Already validated by the address validator. */
  sender: string;
  /** Recipient as given, already validated. */
  rcpt: string;
  /** Configuration generation the session began under (reload); absent: the current one. */
  gen?: number;
}

/** One final delivery decided by the ruleset and expansion. */
export interface ResolvedRecipient {
  dispatcher: string;
  type: EnvelopeType;
  /** Final address (after alias/virtual expansion). */
  dest: string;
  /** For local deliveries: the user whose mailbox receives it. */
  mdaUser?: string;
  mdaSubaddress?: string;
  /** An alias or ~/.forward file or command target (see Envelope.mdaTarget). */
  mdaTarget?: MdaTarget;
  /** Lifetime in seconds (action ttl, else queue ttl). */
  ttl: number;
}

export interface MdaTarget {
  kind: 'file' | 'command';
  value: string;
  system: boolean;
}

/** The local-delivery fields of a resolved recipient, as an envelope carries them. */
export function mdaFields(r: ResolvedRecipient): Pick<ResolvedRecipient, 'mdaUser' | 'mdaSubaddress' | 'mdaTarget'> {
  return {
    ...(r.mdaUser !== undefined ? { mdaUser: r.mdaUser } : {}),
    ...(r.mdaSubaddress !== undefined ? { mdaSubaddress: r.mdaSubaddress } : {}),
    ...(r.mdaTarget !== undefined ? { mdaTarget: { ...r.mdaTarget } } : {}),
  };
}

export type RcptResolution = { ok: true; recipients: ResolvedRecipient[] } | { ok: false; reply: Reply };

export interface UserInfo {
  username: string;
  uid: number;
  gid: number;
  directory: string;
}

export type UserLookup = { ok: true; user: UserInfo } | { ok: false; kind: 'temp' | 'perm'; message: string };

/** A table value lookup: the raw value, not found, or a temporary error. */
export type TableLookup = { ok: true; value: string | null } | { ok: false; message: string };

/** Services of a value lookup (REFERENCE 11): credentials (label), relayhost (domain), addrname (source address), mailaddrmap. */
export type LookupService = 'credentials' | 'relayhost' | 'addrname' | 'mailaddrmap' | 'alias' | 'userinfo';

/** Forward-confirmed reverse DNS of a client (OpenSMTPD's link-connect fcrdns field). */
export type Fcrdns = 'pass' | 'fail' | 'error';

/** The client's name as lka found it: rdns null when it has none (or an invalid one). */
export interface ClientDns {
  rdns: string | null;
  fcrdns: Fcrdns;
}

/** What a builtin filter condition is matched against (only what the session has seen yet). */
export const FilterFactsSchema = z.object({
  src: z.string().max(128),
  rdns: z.string().max(255).nullable(),
  fcrdns: z.enum(['pass', 'fail', 'error']),
  helo: z.string().max(1024),
  authUser: z.string().max(1024).nullable(),
  mailFrom: z.string().max(1024).nullable(),
  rcptTo: z.string().max(1024).nullable(),
});
export type FilterFacts = z.infer<typeof FilterFactsSchema>;

/** A builtin filter's condition: matched, not matched, or a table failure (fail closed). */
export type FilterMatch = { ok: true; matched: boolean } | { ok: false; message: string };

/**
 * An SMTP AUTH attempt: check `password` for `user` against a credentials table (values are
 * crypt(3) strings) or, with `table` null, the system accounts. User and password are free of
 * CR, LF and NUL (the smtp actor refuses them before asking).
 */
export interface AuthRequest {
  table: string | null;
  user: string;
  password: string;
}

/** ok: authenticated; fail: wrong user or password; temp: could not be decided (table, pool). */
export type AuthVerdict = 'ok' | 'fail' | 'temp';

/** May `user` use `sender` as MAIL FROM (`senders <table>`, mailaddrmap service)? */
export type SenderVerdict = 'ok' | 'refused' | 'temp';

export interface LkaMailbox {
  /** Reverse DNS of a client address and whether its name resolves back to it (FCrDNS). */
  clientDns(address: string): Promise<ClientDns>;
  /** Evaluate the condition of the builtin filter `filter` against a session's facts. */
  filterMatch(filter: string, facts: FilterFacts): Promise<FilterMatch>;
  /** SMTP AUTH: verify a user's password (hash verification runs off the lka's event loop). */
  authenticate(req: AuthRequest): Promise<AuthVerdict>;
  /** `senders <table>`: is `sender` one of the addresses `table` lists for `user`? */
  senderCheck(table: string, user: string, sender: string): Promise<SenderVerdict>;
  /** Look up `key` in a declared table (the mta's auth, relay domain and helo-src tables). */
  tableLookup(table: string, service: LookupService, key: string): Promise<TableLookup>;
  /** Every entry of a list table (`src <t>`, `host <t>`), in order. */
  tableFetch(table: string): Promise<{ ok: true; values: string[] } | { ok: false; message: string }>;
  /** Run the ruleset and expansion for one recipient (first match wins). */
  rcptResolve(req: RcptRequest): Promise<RcptResolution>;
  /** Look up a local user for delivery: the action's userbase table, else the system. */
  userLookup(name: string, userbase: string | null): Promise<UserLookup>;
  /** Reload a table from its source (`smtpctl update table`). */
  tableUpdate(name: string): Promise<boolean>;
  /** A reloaded configuration (ReloadOrder): new ruleset, changed tables reopened, the rest kept. */
  reload(order: unknown): Promise<ReloadReport>;
  /** smtp: no session of generation `gen` is left; its ruleset and tables may go. */
  releaseGeneration(gen: number): void;
}
