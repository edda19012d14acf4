// Relays (REFERENCE 6.1): an action and a destination (an MX domain or a smarthost URL) with
// the tasks waiting for it, its candidates once resolved, and its hold state. This file finds
// an envelope's relay (`relay host`, `host <t>`, `domain <t>` through the lka) and the
// connection profile of a relay URL (port, TLS mode, LMTP, auth label: REFERENCE 1.5, 6.6).
import type { RelayHost, RelayMethod } from '@tsmtpd/config';
import { parseRelayUrl } from '@tsmtpd/config/parse-action.js';
import type { Envelope, LkaMailbox } from '@tsmtpd/proto';
import type { TlsMode } from './client/types.js';
import type { MtaLimits } from './limits.js';
import type { Candidate } from './routing.js';

export interface Profile {
  /** For log lines: smtp, smtp+tls, smtps, lmtp, smtp+notls. */
  scheme: string;
  port: number;
  tls: TlsMode;
  verify: boolean;
  lmtp: boolean;
  /** Key of the `auth` table entry, when the relay authenticates. */
  authLabel: string | null;
  /** A configuration that cannot relay at all (a temporary failure, as OpenSMTPD). */
  error: string | null;
}

/** The connection profile of an action with an optional smarthost. */
export function relayProfile(def: RelayMethod, host: RelayHost | null): Profile {
  const proto = host?.proto ?? 'smtp';
  const required = def.tls !== undefined;
  const verifyRequired = def.tls !== 'no-verify';
  const base = { scheme: proto, lmtp: false, authLabel: null as string | null, error: null as string | null };
  if (def.auth !== undefined && host) base.authLabel = host.label ?? host.hostname;
  switch (proto) {
    case 'smtps':
      return { ...base, port: host?.port ?? 465, tls: 'implicit', verify: verifyRequired };
    case 'smtp+tls':
      return { ...base, port: host?.port ?? 25, tls: 'starttls', verify: verifyRequired };
    case 'smtp+notls':
      return { ...base, port: host?.port ?? 25, tls: 'none', verify: false, ...(required ? { error: 'TLS required for relaying' } : {}) };
    case 'lmtp':
    case 'smtp': {
      // `tls` upgrades smtp:// to smtp+tls:// (verified unless `no-verify`).
      const tls: TlsMode = required ? 'starttls' : 'opportunistic';
      return { ...base, lmtp: proto === 'lmtp', port: host?.port ?? 25, tls, verify: required && verifyRequired };
    }
  }
}

export interface Task {
  msgid: string;
  envelopes: Envelope[];
  relay: Relay;
  /** Epoch ms when it was queued (for the log's view of waiting). */
  since: number;
}

/** One relay: its tasks, candidates and counters. Plain state; the Mta drives it. */
export class Relay {
  readonly tasks: Task[] = [];
  /** Resolved candidates (null: not resolved yet); `routeError` when resolution failed. */
  candidates: Candidate[] | null = null;
  resolving = false;
  resolvedAt = 0;
  /** Sessions opened for this relay and still alive. */
  sessions = 0;
  /** Sessions opened for this relay that have not connected yet. */
  connecting = 0;
  lastConnect = 0;
  /** The last connection error, for the outcome when every candidate failed. */
  lastError: string | null = null;
  onHold = false;
  /** Envelopes answered `hold` and not yet released. */
  held = 0;
  /** Source addresses to bind (`src`), null for the system's choice; known once resolved. */
  srcs: (string | null)[] = [null];
  /** AUTH credentials (`auth <t>`), known once resolved. */
  auth: { user: string; pass: string } | null = null;
  /** Rotation of sources and equal candidates. */
  turn = 0;

  constructor(
    readonly key: string,
    readonly action: string,
    readonly def: RelayMethod,
    /** Destination domain (MX relays) or smarthost. */
    readonly domain: string,
    readonly smarthost: RelayHost | null,
    readonly profile: Profile,
    readonly limits: MtaLimits,
    /** Our name as the envelopes' listener gave it (`relay backup` default). */
    readonly smtpname: string,
  ) {}

  /** Log form: the smarthost URL or the domain. */
  get name(): string {
    return this.smarthost ? this.smarthost.url : this.domain;
  }

  idle(): boolean {
    return this.tasks.length === 0 && this.sessions === 0 && this.held === 0 && !this.resolving;
  }
}

export interface Destination {
  key: string;
  domain: string;
  smarthost: RelayHost | null;
}

export type DestinationLookup = { ok: true; dest: Destination } | { ok: false; message: string };

function domainOf(env: Envelope): string {
  return env.dest.slice(env.dest.lastIndexOf('@') + 1).toLowerCase();
}

/** Round-robin position per `host <t>` table. */
const hostTableTurn = new Map<string, number>();

/**
 * Where an envelope of a relay action goes: its domain's MXs, the action's smarthost, the
 * smarthost of a `host <t>` list (taken in turn) or of `domain <t>` for its domain.
 */
export async function destinationOf(action: string, def: RelayMethod, env: Envelope, lka: () => LkaMailbox | null): Promise<DestinationLookup> {
  const domain = domainOf(env);
  const smarthost = (host: RelayHost): DestinationLookup => ({ ok: true, dest: { key: `${action}>${host.url}`, domain: host.hostname.toLowerCase(), smarthost: host } });
  if (def.host) return smarthost(def.host);
  if (def.hostTable === undefined && def.domain === undefined) return { ok: true, dest: { key: `${action}>mx:${domain}`, domain, smarthost: null } };
  const peer = lka();
  if (!peer) return { ok: false, message: 'Cannot retrieve smarthost (no lka)' };
  let url: string | null = null;
  try {
    if (def.hostTable !== undefined) {
      const r = await peer.tableFetch(def.hostTable);
      if (r.ok && r.values.length > 0) {
        const turn = hostTableTurn.get(def.hostTable) ?? 0;
        hostTableTurn.set(def.hostTable, turn + 1);
        url = r.values[turn % r.values.length]!;
      }
    } else if (def.domain !== undefined) {
      const r = await peer.tableLookup(def.domain, 'relayhost', domain);
      if (r.ok) url = r.value;
    }
  } catch (e) {
    return { ok: false, message: `Cannot retrieve smarthost (${(e as Error).message})` };
  }
  const host = url === null ? undefined : parseRelayUrl(url.trim());
  if (!host) return { ok: false, message: url === null ? 'Cannot retrieve smarthost' : `Invalid smarthost ${url}` };
  return smarthost(host);
}
