// What "local" means for the ruleset (REFERENCE 1.6): <localnames> (destination: localhost,
// the server name, the host names, every local interface address as a domain literal) and
// <localhost> (origin: the enqueue socket "local", 127.0.0.1, ::1, every local interface address).
// Pure functions of the machine's identity, so tests pass their own interfaces.
import { hostname, networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

export interface MachineIdentity {
  /** Host names of this machine (gethostname, possibly more). */
  hostnames: string[];
  /** Addresses of the local interfaces. */
  addresses: string[];
}

/** The running machine: os.hostname() and os.networkInterfaces(). */
export function machineIdentity(): MachineIdentity {
  return { hostnames: [hostname()], addresses: interfaceAddresses(networkInterfaces()) };
}

/** Flattens os.networkInterfaces() into address strings (IPv6 zone ids dropped). */
export function interfaceAddresses(ifaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string[] {
  const out: string[] = [];
  for (const list of Object.values(ifaces)) {
    for (const i of list ?? []) out.push(i.address.split('%')[0] ?? i.address);
  }
  return [...new Set(out)];
}

/** Domain-literal forms of an address as they appear in a recipient's domain. */
export function domainLiterals(address: string): string[] {
  return address.includes(':') ? [`[ipv6:${address.toLowerCase()}]`] : [`[${address}]`];
}

/** Entries of <localnames>: lowercased names and domain literals. */
export function localNames(serverName: string, id: MachineIdentity): string[] {
  const names = new Set<string>(['localhost']);
  for (const n of [serverName, ...id.hostnames]) if (n) names.add(n.toLowerCase().replace(/\.$/, ''));
  for (const a of ['127.0.0.1', '::1', ...id.addresses]) for (const l of domainLiterals(a)) names.add(l);
  return [...names];
}

/**
 * Entries of <localhost>: the socket marker, the loopback addresses and every local interface
 * address — each exactly, as OpenSMTPD's set_localaddrs() builds it, not the whole of 127.0.0.0/8:
 * a client bound to another loopback address (a container's, a proxy's) is not "from local", so it
 * cannot use the `from local for any` relay rule of the default configuration.
 */
export function localHosts(id: MachineIdentity): string[] {
  return [...new Set(['local', '127.0.0.1', '::1', ...id.addresses])];
}
