// Reverse DNS of a client, looked up after the greeting and bounded in time, never in the
// connection's path (STACK.md 8, rule 3). A PTR name is attacker-controlled text: only a
// well-formed host name is kept (it ends up in Received headers and envelopes).
import { promises as dns } from 'node:dns';

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i;

export function validHostname(name: string): boolean {
  const n = name.replace(/\.$/, '');
  return n.length > 0 && n.length <= 253 && n.split('.').every((l) => LABEL.test(l));
}

export class ReverseLookup {
  private readonly resolver: dns.Resolver;

  constructor(
    servers: string[] | undefined,
    private readonly timeoutMs = 2000,
  ) {
    this.resolver = new dns.Resolver({ timeout: Math.min(timeoutMs, 1000), tries: 2 });
    if (servers && servers.length) this.resolver.setServers(servers);
  }

  /** The client's name, or null when unknown, invalid or too slow. */
  async lookup(ip: string): Promise<string | null> {
    // Loopback is this machine: no query (it would only reach the system resolver).
    if (ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.')) return 'localhost';
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), this.timeoutMs);
      timer.unref();
    });
    try {
      const names = await Promise.race([this.resolver.reverse(ip).catch(() => [] as string[]), timeout]);
      const first = names?.[0];
      return first && validHostname(first) ? first.toLowerCase().replace(/\.$/, '') : null;
    } finally {
      clearTimeout(timer);
    }
  }

  cancel(): void {
    this.resolver.cancel();
  }
}
