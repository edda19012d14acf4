// Resolution of `listen on X` targets into addresses, in OpenSMTPD's order: interface name or
// group, IPv4 literal, IPv6 literal, then a (time-bounded) DNS lookup. Linux has no interface
// groups, so two are emulated: `egress` (interfaces holding a default route) and `all`.
import { lookup } from 'node:dns/promises';
import { ADDRCONFIG } from 'node:dns';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { ListenAddress, Listener } from './model.js';

/** The machine as seen by the resolver (injectable for tests). */
export interface NetEnv {
  /** Interface name -> addresses (as `os.networkInterfaces()`). */
  interfaces(): Record<string, ReadonlyArray<{ address: string; family: string | number }> | undefined>;
  /** Names of interfaces that carry a default route. */
  egress(): string[];
  /** Host name lookup; may reject or return []. */
  lookup(host: string, family: 0 | 4 | 6): Promise<ListenAddress[]>;
}

/** DNS lookups made while loading the configuration never take longer than this. */
export const LOOKUP_TIMEOUT_MS = 2000;

function readLines(path: string): string[] {
  try { return readFileSync(path, 'utf8').split('\n'); } catch { return []; }
}

/** Interfaces with an IPv4 or IPv6 default route that is up (/proc/net/route, ipv6_route). */
export function defaultRouteInterfaces(): string[] {
  const names = new Set<string>();
  for (const line of readLines('/proc/net/route').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[1] === '00000000' && f[7] === '00000000' && (parseInt(f[3] ?? '0', 16) & 1) && f[0]) names.add(f[0]);
  }
  for (const line of readLines('/proc/net/ipv6_route')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && /^0+$/.test(f[0] ?? '') && f[1] === '00' && (parseInt(f[8] ?? '0', 16) & 1) && f[9] && f[9] !== 'lo') names.add(f[9]);
  }
  return [...names];
}

async function dnsLookup(host: string, family: 0 | 4 | 6): Promise<ListenAddress[]> {
  const rs = await lookup(host, { all: true, family, hints: ADDRCONFIG });
  return rs.filter((r) => r.family === 4 || r.family === 6).map((r) => ({ address: r.address, family: r.family as 4 | 6 }));
}

/** `env.lookup`, but [] on failure or after `ms` (a lookup never holds up loading). */
async function boundedLookup(env: NetEnv, host: string, family: 0 | 4 | 6, ms: number): Promise<ListenAddress[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ListenAddress[]>((resolve) => { timer = setTimeout(() => resolve([]), ms); });
  try {
    return await Promise.race([env.lookup(host, family).catch(() => []), timeout]);
  } finally { clearTimeout(timer); }
}

/** The real machine. */
export const systemNetEnv: NetEnv = {
  interfaces: () => networkInterfaces(),
  egress: defaultRouteInterfaces,
  lookup: dnsLookup,
};

const famNum = (f: string | number): 4 | 6 | undefined => (f === 'IPv4' || f === 4 ? 4 : f === 'IPv6' || f === 6 ? 6 : undefined);

function interfaceAddresses(target: string, want: 0 | 4 | 6, env: NetEnv): ListenAddress[] {
  const ifs = env.interfaces();
  const names = target === 'all' ? Object.keys(ifs) : target === 'egress' ? env.egress() : Object.hasOwn(ifs, target) ? [target] : [];
  const out: ListenAddress[] = [];
  for (const name of names) {
    for (const a of ifs[name] ?? []) {
      const family = famNum(a.family);
      if (!family || (want !== 0 && want !== family)) continue;
      const linkLocal = family === 6 && /^fe[89ab]/i.test(a.address);
      out.push({ address: linkLocal && !a.address.includes('%') ? `${a.address}%${name}` : a.address, family });
    }
  }
  return out;
}

/**
 * Resolves a listen target; undefined when it is neither an interface (or group), an address of
 * the wanted family, nor a name that resolves.
 */
export async function resolveListenTarget(
  target: string, familyOpt: Listener['family'], env: NetEnv = systemNetEnv, timeoutMs = LOOKUP_TIMEOUT_MS,
): Promise<ListenAddress[] | undefined> {
  const want: 0 | 4 | 6 = familyOpt === 'inet4' ? 4 : familyOpt === 'inet6' ? 6 : 0;
  const dedupe = (xs: ListenAddress[]): ListenAddress[] => [...new Map(xs.map((x) => [x.address, x])).values()];
  const ifaddrs = interfaceAddresses(target, want, env);
  if (ifaddrs.length > 0) return dedupe(ifaddrs);
  const lit = isIP(target);
  if (lit !== 0) return want === 0 || want === lit ? [{ address: target, family: lit as 4 | 6 }] : undefined;
  const found = (await boundedLookup(env, target, want, timeoutMs)).filter((a) => want === 0 || a.family === want);
  return found.length > 0 ? dedupe(found) : undefined;
}
