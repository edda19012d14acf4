// The built-in load client: `sessions` concurrent SMTP sessions sending `count` messages in all,
// MAIL/RCPT/DATA pipelined in one write (RFC 2920) where the server offers it, timing each end of DATA ("\r\n.\r\n" written)
// to its reply — the latency smtp-source does not report. Optionally paced: message i may start
// no earlier than i / rate seconds after the start (an open-loop schedule shared by the sessions).
// Loopback only; every wait bounded by the load's timeout.
import net from 'node:net';
import { sleep } from '../util.js';
import type { Load, LoadResult } from './types.js';

interface Conn {
  sock: net.Socket;
  reply: () => Promise<number>;
  /** The EHLO reply offered PIPELINING (OpenSMTPD 6.8 does not: it refuses a pipelined group). */
  pipelining: boolean;
}

/** One connection with a reply reader (a multi-line reply ends at its "NNN " line). */
function connect(port: number, timeoutMs: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.setNoDelay(true);
    let buf = '';
    const waiters: { resolve: (c: number) => void; reject: (e: Error) => void }[] = [];
    const early: number[] = [];
    const fail = (e: Error): void => {
      for (const w of waiters.splice(0)) w.reject(e);
    };
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error('client timeout')));
    sock.on('error', (e) => (fail(e), reject(e)));
    sock.on('close', () => fail(new Error('connection closed')));
    sock.on('data', (b) => {
      buf += b.toString('latin1');
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i + 1);
        buf = buf.slice(i + 1);
        if (/^250[- ]PIPELINING\b/i.test(line)) conn.pipelining = true;
        if (line[3] === '-') continue;
        const code = Number(line.slice(0, 3));
        const w = waiters.shift();
        if (w) w.resolve(code);
        else early.push(code);
      }
    });
    const reply = (): Promise<number> => {
      const c = early.shift();
      return c !== undefined ? Promise.resolve(c) : new Promise((res, rej) => waiters.push({ resolve: res, reject: rej }));
    };
    const conn: Conn = { sock, reply, pipelining: false };
    sock.once('connect', () => resolve(conn));
  });
}

async function expect(c: Conn, want: number, what: string): Promise<void> {
  const code = await c.reply();
  if (Math.floor(code / 100) !== want) throw new Error(`${what}: ${code}`);
}

/** A message of about `size` bytes: headers, then 72-character lines (as smtp-source pads). */
export function makeBody(size: number): Buffer {
  const head = 'From: <bench@client.test>\r\nTo: <bench@localhost>\r\nSubject: bench\r\n\r\n';
  const line = 'x'.repeat(70) + '\r\n';
  const lines = Math.max(1, Math.floor((size - head.length) / line.length));
  return Buffer.from(head + line.repeat(lines) + '.\r\n', 'latin1');
}

async function quit(c: Conn): Promise<void> {
  c.sock.write('QUIT\r\n');
  await Promise.race([c.reply().catch(() => 0), sleep(2000)]);
  c.sock.destroy();
}

/** Sends the load; a failed session is counted and reconnects, bounded by the overall deadline. */
export async function runClient(load: Load): Promise<LoadResult> {
  const body = makeBody(load.size);
  const steps = [[`MAIL FROM:<bench@client.test>\r\n`, 'MAIL'], [`RCPT TO:<${load.rcpt}>\r\n`, 'RCPT']] as const;
  const envelope = Buffer.from(`${steps[0][0]}${steps[1][0]}DATA\r\n`);
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  let lastError = '';
  const deadline = Date.now() + load.timeoutMs;
  const t0 = performance.now();
  async function session(): Promise<void> {
    let c: Conn | null = null;
    while (next < load.count && Date.now() < deadline) {
      const i = next++;
      if (load.rate) {
        const wait = t0 + (i * 1000) / load.rate - performance.now();
        if (wait > 0) await sleep(wait);
      }
      try {
        if (!c) {
          // An idle socket gives up after 30 s: a server that never answers a connection (OpenSMTPD's
          // backlog of 5 under a storm) costs that session 30 s, not the whole run's deadline.
          c = await connect(load.port, Math.min(load.timeoutMs, 30_000));
          await expect(c, 2, 'banner');
          c.sock.write('EHLO client.test\r\n');
          await expect(c, 2, 'EHLO');
        }
        if (c.pipelining) {
          c.sock.write(envelope);
          await expect(c, 2, 'MAIL');
          await expect(c, 2, 'RCPT');
        } else {
          for (const [cmd, what] of steps) {
            c.sock.write(cmd);
            await expect(c, 2, what);
          }
          c.sock.write('DATA\r\n');
        }
        await expect(c, 3, 'DATA');
        const s = performance.now();
        c.sock.write(body);
        await expect(c, 2, 'end of DATA');
        latencies.push(performance.now() - s);
        if (!load.reuse) {
          await quit(c);
          c = null;
        }
      } catch (e) {
        errors++;
        lastError = e instanceof Error ? e.message : String(e);
        c?.sock.destroy();
        c = null;
      }
    }
    if (c) await quit(c);
  }
  await Promise.all(Array.from({ length: load.sessions }, session));
  const ms = performance.now() - t0;
  const ok = errors === 0 && latencies.length === load.count;
  return { ok, ms, latencies, error: ok ? undefined : `${errors} errors, ${latencies.length}/${load.count} accepted; last: ${lastError}` };
}
