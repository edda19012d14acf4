// A raw SMTP socket for hostile-client tests: exact bytes out (bare LF, bytes before the greeting,
// one byte at a time), every reply line in, and when the server closed. Bounded waits only.
import net from 'node:net';
import { sleep } from './proc.js';

export class RawClient {
  private buf = '';
  closed = false;
  closedAt = 0;
  readonly sock: net.Socket;
  readonly opened = Date.now();

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.on('data', (b) => {
      this.buf += b.toString('latin1');
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
    });
  }

  /** Connect to 127.0.0.1:port, optionally from a given loopback source address. */
  static connect(port: number, localAddress?: string, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
      const c = new RawClient(sock);
      sock.once('connect', () => resolve(c));
      sock.once('error', reject);
    });
  }

  /** Connect to a unix socket (the local enqueue socket). */
  static connectPath(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ path });
      const c = new RawClient(sock);
      sock.once('connect', () => resolve(c));
      sock.once('error', reject);
    });
  }

  /** Every complete line received so far (CRLF stripped). */
  lines(): string[] {
    return this.buf.split('\r\n').slice(0, -1);
  }

  /** Final reply lines ("NNN text", not "NNN-") received so far. */
  replies(): string[] {
    return this.lines().filter((l) => /^\d{3} /.test(l));
  }

  write(data: string | Buffer): void {
    if (!this.closed) this.sock.write(data);
  }

  /** Wait until `n` final replies arrived or the socket closed; returns the replies (bounded). */
  async waitReplies(n: number, timeoutMs = 10_000): Promise<string[]> {
    const end = Date.now() + timeoutMs;
    while (this.replies().length < n && !this.closed && Date.now() < end) await sleep(20);
    return this.replies();
  }

  /** Wait for the server to close the connection (bounded); true if it did. */
  async waitClosed(timeoutMs = 10_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < end) await sleep(20);
    return this.closed;
  }

  /** Send one line (CRLF added) and wait for the next final reply. */
  async command(line: string, timeoutMs = 10_000): Promise<string> {
    const before = this.replies().length;
    this.write(`${line}\r\n`);
    const r = await this.waitReplies(before + 1, timeoutMs);
    return r[before] ?? `(no reply${this.closed ? ', closed' : ''})`;
  }

  destroy(): void {
    this.sock.destroy();
  }
}
