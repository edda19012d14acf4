// Everything a relay needs before its first connection: its source addresses (`src ADDR` or
// `src <t>`), its credentials (`auth <t>`, label -> `user:password`), a profile that can relay
// at all, and its candidates (routing.ts). A failure is the outcome of every waiting task.
import type { LkaMailbox } from '@tsmtpd/proto';
import type { MtaDns } from './dns.js';
import type { Relay } from './relay.js';
import type { Candidate, MxPolicy, Routing, hostRouting, mxRouting } from './routing.js';

export interface ResolveDeps {
  dns: MtaDns;
  lka: () => LkaMailbox | null;
  ourNames: ReadonlySet<string>;
  mx: typeof mxRouting;
  host: typeof hostRouting;
}

export type Resolution = { ok: true; candidates: Candidate[] } | { ok: false; kind: 'temp' | 'perm'; message: string };

async function sources(relay: Relay, lka: LkaMailbox | null): Promise<(string | null)[] | string> {
  const src = relay.def.src;
  if (src === undefined) return [null];
  if (typeof src === 'string') return [src];
  if (!lka) return 'no lka for the source table';
  const r = await lka.tableFetch(src.table);
  if (!r.ok) return r.message;
  const list = r.values.map((v) => v.trim()).filter((v) => v !== '');
  return list.length > 0 ? list : `source table ${src.table} is empty`;
}

async function credentials(relay: Relay, lka: LkaMailbox | null): Promise<{ user: string; pass: string } | string | null> {
  const label = relay.profile.authLabel;
  if (label === null || relay.def.auth === undefined) return null;
  if (!lka) return 'Could not retrieve credentials';
  const r = await lka.tableLookup(relay.def.auth, 'credentials', label);
  if (!r.ok || r.value === null) return 'Could not retrieve credentials';
  const v = r.value.trim();
  const colon = v.indexOf(':');
  if (colon <= 0) return 'Could not retrieve credentials (malformed entry)';
  return { user: v.slice(0, colon), pass: v.slice(colon + 1) };
}

export async function resolveRelay(relay: Relay, d: ResolveDeps): Promise<Resolution> {
  if (relay.profile.error !== null) return { ok: false, kind: 'temp', message: `4.7.0 ${relay.profile.error}` };
  const lka = d.lka();
  const srcs = await sources(relay, lka);
  if (typeof srcs === 'string') return { ok: false, kind: 'temp', message: `4.3.0 ${srcs}` };
  relay.srcs = srcs;
  const auth = await credentials(relay, lka);
  if (typeof auth === 'string') return { ok: false, kind: 'temp', message: `4.7.0 ${auth}` };
  relay.auth = auth;
  const family = relay.limits.family;
  let routing: Routing;
  if (relay.smarthost) routing = await d.host(d.dns, relay.smarthost.hostname, family);
  else {
    const names = new Set(d.ourNames);
    names.add(relay.smtpname.toLowerCase());
    const policy: MxPolicy = { ourNames: names, backup: relay.def.backup, family };
    if (relay.def.backup) policy.backupName = relay.def.backupMx ?? relay.smtpname;
    routing = await d.mx(d.dns, relay.domain, policy);
  }
  if (routing.ok) return routing;
  return { ok: false, kind: routing.kind, message: withStatus(routing.kind, routing.message) };
}

/** Enhanced status codes for the routing outcomes (RFC 3463; RFC 7505 for the null MX). */
function withStatus(kind: 'temp' | 'perm', message: string): string {
  if (/^[245]\.\d/.test(message)) return message;
  const code = kind === 'temp' ? (/lookup/.test(message) ? '4.4.3' : '4.4.4')
    : /does not accept mail/.test(message) ? '5.1.10' : /loops/.test(message) ? '5.4.6' : '5.1.2';
  return `${code} ${message}`;
}
