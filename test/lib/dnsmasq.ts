// A private DNS server for relay tests: dnsmasq on 127.0.0.1 and a free port, with a generated
// configuration (MX and address records, NXDOMAIN for the rest of `.test`, nothing forwarded),
// in the foreground with a PID file, stopped by PID. The daemon under test is pointed at it
// with SMTPD_NAMESERVERS=127.0.0.1:PORT.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import path from 'node:path';
import { freePort } from './daemon.js';
import { killQuietly, sleep, tail } from './proc.js';

export const dnsmasqBin = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq'].find((p) => existsSync(p)) ?? 'dnsmasq';

export interface DnsZone {
  /** MX records: domain, exchange ('.' for a null MX, RFC 7505), preference. */
  mx?: [domain: string, host: string, preference: number][];
  /** A/AAAA records: name and address (dnsmasq answers the matching PTR too). */
  hosts?: [name: string, address: string][];
  /** PTR records alone: address and name (no forward record: FCrDNS fails). */
  ptrs?: [address: string, name: string][];
}

function reverseName(address: string): string {
  return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
}

const live = new Set<number>();
process.on('exit', () => {
  for (const pid of live) killQuietly(pid, 'SIGKILL');
});

export class Dnsmasq {
  private out = '';
  constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    live.add(child.pid!);
    child.stderr?.on('data', (b: Buffer) => (this.out = (this.out + b.toString()).slice(-20_000)));
    child.on('exit', () => live.delete(child.pid!));
  }

  /** The value of SMTPD_NAMESERVERS. */
  get server(): string {
    return `127.0.0.1:${this.port}`;
  }

  output(): string {
    return tail(this.out);
  }

  async stop(): Promise<void> {
    const pid = this.child.pid!;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    killQuietly(pid, 'SIGTERM');
    if (!(await Promise.race([gone.then(() => true), sleep(3000).then(() => false)]))) killQuietly(pid, 'SIGKILL');
  }
}

function configText(port: number, pidFile: string, zone: DnsZone): string {
  const lines = [
    'no-resolv', 'no-hosts', 'no-poll', `port=${port}`, 'listen-address=127.0.0.1', 'bind-interfaces',
    // Everything under .test that is not listed is NXDOMAIN; other names are refused (SERVFAIL-like).
    'local=/test/', `pid-file=${pidFile}`, 'user=root', 'cache-size=0',
  ];
  for (const [domain, host, pref] of zone.mx ?? []) lines.push(`mx-host=${domain},${host},${pref}`);
  for (const [name, address] of zone.hosts ?? []) lines.push(`host-record=${name},${address}`);
  for (const [address, name] of zone.ptrs ?? []) lines.push(`ptr-record=${reverseName(address)},${name}`);
  // With reverse records, other reverse names are NXDOMAIN (no rDNS) rather than refused.
  if (zone.ptrs?.length) lines.push('local=/in-addr.arpa/');
  return lines.join('\n') + '\n';
}

/** Starts dnsmasq with `zone` and waits until it answers; retries another port if one was taken. */
export async function startDnsmasq(dir: string, zone: DnsZone): Promise<Dnsmasq> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const conf = path.join(dir, `dnsmasq-${port}.conf`);
    writeFileSync(conf, configText(port, path.join(dir, `dnsmasq-${port}.pid`), zone));
    const child = spawn(dnsmasqBin, ['--keep-in-foreground', `--conf-file=${conf}`, '--log-facility=-'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const d = new Dnsmasq(child, port);
    const r = new Resolver({ timeout: 500, tries: 1 });
    r.setServers([d.server]);
    for (let i = 0; i < 30 && child.exitCode === null; i++) {
      try {
        await r.resolveMx('probe.nxdomain.test');
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOTFOUND') return d;
      }
      await sleep(100);
    }
    await d.stop();
    if (attempt >= 3) throw new Error(`dnsmasq did not answer on port ${port}\n${d.output()}`);
  }
}
