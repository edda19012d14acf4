// Where a relay's mail may go (REFERENCE 6.3): the MX list of the destination domain (or the
// implicit MX, or an address literal), filtered for the null MX (RFC 7505), `localhost`, our own
// names and `relay backup`, then each MX host's addresses: candidates ordered by preference.
// A smarthost is one host at level 0. Talks to DNS only (dns.ts).
import { isIP } from 'node:net';
import type { MtaDns } from './dns.js';

export interface Candidate {
  /** MX preference (0 for a smarthost, an implicit MX, an address literal). */
  level: number;
  /** The MX or smarthost name (SNI, certificate check, Remote-MTA); the address for a literal. */
  host: string;
  ip: string;
}

export type Routing = { ok: true; candidates: Candidate[] } | { ok: false; kind: 'temp' | 'perm'; message: string };

export interface MxPolicy {
  /** Names that are us (server name, host name): an MX list naming us ends above our preference. */
  ourNames: ReadonlySet<string>;
  /** `relay backup`: only MXs strictly better than ours; `backupName` replaces our names. */
  backup: boolean;
  backupName?: string;
  family: 'any' | 'inet4' | 'inet6';
}

/** `[192.0.2.1]` or `[IPv6:2001:db8::1]`: the address, else null. */
export function addressLiteral(domain: string): string | null {
  if (!domain.startsWith('[') || !domain.endsWith(']')) return null;
  let lit = domain.slice(1, -1);
  if (/^ipv6:/i.test(lit)) lit = lit.slice(5);
  return isIP(lit) !== 0 ? lit : null;
}

function familyOk(ip: string, family: MxPolicy['family']): boolean {
  return family === 'any' || (family === 'inet4' ? isIP(ip) === 4 : isIP(ip) === 6);
}

async function resolveHosts(dns: MtaDns, hosts: { level: number; host: string }[], family: MxPolicy['family']): Promise<Routing> {
  const answers = await Promise.all(hosts.map((h) => (isIP(h.host) ? Promise.resolve({ ok: true as const, addresses: [h.host] }) : dns.addresses(h.host, family))));
  const candidates: Candidate[] = [];
  let temp: string | null = null;
  answers.forEach((a, i) => {
    const h = hosts[i]!;
    if (!a.ok) temp = a.message;
    else for (const ip of a.addresses) if (familyOk(ip, family)) candidates.push({ level: h.level, host: h.host, ip });
  });
  if (candidates.length > 0) return { ok: true, candidates };
  return { ok: false, kind: 'temp', message: temp ?? 'No MX found for domain' };
}

/** The candidates for mail to `domain`, MX by MX. */
export async function mxRouting(dns: MtaDns, domain: string, policy: MxPolicy): Promise<Routing> {
  const literal = addressLiteral(domain);
  if (literal !== null) {
    if (!familyOk(literal, policy.family)) return { ok: false, kind: 'temp', message: 'Address family mismatch on destination' };
    return { ok: true, candidates: [{ level: 0, host: literal, ip: literal }] };
  }
  const mx = await dns.mx(domain);
  if (!mx.ok) return mx;
  // RFC 7505 3: a null MX (or an MX of localhost) says the domain takes no mail at all.
  const real = mx.mxs.filter((m) => m.host !== '' && m.host !== 'localhost');
  if (real.length === 0) return { ok: false, kind: 'perm', message: 'Domain does not accept mail' };
  const ours = policy.backupName !== undefined ? new Set([policy.backupName.toLowerCase()]) : policy.ourNames;
  const ourPref = Math.min(...real.filter((m) => ours.has(m.host)).map((m) => m.preference));
  // Only MXs strictly better than us: relaying to an equal or worse one would come back here.
  const usable = real.filter((m) => m.preference < ourPref);
  if (usable.length === 0) return { ok: false, kind: 'perm', message: 'MX loops to us' };
  return resolveHosts(dns, usable.map((m) => ({ level: m.preference, host: m.host })), policy.family);
}

/** The candidates of a smarthost: its addresses, one level. */
export async function hostRouting(dns: MtaDns, host: string, family: MxPolicy['family']): Promise<Routing> {
  const literal = addressLiteral(host);
  return resolveHosts(dns, [{ level: 0, host: literal ?? host }], family);
}
