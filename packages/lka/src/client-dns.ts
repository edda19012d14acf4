// Reverse and forward-confirmed reverse DNS of SMTP clients, for the builtin filter conditions
// (`rdns`, `fcrdns`) and the filter protocol's link-connect event. Uses its own c-ares Resolver,
// pointed at `settings.dnsServers` when given (tests: dnsmasq on loopback), bounded in time.
// A PTR name is attacker-controlled: only a well-formed host name is kept.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ClientDns } from '@tsmtpd/proto';

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i;
/** Answers that mean "no such name/record" (fcrdns fail), as opposed to a resolver error. */
const NEGATIVE = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'ENONAME']);

export function validHostname(name: string): boolean {
  const n = name.replace(/\.$/, '');
  return n.length > 0 && n.length <= 253 && n.split('.').every((l) => LABEL.test(l));
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');
}

export class ClientResolver {
  private readonly resolver: Resolver;

  constructor(private readonly servers: string[] | undefined, private readonly timeoutMs = 4000) {
    this.resolver = new Resolver({ timeout: Math.min(timeoutMs, 1500), tries: 2 });
    if (servers && servers.length) this.resolver.setServers(servers);
  }

  /** rDNS and FCrDNS of `ip`; never rejects, never takes longer than the timeout. */
  async lookup(ip: string): Promise<ClientDns> {
    if (ip === 'local') return { rdns: 'localhost', fcrdns: 'pass' };
    if (!isIP(ip)) return { rdns: null, fcrdns: 'error' };
    // Loopback is this machine (the system resolver would answer from /etc/hosts); with a
    // resolver given (tests), it is asked like any other address.
    if (isLoopback(ip) && !(this.servers && this.servers.length)) return { rdns: 'localhost', fcrdns: 'pass' };
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<ClientDns>((resolve) => {
      timer = setTimeout(() => resolve({ rdns: null, fcrdns: 'error' }), this.timeoutMs);
    });
    try {
      return await Promise.race([this.confirm(ip), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async confirm(ip: string): Promise<ClientDns> {
    let names: string[];
    try {
      names = await this.resolver.reverse(ip);
    } catch (e) {
      return { rdns: null, fcrdns: NEGATIVE.has((e as { code?: string }).code ?? '') ? 'fail' : 'error' };
    }
    const first = names.find((n) => validHostname(n));
    if (first === undefined) return { rdns: null, fcrdns: 'fail' };
    const rdns = first.toLowerCase().replace(/\.$/, '');
    const plain = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
    try {
      const addrs = isIP(plain) === 4 ? await this.resolver.resolve4(rdns) : await this.resolver.resolve6(rdns);
      return { rdns, fcrdns: addrs.some((a) => sameAddress(a, plain)) ? 'pass' : 'fail' };
    } catch (e) {
      return { rdns, fcrdns: NEGATIVE.has((e as { code?: string }).code ?? '') ? 'fail' : 'error' };
    }
  }

  cancel(): void {
    this.resolver.cancel();
  }
}

function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
