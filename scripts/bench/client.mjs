// The built-in load client (`--client builtin`): `sessions` concurrent SMTP sessions sending `count`
// messages in all, MAIL/RCPT/DATA pipelined in one write (RFC 2920), timing each end of DATA
// ("\r\n.\r\n" written) to its reply: the latency smtp-source does not report. A new connection
// per message or one per session (`reuse`). Loopback only; every wait bounded by `timeoutMs`.
import net from 'node:net';

/** One connection: a reply reader over the socket (multi-line replies end at "NNN "). */
function connect(port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.setNoDelay(true);
    let buf = '';
    const waiters = [];
    const replies = [];
    const fail = (e) => {
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
        if (line[3] === '-') continue;
        const code = Number(line.slice(0, 3));
        const w = waiters.shift();
        if (w) w.resolve(code);
        else replies.push(code);
      }
    });
    const reply = () => (replies.length > 0 ? Promise.resolve(replies.shift()) : new Promise((res, rej) => waiters.push({ resolve: res, reject: rej })));
    sock.once('connect', () => resolve({ sock, reply }));
  });
}

async function expect(c, want, what) {
  const code = await c.reply();
  if (Math.floor(code / 100) !== want) throw new Error(`${what}: ${code}`);
}

/** A message of `size` bytes: headers, then 72-character lines (as smtp-source pads). */
export function makeBody(size) {
  const head = 'From: <bench@client.test>\r\nTo: <bench@localhost>\r\nSubject: bench\r\n\r\n';
  const line = 'x'.repeat(70) + '\r\n';
  let body = head;
  while (body.length + line.length <= size) body += line;
  return Buffer.from(body + '.\r\n', 'latin1');
}

/**
 * Sends `count` messages; resolves {ok, ms, latencies (ms each), errors}. A failed session is
 * counted and reconnects, bounded by the overall deadline.
 */
export async function runClient({ port, sessions, size, count, reuse, rcpt, timeoutMs }) {
  const body = makeBody(size);
  const envelope = Buffer.from(`MAIL FROM:<bench@client.test>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\n`);
  const latencies = [];
  let left = count;
  let errors = 0;
  let lastError = '';
  const deadline = Date.now() + timeoutMs;
  const started = process.hrtime.bigint();
  async function session() {
    let c = null;
    while (left > 0 && Date.now() < deadline) {
      left--;
      try {
        if (!c) {
          c = await connect(port, timeoutMs);
          await expect(c, 2, 'banner');
          c.sock.write('EHLO client.test\r\n');
          await expect(c, 2, 'EHLO');
        }
        c.sock.write(envelope);
        await expect(c, 2, 'MAIL');
        await expect(c, 2, 'RCPT');
        await expect(c, 3, 'DATA');
        const t0 = process.hrtime.bigint();
        c.sock.write(body);
        await expect(c, 2, 'end of DATA');
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (!reuse) {
          c.sock.write('QUIT\r\n');
          await c.reply().catch(() => 0);
          c.sock.destroy();
          c = null;
        }
      } catch (e) {
        errors++;
        lastError = e.message;
        c?.sock.destroy();
        c = null;
      }
    }
    if (c) {
      c.sock.write('QUIT\r\n');
      await c.reply().catch(() => 0);
      c.sock.destroy();
    }
  }
  await Promise.all(Array.from({ length: sessions }, session));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { ok: errors === 0 && latencies.length === count, ms, latencies, errors, lastError };
}

/** The q-th quantile (0..1) of a list of numbers, undefined when empty. */
export function quantile(xs, q) {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
