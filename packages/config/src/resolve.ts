// Resolution of `listen on X` targets into addresses, in OpenSMTPD's order: interface name,
// IPv4 literal, IPv6 literal, then a (time-bounded) DNS lookup. As OpenSMTPD 6.8 on Linux, there
// are no interface groups: `egress` or `all` is only what an interface or host of that name is.
import { lookup } from 'node:dns/promises';
import { ADDRCONFIG } from 'node:dns';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { ListenAddress, Listener } from './model.js';

/** The machine as seen by the resolver (injectable for tests). */
export interface NetEnv {
  /** Interface name -> addresses (as `os.networkInterfaces()`). */
  interfaces(): Record<string, ReadonlyArray<{ address: string; family: string | number }> | undefined>;
  /** Host name lookup; may reject or return []. */
  lookup(host: string, family: 0 | 4 | 6): Promise<ListenAddress[]>;
}

/** DNS lookups made while loading the configuration never take longer than this. */
export const LOOKUP_TIMEOUT_MS = 2000;

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
  lookup: dnsLookup,
};

const famNum = (f: string | number): 4 | 6 | undefined => (f === 'IPv4' || f === 4 ? 4 : f === 'IPv6' || f === 6 ? 6 : undefined);

function interfaceAddresses(target: string, want: 0 | 4 | 6, env: NetEnv): ListenAddress[] {
  const ifs = env.interfaces();
  const out: ListenAddress[] = [];
  for (const name of Object.hasOwn(ifs, target) ? [target] : []) {
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
 * Resolves a listen target; undefined when it is neither an interface, an address, nor a name
 * that resolves. An address of the other family than `inet4`/`inet6` asks for resolves to
 * nothing but is no error: OpenSMTPD's lookup then fails with an "address family" error, which
 * it only warns about.
 */
export async function resolveListenTarget(
  target: string, familyOpt: Listener['family'], env: NetEnv = systemNetEnv, timeoutMs = LOOKUP_TIMEOUT_MS,
): Promise<ListenAddress[] | undefined> {
  const want: 0 | 4 | 6 = familyOpt === 'inet4' ? 4 : familyOpt === 'inet6' ? 6 : 0;
  const dedupe = (xs: ListenAddress[]): ListenAddress[] => [...new Map(xs.map((x) => [x.address, x])).values()];
  const ifaddrs = interfaceAddresses(target, want, env);
  if (ifaddrs.length > 0) return dedupe(ifaddrs);
  const lit = isIP(target);
  if (lit !== 0) return want === 0 || want === lit ? [{ address: target, family: lit as 4 | 6 }] : [];
  const found = (await boundedLookup(env, target, want, timeoutMs)).filter((a) => want === 0 || a.family === want);
  return found.length > 0 ? dedupe(found) : undefined;
}
